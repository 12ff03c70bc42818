"""Reductions over axes: sums, means, products, extremes, moments, cumulative and NaN-aware forms.

sum and mean are linear with a reverse rule that needs only their input's shape, so they
consume dual regions (``fuses_regions``). Every other reduction is one tape entry with a
reverse rule. Conventions where the derivative is not unique:

- ties (max, min, nanmax, nanmin, median): the cotangent is split evenly among the tied
  elements, as autograd does, and as the elementwise ``maximum``/``minimum`` split 0.5/0.5;
- std at zero variance: 0 (see ``_std_vjp``);
- NaN-aware functions: 0 at the NaN entries, which do not take part in the result.

Axes may be an int, a tuple, None or negative; ``keepdims`` is honoured everywhere.
``out=`` is rejected. NumPy's signatures with ``where=``/``initial=`` for max, min, prod and
the moments, and the NaN-aware forms, are in ``masked_reductions``.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from .extremes import even_share as _even_share, share_among_chosen
from .running_products import cumprod_grad, cumprod_tangent, reverse_cumsum
from .table import implements, nondifferentiable, reject_out, reverse_rule
from ..core.arrays import LeveledValue, as_array
from ..core.region import read_value
from ..core.tape import multiply_cotangent
from ..core.traced import Traced


def _axes(axis, ndim):
    """The reduced axes, non-negative and sorted. As in NumPy's reductions, a 0-d array takes
    axis 0 or -1 (there is nothing to reduce: no axes); an axis out of range is an AxisError."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    for a in axis:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise np.exceptions.AxisError(a, ndim)
    return tuple(sorted(a % ndim for a in axis)) if ndim else ()


def reduced_shape(shape, axis, keepdims):
    axes = _axes(axis, len(shape))
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def expand_reduced(g, shape, axis, keepdims):
    """Give a reduction's cotangent back its reduced axes (size 1): it then broadcasts."""
    if keepdims or axis is None and (g.ndim if type(g) is np.ndarray else np.ndim(g)) == 0:
        return g
    return np.reshape(g, reduced_shape(shape, axis, True))


def _count(shape, axis):
    count = 1
    for a in _axes(axis, len(shape)):
        count *= shape[a]
    return count


def _reduction_meta(shape, dtype, axis=None, keepdims=False, dtype_out=None, **unused):
    if axis is None and not keepdims:  # a full reduction (the usual loss): a scalar
        return (), dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
    return reduced_shape(shape, axis, keepdims), np.dtype(dtype)


def _sum(x, axis=None, keepdims=False):
    if type(x) is np.ndarray:  # the method skips np.sum's dispatch
        return x.sum(axis=axis, keepdims=keepdims)
    return np.sum(x, axis=axis, keepdims=keepdims)


def _mean(x, axis=None, keepdims=False):
    return np.mean(x, axis=axis, keepdims=keepdims)


sum_ = reverse_rule(_sum, lambda g, out, x, axis=None, keepdims=False:
                    expand_reduced(g, x.shape, axis, keepdims), name="sum", forward="linear")
mean_ = reverse_rule(_mean, lambda g, out, x, axis=None, keepdims=False:
                     expand_reduced(g, np.shape(x), axis, keepdims) / _count(np.shape(x), axis), name="mean",
                     forward="linear")
# np.sum(x, where=mask): NumPy's own masked loop (its rounding differs from a sum of np.where(mask, x, 0))
masked_sum_ = reverse_rule(lambda x, axis=None, keepdims=False, where=True, initial=0:
                           np.sum(x, axis, keepdims=keepdims, where=where, initial=initial),
                           lambda g, out, x, axis=None, keepdims=False, where=True, initial=0:
                           np.where(where, expand_reduced(g, x.shape, axis, keepdims), 0), name="sum")
masked_sum_.defjvp(lambda t, out, x, axis=None, keepdims=False, where=True, initial=0:
                   np.sum(t, axis, keepdims=keepdims, where=where))
masked_sum_.reverse_reads_values = False
for _prim in (sum_, mean_):
    _prim.fuses_regions = True
    _prim.reverse_reads_values = False  # the rules read x's shape: the tape keeps no array alive for them
    _prim.out_meta = _reduction_meta


def _normalize_axis(axis):
    """An int, a tuple of ints or None: NumPy integers become ints, so the rules can test types."""
    if axis is None:
        return None
    try:
        return operator.index(axis)
    except TypeError:
        return tuple(operator.index(a) for a in axis)


@implements(np.sum)
def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    reject_out(out, "sum")
    a = _in_accumulator_dtype(a, dtype)
    mask = _mask(where, "np.sum")
    if mask is None:
        result = sum_(a, axis=_normalize_axis(axis), keepdims=bool(keepdims))
    else:  # the elements left out count as zeros; NumPy's loop starts from a constant initial
        start, initial = (0, initial) if isinstance(initial, (Traced, LeveledValue)) else (initial or 0, None)
        result = masked_sum_(a, axis=_normalize_axis(axis), keepdims=bool(keepdims), where=mask,
                             initial=in_dtype(start, _dtype(a)))
    if initial is not None:
        result = result + in_dtype(initial, _dtype(result))
    return result if dtype is None else result.astype(dtype)


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    reject_out(out, "mean")
    a = _in_accumulator_dtype(a, dtype)
    mask = _mask(where, "np.mean")
    if mask is not None:  # the mean of the selected elements: their sum over their count
        axis = _normalize_axis(axis)
        half = _dtype(a) == np.float16  # NumPy adds float16 up in float32, and rounds the mean back
        total = masked_sum_(a.astype(np.float32) if half else a, axis=axis, keepdims=bool(keepdims), where=mask)
        count = np.sum(np.broadcast_to(mask, np.shape(a)), axis=axis, keepdims=bool(keepdims))
        result = total / np.asarray(count, dtype=total.dtype if total.dtype.kind == "f" else np.float64)
        result = result.astype(np.float16) if half else result
    else:
        result = mean_(a, axis=_normalize_axis(axis), keepdims=bool(keepdims))
    return result if dtype is None else result.astype(dtype)


def _in_accumulator_dtype(a, dtype):
    """NumPy adds up in ``dtype`` (each element cast first): float32 data with dtype=float64
    is summed in float64, and dtype=int truncates each element."""
    if dtype is None or not hasattr(a, "astype"):
        return a
    return a.astype(dtype)


def _mask(where, function):
    """A ``where=`` mask as a plain boolean array, or None for NumPy's default (all)."""
    if where is None or where is True:
        return None
    return np.asarray(read_value(where, function), dtype=bool)



def _reject_where(where):
    """``where=True`` is NumPy's own default: only a real mask is refused."""
    return None if where is True else where


# ------------------------------------------------------------------------------------------
# helpers on raw NumPy values (the rules never see traced values)
def _expanded_out(out, x, axis, keepdims):
    return expand_reduced(out, np.shape(x), axis, keepdims)


def _gather_axes(x, axes):
    """``x`` with the reduced ``axes`` moved last and merged into one; and the permutation used."""
    rest = [i for i in range(x.ndim) if i not in axes]
    permutation = rest + list(axes)
    moved = np.transpose(x, permutation)
    merged = 1
    for a in axes:
        merged *= x.shape[a]
    return moved.reshape(moved.shape[:len(rest)] + (merged,)), permutation


def _scatter_axes(y, shape, permutation):
    """Undo ``_gather_axes``: ``y`` (reduced axes merged last) back in the layout of ``shape``."""
    return y.reshape(tuple(shape[p] for p in permutation)).transpose(np.argsort(permutation))


def _product_of_others(x, axes):
    """For each element, the product of the other elements of its slice, without dividing.

    Exclusive prefix and suffix products along the (merged) reduced axes: exact when the
    slice holds one zero (only that element gets a nonzero value) or several (all zero).
    """
    moved, permutation = _gather_axes(x, axes)
    if moved.shape[-1] == 0:
        return np.zeros_like(x)
    ones = np.ones(moved.shape[:-1] + (1,), moved.dtype)
    before = np.concatenate([ones, np.cumprod(moved[..., :-1], axis=-1)], axis=-1)
    after = np.concatenate([np.cumprod(moved[..., :0:-1], axis=-1)[..., ::-1], ones], axis=-1)
    return _scatter_axes(before * after, x.shape, permutation)


def _without_initial(value, axis):
    return np.delete(value, 0, axis=axis)


def _int_axis(axis, ndim):
    """The axis of ``ufunc.accumulate``: an int or a 1-tuple (NumPy takes ``axis=(0,)``); 0-d counts as 1-d."""
    if isinstance(axis, tuple) and len(axis) == 1:
        axis = axis[0]
    return operator.index(axis) % max(ndim, 1)


# ------------------------------------------------------------------------------------------
# primitives: the NumPy computations the tape records, with static keyword arguments
def _prod(x, axis=None, keepdims=False, dtype=None):
    return np.prod(x, axis=axis, dtype=dtype, keepdims=keepdims)


def _max(x, axis=None, keepdims=False):
    return np.max(x, axis=axis, keepdims=keepdims)


def _min(x, axis=None, keepdims=False):
    return np.min(x, axis=axis, keepdims=keepdims)


def _nanmax(x, axis=None, keepdims=False):
    return np.nanmax(x, axis=axis, keepdims=keepdims)


def _nanmin(x, axis=None, keepdims=False):
    return np.nanmin(x, axis=axis, keepdims=keepdims)


def _median(x, axis=None, keepdims=False):
    return np.median(x, axis=axis, keepdims=keepdims)


def _var(x, axis=None, keepdims=False, ddof=0, dtype=None):
    return np.var(x, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)


def _std(x, axis=None, keepdims=False, ddof=0, dtype=None):
    return np.std(x, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)


def _nanmean(x, axis=None, keepdims=False, dtype=None):
    return np.nanmean(x, axis=axis, dtype=dtype, keepdims=keepdims)


def _nanvar(x, axis=None, keepdims=False, ddof=0, dtype=None):
    return np.nanvar(x, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)


def _nanstd(x, axis=None, keepdims=False, ddof=0, dtype=None):
    return np.nanstd(x, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)


def _cumsum(x, axis=None, dtype=None):
    return np.cumsum(x, axis=axis, dtype=dtype)


def _cumprod(x, axis=None, dtype=None):
    return np.cumprod(x, axis=axis, dtype=dtype)


def _weighted_average(a, weights, axis=None, keepdims=False):
    return np.average(a, axis=axis, weights=weights, keepdims=keepdims)


# ------------------------------------------------------------------------------------------
# reverse rules
def _prod_vjp(g, out, x, axis=None, keepdims=False, dtype=None):
    others = _product_of_others(as_array(x), _axes(axis, np.ndim(x)))
    return expand_reduced(g, np.shape(x), axis, keepdims) * others


def _extreme_vjp(g, out, x, axis=None, keepdims=False):
    # Ties: each of the k tied extremes gets g / k (autograd's convention): the one choice
    # symmetric in the tied elements that is still exact when they all move together.
    out_e = _expanded_out(out, x, axis, keepdims)
    chosen = x == out_e
    if np.isnan(out).any():  # a NaN wins np.max / np.min: the NaN entries are the extreme
        chosen |= np.isnan(x) & np.isnan(out_e)
    g_e = expand_reduced(g, np.shape(x), axis, keepdims)
    return share_among_chosen(g_e, chosen, _axes(axis, np.ndim(x)), x.dtype)  # each slice chose one or more


def _nan_extreme_vjp(g, out, x, axis=None, keepdims=False):
    # NaN never equals the result, so NaN entries get 0; an all-NaN slice gets 0 everywhere.
    chosen = x == _expanded_out(out, x, axis, keepdims)
    g_e = expand_reduced(g, np.shape(x), axis, keepdims)
    return share_among_chosen(g_e, chosen, _axes(axis, np.ndim(x)), x.dtype, every_slice_chose=not np.isnan(out).any())


def _median_vjp(g, out, x, axis=None, keepdims=False):
    # The middle element gets g (odd count); the two middle ones g/2 each (even count);
    # elements tied with a middle value share its part evenly, as max/min ties do.
    x = as_array(x)
    moved, permutation = _gather_axes(x, _axes(axis, x.ndim))
    n = moved.shape[-1]
    if n == 0:
        return None
    lower, upper = (n - 1) // 2, n // 2
    middle = np.partition(read_value(moved, "median"), (lower, upper), axis=-1)  # only compared
    share = 0.5 * _even_share(moved == middle[..., lower:lower + 1], -1, x.dtype) \
        + 0.5 * _even_share(moved == middle[..., upper:upper + 1], -1, x.dtype)
    if np.isnan(read_value(out, "median")).any():  # a slice with a NaN: NaN, its NaNs share g (as in np.max)
        is_nan = np.isnan(read_value(moved, "median"))
        share = np.where(is_nan.any(axis=-1, keepdims=True), _even_share(is_nan, -1, x.dtype), share)
    return expand_reduced(g, x.shape, axis, keepdims) * _scatter_axes(share, x.shape, permutation)


def _degrees_of_freedom(x, axis, ddof):
    return _count(np.shape(x), axis) - ddof


def _var_vjp(g, out, x, axis=None, keepdims=False, ddof=0, dtype=None):
    axes = _axes(axis, np.ndim(x))
    dof = _degrees_of_freedom(x, axis, ddof)
    scale = 2.0 / dof if dof > 0 else math.nan
    centered = x - np.mean(x, axis=axes, dtype=dtype, keepdims=True)
    return centered * (expand_reduced(g, np.shape(x), axis, keepdims) * scale)  # the factor on the reduced shape


def _std_vjp(g, out, x, axis=None, keepdims=False, ddof=0, dtype=None):
    # std = sqrt(var) has an infinite derivative where the variance is 0 (a constant
    # slice), and there var's own derivative, 2 (x - mean) / dof, is exactly 0: the chain
    # rule gives inf * 0 = NaN. std is a norm of (x - mean) there, and 0 belongs to its
    # subdifferential: we return 0 for such slices (the minimal-norm subgradient) instead
    # of a NaN that would poison every gradient the std feeds, even with a zero cotangent.
    axes = _axes(axis, np.ndim(x))
    dof = _degrees_of_freedom(x, axis, ddof)
    scale = 1.0 / dof if dof > 0 else math.nan
    # The per-slice factor g / (dof std) is formed on the reduced shape: one full-size product.
    g_e, out_e = expand_reduced(g, np.shape(x), axis, keepdims), _expanded_out(out, x, axis, keepdims)
    positive = out_e > 0
    factor = g_e * scale / np.where(positive, out_e, 1)
    centered = x - np.mean(x, axis=axes, dtype=dtype, keepdims=True)
    if np.all(positive):
        return centered * factor
    # zero (or NaN) spread: g * 0 there, whatever x holds (a NaN or inf cotangent stays NaN)
    return np.where(positive, centered * factor, g_e * 0)


def _nanmean_vjp(g, out, x, axis=None, keepdims=False, dtype=None):
    share = _even_share(~np.isnan(x), _axes(axis, np.ndim(x)), x.dtype)
    return expand_reduced(g, np.shape(x), axis, keepdims) * share


def _nan_centered(x, axis, ddof, dtype):
    """(x - nanmean) with 0 at NaN entries, and the degrees of freedom per slice.

    A slice without degrees of freedom (all NaN, or no more values than ddof) gets an
    infinite count: its gradient is 0, where NumPy's value is NaN or inf anyway.
    """
    axes = _axes(axis, np.ndim(x))
    valid = ~np.isnan(x)
    dof = np.sum(valid, axis=axes, keepdims=True, dtype=x.dtype) - ddof
    centre = np.sum(np.where(valid, x, 0), axis=axes, keepdims=True, dtype=dtype) / np.maximum(dof + ddof, 1)
    return np.where(valid, x - centre, 0), np.where(dof > 0, dof, np.inf)


def _nanvar_vjp(g, out, x, axis=None, keepdims=False, ddof=0, dtype=None):
    centered, dof = _nan_centered(x, axis, ddof, dtype)
    return expand_reduced(g, np.shape(x), axis, keepdims) * (2 * centered / dof)


def _nanstd_vjp(g, out, x, axis=None, keepdims=False, ddof=0, dtype=None):
    # Zero variance: 0, as for std.
    centered, dof = _nan_centered(x, axis, ddof, dtype)
    out_e = _expanded_out(out, x, axis, keepdims)
    positive = out_e > 0
    grad = np.where(positive, centered / (dof * np.where(positive, out_e, 1)), 0)
    return expand_reduced(g, np.shape(x), axis, keepdims) * grad


def _cumsum_vjp(g, out, x, axis=None, dtype=None):
    if axis is None:
        return np.reshape(reverse_cumsum(g, 0), np.shape(x))
    return reverse_cumsum(g, axis)


def _cumprod_vjp(g, out, x, axis=None, dtype=None):
    if axis is None:
        return np.reshape(cumprod_grad(g, out, np.ravel(x), 0), np.shape(x))
    return cumprod_grad(g, out, x, axis)


def _broadcast_weights(weights, shape, axis):
    """NumPy's layout rule for ``average``: weights of the shape of ``a``, or of the shape
    of ``a`` along ``axis`` (in the order given), made broadcastable to ``a``."""
    if weights.shape == tuple(shape):
        return weights
    order = np.argsort(axis)
    kept = set(axis)
    return weights.transpose(order).reshape(tuple(n if i in kept else 1 for i, n in enumerate(shape)))


def _weighted_average_vjp(g, out, a, weights, axis=None, keepdims=False):
    a, weights = as_array(a), as_array(weights)
    given = _given_axes(axis, a.ndim)
    axes = _axes(axis, a.ndim)
    w = _broadcast_weights(weights, a.shape, given)
    total = np.sum(w, axis=axes, keepdims=True)
    g_e = expand_reduced(g, a.shape, axis, keepdims)
    ct_a = g_e * (w / total)
    ct_w = g_e * (a - _expanded_out(out, a, axis, keepdims)) / total
    if weights.shape != a.shape:
        # Weights given along the reduced axes only: fold the cotangent back into their own
        # layout. This is not NumPy broadcasting (the axes are matched by ``axis``, not from
        # the right), so the engine could not do it.
        rest = tuple(i for i in range(a.ndim) if i not in axes)
        ct_w = np.sum(ct_w, axis=rest).transpose(np.argsort(np.argsort(given)))
    return ct_a, ct_w


def _given_axes(axis, ndim):
    return None if axis is None else tuple(ax % ndim for ax in ((axis,) if isinstance(axis, int) else axis))


# ------------------------------------------------------------------------------------------
# forward rules
def weights_jvp(vjp, default_axis=None):
    """The forward rule of a reduction whose reverse rule is ``expand(g) * W`` (W: the
    derivative of the result with respect to each element): ``sum(t * W)`` over its axes."""
    def jvp(t, out, x, axis=default_axis, keepdims=False, **options):
        weights = vjp(np.ones(np.shape(out), out.dtype), out, x, axis=axis, keepdims=keepdims, **options)
        if weights is None:
            return None
        # a zero weight wins against an inf or NaN tangent (nanmean's skipped entries), as on the tape
        return np.sum(multiply_cotangent(t, weights), axis=axis, keepdims=keepdims)
    return jvp


def _cumprod_jvp(t, out, x, axis=None, dtype=None):
    if axis is None:
        return cumprod_tangent(np.ravel(t), out, np.ravel(x), 0)
    return cumprod_tangent(t, out, x, axis)


def _weighted_average_jvp(tangents, out, a, weights, axis=None, keepdims=False):
    (t_a, t_w), a, weights = tangents, as_array(a), as_array(weights)
    given, axes = _given_axes(axis, a.ndim), _axes(axis, a.ndim)
    w = _broadcast_weights(weights, a.shape, given)
    change = 0 if t_a is None else t_a * w
    if t_w is not None:
        t_w = _broadcast_weights(t_w, a.shape, given)
        with np.errstate(invalid="ignore"):
            spread = t_w * (a - _expanded_out(out, a, axis, keepdims))
        change = change + np.where(t_w == 0, 0, spread)  # a weight that does not move times inf - inf: 0
    return np.sum(change, axis=axes, keepdims=keepdims) / np.sum(w, axis=axes, keepdims=keepdims)


# ------------------------------------------------------------------------------------------
# the table
prod_ = reverse_rule(_prod, _prod_vjp, name="prod", forward=weights_jvp(_prod_vjp))
max_ = reverse_rule(_max, _extreme_vjp, name="max", forward=weights_jvp(_extreme_vjp))
min_ = reverse_rule(_min, _extreme_vjp, name="min", forward=weights_jvp(_extreme_vjp))
nanmax_ = reverse_rule(_nanmax, _nan_extreme_vjp, name="nanmax", forward=weights_jvp(_nan_extreme_vjp))
nanmin_ = reverse_rule(_nanmin, _nan_extreme_vjp, name="nanmin", forward=weights_jvp(_nan_extreme_vjp))
median_ = reverse_rule(_median, _median_vjp, name="median", forward=weights_jvp(_median_vjp))
var_ = reverse_rule(_var, _var_vjp, name="var", forward=weights_jvp(_var_vjp))
std_ = reverse_rule(_std, _std_vjp, name="std", forward=weights_jvp(_std_vjp))
nanmean_ = reverse_rule(_nanmean, _nanmean_vjp, name="nanmean", forward=weights_jvp(_nanmean_vjp))
nanvar_ = reverse_rule(_nanvar, _nanvar_vjp, name="nanvar", forward=weights_jvp(_nanvar_vjp))
nanstd_ = reverse_rule(_nanstd, _nanstd_vjp, name="nanstd", forward=weights_jvp(_nanstd_vjp))
cumsum_ = reverse_rule(_cumsum, _cumsum_vjp, name="cumsum", forward="linear")
cumprod_ = reverse_rule(_cumprod, _cumprod_vjp, name="cumprod", forward=_cumprod_jvp)
weighted_average_ = reverse_rule(_weighted_average, _weighted_average_vjp, name="average",
                                 forward=_weighted_average_jvp)

for _function in (np.argmax, np.argmin, np.nanargmax, np.nanargmin, np.count_nonzero, np.any, np.all):
    nondifferentiable(_function, static_shape=True)


# ------------------------------------------------------------------------------------------
# NumPy signatures: argument checks, then the primitives (or compositions of them)
@implements(np.median)
def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    reject_out(out, "median")
    return median_(a, axis=_normalize_axis(axis), keepdims=bool(keepdims))


@implements(np.cumsum)
def cumsum(a, axis=None, dtype=None, out=None):
    reject_out(out, "cumsum")
    return cumsum_(a, axis=_normalize_axis(axis), dtype=dtype)


@implements(np.cumprod)
def cumprod(a, axis=None, dtype=None, out=None):
    reject_out(out, "cumprod")
    return cumprod_(a, axis=_normalize_axis(axis), dtype=dtype)


@implements(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    axis = _normalize_axis(axis)
    keepdims = bool(keepdims)
    if weights is None:
        result = mean(a, axis=axis, keepdims=keepdims)
        if not returned:
            return result
        count = _size(a) / max(_size(result), 1)
        return result, np.full(_shape(result), count, _dtype(result))
    if isinstance(weights, (list, tuple, int, float)) or (type(weights) is np.ndarray and weights.dtype.kind != "f"):
        weights = np.asarray(weights)  # as NumPy computes with them (integer weights promote to float)
        weights = weights.astype(np.result_type(_dtype(a), weights.dtype, np.float16), copy=False)
    result = weighted_average_(a, weights, axis=axis, keepdims=keepdims)
    if not returned:
        return result
    if _shape(weights) == _shape(a):
        total = sum(weights, axis=axis, keepdims=keepdims)
    else:  # weights along the reduced axes: their sum is the same for every output element
        total = sum(weights)
    return result, total + np.zeros(_shape(result), _dtype(total))


# Metadata of traced or plain values (np.shape and friends would dispatch on traced ones).
def _shape(value):
    return value.shape if hasattr(value, "shape") else np.shape(value)


def _size(value):
    return math.prod(_shape(value))


def _dtype(value):
    return value.dtype if hasattr(value, "dtype") else np.result_type(value)


def in_dtype(scalar, dtype):
    """``scalar`` (an ``initial=`` or ``nan=`` value) cast to ``dtype``, as NumPy casts it into the
    reduction or the array: a float64 scalar must not promote a float32 result."""
    if isinstance(scalar, (Traced, LeveledValue)):
        return scalar if scalar.dtype == dtype else scalar.astype(dtype)
    return np.asarray(scalar).astype(dtype)[()]
