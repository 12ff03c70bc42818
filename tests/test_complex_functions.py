"""The hyperbolic, inverse hyperbolic, tan, exp2/expm1 and log2/log10/log1p functions of complex
intermediate values (``rules.complex_functions``): values against mpmath's at 50 digits, and
derivatives against float64 central differences in every mode, away from branch cuts (found
by porting autograd's tests: they raised)."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient

REFERENCE = {np.sinh: mpmath.sinh, np.cosh: mpmath.cosh, np.tanh: mpmath.tanh, np.tan: mpmath.tan,
             np.expm1: mpmath.expm1, np.log1p: mpmath.log1p, np.exp2: lambda z: mpmath.power(2, z),
             np.log2: lambda z: mpmath.log(z, 2), np.log10: mpmath.log10, np.arcsinh: mpmath.asinh,
             np.arccosh: mpmath.acosh, np.arctanh: mpmath.atanh}
FUNCTIONS = list(REFERENCE)

# (real, imaginary) parts: small values (where expm1, log1p, tanh, arcsinh must not cancel), large
# real parts (tanh is +-1, not inf / inf), both signs, off every branch cut
POINTS = np.array([[0.3, -1.7, 1e-9, -1e-9, 2.5, -0.4, 30.0, -30.0, 0.0, 1.2, -2.2, 0.05],
                   [0.8, 0.4, 2e-9, 1e-9, -1.1, -0.2, 0.7, -0.7, 0.6, 3.0, -0.3, -0.9]])
GRADIENT_POINTS = POINTS[:, [0, 1, 4, 5, 8, 9, 10, 11]]  # FD with steps of 1e-7 needs |z| well above them


def _through(function):
    return lambda p: function(p[0] + 1j * p[1])


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_values_match_mpmath(function):
    mpmath.mp.dps = 50
    real = mixedad.jvp(lambda p: _through(function)(p).real, (POINTS,), (np.zeros_like(POINTS),))[0]
    imaginary = mixedad.jvp(lambda p: _through(function)(p).imag, (POINTS,), (np.zeros_like(POINTS),))[0]
    for k, (a, b) in enumerate(POINTS.T):
        if function is np.tan and abs(a) > 20:
            continue  # tan of a large real part: that is a rotation, cos and sin, not this function's test
        expected = complex(REFERENCE[function](mpmath.mpc(a, b)))
        scale = np.array([abs(expected.real), abs(expected.imag)])
        np.testing.assert_allclose([real[k], imaginary[k]], [expected.real, expected.imag],
                                   rtol=1e-13, atol=1e-13 * np.max(scale) if np.max(scale) > 1e-6 else 1e-22,
                                   err_msg=f"{function.__name__} at {a} + {b}j")


def test_values_match_numpy_on_the_real_axis_beyond_the_cuts():
    # the sign of a zero imaginary part picks the side, as in NumPy: +0 for a real value
    x = np.array([2.0, -3.0, 0.5, -0.5])
    for function in (np.arctanh, np.arccosh, np.log1p, np.log2):
        value = mixedad.jvp(lambda p: function(p + 0j).imag, (x,), (np.zeros_like(x),))[0]
        np.testing.assert_allclose(value, function(x + 0j).imag, rtol=1e-14, err_msg=function.__name__)


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_derivatives_match_finite_differences(function, mode):
    weights = np.linspace(-1.0, 1.5, GRADIENT_POINTS.shape[1])

    def loss(p):
        value = _through(function)(p)
        return np.sum(weights * value.real) + np.sum(weights[::-1] * value.imag)

    expected = numerical_gradient(loss, GRADIENT_POINTS, eps=1e-7)
    np.testing.assert_allclose(mixedad.gradient(loss, GRADIENT_POINTS, mode=mode), expected, rtol=1e-6, atol=1e-6)
    direction = np.cos(np.arange(GRADIENT_POINTS.size)).reshape(GRADIENT_POINTS.shape)
    _, derivative = mixedad.jvp(loss, (GRADIENT_POINTS,), (direction,))
    assert derivative == pytest.approx(np.sum(expected * direction), rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("function", [np.tanh, np.arcsinh, np.log1p], ids=lambda f: f.__name__)
def test_second_derivatives_and_float32(function):
    def loss(p):
        return np.sum(np.abs(_through(function)(p)) ** 2)

    point = GRADIENT_POINTS[:, :3].copy()
    reference = np.array([numerical_gradient(lambda q: mixedad.gradient(loss, q).ravel()[i], point).ravel()
                          for i in range(point.size)])
    np.testing.assert_allclose(mixedad.hessian(loss, point).reshape(point.size, point.size), reference,
                               rtol=1e-5, atol=1e-6)
    single = point.astype(np.float32)
    gradient = mixedad.gradient(loss, single)
    assert gradient.dtype == np.float32
    np.testing.assert_allclose(gradient, mixedad.gradient(loss, point), rtol=1e-4, atol=1e-4)


def test_tanh_of_large_real_parts_is_finite_with_finite_derivatives():
    x = np.array([400.0, -800.0])
    value, gradient = mixedad.value_and_gradient(lambda x: np.sum(np.tanh(x + 0.5j).real), x)
    assert value == pytest.approx(np.sum(np.tanh(x + 0.5j).real))
    assert np.all(np.isfinite(gradient)) and np.all(np.abs(gradient) < 1e-100)
