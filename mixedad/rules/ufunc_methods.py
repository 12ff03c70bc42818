"""NumPy's ufunc methods ``reduce``, ``accumulate`` and ``reduceat`` on traced values, for any
binary ufunc (``ufunc.at`` is in ``assignment``; ``ufunc.outer`` in ``core.traced``).

NumPy first runs the method on zeros of the input's dtype (each axis cut to two elements): that
raises NumPy's own error for whatever NumPy refuses (several axes for a ufunc that is not
reorderable, ``where=`` without ``initial=`` where there is no identity, a unary ufunc, indices
out of bounds) and gives the result's dtype. A result that is not floating point
(``logical_and.reduce``, ``dtype=int``) or that comes from a non-differentiable ufunc
(``floor_divide``) carries no derivative: NumPy computes it from the primal values and it is a
plain array, as ``np.logical_and(x, y)`` is. A reduction over no elements is a constant. Otherwise:

- add, multiply, maximum, minimum reduce as np.sum, np.prod, np.max, np.min, and fmax, fmin as
  np.nanmax, np.nanmin (ties split the derivative evenly); add and multiply accumulate as
  np.cumsum and np.cumprod;
- maximum, minimum, fmax, fmin accumulate through one primitive: each running extreme takes its
  derivative from the elements equal to it since it last changed, split evenly as np.max splits
  ties (NaN entries: as np.max and np.nanmax);
- subtract: ``x[0] - sum(x[1:])`` and ``x[0] - cumsum(x[1:])`` (``initial - sum(x)`` with initial);
- logaddexp, logaddexp2, hypot (associative): a balanced tree of vectorised pairwise calls for
  reduce and a doubling (Hillis-Steele) scan for accumulate, log2(n) levels of the tape each;
- every other binary ufunc (divide, power, arctan2, ...): a fold in NumPy's order, one call per
  element of the axis;
- reduceat: add sums the gathered segments with one linear primitive; the other ufuncs reduce
  the segments as above, grouped by length (one gather and one reduction per distinct length).
"""
from __future__ import annotations

import math
import operator
import warnings

import numpy as np

from .shape import _reject_traced
from .table import implements, numpy_scalar, reverse_rule
from ..core.arrays import shape_stand_in
from ..core.dispatch import ufunc_handler, unsupported
from ..core.errors import UnsupportedOperationError, complex_result_error
from ..core.region import read_value
from ..core.traced import _ufunc_method_of

_MISSING = object()
ASSOCIATIVE = frozenset({np.logaddexp, np.logaddexp2, np.hypot})  # and commutative, with an identity
EXTREMES = frozenset({np.maximum, np.minimum, np.fmax, np.fmin})
_REDUCTIONS = {np.add: np.sum, np.multiply: np.prod, np.maximum: np.max, np.minimum: np.min}
_NAN_REDUCTIONS = {np.fmax: (np.nanmax, -math.inf), np.fmin: (np.nanmin, math.inf)}


def _reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _along(axis, index):
    """The key that applies ``index`` to ``axis`` and keeps the axes before it."""
    return (slice(None),) * axis + (index,)


def _copy(value):
    """A new array: a result NumPy makes fresh must not be a view of the input."""
    return np.copy(value)


# --- the dispatch entry ----------------------------------------------------------------------
@implements(_ufunc_method_of)
def ufunc_method(ufunc, method, array, *rest, **kwargs):
    """``ufunc.method(array, *rest, **kwargs)`` for method reduce, accumulate or reduceat."""
    name = f"np.{ufunc.__name__}.{method}"
    if method == "reduceat":
        _reject_traced(rest[0] if rest else kwargs.get("indices"), f"The indices of {name}")
    if kwargs.get("initial", _MISSING) is None:  # NumPy's own spelling of "no initial value"
        del kwargs["initial"]
    if kwargs.get("where", True) is not True:
        kwargs["where"] = np.asarray(read_value(kwargs["where"], name), dtype=bool)
    if array.size == 0:  # no element takes part: NumPy's result (empty, or initial) is a constant
        with np.errstate(all="ignore"):
            return getattr(ufunc, method)(shape_stand_in(array), *rest, **kwargs)
    dtype = _result_dtype(ufunc, method, array, rest, kwargs)
    if dtype.kind == "c":
        raise complex_result_error(name)
    if dtype.kind != "f" or not _differentiable(ufunc, method):
        return getattr(ufunc, method)(read_value(array, name), *rest, **kwargs)
    if array.dtype != dtype:  # dtype=: NumPy computes in that type
        array = array.astype(dtype)
    kwargs.pop("dtype", None)
    result = _METHODS[method](ufunc, array, *rest, **kwargs)
    return result if result.dtype == dtype else result.astype(dtype)


def _result_dtype(ufunc, method, array, rest, kwargs) -> np.dtype:
    """NumPy's own error for arguments it refuses, and the result's dtype: the method run on
    zeros of the input's dtype, each axis cut to 2 elements at most (for reduceat, whose indices
    are checked against the axis, the input's shape)."""
    shape = array.shape
    where = kwargs.get("where", True)
    mask_shape = np.shape(where)
    fits = len(mask_shape) <= len(shape) and all(m in (1, n) for m, n in zip(mask_shape[::-1], shape[::-1]))
    if method != "reduceat" and fits:  # (a mask that does not fit: NumPy's error, from the full shape)
        if where is not True:
            kwargs = dict(kwargs, where=np.broadcast_to(where, shape)[tuple(slice(0, 2) for _ in shape)])
        shape = tuple(min(n, 2) for n in shape)
    with np.errstate(all="ignore"):
        return np.result_type(getattr(ufunc, method)(np.broadcast_to(np.zeros((), array.dtype), shape), *rest,
                                                     **kwargs))


def _differentiable(ufunc, method) -> bool:
    try:
        handler = ufunc_handler(ufunc)
    except UnsupportedOperationError:
        raise unsupported(ufunc, f".{method}") from None
    return getattr(handler, "differentiable", True)


# --- reduce ----------------------------------------------------------------------------------
def _reduce_axes(axis, ndim):
    if ndim == 0:
        return ()
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, tuple):
        return tuple(operator.index(a) % ndim for a in axis)
    return (operator.index(axis) % ndim,)


def reduce(ufunc, x, axis=0, keepdims=False, initial=_MISSING, where=True):
    return numpy_scalar(_reduce(ufunc, x, axis, keepdims, initial, where))  # (0-d: a scalar, keepdims or not)


def _reduce(ufunc, x, axis, keepdims, initial, where):
    axes = _reduce_axes(axis, x.ndim)
    keepdims = bool(keepdims)
    mask = None if where is True else np.broadcast_to(where, x.shape)
    options = {} if initial is _MISSING else {"initial": initial}
    if mask is not None:
        options["where"] = mask
    if ufunc in _REDUCTIONS:
        return _REDUCTIONS[ufunc](x, axis=axes, keepdims=keepdims, **options)
    if ufunc in _NAN_REDUCTIONS:
        return _nan_extreme(ufunc, x, axes, keepdims, initial, mask)
    if ufunc is np.subtract:
        return _subtract_reduce(x, axes, keepdims, initial, mask)
    shape = x.shape
    if len(axes) == 1:
        axis = axes[0]
    else:  # no axis, or several (NumPy allows that for reorderable ufuncs only): one, the last
        x, mask = _merged(x, axes, mask)
        axis = x.ndim - 1
    if ufunc in ASSOCIATIVE and (mask is None or ufunc.identity is not None):
        if mask is not None:
            x = np.where(mask, x, ufunc.identity)
        result = _tree(ufunc, x, axis)
        if initial is not _MISSING:
            result = ufunc(initial, result)
    else:
        result = _fold(ufunc, x, axis, mask, ufunc.identity if initial is _MISSING and mask is not None
                       else initial)
    return np.reshape(result, _reduced_shape(shape, axes, True)) if keepdims else result


def _merged(x, axes, mask):
    """``x`` (and ``mask``) with the reduced ``axes`` moved last and merged into one axis."""
    rest = [i for i in range(x.ndim) if i not in axes]
    order = rest + list(axes)
    shape = tuple(x.shape[i] for i in rest) + (math.prod(x.shape[i] for i in axes),)
    merged = np.reshape(np.transpose(x, order), shape)
    return merged, None if mask is None else np.reshape(np.transpose(mask, order), shape)


def _tree(ufunc, x, axis):
    """Reduce ``axis`` by pairing neighbours, level by level (their order is kept)."""
    n = x.shape[axis]
    if n == 1:
        return _copy(x[_along(axis, 0)])
    while n > 1:
        pairs = n // 2
        combined = ufunc(x[_along(axis, slice(0, 2 * pairs, 2))], x[_along(axis, slice(1, 2 * pairs, 2))])
        x = combined if n % 2 == 0 else np.concatenate([combined, x[_along(axis, slice(n - 1, n))]], axis=axis)
        n = pairs + n % 2
    return x[_along(axis, 0)]


def _fold(ufunc, x, axis, mask, start):
    """NumPy's order: ``ufunc(...ufunc(ufunc(start, x0), x1)..., x_last)``, skipping the elements
    ``mask`` leaves out; without a start, from x0."""
    n = x.shape[axis]
    if start is _MISSING or start is None:
        if n == 1:
            return _copy(x[_along(axis, 0)])
        result, first = x[_along(axis, 0)], 1
    else:
        result, first = start, 0
    for k in range(first, n):
        step = ufunc(result, x[_along(axis, k)])
        result = step if mask is None else np.where(mask[_along(axis, k)], step, result)
    return result


def _nan_extreme(ufunc, x, axes, keepdims, initial, mask):
    """fmax/fmin.reduce: the extreme of the elements that are not NaN (NaN if all are)."""
    reduction, neutral = _NAN_REDUCTIONS[ufunc]
    if mask is None:
        with warnings.catch_warnings():  # an all-NaN slice gives NaN, without NumPy's warning
            warnings.simplefilter("ignore", RuntimeWarning)
            result = reduction(x, axis=axes, keepdims=keepdims)
    else:  # NumPy requires initial here
        result = reduction(x, axis=axes, keepdims=keepdims, initial=neutral, where=mask)
    return result if initial is _MISSING else ufunc(result, initial)


def _subtract_reduce(x, axes, keepdims, initial, mask):
    if initial is not _MISSING:  # initial - x0 - x1 - ...; NumPy requires initial with a mask
        options = {} if mask is None else {"where": mask}
        return initial - np.sum(x, axis=axes, keepdims=keepdims, **options)
    if not axes:
        return _copy(x)
    axis = axes[0]  # not reorderable: NumPy allows one axis
    first = x[_along(axis, slice(0, 1))]
    result = first - np.sum(x[_along(axis, slice(1, None))], axis=axis, keepdims=True)
    return result if keepdims else np.reshape(result, _reduced_shape(x.shape, axes, False))


# --- accumulate ------------------------------------------------------------------------------
def accumulate(ufunc, x, axis=0):
    axis = 0 if axis is None else operator.index(axis) % x.ndim  # NumPy allows None for 1-d only
    if ufunc is np.add:
        return np.cumsum(x, axis=axis)
    if ufunc is np.multiply:
        return np.cumprod(x, axis=axis)
    if ufunc in EXTREMES:
        return running_extreme_(x, ufunc=ufunc, axis=axis)
    n = x.shape[axis]
    if n == 1:
        return _copy(x)
    if ufunc is np.subtract:
        first = x[_along(axis, slice(0, 1))]
        return np.concatenate([first, first - np.cumsum(x[_along(axis, slice(1, None))], axis=axis)], axis=axis)
    if ufunc in ASSOCIATIVE:  # Hillis-Steele: after the step with shift d, element k combines (k - 2d, k]
        shift = 1
        while shift < n:
            combined = ufunc(x[_along(axis, slice(0, n - shift))], x[_along(axis, slice(shift, None))])
            x = np.concatenate([x[_along(axis, slice(0, shift))], combined], axis=axis)
            shift *= 2
        return x
    steps = [x[_along(axis, 0)]]
    for k in range(1, n):
        steps.append(ufunc(steps[-1], x[_along(axis, k)]))
    return np.stack(steps, axis=axis)


def _running_extreme(x, ufunc, axis):
    return ufunc.accumulate(x, axis=axis)


def _segmented_scan(v, segment, reverse):
    """Inclusive running sums of ``v`` along its last axis within runs of equal ``segment`` ids
    (plain, nondecreasing along the axis), from the end if ``reverse``: log2(n) shifted adds
    (no differences of long sums, so no cancellation)."""
    n = segment.shape[-1]
    shift = 1
    while shift < n:
        same = segment[..., shift:] == segment[..., :-shift]
        zeros = np.zeros(v.shape[:-1] + (shift,), v.dtype)
        if reverse:
            v = v + np.concatenate([np.where(same, v[..., shift:], 0), zeros], axis=-1)
        else:
            v = v + np.concatenate([zeros, np.where(same, v[..., :-shift], 0)], axis=-1)
        shift *= 2
    return v


def _chosen(x, out, ufunc, axis):
    """For a running extreme (axes moved last): which elements equal the running extreme at their
    position (``hit``), the runs over which it stays the same (``segment``), and for each
    position how many elements of its run so far are tied at the extreme (at least 1)."""
    x, out = np.moveaxis(x, axis, -1), np.moveaxis(out, axis, -1)
    hit = x == out
    nan_out = np.isnan(out)
    if ufunc is np.maximum or ufunc is np.minimum:  # a NaN wins and stays: the NaN entries share
        hit = hit | (np.isnan(x) & nan_out)
    same = (out[..., 1:] == out[..., :-1]) | (nan_out[..., 1:] & nan_out[..., :-1])
    segment = np.cumsum(np.concatenate([np.ones(same.shape[:-1] + (1,), bool), ~same], axis=-1), axis=-1)
    count = _segmented_scan(hit.astype(np.intp), segment, reverse=False)
    return hit, segment, np.maximum(count, 1).astype(x.dtype)


def _running_extreme_vjp(g, out, x, ufunc, axis):
    hit, segment, count = _chosen(x, out, ufunc, axis)
    share = _segmented_scan(np.moveaxis(g, axis, -1) / count, segment, reverse=True)
    return np.moveaxis(np.where(hit, share, 0), -1, axis)


def _running_extreme_jvp(t, out, x, ufunc, axis):
    hit, segment, count = _chosen(x, out, ufunc, axis)
    return np.moveaxis(_segmented_scan(np.where(hit, np.moveaxis(t, axis, -1), 0), segment, False) / count, -1, axis)


running_extreme_ = reverse_rule(_running_extreme, _running_extreme_vjp, name="running_extreme",
                                forward=_running_extreme_jvp)


# --- reduceat --------------------------------------------------------------------------------
def reduceat(ufunc, x, indices, axis=0):
    axis = 0 if axis is None else operator.index(axis) % x.ndim
    starts = np.asarray(indices).astype(np.intp).reshape(-1)  # as NumPy casts them
    n = x.shape[axis]
    ends = np.append(starts[1:], n)
    lengths = np.where(starts < ends, ends - starts, 1)  # NumPy: x[starts[i]] where the next start is not after it
    if ufunc is np.add:
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.intp)
        if np.all(starts[:-1] < starts[1:]):  # the segments tile x[starts[0]:]
            segments = x if starts[0] == 0 else x[_along(axis, slice(int(starts[0]), None))]
        else:
            segments = np.take(x, np.concatenate([np.arange(s, s + m) for s, m in zip(starts, lengths)]), axis=axis)
        return segment_sum_(segments, offsets=offsets, axis=axis)
    parts, order = [], []
    for length in np.unique(lengths):
        chosen = np.flatnonzero(lengths == length)
        block = np.take(x, starts[chosen, None] + np.arange(length), axis=axis)  # (..., count, length, ...)
        parts.append(reduce(ufunc, block, axis=axis + 1))
        order.append(chosen)
    result = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axis)
    order = np.concatenate(order)
    return result if np.array_equal(order, np.arange(order.size)) else np.take(result, np.argsort(order), axis=axis)


def _segment_sum(x, offsets, axis):
    return np.add.reduceat(x, offsets, axis=axis)


def _segment_sum_vjp(g, out, x, offsets, axis):
    return np.repeat(g, np.diff(np.append(offsets, np.shape(x)[axis])), axis=axis)


segment_sum_ = reverse_rule(_segment_sum, _segment_sum_vjp, name="add.reduceat", forward="linear")
segment_sum_.reverse_reads_values = False  # its reverse rule needs only the shape of x

_METHODS = {"reduce": reduce, "accumulate": accumulate, "reduceat": reduceat}
