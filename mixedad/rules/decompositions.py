"""Matrix decompositions whose outputs are not unique up to a convention: the symmetric
eigendecomposition and the singular value decomposition (reverse and forward rules); and the
pseudo-inverse, least squares and QR, differentiable where the rank does not change.

Conventions: ``eigh``, ``eigvalsh`` and ``pinv(hermitian=True)`` read one triangle of their
input, as NumPy does, so their cotangents live on that triangle; the singular 1 / gap terms of
eigenvectors and singular vectors vanish between values equal up to rounding, where a zero
cotangent must not turn into NaN (nor rounding noise into a gradient), while the singular
vectors' finite 1 / (s_i + s_j) terms stay (the polar factor U V^T of the identity has a
derivative); ``svd`` is thin (with ``full_matrices=True`` a non-square matrix's extra
vectors, an arbitrary basis, have a derivative in the functions of the space they span only:
a loss that changes when they rotate among themselves is refused).
"""
from __future__ import annotations

import contextlib

import numpy as np

from .linalg import _swap, check_matrices, cotangent_on_triangle, symmetric_from_triangle
from .table import implements, reverse_rule
from ..core.errors import NonDifferentiableError, describe_location, unsupported_option, user_location
from ..core.region import read_value


def _eigh(a, UPLO="L"):
    w, v = np.linalg.eigh(a, UPLO=UPLO)
    return w, v


def _inverse_gaps(values):
    """F[i, j] = 1 / (values[j] - values[i]) off the diagonal, 0 on it and between values equal
    up to rounding (a zero cotangent of the eigenvectors must not turn into NaN there, nor
    rounding noise times 1e16 into a gradient). NumPy computes in double precision, float32
    inputs too, so values are equal up to the solver's error in float64 (16 n ulps of the
    largest) or to the rounding of its results (4 ulps of float32): a float32 pair 1e-4 apart
    is resolved, not tied (found: 16 n float32 ulps dropped its eigenvectors' derivative)."""
    gaps = values[..., None, :] - values[..., :, None]
    plain = np.abs(read_value(values, "eigen/singular value ties"))
    if plain.shape[-1] == 0:
        return gaps
    dtype = np.result_type(plain, np.float16)
    ulps = max(16 * plain.shape[-1] * np.finfo(np.result_type(dtype, np.float64)).eps, 4 * np.finfo(dtype).eps)
    tied = np.abs(read_value(gaps, "eigen/singular value ties")) <= ulps * np.max(plain, axis=-1)[..., None, None]
    with np.errstate(divide="ignore"):
        return np.where(tied, np.zeros((), gaps.dtype), 1 / np.where(tied, 1, gaps))


def _eigen_gaps(w):
    """F[i, j] = 1 / (w[j] - w[i]) (``_inverse_gaps``)."""
    return _inverse_gaps(w)


def _eigh_vjp(g, out, a, UPLO="L"):
    """S_bar = V (diag(w_bar) + F * (V^T V_bar)) V^T for the symmetric S that NumPy reads from
    one triangle, moved onto that triangle."""
    g_w, g_v = g
    w, v = out
    inner = _eigen_gaps(w) * np.matmul(_swap(v), g_v)
    inner = inner + g_w[..., None] * np.eye(w.shape[-1], dtype=w.dtype)
    result = np.matmul(np.matmul(v, inner), _swap(v))
    return cotangent_on_triangle(result, lower=_reads_lower(UPLO))


def _reads_lower(uplo) -> bool:
    if uplo not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    return uplo == "L"


def _eigh_jvp(t, out, a, UPLO="L"):
    w, v = out
    rotated = np.matmul(np.matmul(_swap(v), symmetric_from_triangle(t, _reads_lower(UPLO))), v)  # V^T dS V
    return np.diagonal(rotated, axis1=-2, axis2=-1), np.matmul(v, _eigen_gaps(w) * rotated)


def _svd(a):
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    return u, s, vt


def _singular_gaps(s):
    """1 / (s[j]^2 - s[i]^2), the factor of the vector terms, in its two parts: ``s[j]`` times
    it is (D_minus + D_plus) / 2 and ``s[i]`` times it (D_minus - D_plus) / 2, with D_minus[i, j]
    = 1 / (s[j] - s[i]) (``_inverse_gaps``: 0 between tied values, the ambiguous rotations of a
    repeated singular value) and D_plus[i, j] = 1 / (s[i] + s[j]), finite at ties: the polar
    factor U V^T of the identity has a derivative, carried by D_plus alone. D_plus is 0 where
    both values are 0 (a rank-deficient matrix, where U V^T has none)."""
    total = s[..., :, None] + s[..., None, :]
    none = read_value(total, "singular values") == 0
    with np.errstate(divide="ignore"):
        return _inverse_gaps(s), np.where(none, np.zeros((), total.dtype), 1 / np.where(none, 1, total))


def _svd_vjp(g, out, a):
    """Townsend (2016) for the thin SVD A = U diag(s) V^T (singular values distinct, nonzero
    where U or V carry cotangents)."""
    g_u, g_s, g_vt = g
    u, s, vt = out
    v, g_v = _swap(vt), _swap(g_vt)
    d_minus, d_plus = _singular_gaps(s)
    ut_gu, vt_gv = np.matmul(_swap(u), g_u), np.matmul(vt, g_v)
    j, k = ut_gu - _swap(ut_gu), vt_gv - _swap(vt_gv)
    inner = (d_minus * (j + k) + d_plus * (j - k)) / 2
    inner = inner + g_s[..., None] * np.eye(s.shape[-1], dtype=s.dtype)
    result = np.matmul(np.matmul(u, inner), vt)
    m, n = np.shape(a)[-2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse_s = np.where(s == 0, np.zeros((), s.dtype), 1 / np.where(s == 0, 1, s))
    if m > n:  # the part of U's cotangent outside span(U)
        outside = g_u - np.matmul(u, ut_gu)
        result = result + np.matmul(outside * inverse_s[..., None, :], vt)
    if n > m:
        outside = g_v - np.matmul(v, vt_gv)
        result = result + np.matmul(u * inverse_s[..., None, :], _swap(outside))
    return result


def _svd_jvp(t, out, a):
    u, s, vt = out
    v = _swap(vt)
    p = np.matmul(np.matmul(_swap(u), t), v)  # U^T dA V
    d_s = np.diagonal(p, axis1=-2, axis2=-1)
    d_minus, d_plus = _singular_gaps(s)
    symmetric, antisymmetric = d_minus * (p + _swap(p)) / 2, d_plus * (p - _swap(p)) / 2
    d_u = np.matmul(u, symmetric + antisymmetric)
    d_v = np.matmul(v, symmetric - antisymmetric)
    m, n = np.shape(a)[-2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse_s = np.where(s == 0, np.zeros((), s.dtype), 1 / np.where(s == 0, 1, s))
    if m > n:
        d_u = d_u + np.matmul(t - np.matmul(u, np.matmul(_swap(u), t)), v) * inverse_s[..., None, :]
    if n > m:
        d_v = d_v + np.matmul(_swap(t) - np.matmul(v, np.matmul(vt, _swap(t))), u) * inverse_s[..., None, :]
    return d_u, d_s, _swap(d_v)


eigh_ = reverse_rule(_eigh, _eigh_vjp, name="eigh", multiple_outputs=True, forward=_eigh_jvp)

_EIGH_RESULT = type(np.linalg.eigh(np.eye(1)))


def _uplo(UPLO):
    return UPLO.upper() if isinstance(UPLO, str) else UPLO  # NumPy takes 'l' and 'u' too


@implements(np.linalg.eigh)
def eigh(a, UPLO="L"):
    w, v = eigh_(a, UPLO=_uplo(UPLO))
    return (w, v) if _EIGH_RESULT is tuple else _EIGH_RESULT(w, v)


svd_ = reverse_rule(_svd, _svd_vjp, name="svd", multiple_outputs=True, forward=_svd_jvp)
_SVD_RESULT = type(np.linalg.svd(np.eye(1)))


def _svd_full(a, called_at=None):
    u, s, vt = np.linalg.svd(a, full_matrices=True)
    return u, s, vt


def _thin(out):
    """The thin factors inside full ones: U's first k columns, V^T's first k rows."""
    u, s, vt = out
    k = s.shape[-1]
    return u[..., :, :k], s, vt[..., :k, :]


# The extra vectors U2 of a tall matrix (V2 of a wide one) are any orthonormal basis of the
# complement: only what does not change under U2 -> U2 Q (Q orthogonal) has a derivative, such
# as u @ u.T or the projector U2 U2^T. Their tangent is the one that keeps U orthogonal and does
# not rotate U2 within the complement, dU2 = -U1 dU1^T U2: the derivative of a smooth choice of
# the basis, so right for every such function (a rotation's term U2 Y changes none of them).
def _svd_full_vjp(g, out, a, called_at=None):
    """The thin rule, with the extra vectors' cotangent moved onto the thin vectors (the
    transpose of ``_svd_full_jvp``). A loss that changes when the extra basis rotates
    (U2^T G2 not symmetric: the first-order condition) is refused rather than given one basis's
    gradient: at the line that called svd (``called_at``), which the backward pass no longer runs in."""
    g_u, g_s, g_vt = g
    u, s, vt = out
    k = s.shape[-1]
    g_u1, g_vt1 = g_u[..., :, :k], g_vt[..., :k, :]
    g_u2, g_vt2 = g_u[..., :, k:], _swap(g_vt[..., k:, :])
    u1, u2, v1, v2 = u[..., :, :k], u[..., :, k:], _swap(vt[..., :k, :]), _swap(vt[..., k:, :])
    for extra, cotangent in ((u2, g_u2), (v2, g_vt2)):
        plain = read_value(cotangent, "svd")
        if np.any(plain != 0) and not _rotation_invariant(read_value(extra, "svd"), plain):
            raise NonDifferentiableError(
                "The result depends on the extra singular vectors of np.linalg.svd(full_matrices=True)"
                f"{describe_location(called_at)} (columns {k} on of U or rows {k} on of V^T, for a non-square "
                "matrix), and changes when they rotate among themselves. They are an arbitrary basis of the "
                "complement: only functions of the space they span (u @ u.T, U2 @ U2.T) have a derivative. Use "
                "full_matrices=False, or only the first min(m, n) vectors.")
    if np.shape(a)[-2] > k:
        g_u1 = g_u1 - np.matmul(np.matmul(u2, _swap(g_u2)), u1)
    if np.shape(a)[-1] > k:
        g_vt1 = g_vt1 - _swap(np.matmul(np.matmul(v2, _swap(g_vt2)), v1))
    return _svd_vjp((g_u1, g_s, g_vt1), _thin(out), a)


def _rotation_invariant(extra, cotangent) -> bool:
    """Whether a loss with ``cotangent`` on the orthonormal columns ``extra`` is unchanged, to
    first order, by their rotations (extra^T cotangent symmetric, up to the loss's rounding)."""
    product = np.matmul(_swap(extra), cotangent)
    tolerance = np.sqrt(np.finfo(np.result_type(product, np.float16)).eps) * np.max(np.abs(cotangent))
    return bool(np.all(np.abs(product - _swap(product)) <= tolerance))


def _svd_full_jvp(t, out, a, called_at=None):
    """The thin rule; the extra vectors turn with the thin ones: dU2 = -U1 dU1^T U2 (above)."""
    d_u, d_s, d_vt = _svd_jvp(t, _thin(out), a)
    u, s, vt = out
    k = s.shape[-1]
    u1, u2, vt1, vt2 = u[..., :, :k], u[..., :, k:], vt[..., :k, :], vt[..., k:, :]
    if np.shape(a)[-2] > k:
        d_u = np.concatenate([d_u, -np.matmul(u1, np.matmul(_swap(d_u), u2))], axis=-1)
    if np.shape(a)[-1] > k:
        d_vt = np.concatenate([d_vt, -np.matmul(np.matmul(vt2, _swap(d_vt)), vt1)], axis=-2)
    return d_u, d_s, d_vt


svd_full_ = reverse_rule(_svd_full, _svd_full_vjp, name="svd", multiple_outputs=True, forward=_svd_full_jvp)


@implements(np.linalg.svd)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    check_matrices(a)
    if hermitian:
        return _hermitian_svd(a, compute_uv)
    m, n = np.shape(a)[-2:]
    if compute_uv and full_matrices and m != n:
        u, s, vt = svd_full_(a, called_at=user_location(2))
        return (u, s, vt) if _SVD_RESULT is tuple else _SVD_RESULT(u, s, vt)
    u, s, vt = svd_(a)
    if not compute_uv:
        return s
    return (u, s, vt) if _SVD_RESULT is tuple else _SVD_RESULT(u, s, vt)


def _hermitian_svd(a, compute_uv):
    """NumPy's construction from ``eigh`` (which reads the lower triangle only): singular values
    |w| in decreasing order, U the eigenvectors in that order, V^T = (U sign(w))^T."""
    w, v = eigh_(a, UPLO="L")
    magnitude = np.abs(w)
    order = np.argsort(read_value(magnitude, "np.linalg.svd"), axis=-1)[..., ::-1]
    s = np.take_along_axis(magnitude, order, axis=-1)
    if not compute_uv:
        return s
    signs = np.take_along_axis(np.sign(read_value(w, "np.linalg.svd")), order, axis=-1)
    u = np.take_along_axis(v, order[..., None, :], axis=-1)
    vt = _swap(u * signs[..., None, :])
    return (u, s, vt) if _SVD_RESULT is tuple else _SVD_RESULT(u, s, vt)


@implements(np.linalg.svdvals) if hasattr(np.linalg, "svdvals") else (lambda f: f)
def svdvals(x):
    return svd_(x)[1]


@implements(np.linalg.eigvalsh)
def eigvalsh(a, UPLO="L"):
    return eigh_(a, UPLO=_uplo(UPLO))[0]


# --- pseudo-inverse, least squares, QR -----------------------------------------------------
def _eye_like(x, size):
    return np.eye(size, dtype=np.result_type(x))


def _pinv_vjp(g, out, a, **options):
    """Golub and Pereyra's derivative of A^+ (valid where the rank does not change):
    A_bar = -P^T G P^T + (I - A P) G^T P P^T + P^T P G^T (I - P A), with P = A^+.
    With hermitian=True NumPy reads the lower triangle: A is that symmetric matrix."""
    if options.get("hermitian"):
        a = symmetric_from_triangle(a, lower=True)
    p, pt, gt = out, _swap(out), _swap(g)
    m, n = np.shape(a)[-2:]
    result = (-np.matmul(np.matmul(pt, g), pt)
              + np.matmul(np.matmul(_eye_like(a, m) - np.matmul(a, p), gt), np.matmul(p, pt))
              + np.matmul(np.matmul(pt, p), np.matmul(gt, _eye_like(a, n) - np.matmul(p, a))))
    return cotangent_on_triangle(result, lower=True) if options.get("hermitian") else result


def _pinv_jvp(t, out, a, **options):
    if options.get("hermitian"):
        a, t = symmetric_from_triangle(a, lower=True), symmetric_from_triangle(t, lower=True)
    p, pt, tt = out, _swap(out), _swap(t)
    m, n = np.shape(a)[-2:]
    return (-np.matmul(np.matmul(p, t), p)
            + np.matmul(np.matmul(p, pt), np.matmul(tt, _eye_like(a, m) - np.matmul(a, p)))
            + np.matmul(np.matmul(_eye_like(a, n) - np.matmul(p, a), tt), np.matmul(pt, p)))


pinv_ = reverse_rule(np.linalg.pinv, _pinv_vjp, name="pinv", forward=_pinv_jvp)


@implements(np.linalg.pinv)
def pinv(a, rcond=None, hermitian=False, **rtol):
    """Static arguments by keyword for the rule; and where a cutoff the caller chose drops a
    singular value that is not zero (a truncated pseudo-inverse), Golub and Pereyra's constant
    rank derivative does not hold: differentiated through the SVD instead."""
    options = dict(hermitian=bool(hermitian), **rtol)
    if rcond is not None:  # a static option: not an array, which would be taken for an operand
        options["rcond"] = rcond.tolist() if isinstance(rcond, np.ndarray) else rcond
    if rcond is None and rtol.get("rtol") is None:  # NumPy's default drops only rounding-level values
        return pinv_(a, **options)
    matrix = symmetric_from_triangle(a, lower=True) if hermitian else a
    s = np.linalg.svd(read_value(matrix, "np.linalg.pinv"), compute_uv=False)
    ratio = np.asarray(rcond if rcond is not None else rtol["rtol"])[..., None]
    largest = np.max(s, axis=-1, keepdims=True, initial=0)  # (an empty matrix has no singular value)
    cutoff = ratio * largest
    rounding = 16 * max(np.shape(a)[-2:]) * np.finfo(np.result_type(s, np.float16)).eps * largest
    if not np.any((s <= cutoff) & (s > rounding)):
        return pinv_(a, **options)
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)  # traced: the factors' rules differentiate it
    kept = read_value(s, "np.linalg.pinv") > cutoff
    inverse = np.where(kept, 1 / np.where(kept, s, 1), 0)
    return np.matmul(_swap(vt) * inverse[..., None, :], _swap(u))


@implements(np.linalg.lstsq)
def lstsq(a, b, rcond=None):
    """The minimum-norm least-squares solution ``pinv(a) @ b`` with NumPy's outputs:
    ``(x, residuals, rank, s)``; the rank (from ``rcond``) is read from the values. As NumPy
    does, it solves in double precision (float32 inputs too: the default cutoff is float64's,
    and the results are cast back), and a negative ``rcond`` means LAPACK's machine precision."""
    values = np.asarray(read_value(a, "np.linalg.lstsq"))
    if not hasattr(b, "dtype"):
        b = np.asarray(b)
    if values.ndim != 2:
        raise np.linalg.LinAlgError(f"{values.ndim}-dimensional array given. Array must be two-dimensional")
    if np.ndim(b) not in (1, 2) or np.shape(b)[0] != values.shape[0]:
        raise np.linalg.LinAlgError("Incompatible dimensions")
    single = {values.dtype, b.dtype} <= {np.dtype(np.float32), np.dtype(np.complex64)}
    result_dtype = np.result_type(values, b.dtype, np.float32 if single else np.float64)
    dtype = np.result_type(result_dtype, np.float64)
    if values.dtype != dtype:
        a, values = a.astype(dtype), values.astype(dtype)
    if b.dtype != dtype:
        b = b.astype(dtype)
    m, n = values.shape
    singular_values = np.linalg.svd(a, compute_uv=False)
    singular = np.asarray(read_value(singular_values, "np.linalg.lstsq"))
    if rcond is None:
        ratio = np.finfo(dtype).eps * max(m, n)
    else:
        ratio = rcond if rcond >= 0 else np.finfo(dtype).eps / 2  # LAPACK's dlamch("E")
    rank = np.int32(np.sum(singular > ratio * singular.max()) if singular.size else 0)  # NumPy's type
    x = np.matmul(np.linalg.pinv(a, rcond=ratio), b)
    if rank == n and m > n:
        residual = b - np.matmul(a, x)
        residuals = np.reshape(np.sum(residual * residual, axis=0), (-1,))
    else:
        residuals = np.empty((0,), np.result_type(x))
    if dtype == result_dtype:
        return x, residuals, rank, singular_values
    real = np.finfo(result_dtype).dtype
    return x.astype(result_dtype), residuals.astype(real), rank, singular_values.astype(real)


def _qr(a):
    q, r = np.linalg.qr(a, mode="reduced")
    return q, r


def _copy_lower_to_upper(x):
    lower = np.tril(x, -1)
    return lower + _swap(lower) + x * np.eye(x.shape[-1], dtype=x.dtype)


def _right_solve_rt(b, r):
    """``b @ inv(R)^T`` for an upper triangular R."""
    return _swap(np.linalg.solve(r, _swap(b)))


def _qr_vjp(g, out, a):
    """A = Q R (reduced, m >= n, full column rank): A_bar = (Q_bar + Q copyltu(M)) R^-T with
    M = R R_bar^T - Q_bar^T Q."""
    g_q, g_r = g
    q, r = out
    m = np.matmul(r, _swap(g_r)) - np.matmul(_swap(g_q), q)
    with _full_column_rank(r):
        return _right_solve_rt(g_q + np.matmul(q, _copy_lower_to_upper(m)), r)


_RANK_DEFICIENT = ("np.linalg.qr has no derivative at a matrix without full column rank (R has a zero on its "
                   "diagonal, up to rounding: Q's columns there are arbitrary). Differentiate at a full-rank "
                   "matrix, or use np.linalg.svd, whose singular values have derivatives at any rank.")


@contextlib.contextmanager
def _full_column_rank(r):
    """qr's rules solve with R: singular where A lacks full column rank, and so is the derivative.
    LAPACK raises only at an exact zero; rounding leaves ~1e-16 there, and solving with it would
    give a large arbitrary derivative, so a diagonal entry at rounding level (as
    np.linalg.matrix_rank judges it) raises too."""
    if type(r) is np.ndarray and r.size:
        diagonal = np.abs(np.diagonal(r, axis1=-2, axis2=-1))
        largest = np.max(np.abs(r), axis=(-2, -1), keepdims=True)  # |R|_F = |A|_F >= the largest singular
        largest = np.where(largest > 0, largest, 1)  # value, taken on R / largest: |R|_F itself can overflow
        scale = np.linalg.norm(r / largest, axis=(-2, -1))[..., None] * largest[..., 0]
        cutoff = scale * max(r.shape[-2:]) * np.finfo(r.dtype).eps
        if np.any(diagonal <= cutoff):
            raise np.linalg.LinAlgError(_RANK_DEFICIENT)
    try:
        yield
    except np.linalg.LinAlgError:
        raise np.linalg.LinAlgError(_RANK_DEFICIENT) from None


def _qr_jvp(t, out, a):
    q, r = out
    with _full_column_rank(r):
        t_rinv = _swap(np.linalg.solve(_swap(r), _swap(t)))  # dA R^-1
    qt_t_rinv = np.matmul(_swap(q), t_rinv)
    lower = np.tril(qt_t_rinv, -1)
    skew = lower - _swap(lower)
    return np.matmul(q, skew - qt_t_rinv) + t_rinv, np.matmul(qt_t_rinv - skew, r)


qr_ = reverse_rule(_qr, _qr_vjp, name="qr", multiple_outputs=True, forward=_qr_jvp)
_QR_RESULT = type(np.linalg.qr(np.eye(1)))


@implements(np.linalg.qr)
def qr(a, mode="reduced"):
    """Reduced QR (for a wide matrix, also 'complete': the same factors). A wide A = [X Y]
    (X square) has Q, R1 = qr(X) and R = [R1, Q^T Y], the factors Householder gives it too:
    the first m columns fix Q."""
    check_matrices(a)
    m, n = np.shape(a)[-2:]
    if mode not in ("reduced", "r") and not (mode == "complete" and m <= n):
        raise unsupported_option(
            f"np.linalg.qr(mode={mode!r}) of a {m}x{n} traced matrix: mixedad differentiates modes 'reduced' "
            "and 'r' (and 'complete' where it is the same, m <= n); the extra columns of a complete Q of a "
            "tall matrix are an arbitrary basis, without a derivative")
    if m < n:
        q, r = qr_(a[..., :, :m])
        r = np.concatenate([r, np.matmul(_swap(q), a[..., :, m:])], axis=-1)
    else:
        q, r = qr_(a)
    if mode == "r":
        return r
    return (q, r) if _QR_RESULT is tuple else _QR_RESULT(q, r)
