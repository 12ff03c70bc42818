"""Metadata and integer-valued functions: they accept traced values without differentiating them.

``np.shape``, ``np.zeros_like`` and the like are answered from a traced value's shape and
dtype, without evaluating it; ``np.argsort``, ``np.nonzero``, ``np.histogram``'s counts and
the like return plain arrays computed from the values (they are piecewise constant, so
nothing is lost: their derivative is zero wherever it exists).
"""
from __future__ import annotations

import numpy as np

from .shape import _array_under, _int_tuple, _ndim, _normalize_axis, _shape, _stand_in, astype, broadcast_to
from .utilities import _data_edges, plain_weights, traced_array, weighted_counts
from .table import holds_traced, implements, nondifferentiable
from ..core.arrays import LeveledValue
from ..core.errors import UnsupportedOperationError, error_with_location
from ..core.region import read_value
from ..core.traced import Traced
from ..core.updates import constant_like


# ------------------------------------------------------------------------------------------
# metadata: answered from the traced value's shape and dtype, without evaluating it
@implements(np.shape)
def shape(a):
    return _shape(a)


@implements(np.ndim)
def ndim(a):
    return _ndim(a)


@implements(np.size)
def size(a, axis=None):
    dims = _shape(a)
    if axis is None:
        return int(np.prod(dims, dtype=np.intp))
    return int(np.prod([dims[_normalize_axis(ax, len(dims))] for ax in _int_tuple(axis)], dtype=np.intp))


@implements(np.result_type)
def result_type(*arrays_and_dtypes):
    return np.result_type(*[a.dtype if type(a) is Traced else a for a in arrays_and_dtypes])


def _like(a, dtype, shape):
    return (_shape(a) if shape is None else shape), (a.dtype if dtype is None else dtype)


def _filled_like(a, fill_value, dtype, order, shape):
    """NumPy's ``np.full_like(a, ...)``: in ``a``'s layout for order "K" and "A" (an F-ordered
    ``a`` gives an F-ordered array), which decides whether a later ravel or reshape is a view."""
    value = _array_under(a)
    if value is not None:  # (not a lazy value: its layout is not known yet)
        return np.full_like(value, fill_value, dtype=a.dtype if dtype is None else dtype, order=order, shape=shape)
    shape, dtype = _like(a, dtype, shape)
    return np.full(shape, fill_value, dtype=dtype, order="F" if order == "F" else "C")


# A float array made like a traced value is a traced constant (no derivative), so that it can
# receive traced values, as NumPy's arrays do: y = np.zeros_like(x); y[0] = x[1] ** 2.
@implements(np.zeros_like)
def zeros_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return constant_like(a, _filled_like(a, 0, dtype, order, shape))


@implements(np.ones_like)
def ones_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return constant_like(a, _filled_like(a, 1, dtype, order, shape))


@implements(np.empty_like)
def empty_like(prototype, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return constant_like(prototype, _filled_like(prototype, 0, dtype, order, shape))  # zeros: no garbage in a trace


@implements(np.full_like)
def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    if isinstance(fill_value, (Traced, LeveledValue)):  # the fill value's derivative flows to every element
        shape, dtype = _like(a, dtype, shape)
        return astype(broadcast_to(fill_value, shape=_int_tuple(shape)), dtype)
    return constant_like(a, _filled_like(a, fill_value, dtype, order, shape))


@implements(np.tril_indices_from)
def tril_indices_from(arr, k=0):
    return np.tril_indices_from(_stand_in(arr), k)


@implements(np.triu_indices_from)
def triu_indices_from(arr, k=0):
    return np.triu_indices_from(_stand_in(arr), k)


@implements(np.diag_indices_from)
def diag_indices_from(arr):
    return np.diag_indices_from(_stand_in(arr))


@implements(np.einsum_path)
def einsum_path(*operands, optimize="greedy", einsum_call=False):
    """The contraction order, planned from the operands' shapes (it reads no values)."""
    return np.einsum_path(*[_stand_in(a) if isinstance(a, (Traced, LeveledValue)) else a for a in operands],
                          optimize=optimize, einsum_call=einsum_call)


@implements(np.histogram)
def histogram(a, bins=10, range=None, density=None, weights=None):
    """The counts are piecewise constant in the data, the bins and the range, so their derivative
    is zero wherever it exists (JAX's jnp.histogram differentiates the edges only, too); they are
    plain, or traced in traced ``weights`` (the sum of the weights per bin). The edges are traced
    where they move: a traced ``bins`` array is NumPy's edges itself; the edges NumPy spaces evenly
    move with a traced ``range``'s bounds, or without a range, with the data's extremes. A density
    divides by the total and by the bin widths, as NumPy does."""
    if holds_traced(bins) and not isinstance(bins, (Traced, LeveledValue)):
        raise error_with_location(
            UnsupportedOperationError,
            "np.histogram{where} with bins in a list holding traced values has no rule; np.stack(bins) makes "
            "one array of the list.", skip=1)
    plain_range = range if range is None else [read_value(bound, "np.histogram") for bound in range]
    plain_a = read_value(a, "np.histogram")
    counts, edges = np.histogram(plain_a, read_value(bins, "np.histogram"), plain_range, None, plain_weights(weights))
    if holds_traced(weights):
        counts = weighted_counts([np.ravel(plain_a)], [edges], weights, traced_array(weights).dtype)
    if isinstance(bins, (Traced, LeveledValue)):
        edges = bins  # NumPy's edges are np.asarray(bins)
    elif np.ndim(bins) == 0 and holds_traced(range):
        low, high = range
        if plain_range[0] == plain_range[1]:  # NumPy widens an empty range by 0.5 on each side
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, len(edges), dtype=edges.dtype)
    elif range is None and np.ndim(bins) == 0 and isinstance(a, (Traced, LeveledValue)) and np.size(a) > 0:
        edges = _data_edges(a, edges)
    if density:
        counts = counts / np.diff(edges).astype(float) / counts.sum()
    return counts, edges


# integer- or boolean-valued: plain results computed from the values (np.argmax, np.argmin,
# np.any, np.all and np.count_nonzero are registered with the reductions). Those whose result's
# shape follows from the arguments' shapes are recomputed on each prepared replay.
for _function in (np.argsort, np.argpartition, np.searchsorted, np.isin, np.digitize):
    nondifferentiable(_function, static_shape=True)
for _function in (np.argwhere, np.nonzero, np.flatnonzero, np.lexsort, np.array_equiv):
    nondifferentiable(_function)
