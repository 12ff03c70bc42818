"""A vjp pullback given a cotangent that a gradient traces (the pullback is linear in it):
``gradient(lambda c: loss(pullback(h(c))), c)``, with the vjp taken outside or inside the
gradient, against central finite differences of the same composite on plain arrays."""
from __future__ import annotations

import numpy as np
import pytest

import mixedad
from mixedad import nn
from numerical import numerical_gradient

RNG = np.random.default_rng(7)
X = RNG.normal(size=(4, 3))
W = RNG.normal(size=(3, 5))
IMAGE = RNG.normal(size=(2, 1, 6, 6))
KERNEL = RNG.normal(size=(3, 1, 3, 3))

# (name, function, primal point): every output has the shape given by the function at its point
FUNCTIONS = {
    "fused elementwise": (lambda x: np.sin(x) * x + np.exp(-x * x), X),
    "matmul": (lambda x: np.tanh(x @ W), X),
    "reductions": (lambda x: np.stack([np.sum(x ** 2, axis=0), np.max(x, axis=0)]), X),
    "shapes and indexing": (lambda x: x.T.reshape(6, 2)[[0, 2, 5]] * x[1:3].reshape(3, 2), X),
    "softmax": (lambda x: nn.softmax(x, axis=-1), X),
    "a scalar output": (lambda x: np.sum(np.cos(x) * x), X),
    "convolution and pooling": (lambda x: nn.max_pool2d(nn.relu(nn.conv2d(x, KERNEL)), 2), IMAGE),
    "overlapping pools": (lambda x: nn.max_pool2d(x, 3, stride=2, padding=1) + nn.avg_pool2d(x, 2), IMAGE),
    "convolution weights": (lambda k: nn.conv2d(IMAGE, k, stride=2, padding=1), KERNEL),
    "dilated convolution": (lambda x: nn.conv2d(x, KERNEL, dilation=2), IMAGE),
    "determinant and inverse": (lambda a: np.linalg.det(a[:3] + 3 * np.eye(3)) * np.linalg.inv(a[1:] + 3 * np.eye(3)), X),
    "einsum diagonal": (lambda a: np.einsum("ii->i", a[:3]) * np.trace(a[1:]), X),
    "cumulative and sorted": (lambda x: np.cumsum(x, axis=1) + np.sort(x, axis=0), X),
}


def _cotangent(c, shape):
    """A smooth function of c with the output's shape: a cotangent that depends on c."""
    size = int(np.prod(shape, dtype=int))
    c = np.tile(c, -(-size // c.size))[:size] if size else c[:0]
    return np.reshape(np.sin(c) * c + 0.5, shape)


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("where", ["vjp outside", "vjp inside"])
@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_pullback_of_a_traced_cotangent_matches_finite_differences(name, where, mode):
    f, point = FUNCTIONS[name]
    shape = np.shape(f(point))
    c0 = RNG.normal(size=5)

    def composite(c, pullback=None):
        if pullback is None:
            pullback = mixedad.vjp(f, point, mode=mode)[1]
        (grad,) = pullback(_cotangent(c, shape))
        return np.sum(grad * np.cos(grad))  # not linear in the pullback's result

    outside = mixedad.vjp(f, point, mode=mode)[1] if where == "vjp outside" else None
    result = mixedad.gradient(lambda c: composite(c, outside), c0, mode=mode)
    expected = numerical_gradient(lambda c: composite(c, outside), c0)
    assert result.dtype == c0.dtype
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-8)


def test_the_pullback_keeps_working_on_plain_cotangents_after_a_traced_one():
    _, pullback = mixedad.vjp(FUNCTIONS["matmul"][0], X)
    ct = np.ones((4, 5))
    before = pullback(ct)[0].copy()
    mixedad.gradient(lambda c: np.sum(pullback(ct * c)[0]), np.float64(2.0))
    np.testing.assert_array_equal(pullback(ct)[0], before)


def test_a_float32_traced_cotangent_gives_float32():
    x = X.astype(np.float32)
    _, pullback = mixedad.vjp(lambda x: np.sin(x) @ W.astype(np.float32), x)
    c = np.ones(5, np.float32)
    result = mixedad.gradient(lambda c: np.sum(pullback(np.broadcast_to(c * c, (4, 5)))[0] ** 2), c)
    assert result.dtype == np.float32
    expected = numerical_gradient(lambda c: np.sum(mixedad.vjp(lambda x: np.sin(x) @ W, X)[1](
        np.broadcast_to(c * c, (4, 5)))[0] ** 2), c.astype(np.float64))
    np.testing.assert_allclose(result, expected, rtol=1e-4)
