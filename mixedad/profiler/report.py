"""The profile's data model: entries, summary, line statistics, aggregation and the JSON schema.

A ``Report`` is plain data read off a finished tape (``entries_from_trace``); it holds no
tape entry, so keeping reports never keeps a tape alive. ``to_json``/``from_json`` round-trip
everything except the value and the gradient (arrays stay out of the file).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

import numpy as np

from ..core.errors import SourceLocation
from ..core.modes import Mode, Reason
from .regions import Attribution, attributions

# Bump when a key is renamed or removed, or its meaning changes; adding keys keeps the version.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class EntryReport:
    """One tape entry as the user should see it.

    Times are seconds per call (the median over ``repeat`` runs) or, in an aggregate, totals
    over all calls. ``saved_bytes`` is what the entry keeps alive from the forward pass until
    its backward step, of which ``shared_bytes`` an earlier entry keeps too (the summary counts
    an array once, with the first entry that holds it, which is also the last one freed);
    ``backward_bytes`` what its backward step materialises on top (the partials of a fused
    reduction, evaluated only then: an upper-bound estimate). An op with several outputs (an
    SVD, ``np.split``) has ``shape`` None and one shape and dtype per output in
    ``output_shapes`` and ``output_dtypes`` (empty for one output); ``dtype`` is their common
    dtype, or the distinct ones joined with commas.
    """

    index: int
    label: str
    ops: tuple[str, ...]
    mode: Mode
    reason: Reason
    n_partials: int
    shape: tuple | None
    dtype: str | None
    saved_bytes: int
    locations: tuple[SourceLocation, ...]
    forward_seconds: float = 0.0
    backward_seconds: float = 0.0
    backward_bytes: int = 0
    parents: tuple[int, ...] = ()
    count: int = 1
    shared_bytes: int = 0
    output_shapes: tuple[tuple, ...] = ()
    output_dtypes: tuple[str, ...] = ()

    @property
    def own_bytes(self) -> int:
        """The bytes only this entry (or later ones) holds: what the summary counts for it."""
        return self.saved_bytes - self.shared_bytes

    @property
    def where(self) -> str:
        # locations differ by function too (a lambda and the generator expression on its line):
        # the same file:line once
        return ", ".join(dict.fromkeys(f"{os.path.basename(loc.filename)}:{loc.lineno}" for loc in self.locations))

    @property
    def line(self) -> SourceLocation | None:
        """The line that completed the entry (its last op); time is attributed to it."""
        return self.locations[-1] if self.locations else None

    @property
    def seconds(self) -> float:
        return self.forward_seconds + self.backward_seconds

    def signature(self) -> tuple:
        """What identifies the entry across calls of the same program."""
        return (self.ops, self.mode, self.reason, self.locations, self.shape, self.dtype, self.output_shapes)


@dataclass(frozen=True)
class Summary:
    """Totals of one report. Wall times are None where they were not measured (the
    ``profiling()`` context manager only sees finished tapes). In an aggregate, counts and
    times are totals over ``n_calls`` calls; bytes are those of the largest call."""

    requested_mode: str
    n_entries: int
    n_inputs: int
    entries_by_mode: dict
    n_fused_ops: int
    forward_seconds: float | None
    backward_seconds: float | None
    entry_forward_seconds: float
    entry_backward_seconds: float
    saved_bytes: int
    peak_bytes: int
    n_calls: int = 1

    @property
    def seconds(self) -> float | None:
        if self.forward_seconds is None or self.backward_seconds is None:
            return None
        return self.forward_seconds + self.backward_seconds


@dataclass(frozen=True)
class LineStat:
    """One source line: forward wall time from line_profiler, backward time of the entries
    the line completed, and the modes of every entry with an op on the line."""

    filename: str
    lineno: int
    source: str
    hits: int | None = None
    forward_seconds: float | None = None
    backward_seconds: float = 0.0
    modes: tuple[Mode, ...] = ()
    entries: tuple[int, ...] = ()


@dataclass(frozen=True)
class FunctionLines:
    name: str
    filename: str
    first_lineno: int
    lines: tuple[LineStat, ...]


@dataclass(frozen=True)
class LineReport:
    """The profiled functions line by line, and lines outside them where entries were made."""

    functions: tuple[FunctionLines, ...]
    other_lines: tuple[LineStat, ...] = ()


@dataclass(eq=False)
class Report:
    """The profile of one gradient computation (or an aggregate of several).

    ``str(report)`` is an aligned table, ``report.to_json()`` the documented schema,
    ``report.to_html(path)`` a self-contained page.
    """

    entries: list[EntryReport]
    value: Any = None
    gradient: Any = None
    requested_mode: str = "auto"
    notes: list[str] = field(default_factory=list)
    function: str | None = None
    repeat: int = 1
    forward_seconds: float | None = None
    backward_seconds: float | None = None
    comparison: Summary | None = None
    lines: LineReport | None = None
    summary: Summary | None = None

    def __post_init__(self):
        if self.summary is None:
            self.summary = summarize(self.entries, self.requested_mode, self.forward_seconds,
                                     self.backward_seconds)

    def by_mode(self, mode: Mode | str) -> list[EntryReport]:
        """The entries in ``mode``: a ``Mode`` or its value (``"dual"``); an unknown value raises."""
        mode = Mode(mode)
        return [e for e in self.entries if e.mode is mode]

    @property
    def body(self) -> list[EntryReport]:
        """The entries that are operations (the differentiated inputs left out)."""
        return [e for e in self.entries if e.mode is not Mode.LEAF]

    @property
    def n_entries(self) -> int:
        """Tape entries, not counting the differentiated inputs themselves."""
        return self.summary.n_entries

    @property
    def n_fused_ops(self) -> int:
        return self.summary.n_fused_ops

    @property
    def n_calls(self) -> int:
        return self.summary.n_calls

    def __str__(self) -> str:
        from .text import format_report
        return format_report(self)

    def to_html(self, path: str | os.PathLike | None = None) -> str:
        """The self-contained HTML page; written to ``path`` if given. Returns the HTML."""
        from .html_page import render_html
        page = render_html(self)
        if path is not None:
            with open(path, "w", encoding="utf-8") as out:
                out.write(page)
        return page

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "function": self.function,
            "requested_mode": self.requested_mode,
            "repeat": self.repeat,
            "summary": _summary_dict(self.summary),
            "comparison": _summary_dict(self.comparison) if self.comparison is not None else None,
            "entries": [_entry_dict(e) for e in self.entries],
            "lines": _lines_dict(self.lines) if self.lines is not None else None,
            "notes": list(self.notes),
        }

    def to_json(self, path: str | os.PathLike | None = None, indent: int | None = 1) -> str:
        """The report as JSON text (the schema in docs/profiling.md), also written to ``path``
        if given; ``Report.from_json`` reads it back.

        >>> import numpy as np, mixedad
        >>> report = mixedad.profile(lambda x: np.sum(np.sin(x)), np.ones(3), repeat=1, lines=False)
        >>> mixedad.Report.from_json(report.to_json()).summary.n_entries == report.summary.n_entries
        True
        """
        text = json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)
        if path is not None:
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
        return text

    @classmethod
    def from_dict(cls, data: dict) -> Report:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"mixedad profile schema_version {version!r}; this reader knows {SCHEMA_VERSION}")
        summary = _summary_from(data["summary"])
        return cls(entries=[_entry_from(e) for e in data["entries"]], requested_mode=data["requested_mode"],
                   notes=list(data["notes"]), function=data["function"], repeat=data["repeat"],
                   forward_seconds=summary.forward_seconds, backward_seconds=summary.backward_seconds,
                   comparison=_summary_from(data["comparison"]) if data["comparison"] is not None else None,
                   lines=_lines_from(data["lines"]) if data["lines"] is not None else None,
                   summary=summary)

    @classmethod
    def from_json(cls, text: str) -> Report:
        """The report that ``to_json`` wrote (for a report saved earlier, or made elsewhere)."""
        return cls.from_dict(json.loads(text))


# --- from a tape ---------------------------------------------------------------------------

def _nbytes(shape, dtype) -> int:
    try:
        return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    except TypeError:
        return 0


def _users_line(location):
    """The line of the user's code behind ``location``: the call into a library (an installed
    package, the standard library) for an op the library made, else the op's own line."""
    return location.called_from if location.called_from is not None else location


def entry_report(entry, shared_bytes: int = 0, reported=None,
                 attribution: Attribution | None = None) -> EntryReport:
    """An ``EntryReport`` of a core ``TapeEntry`` (read only); ``parents`` lists only the
    indices in ``reported``, if given (the entries of the report). ``attribution``: the ops and
    lines the entry counts when other entries count some of its region's (``regions.attributions``)."""
    ops, label, locations = entry.ops, entry.label or "", entry.locations
    if attribution is not None:
        ops, label, locations = attribution.ops, attribution.label, attribution.locations
    backward_bytes = 0
    # a reduction that reads the partials another entry holds materialises none in its backward step
    if entry.decision.reason is Reason.REDUCTION_FUSED and entry.context_shape is not None and entry.dtype is not None \
            and not (attribution is not None and attribution.shares_partials):
        backward_bytes = entry.n_partials * _nbytes(entry.context_shape, entry.dtype)
    parents = tuple(p[0].index for p in entry.parents
                    if p is not None and (reported is None or p[0].index in reported))
    output_shapes = tuple(getattr(entry, "output_shapes", ()))
    output_dtypes = tuple(str(d) for d in getattr(entry, "output_dtypes", ()))
    dtype = str(entry.dtype) if entry.dtype is not None else None
    if output_dtypes and dtype is None:
        dtype = ", ".join(dict.fromkeys(output_dtypes))
    return EntryReport(entry.index, label, tuple(ops), entry.decision.mode,
                       entry.decision.reason, entry.n_partials,
                       tuple(entry.shape) if entry.shape is not None else None, dtype,
                       int(entry.saved_bytes if entry.held is None else sum(entry.held.values())),
                       tuple(dict.fromkeys(_users_line(loc) for loc in locations if loc is not None)),
                       float(entry.forward_seconds), float(entry.backward_seconds), backward_bytes, parents,
                       shared_bytes=shared_bytes, output_shapes=output_shapes, output_dtypes=output_dtypes)


def is_constant_leaf(entry, trace) -> bool:
    """A leaf of the tape that is no differentiated input: an array made inside the function
    like a traced one (``y = np.zeros_like(x)``, so that ``y[i] = ...`` can write traced values
    into it). The differentiated inputs are the tape's first ``leading_inputs`` entries."""
    return entry.decision.mode is Mode.LEAF and entry.index >= getattr(trace, "leading_inputs", 0)


def entries_from_trace(trace) -> list[EntryReport]:
    """The report's entries: every tape entry but constant leaves (``is_constant_leaf``),
    which are neither inputs nor operations. Held arrays are keyed by id: every array an entry
    holds is alive from its recording until the backward pass starts, so two ids recorded
    during the forward pass are equal only for the same array."""
    seen: set = set()  # ids of the arrays earlier entries hold: all alive until the backward pass
    kept = [entry for entry in trace.entries if not is_constant_leaf(entry, trace)]
    reported = {entry.index for entry in kept}
    attributed = attributions(kept)
    reports = []
    for entry in kept:
        held = entry.held or {}
        reports.append(entry_report(entry, sum(n for key, n in held.items() if key in seen), reported,
                                    attributed.get(entry.index)))
        seen.update(held)
    return reports


report_from_trace = entries_from_trace  # the name the first mode report used


def peak_bytes(entries: Sequence[EntryReport]) -> int:
    """The most the tape holds at once, in this model: every entry's ``saved_bytes`` from
    its creation until its backward step (the backward pass frees entries last to first),
    plus, during an entry's own backward step, its ``backward_bytes``."""
    held = sum(e.own_bytes for e in entries)
    peak = held
    for e in reversed(entries):
        peak = max(peak, held + e.backward_bytes)
        held -= e.own_bytes
    return peak


def summarize(entries: Sequence[EntryReport], requested_mode: str, forward_seconds=None,
              backward_seconds=None, n_calls: int = 1, peak: int | None = None,
              saved: int | None = None) -> Summary:
    by_mode = {mode.value: 0 for mode in Mode}
    for e in entries:
        by_mode[e.mode.value] += e.count
    return Summary(
        requested_mode=requested_mode,
        n_entries=sum(e.count for e in entries if e.mode is not Mode.LEAF),
        n_inputs=sum(e.count for e in entries if e.mode is Mode.LEAF),
        entries_by_mode=by_mode,
        n_fused_ops=sum(len(e.ops) * e.count for e in entries if e.mode is Mode.DUAL),
        forward_seconds=forward_seconds, backward_seconds=backward_seconds,
        entry_forward_seconds=sum(e.forward_seconds for e in entries),
        entry_backward_seconds=sum(e.backward_seconds for e in entries),
        saved_bytes=sum(e.own_bytes for e in entries) if saved is None else saved,
        peak_bytes=peak_bytes(entries) if peak is None else peak,
        n_calls=n_calls)


def same_program(runs: Sequence[Sequence[EntryReport]]) -> bool:
    first = [e.signature() for e in runs[0]]
    return all([e.signature() for e in run] == first for run in runs[1:])


def median_entries(runs: Sequence[Sequence[EntryReport]]) -> list[EntryReport]:
    """Entries of identical runs with each time replaced by its median over the runs."""
    if len(runs) == 1:
        return list(runs[0])
    forward = np.median([[e.forward_seconds for e in run] for run in runs], axis=0)
    backward = np.median([[e.backward_seconds for e in run] for run in runs], axis=0)
    return [replace(e, forward_seconds=float(f), backward_seconds=float(b))
            for e, f, b in zip(runs[-1], forward, backward)]


def aggregate(reports: Sequence[Report], notes: Iterable[str] = ()) -> Report:
    """One report for many gradient calls: entries with the same ops, mode, reason, lines,
    shape and dtype are merged (``count`` occurrences, times summed over all calls).

    >>> import numpy as np, mixedad
    >>> from mixedad.profiler import aggregate
    >>> f = lambda x: np.sum(np.sin(x))
    >>> reports = [mixedad.profile(f, np.ones(3), lines=False) for _ in range(2)]
    >>> {entry.count for entry in aggregate(reports).entries}  # each entry seen in both calls
    {2}
    """
    merged: dict[tuple, EntryReport] = {}
    for report in reports:
        for e in report.entries:
            key = e.signature()
            seen = merged.get(key)
            if seen is None:
                merged[key] = e
            else:
                merged[key] = replace(seen, count=seen.count + e.count,
                                      forward_seconds=seen.forward_seconds + e.forward_seconds,
                                      backward_seconds=seen.backward_seconds + e.backward_seconds,
                                      saved_bytes=max(seen.saved_bytes, e.saved_bytes),
                                      shared_bytes=max(seen.shared_bytes, e.shared_bytes),
                                      backward_bytes=max(seen.backward_bytes, e.backward_bytes))
    entries = list(merged.values())
    modes = sorted({r.requested_mode for r in reports})
    functions = sorted({r.function for r in reports if r.function})
    walls = [(r.forward_seconds, r.backward_seconds) for r in reports]
    measured = walls and all(f is not None and b is not None for f, b in walls)
    forward = sum(f for f, _ in walls) if measured else None
    backward = sum(b for _, b in walls) if measured else None
    n_calls = sum(r.n_calls for r in reports)
    requested = modes[0] if len(modes) == 1 else ",".join(modes) if modes else "auto"
    # memory is per call: the largest call's, not a sum over calls that never coexist
    summary = summarize(entries, requested, forward, backward, n_calls=n_calls,
                        peak=max((r.summary.peak_bytes for r in reports), default=0),
                        saved=max((r.summary.saved_bytes for r in reports), default=0))
    return Report(entries, requested_mode=requested, notes=list(notes),
                  function=", ".join(functions) if functions else None,
                  forward_seconds=forward, backward_seconds=backward, summary=summary)


# --- JSON ----------------------------------------------------------------------------------

def _location_dict(loc: SourceLocation) -> dict:
    return {"filename": loc.filename, "lineno": loc.lineno, "function": loc.function}


def _entry_dict(e: EntryReport) -> dict:
    return {
        "index": e.index, "label": e.label, "ops": list(e.ops), "mode": e.mode.value,
        "reason": e.reason.value, "n_partials": e.n_partials,
        "shape": list(e.shape) if e.shape is not None else None, "dtype": e.dtype,
        "saved_bytes": e.saved_bytes, "backward_bytes": e.backward_bytes,
        "forward_seconds": e.forward_seconds, "backward_seconds": e.backward_seconds,
        "locations": [_location_dict(loc) for loc in e.locations], "parents": list(e.parents),
        "count": e.count, "shared_bytes": e.shared_bytes,
        "output_shapes": [list(shape) for shape in e.output_shapes], "output_dtypes": list(e.output_dtypes),
    }


def _entry_from(d: dict) -> EntryReport:
    return EntryReport(
        index=d["index"], label=d["label"], ops=tuple(d["ops"]), mode=Mode(d["mode"]),
        reason=Reason(d["reason"]), n_partials=d["n_partials"],
        shape=tuple(d["shape"]) if d["shape"] is not None else None, dtype=d["dtype"],
        saved_bytes=d["saved_bytes"], backward_bytes=d["backward_bytes"],
        forward_seconds=d["forward_seconds"], backward_seconds=d["backward_seconds"],
        locations=tuple(SourceLocation(**loc) for loc in d["locations"]),
        parents=tuple(d["parents"]), count=d["count"], shared_bytes=d.get("shared_bytes", 0),
        output_shapes=tuple(tuple(shape) for shape in d.get("output_shapes", ())),
        output_dtypes=tuple(d.get("output_dtypes", ())))


_SUMMARY_KEYS = ("requested_mode", "n_entries", "n_inputs", "entries_by_mode", "n_fused_ops",
                 "forward_seconds", "backward_seconds", "entry_forward_seconds",
                 "entry_backward_seconds", "saved_bytes", "peak_bytes", "n_calls")


def _summary_dict(s: Summary) -> dict:
    data = {key: getattr(s, key) for key in _SUMMARY_KEYS}
    data["entries_by_mode"] = dict(s.entries_by_mode)
    return data


def _summary_from(d: dict) -> Summary:
    return Summary(**{key: d[key] for key in _SUMMARY_KEYS})


def _line_dict(s: LineStat) -> dict:
    return {"filename": s.filename, "lineno": s.lineno, "source": s.source, "hits": s.hits,
            "forward_seconds": s.forward_seconds, "backward_seconds": s.backward_seconds,
            "modes": [m.value for m in s.modes], "entries": list(s.entries)}


def _line_from(d: dict) -> LineStat:
    return LineStat(d["filename"], d["lineno"], d["source"], d["hits"], d["forward_seconds"],
                    d["backward_seconds"], tuple(Mode(m) for m in d["modes"]), tuple(d["entries"]))


def _lines_dict(r: LineReport) -> dict:
    return {"functions": [{"name": f.name, "filename": f.filename, "first_lineno": f.first_lineno,
                           "lines": [_line_dict(s) for s in f.lines]} for f in r.functions],
            "other_lines": [_line_dict(s) for s in r.other_lines]}


def _lines_from(d: dict) -> LineReport:
    return LineReport(tuple(FunctionLines(f["name"], f["filename"], f["first_lineno"],
                                          tuple(_line_from(s) for s in f["lines"])) for f in d["functions"]),
                      tuple(_line_from(s) for s in d["other_lines"]))
