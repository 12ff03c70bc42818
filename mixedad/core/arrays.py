"""Array-like values other than ndarrays that the engine accepts as raw values.

The engine computes on NumPy values. A *leveled value* (the forward-mode dual number of
``mixedad.forward``) is an array-like value that belongs to a differentiation level of its
own. The engine keeps one wherever it would keep an ndarray (a traced value's value, a
partial, a cotangent, a rule's argument), so that a gradient computed over such values
carries their tangents through the reverse sweep (forward-over-reverse). An operation
whose newest argument is a leveled value belongs to that value's level and is handed to
it (``_apply``). Traces and forward levels are numbered by one counter, ``LEVELS``, so that
"newer" compares them: the newest level handles an operation and sees every older level's
values as constants, which is what keeps the perturbations of nested derivatives apart.

This module is the engine's whole hook for such types; it imports nothing from the engine.
"""
from __future__ import annotations

import itertools
import math
import threading
from typing import Any, Callable

import numpy as np

LEVELS = itertools.count(1)  # trace ids and forward levels: a larger number is a newer level


class LeveledValue:
    """Base of array-like values of another differentiation level (``ForwardDual``).

    Subclasses set ``_level`` (from ``LEVELS``) and implement the methods below.
    """

    __slots__ = ()
    _level: int

    def _apply(self, prim, args, kwargs):
        """Apply primitive ``prim`` to ``args``, of which this value is the newest-level one."""
        raise NotImplementedError

    def _plain(self, why: str):
        """The NumPy value under every level (for a non-differentiable use)."""
        raise NotImplementedError

    def _values(self):
        """The value under this level (maybe of an older one), read for a probe: no derivative."""
        raise NotImplementedError

    def _map_linear(self, fn: Callable[[Any], Any]):
        """``fn(self)`` for ``fn`` linear in its argument and written for plain arrays: ``fn``
        applied to each component (the value and each tangent), recombined."""
        raise NotImplementedError

    def _all_finite(self) -> bool:
        raise NotImplementedError

    def _constant_like(self, array):
        """``array`` as a value of this level (and the older levels under it) with zero tangents."""
        raise NotImplementedError

    def _zero_mask(self):
        """A boolean array: where this value and all its tangents are zero."""
        raise NotImplementedError


class RefusesIntegralConversion:
    """``math.trunc``, ``math.floor`` and ``math.ceil`` of a differentiated value (traced or
    dual) raise its ``_conversion_error``, naming NumPy's elementwise function instead."""

    __slots__ = ()

    def __trunc__(self):
        raise self._conversion_error("math.trunc()", " For an array of integral values, np.trunc(x).")

    def __floor__(self):
        raise self._conversion_error("math.floor()", " For an array of integral values, np.floor(x).")

    def __ceil__(self):
        raise self._conversion_error("math.ceil()", " For an array of integral values, np.ceil(x).")


# What the engine accepts as an already-converted raw value.
ARRAY_TYPES = (np.ndarray, np.generic, LeveledValue)


def as_array(value: Any) -> Any:
    """``np.asarray(value)``, except that a leveled value, or a traced one (any value NumPy's
    functions dispatch on: a rule may run on the values of an outer trace), is kept as it is."""
    if isinstance(value, ARRAY_TYPES) or hasattr(type(value), "__array_function__"):
        return value
    return np.asarray(value)


# Plain values: a comparison with them says everything (a traced value or a dual carries more).
PLAIN_TYPES = (np.ndarray, np.generic, float, int)


def all_finite(value: Any) -> bool:
    """Whether no element of ``value`` (nor of its tangents) is inf or NaN. False, unread, for a
    value a prepared recording traces (a gradient nested in the prepared function): reading it
    would make the recorded program depend on its values, and every caller's path for values
    that are not all finite is right for any value."""
    if isinstance(value, LeveledValue):
        return value._all_finite()
    if type(value) is np.ndarray:
        return finite_array(value)
    trace = getattr(value, "_trace", None)
    if trace is not None and trace.program is not None:
        return False
    return bool(np.all(np.isfinite(value)))  # a traced value (a tangent inside a gradient)


class _NaNWatch(threading.local):
    """What NumPy's floating-point error checks saw, in this thread, under ``SWEEP_ERRSTATE`` or
    ``VALUE_ERRSTATE`` since ``floating_errors`` was last cleared: NumPy's flags (1 divide by
    zero, 2 overflow, 4 underflow, 8 invalid) of the errors seen. ``INVALID``: an operation made
    a NaN from non-NaN operands (0 * inf, inf - inf, 0 / 0)."""
    floating_errors = 0


NAN_WATCH = _NaNWatch()
INVALID = 8


def _note_error(kind: str, flag: int) -> None:
    NAN_WATCH.floating_errors |= flag


# The error state of a backward sweep and of a region's partials: partial formulas may divide by
# zero or overflow where the cotangent will be zero (no warnings), and a NaN made from 0 * inf
# is noted (NumPy calls ``_note_error``), so that a region's partials need a look only then.
# Underflow is ignored: the user's settings are for the values their code computes, not for
# the reverse pass's products.
SWEEP_ERRSTATE = {"divide": "call", "over": "call", "under": "ignore", "invalid": "call", "call": _note_error}
# A region evaluating its values, later than the user's code asked for them and perhaps outside
# the user's ``np.errstate``: every error is noted, and then reported as the user's error state
# at each op asked (``expressions.report_floating_errors``).
VALUE_ERRSTATE = {**SWEEP_ERRSTATE, "under": "call"}

try:  # NumPy 2 keeps its error state in a context variable: a new object whenever the state changes
    from numpy._core._ufunc_config import _extobj_contextvar as _ERRSTATE_VARIABLE
except ImportError:  # pragma: no cover (older NumPy, or a changed private layout: ask NumPy each time)
    _ERRSTATE_VARIABLE = None
_errstate_seen: tuple = (None, None)  # (NumPy's state object, its settings as np.errstate takes them)


def current_errstate() -> dict:
    """NumPy's floating-point error settings now, as ``np.errstate(**settings)`` takes them;
    about 30 ns while the state is unchanged, so that each recorded op can keep the state
    its values must be computed under."""
    global _errstate_seen
    if _ERRSTATE_VARIABLE is None:
        return {**np.geterr(), "call": np.geterrcall()}
    token = _ERRSTATE_VARIABLE.get()
    seen = _errstate_seen
    if seen[0] is token:
        return seen[1]
    settings = {**np.geterr(), "call": np.geterrcall()}
    _errstate_seen = (token, settings)
    return settings


def _switched_state(settings: dict) -> Any:
    with np.errstate(**settings):
        return _ERRSTATE_VARIABLE.get()


_IGNORE_ALL = {"all": "ignore"}
# NumPy's state objects for the error states entered on every call (a region's evaluation, a
# backward sweep, a forward tangent), made once: np.errstate builds its state on every entry,
# some 0.8 us.
_SWITCHED_STATES = {} if _ERRSTATE_VARIABLE is None else {
    id(settings): _switched_state(settings) for settings in (SWEEP_ERRSTATE, VALUE_ERRSTATE, _IGNORE_ALL)}


def enter_errstate(settings: dict) -> Any:
    """Enter ``np.errstate(**settings)`` and return what ``restore_floating_errors`` takes; for
    the settings above, a switch of NumPy's context variable."""
    state = _SWITCHED_STATES.get(id(settings))
    if state is None:
        manager = np.errstate(**settings)
        manager.__enter__()
        return manager
    return _ERRSTATE_VARIABLE.set(state)


def ignore_floating_errors() -> Any:
    """Enter ``np.errstate(all="ignore")``; returns what ``restore_floating_errors`` takes."""
    return enter_errstate(_IGNORE_ALL)


def restore_floating_errors(token: Any) -> None:
    if type(token) is np.errstate:
        token.__exit__(None, None, None)
    else:
        _ERRSTATE_VARIABLE.reset(token)


def same_array(new: np.ndarray, old: np.ndarray) -> bool:
    """Whether two arrays hold the same values bit for bit but for NaN payloads: the same shape
    and dtype, NaN equal to NaN, and -0.0 not equal to 0.0 (``np.copysign`` and ``arctan2`` tell
    them apart)."""
    if new.dtype != old.dtype or new.shape != old.shape:
        return False
    if new.dtype.kind not in "fc":
        return bool(np.array_equal(new, old))
    return all(np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))
               for a, b in ((new.real, old.real), (new.imag, old.imag)))


def finite_array(value: np.ndarray) -> bool:
    """Whether no element of the float array ``value`` is inf or NaN.

    The sum of squares (one BLAS dot over the array's memory, about 3x faster than
    ``sum``) is finite exactly when no element is inf/NaN, unless it overflowed: the exact
    check then decides.
    """
    flat = value.ravel(order="K")  # a view for any compact layout
    return math.isfinite(np.dot(flat, flat)) or bool(np.isfinite(value).all())


_ONES: dict[tuple, np.ndarray] = {}
_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def sum_over_first_axis(value: np.ndarray) -> np.ndarray:
    """``value.sum(axis=0)``: for a small float32/float64 array in C order, as a product with
    a vector of ones (one BLAS call: 3x faster than NumPy's reduction at 128x32, a bias's
    cotangent); otherwise NumPy's sum."""
    n = value.shape[0]
    if value.dtype not in _BLAS_FLOATS or not value.flags.c_contiguous or value.size > 1 << 16 or value.ndim < 2 \
            or value.size == 0:  # (reshape(0, -1) cannot tell the other axis's length)
        return value.sum(axis=0)
    key = (n, value.dtype)
    ones = _ONES.get(key)
    if ones is None:
        ones = np.ones(n, value.dtype)
        ones.flags.writeable = False
        ones = _ONES.setdefault(key, ones) if len(_ONES) < 256 else ones
    if value.ndim == 2:
        return ones @ value
    return (ones @ value.reshape(n, -1)).reshape(value.shape[1:])


def zeros_to_hold(value: Any, shape: tuple) -> Any:
    """Zeros of ``shape`` and ``value``'s dtype into which ``value`` can be assigned: for a
    traced or leveled value (a rule run by an enclosing differentiation: third derivatives),
    ``np.zeros_like(value, shape=...)``, which holds it with its derivative."""
    if type(value) is np.ndarray or isinstance(value, PLAIN_TYPES):
        return np.zeros(shape, np.result_type(value))
    return np.zeros_like(value, shape=shape)


def zero_mask(value: Any):
    return value._zero_mask() if isinstance(value, LeveledValue) else value == 0


def apply_linear(fn: Callable[[Any], Any], value: Any) -> Any:
    """``fn(value)`` for ``fn`` linear in ``value`` and written for plain arrays (it may, say,
    write into a new array in place): a leveled value is split into its components first."""
    if isinstance(value, LeveledValue):
        return value._map_linear(lambda component: apply_linear(fn, component))
    return fn(value)


class LiveInteger:
    """An integer index that a prepared replay refills: NumPy reads it (``__index__``) from a 0-d
    array each time it indexes, and indexes as with an int (a view, where a 0-d array gives a copy)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array

    def __index__(self) -> int:
        return int(self.array)

    def __repr__(self) -> str:
        return f"LiveInteger({int(self.array)})"


def is_basic_index(key: Any) -> bool:
    """Basic indexing (ints, slices, None, ...) never reads an element twice."""
    parts = key if isinstance(key, tuple) else (key,)
    return all(part is None or part is Ellipsis or isinstance(part, slice) or type(part) is LiveInteger
               or (isinstance(part, (int, np.integer)) and not isinstance(part, bool)) for part in parts)


def holds_live_integer(key: Any) -> bool:
    return type(key) is LiveInteger or type(key) is tuple and LiveInteger in map(type, key)


def memory_owner(array: np.ndarray) -> np.ndarray:
    """The array whose memory ``array`` uses: itself, or the last ndarray of its ``base`` chain
    (a view keeps that one alive)."""
    while type(array.base) is np.ndarray or isinstance(array.base, np.ndarray):
        array = array.base
    return array


_STAND_INS: dict[tuple, np.ndarray] = {}


def empty_with_strides(template: np.ndarray) -> np.ndarray:
    """An uninitialized array laid out as ``template``, gaps between its elements included (every
    other number, for the real part of a complex array). NumPy updates an array in place, and
    whether a later ravel or reshape of it is a view or a copy follows from that layout, so the
    new value an update computes must keep it; a C- or F-ordered one is ``np.empty_like``'s."""
    strides, itemsize = template.strides, template.itemsize
    if template.flags.c_contiguous or template.flags.f_contiguous or template.size == 0 or \
            any(stride % itemsize or not stride and n > 1 for stride, n in zip(strides, template.shape)):
        return np.empty_like(template)  # (a broadcast one, whose elements share memory: dense)
    low = sum((n - 1) * stride for n, stride in zip(template.shape, strides) if stride < 0)
    high = sum((n - 1) * stride for n, stride in zip(template.shape, strides) if stride > 0)
    buffer = np.empty((high - low) // itemsize + 1, template.dtype)
    return np.lib.stride_tricks.as_strided(buffer[-low // itemsize:], template.shape, strides)


def in_layout_of(value: Any, before: Any) -> Any:
    """``value``, the new value of an array updated in place, laid out as the array was before
    (``empty_with_strides``)."""
    if type(value) is np.ndarray and type(before) is np.ndarray and value.shape == before.shape \
            and value.strides != before.strides:
        relaid = empty_with_strides(before)
        relaid[...] = value
        return relaid
    return value


def read_only_view(value: Any) -> Any:
    """``value`` as a user's rule receives it: a read-only view of an array that may be written
    (a write into it would change a value or derivative other code reads), anything else as it is."""
    if type(value) is not np.ndarray or not value.flags.writeable:
        return value
    view = value.view()
    view.flags.writeable = False
    return view


def shape_stand_in(value: Any) -> Any:
    """A read-only, zero-memory array with ``value``'s shape and dtype (cached per pair); a value
    without both (a Python float) as it is."""
    try:
        key = (value.shape, value.dtype)
    except AttributeError:
        return value
    array = _STAND_INS.get(key)  # (stand_in's lookup, inline: the tape makes one or two per operation)
    return stand_in(*key) if array is None else array


def stand_in(shape: tuple, dtype: np.dtype) -> np.ndarray:
    """A read-only, zero-memory array of this shape and dtype (cached per pair)."""
    key = (shape, dtype)
    array = _STAND_INS.get(key)
    if array is None:
        if len(_STAND_INS) > 1024:
            _STAND_INS.clear()
        array = _STAND_INS[key] = np.broadcast_to(np.zeros((), dtype), shape)
    return array


# what a rule takes as an array argument: traced values and duals (whose classes refuse integral
# conversion), NumPy arrays and lists
_ARRAY_LIKE = (np.ndarray, RefusesIntegralConversion, LeveledValue, list)


def options_by_name(positional_options: tuple, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """``args`` past a primitive's ``n_operands``, passed by the option names that follow them
    (``positional_options = (n_operands, names)``); an array or traced value stays an operand
    (the primitive's rules then refuse it, naming it)."""
    n_operands, names = positional_options
    extra = args[n_operands:]
    if len(extra) > len(names) or any(hasattr(v, "__array_function__") or isinstance(v, LeveledValue)
                                      for v in extra):
        return args, kwargs
    return args[:n_operands], {**dict(zip(names, extra)), **kwargs}


def arrays_by_position(names: tuple, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """``args, kwargs`` with the arrays passed under the name of a positional parameter
    (``np.sort(a=x)``, ``np.linalg.solve(a, b=y)``) moved to their positions, since rules take
    the values they differentiate positionally. ``names``: the function's positional parameters."""
    position = len(args)
    if position >= len(names) or names[position] not in kwargs:
        return args, kwargs
    args, kwargs = list(args), dict(kwargs)
    while position < len(names) and isinstance(kwargs.get(names[position]), _ARRAY_LIKE):
        args.append(kwargs.pop(names[position]))
        position += 1
    return tuple(args), kwargs
