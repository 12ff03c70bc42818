"""The performance table of issue 7: mixedad's gradient time over the NumPy primal time, next to its peers.

Run: python -m benchmarks.performance [--quick] [--rounds N] [--json PATH] [--markdown PATH] [--report]
         (--batch B --length N shrink the inputs; the smoke test runs them tiny)

For each case of the issue's table (a float32 batch of 128 x 1 x 28 x 28 unless the name
says otherwise) one process times the NumPy primal and the gradient of every contender:
mixedad (``gradient`` in mode auto and reverse, and ``prepare(f, *args).gradient``), HIPS
autograd, PyTorch eager, JAX eager, ``jax.jit`` and a hand-written NumPy gradient. They run
on one thread, warm, in interleaved rounds that visit them in a new random order, and the
medians are kept. Every ratio divides a contender's gradient time by the NumPy primal time
of the same case and run: one denominator for all columns, peers included. Each row then
gives the issue's target, mixedad's best column, whether the target is met, and whether
that column beat autograd, PyTorch eager and JAX eager. Every gradient is checked against
mixedad auto's; a mismatch is printed loudly and marked in the table.

Then the peak memory tracemalloc sees during one gradient of the MLP and of the LeNet-style
net, and with ``--report`` mixedad's mode report (``mixedad.profile``) of every case.
``--quick`` (3 rounds, and no JAX on the Python loop, whose first calls alone take 45 s)
takes about 12 s on a 2-core VM; the default (21 rounds) about 90 s. Peers that are not
installed show as "-" (``pip install -e ".[bench]"`` installs them).
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from benchmarks.timing import (call_seconds, format_seconds, machine_description,  # first: one BLAS thread
                               shuffled_medians)

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import mixedad
from benchmarks import cases
from benchmarks.overhead import peak_bytes
from benchmarks.peers import Autograd, Jax, NumpyOps, Torch, tree_leaves_like
from mixedad.examples import models

MIXEDAD_COLUMNS = ("mixedad auto", "mixedad reverse", "mixedad prepared")
EAGER_PEERS = ("autograd", "PyTorch eager", "JAX eager")  # the ones mixedad has to beat in every row
PEER_COLUMNS = EAGER_PEERS + ("jax.jit",)
HAND_WRITTEN = "hand-written NumPy"
COLUMNS = MIXEDAD_COLUMNS + PEER_COLUMNS + (HAND_WRITTEN,)
RTOL = {"float32": 2e-3, "float64": 1e-7}  # of the largest entry of mixedad auto's gradient


def peer_frameworks() -> dict[str, Any]:
    """The peers of benchmarks.peers by column; missing ones have ``available=False``."""
    return dict(zip(PEER_COLUMNS, (Autograd(), Torch(), Jax(jit=False), Jax(jit=True))))


# --- hand-written NumPy gradients -------------------------------------------------------------
def squares_gradient(x):
    return 2 * x


def arctan2_gradient(x):
    return 2 / (x * x + 4)  # d/dx arctan2(x, 2) = 2 / (x^2 + 4): arctan2 itself is never needed


def arctan2_value_and_gradient(x):
    return np.sum(np.arctan2(x, 2.0)), arctan2_gradient(x)


def sin_gradient(x):
    return np.cos(x)


def sin_cos_exp_gradient(x):
    sin, cos, exp = np.sin(x), np.cos(x), np.exp(x)
    return exp * (cos * cos - sin * sin + sin * cos)


def mlp_gradient(params, images):
    """The gradient of ``cases.seed_mlp``: sum((tanh(x W1 + b1) W2 + b2)^2)."""
    fc1, fc2 = params["fc1"], params["fc2"]
    x = images.reshape(images.shape[0], -1)
    hidden = np.tanh(x @ fc1["weight"] + fc1["bias"])
    d_out = 2 * (hidden @ fc2["weight"] + fc2["bias"])
    d_pre = (d_out @ fc2["weight"].T) * (1 - hidden * hidden)
    return {"fc1": {"weight": x.T @ d_pre, "bias": d_pre.sum(axis=0)},
            "fc2": {"weight": hidden.T @ d_out, "bias": d_out.sum(axis=0)}}


def _conv2d(x, weight, bias):
    """Valid stride-1 cross-correlation by im2col; returns the output and the patch matrices.

    The patches are per sample, (N, C * k * k, H_out * W_out), so that the product lands in
    NCHW order with no transpose (the layout mixedad.nn.conv2d uses too).
    """
    n, channels, height, width = x.shape
    out_channels, _, k, _ = weight.shape
    out_h, out_w = height - k + 1, width - k + 1
    patches = sliding_window_view(x, (k, k), axis=(2, 3)).transpose(0, 1, 4, 5, 2, 3).reshape(
        n, channels * k * k, out_h * out_w)
    out = (weight.reshape(out_channels, -1) @ patches).reshape(n, out_channels, out_h, out_w)
    out += bias[:, None, None]
    return out, patches


def _conv2d_backward(d_out, patches, x_shape, weight, need_input: bool):
    n, out_channels, out_h, out_w = d_out.shape
    k = weight.shape[2]
    d_rows = d_out.reshape(n, out_channels, out_h * out_w)
    d_weight = (d_rows @ patches.transpose(0, 2, 1)).sum(axis=0).reshape(weight.shape)
    d_bias = d_rows.sum(axis=(0, 2))
    if not need_input:
        return d_weight, d_bias, None
    d_patches = (weight.reshape(out_channels, -1).T @ d_rows).reshape(n, x_shape[1], k, k, out_h, out_w)
    d_x = np.zeros(x_shape, d_out.dtype)
    for i in range(k):  # col2im: one strided add per kernel offset
        for j in range(k):
            d_x[:, :, i:i + out_h, j:j + out_w] += d_patches[:, :, i, j]
    return d_weight, d_bias, d_x


POOL_OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1))  # row-major: the first maximum wins ties, as in mixedad.nn


def _relu_max_pool2(x):
    """relu then 2x2 max pooling; returns the output and the four offset views it read."""
    corners = [x[:, :, i::2, j::2] for i, j in POOL_OFFSETS]
    out = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3]))
    return np.maximum(out, 0, out=out), corners


def _relu_max_pool2_backward(d_out, out, corners, x_shape):
    """To each window's first maximum; relu's derivative (0 at 0) is ``out > 0`` there."""
    d_out = d_out * (out > 0)
    d_x = np.zeros(x_shape, d_out.dtype)
    unclaimed = np.ones(out.shape, bool)
    zero = np.zeros((), d_out.dtype)
    for (i, j), corner in zip(POOL_OFFSETS, corners):
        first = (corner == out) & unclaimed
        unclaimed &= ~first
        d_x[:, :, i::2, j::2] = np.where(first, d_out, zero)
    return d_x


def lenet_gradient(params, images):
    """The gradient of ``cases.seed_lenet``: two conv-relu-pool blocks, three dense layers, sum of squares."""
    conv_inputs, conv_outputs, patch_matrices, pool_outputs, pool_views = [], [], [], [], []
    h = images
    for name in ("conv1", "conv2"):
        conv_inputs.append(h)
        pre, patches = _conv2d(h, params[name]["weight"], params[name]["bias"])
        h, corners = _relu_max_pool2(pre)
        conv_outputs.append(pre), patch_matrices.append(patches), pool_outputs.append(h), pool_views.append(corners)
    dense_inputs = [h.reshape(h.shape[0], -1)]
    for name in ("fc1", "fc2"):
        dense_inputs.append(np.maximum(dense_inputs[-1] @ params[name]["weight"] + params[name]["bias"], 0))
    d_h = 2 * (dense_inputs[-1] @ params["fc3"]["weight"] + params["fc3"]["bias"])
    grads: dict[str, dict[str, np.ndarray]] = {}
    for name, x in zip(("fc3", "fc2", "fc1"), reversed(dense_inputs)):
        grads[name] = {"weight": x.T @ d_h, "bias": d_h.sum(axis=0)}
        d_h = d_h @ params[name]["weight"].T
        if name != "fc1":
            d_h = d_h * (x > 0)  # x is this layer's input: the relu output of the layer below
    d_h = d_h.reshape(h.shape)
    for index, name in ((1, "conv2"), (0, "conv1")):
        d_pre = _relu_max_pool2_backward(d_h, pool_outputs[index], pool_views[index], conv_outputs[index].shape)
        weight, bias, d_h = _conv2d_backward(d_pre, patch_matrices[index], conv_inputs[index].shape,
                                             params[name]["weight"], need_input=index > 0)
        grads[name] = {"weight": weight, "bias": bias}
    return {name: grads[name] for name in params}


# --- the cases -------------------------------------------------------------------------------------
@dataclass
class PerformanceCase:
    name: str
    function: Callable[..., Any]  # f(xp, params, *constants), written against an ops namespace as in benchmarks.cases
    params: Any  # differentiated
    constants: tuple
    hand_written: Callable[..., Any]  # (params, *constants) -> gradient, or (value, gradient)
    target: float  # the ceiling for mixedad's gradient time / NumPy primal time
    dtype: str
    value_and_gradient: bool = False  # time value_and_gradient instead of gradient (mixedad, hand-written)
    note: str = ""
    skipped_when_quick: tuple[str, ...] = ()  # columns whose first call alone takes longer than --quick may


def performance_cases(rng: np.random.Generator, batch: int = 128, length: int = 1000) -> list[PerformanceCase]:
    """The issue's rows; ``batch`` and ``length`` shrink the inputs (the smoke test uses tiny ones)."""
    images = models.seed_batch(rng, batch)
    vector = rng.standard_normal(length)
    return [
        PerformanceCase("sum(x**2)", cases.sum_of_squares, images, (), squares_gradient, 1.5, "float32"),
        PerformanceCase("sum(arctan2(x, 2))", cases.sum_arctan2, images, (), arctan2_gradient, 1.0, "float32"),
        PerformanceCase("sum(arctan2(x, 2)), value_and_gradient", cases.sum_arctan2, images, (),
                        arctan2_value_and_gradient, 1.5, "float32", value_and_gradient=True,
                        note="mixedad and hand-written: value and gradient; peers: their gradient call, "
                             "which computes the value too"),
        PerformanceCase(f"sum(sin(x)), {length} float64", cases.total_of_sin, vector, (), sin_gradient, 2.0,
                        "float64"),
        PerformanceCase(f"sum(sin(x)), Python loop over {length} float64", cases.loop_total_of_sin, vector, (),
                        sin_gradient, 50.0, "float64",
                        note="hand-written: np.cos(x), vectorized (the loop's gradient needs no loop); "
                             "with --quick JAX is skipped: its first calls compile every x[i] (about 35 s eager, "
                             "10 s jit, for 1000 elements)",
                        skipped_when_quick=("JAX eager", "jax.jit")),
        PerformanceCase(f"sum(sin(x)*cos(x)*exp(x)), {length} float64", cases.sin_cos_exp_product, vector, (),
                        sin_cos_exp_gradient, 2.0, "float64"),
        PerformanceCase("sum(sin(x)*cos(x)*exp(x)), float32", cases.sin_cos_exp_product, images, (),
                        sin_cos_exp_gradient, 1.8, "float32"),
        PerformanceCase(f"MLP 784→32 tanh→10, batch {batch}", cases.seed_mlp, models.mlp_params(rng), (images,),
                        mlp_gradient, 2.5, "float32"),
        PerformanceCase(f"LeNet-style conv net, batch {batch}", cases.seed_lenet, models.lenet_params(rng),
                        (images,), lenet_gradient, 2.5, "float32"),
    ]


def on_numpy(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function(xp, params, *constants)`` as the plain NumPy function mixedad differentiates."""
    def numpy_function(params, *constants):
        return function(NumpyOps, params, *constants)
    numpy_function.__name__ = numpy_function.__qualname__ = function.__name__  # mode reports name the case
    return numpy_function


def _failure(error: Exception) -> str:
    return f"failed: {type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''}"


def gradient_calls(case: PerformanceCase, peers: dict[str, Any],
                   quick: bool = False) -> dict[str, Callable[[], Any] | str]:
    """Per column, a zero-argument gradient call, or a status string when there is none."""
    f, args = on_numpy(case.function), (case.params, *case.constants)
    transform = mixedad.value_and_gradient if case.value_and_gradient else mixedad.gradient
    calls: dict[str, Callable[[], Any] | str] = {
        "mixedad auto": lambda: transform(f, *args),
        "mixedad reverse": lambda: transform(f, *args, mode="reverse")}
    try:
        prepared = mixedad.prepare(f, *args)
        method = prepared.value_and_gradient if case.value_and_gradient else prepared.gradient
        calls["mixedad prepared"] = functools.partial(method, *args)
    except Exception as error:  # report it in the table and keep measuring the rest
        calls["mixedad prepared"] = _failure(error)
    for column, framework in peers.items():
        if not framework.available:
            calls[column] = "not installed"
            continue
        if quick and column in case.skipped_when_quick:
            calls[column] = "skipped by --quick"
            continue
        try:
            calls[column] = framework.callables(case.function, case.params, case.constants)[1]
        except Exception as error:
            calls[column] = _failure(error)
    calls[HAND_WRITTEN] = functools.partial(case.hand_written, *args)
    return calls


# --- measuring ---------------------------------------------------------------------------------------
def relative_difference(got: list, want: list) -> float:
    """The largest absolute difference over the largest entry of ``want``, over all leaves."""
    worst = 0.0
    for g, w in zip(got, want, strict=True):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if g.shape != w.shape:
            return float("inf")
        if w.size:
            worst = max(worst, float(np.max(np.abs(g - w))) / max(float(np.max(np.abs(w))), 1e-30))
    return worst


def _returns_value(case: PerformanceCase, column: str) -> bool:
    return case.value_and_gradient and column not in PEER_COLUMNS


def measure_case(case: PerformanceCase, calls: dict, rounds: int, rng: np.random.Generator, log) -> dict:
    """One row: the NumPy primal time, each column's gradient time and ratio, the cross-check, the verdicts."""
    args = (case.params, *case.constants)
    contenders = {"NumPy primal": lambda: case.function(NumpyOps, *args)}
    primal_value = float(contenders["NumPy primal"]())
    row: dict[str, Any] = {"case": case.name, "dtype": case.dtype, "target": case.target, "results": {}}
    reference = None
    for column in COLUMNS:
        call = calls[column]
        result = row["results"][column] = {}
        if isinstance(call, str):
            result["status"] = call
            continue
        try:
            start = time.perf_counter()
            output = call()  # the first call: JAX jit compiles here
            result["first_call_s"] = time.perf_counter() - start
        except Exception as error:  # a contender without this operation: report it, keep going
            result["status"] = _failure(error)
            log(f"  {column}: {result['status']}")
            continue
        result["status"] = "ok"
        if _returns_value(case, column):
            value, output = output
            if abs(float(value) - primal_value) > RTOL[case.dtype] * max(abs(primal_value), 1.0):
                result["mismatch"] = True
                log(f"  !!! VALUE MISMATCH: {column} returns {float(value)!r}, the NumPy primal {primal_value!r} "
                    f"in case {case.name!r} !!!")
        leaves = tree_leaves_like(case.params, output)
        if column == "mixedad auto":
            reference = leaves
        if reference is None:  # mixedad auto failed: nothing to check against
            result["unchecked"] = True
        else:
            difference = result["max_relative_difference"] = relative_difference(leaves, reference)
            if not difference <= RTOL[case.dtype]:
                result["mismatch"] = True
                log(f"  !!! GRADIENT MISMATCH: {column} differs from mixedad auto by {difference:.2e} (relative "
                    f"to the largest entry) in case {case.name!r} !!!")
        contenders[column] = call
    medians = shuffled_medians(contenders, call_seconds(contenders), rounds, rng)
    row["rounds"] = rounds
    row["primal_s"] = primal = medians.pop("NumPy primal")
    for column, seconds in medians.items():
        row["results"][column].update(gradient_s=seconds, ratio=seconds / primal)
    row.update(verdicts(row))
    return row


def verdicts(row: dict) -> dict:
    """mixedad's best column, whether it meets the target, and the eager peers it lost to or could not meet."""
    results = row["results"]
    measured = [c for c in MIXEDAD_COLUMNS if "ratio" in results[c]]
    if not measured:
        return {"best_column": None, "best_ratio": None, "target_met": False, "lost_to": [], "unmeasured_peers": []}
    best = min(measured, key=lambda c: results[c]["ratio"])
    best_seconds = results[best]["gradient_s"]
    return {"best_column": best, "best_ratio": results[best]["ratio"],
            "target_met": results[best]["ratio"] <= row["target"],
            "lost_to": [p for p in EAGER_PEERS
                        if "gradient_s" in results[p] and results[p]["gradient_s"] <= best_seconds],
            "unmeasured_peers": [p for p in EAGER_PEERS if "gradient_s" not in results[p]]}


def memory_rows(rng: np.random.Generator, batch: int, peers: dict[str, Any]) -> list[dict]:
    """Peak traced memory (bytes) during one gradient of the seed MLP and LeNet, after a warm-up call."""
    images = models.seed_batch(rng, batch)
    rows = []
    for model, function, params in (("MLP", cases.seed_mlp, models.mlp_params(rng)),
                                    ("LeNet", cases.seed_lenet, models.lenet_params(rng))):
        f = on_numpy(function)
        prepared = mixedad.prepare(f, params, images)
        row = {"model": model, "NumPy primal": peak_bytes(lambda: f(params, images)),
               "mixedad auto": peak_bytes(lambda: mixedad.gradient(f, params, images)),
               # two warm-ups: the first call records the program, the second compiles it
               "mixedad prepared": peak_bytes(lambda: prepared.gradient(params, images), warmups=2),
               "autograd": None}
        if peers["autograd"].available:
            row["autograd"] = peak_bytes(peers["autograd"].callables(function, params, (images,))[1])
        rows.append(row)
    return rows


def mode_reports(benchmark_cases: list[PerformanceCase]) -> list[tuple[str, str]]:
    """(case, ``str(mixedad.profile(f, *args))``), with the line report of the case's own function."""
    reports = []
    for case in benchmark_cases:
        if case.value_and_gradient:
            continue  # the same program as the gradient row
        f = on_numpy(case.function)
        reports.append((case.name, str(mixedad.profile(f, case.params, *case.constants, lines=[case.function]))))
    return reports


# --- output ---------------------------------------------------------------------------------------
def _cell(result: dict) -> str:
    status = result.get("status", "")
    if status == "not installed":
        return "-"
    if "ratio" not in result:
        return status.split(" ")[0] if status.startswith(("failed", "skipped")) else "-"
    return f"{result['ratio']:.2f}" + (" ✗" if result.get("mismatch") else "")


def _beats_peers(row: dict) -> str:
    if row["best_column"] is None:
        return "no mixedad timing"
    if row["lost_to"]:
        return "lost to " + ", ".join(row["lost_to"])
    unmeasured = row["unmeasured_peers"]
    if len(unmeasured) == len(EAGER_PEERS):
        return "no peer measured"
    if unmeasured:
        return "yes (" + ", ".join(unmeasured) + " not measured)"
    return "yes"


def table_markdown(rows: list[dict]) -> str:
    lines = ["| case | NumPy primal | " + " | ".join(COLUMNS) + " | target | best mixedad | target met | beats peers |",
             "|---|---:|" + "---:|" * len(COLUMNS) + "---:|---|---|---|"]
    for row in rows:
        cells = [_cell(row["results"][column]) for column in COLUMNS]
        best = "-"
        if row["best_column"] is not None:
            best = f"{row['best_ratio']:.2f} ({row['best_column'].removeprefix('mixedad ')})"
        lines.append(f"| {row['case']} | {format_seconds(row['primal_s'])} | " + " | ".join(cells) +
                     f" | ≤ {row['target']:g} | {best} | {'met' if row['target_met'] else 'MISSED'} | "
                     f"{_beats_peers(row)} |")
    return "\n".join(lines)


def notes_markdown(rows: list[dict], peers: dict[str, Any], notes: dict[str, str]) -> str:
    lines = ["Notes (- not installed, ✗ disagrees with mixedad auto):", ""]
    lines += [f"- {column}: {framework.note}" for column, framework in peers.items()]
    lines += [f"- {case}: {note}" for case, note in notes.items() if note]
    for row in rows:
        for column, result in row["results"].items():
            if result.get("status", "").startswith("failed"):
                lines.append(f"- {row['case']}, {column}: {result['status']}")
            if result.get("unchecked"):
                lines.append(f"- {row['case']}, {column}: gradient not checked (mixedad auto failed)")
            if result.get("mismatch"):
                lines.append(f"- {row['case']}, {column}: MISMATCH (gradient differs from mixedad auto's by "
                             f"{result.get('max_relative_difference', float('nan')):.2e} of its largest entry)")
    return "\n".join(lines)


def memory_markdown(rows: list[dict]) -> str:
    def size(value):
        if value is None:
            return "-"
        return f"{value / 2**10:.1f} KiB" if value < 2**20 else f"{value / 2**20:.2f} MiB"
    lines = ["| model | NumPy primal | mixedad auto | mixedad prepared | autograd | mixedad ≤ autograd |",
             "|---|---:|---:|---:|---:|---|"]
    for row in rows:
        if row["autograd"] is None:
            verdict = "- (autograd not installed)"
        else:
            verdict = ", ".join(f"{c.removeprefix('mixedad ')}: {'yes' if row[c] <= row['autograd'] else 'NO'}"
                                for c in ("mixedad auto", "mixedad prepared"))
        lines.append(f"| {row['model']} | {size(row['NumPy primal'])} | {size(row['mixedad auto'])} | "
                     f"{size(row['mixedad prepared'])} | {size(row['autograd'])} | {verdict} |")
    return "\n".join(lines)


def header(rounds: int, seconds: float) -> str:
    return (f"Machine: {machine_description()}\n"
            f"Single-threaded. Each cell is a contender's gradient time over the NumPy primal time of the same "
            f"case (one denominator for every column, peers included), medians of {rounds} interleaved rounds "
            f"in this run after warm-up ({seconds:.0f} s). Lower is better. Targets are for mixedad's best column.")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 21")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per case (median taken)")
    parser.add_argument("--json", help="also write the measurements as JSON to this path")
    parser.add_argument("--markdown", help="also write the tables as Markdown to this path")
    parser.add_argument("--report", action="store_true", help="print mixedad's mode report of every case")
    parser.add_argument("--batch", type=int, default=128, help="images per batch (the issue's: 128)")
    parser.add_argument("--length", type=int, default=1000, help="float64 vector length (the issue's: 1000)")
    args = parser.parse_args(argv)
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 21)

    def log(message):
        print(message, file=sys.stderr, flush=True)
    started = time.perf_counter()
    peers = peer_frameworks()
    rows = []
    benchmark_cases = performance_cases(np.random.default_rng(0), args.batch, args.length)
    for number, case in enumerate(benchmark_cases):
        log(f"{case.name} ...")
        calls = gradient_calls(case, peers, quick=args.quick)
        rows.append(measure_case(case, calls, rounds, np.random.default_rng(number), log))
    memory = memory_rows(np.random.default_rng(1), args.batch, peers)
    reports = mode_reports(benchmark_cases) if args.report else []

    text = "\n\n".join([
        header(rounds, time.perf_counter() - started),
        "**Gradient time / NumPy primal time**", table_markdown(rows),
        notes_markdown(rows, peers, {case.name: case.note for case in benchmark_cases}),
        "**Peak traced memory during one gradient** (tracemalloc, after a warm-up call, two for prepared: "
        f"it records, then compiles; batch {args.batch})",
        memory_markdown(memory)] + [f"**Mode report: {name}**\n\n```text\n{report}\n```" for name, report in reports])
    print(text)
    mismatches = [(row["case"], column) for row in rows for column, result in row["results"].items()
                  if result.get("mismatch")]
    if mismatches:
        print(f"\n!!! {len(mismatches)} MISMATCH(ES) against mixedad auto: {mismatches} !!!")
    result = {"machine": machine_description(), "rounds": rounds, "batch": args.batch, "length": args.length,
              "peers": {column: {"available": f.available, "note": f.note} for column, f in peers.items()},
              "rows": rows, "memory": memory, "mode_reports": dict(reports), "mismatches": mismatches}
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(text + "\n")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)
    return result


if __name__ == "__main__":
    main()
