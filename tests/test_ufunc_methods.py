"""ufunc.reduce, ufunc.accumulate and ufunc.reduceat of any binary ufunc on differentiated arrays.

Values and dtypes are compared with NumPy's; gradients with central finite differences in float64
in each mode (auto, reverse, prepared on new inputs, jvp, hessian), on fixed programs and on
hypothesis-drawn shapes, axes and indices. Where the derivative is not unique (ties of a running
maximum), the convention is compared with mixedad's np.max on the same elements.
"""
import functools
import math
import re

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mixedad
from mixedad import InPlaceMutationError, NonDifferentiableError, UnsupportedOperationError
from numerical import numerical_gradient


def sequential_reduce(ufunc, x, axis):
    """The documented meaning of ufunc.reduce along one axis: a left fold in index order."""
    return functools.reduce(ufunc, np.moveaxis(x, axis, 0))


# NumPy 2.4's power.reduce and arctan2.reduce return ufunc(x[0], x[-1]) for three or more elements
# (np.power.reduce([2., 3., 5.]) == 32.0, while np.power.accumulate([2., 3., 5.])[-1] == 32768.0):
# their reference is the documented left fold, which accumulate also computes.
CASES = {
    # reduce, through the existing reductions and their options
    "add.reduce axes keepdims": (lambda x: np.add.reduce(x, axis=(0, 2), keepdims=True), None),
    "add.reduce where initial": (lambda x: np.add.reduce(x, axis=1, where=x > 1.0, initial=0.5), None),
    "multiply.reduce where initial": (lambda x: np.multiply.reduce(x, axis=-1, where=x < 1.5, initial=2.0), None),
    "maximum.reduce None initial": (lambda x: np.maximum.reduce(x, axis=None, initial=1.0), None),
    "minimum.reduce where initial": (lambda x: np.minimum.reduce(x, axis=1, where=x > 0.8, initial=1.7), None),
    "fmax.reduce": (lambda x: np.fmax.reduce(x, axis=1), None),
    "fmin.reduce axes initial": (lambda x: np.fmin.reduce(x, axis=(0, 2), initial=1.0), None),
    "fmax.reduce where initial": (lambda x: np.fmax.reduce(x, axis=2, where=x < 1.5, initial=0.0), None),
    # reduce: associative ufuncs (a tree of pairwise calls)
    "logaddexp.reduce": (lambda x: np.logaddexp.reduce(x, axis=1), None),
    "logaddexp.reduce None": (lambda x: np.logaddexp.reduce(x, axis=None), None),
    "logaddexp.reduce where initial": (lambda x: np.logaddexp.reduce(x, axis=0, where=x > 1.0, initial=0.3), None),
    "logaddexp2.reduce axes keepdims": (lambda x: np.logaddexp2.reduce(x, axis=(0, 1), keepdims=True), None),
    "hypot.reduce": (lambda x: np.hypot.reduce(x, axis=-1), None),
    "hypot.reduce where initial": (lambda x: np.hypot.reduce(x, axis=1, where=x < 1.5, initial=0.7), None),
    "logaddexp.reduce axis ()": (lambda x: np.logaddexp.reduce(x, axis=(), initial=1.0), None),
    # reduce: the other ufuncs (a fold in NumPy's order)
    "subtract.reduce": (lambda x: np.subtract.reduce(x, axis=1), None),
    "subtract.reduce keepdims": (lambda x: np.subtract.reduce(x, axis=0, keepdims=True), None),
    "subtract.reduce where initial": (lambda x: np.subtract.reduce(x, axis=2, initial=1.5, where=x > 1.0), None),
    "divide.reduce": (lambda x: np.divide.reduce(x, axis=2), None),
    "divide.reduce where initial": (lambda x: np.divide.reduce(x, axis=1, initial=2.0, where=x < 1.5), None),
    "divide.reduce axis () where initial": (lambda x: np.divide.reduce(x, axis=(), initial=1.5, where=x > 1.0), None),
    "power.reduce": (lambda x: np.power.reduce(x, axis=0), lambda x: sequential_reduce(np.power, x, 0)),
    "arctan2.reduce": (lambda x: np.arctan2.reduce(x, axis=-1), lambda x: sequential_reduce(np.arctan2, x, -1)),
    "float_power.reduce keepdims": (lambda x: np.float_power.reduce(x, axis=1, keepdims=True), None),
    "xlogy.reduce": (lambda x: scipy.special.xlogy.reduce(x, axis=1), None),
    # accumulate
    "maximum.accumulate": (lambda x: np.maximum.accumulate(x, axis=1), None),
    "minimum.accumulate": (lambda x: np.minimum.accumulate(x, axis=0), None),
    "fmax.accumulate": (lambda x: np.fmax.accumulate(x, axis=-1), None),
    "fmin.accumulate": (lambda x: np.fmin.accumulate(x, axis=1), None),
    "logaddexp.accumulate": (lambda x: np.logaddexp.accumulate(x, axis=2), None),
    "logaddexp2.accumulate": (lambda x: np.logaddexp2.accumulate(x, axis=0), None),
    "hypot.accumulate": (lambda x: np.hypot.accumulate(x, axis=1), None),
    "subtract.accumulate": (lambda x: np.subtract.accumulate(x, axis=2), None),
    "divide.accumulate": (lambda x: np.divide.accumulate(x, axis=1), None),
    "power.accumulate": (lambda x: np.power.accumulate(x, axis=0), None),
    "arctan2.accumulate": (lambda x: np.arctan2.accumulate(x, axis=-1), None),
    "multiply.accumulate": (lambda x: np.multiply.accumulate(x, axis=2), None),
    # reduceat, with NumPy's rule for indices that do not increase
    "add.reduceat": (lambda x: np.add.reduceat(x, [0, 2, 3], axis=2), None),
    "add.reduceat unordered": (lambda x: np.add.reduceat(x, [1, 4, 2, 2, 0], axis=-1), None),
    "add.reduceat axis 0": (lambda x: np.add.reduceat(x, [1], axis=0), None),
    "multiply.reduceat": (lambda x: np.multiply.reduceat(x, [0, 3, 1, 4], axis=2), None),
    "maximum.reduceat": (lambda x: np.maximum.reduceat(x, [0, 2, 2, 4], axis=2), None),
    "minimum.reduceat": (lambda x: np.minimum.reduceat(x, [0, 2], axis=1), None),
    "fmax.reduceat": (lambda x: np.fmax.reduceat(x, [3, 0, 1], axis=2), None),
    "logaddexp.reduceat": (lambda x: np.logaddexp.reduceat(x, [0, 1, 4, 0], axis=2), None),
    "subtract.reduceat": (lambda x: np.subtract.reduceat(x, [0, 3, 1], axis=-1), None),
    "hypot.reduceat": (lambda x: np.hypot.reduceat(x, [2, 0], axis=1), None),
    "divide.reduceat": (lambda x: np.divide.reduceat(x, [0, 2, 1], axis=2), None),
}
if scipy.special.xlogy.reduce(np.array([2.0, 3.0])) == 0.0:  # SciPy 1.15's xlogy starts its reduce at 0
    del CASES["xlogy.reduce"]
NAMES = sorted(CASES)
X0 = np.random.default_rng(0).uniform(0.5, 2.0, (2, 3, 5))  # distinct: no ties, no kinks
WEIGHTS = np.random.default_rng(1).standard_normal(512)  # more than any result here (reduceat can repeat segments)


def loss_for(f):
    """A scalar, nonlinear function of f's result (a nonzero Hessian even for max and min)."""
    def loss(x):
        y = f(x)
        return np.sum(np.sin(y) * WEIGHTS[:np.size(y)].reshape(np.shape(y)))
    return loss


def reference(name):
    f, ref = CASES[name]
    return ref or f


def check_value(value, expected, rtol=1e-12):
    assert np.shape(value) == np.shape(expected)
    assert np.result_type(value) == np.result_type(expected)
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_values_and_dtypes_equal_numpys(name):
    f = CASES[name][0]
    expected = reference(name)(X0.copy())
    check_value(mixedad.vjp(f, X0.copy())[0], expected)  # traced values, reverse mode
    check_value(mixedad.jvp(f, (X0.copy(),), (np.ones_like(X0),))[0], expected)  # forward duals


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_gradient_matches_finite_differences(name, mode):
    loss = loss_for(CASES[name][0])
    value, grad = mixedad.value_and_gradient(loss, X0.copy(), mode=mode)
    assert value == pytest.approx(loss_for(reference(name))(X0.copy()), rel=1e-10)
    expected = numerical_gradient(loss_for(reference(name)), X0)
    assert np.any(expected != 0)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_prepared_gradient_on_new_inputs(name):
    loss = loss_for(CASES[name][0])
    prepared = mixedad.prepare(loss, X0.copy())
    rng = np.random.default_rng(2)
    for _ in range(2):
        x = rng.uniform(0.5, 2.0, X0.shape)  # other orderings: other running maxima, other masks
        np.testing.assert_allclose(prepared.gradient(x.copy()), numerical_gradient(loss_for(reference(name)), x),
                                   rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_jvp_matches_finite_differences(name):
    loss = loss_for(CASES[name][0])
    direction = np.random.default_rng(3).standard_normal(X0.shape)
    value, along = mixedad.jvp(loss, (X0.copy(),), (direction,))
    assert value == pytest.approx(loss_for(reference(name))(X0.copy()), rel=1e-10)
    expected = numerical_gradient(loss_for(reference(name)), X0).ravel() @ direction.ravel()
    assert along == pytest.approx(expected, rel=1e-6, abs=1e-8)


HESSIAN_NAMES = [name for name in NAMES if ("reduceat" in name and "axis 0" not in name) or "accumulate" in name
                 or name in ("logaddexp.reduce where initial", "hypot.reduce", "divide.reduce", "subtract.reduce",
                             "arctan2.reduce", "fmax.reduce", "fmin.reduce axes initial")]


@pytest.mark.parametrize("name", HESSIAN_NAMES)
def test_hessian_matches_differences_of_the_gradient(name):
    x = X0[1:].copy()  # 15 inputs
    loss = loss_for(CASES[name][0])
    hessian = mixedad.hessian(loss, x).reshape(x.size, x.size)
    columns = [numerical_gradient(lambda z: mixedad.gradient(loss, z).ravel()[i], x).ravel() for i in range(x.size)]
    np.testing.assert_allclose(hessian, np.array(columns), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["logaddexp.reduce", "hypot.accumulate", "maximum.accumulate", "divide.reduceat",
                                  "subtract.accumulate", "fmin.accumulate", "multiply.reduceat", "add.reduceat unordered",
                                  "fmax.reduce where initial"])
def test_float32_stays_float32(name):
    f = CASES[name][0]
    x32 = X0.astype(np.float32)
    value = mixedad.vjp(f, x32)[0]
    assert value.dtype == np.float32 == reference(name)(x32).dtype
    np.testing.assert_allclose(value, reference(name)(x32), rtol=2e-6, atol=2e-6)  # (float32 rounding)
    grad = mixedad.gradient(loss_for(f), x32)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, mixedad.gradient(loss_for(f), X0), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("name", ["maximum.accumulate", "add.reduceat unordered", "logaddexp.accumulate",
                                  "minimum.reduceat", "divide.accumulate"])
def test_jacobian_of_array_results(name, mode):
    f, x = CASES[name][0], X0[1:].copy()
    out_size = np.size(reference(name)(x))
    expected = np.array([numerical_gradient(lambda z: reference(name)(z).ravel()[i], x).ravel()
                         for i in range(out_size)])
    np.testing.assert_allclose(mixedad.jacobian(f, x, mode=mode).reshape(expected.shape), expected,
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("method, options", [("reduce", {"axis": 1, "keepdims": True}), ("accumulate", {"axis": 1}),
                                             ("reduceat", {"indices": [0, 3, 1], "axis": 2})])
@pytest.mark.parametrize("ufunc", [np.add, np.maximum, np.logaddexp, np.divide])
def test_dtype_option_computes_in_that_dtype(ufunc, method, options):
    options = dict(options)
    indices = options.pop("indices", None)
    rest = () if indices is None else (indices,)

    def f(x, dtype):
        return getattr(ufunc, method)(x, *rest, dtype=dtype, **options)
    for x, dtype in ((X0, np.float32), (X0.astype(np.float32), np.float64)):
        value = mixedad.vjp(lambda x: f(x, dtype), x)[0]
        check_value(value, f(x, dtype), rtol=1e-6)
        grad = mixedad.gradient(loss_for(lambda x: f(x, dtype)), x)
        assert grad.dtype == x.dtype  # the gradient takes the input's dtype
        expected = numerical_gradient(loss_for(lambda x: f(x, None)), X0)  # without the rounding to float32
        np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-5)


# --- conventions where the derivative is not unique ---------------------------------------------
def test_running_maximum_splits_ties_as_np_max_does():
    x = np.array([1.0, 3.0, 3.0, 2.0, 5.0, 5.0, 5.0, 0.0, 5.0])
    weights = np.arange(1.0, 10.0)
    running = mixedad.gradient(lambda x: np.sum(np.maximum.accumulate(x) * weights), x)
    prefixes = mixedad.gradient(lambda x: sum(np.max(x[:i + 1]) * weights[i] for i in range(x.size)), x)
    np.testing.assert_allclose(running, prefixes)
    # by hand: out = [1, 3, 3, 3, 5, 5, 5, 5, 5]; the 3 at index 1 gets weight 2, then shares 3 and 4
    assert running[:4] == pytest.approx([1.0, 2 + 3 / 2 + 4 / 2, 3 / 2 + 4 / 2, 0.0])
    forward = mixedad.jacobian(lambda x: np.maximum.accumulate(x), x, mode="forward") @ np.ones(9)
    np.testing.assert_allclose(forward, np.ones(9))  # a shift of every element shifts every running max


def test_running_minimum_ties_along_an_axis_and_reduceat_ties():
    x = np.array([[2.0, 1.0, 1.0, 4.0, 1.0], [0.5, 0.5, 3.0, 0.2, 0.2], [0.5, np.nan, 0.1, np.nan, 0.2]])
    w = np.arange(15.0).reshape(3, 5)
    np.testing.assert_array_equal(mixedad.vjp(lambda x: np.minimum.accumulate(x, axis=1), x)[0],
                                  np.minimum.accumulate(x, axis=1))  # a NaN wins and stays, as np.min's does
    running = mixedad.gradient(lambda x: np.sum(np.minimum.accumulate(x, axis=1) * w), x)
    prefixes = mixedad.gradient(lambda x: sum(np.sum(np.min(x[:, :i + 1], axis=1) * w[:, i]) for i in range(5)), x)
    np.testing.assert_allclose(running, prefixes)
    grouped = mixedad.gradient(lambda x: np.sum(np.maximum.reduceat(x, [0, 3, 1], axis=1) * w[:, :3]), x)
    slices = mixedad.gradient(lambda x: np.sum(np.max(x[:, 0:3], axis=1) * w[:, 0] + np.max(x[:, 3:4], axis=1)
                                               * w[:, 1] + np.max(x[:, 1:], axis=1) * w[:, 2]), x)
    np.testing.assert_allclose(grouped, slices)


def test_fmax_and_fmin_skip_nan_as_numpy_does():
    x = np.array([np.nan, 1.0, np.nan, 3.0, 2.0])
    for method in ("accumulate", "reduce"):
        value = mixedad.vjp(lambda x: getattr(np.fmax, method)(x), x)[0]
        np.testing.assert_array_equal(value, getattr(np.fmax, method)(x))
    # fmax.accumulate(x) = [nan, 1, 1, 3, 3]: x[1] makes two outputs, x[3] two; NaN entries none
    assert mixedad.gradient(lambda x: np.sum(np.fmax.accumulate(x)), x).tolist() == [0, 2, 0, 2, 0]
    assert mixedad.gradient(lambda x: np.fmin.reduce(x), x).tolist() == [0, 1, 0, 0, 0]
    all_nan = np.full((2, 3), np.nan)
    np.testing.assert_array_equal(mixedad.vjp(lambda x: np.fmin.reduce(x, axis=0), all_nan)[0], np.full(3, np.nan))


# --- edge shapes ---------------------------------------------------------------------------------
def test_zero_dimensional_and_empty_inputs():
    scalar = np.array(0.7)
    for f in (lambda x: np.logaddexp.reduce(x), lambda x: np.hypot.reduce(x, axis=None, initial=0.4),
              lambda x: np.subtract.reduce(x, initial=2.0), lambda x: np.divide.reduce(x, keepdims=True)):
        check_value(mixedad.vjp(f, scalar)[0], f(scalar))
        assert mixedad.gradient(f, scalar) == pytest.approx(numerical_gradient(f, scalar))
    empty = np.zeros((0, 3))
    for f in (lambda x: np.logaddexp.reduce(x, axis=0), lambda x: np.subtract.reduce(x, axis=0, initial=1.0),
              lambda x: np.maximum.accumulate(x, axis=0), lambda x: np.hypot.reduceat(x, [0, 2], axis=1)):
        check_value(mixedad.vjp(f, empty)[0], f(empty))
        assert mixedad.gradient(lambda x: np.sum(f(x)) + np.sum(x), empty).shape == (0, 3)


def test_a_length_one_axis_gives_a_new_array_not_a_view_of_the_input():
    def f(x):
        y = np.arctan2.reduce(x, axis=1)  # one element along the axis: NumPy's result is a copy
        y[0] = 10.0
        z = np.hypot.accumulate(x, axis=1)
        z[1, 0] = 5.0
        return np.sum(x ** 2) + np.sum(y) + np.sum(z)
    x = np.array([[0.5], [1.5]])
    assert mixedad.value_and_gradient(f, x)[0] == pytest.approx(f(x.copy()))
    np.testing.assert_allclose(mixedad.gradient(f, x), numerical_gradient(f, x), rtol=1e-6)


def test_the_tape_grows_with_log_n_for_associative_ufuncs():
    x = np.random.default_rng(4).standard_normal(1024)
    for f in (lambda x: np.logaddexp.reduce(x), lambda x: np.sum(np.hypot.accumulate(x) * x)):
        entries = len(mixedad.profile(f, x).entries)
        assert entries <= 8 * math.log2(x.size), entries  # a fold would make one per element
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.logaddexp.reduce(x), x),
                               np.exp(x - np.logaddexp.reduce(x)), rtol=1e-10)


# --- results without a derivative, and errors ----------------------------------------------------
def test_integer_and_boolean_results_are_plain_arrays_as_numpy_gives_them():
    seen = []

    def f(x):
        results = [np.logical_and.reduce(x, axis=0), np.logical_or.accumulate(x - 1.0, axis=1),
                   np.logical_xor.reduceat(x, [0, 2], axis=1), np.add.reduce(x, axis=1, dtype=int),
                   np.floor_divide.reduce(x + 1.0, axis=0)]
        seen.append(results)
        return np.sum(x ** 2)
    x = np.array([[0.6, 1.5, 2.7], [1.0, 0.0, 3.5]])  # dtype=int casts each element first: 3, not 4
    f(x)
    expected = seen.pop()
    np.testing.assert_allclose(mixedad.gradient(f, x), 2 * x)
    assert mixedad.jvp(f, (x,), (np.ones_like(x),))[1] == pytest.approx(2 * np.sum(x))
    assert len(seen) == 2
    for results in seen:
        for result, reference_result in zip(results, expected):
            assert type(result) is np.ndarray
            assert result.dtype == reference_result.dtype
            np.testing.assert_array_equal(result, reference_result)


NUMPY_ERRORS = [lambda x: np.subtract.reduce(x, axis=(0, 1)), lambda x: np.maximum.reduce(x, where=x > 1.0),
                lambda x: np.sin.reduce(x), lambda x: np.divmod.reduce(x), lambda x: np.add.accumulate(x, axis=None),
                lambda x: np.add.reduceat(x, [0, 5], axis=1), lambda x: np.logaddexp.accumulate(x[0, 0]),
                lambda x: np.bitwise_and.reduce(x), lambda x: np.greater.accumulate(x),
                lambda x: np.hypot.reduce(x, where=np.ones(2, bool)), lambda x: np.logaddexp.reduce(x, axis=2)]


@pytest.mark.parametrize("index", range(len(NUMPY_ERRORS)))
def test_what_numpy_refuses_raises_numpys_error(index):
    f, x = NUMPY_ERRORS[index], np.ones((3, 4))
    with pytest.raises(Exception) as numpy_error:
        f(x)
    for call in (lambda: mixedad.gradient(lambda x: np.sum(f(x)), x),
                 lambda: mixedad.jvp(lambda x: np.sum(f(x)), (x,), (x,))):
        with pytest.raises(type(numpy_error.value), match=re.escape(str(numpy_error.value)[:40])):
            call()


@pytest.mark.parametrize("f, error, match", [
    (lambda x: np.logaddexp.reduce(x, out=np.zeros(4)), InPlaceMutationError, "out="),
    (lambda x: np.add.reduceat(x, x[0]), NonDifferentiableError, "indices of np.add.reduceat"),
    (lambda x: np.add.reduce(x, dtype=complex), UnsupportedOperationError, "complex"),
    (lambda x: scipy.special.ellipkinc.reduce(x, axis=0), UnsupportedOperationError, r"ellipkinc\.reduce"),
])
def test_what_mixedad_cannot_differentiate_raises_naming_the_line(f, error, match):
    with pytest.raises(error, match=match) as info:
        mixedad.gradient(lambda x: np.sum(f(x)), np.full((3, 4), 0.5))
    assert "test_ufunc_methods.py" in str(info.value)


# --- hypothesis: shapes, axes, options and indices ----------------------------------------------
REORDERABLE = [np.add, np.multiply, np.maximum, np.minimum, np.fmax, np.fmin, np.logaddexp, np.logaddexp2, np.hypot]
FOLDED = [np.subtract, np.divide, np.power, np.arctan2]
values = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
                    elements=st.integers(0, 1500).map(lambda k: 0.5 + k / 1000), unique=True)
# distinct on a grid of 0.001: no ties, and no near-ties that the differences' step would straddle


def check_program(f, reference_f, x):
    check_value(mixedad.vjp(f, x.copy())[0], reference_f(x.copy()), rtol=1e-11)
    loss = loss_for(f)
    expected = numerical_gradient(loss_for(reference_f), x)
    for mode in ("auto", "reverse"):
        np.testing.assert_allclose(mixedad.gradient(loss, x.copy(), mode=mode), expected, rtol=1e-5, atol=1e-7)


def numpy_reduce(ufunc, axis, keepdims, initial):
    options = {"axis": axis, "keepdims": keepdims}
    if initial is not None:
        options["initial"] = initial
    if ufunc in (np.power, np.arctan2) and initial is None:  # see CASES: NumPy's own reduce is off
        def reference_f(x):
            x = np.asarray(x)
            folded = sequential_reduce(ufunc, x, axis)
            return np.expand_dims(folded, axis) if keepdims else folded
        return lambda x: ufunc.reduce(x, **options), reference_f
    return (lambda x: ufunc.reduce(x, **options),) * 2


@settings(deadline=None)
@given(values, st.sampled_from(REORDERABLE + FOLDED), st.booleans(), st.data())
def test_random_reductions(x, ufunc, keepdims, data):
    ndim = x.ndim
    if ufunc in REORDERABLE:
        axis = data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                                   st.lists(st.integers(0, ndim - 1), unique=True).map(tuple)))
    else:
        axis = data.draw(st.integers(-ndim, ndim - 1))
    initial = data.draw(st.one_of(st.none(), st.floats(0.6, 1.9))) if ufunc not in (np.power, np.arctan2) else None
    f, reference_f = numpy_reduce(ufunc, axis, keepdims, initial)
    check_program(f, reference_f, x)


@settings(deadline=None)
@given(values, st.sampled_from(REORDERABLE + FOLDED), st.data())
def test_random_accumulations(x, ufunc, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    f = lambda x: ufunc.accumulate(x, axis=axis)  # noqa: E731
    check_program(f, f, x)


@settings(deadline=None)
@given(values, st.sampled_from(REORDERABLE + [np.subtract, np.divide]), st.data())
def test_random_reduceat_indices(x, ufunc, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    indices = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6))
    f = lambda x: ufunc.reduceat(x, indices, axis=axis)  # noqa: E731
    check_program(f, f, x)
