"""Order statistics and covariances, composed from the sort, indexing and product rules.

``quantile``/``percentile`` (and their ``nan`` versions) support every ``method`` of NumPy and
differentiate through the two order statistics each quantile interpolates between (the
derivative of a sort is a permutation): where a quantile sits among n sorted values is the
quantile of 0, 1, ..., n - 1 by the same method, so NumPy itself says it; a NaN in a slice
gives NaN, as in NumPy, and the slice's NaNs share the gradient, as in ``np.max``.
``cov``/``corrcoef`` follow NumPy's definitions (float64 results, ``ddof``/``bias``,
``rowvar``, frequency and analytic weights).
"""
from __future__ import annotations

import warnings

import numpy as np

from .table import holds_traced, implements, numpy_scalar, plain_argument
from ..core.region import read_value
from ..core.errors import unsupported_option


def _positions(n, q, method):
    """Where each quantile in ``q`` sits among n sorted values under NumPy's ``method``: a whole
    index for the methods that pick one value, halfway for ``midpoint``, in between otherwise."""
    if method == "linear":
        return q * (n - 1)
    return np.quantile(np.arange(n, dtype=np.float64), q, method=method)


def _quantile(a, q, axis, keepdims, function, dtype, method="linear"):
    if axis is None:
        values, axis_of_values = np.ravel(a), 0
    else:
        if not isinstance(axis, (int, np.integer)):
            raise unsupported_option(f"{function} on traced values takes one axis (or None), not {axis!r}")
        values, axis_of_values = a, int(axis) % max(np.ndim(a), 1)
    n = np.shape(values)[axis_of_values]
    ordered = np.sort(values, axis=axis_of_values)
    position = _positions(n, q, method)
    below_index = np.floor(position).astype(np.intp)
    above_index = np.minimum(below_index + 1, n - 1)
    fraction = position - below_index
    q_axes = range(axis_of_values, axis_of_values + q.ndim)
    below = np.moveaxis(np.take(ordered, below_index, axis=axis_of_values), q_axes, range(q.ndim))
    above = np.moveaxis(np.take(ordered, above_index, axis=axis_of_values), q_axes, range(q.ndim))
    fraction = np.reshape(fraction, q.shape + (1,) * (np.ndim(below) - q.ndim)).astype(dtype)
    below, above = _in_dtype(below, dtype), _in_dtype(above, dtype)
    result = _lerp(below, above, fraction)
    is_nan = np.isnan(read_value(values, function))
    has_nan = is_nan.any(axis=axis_of_values)
    if np.any(has_nan):  # NaN, as in NumPy: the mean of the slice's NaNs, which share the gradient (as in np.max)
        count = np.maximum(np.count_nonzero(is_nan, axis=axis_of_values), 1)
        nan = np.sum(np.where(is_nan, values, 0), axis=axis_of_values) / count.astype(dtype)
        result = np.where(has_nan, _in_dtype(nan, dtype), result)
    return (_kept_dims(result, a, q, axis) if keepdims else result).astype(dtype)


def _in_dtype(values, dtype):
    """NumPy interpolates in its result dtype (float64 for float32 data and an array of q)."""
    return values if values.dtype == dtype else values.astype(dtype)


def _lerp(below, above, fraction):
    """NumPy's linear interpolation: from the nearer end, so that fraction 1 gives ``above`` exactly."""
    difference = above - below
    return np.where(fraction >= 0.5, above - difference * (1 - fraction), below + difference * fraction)


def _kept_dims(result, a, q, axis):
    """``keepdims=True``: the reduced axis (every axis for None) kept with length 1, after q's axes."""
    kept = [1] * np.ndim(a) if axis is None else list(np.shape(a))
    if axis is not None:
        kept[int(axis) % np.ndim(a)] = 1
    return np.reshape(result, q.shape + tuple(kept))


def _unsupported_options(function, out, overwrite_input, method, weights, interpolation):
    if out is not None or interpolation is not None:
        raise unsupported_option(f"{function} on traced values supports method= and weights= without out= "
                                 "or interpolation= (the old name of method=)")


def _weighted(numpy_function, a, q, axis, keepdims, method, weights, name):
    """Quantiles with ``weights`` (NumPy takes them with method="inverted_cdf", which picks one
    element of ``a`` per quantile): the element NumPy picks, found on the plain values and
    gathered from ``a``. The weights only choose which element it is: their derivative is 0."""
    plain = read_value(a, name)
    picked = numpy_function(plain, q, axis=axis, method=method, keepdims=True,
                            weights=read_value(weights, name))  # NumPy's checks, and its choice
    q_ndim, ndim = np.ndim(q), np.ndim(plain)
    if axis is None:
        values, plain_values = np.ravel(a), np.ravel(plain)
        picked = np.reshape(picked, np.shape(q) + (1,))
    else:
        if not isinstance(axis, (int, np.integer)):
            raise unsupported_option(f"{name} with weights= on traced values takes one axis (or None), not {axis!r}")
        axis = int(axis) % max(ndim, 1)
        values, plain_values = np.moveaxis(a, axis, -1), np.moveaxis(plain, axis, -1)
        picked = np.moveaxis(picked, q_ndim + axis, -1)
    matches = (plain_values == picked) | (np.isnan(plain_values) & np.isnan(picked))
    index = np.argmax(matches, axis=-1, keepdims=True)  # (at ties among equal values: the first)
    result = np.take_along_axis(np.broadcast_to(values, matches.shape), index, axis=-1)
    result = result if result.dtype == picked.dtype else result.astype(picked.dtype)
    if not keepdims:
        return result[..., 0]
    if axis is None:
        return np.reshape(result, np.shape(q) + (1,) * ndim)
    return np.moveaxis(result, -1, q_ndim + axis)


@implements(np.cov)
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    if np.ndim(m) > 2:
        raise ValueError("m has more than 2 dimensions")
    dtype = np.result_type(getattr(m, "dtype", np.float64), np.float64) if dtype is None else dtype
    variables = np.atleast_2d(m).astype(dtype)
    if not rowvar and np.shape(variables)[0] != 1:
        variables = variables.T
    if y is not None:
        others = np.atleast_2d(y).astype(dtype)
        if not rowvar and np.shape(others)[0] != 1:
            others = others.T
        variables = np.concatenate((variables, others), axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    weights, aweights = _observation_weights(np.shape(variables)[1], fweights, aweights)
    if weights is None:
        centered = variables - np.mean(variables, axis=1, keepdims=True)
        factor = np.shape(variables)[1] - ddof
        return np.squeeze((centered @ centered.T) * np.true_divide(np.dtype(dtype).type(1), factor))
    # NumPy's weighted definition: the weighted mean, and a correction for the weights' spread
    total = np.sum(weights)
    centered = variables - np.sum(variables * weights, axis=1, keepdims=True) / total
    if ddof == 0:
        factor = total
    elif aweights is None:
        factor = total - ddof
    else:
        factor = total - ddof * np.sum(weights * aweights) / total
    return np.squeeze((centered @ (centered * weights).T) * np.true_divide(1, factor))


def _observation_weights(n, fweights, aweights):
    """The product of np.cov's frequency weights (integers, plain) and analytic weights (which may
    be traced), checked as NumPy checks them, and the analytic weights as an array; None for
    the product without either."""
    if fweights is None and aweights is None:
        return None, None
    fweights = None if fweights is None else np.asarray(plain_argument(fweights, "np.cov", "fweights", "m"))
    if aweights is not None and not holds_traced(aweights):
        aweights = np.asarray(aweights, np.float64)
    with warnings.catch_warnings():  # NumPy's checks (integers, 1-D, n of them, not negative) on a stand-in
        warnings.simplefilter("ignore")
        np.cov(np.ones((1, n)), fweights=fweights,
               aweights=None if aweights is None else read_value(aweights, "np.cov"))
    if fweights is None:
        return aweights, aweights
    frequencies = fweights.astype(np.float64)
    return (frequencies if aweights is None else frequencies * aweights), aweights


@implements(np.corrcoef)
def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    c = cov(x, y, rowvar, dtype=dtype)
    if np.ndim(c) == 0:
        return c / c
    deviation = np.sqrt(np.diag(c))
    c = c / deviation[:, None]
    c = c / deviation[None, :]
    return np.clip(c, -1, 1)  # rounding may leave a correlation just outside [-1, 1]


def _nan_quantile(a, q, axis, keepdims, function, dtype, method="linear"):
    """Quantiles of the non-NaN values of each slice: NaNs sort last, so the order statistics
    sit at positions given by each slice's own count; an all-NaN slice gives NaN (as NumPy)."""
    if axis is not None and not isinstance(axis, (int, np.integer)):
        raise unsupported_option(f"{function} on traced values takes one axis (or None), not {axis!r}")
    values = np.ravel(a) if axis is None else np.moveaxis(a, int(axis), -1)
    if np.shape(values)[-1] == 0:  # no values at all: NaN, as NumPy (it also warns)
        return np.nanquantile(np.zeros(np.shape(a), dtype), q, axis=axis, keepdims=keepdims).astype(dtype)
    ordered = np.sort(values, axis=-1)
    valid = np.sum(~np.isnan(read_value(values, function)), axis=-1)  # (...)
    ordered = _in_dtype(ordered, dtype)
    # the counts of values the slices have (an all-NaN slice takes any: its order statistics are NaN)
    counts, slot = np.unique(np.maximum(valid, 1), return_inverse=True)
    slot = np.reshape(slot, np.shape(valid))
    results = []
    for quantile in q.ravel():
        position = np.array([_positions(int(count), quantile, method) for count in counts])[slot]
        below_index = np.floor(position).astype(np.intp)
        above_index = np.minimum(below_index + 1, np.maximum(valid - 1, 0))
        fraction = (position - below_index).astype(dtype)
        below = np.take_along_axis(ordered, below_index[..., None], axis=-1)[..., 0]
        above = np.take_along_axis(ordered, above_index[..., None], axis=-1)[..., 0]
        results.append(_lerp(below, above, fraction))
    result = np.reshape(np.stack(results), q.shape + np.shape(results[0]))
    return (_kept_dims(result, a, q, axis) if keepdims else result).astype(dtype)


def _over_axes(order_statistics, a, q, axis, keepdims, function, dtype, method="linear"):
    """``order_statistics`` over one axis, or over several (a tuple) gathered into one last axis."""
    if axis is None or isinstance(axis, (int, np.integer)):
        return order_statistics(a, q, axis, keepdims, function, dtype, method)
    ndim = np.ndim(a)
    axes = np.lib.array_utils.normalize_axis_tuple(axis, ndim)  # NumPy's errors for repeated or bad axes
    rest = [k for k in range(ndim) if k not in axes]
    gathered = np.transpose(a, rest + list(axes))
    gathered = np.reshape(gathered, np.shape(gathered)[:len(rest)] + (-1,))
    result = order_statistics(gathered, q, -1, False, function, dtype, method)
    if keepdims:
        result = np.reshape(result, q.shape + tuple(1 if k in axes else np.shape(a)[k] for k in range(ndim)))
    return result


def _quantile_function(numpy_function, order_statistics, scale):
    """np.quantile and its kin: the same checks, q divided by ``scale`` (100 for percentiles)."""
    name = f"np.{numpy_function.__name__}"

    def handler(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
                weights=None, interpolation=None):
        _unsupported_options(name, out, overwrite_input, method, weights, interpolation)
        q = plain_argument(q, name, "q", "a")
        if weights is not None:  # (NumPy gives a 0-d array here, not a scalar)
            return _weighted(numpy_function, a, q, axis, keepdims, method, weights, name)
        # NumPy's dtype, and its checks of q and method
        dtype = numpy_function(np.zeros(1, np.result_type(a)), q, method=method).dtype
        q = np.true_divide(np.asarray(q, np.float64), scale)
        return numpy_scalar(_over_axes(order_statistics, a, q, axis, keepdims, name, dtype, method))
    return handler


for _function, _order_statistics, _scale in ((np.quantile, _quantile, 1), (np.percentile, _quantile, 100),
                                            (np.nanquantile, _nan_quantile, 1),
                                            (np.nanpercentile, _nan_quantile, 100)):
    implements(_function)(_quantile_function(_function, _order_statistics, _scale))


@implements(np.nanmedian)
def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    if out is not None:
        raise unsupported_option("np.nanmedian with out= is not supported on traced values")
    dtype = np.nanmedian(np.zeros(1, np.result_type(a))).dtype
    return numpy_scalar(_over_axes(_nan_quantile, a, np.asarray(0.5), axis, keepdims, "np.nanmedian", dtype))
