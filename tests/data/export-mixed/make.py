"""Writes mixed.csv and mixed_new.csv: a small synthetic table with every column kind the encoding
knows (see README.md). Deterministic: python3 make.py rewrites the same bytes."""
import random

rng = random.Random(11)


def row(i, new):
    color = rng.choice(["red", "green", "blue", "red", "green", "teal"])
    if new and rng.random() < 0.2:
        color = "purple"  # never seen in training
    if rng.random() < 0.08:
        color = "NA"
    size = rng.choice(["S", "M", "L", "M"]) if rng.random() > 0.1 else ""
    smoker = rng.choice(["yes", "no", "no"])
    if rng.random() < 0.08:
        smoker = "?"
    if new and rng.random() < 0.15:
        smoker = "maybe"  # a third value: treated as missing
    x = f"{rng.gauss(5.0, 2.0):.3f}" if rng.random() > 0.1 else "NA"
    z = f"{rng.uniform(0, 10):.2f}" if rng.random() > 0.1 else "null"
    w = f"{rng.uniform(-3, 3):.4f}" if new or rng.random() > 0.05 else "N/A"
    score = float(x if x != "NA" else 5) * 0.3 + (2 if color == "red" else 0) + (1 if smoker == "yes" else 0)
    label = "low" if score < 2.5 else ("mid" if score < 3.6 else "high")
    return [f"r{i}", color, size, smoker, x, z, w, label]


for name, rows, new in (("mixed.csv", 150, False), ("mixed_new.csv", 40, True)):
    with open(name, "w") as f:
        f.write("id,color,size,smoker,x,z,w,label\n")
        for i in range(rows):
            f.write(",".join(row(i, new)) + "\n")
