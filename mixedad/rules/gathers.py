"""NumPy functions that only move elements: their results are gathers from their inputs.

Where NumPy decides from the values (``unique``, ``partition``, ``compress``), the indices are
computed from the values once and the traced input is indexed with them, so the derivative of
each result element goes to the input element it came from (for ``unique``, the first
occurrence of each value). Where NumPy decides from the shapes alone (``insert``, ``resize``),
NumPy itself runs on integer tags standing for the elements, and the result is gathered by
those tags: NumPy's own argument handling, with no copy of its logic here. ``bincount`` with
weights is the one scatter: linear in the weights, its reverse rule gathers the cotangent.
"""
from __future__ import annotations

import numpy as np

from .table import holds_traced, implements
from ..core.primitive import primitive
from ..core.region import read_value
from ..core.errors import unsupported_option


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


@implements(np.unique)
def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, **kwargs):
    results = np.unique(read_value(ar, "np.unique"), return_index=True, return_inverse=return_inverse,
                        return_counts=return_counts, axis=axis, **kwargs)
    index = results[1]
    values = np.take(np.ravel(ar), index) if axis is None else np.take(ar, index, axis=axis)
    extras = ([index] if return_index else []) + list(results[2:])
    if not extras:
        return values
    return type(results)(values, *extras) if hasattr(type(results), "_fields") else (values, *extras)


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
    """np.unique_values / unique_counts / unique_inverse / unique_all (NumPy 2's array API):
    the values gather each value's first occurrence, as ``unique_all`` reports it."""
    def handler(x):
        value = read_value(x, f"np.{function.__name__}")
        everything = np.unique_all(value)
        values = np.take(np.ravel(x), everything.indices)
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
