"""Signals, polynomials and norms of complex intermediate values (``rules.complex_signal``):
``convolve``, ``correlate``, ``pad``, ``interp``, ``trapezoid``, ``gradient``, ``polyval``,
``cumprod``, the ``split`` family, ``arctan``, ``arcsin``, ``arccos``, ``sinc``,
``sort_complex``, ``matrix_power`` and the norms of magnitudes, checked against NumPy's values
and float64 central differences in every mode, with hypothesis-drawn lengths and axes."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedad
from mode_checks import assert_second_order_and_replays
from numerical import numerical_gradient

RNG = np.random.default_rng(11)
X = RNG.uniform(0.3, 1.2, 5)
KERNEL = RNG.standard_normal(3) + 1j * RNG.standard_normal(3)
WEIGHTS = RNG.standard_normal(200)


def wave(x):
    """A complex signal with both parts depending on every element of x."""
    return x * (1 + 0.5j) + 1j * x[::-1] ** 2 - 0.2


def weighted(z):
    """A real loss reading both parts of every element of z."""
    flat = np.ravel(z)
    return np.sum(np.real(flat) * WEIGHTS[:flat.size]) + np.sum(np.imag(flat) * WEIGHTS[::-1][:flat.size])


CASES = {
    "convolve, complex both": lambda x: weighted(np.convolve(wave(x), wave(x[::-1]) * 0.5)),
    "convolve, complex constant kernel": lambda x: weighted(np.convolve(x, KERNEL)),
    "convolve, same": lambda x: weighted(np.convolve(wave(x), KERNEL, mode="same")),
    "convolve, valid, shorter first": lambda x: weighted(np.convolve(KERNEL, wave(x), mode="valid")),
    "correlate, valid": lambda x: weighted(np.correlate(wave(x), KERNEL)),
    "correlate, full, complex both": lambda x: weighted(np.correlate(wave(x), wave(x)[:3], mode="full")),
    "correlate, real signal, complex kernel": lambda x: weighted(np.correlate(x, KERNEL, mode="same")),
    "pad, constant complex value": lambda x: weighted(np.pad(wave(x), (2, 1), constant_values=(1 + 2j, -1j))),
    "pad, reflect": lambda x: weighted(np.pad(wave(x), 2, mode="reflect")),
    "pad, wrap 2-d": lambda x: weighted(np.pad(np.outer(wave(x), x[:2]), ((1, 0), (0, 2)), mode="wrap")),
    "pad, edge": lambda x: weighted(np.pad(wave(x), 3, mode="edge")),
    "pad, linear_ramp with complex ends": lambda x: weighted(np.pad(wave(x), 2, mode="linear_ramp",
                                                                   end_values=(1j, 2.0))),
    "pad, mean": lambda x: weighted(np.pad(wave(x), 2, mode="mean", stat_length=2)),
    "pad, symmetric odd": lambda x: weighted(np.pad(wave(x), 2, mode="symmetric", reflect_type="odd")),
    "interp": lambda x: weighted(np.interp([0.1, 0.35, 0.9, 1.5], np.linspace(0, 1, 5), wave(x))),
    "interp, complex left and right": lambda x: weighted(np.interp([-1.0, 0.5, 2.0], np.linspace(0, 1, 5), wave(x),
                                                                   left=2j, right=-1 + x[0] * 0.5)),
    "interp, traced x and a period": lambda x: weighted(np.interp(x * 3, [0.0, 1.0, 2.0], [1j, 2.0, 3 - 1j],
                                                                  period=2.5)),
    "trapezoid": lambda x: weighted(np.trapezoid(np.outer(wave(x), x), axis=0)),
    "trapezoid with traced x": lambda x: weighted(np.trapezoid(wave(x), np.cumsum(x))),
    "gradient, 1-d": lambda x: weighted(np.gradient(wave(x), 0.5)),
    "gradient, 2-d": lambda x: weighted(np.stack(np.gradient(np.outer(wave(x), x[:3] + 1j)))),
    "polyval, complex coefficients": lambda x: weighted(np.polyval(wave(x), [0.3 + 0.2j, -0.7])),
    "polyval, complex points": lambda x: weighted(np.polyval(x, wave(x)[:2])),
    "polyval, one coefficient": lambda x: weighted(np.polyval(wave(x)[:1], [1.0, 2.0, 3.0])),
    "cumprod": lambda x: weighted(np.cumprod(wave(x))),
    "cumprod, axis": lambda x: weighted(np.cumprod(np.outer(wave(x), [1.0, 0.5j, 2.0]), axis=1)),
    "cumprod, flattened": lambda x: weighted(np.cumprod(np.outer(wave(x)[:3], [1.0, 0.5j]))),
    "split": lambda x: weighted(np.split(np.concatenate([wave(x), wave(x)[:1]]), 3)[1]),
    "array_split": lambda x: weighted(np.stack(np.array_split(wave(x), 2)[1:]) * np.array_split(wave(x), 2)[0][:2]),
    "hsplit of a matrix": lambda x: weighted(np.hsplit(np.outer(wave(x), [1, 2j, 3, 4]), [1, 3])[1]),
    "arctan": lambda x: weighted(np.arctan(wave(x))),
    "arctan beyond the cut's ends": lambda x: weighted(np.arctan(0.1 * x + 3j)),
    "arcsin": lambda x: weighted(np.arcsin(wave(x))),
    "arcsin of a large value": lambda x: weighted(np.arcsin(50 * wave(x))),
    "arccos": lambda x: weighted(np.arccos(wave(x) - 0.4)),
    "sinc": lambda x: weighted(np.sinc(wave(x))),
    "sort_complex": lambda x: weighted(np.sort_complex(wave(x) * np.exp(1j * x))),
    "sort_complex of real values": lambda x: weighted(np.sort_complex(np.sin(7 * x)) * (1 - 1j)),
    "matrix_power": lambda x: weighted(np.linalg.matrix_power(np.outer(wave(x)[:3], x[:3]) * 0.5 + np.eye(3), 3)),
    "matrix_power, negative": lambda x: weighted(np.linalg.matrix_power(
        np.outer(wave(x)[:3], x[:3]) * 0.2 + 2 * np.eye(3), -2)),
    "norm, ord 1": lambda x: np.linalg.norm(wave(x), ord=1),
    "norm, ord inf": lambda x: np.linalg.norm(wave(x), ord=np.inf),
    "norm, ord -inf": lambda x: np.linalg.norm(wave(x), ord=-np.inf),
    "norm, ord 3": lambda x: np.linalg.norm(wave(x), ord=3),
    "norm, matrix ord 1": lambda x: np.linalg.norm(np.outer(wave(x), [1, 2j, -3]), ord=1),
    "norm, matrix ord -inf": lambda x: np.linalg.norm(np.outer(wave(x), [1, 2j, -3]), ord=-np.inf),
    "norm, matrix ord 2": lambda x: np.linalg.norm(np.outer(wave(x), [1, 2j, -3]) + np.eye(5, 3), ord=2),
    "norm, ord 1 along an axis": lambda x: weighted(np.linalg.norm(np.outer(wave(x), [1, 2j, -3]), ord=1, axis=0)),
}


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_and_value_match_numpy_and_central_differences(name, mode):
    f = CASES[name]
    value, grad = mixedad.value_and_gradient(f, X, mode=mode)
    assert value == pytest.approx(f(X), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(f, X), rtol=1e-6, atol=1e-7)


INTERMEDIATES = {  # (function of x, NumPy's function of the plain wave): the complex results themselves
    "arctan": np.arctan, "arcsin": np.arcsin, "arccos": np.arccos, "sinc": np.sinc, "cumprod": np.cumprod,
    "sort_complex": np.sort_complex, "trapezoid": np.trapezoid,
    "convolve": lambda z: np.convolve(z, KERNEL), "correlate": lambda z: np.correlate(z, KERNEL, "full"),
    "polyval": lambda z: np.polyval(z, 0.3 - 0.8j), "pad": lambda z: np.pad(z, 2, constant_values=1j),
}


@pytest.mark.parametrize("name", sorted(INTERMEDIATES))
def test_complex_results_equal_numpy_values_and_dtypes(name):
    """Both parts of each result, seen through the auxiliary output, are NumPy's, for complex128 and complex64."""
    function = INTERMEDIATES[name]
    for x in (X, X.astype(np.float32)):
        def f(x):
            z = function(wave(x))
            return np.sum(np.abs(z)), (np.real(z), np.imag(z))
        _, (re, im) = mixedad.gradient(f, x, has_aux=True)
        expected = function(wave(x))
        assert re.dtype == im.dtype == expected.real.dtype
        np.testing.assert_allclose(re + 1j * im, expected, rtol=2e-6 if x.dtype == np.float32 else 1e-13, atol=1e-12)


@pytest.mark.parametrize("name", ["arctan", "convolve, same", "pad, reflect", "cumprod", "polyval, complex points",
                                  "norm, ord 1", "split"])
def test_float32_stays_float32(name):
    f, x32 = CASES[name], X.astype(np.float32)
    value, grad = mixedad.value_and_gradient(f, x32)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, numerical_gradient(f, X), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("name", ["arcsin", "correlate, full, complex both", "cumprod, axis", "matrix_power",
                                  "interp, complex left and right"])
def test_second_derivatives_and_prepared_replays(name):
    assert_second_order_and_replays(CASES[name], X)


@pytest.mark.parametrize("mode", ["maximum", "minimum", "median"])
def test_pad_modes_that_order_values_are_refused(mode):
    with pytest.raises(mixedad.UnsupportedOperationError, match=f"numpy.pad with mode='{mode}'"):
        mixedad.gradient(lambda x: weighted(np.pad(wave(x), 1, mode=mode)), X)


def test_matrix_power_zero_is_the_identity_with_a_zero_gradient():
    f = lambda x: np.sum(np.abs(np.linalg.matrix_power(np.outer(wave(x)[:2], x[:2]), 0)))
    assert mixedad.value_and_gradient(f, X)[0] == 2.0
    np.testing.assert_array_equal(mixedad.gradient(f, X), np.zeros_like(X))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 9), m=st.integers(1, 4), mode=st.sampled_from(["full", "same", "valid"]),
       function=st.sampled_from(["convolve", "correlate"]))
def test_convolutions_over_drawn_lengths(n, m, mode, function):
    rng = np.random.default_rng(n * 10 + m)
    x = rng.uniform(0.2, 1.0, n)
    kernel = rng.standard_normal(m) + 1j * rng.standard_normal(m)
    f = lambda x: weighted(getattr(np, function)(x * (1 - 0.3j) + 1j * x ** 2, kernel * x[0], mode=mode))
    np.testing.assert_allclose(mixedad.value_and_gradient(f, x)[0], f(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mixedad.gradient(f, x), numerical_gradient(f, x), rtol=1e-6, atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), data=st.data())
def test_cumprod_over_drawn_shapes_and_axes(shape, data):
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    x = np.random.default_rng(len(shape)).uniform(0.5, 1.5, size=shape)
    f = lambda x: weighted(np.cumprod(x * np.exp(0.7j * x), axis=axis))
    np.testing.assert_allclose(mixedad.value_and_gradient(f, x)[0], f(x), rtol=1e-12)
    np.testing.assert_allclose(mixedad.gradient(f, x), numerical_gradient(f, x), rtol=1e-6, atol=1e-7)
