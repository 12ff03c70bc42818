"""What the profiling hooks cost when no profiler is active, and what profiling costs.

Run: python -m benchmarks.profiler_overhead [--rounds N] [--batches B]

The hooks in the engine are ``if trace.instrumented`` checks (plus one emptiness check of
``ACTIVE_OBSERVERS`` per gradient call). To compare against "a build without hooks", this
script builds one: it copies the ``mixedad`` package to a temporary folder as
``mixedad_nohooks`` and removes, in the syntax tree, every branch taken only when
instrumented, every ``time.perf_counter()`` statement and the observer check. A second copy,
``mixedad_hooks``, goes through the same syntax-tree round trip unchanged, so the two builds
differ only by the hooks. Both differentiate the same tiny functions (where fixed per-call
costs weigh most), interleaved in a new random order every round. Each of B batches gives a
median per contender; the table shows the median over batches of the ratio to the hook-free
build, and its min-max spread. "same build again" (the hooked build measured against itself)
is the noise floor. "instrumented" (the engine recording everything) and "profiling()" (a
report built per call) run the installed mixedad.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import pathlib
import random
import shutil
import statistics
import sys
import tempfile

from benchmarks.timing import format_seconds, interleaved_medians, machine_description

import numpy as np

import mixedad
from mixedad.api import _differentiate

PACKAGE = pathlib.Path(mixedad.__file__).resolve().parent


def _names_instrumentation(node: ast.AST) -> bool:
    """``x.instrumented``, ``instrumented``, ``ACTIVE_OBSERVERS`` or an ``and`` starting with one."""
    if isinstance(node, ast.Attribute):
        return node.attr == "instrumented"
    if isinstance(node, ast.Name):
        return node.id in ("instrumented", "ACTIVE_OBSERVERS")
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return _names_instrumentation(node.values[0])
    return False


def _branch(test: ast.AST) -> str | None:
    """'body' if the test is always true without hooks, 'orelse' if always false, else None."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and _names_instrumentation(test.operand):
        return "body"
    return "orelse" if _names_instrumentation(test) else None


def _times(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "perf_counter" for n in ast.walk(node))


class StripHooks(ast.NodeTransformer):
    """Removes what only runs under a profiler; ``removed`` counts the hooks taken out."""

    def __init__(self):
        self.removed = 0

    def _statements(self, statements):
        kept = []
        for statement in statements:
            if isinstance(statement, (ast.Assign, ast.AugAssign, ast.Expr)) and _times(statement):
                self.removed += 1
                continue
            side = _branch(statement.test) if isinstance(statement, ast.If) else None
            if side is not None:
                self.removed += 1
                kept.extend(self._statements(getattr(statement, side)))
                continue
            kept.append(statement)
        return kept

    def generic_visit(self, node):
        for name in ("body", "orelse", "finalbody"):
            statements = getattr(node, name, None)
            if isinstance(statements, list) and statements and isinstance(statements[0], ast.stmt):
                kept = self._statements(statements)
                setattr(node, name, kept or ([] if name == "orelse" else [ast.Pass()]))
        return super().generic_visit(node)

    def visit_IfExp(self, node):
        side = _branch(node.test)
        if side is not None:
            self.removed += 1
            return self.visit(getattr(node, side))
        return self.generic_visit(node)


def build_copy(name: str, strip: bool) -> tuple[object, pathlib.Path, int]:
    """Import a copy of mixedad as ``name``, its source regenerated from the syntax tree (with
    the hooks removed if ``strip``); returns it, its folder and the number of hooks removed.
    Both builds measured go through the same regeneration, so they differ only by the hooks."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix=f"{name}_"))
    target = folder / name
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__", "profiler", "examples"))
    removed = 0
    for path in target.rglob("*.py"):
        tree = ast.parse(path.read_text())
        if strip:
            stripper = StripHooks()
            tree = stripper.visit(tree)
            removed += stripper.removed
        path.write_text(ast.unparse(ast.fix_missing_locations(tree)))
    # the copies leave the profiler out (it is not what is measured)
    init = target / "__init__.py"
    init.write_text("\n".join(line for line in init.read_text().splitlines() if ".profiler" not in line))
    sys.path.insert(0, str(folder))
    return importlib.import_module(name), folder, removed


def shuffled_medians(contenders: dict, rounds: int, rng: random.Random) -> dict[str, float]:
    """Like ``interleaved_medians``, with the contenders in a new random order every round: a
    contender that always follows the same other one inherits its cache and allocator state."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for _ in range(rounds):
        rng.shuffle(names)
        for name, seconds in interleaved_medians({n: contenders[n] for n in names}, rounds=1, warmup=1).items():
            samples[name].append(seconds)
    return {name: statistics.median(values) for name, values in samples.items()}


def assert_same(expected, actual) -> None:
    if isinstance(expected, dict):
        for key in expected:
            np.testing.assert_array_equal(actual[key], expected[key])
    else:
        np.testing.assert_array_equal(actual, expected)


def cases():
    rng = np.random.default_rng(0)
    x3 = rng.standard_normal(3)
    p = {"W1": rng.standard_normal((6, 4)), "b1": np.zeros(4), "W2": rng.standard_normal((4, 3)), "b2": np.zeros(3)}
    x = rng.standard_normal((5, 6))

    def mlp(params, x):
        h = np.tanh(x @ params["W1"] + params["b1"])
        y = h @ params["W2"] + params["b2"]
        return np.sum(y ** 2)

    def chain(x):
        y = x
        for _ in range(20):
            y = np.sin(y) @ np.eye(3)
        return np.sum(y)
    return [("sum(tanh(x)*2), 3 elements", lambda x: np.sum(np.tanh(x) * 2.0), (x3,), "auto"),
            ("tiny MLP 5x6 -> 4 -> 3", mlp, (p, x), "auto"),
            ("20 x (sin, matmul), 3 elements", chain, (x3,), "auto"),
            ("tiny MLP, mode='reverse'", mlp, (p, x), "reverse")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per batch")
    parser.add_argument("--batches", type=int, default=10, help="batches (the spread is over batches)")
    options = parser.parse_args()
    shuffler = random.Random(0)
    stripped, free_folder, removed = build_copy("mixedad_nohooks", strip=True)
    hooked, hooks_folder, _ = build_copy("mixedad_hooks", strip=False)
    print(f"# {machine_description()}")
    print(f"# hook-free build: {removed} hooks removed (instrumented-only branches, timers, observer check)")
    print(f"# {options.batches} batches x {options.rounds} interleaved rounds; ratios are to the hook-free "
          "build: median over batches [min-max]\n")
    header = f"{'case':32} {'hook-free':>10} {'hooks':>10} {'hooks / free':>22} {'same build again':>22} " \
             f"{'instrumented':>22} {'profiling()':>22}"
    print(header)
    print("-" * len(header))
    for name, f, args, mode in cases():
        argnums = 0
        expected = mixedad.gradient(f, *args, mode=mode)
        for build in (stripped, hooked):  # the builds compute the same gradient
            assert_same(expected, build.gradient(f, *args, mode=mode))

        def profiled():
            with mixedad.profiling():
                mixedad.gradient(f, *args, mode=mode)
        contenders = {
            "free": lambda: stripped.gradient(f, *args, mode=mode),
            "hooks": lambda: hooked.gradient(f, *args, mode=mode),
            "again": lambda: hooked.gradient(f, *args, mode=mode),
            "instrumented": lambda: _differentiate(f, args, argnums, False, mode, False, instrumented=True,
                                                   observe=lambda trace: None),
            "profiling": profiled,
        }
        batches = [shuffled_medians(contenders, options.rounds, shuffler) for _ in range(options.batches)]
        cells = []
        for key in ("hooks", "again", "instrumented", "profiling"):
            ratios = [b[key] / b["free"] for b in batches]
            cells.append(f"{statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}]")
        free = statistics.median(b["free"] for b in batches)
        hooks = statistics.median(b["hooks"] for b in batches)
        print(f"{name:32} {format_seconds(free):>10} {format_seconds(hooks):>10} " +
              " ".join(f"{c:>22}" for c in cells))
    shutil.rmtree(free_folder, ignore_errors=True)
    shutil.rmtree(hooks_folder, ignore_errors=True)
    print("\nhooks / free within the spread of 'same build again' means the hooks cost is within noise.")


if __name__ == "__main__":
    main()
