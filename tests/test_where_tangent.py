"""np.where in a dual region: its tangent reads only the condition (a gradient computes no
branch's value) and selects by multiplying with the mask."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixedad

from numerical import numerical_gradient
from test_regions import CountingSin

MODES = ("auto", "reverse", "forward")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huber_and_leaky_relu_match_finite_differences_and_keep_the_dtype(mode, dtype):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(50), rng.standard_normal(50)

    def huber(x):
        d = x - y.astype(x.dtype)
        a = np.abs(d)
        return np.mean(np.where(a < 1.0, 0.5 * d ** 2, a - 0.5))

    for f in (huber, lambda x: np.sum(np.where(x > 0, x, 0.01 * x)),  # a region input as a branch
              lambda x: np.sum(np.where(x > 0, x - 1.0, 0.0) * x),   # an integer tangent through x - 1
              lambda x: np.sum(np.where(x > 0.3, 2.0, x) ** 2)):     # a constant branch
        grad = mixedad.gradient(f, x.astype(dtype), mode=mode)
        assert grad.dtype == dtype
        np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=2e-3 if dtype == np.float32 else 1e-7,
                                   atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_an_infinite_derivative_in_the_branch_not_taken_gives_zero(mode):
    x = np.array([0.0, 1.0, -1.0, 4.0])
    grad = mixedad.gradient(lambda x: np.sum(np.where(x > 0, np.sqrt(np.abs(x)), 0.0)), x, mode=mode)
    np.testing.assert_array_equal(grad, [0.0, 0.5, 0.0, 0.25])


def test_gradient_computes_no_branch_value():
    counter = CountingSin()
    x = np.linspace(-1.0, 1.0, 7)
    f = lambda x: np.sum(np.where(x > 0, counter.prim(x), 2.0 * counter.prim(x)))
    grad = mixedad.gradient(f, x)
    assert counter.calls == 0
    np.testing.assert_allclose(grad, np.where(x > 0, np.cos(x), 2.0 * np.cos(x)))


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 4), cols=st.integers(1, 4), seed=st.integers(0, 2 ** 16),
       broadcast=st.sampled_from(["full", "row", "scalar"]))
def test_broadcast_conditions_and_branches(rows, cols, seed, broadcast):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols))
    shape = {"full": (rows, cols), "row": (1, cols), "scalar": ()}[broadcast]
    condition = rng.random(shape) > 0.5
    b = rng.standard_normal((rows, 1))

    def f(x):
        return np.sum(np.where(condition, np.tanh(x) * b, x ** 3) * np.cos(x))
    for mode in MODES:
        np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), numerical_gradient(f, x), rtol=1e-6, atol=1e-9)


def test_second_order_through_where():
    x = np.array([-1.5, 0.5, 2.0])
    f = lambda x: np.sum(np.where(x > 0, x ** 3, np.sin(x)))
    expected = np.diag(np.where(x > 0, 6 * x, -np.sin(x)))
    np.testing.assert_allclose(mixedad.hessian(f, x), expected, rtol=1e-10)
