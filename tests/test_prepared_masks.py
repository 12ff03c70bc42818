"""Prepared gradients of programs that compare traced values (masks).

Under a prepared recording a comparison's result is recomputed on each replay
(``core.recomputed``): programs that only combine masks elementwise with traced values replay;
programs that read a mask's values (a branch, boolean indexing, a conversion) trace again.
Either way every call must equal a fresh gradient at the new inputs: the references are
``mixedad.gradient`` traced anew and float64 central differences.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedad
from numerical import numerical_gradient

rng = np.random.default_rng(29)


def relu_where(x):
    return np.sum(np.where(x > 0, x, 0.01 * x) ** 2)


def relu_product(x):
    return np.sum(np.sin(x) * (x > 0))


def huber(x):
    a = np.abs(x)
    return np.sum(np.where(a < 0.5, 0.5 * x ** 2, 0.5 * (a - 0.25)))


def masked_mean(x):
    m = x > 0
    return np.sum(np.where(m, x ** 2, 0.0)) / np.maximum(m.sum(), 1)


def band(x):
    m = (x > -0.5) & ~(x > 0.5)
    return np.sum(np.exp(x) * m.astype(x.dtype)) + np.mean(m) * np.sum(x)


def sign_and_floor(x):
    return np.sum(np.sign(x) * x ** 3 + np.floor(2 * x) * x)


def row_mask(x):
    rows = x.reshape(2, -1)
    keep = rows[:, 0] > 0
    return np.sum(np.where(keep[:, None], rows, -2.0 * rows) @ np.arange(rows.shape[1], dtype=x.dtype))


def transposed_mask(x):
    rows = x.reshape(2, -1)
    return np.sum(np.where((rows > 0).T, rows.T ** 2, rows.T))


def nested_where(x):
    return np.sum(np.where(x < -0.3, -x, np.where(x > 0.3, x ** 2, np.cos(x))))


def two_values_compared(x):
    y = np.roll(x, 1)
    return np.sum(np.where(x > y, x * y, x - y))


def mask_of_a_region(x):
    s = np.sin(3 * x) + x ** 2
    return np.sum(np.where(s > 0.2, s, 0.0))


def mask_in_a_loop(x):
    total = 0.0
    for threshold in (-0.5, 0.0, 0.5):
        total = total + np.sum(np.where(x > threshold, x, threshold) ** 2)
    return total


def count_as_a_divisor(x):
    return np.sum(x ** 2 * (x > 0)) / (np.count_nonzero(x > -10.0) + 1.0)


def leaky_matmul(x):
    w = np.linspace(-1.0, 1.0, x.size * 3).reshape(x.size, 3).astype(x.dtype)
    h = x @ w
    return np.sum(np.where(h > 0, h, 0.1 * h) ** 2)


REPLAYING = [relu_where, relu_product, huber, masked_mean, band, sign_and_floor, row_mask, transposed_mask,
             nested_where, two_values_compared, mask_of_a_region, mask_in_a_loop, count_as_a_divisor, leaky_matmul]


def _inputs(dtype, n=6):
    """Draws with both signs everywhere: the masks change from call to call."""
    return [rng.standard_normal(n).astype(dtype) for _ in range(6)]


@pytest.mark.parametrize("mode", ["auto", "reverse"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("f", REPLAYING, ids=lambda f: f.__name__)
def test_mask_programs_replay_and_equal_fresh_gradients(f, dtype, mode):
    inputs = _inputs(dtype)
    prepared = mixedad.prepare(f, inputs[0], mode=mode)
    assert prepared.replays, prepared.why_traced
    for x in inputs[1:]:  # the second call compiles the program: both runners are compared
        value, grad = prepared.value_and_gradient(x)
        fresh_value, fresh = mixedad.value_and_gradient(f, x, mode=mode)
        assert grad.dtype == x.dtype and np.asarray(value).dtype == np.asarray(fresh_value).dtype
        tolerance = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(grad, fresh, rtol=tolerance, atol=tolerance)
        np.testing.assert_allclose(value, fresh_value, rtol=tolerance)


@pytest.mark.parametrize("f", REPLAYING, ids=lambda f: f.__name__)
def test_replayed_mask_gradients_match_central_differences(f):
    x = rng.standard_normal(6)
    prepared = mixedad.prepare(f, -x)  # recorded where every mask is the other way round
    x = x[np.abs(x) > 0.05] if f is not sign_and_floor else np.array([0.3, -0.7, 1.2, -1.4, 0.1, 0.8])
    x = np.resize(x, 6)
    np.testing.assert_allclose(prepared.gradient(x), numerical_gradient(f, x), rtol=1e-6, atol=1e-7)


def test_a_mask_of_another_argument_is_recomputed_from_the_new_data():
    def weighted(w, data):
        return np.sum(np.where(data > 0, w * data, w ** 2))
    w = rng.standard_normal(5)
    prepared = mixedad.prepare(weighted, w, rng.standard_normal(5))
    assert prepared.replays
    for _ in range(4):
        data = rng.standard_normal(5)
        np.testing.assert_allclose(prepared.gradient(w, data), np.where(data > 0, data, 2 * w))


def _branch(x):
    return np.sum(x ** 2) if (x > 0).any() else np.sum(x)


def _boolean_index(x):
    return np.sum(x[x > 0] ** 2)


def _nonzero(x):
    return np.sum(x[np.nonzero(x > 0)] ** 3)


def _python_count(x):
    return np.sum(x ** 2) * int((x > 0).sum())


def _assignment_through_mask(x):
    y = x * 1.0
    y[x < 0] = 0.0
    return np.sum(y ** 2)


def _mask_mutated(x):
    m = x > 0
    m[0] = True
    return np.sum(np.where(m, x, -x))


def _select(x):
    return np.sum(np.select([x < -0.5, x > 0.5], [x ** 2, np.sin(x)], default=0.5 * x))


def _piecewise(x):
    return np.sum(np.piecewise(x, [x < 0, x >= 0], [lambda t: t ** 2, lambda t: np.sin(t)]))


def _listed(x):
    return np.sum(x * np.array((x > 0).tolist()))


READING = [_branch, _boolean_index, _nonzero, _python_count, _assignment_through_mask, _mask_mutated, _select,
           _piecewise, _listed]


@pytest.mark.parametrize("f", READING, ids=lambda f: f.__name__.strip("_"))
def test_programs_that_read_mask_values_trace_again_and_stay_right(f):
    inputs = _inputs(np.float64)
    prepared = mixedad.prepare(f, inputs[0])
    assert not prepared.replays and prepared.why_traced.startswith("the program depends on input values")
    for x in inputs[1:]:
        np.testing.assert_allclose(prepared.gradient(x), mixedad.gradient(f, x), rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=3, max_size=3),
       st.lists(st.sampled_from(["gt", "le", "and", "or", "not", "astype", "sum"]), min_size=1, max_size=4))
def test_random_mask_expressions_replay_as_fresh_gradients(thresholds, ops):
    """Masks combined by random chains of NumPy operations, then used with traced values."""
    def f(x):
        m = x > thresholds[0]
        extra = None
        for k, op in enumerate(ops):
            t = thresholds[k % 3]
            if op == "gt":
                m = m & (x > t)
            elif op == "le":
                m = m | (x <= t)
            elif op == "and":
                m = np.logical_and(m, np.sin(x) < t)
            elif op == "or":
                m = np.logical_or(m, x ** 2 > abs(t))
            elif op == "not":
                m = ~m
            elif op == "astype":
                m = m.astype(np.float64) > 0.5
            else:
                extra = m.sum() + 1.0
        value = np.sum(np.where(m, np.sin(x) * x, x ** 2)) + np.sum(x * m)
        return value if extra is None else value / extra
    inputs = _inputs(np.float64, n=7)
    prepared = mixedad.prepare(f, inputs[0])
    assert prepared.replays, prepared.why_traced
    for x in inputs[1:]:
        np.testing.assert_allclose(prepared.gradient(x), mixedad.gradient(f, x), rtol=1e-12, atol=1e-14)


def test_masks_are_plain_arrays_outside_a_recording_and_in_aux():
    seen = []

    def f(x):
        m = x > 0
        seen.append(type(m))
        return np.sum(np.where(m, x, 0.0)), m

    x = np.array([1.0, -2.0, 3.0])
    mixedad.gradient(f, x, has_aux=True)
    assert seen[-1] is np.ndarray  # only a prepared recording recomputes masks
    prepared = mixedad.prepare(f, x, has_aux=True)
    for new in (x, -x):
        grad, aux = prepared.gradient(new)
        assert type(aux) is np.ndarray and aux.dtype == bool
        np.testing.assert_array_equal(aux, new > 0)
        np.testing.assert_array_equal(grad, (new > 0).astype(float))


def test_a_mask_kept_after_the_recording_reads_as_its_values():
    kept = []

    def f(x):
        m = x > 0
        kept.append(m)
        return np.sum(np.where(m, x, 0.0))

    prepared = mixedad.prepare(f, np.array([1.0, -1.0]))
    np.testing.assert_array_equal(np.asarray(kept[0]), [True, False])
    assert kept[0].shape == (2,) and kept[0].dtype == bool and len(kept[0]) == 2
    prepared.gradient(np.array([-1.0, 1.0]))  # no new step is recorded by using it afterwards
    np.testing.assert_array_equal(np.asarray(kept[0] & np.array([True, True])), np.asarray(kept[0]))


def _bounds_moved_after_comparing(x):
    lower = np.full(x.shape, -1.0)
    total = 0.0
    for _ in range(3):
        total = total + np.sum(np.where(x > lower, x ** 2, 0.0))
        lower += 1.0  # NumPy compared with the old bounds: so must every replay
    return total


def _plain_branch_scaled_after(x):
    a = np.linspace(1.0, 2.0, x.size)
    picked = np.where(x > 0, a, 0.0)
    a *= 5.0
    return np.sum(picked * x)


def _scratch_mask_reused(x):
    scratch = np.zeros(x.shape, bool)
    m = (x > 0) & ~scratch
    scratch[:] = True
    return np.sum(np.where(m, x, 2 * x))


def _mask_filled(x):
    m = x > 0
    m.fill(True)
    return np.sum(np.where(m, x, -x))


def _mask_copied_into(x):
    m = x > 0
    np.copyto(m, True, where=x < -0.5)
    return np.sum(np.where(m, x, -x))


def _weights_clipped_in_place(x):
    w = (x > 0) * 1.0
    np.clip(w, 0.2, 0.8, out=w)
    return np.sum(w * x)


def _mask_through_a_ravel_view(x):
    m = x > 0
    m.ravel()[0] = True
    return np.sum(np.where(m, x, -x))


@pytest.mark.parametrize("f", [_bounds_moved_after_comparing, _plain_branch_scaled_after, _scratch_mask_reused,
                               _mask_filled, _mask_copied_into, _weights_clipped_in_place, _mask_through_a_ravel_view],
                         ids=lambda f: f.__name__.strip("_"))
def test_arrays_changed_after_a_comparison_give_numpys_values(f):
    """A mask's step keeps copies of the plain arrays it compared with; a write into a mask
    reaches the mask itself (and stops replays). Either way each call is NumPy's program."""
    inputs = _inputs(np.float64)
    prepared = mixedad.prepare(f, inputs[0])
    for x in inputs:
        value, grad = prepared.value_and_gradient(x)
        assert value == pytest.approx(f(x.copy()), rel=1e-12)
        np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=1e-6, atol=1e-7)


def test_masks_kept_by_side_effects_or_objects_in_aux():
    from types import SimpleNamespace
    stored = []

    def f(x):
        m = x > 0
        stored.append(m)
        return np.sum(np.where(m, x, 0.0)), SimpleNamespace(mask=m)

    x = np.array([1.0, -2.0, 3.0])
    prepared = mixedad.prepare(f, x, has_aux=True)
    auxes = [prepared.gradient(new)[1] for new in (-x, x, -x)]
    assert prepared.replays
    for new, aux in zip((-x, x, -x), auxes):  # each call's own copy
        assert type(aux.mask) is np.ndarray
        np.testing.assert_array_equal(aux.mask, new > 0)
    np.testing.assert_array_equal(np.asarray(stored[0]), x > 0)  # a side effect: as recorded


@pytest.mark.parametrize("f", [lambda x: np.sum((x - np.round(x)) ** 2),
                               lambda x: np.sum(x * (np.arange(x.size) == np.argmax(x))),
                               lambda x: np.sum(x ** 2 * np.isclose(x, 0.0, atol=0.5))],
                         ids=["round", "argmax", "isclose"])
def test_functions_without_derivative_of_static_shape_replay(f):
    inputs = _inputs(np.float64)
    prepared = mixedad.prepare(f, inputs[0])
    assert prepared.replays, prepared.why_traced
    for x in inputs[1:]:
        np.testing.assert_allclose(prepared.gradient(x), mixedad.gradient(f, x), rtol=1e-12)


def _gp_negative_log_likelihood(theta, points, targets):  # the sign of slogdet dropped: the common idiom
    distances = ((points[:, None] - points[None]) ** 2).sum(-1)
    kernel = np.exp(theta[0]) * np.exp(-0.5 * distances) + np.exp(theta[1]) * np.eye(len(points))
    return 0.5 * targets @ np.linalg.solve(kernel, targets) + 0.5 * np.linalg.slogdet(kernel)[1]


def _signed_log_determinant(theta, points, targets):  # the sign used in arithmetic only
    matrix = np.outer(points[:, 0], points[:, 1]) * theta[0] + np.diag(targets) * theta[1]
    sign, log_abs = np.linalg.slogdet(matrix)
    return sign * log_abs + np.sum(sign * theta)


def test_slogdet_replays_and_its_sign_is_refilled_on_each_replay():
    """slogdet read its sign to hand it back as a plain array, so a prepared gradient of a GP's
    log likelihood traced again on every call (slower than a plain gradient: session-45 audit)."""
    draws = np.random.default_rng(7)
    points, targets = draws.standard_normal((6, 2)), draws.standard_normal(6)
    signs = [np.linalg.slogdet(np.outer(points[:, 0], points[:, 1]) * t[0] + np.diag(targets) * t[1])[0]
             for t in ([0.7, 1.3], [-0.7, 0.4])]
    assert signs == [-1.0, 1.0]  # the second theta below changes the sign of _signed_log_determinant's matrix
    for f, theta in ((_gp_negative_log_likelihood, np.array([0.1, -1.0])),
                     (_signed_log_determinant, np.array([0.7, 1.3]))):
        prepared = mixedad.prepare(f, theta, points, targets)
        for new in (theta, np.array([-0.7, 0.4]), 0.5 * theta, -3.0 * theta):
            value, grad = prepared.value_and_gradient(new, points, targets)
            assert value == pytest.approx(f(new, points, targets), rel=1e-12)
            np.testing.assert_allclose(grad, numerical_gradient(lambda t: f(t, points, targets), new), rtol=1e-6)
        assert prepared.replays, prepared.why_traced


def test_a_loop_comparing_with_one_constant_array_keeps_one_copy_of_it():
    limits = np.linspace(-1.0, 1.0, 50)

    def f(x):
        total = 0.0
        for _ in range(20):
            x = np.where(x > limits, 0.9 * x, x + 0.1)
            total = total + np.sum(x ** 2)
        return total

    x = np.linspace(-2.0, 2.0, 50)
    prepared = mixedad.prepare(f, x)
    assert prepared.replays
    kept = {id(operand) for step in prepared._program.steps if step.run.__name__ == "_refill"
            for operand in step.payload[1] if type(operand) is np.ndarray and operand.shape == limits.shape
            and operand.dtype == limits.dtype and np.array_equal(operand, limits)}
    assert len(kept) == 1
    for new in (x[::-1].copy(), 0.5 * x):
        np.testing.assert_allclose(prepared.gradient(new), mixedad.gradient(f, new), rtol=1e-12)


def _inner_loss(w, x):
    return np.mean(np.tanh(x @ w) ** 2) + np.sum(np.sqrt(np.maximum(w, 0.0)))


def _adapted_loss(w, x):  # MAML's step: the loss after one inner gradient step
    return _inner_loss(w - 0.1 * mixedad.gradient(_inner_loss, w, x), x)


def _gradient_penalty(w, x):  # WGAN-GP's: the squared norm of an input gradient
    g = mixedad.gradient(lambda x: np.sum(np.tanh(x @ w)), x)
    return np.sum(g ** 2) + np.sum(w ** 2)


@pytest.mark.parametrize("f", [_adapted_loss, _gradient_penalty])
def test_a_nested_gradient_replays(f):
    """The nested gradient's own finiteness checks (is a zero times an infinite partial there?)
    and shape queries read no input value: the program replays, and where a replay meets the
    infinite partial of sqrt at 0 (w crossing zero, which the recording never saw) the zero
    still wins, as in a fresh gradient."""
    w, x = np.array([0.7, 1.3, 0.4]), rng.standard_normal((4, 3))
    prepared = mixedad.prepare(f, w, x)
    for call, (w_now, x_now) in enumerate([(w, x), (w, 2 * x), (np.array([-1.0, 1.3, 0.4]), x),
                                           (np.array([-1.0, 0.0, 0.4]), 3 * x)]):
        got = prepared.gradient(w_now, x_now)
        np.testing.assert_allclose(got, mixedad.gradient(f, w_now, x_now), rtol=1e-12, err_msg=f"call {call}")
        if call == 0:
            np.testing.assert_allclose(got, numerical_gradient(lambda v: f(v, x_now), w_now), rtol=1e-5)
    assert prepared.replays and prepared.value_reads == ()
