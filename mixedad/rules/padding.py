"""``np.pad`` on traced values, in every mode NumPy has except a callable.

``constant`` is a primitive (``shape.pad_``); ``edge``, ``wrap`` and the even reflections
gather: each padded element copies one input element. The other modes are compositions
that pad one axis at a time, as NumPy does (axes already padded take part in the later
ones): ``linear_ramp`` and the statistic modes (``maximum``, ``minimum``, ``mean``,
``median``) join blocks computed from the edge or from a statistic of the values next to
it, and the odd reflections (``reflect_type="odd"``) add chunks ``2 * edge - reflection``
until the pad is filled, chunk by chunk as NumPy does when the pad is wider than the data.
"""
from __future__ import annotations

import numpy as np

from .assignment import _stacked
from .shape import _flat, _reject_traced, _shape, copy_, getitem_, pad_
from .table import holds_traced, implements
from ..core.arrays import LeveledValue
from ..core.errors import unsupported_option
from ..core.traced import Traced

_GATHER_MODES = ("edge", "reflect", "symmetric", "wrap")
_STATISTICS = {"maximum": np.max, "minimum": np.min, "mean": np.mean, "median": np.median}
_KEYWORDS = {"constant": {"constant_values"}, "edge": set(), "wrap": set(), "empty": set(),
             "linear_ramp": {"end_values"}, "reflect": {"reflect_type"}, "symmetric": {"reflect_type"},
             **{mode: {"stat_length"} for mode in _STATISTICS}}


def _pairs(value, ndim, what) -> list[tuple]:
    """A per-axis (before, after) pair from a scalar, a pair or one pair per axis (NumPy's rule)."""
    _reject_traced(value, f"The {what} of np.pad")
    if value is None:
        return [(None, None)] * ndim
    return [tuple(pair) for pair in np.broadcast_to(np.asarray(value), (ndim, 2)).tolist()]


def _along(axis, index):
    return (slice(None),) * axis + (index,)


@implements(np.pad)
def pad(array, pad_width, mode="constant", **kwargs):
    _reject_traced(pad_width, "The pad width of np.pad")
    shape = _shape(array)
    widths = np.asarray(pad_width)
    if widths.dtype.kind not in "iu":
        raise TypeError("`pad_width` must be of integral type.")
    if widths.size and widths.min() < 0:  # before broadcasting, as NumPy does: a 0-d array has no pairs
        raise ValueError("index can't contain negative values")
    widths = tuple(tuple(pair) for pair in np.broadcast_to(widths, (len(shape), 2)).tolist())
    if callable(mode):
        raise unsupported_option(
            f"np.pad with mode={mode!r} is not supported on traced values; the supported modes are "
            f"{', '.join(map(repr, _KEYWORDS))} (a callable mode is not: pad with np.concatenate instead).")
    if mode not in _KEYWORDS:  # every mode NumPy has
        raise ValueError(f"mode '{mode}' is not supported")
    unknown = set(kwargs) - _KEYWORDS[mode]
    if unknown:
        raise ValueError(f"unsupported keyword arguments for mode '{mode}': {unknown}")
    if mode not in ("constant", "empty"):
        for axis, (size, pair) in enumerate(zip(shape, widths)):
            if size == 0 and any(pair):
                raise ValueError(f"can't extend empty axis {axis} using modes other than 'constant' or 'empty'")
    if mode in ("constant", "empty"):  # 'empty' leaves the pad undefined: zeros are as good as any
        return _constant(array, shape, widths, kwargs.get("constant_values", 0))
    odd = kwargs.get("reflect_type", "even")
    if odd not in ("even", "odd"):
        raise ValueError(f"reflect_type must be 'even' or 'odd', got {odd!r}")
    if mode in _GATHER_MODES and odd == "even":
        # each padded element copies one input element: pad the flat positions, then gather
        source = np.pad(np.arange(int(np.prod(shape))).reshape(shape), widths or 0, mode=mode)
        return getitem_(_flat(array), key=source)
    if mode == "linear_ramp":
        ends = _pairs(kwargs.get("end_values", 0), len(shape), "end_values")
        return _by_axis(array, widths, lambda x, axis, pair: _ramps(x, axis, pair, ends[axis]))
    if mode in _STATISTICS:
        lengths = _pairs(kwargs.get("stat_length"), len(shape), "stat_length")
        if any(n is not None and n < 0 for pair in lengths for n in pair):
            raise ValueError("index can't contain negative values")
        return _by_axis(array, widths,
                        lambda x, axis, pair: _statistics(x, axis, pair, lengths[axis], _STATISTICS[mode]))
    return _by_axis(array, widths, lambda x, axis, pair: _odd_reflection(x, axis, pair, mode == "symmetric"))


def _constant(array, shape, widths, constant_values):
    if isinstance(constant_values, (Traced, LeveledValue)) and constant_values.ndim == 0:  # one value, all sides
        border = np.pad(np.zeros(shape, dtype=bool), widths or 0, constant_values=True)
        return pad_(array, widths=widths, constant_values=0) + border * constant_values
    if holds_traced(constant_values):  # per side: blocks of those values, axis after axis (later axes fill corners)
        values = np.broadcast_to(_stacked(constant_values), (len(shape), 2))
        dtype = np.result_type(array)
        return _by_axis(array, widths, lambda x, axis, pair: tuple(
            np.broadcast_to(values[axis, side].astype(dtype), _block_shape(x, axis, width))
            for side, width in enumerate(pair)))
    return pad_(array, widths=widths, constant_values=constant_values)


def _by_axis(array, widths, blocks):
    """Pad one axis after the other: ``blocks(x, axis, (before, after))`` gives the two blocks.
    Nothing to pad (a 0-d array, zero widths): a copy, as NumPy's, that writes to the result leave alone."""
    if not any(any(pair) for pair in widths):
        return copy_(array)
    for axis, pair in enumerate(widths):
        if any(pair):
            before, after = blocks(array, axis, pair)
            array = np.concatenate([part for part, width in ((before, pair[0]), (array, 1), (after, pair[1]))
                                    if width], axis=axis)
    return array


def _block_shape(x, axis, width):
    shape = list(np.shape(x))
    shape[axis] = width
    return tuple(shape)


def _ramps(x, axis, pair, ends):
    """From the end value to the edge, as NumPy's ``np.linspace(end, edge, width, endpoint=False)``."""
    dtype = np.result_type(x)
    blocks = []
    for side, (width, end) in enumerate(zip(pair, ends)):
        edge = x[_along(axis, slice(0, 1) if side == 0 else slice(-1, None))]
        steps = np.arange(width, dtype=dtype).reshape((-1,) + (1,) * (np.ndim(x) - axis - 1))
        end = np.asarray(end).astype(dtype)
        ramp = steps * ((edge - end) / dtype.type(width)) + end if width else None
        blocks.append(ramp if side == 0 or ramp is None else np.flip(ramp, axis=axis))
    return blocks


def _statistics(x, axis, pair, lengths, statistic):
    """Each side's block: the statistic over the ``stat_length`` values next to it (all by default)."""
    size = np.shape(x)[axis]
    blocks = []
    for side, (width, length) in enumerate(zip(pair, lengths)):
        length = size if length is None or length > size else int(length)
        if width and length == 0 and statistic in (np.max, np.min):
            raise ValueError("stat_length of 0 yields no value for padding")
        window = x[_along(axis, slice(0, length) if side == 0 else slice(size - length, size))]
        value = statistic(window, axis=axis, keepdims=True) if width else None
        blocks.append(None if value is None else np.broadcast_to(value, _block_shape(x, axis, width)))
    return blocks


def _odd_reflection(x, axis, pair, include_edge):
    """NumPy's odd reflection: chunks ``2 * edge - mirrored values``, at most one period of the
    original length each, added on both sides in turn until both pads are full."""
    original = np.shape(x)[axis]
    if original == 1:  # NumPy extends a single value as mode 'edge' does
        return [np.broadcast_to(x, _block_shape(x, axis, width)) if width else None for width in pair]
    before, after = [], []
    left, right = pair
    filled = x
    while left > 0 or right > 0:
        length = np.shape(filled)[axis]
        period = length // original * original if include_edge else (length - 1) // (original - 1) * (original - 1)
        if left > 0:
            chunk_length = min(period, left)
            start = 0 if include_edge else 1
            mirrored = np.flip(filled[_along(axis, slice(start, start + chunk_length))], axis=axis)
            chunk = 2 * filled[_along(axis, slice(0, 1))] - mirrored
            before.insert(0, chunk)
            filled = np.concatenate([chunk, filled], axis=axis)
            left -= chunk_length
        if right > 0:
            length = np.shape(filled)[axis]
            chunk_length = min(period, right)
            stop = length if include_edge else length - 1
            mirrored = np.flip(filled[_along(axis, slice(stop - chunk_length, stop))], axis=axis)
            chunk = 2 * filled[_along(axis, slice(length - 1, length))] - mirrored
            after.append(chunk)
            filled = np.concatenate([filled, chunk], axis=axis)
            right -= chunk_length
    return [np.concatenate(part, axis=axis) if part else None for part in (before, after)]
