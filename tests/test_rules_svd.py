"""Singular value decomposition: gradients of singular values and sign-invariant functions of
the singular vectors, against central differences, for tall, wide and square matrices."""
import numpy as np
import pytest

import mixedad

from numerical import numerical_gradient

MODES = ("auto", "reverse", "forward")
SHAPES = [(5, 3), (3, 5), (4, 4)]


def loss(a, c_u, c_v):
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    # U*U and V*V do not change when a singular pair flips sign
    return np.sum(s * np.arange(1, len(s) + 1)) + np.sum((u * u) * c_u) + np.sum((vt * vt) * c_v)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
def test_svd_gradients_match_finite_differences(shape, mode):
    rng = np.random.default_rng(sum(shape))
    a = rng.standard_normal(shape)
    k = min(shape)
    c_u, c_v = rng.standard_normal((shape[0], k)), rng.standard_normal((k, shape[1]))
    got = mixedad.gradient(loss, a, c_u, c_v, mode=mode)
    np.testing.assert_allclose(got, numerical_gradient(lambda a: loss(a, c_u, c_v), a), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape", SHAPES)
def test_svd_forward_mode_agrees_with_reverse(shape):
    rng = np.random.default_rng(1 + sum(shape))
    a, direction = rng.standard_normal(shape), rng.standard_normal(shape)
    k = min(shape)
    c_u, c_v = rng.standard_normal((shape[0], k)), rng.standard_normal((k, shape[1]))
    _, tangent = mixedad.jvp(lambda a: loss(a, c_u, c_v), (a,), (direction,))
    np.testing.assert_allclose(tangent, np.sum(mixedad.gradient(loss, a, c_u, c_v) * direction), rtol=1e-8)


def test_singular_values_and_nuclear_norm_second_derivatives():
    rng = np.random.default_rng(3)
    a, v = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    f = lambda a: np.linalg.norm(a, "nuc") + np.sum(np.linalg.svd(a, compute_uv=False) ** 3)
    hv = mixedad.hvp(f, a, v)
    eps = 1e-5
    expected = (mixedad.gradient(f, a + eps * v) - mixedad.gradient(f, a - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape", [(4, 2), (2, 4), (2, 3, 2)])
@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_full_matrices_default_differentiates_the_thin_part(shape, mode):
    rng = np.random.default_rng(7)
    a, k = rng.standard_normal(shape), min(shape[-2:])
    w = rng.standard_normal(shape[:-2] + (k,))

    def f(a):
        u, s, vt = np.linalg.svd(a)  # full_matrices=True, NumPy's default
        return np.sum(s * w) + np.sum(np.abs(u[..., :, :k])) + np.sum(np.abs(vt[..., :k, :]) ** 3)

    value, grad = mixedad.value_and_gradient(f, a, mode=mode)
    assert value == pytest.approx(f(a))
    np.testing.assert_allclose(grad, numerical_gradient(f, a), rtol=1e-5, atol=1e-7)


def test_full_matrices_extra_vectors_have_no_derivative():
    a = np.random.default_rng(8).standard_normal((4, 2))  # two extra vectors: sum(u ** 4) changes as they rotate
    def loss(a):
        u, s, vt = np.linalg.svd(a)  # the line the error names
        return np.sum(u ** 4)

    for mode in ("auto", "reverse"):  # raised in the backward pass, it still names the svd line
        with pytest.raises(mixedad.NonDifferentiableError,
                           match=r"extra singular vectors.*test_rules_svd.py:\d+: `u, s, vt = np.linalg.svd\(a\)"):
            mixedad.gradient(loss, a, mode=mode)
    u, tangent = mixedad.jvp(lambda a: np.linalg.svd(a)[0], (a,), (np.ones_like(a),))
    np.testing.assert_allclose(u.T @ tangent, -(u.T @ tangent).T, atol=1e-12)  # U stays orthogonal


@pytest.mark.parametrize("shape", [(2, 2), (4, 4), (2, 3, 3)])
@pytest.mark.parametrize("mode", MODES)
def test_hermitian_svd_reads_the_lower_triangle_as_numpy(shape, mode):
    """hermitian=True was ignored: a non-symmetric input got the general SVD's value and gradient."""
    rng = np.random.default_rng(len(shape) + shape[-1])
    a = rng.standard_normal(shape)  # not symmetric: NumPy reads its lower triangle
    c_s, c_u = rng.standard_normal(shape[:-1]), rng.standard_normal(shape)

    def hermitian_loss(a):
        u, s, vt = np.linalg.svd(a, hermitian=True)
        return np.sum(s * c_s) + np.sum((u * u) * c_u) + 0.3 * np.sum((u * s[..., None, :]) @ vt)

    value, grad = mixedad.value_and_gradient(hermitian_loss, a, mode=mode)
    assert value == pytest.approx(hermitian_loss(a), rel=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(hermitian_loss, a), rtol=1e-5, atol=1e-7)
    values = mixedad.gradient(lambda a: np.sum(np.linalg.svd(a, hermitian=True, compute_uv=False) * c_s), a)
    np.testing.assert_allclose(values, numerical_gradient(
        lambda a: np.sum(np.linalg.svd(a, hermitian=True, compute_uv=False) * c_s), a), rtol=1e-5, atol=1e-7)


def polar_loss(a, c):
    u, _, vt = np.linalg.svd(a, full_matrices=False)
    return np.sum((u @ vt) * c)  # the polar factor U V^T: unique wherever a has full rank


# repeated singular values: the identity, a repeated pair, a scaled tall and a wide isometry, a batch
TIED = [np.eye(3), np.diag([3.0, 1.0, 1.0]), 1.5 * np.eye(4)[:, :3], np.eye(4)[:3],
        np.stack([np.eye(3), np.diag([2.0, 2.0, 0.5])])]


@pytest.mark.parametrize("a", TIED, ids=["identity", "pair", "tall", "wide", "batch"])
@pytest.mark.parametrize("mode", MODES)
def test_polar_factor_at_repeated_singular_values(a, mode):
    # only the 1 / (s_i - s_j) part of the vector terms is singular at a tie; the finite
    # 1 / (s_i + s_j) part carries U V^T's derivative (at the identity: the antisymmetric part)
    c = np.random.default_rng(a.size).standard_normal(a.shape[-2:])
    expected = numerical_gradient(lambda a: polar_loss(a, c), a)
    np.testing.assert_allclose(mixedad.gradient(polar_loss, a, c, mode=mode), expected, atol=1e-7)
    direction = np.random.default_rng(1).standard_normal(a.shape)
    _, tangent = mixedad.jvp(lambda a: polar_loss(a, c), (a,), (direction,))
    np.testing.assert_allclose(tangent, np.sum(expected * direction), atol=1e-7)


@pytest.mark.parametrize("a", TIED[:4], ids=["identity", "pair", "tall", "wide"])
def test_nuclear_norm_hvp_at_repeated_singular_values(a):
    # the gradient U V^T is smooth there, so the hvp is a finite difference of gradients
    nuclear = lambda a: np.sum(np.linalg.svd(a, compute_uv=False))
    direction = np.random.default_rng(2).standard_normal(a.shape)
    h = 1e-5
    expected = (mixedad.gradient(nuclear, a + h * direction) - mixedad.gradient(nuclear, a - h * direction)) / (2 * h)
    np.testing.assert_allclose(mixedad.hvp(nuclear, a, direction), expected, atol=1e-6)
