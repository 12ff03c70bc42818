"""``np.linalg.eig`` and ``eigvals`` of real matrices, and ``np.roots``: complex eigenvalues,
eigenvectors and roots of differentiated real values.

One primitive, ``eig_parts``, returns the parts of NumPy's result as real arrays, (Re w, Im w,
Re V, Im V), which ``rules.complex_values`` holds as complex values; its rules are written with
complex NumPy operations on those parts, so they run as plain complex arithmetic on arrays and,
for second derivatives, through the complex values' real rules.

Conventions, NumPy's (LAPACK ``geev``): each eigenvector has unit length and its component of
largest modulus real, and the derivatives keep both, so they are those of the vectors NumPy
returns; the result is real when every eigenvalue is (a dtype that depends on the values, so a
prepared gradient does not replay it blindly). The eigenvalues' derivative needs independent
eigenvectors (a matrix with a repeated eigenvalue that lacks them, a defective one, has none:
``LinAlgError``); the eigenvectors' needs distinct eigenvalues (at a tie their 1 / gap terms
are dropped, as for ``eigh``: ``decompositions._inverse_gaps``). ``np.roots`` is differentiated as the roots of the polynomial
(simple roots: ``LinAlgError`` at a repeated one), with NaN for a leading zero coefficient,
whose change adds a root.
"""
from __future__ import annotations

import numpy as np

from ..core.region import read_value
from .complex_values import _pair
from .decompositions import _inverse_gaps
from .linalg import _swap
from .table import implements, reverse_rule


def _eig_parts(a):
    if np.shape(a)[-2:] != np.shape(a)[-1:] * 2 or np.ndim(a) < 2:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
    w, v = np.linalg.eig(a)
    real = np.finfo(w.dtype).dtype  # (float32 for a float32 matrix's complex64)
    return tuple(np.array(part, real) for part in (w.real, w.imag, v.real, v.imag))


def _eigen_parts(out):
    """(w, V, V^-1) from the primitive's output, complex (plain or differentiated)."""
    w_re, w_im, v_re, v_im = out
    w, v = _pair(w_re, w_im), _pair(v_re, v_im)
    inverse = np.linalg.inv(v)
    n = np.shape(v_re)[-1]
    size = np.linalg.norm(read_value(inverse, "eig's eigenvectors"), axis=(-2, -1)) * np.sqrt(n)  # ~ cond(V)
    if n and np.any(size * n * np.finfo(v_re.dtype).eps >= 1):
        raise np.linalg.LinAlgError(
            "np.linalg.eig: the eigenvectors are linearly dependent up to rounding (a defective matrix: a repeated "
            "eigenvalue without as many eigenvectors), where eigenvalues and eigenvectors have no derivative")
    return w, v, inverse


def _largest(v):
    """Per eigenvector, the row of its component of largest modulus (which NumPy makes real)."""
    return np.argmax(np.abs(read_value(v, "eig's eigenvectors")), axis=-2)[..., None, :]


def _eig_jvp(t, out, a):
    w, v, inverse = _eigen_parts(out)
    rotated = np.matmul(np.matmul(inverse, t), v)  # V^-1 dA V
    d_w = np.diagonal(rotated, axis1=-2, axis2=-1)
    d_v = np.matmul(v, _inverse_gaps(w) * rotated)
    d_v = d_v - v * np.sum(np.conj(v) * d_v, axis=-2).real[..., None, :]  # unit length kept
    row = _largest(v)  # the largest component stays real: a rotation of each vector's phase
    phase = np.take_along_axis(d_v.imag, row, axis=-2) / np.take_along_axis(out[2], row, axis=-2)
    d_v = d_v - 1j * v * phase
    return d_w.real, d_w.imag, d_v.real, d_v.imag


def _eig_vjp(g, out, a):
    """The transpose of ``_eig_jvp``, step by step from its last: A_bar = Re(V^-H X_bar V^H)."""
    g_w_re, g_w_im, g_v_re, g_v_im = g
    w, v, inverse = _eigen_parts(out)
    x_bar = _pair(g_w_re, g_w_im)[..., :, None] * np.eye(np.shape(a)[-1], dtype=g_w_re.dtype)
    if not all(type(part) is np.ndarray and not part.any() for part in (g_v_re, g_v_im)):
        g_v = _pair(g_v_re, g_v_im)
        row = _largest(v)
        turned = -np.sum(np.conj(g_v) * v, axis=-2).imag[..., None, :] / np.take_along_axis(out[2], row, axis=-2)
        on_row = np.arange(np.shape(a)[-1])[:, None] == row  # each vector's largest component
        g_v = g_v - 1j * np.where(on_row, turned, 0.0)
        g_v = g_v - v * np.sum(np.conj(g_v) * v, axis=-2).real[..., None, :]
        x_bar = x_bar + np.conj(_inverse_gaps(w)) * np.matmul(_swap(np.conj(v)), g_v)
    return np.matmul(np.matmul(_swap(np.conj(inverse)), x_bar), _swap(np.conj(v))).real


eig_parts = reverse_rule(_eig_parts, _eig_vjp, name="eig", multiple_outputs=True, forward=_eig_jvp)
_EIG_RESULT = type(np.linalg.eig(np.eye(1)))


def _real_or_complex(re, im):
    """NumPy's choice: a real result when every eigenvalue is real."""
    return re if not np.any(read_value(im, "whether np.linalg.eig's result is real")) else _pair(re, im)


@implements(np.linalg.eig)
def eig(a):
    w_re, w_im, v_re, v_im = eig_parts(a)
    w = _real_or_complex(w_re, w_im)
    v = v_re if w is w_re else _pair(v_re, v_im)  # (real eigenvalues of a real matrix: real eigenvectors)
    return _EIG_RESULT(w, v) if _EIG_RESULT is not tuple else (w, v)


@implements(np.linalg.eigvals)
def eigvals(a):
    w_re, w_im, _, _ = eig_parts(a)
    return _real_or_complex(w_re, w_im)


def _roots_parts(p):
    roots = np.roots(p)
    real = np.finfo(roots.dtype).dtype if roots.dtype.kind == "c" else roots.dtype
    return np.array(roots.real, real), np.array(roots.imag, real)


def _root_sensitivities(out, p):
    """S[i, k] = d r_i / d p_k = -r_i^(m - k) / P'(r_i) for the roots r of P(x) = sum_k p_k x^(m - k)
    (implicit differentiation of P(r) = 0), which needs simple roots. NumPy's stripped zeros
    count: a trailing zero coefficient moves the root at 0, a leading one the other roots."""
    roots = _pair(*out)
    plain = read_value(roots, "np.roots's roots")
    gaps = np.abs(plain[:, None] - plain[None, :]) + np.eye(len(plain))
    if np.any(gaps <= 8 * np.sqrt(np.finfo(out[0].dtype).eps) * np.maximum(1, np.abs(plain))):
        raise np.linalg.LinAlgError("np.roots: a repeated root (equal up to rounding, which splits it by the square "
                                    "root of the precision), where the roots have no derivative")
    m = len(p) - 1
    slope = 0.0
    for k in range(m):  # P'(r), by Horner's rule
        slope = slope * roots + (m - k) * p[k]
    powers = [np.ones(np.shape(plain), out[0].dtype)]
    for _ in range(m):
        powers.append(powers[-1] * roots)
    return -np.stack(powers[::-1], axis=-1) / slope[:, None]


def _leading_zeros(out, p) -> int:
    """The zero coefficients NumPy strips from the front: a change to one adds a root (from
    infinity), so the roots have no derivative with respect to them: NaN."""
    return len(p) - 1 - len(out[0])


def _roots_vjp(g, out, p):
    cotangent = (np.conj(_pair(*g))[:, None] * _root_sensitivities(out, p)).sum(axis=0).real
    leading = _leading_zeros(out, p)
    if leading:
        cotangent = np.concatenate([np.full(leading, np.nan, cotangent.dtype), cotangent[leading:]])
    return cotangent


def _roots_jvp(t, out, p):
    leading = _leading_zeros(out, p)
    change = np.matmul(_root_sensitivities(out, p)[:, leading:], t[leading:])
    if leading and np.any(read_value(t[:leading], "np.roots's tangent")):
        change = change * np.nan
    return change.real, change.imag


roots_parts = reverse_rule(_roots_parts, _roots_vjp, name="roots", multiple_outputs=True, forward=_roots_jvp)


@implements(np.roots)
def roots(p):
    """NumPy's roots, differentiated as the roots of the polynomial (not of NumPy's companion
    matrix, which leaves the zero coefficients NumPy strips out)."""
    if np.ndim(p) != 1:
        raise ValueError("Input must be a rank-1 array.")
    return _real_or_complex(*roots_parts(p))
