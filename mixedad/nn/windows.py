"""Window geometry and memory layout shared by conv2d (convolution.py) and the pools (pooling.py).

Each reads the (padded) input through strided views, no copy: ``_Geometry.windows``, shape
``(N, C, kh, kw, H_out, W_out)``, and per kernel offset ``(i, j)`` its slice
``(N, C, H_out, W_out)`` (``_Geometry.offset_views``). The reverse rules add back through the
same slices (``_Geometry.scatter``: one strided add per kernel offset), keeping no patch
matrix: tracing a windowed einsum instead would tape the patch matrix and differentiate a
generic einsum.

Layout: conv2d's usual result is an ``(N, O, H, W)`` view of a batch-innermost array, and
the layers after it keep that layout. A rule that meets a cotangent in another layout first
copies it into the values' one (``_in_layout_of``): NumPy's loops over operands of mixed
layouts run many times slower. ``_transposed_copy`` is the transposing copy both use.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..core.arrays import zeros_to_hold


def _pair(value, name) -> tuple[int, int]:
    if not isinstance(value, (int, np.integer, tuple, list)):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
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


def _offset_view(xp, i, j, stride, dilation, out_hw):
    """The (N, C, H_out, W_out) view of ``xp`` that kernel offset (i, j) reads at every output position."""
    (sh, sw), (dh, dw), (ho, wo) = stride, dilation, out_hw
    return xp[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw]


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

    @property
    def offsets(self):
        return [(i, j) for i in range(self.kernel[0]) for j in range(self.kernel[1])]

    def windows(self, x, fill=0):
        """The (N, C, kh, kw, H_out, W_out) view of the padded input (no copy)."""
        (kh, kw), (sh, sw), (dh, dw), (ho, wo) = self.kernel, self.stride, self.dilation, self.out_hw
        view = sliding_window_view(_padded(x, self.padding, fill), (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
        view = view[:, :, : sh * (ho - 1) + 1: sh, : sw * (wo - 1) + 1: sw, ::dh, ::dw]
        return view.transpose(0, 1, 4, 5, 2, 3)

    def offset_views(self, x, fill=0):
        """Per kernel offset (row-major), the (N, C, H_out, W_out) view of the padded input it reads."""
        xp = _padded(x, self.padding, fill)
        return [_offset_view(xp, i, j, self.stride, self.dilation, self.out_hw) for i, j in self.offsets]

    def scatter(self, per_offset, dtype):
        """The transpose of ``offset_views``: add what each offset read back where it read it, then crop."""
        held = next((values for values in per_offset if values is not None), np.zeros((), dtype))
        result = zeros_to_hold(held, self.padded_shape)  # holds values an enclosing gradient traces too
        for (i, j), values in zip(self.offsets, per_offset):
            if values is not None:
                _offset_view(result, i, j, self.stride, self.dilation, self.out_hw)[...] += values
        (ph, pw), (_, _, h, w) = self.padding, self.padded_shape
        return result[:, :, ph: h - ph, pw: w - pw]


def _array_of_numbers(value):
    """Nested lists or tuples (of numbers) as an array, for the entry points whose code reads
    ``.shape`` and ``.size``; anything else as it is: a traced value stays traced (a list
    holding one raises mixedad's error for converting a traced value, as relu's does)."""
    return np.asarray(value) if isinstance(value, (list, tuple)) else value


def _plain(*values) -> bool:
    return all(type(v) is np.ndarray or isinstance(v, np.generic) for v in values)


def _transposed_copy(matrix):
    """A C-ordered copy of ``matrix.T`` (``matrix`` C-ordered). Rows a multiple of 512 bytes
    long (O H W = 1024 float32 values) put the values a transposing copy reads at once into
    the same few cache sets, which makes it about 5x slower; it then goes through a copy with
    rows one cache line longer."""
    rows, columns = matrix.shape
    if rows < 16 or matrix.strides[0] % 512:
        return np.ascontiguousarray(matrix.T)
    padded = np.empty((rows, columns + 64 // matrix.itemsize), matrix.dtype)
    padded[:, :columns] = matrix
    return np.ascontiguousarray(padded[:, :columns].T)


def _in_layout_of(g, like):
    """``g`` in the memory layout of ``like`` (a copy if they differ): NumPy's loops over
    operands of different layouts (C order and batch-innermost) run many times slower."""
    if type(g) is not np.ndarray or g.strides == like.strides or g.shape != like.shape:
        return g
    n = g.shape[0]
    if g.ndim == 4 and g.flags.c_contiguous and like.transpose(1, 2, 3, 0).flags.c_contiguous:
        return _transposed_copy(g.reshape(n, -1)).reshape(like.shape[1:] + (n,)).transpose(3, 0, 1, 2)
    if g.ndim == 4 and g.transpose(1, 2, 3, 0).flags.c_contiguous and like.flags.c_contiguous:
        return _transposed_copy(g.transpose(1, 2, 3, 0).reshape(-1, n)).reshape(like.shape)
    result = np.empty_like(like, dtype=g.dtype)
    result[...] = g
    return result
