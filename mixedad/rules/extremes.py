"""Where a selecting reduction's cotangent goes (max, min, their NaN-aware forms, median).

The cotangent of a slice goes to the elements the reduction chose; k tied elements get 1/k
of it each (autograd's convention: the one choice symmetric in the tied elements that is
still exact when they all move together). Helpers on raw NumPy masks, used by the rules
in ``reductions``; nothing is registered here.
"""
from __future__ import annotations

import math

import numpy as np


def even_share(chosen, axes, dtype):
    """1/k on each of the k chosen elements of a slice (0 where a slice chose nothing), in ``dtype``."""
    count = np.count_nonzero(chosen, axis=axes, keepdims=True)
    return chosen / np.maximum(count, 1).astype(dtype, copy=False)


def one_chosen_per_slice(chosen, axes, every_slice_chose=True) -> bool:
    """Whether each slice along ``axes`` chose exactly one element: then ``even_share`` is the
    mask itself. ``every_slice_chose``: no slice can be empty of chosen elements (max, min),
    so one count over the whole mask tells (10x faster than counting along the axes)."""
    if not every_slice_chose:
        return False
    slices = math.prod(n for i, n in enumerate(chosen.shape) if i not in axes)
    return int(np.count_nonzero(chosen)) == slices


def share_among_chosen(g, chosen, axes, dtype, every_slice_chose=True):
    """The expanded cotangent ``g`` of each slice, split evenly among its ``chosen`` elements."""
    if one_chosen_per_slice(chosen, axes, every_slice_chose):
        return g * chosen  # a single maximum per slice: the whole cotangent goes to it
    return g * even_share(chosen, axes, dtype)
