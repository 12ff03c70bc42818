"""NumPy functions that are compositions of other rules: written with NumPy on traced values,
so their derivatives (every mode) come from the rules they are built from."""
from __future__ import annotations

import numpy as np

from .table import implements


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
    if prepend is not None or append is not None:
        parts = ([np.broadcast_to(prepend, _edge_shape(a, axis))] if prepend is not None else []) + [a] + \
            ([np.broadcast_to(append, _edge_shape(a, axis))] if append is not None else [])
        a = np.concatenate(parts, axis=axis)
    for _ in range(n):
        ndim = np.ndim(a)
        upper = [slice(None)] * ndim
        lower = [slice(None)] * ndim
        upper[axis], lower[axis] = slice(1, None), slice(None, -1)
        a = a[tuple(upper)] - a[tuple(lower)]
    return a


def _edge_shape(a, axis):
    shape = list(np.shape(a))
    shape[axis] = 1
    return tuple(shape)


@implements(np.cross)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = np.moveaxis(a, axisa, -1), np.moveaxis(b, axisb, -1)
    if np.shape(a)[-1] != 3 or np.shape(b)[-1] != 3:
        raise NotImplementedError("np.cross on traced values supports 3-vectors only")
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    result = np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return np.moveaxis(result, -1, axisc)


@implements(np.sinc)
def sinc(x):
    # sin(pi x)/(pi x), 1 at 0; np.where keeps the 0/0 branch's tangent out (derivative 0 at 0)
    scaled = np.pi * np.where(x == 0, 1.0, x)
    return np.where(x == 0, 1.0, np.sin(scaled) / scaled)


if hasattr(np, "trapezoid"):
    @implements(np.trapezoid)
    def trapezoid(y, x=None, dx=1.0, axis=-1):
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
