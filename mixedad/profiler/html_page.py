"""``report.to_html()``: one self-contained page (inline CSS and SVG, no script, no network).

Every piece of user text (labels, file names, source lines, notes) goes through
``html.escape``; numbers are formatted here. The chart draws one row per entry: time as
forward (solid) and backward (light) segments, memory held for the backward pass, both
coloured by mode.
"""
from __future__ import annotations

import html
import os

from ..core.modes import Mode
from .report import EntryReport, LineStat, Report
from .text import (LINE_CAVEAT, display_path, entry_shape, format_bytes, format_seconds, held_text, saving_text, share,
                   shown_entries, summary_lines)

COLOURS = {Mode.DUAL: "#2f9e44", Mode.REVERSE: "#1971c2", Mode.PER_ELEMENT: "#e8590c", Mode.LEAF: "#868e96"}
MODE_HELP = {
    Mode.DUAL: "elementwise ops fused into one dual-number region",
    Mode.REVERSE: "one reverse-mode tape entry with a VJP rule",
    Mode.PER_ELEMENT: "scalar function evaluated element by element (expensive fallback)",
    Mode.LEAF: "differentiated input",
}
CHART_ROWS = 60

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#212529;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #dee2e6;padding-bottom:4px}
.sub{color:#495057;margin:0 0 12px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{border:1px solid #dee2e6;border-radius:6px;padding:8px 12px;min-width:150px}
.card b{display:block;font-size:18px}.card span{color:#495057;font-size:12px}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f5;position:sticky;top:0}tr:nth-child(even) td{background:#f8f9fa}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.mode{display:inline-block;border-radius:3px;padding:0 6px;color:#fff;font-size:12px;margin-right:3px}
.legend span.mode{margin-right:4px}.legend{margin:6px 0 10px;font-size:13px}
code,pre,.src{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.src{white-space:pre}.bar{display:inline-block;height:10px;background:#adb5bd;vertical-align:middle}
.fn{margin:14px 0 4px;font-weight:600}.notes li{color:#495057}
.reason{color:#495057;font-size:12px}
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _badge(mode: Mode) -> str:
    return f'<span class="mode" style="background:{COLOURS[mode]}" title="{_e(MODE_HELP[mode])}">{_e(mode.value)}</span>'


def _legend() -> str:
    return ('<div class="legend">' + " ".join(f"{_badge(m)}{_e(MODE_HELP[m])}&nbsp;&nbsp;" for m in
                                               (Mode.DUAL, Mode.REVERSE, Mode.PER_ELEMENT)) +
            "&nbsp;Bars: forward time solid, backward time light; memory: bytes held for the backward "
            "pass (hatched: estimated, materialised only in the backward step).</div>")


def _cards(report: Report) -> str:
    s = report.summary
    cards = [(str(s.n_entries), "tape entries"), (f"{s.n_fused_ops}", "ops fused into dual regions")]
    if s.forward_seconds is not None:
        cards += [(format_seconds(s.forward_seconds), "forward (wall)"),
                  (format_seconds(s.backward_seconds), "backward (wall)")]
    else:
        cards += [(format_seconds(s.entry_forward_seconds), "forward (in entries)"),
                  (format_seconds(s.entry_backward_seconds), "backward (in entries)")]
    cards.append((format_bytes(s.peak_bytes) or "0 B", "peak bytes held by the tape"))
    c = report.comparison
    if c is not None:
        cards.append((str(c.n_entries), "entries in mode='reverse'"))
        if c.seconds is not None:
            cards.append((format_seconds(c.seconds), "total time in mode='reverse'"))
        cards.append((format_bytes(c.peak_bytes) or "0 B", "peak bytes in mode='reverse'"))
    return '<div class="cards">' + "".join(f"<div class=card><b>{_e(v)}</b><span>{_e(k)}</span></div>"
                                           for v, k in cards) + "</div>"


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def chart_svg(entries: list[EntryReport]) -> str:
    """Horizontal bars per entry: time (forward + backward) and memory, coloured by mode."""
    label_w, panel_w, gap, row_h, top = 290, 360, 40, 22, 34
    width = label_w + 2 * panel_w + 2 * gap + 20
    height = top + row_h * max(len(entries), 1) + 8
    max_time = max((e.seconds for e in entries), default=0.0) or 1.0
    max_bytes = max((max(e.saved_bytes, e.backward_bytes) for e in entries), default=0) or 1
    time_x, mem_x = label_w + gap // 2, label_w + panel_w + 3 * gap // 2
    bar_w = panel_w - 90
    parts = [f'<svg role="img" aria-label="time and memory per tape entry" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="system-ui,sans-serif" font-size="12">',
             '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
             'patternTransform="rotate(45)"><rect width="3" height="6" fill="#000" opacity="0.25"/></pattern></defs>',
             f'<text x="{time_x}" y="16" font-weight="600">time per entry (forward | backward)</text>',
             f'<text x="{mem_x}" y="16" font-weight="600">bytes held for the backward pass</text>',
             f'<line x1="{time_x}" y1="{top - 6}" x2="{time_x}" y2="{height - 4}" stroke="#ced4da"/>',
             f'<line x1="{mem_x}" y1="{top - 6}" x2="{mem_x}" y2="{height - 4}" stroke="#ced4da"/>']
    for row, e in enumerate(entries):
        y = top + row * row_h
        colour = COLOURS[e.mode]
        title = (f"#{e.index} {e.label} [{e.mode.value}] forward {format_seconds(e.forward_seconds)}, "
                 f"backward {format_seconds(e.backward_seconds)}, held {held_text(e) or '0 B'} at {e.where}")
        parts.append(f"<g><title>{_e(title)}</title>")
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{_e(_short(f"#{e.index} {e.label}", 42))}</text>')
        fw = bar_w * e.forward_seconds / max_time
        bw = bar_w * e.backward_seconds / max_time
        parts.append(f'<rect x="{time_x}" y="{y + 3}" width="{fw:.1f}" height="14" fill="{colour}"/>')
        parts.append(f'<rect x="{time_x + fw:.1f}" y="{y + 3}" width="{bw:.1f}" height="14" fill="{colour}" opacity="0.45"/>')
        parts.append(f'<text x="{time_x + fw + bw + 4:.1f}" y="{y + 14}" fill="#495057">{_e(format_seconds(e.seconds))}</text>')
        held, estimated = (e.saved_bytes, False) if e.saved_bytes or not e.backward_bytes else (e.backward_bytes, True)
        mw = bar_w * held / max_bytes
        parts.append(f'<rect x="{mem_x}" y="{y + 3}" width="{mw:.1f}" height="14" fill="{colour}"'
                     + (' opacity="0.55"/>' if estimated else "/>"))
        if estimated:
            parts.append(f'<rect x="{mem_x}" y="{y + 3}" width="{mw:.1f}" height="14" fill="url(#hatch)"/>')
        parts.append(f'<text x="{mem_x + mw + 4:.1f}" y="{y + 14}" fill="#495057">{_e(held_text(e))}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _entry_rows(entries: list[EntryReport]) -> str:
    rows = []
    for e in entries:
        where = "<br>".join(f"{_e(os.path.basename(loc.filename))}:{loc.lineno} <code>{_e(loc.text)}</code>"
                            for loc in e.locations)
        rows.append(
            f"<tr><td class=num>{e.index}</td><td><code>{_e(e.label)}</code></td><td>{_badge(e.mode)}</td>"
            f"<td class=num>{e.n_partials or ''}</td><td>{_e(entry_shape(e))}</td><td>{_e(e.dtype or '')}</td>"
            f"<td class=num>{_e(held_text(e))}</td><td class=num>{_e(format_seconds(e.forward_seconds))}</td>"
            f"<td class=num>{_e(format_seconds(e.backward_seconds))}</td><td class=num>{e.count}</td>"
            f"<td>{where}</td><td class=reason>{_e(e.reason.value)}</td></tr>")
    return ("<table><tr><th>#</th><th>operation</th><th>mode</th><th>partials</th><th>shape</th><th>dtype</th>"
            "<th>held</th><th>forward</th><th>backward</th><th>count</th><th>where</th><th>reason</th></tr>"
            + "".join(rows) + "</table>")


def _line_rows(stats: tuple[LineStat, ...], with_file: bool) -> str:
    most = max([s.forward_seconds or 0.0 for s in stats] + [s.backward_seconds for s in stats] + [1e-12])
    rows = []
    for s in stats:
        where = f"{_e(os.path.basename(s.filename))}:{s.lineno}" if with_file else str(s.lineno)
        forward = s.forward_seconds if s.hits else None
        bars = ""
        if forward:
            bars += f'<span class="bar" style="width:{80 * forward / most:.1f}px" title="forward"></span>'
        if s.backward_seconds:
            colour = COLOURS[s.modes[0]] if s.modes else "#adb5bd"
            bars += (f'<span class="bar" style="width:{80 * s.backward_seconds / most:.1f}px;background:{colour};'
                     'opacity:0.5" title="backward"></span>')
        fraction = share(s, stats) if not with_file else None
        rows.append(f"<tr><td class=num>{where}</td><td class=num>{_e(format_seconds(forward))}</td>"
                    f"<td class=num>{f'{100 * fraction:.0f}%' if fraction is not None else ''}</td>"
                    f"<td class=num>{_e(format_seconds(s.backward_seconds) if s.backward_seconds else '')}</td>"
                    f"<td>{bars}</td><td>{''.join(_badge(m) for m in s.modes)}"
                    f"{' <span class=reason>#' + ', #'.join(map(str, s.entries)) + '</span>' if s.entries else ''}</td>"
                    f"<td class=src>{_e(s.source)}</td></tr>")
    return ("<table><tr><th>line</th><th>forward</th><th>share</th><th>backward</th><th></th><th>modes (entries)</th>"
            "<th>source</th></tr>" + "".join(rows) + "</table>")


def _source_section(report: Report) -> str:
    if report.lines is None:
        return ""
    parts = [f"<h2>Annotated source</h2><p class=sub>{_e(LINE_CAVEAT)}.</p>"]
    for f in report.lines.functions:
        where = f"{display_path(f.filename)}:{f.first_lineno}"
        parts.append(f"<div class=fn>{_e(f.name)} <span class=reason>{_e(where)}</span></div>")
        parts.append(_line_rows(f.lines, with_file=False))
    if report.lines.other_lines:
        parts.append("<div class=fn>lines outside the profiled functions</div>")
        parts.append(_line_rows(report.lines.other_lines, with_file=True))
    return "".join(parts)


def render_html(report: Report) -> str:
    entries, hidden = shown_entries(report)
    chart_entries, chart_hidden = sorted(sorted(entries, key=lambda e: -e.seconds)[:CHART_ROWS],
                                         key=lambda e: e.index), max(len(entries) - CHART_ROWS, 0)
    title = "mixedad profile" + (f" of {report.function}" if report.function else "")
    summary = "\n".join(summary_lines(report)[1:])
    notes = list(report.notes)
    if hidden:
        notes.append(f"{hidden} cheaper entries are not shown in the table (the JSON report has them all)")
    if chart_hidden:
        notes.append(f"the chart shows the {CHART_ROWS} most expensive entries")
    comparison = ""
    if report.comparison is not None:
        comparison = f"<p>{_e(saving_text(report.summary, report.comparison))}</p>"
    return "".join([
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1><p class=sub>mode={_e(report.requested_mode)}, "
        f"{_e(summary_lines(report)[0].rsplit(', ', 1)[-1])}</p>",
        _cards(report), comparison, f"<pre>{_e(summary)}</pre>",
        "<h2>Time and memory per tape entry</h2>", _legend(), chart_svg(chart_entries),
        "<h2>Tape entries</h2>", _entry_rows(entries), _source_section(report),
        ("<h2>Notes</h2><ul class=notes>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>") if notes else "",
        "</body></html>\n"])
