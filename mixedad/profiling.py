"""Mode reports: what the differentiation did with each operation, and where in the user's code.

``profile`` runs a gradient with source locations recorded and turns the tape into a
``Report``: one ``EntryReport`` per tape entry with its ops, mode, reason, partial count,
shape, dtype, saved bytes and user source lines. The engine decides; this layer only reads.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .api import _differentiate
from .core.errors import SourceLocation
from .core.modes import Mode, Reason


@dataclass(frozen=True)
class EntryReport:
    """One tape entry as the user should see it."""

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

    @property
    def where(self) -> str:
        return ", ".join(f"{os.path.basename(loc.filename)}:{loc.lineno}" for loc in self.locations)


@dataclass
class Report:
    """The mode report of one gradient computation. ``str(report)`` is a readable table."""

    entries: list[EntryReport]
    value: Any = None
    gradient: Any = None
    requested_mode: str = "auto"
    notes: list[str] = field(default_factory=list)

    def by_mode(self, mode: Mode) -> list[EntryReport]:
        return [e for e in self.entries if e.mode is mode]

    @property
    def n_entries(self) -> int:
        """Tape entries, not counting the differentiated inputs themselves."""
        return sum(1 for e in self.entries if e.mode is not Mode.LEAF)

    @property
    def n_fused_ops(self) -> int:
        return sum(len(e.ops) for e in self.entries if e.mode is Mode.DUAL)

    def __str__(self) -> str:
        header = ("#", "operation", "mode", "partials", "shape", "dtype", "saved", "where", "reason")
        rows = [header]
        for e in self.entries:
            if e.mode is Mode.LEAF:
                continue
            shape = "x".join(map(str, e.shape)) if e.shape else ("scalar" if e.shape == () else "-")
            rows.append((str(e.index), e.label, e.mode.value, str(e.n_partials) if e.n_partials else "",
                         shape, e.dtype or "", _bytes(e.saved_bytes), e.where, e.reason.value))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
        n_dual = len(self.by_mode(Mode.DUAL))
        lines = [f"mixedad mode report (mode={self.requested_mode}): {_count(self.n_entries, 'tape entry', 'tape entries')}, "
                 f"{_count(n_dual, 'dual region', 'dual regions')} fusing {_count(self.n_fused_ops, 'op', 'ops')}"]
        for row in rows:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
        lines.extend(self.notes)
        return "\n".join(lines)


def _count(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def _bytes(n: int) -> str:
    if not n:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def report_from_trace(trace) -> list[EntryReport]:
    return [EntryReport(e.index, e.label, tuple(e.ops), e.decision.mode, e.decision.reason, e.n_partials,
                        e.shape, str(e.dtype) if e.dtype is not None else None, e.saved_bytes,
                        tuple(loc for loc in e.locations if loc is not None))
            for e in trace.entries]


def profile(f: Callable[..., Any], *args: Any, argnums: int | Sequence[int] = 0,
            mode: str = "auto", has_aux: bool = False) -> Report:
    """Differentiate ``f`` at ``args`` and report every mode choice.

    >>> import numpy as np, mixedad
    >>> report = mixedad.profile(lambda x: np.sum(np.tanh(x) * 2.0), np.ones(3))
    >>> [e.mode.value for e in report.entries if e.mode.value != "input"]
    ['dual']
    """
    captured = []
    value, grad = _differentiate(f, args, argnums, has_aux, mode, want_value=True,
                                 instrumented=True, observe=captured.append)
    return Report(report_from_trace(captured[0]), value=value, gradient=grad, requested_mode=mode)
