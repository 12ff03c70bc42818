"""Determinants: ``det`` and ``slogdet``, and the cofactor matrix C(A) = adj(A)^T, the gradient
of det, as a primitive of its own.

C exists everywhere, singular matrices included. It is det(A) A^-T from one LU wherever no
pivot is 0 (accurate even near singular matrices: det and A^-1 share the factorization), the
closed forms for 1x1 to 3x3, and otherwise comes from the SVD A = U diag(s) V^T:
C = det(U) det(V) U diag(prod_{j != i} s_j) V^T, exact at any rank. C's derivative is the
Hessian of det: dC = U (diag(P diag F) - F^T * P) V^T (times the same sign), F = U^T dA V,
P[i, j] = prod_{l != i, j} s_l off the diagonal; the LU formula (<C, dA> C - C dA^T C) / det
cancels terms of C's size squared, so it only serves well-conditioned matrices. That operator
is symmetric, so one function is C's forward and its reverse rule, and second derivatives of
det (``hessian``, ``hvp``) are exact at singular matrices too.

slogdet's gradient A^-T does not exist where A is singular (log|det| tends to -inf): there it
is C / 0, infinite (NaN where C is 0 as well), never an error or a finite number.
"""
from __future__ import annotations

import math
import weakref

import numpy as np

from .table import implements, reverse_rule
from ..core.arrays import LeveledValue, apply_linear, as_array, finite_array
from ..core.errors import UnsupportedOperationError, error_with_location
from ..core.recomputed import recompute, recording_trace
from ..core.region import read_value


def _swap(x):
    return np.swapaxes(x, -1, -2)


# ------------------------------------------------------------------------------------------
# closed forms for small matrices (polynomials: differentiable through any rule)
_CHECKERBOARD = np.array([[1, -1], [-1, 1]], np.int8)  # int8 keeps float32 float32
_NEXT, _AFTER = [1, 2, 0], [2, 0, 1]


def _cofactor_2x2(x):
    """[[x11, -x10], [-x01, x00]]: linear in ``x``."""
    return x[..., ::-1, ::-1] * _CHECKERBOARD


def _minors_3x3(x, y):
    """M[i, j] = x[i+1, j+1] y[i+2, j+2] - x[i+1, j+2] y[i+2, j+1], indices mod 3: the cofactor
    matrix of a 3x3 matrix a is M(a, a), its derivative along e is M(e, a) + M(a, e)."""
    x_next, y_after = x[..., _NEXT, :], y[..., _AFTER, :]
    return x_next[..., _NEXT] * y_after[..., _AFTER] - x_next[..., _AFTER] * y_after[..., _NEXT]


# ------------------------------------------------------------------------------------------
# the general case: LU where it serves, the SVD elsewhere
def _squared_norm(x):
    """The squared Frobenius norm of each matrix of ``x``."""
    if x.ndim == 2:
        flat = x.ravel(order="K") if type(x) is np.ndarray else np.ravel(x)  # K: a view for any compact layout
        return np.dot(flat, flat)
    return np.einsum("...ij,...ij->...", x, x)


_SQUARED_LIMIT = {np.dtype(t): float(np.finfo(t).eps) ** (-2 / 3) for t in (np.float32, np.float64, np.longdouble)}


def _well_conditioned(a, inverse_t):
    """Per matrix: |A|_F |A^-1|_F (between cond_2(A) and n cond_2(A)) below eps^(-1/3): where the
    LU formula for C's derivative, whose relative error grows like eps cond(A) (it cancels
    terms of C's size squared), is accurate (about 1e-10 in float64)."""
    limit = _SQUARED_LIMIT.get(a.dtype) or float(np.finfo(a.dtype).eps) ** (-2 / 3)
    with np.errstate(over="ignore", invalid="ignore"):
        return _squared_norm(a) * _squared_norm(inverse_t) < limit  # NaN compares False


def _nonzero_and_finite(det) -> bool:
    if det.ndim == 0:
        value = float(det)
        return value != 0 and math.isfinite(value)
    return bool(det.all() and np.isfinite(det).all())


def _finite_matrices(stack):
    return np.isfinite(stack).all(axis=(-2, -1))


def _others(values):
    """For each entry, the product of the other entries along the last axis, without dividing."""
    ones = np.ones(values.shape[:-1] + (1,), values.dtype)
    before = np.concatenate([ones, np.cumprod(values[..., :-1], axis=-1)], axis=-1)
    after = np.concatenate([np.cumprod(values[..., :0:-1], axis=-1)[..., ::-1], ones], axis=-1)
    return before * after


def _svd_parts(a):
    """U, V^T, the sign det(U) det(V), and P[i, j] = prod_{l != i, j} s_l (prod_{l != i} s_l on
    the diagonal) for the SVD of each matrix of ``a``."""
    u, s, vt = np.linalg.svd(a)
    n = s.shape[-1]
    sign = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    pairs = _others(np.where(np.eye(n, dtype=bool), np.ones((), s.dtype), s[..., None, :]))
    return u, vt, sign[..., None, None], pairs


def _svd_cofactor(a):
    u, vt, sign, pairs = _svd_parts(a)
    return sign * np.matmul(u * np.diagonal(pairs, axis1=-2, axis2=-1)[..., None, :], vt)


def _svd_cofactor_derivative(parts, e):
    u, vt, sign, pairs = parts
    n = u.shape[-1]
    off = np.where(np.eye(n, dtype=bool), np.zeros((), pairs.dtype), pairs)
    f = np.matmul(np.matmul(_swap(u), e), _swap(vt))
    diagonal = np.matmul(off, np.diagonal(f, axis1=-2, axis2=-1)[..., None])  # (..., n, 1)
    inner = diagonal * np.eye(n, dtype=f.dtype) - _swap(f) * off
    return sign * np.matmul(np.matmul(u, inner), vt)


def _regular_cofactor_derivative(c, e, det):
    """d(det A^-T) = (<C, E> C - C E^T C) / det, C = det A^-T (for well-conditioned A)."""
    trace = np.sum(c * e, axis=(-2, -1))[..., None, None]
    return (trace * c - np.matmul(np.matmul(c, _swap(e)), c)) / det[..., None, None]


def _as_stack(x):
    return np.reshape(x, (-1,) + x.shape[-2:])


def _cofactor(a, det=None):
    """The cofactor matrix adj(A)^T of each matrix of ``a`` (``det``: np.linalg.det(a), if known)."""
    n = a.shape[-1]
    if n == 0:
        return np.zeros_like(a)
    if n == 1:
        return np.ones_like(a)
    if n == 2:
        return _cofactor_2x2(a)
    if n == 3:
        return _minors_3x3(a, a)
    # det(A) A^-T from one LU wherever no pivot is 0: as accurate as the SVD (more, for graded
    # matrices) even when A is nearly singular, since det and A^-1 share the factorization.
    det = np.linalg.det(a) if det is None else np.asarray(det)
    if _nonzero_and_finite(det):  # the common case first: one inverse for all
        out = det[..., None, None] * _swap(np.linalg.inv(a))
        if finite_array(out):
            return out
    stack, det = _as_stack(a), np.reshape(det, -1)
    out = np.full_like(stack, np.nan)  # stays NaN for matrices holding inf or NaN
    by_lu = np.isfinite(det) & (det != 0)
    if by_lu.any():
        rows = np.flatnonzero(by_lu)
        with np.errstate(over="ignore", invalid="ignore"):
            out[rows] = det[rows, None, None] * _swap(np.linalg.inv(stack[rows]))
        by_lu[rows] = _finite_matrices(out[rows])
    by_svd = ~by_lu & _finite_matrices(stack)
    if by_svd.any():
        out[by_svd] = _svd_cofactor(stack[by_svd])
    return np.reshape(out, a.shape)


def _cofactor_derivative(a, e, c, det=None):
    """dC along ``e`` at ``a`` (``c``: C(a)); also C's reverse rule, dC being symmetric."""
    n = np.shape(a)[-1]
    if n <= 1:
        return None
    if n == 2:
        return _cofactor_2x2(e)
    if n == 3:
        return _minors_3x3(e, a) + _minors_3x3(a, e)
    if np.shape(e) != np.shape(a):  # a cotangent only needs to broadcast
        e = e + np.zeros(np.shape(a), e.dtype)
    if isinstance(a, LeveledValue) or isinstance(c, LeveledValue):
        return _leveled_derivative(a, e, c)
    if isinstance(e, LeveledValue):  # linear in e: component by component
        return apply_linear(lambda part: _cofactor_derivative(a, part, c, det), e)
    det, by_lu, svd_parts = _derivative_plan(a, c, det)
    if svd_parts is None:
        return _regular_cofactor_derivative(c, e, det)
    e_stack, c_stack = _as_stack(e), _as_stack(c)
    out = np.full_like(c_stack, np.nan)  # for matrices holding inf or NaN
    out[by_lu] = _regular_cofactor_derivative(c_stack[by_lu], e_stack[by_lu], det[by_lu])
    by_svd, parts = svd_parts
    out[by_svd] = _svd_cofactor_derivative(parts, e_stack[by_svd])
    return np.reshape(out, np.shape(a))


_LAST_PLAN = [None]  # the chunk members of a forward dual share a and C: one plan serves them all


def _derivative_plan(a, c, det):
    """det, which matrices take the LU formula, and the SVDs of the others (None if all do)."""
    last = _LAST_PLAN[0]
    if last is not None and last[0]() is c and last[1]() is a:
        return last[2]
    det = np.linalg.det(a) if det is None else np.asarray(det)
    by_lu = _by_lu(a, c, det)
    if by_lu.all():
        plan = det, by_lu, None
    else:
        stack, det, by_lu = _as_stack(a), np.reshape(det, -1), np.reshape(by_lu, -1)
        by_svd = ~by_lu & _finite_matrices(stack)
        plan = det, by_lu, (by_svd, _svd_parts(stack[by_svd]))
    try:
        _LAST_PLAN[0] = (weakref.ref(c), weakref.ref(a), plan)
    except TypeError:  # not weakly referenceable: no memo
        pass
    return plan


def _by_lu(a, c, det):
    """Which matrices the LU formulas serve: det nonzero and finite, A well conditioned."""
    regular = np.isfinite(det) & (det != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return regular & _well_conditioned(a, c / np.where(regular, det, 1)[..., None, None])


def _leveled_derivative(a, e, c):
    """dC where ``a`` carries a tangent of its own (a third derivative of det): exact through
    the LU formula, which well-conditioned matrices only take."""
    plain_a, plain_c = read_value(a, "det"), read_value(c, "det")
    if not np.all(_by_lu(plain_a, plain_c, np.linalg.det(plain_a))):
        raise error_with_location(
            UnsupportedOperationError,
            "mixedad cannot take third or higher derivatives of np.linalg.det at a singular or "
            "ill-conditioned matrix larger than 3x3{where}.", skip=2)
    return _regular_cofactor_derivative(c, e, np.linalg.det(a))


cofactor_ = reverse_rule(_cofactor, lambda g, out, a, det=None: _cofactor_derivative(a, g, out, det),
                         name="cofactor", forward=lambda t, out, a, det=None: _cofactor_derivative(a, t, out, det))


# ------------------------------------------------------------------------------------------
# det and slogdet
def _known_det(out):
    """det's value, to spare its cofactor an LU: plain (or under a forward dual), not traced."""
    if isinstance(out, LeveledValue):
        return read_value(out, "det")
    return out if isinstance(out, (np.ndarray, np.generic)) else None


def _det_vjp(g, out, a):
    return as_array(g)[..., None, None] * cofactor_(a, det=_known_det(out))


def _det_jvp(t, out, a):
    return np.sum(cofactor_(a, det=_known_det(out)) * t, axis=(-2, -1))


def _slogdet(a):
    sign, logabsdet = np.linalg.slogdet(a)
    return sign, logabsdet


def _inverse_transpose(a, sign):
    """A^-T, the gradient of log|det A|; C / 0 (+-inf, or NaN) for singular matrices."""
    singular = read_value(sign, "slogdet") == 0
    if not np.any(singular):
        return _swap(np.linalg.inv(a))
    singular = singular[..., None, None]
    eye = np.eye(np.shape(a)[-1], dtype=a.dtype)
    inverse_t = _swap(np.linalg.inv(np.where(singular, eye, a)))
    with np.errstate(divide="ignore", invalid="ignore"):
        unbounded = cofactor_(a) / np.zeros((), a.dtype)
    return np.where(singular, unbounded, inverse_t)


def _slogdet_vjp(g, out, a):
    _, g_logabsdet = g  # the sign is piecewise constant
    return g_logabsdet[..., None, None] * _inverse_transpose(a, out[0])


def _log_det_jvp(t, out, a):  # d log|det A| = tr(A^-1 dA)
    with np.errstate(invalid="ignore"):  # inf - inf at a singular matrix: NaN
        return None, np.sum(_inverse_transpose(a, out[0]) * t, axis=(-2, -1))


det = reverse_rule(np.linalg.det, _det_vjp, forward=_det_jvp)
slogdet_ = reverse_rule(_slogdet, _slogdet_vjp, name="slogdet", multiple_outputs=True, forward=_log_det_jvp)

_SLOGDET_RESULT = type(np.linalg.slogdet(np.eye(1)))  # a namedtuple in NumPy 2, a tuple before


@implements(np.linalg.slogdet)
def slogdet(a):
    sign, logabsdet = slogdet_(a)
    # The sign carries no derivative: it is handed back as a plain array; in a prepared recording,
    # one each replay refills (reading it is what makes a program depend on input values).
    trace = recording_trace((sign,), {})
    sign = read_value(sign, "np.linalg.slogdet sign") if trace is None else recompute(trace, np.positive, (sign,), {})
    if _SLOGDET_RESULT is tuple:
        return sign, logabsdet
    return _SLOGDET_RESULT(sign, logabsdet)
