"""Values a prepared program recomputes from its inputs on every replay, with no derivative.

A comparison of traced values (``x > 0``) has no derivative, but it depends on the input
values: a prepared program that kept the recording's mask would replay a wrong gradient
on new inputs. Outside a prepared recording a comparison returns a plain array (reading
it marks nothing, since nothing is replayed). Under a prepared recording it returns a
``Recomputed``: it owns the array that a recorded step refills on each replay, before
anything reads it.

Whether a replay may use that array is decided by who reads it:

* an elementwise operation on traced values (``x * m``, ``np.where(m, x, 0)``) takes the
  array itself: its region or tape entry reads the array when it runs, which in a replay
  is after the refill;
* elementwise NumPy on recomputed and plain values (``~m``, ``m & n``, ``m.astype(float)``,
  ``m[:, None]``) and reductions of them (``m.sum()``, ``np.mean(m)``) give another
  ``Recomputed``, with its own step;
* anything else (``if m.any()``, ``x[m]``, ``np.nonzero(m)``, a conversion, printing, a write
  into the mask) gets the array itself, as NumPy would, and marks the recording
  value-dependent, as reading a traced value does: the prepared gradient then traces ``f``
  again on each call, and no replay ever refills that array.

A step keeps copies of the plain arrays it reads (NumPy read them at the comparison), so a
replay never reads values the recording saw; at worst it does not replay.
"""
from __future__ import annotations

import numbers
import weakref
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from .arrays import LiveInteger
from .dispatch import FUNCTION_HANDLERS, ufunc_binder
from .stand_ins import class_seen_by_user
from .tape import Step, TapeEntry, Trace
from .traced import Traced

# Functions of recomputed and plain values whose result's shape follows from the arguments'
# shapes, so that a step can refill it: elementwise selection, clipping and membership, and the
# reductions masks meet.
_SHAPE_STATIC = frozenset({np.where, np.sum, np.mean, np.count_nonzero, np.any, np.all, np.clip, np.isin, np.copy,
                           np.cumsum, np.diff})
_VIEWS = {np.ravel: "ravel", np.squeeze: "squeeze"}  # views where NumPy's are (a write through one reaches the array)
_GATHERS = frozenset({np.take, np.take_along_axis})  # of a traced array, by integer indices
_METADATA = frozenset({np.ndim, np.shape, np.size, np.result_type})  # read the shape or dtype only, no value
_PLAIN_KINDS = (np.ndarray, np.generic, numbers.Number)  # bool, int, float, complex and NumPy's scalars
_ARRAY_INTERFACES = frozenset({"__array_interface__", "__array_struct__"})  # read as an ndarray's: the values


class Recomputed(NDArrayOperatorsMixin):
    """A value without derivative that a prepared recording computed from traced values (a
    comparison, a mask): its array is refilled by a recorded step on each replay."""

    # ``_live`` is the array the program refills; ``_buffer`` what the object shows: the same
    # array while the recording runs, a copy after it (side effects happen at recording time)
    # ``_scalar``: NumPy would have given a scalar (np.int64 of labels.sum(), np.bool_ of m[0]), not a 0-d array
    __slots__ = ("_buffer", "_live", "_trace", "_scalar")
    handles_functions_first = True  # a traced value leaves functions that meet one to this class
    __array_priority__ = 0.0  # as an ndarray's (hasattr(m, "__array_priority__")); __array_ufunc__ decides dispatch

    def __init__(self, trace: Trace, buffer: np.ndarray, scalar: bool = False):
        self._buffer = self._live = buffer
        self._trace = trace
        self._scalar = scalar
        if trace.active:
            trace.recomputed.append(self)

    def freeze(self) -> None:
        """At the recording's end: keep the recording's values, whatever later replays refill
        (and let go of the user's arrays that ``_operand`` compared copies with)."""
        if self._buffer is self._live:
            self._buffer = self._live.copy()
        _COPIES.pop(self._trace, None)

    # --- what needs no values --------------------------------------------------------
    # isinstance(m, np.ndarray) as outside a recording; isinstance(labels.sum(), np.integer) too
    __class__ = class_seen_by_user(lambda value: value.dtype.type if value._scalar else np.ndarray)
    shape = property(lambda self: self._buffer.shape)
    dtype = property(lambda self: self._buffer.dtype)
    ndim = property(lambda self: self._buffer.ndim)
    size = property(lambda self: self._buffer.size)
    T = property(lambda self: self.transpose())

    def __len__(self) -> int:
        return len(self._buffer)

    # A NumPy scalar is immutable: its transpose and squeeze are itself, its other views new arrays
    def transpose(self, *axes) -> "Recomputed":
        if self._scalar:
            return self
        return Recomputed(self._trace, self._buffer.transpose(*axes))  # a view: refilled with the buffer

    def reshape(self, *shape, order="C") -> Any:
        if self._scalar:
            return np.copy(self).reshape(*shape, order=order)
        view = self._buffer.reshape(*shape, order=order)
        if np.shares_memory(view, self._buffer):
            return Recomputed(self._trace, view)
        return self._read(".reshape").reshape(*shape, order=order)

    def ravel(self, order="C") -> Any:
        flat = None if self._scalar else self._buffer.ravel(order)
        if flat is not None and np.shares_memory(flat, self._buffer):
            return Recomputed(self._trace, flat)
        return self.flatten(order)  # NumPy's is a copy too

    def squeeze(self, axis=None) -> "Recomputed":
        if self._scalar:
            return self
        return Recomputed(self._trace, self._buffer.squeeze(axis))  # a view

    def __getitem__(self, key) -> Any:
        parts = key if type(key) is tuple else (key,)
        if all(part is None or part is Ellipsis or type(part) is slice and _plain_bounds(part) or
               isinstance(part, (int, np.integer)) and not isinstance(part, (bool, np.bool_)) for part in parts):
            # basic indexing is a view (a 0-d one for a scalar index, with the Ellipsis)
            if self._scalar:
                return self if parts == () else np.copy(self)[key]
            view = self._buffer[parts if Ellipsis in parts else parts + (Ellipsis,)]
            return Recomputed(self._trace, view, scalar=view.ndim == 0 and Ellipsis not in parts)
        return self._read("an index of a mask")[read_values(key, "an index")]

    def astype(self, dtype, *args, **kwargs) -> Any:
        if args or kwargs:
            return self._read(".astype").astype(dtype, *args, **kwargs)
        return recompute(self._trace, _same, (self,), {}, dtype=np.dtype(dtype))

    # (a recomputed array of its own each, as NumPy makes a new array)
    def flatten(self, order="C") -> Any:
        return recompute(self._trace, np.ravel, (self,), {"order": order})

    def copy(self, order="C") -> Any:  # (np.copy's default order is "K", the method's "C")
        return np.copy(self, order)

    def __copy__(self) -> Any:
        return np.copy(self)

    def __deepcopy__(self, memo) -> Any:
        return np.copy(self)

    # --- NumPy's protocols -----------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and "out" not in kwargs and "where" not in kwargs:
            if any(type(value) is Traced for value in inputs):
                return ufunc_binder(ufunc)(inputs, kwargs)  # the engine takes the array as an operand
            if recording_trace(inputs, kwargs) is not None:
                return recompute(self._trace, ufunc, inputs, kwargs)
        why = f"numpy.{ufunc.__name__}"  # (out=m, as in m &= n, writes into the mask's own array)
        return getattr(ufunc, method)(*read_values(inputs, why), **read_values(kwargs, why))

    def __array_function__(self, func, types, args, kwargs):
        if func in _VIEWS and type(args[0]) is Recomputed:
            return getattr(args[0], _VIEWS[func])(*args[1:], **kwargs)
        if func in _GATHERS and Traced in types and all(kind in (Traced, Recomputed) for kind in types):
            return FUNCTION_HANDLERS[func](*args, **kwargs)  # the rule gathers by the array a replay refills
        if func in _SHAPE_STATIC and (func is not np.where or len(args) == 3) and kwargs.get("out") is None:
            if func is np.where and Traced in types and type(args[0]) is Recomputed and not kwargs and not any(
                    getattr(kind, "handles_functions_first", False) for kind in types if kind is not Recomputed):
                return FUNCTION_HANDLERS[np.where](*args)  # np.where's rule takes the mask as an operand
            if Traced not in types and recording_trace(args, kwargs) is not None:
                return recompute(self._trace, func, args, kwargs)
        if func in _METADATA:
            return func(*[arg._buffer if type(arg) is Recomputed else arg for arg in args], **kwargs)
        name = getattr(func, "__name__", "a NumPy function")
        return func(*read_values(args, f"numpy.{name}"), **read_values(kwargs, f"numpy.{name}"))

    def __array__(self, dtype=None, copy=None):
        value = self._read("np.asarray")
        value = value if dtype is None else value.astype(dtype, copy=False)
        return value.copy() if copy and value is self._buffer else value

    # --- what reads values: the array itself, as NumPy would give it (writes into it, views
    # of it); the recording is marked value-dependent, so no replay ever refills it ---------
    def _read(self, why: str) -> np.ndarray:
        self._trace.note_value_read(why)
        return self._buffer

    def output_value(self) -> Any:
        """A copy of the values, as the recording or the last replay computed them: for an
        auxiliary output, which a replay reads anew (so reading it marks nothing). A scalar
        where NumPy gives one (``json.dumps`` takes ``np.float64``, not a 0-d array)."""
        return self._live[()] if self._scalar else self._live.copy()

    def __bool__(self) -> bool:
        return bool(self._read("bool()"))

    def __int__(self) -> int:
        return int(self._read("int()"))

    def __float__(self) -> float:
        return float(self._read("float()"))

    def __index__(self) -> int:
        return self._read("an index").__index__()

    def __iter__(self):
        return iter(self._read("iteration"))

    def __hash__(self) -> int:  # a NumPy scalar's (a dict key, a set member), unhashable as an array
        return hash(self._read("hash()")[()] if self._scalar else self._buffer)

    def __round__(self, ndigits=None):
        value = self._read("round()")
        return round(value[()] if self._scalar else value, ndigits)

    def __repr__(self) -> str:
        return repr(self._read("repr()"))

    def __str__(self) -> str:
        return str(self._read("str()"))

    def __format__(self, spec: str) -> str:
        return format(self._read("format()"), spec)

    def __setitem__(self, key, value) -> None:
        self._read("an assignment into a mask")[read_values(key, "an index")] = read_values(value, "a value")

    def __reduce__(self):  # pickle: the values
        return np.array, (self._read("pickle").copy(),)

    def __getattr__(self, name: str) -> Any:  # the rest of ndarray's API, on the values
        if name.startswith("__") and name not in _ARRAY_INTERFACES:
            raise AttributeError(name)
        return getattr(self._read("np.asarray" if name in _ARRAY_INTERFACES else f".{name}"), name)



def _method_of(function):
    def method(self, *args, **kwargs):
        return function(self, *args, **kwargs)
    method.__name__ = function.__name__
    return method


for _function in (np.sum, np.mean, np.any, np.all, np.clip, np.cumsum):  # m.sum(): np.sum(m), and so on
    setattr(Recomputed, _function.__name__, _method_of(_function))


def _static(value: Any) -> bool:
    """Whether ``value`` is a plain operand or option (an array, a number, an axis, a dtype, order="C")."""
    return (isinstance(value, (*_PLAIN_KINDS, str)) or value is None or isinstance(value, (type, np.dtype))
            or type(value) is tuple and all(isinstance(part, (int, np.integer)) for part in value)
            or type(value) is list and all(isinstance(part, _PLAIN_KINDS) for part in value))  # (copied: _operand)


def _plain_bounds(part: slice) -> bool:
    return all(bound is None or isinstance(bound, (int, np.integer)) for bound in (part.start, part.stop, part.step))


def _same(value):
    return value


def read_values(value: Any, why: str) -> Any:
    """``value`` with each ``Recomputed`` in it (in lists, tuples and dicts) as a copy of its values."""
    kind = type(value)
    if kind is Recomputed:
        return value._read(why)
    if kind is tuple or kind is list:
        return kind(read_values(part, why) for part in value)
    if kind is dict:
        return {key: read_values(part, why) for key, part in value.items()}
    return value


def index_key(array: Any, key: Any, why: str) -> Any:
    """A key indexing ``array``, with each integer ``Recomputed`` of the recording that traces
    ``array`` in it (``x[np.arange(n), labels]``) as the array a replay refills: the result's
    shape follows from the index arrays' shapes, not their values, and indexing reads them when
    it runs. Anything else (a mask, whose values decide the shape) is read (``read_values``)."""
    if type(key) is tuple:
        return tuple([index_key(array, part, why) for part in key])
    if type(key) is Recomputed and type(array) is Traced and key._trace is array._trace \
            and key.dtype.kind in "iu" and key._live is key._buffer:  # (after the recording: a frozen copy)
        # a scalar (NumPy's np.int64 of argmax) indexes as an int, a view; a 0-d array would copy
        return LiveInteger(key._live) if key._scalar else key._live
    return read_values(key, why)


def recompute(trace: Trace, function, args, kwargs: dict, dtype: np.dtype | None = None) -> Recomputed:
    """``function(*args, **kwargs)`` (cast to ``dtype``) as a ``Recomputed``, with the step that
    refills it on each replay. ``args`` hold traced values, plain values and ``Recomputed``
    ones (whose arrays their own steps refill before this one runs)."""
    from .region import primal
    given = args, kwargs
    args = tuple(_operand(trace, value) for value in args)
    kwargs = {key: _operand(trace, value) for key, value in kwargs.items()}
    result = function(*[primal(value) for value in args], **kwargs)
    if type(result) is tuple:  # np.divmod, np.frexp: one recomputed value, and step, per output
        return tuple(recompute(trace, _output(function, k), *given, dtype) for k in range(len(result)))
    buffer = np.array(result, dtype=dtype)  # its own memory, which no one else writes
    into = isinstance(function, np.ufunc) and dtype is None  # the ufunc writes into the array itself
    entry = TapeEntry((), None, f"recomputed {getattr(function, '__name__', 'value')}", None,
                      buffer.shape, buffer.dtype)  # not on the tape: it has no derivative
    reads = tuple(value for value in args if type(value) is Traced)
    trace.program.append(Step(_refill, entry, (), (function, args, kwargs, buffer, into), reads))
    return Recomputed(trace, buffer, scalar=isinstance(result, np.generic))


def _output(function, k: int):
    """Output ``k`` of a function with several (a ufunc such as np.divmod)."""
    def output(*args, **kwargs):
        return function(*args, **kwargs)[k]
    output.__name__ = f"{getattr(function, '__name__', 'value')}[{k}]"
    return output


# Per recording: id(array) -> (array, the copy steps keep). A loop comparing with the same
# constant array on every step keeps one copy of it, not one per step.
_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _operand(trace: Trace, value: Any) -> Any:
    """An operand as a step keeps it: a recomputed value's array (refilled before the step
    runs), and a copy of a plain array or list (NumPy reads them now: f may change them later),
    shared by the steps that read the array while its values stay the same."""
    kind = type(value)
    if kind is Recomputed:
        return value._live
    if kind is list:
        return np.array(value)
    if kind is not np.ndarray:
        return value
    copies = _COPIES.get(trace)
    if copies is None:
        copies = _COPIES[trace] = {}
    seen = copies.get(id(value))
    if seen is not None and seen[0] is value and seen[1].dtype == value.dtype and np.array_equal(seen[1], value):
        return seen[1]
    copy = value.copy()
    copies[id(value)] = (value, copy)
    return copy


def recording_trace(args, kwargs: dict) -> Trace | None:
    """The prepared recording an operation on ``args`` belongs to, if a step can recompute it:
    traced values and recomputed ones of that recording only, and plain operands."""
    trace = None
    for value in list(args) + list(kwargs.values()):
        kind = type(value)
        if kind is Traced or kind is Recomputed:
            if trace is None:
                trace = value._trace
            elif value._trace is not trace:
                return None
        elif not _static(value):
            return None
    return trace if trace is not None and trace.active and trace.program is not None else None


def _refill(step: Step) -> None:
    from .region import primal
    function, args, kwargs, buffer, into = step.payload
    values = [primal(value) if type(value) is Traced else value for value in args]
    if into:
        function(*values, out=buffer, **kwargs)
    else:
        result = function(*values, **kwargs)
        if np.shape(result) != buffer.shape:  # (a replay's step that raises makes the call trace f instead)
            raise ValueError(f"{getattr(function, '__name__', 'a function')} of a mask changed its shape")
        np.copyto(buffer, result, casting="unsafe")
