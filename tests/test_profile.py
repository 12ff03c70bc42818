"""The mode report: entries, modes, reasons, source lines, and that profiling changes nothing."""
import gc
import weakref

import numpy as np

import mixedad
from mixedad import Mode, Reason
from mixedad.core.tape import TapeEntry


def mlp(params, x):
    h = np.tanh(x @ params["W1"] + params["b1"])  # line A
    y = h @ params["W2"] + params["b2"]  # line B
    return np.sum(y ** 2)  # line C


def lines_of(marker):
    import inspect
    source, start = inspect.getsourcelines(mlp)
    return [start + i for i, line in enumerate(source) if marker in line]


def params(rng, dtype=np.float32):
    return {"W1": rng.standard_normal((6, 4)).astype(dtype), "b1": rng.standard_normal(4).astype(dtype),
            "W2": rng.standard_normal((4, 3)).astype(dtype), "b2": rng.standard_normal(3).astype(dtype)}


def test_report_lists_fused_regions_tape_entries_and_user_lines():
    rng = np.random.default_rng(0)
    p, x = params(rng), rng.standard_normal((5, 6)).astype(np.float32)
    report = mixedad.profile(mlp, p, x)
    body = [e for e in report.entries if e.mode is not Mode.LEAF]
    assert [e.ops for e in body] == [("matmul",), ("add", "tanh"), ("matmul",), ("add", "square", "sum")]
    assert [e.mode for e in body] == [Mode.REVERSE, Mode.DUAL, Mode.REVERSE, Mode.DUAL]
    assert body[1].reason is Reason.ELEMENTWISE and body[3].reason is Reason.REDUCTION_FUSED
    assert body[1].n_partials == 2 and body[1].dtype == "float32" and body[1].shape == (5, 4)
    line_a, line_b, line_c = lines_of("# line A")[0], lines_of("# line B")[0], lines_of("# line C")[0]
    assert [loc.lineno for loc in body[0].locations] == [line_a]
    assert {loc.lineno for loc in body[3].locations} == {line_b, line_c}
    text = str(report)
    assert "add → tanh" in text and "dual" in text and "reverse" in text and f"test_profile.py:{line_a}" in text
    assert report.n_entries == 4


def test_profiling_does_not_change_values_or_gradients():
    rng = np.random.default_rng(1)
    p, x = params(rng, np.float64), rng.standard_normal((5, 6))
    value, grads = mixedad.value_and_gradient(mlp, p, x)
    report = mixedad.profile(mlp, p, x)
    assert report.value == value
    for key in grads:
        np.testing.assert_array_equal(report.gradient[key], grads[key])


def test_reverse_mode_report_has_one_entry_per_op():
    rng = np.random.default_rng(2)
    p, x = params(rng), rng.standard_normal((5, 6)).astype(np.float32)
    report = mixedad.profile(mlp, p, x, mode="reverse")
    body = [e for e in report.entries if e.mode is not Mode.LEAF]
    assert all(e.mode is Mode.REVERSE and e.reason is Reason.REQUESTED_REVERSE for e in body)
    assert [e.ops[0] for e in body] == ["matmul", "add", "tanh", "matmul", "add", "square", "sum"]


def test_tape_is_freed_by_reference_counting_without_waiting_for_the_cycle_collector():
    rng = np.random.default_rng(4)
    p, x = params(rng), rng.standard_normal((5, 6)).astype(np.float32)
    gc.collect()
    gc.disable()
    try:
        for mode in ("auto", "reverse", "forward"):
            mixedad.gradient(mlp, p, x, mode=mode)
            mixedad.value_and_gradient(lambda v: np.sum(np.sin(v) ** 2), x, mode=mode)
            left = [o for o in gc.get_objects() if issubclass(type(o), TapeEntry)]
            assert not left, f"{len(left)} tape entries wait for the cycle collector ({mode})"
    finally:
        gc.enable()


def test_profiling_frees_the_tape_by_reference_counting_too():
    # a training loop inside mixedad.profiling() must not keep every step's arrays for the collector
    rng = np.random.default_rng(5)
    x, big = rng.standard_normal(50), rng.standard_normal(50)
    x_alive, big_alive = weakref.ref(x), weakref.ref(big)
    f = lambda x, big=big: np.sum(np.tanh(x) * big) + np.sum(np.cos(x)) * 0.5
    gc.collect()
    gc.disable()
    try:
        with mixedad.profiling():
            mixedad.gradient(f, x)
        mixedad.profile(f, x, lines=False)
        del x, big, f
        assert x_alive() is None and big_alive() is None
        assert not [o for o in gc.get_objects() if issubclass(type(o), TapeEntry)]
    finally:
        gc.enable()


def test_tape_is_freed_after_the_backward_pass():
    rng = np.random.default_rng(3)
    p, x = params(rng), rng.standard_normal((5, 6)).astype(np.float32)
    mixedad.gradient(mlp, p, x)
    gc.collect()
    assert not [o for o in gc.get_objects() if issubclass(type(o), TapeEntry)]


def test_a_fused_reductions_partials_are_timed_in_its_entrys_backward_step():
    """gradient evaluates a fused reduction's partials in the backward pass; the profiler's
    entry must show that time there too (it showed only the final products)."""
    x = np.random.default_rng(0).standard_normal((500, 500))
    report = mixedad.profile(lambda x: np.sum(np.sin(x) * np.exp(x)), x, repeat=3, lines=False)
    (entry,) = report.body
    assert entry.ops == ("sin", "exp", "multiply", "sum")
    assert entry.backward_seconds > 0.3 * report.summary.backward_seconds
    np.testing.assert_allclose(report.value, np.sum(np.sin(x) * np.exp(x)), rtol=1e-12)


def test_a_forward_pass_mostly_outside_the_entries_gets_a_note_saying_why():
    def many_small_ops(x):
        for _ in range(60):  # one dual region: evaluated in the backward pass, traced here
            x = np.sin(x) * 1.01 + 0.5
        return np.sum(x)

    x = np.linspace(0.0, 1.0, 4)
    mixedad.gradient(many_small_ops, x)  # code for the regions is generated once, here
    report = mixedad.profile(many_small_ops, x, lines=False, repeat=3)
    outside = report.summary.forward_seconds - report.summary.entry_forward_seconds
    assert outside > 0.5 * report.summary.forward_seconds
    assert any("outside tape entries" in note and "mixedad.prepare" in note for note in report.notes)
