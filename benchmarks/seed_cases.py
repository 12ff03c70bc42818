"""The seed thread's cases: gradient time / NumPy primal time, mixedad auto vs reverse mode.

Run: python -m benchmarks.seed_cases [--rounds N] [--json PATH]

Every ratio is a ratio of medians measured in this one run, interleaved with its primal.
"""
from __future__ import annotations

import argparse
import json

from benchmarks.timing import format_seconds, interleaved_medians, machine_description

import numpy as np

import mixedad


def mlp_case(rng):
    params = {"W1": (rng.standard_normal((784, 32)) / 28).astype(np.float32),
              "b1": np.zeros(32, np.float32),
              "W2": (rng.standard_normal((32, 10)) / 6).astype(np.float32),
              "b2": np.zeros(10, np.float32)}

    def mlp(params, images):
        x = images.reshape(images.shape[0], -1)
        h = np.tanh(x @ params["W1"] + params["b1"])
        y = h @ params["W2"] + params["b2"]
        return np.sum(y ** 2)
    return mlp, params


def cases(rng):
    img = rng.random((128, 1, 28, 28), dtype=np.float32)
    mlp, params = mlp_case(rng)
    return [
        # name, function, differentiated argument, extra arguments, target ratio (auto gradient)
        ("sum(x**2)", lambda x: np.sum(x ** 2), img, (), 2.0),
        ("sum(arctan2(x, 2))", lambda x: np.sum(np.arctan2(x, 2.0)), img, (), 1.5),
        ("mixedad.sum(arctan2(., 2), x)", lambda x: mixedad.sum(lambda t: np.arctan2(t, 2.0), x),
         img, (), 1.5),
        ("sum(sin(x)*cos(x)*exp(x))", lambda x: np.sum(np.sin(x) * np.cos(x) * np.exp(x)), img, (), None),
        ("MLP 784-32-10, batch 128", mlp, params, (img,), 3.0),
    ]


def primal_of(name, function, argument, extra):
    if name.startswith("mixedad.sum"):
        return lambda: np.sum(np.arctan2(argument, 2.0))  # the same work in plain NumPy
    return lambda: function(argument, *extra)


def run(rounds: int):
    rng = np.random.default_rng(0)
    rows = []
    for name, function, argument, extra, target in cases(rng):
        contenders = {
            "primal": primal_of(name, function, argument, extra),
            "auto": lambda f=function, a=argument, e=extra: mixedad.gradient(f, a, *e),
            "reverse": lambda f=function, a=argument, e=extra: mixedad.gradient(f, a, *e, mode="reverse"),
        }
        medians = interleaved_medians(contenders, rounds=rounds)
        primal = medians["primal"]
        rows.append({"case": name, "primal_s": primal,
                     "auto_s": medians["auto"], "reverse_s": medians["reverse"],
                     "auto_ratio": medians["auto"] / primal, "reverse_ratio": medians["reverse"] / primal,
                     "auto_speedup_over_reverse": medians["reverse"] / medians["auto"], "target": target})
    return rows


def markdown(rows) -> str:
    lines = ["| case | primal | gradient (auto) | auto / primal | target | reverse / primal | reverse / auto |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        target = "-" if r["target"] is None else (f"≤ {r['target']:g} " + ("met" if r["auto_ratio"] <= r["target"] else "MISSED"))
        lines.append(f"| {r['case']} | {format_seconds(r['primal_s'])} | {format_seconds(r['auto_s'])} | "
                     f"{r['auto_ratio']:.2f} | {target} | {r['reverse_ratio']:.2f} | "
                     f"{r['auto_speedup_over_reverse']:.2f}x |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=25, help="interleaved rounds per case (median taken)")
    parser.add_argument("--json", help="also write the rows as JSON to this path")
    args = parser.parse_args(argv)
    rows = run(args.rounds)
    print(f"Machine: {machine_description()}")
    print("Ratios are medians of gradient time over medians of NumPy primal time, measured interleaved "
          "in this run; targets are for mode='auto'. The elementwise cases also target reverse/auto ≥ 1.5x.\n")
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine_description(), "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
