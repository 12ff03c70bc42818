"""A training loop whose labels change with every batch: prepared gradient against mixedad.gradient.

``python -m benchmarks.training_loop`` prints, per model, the median time per call of the
prepared gradient, of ``mixedad.gradient`` and of the loss itself, over batches that each bring
new images and new integer labels (a prepared gradient replays one recording for all of them).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import mixedad
from mixedad import nn


def softmax_regression(w, x, labels):
    z = x @ w
    z = z - np.max(z, axis=1, keepdims=True)
    log_p = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(log_p[np.arange(len(labels)), labels])


def mlp(params, x, labels):
    h = np.tanh(nn.dense(x, params["w1"], params["b1"]))
    return nn.cross_entropy(h @ params["w2"], labels)


def _median_us(call, batches) -> float:
    times = []
    for x, labels in batches:
        start = time.perf_counter()
        call(x, labels)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    rng = np.random.default_rng(0)
    models = [
        ("softmax regression, 4 -> 3, batch 32", softmax_regression, rng.standard_normal((4, 3)), (32, 4), 3),
        ("MLP 784 -> 32 tanh -> 10 with nn.cross_entropy, batch 128", mlp,
         {"w1": rng.standard_normal((784, 32)) * 0.05, "b1": np.zeros(32), "w2": rng.standard_normal((32, 10)) * 0.1},
         (128, 784), 10),
    ]
    for name, loss, params, shape, classes in models:
        batches = [(rng.standard_normal(shape), rng.integers(0, classes, shape[0])) for _ in range(60)]
        prepared = mixedad.prepare(loss, params, *batches[0])
        prepared.gradient(params, *batches[1])  # (the second call compiles the replayed program)
        timed = batches[5:]
        print(f"{name}: prepared {_median_us(lambda x, y: prepared.gradient(params, x, y), timed):.0f} us, "
              f"mixedad.gradient {_median_us(lambda x, y: mixedad.gradient(loss, params, x, y), timed):.0f} us, "
              f"loss {_median_us(lambda x, y: loss(params, x, y), timed):.0f} us per call "
              f"(prepared replays: {prepared.replays})")


if __name__ == "__main__":
    main()
