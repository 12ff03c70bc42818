"""NumPy's functions that write into their first argument: np.copyto, np.fill_diagonal,
np.put, np.place, np.putmask and np.put_along_axis.

On a traced array each is one assignment ``a[written] = values`` (``Traced.__setitem__`` and
rules/assignment.py), so views, aliases and derivatives are handled as for ``x[i] = v``.
Where NumPy writes, and which element of the values lands where, come from NumPy's own
function run on integer tags standing for the elements (as for the gathers): broadcasting,
the repetition of a short list of values, index modes, ``wrap`` and the errors are NumPy's.
Writing a traced value into a NumPy array raises instead: it would drop the derivative.
"""
from __future__ import annotations

import math

import numpy as np

from .shape import _as_member, _reject_traced, _shape
from .table import holds_traced, implements
from .utilities import _stand_in
from ..core.arrays import LeveledValue
from ..core.errors import InPlaceMutationError, NonDifferentiableError, error_with_location
from ..core.region import read_value
from ..core.traced import Traced

_TRACED = (Traced, LeveledValue)


def _tags(shape, start=0):
    return np.arange(start, start + math.prod(shape), dtype=np.intp).reshape(shape)


def _write(function, dst, values, numpy_write, write_tags):
    """NumPy's ``numpy_write()`` on a NumPy array; on a traced ``dst``, the assignment that
    ``write_tags(dst_tags, value_tags)`` (the same function, on tags) says it makes."""
    values = _as_member(values)
    if not isinstance(dst, _TRACED):
        if holds_traced(values):
            raise error_with_location(
                NonDifferentiableError,
                f"np.{function} would store a traced value into a NumPy array{{where}}, dropping its "
                "derivative. Write into a traced array instead (np.zeros_like(x) makes one), or build the "
                "new array with np.where(mask, values, a), np.stack or np.concatenate.", skip=2)
        return numpy_write(values)
    dst_tags = _tags(_shape(dst))
    value_shape = _shape(values) if isinstance(values, _TRACED) else np.shape(values)
    write_tags(dst_tags, _tags(value_shape, start=dst_tags.size))
    written = dst_tags >= dst_tags.size
    if not written.any():
        return None
    sources = dst_tags[written] - dst_tags.size  # C order, as a[mask] = v fills the mask
    chosen = np.ravel(values if isinstance(values, _TRACED) else np.asarray(values))[sources]
    if np.result_type(chosen) != dst.dtype:  # NumPy stores the values in the array's dtype
        chosen = chosen.astype(dst.dtype)
    try:
        dst[written] = chosen
    except InPlaceMutationError as error:
        raise InPlaceMutationError(f"np.{function} writes into its first argument: {error}") from None
    return None


@implements(np.copyto)
def copyto(dst, src, casting="same_kind", where=True):
    src, where = _as_member(src), read_value(where, "np.copyto (where=)")
    if isinstance(dst, _TRACED):  # NumPy's checks: broadcasting, casting, where
        np.copyto(np.empty(_shape(dst), dst.dtype), _stand_in(src), casting=casting, where=where)
    return _write("copyto", dst, src, lambda values: np.copyto(dst, values, casting=casting, where=where),
                  lambda tags, value_tags: np.copyto(tags, value_tags, casting="unsafe", where=where))


@implements(np.fill_diagonal)
def fill_diagonal(a, val, wrap=False):
    return _write("fill_diagonal", a, val, lambda values: np.fill_diagonal(a, values, wrap),
                  lambda tags, value_tags: np.fill_diagonal(tags, value_tags, wrap))


@implements(np.put)
def put(a, ind, v, mode="raise"):
    _reject_traced(ind, "The indices of np.put")
    return _write("put", a, v, lambda values: np.put(a, ind, values, mode),
                  lambda tags, value_tags: np.put(tags, ind, value_tags, mode))


@implements(np.place)
def place(arr, mask, vals):
    mask = read_value(mask, "np.place (the mask)")
    return _write("place", arr, vals, lambda values: np.place(arr, mask, values),
                  lambda tags, value_tags: np.place(tags, mask, value_tags))


@implements(np.putmask)
def putmask(a, mask, values):
    mask = read_value(mask, "np.putmask (the mask)")
    return _write("putmask", a, values, lambda plain_values: np.putmask(a, mask, plain_values),
                  lambda tags, value_tags: np.putmask(tags, mask, value_tags))


@implements(np.put_along_axis)
def put_along_axis(arr, indices, values, axis):
    _reject_traced(indices, "The indices of np.put_along_axis")
    return _write("put_along_axis", arr, values,
                  lambda plain_values: np.put_along_axis(arr, indices, plain_values, axis),
                  lambda tags, value_tags: np.put_along_axis(tags, indices, value_tags, axis))
