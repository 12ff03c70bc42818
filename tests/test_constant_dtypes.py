"""Constants of other dtypes than the differentiated values (uint8 pixel data, int counts,
``np.arange``, bool masks, float16/float32 tables next to float64 values): NumPy casts them to
its loop's dtype, so the derivatives must be computed in that precision too, never in the
constant's own dtype (where ``a * a`` of a uint8 wraps around and 1/c of a float16 rounds).
Checked against central finite differences in float64 of the same NumPy code."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedad
from numerical import numerical_gradient

X = np.array([0.5, 1.25, -0.75, 2.0])

CONSTANTS = {
    "uint8": np.array([200, 3, 17, 1], np.uint8),
    "int32": np.array([70000, 3, -5, 2], np.int32),
    "int64 arange": np.arange(4),
    "bool": np.array([True, False, True, True]),
    "float16": np.array([300.0, 1.25, 3.0, 0.1], np.float16),
    "float32": np.array([1e20, 0.1, 0.3, 3.0], np.float32),
    "uint8 scalar": np.uint8(200),
    "float32 scalar": np.float32(0.1),
}

FUNCTIONS = {
    "x * a * a": lambda x, a: np.sum(x * a * a),
    "-(x * a)": lambda x, a: np.sum(-(x * a)),
    "(3 - x) * a": lambda x, a: np.sum((3.0 - x) * a),
    "x / (a + 1)": lambda x, a: np.sum(np.sin(x) / (a + 1)),
    "arctan2(a, x)": lambda x, a: np.sum(np.arctan2(a, x + 3.0)),
    "power(a + 1, x)": lambda x, a: np.sum(np.power(a + 1, x * 0.1)),
    "hypot(x, a) * a": lambda x, a: np.sum(np.hypot(x, a) * a),
    "repeated product": lambda x, a: np.sum(_repeated(x, a)),
}


def _repeated(x, a):
    for _ in range(5):
        x = x * a
    return x


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("constant", CONSTANTS)
@pytest.mark.parametrize("mode", ["auto", "reverse", "forward", "prepared", "jvp"])
def test_derivatives_are_computed_in_the_loop_dtype_not_the_constant_dtype(function, constant, mode):
    f, a = FUNCTIONS[function], CONSTANTS[constant]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        expected = numerical_gradient(lambda x: f(x, a), X)
        if not np.all(np.isfinite(expected)):
            pytest.skip("the function itself overflows here")
        # central differences of a large value lose |f| * 2e-16 / 1e-6 to rounding
        rounding = 1e-8 * max(1.0, abs(float(f(X, a))))
        if mode == "jvp":  # forward duals: one direction per element
            grad = np.array([mixedad.jvp(lambda x: f(x, a), (X,), (direction,))[1] for direction in np.eye(X.size)])
        elif mode == "prepared":
            grad = mixedad.prepare(lambda x: f(x, a), X).gradient(X)
        else:
            grad = mixedad.gradient(lambda x: f(x, a), X, mode=mode)
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=rounding)


def test_the_value_is_numpys_bit_for_bit():
    for a in CONSTANTS.values():
        for f in FUNCTIONS.values():
            with np.errstate(all="ignore"):
                value = mixedad.value_and_gradient(lambda x: f(x, a), X)[0]
                assert value == f(X, a) or (np.isnan(value) and np.isnan(f(X, a)))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([np.uint8, np.int16, np.int64, np.float16, np.float32]), st.integers(0, 2**16))
def test_random_integer_and_low_precision_tables(dtype, seed):
    rng = np.random.default_rng(seed)
    table = (rng.integers(0, 120, size=(3, 4)) if np.dtype(dtype).kind in "iu" else rng.normal(size=(3, 4)) * 50)
    table = table.astype(dtype)
    x = rng.normal(size=(3, 4))

    def f(x):
        return np.sum(np.tanh(x) * table * table - x / (np.abs(table) + 1) + np.arctan2(table, x * x + 1))

    expected = numerical_gradient(f, x)
    for mode in ("auto", "reverse"):
        np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), expected, rtol=1e-5, atol=1e-7)
    float32 = mixedad.gradient(f, x.astype(np.float32))  # float32 values: the gradient stays float32
    assert float32.dtype == np.result_type(np.float32, table.dtype) or float32.dtype == np.float32


@pytest.mark.parametrize("first", [0.5, 1, np.float64(0.5)])
@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_clip_of_a_python_number_is_float64_as_numpys(first, mode):
    """np.clip converts its first argument to an array: a Python float is float64 there, not
    a weak scalar that float32 bounds would keep in float32."""
    def f(x):
        return np.sum(np.clip(first, x - 1, x + 1))

    x = np.array([0.3, -1.2, 0.9], np.float32)
    value, gradient = mixedad.value_and_gradient(f, x, mode=mode)
    assert value.dtype == f(x).dtype == np.float64
    np.testing.assert_array_equal(value, f(x))
    assert gradient.dtype == np.float32
    np.testing.assert_allclose(gradient, numerical_gradient(f, x.astype(np.float64)), atol=1e-6)
