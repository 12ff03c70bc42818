"""The profiler's per-entry data: ops with several outputs, the memory a tape holds (views,
shape-only rules, arrays freed during the forward pass), constant buffers and fused reductions."""
import numpy as np
import pytest

import mixedad
from mixedad import Mode
from mixedad.profiler import Report

RNG = np.random.default_rng(0)
A = RNG.standard_normal((5, 3))


def _profile(f, *args):
    return mixedad.profile(f, *args, lines=False)


def _entry(report, label):
    (entry,) = [e for e in report.entries if e.label == label]
    return entry


def _svd_loss(a):
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    return np.sum(s) + np.sum(u[:, 0]) + np.sum(vt[0])


def _eigh_loss(a):
    w, v = np.linalg.eigh(a.T @ a)
    return np.sum(w) + np.sum(v[:, 0] ** 2)


def _qr_loss(a):
    q, r = np.linalg.qr(a)
    return np.sum(r ** 2)


def _slogdet_loss(a):
    sign, logdet = np.linalg.slogdet(a.T @ a)
    return logdet


def _split_loss(a):
    top, bottom = np.split(a, [2])
    return np.sum(top ** 2) + np.sum(bottom)


@pytest.mark.parametrize("loss, label, outputs", [
    (_svd_loss, "svd", [((5, 3), "float64"), ((3,), "float64"), ((3, 3), "float64")]),
    (_eigh_loss, "eigh", [((3,), "float64"), ((3, 3), "float64")]),
    (_qr_loss, "qr", [((5, 3), "float64"), ((3, 3), "float64")]),
    (_slogdet_loss, "slogdet", [((), "float64"), ((), "float64")]),
    (_split_loss, "split", [((2, 3), "float64"), ((3, 3), "float64")]),
])
def test_an_op_with_several_outputs_reports_time_memory_shapes_and_dtypes(loss, label, outputs):
    report = _profile(loss, A)
    entry = _entry(report, label)
    assert entry.forward_seconds > 0
    assert list(zip(entry.output_shapes, entry.output_dtypes)) == outputs
    assert entry.dtype == "float64" and entry.shape is None
    assert entry.saved_bytes > 0
    assert ", ".join("x".join(map(str, s)) if s else "scalar" for s, _ in outputs) in str(report)
    back = Report.from_json(report.to_json())
    assert _entry(back, label).output_shapes == entry.output_shapes
    assert _entry(back, label).output_dtypes == entry.output_dtypes


def test_an_svd_holds_its_argument_and_its_factors():
    entry = _entry(_profile(_svd_loss, A), "svd")
    u, s, vt = np.linalg.svd(A, full_matrices=False)
    assert entry.saved_bytes == A.nbytes + u.nbytes + s.nbytes + vt.nbytes


def test_a_view_holds_what_it_keeps_alive_once():
    w = RNG.standard_normal((4, 10))

    def loss(w):
        big = np.exp(np.linspace(0.0, 1.0, 1000))  # a temporary: only the view below keeps it
        v = big[::100]  # 10 elements, a view of big
        h = w @ v  # the matmul's rule keeps v, hence big (not h: its rules never read the output)
        return np.sum(h.T @ np.ones(4))  # h.T: a view of h; the transpose's rule reads h's shape only

    report = _profile(loss, w)
    first, second = [e for e in report.body if e.label == "matmul"]
    assert first.saved_bytes == w.nbytes + 1000 * 8  # w and big (through v)
    h_bytes = ones_bytes = 4 * 8
    assert _entry(report, "transpose").saved_bytes == 0
    assert second.saved_bytes == second.own_bytes == h_bytes + ones_bytes  # h through h.T, and the ones
    total = sum(e.own_bytes for e in report.entries)
    assert report.summary.saved_bytes == total


def test_a_rule_that_keeps_shapes_holds_no_memory():
    x = np.linspace(0.1, 1.0, 1000)

    def loss(x):
        h = np.tanh(x)  # a region: it holds its partial 1 - h**2, not h
        return h[0] + h[1]  # getitem's rule reads shapes only

    report = _profile(loss, x)
    assert all(e.saved_bytes == 0 for e in report.body if e.label == "getitem")
    assert _entry(report, "tanh").saved_bytes == x.nbytes
    assert report.summary.saved_bytes == x.nbytes


def test_arrays_freed_in_the_forward_pass_do_not_merge_with_held_ones():
    x = np.linspace(0.1, 1.0, 1000)

    def loss(x):
        total = 0.0
        for k in range(6):
            h = np.tanh(x * (k + 1.0))  # freed when the next iteration rebinds h: its id may come back
            total = total + h[k]
        return total

    report = _profile(loss, x)
    regions = [e for e in report.body if e.ops == ("multiply", "tanh")]
    assert len(regions) == 6
    assert all(e.saved_bytes == x.nbytes and e.shared_bytes == 0 for e in regions)  # distinct partials
    assert report.summary.saved_bytes == 6 * x.nbytes  # the partials: nothing else is kept


def test_a_buffer_made_inside_the_function_is_not_an_input():
    x = np.linspace(0.1, 1.0, 1000)

    def loss(x):
        y = np.zeros_like(x)
        y[:3] = np.sin(x[:3])
        return np.sum(y * 2.0)

    report = _profile(loss, x)
    assert report.summary.n_inputs == 1 and report.summary.entries_by_mode["input"] == 1
    assert [e.index for e in report.by_mode(Mode.LEAF)] == [0]
    indices = {e.index for e in report.entries}
    assert all(p in indices for e in report.entries for p in e.parents)
    assert "1 input" in str(report) and "2 inputs" not in str(report)


def test_a_fused_reduction_is_charged_its_own_forward_time():
    x = RNG.random((200, 300))

    def loss(x):
        s = np.sum(np.sin(x), axis=0)  # a fused reduction, evaluated when tanh's region needs it
        return np.tanh(s)[0]

    report = _profile(loss, x)
    fused = [e for e in report.body if e.ops == ("sin", "sum")]
    (region,) = [e for e in report.body if e.ops == ("tanh",)]
    assert fused and fused[0].forward_seconds > 0
    assert fused[0].forward_seconds > region.forward_seconds  # 60,000 sines against 300 tanh


def test_a_dual_region_holding_a_view_counts_the_array_it_keeps_alive():
    w = RNG.random((6, 40))
    v = w[:, :3]  # the partial of x * v with respect to x is v: a view that keeps all of w alive
    m = RNG.random((3, 2))

    def loss(x):
        return np.sum((x * v) @ m)

    report = _profile(loss, RNG.random((6, 3)))
    (region,) = [e for e in report.body if e.ops == ("multiply",)]
    assert region.saved_bytes == w.nbytes


def test_reverse_mode_elementwise_entries_hold_only_what_their_partials_read():
    x = RNG.random(1000)
    y = RNG.random(1000)

    def loss(x):
        return np.sum(np.sin(x) * y + np.exp(x))

    report = mixedad.profile(loss, x, mode="reverse", lines=False)
    held = {e.label: e.saved_bytes for e in report.body}
    assert held["sin"] == x.nbytes  # cos(x) reads x, not sin(x)
    assert held["multiply"] == y.nbytes  # d/d(sin x) of sin(x) * y is y
    assert held["exp"] == x.nbytes  # exp's partial reads its output only: exp(x), as large as x
    assert held["add"] == 0
    np.testing.assert_allclose(report.gradient, np.cos(x) * y + np.exp(x))
