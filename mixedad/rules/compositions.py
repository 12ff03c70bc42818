"""NumPy functions that are compositions of other rules: written with NumPy on traced values,
so their derivatives (every mode) come from the rules they are built from."""
from __future__ import annotations

import math
import operator
import warnings

import numpy as np

from .reductions import in_dtype
from .shape import _as_member
from .table import elementwise, holds_numpy_scalar, holds_traced, implements, numpy_scalar, plain_argument
from ..core.arrays import LeveledValue
from ..core.region import lists_as_arrays, read_value
from ..core.traced import Traced
from ..core.errors import unsupported_option


@implements(np.kron)
def kron(a, b):
    a_shape, b_shape = np.shape(a), np.shape(b)
    ndim = max(len(a_shape), len(b_shape))
    a_shape = (1,) * (ndim - len(a_shape)) + tuple(a_shape)
    b_shape = (1,) * (ndim - len(b_shape)) + tuple(b_shape)
    a = np.reshape(a, tuple(n for m in a_shape for n in (m, 1)))  # interleave: a_i0, 1, a_i1, 1, ...
    b = np.reshape(b, tuple(n for m in b_shape for n in (1, m)))
    return np.reshape(a * b, tuple(m * n for m, n in zip(a_shape, b_shape)))


@implements(np.diff)
def diff(a, n=1, axis=-1, prepend=None, append=None):
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n!r}")  # NumPy's message
    if prepend is not None or append is not None:
        parts = ([_edge(prepend, a, axis)] if prepend is not None else []) + [a] + \
            ([_edge(append, a, axis)] if append is not None else [])
        a = np.concatenate(parts, axis=axis)
    for _ in range(n):
        ndim = np.ndim(a)
        upper = [slice(None)] * ndim
        lower = [slice(None)] * ndim
        upper[axis], lower[axis] = slice(1, None), slice(None, -1)
        a = a[tuple(upper)] - a[tuple(lower)]
    return a


def _edge(values, a, axis):
    """What np.diff puts before or after ``a``: a scalar as one slice along ``axis``; an array as it is."""
    if np.ndim(values) != 0:
        return values
    shape = list(np.shape(a))
    shape[axis] = 1
    return np.broadcast_to(values, tuple(shape))


def _cross_takes_2_vectors() -> bool:
    """NumPy 2.0-2.4 deprecate 2-vectors in np.cross; NumPy 2.5 refuses them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            np.cross(np.ones(2), np.ones(2))
        except ValueError:
            return False
    return True


_CROSS_TAKES_2_VECTORS = _cross_takes_2_vectors()


@implements(np.cross)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = np.moveaxis(a, axisa, -1), np.moveaxis(b, axisb, -1)
    if np.shape(a)[-1] not in (2, 3) or np.shape(b)[-1] not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n(dimension must be 2 or 3)")
    if not _CROSS_TAKES_2_VECTORS and 2 in (np.shape(a)[-1], np.shape(b)[-1]):
        raise ValueError("Both input arrays must be (arrays of) 3-dimensional vectors, but they are "
                         f"{np.shape(a)[-1]} and {np.shape(b)[-1]} dimensional instead.")
    if np.shape(a)[-1] == np.shape(b)[-1] == 2:  # the z component alone, as NumPy (which deprecates it)
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    a2 = a[..., 2] if np.shape(a)[-1] == 3 else 0.0  # a 2-vector lies in the xy plane
    b2 = b[..., 2] if np.shape(b)[-1] == 3 else 0.0
    result = np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return np.moveaxis(result, -1, axisc)


# sinc' = (y cos y - sin y) / (y x), y = pi x, cancels near 0: for |x| < 0.1 the Taylor series
# pi y sum_k (-1)^k 2k y^(2k-2) / (2k+1)! (to 1e-21) replaces it. The partial is differentiated
# for higher derivatives, so each branch's input is guarded (no inf or NaN in the branch not taken).
SINC_SERIES = tuple((-1) ** k * 2 * k / math.factorial(2 * k + 1) for k in range(1, 8))


def _sinc_partial(x):
    small = np.abs(x) < 0.1
    y = math.pi * np.where(small, x, 0.0)
    z = y * y
    series = SINC_SERIES[-1]
    for c in SINC_SERIES[-2::-1]:
        series = series * z + c
    far = np.where(small, 1.0, x)
    y_far = math.pi * far
    return np.where(small, math.pi * y * series, (y_far * np.cos(y_far) - np.sin(y_far)) / (y_far * far))


sinc = elementwise(np.sinc, _sinc_partial)  # the value is NumPy's own np.sinc


if hasattr(np, "trapezoid"):
    @implements(np.trapezoid)
    def trapezoid(y, x=None, dx=1.0, axis=-1):
        y, x = lists_as_arrays((y, x))
        ndim = np.ndim(y)
        upper = [slice(None)] * ndim
        lower = [slice(None)] * ndim
        upper[axis], lower[axis] = slice(1, None), slice(None, -1)
        upper, lower = tuple(upper), tuple(lower)
        if x is None:
            widths = dx
        else:
            widths = np.diff(x, axis=axis if np.ndim(x) == ndim else -1)
            if np.ndim(x) == 1 and ndim > 1:
                shape = [1] * ndim
                shape[axis] = -1
                widths = np.reshape(widths, shape)
        return np.sum(widths * (y[upper] + y[lower]) / 2.0, axis=axis)


# --- real-valued views of complex functions: inputs are real -------------------------------
@implements(np.real)
def real(val):
    return val


@implements(np.real_if_close)
def real_if_close(a, tol=100):
    # a real input is returned as it is, but a NumPy scalar as a new 0-d array (np.asanyarray's)
    return np.copy(a) if holds_numpy_scalar(a) else a


@implements(np.imag)
def imag(val):
    return np.zeros(np.shape(val), np.result_type(val))  # a real input has no imaginary part


# --- polynomials, piecewise definitions, interpolation ------------------------------------
@implements(np.polyval)
def polyval(p, x):
    """Horner's scheme, as NumPy evaluates it: on ``np.asarray(p)`` and ``np.asanyarray(x)``,
    whose dtypes set the result's (float64 for float32 coefficients listed next to a Python
    float); a list holding traced values is stacked, which promotes as ``np.asarray`` would."""
    if isinstance(p, (list, tuple)):
        p = _as_member(p) if holds_traced(p) else np.asarray(p)
    if isinstance(x, (list, tuple)):
        x = _as_member(x) if holds_traced(x) else np.asarray(x)
    y = np.zeros_like(x)
    for i in range(np.shape(p)[0]):
        y = y * x + p[i]
    return y


@implements(np.select)
def select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    if len(condlist) == 0:
        raise ValueError("select with an empty condition list is not possible")
    result = default
    for index in range(len(condlist) - 1, -1, -1):  # the first condition that holds wins
        condition = np.asarray(read_value(condlist[index], "np.select"))
        if condition.dtype != bool:
            raise TypeError(f"invalid entry {index} in condlist: should be boolean ndarray")
        result = np.where(condition, choicelist[index], result)
    return result


@implements(np.interp)
def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation; differentiable in ``x`` (the slope of its segment,
    the right one at a knot, 0 outside the range), in ``fp``, ``left`` and ``right``, and in
    the knots ``xp`` (through the ends of the segment each point falls in: an inverse CDF's
    knots, learned breakpoints). With ``period``, NumPy's construction: positions taken modulo
    the period, the knots sorted and wrapped around once at each end (``left`` and ``right``
    are then ignored)."""
    knots = np.asarray(read_value(xp, "np.interp"), np.float64)  # which segment: plain values
    ends = xp.astype(np.float64) if isinstance(xp, (Traced, LeveledValue)) else knots  # a segment's ends
    if knots.ndim != 1 or knots.size == 0:
        raise ValueError("np.interp: xp must be a non-empty 1-D sequence")
    fp = np.asarray(fp, np.float64) if not isinstance(fp, (Traced, LeveledValue)) else fp.astype(np.float64)
    if np.shape(fp) != knots.shape:
        raise ValueError("fp and xp are not of the same length.")
    if period is not None:
        period = plain_argument(period, "np.interp", "period", "x, xp and fp")
        if period == 0:
            raise ValueError("period must be a non-zero value")
        period = abs(period)
        order = np.argsort(knots % period)
        ends, fp = (ends % period)[order], fp[order]
        return interp(np.remainder(x, period), np.concatenate((ends[-1:] - period, ends, ends[:1] + period)),
                      np.concatenate((fp[-1:], fp, fp[:1])))
    where = np.asarray(read_value(x, "np.interp"), np.float64)  # which segment: a plain index
    first, last = fp[0], fp[-1]
    left = first if left is None else left
    right = last if right is None else right
    if knots.size == 1:
        inside = first * np.ones_like(where)
    else:
        segment = np.clip(np.searchsorted(knots, where, side="right") - 1, 0, knots.size - 2)
        x0, x1 = ends[segment], ends[segment + 1]
        inside = (x - x0) * ((fp[segment + 1] - fp[segment]) / (x1 - x0)) + fp[segment]
    return numpy_scalar(np.where(where < knots[0], left, np.where(where > knots[-1], right, inside)))


# --- building arrays --------------------------------------------------------------------
@implements(np.block)
def block(arrays):
    depth = _list_depth(arrays)
    if depth == 0:
        return arrays
    ndim = max(depth, max(np.ndim(leaf) for leaf in _list_leaves(arrays)))

    def build(item, level):
        if isinstance(item, list):
            if not item:
                raise ValueError("np.block: lists cannot be empty")
            return np.concatenate([build(member, level + 1) for member in item], axis=-(depth - level))
        return np.reshape(item, (1,) * (ndim - np.ndim(item)) + np.shape(item))
    return build(arrays, 0)


def _list_depth(item) -> int:
    if isinstance(item, tuple):
        raise TypeError("np.block: arrays is a tuple. Only lists can be used to arrange blocks, "
                        "and np.block does not allow implicit conversion from tuple to ndarray.")
    if not isinstance(item, list):
        return 0
    depths = {_list_depth(member) for member in item} or {0}
    if len(depths) > 1:
        raise ValueError("np.block: list depths are mismatched")
    return 1 + depths.pop()


def _list_leaves(item):
    if isinstance(item, list):
        for member in item:
            yield from _list_leaves(member)
    else:
        yield item


@implements(np.linspace)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    if device not in (None, "cpu"):
        raise ValueError(f"Device not understood. Only \"cpu\" is allowed, but received: {device}")
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    start, stop = lists_as_arrays((start, stop))
    divisions = num - 1 if endpoint else num
    delta = stop - start
    shape = np.shape(delta)
    sample_dtype = np.result_type(*[getattr(v, "dtype", v) for v in (start, stop)], float(num))
    steps = np.arange(num, dtype=sample_dtype).reshape((-1,) + (1,) * len(shape))
    step = delta / divisions if divisions > 0 else np.nan
    y = steps * step + start if divisions > 0 else steps * delta + start
    if endpoint and num > 1:  # the last sample is stop exactly
        last = np.broadcast_to(in_dtype(stop, sample_dtype), np.shape(y)[1:])  # a Python float stays weak
        y = np.concatenate([y[:-1], np.reshape(last, (1,) + np.shape(last))], axis=0)
    if axis != 0:
        y = np.moveaxis(y, 0, axis)
    if dtype is not None:
        if np.issubdtype(dtype, np.integer):
            y = np.floor(y)
        y = y.astype(dtype)
    return (y, step) if retstep else y


@implements(np.meshgrid)
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    ndim = len(xi)
    ones = (1,) * ndim
    grids = [np.reshape(x, ones[:i] + (-1,) + ones[i + 1:]) for i, x in enumerate(xi)]
    if indexing == "xy" and ndim > 1:
        grids[0] = np.reshape(grids[0], (1, -1) + ones[2:])
        grids[1] = np.reshape(grids[1], (-1, 1) + ones[2:])
    if not sparse:
        grids = list(np.broadcast_arrays(*grids))
    if copy:  # NumPy's default: arrays of their own, which the caller may update in place
        grids = [np.copy(grid) for grid in grids]
    return tuple(grids)


@implements(np.piecewise)
def piecewise(x, condlist, funclist, *args, **kw):
    """Each function sees only the elements its condition selects (as in NumPy); its results
    are gathered back into place, and ``np.where`` keeps the other pieces' derivatives out."""
    if np.isscalar(condlist) or not isinstance(condlist[0], (list, np.ndarray)) and np.ndim(x) != 0:
        condlist = [condlist]  # NumPy's rule: one condition, not a list of them
    conditions = [np.asarray(read_value(c, "np.piecewise"), dtype=bool) for c in condlist]
    if len(conditions) == len(funclist) - 1:  # the last function covers what no condition does
        conditions.append(~np.any(conditions, axis=0))
    elif len(conditions) != len(funclist):
        raise ValueError(f"with {len(conditions)} condition(s), either {len(conditions)} or "
                         f"{len(conditions) + 1} functions are expected")
    result = np.zeros(np.shape(x), np.result_type(x))
    for condition, function in zip(conditions, funclist):
        if not callable(function):
            result = np.where(condition, function, result)
            continue
        if not condition.any():
            continue
        values = function(x[condition], *args, **kw)
        if np.ndim(values) != 0:  # element k of values belongs to the k-th selected position
            values = values[np.maximum(np.cumsum(condition.ravel()) - 1, 0).reshape(condition.shape)]
        result = np.where(condition, values, result)
    return result if np.result_type(result) == np.result_type(x) else result.astype(np.result_type(x))


@implements(np.modf)
def modf(x, *args, **kwargs):
    if args or kwargs:
        raise unsupported_option("np.modf with out= or other options is not supported on traced values")
    integral = np.trunc(read_value(x, "np.modf"))
    fractional = np.where(np.isinf(integral), np.copysign(0.0, integral).astype(integral.dtype), x - integral)
    return fractional, integral


@implements(np.divmod)
def divmod_(x1, x2, *args, **kwargs):
    if args or kwargs:
        raise unsupported_option("np.divmod with out= or other options is not supported on traced values")
    return np.floor_divide(x1, x2), np.mod(x1, x2)


# --- differences, spacing, and other NumPy utilities ----------------------------------------
@implements(np.ediff1d)
def ediff1d(ary, to_end=None, to_begin=None):
    dtype = np.result_type(ary)
    parts = [np.diff(np.ravel(ary))]
    if to_begin is not None:
        parts.insert(0, np.ravel(to_begin).astype(dtype))
    if to_end is not None:
        parts.append(np.ravel(to_end).astype(dtype))
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


@implements(np.diagflat)
def diagflat(v, k=0):
    return np.diag(np.ravel(v), k)


@implements(np.logspace)
def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    exponents = np.linspace(start, stop, num=num, endpoint=endpoint, axis=axis)
    if np.ndim(base) > 0:
        base = np.expand_dims(base, axis)
    result = np.power(base, exponents)
    return result if dtype is None else result.astype(dtype)


@implements(np.gradient)
def gradient(f, *varargs, axis=None, edge_order=1):
    """NumPy's second-order central differences (first or second order at the edges), for
    uniform spacings and coordinate arrays alike; linear in ``f``."""
    ndim = np.ndim(f)
    axes = tuple(range(ndim)) if axis is None else tuple(int(a) % ndim for a in np.atleast_1d(axis))
    if edge_order not in (1, 2):
        raise ValueError("'edge_order' greater than 2 not supported")
    spacings = [plain_argument(s, "np.gradient", "a spacing", "f") for s in varargs]
    if not spacings:
        spacings = [1.0] * len(axes)
    elif len(spacings) == 1 and np.ndim(spacings[0]) == 0:
        spacings = spacings * len(axes)
    elif len(spacings) != len(axes):
        raise TypeError("invalid number of arguments")
    results = tuple(_gradient_along(f, a, spacing, edge_order) for a, spacing in zip(axes, spacings))
    return results[0] if len(results) == 1 else results


def _gradient_along(f, axis, spacing, edge_order):
    n = np.shape(f)[axis]
    if n < edge_order + 1:
        raise ValueError("Shape of array too small to calculate a numerical gradient, "
                         "at least (edge_order + 1) elements are required.")
    dtype = np.result_type(f)

    def part(start, stop=None):
        index = [slice(None)] * np.ndim(f)
        index[axis] = slice(start, stop)
        return f[tuple(index)]

    def along(weights):  # weights along the axis, broadcast over the others
        shape = [1] * np.ndim(f)
        shape[axis] = -1
        return np.reshape(np.asarray(weights, dtype), shape)

    if np.ndim(spacing) == 0:
        dx = float(spacing)
        interior = (part(2) - part(None, -2)) / dtype.type(2.0 * dx)
        if edge_order == 1:
            first, last = (part(1, 2) - part(0, 1)) / dtype.type(dx), (part(-1) - part(-2, -1)) / dtype.type(dx)
        else:
            first = (-1.5 * part(0, 1) + 2.0 * part(1, 2) - 0.5 * part(2, 3)) / dtype.type(dx)
            last = (0.5 * part(-3, -2) - 2.0 * part(-2, -1) + 1.5 * part(-1)) / dtype.type(dx)
    else:
        coordinates = np.asarray(spacing, np.float64)
        if coordinates.ndim != 1 or coordinates.size != n:
            raise ValueError("when 1d, distances must match the length of the corresponding dimension")
        dx = np.diff(coordinates)
        dx1, dx2 = dx[:-1], dx[1:]
        interior = (along(-dx2 / (dx1 * (dx1 + dx2))) * part(None, -2) + along((dx2 - dx1) / (dx1 * dx2)) * part(1, -1)
                    + along(dx1 / (dx2 * (dx1 + dx2))) * part(2))
        if edge_order == 1:
            first, last = (part(1, 2) - part(0, 1)) / dtype.type(dx[0]), (part(-1) - part(-2, -1)) / dtype.type(dx[-1])
        else:
            a, b = dx[0], dx[1]
            first = (dtype.type(-(2 * a + b) / (a * (a + b))) * part(0, 1) + dtype.type((a + b) / (a * b)) * part(1, 2)
                     + dtype.type(-a / (b * (a + b))) * part(2, 3))
            a, b = dx[-2], dx[-1]
            last = (dtype.type(b / (a * (a + b))) * part(-3, -2) + dtype.type(-(a + b) / (a * b)) * part(-2, -1)
                    + dtype.type((2 * b + a) / (b * (a + b))) * part(-1))
    return np.concatenate([first, interior, last], axis=axis)


@implements(np.unwrap)
def unwrap(p, discont=None, axis=-1, *, period=2 * np.pi):
    """``p`` plus NumPy's corrections, which are multiples of ``period`` (derivative 0)."""
    value = read_value(p, "np.unwrap")
    corrected = np.unwrap(value, discont=discont, axis=axis, period=period)
    return p + (corrected - value).astype(np.result_type(p))


@implements(np.frexp)
def frexp(x, *args, **kwargs):
    if args or kwargs:
        raise unsupported_option("np.frexp with out= or other options is not supported on traced values")
    _, exponent = np.frexp(read_value(x, "np.frexp"))
    return x * np.ldexp(np.ones((), np.result_type(x)), -exponent), exponent


@implements(np.polyfit)
def polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    """Least squares with NumPy's column scaling; differentiable in ``y`` (and ``w``)."""
    if full or cov:
        raise unsupported_option("np.polyfit with full=True or cov= is not supported on traced values")
    x = np.asarray(plain_argument(x, "np.polyfit", "x", "y and w")) + 0.0  # as NumPy: float32 stays float32
    lhs = np.vander(x, int(deg) + 1)
    rhs = y
    if w is not None:
        w = w if holds_traced(w) else np.asarray(w)
        lhs = lhs * w[:, None]
        rhs = rhs * (w if np.ndim(rhs) == 1 else w[:, None])
    if rcond is None:
        rcond = len(x) * np.finfo(x.dtype).eps
    scale = np.sqrt(np.sum(lhs * lhs, axis=0))
    coefficients = np.linalg.lstsq(lhs / scale, rhs, rcond=rcond)[0]
    return (coefficients.T / scale).T


@implements(np.linalg.cond)
def cond(x, p=None):
    if p is None or p in (2, -2):
        singular_values = np.linalg.svd(x, compute_uv=False)
        ratio = singular_values[..., 0] / singular_values[..., -1]
        return ratio if p != -2 else 1 / ratio
    return np.linalg.norm(x, p, axis=(-2, -1)) * np.linalg.norm(np.linalg.inv(x), p, axis=(-2, -1))


@implements(np.apply_along_axis)
def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """NumPy's loop: ``func1d`` on each 1-D slice along ``axis``, the results stacked in place of it."""
    ndim = np.ndim(arr)
    axis = int(axis) % ndim
    moved = np.moveaxis(arr, axis, -1)
    outer = np.shape(moved)[:-1]
    results = [func1d(moved[index], *args, **kwargs) for index in np.ndindex(*outer)]
    if not results:
        raise ValueError("Cannot apply_along_axis when any iteration dimensions are 0")
    stacked = np.stack(results)
    result_ndim = np.ndim(stacked) - 1
    stacked = np.reshape(stacked, outer + np.shape(stacked)[1:])
    return np.moveaxis(stacked, list(range(len(outer), len(outer) + result_ndim)),
                       list(range(axis, axis + result_ndim)))
