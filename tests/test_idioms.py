"""Everyday NumPy idioms, combined as users write them, checked against central differences.

The rule tables test each function alone; these catch the seams between them."""
import numpy as np
import pytest

import mixedad

from numerical import numerical_gradient

rng = np.random.default_rng(0)
X = rng.standard_normal((5, 4))
T = rng.standard_normal((5, 3))
LABELS = np.array([0, 2, 1, 1, 0])


def softmax_cross_entropy(w):
    logits = X @ w.reshape(4, 3)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(len(LABELS)), LABELS])


def masked_and_clipped(w):
    y = X @ w.reshape(4, 3)
    positive = y[y > 0]
    return np.sum(positive ** 2) + np.sum(np.where(y < -0.5, y, 0.0)) + np.sum(np.clip(y, -1, 1))


def normalised_rows(w):
    y = X @ w.reshape(4, 3)
    unit = y / np.linalg.norm(y, axis=1, keepdims=True)
    return np.sum(unit * T) + np.linalg.norm(w)


def method_chain(w):
    m = w.reshape(4, 3)
    return (m.T.dot(X.T).sum(axis=0) ** 2).mean() + m[:, 1:].std() + m.cumsum(axis=0)[-1].prod()


def building_arrays(w):
    a, b = w[:6], w[6:]
    stacked = np.stack([a, b])
    joined = np.concatenate([a[None, :], b[None, :] * 2.0], axis=0)
    tiled = np.tile(a[:2], 3)
    return np.sum(stacked * joined) + np.sum(tiled ** 3) + np.einsum("i,i->", a, b)


def scalars_and_python_numbers(w):
    total = 0.0
    for i in range(len(w)):
        total = total + w[i] ** 2 * (i + 1) + 2 ** w[i] + np.float64(0.5) * w[i]
    return total / len(w) + abs(w[0]) + max(w[1], w[2] * 1.0) if w[1] > 10 else total / len(w) + abs(w[0])


def logsumexp_stable(w):
    m = np.max(w)
    return m + np.log(np.sum(np.exp(w - m))) + np.log1p(np.exp(-np.abs(w))).sum()


def least_squares(w):
    m = w.reshape(4, 3)
    residual = X @ m - T
    gram = m.T @ m + np.eye(3)
    return 0.5 * np.sum(residual ** 2) + np.trace(np.linalg.solve(gram, np.eye(3))) + np.linalg.slogdet(gram)[1]


def array_api_namespace(w):  # array-API style: the functions come from the array's namespace
    xp = w.__array_namespace__()
    z = xp.exp(1j * w)  # (a complex value has the namespace too)
    return xp.sum(xp.sin(w) ** 2) + xp.abs(z.__array_namespace__().sum(z * w))


IDIOMS = [softmax_cross_entropy, masked_and_clipped, normalised_rows, method_chain, building_arrays,
          scalars_and_python_numbers, logsumexp_stable, least_squares, array_api_namespace]


@pytest.mark.parametrize("f", IDIOMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_idiom_gradient_matches_finite_differences(f, mode):
    w = np.random.default_rng(1).standard_normal(12) * 0.7
    value, grad = mixedad.value_and_gradient(f, w, mode=mode)
    np.testing.assert_allclose(value, f(w), rtol=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(f, w), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("f", IDIOMS, ids=lambda f: f.__name__)
def test_idiom_in_float32_stays_float32(f):
    w = (np.random.default_rng(2).standard_normal(12) * 0.7).astype(np.float32)
    grad = mixedad.gradient(f, w)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, numerical_gradient(f, w.astype(np.float64)), rtol=2e-2, atol=2e-3)
