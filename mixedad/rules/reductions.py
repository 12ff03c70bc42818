"""Reductions: sum and mean (linear; they consume dual regions), and the rest."""
from __future__ import annotations

import numpy as np

from .table import reverse_rule, implements


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % ndim if ndim else a for a in axis))


def reduced_shape(shape, axis, keepdims):
    axes = _axes(axis, len(shape))
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def expand_reduced(g, shape, axis, keepdims):
    """Give a reduction's cotangent back its reduced axes (size 1): it then broadcasts."""
    if keepdims or axis is None and np.ndim(g) == 0:
        return g
    return np.reshape(g, reduced_shape(shape, axis, True))


def _count(shape, axis):
    count = 1
    for a in _axes(axis, len(shape)):
        count *= shape[a]
    return count


def _reduction_meta(shape, dtype, axis=None, keepdims=False, dtype_out=None, **unused):
    return reduced_shape(shape, axis, keepdims), np.dtype(dtype)


def _sum(x, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims)


def _mean(x, axis=None, keepdims=False):
    return np.mean(x, axis=axis, keepdims=keepdims)


sum_ = reverse_rule(_sum, lambda g, out, x, axis=None, keepdims=False:
                    expand_reduced(g, np.shape(x), axis, keepdims), name="sum")
mean_ = reverse_rule(_mean, lambda g, out, x, axis=None, keepdims=False:
                     expand_reduced(g, np.shape(x), axis, keepdims) / _count(np.shape(x), axis), name="mean")
for _prim in (sum_, mean_):
    _prim.fuses_regions = True
    _prim.out_meta = _reduction_meta


def _normalize_axis(axis):
    if axis is None or isinstance(axis, int):
        return axis
    return tuple(axis)


@implements(np.sum)
def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _reject(out, initial, where, "sum")
    result = sum_(a, axis=_normalize_axis(axis), keepdims=bool(keepdims))
    return result if dtype is None else result.astype(dtype)


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    _reject(out, None, where, "mean")
    result = mean_(a, axis=_normalize_axis(axis), keepdims=bool(keepdims))
    return result if dtype is None else result.astype(dtype)


def _reject(out, initial, where, name):
    if out is not None or initial is not None or where is not None:
        raise NotImplementedError(f"np.{name} with out=, initial= or where= is not supported on traced values")
