"""Reductions with NumPy's where= and initial=, and the NaN-aware forms with a mask.

Values are compared with NumPy's own result on plain arrays; gradients with central finite
differences in float64, in every mode. Shapes, axes, keepdims and masks are drawn by
hypothesis; masks have the input's shape or a trailing part of it (NumPy broadcasts them).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import mixedad
from numerical import numerical_gradient
from test_rules_reductions import check_against_fd, reduction_cases, values

# Values of kind "distinct" are k/2 + U(-0.1, 0.1): an initial of 0.25 + k/2 never ties with one.
MASKED = {
    "max initial": (lambda x, m, a, k: np.max(x, axis=a, keepdims=k, initial=0.25), "distinct"),
    "max where": (lambda x, m, a, k: np.max(x, axis=a, keepdims=k, where=m, initial=-0.75), "distinct"),
    "amin where": (lambda x, m, a, k: np.amin(x, axis=a, keepdims=k, where=m, initial=1.25), "distinct"),
    "method max where": (lambda x, m, a, k: x.max(axis=a, keepdims=k, where=m, initial=-0.75), "distinct"),
    "prod where": (lambda x, m, a, k: np.prod(x, axis=a, keepdims=k, where=m), "nonzero"),
    "prod initial": (lambda x, m, a, k: np.prod(x, axis=a, keepdims=k, initial=1.5), "nonzero"),
    "var where": (lambda x, m, a, k: np.var(x, axis=a, keepdims=k, where=m), "normal"),
    "var where ddof": (lambda x, m, a, k: np.var(x, axis=a, keepdims=k, where=m, ddof=1), "normal"),
    "std where": (lambda x, m, a, k: np.std(x, axis=a, keepdims=k, where=m), "normal"),
    "nansum where": (lambda x, m, a, k: np.nansum(x, axis=a, keepdims=k, where=m, initial=0.5), "normal"),
    "nanmean where": (lambda x, m, a, k: np.nanmean(x, axis=a, keepdims=k, where=m), "normal"),
    "nanvar where": (lambda x, m, a, k: np.nanvar(x, axis=a, keepdims=k, where=m), "normal"),
    "nanstd where": (lambda x, m, a, k: np.nanstd(x, axis=a, keepdims=k, where=m), "normal"),
    "nanprod where": (lambda x, m, a, k: np.nanprod(x, axis=a, keepdims=k, where=m), "nonzero"),
    "nanmax where": (lambda x, m, a, k: np.nanmax(x, axis=a, keepdims=k, where=m, initial=-0.75), "distinct"),
    "nanmin initial": (lambda x, m, a, k: np.nanmin(x, axis=a, keepdims=k, initial=0.25), "distinct"),
}
_NEEDS_TWO = {"var where ddof"}  # ddof=1: every slice needs two selected elements
# NumPy warns and gives NaN where a slice selects nothing
_NEEDS_ONE = {"var where", "std where", "nanmean where", "nanvar where", "nanstd where"}


def _mask(shape, seed, trailing: bool):
    rng = np.random.default_rng(seed + 1)
    mask_shape = shape[1:] if trailing and shape else shape
    return rng.random(mask_shape) < 0.6


def _selected_per_slice(mask, shape, axis):
    counts = np.sum(np.broadcast_to(mask, shape), axis=axis)
    return np.min(counts) if np.size(counts) else 0


@pytest.mark.parametrize("name", sorted(MASKED))
@settings(max_examples=12, deadline=None)
@given(case=reduction_cases(), trailing=st.booleans())
def test_masked_reduction_values_and_gradients(name, case, trailing):
    shape, axis, keepdims, seed = case
    fn, kind = MASKED[name]
    x = values(kind, shape, seed)
    mask = _mask(shape, seed, trailing)
    if name in _NEEDS_TWO:
        assume(_selected_per_slice(mask, shape, axis) >= 2)
    if name in _NEEDS_ONE:
        assume(_selected_per_slice(mask, shape, axis) >= 1)
    np.testing.assert_allclose(mixedad.value_and_gradient(lambda x: np.sum(fn(x, mask, axis, keepdims)), x)[0],
                               np.sum(fn(x, mask, axis, keepdims)), rtol=1e-12)
    check_against_fd(lambda x: fn(x, mask, axis, keepdims), x, rtol=1e-5, atol=1e-7)


def test_nan_aware_forms_leave_the_nans_and_the_unselected_out():
    x = np.array([[0.5, np.nan, -1.5, 2.0], [np.nan, 1.0, 3.0, -0.5]])
    mask = np.array([True, True, False, True])
    for fn in (lambda x: np.nansum(x * x, where=mask), lambda x: np.nanmean(x * x, axis=1, where=mask),
               lambda x: np.nanmax(x, axis=1, where=mask, initial=-5.0), lambda x: np.nanvar(x, where=mask)):
        got = mixedad.gradient(lambda x: np.sum(fn(x)), x)
        clean = np.where(np.isnan(x), 0.0, x)  # the NaN entries' gradient is 0: differentiate the rest
        expected = np.zeros_like(x)
        for i, j in zip(*np.nonzero(~np.isnan(x))):
            step = np.zeros_like(x)
            step[i, j] = 1e-6
            expected[i, j] = (np.sum(fn(np.where(np.isnan(x), np.nan, clean + step)))
                              - np.sum(fn(np.where(np.isnan(x), np.nan, clean - step)))) / 2e-6
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
        assert np.all(got[np.isnan(x)] == 0) and np.all(got[:, 2] == 0)  # left out: no cotangent


def test_float32_stays_float32_under_a_mask():
    x = np.linspace(-1.0, 2.0, 12, dtype=np.float32).reshape(3, 4)
    mask = np.array([True, False, True, True])
    for fn in (lambda x: np.max(x, axis=0, where=mask, initial=0.0), lambda x: np.std(x, axis=1, where=mask),
               lambda x: np.prod(x + 2, where=mask, initial=2.0)):
        value, grad = mixedad.value_and_gradient(lambda x: np.sum(fn(x)), x)
        assert grad.dtype == np.float32 and np.asarray(value).dtype == np.float32
        assert np.asarray(value) == pytest.approx(float(np.sum(fn(x))), rel=1e-6)


def test_an_empty_reduction_gives_initial_and_a_zero_gradient():
    x = np.zeros((0, 3))
    value, grad = mixedad.value_and_gradient(lambda x: np.sum(np.max(x, axis=0, initial=2.0) + np.sum(x)), x)
    assert value == 6.0 and grad.shape == (0, 3)
    value, grad = mixedad.value_and_gradient(lambda x: np.max(x, where=np.zeros(3, bool), initial=-1.0),
                                             np.array([1.0, 2.0, 3.0]))
    assert value == -1.0 and np.all(grad == 0)  # nothing selected: the result is initial, a constant


def test_std_under_a_mask_with_one_selected_element_has_a_zero_gradient():
    # zero variance: std's convention (its derivative is infinite in every direction but one)
    grad = mixedad.gradient(lambda x: np.std(x, where=np.array([False, True, False])), np.array([1.0, 2.0, 3.0]))
    assert np.all(grad == 0)


@pytest.mark.parametrize("fn, message", [
    (lambda x: np.max(x, where=x > 0), "needs initial="),
    (lambda x: np.min(x, where=np.ones((2, 3), bool), initial=0.0), "does not broadcast"),
    (lambda x: np.var(x, where=np.ones(4, bool)), "does not broadcast"),
])
def test_bad_masks_raise_as_numpy_does(fn, message):
    with pytest.raises(ValueError):
        fn(np.ones(3))  # NumPy refuses these too
    with pytest.raises(ValueError, match=message):
        mixedad.gradient(fn, np.ones(3))


# A NaN-aware reduction of a function of differentiated values, with a NaN in the data: the
# NaN entry's tangent is NaN too, and must not count (it is skipped), in forward mode as in
# reverse. Reference: the gradient (reverse mode, checked against finite differences above).
NAN_DATA_REDUCTIONS = {"nanmean": np.nanmean, "nanmax": np.nanmax, "nanmin": np.nanmin, "nanvar": np.nanvar,
                       "nanstd": np.nanstd, "nanvar ddof": lambda a: np.nanvar(a, ddof=1),
                       "nanptp": lambda a: np.nanmax(a) - np.nanmin(a), "nanmedian": np.nanmedian}


@pytest.mark.parametrize("name", list(NAN_DATA_REDUCTIONS))
def test_nan_aware_reductions_skip_the_nan_entrys_tangent_in_forward_mode(name):
    reduce = NAN_DATA_REDUCTIONS[name]
    data = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [2.0, 1.5]])
    targets = np.array([1.0, np.nan, 2.0, 0.25])  # a missing target

    def loss(w):
        return reduce((data @ w - targets) ** 2)

    w, v = np.array([0.3, -0.2]), np.array([1.0, 0.5])
    gradient = mixedad.gradient(loss, w)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(gradient, numerical_gradient(loss, w), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(mixedad.jvp(loss, (w,), (v,))[1], gradient @ v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mixedad.jacobian(lambda w: loss(w) * w, w, mode="forward"),
                               mixedad.jacobian(lambda w: loss(w) * w, w, mode="reverse"), rtol=1e-12, atol=1e-12)
    eps = 1e-6
    np.testing.assert_allclose(mixedad.hvp(loss, w, v),
                               (mixedad.gradient(loss, w + eps * v) - mixedad.gradient(loss, w - eps * v)) / (2 * eps),
                               rtol=1e-5, atol=1e-6)


FLOAT32_KEEPING = {
    "sum initial": lambda x, m: np.sum(x, initial=np.float64(1.5)),
    "sum where initial": lambda x, m: np.sum(x, axis=1, where=m, initial=np.float64(0.5)),
    "sum where": lambda x, m: np.sum(x, where=m),
    "mean where": lambda x, m: np.mean(x, axis=0, where=m),
    "prod initial": lambda x, m: np.prod(x, axis=0, initial=np.float64(2.0)),
    "max where initial": lambda x, m: np.max(x, axis=1, where=m, initial=np.float64(-0.75)),
    "min initial": lambda x, m: np.min(x, initial=np.float64(0.25)),
    "nansum initial": lambda x, m: np.nansum(x, initial=np.float64(0.5)),
    "nan_to_num": lambda x, m: np.nan_to_num(x / m, nan=np.float64(0.5), posinf=np.float64(2.0)),
}


@pytest.mark.parametrize("name", list(FLOAT32_KEEPING))
def test_float64_scalars_in_float32_reductions_keep_numpys_dtype_and_bits(name):
    """NumPy casts initial=/nan= scalars into the reduction's dtype, and sums where= masks in its
    own loop (whose rounding differs from a sum of np.where(mask, x, 0))."""
    op = FLOAT32_KEEPING[name]
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((40, 30)) * 3).astype(np.float32)
    m = rng.random((40, 30)) > 0.3
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = op(x, m)
        value, pullback = mixedad.vjp(lambda x: op(x, m), x)
    assert value.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(value, expected)
    assert pullback(np.ones_like(expected))[0].dtype == np.float32
    x64 = x[:4, :3].astype(np.float64)
    f = lambda x: np.sum(np.sin(op(x, m[:4, :3])))
    with np.errstate(divide="ignore", invalid="ignore"):
        for mode in ("auto", "reverse", "forward"):
            np.testing.assert_allclose(mixedad.gradient(f, x64, mode=mode), numerical_gradient(f, x64),
                                       rtol=1e-6, atol=1e-8)


def test_a_float16_mean_with_where_adds_up_in_float32_as_numpy_does():
    rng = np.random.default_rng(11)
    for _ in range(20):
        x = rng.standard_normal((6, 7)).astype(np.float16)
        m = rng.random((6, 7)) > 0.4
        f = lambda x: np.mean(x * x, axis=1, where=m)
        value, pullback = mixedad.vjp(f, x)
        assert value.dtype == np.float16
        np.testing.assert_array_equal(value, f(x))


MEAN_GIVEN = {
    "var about the row means": lambda x: np.sum(np.var(x, axis=1, mean=np.mean(x, axis=1, keepdims=True))),
    "std, ddof=1, column means": lambda x: np.sum(np.std(x, axis=0, ddof=1, mean=np.mean(x, axis=0, keepdims=True))),
    "var about a constant, keepdims": lambda x: np.sum(np.var(x, axis=(0, 1), keepdims=True,
                                                              mean=np.full((1, 1), 0.3))),
    "var about half the mean": lambda x: np.var(x, mean=np.mean(x, keepdims=True) * 0.5),
    "std about the medians, correction=1": lambda x: np.sum(np.std(x, axis=1, mean=np.median(x, axis=1, keepdims=True),
                                                                  correction=1)),
}


@pytest.mark.parametrize("name", MEAN_GIVEN)
@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_var_and_std_with_a_given_mean_differentiate_the_mean_too(name, mode):
    """NumPy 2's mean= (raised before; found porting JAX's tests): the mean is an operand."""
    f = MEAN_GIVEN[name]
    x = np.random.default_rng(0).standard_normal((3, 4))
    value, grad = mixedad.value_and_gradient(f, x, mode=mode)
    assert value == pytest.approx(f(x), rel=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=1e-6, atol=1e-8)
    single = x.astype(np.float32)
    value, grad = mixedad.value_and_gradient(f, single, mode=mode)
    assert np.result_type(value) == np.result_type(f(single)) and grad.dtype == np.float32
