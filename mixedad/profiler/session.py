"""Running gradients under the profiler: ``profile(f, *args)`` and ``with profiling():``.

The engine records per-entry facts only on an ``instrumented`` trace; everything here
reads finished traces and measures wall time around them. With no profiler active,
``mixedad.gradient`` pays one emptiness check of ``ACTIVE_OBSERVERS``.
"""
from __future__ import annotations

import functools
import os
import threading
import time
from typing import Any, Callable, Sequence

from ..api import ACTIVE_OBSERVERS, _differentiate
from ..core.compiled import GENERATED
from ..core.modes import Mode
from .lines import LineRecorder, build_line_report, line_recording_paused, python_function
from .report import Report, aggregate, entries_from_trace, median_entries, same_program, summarize
from .text import format_seconds


def function_name(f: Any) -> str | None:
    """``f``'s name; ``partial(name)`` for a ``functools.partial``, ``Class.__call__`` for a callable object."""
    name = getattr(f, "__qualname__", None) or getattr(f, "__name__", None)
    if isinstance(name, str):
        return name
    if isinstance(f, functools.partial):
        return f"partial({function_name(f.func) or type(f.func).__name__})"
    if callable(f):
        return f"{type(f).__qualname__}.__call__"
    return None


def describe_function(f: Any) -> str | None:
    name = function_name(f)
    if name is None:
        return None
    target = python_function(f)  # through decorators, partials and methods: the code the user wrote
    if target is None:
        return name
    code = target.__code__
    return f"{name} ({os.path.basename(code.co_filename)}:{code.co_firstlineno})"


class _Run:
    """One gradient: its result and wall times, and its entries if ``instrumented``.

    Instrumented runs also compute the value (``report.value``); plain runs time what
    ``mixedad.gradient`` costs, which skips primal values nobody reads (a fused reduction's)."""

    __slots__ = ("entries", "value", "gradient", "forward_seconds", "backward_seconds")

    def __init__(self, f, args, argnums, mode, has_aux, instrumented=True):
        marks = [0.0, 0.0]

        def timed_f(*traced_args):
            marks[0] = time.perf_counter()
            try:
                return f(*traced_args)
            finally:
                marks[1] = time.perf_counter()

        read = []  # the entries, read while the call ends (it then frees its tape)
        result = _differentiate(timed_f, args, argnums, has_aux, mode, want_value=instrumented,
                                instrumented=instrumented,
                                observe=lambda trace: read.append(entries_from_trace(trace) if instrumented else None))
        value, grad = result if instrumented else (None, result)
        done = time.perf_counter()
        self.entries = read.pop()
        self.value, self.gradient = value, grad
        self.forward_seconds = marks[1] - marks[0]
        self.backward_seconds = done - marks[1]


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


class _Measurement:
    """``repeat`` rounds of an instrumented run (entries, per-entry times) and a plain run
    (wall times as the user pays them: instrumentation adds a fixed cost per op), after one
    untimed run of each kind."""

    def __init__(self, f, args, argnums, mode, has_aux, repeat, notes):
        # The first call of a program generates and compiles its regions' code and touches fresh
        # memory; timed, that lands in the entries of the first round (3-7x the wall time of the
        # same entries later). A warm-up of each kind keeps entry times a part of the wall times.
        _Run(f, args, argnums, mode, has_aux)
        _Run(f, args, argnums, mode, has_aux, instrumented=False)
        instrumented, plain = [], []
        for _ in range(repeat):
            instrumented.append(_Run(f, args, argnums, mode, has_aux))
            plain.append(_Run(f, args, argnums, mode, has_aux, instrumented=False))
        runs = [r.entries for r in instrumented]
        if same_program(runs):
            self.entries = median_entries(runs)
        else:
            notes.append(f"mode={mode!r}: the tape differed between the {repeat} runs (data-dependent "
                         "control flow?); entry times are from the last run only")
            self.entries = runs[-1]
        self.last = instrumented[-1]
        self.forward_seconds = _median([r.forward_seconds for r in plain])
        self.backward_seconds = _median([r.backward_seconds for r in plain])


def profile(f: Callable[..., Any], *args: Any, argnums: int | Sequence[int] = 0, mode: str = "auto",
            has_aux: bool = False, repeat: int = 1, compare: bool = False,
            lines: bool | Sequence[Callable] = True) -> Report:
    """Differentiate ``f`` at ``args`` under instrumentation and report what happened.

    Every tape entry gets its ops, mode, reason, partial count, shape, dtype, bytes held for
    the backward pass, forward and backward time and user source lines. ``repeat`` runs the
    gradient that many times and reports median times. ``compare=True`` also runs
    ``mode="reverse"`` (as often) and keeps its summary in ``report.comparison``: the entries,
    time and memory a pure per-op tape needs for the same code. ``lines=True`` adds the
    line-level report of ``f`` (needs line_profiler) from a separate run after the measured ones;
    pass a list of functions to report the lines of helpers ``f`` calls as well. Wall times
    come from uninstrumented runs, interleaved with the instrumented ones; an untimed run of
    each kind comes first (the first call of a program generates its code).

    >>> import numpy as np, mixedad
    >>> report = mixedad.profile(lambda x: np.sum(np.tanh(x) * 2.0), np.ones(3), lines=False)
    >>> [e.mode.value for e in report.entries if e.mode.value != "input"]
    ['dual']
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    if type(getattr(f, "__self__", None)).__name__ == "Prepared" and getattr(f, "__name__", "").endswith("gradient"):
        raise TypeError("profile differentiates f itself: pass the function you prepared, profile(f, *args), "
                        "or put the prepared calls in a `with mixedad.profiling():` block to see their tapes.")
    with line_recording_paused():
        return _profile(f, args, argnums, mode, has_aux, repeat, compare, lines)


def _profile(f, args, argnums, mode, has_aux, repeat, compare, lines) -> Report:
    notes: list[str] = []
    measured = _Measurement(f, args, argnums, mode, has_aux, repeat, notes)
    line_report = None
    if lines:
        recorder = LineRecorder([f] + ([] if lines is True else list(lines)))
        notes.extend(recorder.notes)
        if recorder.profiler is not None:
            with recorder:  # after the measurement, whose runs warmed everything up
                _Run(f, args, argnums, mode, has_aux, instrumented=False)
            line_report = build_line_report(recorder.stats(), measured.entries)
    comparison = None
    if compare and mode == "reverse":
        notes.append("compare: the profiled mode is mode='reverse' already; nothing to compare with")
    elif compare:
        try:
            reverse = _Measurement(f, args, argnums, "reverse", has_aux, repeat, notes)
        except Exception as error:  # the comparison is a courtesy: report why it is missing
            notes.append(f"compare: mode='reverse' failed: {type(error).__name__}: {error}")
        else:
            comparison = summarize(reverse.entries, "reverse", reverse.forward_seconds, reverse.backward_seconds)
    report = Report(measured.entries, value=measured.last.value, gradient=measured.last.gradient,
                    requested_mode=mode, notes=notes, function=describe_function(f), repeat=repeat,
                    forward_seconds=measured.forward_seconds, backward_seconds=measured.backward_seconds,
                    comparison=comparison, lines=line_report)
    per_element = report.by_mode(Mode.PER_ELEMENT)
    outside = report.summary.forward_seconds - report.summary.entry_forward_seconds
    if outside > 0.5 * report.summary.forward_seconds:
        lines_hint = "; the line report shows where" if line_report is not None else ""
        if per_element:
            notes.append(f"{format_seconds(outside)} of the forward pass is outside tape entries: the per-element "
                         f"evaluation of {', '.join(e.label for e in per_element)} is not timed in its "
                         f"entry{lines_hint}")
        else:
            ops = report.summary.n_entries - report.summary.entries_by_mode["dual"] + report.summary.n_fused_ops
            notes.append(f"{format_seconds(outside)} of the forward pass is outside tape entries: your code's "
                         f"Python and its NumPy work on values that are not differentiated, and tracing {ops} "
                         f"ops (a few microseconds each, which dominates on small arrays; mixedad.prepare "
                         f"replays a program without it){lines_hint}")
    return report


class Profiling:
    """Collects a ``Report`` for every ``mixedad.gradient``/``value_and_gradient`` call made
    while active, by the thread that entered it, that returned (a call that raised has no
    gradient to report). Use through :func:`profiling`."""

    def __init__(self, lines: Sequence[Callable] | bool | None = ()):
        self.reports: list[Report] = []
        self.failures: list[str] = []
        if lines is True:  # (profile's lines=True means f's lines; a block has no f to take them from)
            raise TypeError("profiling(lines=...) takes the functions whose lines to report, e.g. lines=[loss]")
        self._line_targets = [] if lines is False or lines is None else list(lines)
        self._recorder: LineRecorder | None = None
        self._stats: dict = {}
        self._observer = self._observe
        self._active = False
        self._thread: int | None = None
        self._generated = 0  # GENERATED when the block was entered or the last report made

    def _observe(self, trace, f) -> None:
        # The observer list is global: gradients of other threads (a data loader, a second
        # session) come here too, and belong to the thread that opened the block only.
        if threading.get_ident() != self._thread:
            return
        # Called from the gradient's ``finally``: a failure of the profiler must not cost the user the gradient.
        try:
            generated, self._generated = GENERATED[0] - self._generated, GENERATED[0]
            notes = [f"code was generated for {generated} region(s) or program(s) since the last report: "
                     "its time is in the first entries that ran it (later calls of the same structure "
                     "reuse it)"] if generated else []
            self.reports.append(Report(entries_from_trace(trace), requested_mode=trace.requested,
                                       function=describe_function(f), notes=notes))
        except Exception as error:
            self.failures.append(f"a report could not be built: {type(error).__name__}: {error}")

    def __enter__(self) -> Profiling:
        if self._active:
            raise RuntimeError("this profiling() session is already active")
        if self._line_targets:
            self._recorder = LineRecorder(self._line_targets)
            self._recorder.__enter__()
        self._thread = threading.get_ident()
        self._generated = GENERATED[0]
        ACTIVE_OBSERVERS.append(self._observer)
        self._active = True
        return self

    def __exit__(self, *exc_info) -> bool:
        self._active = False
        while self._observer in ACTIVE_OBSERVERS:
            ACTIVE_OBSERVERS.remove(self._observer)
        if self._recorder is not None:
            self._recorder.__exit__(*exc_info)
            for key, per_line in self._recorder.stats().items():
                merged = self._stats.setdefault(key, {})
                for lineno, (hits, seconds) in per_line.items():
                    seen = merged.get(lineno, (0, 0.0))
                    merged[lineno] = (seen[0] + hits, seen[1] + seconds)
        return False

    @property
    def report(self) -> Report:
        """All calls merged (times are totals over the calls); see ``reports`` for each call."""
        notes = ["the profiling() context sees finished tapes only: wall times are not measured, "
                 "times are those of the tape entries"]
        if self._recorder is not None:
            notes.extend(self._recorder.notes)
        notes.extend(self.failures)
        merged = aggregate(self.reports, notes)
        if self._recorder is not None and self._recorder.profiler is not None:
            merged.lines = build_line_report(self._stats, merged.entries)
        return merged

    def __str__(self) -> str:
        return str(self.report)

    def __len__(self) -> int:
        return len(self.reports)


def profiling(lines: Sequence[Callable] | bool | None = ()) -> Profiling:
    """A context manager profiling every gradient call made inside it.

    ``prof.reports`` holds one ``Report`` per call, ``prof.report`` their aggregate. Pass
    ``lines=[loss]`` to add the line-level report of those functions (line_profiler slows
    all Python code 2-4x while it runs, entry times included). Outside the ``with`` block
    gradients are not instrumented at all.

    >>> import numpy as np, mixedad
    >>> with mixedad.profiling() as prof:
    ...     for _ in range(3):
    ...         g = mixedad.gradient(lambda x: np.sum(np.sin(x)), np.ones(2))
    >>> len(prof.reports), prof.report.n_calls
    (3, 3)
    """
    return Profiling(lines)
