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
from numpy_versions import NUMPY_VERSION, needs_numpy

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


def test_unique_of_distinct_values_gathers_them_and_returns_numpy_extras():
    x = np.array([0.5, -1.0, 2.0, -1.5])
    weights = np.array([1.0, 10.0, 100.0, 1000.0])  # on the sorted unique values
    order = np.argsort(x)
    for mode in MODES:
        got = mixedad.gradient(
            lambda v: np.sum(np.unique(v, return_index=True, return_inverse=True, return_counts=True)[0] * weights),
            x, mode=mode)
        np.testing.assert_array_equal(got[order], weights, err_msg=mode)
    seen = {}

    def f(v):
        results = np.unique(v, return_index=True, return_inverse=True, return_counts=True)
        seen["results"] = results
        return np.sum(results[0])
    mixedad.gradient(f, x)
    expected = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
    assert type(seen["results"]) is type(expected)
    for got, want in zip(seen["results"][1:], expected[1:]):
        np.testing.assert_array_equal(got, want)


def _rebuilt_by_unique(v):
    """``sin`` on the unique values, scattered back: the same function as ``sum(sin(v))``."""
    u, inverse = np.unique(v, return_inverse=True)
    return np.sum(np.sin(u)[inverse])


def _rows_weighted(v):
    u, inverse = np.unique(v, axis=0, return_inverse=True)
    return np.sum(np.tanh(u)[inverse] * np.arange(1.0, 1.0 + v.size).reshape(v.shape))


def _array_api_rebuilt(v):
    everything = np.unique_all(v)
    return np.sum(np.cos(everything.values)[everything.inverse_indices])


UNIQUE_THEN_SCATTERED = [
    (_rebuilt_by_unique, lambda v: np.cos(v), np.array([0.3, 1.1, 1.2, -0.7]), np.array([0.3, 0.3, 1.2, -0.7])),
    (_rows_weighted, lambda v: (1 - np.tanh(v) ** 2) * np.arange(1.0, 1.0 + v.size).reshape(v.shape),
     np.array([[0.2, -1.0], [0.4, 0.1], [0.2, -0.9]]), np.array([[0.2, -1.0], [0.4, 0.1], [0.2, -1.0]])),
    (_array_api_rebuilt, lambda v: -np.sin(v), np.array([[0.8, 0.7], [-0.1, 0.9]]),
     np.array([[0.8, 0.8], [-0.1, 0.9]])),
]


@pytest.mark.parametrize("f, reference, distinct_x, repeated_x", UNIQUE_THEN_SCATTERED,
                         ids=["return_inverse", "rows along an axis", "unique_all"])
def test_unique_refuses_repeated_values_in_every_transform(f, reference, distinct_x, repeated_x):
    """At distinct values u[inverse] is the input, so these have the derivatives of functions
    of x alone. At a repeated value there is no derivative to give (whichever occurrence gets
    it, these would come out wrong; found: the repeats got zero): every transform refuses,
    naming the call, and a prepared gradient does not replay onto such an input."""
    for mode in MODES:
        np.testing.assert_allclose(mixedad.gradient(f, distinct_x, mode=mode), reference(distinct_x), rtol=1e-12)
    prepared = mixedad.prepare(f, distinct_x)
    np.testing.assert_allclose(prepared.gradient(distinct_x * 1.01), reference(distinct_x * 1.01), rtol=1e-12)
    tangent = np.ones_like(repeated_x)
    for transform in [lambda: mixedad.gradient(f, repeated_x), lambda: mixedad.gradient(f, repeated_x, mode="reverse"),
                      lambda: mixedad.gradient(f, repeated_x, mode="forward"),
                      lambda: mixedad.jvp(f, (repeated_x,), (tangent,)), lambda: mixedad.hessian(f, repeated_x),
                      lambda: prepared.gradient(repeated_x)]:
        with pytest.raises(mixedad.NonDifferentiableError, match=r"np\.unique\w* at .*test_rules_utilities\.py:\d+: .* "
                                                                 r"met a repeated (value|slice)"):
            transform()


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


@pytest.mark.parametrize("x_dtype, y_dtype", [(np.float32, np.float32), (np.float32, np.float64),
                                              (np.float64, np.float32)])
def test_polyfit_of_float32_data_cuts_where_numpy_does(x_dtype, y_dtype):
    """NumPy's default cutoff comes from x's dtype (float32 eps for float32 x). Found: x was
    made float64 first, so a degree-8 fit kept singular values NumPy drops (20x the value)."""
    x = np.linspace(0, 1, 30).astype(x_dtype)
    y = np.sin(3 * np.linspace(0, 1, 30)).astype(y_dtype)

    def f(y):
        return np.sum(np.polyfit(x, y, 8) ** 2)
    for mode in MODES:
        value, grad = mixedad.value_and_gradient(f, y, mode=mode)
        np.testing.assert_allclose(value, f(y), rtol=1e-4, err_msg=mode)
        assert grad.dtype == y_dtype
        # quadratic in y: unit-step central differences of NumPy's f are exact up to rounding
        expected = numerical_gradient(f, y, eps=1.0)  # in float64: the fit's cutoff follows x's dtype alone
        np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-4 * np.max(np.abs(expected)), err_msg=mode)


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


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("f", [
    lambda v: np.nanmedian(v, axis=1),
    lambda v: np.nanmedian(v),
    lambda v: np.nanpercentile(v, 30, axis=1, keepdims=True),
], ids=["nanmedian axis", "nanmedian", "nanpercentile keepdims"])
def test_nan_order_statistics_of_empty_slices_are_nan_like_numpy(f, dtype):
    x = np.ones((2, 0), dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = f(x)
        got, value = mixedad.gradient(lambda v: (np.sum(v), f(v)), x, has_aux=True)
    assert value.shape == expected.shape and value.dtype == expected.dtype
    assert np.all(np.isnan(value))
    assert got.shape == x.shape and got.dtype == dtype


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


# ===========================================================================================
# rules/utilities.py: rearrangements, geomspace and vander, tensor solves, histogram edges,
# set operations, polynomial helpers, and the metadata and printing functions
def traced_results(f, x, mode="reverse"):
    """f's results computed on the traced x, as the differentiated function returned them."""
    def with_results(v):
        results = f(v)
        parts = results if isinstance(results, (tuple, list)) else (results,)
        return sum((np.sum(p) for p in parts if is_float_array(p)), 0.0), results
    return mixedad.gradient(with_results, x, has_aux=True, mode=mode)[1]


def is_float_array(value):
    return not isinstance(value, (type, np.dtype)) and getattr(value, "dtype", np.dtype(int)).kind == "f"


def assert_same_results(got, expected):
    """Equal values (NaN where NumPy has NaN) and dtypes, through tuples and lists."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(expected)
        for g, e in zip(got, expected):
            assert_same_results(g, e)
        return
    assert np.result_type(got) == np.result_type(expected), (np.result_type(got), np.result_type(expected))
    np.testing.assert_array_equal(got, expected)


def check_values(f, x, modes=MODES):
    """f of the traced x (float64, and float32 if f takes it) gives NumPy's values and dtypes."""
    for value in (x, x.astype(np.float32)):
        for mode in modes:
            assert_same_results(traced_results(f, value, mode), f(value))


def positive_in(f):
    """f on values kept away from zero (for the geometric spacing)."""
    return lambda v: f(np.abs(v) + 0.5)


def box_of_zeros(v):
    """v with exact zeros around a box inside it: multiplication by 0 keeps them zero under
    finite-difference steps."""
    mask = np.zeros(v.shape)
    mask[1:-1, 2:4] = 1.0
    mask[2, 1] = 1.0
    return v * mask


UTILITIES = {
    "rollaxis to the front": (lambda v: np.rollaxis(v, 2), distinct(2, 3, 4)),
    "rollaxis to the end": (lambda v: np.rollaxis(v, 0, 3) * np.arange(24.0).reshape(3, 4, 2), distinct(2, 3, 4)),
    "rollaxis with negative positions": (lambda v: np.rollaxis(v, -1, -3), distinct(2, 3, 4)),
    "rollaxis onto itself": (lambda v: np.rollaxis(v, 1, 2), distinct(2, 3)),
    "matrix_transpose": (lambda v: np.matrix_transpose(v) * np.arange(6.0).reshape(2, 3), distinct(2, 3, 2)),
    "choose from a list, broadcasting": (lambda v: np.choose([[0, 1, 2], [2, 0, 1]], [v[0], v[1] ** 2, 0.5]),
                                         distinct(2, 3)),
    "choose wrap": (lambda v: np.choose([4, -1, 2, 0], [v, -v, v ** 2], mode="wrap"), distinct(4)),
    "choose clip": (lambda v: np.choose([[5], [-2]], [v, v[::-1] * 3], mode="clip"), distinct(2, 3)),
    "choose from an array": (lambda v: np.choose([1, 0, 1], v), distinct(2, 3)),
    "extract": (lambda v: np.extract(v > 0, v ** 2), distinct(3, 4)),
    "trim_zeros of a vector, at the back": (lambda v: np.trim_zeros(v * [0, 1, 0, 1, 0, 0], "b"), distinct(6)),
    "fftshift": (lambda v: np.fft.fftshift(v), distinct(3, 4)),
    "fftshift along an axis": (lambda v: np.fft.fftshift(v, axes=1), distinct(3, 5)),
    "ifftshift along axes": (lambda v: np.fft.ifftshift(v, axes=(0, 1)), distinct(3, 5)),
    "ix_ mesh of traced vectors": (lambda v: np.ix_(v[:2], [True, False, True], v[2:5]), distinct(5)),
    "ix_ as an outer product": (lambda v: np.ix_(v[:2], v[2:5])[0] * np.ix_(v[:2], v[2:5])[1], distinct(5)),
    "apply_over_axes": (lambda v: np.apply_over_axes(np.sum, v ** 2, [0, 2]), distinct(2, 3, 4)),
    "apply_over_axes, a reduction without keepdims": (lambda v: np.apply_over_axes(np.max, v, -1), distinct(3, 4)),
    "geomspace": (positive_in(lambda v: np.geomspace(v[0], v[1], 5)), distinct(2)),
    "geomspace of negative numbers, no endpoint": (positive_in(lambda v: np.geomspace(-v[0], -v[1], 4, endpoint=False)),
                                                   distinct(2)),
    "geomspace of arrays along an axis": (positive_in(lambda v: np.geomspace(v[:2], v[2:], 3, axis=1)), distinct(4)),
    "vander": (lambda v: np.vander(v), distinct(4)),
    "vander through zero, increasing": (lambda v: np.vander(v * [1, 0, 1], 5, increasing=True), distinct(3)),
    "tensorinv": (lambda v: np.linalg.tensorinv(v.reshape(2, 3, 6) + np.eye(6).reshape(2, 3, 6) * 3),
                  distinct(36)),
    "tensorinv, ind=1": (lambda v: np.linalg.tensorinv(v.reshape(4, 2, 2) + np.eye(4).reshape(4, 2, 2) * 3, ind=1),
                         distinct(16)),
    "tensorsolve": (lambda v: np.linalg.tensorsolve(v[:36].reshape(2, 3, 6) + np.eye(6).reshape(2, 3, 6) * 3,
                                                    v[36:].reshape(2, 3)), distinct(42)),
    "tensorsolve with axes": (lambda v: np.linalg.tensorsolve(v[:36].reshape(6, 2, 3) + np.eye(6).reshape(6, 2, 3) * 3,
                                                              v[36:].reshape(2, 3), axes=(0,)), distinct(42)),
    "histogram_bin_edges": (lambda v: np.histogram_bin_edges(v, 4), distinct(2, 5)),
    "histogram_bin_edges, automatic count": (lambda v: np.histogram_bin_edges(v, "auto"), distinct(30)),
    "histogram2d edges": (lambda v: np.histogram2d(v[0], v[1] ** 3, bins=(3, 4))[1:], distinct(2, 9)),
    "histogramdd edges": (lambda v: tuple(np.histogramdd(v, bins=[2, 3, np.array([-2.0, 0.0, 2.0])])[1]),
                          distinct(9, 3)),
    "union1d": (lambda v: np.union1d(v[:5], v[3:]), distinct(8)),
    "intersect1d": (lambda v: np.intersect1d(v[:5], v[2:].reshape(2, 3)), distinct(8)),
    "intersect1d with indices": (lambda v: np.intersect1d(v[:5], v[3:], return_indices=True)[0], distinct(8)),
    "setdiff1d": (lambda v: np.setdiff1d(v[:6], v[4:]), distinct(8)),
    "setdiff1d of unique values, in order": (lambda v: np.setdiff1d(v[:6], v[4:], assume_unique=True), distinct(8)),
    "setxor1d": (lambda v: np.setxor1d(v[:5], v[3:]), distinct(8)),
    "setxor1d of unique values": (lambda v: np.setxor1d(v[:5], v[3:], assume_unique=True), distinct(8)),
    "polyadd": (lambda v: np.polyadd(v[:2], v[2:] ** 2), distinct(5)),
    "polysub": (lambda v: np.polysub(v[:4], [1.0, 2.0]), distinct(5)),
    "polymul": (lambda v: np.polymul(v[:2], v[2:]), distinct(5)),
    "polyder": (lambda v: np.polyder(v), distinct(5)),
    "polyder twice, and not at all": (lambda v: (np.polyder(v, 2), np.polyder(v, 0)), distinct(5)),
    "polyint": (lambda v: np.polyint(v[:4]), distinct(5)),
    "polyint twice, traced constants": (lambda v: np.polyint(v[:3], 2, k=v[3:]), distinct(5)),
    "polyint twice, one constant": (lambda v: np.polyint(v[:3], 2, k=v[4]), distinct(5)),
    "poly of roots": (lambda v: np.poly(v), distinct(4)),
    "polydiv": (lambda v: np.polydiv(v[:5], v[5:]), distinct(7) + [0, 0, 0, 0, 0, 2, 0]),
    "polydiv by a longer divisor": (lambda v: np.polydiv(v[:2], v[2:]), distinct(5)),
}
if NUMPY_VERSION >= (2, 1):
    UTILITIES["unstack"] = (lambda v: np.unstack(v, axis=1), distinct(2, 3, 2))
if NUMPY_VERSION >= (2, 2):  # trim_zeros of N-d arrays, and its axis=
    UTILITIES["trim_zeros"] = (lambda v: np.trim_zeros(box_of_zeros(v)), distinct(5, 6))
    UTILITIES["trim_zeros in front, along an axis"] = (lambda v: np.trim_zeros(box_of_zeros(v), "f", axis=1),
                                                       distinct(5, 6))


@pytest.mark.parametrize("name", UTILITIES)
def test_utilities_match_numpy_and_finite_differences(name):
    f, x = UTILITIES[name]
    check_values(f, x)
    check(f, x)


def test_geomspace_with_a_dtype_gives_numpys_values():
    for dtype in (np.float32, np.float64, int):
        check_values(positive_in(lambda v: np.geomspace(v[0], v[1] * 10, 4, dtype=dtype)), distinct(2))


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data())
def test_rollaxis_and_shifts_match_numpy_on_any_shape(shape, data):
    ndim = len(shape)
    axis = data.draw(st.integers(-ndim, ndim - 1))
    start = data.draw(st.integers(-ndim, ndim))
    axes = data.draw(st.none() | st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim, unique=True))
    x = distinct(*shape)
    for f in (lambda v: np.rollaxis(v, axis, start), lambda v: np.fft.fftshift(v, axes),
              lambda v: np.fft.ifftshift(v, axes)):
        assert_same_results(traced_results(f, x), f(x))
        check(f, x, modes=("reverse", "forward"))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5), n_choices=st.integers(1, 4), mode=st.sampled_from(["raise", "wrap", "clip"]),
       seed=st.integers(0, 2 ** 16))
def test_choose_matches_numpy_in_every_mode(n, n_choices, mode, seed):
    rng = np.random.default_rng(seed)
    low, high = (0, n_choices) if mode == "raise" else (-3, n_choices + 3)
    index = rng.integers(low, high, (2, n))
    x = distinct(n_choices, n, seed=seed)
    f = lambda v: np.choose(index, [v[k] * (k + 1) for k in range(n_choices)], mode=mode)  # noqa: E731
    check_values(f, x)
    check(f, x)


@settings(max_examples=25, deadline=None)
@given(sizes=st.tuples(st.integers(0, 6), st.integers(0, 6)), seed=st.integers(0, 2 ** 16))
def test_set_operations_match_numpy_with_repeated_values(sizes, seed):
    """Values drawn from a few levels repeat within and across the arrays."""
    rng = np.random.default_rng(seed)
    levels = distinct(5, seed=seed)
    a, b = levels[rng.integers(0, 5, sizes[0])], levels[rng.integers(0, 5, sizes[1])]
    x = np.concatenate([a, b])
    for f in (lambda v: np.union1d(v[:sizes[0]], v[sizes[0]:]), lambda v: np.setxor1d(v[:sizes[0]], v[sizes[0]:]),
              lambda v: np.intersect1d(v[:sizes[0]], v[sizes[0]:]),
              lambda v: np.setdiff1d(v[:sizes[0]], v[sizes[0]:])):
        check_values(f, x)
        gradient = mixedad.gradient(lambda v: np.sum(f(v) * np.arange(1.0, f(x).size + 1)), x)
        # each result element's derivative goes to one input element: the first that holds its value
        expected = np.zeros_like(x)
        for k, value in enumerate(f(x)):
            expected[np.flatnonzero(x == value)[0]] = k + 1
        np.testing.assert_array_equal(gradient, expected)


def test_set_operations_send_the_derivative_to_the_first_occurrence_like_unique():
    a, b = np.array([2.0, 0.5, 2.0]), np.array([0.5, 3.0])
    weights = {np.union1d: [1.0, 10.0, 100.0], np.intersect1d: [1.0], np.setdiff1d: [1.0], np.setxor1d: [1.0, 10.0]}
    expected = {np.union1d: ([10.0, 1.0, 0.0], [0.0, 100.0]),  # values 0.5, 2, 3
                np.intersect1d: ([0.0, 1.0, 0.0], [0.0, 0.0]),  # 0.5, from the first array
                np.setdiff1d: ([1.0, 0.0, 0.0], [0.0, 0.0]),  # 2
                np.setxor1d: ([1.0, 0.0, 0.0], [0.0, 10.0])}  # 2, 3
    for function, w in weights.items():
        for mode in MODES:
            got = mixedad.gradient(lambda u, v: np.sum(function(u, v) * w), a, b, argnums=(0, 1), mode=mode)
            np.testing.assert_array_equal(got[0], expected[function][0], err_msg=function.__name__)
            np.testing.assert_array_equal(got[1], expected[function][1], err_msg=function.__name__)


def test_intersect1d_returns_numpys_indices():
    a, b = np.array([1.0, 1.0, 2.0, 3.0, 4.0]), np.array([2.0, 1.0, 4.0, 6.0])
    results = traced_results(lambda v: np.intersect1d(v[:5], v[5:], return_indices=True), np.concatenate([a, b]))
    assert_same_results(results, np.intersect1d(a, b, return_indices=True))


def test_histogram_edges_move_with_the_data_when_numpy_places_them():
    x = distinct(12)
    for f in (lambda v: np.histogram_bin_edges(v, range=(-1.0, 2.0)),  # given: plain
              lambda v: np.histogram_bin_edges(v, [-2.0, 0.0, 1.5]),
              lambda v: np.histogram2d(v[:6], v[6:], bins=[np.array([-2.0, 0.0, 2.0]), 2])[1],
              lambda v: np.histogram2d(v[:6], v[6:], bins=2, range=[(-2, 2), None])[1]):
        check_values(f, x)
    assert np.all(mixedad.gradient(lambda v: np.sum(np.histogram2d(v[:6], v[6:], bins=2, range=[(-2, 2), None])[1]),
                                   x)[:6] == 0)
    # all values equal: NumPy widens the range by 0.5 on each side, and the edges move with the values
    same = np.full(4, 1.5)
    for f in (lambda v: np.histogram_bin_edges(v, 3), lambda v: np.histogramdd(v, 2)[1][0]):
        check_values(f, same)
        shift = mixedad.gradient(lambda t: np.sum(f(same + t)), 0.0)
        np.testing.assert_allclose(shift, f(same).size)


def test_histogram2d_counts_are_numpys_and_unsupported_options_raise():
    x, y = distinct(7), distinct(7, seed=1)
    counts = traced_results(lambda v: np.histogram2d(v, y, bins=3, weights=np.arange(7.0))[0], x)
    assert_same_results(counts, np.histogram2d(x, y, bins=3, weights=np.arange(7.0))[0])
    assert_same_results(traced_results(lambda v: np.histogramdd(v.reshape(7, 1), bins=3)[0], x),
                        np.histogramdd(x.reshape(7, 1), bins=3)[0])
    for f in (lambda v: np.histogram2d(v, y, bins=3, density=True)[0],  # (both raised until session 45)
              lambda v: np.histogramdd(v.reshape(7, 1), bins=3, weights=v)[0]):
        np.testing.assert_allclose(traced_results(f, x), f(x), rtol=1e-12)
    with pytest.raises(mixedad.UnsupportedOperationError, match="traced bins or range"):
        traced_results(lambda v: np.histogram_bin_edges(y, bins=np.sort(v[:3])), x)


def test_polydiv_drops_the_leading_zeros_of_an_exact_remainder():
    divisor = np.array([1.0, -2.0])
    dividend = np.polymul(divisor, [3.0, 0.5, 1.0])
    check_values(lambda v: np.polydiv(v[:4], v[4:]), np.concatenate([dividend, divisor]))
    quotient_gradient = mixedad.gradient(lambda u: np.sum(np.polydiv(u, divisor)[0] * [1.0, 2.0, 3.0]), dividend)
    np.testing.assert_allclose(quotient_gradient, numerical_gradient(
        lambda u: np.sum(np.polydiv(u, divisor)[0] * [1.0, 2.0, 3.0]), dividend), rtol=1e-6)


def test_poly_of_a_matrix_and_poly1d_arguments_raise():
    with pytest.raises(mixedad.UnsupportedOperationError, match="eigenvalues"):
        traced_results(lambda v: np.poly(v.reshape(2, 2)), distinct(4))
    with pytest.raises(mixedad.UnsupportedOperationError, match="coeffs"):
        traced_results(lambda v: np.polyadd(np.poly1d([1.0, 2.0]), v), distinct(4))
    assert traced_results(lambda v: np.poly(v[:0]) * np.sum(v), distinct(2)) == np.sum(distinct(2))


@pytest.mark.parametrize("f, error", [
    (lambda v: np.rollaxis(v, 2), np.exceptions.AxisError),
    (lambda v: np.rollaxis(v, 0, 3), np.exceptions.AxisError),
    pytest.param(lambda v: np.unstack(v[0, 0]), ValueError, marks=needs_numpy(2, 1)),
    (lambda v: np.matrix_transpose(v[0]), ValueError),
    (lambda v: np.choose([0, 2], [v[0], v[1]]), ValueError),
    pytest.param(lambda v: np.trim_zeros(v, "x"), ValueError, marks=needs_numpy(2, 2)),
    (lambda v: np.geomspace(v[0] * 0, 1.0), ValueError),
    (lambda v: np.vander(v), ValueError),
    (lambda v: np.linalg.tensorinv(v, ind=0), ValueError),
    (lambda v: np.polyder(v[0], -1), ValueError),
    (lambda v: np.polyint(v[0], 3, k=[1.0, 2.0]), ValueError),
    (lambda v: np.histogram2d(v[0], v[1, :1]), ValueError),
], ids=["rollaxis axis", "rollaxis start", "unstack 0-d", "matrix_transpose 1-d", "choose entry", "trim_zeros trim",
        "geomspace zero", "vander 2-d", "tensorinv ind", "polyder order", "polyint constants", "histogram2d lengths"])
def test_utilities_raise_numpys_errors(f, error):
    x = distinct(2, 2)
    with pytest.raises(error):
        f(x)
    with pytest.raises(error):
        traced_results(f, x)


# --- metadata, indices and printing -------------------------------------------------------------
def test_dtype_questions_are_answered_from_the_traced_dtype():
    x = distinct(3)
    for mode in MODES:
        answers = traced_results(lambda v: (np.can_cast(v, np.float32), np.can_cast(v.astype(np.float32), np.float64),
                                            np.common_type(v.astype(np.float32), np.ones(2, np.float16)),
                                            np.min_scalar_type(v), np.min_scalar_type(v[0] * 0 + 2.0)), x, mode)
        assert answers == (False, True, np.float32, np.dtype(np.float64), np.dtype(np.float16))


def test_index_memory_angle_and_printing_functions_use_the_values():
    x = np.array([1.5, -2.0, 0.0, 3.25])
    for mode in MODES:
        results = traced_results(lambda v: (np.shares_memory(v, v), np.may_share_memory(v, v * 2.0), np.angle(v),
                                            np.angle(v, deg=True), np.array2string(v, precision=2),
                                            np.array_repr(v), np.array_str(v[:2])), x, mode)
        assert results[:2] == (True, False)
        assert_same_results(results[2:4], (np.angle(x), np.angle(x, deg=True)))
        assert results[4:] == (np.array2string(x, precision=2), np.array_repr(x), np.array_str(x[:2]))
        # the angle of a real value is piecewise constant: no derivative of its own
        np.testing.assert_array_equal(mixedad.gradient(lambda v: np.sum(np.angle(v) * v), x, mode=mode), np.angle(x))
    with pytest.raises(TypeError):  # NumPy's: indices must be integers
        traced_results(lambda v: np.unravel_index(v, (3, 4)), x)
    with pytest.raises(TypeError):
        traced_results(lambda v: np.ravel_multi_index((v, v), (3, 4)), x)
