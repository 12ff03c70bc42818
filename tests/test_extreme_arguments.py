"""Elementwise derivatives at extreme but ordinary arguments, against mpmath at 50 digits.

A partial written the short way can lose everything where the function itself is fine:
``1 - tanh(x)^2`` is 0 once tanh rounds to 1 (x = 19 in float64, 9 in float32) while sech(x)^2
is still a normal number; ``x / (x^2 + y^2)`` is inf or 0 where the squares under- or overflow
(arctan2 of a vector shorter than 1e-154); ``1 / sqrt(x^2 + 1)`` is 0 past 1e154;
``exp(-x^2/2 - log_ndtr(x))`` cancels in the left tail; ``out + 1`` for expm1 cancels for
x < 0, and ``i1e(x) - i0e(x)`` for large x. Every check here asks for the true derivative to a
few ulps wherever it is a normal number of the dtype, in auto, reverse and forward mode.
"""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixedad

mpmath.mp.dps = 50
MODES = ("auto", "reverse", "forward")


def assert_gradient_is(f, x, truth, rtol):
    """The gradient of sum(f(x)) is ``truth`` (mpmath values) to ``rtol`` where the truth is
    a normal number of x's dtype, and below the smallest normal one elsewhere."""
    finfo = np.finfo(x.dtype)
    truth = np.array([float(t) for t in truth])
    normal = (np.abs(truth) >= finfo.tiny) & (np.abs(truth) <= finfo.max)
    for mode in MODES:
        gradient = mixedad.gradient(lambda x: np.sum(f(x)), x.copy(), mode=mode)
        assert gradient.dtype == x.dtype, mode
        np.testing.assert_allclose(gradient[normal], truth[normal], rtol=rtol, err_msg=mode)
        assert np.all(np.abs(gradient[~normal]) <= finfo.tiny), (mode, gradient[~normal])


def magnitudes(low, high):
    return st.builds(lambda sign, mantissa, exponent: sign * mantissa * 10.0 ** exponent,
                     st.sampled_from([1.0, -1.0]), st.floats(1.0, 9.99), st.integers(low, high))


@settings(max_examples=40, deadline=None)
@given(st.lists(magnitudes(-300, 300), min_size=1, max_size=6), st.floats(-3, 3))
def test_tanh_float64(values, shift):
    x = np.array(values[:1] + [v / 10.0 ** (np.log10(abs(v)) - shift) for v in values[1:]])  # some near 1
    x = np.clip(x, -700, 700)
    assert_gradient_is(np.tanh, x, [mpmath.sech(mpmath.mpf(v)) ** 2 for v in x], rtol=1e-14)


def test_tanh_where_it_rounds_to_one():
    assert_gradient_is(np.tanh, np.array([9.0, 12.0, 20.0, 30.0, -25.0, 0.25]),
                       [mpmath.sech(v) ** 2 for v in (9, 12, 20, 30, -25, 0.25)], rtol=1e-14)
    x32 = np.array([6.5, 9.0, 12.0, 40.0, -15.0, 0.5], dtype=np.float32)
    assert_gradient_is(np.tanh, x32, [mpmath.sech(mpmath.mpf(float(v))) ** 2 for v in x32], rtol=1e-6)


def test_tanh_second_derivative_in_the_tail():
    x = np.array([15.0, 0.5])
    truth = [-2 * mpmath.tanh(v) * mpmath.sech(v) ** 2 for v in x]
    np.testing.assert_allclose(np.diag(mixedad.hessian(lambda x: np.sum(np.tanh(x)), x)),
                               [float(t) for t in truth], rtol=1e-13)


@settings(max_examples=60, deadline=None)
@given(magnitudes(-300, 300), magnitudes(-300, 300))
def test_arctan2_at_every_scale(y, x):
    y_mp, x_mp = mpmath.mpf(y), mpmath.mpf(x)
    squared = x_mp ** 2 + y_mp ** 2
    assert_gradient_is(lambda v: np.arctan2(v, x), np.array([y]), [x_mp / squared], rtol=1e-14)
    assert_gradient_is(lambda v: np.arctan2(y, v), np.array([x]), [-y_mp / squared], rtol=1e-14)


def test_arctan2_float32_and_the_angle_of_a_small_complex_number():
    for scale in (1e-25, 1e-21, 1e20):
        y = np.array([scale, 2 * scale], dtype=np.float32)
        x = np.float32(scale)
        truth = [mpmath.mpf(float(x)) / (mpmath.mpf(float(x)) ** 2 + mpmath.mpf(float(v)) ** 2) for v in y]
        assert_gradient_is(lambda v: np.arctan2(v, x), y, truth, rtol=1e-6)
    # d angle(x + 0.5j) / dx = -0.5 / (x^2 + 0.25), here scaled by 1e-200
    x = np.array([2e-200])
    truth = [-mpmath.mpf(1e-200) / 2 / (mpmath.mpf(2e-200) ** 2 + mpmath.mpf(1e-200) ** 2 / 4)]
    assert_gradient_is(lambda v: np.angle(v + 0.5e-200j), x, truth, rtol=1e-14)


@pytest.mark.parametrize("dtype, large", [(np.float64, [1e154, 1e200, -3e307]), (np.float32, [1e19, 1e20, -3e38])])
def test_inverse_hyperbolic_functions_of_large_arguments(dtype, large):
    rtol = 1e-14 if dtype == np.float64 else 1e-6
    x = np.array(large + [0.5, -2.0], dtype=dtype)
    assert_gradient_is(np.arcsinh, x, [1 / mpmath.sqrt(mpmath.mpf(float(v)) ** 2 + 1) for v in x], rtol)
    x = np.abs(x) + 1
    assert_gradient_is(np.arccosh, x, [1 / mpmath.sqrt(mpmath.mpf(float(v)) ** 2 - 1) for v in x], rtol)


@pytest.mark.parametrize("function, base", [(np.log10, 10), (np.log2, 2)])
def test_logarithms_near_the_largest_float32(function, base):
    # x * ln(10) overflows at 3e38: the derivative, 1.4e-39, is subnormal, so good to 1e-5 only
    x = np.array([3e38, 1e38, 2.5], dtype=np.float32)
    truth = [float(1 / (mpmath.mpf(float(v)) * mpmath.log(base))) for v in x]
    for mode in MODES:
        gradient = mixedad.gradient(lambda x: np.sum(function(x)), x, mode=mode)
        np.testing.assert_allclose(gradient, truth, rtol=1e-5, err_msg=mode)


def test_scipy_log_ndtr_and_expm1_in_their_tails():
    special = pytest.importorskip("scipy.special")
    x = np.array([-1e7, -1e6, -40.0, -3.0, 0.5, 8.0, 30.0])
    truth = [mpmath.npdf(mpmath.mpf(v)) / mpmath.ncdf(mpmath.mpf(v)) for v in x]
    assert_gradient_is(special.log_ndtr, x, truth, rtol=1e-12)  # erfcx(-21) = 2 exp(450): 450 ulps
    x = np.array([-40.0, -30.0, -1e-9, 2.0])
    assert_gradient_is(special.expm1, x, [mpmath.exp(mpmath.mpf(v)) for v in x], rtol=1e-14)
    x32 = np.array([-20.0, -5.0], dtype=np.float32)
    assert_gradient_is(special.expm1, x32, [mpmath.exp(mpmath.mpf(float(v))) for v in x32], rtol=1e-6)


def scaled_bessel(order):
    return lambda t: mpmath.besseli(order, t) * mpmath.exp(-abs(t))


def scaled_bessel_slope(order, v):
    """d/dx e^-|x| I_order(x) at v: e^-x (I1 - I0), or e^-x (I0 - I1/x - I1), at |v>, with the
    digits the difference cancels (log10 |v|) on top (i0e's slope is odd, i1e's even)."""
    a = abs(v)
    with mpmath.workdps(int(mpmath.log10(a + 1)) + 40):
        x = mpmath.mpf(a)
        i0, i1 = mpmath.besseli(0, x), mpmath.besseli(1, x)
        slope = ((i1 - i0) if order == 0 else (i0 - i1 / x - i1)) * mpmath.exp(-x)
        return +(slope if order == 1 or v > 0 else -slope)


@settings(max_examples=30, deadline=None)
@given(st.lists(magnitudes(-3, 300), min_size=1, max_size=6))
def test_scipy_scaled_bessel_functions_of_large_arguments(values):
    """i0e and i1e fall like |x|^-1/2, and their slopes like |x|^-3/2: the difference of the two
    scaled functions cancels (it was 3e-4 off at 1e12 and 30% at 1e15)."""
    special = pytest.importorskip("scipy.special")
    x = np.array(values)
    for order, function in ((0, special.i0e), (1, special.i1e)):
        truth = [scaled_bessel_slope(order, v) for v in x]
        assert_gradient_is(function, x, truth, rtol=1e-13)


def test_scipy_scaled_bessel_functions_in_float32_and_at_second_order():
    special = pytest.importorskip("scipy.special")
    x32 = np.array([3.0, -19.0, 21.0, -999.0, 1e6, -1e12, 1e30], dtype=np.float32)
    for order, function in ((0, special.i0e), (1, special.i1e)):
        truth = [scaled_bessel_slope(order, float(v)) for v in x32]
        assert_gradient_is(function, x32, truth, rtol=1e-5)
        x = np.array([-2e3, -5.0, 0.5, 99.0, 101.0, 3e7])
        truth = [float(mpmath.diff(scaled_bessel(order), mpmath.mpf(v), 2)) for v in x]
        hessian = mixedad.hessian(lambda x: np.sum(function(x)), x)
        np.testing.assert_allclose(np.diag(hessian), truth, rtol=1e-9)


@pytest.mark.parametrize("dtype, scale", [(np.float64, 1e160), (np.float64, 1e-200), (np.float32, 1e19)])
def test_qr_of_a_matrix_whose_norm_overflows(dtype, scale):
    # R is homogeneous of degree 1 in A, so R's gradient does not change with the scale; the
    # rank check must not read |A|_F = inf as "rank deficient"
    from numerical import numerical_gradient
    a = np.random.default_rng(5).normal(size=(4, 3))
    f = lambda a: np.sum(np.linalg.qr(a)[1][:2] * [[1.0], [-0.5]])  # noqa: E731
    gradient = mixedad.gradient(f, (a * scale).astype(dtype))
    assert gradient.dtype == dtype
    np.testing.assert_allclose(gradient, numerical_gradient(f, a), rtol=1e-4 if dtype == np.float32 else 1e-7)


@pytest.mark.parametrize("f", [lambda v: np.arctan2(v, v), lambda v: np.arctan2(v, 2.0), np.arcsinh, np.tanh],
                         ids=["arctan2", "arctan2 of a number", "arcsinh", "tanh"])
def test_range_checks_of_empty_arrays(f):
    # the checks look for the smallest and largest square: an empty array has none (review, session 46)
    for mode in MODES:
        gradient = mixedad.gradient(lambda x: np.sum(f(x)), np.zeros((0, 3)), mode=mode)
        assert gradient.shape == (0, 3)
