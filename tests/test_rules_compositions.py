"""Functions composed from other rules: values equal NumPy's, gradients equal finite differences."""
import re

import numpy as np
import pytest

import mixedad

from numerical import numerical_gradient, numerical_gradients
from numpy_versions import NUMPY_VERSION

MODES = ("auto", "reverse", "forward")
rng = np.random.default_rng(0)

CASES = {
    "kron 2-D": (lambda a, b: np.kron(a, b), [rng.standard_normal((2, 3)), rng.standard_normal((3, 2))]),
    "kron 1-D x 2-D": (lambda a, b: np.kron(a, b), [rng.standard_normal(3), rng.standard_normal((2, 2))]),
    "diff": (lambda a: np.diff(a), [rng.standard_normal((3, 5))]),
    "diff n=2 axis 0": (lambda a: np.diff(a, n=2, axis=0), [rng.standard_normal((5, 3))]),
    "diff prepend": (lambda a: np.diff(a, prepend=0.5), [rng.standard_normal(4)]),
    "cross": (lambda a, b: np.cross(a, b), [rng.standard_normal((4, 3)), rng.standard_normal(3)]),
    "sinc": (lambda a: np.sinc(a), [np.array([0.0, 0.3, -1.7, 2.2])]),
    "trapezoid dx": (lambda y: np.trapezoid(y, dx=0.5), [rng.standard_normal((2, 6))]),
    "trapezoid x": (lambda y, x: np.trapezoid(y, x), [rng.standard_normal(6), np.sort(rng.standard_normal(6))]),
    "real": (lambda a: np.real(a) * a, [rng.standard_normal(4)]),
    "conjugate": (lambda a: np.conj(a) * a, [rng.standard_normal(4)]),
    "polyval traced p and x": (lambda p, x: np.polyval(p, x), [rng.standard_normal(4), rng.standard_normal(5)]),
    "polyval list of coefficients": (lambda x: np.polyval([1.5, -2.0, 0.5], x), [rng.standard_normal((2, 3))]),
    "select": (lambda a, b: np.select([a > 0.3, b < 0], [a ** 2, a * b], default=b),
               [rng.standard_normal((3, 4)), rng.standard_normal(4)]),
    "interp x and fp": (lambda x, fp: np.interp(x, [0.0, 0.5, 1.5, 2.0], fp),
                        [np.array([-0.3, 0.2, 0.7, 1.1, 1.9, 2.4]), rng.standard_normal(4)]),
    "interp left right": (lambda x, fp: np.interp(x, [0.0, 1.0, 2.0], fp, left=fp[1] * 2, right=-1.0),
                          [np.array([-0.5, 0.4, 1.6, 2.5]), rng.standard_normal(3)]),
    "interp knots": (lambda x, xp, fp: np.interp(x, xp, fp), [np.array([-0.3, 0.2, 0.7, 1.1, 1.9, 2.4]),
                                                              np.array([0.0, 0.45, 1.5, 2.0]), rng.standard_normal(4)]),
    "interp inverse cdf": (lambda t: np.interp([0.1, 0.5, 0.9], np.cumsum(np.exp(-t * np.linspace(0, 5, 30))) /
                                               np.sum(np.exp(-t * np.linspace(0, 5, 30))), np.linspace(0, 5, 30)),
                           [np.array(0.8)]),
    "block": (lambda a, b: np.block([[a, b], [b, a]]), [rng.standard_normal((2, 2)), rng.standard_normal((2, 2))]),
    "block 1-D": (lambda a, b: np.block([a, b, a]), [rng.standard_normal(3), rng.standard_normal(2)]),
    "linspace": (lambda a, b: np.linspace(a, b, 5), [np.array(0.3), np.array(2.1)]),
    "linspace arrays axis 1 no endpoint": (lambda a, b: np.linspace(a, b, 4, endpoint=False, axis=1),
                                           [rng.standard_normal(3), rng.standard_normal(3)]),
    "meshgrid xy": (lambda a, b: np.meshgrid(a, b)[0] * np.meshgrid(a, b)[1] ** 2,
                    [rng.standard_normal(3), rng.standard_normal(4)]),
    "meshgrid ij sparse": (lambda a, b: np.meshgrid(a, b, indexing="ij", sparse=True)[0] * b,
                           [rng.standard_normal(3), rng.standard_normal(4)]),
    "quantile": (lambda a: np.quantile(a, 0.3), [rng.standard_normal(7)]),
    "quantile q array axis keepdims": (lambda a: np.quantile(a, [0.0, 0.25, 0.9, 1.0], axis=1, keepdims=True),
                                       [rng.standard_normal((3, 6))]),
    "percentile axis 0": (lambda a: np.percentile(a, 40, axis=0), [rng.standard_normal((5, 3))]),
    "percentile None keepdims": (lambda a: np.percentile(a, [10, 50], keepdims=True), [rng.standard_normal((2, 4))]),
    "cov": (lambda a: np.cov(a), [rng.standard_normal((3, 6))]),
    "cov rowvar y bias": (lambda a, b: np.cov(a, b, rowvar=False, bias=True),
                          [rng.standard_normal((6, 2)), rng.standard_normal(6)]),
    "cov 1-D ddof": (lambda a: np.cov(a, ddof=2), [rng.standard_normal(7)]),
    "corrcoef": (lambda a: np.corrcoef(a), [rng.standard_normal((3, 8))]),
    "piecewise": (lambda a: np.piecewise(a, [a < 0, a > 1], [lambda t: t ** 2, lambda t: t / np.sum(t), 7.0]),
                  [np.array([-2.5, -0.5, 0.3, 0.7, 1.5, 3.0])]),
    "piecewise one condition": (lambda a: np.piecewise(a, a > 0, [np.sin, np.cos]), [rng.standard_normal(5)]),
    "modf": (lambda a: np.modf(a)[0] * 2 + np.modf(a)[1], [np.array([-2.5, -0.4, 0.3, 1.7])]),
    "divmod": (lambda a, b: np.divmod(a, b)[1] * np.divmod(a, b)[0], [np.array([-2.5, 0.4, 1.3, 2.9]),
                                                                       np.array([0.7, 0.9, 0.6, 1.1])]),
    "sum where initial": (lambda a: np.sum(a ** 2, axis=1, where=a > 0, initial=0.5), [rng.standard_normal((3, 4))]),
    "mean where": (lambda a: np.mean(a, axis=0, where=np.arange(12).reshape(3, 4) % 3 != 0),
                   [rng.standard_normal((3, 4))]),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("mode", MODES)
def test_composition_matches_numpy_and_finite_differences(name, mode):
    f, args = CASES[name]
    weights = rng.standard_normal(np.shape(f(*args)))
    loss = lambda *a: np.sum(f(*a) * weights)
    argnums = tuple(range(len(args)))
    got = mixedad.gradient(loss, *args, argnums=argnums, mode=mode)
    for g, want in zip(got, numerical_gradients(loss, args, argnums)):
        np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-8)
    value, _ = mixedad.value_and_gradient(loss, *args, argnums=argnums, mode=mode)
    np.testing.assert_allclose(value, loss(*args), rtol=1e-12)


def test_sinc_derivative_at_zero_is_zero_not_nan():
    g = mixedad.gradient(lambda x: np.sum(np.sinc(x)), np.array([0.0, 0.5]))
    assert g[0] == 0.0 and np.isfinite(g).all()


@pytest.mark.parametrize("name", ["quantile", "percentile axis 0", "cov", "interp x and fp", "mean where",
                                  "linspace", "polyval list of coefficients"])
def test_composition_keeps_numpys_dtype_for_float32(name):
    f, args = CASES[name]
    args32 = [a.astype(np.float32) for a in args]
    expected = f(*args32)
    grads = mixedad.gradient(lambda *a: np.sum(f(*a)), *args32, argnums=tuple(range(len(args))))
    value = mixedad.value_and_gradient(lambda *a: np.sum(f(*a)), *args32, argnums=tuple(range(len(args))))[0]
    assert np.result_type(value) == np.sum(expected).dtype  # np.cov and np.interp compute in float64
    assert all(g.dtype == np.float32 for g in grads)


def test_quantile_of_a_slice_with_nan_is_nan():
    a = np.array([[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]])
    value, grad = mixedad.value_and_gradient(lambda a: np.sum(np.quantile(a, 0.5, axis=1) * [0.0, 1.0]), a)
    assert np.isnan(value) and np.isnan(np.quantile(a, 0.5, axis=1)[0])
    np.testing.assert_array_equal(grad[1], [0.0, 1.0, 0.0])


@pytest.mark.parametrize("call, message", [
    (lambda q: np.quantile(np.ones(3), q), "q is a traced value"),
])
def test_arguments_mixedad_does_not_differentiate_raise(call, message):
    with pytest.raises(mixedad.MixedadError, match=message):
        mixedad.gradient(lambda v: np.sum(call(v)), np.array([0.0, 0.4, 1.0]))


def test_unsupported_options_raise():
    with pytest.raises(ValueError, match="mismatched"):
        mixedad.gradient(lambda a: np.sum(np.block([[a], a])), np.ones(2))


@pytest.mark.parametrize("function, q", [(np.quantile, [0.2, 0.5, 0.9]), (np.percentile, 40.0), (np.nanquantile, 0.6),
                                         (np.nanpercentile, [10.0, 75.0])])
@pytest.mark.parametrize("axis, keepdims", [(None, False), (None, True), (1, False), (-2, True)])
def test_weighted_quantiles_pick_numpys_element(function, q, axis, keepdims):
    """With weights (method="inverted_cdf") a quantile is one element of a: its derivative is 1
    there, and the weights, which only choose the element, get 0."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 6))
    if function in (np.nanquantile, np.nanpercentile):
        x[1, 4] = np.nan
    weights = rng.uniform(0.5, 2.0, x.shape if axis is None or function in (np.nanquantile, np.nanpercentile)
                          else x.shape[axis])

    def f(v, w):
        return function(v, q, axis=axis, keepdims=keepdims, method="inverted_cdf", weights=w)

    expected = f(x, weights)
    loss = lambda v, w: np.sum(np.sin(f(v, w)) * np.linspace(0.5, 1.5, np.size(expected)).reshape(np.shape(expected)))
    for mode in ("auto", "reverse", "forward"):
        (value, (grad, weights_grad)) = mixedad.value_and_gradient(loss, x, weights, argnums=(0, 1), mode=mode)
        assert value == pytest.approx(loss(x, weights), rel=1e-12)
        np.testing.assert_allclose(grad, numerical_gradient(lambda v: loss(v, weights), x), rtol=1e-6, atol=1e-8)
        np.testing.assert_array_equal(weights_grad, np.zeros_like(weights))
    result = mixedad.gradient(lambda v: (np.nansum(v), f(v, weights)), x, has_aux=True)[1]
    np.testing.assert_array_equal(result, expected)
    assert type(result) is type(expected) and np.shape(result) == np.shape(expected)  # 0-d: an array, as NumPy's
    assert mixedad.gradient(lambda v: np.sum(f(v, weights)), x.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("function, q", [(np.quantile, [0.3, 0.6]), (np.quantile, 0.3), (np.percentile, [30.0]),
                                         (np.nanquantile, np.array([0.3, 0.9])), (np.nanpercentile, 45.0)])
def test_quantile_values_and_dtypes_equal_numpys(function, q):
    x = np.float32([0.3, 1.2, 0.7, 2.0, -0.4])
    value, grad = mixedad.value_and_gradient(lambda x: np.sum(function(x, q) * 3.0), x)
    expected = np.sum(function(x, q) * 3.0)
    # float64 for an array of q, as NumPy; NumPy before 2.4 rounds a float32 quantile once more
    np.testing.assert_array_max_ulp(value, expected, maxulp=0 if NUMPY_VERSION >= (2, 4) else 1)
    assert value.dtype == expected.dtype
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, numerical_gradient(lambda x: np.sum(function(x, q) * 3.0), x), atol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # NumPy deprecates 2-vectors in np.cross
@pytest.mark.parametrize("shape_a, shape_b, options", [
    ((3,), (3,), {}), ((4, 3), (3,), {}), ((2,), (2,), {}), ((5, 2), (5, 2), {}), ((2,), (3,), {}),
    ((4, 3), (4, 2), {}), ((3, 4), (3, 4), {"axis": 0}), ((2, 4), (4, 3), {"axisa": 0, "axisc": 0}),
], ids=["3x3", "batch 3", "2x2", "batch 2x2", "2x3", "3x2 batch", "axis", "axisa axisc"])
def test_cross_matches_numpy_and_finite_differences(shape_a, shape_b, options):
    rng = np.random.default_rng(len(shape_a) + len(shape_b))
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    try:
        expected = np.cross(a, b, **options)
    except ValueError as error:  # NumPy >= 2.5 refuses 2-vectors: so must mixedad, in every mode
        for mode in MODES:
            with pytest.raises(ValueError, match=re.escape(str(error))):
                mixedad.gradient(lambda a: np.sum(np.cross(a, b, **options)), a, mode=mode)
        return
    weights = rng.standard_normal(np.shape(expected))

    def loss(a, b):
        return np.sum(np.cross(np.sin(a), b, **options) * weights)
    reference = numerical_gradients(loss, [a, b], (0, 1))
    for mode in MODES:
        got = mixedad.gradient(loss, a, b, argnums=(0, 1), mode=mode)
        for g, r in zip(got, reference):
            np.testing.assert_allclose(g, r, rtol=1e-6, atol=1e-8, err_msg=mode)
    value = mixedad.gradient(lambda a, b: (np.sum(a), np.cross(a, b, **options)), a.astype(np.float32),
                             b.astype(np.float32), has_aux=True)[1]
    assert value.dtype == np.float32 and value.shape == expected.shape
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)


def test_cross_of_other_lengths_raises_like_numpy():
    with pytest.raises(ValueError, match="dimension must be 2 or 3"):
        mixedad.gradient(lambda a: np.sum(np.cross(a, a)), np.ones(4))


QUANTILE_METHODS = ["inverted_cdf", "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf",
                    "hazen", "weibull", "linear", "median_unbiased", "normal_unbiased", "lower", "higher",
                    "midpoint", "nearest"]


@pytest.mark.parametrize("method", QUANTILE_METHODS)
@pytest.mark.parametrize("function", [np.quantile, np.nanquantile, np.percentile])
@pytest.mark.parametrize("axis", [None, 1])
def test_every_quantile_method_matches_numpy_and_finite_differences(method, function, axis):
    """Where a quantile sits among the sorted values is the same method's quantile of 0..n-1."""
    x = np.random.default_rng(5).standard_normal((4, 7))
    if function is np.nanquantile:
        x[1, 2] = np.nan  # rows with fewer values take their own positions
    q = np.array([0.0, 0.05, 0.3, 0.5, 0.77, 1.0]) * (100.0 if function is np.percentile else 1.0)

    def f(v):
        return function(v, q, axis=axis, method=method)

    def loss(v):
        return np.sum(f(v) * np.linspace(0.5, 1.5, np.size(f(x))).reshape(np.shape(f(x))))

    for mode in ("auto", "reverse"):
        value, grad = mixedad.value_and_gradient(loss, x, mode=mode)
        assert value == pytest.approx(loss(x), rel=1e-12)
        np.testing.assert_allclose(np.nan_to_num(grad), np.nan_to_num(numerical_gradient(loss, x)), rtol=1e-6,
                                   atol=1e-8)
    value, _ = mixedad.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_allclose(value, f(x), rtol=1e-12)
    assert mixedad.gradient(lambda v: np.nansum(function(v, q[2], method=method)), x.astype(np.float32)).dtype \
        == np.float32


@pytest.mark.parametrize("function, with_nan", [
    (lambda v, axis, keepdims: np.quantile(v, [0.2, 0.7], axis=axis, keepdims=keepdims), False),
    (lambda v, axis, keepdims: np.percentile(v, 30.0, axis=axis, keepdims=keepdims, method="nearest"), False),
    (lambda v, axis, keepdims: np.nanquantile(v, 0.4, axis=axis, keepdims=keepdims), True),
    (lambda v, axis, keepdims: np.nanmedian(v, axis=axis, keepdims=keepdims), True),
], ids=["quantile", "percentile nearest", "nanquantile", "nanmedian"])
@pytest.mark.parametrize("axis", [(0, 2), (2, 0), (-1, -3, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_quantiles_over_several_axes_match_numpy_and_finite_differences(function, with_nan, axis, keepdims):
    x = np.random.default_rng(6).standard_normal((3, 4, 5))
    if with_nan:
        x[1, 2, 3] = np.nan
    expected = function(x, axis, keepdims)

    def loss(v):
        return np.nansum(function(v, axis, keepdims) * np.linspace(0.5, 1.5, expected.size).reshape(expected.shape))

    for mode in ("auto", "forward"):
        value, grad = mixedad.value_and_gradient(loss, x, mode=mode)
        assert value == pytest.approx(loss(x), rel=1e-12)
        np.testing.assert_allclose(grad, numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)
    assert mixedad.jvp(lambda v: function(v, axis, keepdims), (x,), (x,))[0].shape == expected.shape


@pytest.mark.parametrize("options", [
    dict(fweights=[1, 2, 0, 3, 1, 1]), dict(aweights=[0.5, 1.5, 2.0, 0.7, 1.0, 1.2]),
    dict(fweights=[1, 2, 0, 3, 1, 1], aweights=[0.5, 1.5, 2.0, 0.7, 1.0, 1.2]),
    dict(aweights=[0.5, 1.5, 2.0, 0.7, 1.0, 1.2], ddof=0), dict(fweights=[2, 1, 1, 1, 1, 4], bias=True),
    dict(aweights=[0.5, 1.5, 2.0, 0.7, 1.0, 1.2], ddof=2, rowvar=False),
], ids=["frequency", "analytic", "both", "analytic ddof 0", "frequency bias", "analytic ddof 2 columns"])
@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_weighted_cov_matches_numpy_and_finite_differences(options, mode):
    m = np.random.default_rng(8).standard_normal((3, 6))
    m = m.T if options.get("rowvar") is False else m
    weights = np.random.default_rng(9).standard_normal((3, 3))

    def loss(v):
        return np.sum(np.cov(v, **options) * weights)

    value, grad = mixedad.value_and_gradient(loss, m, mode=mode)
    assert value == pytest.approx(loss(m), rel=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(loss, m), rtol=1e-6, atol=1e-8)


def test_cov_differentiates_traced_analytic_weights_and_checks_weights_as_numpy():
    m = np.random.default_rng(10).standard_normal((2, 5))

    def loss(a):
        return np.sum(np.cov(m, aweights=a) * [[1.0, 0.3], [0.3, 2.0]])

    a = np.array([0.5, 1.5, 2.0, 0.7, 1.0])
    np.testing.assert_allclose(mixedad.gradient(loss, a), numerical_gradient(loss, a), rtol=1e-6, atol=1e-8)
    for bad, error in [(dict(fweights=[1.5] * 5), TypeError), (dict(fweights=[1, -1, 1, 1, 1]), ValueError),
                       (dict(aweights=np.ones(4)), RuntimeError)]:
        with pytest.raises(error):
            mixedad.gradient(lambda v: np.sum(np.cov(v, **bad)), m)
        with pytest.raises(error):
            np.cov(m, **bad)


@pytest.mark.parametrize("period", [360.0, -360.0, 2 * np.pi])
@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_periodic_interp_matches_numpy_and_finite_differences(period, mode):
    """NumPy's construction: positions modulo the period, knots sorted and wrapped around."""
    scale = abs(period) / 360.0
    xp = np.array([190, -190, 350, -350, 10.0]) * scale
    fp = np.array([5, 10, 3, 4, 1.0])
    x = np.array([-180, -171, -185, 185, -11, -5, 0, 365, 200.3, 721.7]) * scale  # away from the knots
    weights = np.arange(1.0, 1.0 + x.size)

    def loss(x, fp):
        return np.sum(np.interp(x, knots, fp, left=-99.0, period=period) * weights)  # left: ignored, as in NumPy

    def knotted(knots):  # the knots differentiated too
        return np.sum(np.interp(x, knots, fp, period=period) * weights)

    knots = xp
    distinct = np.array([190, -150, 350, -330, 10.0]) * scale  # (xp's -350 and 10 meet modulo 360: a kink in them)
    value, grads = mixedad.value_and_gradient(loss, x, fp, argnums=(0, 1), mode=mode)
    assert value == pytest.approx(loss(x, fp), rel=1e-12)
    np.testing.assert_allclose(grads[0], numerical_gradient(lambda v: loss(v, fp), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grads[1], numerical_gradient(lambda v: loss(x, v), fp), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(mixedad.gradient(knotted, distinct, mode=mode), numerical_gradient(knotted, distinct),
                               rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="period"):
        mixedad.gradient(lambda v: np.sum(np.interp(v, xp, fp, period=0)), x)


_LIST = [2.0, 3.0, 1.5]
LIST_OPERANDS = {
    "np.trapezoid(list, x=...)": lambda x: np.trapezoid(_LIST, x=np.cumsum(x)),
    "np.linspace(x, list)": lambda x: np.sum(np.sin(np.linspace(x, _LIST, 4))),
    "np.linspace(list, x)": lambda x: np.sum(np.sin(np.linspace(_LIST, x, 4))),
    "np.power(x, list)": lambda x: np.sum(np.power(x, _LIST)),
    "x ** list": lambda x: np.sum(x ** np.array(_LIST) + np.multiply(x, _LIST)),
    "np.hypot(list, x)": lambda x: np.sum(np.hypot(_LIST, x)),
    "np.arctan2(x, tuple)": lambda x: np.sum(np.arctan2(x, tuple(_LIST))),
}


@pytest.mark.parametrize("name", LIST_OPERANDS)
def test_python_lists_as_constant_operands_differentiate_in_every_mode(name):
    f = LIST_OPERANDS[name]
    x = np.array([0.4, 0.9, 1.3])
    expected = numerical_gradient(f, x)
    for mode in ("auto", "reverse", "forward"):
        np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), expected, rtol=1e-6, atol=1e-8)
    direction = np.array([1.0, -2.0, 0.5])
    _, derivative = mixedad.jvp(f, (x,), (direction,))
    assert derivative == pytest.approx(expected @ direction, rel=1e-6)


def test_a_differentiated_default_of_np_select_gets_advice_numpy_cannot_dispatch_it():
    x = np.array([0.3, 0.6, 0.9])
    with pytest.raises(mixedad.NonDifferentiableError, match=r"np\.select dispatches on condlist and choicelist only"):
        mixedad.gradient(lambda x: np.sum(np.select([x > 0.5], [_LIST], x)), x)
    as_a_case = mixedad.gradient(lambda x: np.sum(np.select([x > 0.5, True], [_LIST, x])), x)  # the advice works
    np.testing.assert_allclose(as_a_case, [1.0, 0.0, 0.0])
