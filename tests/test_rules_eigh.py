"""Symmetric eigendecomposition: gradients of eigenvalues and (sign-invariant) eigenvector
functions against central differences (the one-triangle reading is tested in test_rules_linalg)."""
import numpy as np
import pytest

import mixedad

from numerical import numerical_gradient

MODES = ("auto", "reverse", "forward")


def loss(b, c):
    a = b + b.T  # symmetric: both triangles move together
    w, v = np.linalg.eigh(a)
    return np.sum(w * np.arange(1, len(w) + 1)) + np.sum((v * v) * c) + np.sum(np.linalg.eigvalsh(a) ** 2)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eigh_gradients_match_finite_differences(mode, seed):
    rng = np.random.default_rng(seed)
    b, c = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    got = mixedad.gradient(loss, b, c, mode=mode)
    np.testing.assert_allclose(got, numerical_gradient(lambda b: loss(b, c), b), rtol=1e-5, atol=1e-7)


def test_eigh_result_unpacks_like_numpy_and_forward_mode_agrees():
    rng = np.random.default_rng(3)
    b, c = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    result = mixedad.value_and_gradient(lambda b: np.sum(np.linalg.eigh(b + b.T).eigenvalues ** 3), b)
    np.testing.assert_allclose(result[0], np.sum(np.linalg.eigh(b + b.T).eigenvalues ** 3))
    direction = rng.standard_normal((3, 3))
    _, tangent = mixedad.jvp(lambda b: loss(b, c), (b,), (direction,))
    grad = mixedad.gradient(loss, b, c)
    np.testing.assert_allclose(tangent, np.sum(grad * direction), rtol=1e-8)


def test_degenerate_eigenvalues_with_eigenvalue_only_loss_stay_finite():
    g = mixedad.gradient(lambda a: np.sum(np.linalg.eigvalsh(a) ** 2), np.eye(3))
    np.testing.assert_allclose(g, 2 * np.eye(3))


def _near_pair_matrix():
    """Float32 symmetric, with two eigenvalues 1e-5 (relative) apart: resolved in float32."""
    rng = np.random.default_rng(0)
    n = 12
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    w = np.linspace(1.0, 3.0, n)
    w[6] = w[5] + 3e-5
    return ((q * w) @ q.T).astype(np.float32), rng.standard_normal(n)


@pytest.mark.parametrize("decomposition", ["eigh", "svd"])
@pytest.mark.parametrize("mode", MODES)
def test_float32_vectors_of_a_close_but_resolved_pair_have_their_derivative(decomposition, mode):
    """NumPy computes float32 decompositions in double: a pair 1e-5 apart is resolved. Found:
    float32's tie cutoff (16 n float32 ulps) dropped the vectors' derivative (100% off)."""
    c, u = _near_pair_matrix()

    def f(c):
        v = np.linalg.eigh(c)[1][:, 5] if decomposition == "eigh" else np.linalg.svd(c)[2][5]
        return np.sum(v * u.astype(c.dtype)) ** 2  # sign-invariant
    got = mixedad.gradient(f, c, mode=mode)
    assert got.dtype == np.float32
    expected = numerical_gradient(f, c, eps=1e-9)  # at the same (float32) matrix, in float64
    np.testing.assert_allclose(got, expected, atol=1e-2 * np.max(np.abs(expected)))
