"""NumPy's utility functions, as compositions of rules that exist: axis and element
rearrangements (rollaxis, unstack, choose, extract, trim_zeros, fftshift, ix_), grids and
matrices built from values (geomspace, vander), tensor inverses and solves, histogram edges,
set operations and the polynomial helpers; and the metadata, index and printing utilities
that accept traced values without differentiating them (can_cast, unravel_index, angle of a
real value, array2string, ...), answered from dtypes and shapes or from the primal values.

Where NumPy decides from the values which elements go where (trim_zeros, the set operations,
choose's index array), the decision is made once on the primal values and the traced inputs
are then indexed, so each result element takes the derivative of the input element it came
from; as for ``np.unique``, a value found several times comes from its first occurrence.
"""
from __future__ import annotations

import operator

import numpy as np

from .gathers import _gather_by_tags
from .shape import _as_member, _normalize_axis, _shape
from .table import holds_traced, implements, nondifferentiable, reject_out
from ..core.arrays import LeveledValue
from ..core.errors import UnsupportedOperationError, error_with_location, unsupported_option
from ..core.region import read_value
from ..core.traced import Traced

_TRACED = (Traced, LeveledValue)


def _array(value):
    """A traced value as it is; anything else as NumPy would convert it (a list holding traced
    values is stacked, keeping their derivatives)."""
    value = _as_member(value)
    return value if isinstance(value, _TRACED) else np.asarray(value)


def _stand_in(value):
    """Zeros with ``value``'s shape and dtype (no memory): NumPy runs on it to check arguments
    and to say what dtype its result has, without reading traced values."""
    if isinstance(value, _TRACED):
        return np.broadcast_to(np.zeros((), value.dtype), value.shape)
    return value


def _cast(value, dtype):
    return value if np.result_type(value) == dtype else value.astype(dtype)


# ------------------------------------------------------------------------------------------
# rearrangements: moves of elements, through the shape rules
@implements(np.rollaxis)
def rollaxis(a, axis, start=0):
    ndim = len(_shape(a))
    np.rollaxis(_stand_in(a), axis, start)  # NumPy's checks of axis and start
    axis = _normalize_axis(axis, ndim)
    start = operator.index(start) + (ndim if start < 0 else 0)
    if axis < start:  # start counts positions before the axis is taken out
        start -= 1
    return np.moveaxis(a, axis, start)


if hasattr(np, "unstack"):
    @implements(np.unstack)
    def unstack(x, /, *, axis=0):
        if len(_shape(x)) == 0:
            raise ValueError("Input array must be at least 1-d.")
        return tuple(np.moveaxis(x, axis, 0))


if hasattr(np, "matrix_transpose"):
    @implements(np.matrix_transpose)
    def matrix_transpose(x, /):
        if len(_shape(x)) < 2:
            raise ValueError(f"Input array must be at least 2-dimensional, but it is {len(_shape(x))}")
        return np.linalg.matrix_transpose(x)


@implements(np.choose)
def choose(a, choices, out=None, mode="raise"):
    """Differentiable in the choices; the index array ``a`` says where each element comes from.
    NumPy itself broadcasts, applies ``mode`` and checks the entries: on stand-ins for the
    result's dtype, and on tags standing for the choices' elements for the positions."""
    reject_out(out, "choose")
    index = np.asarray(read_value(a, "np.choose (the index array)"))
    if isinstance(choices, _TRACED):  # one array: the choices along its first axis
        dtype = np.choose(index, _stand_in(choices), mode=mode).dtype
        result = _gather_by_tags(lambda tags: np.choose(index, tags, mode=mode), [choices])
    else:
        members = [_as_member(choice) for choice in choices]
        dtype = np.choose(index, [_stand_in(member) for member in members], mode=mode).dtype
        result = _gather_by_tags(lambda *tags: np.choose(index, tags, mode=mode), members)
    return _cast(result, dtype)


@implements(np.extract)
def extract(condition, arr):
    selected = np.flatnonzero(read_value(condition, "np.extract (the condition)"))
    return np.take(np.ravel(arr), selected)


@implements(np.trim_zeros)
def trim_zeros(filt, trim="fb", axis=None):
    """A slice of ``filt``: the box around its nonzero values, found from the primal values."""
    value = np.asarray(read_value(filt, "np.trim_zeros"))
    np.trim_zeros(value, trim, **({} if axis is None else {"axis": axis}))  # NumPy's checks of trim and axis
    ndim = value.ndim
    axes = range(ndim) if axis is None else [_normalize_axis(a, ndim) for a in np.atleast_1d(axis)]
    nonzero = np.argwhere(value)
    if nonzero.size == 0:  # all zeros: NumPy keeps nothing along the trimmed axes
        start = stop = [0] * ndim
    else:
        start = nonzero.min(axis=0) if "f" in trim.lower() else [None] * ndim
        stop = nonzero.max(axis=0) + 1 if "b" in trim.lower() else [None] * ndim
    return filt[tuple(slice(start[d], stop[d]) if d in axes else slice(None) for d in range(ndim))]


def _fft_shift(x, axes, sign):
    shape = _shape(x)
    if axes is None:
        axes = tuple(range(len(shape)))
        shift = [sign * (n // 2) for n in shape]
    elif isinstance(axes, (int, np.integer)):
        shift = sign * (shape[axes] // 2)
    else:
        shift = [sign * (shape[axis] // 2) for axis in axes]
    return np.roll(x, shift, axes)


@implements(np.fft.fftshift)
def fftshift(x, axes=None):
    return _fft_shift(x, axes, 1)


@implements(np.fft.ifftshift)
def ifftshift(x, axes=None):
    return _fft_shift(x, axes, -1)


@implements(np.ix_)
def ix_(*args):
    """NumPy's open mesh: each traced 1-D array reshaped along its own axis (it keeps its
    derivative); index arrays and masks as NumPy makes them."""
    plain = np.ix_(*[np.zeros(_shape(a), a.dtype) if isinstance(a, _TRACED) else a for a in args])
    return tuple(np.reshape(a, mesh.shape) if isinstance(a, _TRACED) else mesh for a, mesh in zip(args, plain))


@implements(np.apply_over_axes)
def apply_over_axes(func, a, axes):
    """NumPy's loop: ``func(a, axis)`` for each axis in turn, the axis kept (as length 1)."""
    value, ndim = a, len(_shape(a))
    for axis in (axes,) if np.ndim(axes) == 0 else axes:
        axis = axis + ndim if axis < 0 else axis
        result = func(value, axis)
        if np.ndim(result) != np.ndim(value):
            result = np.expand_dims(result, axis)
            if np.ndim(result) != np.ndim(value):
                raise ValueError("function is not returning an array of the correct shape")
        value = result
    return value


# ------------------------------------------------------------------------------------------
# sequences and matrices built from values
@implements(np.geomspace)
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """NumPy's steps: the logarithms evenly spaced (with start's sign taken out), the ends
    set to ``start`` and ``stop`` themselves."""
    start, stop = _array(start) * 1.0, _array(stop) * 1.0
    start_value, stop_value = read_value(start, "np.geomspace"), read_value(stop, "np.geomspace")
    if np.any(start_value == 0) or np.any(stop_value == 0):
        raise ValueError("Geometric sequence cannot include zero")
    sample_dtype = np.result_type(start.dtype, stop.dtype, float(num), np.zeros((), dtype).dtype)
    start, stop = _cast(start, sample_dtype), _cast(stop, sample_dtype)
    sign = np.sign(start_value).astype(sample_dtype)  # constant: the derivative goes through start / sign
    start, stop = start / sign, stop / sign
    result = np.logspace(np.log10(start), np.log10(stop), num=num, endpoint=endpoint, base=10.0, dtype=sample_dtype)
    if num > 0:
        inner_shape = _shape(result)[1:]
        ends = [np.reshape(np.broadcast_to(start, inner_shape), (1,) + inner_shape), result[1:]]
        if num > 1 and endpoint:
            ends[1:] = [result[1:-1], np.reshape(np.broadcast_to(stop, inner_shape), (1,) + inner_shape)]
        result = np.concatenate(ends)
    result = result * sign
    if axis != 0:
        result = np.moveaxis(result, 0, axis)
    return result if dtype is None else _cast(result, np.dtype(dtype))


@implements(np.vander)
def vander(x, N=None, increasing=False):
    """Powers by repeated multiplication, as NumPy's ``multiply.accumulate`` makes them."""
    x = _array(x)
    if np.ndim(x) != 1:
        raise ValueError("x must be a one-dimensional array or sequence.")
    n_columns = len(x) if N is None else operator.index(N)
    dtype = np.promote_types(x.dtype, int)
    x = _cast(x, dtype)
    if n_columns <= 0:
        return np.empty((len(x), n_columns), dtype)
    powers = [np.ones(len(x), dtype)]
    for _ in range(1, n_columns):
        powers.append(x if len(powers) == 1 else powers[-1] * x)
    return np.stack(powers if increasing else powers[::-1], axis=1)


@implements(np.linalg.tensorinv)
def tensorinv(a, ind=2):
    if ind <= 0:
        raise ValueError("Invalid ind argument.")
    shape = _shape(a)
    rows = int(np.prod(shape[ind:], dtype=np.intp))
    inverse = np.linalg.inv(np.reshape(a, (rows, -1)))
    return np.reshape(inverse, shape[ind:] + shape[:ind])


@implements(np.linalg.tensorsolve)
def tensorsolve(a, b, axes=None):
    ndim = len(_shape(a))
    if axes is not None:  # the axes named go last, in order
        order = list(range(ndim))
        for axis in axes:
            order.remove(axis)
            order.insert(ndim, axis)
        a = np.transpose(a, order)
    solution_shape = _shape(a)[-(ndim - np.ndim(b)):]
    size = int(np.prod(solution_shape, dtype=np.intp))
    if int(np.prod(_shape(a), dtype=np.intp)) != size ** 2:
        raise np.linalg.LinAlgError("Input arrays must satisfy the requirement "
                                    "prod(a.shape[b.ndim:]) == prod(a.shape[:b.ndim])")
    return np.reshape(np.linalg.solve(np.reshape(a, (size, size)), np.ravel(b)), solution_shape)


# ------------------------------------------------------------------------------------------
# histograms: counts are plain (piecewise constant in the data); edges NumPy places between the
# data's extremes move with np.min and np.max of the data; weighted counts are linear in the
# weights, and densities divide by the total and the bin widths, which may move with the data
def weighted_counts(columns: list, edges: list, weights, dtype):
    """The sum of the traced ``weights`` per bin of the histogram of the plain ``columns`` over
    the plain ``edges``, one array per axis, with NumPy's assignment: a value on an edge counts
    in the bin to its right, and the last edge's in the last bin. By np.bincount, linear in the
    weights; cast to ``dtype`` (NumPy's: the weights' in 1-D, float64 in d-D)."""
    shape = tuple(len(axis_edges) - 1 for axis_edges in edges)
    flat, inside = 0, True
    for column, axis_edges in zip(columns, edges):
        index = np.searchsorted(axis_edges, column, side="right") - 1
        index[column == axis_edges[-1]] = len(axis_edges) - 2
        inside = inside & (index >= 0) & (index < len(axis_edges) - 1)
        flat = flat * (len(axis_edges) - 1) + index
    flat = np.asarray(flat)[inside]
    weights = np.reshape(traced_array(weights), (-1,))[inside]
    counts = np.bincount(flat, weights=weights, minlength=int(np.prod(shape))).reshape(shape)
    return counts.astype(dtype, copy=False)


def traced_array(weights):
    """Traced ``weights`` as one array (a list of traced numbers, stacked)."""
    return np.stack(weights) if isinstance(weights, (list, tuple)) else weights


def plain_weights(weights):
    """What NumPy's own histogram gets for ``weights``: ones of their shape if they are traced,
    so that it checks them (the shape, and automatic bins refused for weighted data)."""
    return np.ones(np.shape(traced_array(weights))) if holds_traced(weights) else weights


def _plain_histogram_options(function, bins, range):
    if holds_traced(range) or holds_traced(bins):
        raise error_with_location(
            UnsupportedOperationError,
            f"np.{function}{{where}}: traced bins or range have no rule; pass them as plain values.", skip=2)


def _data_edges(data, edges):
    """``edges`` (NumPy's, evenly spaced from the data's minimum to its maximum, widened by
    0.5 on each side when they are equal) as traced values of ``data``."""
    low, high = _cast(np.min(data), edges.dtype), _cast(np.max(data), edges.dtype)
    if read_value(low, "histogram edges") == read_value(high, "histogram edges"):
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, len(edges), dtype=edges.dtype)


@implements(np.histogram_bin_edges)
def histogram_bin_edges(a, bins=10, range=None, weights=None):
    _plain_histogram_options("histogram_bin_edges", bins, range)
    edges = np.histogram_bin_edges(read_value(a, "np.histogram_bin_edges"), bins, range, plain_weights(weights))
    if range is None and np.ndim(bins) == 0 and isinstance(a, _TRACED) and a.size > 0:
        edges = _data_edges(a, edges)
    return edges


@implements(np.histogramdd)
def histogramdd(sample, bins=10, range=None, density=None, weights=None):
    _plain_histogram_options("histogramdd", bins, range)
    if isinstance(sample, _TRACED + (np.ndarray,)):  # an (N, D) array, or a 1-D array of N points
        columns = [sample] if sample.ndim == 1 else list(np.swapaxes(sample, 0, 1))
        plain = read_value(sample, "np.histogramdd")
        plain_columns = [plain] if plain.ndim == 1 else list(plain.T)
    else:
        columns = list(sample)
        plain = plain_columns = [read_value(column, "np.histogramdd") for column in columns]
    counts, edges = np.histogramdd(plain, bins, range, None, plain_weights(weights))
    if holds_traced(weights):
        counts = weighted_counts(plain_columns, edges, weights, np.float64)
    try:
        per_axis_bins = list(bins)
    except TypeError:  # one number of bins for every axis
        per_axis_bins = [bins] * len(edges)
    per_axis_range = [None] * len(edges) if range is None else range
    for i, column in enumerate(columns):
        if np.ndim(per_axis_bins[i]) == 0 and per_axis_range[i] is None and isinstance(column, _TRACED) \
                and column.size > 0:
            edges[i] = _data_edges(column, edges[i])
    if density:  # as NumPy divides: by each axis's widths, then the total
        total = counts.sum()
        for i, axis_edges in enumerate(edges):
            widths_shape = [1] * len(edges)
            widths_shape[i] = -1
            counts = counts / np.reshape(np.diff(axis_edges), widths_shape)
        counts = counts / total
    return counts, edges


@implements(np.histogram2d)
def histogram2d(x, y, bins=10, range=None, density=None, weights=None):
    if len(x) != len(y):
        raise ValueError("x and y must have the same length.")
    try:
        n_bins = len(bins)
    except TypeError:
        n_bins = 1
    if n_bins not in (1, 2):  # one array of edges for both axes
        bins = [bins, bins]
    counts, edges = histogramdd([x, y], bins, range, density, weights)
    return counts, edges[0], edges[1]


# ------------------------------------------------------------------------------------------
# set operations: sorted values gathered from the inputs (first occurrences, as np.unique)
def _set_operands(function, ar1, ar2):
    ar1, ar2 = _array(ar1), _array(ar2)
    return ar1, ar2, read_value(ar1, f"np.{function}"), read_value(ar2, f"np.{function}")


def _first_positions(pool, wanted):
    """Where each of ``wanted`` (values found in the 1-D ``pool``) first occurs in ``pool``."""
    values, first = np.unique(pool, return_index=True)
    return first[np.searchsorted(values, wanted)]


def _gathered(source, positions, reference):
    return _cast(np.ravel(source)[positions], reference.dtype)


def _from_both(name, set_operation, ar1, ar2, **options):
    """A set operation whose values come from either array: each from its first occurrence."""
    ar1, ar2, plain1, plain2 = _set_operands(name, ar1, ar2)
    result = set_operation(plain1, plain2, **options)
    pooled = np.concatenate((ar1, ar2), axis=None)
    return _gathered(pooled, _first_positions(np.concatenate((plain1, plain2), axis=None), result), result)


@implements(np.union1d)
def union1d(ar1, ar2):
    return _from_both("union1d", np.union1d, ar1, ar2)


@implements(np.setxor1d)
def setxor1d(ar1, ar2, assume_unique=False):
    return _from_both("setxor1d", np.setxor1d, ar1, ar2, assume_unique=assume_unique)


@implements(np.setdiff1d)
def setdiff1d(ar1, ar2, assume_unique=False):
    ar1, ar2, plain1, plain2 = _set_operands("setdiff1d", ar1, ar2)
    result = np.setdiff1d(plain1, plain2, assume_unique=assume_unique)
    if assume_unique:  # NumPy keeps ar1's order (and repeats): a mask
        return np.ravel(ar1)[np.isin(np.ravel(plain1), plain2, assume_unique=True, invert=True)]
    return _gathered(ar1, _first_positions(np.ravel(plain1), result), result)


@implements(np.intersect1d)
def intersect1d(ar1, ar2, assume_unique=False, return_indices=False):
    """The common values, taken from ``ar1`` (where NumPy's indices point first)."""
    ar1, ar2, plain1, plain2 = _set_operands("intersect1d", ar1, ar2)
    result, indices1, indices2 = np.intersect1d(plain1, plain2, assume_unique=assume_unique, return_indices=True)
    # NumPy's indices into ar1 are positions in the two arrays joined (ar1 first) as well
    values = _gathered(np.concatenate((ar1, ar2), axis=None), indices1, result)
    return (values, indices1, indices2) if return_indices else values


# ------------------------------------------------------------------------------------------
# polynomials (coefficient arrays, highest power first)
def _coefficients(p, function):
    if isinstance(p, np.poly1d):
        raise unsupported_option(f"np.{function} with a np.poly1d is not supported on traced values; "
                                 "pass its coefficients (p.coeffs).")
    return np.atleast_1d(_array(p))


def _aligned(a1, a2, function):
    """Both coefficient arrays, the shorter one padded with leading zeros."""
    a1, a2 = _coefficients(a1, function), _coefficients(a2, function)
    extra = len(a2) - len(a1)
    if extra > 0:
        a1 = np.concatenate((np.zeros(extra, a1.dtype), a1))
    elif extra < 0:
        a2 = np.concatenate((np.zeros(-extra, a2.dtype), a2))
    return a1, a2


@implements(np.polyadd)
def polyadd(a1, a2):
    a1, a2 = _aligned(a1, a2, "polyadd")
    return a1 + a2


@implements(np.polysub)
def polysub(a1, a2):
    a1, a2 = _aligned(a1, a2, "polysub")
    return a1 - a2


@implements(np.polymul)
def polymul(a1, a2):
    return np.convolve(_coefficients(a1, "polymul"), _coefficients(a2, "polymul"))


@implements(np.polyder)
def polyder(p, m=1):
    m = int(m)
    if m < 0:
        raise ValueError("Order of derivative must be positive (see polyint)")
    p = _array(p)
    for _ in range(m):
        p = p[:-1] * np.arange(len(p) - 1, 0, -1)
    return p


@implements(np.polyint)
def polyint(p, m=1, k=None):
    """Differentiable in ``p`` and in the integration constants ``k``."""
    m = int(m)
    if m < 0:
        raise ValueError("Order of integral must be positive (see polyder)")
    k = np.atleast_1d(np.zeros(m, float) if k is None else _array(k))
    if len(k) == 1 and m > 1:
        k = k[0] * np.ones(m, float)
    if len(k) < m:
        raise ValueError("k must be a scalar or a rank-1 array of length 1 or >m.")
    p = _array(p)
    for step in range(m):
        p = np.concatenate((p / np.arange(len(p), 0, -1), np.reshape(k[step], (1,))))
    return p


@implements(np.poly)
def poly(seq_of_zeros):
    """The product of the linear factors (x - root): a chain of convolutions."""
    roots = np.atleast_1d(_array(seq_of_zeros))
    shape = _shape(roots)
    if len(shape) == 2 and shape[0] == shape[1] and shape[0] != 0:
        raise unsupported_option("np.poly of a square matrix (its characteristic polynomial) needs its "
                                 "eigenvalues, which are not supported on traced values; pass the roots, "
                                 "or np.linalg.eigvalsh's for a symmetric matrix.")
    if len(shape) != 1:
        raise ValueError("input must be 1d or non-empty square 2d array.")
    roots = _cast(roots, np.dtype(np.mintypecode(roots.dtype.char)))
    if len(roots) == 0:
        return 1.0
    dtype = roots.dtype
    coefficients = np.ones((1,), dtype)
    for root in roots:
        factor = np.concatenate((np.ones((1,), dtype), np.reshape(-root, (1,))))
        coefficients = np.convolve(coefficients, factor, mode="full")
    return coefficients


@implements(np.polydiv)
def polydiv(u, v):
    """NumPy's long division, each step a new array; the remainder's leading (near-)zeros are
    dropped as NumPy drops them, judged on the primal values."""
    u, v = _coefficients(u, "polydiv") + 0.0, _coefficients(v, "polydiv") + 0.0
    dtype = np.result_type(u.dtype, v.dtype)
    m, n = len(u) - 1, len(v) - 1
    scale = 1.0 / v[0]
    remainder = _cast(u, dtype)
    quotient = []
    for k in range(m - n + 1):
        d = scale * remainder[k]
        quotient.append(d)
        parts = [remainder[:k]] if k else []
        parts += [remainder[k:k + n + 1] - d * v, remainder[k + n + 1:]]
        remainder = np.concatenate(parts)
    quotient = _cast(np.stack(quotient), dtype) if quotient else np.zeros((1,), dtype)
    while np.allclose(read_value(remainder[0], "np.polydiv"), 0, rtol=1e-14) and _shape(remainder)[-1] > 1:
        remainder = remainder[1:]
    return quotient, remainder



# ------------------------------------------------------------------------------------------
# metadata, indices and printing: no derivative (see rules/metadata.py)
@implements(np.can_cast)
def can_cast(from_, to, casting="safe"):
    return np.can_cast(from_.dtype if isinstance(from_, _TRACED) else from_, to, casting)


@implements(np.common_type)
def common_type(*arrays):
    return np.common_type(*[np.empty(0, a.dtype) if isinstance(a, _TRACED) else a for a in arrays])


@implements(np.min_scalar_type)
def min_scalar_type(a):
    if isinstance(a, _TRACED) and a.ndim > 0:
        return a.dtype  # NumPy's answer for an array: only a scalar's value matters
    return np.min_scalar_type(read_value(a, "np.min_scalar_type"))


# plain results computed from the values: integer indices, memory overlap, the angle of a
# real value (0 or pi), and the text that prints the values
for _function in (np.unravel_index, np.ravel_multi_index, np.shares_memory, np.may_share_memory, np.angle,
                  np.array2string, np.array_repr, np.array_str):
    nondifferentiable(_function)
