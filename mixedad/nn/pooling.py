"""Two-dimensional pooling over NCHW arrays: max_pool2d and avg_pool2d, as primitives with their rules.

Both read the (padded) input through the per-offset strided views of ``windows.py`` (no copy)
and combine them with ``maximum``/``add``, keeping the input's memory layout (``order="K"``:
a batch-innermost conv2d result stays so). The reverse rules add back through the same views
(``_Geometry.scatter``); windows that tile the input (stride = kernel, no padding, LeNet's
pools) take a faster max-pool rule of their own (``_tiled_max_pool2d_vjp``).

Conventions (PyTorch's): ``padding`` is at most half the kernel and pads with ``-inf`` for
``max_pool2d``, zeros for ``avg_pool2d``, which divides by the full window size, padding
included (``count_include_pad``). ``max_pool2d`` sends a window's cotangent to its first
maximum in row-major order (at ties; a NaN is the maximum of its window), and never into the
padding: a window whose in-bounds values are all ``-inf`` sends it to its first in-bounds element.
"""
from __future__ import annotations

import math

import numpy as np

from ..core.arrays import LeveledValue, apply_linear, finite_array
from ..core.primitive import primitive
from ..core.region import read_value
from .windows import _array_of_numbers, _Geometry, _in_layout_of, _plain


def _pool_geometry(name, x, kernel_size, stride, padding):
    geometry = _Geometry(name, np.shape(x), kernel_size, kernel_size if stride is None else stride, padding)
    if any(p > k // 2 for p, k in zip(geometry.padding, geometry.kernel)):
        # a window could then lie wholly in the padding: an output (-inf, or 0) read from no input
        raise ValueError(f"{name}: padding {geometry.padding} for kernel {geometry.kernel}; pad should be at most "
                         "half of kernel size (padding <= kernel_size // 2 on each axis), as in PyTorch")
    return geometry


@primitive(name="nn.max_pool2d")  # as reports name it: what the user called
def max_pool2d_primitive(x, *, kernel_size, stride=None, padding=0):
    """The primitive behind :func:`max_pool2d` (static arguments by keyword only)."""
    views = _pool_geometry("max_pool2d", x, kernel_size, stride, padding).offset_views(x, fill=-np.inf)
    out = views[0].copy(order="K")  # keeps a batch-innermost input's layout
    for view in views[1:]:
        np.maximum(out, view, out=out)
    return out


max_pool2d_primitive.commutes_with_increasing = True  # max(f(window)) = f(max(window)) for increasing f


@max_pool2d_primitive.defvjp
def _max_pool2d_vjp(g, out, x, *, kernel_size, stride=None, padding=0):
    if not _plain(out, x):  # second order: the choice of maxima depends on the plain values only
        out, x = read_value(out, "max_pool2d's maxima"), read_value(x, "max_pool2d's maxima")
    if isinstance(g, LeveledValue):  # (a value an enclosing gradient traces runs the NumPy code below)
        return apply_linear(lambda part: _max_pool2d_vjp(part, out, x, kernel_size=kernel_size, stride=stride,
                                                         padding=padding), g)
    geometry = _pool_geometry("max_pool2d", x, kernel_size, stride, padding)
    if geometry.stride == geometry.kernel and geometry.padding == (0, 0) and type(g) is np.ndarray:
        return _tiled_max_pool2d_vjp(g, out, x, geometry)
    views = geometry.offset_views(x, fill=-np.inf)
    inside = _inside_views(geometry, x, out)
    g = _in_layout_of(g, out)
    unclaimed = None  # windows whose first maximum is still to be found (None: all of them)
    per_offset = []
    zero = np.zeros((), g.dtype)
    nan_maxima = not _nan_free(out)
    for k, view in enumerate(views):
        first = _is_maximum(view, out, nan_maxima)
        if inside is not None:
            first &= inside[k]
        if unclaimed is None:
            unclaimed = ~first
        else:
            first &= unclaimed
            if k < len(views) - 1:
                unclaimed ^= first  # first is inside unclaimed: this clears it
        per_offset.append(np.where(first, g, zero))
    return geometry.scatter(per_offset, g.dtype)


def _is_maximum(view, out, nan_maxima):  # with NaN in out, a NaN is its window's maximum (as in PyTorch)
    return (view == out) | np.isnan(view) if nan_maxima else view == out


def _inside_views(geometry, x, out):
    """Per kernel offset, where it reads the input rather than the padding; None if no maximum
    can lie in the padding. The -inf padding equals only a window's maximum of -inf: such a
    window's first in-bounds element (all -inf too) takes its derivative, as in PyTorch, not
    the padding (where it would be dropped). With padding at most half the kernel, every
    window holds one."""
    if geometry.padding == (0, 0) or not np.isneginf(out).any():
        return None
    return geometry.offset_views(np.ones(np.shape(x), bool), fill=False)


def _tiled_max_pool2d_vjp(g, out, x, geometry):
    """Windows that tile the input (stride = kernel, no padding) do not overlap: each input
    element gets its window's cotangent or zero. One comparison of the input with the spread
    output, in memory order; if it finds exactly one maximum per window (the usual case: no
    ties, no NaN), that mask is already the first-maximum choice, and one product writes the
    result (10% faster than choosing first maxima on every call, LeNet's pools: 200 us against
    220). Otherwise ``_first_maxima`` chooses them."""
    g = _in_layout_of(g, out)
    (kh, kw), (ho, wo) = geometry.kernel, geometry.out_hw
    # the axes in memory order: H and W are adjacent, the batch before them (C order) or last
    order = (1, 2, 3, 0) if x.strides[0] == x.itemsize and x.shape[0] > 1 else (0, 1, 2, 3)
    h_axis = order.index(2)
    x_mem, out_mem, g_mem = (a.transpose(order) for a in (x, out, g))
    result = np.empty_like(x, g.dtype) if x.shape[2:] == (ho * kh, wo * kw) else np.zeros_like(x, g.dtype)

    def split(a):  # (..., H_out, kh, W_out, kw, ...) view of a's covered part, in memory order
        a = a[(slice(None),) * h_axis + (slice(0, ho * kh), slice(0, wo * kw))]
        return a.reshape(a.shape[:h_axis] + (ho, kh, wo, kw) + a.shape[h_axis + 2:])  # splits only: a view

    def spread(a):  # (..., H_out, 1, W_out, 1, ...): broadcasts against split
        return np.expand_dims(a, (h_axis + 1, h_axis + 3))

    mask, target, g_spread = np.equal(split(x_mem), spread(out_mem)), split(result.transpose(order)), spread(g_mem)
    if not _nan_free(out):  # a NaN is its window's maximum (np.maximum propagates it): marked too
        mask |= np.isnan(split(x_mem))
    if np.count_nonzero(mask) != out.size:  # every window holds a maximum: a larger count is a tie
        mask = _first_maxima(mask, h_axis)
    if g.dtype.kind == "f" and not finite_array(g):  # inf * 0 would put NaN off the maxima: select
        target[...] = 0
        np.copyto(target, np.broadcast_to(g_spread, target.shape), where=mask)
    else:
        np.multiply(g_spread, mask, out=target)
    return result


def _nan_free(a):
    """No NaN in the array ``a``: a sum of squares (one BLAS dot) is NaN only then."""
    if a.dtype.kind != "f":
        return True
    flat = a.ravel(order="K")
    return not math.isnan(np.dot(flat, flat))


def _first_maxima(mask, h_axis):
    """``mask`` (..., H_out, kh, W_out, kw, ...) with only each window's first True (row-major)
    kept, offset by offset on a contiguous (kh, kw, ...) copy: the strided slices of a
    batch-innermost array have short runs (N), which NumPy's loops pay per run."""
    axes = (h_axis + 1, h_axis + 3)
    first = np.ascontiguousarray(np.moveaxis(mask, axes, (0, 1)))
    kh, kw, *window_shape = first.shape
    flat = first.reshape((kh * kw, *window_shape))  # a view: first is C-ordered
    unclaimed = ~flat[0]  # windows whose first maximum is still to be found
    for k in range(1, kh * kw):
        flat[k] &= unclaimed
        if k < kh * kw - 1:
            unclaimed ^= flat[k]  # flat[k] is inside unclaimed: this clears it
    return np.moveaxis(first, (0, 1), axes)


@max_pool2d_primitive.defjvp
def _max_pool2d_jvp(t, out, x, *, kernel_size, stride=None, padding=0):
    """The tangent at each window's first maximum: the same choice as the reverse rule."""
    if not _plain(out, x):  # under an enclosing gradient: the choice of maxima depends on the plain values only
        out, x = read_value(out, "max_pool2d's maxima"), read_value(x, "max_pool2d's maxima")
    geometry = _pool_geometry("max_pool2d", x, kernel_size, stride, padding)
    views = geometry.offset_views(x, fill=-np.inf)
    tangent_views = geometry.offset_views(t, fill=0)
    inside = _inside_views(geometry, x, out)
    result = np.zeros(np.shape(out), np.result_type(t))
    unclaimed = np.ones(np.shape(out), bool)
    nan_maxima = not _nan_free(out)
    for k, (view, tangent_view) in enumerate(zip(views, tangent_views)):
        first = _is_maximum(view, out, nan_maxima) & unclaimed
        if inside is not None:
            first &= inside[k]
        result = np.where(first, tangent_view, result)
        unclaimed &= ~first
    return result


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """The maximum over each ``kernel_size`` window of an NCHW batch.

    ``stride`` defaults to ``kernel_size``; ``padding`` (at most half the kernel, else
    ``ValueError``) pads with ``-inf``. At ties the derivative goes to the first maximum of
    the window (row-major), as in PyTorch; never to the padding (a window of in-bounds values
    all ``-inf`` gives it to its first in-bounds element). ``x`` may be nested lists of numbers.

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import max_pool2d
    >>> x = np.array([[[[1.0, 2.0], [4.0, 3.0]]]])
    >>> max_pool2d(x, 2)
    array([[[[4.]]]])
    >>> mixedad.gradient(lambda x: np.sum(max_pool2d(x, 2)), x)
    array([[[[0., 0.],
             [1., 0.]]]])
    """
    return max_pool2d_primitive(_array_of_numbers(x), kernel_size=kernel_size, stride=stride, padding=padding)


@primitive(name="nn.avg_pool2d")  # as reports name it: what the user called
def avg_pool2d_primitive(x, *, kernel_size, stride=None, padding=0):
    """The primitive behind :func:`avg_pool2d` (static arguments by keyword only)."""
    geometry = _pool_geometry("avg_pool2d", x, kernel_size, stride, padding)
    views = geometry.offset_views(x)
    out = views[0].copy(order="K")
    for view in views[1:]:
        out += view
    return out / len(views)


@avg_pool2d_primitive.defvjp
def _avg_pool2d_vjp(g, out, x, *, kernel_size, stride=None, padding=0):
    geometry = _pool_geometry("avg_pool2d", x, kernel_size, stride, padding)
    share = g / len(geometry.offsets)
    return geometry.scatter([share] * len(geometry.offsets), share.dtype)


avg_pool2d_primitive.deflinear()


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """The mean over each ``kernel_size`` window of an NCHW batch.

    ``stride`` defaults to ``kernel_size``; ``padding`` (at most half the kernel, else
    ``ValueError``) pads with zeros, which count in the mean (PyTorch's default
    ``count_include_pad=True``). ``x`` may be nested lists of numbers.

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import avg_pool2d
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> avg_pool2d(x, 2)
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    >>> mixedad.gradient(lambda x: np.sum(avg_pool2d(x, 2)), x)[0, 0, 0]
    array([0.25, 0.25, 0.25, 0.25])
    """
    return avg_pool2d_primitive(_array_of_numbers(x), kernel_size=kernel_size, stride=stride, padding=padding)
