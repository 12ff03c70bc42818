"""Rules added for NumPy's utility functions: gathers decided by values or shapes (unique,
partition, compress, insert, resize), differences and spacings (gradient, ediff1d, unwrap),
fits and conditioning (polyfit, cond), NaN-aware order statistics, apply_along_axis, and the
ndarray methods that reach them. Values are compared with NumPy's; gradients with central
finite differences in float64, in every mode.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixedad
from numerical import numerical_gradient, random_projection_loss

MODES = ("auto", "reverse", "forward")


def distinct(*shape, seed=0):
    """Well-separated distinct values: orderings survive finite-difference steps."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) / n + 0.1).reshape(shape) * 3 - 1.2


def check(f, x, rtol=1e-6, atol=1e-8, modes=MODES):
    """f(traced x) equals f(x) from NumPy, and its gradient matches finite differences."""
    reference = f(x)
    loss = random_projection_loss(lambda v: np.concatenate([np.ravel(p) for p in f(v)])
                                  if isinstance(reference, tuple) else f(v),
                                  np.shape(np.concatenate([np.ravel(p) for p in reference])
                                           if isinstance(reference, tuple) else reference))
    expected = numerical_gradient(loss, x)
    for mode in modes:
        value, got = mixedad.value_and_gradient(loss, x, mode=mode)
        np.testing.assert_allclose(value, loss(x), rtol=1e-12, atol=1e-12, err_msg=mode)
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=mode)


GATHERS = {
    "unique of distinct values": (lambda x: np.unique(x), distinct(7)),
    "unique along an axis": (lambda x: np.unique(x, axis=0), distinct(3, 4)),
    "unique_values": (lambda x: np.unique_values(x), distinct(2, 3)),
    "partition": (lambda x: np.partition(x, 2, axis=1), distinct(3, 5)),
    "partition of the flattened array": (lambda x: np.partition(x, [1, 4], axis=None), distinct(2, 4)),
    "compress": (lambda x: np.compress([True, False, True], x, axis=1), distinct(2, 3)),
    "compress a flattened array": (lambda x: np.compress(x.ravel() > 0, x), distinct(3, 3)),
    "compress method": (lambda x: x.compress([False, True], axis=0), distinct(2, 3)),
    "insert traced values": (lambda x: np.insert(x, [1, 3], x[:2] * 10), distinct(5)),
    "insert a constant along an axis": (lambda x: np.insert(x, 1, 5.0, axis=1), distinct(2, 3)),
    "resize larger": (lambda x: np.resize(x, (3, 5)), distinct(2, 3)),
    "resize smaller": (lambda x: np.resize(x, 4), distinct(2, 3)),
}


@pytest.mark.parametrize("name", GATHERS)
def test_gathers_match_numpy_and_finite_differences(name):
    f, x = GATHERS[name]
    check(f, x)


def test_unique_sends_the_derivative_to_the_first_occurrence_and_returns_numpy_extras():
    x = np.array([0.5, -1.0, 0.5, 2.0, -1.0])
    weights = np.array([1.0, 10.0, 100.0])  # on the unique values -1, 0.5, 2
    for mode in MODES:
        values_index_inverse_counts = mixedad.gradient(
            lambda v: np.sum(np.unique(v, return_index=True, return_inverse=True, return_counts=True)[0] * weights),
            x, mode=mode)
        np.testing.assert_array_equal(values_index_inverse_counts, [10.0, 1.0, 0.0, 100.0, 0.0])
    seen = {}

    def f(v):
        results = np.unique(v, return_index=True, return_inverse=True, return_counts=True)
        seen["extras"] = results[1:]
        return np.sum(results[0])
    mixedad.gradient(f, x)
    for got, expected in zip(seen["extras"], np.unique(x, return_index=True, return_inverse=True,
                                                        return_counts=True)[1:]):
        np.testing.assert_array_equal(got, expected)


def test_unique_all_counts_are_numpys_and_values_are_differentiated():
    x = np.array([3.0, 1.0, 3.0, 2.0])
    gradient = mixedad.gradient(lambda v: np.sum(np.unique_all(v).values * np.unique_all(v).counts), x)
    np.testing.assert_array_equal(gradient, [2.0, 1.0, 0.0, 1.0])


# --- differences, spacings ------------------------------------------------------------------
SPACING_CASES = {
    "unit spacing": ((), {}),
    "scalar spacing, second-order edges": ((0.5,), {"edge_order": 2}),
    "coordinates": ((np.array([0.0, 0.3, 1.0, 1.2, 2.0, 3.1]),), {}),
    "coordinates, second-order edges": ((np.array([0.0, 0.3, 1.0, 1.2, 2.0, 3.1]),), {"edge_order": 2}),
}


@pytest.mark.parametrize("name", SPACING_CASES)
def test_gradient_of_np_gradient_along_one_axis(name):
    args, kwargs = SPACING_CASES[name]
    x = np.sin(distinct(6) * 2)
    check(lambda v: np.gradient(v, *args, **kwargs), x)


def test_np_gradient_over_several_axes_returns_numpys_tuple():
    x = distinct(4, 5)
    f = lambda v: np.gradient(v ** 3, 0.5, 2.0, edge_order=2)  # noqa: E731
    check(f, x)
    check(lambda v: np.gradient(v ** 3, axis=-1), x)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(3, 9), edge_order=st.sampled_from([1, 2]), seed=st.integers(0, 2**16),
       uniform=st.booleans())
def test_np_gradient_values_equal_numpys(n, edge_order, seed, uniform):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    spacing = 0.7 if uniform else np.cumsum(rng.uniform(0.1, 1.0, n))

    def f(v):
        value = np.gradient(v, spacing, axis=0, edge_order=edge_order)
        return np.sum(value), value
    for mode in MODES:
        _, value = mixedad.gradient(f, x, mode=mode, has_aux=True)
        np.testing.assert_allclose(value, np.gradient(x, spacing, axis=0, edge_order=edge_order),
                                   rtol=1e-12, atol=1e-12)


def test_ediff1d_diagflat_logspace_unwrap():
    x = distinct(5)
    check(lambda v: np.ediff1d(v ** 2, to_begin=v[0], to_end=[1.0, 2.0]), x)
    check(lambda v: np.diagflat(v[:4].reshape(2, 2), k=-1), x)
    check(lambda v: np.logspace(v[0], v[1], 4, base=3.0), x)
    phases = np.array([0.0, 3.0, 6.2, 9.5, 12.4])  # jumps of more than pi: NumPy corrects them
    check(lambda v: np.unwrap(v + phases), x * 0.1)


def test_frexp_mantissa_and_exponent():
    x = np.array([0.3, -5.0, 1e-3, 700.0])
    check(lambda v: np.frexp(v)[0], x)
    _, exponent = mixedad.gradient(lambda v: (np.sum(np.frexp(v)[0]), np.frexp(v)[1]), x, has_aux=True)
    np.testing.assert_array_equal(exponent, np.frexp(x)[1])


def test_polyfit_in_the_data_and_cond():
    t = np.linspace(0.0, 2.0, 7)
    check(lambda y: np.polyfit(t, y, 2), np.cos(t) + distinct(7) * 0.1, rtol=1e-5)
    check(lambda y: np.polyfit(t, y, 1, w=np.arange(1.0, 8.0)), np.cos(t), rtol=1e-5)
    a = distinct(3, 3) + 2 * np.eye(3)
    for p in (None, 2, -2, 1, "fro", np.inf):
        check(lambda m: np.linalg.cond(m, p), a, rtol=1e-5)


def test_apply_along_axis_scalar_and_vector_results():
    x = distinct(3, 4)
    check(lambda v: np.apply_along_axis(lambda row: np.sum(row ** 2) * row[0], 1, v), x)
    check(lambda v: np.apply_along_axis(lambda column: np.cumsum(column)[::-1], 0, v), x)
    check(lambda v: np.apply_along_axis(lambda row: np.outer(row, row[:2]), 1, v), x)


# --- NaN-aware order statistics ---------------------------------------------------------------
def with_nans():
    x = distinct(4, 5)
    x[0, 1] = x[3, 0] = x[3, 2] = np.nan
    return x


@pytest.mark.parametrize("f", [
    lambda v: np.nanmedian(v, axis=1),
    lambda v: np.nanmedian(v),
    lambda v: np.nanquantile(v, [0.1, 0.75], axis=0, keepdims=True),
    lambda v: np.nanpercentile(v, 35, axis=-1),
], ids=["nanmedian axis", "nanmedian", "nanquantile keepdims", "nanpercentile"])
def test_nan_order_statistics_skip_nans(f):
    x = with_nans()
    finite = ~np.isnan(x)
    reference = f(x)
    w = np.random.default_rng(1).standard_normal(np.shape(reference))
    loss = lambda v: np.sum(f(v) * w)  # noqa: E731

    def loss_of_finite(values):
        full = x.copy()
        full[finite] = values
        return loss(full)
    expected = numerical_gradient(loss_of_finite, x[finite])
    for mode in MODES:
        value, got = mixedad.value_and_gradient(loss, x, mode=mode)
        np.testing.assert_allclose(value, loss(x), rtol=1e-12)
        np.testing.assert_allclose(got[finite], expected, rtol=1e-6, atol=1e-8)
        assert np.all(got[~finite] == 0)


def test_all_nan_slice_gives_nan_like_numpy():
    x = np.array([[np.nan, np.nan], [1.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanmedian(x, axis=1)
        gradient, median = mixedad.gradient(lambda v: (np.nansum(np.nanmedian(v, axis=1)), np.nanmedian(v, axis=1)),
                                            x, has_aux=True)
    np.testing.assert_array_equal(median, expected)  # NaN where NumPy has NaN
    np.testing.assert_array_equal(gradient, [[0.0, 0.0], [0.5, 0.5]])


# --- elementwise functions that were taken as having no derivative ------------------------------
def test_nextafter_and_heaviside_derivatives():
    x = np.array([0.3, -1.0, 2.0])
    check(lambda v: np.nextafter(v, 10.0) * v, x)
    h = np.array([0.25, 0.5, 0.75])
    steps = np.array([0.0, 1.0, -1.0])
    for mode in MODES:
        np.testing.assert_array_equal(mixedad.gradient(lambda hh: np.sum(np.heaviside(steps, hh)), h, mode=mode),
                                      [1.0, 0.0, 0.0])


# --- ndarray methods ------------------------------------------------------------------------
def test_ndarray_methods_round_diagonal_trace_imag_divmod():
    x = distinct(3, 3)
    check(lambda v: v.round(1) * v + v.imag, x)
    check(lambda v: v.diagonal(1) * v.trace(), x)
    check(lambda v: divmod(v, 0.7)[1] + divmod(2.0, v + 2)[1], x)
    assert mixedad.gradient(lambda v: v.nbytes * np.sum(v), x)[0, 0] == x.nbytes


@pytest.mark.parametrize("method, args", [("sort", ()), ("fill", (0.0,)), ("put", ([0], [1.0])),
                                          ("resize", ((9,),)), ("partition", (1,))])
def test_in_place_methods_raise_naming_the_functional_form(method, args):
    def f(v):
        getattr(v, method)(*args)
        return np.sum(v)
    with pytest.raises(mixedad.InPlaceMutationError, match=f"x.{method}\\(\\).*test_rules_utilities.py"):
        mixedad.gradient(f, distinct(3))


@pytest.mark.parametrize("f", [
    lambda x: np.linalg.cross(x[:, :3], x[:, 1:]),
    lambda x: np.linalg.matrix_transpose(x) * np.arange(8.0).reshape(4, 2),
    lambda x: np.real_if_close(x) ** 3,
    lambda x: np.degrees(x) + np.radians(x) ** 2,
], ids=["linalg.cross", "linalg.matrix_transpose", "real_if_close", "degrees, radians"])
def test_array_api_spellings_and_aliases(f):
    check(f, distinct(2, 4))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 12), bins=st.integers(1, 5), extra=st.integers(0, 3), seed=st.integers(0, 2 ** 16))
def test_bincount_with_weights_is_a_scatter_of_them(n, bins, extra, seed):
    index = np.random.default_rng(seed).integers(0, bins, n)
    check(lambda w: np.bincount(index, weights=w, minlength=bins + extra), distinct(n, seed=seed))
    check(lambda w: np.bincount(index, w * w), distinct(n, seed=seed))


def test_bincount_without_weights_and_with_mismatched_weights():
    index = np.array([0, 2, 2])
    counts = mixedad.gradient(lambda w: np.sum(w) * np.bincount(index)[2], np.ones(3))
    np.testing.assert_allclose(counts, [2.0, 2.0, 2.0])  # the counts are plain numbers
    with pytest.raises(ValueError, match="same shape"):
        mixedad.gradient(lambda w: np.sum(np.bincount(index, weights=w)), np.ones(4))
