"""Empty arrays and infinite values where a rule has a special case (survey findings).

NumPy gives a value for these; mixedad must give the matching derivative, not an internal
error: checked against NumPy's value, the gradient's shape and float64 central differences.
"""
import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient

MODES = ["auto", "reverse", "forward"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(0, 0), (3, 0), (0, 3), (2, 0, 0)])
def test_spectral_norm_of_an_empty_matrix(shape, mode):
    def f(a):
        return np.sum(np.linalg.norm(a, 2, axis=(-2, -1)))
    a = np.zeros(shape)
    value, grad = mixedad.value_and_gradient(f, a, mode=mode)
    assert value == f(a) == 0.0
    assert grad.shape == shape


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(0, 0), (3, 0), (0, 3)])
def test_least_squares_with_an_empty_matrix(shape, mode):
    def f(a):
        return np.sum(np.linalg.lstsq(a, np.ones(a.shape[0]))[0])
    a = np.zeros(shape)
    value, grad = mixedad.value_and_gradient(f, a, mode=mode)
    assert value == f(a) and grad.shape == shape


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [
    lambda x: np.sum(np.broadcast_to(x[0], (0, 2, 2))),
    lambda x: np.sum(x[:0] * x[1]),
    lambda x: np.sum(x[0] + np.zeros((0, 2, 2))),
], ids=["broadcast_to", "empty slice", "broadcast against empty"])
def test_values_broadcast_over_an_empty_leading_axis(f, mode):
    x = np.arange(1.0, 9.0).reshape(2, 2, 2)
    np.testing.assert_array_equal(mixedad.gradient(f, x, mode=mode), np.zeros_like(x))


@pytest.mark.parametrize("mode", MODES)
def test_assignment_into_an_empty_selection_of_a_3d_array(mode):
    def f(x):
        y = x * 1.0
        y[[]] += x[0]
        y[:0] = x[1]
        return np.sum(y * x)
    x = np.arange(1.0, 9.0).reshape(2, 2, 2)
    np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), numerical_gradient(f, x), rtol=1e-8)


def test_weighted_average_forward_derivative_at_an_infinite_value():
    """The weights' tangent is zero: 0 * (inf - inf) is taken as 0, as in reverse mode."""
    weights = np.array([1.0, 2.0, 3.0])
    f = lambda x: np.average(x, weights=weights)
    x = np.array([1.0, np.inf, 2.0])
    tangent = np.array([1.0, 0.0, 2.0])
    _, derivative = mixedad.jvp(f, (x,), (tangent,))
    assert derivative == pytest.approx(mixedad.gradient(f, x) @ tangent) == pytest.approx(7 / 6)


def test_weighted_average_forward_derivative_with_moving_weights():
    g = lambda x, w: np.average(x, weights=w)
    x, w = np.array([1.0, 3.0, 2.0]), np.array([1.0, 2.0, 3.0])
    tx, tw = np.array([1.0, -1.0, 0.5]), np.array([0.5, -1.0, 2.0])
    _, derivative = mixedad.jvp(g, (x, w), (tx, tw))
    expected = numerical_gradient(lambda v: g(v, w), x) @ tx + numerical_gradient(lambda v: g(x, v), w) @ tw
    assert derivative == pytest.approx(expected, rel=1e-7)
