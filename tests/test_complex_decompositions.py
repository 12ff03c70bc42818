"""Eigen and singular value decompositions of complex values (``rules.complex_decompositions``):
``eigh`` of a Hermitian matrix, ``svd``, ``svdvals`` and the norms made of singular values,
checked against float64 central differences in every mode, against NumPy's values, and for
second derivatives against differences of the gradient. Eigenvectors have arbitrary phases,
so the losses read phase-free quantities (|v|, projectors), and one that reads a phase raises."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedad
from numerical import numerical_gradient

RNG = np.random.default_rng(7)
X = RNG.normal(size=(2, 4, 4))
WIDE = RNG.normal(size=(2, 2, 3, 5))
WEIGHTS = np.arange(1.0, 5.0)


def complex_of(x):
    return x[0] + 1j * x[1]


def hermitian(x):
    a = complex_of(x)
    return a + np.conj(np.swapaxes(a, -1, -2))


CASES = {
    "eigh values": (X, lambda x: np.sum(np.linalg.eigh(hermitian(x))[0] ** 3)),
    "eigh values, upper triangle of a general matrix": (
        X, lambda x: np.dot(np.linalg.eigh(complex_of(x), UPLO="U").eigenvalues, WEIGHTS)),
    "eigh vectors' moduli": (X, lambda x: np.sum(np.abs(np.linalg.eigh(complex_of(x))[1]) ** 3 * WEIGHTS)),
    "eigh projector": (X, lambda x: np.sum(np.real(np.outer(*(lambda v: (v, np.conj(v)))(
        np.linalg.eigh(hermitian(x))[1][:, 1])) * complex_of(X)))),
    "svd values": (X, lambda x: np.dot(np.linalg.svd(complex_of(x), compute_uv=False), WEIGHTS)),
    "svd values, wide and stacked": (WIDE, lambda x: np.sum(np.linalg.svd(complex_of(x), compute_uv=False) ** 2 *
                                                            np.arange(1.0, 4.0))),
    "svd factors' moduli": (X, lambda x: np.sum(np.abs(np.linalg.svd(complex_of(x))[0]) * WEIGHTS)
                            + np.sum(np.abs(np.linalg.svd(complex_of(x))[2]) ** 3)),
    "svd u v^H, wide, thin": (WIDE, lambda x: np.sum(np.real((lambda u, s, vh: u[..., :, :1] @ vh[..., :1, :])(
        *np.linalg.svd(complex_of(x), full_matrices=False)) * complex_of(WIDE)))),
    "norm 2": (X, lambda x: np.linalg.norm(complex_of(x), 2)),
    "norm -2 and nuc over axes, keepdims": (WIDE, lambda x: np.sum(
        np.linalg.norm(complex_of(x), -2, axis=(0, 2), keepdims=True) * np.arange(1.0, 6.0))
        + np.sum(np.linalg.norm(complex_of(x), "nuc", axis=(1, 2)))),
}


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_and_value_match_numpy_and_central_differences(name, mode):
    x, f = CASES[name]
    value, grad = mixedad.value_and_gradient(f, x, mode=mode)
    assert value == pytest.approx(f(x), rel=1e-10)
    np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=1e-5, atol=1e-7)


def test_factors_are_numpys_own():
    def factors(x):
        w, v = np.linalg.eigh(hermitian(x))
        u, s, vh = np.linalg.svd(complex_of(x))
        return np.sum(s) + np.sum(w), (w, v, u, s, vh)  # the factors as an auxiliary output: NumPy arrays
    (_, got), _ = mixedad.value_and_gradient(factors, X, has_aux=True)
    for got_factor, want in zip(got, (*np.linalg.eigh(hermitian(X)), *np.linalg.svd(complex_of(X)))):
        np.testing.assert_allclose(got_factor, want, rtol=0, atol=1e-13)


@pytest.mark.parametrize("loss", [lambda x: np.real(np.linalg.eigh(hermitian(x))[1][1, 0]),
                                  lambda x: np.imag(np.linalg.svd(complex_of(x))[0][0, 0]),
                                  lambda x: np.real(np.linalg.svd(complex_of(x))[2][1, 2])])
def test_a_loss_that_reads_a_vectors_phase_raises(loss):
    with pytest.raises(mixedad.NonDifferentiableError, match="phase of complex eigenvectors or singular vectors"):
        mixedad.gradient(loss, X)


@pytest.mark.parametrize("name", ["eigh values", "eigh vectors' moduli", "svd factors' moduli",
                                  "norm -2 and nuc over axes, keepdims"])
def test_second_derivatives_match_differences_of_the_gradient(name):
    x, f = CASES[name]
    direction = np.random.default_rng(1).normal(size=x.shape)
    step = 1e-5
    want = (mixedad.gradient(f, x + step * direction) - mixedad.gradient(f, x - step * direction)) / (2 * step)
    np.testing.assert_allclose(mixedad.hvp(f, x, direction), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["eigh vectors' moduli", "svd values", "norm 2"])
def test_float32_stays_float32(name):
    x, f = CASES[name]
    grad = mixedad.gradient(f, x.astype(np.float32))
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=2e-3, atol=2e-3)


def test_complex_inputs_reach_eigh():
    a = complex_of(X)

    def energy(h):
        return np.linalg.eigh(h + np.conj(h.T))[0][0]  # the ground state's energy
    got = mixedad.gradient(energy, a)
    d_real = numerical_gradient(lambda re: energy(re + 1j * a.imag), a.real)
    d_imag = numerical_gradient(lambda im: energy(a.real + 1j * im), a.imag)
    np.testing.assert_allclose(got, d_real - 1j * d_imag, rtol=1e-6, atol=1e-8)


@settings(max_examples=12, deadline=None)
@given(rows=st.integers(1, 4), columns=st.integers(1, 4), batch=st.sampled_from([(), (2,)]),
       seed=st.integers(0, 2**32 - 1))
def test_singular_values_and_eigenvalues_over_drawn_shapes(rows, columns, batch, seed):
    x = np.random.default_rng(seed).normal(size=(2, *batch, rows, columns))

    def f(x):
        total = np.sum(np.linalg.svd(complex_of(x), compute_uv=False) ** 2 * np.linspace(1, 2, min(rows, columns)))
        if rows == columns:
            total = total + np.sum(np.linalg.eigh(complex_of(x))[0] * np.linspace(-1, 1, rows))
        return total
    np.testing.assert_allclose(mixedad.gradient(f, x), numerical_gradient(f, x), rtol=1e-5, atol=1e-6)


def test_full_factors_of_a_non_square_matrix_are_refused_saying_what_to_pass():
    with pytest.raises(mixedad.UnsupportedOperationError, match="full_matrices=False"):
        mixedad.gradient(lambda x: np.sum(np.abs(np.linalg.svd(complex_of(x))[0])), WIDE)
