"""``str(report)``: the summary, an aligned table of entries and the annotated source."""
from __future__ import annotations

import os
import textwrap

from ..core.modes import Mode
from .report import EntryReport, Report, Summary

# Tables longer than this show the most expensive entries (in tape order) and say so.
MAX_ROWS = 200


def count(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def format_bytes(n: float | None) -> str:
    if not n:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds == 0:
        return "0"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def display_path(filename: str) -> str:
    """``filename`` relative to the current directory when it lies inside it (as the user would
    type it), else as recorded (absolute, or a pseudo-file such as ``<string>``)."""
    if filename.startswith("<") or not os.path.isabs(filename):
        return filename
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        return filename
    return filename if relative.startswith(os.pardir) else relative


def format_shape(shape) -> str:
    if shape is None:
        return "-"
    return "x".join(map(str, shape)) if shape else "scalar"


def entry_shape(e: EntryReport) -> str:
    """The shape column: the output's shape, or each output's for an op with several."""
    if e.shape is None and e.output_shapes:
        return ", ".join(format_shape(shape) for shape in e.output_shapes)
    return format_shape(e.shape)


def _mode_counts(summary: Summary) -> str:
    parts = [f"{n} {mode}" for mode, n in summary.entries_by_mode.items() if n and mode != Mode.LEAF.value]
    return ", ".join(parts) if parts else "none"


def summary_lines(report: Report) -> list[str]:
    s = report.summary
    if s.n_calls == 0:  # a profiling() block that made no gradient call
        per = "no gradient calls"
    elif s.n_calls > 1:
        per = f"totals over {count(s.n_calls, 'call', 'calls')}"
    else:
        per = f"median of {report.repeat} runs" if report.repeat > 1 else "one run"
    title = "mixedad profile" + (f" of {report.function}" if report.function else "")
    lines = [f"{title}: mode={report.requested_mode}, {per}",
             f"  tape      {count(s.n_entries, 'entry', 'entries')} ({_mode_counts(s)}); "
             f"{count(s.entries_by_mode[Mode.DUAL.value], 'dual region', 'dual regions')} fusing "
             f"{count(s.n_fused_ops, 'op', 'ops')}; {count(s.n_inputs, 'input', 'inputs')}"]
    if s.forward_seconds is not None:
        lines.append(f"  time      forward {format_seconds(s.forward_seconds)}, backward "
                     f"{format_seconds(s.backward_seconds)} (wall); in tape entries "
                     f"{format_seconds(s.entry_forward_seconds)} + {format_seconds(s.entry_backward_seconds)}")
    else:
        lines.append(f"  time      in tape entries: forward {format_seconds(s.entry_forward_seconds)}, "
                     f"backward {format_seconds(s.entry_backward_seconds)}")
    largest = " (the largest call)" if s.n_calls > 1 else ""
    lines.append(f"  memory    tape holds {format_bytes(s.saved_bytes) or '0 B'} for the backward pass{largest}; "
                 f"peak {format_bytes(s.peak_bytes) or '0 B'}")
    c = report.comparison
    if c is not None:
        lines.append(f"  reverse   mode='reverse' needs {count(c.n_entries, 'entry', 'entries')}, "
                     f"forward {format_seconds(c.forward_seconds)}, backward {format_seconds(c.backward_seconds)}, "
                     f"peak {format_bytes(c.peak_bytes) or '0 B'}")
        lines.append(f"            {saving_text(s, c)}")
    return lines


def saving_text(s: Summary, c: Summary) -> str:
    """What mixed mode bought, as the per-op tape's cost relative to this report's."""
    parts = [f"{c.n_entries} entries instead of {s.n_entries}"]
    if s.seconds and c.seconds is not None:
        parts.append(f"x{c.seconds / s.seconds:.2f} the time")
    if s.peak_bytes:
        parts.append(f"x{c.peak_bytes / s.peak_bytes:.2f} the peak memory")
    return "a per-op tape (mode='reverse') needs " + ", ".join(parts)


def held_text(e: EntryReport) -> str:
    """Bytes held from the forward pass; ``~`` marks an estimate of what only the backward
    step materialises (a fused reduction's partials)."""
    if e.backward_bytes and not e.saved_bytes:
        return "~" + format_bytes(e.backward_bytes)
    return format_bytes(e.saved_bytes)


def shown_entries(report: Report, limit: int = MAX_ROWS) -> tuple[list[EntryReport], int]:
    body = report.body
    if len(body) <= limit:
        return body, 0
    keep = sorted(sorted(body, key=lambda e: -e.seconds)[:limit], key=lambda e: e.index)
    return keep, len(body) - limit


def entry_table(report: Report) -> list[str]:
    counted = any(e.count > 1 for e in report.entries)
    header = ["#", "operation", "mode", "partials", "shape", "dtype", "held", "forward", "backward"]
    header += ["count"] if counted else []
    header += ["where", "reason"]
    rows = [header]
    entries, hidden = shown_entries(report)
    for e in entries:
        row = [str(e.index), e.label or " → ".join(e.ops), e.mode.value, str(e.n_partials) if e.n_partials else "",
               entry_shape(e), e.dtype or "", held_text(e),
               format_seconds(e.forward_seconds), format_seconds(e.backward_seconds)]
        row += [str(e.count)] if counted else []
        row += [e.where, e.reason.value]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    right = {"#", "partials", "held", "forward", "backward", "count"}
    lines = []
    for row in rows:
        cells = [cell.rjust(w) if name in right else cell.ljust(w)
                 for cell, w, name in zip(row, widths, header)]
        lines.append("  " + "  ".join(cells) + "  " + row[-1])
    if hidden:
        lines.append(f"  ... {hidden} cheaper entries not shown (report.entries has them all)")
    return lines


LINE_CAVEAT = ("forward: time on the line under line_profiler, which slows Python code 2-4x (compare "
               "lines; take totals from the wall times); share: of the function's forward time; "
               "backward: VJP time of the entries the line completed; modes: of all entries with an op on the line")


def share(stat, stats) -> float | None:
    total = sum(s.forward_seconds for s in stats if s.forward_seconds)
    return stat.forward_seconds / total if stat.forward_seconds and total else None


def line_table(report: Report) -> list[str]:
    if report.lines is None:
        return []
    out = ["", "line report"] + textwrap.wrap(LINE_CAVEAT, 100, initial_indent="  ", subsequent_indent="  ")
    sections = [(f"{f.name} ({display_path(f.filename)}:{f.first_lineno})", f.lines, True)
                for f in report.lines.functions]
    if report.lines.other_lines:
        sections.append(("lines outside the profiled functions", report.lines.other_lines, False))
    for title, stats, in_function in sections:
        rows = [("line", "forward", "share", "backward", "modes", "")]
        for s in stats:
            where = str(s.lineno) if in_function else f"{os.path.basename(s.filename)}:{s.lineno}"
            fraction = share(s, stats)
            rows.append((where, format_seconds(s.forward_seconds) if s.hits else "",
                         f"{100 * fraction:.0f}%" if fraction is not None else "",
                         format_seconds(s.backward_seconds) if s.backward_seconds else "",
                         ", ".join(m.value for m in s.modes), s.source))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        out.append(f"  {title}")
        for row in rows:
            cells = [row[i].rjust(widths[i]) for i in range(4)] + [row[4].ljust(widths[4])]
            out.append(("    " + "  ".join(cells) + "  " + row[5]).rstrip())
    return out


def format_report(report: Report) -> str:
    lines = summary_lines(report) + [""] + entry_table(report) + line_table(report)
    if report.notes:
        lines += [""] + [f"note: {n}" for n in report.notes]
    return "\n".join(lines)
