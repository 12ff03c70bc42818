"""Gradients of the linear-algebra rules (mixedad/rules/linalg.py) against central
finite differences in float64, in every mode, plus float32 dtype preservation,
broadcasting of batched products, multiple outputs (slogdet) and error messages."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import mixedad
from numerical import numerical_gradient, numerical_gradients

MODES = ("auto", "reverse", "forward")


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def well_conditioned(n, batch=(), seed=0):
    """Random plus n * I: far from singular, so finite differences are accurate."""
    return randn(*batch, n, n, seed=seed) + n * np.eye(n)


def spd(n, batch=(), seed=0):
    m = randn(*batch, n, n, seed=seed)
    return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)


def symmetric(a):
    """(A + A^T) / 2, spelled with einsum so it runs on traced values."""
    return 0.5 * (a + np.einsum("...ij->...ji", a))


@dataclass
class Case:
    name: str
    fn: Callable  # any-shaped output; tests project it onto a fixed random direction
    args: tuple
    rtol: float = 1e-6
    keeps_dtype: bool = True  # False where the case asks for another result dtype

    def loss(self, dtype=np.float64):
        w = np.random.default_rng(1).standard_normal(np.shape(self.fn(*self.args))).astype(dtype)
        return lambda *args: np.sum(self.fn(*args) * w)


def cases():
    a34, b42, v4, v3 = randn(3, 4), randn(4, 2, seed=1), randn(4, seed=2), randn(3, seed=3)
    A3, A3b = well_conditioned(3), well_conditioned(3, (2,), seed=4)
    return [
        # matmul: matrices, stacks with broadcasting, and every 1-D combination
        Case("matmul", np.matmul, (a34, b42)),
        Case("matmul-operator", lambda a, b: a @ b, (a34, b42)),
        Case("matmul-batched", np.matmul, (randn(2, 3, 4), randn(4, 5, seed=1))),
        Case("matmul-broadcast", np.matmul, (randn(2, 1, 3, 4), randn(3, 4, 2, seed=1))),
        Case("matmul-vector-matrix", np.matmul, (v4, b42)),
        Case("matmul-matrix-vector", np.matmul, (a34, v4)),
        Case("matmul-vector-vector", np.matmul, (v4, randn(4, seed=5))),
        Case("matmul-vector-stack", np.matmul, (v4, randn(2, 4, 3, seed=1))),
        Case("matmul-stack-vector", np.matmul, (randn(2, 3, 4), v4)),
        # dot, vdot, inner, outer, tensordot
        Case("dot-matrices", np.dot, (a34, b42)),
        Case("dot-vectors", np.dot, (v4, randn(4, seed=5))),
        Case("dot-matrix-vector", np.dot, (a34, v4)),
        Case("dot-nd", np.dot, (randn(2, 3, 4), randn(5, 4, 2, seed=1))),
        Case("dot-scalar", np.dot, (np.array(1.5), v3)),
        Case("dot-method", lambda a, b: a.dot(b), (a34, b42)),
        Case("vdot", np.vdot, (randn(2, 3), randn(3, 2, seed=1))),
        Case("inner-matrices", np.inner, (randn(2, 3), randn(4, 3, seed=1))),
        Case("inner-vectors", np.inner, (v3, randn(3, seed=1))),
        Case("inner-scalar", np.inner, (np.array(0.5), randn(2, 3))),
        Case("outer", np.outer, (randn(2, 3), v4)),
        Case("tensordot-1", lambda a, b: np.tensordot(a, b, 1), (a34, b42)),
        Case("tensordot-2", lambda a, b: np.tensordot(a, b, axes=2), (randn(2, 3, 4), randn(3, 4, 5, seed=1))),
        Case("tensordot-pairs", lambda a, b: np.tensordot(a, b, axes=([1, 0], [0, 2])),
             (randn(3, 2, 4), randn(2, 5, 3, seed=1))),
        Case("tensordot-cycled-axes", lambda a, b: np.tensordot(a, b, axes=([2, 0], [0, 2])),
             (randn(3, 4, 2), randn(2, 5, 3, seed=1))),
        Case("tensordot-int-pair", lambda a, b: np.tensordot(a, b, axes=(-1, 0)), (a34, b42)),
        Case("tensordot-0", lambda a, b: np.tensordot(a, b, 0), (v3, randn(2, 2, seed=1))),
        # einsum
        Case("einsum-matmul", lambda a, b: np.einsum("ij,jk->ik", a, b), (a34, b42)),
        Case("einsum-implicit", lambda a, b: np.einsum("ij,jk", a, b), (a34, b42)),
        Case("einsum-implicit-transpose", lambda a: np.einsum("ba", a), (a34,)),
        Case("einsum-implicit-case", lambda a, b: np.einsum("Ab,aB", a, b), (randn(2, 3), randn(4, 2, seed=1))),
        Case("einsum-spaces", lambda a, b: np.einsum(" ij , jk -> ki ", a, b), (a34, b42)),
        Case("einsum-batched", lambda a, b: np.einsum("bij,bjk->bik", a, b), (randn(2, 3, 4), randn(2, 4, 2, seed=1))),
        Case("einsum-ellipsis-broadcast", lambda a, b: np.einsum("...ij,...jk->...ik", a, b),
             (randn(2, 1, 3, 4), randn(5, 4, 2, seed=1))),
        Case("einsum-ellipsis-implicit", lambda a, b: np.einsum("...i,...i", a, b), (randn(2, 3), v3)),
        Case("einsum-ellipsis-summed", lambda a: np.einsum("...ij->...j", a), (randn(2, 3, 4),)),
        Case("einsum-ellipsis-front", lambda a, b: np.einsum("i...,i...->...", a, b), (randn(3, 2), randn(3, 1, seed=1))),
        # a label of size 1 in every other operand, summed out: this operand alone spans it
        Case("einsum-broadcast-summed", lambda a, b: np.einsum("ij,j->i", a, b), (randn(3, 1), v4)),
        Case("einsum-broadcast-both", lambda a, b: np.einsum("ij,ij->i", a, b), (randn(3, 1), randn(1, 4, seed=1))),
        Case("einsum-broadcast-total", lambda a, b: np.einsum("ij,kj->ik", a, b), (randn(3, 4), randn(2, 1, seed=1))),
        Case("einsum-sum-out", lambda a: np.einsum("ij->i", a), (a34,)),
        Case("einsum-total", lambda a: np.einsum("ij->", a), (a34,)),
        Case("einsum-outer", lambda a, b: np.einsum("i,j->ij", a, b), (v3, v4)),
        Case("einsum-three", lambda a, b, c: np.einsum("ij,jk,kl->il", a, b, c),
             (a34, b42, randn(2, 3, seed=6))),
        Case("einsum-same-operand", lambda a: np.einsum("i,i", a, a), (v3,)),
        Case("einsum-trace", lambda a: np.einsum("ii", a), (A3,)),
        Case("einsum-diagonal", lambda a: np.einsum("ii->i", a), (A3,)),
        Case("einsum-diagonal-batch", lambda a: np.einsum("iij->j", a), (randn(3, 3, 2),)),
        Case("einsum-diagonal-product", lambda a, b: np.einsum("ii,ij->j", a, b), (A3, randn(3, 2, seed=1))),
        Case("einsum-sublist", lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2]), (a34, b42)),
        Case("einsum-sublist-implicit", lambda a, b: np.einsum(a, [Ellipsis, 1], b, [1, 0]), (randn(2, 4), b42)),
        Case("einsum-optimize", lambda a, b, c: np.einsum("ij,jk,kl->il", a, b, c, optimize=True),
             (a34, b42, randn(2, 3, seed=6))),
        # np.linalg
        Case("solve-vector", np.linalg.solve, (A3, v3)),
        Case("solve-matrix", np.linalg.solve, (A3, randn(3, 2, seed=1))),
        Case("solve-batched-vector", np.linalg.solve, (A3b, v3)),
        Case("solve-batched-matrix", np.linalg.solve, (A3b, randn(2, 3, 2, seed=1))),
        Case("solve-broadcast-b", np.linalg.solve, (A3, randn(2, 3, 2, seed=1))),
        Case("inv", np.linalg.inv, (A3,)),
        Case("inv-batched", np.linalg.inv, (A3b,)),
        Case("det", np.linalg.det, (A3,)),
        Case("det-batched", np.linalg.det, (A3b,)),
        Case("det-negative", np.linalg.det, (-well_conditioned(3, seed=7),)),
        Case("slogdet", lambda a: np.linalg.slogdet(a).logabsdet, (A3,)),
        Case("slogdet-negative-batched", lambda a: np.linalg.slogdet(a)[1], (-A3b,)),
        Case("slogdet-signed", lambda a: np.linalg.slogdet(a)[0] * np.exp(np.linalg.slogdet(a)[1]), (-A3,)),
        Case("cholesky", lambda a: np.linalg.cholesky(symmetric(a)), (spd(3),)),
        Case("cholesky-batched", lambda a: np.linalg.cholesky(symmetric(a)), (spd(3, (2,)),)),
        Case("cholesky-upper", lambda a: np.linalg.cholesky(symmetric(a), upper=True), (spd(3),)),
        Case("multi-dot", lambda a, b, c: np.linalg.multi_dot([a, b, c]), (v3, a34, b42)),
        Case("matrix-power-3", lambda a: np.linalg.matrix_power(a, 3), (A3 / 3,)),
        Case("matrix-power-neg", lambda a: np.linalg.matrix_power(a, -2), (A3b,)),
        # norms
        Case("norm-flat", np.linalg.norm, (randn(2, 3, 2),)),
        Case("norm-flat-keepdims", lambda x: np.linalg.norm(x, keepdims=True), (a34,)),
        *[Case(f"norm-vector-{o}", lambda x, o=o: np.linalg.norm(x, o), (v4,))
          for o in (None, 2, 1, np.inf, -np.inf, 3, 0.5, -1.5)],
        Case("norm-vector-0", lambda x: np.linalg.norm(x, 0), (v4,)),
        *[Case(f"norm-axis-{o}", lambda x, o=o: np.linalg.norm(x, o, axis=1), (a34,))
          for o in (None, 1, np.inf, 4)],
        Case("norm-axis-keepdims", lambda x: np.linalg.norm(x, axis=-2, keepdims=True), (randn(2, 3, 4),)),
        *[Case(f"norm-matrix-{o}", lambda x, o=o: np.linalg.norm(x, o), (a34,))
          for o in ("fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf)],
        Case("norm-matrix-axes", lambda x: np.linalg.norm(x, "nuc", axis=(2, 0)), (randn(3, 2, 4),)),
        Case("norm-matrix-keepdims", lambda x: np.linalg.norm(x, 2, axis=(0, 2), keepdims=True), (randn(3, 2, 4),)),
        Case("norm-matrix-fro-axes", lambda x: np.linalg.norm(x, axis=(1, 2)), (randn(2, 3, 4),)),
        # linear structural ops
        Case("trace", np.trace, (a34,)),
        Case("trace-offset", lambda a: np.trace(a, 1), (a34,)),
        Case("trace-negative-offset", lambda a: np.trace(a, offset=-1), (a34,)),
        Case("trace-axes", lambda a: np.trace(a, 0, 2, 1), (randn(2, 3, 4),)),
        Case("trace-dtype", lambda a: np.trace(a, dtype=np.float64), (a34,), keeps_dtype=False),
        Case("diagonal", np.diagonal, (a34,)),
        Case("diagonal-offset-axes", lambda a: np.diagonal(a, -1, 2, 0), (randn(3, 2, 4),)),
        Case("diag-build", np.diag, (v3,)),
        Case("diag-build-offset", lambda v: np.diag(v, -1), (v3,)),
        Case("diag-extract", lambda a: np.diag(a, 1), (a34,)),
        Case("triu", np.triu, (a34,)),
        Case("triu-offset-batched", lambda a: np.triu(a, -1), (randn(2, 3, 4),)),
        Case("tril", np.tril, (a34,)),
        Case("tril-offset", lambda a: np.tril(a, 1), (a34,)),
        Case("tril-vector", np.tril, (v3,)),
        # chained with elementwise work on both sides (dual regions feed and consume these)
        Case("chain-det", lambda a: np.tanh(np.linalg.det(np.sin(a) + 3 * np.eye(3, dtype=a.dtype))), (A3,)),
        Case("chain-einsum", lambda a, b: np.exp(0.1 * np.einsum("ij,jk->ik", np.cos(a), b * b)), (a34, b42)),
        Case("chain-solve-norm",
             lambda a, b: np.linalg.norm(np.linalg.solve(a * a + 3 * np.eye(3, dtype=a.dtype), np.sin(b)), axis=0),
             (A3, randn(3, 2, seed=1))),
        # NumPy 2 spellings
        Case("vecdot", np.vecdot, (randn(2, 3), v3)),
        Case("vecdot-axis", lambda a, b: np.vecdot(a, b, axis=0), (randn(3, 2), randn(3, 2, seed=1))),
        Case("vecdot-axis-broadcast", lambda a, b: np.vecdot(a, b, axis=0), (randn(3, 2), randn(3, 5, 2, seed=1))),
        Case("vecdot-negative-axis", lambda a, b: np.vecdot(a, b, axis=-2), (randn(3, 2), randn(5, 3, 2, seed=1))),
        *([Case("matvec", np.matvec, (randn(2, 3, 4), v4)),  # NumPy >= 2.2
           Case("vecmat", np.vecmat, (v3, randn(2, 3, 4, seed=1)))] if hasattr(np, "matvec") else []),
        Case("linalg-vecdot", np.linalg.vecdot, (randn(2, 3), v3)),
        Case("linalg-matmul", np.linalg.matmul, (a34, b42)),
        Case("linalg-tensordot", lambda a, b: np.linalg.tensordot(a, b, axes=1), (a34, b42)),
        Case("linalg-outer", np.linalg.outer, (v3, v4)),
        Case("linalg-trace", lambda a: np.linalg.trace(a, offset=1), (randn(2, 3, 4),)),
        Case("linalg-diagonal", np.linalg.diagonal, (randn(2, 3, 4),)),
        Case("linalg-matrix-norm", lambda a: np.linalg.matrix_norm(a, ord="nuc"), (randn(2, 3, 4),)),
        Case("linalg-vector-norm", lambda a: np.linalg.vector_norm(a, ord=3), (randn(2, 3),)),
        Case("linalg-vector-norm-axes", lambda a: np.linalg.vector_norm(a, axis=(0, 2), keepdims=True),
             (randn(2, 3, 2),)),
        # pseudo-inverse, least squares and QR (full rank)
        Case("pinv-tall", np.linalg.pinv, (randn(5, 3),)),
        Case("pinv-wide-batched", np.linalg.pinv, (randn(2, 3, 5),)),
        Case("pinv-square", np.linalg.pinv, (A3,)),
        Case("lstsq-solution", lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0], (randn(5, 3), randn(5, seed=1))),
        Case("lstsq-residuals", lambda a, b: np.linalg.lstsq(a, b, rcond=None)[1], (randn(5, 3), randn(5, 2, seed=1))),
        Case("lstsq-singular-values", lambda a, b: np.linalg.lstsq(a, b, rcond=None)[3], (randn(5, 3), randn(5, seed=1))),
        Case("lstsq-underdetermined", lambda a, b: np.linalg.lstsq(a, b)[0], (randn(3, 5), randn(3, seed=1))),
        Case("qr-q", lambda a: np.linalg.qr(a)[0], (randn(5, 3),)),
        Case("qr-r", lambda a: np.linalg.qr(a).R, (randn(5, 3),)),
        Case("qr-r-mode-batched", lambda a: np.linalg.qr(a, mode="r"), (randn(2, 4, 4),)),
        Case("qr-square-product", lambda a: np.linalg.qr(a)[0] * np.linalg.qr(a)[1][0], (A3,)),
        Case("qr-wide-q", lambda a: np.linalg.qr(a)[0], (randn(3, 5),)),
        Case("qr-wide-r-batched", lambda a: np.linalg.qr(a).R, (randn(2, 3, 4),)),
        Case("qr-wide-complete", lambda a: np.linalg.qr(a, mode="complete")[1] * 2.0, (randn(2, 5),)),
        # one-dimensional convolution and correlation, every mode, either operand longer
        *[Case(f"{fn.__name__}-{mode}-{n}x{m}", lambda a, v, fn=fn, mode=mode: fn(a, v, mode),
               (randn(n), randn(m, seed=1)))
          for fn in (np.convolve, np.correlate) for mode in ("full", "same", "valid") for n, m in ((5, 3), (2, 4))],
    ]


CASES = cases()
_BY_NAME = {case.name: case for case in CASES}
assert len(_BY_NAME) == len(CASES), "case names must be unique"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(_BY_NAME))
def test_gradient_matches_finite_differences(name, mode):
    case = _BY_NAME[name]
    loss = case.loss()
    argnums = tuple(range(len(case.args)))
    grads = mixedad.gradient(loss, *case.args, argnums=argnums, mode=mode)
    for number, grad, expected in zip(argnums, grads, numerical_gradients(loss, case.args, argnums)):
        assert grad.shape == case.args[number].shape and grad.dtype == np.float64
        np.testing.assert_allclose(grad, expected, rtol=case.rtol, atol=1e-6 * (1 + np.max(np.abs(expected))),
                                   err_msg=f"{name}: argument {number}, mode {mode}")


@pytest.mark.parametrize("name", list(_BY_NAME))
def test_value_is_numpys(name):
    case = _BY_NAME[name]
    loss = case.loss()
    value, _ = mixedad.value_and_gradient(loss, *case.args, argnums=tuple(range(len(case.args))))
    np.testing.assert_allclose(value, loss(*case.args), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(_BY_NAME))
def test_float32_stays_float32(name):
    case = _BY_NAME[name]
    args32 = tuple(np.asarray(a, np.float32) for a in case.args)
    argnums = tuple(range(len(args32)))
    loss32 = case.loss(np.float32)
    value, grads = mixedad.value_and_gradient(loss32, *args32, argnums=argnums)
    assert np.result_type(value) == (np.float32 if case.keeps_dtype else np.float64), name
    # The float64 reference at the same (float32-rounded) point.
    reference = numerical_gradients(case.loss(), [a.astype(np.float64) for a in args32], argnums)
    for grad, expected in zip(grads, reference):
        assert grad.dtype == np.float32, name
        np.testing.assert_allclose(grad, expected, rtol=2e-3, atol=2e-3 * (1 + np.max(np.abs(expected))),
                                   err_msg=name)


# ------------------------------------------------------------------------------------------
# matmul broadcasting over drawn stack shapes
@settings(max_examples=20)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       sizes=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
       vector=st.sampled_from(["none", "left", "right"]), mode=st.sampled_from(MODES))
def test_matmul_broadcast_batches(shapes, sizes, vector, mode):
    (batch_a, batch_b), _ = shapes
    m, n, k = sizes
    a = randn(*batch_a, m, n) if vector != "left" else randn(n)
    b = randn(*batch_b, n, k, seed=1) if vector != "right" else randn(n, seed=1)
    loss = Case("drawn", np.matmul, (a, b)).loss()
    grads = mixedad.gradient(loss, a, b, argnums=(0, 1), mode=mode)
    for grad, arg, expected in zip(grads, (a, b), numerical_gradients(loss, (a, b), (0, 1))):
        assert grad.shape == arg.shape
        np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-6)


@settings(max_examples=15)
@given(batch=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), n=st.integers(1, 3),
       vector_b=st.booleans())
def test_solve_batches(batch, n, vector_b):
    a = well_conditioned(n, batch)
    b = randn(n, seed=1) if vector_b else randn(*batch, n, 2, seed=1)
    loss = Case("drawn", np.linalg.solve, (a, b)).loss()
    grads = mixedad.gradient(loss, a, b, argnums=(0, 1), mode="reverse")
    for grad, expected in zip(grads, numerical_gradients(loss, (a, b), (0, 1))):
        np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-6)


def test_matmul_with_constant_operand_only_differentiates_the_traced_one():
    b = randn(4, 2)
    grad = mixedad.gradient(lambda a: np.sum(np.tanh(b.T @ a)), randn(4, 3))
    expected = numerical_gradient(lambda a: np.sum(np.tanh(b.T @ a)), randn(4, 3))
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------------------------
# slogdet: a pair and a named result, the sign a plain array
def test_slogdet_unpacks_and_has_named_fields():
    a = -well_conditioned(3)

    def f(x):
        sign, logdet = np.linalg.slogdet(x)
        result = np.linalg.slogdet(x)
        assert type(sign) is np.ndarray or np.isscalar(sign)  # no derivative: not traced
        return logdet + 2 * result.logabsdet, (sign, result.sign)

    grad, (sign, named_sign) = mixedad.gradient(f, a, has_aux=True)
    assert float(sign) == float(named_sign) == np.sign(np.linalg.det(a))
    expected = numerical_gradient(lambda x: 3 * np.log(abs(np.linalg.det(x))), a)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------------------------
# one-triangle routines: NumPy reads one triangle, so the gradient lives on it and matches
# finite differences of NumPy's own function, also for inputs that are not symmetric
ONE_TRIANGLE = {
    "cholesky": (lambda a, w: np.sum(np.linalg.cholesky(a) * w), "lower"),
    "cholesky-upper": (lambda a, w: np.sum(np.linalg.cholesky(a, upper=True) * w), "upper"),
    "eigvalsh": (lambda a, w: np.linalg.eigvalsh(a) @ w[0], "lower"),
    "eigvalsh-U": (lambda a, w: np.linalg.eigvalsh(a, UPLO="U") @ w[0], "upper"),
    "eigh": (lambda a, w: np.sum(np.linalg.eigh(a)[1] ** 2 * w) + np.linalg.eigh(a)[0] @ w[1], "lower"),
    "eigh-U": (lambda a, w: np.sum(np.linalg.eigh(a, UPLO="U")[1] ** 2 * w), "upper"),
    "pinv-hermitian": (lambda a, w: np.sum(np.linalg.pinv(a, hermitian=True) * w), "lower"),
}


@pytest.mark.parametrize("name", list(ONE_TRIANGLE))
@pytest.mark.parametrize("mode", MODES)
def test_one_triangle_routines_differentiate_the_triangle_numpy_reads(name, mode):
    f, triangle = ONE_TRIANGLE[name]
    a = spd(4, seed=3) + 0.3 * randn(4, 4, seed=4)  # not symmetric: the other triangle is ignored
    w = randn(4, 4, seed=5)
    grad = mixedad.gradient(lambda x: f(x, w), a, mode=mode)
    np.testing.assert_allclose(grad, numerical_gradient(lambda x: f(x, w), a), rtol=1e-6, atol=1e-8)
    ignored = np.tril(grad, -1) if triangle == "upper" else np.triu(grad, 1)
    np.testing.assert_array_equal(ignored, 0.0)
    direction = randn(4, 4, seed=6)
    _, tangent = mixedad.jvp(lambda x: f(x, w), (a,), (direction,))
    np.testing.assert_allclose(tangent, np.sum(grad * direction), rtol=1e-8)


# ------------------------------------------------------------------------------------------
# norms at zero: gradient 0 (documented convention), never NaN
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("norm", [
    lambda x: np.linalg.norm(x),
    lambda x: np.linalg.norm(x, 2, axis=1),
    lambda x: np.linalg.norm(x, 3, axis=0),
    lambda x: np.linalg.norm(x, np.inf, axis=1),
    lambda x: np.linalg.norm(x, "fro"),
])
def test_norm_gradient_is_zero_at_zero(norm, mode):
    x = np.zeros((2, 3))
    grad = mixedad.gradient(lambda x: np.sum(norm(x)), x, mode=mode)
    assert np.all(grad == 0)


def test_norm_zero_row_gets_zero_gradient_and_other_rows_their_own():
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    grad = mixedad.gradient(lambda x: np.sum(np.linalg.norm(x, axis=1)), x)
    np.testing.assert_allclose(grad, [[0.0, 0.0], [0.6, 0.8]])


@pytest.mark.parametrize("ord", [0.5, -1.5])
def test_norm_below_one_with_a_zero_entry(ord):
    # Central differences see a symmetric kink at the zero entry (slope 0); for ord < 0 the
    # norm is 0 around this point, so every slope is 0.
    x = np.array([0.0, 1.0, -2.0])
    grad = mixedad.gradient(lambda x: np.linalg.norm(x, ord), x)
    assert np.all(np.isfinite(grad)) and grad[0] == 0
    np.testing.assert_allclose(grad, numerical_gradient(lambda x: np.linalg.norm(x, ord), x), atol=1e-6)


def test_inf_norm_ties_split_evenly():
    x = np.array([2.0, -2.0, 1.0])
    grad = mixedad.gradient(lambda x: np.linalg.norm(x, np.inf), x)
    np.testing.assert_allclose(grad, [0.5, -0.5, 0.0])


def test_einsum_path_plans_on_traced_operands_and_its_path_is_followed():
    rng = np.random.default_rng(0)
    a, b, c = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((5, 2))
    plans = []

    def f(a):
        path, description = np.einsum_path("ij,jk,kl->il", a, b, c, optimize="optimal")
        plans.append((path, description))
        return np.sum(np.sin(np.einsum("ij,jk,kl->il", a, b, c, optimize=path)))

    grad = mixedad.gradient(f, a)
    assert plans[0] == np.einsum_path("ij,jk,kl->il", a, b, c, optimize="optimal")
    np.testing.assert_allclose(grad, numerical_gradient(f, a), rtol=1e-6, atol=1e-8)
    direction = rng.standard_normal(a.shape)  # forward mode and second order: the planner gets duals
    _, derivative = mixedad.jvp(f, (a,), (direction,))
    assert derivative == pytest.approx(np.sum(numerical_gradient(f, a) * direction), rel=1e-6)
    np.testing.assert_allclose(mixedad.hvp(f, a, direction),
                               numerical_gradient(lambda x: np.sum(mixedad.gradient(f, x) * direction), a),
                               rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------------------
# errors that name the unsupported case
@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_einsum_label_of_size_one_against_an_empty_one(mode):
    # (fuzzer p610479, session 46) NumPy broadcasts 1 against 0 in einsum as anywhere: the
    # operand of size 1 gets the sum over no elements, 0
    empty, single = np.zeros(0), np.array([2.0])
    for f, x in ((lambda y: np.einsum("a,a->", empty, y), single), (lambda x: np.einsum("a,a->", x, single), empty),
                 (lambda y: np.einsum("ab,b->a", np.ones((2, 0)), y), single)):
        np.testing.assert_array_equal(mixedad.gradient(lambda x: np.sum(f(x)) + 0.0, x, mode=mode), np.zeros_like(x))


def test_einsum_out_is_rejected():
    with pytest.raises(mixedad.InPlaceMutationError, match="einsum with out="):
        mixedad.gradient(lambda x: np.sum(np.einsum("i->i", x, out=np.zeros(3))), np.ones(3))


def test_einsum_operand_count_mismatch_is_clear():
    with pytest.raises(ValueError, match="name 2 operands, but 1 were given"):
        mixedad.gradient(lambda x: np.einsum("i,i", x), np.ones(3))


def test_einsum_ellipsis_with_too_few_axes_is_clear():
    with pytest.raises(ValueError, match="more labels than"):
        mixedad.gradient(lambda x: np.sum(np.einsum("...ij->...", x)), np.ones(3))


def test_matmul_axes_option_is_rejected_by_name():
    with pytest.raises(mixedad.UnsupportedOperationError, match="axes"):
        mixedad.gradient(lambda a: np.sum(np.matmul(a, a, axes=[(0, 1), (0, 1), (0, 1)])), np.eye(2))


def test_norm_of_3d_without_axis_is_numpys_error():
    with pytest.raises(ValueError, match="Improper number of dimensions"):
        mixedad.gradient(lambda x: np.linalg.norm(x, 2), np.ones((2, 2, 2)))


def test_trace_out_is_rejected():
    with pytest.raises(mixedad.InPlaceMutationError, match="trace with out="):
        mixedad.gradient(lambda x: np.trace(x, out=np.zeros(())), np.eye(2))


# ------------------------------------------------------------------------------------------
# the transpose helper used by diagonal, trace and diag
def test_diagonal_cotangent_is_the_transpose_of_diagonal():
    from mixedad.rules.linalg import diagonal_cotangent
    rng = np.random.default_rng(0)
    for shape, offset, axis1, axis2 in [((3, 4), 1, 0, 1), ((3, 4), -2, 0, 1), ((2, 3, 4), 0, 2, 0),
                                        ((2, 5, 3), 7, 1, 2)]:
        x = rng.standard_normal(shape)
        d = np.diagonal(x, offset, axis1, axis2)
        y = rng.standard_normal(d.shape)
        # <diagonal(x), y> == <x, diagonal_cotangent(y)> for every x, y
        assert np.isclose(np.sum(d * y), np.sum(x * diagonal_cotangent(y, shape, offset, axis1, axis2)))


def test_qr_complete_mode_of_a_tall_matrix_raises_by_name():
    """Its extra columns of Q are an arbitrary basis of the complement: no derivative."""
    with pytest.raises(NotImplementedError, match="np.linalg.qr"):
        mixedad.gradient(lambda a: np.sum(np.linalg.qr(a.T, mode="complete")[0]), randn(3, 5))


@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4), (1, 4)])
def test_qr_of_a_wide_matrix_equals_numpys(shape):
    a = randn(*shape)
    q, r = mixedad.jvp(lambda v: tuple(np.linalg.qr(v)), (a,), (np.ones_like(a),))[0]
    want_q, want_r = np.linalg.qr(a)
    np.testing.assert_allclose(q, want_q, atol=1e-12)
    np.testing.assert_allclose(r, want_r, atol=1e-12)


def test_lstsq_rank_and_outputs_are_numpys():
    a, b = randn(6, 3), randn(6, seed=1)
    seen = {}

    def f(a):
        x, residuals, rank, s = np.linalg.lstsq(a, b, rcond=None)
        seen.update(rank=rank, residuals_shape=residuals.shape)
        return np.sum(x)
    mixedad.gradient(f, a)
    x, residuals, rank, s = np.linalg.lstsq(a, b, rcond=None)
    assert seen == dict(rank=rank, residuals_shape=residuals.shape)
    rank_deficient = np.column_stack([a[:, 0], a[:, 0], a[:, 1]])
    assert mixedad.value_and_gradient(lambda m: np.linalg.lstsq(m, b)[2] * 1.0, rank_deficient)[0] == 2


def _central_differences(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        grad[index] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


@pytest.mark.parametrize("call", [
    lambda a: np.linalg.pinv(a, rcond=0.1), lambda a: np.linalg.pinv(a, rtol=0.1), lambda a: np.linalg.pinv(a, 1e-10),
    lambda a: np.linalg.pinv(a, rcond=np.array(1e-10)), lambda a: np.linalg.pinv(a, 0.1, True),
    lambda a: np.linalg.lstsq(a, np.arange(3.0), rcond=0.1)[0],
], ids=["rcond cuts", "rtol cuts", "rcond positional", "rcond array", "hermitian positional", "lstsq cuts"])
def test_pinv_with_a_cutoff_that_drops_a_nonzero_singular_value(call):
    """A cutoff that drops the singular value 0.2 gives a truncated pseudo-inverse, whose
    derivative is not Golub and Pereyra's constant-rank one; options by position work too."""
    a = np.diag([3.0, 1.0, 0.2]) + 0.01 * np.random.default_rng(0).standard_normal((3, 3))
    weights = np.random.default_rng(1).standard_normal(np.shape(call(a)))
    f = lambda a: np.sum(call(a) * weights)
    np.testing.assert_allclose(mixedad.gradient(f, a), _central_differences(f, a), rtol=1e-5, atol=1e-6)


def test_eigenvectors_of_eigenvalues_equal_up_to_rounding_give_an_invariant_function_its_gradient():
    """The projector onto a twice repeated eigenvalue is smooth; its eigenvalues differ by
    rounding only, and 1 / gap must not turn that noise into the gradient."""
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))
    a = q @ np.diag([1.0, 1.0, 4.0]) @ q.T
    a = (a + a.T) / 2
    w = np.random.default_rng(1).standard_normal((3, 3))
    w = w + w.T

    def projector(a):
        v = np.linalg.eigh(a, UPLO="l")[1][:, :2]  # lowercase, as NumPy takes it
        return np.sum(v @ v.T * w)

    np.testing.assert_allclose(mixedad.gradient(projector, a), _central_differences(projector, a), atol=1e-6)


@pytest.mark.parametrize("ord", [None, 1, 2, np.inf, -np.inf, 0.5])
@pytest.mark.parametrize("x", [1.7, -0.4])
def test_vector_norm_of_a_0_d_array_is_its_absolute_value(ord, x):
    """NumPy's vector_norm takes 0-d arrays (np.linalg.norm does not)."""
    f = lambda a: np.linalg.vector_norm(a, ord=ord)
    a = np.array(x)
    value, grad = mixedad.value_and_gradient(f, a)
    assert value == f(a)
    assert grad == np.sign(x) == mixedad.jacobian(f, a, mode="forward")


@pytest.mark.parametrize("n", [2, 3, 4, 5, -3])
def test_matrix_power_rounds_as_numpy_does(n):
    a = np.random.default_rng(3).standard_normal((5, 5)) + 3 * np.eye(5)
    value, _ = mixedad.vjp(lambda a: np.linalg.matrix_power(a, n), a)
    np.testing.assert_array_equal(value, np.linalg.matrix_power(a, n))


@pytest.mark.parametrize("mode", MODES)
def test_lstsq_of_a_float32_matrix_and_a_float64_right_side_solves_in_float64_as_numpy(mode):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(4)

    def f(m):
        return np.sum(np.linalg.lstsq(m, b, rcond=None)[0] ** 2)
    value, grad = mixedad.value_and_gradient(f, a, mode=mode)
    assert value == pytest.approx(f(a), rel=1e-13)  # NumPy's float64 value, not one at float32 precision
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, numerical_gradient(f, a.astype(np.float64)), rtol=1e-5)


def _nearly_rank_deficient(dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((8, 4))
    a[:, 3] = a[:, 0] + a[:, 1]  # rank 3 in float64; float32 rounding leaves a singular value near 1e-8
    return a.astype(dtype), rng.standard_normal(8).astype(dtype)


@pytest.mark.parametrize("dtype, rcond", [(np.float32, None), (np.float64, -1), (np.float32, -1), (np.float64, None)],
                         ids=["float32 default", "float64 rcond=-1", "float32 rcond=-1", "float64 default"])
@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_lstsq_cutoffs_are_numpys_for_float32_and_negative_rcond(dtype, rcond, mode):
    """NumPy solves float32 problems in float64 (the default cutoff is float64's) and reads a
    negative rcond as machine precision. Found: float32's cutoff, and a negative one that kept
    every singular value, gave other ranks, values and gradients (by 1e15 and 1e31)."""
    a, y = _nearly_rank_deficient(dtype)

    def f(y):
        return np.sum(np.linalg.lstsq(a, y, rcond=rcond)[0] ** 2)
    seen = {}

    def outputs(y):
        x, residuals, rank, s = np.linalg.lstsq(a, y, rcond=rcond)
        seen.update(rank=rank, dtypes=(x.dtype, residuals.dtype, s.dtype))
        return np.sum(x)
    mixedad.gradient(outputs, y, mode=mode)
    x, residuals, rank, s = np.linalg.lstsq(a, y, rcond=rcond)
    assert seen == dict(rank=rank, dtypes=(x.dtype, residuals.dtype, s.dtype))
    value, grad = mixedad.value_and_gradient(f, y, mode=mode)
    np.testing.assert_allclose(value, f(y), rtol=1e-5)
    assert grad.dtype == dtype
    # f is quadratic in y: central differences of NumPy's f with a unit step are exact up to rounding
    expected = numerical_gradient(lambda v: np.sum(np.linalg.lstsq(a.astype(np.float64), v, rcond=rcond if rcond
                                                                   else 8 * np.finfo(np.float64).eps)[0] ** 2),
                                  y.astype(np.float64), eps=1.0)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6 * np.max(np.abs(expected)))


@pytest.mark.parametrize("differentiate", [
    lambda f, a: mixedad.gradient(f, a, mode="auto"),
    lambda f, a: mixedad.gradient(f, a, mode="reverse"),
    lambda f, a: mixedad.jvp(f, (a,), (np.ones_like(a),)),
    lambda f, a: mixedad.hessian(f, a),
], ids=["auto", "reverse", "jvp", "hessian"])
@pytest.mark.parametrize("a", [
    np.array([[1.0, 0], [2, 0], [3, 0]]),  # an exact zero on R's diagonal
    np.array([[0.3, 0.9], [0.7, 2.1], [0.1, 0.3]]),  # rank 1, but R's diagonal holds rounding noise
    np.array([[0.3, -1.2, 0.8], [0.3, -1.2, 0.8]]),  # wide: its square part is singular
], ids=["exact-zero", "rounding-noise", "wide"])
def test_qr_at_a_rank_deficient_matrix_says_the_derivative_does_not_exist(differentiate, a):
    assert np.linalg.matrix_rank(a) < min(a.shape)
    with pytest.raises(np.linalg.LinAlgError, match="qr has no derivative at a matrix without full column rank"):
        differentiate(lambda a: np.sum(np.linalg.qr(a)[1] ** 2 * np.arange(1.0, a.shape[1] + 1)), a)
