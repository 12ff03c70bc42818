"""Side-by-side AD benchmark: mixedad (auto, reverse) against HIPS autograd, PyTorch and JAX.

Run: python -m benchmarks.suite [--quick] [--json PATH] [--markdown PATH] [--no-peers]

For every case (benchmarks/cases.py) each installed framework contributes its primal and
its gradient; all of them are timed in the same process, interleaved (each round visits
them in a new random order), on one thread, warm, and the median per call is kept. The
tables report, per framework, gradient time / that framework's own primal time (mixedad's
primal is plain NumPy), and the absolute times. Every gradient is cross-checked against mixedad's (mode="auto"); a
disagreement is printed loudly and marked in the table. Peers that are not installed are
skipped with a note (install them with ``pip install -e ".[bench]"``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from benchmarks.timing import (SAMPLE_SECONDS, WARM_CALL_BELOW, call_seconds, format_seconds,  # first: one BLAS thread
                               machine_description, shuffled_medians)

import numpy as np

from benchmarks.cases import all_cases
from benchmarks.peers import frameworks, tree_leaves_like

RTOL = {"float32": 2e-3, "float64": 1e-7}


def _relative_error(got: list, want: list) -> float:
    worst = 0.0
    for g, w in zip(got, want):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if g.shape != w.shape:
            return float("inf")
        scale = max(float(np.max(np.abs(w))) if w.size else 0.0, 1e-30)
        worst = max(worst, float(np.max(np.abs(g - w))) / scale if w.size else 0.0)
    return worst




def _sample_cost(seconds: float) -> float:
    repeats = max(1, int(SAMPLE_SECONDS / max(seconds, 1e-7)))
    return seconds * (repeats + (seconds < WARM_CALL_BELOW))


def _rounds_for(budget: float, call_seconds: list[float], quick: bool) -> int:
    """Rounds that fit the case's time budget."""
    round_seconds = sum(_sample_cost(t) for t in call_seconds)
    low, high = (3, 7) if quick else (7, 41)
    return int(min(high, max(low, budget / max(round_seconds, 1e-9))))


def measure_case(case, columns, quick: bool, budget: float, log) -> dict:
    row = {"case": case.name, "dtype": case.dtype, "results": {}, "notes": dict(case.notes)}
    contenders, reference = {}, None
    for column in columns:
        result = row["results"][column.name] = {}
        if not column.available:
            result["status"] = "not installed"
            continue
        try:
            primal, gradient = column.callables(case.function, case.params, case.constants)
            start = time.perf_counter()
            grad = gradient()  # the first call: compiles (JAX jit), and gives the gradient to check
            result["first_call_s"] = time.perf_counter() - start
            primal()
        except Exception as error:  # a peer without this operation: report it, keep going
            result["status"] = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:120]}"
            log(f"  {column.label}: {result['status']}")
            continue
        leaves = tree_leaves_like(case.params, grad)
        if reference is None:
            reference = leaves
            result["max_relative_difference"] = 0.0
        else:
            difference = _relative_error(leaves, reference)
            result["max_relative_difference"] = difference
            if not difference <= RTOL[case.dtype]:
                result["mismatch"] = True
                log(f"  !!! GRADIENT MISMATCH: {column.label} differs from {columns[0].label} by "
                    f"{difference:.2e} (relative to the largest entry) in case {case.name!r} !!!")
        result["status"] = "ok"
        own_primal = "NumPy primal" if column.name.startswith("mixedad") else f"{column.name} primal"
        contenders.setdefault(own_primal, primal)
        contenders[f"{column.name} gradient"] = gradient
    estimates = call_seconds(contenders)
    rounds = _rounds_for(budget, list(estimates.values()), quick)
    medians = shuffled_medians(contenders, estimates, rounds, np.random.default_rng(len(row["case"])),
                               warmup=1 if quick else 3)
    row["rounds"] = rounds
    row["numpy_primal_s"] = medians.get("NumPy primal")
    for column in columns:
        result = row["results"][column.name]
        if result.get("status") != "ok":
            continue
        primal_key = "NumPy primal" if column.name.startswith("mixedad") else f"{column.name} primal"
        result["primal_s"] = medians[primal_key]
        result["gradient_s"] = medians[f"{column.name} gradient"]
        result["ratio"] = result["gradient_s"] / result["primal_s"]
    return row


def _cell(result: dict, value: str) -> str:
    status = result.get("status")
    if status == "not installed":
        return "–"
    if status != "ok":
        return "failed"
    return value + (" ✗" if result.get("mismatch") else "")


def markdown(rows: list[dict], columns) -> str:
    names = [c.name for c in columns]
    labels = [c.label for c in columns]
    lines = ["**Gradient time / primal time** (each framework's own primal; mixedad's is NumPy; lower is better)", "",
             "| case | NumPy primal | " + " | ".join(labels) + " |",
             "|---|---:|" + "---:|" * len(labels)]
    for row in rows:
        primal = row.get("numpy_primal_s")
        cells = [_cell(row["results"][n], f"{row['results'][n].get('ratio', 0):.2f}") for n in names]
        lines.append(f"| {row['case']} | {format_seconds(primal) if primal else '–'} | " + " | ".join(cells) + " |")
    lines += ["", "**Gradient time** (median per call)", "",
              "| case | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for row in rows:
        cells = [_cell(row["results"][n], format_seconds(row["results"][n].get("gradient_s", 0))) for n in names]
        lines.append(f"| {row['case']} | " + " | ".join(cells) + " |")
    peer_columns = [c for c in columns if not c.name.startswith("mixedad")]
    if peer_columns:
        lines += ["", "**Peers' primal time** (median per call; the denominators of their ratios)", "",
                  "| case | " + " | ".join(c.label for c in peer_columns) + " |", "|---|" + "---:|" * len(peer_columns)]
        for row in rows:
            cells = [_cell(row["results"][c.name], format_seconds(row["results"][c.name].get("primal_s", 0)))
                     for c in peer_columns]
            lines.append(f"| {row['case']} | " + " | ".join(cells) + " |")
    notes = [f"- {c.label}: {c.note}" for c in columns]
    for row in rows:
        for name, note in row["notes"].items():
            column = next((c for c in columns if c.name == name), None)
            if column is not None and column.available:
                notes.append(f"- {row['case']}, {column.label}: {note}")
        for name in names:
            status = row["results"][name].get("status", "")
            if status.startswith("failed"):
                notes.append(f"- {row['case']}, {name}: {status}")
            if row["results"][name].get("mismatch"):
                notes.append(f"- {row['case']}, {name}: GRADIENT MISMATCH (max relative difference "
                             f"{row['results'][name]['max_relative_difference']:.2e})")
    lines += ["", "Notes (– not installed, ✗ gradient disagrees with mixedad auto):", ""] + notes
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and a smaller time budget per case")
    parser.add_argument("--json", help="write the measurements as JSON to this path")
    parser.add_argument("--markdown", help="write the tables as Markdown to this path")
    parser.add_argument("--no-peers", action="store_true", help="measure mixedad only")
    parser.add_argument("--cases", help="only the cases whose name contains this text")
    parser.add_argument("--budget", type=float, help="seconds of timing per case (default 4, quick 0.5)")
    args = parser.parse_args(argv)

    def log(message):
        print(message, file=sys.stderr, flush=True)
    columns = frameworks(include_peers=not args.no_peers)
    budget = args.budget if args.budget is not None else (0.5 if args.quick else 4.0)
    for column in columns:
        log(f"{column.label}: {column.note}")
    cases = [c for c in all_cases(np.random.default_rng(0)) if not args.cases or args.cases in c.name]
    rows = []
    started = time.perf_counter()
    for case in cases:
        log(f"{case.name} ...")
        rows.append(measure_case(case, columns, args.quick, budget, log))
    machine = machine_description()
    table = markdown(rows, columns)
    print(f"Machine: {machine}\nSingle-threaded; medians of interleaved rounds after warm-up; "
          f"{'quick run' if args.quick else 'full run'} in {time.perf_counter() - started:.0f} s.\n")
    print(table)
    mismatches = [(r["case"], n) for r in rows for n, res in r["results"].items() if res.get("mismatch")]
    if mismatches:
        print(f"\n!!! {len(mismatches)} GRADIENT MISMATCH(ES): {mismatches} !!!")
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(f"Machine: {machine}\n\n{table}\n")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine, "quick": args.quick,
                       "frameworks": {c.name: {"label": c.label, "available": c.available, "note": c.note}
                                      for c in columns},
                       "rows": rows}, handle, indent=2)
    return rows


if __name__ == "__main__":
    main()
