#!/usr/bin/env python3
"""PyTorch (CPU) baseline: the workload's MLP as an nn.Sequential trained with torch.optim on
in-memory tensors, batches sliced from a per-epoch permutation; prints one JSON line (see
workloads.py for the timing rule).

    python3 benches/baseline_torch.py --workload W2 --threads 2
"""
import json
import os
import sys
import time

PROCESS_START = time.perf_counter()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import WORKLOADS, arguments, report  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402


def synthetic(w, generator):
    x = torch.rand(w.rows, w.widths[0], generator=generator)
    if w.data == "uniform":
        return x, torch.rand(w.rows, w.widths[-1], generator=generator)
    if w.data == "xor":
        x = x * 2 - 1
        return x, (x[:, :1] * x[:, 1:] > 0).float()
    return x, torch.randint(0, w.widths[-1], (w.rows,), generator=generator)


def network(w):
    layers = []
    pairs = list(zip(w.widths, w.widths[1:]))
    activations = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
    for i, (fan_in, fan_out) in enumerate(pairs):
        layers.append(nn.Linear(fan_in, fan_out))
        kind = w.hidden if i + 1 < len(pairs) else w.output
        if kind in activations:
            layers.append(activations[kind]())
    return nn.Sequential(*layers)


def optimizer(w, params):
    if w.optimizer == "adam":
        return torch.optim.Adam(params, lr=w.lr)
    return torch.optim.SGD(params, lr=w.lr, momentum=0.9 if w.optimizer == "momentum" else 0.0)


def main():
    args = arguments(__doc__)
    w = WORKLOADS[args.workload]
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    x, y = synthetic(w, generator)
    model = network(w)
    loss_fn = {"mse": nn.MSELoss, "bce": nn.BCELoss, "cross_entropy": nn.CrossEntropyLoss}[w.loss]()
    opt = optimizer(w, model.parameters())
    step_ends = []
    start = time.perf_counter()
    for _ in range(w.epochs):
        if w.shuffle:
            order = torch.randperm(w.rows, generator=generator)
            xs, ys = x[order], y[order]
        else:
            xs, ys = x, y
        for first in range(0, w.rows, w.batch):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xs[first:first + w.batch]), ys[first:first + w.batch])
            loss.backward()
            opt.step()
            step_ends.append(time.perf_counter())
    result = report(w, start, step_ends, system="torch", threads=torch.get_num_threads(), final_loss=loss.item(),
                    process_wall_s=time.perf_counter() - PROCESS_START, version=torch.__version__)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
