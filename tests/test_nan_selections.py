"""Gradients of order statistics of data holding a NaN.

NumPy's max, min, median, quantile and percentile of a slice with a NaN are NaN: the NaN is
what they select. mixedad gives the cotangent of such a result to the slice's NaNs, shared
evenly as ties are (one NaN: the derivative of selecting it, ``x[k]``), and none to the other
elements (a finite gradient of a NaN value, or a zero one, would hide where the NaN came from). Slices
without a NaN keep their ordinary derivatives, checked by central differences, and the NaN-aware
forms (nanmedian, nanquantile) differentiate their non-NaN elements, also checked by central
differences.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixedad
from numerical import numerical_gradient

MODES = ("auto", "reverse", "forward")
SELECTIONS = {
    "max": lambda x, axis: np.max(x, axis=axis),
    "min": lambda x, axis: np.min(x, axis=axis),
    "median": lambda x, axis: np.median(x, axis=axis),
    "quantile 0.3": lambda x, axis: np.quantile(x, 0.3, axis=axis),
    "percentile 10, 90": lambda x, axis: np.percentile(x, [10, 90], axis=axis),
    "quantile nearest": lambda x, axis: np.quantile(x, 0.6, axis=axis, method="nearest"),
    "quantile weibull": lambda x, axis: np.quantile(x, 0.45, axis=axis, method="weibull"),
}


def nans_selected(x, axis, weight):
    """The gradient of sum(weight * mean(the NaNs of each slice along axis))."""
    moved = np.moveaxis(np.isnan(x), axis, -1)
    share = moved / np.maximum(np.count_nonzero(moved, axis=-1, keepdims=True), 1)
    return np.moveaxis(share * weight[..., None], -1, axis)


@pytest.mark.parametrize("name", sorted(SELECTIONS))
@pytest.mark.parametrize("axis", [0, 1])
def test_a_nan_in_a_slice_takes_its_gradient(name, axis):
    select = SELECTIONS[name]
    rng = np.random.default_rng(7)
    x = rng.permutation(np.arange(20.0)).reshape(4, 5) + rng.uniform(0, 0.5, size=(4, 5))
    x[1, 2] = x[1, 4] = x[3, 2] = np.nan  # two NaNs in row 1, in column 2
    with np.errstate(invalid="ignore"):
        value = select(x, axis)
    weights = rng.uniform(1, 2, size=np.shape(value))
    has_nan = np.isnan(x).any(axis=axis)
    f = lambda x: np.sum(weights * select(x, axis))  # noqa: E731
    expected_at_nans = nans_selected(x, axis, np.sum(weights * has_nan, axis=tuple(range(value.ndim - 1))))

    clean = x.copy()
    clean[np.isnan(clean)] = 0.0  # a stand-in value: only the slices without a NaN are compared below
    clean_slices = np.expand_dims(~has_nan, axis) & np.ones(x.shape, bool)
    expected_elsewhere = numerical_gradient(f, clean)
    for mode in MODES:
        gradient = mixedad.gradient(f, x.copy(), mode=mode)
        np.testing.assert_allclose(gradient[~clean_slices], expected_at_nans[~clean_slices], rtol=1e-15, err_msg=mode)
        np.testing.assert_allclose(gradient[clean_slices], expected_elsewhere[clean_slices], atol=1e-6, err_msg=mode)


@pytest.mark.parametrize("name", ["median", "quantile 0.3", "percentile 10, 90"])
def test_a_mask_of_the_nan_result_gives_a_finite_gradient(name):
    select = SELECTIONS[name]
    x = np.array([[3.0, np.nan, 1.0, 2.0], [0.5, 1.5, 4.0, 2.5]])
    f = lambda x: np.sum(np.nan_to_num(select(x, 1)))  # noqa: E731
    expected = numerical_gradient(lambda row: np.sum(select(row, 0)), x[1])
    for mode in MODES:
        gradient = mixedad.gradient(f, x.copy(), mode=mode)
        np.testing.assert_array_equal(gradient[0], 0.0, err_msg=mode)
        np.testing.assert_allclose(gradient[1], expected, atol=1e-6, err_msg=mode)


def test_a_prepared_gradient_follows_the_nan_to_a_new_place():
    f = lambda x: np.median(x) + np.percentile(x, 25)  # noqa: E731
    prepared = mixedad.prepare(f, np.array([1.0, 4.0, 2.0, 3.0, 5.0]))
    for nan_at in (0, 3):
        x = np.array([1.0, 4.0, 2.0, 3.0, 5.0])
        x[nan_at] = np.nan
        np.testing.assert_array_equal(prepared.gradient(x), 2.0 * (np.arange(5) == nan_at))
    np.testing.assert_allclose(prepared.gradient(np.array([1.0, 4.0, 2.0, 3.0, 5.0])),
                               numerical_gradient(f, np.array([1.0, 4.0, 2.0, 3.0, 5.0])), atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 7), st.integers(1, 3), st.floats(0.0, 1.0), st.data())
def test_nan_aware_forms_differentiate_the_other_elements(n, nans, q, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    x = rng.permutation(n + nans).astype(np.float64) + rng.uniform(0, 0.5, size=n + nans)
    nan_positions = data.draw(st.lists(st.integers(0, n + nans - 1), min_size=nans, max_size=nans, unique=True))
    x[nan_positions] = np.nan
    present = ~np.isnan(x)
    for function in (lambda x: np.nanquantile(x, q), np.nanmedian, lambda x: np.nanpercentile(x, 100 * q)):
        expected = numerical_gradient(lambda y: function(np.where(present, y, np.nan)),
                                      x.copy())
        for mode in MODES:
            gradient = mixedad.gradient(function, x.copy(), mode=mode)
            np.testing.assert_array_equal(gradient[~present], 0.0)
            np.testing.assert_allclose(gradient[present], expected[present], atol=1e-6, err_msg=mode)
