"""The four benchmark workloads, and the timing rule every system is measured by.

The networks, batch sizes, row counts and epochs are those of the nnspec specs beside this
file (w0_seed.nn ... w3_wide.nn); the NumPy and PyTorch baselines here train the same
networks on synthetic data of the same shapes, so that throughputs compare like with like.

Timing rule (the one `nnspec bench` uses): read a monotonic clock after every optimizer step;
throughput is the samples of all steps after the first max(10, total // 20) divided by the
time they took; `train_wall_s` runs from just before the first step to the end of the last.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Workload:
    key: str
    spec: str
    widths: tuple  # input width, hidden widths..., output width
    hidden: str  # activation after each hidden layer
    output: str  # "sigmoid" or "logits" (softmax inside the cross-entropy)
    loss: str  # "mse", "bce" or "cross_entropy"
    optimizer: str  # "sgd", "momentum" or "adam"
    lr: float
    batch: int
    rows: int
    epochs: int
    data: str  # "uniform" (targets uniform too), "xor", "classes"
    shuffle: bool

    def parameters(self):
        return sum(a * b + b for a, b in zip(self.widths, self.widths[1:]))

    def batches(self):
        """The size of every batch of the run, in order (an epoch's last may be short)."""
        per_epoch = [min(self.batch, self.rows - start) for start in range(0, self.rows, self.batch)]
        return per_epoch * self.epochs


WORKLOADS = {
    w.key: w
    for w in [
        # The teaching example: one sigmoid neuron fit to uniform targets, full batch.
        Workload("W0", "w0_seed.nn", (1, 1), "", "sigmoid", "mse", "sgd", 0.01, 100, 100, 1000, "uniform", False),
        # XOR quadrants: 2-16-16-1 tanh, sigmoid output, binary cross-entropy.
        Workload("W1", "w1_xor.nn", (2, 16, 16, 1), "tanh", "sigmoid", "bce", "sgd", 0.1, 32, 10_000, 20, "xor", True),
        # An MNIST-shaped MLP on random inputs and labels.
        Workload("W2", "w2_mnist.nn", (784, 256, 128, 10), "relu", "logits", "cross_entropy", "momentum", 0.01, 128,
                 60_000, 3, "classes", True),
        # A wide, compute-bound MLP.
        Workload("W3", "w3_wide.nn", (1024, 1024, 1024, 10), "relu", "logits", "cross_entropy", "adam", 1e-3, 256,
                 20_000, 2, "classes", True),
    ]
}


def report(workload, start, step_ends, **extra):
    """The JSON-ready result of a run: `start` is the clock before the first step, `step_ends`
    the clock after each step."""
    sizes = workload.batches()
    if len(sizes) != len(step_ends):
        raise ValueError(f"{len(step_ends)} steps timed, {len(sizes)} expected")
    warmup = min(max(10, len(sizes) // 20), len(sizes) - 1)
    steady_time = step_ends[-1] - (step_ends[warmup - 1] if warmup else start)
    samples_per_s = sum(sizes[warmup:]) / steady_time
    result = dict(
        workload=workload.key,
        train_wall_s=step_ends[-1] - start,
        steady_samples_per_s=samples_per_s,
        steady_gflops=samples_per_s * 6 * workload.parameters() / 1e9,
        warmup_steps=warmup,
        total_steps=len(sizes),
        params=workload.parameters(),
    )
    result.update(extra)
    return result


def arguments(description):
    """The command line every baseline takes."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()
