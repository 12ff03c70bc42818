"""Fixed cost per recorded operation, and peak memory of a gradient, next to HIPS autograd.

Run: python -m benchmarks.overhead

Per-op cost: the gradient of a chain of N operations on 0-d inputs, minus the same with no
operations, divided by N (forward + backward, medians, interleaved). Memory: the peak
tracemalloc sees during one gradient of the seed MLP and LeNet-style net.
"""
from __future__ import annotations

import argparse
import tracemalloc

from benchmarks.timing import interleaved_medians, machine_description

import numpy as np

import mixedad

try:
    import autograd
    import autograd.numpy as anp
except ImportError:  # the bench extra is optional
    autograd = anp = None


def chain(xp, n_ops: int, kind: str):
    def f(x):
        y = x
        for _ in range(n_ops):
            y = y * 1.0001 if kind == "elementwise" else xp.reshape(y, ())
        return y
    return f


def per_op_costs(n_ops: int, rounds: int) -> list[dict]:
    rows = []
    x = np.float64(0.5)
    for kind in ("elementwise", "tape (reshape)"):
        contenders: dict = {}
        for name, grad in [("mixedad auto", lambda f: (lambda: mixedad.gradient(f, x))),
                           ("mixedad reverse", lambda f: (lambda: mixedad.gradient(f, x, mode="reverse")))]:
            contenders[name] = (grad(chain(np, n_ops, kind)), grad(chain(np, 0, kind)))
        contenders["mixedad prepared"] = (lambda p=mixedad.prepare(chain(np, n_ops, kind), x): p.gradient(x),
                                          lambda p=mixedad.prepare(chain(np, 0, kind), x): p.gradient(x))
        if autograd is not None:
            contenders["autograd"] = (lambda f=autograd.grad(chain(anp, n_ops, kind)): f(x),
                                      lambda f=autograd.grad(lambda x: x * 1.0): f(x))
        flat = {f"{name}|{which}": fn for name, pair in contenders.items() for which, fn in zip(("n", "0"), pair)}
        medians = interleaved_medians(flat, rounds=rounds)
        for name in contenders:
            rows.append({"kind": kind, "framework": name,
                         "us_per_op": (medians[f"{name}|n"] - medians[f"{name}|0"]) / n_ops * 1e6})
    return rows


def peak_bytes(function, warmups: int = 1) -> int:
    for _ in range(warmups):
        function()  # warm caches (and let a prepared program record and compile) outside the measurement
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def memory_rows() -> list[dict]:
    from mixedad.examples import models
    rows = []
    rng = np.random.default_rng(0)
    images = rng.random((128, 1, 28, 28), dtype=np.float32)
    for name in ("mlp", "lenet"):
        params = getattr(models, f"{name}_params")(rng)
        loss = models.sum_of_squares(getattr(models, name))
        row = {"model": name, "mixedad auto": peak_bytes(lambda: mixedad.gradient(loss, params, images)),
               "mixedad reverse": peak_bytes(lambda: mixedad.gradient(loss, params, images, mode="reverse"))}
        rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    print(f"Machine: {machine_description()}\n")
    print("| operation kind | framework | us per op (forward + backward) | target |")
    print("|---|---|---|---|")
    for row in per_op_costs(args.ops, args.rounds):
        print(f"| {row['kind']} | {row['framework']} | {row['us_per_op']:.2f} | < 3 |")
    print("\n(prepared: mixedad.prepare(f, x).gradient, which replays the recorded tape)")
    if autograd is None:
        print("\n(autograd is not installed: pip install -e '.[bench]')")
    try:
        rows = memory_rows()
    except (ImportError, AttributeError) as error:
        print(f"\n(memory: seed models unavailable: {error})")
        return
    print("\n| model | mixedad auto peak | mixedad reverse peak |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['model']} | {row['mixedad auto'] / 2**20:.2f} MiB | {row['mixedad reverse'] / 2**20:.2f} MiB |")


if __name__ == "__main__":
    main()
