"""np.linalg.eig, eigvals and np.roots of real differentiated matrices and coefficients.

References: central differences in float64 (eigenvectors through losses that do not see the
sign or phase LAPACK gives each vector, or through differences aligned to the unperturbed
vectors' signs), sympy's closed form of a 2x2 matrix's eigenvalues, and NumPy's values.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import given, settings, strategies as st

import mixedad

from numerical import numerical_gradient as central_gradient

MODES = ("auto", "reverse", "forward")


def _matrices(n, seed, batch=()):
    return np.random.default_rng(seed).standard_normal(batch + (n, n))


def _apart(values, distance=0.05):
    """Eigenvalues (or roots) far enough apart for their derivatives to be well conditioned."""
    gaps = np.abs(values[..., :, None] - values[..., None, :]) + np.eye(values.shape[-1]) * 10
    return np.all(gaps > distance)


EIGENVALUE_LOSSES = {
    "sum |w|^2": lambda a: np.sum(np.abs(np.linalg.eigvals(a)) ** 2),
    "spectral abscissa": lambda a: np.max(np.linalg.eigvals(a).real),
    "sum Im(w)^2 + Re(w)^3": lambda a: np.sum(np.linalg.eigvals(a).imag ** 2 + np.linalg.eigvals(a).real ** 3),
    "eig's values": lambda a: np.sum(np.cos(np.linalg.eig(a)[0]).real),
}
# |V_ij|^2 and V_ij conj(V_kj) do not see a phase factor of column j: LAPACK's sign of a vector
# of complex entries can flip under a perturbation of 1e-6, which a central difference would see
EIGENVECTOR_LOSSES = {
    "weighted |V|^2": lambda a: np.sum(np.abs(np.linalg.eig(a)[1]) ** 2 * np.arange(1.0, a.shape[-1] + 1)[:, None]),
    "V_0j conj(V_1j)": lambda a: np.sum((np.linalg.eig(a)[1][..., 0, :] * np.conj(np.linalg.eig(a)[1][..., 1, :])).real),
    "values and vectors": lambda a: np.sum(np.abs(np.linalg.eig(a)[1][..., -1, :] * np.linalg.eig(a)[0]) ** 3),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(EIGENVALUE_LOSSES) + sorted(EIGENVECTOR_LOSSES))
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 5))
@settings(max_examples=12, deadline=None)
def test_gradients_match_central_differences(name, mode, seed, n):
    a = _matrices(n, seed)
    values = np.linalg.eigvals(a)
    if not _apart(values) or np.linalg.cond(np.linalg.eig(a)[1]) > 1e3:
        return
    loss = {**EIGENVALUE_LOSSES, **EIGENVECTOR_LOSSES}[name]
    np.testing.assert_allclose(mixedad.gradient(loss, a, mode=mode), central_gradient(loss, a), rtol=2e-5, atol=2e-6)


def test_stacks_of_matrices():
    a = _matrices(3, 5, batch=(4,))
    loss = EIGENVECTOR_LOSSES["values and vectors"]
    np.testing.assert_allclose(mixedad.gradient(loss, a), central_gradient(loss, a), rtol=2e-5, atol=2e-6)


def _aligned_eigenvectors(a, reference):
    """NumPy's eigenvectors of ``a``, each column's sign that of the nearest of ``reference``'s."""
    v = np.linalg.eig(a)[1]
    signs = np.sign(np.sum(np.conj(reference) * v, axis=-2).real)
    return v * signs[..., None, :]


@pytest.mark.parametrize("seed", range(6))
def test_eigenvector_tangents_keep_numpys_normalisation(seed):
    """Unit length and a real largest component: the tangent is that of NumPy's vectors, up
    to the sign flips that LAPACK makes (undone here), not of any other normalisation."""
    a = _matrices(4, seed)
    if not _apart(np.linalg.eigvals(a)):
        pytest.skip("eigenvalues too close")
    direction = np.random.default_rng(seed + 100).standard_normal(a.shape)
    reference = np.linalg.eig(a)[1]
    step = 1e-6
    expected = (_aligned_eigenvectors(a + step * direction, reference)
                - _aligned_eigenvectors(a - step * direction, reference)) / (2 * step)
    for part in ("real", "imag"):
        _, tangent = mixedad.jvp(lambda a: getattr(np.linalg.eig(a)[1], part), (a,), (direction,))
        np.testing.assert_allclose(tangent, getattr(expected, part), rtol=1e-5, atol=1e-6)


def test_values_and_types_are_numpys():
    complex_case = np.array([[0.0, -2.0, 0.5], [2.0, 0.0, 0.1], [0.3, 0.2, 1.0]])
    real_case = np.array([[2.0, 1.0], [0.5, 3.0]])
    for a in (complex_case, real_case, complex_case.astype(np.float32), real_case.astype(np.float32)):
        def loss(a):
            w, v = np.linalg.eig(a)
            return np.sum(np.abs(w) ** 2), (w, v, np.linalg.eigvals(a))

        (value, (w, v, values)), grad = mixedad.value_and_gradient(loss, a, has_aux=True)
        expected_w, expected_v = np.linalg.eig(a)
        for got, expected in ((w, expected_w), (v, expected_v), (values, np.linalg.eigvals(a))):
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
        assert grad.dtype == a.dtype
        np.testing.assert_allclose(value, np.sum(np.abs(expected_w) ** 2), rtol=1e-6)


def test_two_by_two_against_sympy():
    symbols = sympy.symbols("a b c d", real=True)
    a_, b_, c_, d_ = symbols
    trace, det = a_ + d_, a_ * d_ - b_ * c_
    largest = (trace + sympy.sqrt(trace ** 2 - 4 * det)) / 2  # real eigenvalues: the larger
    derivative = sympy.lambdify(symbols, [sympy.diff(largest, s) for s in symbols])
    a = np.array([[1.5, 0.7], [0.4, -0.3]])
    grad = mixedad.gradient(lambda a: np.max(np.linalg.eigvals(a)), a)
    np.testing.assert_allclose(grad.ravel(), derivative(*a.ravel()), rtol=1e-12)


def test_second_derivatives():
    a = _matrices(3, 11)
    loss = EIGENVALUE_LOSSES["sum Im(w)^2 + Re(w)^3"]
    hessian = mixedad.hessian(loss, a)
    gradient = lambda a: mixedad.gradient(loss, a)  # noqa: E731
    expected = np.stack([central_gradient(lambda x: gradient(x).ravel()[k], a) for k in range(a.size)])
    np.testing.assert_allclose(hessian.reshape(a.size, a.size), expected.reshape(a.size, a.size), rtol=1e-4,
                               atol=1e-5)


def test_prepared_gradients_follow_new_matrices():
    loss = EIGENVECTOR_LOSSES["values and vectors"]
    prepared = mixedad.prepare(loss, _matrices(4, 0))
    for seed in range(1, 5):
        a = _matrices(4, seed)
        np.testing.assert_allclose(prepared.gradient(a), mixedad.gradient(loss, a), rtol=1e-10)


def test_a_defective_matrix_has_no_derivative():
    jordan = np.array([[1.0, 1.0], [0.0, 1.0]])
    with pytest.raises(np.linalg.LinAlgError, match="defective"):
        mixedad.gradient(lambda a: np.sum(np.linalg.eigvals(a).real), jordan)


def test_a_float32_matrix_gives_float32_derivatives():
    a = _matrices(4, 3)
    loss = EIGENVALUE_LOSSES["sum |w|^2"]
    grad32 = mixedad.gradient(loss, a.astype(np.float32))
    assert grad32.dtype == np.float32
    np.testing.assert_allclose(grad32, mixedad.gradient(loss, a), rtol=1e-3, atol=1e-3)


ROOT_CASES = {
    "cubic": [1.0, -3.0, 2.0, 5.0],
    "trailing zero": [1.0, -3.0, 2.0, 5.0, 0.0],
    "quadratic, real roots": [1.0, 0.5, -2.0],
    "one coefficient and a zero": [2.0, 0.0],
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(ROOT_CASES))
def test_roots_against_central_differences(name, mode):
    p = np.array(ROOT_CASES[name])
    for loss in (lambda p: np.sum(np.abs(np.roots(p)) ** 2), lambda p: np.sum(np.roots(p).real ** 3)):
        assert np.isclose(mixedad.value_and_gradient(loss, p)[0], loss(p), rtol=1e-14)
        np.testing.assert_allclose(mixedad.gradient(loss, p, mode=mode), central_gradient(loss, p),
                                   rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
def test_a_leading_zero_coefficient_has_no_derivative(mode):
    """Moving it off zero adds a root from infinity: NaN for it; the others' derivatives stand,
    so a leading zero that is a constant leaves the gradient exact."""
    loss = lambda p: np.sum(np.abs(np.roots(p)) ** 2)  # noqa: E731
    p = np.array([0.0, 2.0, -1.0, 3.0])
    grad = mixedad.gradient(loss, p, mode=mode)
    assert np.isnan(grad[0])
    np.testing.assert_allclose(grad[1:], central_gradient(lambda q: loss(np.concatenate([[0.0], q])), p[1:]),
                               rtol=1e-6, atol=1e-8)
    with_constant = lambda q: loss(np.concatenate([np.zeros(1), q]))  # noqa: E731
    np.testing.assert_allclose(mixedad.gradient(with_constant, p[1:], mode=mode), central_gradient(with_constant, p[1:]),
                               rtol=1e-6, atol=1e-8)


def test_a_repeated_root_has_no_derivative():
    with pytest.raises(np.linalg.LinAlgError, match="repeated root"):
        mixedad.gradient(lambda p: np.sum(np.roots(p).real), np.array([1.0, -2.0, 1.0]))
