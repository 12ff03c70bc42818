"""Forward mode, jvp, hvp and hessian on code that mixes kinds of operations, against finite
differences of finite differences (float64): the cases a sweep of NumPy calls found crashing.

Each function is checked in every transform: the gradient against central differences of
f, jvp against the directional difference, and the Hessian (and hvp) against central
differences of that finite-difference gradient.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient

X = np.array([0.3, -0.5, 1.2, 0.8])
CASES = {
    "an indexed value used linearly and nonlinearly": lambda x: 2 * x[0] + x[0] ** 2 + np.sum(x[:2]) * x[3],
    "a slice in a sum and a product": lambda x: np.sum(x[:2]) + np.sum(x[:2] ** 2) + x[1] * x[2],
    "a constant to a traced power": lambda x: np.sum(2.0 ** x) + np.sum(np.power(3.0, x[:2])),
    "np.where with a Python bool": lambda x: np.sum(np.where(True, x ** 3, 0.0)),
    "average with integer weights": lambda x: np.average(x ** 2, weights=np.arange(1, 5)),
    "average with list weights": lambda x: np.sum(np.average(np.outer(x, x), axis=1, weights=[1, 2, 3, 4])),
    "methods round, diagonal, trace": lambda x: np.sum(x.round(1) + x ** 2) + np.outer(x, x).diagonal().sum()
    * np.outer(x, x).trace(),
    "divmod and the built-in round": lambda x: np.sum(divmod(x ** 2, 0.7)[1]) + round(x[0]) + round(x[1] * x[2], 1),
}


def _hessian_by_differences(f, x):
    return np.array([numerical_gradient(lambda v: numerical_gradient(f, v, eps=1e-4)[i], x, eps=1e-4)
                     for i in range(x.size)])


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_transform_agrees_with_finite_differences(name):
    f = CASES[name]
    gradient = numerical_gradient(f, X)
    np.testing.assert_allclose(mixedad.gradient(f, X), gradient, rtol=1e-6, atol=1e-8)
    direction = np.array([1.0, -2.0, 0.5, 1.5])
    _, tangent = mixedad.jvp(f, (X,), (direction,))
    np.testing.assert_allclose(tangent, gradient @ direction, rtol=1e-6, atol=1e-8)
    expected = _hessian_by_differences(f, X)
    np.testing.assert_allclose(mixedad.hessian(f, X), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mixedad.hvp(f, X, direction), expected @ direction, rtol=1e-4, atol=1e-5)


def test_average_with_integer_weights_keeps_numpys_dtype_in_forward_mode():
    x32 = X.astype(np.float32)
    f = CASES["average with integer weights"]
    value, tangent = mixedad.jvp(f, (x32,), (np.ones_like(x32),))
    assert np.asarray(value).dtype == np.asarray(f(x32)).dtype  # float32 with int64 weights: float64, as NumPy


def test_math_log_with_a_base_in_a_mapped_scalar_function():
    f = lambda x: mixedad.sum(lambda s: math.log(s * s + 1, 2) if s > 0 else s, x)  # noqa: E731
    np.testing.assert_allclose(mixedad.gradient(f, X), numerical_gradient(f, X), rtol=1e-6)


def _branching_loss(x):
    return mixedad.sum(lambda s: math.sin(s) * s if s > 0 else s ** 3 - 2 * s, x)


@pytest.mark.parametrize("second", [
    lambda f, v: mixedad.hessian(f, X) @ v,
    lambda f, v: mixedad.hvp(f, X, v),
    lambda f, v: mixedad.jacobian(lambda x: mixedad.gradient(f, x), X, mode="forward") @ v,
    lambda f, v: mixedad.jacobian(lambda x: mixedad.gradient(f, x), X, mode="reverse") @ v,
    lambda f, v: mixedad.gradient(lambda x: mixedad.jvp(f, (x,), (v,))[1], X),
    lambda f, v: mixedad.jvp(lambda x: mixedad.gradient(f, x), (X,), (v,))[1],
    lambda f, v: mixedad.gradient(lambda x: mixedad.gradient(f, x) @ v, X),
], ids=["hessian", "hvp", "forward jacobian of gradient", "reverse jacobian of gradient", "gradient of jvp",
        "jvp of gradient", "gradient of gradient"])
def test_a_branching_mapped_function_has_second_derivatives_in_every_nesting(second):
    # element by element on nested scalar duals: checked against differences of the gradient
    v = np.array([1.0, -2.0, 0.5, 3.0])
    expected = numerical_gradient(lambda x: mixedad.gradient(_branching_loss, x) @ v, X)
    np.testing.assert_allclose(second(_branching_loss, v), expected, rtol=1e-6, atol=1e-8)


def test_a_branching_mapped_function_has_third_derivatives():
    v = np.array([1.0, -2.0, 0.5, 3.0])
    third = mixedad.gradient(lambda x: mixedad.hvp(_branching_loss, x, v) @ v, X)
    expected = numerical_gradient(lambda x: mixedad.hvp(_branching_loss, x, v) @ v, X)
    np.testing.assert_allclose(third, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_second_derivatives_of_a_branching_map_of_two_arguments(dtype):
    x, p = (X * 1.7 - 0.4).astype(dtype), np.linspace(-0.5, 0.5, X.size).astype(dtype)
    loss = lambda v, q: mixedad.sum(lambda a: a, mixedad.map(_scaled, v, q)) * 2  # noqa: E731
    hessian = mixedad.hessian(lambda z: loss(z[:4], z[4:]), np.concatenate([x, p]))
    assert hessian.dtype == dtype
    gradient = lambda z: mixedad.gradient(lambda w: loss(w[:4], w[4:]), z)  # noqa: E731
    z64 = np.concatenate([x, p]).astype(np.float64)
    expected = np.array([numerical_gradient(lambda z: gradient(z)[i], z64) for i in range(8)])
    np.testing.assert_allclose(hessian, expected, rtol=1e-4 if dtype is np.float32 else 1e-6, atol=1e-5)


def _huber(t, delta=0.5):
    return 0.5 * t * t if abs(t) <= delta else delta * (abs(t) - 0.5 * delta)


def _scaled(t, p):
    return math.sin(t) * p if t > p else t * t - p


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_branching_mapped_functions_in_forward_mode_match_finite_differences(dtype):
    x, p = (X * 1.7 - 0.4).astype(dtype), np.linspace(-0.5, 0.5, X.size).astype(dtype)
    tangent = np.linspace(1.0, -2.0, X.size).astype(dtype)
    loss = lambda v: mixedad.sum(_huber, v)  # noqa: E731
    value, derivative = mixedad.jvp(loss, (x,), (tangent,))
    expected = numerical_gradient(loss, x.astype(np.float64))
    assert derivative.dtype == dtype and np.isclose(value, loss(x))
    np.testing.assert_allclose(derivative, np.sum(expected * tangent), rtol=1e-5 if dtype is np.float32 else 1e-8)
    # two arguments, one differentiated, broadcast against the other; a forward Jacobian (chunked tangents)
    q = np.array([-0.3, 0.2], dtype)
    mapped = lambda v: mixedad.map(_scaled, v[:, None], q)  # noqa: E731
    jacobian = mixedad.jacobian(mapped, x, mode="forward")
    assert jacobian.dtype == dtype and jacobian.shape == (4, 2, 4)
    np.testing.assert_allclose(jacobian, mixedad.jacobian(mapped, x, mode="reverse"), rtol=1e-6)
    column = numerical_gradient(lambda v: mixedad.map(_scaled, v[:, None], q.astype(np.float64))[1, 1],
                                x.astype(np.float64))
    np.testing.assert_allclose(jacobian[1, 1], column, rtol=1e-4 if dtype is np.float32 else 1e-7, atol=1e-6)
    # both arguments carry tangents
    _, both = mixedad.jvp(lambda v, q: mixedad.sum(lambda a: a, mixedad.map(_scaled, v, q)), (x, p), (tangent, tangent))
    x64, p64, t64 = x.astype(np.float64), p.astype(np.float64), tangent.astype(np.float64)
    step = lambda h: np.sum(mixedad.map(_scaled, x64 + h * t64, p64 + h * t64))  # noqa: E731
    np.testing.assert_allclose(both, (step(1e-6) - step(-1e-6)) / 2e-6, rtol=1e-4 if dtype is np.float32 else 1e-6)


@pytest.mark.parametrize("function, base", [(np.logaddexp, np.e), (np.logaddexp2, 2.0)])
@pytest.mark.parametrize("x, y", [(800.0, 0.0), (0.0, -700.0), (1.5, 1.5), (-3.0, 2.0)])
def test_logaddexp_hessian_is_finite_far_apart(function, base, x, y):
    # d/dx = s(x - y), s the logistic in base `base`; d2/dx2 = ln(base) s (1 - s), exact on the tails
    point = np.array([x, y])
    hessian = mixedad.hessian(lambda z: function(z[0], z[1]), point)
    def logistic(d):
        return 1 / (1 + base ** -d) if d >= 0 else base ** d / (1 + base ** d)
    curvature = np.log(base) * logistic(x - y) * logistic(y - x)
    np.testing.assert_allclose(hessian, curvature * np.array([[1.0, -1.0], [-1.0, 1.0]]), rtol=1e-12, atol=0)


# --- found by a sweep of realistic programs (session 10) ----------------------------------------
@mixedad.primitive
def _triple(x):
    return 3.0 * x


_triple.deflinear()  # reverse rule derived by transposing the forward rule


@mixedad.primitive
def _cube(x):
    return x ** 3


_cube.defjvp(lambda t, out, x: 3 * x ** 2 * t)  # the same, for a nonlinear forward rule


@pytest.mark.parametrize("f", [
    lambda x: np.sum(_triple(x) * np.sin(x)),
    lambda x: np.sum(_cube(x) * np.sin(x)),
    lambda x: np.sum(np.concatenate([[0.0], x, [0.0]]) ** 2 * np.arange(5.0)),  # a list literal among the arrays
])
def test_second_order_through_derived_rules_and_list_arguments(f):
    x = np.array([0.3, -1.2, 0.8])
    columns = [numerical_gradient(lambda z: mixedad.gradient(f, z)[i], x) for i in range(3)]
    np.testing.assert_allclose(mixedad.hessian(f, x), np.array(columns), rtol=1e-6, atol=1e-8)
    direction = np.array([1.0, -0.5, 2.0])
    np.testing.assert_allclose(mixedad.jvp(f, (x,), (direction,))[1], numerical_gradient(f, x) @ direction,
                               rtol=1e-6)


def test_map_of_a_branching_function_keeps_float32_outside_a_differentiation():
    def soft(t):
        return math.sin(t) if t > 0 else t
    x32 = np.array([0.3, -0.4, 1.2], np.float32)
    mapped = mixedad.map(soft, x32)
    assert mapped.dtype == np.float32
    np.testing.assert_allclose(mapped, [math.sin(0.3), -0.4, math.sin(1.2)], rtol=1e-6)


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_a_mapped_function_returning_a_constant_keeps_the_dtype_and_gives_a_zero_derivative(mode):
    # on a 0-d value the branch runs on the traced value itself and returns the Python float
    x = np.array(-0.9, np.float32)
    jacobian = mixedad.jacobian(lambda z: mixedad.map(lambda t, q: -0.12 if t < 0 else t * q, z, np.float32(2)), x,
                                mode="reverse" if mode == "auto" else mode)
    assert jacobian.dtype == np.float32 and jacobian == 0
    # a constant of any shape meets an infinite input without making a NaN
    y = np.array([np.inf, 1.0], np.float32)
    grad = mixedad.gradient(lambda z: np.sum(mixedad.map(lambda t: 3.0, z) * np.minimum(z, 2.0)), y, mode=mode)
    assert grad.dtype == np.float32
    np.testing.assert_array_equal(grad, [0.0, 3.0])


def _mixed(t, p):
    return math.sin(t) * p * p if t > p else math.exp(t * p) + t


@pytest.mark.parametrize("cross", [
    lambda F, x, p: mixedad.jacobian(lambda q: mixedad.gradient(F, x, q), p, mode="forward"),
    lambda F, x, p: mixedad.jacobian(lambda q: mixedad.gradient(F, x, q), p, mode="reverse"),
    lambda F, x, p: np.diag(mixedad.jvp(lambda q: mixedad.gradient(F, x, q), (p,), (np.ones_like(p),))[1]),
    lambda F, x, p: np.diag(mixedad.gradient(lambda q: mixedad.jvp(lambda y: F(y, q), (x,), (np.ones_like(x),))[1], p)),
    lambda F, x, p: np.diag(mixedad.gradient(lambda y: np.sum(mixedad.gradient(F, y, p, argnums=1)), x)),
], ids=["forward jacobian over p of gradient over x", "reverse jacobian", "jvp over p", "gradient over p of jvp",
        "gradient over x of gradient over p"])
def test_mixed_second_derivatives_of_a_branching_map_differentiated_in_different_arguments(cross):
    # the two levels differentiate different arguments of f: their scalar duals must stay apart
    x, p = np.array([0.5, 1.2, -0.3]), np.array([0.7, -0.8, 0.1])
    F = lambda y, q: mixedad.sum(lambda a: a, mixedad.map(_mixed, y, q))  # noqa: E731
    expected = np.array([numerical_gradient(lambda q: mixedad.gradient(F, x, q)[i], p) for i in range(3)])
    np.testing.assert_allclose(cross(F, x, p), expected, rtol=1e-6, atol=1e-8)
