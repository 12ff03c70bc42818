"""The profiler's report: entries (fused ops, modes, reasons, bytes, times), summary, the
comparison with mode='reverse', the line-level report, aggregation, and that profiling
changes no value and no gradient."""
import inspect
import operator

import numpy as np
import pytest

import mixedad
from mixedad import Mode, Reason
from mixedad.profiler import aggregate
from mixedad.profiler.lines import load_line_profiler



def require_line_profiler():
    # not a module-level pytest.mark: mixedad.sum's per-element fallback scans this module's
    # globals, and a MarkDecorator there trips it (see the engine report)
    if load_line_profiler() is None:
        pytest.skip("line_profiler not installed")


def mlp(params, x):
    h = np.tanh(x @ params["W1"] + params["b1"])  # line A
    y = h @ params["W2"] + params["b2"]  # line B
    return np.sum(y ** 2)  # line C


def arctan_sum(x):
    return np.sum(np.arctan2(x, 2.0))  # line D


def branchy(t):
    return t * t if t > 0.5 else np.sin(t)  # line E


def mapped(x):
    return mixedad.sum(branchy, x)  # line F


def line_of(function, marker):
    source, start = inspect.getsourcelines(function)
    return next(start + i for i, line in enumerate(source) if marker in line)


def params(rng, dtype=np.float32):
    return {"W1": rng.standard_normal((6, 4)).astype(dtype), "b1": rng.standard_normal(4).astype(dtype),
            "W2": rng.standard_normal((4, 3)).astype(dtype), "b2": rng.standard_normal(3).astype(dtype)}


@pytest.fixture
def mlp_case():
    rng = np.random.default_rng(0)
    return params(rng), rng.standard_normal((5, 6)).astype(np.float32)


def test_entries_of_the_mlp(mlp_case):
    p, x = mlp_case
    report = mixedad.profile(mlp, p, x, lines=False)
    body = report.body
    assert [e.ops for e in body] == [("matmul",), ("add", "tanh"), ("matmul",), ("add", "square", "sum")]
    assert [e.mode for e in body] == [Mode.REVERSE, Mode.DUAL, Mode.REVERSE, Mode.DUAL]
    assert [e.reason for e in body] == [Reason.NOT_ELEMENTWISE, Reason.ELEMENTWISE,
                                        Reason.NOT_ELEMENTWISE, Reason.REDUCTION_FUSED]
    assert [e.shape for e in body] == [(5, 4), (5, 4), (5, 3), ()]
    assert {e.dtype for e in body} == {"float32"}
    assert [e.n_partials for e in body] == [0, 2, 0, 2]
    line_a, line_b, line_c = (line_of(mlp, m) for m in ("# line A", "# line B", "# line C"))
    assert [[loc.lineno for loc in e.locations] for e in body] == [[line_a], [line_a], [line_b], [line_b, line_c]]
    assert all(loc.function == "mlp" for e in body for loc in e.locations)
    # the first matmul keeps both operands for its rule (not its output, which the rule never reads)
    assert body[0].saved_bytes == x.nbytes + p["W1"].nbytes
    # a region holds at most one partial array of its shape per input, a fused reduction none
    # until its backward step, when its partials over the (5, 3) region are materialised
    assert 0 < body[1].saved_bytes <= 2 * 5 * 4 * 4
    assert body[3].saved_bytes == 0 and body[3].backward_bytes == 2 * 5 * 3 * 4
    # parents link entries: inputs are leaves 0..3 (W1, W2, b1, b2 in key order)
    leaves = [e.index for e in report.entries if e.mode is Mode.LEAF]
    assert len(leaves) == 4 and body[1].parents[0] == body[0].index and body[3].parents[0] == body[2].index
    assert all(e.forward_seconds >= 0 and e.backward_seconds > 0 for e in body)
    assert body[3].forward_seconds == 0  # the fused reduction runs in the backward pass


def test_summary_totals_are_consistent(mlp_case):
    p, x = mlp_case
    report = mixedad.profile(mlp, p, x, lines=False)
    s = report.summary
    assert s.n_entries == 4 and s.n_inputs == 4 and s.n_fused_ops == 5
    assert s.entries_by_mode == {"dual": 2, "reverse": 2, "per-element": 0, "input": 4}
    assert s.entry_backward_seconds == pytest.approx(sum(e.backward_seconds for e in report.entries))
    assert s.saved_bytes == sum(e.saved_bytes for e in report.entries)
    # everything saved is held when the backward pass starts; the fused reduction adds its partials
    assert s.peak_bytes == s.saved_bytes + report.body[3].backward_bytes
    assert s.forward_seconds > 0 and s.backward_seconds > 0 and s.n_calls == 1


def test_the_arctan2_case_is_one_fused_entry_computed_in_the_backward_pass():
    x = np.linspace(-2, 2, 50, dtype=np.float32)
    report = mixedad.profile(arctan_sum, x, lines=False)
    (entry,) = report.body
    assert entry.ops == ("arctan2", "sum") and entry.mode is Mode.DUAL
    assert entry.reason is Reason.REDUCTION_FUSED and entry.n_partials == 1
    assert entry.locations[0].lineno == line_of(arctan_sum, "# line D")
    assert report.summary.saved_bytes == 0 and report.summary.peak_bytes == x.nbytes


def test_compare_counts_the_entries_of_a_per_op_tape(mlp_case):
    p, x = mlp_case
    report = mixedad.profile(mlp, p, x, compare=True, lines=False)
    c = report.comparison
    # mode='reverse' puts each of the seven ops of mlp on the tape
    assert c.requested_mode == "reverse" and c.n_entries == 7 and c.entries_by_mode["reverse"] == 7
    assert c.n_fused_ops == 0 and c.forward_seconds > 0 and c.backward_seconds > 0
    assert c.peak_bytes > 0
    assert "7 entries instead of 4" in str(report)
    assert mixedad.profile(mlp, p, x, lines=False).comparison is None


def test_per_element_fallback_is_reported_with_its_line():
    x = np.array([-1.0, 0.2, 0.7, 1.5])
    report = mixedad.profile(mapped, x, lines=False)
    per_element = report.by_mode(Mode.PER_ELEMENT)
    assert len(per_element) == 1 and per_element[0].reason is Reason.NOT_VECTORIZABLE
    assert per_element[0].locations[0].lineno == line_of(mapped, "# line F")
    assert "per-element" in str(report)
    x = np.linspace(-1, 1, 300)
    report = mixedad.profile(mapped, x, lines=False)
    entry = report.by_mode(Mode.PER_ELEMENT)[0]
    assert entry.forward_seconds > 0  # the per-element evaluation is timed in its own entry


def test_repeat_takes_medians_and_flags_a_changing_tape(mlp_case):
    p, x = mlp_case
    report = mixedad.profile(mlp, p, x, repeat=3, lines=False)
    assert report.repeat == 3 and "median of 3 runs" in str(report)
    assert not [note for note in report.notes if "differed" in note]
    calls = []

    def changing(x):
        calls.append(1)
        y = np.sin(x)
        for _ in range(len(calls)):  # every call has one matmul more
            y = y @ np.ones((3, 3))
        return np.sum(y)
    report = mixedad.profile(changing, np.ones(3), repeat=2, lines=False)
    assert any("differed" in note for note in report.notes)
    with pytest.raises(ValueError):
        mixedad.profile(mlp, p, x, repeat=0)


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_profiling_does_not_change_values_or_gradients(mode, dtype):
    rng = np.random.default_rng(1)
    p, x = params(rng, dtype), rng.standard_normal((5, 6)).astype(dtype)
    value, grads = mixedad.value_and_gradient(mlp, p, x, mode=mode)
    report = mixedad.profile(mlp, p, x, mode=mode, compare=True, repeat=2)
    assert report.value == value
    with mixedad.profiling():
        in_context = mixedad.gradient(mlp, p, x, mode=mode)
    for key in grads:
        assert report.gradient[key].dtype == dtype
        np.testing.assert_array_equal(report.gradient[key], grads[key])
        np.testing.assert_array_equal(in_context[key], grads[key])


def test_has_aux_and_argnums_pass_through(mlp_case):
    p, x = mlp_case

    def with_aux(p, x):
        return mlp(p, x), {"n": 3}
    report = mixedad.profile(with_aux, p, x, argnums=(0, 1), has_aux=True, lines=False)
    (_, aux), (gp, gx) = report.value, report.gradient
    assert aux == {"n": 3} and gx.shape == x.shape and set(gp) == set(p)
    assert len([e for e in report.entries if e.mode is Mode.LEAF]) == 5


def test_line_report_shows_source_forward_time_backward_time_and_modes(mlp_case):
    require_line_profiler()
    p, x = mlp_case
    report = mixedad.profile(mlp, p, x)
    (function,) = report.lines.functions
    source, start = inspect.getsourcelines(mlp)
    assert function.name == "mlp" and function.first_lineno == start
    assert [s.lineno for s in function.lines] == list(range(start, start + len(source)))
    assert [s.source for s in function.lines] == [line.rstrip("\n") for line in source]
    by_line = {s.lineno: s for s in function.lines}
    line_a, line_b, line_c = (line_of(mlp, m) for m in ("# line A", "# line B", "# line C"))
    assert by_line[line_a].modes == (Mode.REVERSE, Mode.DUAL)
    assert by_line[line_b].modes == (Mode.REVERSE, Mode.DUAL)
    assert by_line[line_c].modes == (Mode.DUAL,)
    assert by_line[start].modes == () and by_line[start].hits is None  # the def line
    for line in (line_a, line_b, line_c):
        assert by_line[line].hits == 1 and by_line[line].forward_seconds > 0
    body = report.body
    # backward time goes to the line that completed each entry: the fused sum is on line C
    assert by_line[line_c].backward_seconds == pytest.approx(body[3].backward_seconds)
    assert by_line[line_a].backward_seconds == pytest.approx(body[0].backward_seconds + body[1].backward_seconds)
    assert by_line[line_b].entries == (body[2].index, body[3].index)
    assert sum(s.backward_seconds for s in function.lines) == pytest.approx(report.summary.entry_backward_seconds)
    assert report.lines.other_lines == ()
    text = str(report)
    assert "line report" in text and 'return np.sum(y ** 2)  # line C' in text


def test_line_report_of_helpers_and_of_lines_outside_the_profiled_functions():
    require_line_profiler()
    x = np.linspace(-1, 1, 7)
    report = mixedad.profile(lambda x: mapped(x), x, lines=[branchy])
    names = [f.name for f in report.lines.functions]
    assert names == ["<lambda>", "branchy"]
    branch_line = line_of(branchy, "# line E")
    (row,) = [s for s in report.lines.functions[1].lines if s.lineno == branch_line]
    assert row.hits >= 7  # once per element: the per-element fallback
    # the entries were made on mapped's line, which was not line-profiled
    others = {s.lineno: s for s in report.lines.other_lines}
    assert line_of(mapped, "# line F") in others
    assert Mode.PER_ELEMENT in others[line_of(mapped, "# line F")].modes


def test_without_line_profiler_the_line_report_is_skipped_with_a_note(monkeypatch, mlp_case):
    import mixedad.profiler.lines as lines
    monkeypatch.setattr(lines, "load_line_profiler", lambda: None)
    p, x = mlp_case
    report = mixedad.profile(mlp, p, x)
    assert report.lines is None
    assert any("line_profiler is not installed" in note for note in report.notes)
    assert "line_profiler is not installed" in str(report)


def test_builtin_functions_get_no_line_report_but_a_note():
    report = mixedad.profile(operator.methodcaller("sum"), np.ones(3))
    np.testing.assert_array_equal(report.gradient, np.ones(3))
    assert report.lines is None or report.lines.functions == ()
    assert any("not a Python function" in note for note in report.notes)


def test_aggregate_merges_identical_entries_and_sums_times(mlp_case):
    p, x = mlp_case
    reports = [mixedad.profile(mlp, p, x, lines=False) for _ in range(3)]
    merged = aggregate(reports)
    assert [e.ops for e in merged.body] == [e.ops for e in reports[0].body]
    assert all(e.count == 3 for e in merged.entries)
    assert merged.n_calls == 3 and merged.n_entries == 12
    for i, e in enumerate(merged.entries):
        assert e.backward_seconds == pytest.approx(sum(r.entries[i].backward_seconds for r in reports))
    assert merged.summary.forward_seconds == pytest.approx(sum(r.summary.forward_seconds for r in reports))
    assert merged.summary.peak_bytes == max(r.summary.peak_bytes for r in reports)
    assert merged.summary.saved_bytes == max(r.summary.saved_bytes for r in reports)  # per call, not summed
    assert "count" in str(merged) and "totals over 3 calls" in str(merged)


def test_an_array_several_entries_hold_counts_once_in_the_summary():
    """The matmul's result is read by three diag entries: 'tape holds' is A, X and Y once each
    (the matmul keeps A and X; its rules never read Y, which the first diag holds)."""
    a = np.random.default_rng(0).standard_normal((60, 60))
    x = np.eye(60)

    def f(x):
        y = a @ x
        return np.sum(np.diag(y)) + np.sum(np.diag(y)) * 2.0 + np.sum(np.diag(y)) * 3.0

    report = mixedad.profile(f, x, lines=False)
    diags = [e for e in report.entries if e.ops == ("diag",)]
    assert len(diags) == 3 and all(e.saved_bytes == x.nbytes for e in diags)
    assert [e.shared_bytes for e in diags] == [0, x.nbytes, x.nbytes]
    assert report.summary.saved_bytes == 3 * x.nbytes  # a, x and a @ x
    assert report.summary.peak_bytes >= report.summary.saved_bytes
    again = mixedad.Report.from_json(report.to_json())
    assert again.summary.saved_bytes == report.summary.saved_bytes
    assert [e.shared_bytes for e in again.entries] == [e.shared_bytes for e in report.entries]


def test_entry_times_of_a_first_profile_are_part_of_its_wall_times():
    # A program never run before in this process: its regions' code is generated on the first
    # call, which a warm-up keeps out of the entry times (they were 3-7x the wall times).
    namespace = {}
    exec(compile("import numpy as np\n"
                 "def never_profiled(x, w):\n"
                 "    h = np.arcsinh(np.cbrt(x * 1.75) + np.expm1(x * 0.25)) * np.hypot(x, 0.5)\n"
                 "    g = np.log1p(np.square(h @ w)) / np.cosh(h @ w)\n"
                 "    return np.sum(np.arctan(g) * np.sinc(h * 0.5) @ w)\n", "<never profiled>", "exec"), namespace)
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((20, 20)), rng.standard_normal((20, 20))
    report = mixedad.profile(namespace["never_profiled"], x, w, lines=False)
    s = report.summary
    assert s.entry_forward_seconds + s.entry_backward_seconds <= 1.5 * s.seconds


def hessian_target(x):
    return np.sum(np.sin(x) * x ** 2)


def test_code_mixedad_generates_is_never_a_source_location():
    # forward-over-reverse replays the inner tape through generated region code
    rng = np.random.default_rng(4)
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    report = mixedad.profile(lambda x: np.sum(mixedad.hvp(hessian_target, x, v)), x)
    assert report.body and all(e.locations for e in report.body)
    assert not [e.where for e in report.entries if "<mixedad" in e.where]
    if report.lines is not None:
        rows = [s for f in report.lines.functions for s in f.lines] + list(report.lines.other_lines)
        assert not [s.filename for s in rows if s.filename.startswith("<mixedad")]
    assert "<mixedad" not in str(report)


def returns_to_an_earlier_line(x):
    y = x
    for i in range(2):
        y = np.sin(y)  # line G
        if i == 0:
            y = y * 2.0
    return np.sum(y @ np.ones((3, 3)))


def test_an_entry_completes_on_the_line_of_its_last_op():
    report = mixedad.profile(returns_to_an_earlier_line, np.ones((2, 3)), lines=False)
    (region,) = report.by_mode(Mode.DUAL)
    assert region.ops == ("sin", "multiply", "sin")
    assert region.line.lineno == line_of(returns_to_an_earlier_line, "# line G")


def test_by_mode_takes_a_mode_or_its_value(mlp_case):
    report = mixedad.profile(mlp, *mlp_case, lines=False)
    assert report.by_mode("dual") == report.by_mode(Mode.DUAL) and len(report.by_mode("dual")) == 2
    assert report.by_mode("per-element") == []
    with pytest.raises(ValueError):
        report.by_mode("fused")
