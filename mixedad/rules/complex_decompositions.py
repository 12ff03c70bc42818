"""Eigen and singular value decompositions of complex intermediate values: ``np.linalg.eigh``
of a Hermitian matrix (values and vectors), ``svd`` (values, and thin factors), ``svdvals``,
and the matrix norms built on singular values (``ord=2``, ``-2``, ``'nuc'``).

Each goes through the real block matrix M = [[Ar, -Ai], [Ai, Ar]] (``complex_linalg``), whose
real rules differentiate it in every mode. M is symmetric for a Hermitian A, with A's
eigenvalues, each twice; its singular values are A's, each twice. For an eigenvector
v = a + ib of A, [a; b] and [-b; a] span the pair's eigenspace of M, and every unit vector
of that space is [Re; Im] of v times a phase. A change of a Hermitian A does not couple the
two (their coupling term is exactly 0, the value the real rule takes at a tie), so the first
vector of each pair is differentiable; for the SVD, M [Re v; Im v] = s [Re u; Im u] pairs
the right and left vectors with the same phase.

The phase of an eigenvector (of a pair of singular vectors) is arbitrary: the values are
NumPy's, the derivative that of a smooth choice of phases, and a loss that reads a phase
(rather than |v|, v v^H, u v^H or the values) has no derivative: the reverse pass raises.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import NonDifferentiableError
from ..core.region import read_value
from .complex_functions import _real_and_imaginary as _both_parts
from .complex_linalg import _real_block, hermitian_from_triangle
from .complex_values import FUNCTIONS, _norm, _pair, unsupported_complex
from .decompositions import _EIGH_RESULT, _SVD_RESULT, _uplo
from .table import reverse_rule


def _plain(value) -> np.ndarray:
    """The NumPy complex array behind a complex value (its phases are read: value-dependent)."""
    re, im = _both_parts(value)
    return read_value(re, "a complex decomposition") + 1j * read_value(im, "a complex decomposition")


def _unchanged(stacked):
    return stacked


def _refuse_phase_dependence(g, out, stacked):
    """The reverse rule of the identity on [Re V; Im V] (stacked on a leading axis of 2): a loss
    that does not read the phases of V's columns has Im(sum_i conj(g_ik) v_ik) = 0 for each k."""
    plain_g, plain_v = (read_value(x, "a phase check") for x in (g, stacked))
    moment = np.sum(plain_v[0] * plain_g[1] - plain_v[1] * plain_g[0], axis=-2)  # Im(conj(v) g), per column
    scale = np.sqrt(np.sum(plain_g[0] ** 2 + plain_g[1] ** 2, axis=-2))
    tolerance = 64 * plain_v.shape[-2] * np.finfo(np.result_type(plain_v.dtype, np.float32)).eps
    if np.any(np.abs(moment) > tolerance * scale):
        raise NonDifferentiableError(
            "a loss reads the phase of complex eigenvectors or singular vectors (np.linalg.eigh, svd), which NumPy "
            "leaves arbitrary (e^{i t} v is as valid as v), so it has no derivative. Differentiate quantities "
            "that do not depend on it: np.abs(v), v * np.conj(v), projectors v v^H, u v^H, or the values.")
    return g


def _tangent_unchanged(t, out, stacked):
    return t


# (not declared linear: a linear rule would check each component of a cotangent that carries
# tangents, and a tangent of a phase-free cotangent need not be phase-free itself)
_phase_free = reverse_rule(_unchanged, _refuse_phase_dependence, name="phase check", forward=_tangent_unchanged)


def _columns(checked, rows: slice):
    """The complex columns made of rows ``rows`` of a (phase-checked) [Re; Im] stack."""
    return _pair(checked[0][..., rows, :], checked[1][..., rows, :])


def _with_values_of(value, reference: np.ndarray):
    """``value``'s derivative with NumPy's own ``reference`` values (equal up to rounding but at
    ties of the values, where NumPy's basis of the eigenspace is another valid one)."""
    return value + (reference - _plain(value))


def _turn(vectors, reference: np.ndarray) -> np.ndarray:
    """The constant phase per column that turns ``vectors``' columns onto ``reference``'s."""
    overlap = np.sum(np.conj(reference) * _plain(vectors), axis=-2, keepdims=True)
    magnitude = np.abs(overlap)
    return np.where(magnitude > 0, np.conj(overlap) / np.where(magnitude > 0, magnitude, 1), 1).astype(reference.dtype)


def _eigh(a, UPLO="L"):
    hermitian = hermitian_from_triangle(a, UPLO)
    values, vectors = np.linalg.eigh(_real_block(hermitian))
    n = np.shape(a)[-1]
    w = 0.5 * (values[..., 0::2] + values[..., 1::2])
    first = vectors[..., 0::2]  # (..., 2n, n)
    v = _columns(_phase_free(np.stack([first[..., :n, :], first[..., n:, :]])), slice(None))
    reference = np.linalg.eigh(_plain(hermitian), UPLO=_uplo(UPLO))[1]
    v = _with_values_of(v * _turn(v, reference), reference)
    return (w, v) if _EIGH_RESULT is tuple else _EIGH_RESULT(w, v)


def _singular_values(a):
    s = np.linalg.svd(_real_block(a), compute_uv=False)
    return 0.5 * (s[..., 0::2] + s[..., 1::2])


def _svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    if not compute_uv:
        return _singular_values(a)
    m, n = np.shape(a)[-2:]
    if full_matrices and m != n:
        raise unsupported_complex("numpy.linalg.svd of a non-square complex matrix with full_matrices=True (its "
                                  "extra singular vectors are arbitrary; pass full_matrices=False)")
    k = min(m, n)
    u_block, s_block, vt_block = np.linalg.svd(_real_block(a), full_matrices=False)
    s = 0.5 * (s_block[..., 0:2 * k:2] + s_block[..., 1:2 * k:2])
    left, right = u_block[..., 0:2 * k:2], np.swapaxes(vt_block[..., 0:2 * k:2, :], -1, -2)
    # one check for both factors: a phase turns u and v together
    checked = _phase_free(np.stack([np.concatenate([left[..., :m, :], right[..., :n, :]], axis=-2),
                                    np.concatenate([left[..., m:, :], right[..., n:, :]], axis=-2)]))
    u, v = _columns(checked, slice(0, m)), _columns(checked, slice(m, m + n))
    u_ref, _, vh_ref = np.linalg.svd(_plain(a), full_matrices=False)
    turn = _turn(u, u_ref)  # and the same turn for v
    u = _with_values_of(u * turn, u_ref)
    vh = _with_values_of(np.conj(np.swapaxes(v * turn, -1, -2)), vh_ref)
    return (u, s, vh) if _SVD_RESULT is tuple else _SVD_RESULT(u, s, vh)


def _complex_norm(x, ord=None, axis=None, keepdims=False):
    """``_norm``'s cases, and the matrix norms made of singular values: 2, -2 and 'nuc'."""
    matrix = axis is None and np.ndim(x) == 2 or isinstance(axis, tuple) and len(axis) == 2
    if not matrix or ord not in (2, -2, "nuc"):
        return _norm(x, ord, axis, keepdims)
    rows, columns = (-2, -1) if axis is None else axis
    moved = np.moveaxis(x, (rows, columns), (-2, -1))
    s = _singular_values(moved)
    result = np.sum(s, axis=-1) if ord == "nuc" else s[..., 0] if ord == 2 else s[..., -1]
    if keepdims:
        result = np.expand_dims(result, tuple(sorted(d % np.ndim(x) for d in (rows, columns))))
    return result


FUNCTIONS.update({np.linalg.eigh: _eigh, np.linalg.svd: _svd, np.linalg.norm: _complex_norm})
if hasattr(np.linalg, "svdvals"):
    FUNCTIONS[np.linalg.svdvals] = _singular_values
if hasattr(np.linalg, "matrix_norm"):
    FUNCTIONS[np.linalg.matrix_norm] = lambda x, /, *, keepdims=False, ord="fro": _complex_norm(
        x, ord, (-2, -1), keepdims)
