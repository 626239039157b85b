#!/usr/bin/env python3
"""NumPy baseline: the workload's MLP trained by hand-written float32 forward and backward
passes; prints one JSON line (see workloads.py for the timing rule).

    python3 benches/baseline_numpy.py --workload W2 --threads 2

The thread count goes to NumPy's BLAS through the environment, set before NumPy loads.
"""
import json
import os
import sys
import time

PROCESS_START = time.perf_counter()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import WORKLOADS, arguments, report  # noqa: E402

ARGS = arguments(__doc__)
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(ARGS.threads)
# Tuning hints some images set for older OpenBLAS builds; current NumPy wheels run slower with them.
for variable in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(variable, None)

import numpy as np  # noqa: E402

F32 = np.float32


def synthetic(w, rng):
    if w.data == "uniform":
        return rng.random((w.rows, w.widths[0]), dtype=F32), rng.random((w.rows, w.widths[-1]), dtype=F32)
    if w.data == "xor":
        x = rng.random((w.rows, 2), dtype=F32) * F32(2) - F32(1)
        return x, (x[:, :1] * x[:, 1:] > 0).astype(F32)
    return rng.random((w.rows, w.widths[0]), dtype=F32), rng.integers(0, w.widths[-1], w.rows)


def sigmoid(z):
    return F32(1) / (F32(1) + np.exp(-z))


class Net:
    """Weights stored `[in, out]` so that a batch `[n, in]` multiplies from the left."""

    def __init__(self, w, rng):
        self.w = w
        self.weights, self.biases = [], []
        for fan_in, fan_out in zip(w.widths, w.widths[1:]):
            bound = F32(1 / np.sqrt(fan_in))  # torch.nn.Linear's default range
            self.weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(F32))
            self.biases.append(rng.uniform(-bound, bound, fan_out).astype(F32))

    def forward(self, x):
        """Every layer's output, the input first; the last is the network's output."""
        outputs = [x]
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            z = outputs[-1] @ weight + bias
            kind = self.w.hidden if i < last else self.w.output
            if kind == "relu":
                z = np.maximum(z, F32(0))
            elif kind == "tanh":
                z = np.tanh(z)
            elif kind == "sigmoid":
                z = sigmoid(z)
            outputs.append(z)
        return outputs

    def loss(self, out, y):
        """The loss and its gradient with respect to the last layer's pre-activation."""
        n = out.shape[0]
        if self.w.loss == "mse":
            diff = out - y
            grad = diff * (F32(2) / F32(diff.size))
            return float(np.mean(diff * diff)), grad * out * (F32(1) - out)
        if self.w.loss == "bce":
            p = np.clip(out, F32(1e-7), F32(1 - 1e-7))
            value = -np.mean(y * np.log(p) + (F32(1) - y) * np.log(F32(1) - p))
            return float(value), (out - y) / F32(n)
        shifted = out - out.max(axis=1, keepdims=True)
        log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_p = shifted - log_sum
        rows = np.arange(n)
        grad = np.exp(log_p)
        grad[rows, y] -= F32(1)
        return float(-log_p[rows, y].mean()), grad / F32(n)

    def backward(self, outputs, grad):
        """Gradients of every weight, then of every bias."""
        count = len(self.weights)
        d_weights, d_biases = [None] * count, [None] * count
        for i in reversed(range(count)):
            d_weights[i] = outputs[i].T @ grad
            d_biases[i] = grad.sum(axis=0)
            if i:
                grad = grad @ self.weights[i].T
                y = outputs[i]
                if self.w.hidden == "relu":
                    grad *= y > 0
                elif self.w.hidden == "tanh":
                    grad *= F32(1) - y * y
        return d_weights + d_biases


class Optimizer:
    """SGD, SGD with momentum (v = mu v + g; p -= lr v) or Adam, as torch.optim defines them."""

    def __init__(self, w, params):
        self.kind, self.lr, self.params = w.optimizer, w.lr, params
        self.first = [np.zeros_like(p) for p in params]
        self.second = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        for p, g, m, v in zip(self.params, grads, self.first, self.second):
            if self.kind == "sgd":
                p -= F32(self.lr) * g
            elif self.kind == "momentum":
                m *= F32(0.9)
                m += g
                p -= F32(self.lr) * m
            else:
                m *= F32(0.9)
                m += F32(0.1) * g
                v *= F32(0.999)
                v += F32(0.001) * g * g
                corrected = np.sqrt(v / F32(1 - 0.999**self.t)) + F32(1e-8)
                p -= F32(self.lr / (1 - 0.9**self.t)) * m / corrected


def main():
    w = WORKLOADS[ARGS.workload]
    rng = np.random.default_rng(ARGS.seed)
    x, y = synthetic(w, rng)
    net = Net(w, rng)
    optimizer = Optimizer(w, net.weights + net.biases)
    step_ends = []
    start = time.perf_counter()
    for _ in range(w.epochs):
        order = rng.permutation(w.rows) if w.shuffle else slice(None)
        xs, ys = x[order], y[order]
        for first in range(0, w.rows, w.batch):
            outputs = net.forward(xs[first:first + w.batch])
            loss, grad = net.loss(outputs[-1], ys[first:first + w.batch])
            optimizer.step(net.backward(outputs, grad))
            step_ends.append(time.perf_counter())
    result = report(w, start, step_ends, system="numpy", threads=ARGS.threads, final_loss=loss,
                    process_wall_s=time.perf_counter() - PROCESS_START, version=np.__version__)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
