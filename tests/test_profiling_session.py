"""``with mixedad.profiling()``: one report per gradient call, an aggregate, no observer left
behind (exceptions included), no instrumentation outside; and the command line entry point."""
import gc
import json
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import mixedad
import mixedad.api as api
from mixedad import Mode
from mixedad.core.tape import TapeEntry
from mixedad.profiler import Report
from mixedad.profiler.cli import main
from mixedad.profiler.lines import load_line_profiler


def loss(w, x):
    return np.sum(np.tanh(x @ w) ** 2)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal(3), rng.standard_normal((5, 3))


@pytest.fixture
def traces(monkeypatch):
    """Every Trace the API creates, to check whether it was instrumented."""
    created = []
    real = api.Trace

    def spy(*args, **kwargs):
        trace = real(*args, **kwargs)
        created.append(trace)
        return trace
    monkeypatch.setattr(api, "Trace", spy)
    return created


def test_collects_one_report_per_gradient_call_and_an_aggregate(data):
    w, x = data
    with mixedad.profiling() as prof:
        for _ in range(3):
            mixedad.gradient(loss, w, x)
        mixedad.value_and_gradient(loss, w, x, mode="reverse")
    assert len(prof) == 4 and [r.requested_mode for r in prof.reports] == ["auto"] * 3 + ["reverse"]
    first = prof.reports[0]
    assert [e.ops for e in first.body] == [("matmul",), ("tanh", "square", "sum")]
    assert first.function.startswith("loss (test_profiling_session.py:")
    assert [e.ops for e in prof.reports[3].body] == [("matmul",), ("tanh",), ("square",), ("sum",)]
    merged = prof.report
    assert merged.n_calls == 4 and merged.requested_mode == "auto,reverse"
    matmul = [e for e in merged.body if e.ops == ("matmul",)]
    assert [e.count for e in matmul] == [3, 1]  # the matmul of auto and reverse differ in their reason
    assert merged.summary.entry_backward_seconds == pytest.approx(
        sum(r.summary.entry_backward_seconds for r in prof.reports))
    assert merged.summary.forward_seconds is None  # only finished tapes are seen
    assert "totals over 4 calls" in str(prof)


def test_no_instrumentation_outside_and_no_observer_left_behind(data, traces):
    w, x = data
    mixedad.gradient(loss, w, x)
    with mixedad.profiling():
        mixedad.gradient(loss, w, x)
    mixedad.gradient(loss, w, x)
    assert [t.instrumented for t in traces] == [False, True, False]
    assert api.ACTIVE_OBSERVERS == []


def test_observer_is_removed_when_the_body_raises(data):
    w, x = data
    with pytest.raises(KeyError):
        with mixedad.profiling() as prof:
            mixedad.gradient(loss, w, x)
            raise KeyError("boom")
    assert api.ACTIVE_OBSERVERS == [] and len(prof.reports) == 1


def test_an_error_inside_the_gradient_propagates_unchanged(data):
    w, x = data

    def broken(w, x):
        np.tanh(x @ w)  # one matmul on the tape before the error
        raise ZeroDivisionError("from user code")

    with pytest.raises(ZeroDivisionError, match="from user code"):
        with mixedad.profiling() as prof:
            mixedad.gradient(broken, w, x)
    assert api.ACTIVE_OBSERVERS == []


def test_calls_that_raised_are_not_reported(data):
    w, x = data

    def broken(w, x):
        np.tanh(x @ w)  # one matmul on the tape before the error
        raise ZeroDivisionError("from user code")

    with mixedad.profiling() as prof:
        mixedad.gradient(loss, w, x)
        with pytest.raises(ZeroDivisionError):
            mixedad.gradient(broken, w, x)
        try:
            raise KeyError("handled by the caller")
        except KeyError:  # an exception being handled around a call that returns is not the call's
            mixedad.gradient(loss, w, x)
    assert len(prof.reports) == 2 and prof.report.n_calls == 2 and not prof.failures
    assert all(r.function.startswith("loss ") for r in prof.reports)


def test_gradients_of_other_threads_are_not_recorded(data):
    w, x = data
    other_thread_done = threading.Event()

    def other_thread():
        for _ in range(5):
            mixedad.gradient(lambda w: np.sum(np.sin(w)), w)
        other_thread_done.set()

    with mixedad.profiling() as prof:
        mixedad.gradient(loss, w, x)
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert other_thread_done.is_set()
    assert [r.function.split()[0] for r in prof.reports] == ["loss"]


def test_an_empty_session_says_so(data):
    with mixedad.profiling() as prof:
        pass
    header = str(prof).splitlines()[0]
    assert header.endswith("no gradient calls") and "one run" not in header


def test_nested_sessions_both_collect_and_unwind(data):
    w, x = data
    with mixedad.profiling() as outer:
        mixedad.gradient(loss, w, x)
        with mixedad.profiling() as inner:
            mixedad.gradient(loss, w, x)
        assert len(api.ACTIVE_OBSERVERS) == 1
        with pytest.raises(RuntimeError):
            with outer:
                pass
    assert len(outer) == 2 and len(inner) == 1 and api.ACTIVE_OBSERVERS == []


def test_profile_calls_inside_a_session_do_not_pollute_it(data):
    w, x = data
    with mixedad.profiling() as prof:
        mixedad.profile(loss, w, x, compare=True, lines=False)
    assert prof.reports == []


def test_reports_keep_no_tape_alive(data):
    w, x = data
    with mixedad.profiling() as prof:
        for _ in range(3):
            mixedad.gradient(loss, w, x)
    gc.collect()
    assert len(prof.reports) == 3
    assert not [o for o in gc.get_objects() if type(o) is TapeEntry]


def test_profile_inside_a_line_profiling_session_adds_no_hits(data):
    if load_line_profiler() is None:
        pytest.skip("line_profiler not installed")
    w, x = data
    with mixedad.profiling(lines=[loss]) as prof:
        mixedad.gradient(loss, w, x)
        inner = mixedad.profile(loss, w, x, repeat=3)
        mixedad.gradient(loss, w, x)
    (function,) = prof.report.lines.functions
    (row,) = [s for s in function.lines if s.lineno == function.first_lineno + 1]
    assert row.hits == 2  # the block's two calls; not profile()'s own runs
    (inner_row,) = [s for s in inner.lines.functions[0].lines if s.lineno == function.first_lineno + 1]
    assert inner_row.hits == 1


def test_line_report_in_a_session(data):
    if load_line_profiler() is None:
        pytest.skip("line_profiler not installed")
    w, x = data
    with mixedad.profiling(lines=[loss]) as prof:
        for _ in range(2):
            mixedad.gradient(loss, w, x)
    (function,) = prof.report.lines.functions
    body_line = function.first_lineno + 1
    (row,) = [s for s in function.lines if s.lineno == body_line]
    assert row.hits == 2 and row.modes == (Mode.REVERSE, Mode.DUAL)


SCRIPT = '''
import numpy as np

def loss(w, x):
    return np.sum(np.tanh(x @ w) ** 2)

def make_args():
    rng = np.random.default_rng(0)
    return rng.standard_normal(3), rng.standard_normal((5, 3))

SMALL = (np.ones(2), np.ones((4, 2)))

if __name__ == "__main__":
    raise SystemExit("the profiler must not run the script's main block")
'''


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(SCRIPT))
    return path


def test_cli_writes_json_and_html_and_prints_the_table(script, tmp_path, capsys):
    out_json, out_html = tmp_path / "p.json", tmp_path / "p.html"
    code = main([f"{script}:loss", "--compare", "--repeat", "2", "--json", str(out_json), "--html", str(out_html)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "mixedad profile of loss (train.py:4)" in printed and "tanh → square → sum" in printed
    report = Report.from_json(out_json.read_text())
    assert report.repeat == 2 and report.comparison.n_entries == 4 and report.n_entries == 2
    assert "<svg" in out_html.read_text()


def test_cli_hooks_argnums_and_json_to_stdout(script, capsys):
    assert main([f"{script}:loss", "--args", "SMALL", "--argnums", "0,1", "--no-lines", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["shape"] for e in data["entries"] if e["mode"] == "input"] == [[2], [4, 2]]
    assert data["lines"] is None


def test_cli_errors_are_clear(script, capsys):
    assert main([f"{script}:nope"]) == 2
    assert "'nope' not found" in capsys.readouterr().err
    assert main([f"{script}:loss", "--args", "MISSING"]) == 2
    assert "argument hook 'MISSING' not found" in capsys.readouterr().err
    assert main(["mixedad.demo:mlp_loss"]) == 2
    assert "neither make_args() nor ARGS" in capsys.readouterr().err
    assert main([f"{script.parent / 'absent.py'}:loss"]) == 2
    assert main(["no-colon-here"]) == 2
    assert "path/to/script.py:function" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse rejects an unknown mode
        main(["--mode", "sideways", f"{script}:loss"])
    for repeat in ("0", "-2", "x"):  # a usage error (exit status 2), not a traceback from profile()
        with pytest.raises(SystemExit) as exit_info:
            main([f"{script}:loss", "--repeat", repeat])
        assert exit_info.value.code == 2
        assert "--repeat" in capsys.readouterr().err


def test_python_dash_m_entry_point(script):
    result = subprocess.run([sys.executable, "-m", "mixedad.profiler", f"{script}:loss", "--no-lines"],
                            capture_output=True, text=True, timeout=60, cwd=script.parent)
    assert result.returncode == 0, result.stderr
    assert "tanh → square → sum" in result.stdout and "dual" in result.stdout


def test_cli_passes_arguments_after_a_double_dash_to_the_script(tmp_path, capsys):
    path = tmp_path / "with_options.py"
    path.write_text(textwrap.dedent('''
        import argparse
        import sys
        import numpy as np
        SEEN = list(sys.argv)
        parser = argparse.ArgumentParser()  # parsed at import, as scripts do: an unknown option exits
        parser.add_argument("--scale", type=float, default=1.0)
        SCALE = parser.parse_args().scale
        def loss(x):
            return np.sum(SCALE * x ** 2)
        ARGS = np.ones(3)
    '''))
    before = list(sys.argv)
    assert main([f"{path}:loss", "--no-lines", "--json", "-", "--", "--scale", "3"]) == 0
    assert sys.argv == before  # restored for an in-process caller
    module = sys.modules["__mixedad_profile__"]
    assert module.SEEN == [str(path), "--scale", "3"] and module.SCALE == 3.0
    assert json.loads(capsys.readouterr().out)["entries"]


@pytest.mark.parametrize("body, stage", [
    ("def loss(x):\n    return np.sum(x\n", "loading"),  # a syntax error
    ("def loss(x):\n    return np.sum(x)\ndef make_args():\n    return undefined_name\n", "loading"),
    ("def loss(x):\n    return np.sum(np.asarray(x) ** 2)\nARGS = np.ones(3)\n", "differentiating"),
])
def test_cli_reports_errors_in_the_users_code_with_exit_status_1(tmp_path, capsys, body, stage):
    path = tmp_path / "broken.py"
    path.write_text("import numpy as np\n" + body)
    assert main([f"{path}:loss", "--no-lines"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "broken.py" in err and f"mixedad.profiler: {stage} {path}:loss raised" in err


def test_profile_calls_f_as_often_as_the_docs_say():
    calls = []

    def f(x):
        calls.append(1)
        return np.sum(np.sin(x) ** 2)
    for options, expected in [({}, 5), ({"repeat": 3}, 9), ({"lines": False}, 4), ({"compare": True}, 9)]:
        calls.clear()
        mixedad.profile(f, np.ones(3), **options)
        assert len(calls) == expected, options  # (line_profiler is a test dependency: the line run happens)


def test_compare_in_reverse_mode_says_there_is_nothing_to_compare():
    report = mixedad.profile(lambda x: np.sum(x ** 2), np.ones(3), mode="reverse", compare=True, lines=False)
    assert report.comparison is None and any("nothing to compare" in note for note in report.notes)


def test_profiling_a_prepared_gradient_points_to_the_function_or_the_block():
    prepared = mixedad.prepare(lambda x: np.sum(x ** 2), np.ones(3))
    with pytest.raises(TypeError, match="mixedad.profiling"):
        mixedad.profile(prepared.gradient, np.ones(3))


def test_profiling_notes_the_calls_that_generated_code():
    from mixedad.core.compiled import forget_compiled_regions
    forget_compiled_regions()  # so that the first call surely generates its region's code
    with mixedad.profiling() as prof:
        for _ in range(3):
            mixedad.gradient(lambda x: np.sum(np.sin(x) * np.cos(x) ** 3), np.ones(3))
    first, *later = prof.reports
    assert any("code was generated" in note for note in first.notes)
    assert not any("code was generated" in note for report in later for note in report.notes)
    assert "code was generated" in str(first)


def test_profiling_takes_lines_false_and_refuses_lines_true():
    with mixedad.profiling(lines=False) as prof:
        mixedad.gradient(lambda x: np.sum(x ** 2), np.ones(2))
    assert len(prof.reports) == 1 and prof.report.lines is None
    with pytest.raises(TypeError, match="lines=\\[loss\\]"):
        mixedad.profiling(lines=True)
