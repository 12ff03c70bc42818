"""One-dimensional convolution and correlation: one primitive (the full convolution, with
reverse rules that are correlations) and NumPy's modes as slices of it. And sliding windows
(``sliding_window_view``), with which NumPy users write convolutions of their own."""
from __future__ import annotations

import numpy as np

from ..core.arrays import zeros_to_hold
from .table import implements, reverse_rule


def _convolve_full(a, v):
    return np.convolve(a, v, mode="full")


# out[k] = sum_i a[i] v[k - i]: the cotangent of a is g correlated with v (and the other way round)
convolve_full = reverse_rule(_convolve_full, lambda g, out, a, v: np.correlate(g, v, mode="valid"),
                             lambda g, out, a, v: np.correlate(g, a, mode="valid"),
                             name="convolve", forward="bilinear")


def _operands(a, v):
    a, v = np.atleast_1d(a), np.atleast_1d(v)
    if np.ndim(a) != 1 or np.ndim(v) != 1:
        raise ValueError("object too deep for desired array")
    if np.shape(a)[0] == 0:
        raise ValueError("a cannot be empty")
    if np.shape(v)[0] == 0:
        raise ValueError("v cannot be empty")
    return a, v


def _mode_slice(full, n, m, mode, same_offset):
    """The part of the full result that NumPy's ``mode`` keeps."""
    shorter, longer = min(n, m), max(n, m)
    if mode == "full":
        return full
    if mode == "same":
        return full[same_offset: same_offset + longer]
    if mode == "valid":
        return full[shorter - 1: longer]
    raise ValueError(f"mode must be one of 'valid', 'same', or 'full' (got {mode!r})")


@implements(np.convolve)
def convolve(a, v, mode="full"):
    a, v = _operands(a, v)
    n, m = np.shape(a)[0], np.shape(v)[0]
    return _mode_slice(convolve_full(a, v), n, m, mode, (min(n, m) - 1) // 2)


@implements(np.correlate)
def correlate(a, v, mode="valid"):
    a, v = _operands(a, v)
    n, m = np.shape(a)[0], np.shape(v)[0]
    same_offset = (min(n, m) - 1) // 2 if n >= m else min(n, m) // 2
    return _mode_slice(convolve_full(a, np.flip(v)), n, m, mode, same_offset)


# --- sliding windows (a convolution written as windows and a product) ----------------------
def _window_geometry(shape, window_shape, axis):
    """Per window dimension, the axis of ``x`` it slides along; and ``x``'s shape in the
    result (each such axis shortened by its windows' extents, as NumPy's checks require)."""
    windows = tuple(int(w) for w in (window_shape if np.iterable(window_shape) else (window_shape,)))
    if axis is None:
        axes = tuple(range(len(shape)))
    else:
        axes = tuple(int(a) % len(shape) for a in (axis if np.iterable(axis) else (axis,)))
    outer = list(shape)
    for ax, w in zip(axes, windows):
        outer[ax] -= w - 1
    return windows, axes, tuple(outer)


def _sliding_window_vjp(g, out, x, window_shape, axis=None, **options):
    """Each window position's cotangent added back where that window read ``x``."""
    windows, axes, outer = _window_geometry(np.shape(x), window_shape, axis)
    result = zeros_to_hold(g, np.shape(x))
    lead = (slice(None),) * len(outer)
    for offsets in np.ndindex(*windows):
        start = [0] * len(outer)
        for ax, k in zip(axes, offsets):
            start[ax] += k
        result[tuple(slice(s, s + n) for s, n in zip(start, outer))] += g[lead + offsets]
    return result


sliding_window_view = reverse_rule(np.lib.stride_tricks.sliding_window_view, _sliding_window_vjp,
                                   nondiff_argnums=(1, 2), forward="linear")
sliding_window_view.returns_view = True  # a read-only view in NumPy: assignments into it are refused
sliding_window_view.reverse_reads_values = False
