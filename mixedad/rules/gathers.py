"""NumPy functions that only move elements: their results are gathers from their inputs.

Where NumPy decides from the values (``unique``, ``partition``, ``compress``), the indices are
computed from the values once and the traced input is indexed with them, so the derivative of
each result element goes to the input element it came from (``unique`` refuses repeated
values, which have no derivative). Where NumPy decides from the shapes alone (``insert``, ``resize``),
NumPy itself runs on integer tags standing for the elements, and the result is gathered by
those tags: NumPy's own argument handling, with no copy of its logic here. ``bincount`` with
weights is the one scatter: linear in the weights, its reverse rule gathers the cotangent.
"""
from __future__ import annotations

import numpy as np

from .shape import _along, _flat, _ndim, _normalize_axis, _reject_traced, _shape, copy_, getitem_
from .table import holds_traced, implements, reject_out
from ..core.primitive import primitive
from ..core.recomputed import Recomputed, index_key
from ..core.region import read_value
from ..core.errors import NonDifferentiableError, error_with_location, unsupported_option


def _gather_by_tags(function, sources, *args, **kwargs):
    """``function`` applied to arrays standing for ``sources`` (tags 0..n-1 across all of them),
    then the same elements gathered from the sources themselves."""
    tags, offset = [], 0
    for source in sources:
        size = int(np.prod(np.shape(source), dtype=np.intp))
        tags.append(np.arange(offset, offset + size, dtype=np.intp).reshape(np.shape(source)))
        offset += size
    placed = function(*tags, *args, **kwargs)
    flat = np.concatenate([np.ravel(source) for source in sources]) if len(sources) > 1 else np.ravel(sources[0])
    return flat[placed]


def _unique_values(x, first, counts, function: str, axis=None):
    """The traced unique values, gathered from the first occurrences; refused where a value
    repeats. There the unique values have no derivative: moving one occurrence of a repeated
    value apart from the others splits it in two. Every choice of derivative is wrong for
    some use: the first occurrence's drops the others' share of ``f(u)[inverse]`` (which is
    ``f(x)``), a mean of the occurrences gets ``f(u)[inverse] * w`` wrong, and both get its
    second derivatives wrong."""
    if counts.size and counts.max() > 1:
        repeated = np.ravel(np.take(read_value(x, function), first, axis=axis)[counts.argmax()])
        shown = repeated.item() if repeated.size == 1 else repeated.tolist()
        what = "value" if axis is None else "slice"
        raise error_with_location(
            NonDifferentiableError,
            f"{function}{{where}} met a repeated {what} ({shown} occurs {counts.max()} times): the unique "
            f"values have no derivative there, since moving one occurrence apart from the others splits it "
            f"in two. To compute per element through u[inverse], compute on the array itself (u[inverse] "
            f"is the array); to find unique values of data, call {function} on a plain array, outside "
            "the differentiated function or on a constant.", skip=2)
    return np.take(np.ravel(x), first) if axis is None else np.take(x, first, axis=axis)


@implements(np.unique)
def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, **kwargs):
    results = np.unique(read_value(ar, "np.unique"), return_index=True, return_inverse=True,
                        return_counts=True, axis=axis, **kwargs)
    _, first, inverse, counts = results
    values = _unique_values(ar, first, counts, "np.unique", axis)
    extras = [part for part, wanted in zip((first, inverse, counts), (return_index, return_inverse, return_counts))
              if wanted]
    return (values, *extras) if extras else values


@implements(np.partition)
def partition(a, kth, axis=-1, kind="introselect", order=None):
    if order is not None:
        raise unsupported_option("np.partition with order= is not supported on traced values")
    if axis is None:
        a, axis = np.ravel(a), -1
    order_of = np.argpartition(read_value(a, "np.partition"), kth, axis=axis, kind=kind)
    return np.take_along_axis(a, order_of, axis=axis)


@implements(np.compress)
def compress(condition, a, axis=None, out=None):
    if out is not None:
        raise unsupported_option("np.compress with out= is not supported on traced values")
    selected = np.flatnonzero(read_value(condition, "np.compress"))
    return np.take(np.ravel(a), selected) if axis is None else np.take(a, selected, axis=axis)


@implements(np.insert)
def insert(arr, obj, values, axis=None):
    if holds_traced(obj):
        obj = read_value(obj, "np.insert")
    if not holds_traced(values):
        values = np.asarray(values, np.result_type(arr))
    elif isinstance(values, (list, tuple)):
        values = np.stack(values)
    result = _gather_by_tags(lambda a, v: np.insert(a, obj, v, axis=axis), [arr, values])
    return result.astype(np.result_type(arr)) if np.result_type(result) != np.result_type(arr) else result


@implements(np.resize)
def resize(a, new_shape):
    return _gather_by_tags(np.resize, [a], new_shape)


def _unique_array_api(function):
    """np.unique_values / unique_counts / unique_inverse / unique_all (NumPy 2's array API),
    with the values of ``unique``."""
    def handler(x):
        value = read_value(x, f"np.{function.__name__}")
        everything = np.unique_all(value)
        values = _unique_values(x, everything.indices, everything.counts, f"np.{function.__name__}")
        if function is np.unique_values:
            return values
        result = everything if function is np.unique_all else function(value)
        return result._replace(values=values)
    return handler


for _function in [getattr(np, name) for name in ("unique_values", "unique_counts", "unique_inverse", "unique_all")
                  if hasattr(np, name)]:
    implements(_function)(_unique_array_api(_function))


@primitive
def weighted_bincount(weights, *, x, minlength=0):
    """``np.bincount(x, weights, minlength)`` as a primitive of the weights (``x`` is static)."""
    return np.bincount(x, weights=weights, minlength=minlength)


weighted_bincount.defvjp(lambda g, out, weights, *, x, minlength=0: np.take(g, x))
weighted_bincount.deflinear()


@implements(np.bincount)
def bincount(x, weights=None, minlength=0):
    x = read_value(x, "np.bincount (the bins)")
    if weights is None:
        return np.bincount(x, minlength=minlength)
    if np.shape(weights) != np.shape(x):
        raise ValueError(f"np.bincount: weights of shape {np.shape(weights)} for x of shape {np.shape(x)}; "
                         "they must have the same shape")
    return weighted_bincount(weights, x=np.asarray(x), minlength=minlength)


# ------------------------------------------------------------------------------------------
# selection by index arrays: through getitem (whose rule accumulates repeats)
def _indices(indices, dtype=None):
    """``indices`` as an integer array; labels a prepared replay refills (``core.recomputed``)
    stay such a value (cast by a step of their own), which ``index_key`` hands to the gather."""
    if type(indices) is Recomputed and indices.dtype.kind in "iu":
        return indices if dtype is None or indices.dtype == dtype else indices.astype(dtype)
    return np.asarray(indices, dtype=dtype)


@implements(np.take)
def take(a, indices, axis=None, out=None, mode="raise"):
    reject_out(out, "take")
    _reject_traced(indices, "The indices of np.take")
    if axis is None or _ndim(a) == 0:  # as in NumPy, a 0-d array is taken from as a 1-d one
        a, axis = _flat(a), 0 if axis is None else axis
    axis = _normalize_axis(axis, _ndim(a))
    indices = _indices(indices, np.intp)
    n = _shape(a)[axis]
    if mode == "wrap":
        indices = np.mod(indices, n)
    elif mode == "clip":
        indices = np.clip(indices, 0, n - 1)
    elif mode != "raise":
        raise ValueError(f"clipmode must be one of 'clip', 'raise', or 'wrap' (got {mode!r})")
    result = getitem_(a, key=index_key(a, _along(axis, indices), "the indices of np.take"))
    return result if axis == 0 else copy_(result, order="C")  # NumPy's take is in C order, a[:, i] is not


@implements(np.take_along_axis)
def take_along_axis(arr, indices, axis=-1):
    _reject_traced(indices, "The indices of np.take_along_axis")
    indices = _indices(indices)
    if axis is None:
        arr, axis = _flat(arr), 0
    shape = _shape(arr)
    axis = _normalize_axis(axis, len(shape))
    if indices.dtype.kind not in "iu":
        raise IndexError("`indices` must be an integer array")
    if indices.ndim != len(shape):
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    key = tuple(indices if d == axis else
                np.arange(n).reshape((1,) * d + (n,) + (1,) * (len(shape) - d - 1))
                for d, n in enumerate(shape))
    return getitem_(arr, key=index_key(arr, key, "the indices of np.take_along_axis"))
