"""Reductions that leave elements out: NumPy's ``where=`` and ``initial=``, and the NaN-aware forms.

Each is the plain reduction (``reductions``) of a filled array: the elements left out are
replaced, with ``np.where``, by the reduction's neutral element (0 for sums, 1 for
products, -inf for max, +inf for min), so they get no cotangent, and ``initial`` joins as
one more operand (``np.maximum(result, initial)``; ties split the cotangent 0.5/0.5 as
``maximum`` does). Moments under a mask are compositions (mean of the selected elements,
then their centred squares), with std's convention at zero variance (a zero gradient).

As in NumPy, max and min need ``initial`` with a ``where`` mask, and a reduction over no
elements gives ``initial``.
"""
from __future__ import annotations

import numpy as np

from .reductions import (_axes, _count, _dtype, _mask, _normalize_axis, _reject_where, _shape, cumprod, cumsum,
                         in_dtype, max_, mean, min_, nanmax_, nanmean_, nanmin_, nanstd_, nanvar_, prod_, reduced_shape,
                         std_, sum, var_)
from .table import implements, reject_out
from ..core.region import read_value
from ..core.errors import unsupported_option


def _selection(a, where, nan_aware: bool, function: str):
    """The plain boolean mask of the elements that take part (None: all), shaped like ``a``."""
    mask = _mask(where, function)
    if mask is not None:
        shape = tuple(_shape(a))
        try:
            fits = np.broadcast_shapes(mask.shape, shape) == shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{function}: the where= mask of shape {mask.shape} does not broadcast to the "
                             f"input's shape {tuple(shape)}")
        mask = np.broadcast_to(mask, shape)
    if nan_aware:
        present = ~np.isnan(read_value(a, f"{function} (NaN mask)"))
        mask = present if mask is None else mask & present
    return mask


def _filled(a, mask, neutral):
    return a if mask is None else np.where(mask, a, np.asarray(neutral, _dtype(a)))


def _extreme(reduction, pick, neutral, a, axis, keepdims, initial, where, nan_aware, name):
    axis = _normalize_axis(axis)
    if where is not None and initial is None:
        raise ValueError(f"np.{name}: the reduction has no identity, so a where= mask needs initial= (as in NumPy)")
    mask = _selection(a, where, nan_aware, f"np.{name}")
    filled = _filled(a, mask, neutral)
    shape = _shape(a)
    if any(shape[k] == 0 for k in _axes(axis, len(shape))):  # no elements: the result is initial, a constant
        return np.full(reduced_shape(shape, axis, bool(keepdims)), initial, _dtype(a))
    result = reduction(filled, axis=axis, keepdims=bool(keepdims))
    return result if initial is None else pick(result, in_dtype(initial, _dtype(result)))


def _product(a, axis, dtype, keepdims, initial, where, nan_aware, name):
    mask = _selection(a, where, nan_aware, f"np.{name}")
    result = prod_(_filled(a, mask, 1), axis=_normalize_axis(axis), keepdims=bool(keepdims), dtype=dtype)
    return result if initial is None else result * in_dtype(initial, _dtype(result))


def _masked_moment(a, axis, dtype, ddof, keepdims, mask, root: bool):
    """var (or std) of the elements ``mask`` selects, as a composition of traced operations."""
    axis = _normalize_axis(axis)
    if dtype is not None:
        a = a.astype(dtype)
    dtype = np.result_type(_dtype(a), np.float16)
    count = np.sum(mask, axis=axis, keepdims=True).astype(dtype)
    centered = np.where(mask, a - sum(np.where(mask, a, 0), axis=axis, keepdims=True) / count, 0)
    if not keepdims:
        count = count.reshape(reduced_shape(mask.shape, axis, False))
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = sum(centered * centered, axis=axis, keepdims=bool(keepdims)) / np.maximum(count - ddof, 0)
    if not root:
        return variance
    plain = np.asarray(read_value(variance, "std (zero-variance mask)"))
    positive = plain > 0
    return np.where(positive, np.sqrt(np.where(positive, variance, 1)), np.sqrt(np.maximum(plain, 0)))


# --- NumPy's signatures ----------------------------------------------------------------------
@implements(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    reject_out(out, "prod")
    return _product(a, axis, dtype, keepdims, initial, _reject_where(where), False, "prod")


@implements(np.amax)
@implements(np.max)
def amax(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    reject_out(out, "max")
    return _extreme(max_, np.maximum, -np.inf, a, axis, keepdims, initial, _reject_where(where), False, "max")


@implements(np.amin)
@implements(np.min)
def amin(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    reject_out(out, "min")
    return _extreme(min_, np.minimum, np.inf, a, axis, keepdims, initial, _reject_where(where), False, "min")


@implements(np.ptp)
def ptp(a, axis=None, out=None, keepdims=False):
    reject_out(out, "ptp")
    return amax(a, axis, keepdims=keepdims) - amin(a, axis, keepdims=keepdims)


def _ddof(ddof, correction, out, name):
    reject_out(out, name)
    if correction is not None:
        if ddof != 0:
            raise ValueError(f"np.{name}: ddof and correction can't be provided simultaneously.")
        return correction
    return ddof


def _variance_adapter(prim, name, nan_aware: bool, root: bool):
    """NumPy's signature for var/std/nanvar/nanstd, down to the primitive's static arguments."""
    def adapter(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None,
                correction=None):
        ddof = _ddof(ddof, correction, out, name)
        where = _reject_where(where)
        if mean is not None:
            if where is not None or nan_aware:
                raise unsupported_option(f"np.{name} with mean={' and where=' if where is not None else ''} is not "
                                         "supported on traced values")
            return _moment_about(a, mean, _normalize_axis(axis), dtype, ddof, bool(keepdims), root)
        if where is not None:
            mask = _selection(a, where, nan_aware, f"np.{name}")
            return _masked_moment(a, axis, dtype, ddof, bool(keepdims), mask, root)
        return prim(a, axis=_normalize_axis(axis), keepdims=bool(keepdims), ddof=ddof, dtype=dtype)
    adapter.__name__ = name
    return adapter


def _moment_about(a, mean, axis, dtype, ddof, keepdims, root):
    """var/std about a given mean (NumPy's ``mean=``, shaped as with keepdims): the mean is an
    operand like ``a``, differentiated too, as in NumPy's sum((a - mean)^2) / (n - ddof)."""
    centered = a - mean
    total = np.sum(centered * centered, axis=axis, dtype=dtype, keepdims=keepdims)
    with np.errstate(divide="ignore", invalid="ignore"):  # n <= ddof: inf or NaN, as NumPy's
        variance = total / max(_count(np.shape(a), axis) - ddof, 0)
    return np.sqrt(variance) if root else variance


for _function, _prim, _nan_aware, _root in ((np.var, var_, False, False), (np.std, std_, False, True),
                                            (np.nanvar, nanvar_, True, False), (np.nanstd, nanstd_, True, True)):
    implements(_function)(_variance_adapter(_prim, _function.__name__, _nan_aware, _root))


# NaN-aware forms: NaN entries take no part, so their gradient is 0.
def _nan_replaced(a, value):
    return _filled(a, _selection(a, None, True, "NaN mask"), value)


@implements(np.nansum)
def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    reject_out(out, "nansum")
    mask = _selection(a, _reject_where(where), True, "np.nansum")
    return sum(_filled(a, mask, 0), axis=axis, dtype=dtype, keepdims=keepdims, initial=initial)


@implements(np.nanprod)
def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    reject_out(out, "nanprod")
    return _product(a, axis, dtype, keepdims, initial, _reject_where(where), True, "nanprod")


@implements(np.nanmean)
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    reject_out(out, "nanmean")
    where = _reject_where(where)
    if where is not None:
        mask = _selection(a, where, True, "np.nanmean")
        return mean(_filled(a, mask, 0), axis=axis, dtype=dtype, keepdims=keepdims, where=mask)
    return nanmean_(a, axis=_normalize_axis(axis), keepdims=bool(keepdims), dtype=dtype)


def _nan_extreme_adapter(prim, reduction, pick, neutral, name):
    """NumPy's signature for nanmax/nanmin: the NaN-aware primitive, or with initial=/where=
    the plain extreme over the entries neither NaN nor masked out."""
    def adapter(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        reject_out(out, name)
        where = _reject_where(where)
        if initial is None and where is None:
            return prim(a, axis=_normalize_axis(axis), keepdims=bool(keepdims))
        return _extreme(reduction, pick, neutral, a, axis, keepdims, initial, where, True, name)
    adapter.__name__ = name
    return adapter


implements(np.nanmax)(_nan_extreme_adapter(nanmax_, max_, np.maximum, -np.inf, "nanmax"))
implements(np.nanmin)(_nan_extreme_adapter(nanmin_, min_, np.minimum, np.inf, "nanmin"))


@implements(np.nancumsum)
def nancumsum(a, axis=None, dtype=None, out=None):
    reject_out(out, "nancumsum")
    return cumsum(_nan_replaced(a, 0.0), axis=axis, dtype=dtype)


@implements(np.nancumprod)
def nancumprod(a, axis=None, dtype=None, out=None):
    reject_out(out, "nancumprod")
    return cumprod(_nan_replaced(a, 1.0), axis=axis, dtype=dtype)
