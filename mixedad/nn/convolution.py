"""Two-dimensional convolution and pooling over NCHW arrays, as primitives with reverse rules.

All three read the input through one strided view, ``windows``, of shape
``(N, C, H_out, W_out, kh, kw)`` (``sliding_window_view``, no copy), then reduce it: a
matrix product with the weights for ``conv2d`` (im2col + BLAS), ``max``/``mean`` for the
pools. Their reverse rules scatter back through the same geometry (``_scatter_windows``:
one strided add per kernel offset). Tracing the windowed einsum instead would tape the
patch matrix and differentiate a generic einsum; the rules here keep nothing but the input.

Conventions: ``padding`` pads with zeros (``-inf`` for ``max_pool2d``); ``avg_pool2d``
divides by the full window size, padding included (PyTorch's ``count_include_pad``); at
ties ``max_pool2d`` sends the cotangent to the first maximum of the window in row-major
order (as PyTorch and JAX do).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..core.primitive import primitive


def _pair(value, name) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _output_size(size, kernel, stride, padding, dilation, name) -> int:
    span = dilation * (kernel - 1) + 1
    if size + 2 * padding < span:
        raise ValueError(f"{name}: the window (extent {span}) is larger than the padded input ({size + 2 * padding})")
    return (size + 2 * padding - span) // stride + 1


def _padded(x, padding, fill=0):
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)


def _windows(xp, kernel, stride, dilation, out_hw):
    """The (N, C, H_out, W_out, kh, kw) view of the padded input ``xp`` (no copy)."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    view = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    return view[:, :, : sh * (ho - 1) + 1: sh, : sw * (wo - 1) + 1: sw, ::dh, ::dw]


def _scatter_windows(per_window, padded_shape, padding, stride, dilation):
    """The transpose of ``_windows``: add each window entry back where it was read, then crop."""
    _, _, ho, wo, kh, kw = per_window.shape
    (sh, sw), (dh, dw), (ph, pw) = stride, dilation, padding
    result = np.zeros(padded_shape, per_window.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)
            result[:, :, rows, cols] += per_window[:, :, :, :, i, j]
    return result[:, :, ph: padded_shape[2] - ph, pw: padded_shape[3] - pw]


class _Geometry:
    """Static arguments of a windowed op, normalised, with the output size for one input shape."""

    def __init__(self, name, x_shape, kernel, stride, padding, dilation=1):
        if len(x_shape) != 4:
            raise ValueError(f"{name} expects an NCHW input of 4 dimensions, got shape {tuple(x_shape)}")
        self.kernel = _pair(kernel, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        self.dilation = _pair(dilation, "dilation")
        if min(self.kernel + self.stride + self.dilation) < 1 or min(self.padding) < 0:
            raise ValueError(f"{name}: kernel, stride and dilation must be positive and padding non-negative")
        self.out_hw = tuple(_output_size(x_shape[2 + a], self.kernel[a], self.stride[a], self.padding[a],
                                         self.dilation[a], name) for a in (0, 1))
        n, c, h, w = x_shape
        self.padded_shape = (n, c, h + 2 * self.padding[0], w + 2 * self.padding[1])

    def windows(self, x, fill=0):
        return _windows(_padded(x, self.padding, fill), self.kernel, self.stride, self.dilation, self.out_hw)

    def scatter(self, per_window):
        return _scatter_windows(per_window, self.padded_shape, self.padding, self.stride, self.dilation)


# --- conv2d ------------------------------------------------------------------------------
def _conv_geometry(x, weight, stride, padding, dilation, groups):
    n, c = np.shape(x)[:2]
    o, c_group, kh, kw = np.shape(weight)
    if c != c_group * groups or o % groups:
        raise ValueError(f"conv2d: input channels {c} and weight shape {np.shape(weight)} do not fit "
                         f"groups={groups} (need C = weight.shape[1] * groups and O divisible by groups)")
    return _Geometry("conv2d", np.shape(x), (kh, kw), stride, padding, dilation)


def _patch_matrix(x, geometry, groups):
    """im2col: (groups, N * H_out * W_out, C/groups * kh * kw), one row per output position."""
    windows = geometry.windows(x)
    n, c, ho, wo, kh, kw = windows.shape
    grouped = windows.reshape(n, groups, c // groups, ho, wo, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6)
    return grouped.reshape(groups, n * ho * wo, (c // groups) * kh * kw)


def _weight_matrix(weight, groups):
    o = weight.shape[0]
    return weight.reshape(groups, o // groups, -1)  # (groups, O/groups, C/groups * kh * kw)


def _output_matrix(g, groups):
    """A cotangent of the (N, O, H_out, W_out) output as (groups, N * H_out * W_out, O/groups)."""
    n, o, ho, wo = g.shape
    return g.reshape(n, groups, o // groups, ho * wo).transpose(1, 0, 3, 2).reshape(groups, n * ho * wo, o // groups)


@primitive
def conv2d_primitive(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    """The primitive behind :func:`conv2d` (static arguments by keyword only)."""
    geometry = _conv_geometry(x, weight, stride, padding, dilation, groups)
    n, (ho, wo), o = x.shape[0], geometry.out_hw, weight.shape[0]
    out = np.matmul(_patch_matrix(x, geometry, groups), _weight_matrix(weight, groups).transpose(0, 2, 1))
    out = out.reshape(groups, n, ho, wo, o // groups).transpose(1, 0, 4, 2, 3).reshape(n, o, ho, wo)
    if bias is not None:
        out = out + np.reshape(bias, (1, o, 1, 1))
    return out


def _conv2d_vjp_x(g, out, x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    geometry = _conv_geometry(x, weight, stride, padding, dilation, groups)
    n, c = x.shape[:2]
    (ho, wo), (kh, kw) = geometry.out_hw, geometry.kernel
    columns = np.matmul(_output_matrix(g, groups), _weight_matrix(weight, groups))
    per_window = columns.reshape(groups, n, ho, wo, c // groups, kh, kw).transpose(1, 0, 4, 2, 3, 5, 6)
    return geometry.scatter(per_window.reshape(n, c, ho, wo, kh, kw))


def _conv2d_vjp_weight(g, out, x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    geometry = _conv_geometry(x, weight, stride, padding, dilation, groups)
    patches = _patch_matrix(x, geometry, groups)
    grad = np.matmul(_output_matrix(g, groups).transpose(0, 2, 1), patches)  # (groups, O/groups, K)
    return grad.reshape(weight.shape)


def _conv2d_vjp_bias(g, out, x, weight, bias=None, **static):
    return np.sum(g, axis=(0, 2, 3))


conv2d_primitive.defvjp(_conv2d_vjp_x, _conv2d_vjp_weight, _conv2d_vjp_bias)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation (deep learning's "convolution") of an NCHW batch.

    ``x`` is ``(N, C, H, W)``, ``weight`` is ``(O, C / groups, kh, kw)``, ``bias`` is
    ``(O,)`` or None; the result is ``(N, O, H_out, W_out)`` with
    ``H_out = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1``. ``stride``,
    ``padding`` (zeros) and ``dilation`` are ints or (height, width) pairs; with ``groups``
    the channels split into that many independent convolutions. Same conventions as
    ``torch.nn.functional.conv2d``. Differentiable in ``x``, ``weight`` and ``bias``.

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import conv2d
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> w = np.ones((1, 1, 2, 2))
    >>> conv2d(x, w, stride=2)
    array([[[[10., 18.],
             [42., 50.]]]])
    >>> mixedad.gradient(lambda w: np.sum(conv2d(x, w, stride=2)), w)
    array([[[[20., 24.],
             [36., 40.]]]])
    """
    static = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    if bias is None:
        return conv2d_primitive(x, weight, **static)
    return conv2d_primitive(x, weight, bias, **static)


# --- pooling -------------------------------------------------------------------------------
@primitive
def max_pool2d_primitive(x, *, kernel_size, stride=None, padding=0):
    """The primitive behind :func:`max_pool2d` (static arguments by keyword only)."""
    geometry = _Geometry("max_pool2d", x.shape, kernel_size, kernel_size if stride is None else stride, padding)
    return np.max(geometry.windows(x, fill=-np.inf), axis=(4, 5))


@max_pool2d_primitive.defvjp
def _max_pool2d_vjp(g, out, x, *, kernel_size, stride=None, padding=0):
    geometry = _Geometry("max_pool2d", x.shape, kernel_size, kernel_size if stride is None else stride, padding)
    windows = geometry.windows(x, fill=-np.inf)
    n, c, ho, wo, kh, kw = windows.shape
    first = np.argmax(windows.reshape(n, c, ho, wo, kh * kw), axis=-1)
    chosen = np.arange(kh * kw) == first[..., None]
    per_window = np.where(chosen, g[..., None], np.zeros((), g.dtype))
    return geometry.scatter(per_window.reshape(n, c, ho, wo, kh, kw))


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """The maximum over each ``kernel_size`` window of an NCHW batch.

    ``stride`` defaults to ``kernel_size``; ``padding`` pads with ``-inf``. At ties the
    derivative goes to the first maximum of the window (row-major), as in PyTorch.

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import max_pool2d
    >>> x = np.array([[[[1.0, 2.0], [4.0, 3.0]]]])
    >>> max_pool2d(x, 2)
    array([[[[4.]]]])
    >>> mixedad.gradient(lambda x: np.sum(max_pool2d(x, 2)), x)
    array([[[[0., 0.],
             [1., 0.]]]])
    """
    return max_pool2d_primitive(x, kernel_size=kernel_size, stride=stride, padding=padding)


@primitive
def avg_pool2d_primitive(x, *, kernel_size, stride=None, padding=0):
    """The primitive behind :func:`avg_pool2d` (static arguments by keyword only)."""
    geometry = _Geometry("avg_pool2d", x.shape, kernel_size, kernel_size if stride is None else stride, padding)
    return np.mean(geometry.windows(x), axis=(4, 5))


@avg_pool2d_primitive.defvjp
def _avg_pool2d_vjp(g, out, x, *, kernel_size, stride=None, padding=0):
    geometry = _Geometry("avg_pool2d", x.shape, kernel_size, kernel_size if stride is None else stride, padding)
    kh, kw = geometry.kernel
    share = (g / (kh * kw))[..., None, None]
    n, c, ho, wo = g.shape
    return geometry.scatter(np.broadcast_to(share, (n, c, ho, wo, kh, kw)))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """The mean over each ``kernel_size`` window of an NCHW batch.

    ``stride`` defaults to ``kernel_size``; ``padding`` pads with zeros, which count in the
    mean (PyTorch's default ``count_include_pad=True``).

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import avg_pool2d
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> avg_pool2d(x, 2)
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    >>> mixedad.gradient(lambda x: np.sum(avg_pool2d(x, 2)), x)[0, 0, 0]
    array([0.25, 0.25, 0.25, 0.25])
    """
    return avg_pool2d_primitive(x, kernel_size=kernel_size, stride=stride, padding=padding)
