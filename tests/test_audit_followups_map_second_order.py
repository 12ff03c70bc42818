"""Second derivatives of ``mixedad.map`` / ``mixedad.sum`` over a scalar function that branches
(so it runs element by element, on scalar duals that nest at second order) and calls
np.maximum, np.minimum, np.fmax, np.fmin or np.heaviside: their partials ask np.result_type of
the nested duals, which used to raise an error naming ``result_type``.
Checked against central differences of ``mixedad.gradient`` and against the same function
written vectorized with np.where."""
import numpy as np
import pytest

import mixedad

# away from every kink (0, 0.2, -0.1) and with two elements on the other side of the branch
X = np.array([0.3, -0.6, 1.1, 0.25, -7.0, -0.45, -6.5])


def relu_squared(t):
    if t > -5.0:
        return np.maximum(t, 0.0) ** 2
    return 0.5 * t ** 2


def capped(t):
    if t > -5.0:
        return np.minimum(t, 0.2) * t
    return t ** 3


def fmax_cubed(t):
    return np.fmax(t, -0.1) ** 3 if t > -5.0 else t * t


def fmin_times_sin(t):
    return np.fmin(t, 0.2) * np.sin(t) if t > -5.0 else np.cos(t)


def stepped(t):
    return np.heaviside(t, 0.5) * t ** 3 + t ** 2 if t > -5.0 else -t ** 3


def maximum_of_two(t):
    # the maximum of two differentiated values: its partials at second order are duals too
    return np.maximum(t * t, np.sin(t)) * t if t > -5.0 else t


BRANCHY = {f.__name__: f for f in (relu_squared, capped, fmax_cubed, fmin_times_sin, stepped, maximum_of_two)}
VECTORIZED = {
    "relu_squared": lambda x: np.where(x > -5.0, np.maximum(x, 0.0) ** 2, 0.5 * x ** 2),
    "capped": lambda x: np.where(x > -5.0, np.minimum(x, 0.2) * x, x ** 3),
    "fmax_cubed": lambda x: np.where(x > -5.0, np.fmax(x, -0.1) ** 3, x * x),
    "fmin_times_sin": lambda x: np.where(x > -5.0, np.fmin(x, 0.2) * np.sin(x), np.cos(x)),
    "stepped": lambda x: np.where(x > -5.0, np.heaviside(x, 0.5) * x ** 3 + x ** 2, -x ** 3),
    "maximum_of_two": lambda x: np.where(x > -5.0, np.maximum(x * x, np.sin(x)) * x, x),
}


def _hessian_from_gradient_differences(loss, x, eps=1e-6):
    columns = []
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = eps
        columns.append((mixedad.gradient(loss, x + step) - mixedad.gradient(loss, x - step)) / (2 * eps))
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("name", BRANCHY)
def test_hessian_of_a_branching_mapped_function(name):
    def loss(x):
        return np.sum(mixedad.map(BRANCHY[name], x))

    hessian = mixedad.hessian(loss, X)
    np.testing.assert_allclose(hessian, _hessian_from_gradient_differences(loss, X), rtol=1e-6, atol=1e-6)
    vectorized = mixedad.hessian(lambda x: np.sum(VECTORIZED[name](x)), X)
    np.testing.assert_allclose(hessian, vectorized, rtol=1e-12, atol=1e-12)
    assert np.any(np.diag(hessian) != 0)


@pytest.mark.parametrize("name", BRANCHY)
def test_hvp_of_a_branching_mapped_function(name):
    v = np.linspace(-1.0, 2.0, X.size)
    hvp = mixedad.hvp(lambda x: mixedad.sum(BRANCHY[name], x), X, v)
    expected = mixedad.hvp(lambda x: np.sum(VECTORIZED[name](x)), X, v)
    np.testing.assert_allclose(hvp, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hvp, _hessian_from_gradient_differences(
        lambda x: mixedad.sum(BRANCHY[name], x), X) @ v, rtol=1e-6, atol=1e-6)


def test_second_order_keeps_float32():
    x = X.astype(np.float32)
    hessian = mixedad.hessian(lambda x: np.sum(mixedad.map(relu_squared, x)), x)
    assert hessian.dtype == np.float32
    np.testing.assert_allclose(np.diag(hessian), np.where(X > -5.0, 2.0 * (X > 0), 1.0), rtol=1e-6)


def test_heaviside_second_argument_at_second_order():
    # d/dh of heaviside(t, h) is 1 where t == 0: the partial that asks result_type(x, h, 1.0)
    def f(t, h):
        return np.heaviside(t, h) * h * h if h > -5.0 else h

    t = np.array([0.0, 1.5, 0.0, -2.0])
    h = np.array([0.3, 0.7, -1.2, 2.0])
    hessian = mixedad.hessian(lambda h: np.sum(mixedad.map(f, t, h)), h)
    # f = h^3 where t == 0, h^2 where t > 0, 0 where t < 0
    np.testing.assert_allclose(np.diag(hessian), [6 * 0.3, 2.0, 6 * -1.2, 0.0], rtol=1e-12)
