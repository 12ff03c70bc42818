"""The profiler's outputs: the aligned table, the JSON schema (pinned keys, round trip) and
the self-contained, escaped HTML page (rendered by headless Chromium when it is installed)."""
import functools
import html.parser
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import mixedad
from mixedad import Mode, Reason
from mixedad.profiler import SCHEMA_VERSION, Report
from mixedad.profiler.lines import load_line_profiler


def mlp(params, x):
    h = np.tanh(x @ params["W1"] + params["b1"])
    y = h @ params["W2"] + params["b2"]
    return np.sum(y ** 2)


def scripted(x):
    note = "<script>alert('mixedad')</script>"  # </td></table><b>not bold</b>
    return np.sum(np.sin(x)) * len(note)


@mixedad.primitive(name="<img src=x onerror=alert(1)>")
def shady(x):
    return np.cumsum(x)


@shady.defvjp
def shady_vjp(g, out, x):
    return np.cumsum(g[::-1])[::-1]


def shady_loss(x):
    return np.sum(shady(x) ** 2)


@pytest.fixture(scope="module")
def mlp_report():
    rng = np.random.default_rng(0)
    p = {"W1": rng.standard_normal((6, 4)).astype(np.float32), "b1": np.zeros(4, np.float32),
         "W2": rng.standard_normal((4, 3)).astype(np.float32), "b2": np.zeros(3, np.float32)}
    return mixedad.profile(mlp, p, rng.standard_normal((5, 6)).astype(np.float32), compare=True, repeat=2)


def test_table_is_aligned_and_lists_every_entry(mlp_report):
    text = str(mlp_report)
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["#", "operation", "mode"])
    rows = lines[header:header + 1 + mlp_report.n_entries]
    assert len(rows) == 5
    for column in ("mode", "partials", "where", "reason"):  # left edges line up
        start = rows[0].index(column)
        assert all(len(row) > start and row[start - 1] == " " for row in rows)
    for entry, row in zip(mlp_report.body, rows[1:]):
        assert row.split()[0] == str(entry.index) and entry.label in row and entry.reason.value in row
        assert entry.mode.value in row.split()
    assert "add → square → sum" in text and "forward" in lines[header] and "backward" in lines[header]
    assert lines[0].startswith("mixedad profile of mlp") and "mode=auto" in lines[0]
    assert "per-op tape (mode='reverse') needs 7 entries instead of 4" in text


def test_long_tables_show_the_most_expensive_entries_and_say_so():
    def many(x):
        for _ in range(230):
            x = np.cumsum(x)
        return np.sum(x)
    report = mixedad.profile(many, np.full(3, 1e-3), lines=False)
    text = str(report)
    assert report.n_entries == 231
    assert "31 cheaper entries not shown" in text


EXPECTED_TOP_KEYS = {"schema_version", "function", "requested_mode", "repeat", "summary", "comparison",
                     "entries", "lines", "notes"}
EXPECTED_SUMMARY_KEYS = {"requested_mode", "n_entries", "n_inputs", "entries_by_mode", "n_fused_ops",
                         "forward_seconds", "backward_seconds", "entry_forward_seconds",
                         "entry_backward_seconds", "saved_bytes", "peak_bytes", "n_calls"}
EXPECTED_ENTRY_KEYS = {"index", "label", "ops", "mode", "reason", "n_partials", "shape", "dtype",
                       "saved_bytes", "backward_bytes", "forward_seconds", "backward_seconds",
                       "locations", "parents", "count", "shared_bytes", "output_shapes", "output_dtypes"}
EXPECTED_LINE_KEYS = {"filename", "lineno", "source", "hits", "forward_seconds", "backward_seconds",
                      "modes", "entries"}


def test_json_schema_is_pinned(mlp_report):
    data = json.loads(mlp_report.to_json())
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert set(data) == EXPECTED_TOP_KEYS
    assert set(data["summary"]) == EXPECTED_SUMMARY_KEYS == set(data["comparison"])
    assert set(data["summary"]["entries_by_mode"]) == {m.value for m in Mode}
    for entry in data["entries"]:
        assert set(entry) == EXPECTED_ENTRY_KEYS
        assert Mode(entry["mode"]) and Reason(entry["reason"])  # the enums' stable strings
        assert all(set(loc) == {"filename", "lineno", "function"} for loc in entry["locations"])
        assert isinstance(entry["forward_seconds"], float) and isinstance(entry["saved_bytes"], int)
    body = [e for e in data["entries"] if e["mode"] != "input"]
    assert [e["ops"] for e in body] == [["matmul"], ["add", "tanh"], ["matmul"], ["add", "square", "sum"]]
    assert body[3]["reason"] == "linear reduction consumed the dual region" and body[3]["shape"] == []
    if load_line_profiler() is not None:
        (function,) = data["lines"]["functions"]
        assert set(function) == {"name", "filename", "first_lineno", "lines"}
        assert all(set(line) == EXPECTED_LINE_KEYS for line in function["lines"])
        assert any(line["modes"] == ["reverse", "dual"] for line in function["lines"])


def test_json_round_trip(mlp_report, tmp_path):
    path = tmp_path / "profile.json"
    text = mlp_report.to_json(path)
    assert path.read_text(encoding="utf-8") == text
    loaded = Report.from_json(text)
    assert loaded.entries == mlp_report.entries
    assert loaded.summary == mlp_report.summary and loaded.comparison == mlp_report.comparison
    assert loaded.lines == mlp_report.lines and loaded.notes == mlp_report.notes
    assert loaded.to_json() == text
    assert str(loaded) == str(mlp_report)
    with pytest.raises(ValueError, match="schema_version"):
        Report.from_dict(dict(json.loads(text), schema_version=99))


class TagCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attributes, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)


def assert_self_contained(page: str):
    assert "http://" not in page and "https://" not in page
    collector = TagCollector()
    collector.feed(page)
    assert not {"script", "link", "img", "iframe", "object", "embed", "base"} & set(collector.tags)
    for name, value in collector.attributes:
        assert name not in ("src", "href") and not name.startswith("on"), (name, value)
        if value and "url(" in value:
            assert value == "url(#hatch)"
    assert "@import" not in page
    return collector


def test_html_is_self_contained_and_has_chart_table_and_source(mlp_report, tmp_path):
    path = tmp_path / "profile.html"
    page = mlp_report.to_html(path)
    assert path.read_text(encoding="utf-8") == page
    collector = assert_self_contained(page)
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert collector.tags.count("svg") == 1
    # one chart row (a group with its own title) per entry, bars coloured by the entry's mode
    assert collector.tags.count("g") == mlp_report.n_entries
    text = "".join(collector.text)
    for entry in mlp_report.body:
        assert entry.label in text and entry.reason.value in text
    if mlp_report.lines is not None:
        assert "return np.sum(y ** 2)" in text and "Annotated source" in text


def test_html_escapes_user_source_and_labels(tmp_path):
    for f in (scripted, shady_loss):
        report = mixedad.profile(f, np.linspace(0.1, 1.0, 4))
        page = report.to_html(tmp_path / "page.html")
        collector = assert_self_contained(page)
        text = "".join(collector.text)
        if f is shady_loss:
            assert "<img src=x onerror=alert(1)>" in text and "&lt;img src=x" in page
        elif report.lines is not None:
            assert "<script>alert('mixedad')</script>" in text  # shown as text, never as markup
            assert "&lt;script&gt;" in page and "&lt;/td&gt;&lt;/table&gt;" in page
        assert "<script" not in page and "<img" not in page and "<b>not bold" not in page


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="chromium is not installed")
def test_html_renders_in_headless_chromium(mlp_report, tmp_path):
    page, screenshot = tmp_path / "profile.html", tmp_path / "profile.png"
    mlp_report.to_html(page)
    command = ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={tmp_path / 'chromium'}", f"--screenshot={screenshot}",
               "--window-size=1000,800", page.as_uri()]
    try:
        subprocess.run(command, capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip("chromium did not finish in 60 s")
    finally:
        shutil.rmtree(tmp_path / "chromium", ignore_errors=True)
    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1000, 800) and len(data) > 20_000  # not a blank page


def test_where_names_a_line_once_when_two_functions_on_it_made_the_entry():
    report = mixedad.profile(lambda xs: np.sum(sum(np.sin(xs[i]) for i in range(3))), np.ones((3, 2)), lines=False)
    (fused,) = [e for e in report.body if e.reason is Reason.REDUCTION_FUSED]
    assert {loc.function for loc in fused.locations} == {"<lambda>", "<genexpr>"}
    assert fused.where.count(":") == 1 and fused.where in str(report)


class CallableLoss:
    def __call__(self, x):
        return np.sum(np.cos(x))


def power_loss(x, k):
    return np.sum(x ** k)


def test_partials_and_callable_objects_are_named_in_the_title():
    partial_report = mixedad.profile(functools.partial(power_loss, k=3), np.ones(2), lines=False)
    assert partial_report.function.startswith("partial(power_loss) (test_profiling_outputs.py:")
    called = mixedad.profile(CallableLoss(), np.ones(2), lines=False)
    assert called.function.startswith("CallableLoss.__call__ (test_profiling_outputs.py:")
    assert str(called).startswith("mixedad profile of CallableLoss.__call__ (")


def test_line_report_names_files_relative_to_the_current_directory(monkeypatch, tmp_path):
    if load_line_profiler() is None:
        pytest.skip("line_profiler not installed")
    here = os.path.dirname(os.path.abspath(__file__))
    monkeypatch.chdir(os.path.dirname(here))
    report = mixedad.profile(power_loss, np.ones(2), 2.0)
    assert f"power_loss ({os.path.join('tests', 'test_profiling_outputs.py')}:" in str(report)
    monkeypatch.chdir(tmp_path)  # outside the current directory: the recorded path
    assert f"power_loss ({os.path.join(here, 'test_profiling_outputs.py')}:" in str(report)
    assert os.path.isabs(report.lines.functions[0].filename)  # the data keep the full path
