"""Item assignment, ``x[key] = value``, as a function: a new array with the assignment made.

NumPy writes into ``x``. mixedad records ``index_update(x, value, key)`` and makes the
user's ``x`` stand for the result from then on (``core.traced.UpdatedTraced``), so that
whatever read ``x`` before still reads its old value. The update is linear in ``x`` and
``value`` jointly: the cotangent of ``x`` is ``g`` with the assigned elements zeroed, that
of ``value`` is ``g[key]`` (summed back over the axes ``value`` was broadcast along), except
where an index repeats: only the write NumPy kept (the last) receives its part.
"""
from __future__ import annotations

import math

import numpy as np

from .shape import _reject_traced
from .table import holds_traced, implements, reverse_rule
from ..core.arrays import LeveledValue, empty_with_strides, is_basic_index
from ..core.errors import InPlaceMutationError, error_with_location
from ..core.recomputed import read_values
from ..core.traced import Traced, _index_update, _ufunc_at
from ..core.updates import constant_like, current, refuse_write_into_argument


def _assigned(x, value, key):
    if isinstance(value, LeveledValue) and not isinstance(x, LeveledValue):
        x = constant_like(value, x)  # a forward dual (of a nested derivative) into a plain array
    if type(x) is np.ndarray:  # the layout of x, gaps included (a conv's batch-last arrays, a complex's real part)
        result = empty_with_strides(x)
        result[...] = x
    else:
        result = np.copy(x)
    result[key] = value
    return current(result)  # on a traced copy (a nested derivative) the assignment made a successor


def _kept_writes(shape, key):
    """Which elements of ``value`` (broadcast to the shape of ``x[key]``) NumPy's assignment
    kept, as a boolean array, or None for all: only a repeated index loses a write."""
    if is_basic_index(key) or (type(key) is np.ndarray and key.dtype == bool):
        return None
    target_shape = np.broadcast_to(np.int8(0), shape)[key].shape
    order = np.arange(math.prod(target_shape), dtype=np.intp).reshape(target_shape)
    writes = np.full(shape, -1, np.intp)
    writes[key] = order  # NumPy decides which write to an element stays
    kept = np.zeros(order.size, bool)
    kept[writes[key].ravel()] = True
    return None if kept.all() else kept.reshape(target_shape)


def _array_vjp(g, out, x, value, key):
    ct = np.copy(g)  # (np.copy dispatches: in a third derivative g is traced)
    ct[key] = 0
    return ct


def _value_vjp(g, out, x, value, key):
    ct = g[key]
    kept = _kept_writes(np.shape(x), key)
    ct = ct if kept is None else np.where(kept, ct, 0)
    extra = np.ndim(value) - np.ndim(ct)
    # NumPy drops a value's leading length-1 axes to fit x[key] (a (1, 1) value into 3 elements):
    # put them back, so that unbroadcasting sums over the axes the value was broadcast along
    return ct.reshape((1,) * extra + np.shape(ct)) if extra > 0 else ct


assign_ = reverse_rule(_assigned, _array_vjp, _value_vjp, name="setitem", forward="linear")
assign_.reverse_reads_values = False  # the rules read shapes only: an assignment loop keeps no copies


def _stacked(value):
    """A list or tuple holding traced values, as one traced array (what NumPy would convert)."""
    if isinstance(value, (list, tuple)):
        return np.stack([_stacked(part) for part in value]) if value else np.asarray(value)
    return value


@implements(_index_update)
def index_update(array, key, value):
    refuse_write_into_argument(array, skip=3)
    _reject_traced(key, "The index in x[index] = value")
    if isinstance(value, (list, tuple)) and holds_traced(value):
        value = _stacked(value)
    return assign_(array, value, key=read_values(key, "x[mask] = value"))


@implements(_ufunc_at)
def ufunc_at(ufunc, array, indices, values=None):
    """``ufunc.at(array, indices, values)``: unbuffered, so an index that repeats is applied
    once per occurrence. Done in rounds of assignments, round r applying the r-th occurrence
    of every index, each round with indices that do not repeat."""
    name = f"np.{ufunc.__name__}.at"
    if type(current(array)) is not Traced and not isinstance(array, LeveledValue):
        raise error_with_location(
            InPlaceMutationError,
            f"{name}{{where}} would write differentiated values into a NumPy array. Make the array from "
            "a differentiated one, such as the values written (a = np.zeros_like(values, shape=...); in a "
            "reverse rule, np.zeros_like(g, shape=x.shape)), so that it can hold them, or build the "
            "result without writing: np.bincount(flat_index, weights=v, minlength=n) adds values "
            "at repeated indices.", skip=2)
    _reject_traced(indices, f"The index in {name}")
    shape = np.shape(array)
    targets = np.arange(math.prod(shape), dtype=np.intp).reshape(shape)[indices]
    if values is not None:
        values = np.reshape(np.broadcast_to(values, targets.shape), -1)
    targets = targets.ravel()
    if values is not None and (ufunc is np.add or ufunc is np.subtract):
        # every occurrence at once, summed by np.bincount (linear in the values): the rounds below
        # cost a pass over the array per repetition of the most repeated index
        # only the elements the call touches: adding a zero elsewhere would turn a -0.0 into 0.0
        touched, slot = np.unique(targets, return_inverse=True)
        sums = np.bincount(slot, weights=values if ufunc is np.add else -values, minlength=touched.size)
        key = np.unravel_index(touched, shape)
        array[key] = array[key] + sums
        return
    order = np.argsort(targets, kind="stable")
    in_order = targets[order]
    first = np.ones(in_order.size, bool)
    first[1:] = in_order[1:] != in_order[:-1]
    occurrence = np.empty_like(order)
    positions = np.arange(in_order.size)
    occurrence[order] = positions - np.maximum.accumulate(np.where(first, positions, 0))
    for round_ in range(int(occurrence.max(initial=-1)) + 1):
        chosen = np.flatnonzero(occurrence == round_)
        key = np.unravel_index(targets[chosen], shape)
        array[key] = ufunc(array[key]) if values is None else ufunc(array[key], values[chosen])
