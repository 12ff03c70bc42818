"""One-dimensional convolution and correlation: one primitive (the full convolution, with
reverse rules that are correlations) and NumPy's modes as slices of it."""
from __future__ import annotations

import numpy as np

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
