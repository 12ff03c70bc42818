"""Linear algebra: products (matmul, dot, tensordot, einsum, ...), np.linalg, and the
linear structural ops on matrices (trace, diagonal, diag, triu, tril).

Every rule here is a general primitive with a reverse rule; arguments a rule does not
differentiate (axes, subscripts, offsets) are static. Cotangents come back with the
broadcast (batch) axes of their result and the engine sums them. Conventions: cholesky
(like eigh and pinv(hermitian=True)) reads one triangle of its input, as NumPy does, so
its cotangent lives on that triangle and matches finite differences of NumPy's function
for any input, symmetric or not; norms have gradient 0 where the norm is 0, and ties of
max/min-type norms are split evenly.
"""
from __future__ import annotations

import functools
import math
import operator
import string

import numpy as np

from . import determinants
from .reductions import reduced_shape, weights_jvp
from ..core.arrays import LeveledValue, apply_linear, as_array, zeros_to_hold
from .table import implements, nondifferentiable, register_function, reject_out, reverse_rule
from ..core.traced import Traced
from ..core.errors import unsupported_option


def _swap(x):
    return np.swapaxes(x, -1, -2)


def symmetric_from_triangle(a, lower: bool):
    """The symmetric matrix NumPy's one-triangle routines (cholesky, eigh, ...) see in ``a``."""
    if lower:
        return np.tril(a) + _swap(np.tril(a, -1))
    return np.triu(a) + _swap(np.triu(a, 1))


def cotangent_on_triangle(g, lower: bool):
    """The transpose of :func:`symmetric_from_triangle`: ``g`` is the cotangent of the symmetric
    matrix; each off-diagonal element of the triangle read stands for two of its elements."""
    both = g + _swap(g)
    both = np.tril(both) if lower else np.triu(both)
    return both * (1 - 0.5 * np.eye(both.shape[-1], dtype=np.result_type(both)))


def _ndim(x) -> int:
    return x.ndim if type(x) is Traced else np.ndim(x)


# ------------------------------------------------------------------------------------------
# products
def _reject_gufunc_options(kwargs, name):
    if set(kwargs) - {"dtype", "casting", "order"}:
        raise unsupported_option(f"np.{name} with {sorted(kwargs)} is not supported on traced values")


def _matmul_vjp_a(g, out, a, b, **kwargs):
    if type(b) is np.ndarray and b.ndim == 2 and type(a) is np.ndarray and a.ndim == 2 and not kwargs:
        return np.matmul(g, b.T)  # the common case, without the checks below
    _reject_gufunc_options(kwargs, "matmul")
    a, b = as_array(a), as_array(b)
    if b.ndim == 1:
        return g * b if a.ndim == 1 else g[..., None] * b
    if a.ndim == 1:
        return np.matmul(g[..., None, :], _swap(b))[..., 0, :]
    return np.matmul(g, _swap(b))


def _matmul_vjp_b(g, out, a, b, **kwargs):
    if type(a) is np.ndarray and a.ndim == 2 and type(b) is np.ndarray and b.ndim == 2 and not kwargs:
        return np.matmul(a.T, g)
    _reject_gufunc_options(kwargs, "matmul")
    a, b = as_array(a), as_array(b)
    if a.ndim == 1:
        return g * a if b.ndim == 1 else a[:, None] * g[..., None, :]
    if b.ndim == 1:
        return np.matmul(_swap(a), g[..., None])[..., 0]
    return np.matmul(_swap(a), g)


def _tensordot_axes(axes, a_ndim, b_ndim):
    """``np.tensordot``'s ``axes`` as two lists of non-negative axes, paired in order."""
    try:
        axes_a, axes_b = axes
    except TypeError:
        n = operator.index(axes)
        return list(range(a_ndim - n, a_ndim)), list(range(n))
    axes_a = [axes_a] if np.ndim(axes_a) == 0 else list(axes_a)
    axes_b = [axes_b] if np.ndim(axes_b) == 0 else list(axes_b)
    return [operator.index(i) % a_ndim for i in axes_a], [operator.index(j) % b_ndim for j in axes_b]


def _tensordot_vjp_a(g, out, a, b, axes=2):
    a_ndim, b_ndim = np.ndim(a), np.ndim(b)
    axes_a, axes_b = _tensordot_axes(axes, a_ndim, b_ndim)
    free_a = [i for i in range(a_ndim) if i not in axes_a]
    free_b = [j for j in range(b_ndim) if j not in axes_b]
    ct = np.tensordot(g, b, axes=(list(range(len(free_a), len(free_a) + len(free_b))), free_b))
    # ct holds a's free axes, then b's contracted axes in b's order: name each by a's axis.
    order = free_a + [axes_a[axes_b.index(j)] for j in sorted(axes_b)]
    return np.transpose(ct, np.argsort(order))


def _tensordot_vjp_b(g, out, a, b, axes=2):
    a_ndim, b_ndim = np.ndim(a), np.ndim(b)
    axes_a, axes_b = _tensordot_axes(axes, a_ndim, b_ndim)
    free_a = [i for i in range(a_ndim) if i not in axes_a]
    free_b = [j for j in range(b_ndim) if j not in axes_b]
    ct = np.tensordot(a, g, axes=(free_a, list(range(len(free_a)))))
    order = [axes_b[axes_a.index(i)] for i in sorted(axes_a)] + free_b
    return np.transpose(ct, np.argsort(order))


def _dot_axes(a, b):
    """np.dot contracts a's last axis with b's second-to-last (its only one if b is 1-D)."""
    return [np.ndim(a) - 1], [max(np.ndim(b) - 2, 0)]


def _dot_vjp_a(g, out, a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return g * b
    return _tensordot_vjp_a(g, out, a, b, _dot_axes(a, b))


def _dot_vjp_b(g, out, a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return g * a
    return _tensordot_vjp_b(g, out, a, b, _dot_axes(a, b))


def _inner_vjp_a(g, out, a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return g * b
    return _tensordot_vjp_a(g, out, a, b, ([-1], [-1]))


def _inner_vjp_b(g, out, a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return g * a
    return _tensordot_vjp_b(g, out, a, b, ([-1], [-1]))


def _vecdot(x1, x2, axis=-1):
    return np.vecdot(x1, x2, axis=axis)


def _vecdot_cotangent(g, own, other, axis):
    """g times the other operand, its contracted axis put back where ``own`` has it (a
    non-negative axis counts within each operand, whatever their numbers of axes)."""
    ct = g[..., None] * np.moveaxis(as_array(other), axis, -1)
    return np.moveaxis(ct, -1, axis if axis < 0 else axis + ct.ndim - np.ndim(own))


def _matvec_vjp_a(g, out, a, v, **kwargs):
    _reject_gufunc_options(kwargs, "matvec")
    return g[..., :, None] * as_array(v)[..., None, :]


def _matvec_vjp_v(g, out, a, v, **kwargs):
    _reject_gufunc_options(kwargs, "matvec")
    return np.matmul(_swap(a), g[..., None])[..., 0]


def _vecmat_vjp_v(g, out, v, a, **kwargs):
    _reject_gufunc_options(kwargs, "vecmat")
    return np.matmul(a, g[..., None])[..., 0]


def _vecmat_vjp_a(g, out, v, a, **kwargs):
    _reject_gufunc_options(kwargs, "vecmat")
    return as_array(v)[..., :, None] * g[..., None, :]


# products are bilinear: their forward rule is one product per argument with its tangent
matmul = reverse_rule(np.matmul, _matmul_vjp_a, _matmul_vjp_b, forward="bilinear")


def _dot(a, b):  # (a, b) names the arguments: NumPy 2.0's C dot has no signature
    return np.dot(a, b)


def _outer(a, b):
    return np.outer(a, b)


def check_matrices(a, square=False) -> None:
    """NumPy's LinAlgError for a linalg function given fewer than 2 dimensions (or, with
    ``square``, non-square matrices)."""
    if np.ndim(a) < 2:
        raise np.linalg.LinAlgError(f"{np.ndim(a)}-dimensional array given. Array must be at least two-dimensional")
    if square and np.shape(a)[-1] != np.shape(a)[-2]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")


def _out_refused_first(product, name):
    """What np.dot / np.outer run: their third positional argument is ``out``, refused before the
    primitive sees it as a third operand (it would write its value, then its tangent, there)."""
    def refusing(a, b, out=None):
        reject_out(out, name)
        return product(a, b)
    return refusing


dot = reverse_rule(_dot, _dot_vjp_a, _dot_vjp_b, name="dot", forward="bilinear")
register_function(np.dot, _out_refused_first(dot, "dot"))
inner = reverse_rule(np.inner, _inner_vjp_a, _inner_vjp_b, forward="bilinear")
vdot = reverse_rule(np.vdot, lambda g, out, a, b: g * np.reshape(b, np.shape(a)),
                    lambda g, out, a, b: g * np.reshape(a, np.shape(b)), forward="bilinear")
outer = reverse_rule(_outer, lambda g, out, a, b: np.reshape(g @ np.ravel(b), np.shape(a)),
                     lambda g, out, a, b: np.reshape(np.ravel(a) @ g, np.shape(b)), name="outer", forward="bilinear")
register_function(np.outer, _out_refused_first(outer, "outer"))
tensordot = reverse_rule(np.tensordot, _tensordot_vjp_a, _tensordot_vjp_b, nondiff_argnums=(2,), forward="bilinear")
if hasattr(np, "vecdot"):  # NumPy >= 2.0
    vecdot_ = reverse_rule(_vecdot, lambda g, out, x1, x2, axis=-1: _vecdot_cotangent(g, x1, x2, axis),
                           lambda g, out, x1, x2, axis=-1: _vecdot_cotangent(g, x2, x1, axis), name="vecdot",
                           forward="bilinear")
if hasattr(np, "matvec"):  # NumPy >= 2.2
    matvec = reverse_rule(np.matvec, _matvec_vjp_a, _matvec_vjp_v, forward="bilinear")
    vecmat = reverse_rule(np.vecmat, _vecmat_vjp_v, _vecmat_vjp_a, forward="bilinear")


# ------------------------------------------------------------------------------------------
# einsum: the cotangent of operand k is an einsum of the output cotangent with the others
_SUBLIST_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # label n is letter n, as in NumPy


def _sublist_subscripts(args):
    """``einsum(op0, sublist0, op1, sublist1, ..., [sublist_out])`` as (subscripts, operands)."""
    def letters(sublist):
        return "".join("..." if label is Ellipsis else _SUBLIST_LETTERS[operator.index(label)]
                       for label in sublist)
    operands, sublists = list(args[0::2]), list(args[1::2])
    subscripts = ",".join(letters(s) for s in sublists)
    if len(args) % 2:
        subscripts += "->" + letters(operands.pop())
    return subscripts, operands


def einsum_labels(subscripts: str, ndims) -> tuple[tuple[str, ...], str]:
    """The subscripts in explicit form with '...' spelled out as letters: (inputs, output).

    Broadcast ('...') axes are right-aligned across operands, as in NumPy; an implicit
    output is the broadcast axes followed by the labels used once, in alphabetical order.

    >>> einsum_labels("...ij,jk", (3, 2))
    (('aij', 'jk'), 'aik')
    """
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    specs = inputs.split(",")
    if len(specs) != len(ndims):
        raise ValueError(f"einsum subscripts {subscripts!r} name {len(specs)} operands, "
                         f"but {len(ndims)} were given")
    used = set(subscripts)
    spare = [c for c in string.ascii_letters if c not in used]
    n_broadcast = max([n - len(s.replace("...", "")) for s, n in zip(specs, ndims) if "..." in s],
                      default=0)
    if n_broadcast > len(spare):
        raise unsupported_option(f"np.einsum {subscripts!r}: too many axes under '...' to "
                                  "name with the letters left over")
    broadcast = "".join(spare[:n_broadcast])
    labels = []
    for spec, ndim in zip(specs, ndims):
        if "..." in spec:
            n = ndim - len(spec.replace("...", ""))
            if n < 0:
                raise ValueError(f"einsum operand {spec!r} has more labels than its {ndim} axes")
            spec = spec.replace("...", broadcast[len(broadcast) - n:])
        labels.append(spec)
    if arrow:
        output = output.replace("...", broadcast)
    else:
        counts = {}
        for c in inputs:
            if c.isalpha():
                counts[c] = counts.get(c, 0) + 1
        output = broadcast + "".join(sorted(c for c, n in counts.items() if n == 1))
    return tuple(labels), output


def _einsum(subscripts, *operands, labels, output, wanted, optimize=False, **options):
    return np.einsum(subscripts, *operands, optimize=optimize, **options)


def _einsum_vjp(g, out, subscripts, *operands, labels, output, wanted, optimize=False, **options):
    sizes = {}  # each label's broadcast size: 1 against n gives n, 0 included
    for spec, operand in zip(labels, operands):
        for label, n in zip(spec, np.shape(operand)):
            sizes[label] = n if sizes.get(label, 1) == 1 else sizes[label]
    cotangents = tuple(_einsum_operand_cotangent(g, output, labels, operands, k, sizes) if want else None
                       for k, want in enumerate(wanted))
    return cotangents[0] if len(cotangents) == 1 else cotangents


def _einsum_operand_cotangent(g, output, labels, operands, k, sizes):
    spec, shape = labels[k], np.shape(operands[k])
    specs = [output] + [s for j, s in enumerate(labels) if j != k]
    arrays = [g] + [a for j, a in enumerate(operands) if j != k]
    present = set("".join(specs))
    own_size = dict(zip(spec, shape))
    unique = "".join(dict.fromkeys(spec))
    # Labels absent from g and the other operands were summed away: the cotangent is constant
    # along them. Labels this operand broadcasts (size 1 against more) are summed here.
    kept = "".join(c for c in unique if c in present and not (own_size[c] == 1 and sizes[c] != 1))
    ct = np.einsum(",".join(specs) + "->" + kept, *arrays, optimize="greedy" if len(arrays) > 2 else False)
    kept_shape = tuple(own_size[c] for c in kept)
    if np.shape(ct) != kept_shape:  # a label of size 1 everywhere else: this operand alone spans it
        ct = np.broadcast_to(ct, kept_shape)
    ct = np.reshape(ct, [own_size[c] if c in kept else 1 for c in unique])
    if len(unique) == len(spec):
        return ct
    # A label repeated within the operand ('ii', 'iij'): the cotangent lives on that diagonal.
    def on_diagonal(values):
        # where the diagonal lies, as flat positions (einsum of an index array), so that values an
        # enclosing differentiation traces can be assigned there too
        positions = np.einsum(spec + "->" + unique, np.arange(math.prod(shape)).reshape(shape))
        full = zeros_to_hold(values, (math.prod(shape),))
        full[positions.ravel()] = np.ravel(np.broadcast_to(values, positions.shape))
        return np.reshape(full, shape)
    return apply_linear(on_diagonal, ct)  # a forward dual's components one by one


einsum_ = reverse_rule(_einsum, _einsum_vjp, nondiff_argnums=(0,), name="einsum", forward="bilinear")
# of one operand ("ii->i", "ij->ji") NumPy's result is a view: an update of it must not go unseen
einsum_.returns_view = True


@implements(np.einsum)
def einsum(*operands, out=None, optimize=False, **options):
    if out is not None:
        raise unsupported_option("np.einsum with out= is not supported on traced values; "
                                  "assign the result instead")
    if isinstance(operands[0], str):
        subscripts, arrays = operands[0], list(operands[1:])
    else:
        subscripts, arrays = _sublist_subscripts(operands)
    arrays = [a if isinstance(a, (Traced, LeveledValue)) else np.asarray(a) for a in arrays]
    labels, output = einsum_labels(subscripts, [_ndim(a) for a in arrays])
    wanted = tuple(isinstance(a, (Traced, LeveledValue)) for a in arrays)
    return einsum_(subscripts, *arrays, labels=labels, output=output, wanted=wanted,
                   optimize=optimize, **options)


# ------------------------------------------------------------------------------------------
# np.linalg
def _solve_vjp(g, out, a, b):
    a = as_array(a)
    if np.ndim(out) < np.ndim(a):  # b was solved for as a vector (or a stack of them)
        gb = np.linalg.solve(_swap(a), g[..., None])[..., 0]
        return -gb[..., :, None] * out[..., None, :], gb
    gb = np.linalg.solve(_swap(a), g)
    return -np.matmul(gb, _swap(out)), gb


def _inv_vjp(g, out, a):
    out_t = _swap(out)
    return -np.matmul(np.matmul(out_t, g), out_t)


def _cholesky_vjp(g, out, a, upper=False):
    """Murray (2016), eq. 10: S_bar = sym(L^-T Phi(L^T L_bar) L^-1), Phi = tril, diagonal halved,
    for the symmetric S NumPy reads from the lower (upper) triangle."""
    low, g = (_swap(out), _swap(g)) if upper else (out, g)
    n = low.shape[-1]
    phi = np.tril(np.matmul(_swap(low), g)) * (1 - 0.5 * np.eye(n, dtype=low.dtype))
    half = np.linalg.solve(_swap(low), phi)  # L^-T Phi
    s = _swap(np.linalg.solve(_swap(low), _swap(half)))  # (L^-T (L^-T Phi)^T)^T = L^-T Phi L^-1
    return cotangent_on_triangle(s, lower=not upper)


def _solve_jvp(tangents, out, a, b):
    t_a, t_b = tangents  # d(A^-1 b) = A^-1 (db - dA x)
    if np.ndim(out) < np.ndim(a):  # b, x vectors: solve for a column, so that stacks broadcast
        return np.linalg.solve(a, (t_b - np.matmul(t_a, out[..., None])[..., 0])[..., None])[..., 0]
    return np.linalg.solve(a, t_b - np.matmul(t_a, out))


def _cholesky_jvp(t, out, a, upper=False):
    """dL = L Phi(L^-1 dS L^-T), Phi = tril with the diagonal halved, dS the symmetric tangent
    of the triangle NumPy reads."""
    low = _swap(out) if upper else out
    inner = np.linalg.solve(low, _swap(np.linalg.solve(low, symmetric_from_triangle(t, lower=not upper))))
    d_low = np.matmul(low, np.tril(inner) * (1 - 0.5 * np.eye(low.shape[-1], dtype=low.dtype)))
    return _swap(d_low) if upper else d_low


solve = reverse_rule(np.linalg.solve, _solve_vjp, forward=_solve_jvp)
inv = reverse_rule(np.linalg.inv, _inv_vjp, forward=lambda t, out, a: -np.matmul(np.matmul(out, t), out))
cholesky = reverse_rule(np.linalg.cholesky, _cholesky_vjp, forward=_cholesky_jvp)
det, slogdet_, slogdet = determinants.det, determinants.slogdet_, determinants.slogdet  # rules in determinants.py
nondifferentiable(np.linalg.matrix_rank)

@implements(np.linalg.multi_dot)
def multi_dot(arrays, *, out=None):
    if out is not None:
        raise unsupported_option("np.linalg.multi_dot with out= is not supported on traced values")
    if len(arrays) < 2:
        raise ValueError("Expecting at least two arrays.")
    return functools.reduce(np.dot, arrays)


@implements(np.linalg.matrix_power)
def matrix_power(a, n):
    n = operator.index(n)
    check_matrices(a, square=True)
    if n == 0:
        return np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape).copy()
    if n < 0:
        a, n = np.linalg.inv(a), -n
    if n == 3:  # NumPy's own shortcut, (a @ a) @ a: the same rounding as NumPy
        return np.matmul(np.matmul(a, a), a)
    result = None
    while n:  # square and multiply
        if n & 1:
            result = a if result is None else np.matmul(result, a)
        n >>= 1
        if n:
            a = np.matmul(a, a)
    return result


# ------------------------------------------------------------------------------------------
# norms. Convention: where the norm is 0 its gradient is 0 (a subgradient), not NaN; for
# p < 1 a zero entry gets 0 too. Ties of max/min-type norms share the gradient evenly.
def _vector_norm(x, ord=None, axis=None, keepdims=False):
    if isinstance(axis, tuple) or (axis is None and np.ndim(x) != 1 and ord is not None):  # (0-d too)
        return np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=2 if ord is None else ord)
    return np.linalg.norm(x, ord, axis, keepdims)


def _matrix_norm(x, ord=None, axis=(0, 1), keepdims=False):
    return np.linalg.norm(x, ord, axis, keepdims)


def _tie_weights(values, out, axis):
    """1/count where ``values`` equals the selected ``out`` along ``axis``, 0 elsewhere."""
    chosen = (values == out).astype(values.dtype)
    return chosen / np.sum(chosen, axis=axis, keepdims=True)


def _vector_norm_vjp(g, out, x, ord=None, axis=None, keepdims=False):
    x = as_array(x)
    kept = reduced_shape(x.shape, axis, True)
    g, out = np.reshape(g, kept), np.reshape(out, kept)
    axes = tuple(range(x.ndim)) if axis is None else axis
    p = 2.0 if ord is None else float(ord)
    if p == 0:
        return None  # a count of nonzero entries
    if p == 1:
        return g * np.sign(x)
    if np.isinf(p):
        return g * np.sign(x) * _tie_weights(np.abs(x), out, axes)
    safe_out = np.where(out == 0, 1, out)  # x is all zero where out is: the ratio below is 0
    if p == 2:
        return g * (x / safe_out)
    ratio = np.abs(x) / safe_out
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.sign(x) * ratio ** (p - 1)
    if p < 1:  # infinite slope at a zero entry; for p < 0 a zero entry makes the norm 0
        d = np.where((x == 0) | (out == 0), 0, d)
    return g * d


def _matrix_norm_vjp(g, out, x, ord=None, axis=(0, 1), keepdims=False):
    x = as_array(x)
    rows, cols = (a % x.ndim for a in axis)
    xm = np.moveaxis(x, (rows, cols), (-2, -1))
    g = np.reshape(g, xm.shape[:-2])[..., None, None]
    out = np.reshape(out, xm.shape[:-2])[..., None, None]
    if ord is None or ord == "fro":
        d = xm / np.where(out == 0, 1, out)
    elif ord == "nuc":
        u, _, vt = np.linalg.svd(xm, full_matrices=False)
        d = np.matmul(u, vt)
    elif ord in (2, -2) and 0 in xm.shape[-2:]:  # an empty matrix: its norm is 0 whatever it holds
        d = np.zeros_like(xm)
    elif ord in (2, -2):
        u, _, vt = np.linalg.svd(xm, full_matrices=False)
        i = 0 if ord == 2 else -1
        d = u[..., :, i, None] * vt[..., i, None, :]
    elif ord in (1, -1):  # max / min column sum
        d = np.sign(xm) * _tie_weights(np.sum(np.abs(xm), axis=-2, keepdims=True), out, -1)
    elif ord in (np.inf, -np.inf):  # max / min row sum
        d = np.sign(xm) * _tie_weights(np.sum(np.abs(xm), axis=-1, keepdims=True), out, -2)
    else:
        raise ValueError(f"Invalid norm order {ord!r} for matrices.")
    return np.moveaxis(g * d, (-2, -1), (rows, cols))


vector_norm_ = reverse_rule(_vector_norm, _vector_norm_vjp, name="vector_norm", forward=weights_jvp(_vector_norm_vjp))
matrix_norm_ = reverse_rule(_matrix_norm, _matrix_norm_vjp, name="matrix_norm",
                            forward=weights_jvp(_matrix_norm_vjp, default_axis=(0, 1)))


def _axis_tuple(axis):
    return (operator.index(axis),) if np.ndim(axis) == 0 else tuple(operator.index(a) for a in axis)


@implements(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    ndim = _ndim(x)
    if axis is None:
        if ord is None or ndim == 1:
            return vector_norm_(x, ord=ord, axis=None, keepdims=keepdims)
        if ndim == 2:
            return matrix_norm_(x, ord=ord, axis=(0, 1), keepdims=keepdims)
        raise ValueError("Improper number of dimensions to norm.")
    axis = _axis_tuple(axis)
    if len(axis) == 1:
        return vector_norm_(x, ord=ord, axis=axis[0], keepdims=keepdims)
    if len(axis) == 2:
        return matrix_norm_(x, ord=ord, axis=axis, keepdims=keepdims)
    raise ValueError("Improper number of dimensions to norm.")


# ------------------------------------------------------------------------------------------
# linear structural ops on matrices: the reverse rule puts the cotangent back in place
def _diagonal_length(shape, offset, axis1, axis2):
    return max(0, min(shape[axis1] - max(-offset, 0), shape[axis2] - max(offset, 0)))


def diagonal_cotangent(values, shape, offset=0, axis1=0, axis2=1):
    """Zeros of ``shape`` with ``values`` (diagonal last, as np.diagonal gives it) on the
    ``offset`` diagonal of axes ``axis1``, ``axis2``: the transpose of np.diagonal.

    >>> diagonal_cotangent(np.array([1.0, 2.0]), (2, 3), offset=1)
    array([[0., 1., 0.],
           [0., 0., 2.]])
    """
    ndim = len(shape)
    axis1, axis2 = axis1 % ndim, axis2 % ndim
    moved = [n for i, n in enumerate(shape) if i not in (axis1, axis2)] + [shape[axis1], shape[axis2]]
    full = zeros_to_hold(values, moved)
    k = np.shape(values)[-1]
    full[..., np.arange(k) + max(-offset, 0), np.arange(k) + max(offset, 0)] = values
    return np.moveaxis(full, (-2, -1), (axis1, axis2))


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None):
    return np.trace(a, offset, axis1, axis2, dtype)


def _trace_vjp(g, out, a, offset=0, axis1=0, axis2=1, dtype=None):
    shape = np.shape(a)
    k = _diagonal_length(shape, offset, axis1 % len(shape), axis2 % len(shape))
    g = as_array(g)
    return diagonal_cotangent(np.broadcast_to(g[..., None], g.shape + (k,)), shape, offset, axis1, axis2)


def _diag_vjp(g, out, v, k=0):
    if np.ndim(v) == 1:
        return np.diagonal(g, k)
    return diagonal_cotangent(g, np.shape(v), k)


trace_ = reverse_rule(_trace, _trace_vjp, name="trace", forward="linear")
diagonal = reverse_rule(np.diagonal, lambda g, out, a, offset=0, axis1=0, axis2=1:
                        diagonal_cotangent(g, np.shape(a), offset, axis1, axis2), nondiff_argnums=(1, 2, 3),
                        forward="linear")
diag = reverse_rule(np.diag, _diag_vjp, nondiff_argnums=(1,), forward="linear")
# NumPy's diagonal of a matrix is a (read-only) view: an update of the matrix retires it
diagonal.returns_view = True
diag.returns_view = lambda kwargs, out: np.ndim(out) == 1
triu = reverse_rule(np.triu, lambda g, out, m, k=0: np.triu(g, k), nondiff_argnums=(1,), forward="linear")
tril = reverse_rule(np.tril, lambda g, out, m, k=0: np.tril(g, k), nondiff_argnums=(1,), forward="linear")


@implements(np.trace)
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    if out is not None:
        raise unsupported_option("np.trace with out= is not supported on traced values; "
                                  "assign the result instead")
    return trace_(a, offset=offset, axis1=axis1, axis2=axis2, dtype=dtype)


# ------------------------------------------------------------------------------------------
# the NumPy 2 array-API spellings, and the ufuncs that need argument handling
if hasattr(np, "vecdot"):
    @implements(np.vecdot)
    def vecdot(x1, x2, /, *, axis=-1, **kwargs):
        if kwargs:
            raise unsupported_option(f"np.vecdot with {sorted(kwargs)} is not supported on traced values")
        return vecdot_(x1, x2, axis=operator.index(axis))

if hasattr(np.linalg, "vecdot"):
    implements(np.linalg.vecdot)(lambda x1, x2, /, *, axis=-1: np.vecdot(x1, x2, axis=axis))
    implements(np.linalg.matmul)(lambda x1, x2, /: np.matmul(x1, x2))
    implements(np.linalg.tensordot)(lambda x1, x2, /, *, axes=2: np.tensordot(x1, x2, axes))
    implements(np.linalg.trace)(lambda x, /, *, offset=0, dtype=None:
                                trace_(x, offset=offset, axis1=-2, axis2=-1, dtype=dtype))
    implements(np.linalg.diagonal)(lambda x, /, *, offset=0: np.diagonal(x, offset, -2, -1))
    implements(np.linalg.matrix_transpose)(lambda x, /: np.swapaxes(x, -1, -2))
    implements(np.linalg.cross)(lambda x1, x2, /, *, axis=-1: np.cross(x1, x2, axis=axis))
    implements(np.linalg.matrix_norm)(lambda x, /, *, keepdims=False, ord="fro":
                                      matrix_norm_(x, ord=ord, axis=(-2, -1), keepdims=keepdims))

    @implements(np.linalg.outer)
    def linalg_outer(x1, x2, /):
        if _ndim(x1) != 1 or _ndim(x2) != 1:
            raise ValueError("np.linalg.outer takes 1-D arrays")
        return np.outer(x1, x2)

    @implements(np.linalg.vector_norm)
    def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
        if axis is not None:
            axis = _axis_tuple(axis)
            axis = axis[0] if len(axis) == 1 else axis
        return vector_norm_(x, ord=ord, axis=axis, keepdims=keepdims)
