"""The line-level report: the user's source, line by line, with forward time from
line_profiler and backward time and modes from the tape entries each line created.

line_profiler is optional (``pip install "mixedad[profile]"``); without it the line report is
skipped with a note. While it runs it traces every Python line in the process (2 to 4 times
slower), so the per-entry times of a report always come from separate, untraced runs.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import linecache
import threading
from typing import Any, Callable, Iterable, Sequence

from ..core.modes import Mode
from .report import EntryReport, FunctionLines, LineReport, LineStat

MISSING_NOTE = ("line report skipped: line_profiler is not installed "
                "(pip install \"mixedad[profile]\" or pip install line_profiler)")


def load_line_profiler():
    """The ``LineProfiler`` class, or None when line_profiler is not installed."""
    try:
        from line_profiler import LineProfiler
    except ImportError:
        return None
    return LineProfiler


def python_function(f: Any) -> Callable | None:
    """The Python function behind ``f`` (through partials, decorators, methods and callable
    objects), or None for builtins and other compiled callables."""
    for _ in range(10):
        f = inspect.unwrap(f) if hasattr(f, "__wrapped__") else f
        if isinstance(f, functools.partial):
            f = f.func
        elif inspect.ismethod(f):
            f = f.__func__
        elif inspect.isfunction(f):
            return f
        elif callable(f) and inspect.isfunction(getattr(type(f), "__call__", None)):
            f = type(f).__call__
        else:
            return None
    return None


class LineRecorder:
    """line_profiler around some functions; ``stats()`` gives per-line (hits, seconds)."""

    # Entered and not yet exited, each with the thread that entered it (line tracing is per thread).
    active: list[tuple[LineRecorder, int]] = []

    def __init__(self, functions: Iterable[Any]):
        LineProfiler = load_line_profiler()
        self.available = LineProfiler is not None
        self.notes: list[str] = []
        self.functions = []
        for f in functions:
            target = python_function(f)
            if target is None:
                self.notes.append(f"no line report for {getattr(f, '__name__', repr(f))}: not a Python function")
            elif target not in self.functions:
                self.functions.append(target)
        self.profiler = None
        if not self.available:
            self.notes.append(MISSING_NOTE)
        elif self.functions:
            self.profiler = LineProfiler()
            for target in self.functions:
                self.profiler.add_function(target)

    def __enter__(self):
        if self.profiler is not None:
            self.profiler.enable_by_count()
            LineRecorder.active.append((self, threading.get_ident()))
        return self

    def __exit__(self, *exc_info):
        if self.profiler is not None:
            self.profiler.disable_by_count()
            LineRecorder.active[:] = [(recorder, thread) for recorder, thread in LineRecorder.active
                                      if recorder is not self]
        return False

    def stats(self) -> dict[tuple[str, int, str], dict[int, tuple[int, float]]]:
        """{(filename, first line, name): {line: (hits, seconds)}} for every added function."""
        result = {}
        keys = {}
        for target in self.functions:
            code = target.__code__
            name = target.__qualname__.rpartition("<locals>.")[2]
            keys[(code.co_filename, code.co_firstlineno)] = key = (code.co_filename, code.co_firstlineno, name)
            result[key] = {}
        if self.profiler is None:
            return result
        stats = self.profiler.get_stats()
        for (filename, first_lineno, name), timings in stats.timings.items():
            per_line = result.setdefault(keys.get((filename, first_lineno), (filename, first_lineno, name)), {})
            for lineno, hits, total in timings:
                seen_hits, seen_seconds = per_line.get(lineno, (0, 0.0))
                per_line[lineno] = (seen_hits + hits, seen_seconds + total * stats.unit)
        return result


@contextlib.contextmanager
def line_recording_paused():
    """Pause the line recorders this thread has entered (a ``profiling(lines=[f])`` block) while
    ``profile()`` runs ``f`` several times of its own: its runs are not calls of the block, whose
    reports leave them out too, and would otherwise multiply the block's hits and times."""
    thread = threading.get_ident()
    paused = [recorder for recorder, entered_by in LineRecorder.active if entered_by == thread]
    for recorder in paused:
        recorder.profiler.disable_by_count()
    try:
        yield
    finally:
        for recorder in reversed(paused):
            recorder.profiler.enable_by_count()


def function_source(filename: str, first_lineno: int) -> list[str]:
    """The source lines of the function starting at ``first_lineno`` (empty if unavailable)."""
    lines = linecache.getlines(filename)
    if not lines or first_lineno > len(lines):
        return []
    try:
        return inspect.getblock(lines[first_lineno - 1:])
    except Exception:  # tokenize errors on unusual sources: show the first line only
        return lines[first_lineno - 1:first_lineno]


def _by_line(entries: Sequence[EntryReport]):
    """(filename, line) -> (backward seconds attributed, modes, entry indices)."""
    table: dict[tuple[str, int], list] = {}
    for e in entries:
        if e.mode is Mode.LEAF:
            continue
        for loc in e.locations:
            slot = table.setdefault((loc.filename, loc.lineno), [0.0, [], []])
            if e.mode not in slot[1]:
                slot[1].append(e.mode)
            if e.index not in slot[2]:
                slot[2].append(e.index)
        if e.line is not None:
            table[(e.line.filename, e.line.lineno)][0] += e.backward_seconds
    return table


def build_line_report(stats: dict, entries: Sequence[EntryReport]) -> LineReport:
    """Merge line_profiler statistics with the entries' lines (both per call or both totals)."""
    by_line = _by_line(entries)
    covered: set[tuple[str, int]] = set()
    functions = []
    for (filename, first_lineno, name), timings in stats.items():
        source = function_source(filename, first_lineno)
        linenos = range(first_lineno, first_lineno + len(source)) if source else sorted(timings)
        rows = []
        for lineno in linenos:
            hits, seconds = timings.get(lineno, (None, None))
            backward, modes, indices = by_line.get((filename, lineno), (0.0, [], []))
            text = source[lineno - first_lineno].rstrip("\n") if source else linecache.getline(filename, lineno).rstrip("\n")
            rows.append(LineStat(filename, lineno, text, hits, seconds, backward, tuple(modes), tuple(indices)))
            covered.add((filename, lineno))
        functions.append(FunctionLines(name, filename, first_lineno, tuple(rows)))
    others = []
    for (filename, lineno), (backward, modes, indices) in sorted(by_line.items()):
        if (filename, lineno) not in covered:
            others.append(LineStat(filename, lineno, linecache.getline(filename, lineno).rstrip("\n"),
                                   None, None, backward, tuple(modes), tuple(indices)))
    return LineReport(tuple(functions), tuple(others))
