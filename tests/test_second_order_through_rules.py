"""Second derivatives through elementwise primitives with a Python body take the primitive's rules.

In forward-over-reverse (``hessian``, ``hvp``, ``jvp`` of a gradient) a dual region of the inner
gradient evaluates its ops on the outer level's forward duals. Running a primitive's NumPy body
on them differentiated the body instead of the primitive: ``nn.sigmoid``'s body reads
``np.abs(x)``, whose derivative at 0 is taken as 0, so its Hessian at 0 came out 0 (a smooth
function); ``nn.relu``'s body is ``np.maximum(x, 0)``, whose tie rule (0.5 at 0) disagreed
with relu's declared derivative 0 at 0, so the Hessian was asymmetric and disagreed with the
gradient of the gradient. References: sympy's derivatives, central second differences, and the
rules' documented conventions.
"""
import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import mixedad
from mixedad import nn


def second_differences(f, x, h=1e-4):
    """Central second differences of a scalar f (float64): the Hessian, entry by entry."""
    n = x.size
    hessian = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            hessian[i, j] = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j) + f(x - e_i - e_j)) / (4 * h * h)
    return hessian


def sympy_sigmoid_squared_second_derivative(values):
    t = sympy.Symbol("t")
    expression = sympy.diff((1 / (1 + sympy.exp(-t))) ** 2, t, 2)
    return np.array([float(expression.subs(t, v)) for v in values])


def all_second_order_transforms(f, x):
    """The Hessian of f at x by each route mixedad offers, as (name, matrix) pairs."""
    n = x.size
    rows_by_hvp = np.array([mixedad.hvp(f, x, np.eye(n)[i]) for i in range(n)])
    rows_by_jvp_of_gradient = np.array([mixedad.jvp(lambda y: mixedad.gradient(f, y), (x,), (np.eye(n)[i],))[1]
                                        for i in range(n)])
    gradient_of_gradient = np.array([mixedad.gradient(lambda y, i=i: mixedad.gradient(f, y)[i], x)
                                     for i in range(n)])
    return [("hessian", mixedad.hessian(f, x)), ("hvp", rows_by_hvp), ("jvp of gradient", rows_by_jvp_of_gradient),
            ("gradient of gradient", gradient_of_gradient)]


def test_sigmoid_squared_at_zero_matches_sympy_in_every_second_order_transform():
    x = np.array([0.0, 0.7, -1.3])
    expected = np.diag(sympy_sigmoid_squared_second_derivative(x))
    for name, hessian in all_second_order_transforms(lambda y: np.sum(nn.sigmoid(y) ** 2), x):
        np.testing.assert_allclose(hessian, expected, rtol=1e-9, atol=1e-12, err_msg=name)


def test_logistic_regression_newton_hessian_at_zero_weights():
    # zero-initialised weights put every sigmoid input at exactly 0
    features = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -1.2]])
    targets = np.array([1.0, 0.0, 1.0])

    def loss(w):
        return np.sum((nn.sigmoid(features @ w) - targets) ** 2)

    w = np.zeros(2)
    reference = second_differences(loss, w)
    for name, hessian in all_second_order_transforms(loss, w):
        np.testing.assert_allclose(hessian, reference, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("activation", [nn.sigmoid, nn.softplus, np.tanh])
@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.sampled_from([0.0, -0.0, 0.5, -2.0, 3.0, 1e-3]), min_size=1, max_size=4))
def test_smooth_activations_at_and_near_zero_match_second_differences(activation, values):
    x = np.array(values)

    def f(y):
        return np.sum(activation(y) * np.cos(y)) + np.sum(activation(y)) ** 2

    reference = second_differences(f, x)
    for name, hessian in all_second_order_transforms(f, x):
        np.testing.assert_allclose(hessian, reference, rtol=1e-5, atol=1e-7, err_msg=name)


def test_relu_second_derivative_follows_its_declared_derivative_at_zero():
    # d2/dy2 [relu(y) y] = relu''(y) y + 2 relu'(y): 0 at y = 0, where relu'(0) is declared 0
    def f(y):
        return np.sum(nn.relu(y) * y)

    x = np.array([0.0, 0.5, -0.5])
    expected = np.diag([0.0, 2.0, 0.0])
    for name, hessian in all_second_order_transforms(f, x):
        np.testing.assert_array_equal(hessian, expected, err_msg=name)


def test_relu_net_with_zero_first_layer_has_a_symmetric_hessian_equal_to_the_gradient_of_gradient():
    features, targets = np.array([[1.0, 2.0], [-1.0, 0.5]]), np.array([1.0, -2.0])

    def loss(t):
        first, second = t[:2].reshape(2, 1), t[2:]
        return np.sum((nn.relu(features @ first) @ second - targets) ** 2)

    t = np.array([0.0, 0.0, 1.0])  # relu inputs exactly 0
    hessians = dict(all_second_order_transforms(loss, t))
    reference = hessians.pop("gradient of gradient")
    np.testing.assert_allclose(reference, reference.T, atol=1e-12)
    for name, hessian in hessians.items():
        np.testing.assert_allclose(hessian, reference, atol=1e-12, err_msg=name)


def test_a_user_primitive_whose_partials_differ_from_its_body_keeps_its_partials_in_second_order():
    @mixedad.primitive(elementwise=True)
    def straight_through_round(x):
        return np.round(x)

    @straight_through_round.defpartials
    def _(x):
        return np.ones_like(x)

    def f(y):
        return np.sum(straight_through_round(y) * y)

    x = np.array([0.3, 1.2])
    # with the declared derivative 1: d2/dy2 [s(y) y] = 2 s'(y) = 2 on the diagonal
    for name, hessian in all_second_order_transforms(f, x):
        np.testing.assert_array_equal(hessian, 2.0 * np.eye(2), err_msg=name)


def test_float32_gradient_and_hessian_of_sigmoid_stay_float32_and_right():
    x = np.array([0.0, 0.7, -1.3], dtype=np.float32)
    grad = mixedad.gradient(lambda y: np.sum(nn.sigmoid(y) ** 2), x)
    assert grad.dtype == np.float32
    s = 1 / (1 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(grad, 2 * s * s * (1 - s), rtol=1e-6)
    hessian = mixedad.hessian(lambda y: np.sum(nn.sigmoid(y) ** 2), x)
    assert hessian.dtype == np.float32
    np.testing.assert_allclose(np.diag(hessian), sympy_sigmoid_squared_second_derivative(x), rtol=1e-5)
