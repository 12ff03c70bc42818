"""np.linalg.svd(full_matrices=True) of a non-square matrix: the extra singular vectors are an
arbitrary orthonormal basis of a complement, so only functions that do not change when that
basis rotates (U2 -> U2 Q) have a derivative: u @ u.T (the identity), the projector U2 U2^T,
||U2^T C U2||. Forward mode used to give them NaN tangents, and reverse mode refused them.
Checked against central differences of NumPy's own svd, which such functions make smooth."""
import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient

RNG = np.random.default_rng(11)
SHAPES = [(5, 3), (3, 5), (2, 4, 2), (4, 1)]
C5 = RNG.standard_normal((5, 5))


def _extra(u, vt, k, tall):
    """U2 (tall) or V2 (wide), the extra vectors as columns."""
    return u[..., :, k:] if tall else np.swapaxes(vt[..., k:, :], -1, -2)


def identity_of_u_and_v(a):
    u, s, vt = np.linalg.svd(a)
    return u @ np.swapaxes(u, -1, -2) + np.sum(np.swapaxes(vt, -1, -2) @ vt) + np.sum(s)


def complement_projector(a):
    u, s, vt = np.linalg.svd(a)
    m, n = a.shape[-2:]
    extra = _extra(u, vt, min(m, n), m > n)
    return extra @ np.swapaxes(extra, -1, -2) * s[..., :1, None]


def rotated_form(a):
    u, s, vt = np.linalg.svd(a)
    m, n = a.shape[-2:]
    extra = _extra(u, vt, min(m, n), m > n)
    size = max(m, n)
    form = np.swapaxes(extra, -1, -2) @ C5[:size, :size] @ extra  # Q^T M Q for a rotation Q of the basis
    return np.sum(form ** 2) + np.sum(s * np.arange(1, s.shape[-1] + 1))


def mixed_with_the_thin_part(a):
    u, s, vt = np.linalg.svd(a)
    m, n = a.shape[-2:]
    k = min(m, n)
    extra = _extra(u, vt, k, m > n)
    thin = u[..., :, :k] if m > n else np.swapaxes(vt[..., :k, :], -1, -2)
    cross = np.swapaxes(thin * thin, -1, -2) @ (extra @ np.swapaxes(extra, -1, -2)) @ C5[:max(m, n), :1]
    return np.sum(np.sin(cross))


FUNCTIONS = [identity_of_u_and_v, complement_projector, rotated_form, mixed_with_the_thin_part]


def _scalar(f):
    weights = np.random.default_rng(5).standard_normal((6, 6))
    return lambda a: np.sum(f(a) * weights[:np.shape(f(a))[-2], :np.shape(f(a))[-1]]) if np.ndim(f(a)) else f(a)


def _difference(f, a, direction, h=1e-6):
    return (f(a + h * direction) - f(a - h * direction)) / (2 * h)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("f", FUNCTIONS, ids=lambda f: f.__name__)
def test_jvp_of_a_gauge_invariant_function_of_the_extra_vectors(f, shape):
    rng = np.random.default_rng(sum(shape))
    a, direction = rng.standard_normal(shape), rng.standard_normal(shape)
    value, tangent = mixedad.jvp(f, (a,), (direction,))
    np.testing.assert_allclose(value, f(a), rtol=1e-12, atol=1e-12)
    assert np.all(np.isfinite(tangent))
    np.testing.assert_allclose(tangent, _difference(f, a, direction), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["auto", "reverse", "forward", "prepare"])
@pytest.mark.parametrize("f", FUNCTIONS, ids=lambda f: f.__name__)
def test_gradient_of_a_gauge_invariant_function_of_the_extra_vectors(f, mode, shape):
    a = np.random.default_rng(1 + sum(shape)).standard_normal(shape)
    loss = _scalar(f)
    if mode == "prepare":
        grad = mixedad.prepare(loss, a).gradient(a)
    else:
        grad = mixedad.gradient(loss, a, mode=mode)
    np.testing.assert_allclose(grad, numerical_gradient(loss, a), rtol=1e-6, atol=1e-7)


def test_u_times_its_transpose_is_constant_in_every_mode():
    a = RNG.standard_normal((4, 3))
    jacobian = mixedad.jacobian(lambda a: np.linalg.svd(a)[0] @ np.linalg.svd(a)[0].T, a, mode="forward")
    np.testing.assert_allclose(jacobian, 0.0, atol=1e-12)
    np.testing.assert_allclose(mixedad.jacobian(lambda a: np.linalg.svd(a)[0] @ np.linalg.svd(a)[0].T, a,
                                                mode="reverse"), 0.0, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 2), (2, 3)])
def test_second_order_of_a_gauge_invariant_function(shape):
    rng = np.random.default_rng(3)
    a, v = rng.standard_normal(shape), rng.standard_normal(shape)
    loss = _scalar(rotated_form)
    expected = _difference(lambda a: mixedad.gradient(loss, a), a, v, h=1e-5)
    np.testing.assert_allclose(mixedad.hvp(loss, a, v), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(4, 2), (2, 4)])
def test_forward_tangents_of_the_full_factors_keep_them_orthogonal(shape):
    # whatever rotation of the extra basis: U^T dU (and V^T dV) must be antisymmetric
    rng = np.random.default_rng(4)
    a, direction = rng.standard_normal(shape), rng.standard_normal(shape)
    (u, _, vt), (d_u, _, d_vt) = mixedad.jvp(lambda a: tuple(np.linalg.svd(a)), (a,), (direction,))
    for q, d_q in ((u, d_u), (vt.T, d_vt.T)):
        product = q.T @ d_q
        np.testing.assert_allclose(product, -product.T, atol=1e-12)
        assert np.any(np.abs(d_q) > 1e-3)


@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_reverse_mode_still_refuses_a_function_that_depends_on_the_basis(mode):
    a = RNG.standard_normal((3, 5))

    def loss(a):
        u, s, vt = np.linalg.svd(a)
        return np.sum(vt[3:] ** 3)  # changes when the two extra rows rotate

    with pytest.raises(mixedad.NonDifferentiableError,
                       match=r"extra singular vectors.*test_audit_followups_svd_full.py:\d+: `u, s, vt = np"):
        mixedad.gradient(loss, a, mode=mode)
