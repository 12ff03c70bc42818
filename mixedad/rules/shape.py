"""Shape and selection: indexing, reshaping, reordering, joining, splitting, padding and
sorting; and the metadata and integer-valued functions that must accept traced values
without differentiating them (np.shape, np.argmax, np.zeros_like, ...).

Every differentiable op here only moves elements, so each reverse rule is the transpose
of the move: put the cotangent back where the element came from, adding where one
element was read several times. A few primitives (reshape, transpose, broadcast_to,
concatenate, split, getitem, flip, roll, constant pad, sort) carry the rules; the many
other spellings NumPy offers are composites over them. Indices, shifts, repeats and pad
widths are static: a traced value there is an error, since it has no derivative to give.
"""
from __future__ import annotations

import operator

import numpy as np

from .complex_linalg import as_complex
from .table import holds_traced, implements, reject_out, reverse_rule
from ..core.arrays import LeveledValue, is_basic_index, zeros_to_hold
from ..core.errors import (NonDifferentiableError, UnsupportedOperationError, error_with_location,
                           unsupported_option)
from ..core.primitive import Primitive, bind
from ..core.recomputed import index_key
from ..core.region import read_value
from ..core.traced import Traced, _astype, _flatten, _getitem


# ------------------------------------------------------------------------------------------
# the primitives: what runs on NumPy values, and the transpose of each move
def _reshape(x, shape, order):
    kind = type(x)
    if kind is np.ndarray:  # the method skips np.reshape's dispatch (and order= costs a parse)
        return x.reshape(shape) if order == "C" else x.reshape(shape, order=order)
    if isinstance(x, np.generic):
        # a NumPy scalar is immutable, and its own 0-d reshape (NumPy takes 4x a 0-d array's time)
        return x if shape == () else x.reshape(shape, order=order)
    return np.reshape(x, shape, order=order)


def _reshape_vjp(g, out, x, shape, order):
    if isinstance(g, _NUMPY_VALUES) and isinstance(x, _NUMPY_VALUES):
        shape = x.shape
        if g.shape == shape:
            return g  # (a reshape to the same shape would be a new view of the same memory)
        return g.reshape(shape) if order == "C" else g.reshape(shape, order=order)
    return np.reshape(g, np.shape(x), order=order)


_NUMPY_VALUES = (np.ndarray, np.generic)


def _concatenate(*arrays, axis, dtype, casting):
    return np.concatenate(arrays, axis=axis, dtype=dtype, casting=casting)


def _split(x, bounds, axis):
    return [x[_along(axis, slice(start, stop))] for start, stop in bounds]


def _index(x, key):
    return x[key]


def _roll(x, shift, axis):
    return np.roll(x, shift, axis)


def _pad(x, widths, constant_values):
    return np.pad(x, widths or 0, mode="constant", constant_values=constant_values)  # 0-d: widths ()


def _cast(x, dtype):
    return x.astype(dtype)


def _copy(x, order="K"):
    return np.copy(x, order=order)


def _along(axis, index):
    """The indexing key that applies ``index`` to ``axis`` and keeps every other axis."""
    return (slice(None),) * axis + (index,)


def _interior(widths, shape):
    return tuple(slice(before, before + n) for (before, _), n in zip(widths, shape))


def _index_vjp(g, out, x, key):
    ct = zeros_to_hold(g, np.shape(x))
    if is_basic_index(key):
        ct[key] = g
    else:
        np.add.at(ct, key, g)  # repeated indices read an element twice: their cotangents add up
    return ct


def _concatenate_vjp(g, out, *arrays, axis, dtype, casting):
    sizes = [np.shape(a)[axis] for a in arrays]
    pieces = np.split(g, np.cumsum(sizes)[:-1], axis=axis)
    return pieces[0] if len(pieces) == 1 else tuple(pieces)


def _split_vjp(gs, out, x, bounds, axis):
    if all(start <= stop for start, stop in bounds):  # each piece starts where the last ended
        return np.concatenate(gs, axis=axis)
    n, ct = np.shape(x)[axis], np.zeros(np.shape(x), np.result_type(*gs))
    for (start, stop), g in zip(bounds, gs):  # explicit split points out of order: pieces overlap
        start = min(start, n)
        stop = max(start, min(stop, n))
        widths = [(0, 0)] * len(np.shape(x))
        widths[axis] = (start, n - stop)
        ct = ct + np.pad(g, widths)  # not in place: g may be a forward dual
    return ct


def _transpose_vjp(g, out, a, axes=None):
    inverse = None if axes is None else np.argsort([axis % np.ndim(a) for axis in axes])
    return np.transpose(g, inverse)


UNSTABLE_SORT_FROM = 2048  # elements: below, the check costs more than a stable argsort's extra time


def _sort_order(out, x, axis):
    """The permutation np.sort applied along ``axis`` (flattened for None): the stable one, so
    that tied elements (and NaNs) keep their order. With no tie and no NaN in the sorted output
    the permutation is unique, and the default kind (5x faster than stable) gives the same."""
    x, out = read_value(x, "np.sort"), read_value(out, "np.sort")
    fast = np.size(out) >= UNSTABLE_SORT_FROM and sorted_distinct(out, axis)
    return np.argsort(x, axis=axis, kind=None if fast else "stable")


def sorted_distinct(out, axis) -> bool:
    """Whether no slice of the sorted ``out`` holds two equal values or a NaN (NaNs sort last)."""
    out = np.asarray(out)
    if out.dtype.kind not in "iufc" or out.size == 0:
        return False
    if axis is not None and axis % out.ndim != out.ndim - 1:
        out = np.moveaxis(out, axis, -1)  # a view
    if (out[..., 1:] == out[..., :-1]).any():
        return False
    return out.dtype.kind in "iu" or not np.isnan(out[..., -1]).any()


def _sort_vjp(g, out, x, axis=-1, *kind_and_order, **options):
    order = _sort_order(out, x, axis)
    if axis is None:
        order, axis = order.reshape(-1), -1
    if type(g) is np.ndarray:  # scatter each cotangent back to where its element came from
        ct = np.empty(order.shape, g.dtype)
        np.put_along_axis(ct, order, g, axis)
    else:  # a traced or dual cotangent: gather it with the inverse permutation
        n, trailing = order.shape[axis], order.ndim - 1 - axis % order.ndim
        inverse = np.empty_like(order)
        np.put_along_axis(inverse, order, np.arange(n).reshape((n,) + (1,) * trailing), axis)
        ct = np.take_along_axis(g, inverse, axis)
    return np.reshape(ct, np.shape(x))


def _sort_jvp(t, out, x, axis=-1, *kind_and_order, **options):
    order = _sort_order(out, x, axis)
    return np.ravel(t)[order] if axis is None else np.take_along_axis(t, order, axis)


reshape_ = reverse_rule(_reshape, _reshape_vjp, name="reshape", forward="linear")
# transpose and flip take their axes by keyword: an update of their view writes through into the
# array it views by undoing the move (``view_inverse``, below), which reads the axes from the keywords
transpose = reverse_rule(lambda a, *, axes=None: np.transpose(a, axes), _transpose_vjp, name="transpose",
                         forward="linear")
broadcast_to = reverse_rule(np.broadcast_to, lambda g, out, array, shape, subok=False: g,  # the engine sums
                            nondiff_argnums=(1, 2), forward="linear")
flip = reverse_rule(lambda m, *, axis=None: np.flip(m, axis), lambda g, out, m, axis=None: np.flip(g, axis),
                    name="flip", forward="linear")
sort = reverse_rule(np.sort, _sort_vjp, nondiff_argnums=(1, 2, 3),  # every kind of sort gives the same values
                    forward=_sort_jvp)
roll_ = reverse_rule(_roll, lambda g, out, x, shift, axis: np.roll(g, np.negative(shift), axis), name="roll",
                     forward="linear")
pad_ = reverse_rule(_pad, lambda g, out, x, widths, constant_values: g[_interior(widths, np.shape(x))],
                    name="pad", forward=lambda t, out, x, widths, constant_values: _pad(t, widths, 0))
concatenate_ = reverse_rule(_concatenate, _concatenate_vjp, name="concatenate", forward="linear")
split_ = reverse_rule(_split, _split_vjp, name="split", multiple_outputs=True, forward="linear")
getitem_ = reverse_rule(_index, _index_vjp, name="getitem", forward="linear")
flatten_ = reverse_rule(lambda x, order: np.reshape(x, (-1,), order=order).copy(order="K"),
                        lambda g, out, x, order: np.reshape(g, np.shape(x), order=order), name="flatten",
                        forward="linear")

# NumPy returns views from these: an in-place update of a view must raise, except where it
# can write through: a reshaped array reshapes back.
# (A NumPy scalar result is never a view: it is immutable. _reshape returns a scalar's 0-d
# reshape as the scalar itself.)
for _view in (reshape_, transpose, broadcast_to, flip, split_):
    _view.returns_view = True
reshape_.view_inverse = lambda view, kwargs, base_shape: _reshape(view, base_shape, kwargs["order"])
transpose.view_inverse = lambda view, kwargs, base_shape: _transpose_vjp(view, None, view, **kwargs)
flip.view_inverse = lambda view, kwargs, base_shape: flip(view, **kwargs)  # (its own inverse)
# their reverse rules read the argument's shape only: the tape keeps no array alive for them
for _mover in (reshape_, transpose, broadcast_to, flip, roll_, flatten_):
    _mover.reverse_reads_values = False


def _indexing_returns_view(kwargs, out) -> bool:
    """Basic indexing gives a view, except an integer per axis (a scalar); advanced indexing
    (integer arrays, masks) gives a copy."""
    key = kwargs["key"]
    if type(key) is int:  # x[i] in a loop: the common case first
        return np.ndim(out) > 0
    if not is_basic_index(key):
        return False
    keys = key if type(key) is tuple else (key,)
    return np.ndim(out) > 0 or any(not isinstance(k, (int, np.integer)) for k in keys)


getitem_.returns_view = _indexing_returns_view
# The backward sweep adds indexing's cotangents into one buffer per input (x[i] in a loop
# would otherwise allocate a full zero array per element).
getitem_.selection_key = lambda kwargs: kwargs["key"]
getitem_.reverse_reads_values = False  # reading y[i - 1] of an array updated in a loop keeps no copy of it

# Casts and copies are elementwise with derivative 1: they join dual regions instead of
# ending them. The engine casts a cotangent back to its input's dtype.
cast_ = Primitive(_cast, name="astype", elementwise=True)
cast_.defpartials(1)
copy_ = Primitive(_copy, name="copy", elementwise=True)
copy_.defpartials(1)


# ------------------------------------------------------------------------------------------
# argument handling shared by the composites
def _shape(a) -> tuple:
    return a.shape if type(a) is Traced or isinstance(a, LeveledValue) else np.shape(a)


def _ndim(a) -> int:
    return len(_shape(a))


def _stand_in(a):
    """A zero-memory array with ``a``'s shape: NumPy computes result shapes (and raises its
    own errors) on it without touching ``a``'s values."""
    return np.broadcast_to(np.zeros((), np.int8), _shape(a))


def _array_under(a) -> np.ndarray | None:
    """The array holding ``a``'s values, through traced values and forward duals at any depth,
    whose layout (strides) is NumPy's; None for a value computed later (a lazy region's)."""
    while True:
        if type(a) is Traced:
            a = a._value
        elif isinstance(a, LeveledValue):
            a = a.primal
        else:
            return a if type(a) is np.ndarray else None


def _normalize_axis(axis, ndim) -> int:
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


def _normalize_axes(axes, ndim) -> tuple:
    axes = tuple(_normalize_axis(a, ndim) for a in (axes if np.iterable(axes) else (axes,)))
    if len(set(axes)) != len(axes):
        raise ValueError("repeated axis")
    return axes


def _int_tuple(shape) -> tuple:
    if type(shape) is tuple or type(shape) is list:  # the usual spellings, without np.iterable's try
        return tuple(map(operator.index, shape))
    return tuple(map(operator.index, shape)) if np.iterable(shape) else (operator.index(shape),)


def _flat(a):
    return reshape_(a, shape=(-1,), order="C")


def _order(order, function):
    if order not in ("C", "F"):
        raise unsupported_option(f"{function} with order={order!r} is not supported on traced values; "
                                  "use order='C' or order='F'.")
    return order



def _reject_traced(value, what):
    """Raise if a traced value hides in ``value`` (an index, a shift, a list of them, a slice)."""
    if holds_traced(value):
        raise error_with_location(
            NonDifferentiableError,
            f"{what} is a traced value{{where}}. It selects or arranges elements and has no "
            "derivative to give. Build it from plain values: np.argmax, np.argsort, np.nonzero "
            "and comparisons of traced values already return plain arrays.", skip=1)


# ------------------------------------------------------------------------------------------
# indexing and casts
@implements(_getitem)
def getitem(array, key):
    _reject_traced(key, "The index in x[index]")
    return getitem_(array, key=index_key(array, key, "x[key], a mask or an index computed from values"))


@implements(_astype)
def astype(array, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return cast_(array, dtype=dtype)
    if dtype.kind in "biu":
        # integers carry no derivative: a plain array
        return read_value(array, "astype to a non-float dtype").astype(dtype)
    if dtype.kind == "c":
        return as_complex(array, dtype)
    raise error_with_location(
        UnsupportedOperationError,
        f"astype({dtype}) on a traced value{{where}}: mixedad differentiates real floating-point "
        "values only.", skip=1)


@implements(np.astype)
def astype_function(x, dtype, /, *, copy=True, device=None):
    return x.astype(dtype, copy=copy)


@implements(np.copy)
def copy(a, order="K", subok=False):
    if order == "K" or order == "C" and _ndim(a) < 2:  # (the same layout: no keyword in the region's key)
        return copy_(a)
    if order not in ("C", "F", "A"):
        raise ValueError(f"order must be one of 'C', 'F', 'A', or 'K' (got {order!r})")
    return copy_(a, order=order)


# ------------------------------------------------------------------------------------------
# reshaping
@implements(np.reshape)
def reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        _order(order, "np.reshape")  # raises for an order mixedad does not support
    if type(shape) is not tuple:
        shape = _int_tuple(newshape if shape is None else shape)
    else:
        for size in shape:
            if type(size) is not int:
                shape = _int_tuple(shape)
                break
    result = bind(reshape_, (a,), {"shape": shape, "order": order}, atoms_only=True)
    return copy_(result) if copy else result  # copy=True: not a view (an update must not write through)


@implements(np.ravel)
def ravel(a, order="C"):
    result = reshape_(a, shape=(-1,), order=_order(order, "np.ravel"))
    value = _array_under(a)  # (None: computed later, contiguous)
    # NumPy's ravel copies an array not contiguous in that order, where a reshape may still be a view
    return copy_(result) if value is not None and not value.flags["C_CONTIGUOUS" if order == "C" else "F_CONTIGUOUS"] \
        and type(result) is not np.ndarray else result


@implements(_flatten)
def flatten(a, order="C"):
    return flatten_(a, order=_order(order, "x.flatten()"))


@implements(np.squeeze)
def squeeze(a, axis=None):
    return reshape_(a, shape=np.squeeze(_stand_in(a), axis=axis).shape, order="C")


@implements(np.expand_dims)
def expand_dims(a, axis):
    return reshape_(a, shape=np.expand_dims(_stand_in(a), axis).shape, order="C")


def _atleast_each(function, arrays) -> list:
    """``function`` (np.atleast_1d/2d/3d) on each array; an array already big enough is kept."""
    results = []
    for a in arrays:
        if not isinstance(a, (Traced, LeveledValue)):
            results.append(function(a))
            continue
        shape = function(_stand_in(a)).shape
        results.append(a if shape == a.shape else reshape_(a, shape=shape, order="C"))
    return results


def _atleast(function):
    def atleast(*arys):
        results = _atleast_each(function, arys)
        return results[0] if len(results) == 1 else tuple(results)
    implements(function)(atleast)


for _function in (np.atleast_1d, np.atleast_2d, np.atleast_3d):
    _atleast(_function)


@implements(np.broadcast_arrays)
def broadcast_arrays(*args, subok=False):
    shape = np.broadcast_shapes(*[_shape(a) for a in args])
    return tuple(broadcast_to(a, shape) for a in args)


# ------------------------------------------------------------------------------------------
# reordering axes and elements
@implements(np.transpose)
def transpose_(a, axes=None):
    return transpose(a) if axes is None else transpose(a, axes=tuple(axes))


@implements(np.flip)
def flip_(m, axis=None):
    return flip(m) if axis is None else flip(m, axis=tuple(axis) if np.iterable(axis) else axis)


@implements(np.moveaxis)
def moveaxis(a, source, destination):
    ndim = _ndim(a)
    source, destination = _normalize_axes(source, ndim), _normalize_axes(destination, ndim)
    if len(source) != len(destination):
        raise ValueError("`source` and `destination` arguments must have the same number of elements")
    order = [n for n in range(ndim) if n not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(a, axes=tuple(order))


@implements(np.swapaxes)
def swapaxes(a, axis1, axis2):
    ndim = _ndim(a)
    order = list(range(ndim))
    first, second = _normalize_axis(axis1, ndim), _normalize_axis(axis2, ndim)
    order[first], order[second] = second, first
    return transpose(a, axes=tuple(order))


@implements(np.fliplr)
def fliplr(m):
    if _ndim(m) < 2:
        raise ValueError("Input must be >= 2-d.")
    return flip(m, axis=1)


@implements(np.flipud)
def flipud(m):
    if _ndim(m) < 1:
        raise ValueError("Input must be >= 1-d.")
    return flip(m, axis=0)


@implements(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    ndim = _ndim(m)
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError("len(axes) must be 2.")
    first, second = (_normalize_axis(a, ndim) for a in axes)
    if first == second:
        raise ValueError("Axes must be different.")
    k %= 4
    if k == 0:
        return copy_(m)
    if k == 2:
        return flip(flip(m, axis=first), axis=second)
    order = list(range(ndim))
    order[first], order[second] = second, first
    if k == 1:
        return transpose(flip(m, axis=second), axes=tuple(order))
    return flip(transpose(m, axes=tuple(order)), axis=second)


@implements(np.roll)
def roll(a, shift, axis=None):
    _reject_traced(shift, "The shift of np.roll")
    return roll_(a, shift=shift, axis=axis)


# ------------------------------------------------------------------------------------------
# joining and splitting
def _as_member(member):
    """A sequence member as an array: a (nested) Python list holding traced values is stacked,
    as np.asarray would, but keeping the derivative."""
    if isinstance(member, (list, tuple)) and holds_traced(member):  # forward duals too
        return stack([_as_member(m) for m in member])
    return member


@implements(np.concatenate)
def concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    reject_out(out, "concatenate")
    arrays = [_as_member(a) for a in arrays]
    if axis is None:
        arrays, axis = [_flat(a) for a in arrays], 0
    return concatenate_(*arrays, axis=axis, dtype=dtype, casting=casting)


@implements(np.stack)
def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    reject_out(out, "stack")
    arrays = [_as_member(a) for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to stack")
    shapes = {_shape(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError("all input arrays must have the same shape")
    (shape,) = shapes
    axis = _normalize_axis(axis, len(shape) + 1)
    expanded = shape[:axis] + (1,) + shape[axis:]
    return concatenate_(*[reshape_(a, shape=expanded, order="C") for a in arrays], axis=axis,
                        dtype=dtype, casting=casting)


@implements(np.hstack)
def hstack(tup, *, dtype=None, casting="same_kind"):
    arrays = _atleast_each(np.atleast_1d, [_as_member(a) for a in tup])
    axis = 0 if arrays and _ndim(arrays[0]) == 1 else 1
    return concatenate_(*arrays, axis=axis, dtype=dtype, casting=casting)


@implements(np.vstack)
def vstack(tup, *, dtype=None, casting="same_kind"):
    return concatenate_(*_atleast_each(np.atleast_2d, [_as_member(a) for a in tup]), axis=0, dtype=dtype,
                        casting=casting)


@implements(np.dstack)
def dstack(tup):
    return concatenate_(*_atleast_each(np.atleast_3d, [_as_member(a) for a in tup]), axis=2, dtype=None,
                        casting="same_kind")


@implements(np.column_stack)
def column_stack(tup):
    columns = [reshape_(a, shape=(-1, 1), order="C") if _ndim(a) < 2 else a for a in map(_as_member, tup)]
    return concatenate_(*columns, axis=1, dtype=None, casting="same_kind")


@implements(np.append)
def append(arr, values, axis=None):
    arr, values = _as_member(arr), _as_member(values)
    if axis is None:
        arr, values, axis = _flat(arr), _flat(values), 0
    return concatenate_(arr, values, axis=axis, dtype=None, casting="same_kind")


def _split_bounds(n, indices_or_sections, equal) -> tuple:
    """(start, stop) of each piece, as np.split / np.array_split slice them."""
    if np.ndim(indices_or_sections) == 0:
        sections = operator.index(indices_or_sections)
        if sections <= 0:
            raise ValueError("number sections must be larger than 0.")
        each, extra = divmod(n, sections)
        if equal and extra:
            raise ValueError("array split does not result in an equal division")
        points = np.cumsum([0] + [each + 1] * extra + [each] * (sections - extra)).tolist()
    else:
        points = [0, *[operator.index(i) for i in indices_or_sections], n]
    return tuple(zip(points[:-1], points[1:]))


def _split_along(ary, indices_or_sections, axis, equal):
    _reject_traced(indices_or_sections, "The split points of np.split")
    axis = _normalize_axis(axis, _ndim(ary))
    return split_(ary, bounds=_split_bounds(_shape(ary)[axis], indices_or_sections, equal), axis=axis)


@implements(np.split)
def split(ary, indices_or_sections, axis=0):
    return _split_along(ary, indices_or_sections, axis, equal=True)


@implements(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    return _split_along(ary, indices_or_sections, axis, equal=False)


@implements(np.hsplit)
def hsplit(ary, indices_or_sections):
    if _ndim(ary) == 0:
        raise ValueError("hsplit only works on arrays of 1 or more dimensions")
    return _split_along(ary, indices_or_sections, 1 if _ndim(ary) > 1 else 0, equal=True)


@implements(np.vsplit)
def vsplit(ary, indices_or_sections):
    if _ndim(ary) < 2:
        raise ValueError("vsplit only works on arrays of 2 or more dimensions")
    return _split_along(ary, indices_or_sections, 0, equal=True)


@implements(np.dsplit)
def dsplit(ary, indices_or_sections):
    if _ndim(ary) < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return _split_along(ary, indices_or_sections, 2, equal=True)


# ------------------------------------------------------------------------------------------
# selection and replication: gathers through getitem (whose rule accumulates repeats)
@implements(np.repeat)
def repeat(a, repeats, axis=None):
    _reject_traced(repeats, "The repeats of np.repeat")
    if axis is None or _ndim(a) == 0:  # as in NumPy, a 0-d array repeats as a 1-d one
        a, axis = _flat(a), 0 if axis is None else axis
    axis = _normalize_axis(axis, _ndim(a))
    result = getitem_(a, key=_along(axis, np.repeat(np.arange(_shape(a)[axis]), repeats)))
    return result if axis == 0 else copy_(result, order="C")  # NumPy's repeat is in C order, a[:, i] is not


@implements(np.delete)
def delete(arr, obj, axis=None):
    _reject_traced(obj, "The positions given to np.delete")
    if axis is None:
        arr, axis = _flat(arr), 0
    axis = _normalize_axis(axis, _ndim(arr))
    keep = np.ones(_shape(arr)[axis], dtype=bool)
    keep[obj] = False  # NumPy copies what an int or a slice keeps into a C-ordered array (other objs index)
    result = getitem_(arr, key=_along(axis, keep))
    return copy_(result, order="C") if axis and isinstance(obj, (int, np.integer, slice)) else result


@implements(np.tile)
def tile(A, reps):
    _reject_traced(reps, "The repetitions of np.tile")
    reps = _int_tuple(reps)
    shape = _shape(A)
    ndim = max(len(reps), len(shape))
    shape = (1,) * (ndim - len(shape)) + shape
    reps = (1,) * (ndim - len(reps)) + reps
    # interleave a size-1 axis before each axis, broadcast it to the repetition count, merge
    spread = reshape_(A, shape=tuple(m for n in shape for m in (1, n)), order="C")
    tiled = broadcast_to(spread, shape=tuple(m for r, n in zip(reps, shape) for m in (r, n)))
    result = reshape_(tiled, shape=tuple(r * n for r, n in zip(reps, shape)), order="C")
    # np.tile always copies, in A's layout if nothing repeats; the reshape is a view where each axis repeats or is 1
    order = "K" if all(r == 1 for r in reps) else "C"
    return copy(result, order) if all(r == 1 or n == 1 for r, n in zip(reps, shape)) else result
