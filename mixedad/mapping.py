"""Scalar functions mapped over arrays: ``mixedad.map(f, *xs)`` and ``mixedad.sum(f, x)``.

``f`` is written for one element with NumPy ufuncs and operators. It is first run once on
the whole arrays, which builds an ordinary dual region (vectorized duals). If ``f`` cannot
run vectorized (it branches on the value, calls ``math.*`` or ``float()``), it is run again
element by element on scalar dual numbers, with ``math`` functions and ``float`` swapped for
dual-aware versions in ``f`` and in the functions of the user's code it reaches by name (module
globals, closure cells, default arguments): ``mixedad.scalar_duals``. Either way the result is one tape entry. A ``math``
function passed itself as ``f`` runs as its NumPy (or scipy.special) ufunc, vectorized.
"""
from __future__ import annotations

import dis
import functools
import sys
import time
import types
from typing import Any, Callable

import numpy as np

from .core.arrays import LeveledValue
from .core.errors import (NonDifferentiableError, NotVectorizableError, OutputError, UnsupportedOperationError,
                          error_with_location, rule_location,
                          in_library, is_internal, user_location)
from .core.modes import Decision, Mode, Reason
from .core.primitive import MixedTracesError, Primitive, find_trace
from .core.pytree import flatten
from .core.recording import held_bytes
from .core.compiled import evaluate
from .core.guards import borrow, release_guards
from .core.region import primal
from .core.tape import CONSTANT_INPUT, LEAF_DECISION, Step, TapeEntry, Trace, multiply_cotangent, record
from .core.traced import Traced
from .core.updates import current, currents
from .followed_arrays import followed
from .rules.table import numpy_scalar
from .scalar_duals import ScalarDual, name_what_dropped, vectorized, with_dual_math

_PER_ELEMENT = Decision(Mode.PER_ELEMENT, Reason.NOT_VECTORIZABLE)


def _shape(value) -> tuple:
    return value.shape if type(value) is Traced else np.shape(value)


class _CaughtOnArrays(Exception):
    """f caught an exception while it ran on whole arrays: its ``try`` may have meant something
    else for one element (NumPy's ValueError for ``if t > 0`` on an array), so it runs per element."""


def _call_on_arrays(f: Callable[..., Any], xs: list) -> Any:
    """``f(*xs)``, raising ``_CaughtOnArrays`` if an exception was raised in the user's code and
    caught there (seen with a trace function on the user's frames only, where none is set yet)."""
    if sys.gettrace() is not None or not _function_catches(f):  # (a debugger, coverage: leave them be)
        return f(*xs)
    caught = []

    def on_user_frame(frame, event, arg):
        if event == "exception" and issubclass(arg[0], _ARRAY_DEPENDENT):
            caught.append(arg[0])
        return on_user_frame

    def on_call(frame, event, arg):
        filename = frame.f_code.co_filename
        if is_internal(filename) or in_library(filename):
            return None
        frame.f_trace_lines = False
        return on_user_frame
    sys.settrace(on_call)
    try:
        result = f(*xs)
    finally:
        sys.settrace(None)
    if caught:
        raise _CaughtOnArrays()
    return result


# What an operation may raise on a whole array but not on each element (NumPy's ValueError for
# the truth value of an array, TypeError for float() of one, FloatingPointError for any element)
# or on an element but not on arrays: caught on arrays, it may not mean what it does per element.
_ARRAY_DEPENDENT = (ValueError, TypeError, ArithmeticError)


def _mixes_elements(trace, first: int, xs: list, shape: tuple) -> bool:
    """Whether f's run on whole arrays recorded, from ``trace.entries[first]`` on, an operation
    that is not elementwise (a sum, a sort, a stack, an index) on values computed from the
    traced ones among ``xs``: then one output element read others (``np.sum(np.stack([t, t]))``
    sums the whole array, not each element's pair), and f must run element by element."""
    if int(np.prod(shape)) < 2:
        return False
    mapped = {id(x._entry) for x in xs if type(x) is Traced}
    for entry in trace.entries[first:]:
        if any(parent is not None and id(parent[0]) in mapped for parent in entry.parents):
            if not entry.elementwise:
                return True
            mapped.add(id(entry))
    return False


class _InRunningTrace(Exception):
    """f closes over a value a running differentiation traces: the mapped arrays are followed in it."""

    def __init__(self, trace):
        super().__init__()
        self.trace = trace


def _is_mapped_array(x: Any) -> bool:
    """A plain array of more than one element: one of f's output elements could read another's."""
    return type(x) is np.ndarray and x.size > 1 and x.dtype.kind in "fcbiu"


def _values_under_levels(x: Any) -> Any:
    """The NumPy values of ``x`` under its forward levels and trace (read for a probe: no derivative)."""
    while True:
        if type(x) is Traced:
            x = primal(x)
        elif isinstance(x, LeveledValue):
            x = x._values()
        else:
            return x


def _call_on_a_probe(f: Callable[..., Any], xs: list, shape: tuple, value_wanted: bool = True) -> Any:
    """``f(*xs)`` on whole arrays, run first on a trace of its own (no derivative) where each
    array mapped over is a stand-in that notes what f does with it, so that no operation that
    reads across elements goes unseen: float arrays (and the values of forward duals) as traced
    values, which ``_mixes_elements`` follows, the others (integer, boolean, complex) as ``FollowedArray``.

    Raises ``_CaughtOnArrays`` where f must run element by element: it mixes elements, or it
    turned out not to be elementwise, or it could not be followed on the stand-ins of integer
    arrays; ``_InRunningTrace`` where f closes over a value a running differentiation traces
    (which follows the plain float arrays as its constants)."""
    values = [_values_under_levels(x) for x in xs]
    if int(np.prod(shape)) < 2 or not any(_is_mapped_array(value) for value in values):
        return _call_on_arrays(f, xs) if value_wanted else None
    leveled = any(isinstance(x, LeveledValue) for x in xs)
    integers = any(_is_mapped_array(value) and value.dtype.kind != "f" for value in values)  # (or complex)
    probe = Trace("auto")
    mixing: list = []  # what the integer arrays' stand-ins saw that reads across elements
    try:
        leaves = [value if not _is_mapped_array(value) else _traced_constant(probe, value) if value.dtype.kind == "f"
                  else followed(value, mixing) for value in values]
        try:
            result = _call_on_arrays(f, leaves)
        except MixedTracesError as error:
            running = [trace for trace in getattr(error, "traces", ()) if trace is not probe]
            if running and not leveled:
                raise _InRunningTrace(running[0]) from None
            raise _CaughtOnArrays() from None
        except _CaughtOnArrays:
            raise
        except Exception:
            if integers:  # (f's own error, if it is one, comes again element by element)
                raise _CaughtOnArrays() from None
            raise
        if mixing or _mixes_elements(probe, 0, leaves, shape):
            raise _CaughtOnArrays()
        if value_wanted and not leveled and not integers and type(result) is Traced:  # the value only: no partial
            result = evaluate(result._expr, True, False)[0] if result._value is None and result._expr else \
                primal(result)
    finally:
        probe.active = False
        release_guards(probe)
    if not value_wanted:
        return None
    if leveled or integers:  # followed on stand-ins: now on the arrays themselves
        return _call_on_arrays(f, xs)
    return result


def _as_followed(trace: Trace, xs: list, mixing: list | None) -> list:
    """``xs`` with each plain float array mapped over as a constant that ``trace`` traces (no
    derivative), so that ``_mixes_elements`` follows f's operations from it too, and, given a
    ``mixing`` list, each other one (integer, boolean, complex) as a ``FollowedArray`` noting into it."""
    return [x if not _is_mapped_array(x) else _traced_constant(trace, x) if x.dtype.kind == "f"
            else followed(x, mixing) if mixing is not None else x for x in xs]


def _traced_constant(trace: Trace, x: np.ndarray) -> Traced:
    borrow(trace, x)  # the tape reads it, maybe much later
    entry = record(trace, TapeEntry((), None, CONSTANT_INPUT, LEAF_DECISION, x.shape, x.dtype))
    trace.traces_constants = True
    if trace.program is not None:  # a prepared recording: the same constant on every replay
        trace.program.append(Step(_keeps_its_value, entry, (), (), ()))
    return Traced(trace, x, entry)


def _keeps_its_value(step: Step) -> None:
    return None


def _function_catches(f: Callable[..., Any]) -> bool:
    """Whether ``f``, or a Python function it names (a global or a closure), has an ``except``
    clause: tracing its calls costs some 40 us, paid only then."""
    code = getattr(f, "__code__", None)
    if code is None:
        return False
    if _catches(code):
        return True
    named = [getattr(f, "__globals__", {}).get(name) for name in code.co_names]
    named += [cell.cell_contents for cell in getattr(f, "__closure__", None) or () if _filled(cell)]
    return any(_catches(function.__code__) for function in named if isinstance(function, types.FunctionType))


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:  # an empty cell
        return False
    return True


@functools.lru_cache(maxsize=256)
def _catches(code: Any) -> bool:
    """Whether the code object ``code`` (or one defined in it) has an ``except`` clause (a ``with``
    statement has an exception handler too, of its own: not counted)."""
    names = [instruction.opname for instruction in dis.get_instructions(code)]
    if names.count("PUSH_EXC_INFO") > names.count("WITH_EXCEPT_START"):
        return True
    return any(_catches(const) for const in code.co_consts if isinstance(const, types.CodeType))


def _is_branching_error(error: Exception) -> bool:
    if isinstance(error, (NonDifferentiableError, _CaughtOnArrays)):
        return True
    # "truth value of an array with more than one element", or of an empty array (a zero-size input);
    # math.* or float() given a plain array argument: "only 0-dimensional arrays can be converted"
    # (traced ones raise NonDifferentiableError)
    message = str(error)
    return isinstance(error, (ValueError, TypeError)) and (
        "truth value of an array" in message or "truth value of an empty array" in message
        or "arrays can be converted to Python scalars" in message)


def _unfollowed_nesting_error(f) -> NotVectorizableError:
    return error_with_location(
        NotVectorizableError,
        f"mixedad.map / mixedad.sum of {getattr(f, '__name__', 'f')}{{where}}: the function branches on element "
        "values (if, math.*, float()), so it runs element by element, and its arguments carry derivatives of "
        "nested differentiations in a way that path does not follow. Write it with NumPy functions (np.where "
        "instead of if) so that it runs vectorized.", skip=3)


def _closed_over_error(f) -> UnsupportedOperationError:
    return error_with_location(
        UnsupportedOperationError,
        f"mixedad.map / mixedad.sum of {getattr(f, '__name__', 'f')}{{where}}: the function runs element by "
        "element (it branches on element values, or reads across elements of an array mapped over), and its "
        "result depends on a differentiated value it closes over, which cannot meet the per-element argument. "
        "Pass that value as another argument (np.sum(mixedad.map(lambda t, p: ..., x, p))), or write the branch "
        "with np.where so that it runs vectorized.",
        skip=3)


class _SeveralOutputs(OutputError):
    """f returned a tuple of numbers: ``map`` gives one array per output, as np.vectorize does
    (for ``mixedad.sum``, the error it is)."""

    def __init__(self, message: str, count: int):
        super().__init__(message)
        self.count = count


_CONTAINERS = (tuple, list, dict, set, str, bytes, type(None))


def _one_number(f, result, per_element: bool = True):
    """``result`` if it can be f's value (per element: one number; for whole arrays, anything
    but None and containers); otherwise the error that says what ``f`` returned."""
    if isinstance(result, _CONTAINERS) or (per_element and isinstance(result, np.ndarray) and result.ndim):
        what = "None (does a branch miss its `return`?)" if result is None else f"a {type(result).__name__}"
        message = (f"mixedad.map / mixedad.sum: the function{rule_location(f)} returned {what}; it must return "
                   "one number per element.")
        if type(result) is tuple and result and not any(isinstance(item, _CONTAINERS) for item in result):
            raise _SeveralOutputs(message, len(result))
        raise OutputError(message)
    return result


def _output_of(f: Callable[..., Any], k: int) -> Callable[..., Any]:
    """Output ``k`` of a function that returns a tuple (a partial: the per-element path rebinds
    ``math`` in the user's function it holds, ``scalar_duals.with_dual_math``)."""
    return functools.partial(_output, f, k)


def _output(f: Callable[..., Any], k: int, *args: Any) -> Any:
    return f(*args)[k]


def _promoted_dtype(arrays: list, differentiated: list) -> np.dtype:
    """The dtype NumPy gives f's arithmetic on all the arguments (a float32 x with a float64 y is
    float64; Python numbers are weak, so x * 2.0 stays float32), as on the vectorized path; the
    differentiated ones' if that is not a float type (where none is, f closes over the value
    differentiated: at least a float type). Strings are left out: result_type would read an
    option "f8" or "d" as a dtype."""
    numbers = [a for a in arrays if isinstance(a, (np.ndarray, np.generic, int, float))]
    dtype = np.result_type(*numbers)
    if dtype.kind == "f":
        return dtype
    return np.result_type(*differentiated) if differentiated else np.result_type(dtype, 1.0)


def _per_element(f, arrays: list, differentiated: list) -> tuple:
    """``f`` run element by element on scalar duals over the broadcast of the plain ``arrays``:
    its values, and its partials with respect to each argument listed in ``differentiated``."""
    shape = np.broadcast_shapes(*[np.shape(a) for a in arrays])
    dtype = _promoted_dtype(arrays, [arrays[j] for j in differentiated])
    broadcast = [np.broadcast_to(a, shape) for a in arrays]
    f_dual = with_dual_math(f)
    values = np.empty(shape, dtype)
    partials = [np.empty(shape, dtype) for _ in differentiated]
    units = [tuple(dtype.type(k == i) for k in range(len(differentiated))) for i in range(len(differentiated))]
    for index in np.ndindex(*shape):
        args = list(b[index] for b in broadcast)
        for i, j in enumerate(differentiated):
            args[j] = ScalarDual(args[j], units[i])
        try:
            result = f_dual(*args)
        except NonDifferentiableError as error:
            if not getattr(error, "dropped_derivative", False):
                raise
            raise name_what_dropped(f_dual, args, error) from None
        if isinstance(result, (Traced, LeveledValue)):
            raise _closed_over_error(f)
        if type(result) is ScalarDual:
            values[index] = _one_number(f, result.value)  # (not an array a constant broadcast it to)
            for k in range(len(differentiated)):
                partials[k][index] = result.partials[k]
        else:
            values[index] = _one_number(f, result)
            for k in range(len(differentiated)):
                partials[k][index] = 0
    return values, partials


def _partial_function(f, k: int, differentiated: list) -> Callable[..., Any]:
    """The scalar function giving ``f``'s partial derivative with respect to its argument
    ``differentiated[k]``: ``f`` on scalar duals seeded there. Mapped over values an enclosing
    differentiation carries (the gradient's partials under hvp or hessian), it runs on scalar
    duals in turn, which then nest: second derivatives, element by element."""
    f_dual = with_dual_math(f)
    units = [tuple(float(m == i) for m in range(len(differentiated))) for i in range(len(differentiated))]
    zeros = tuple(0.0 for _ in differentiated)

    def partial(*elements):
        # every argument becomes a dual of this level: the seeded ones, and the duals of the
        # enclosing one (another argument differentiated there) as constants here, holding their
        # duals as values; left as they are, they would pass for this level's
        args = [ScalarDual(element, zeros) if type(element) is ScalarDual else element for element in elements]
        for i, j in enumerate(differentiated):
            args[j] = ScalarDual(elements[j], units[i])
        result = f_dual(*args)
        return result.partials[k] if type(result) is ScalarDual else 0.0
    partial.__name__ = f"d{getattr(f, '__name__', 'f')}"
    return partial


def _evaluate_per_element(trace, f, xs) -> Traced:
    arrays = [primal(x) for x in xs]
    traced = [j for j, x in enumerate(xs) if type(x) is Traced]
    start = time.perf_counter()
    if any(isinstance(a, LeveledValue) for a in arrays):
        # the values carry an enclosing forward differentiation's tangents (hvp, hessian): the
        # value and the partials are maps at its level, so that they carry its tangents too
        values = map(f, *arrays)
        partials = [map(_partial_function(f, k, traced), *arrays) for k in range(len(traced))]
    else:
        values, partials = _per_element(f, arrays, traced)
    parents = tuple((xs[j]._entry, xs[j]._slot, xs[j]._shape, xs[j]._dtype) for j in traced)

    def per_element_vjp(g):
        return [multiply_cotangent(g, p) for p in partials]

    name = getattr(f, "__name__", "f")
    entry = TapeEntry(parents, per_element_vjp, f"map({name}) per element", _PER_ELEMENT, values.shape, values.dtype,
                      context_shape=values.shape, ops=(name,), n_partials=len(traced),
                      locations=(user_location(3),) if trace.instrumented else ())
    entry.held = held_bytes(partials)
    entry.forward_seconds = time.perf_counter() - start
    record(trace, entry)
    return Traced(trace, values, entry)


def _forward_per_element(f, xs) -> Any:
    """``f`` element by element where some of ``xs`` carry forward-mode tangents (jvp, forward
    Jacobians): a primitive made for this call, whose value and partials come from scalar duals
    on the plain values and whose forward rule multiplies each tangent by its partials."""
    differentiated = [j for j, x in enumerate(xs) if isinstance(x, LeveledValue)]
    partials: list = []

    def per_element(*arrays):
        if any(isinstance(a, (Traced, LeveledValue)) for a in arrays):
            raise _unfollowed_nesting_error(f)  # (the primals of duals reach the primitive plain)
        values, partials[:] = _per_element(f, list(arrays), differentiated)
        return values

    def tangent_rule(j):  # argument j's term of the tangent (forward mode skips those without one)
        def term(tangent, out, *arrays):
            k = differentiated.index(j)
            if any(isinstance(a, (Traced, LeveledValue)) for a in arrays):
                # an enclosing differentiation (a gradient of this jvp) differentiates the
                # partials too: a map at its level, not the plain numbers
                return multiply_cotangent(tangent, map(_partial_function(f, k, differentiated), *arrays))
            return multiply_cotangent(tangent, partials[k])
        return term

    mapped = Primitive(per_element, name=f"map({getattr(f, '__name__', 'f')}) per element")
    mapped.defjvp(*[tangent_rule(j) for j in range(len(xs))])
    return mapped(*xs)


def _same(value: Any) -> Any:
    return value


def _as_array(x: Any) -> Any:
    """A list or tuple as the array NumPy would make of it (f sees array elements); one holding
    differentiated values, stacked."""
    if not isinstance(x, (list, tuple)):
        return x
    if any(isinstance(leaf, (Traced, LeveledValue)) for leaf in flatten(x)[0]):
        return np.stack([_as_array(item) for item in x])
    return np.asarray(x)


def map(f: Callable[..., Any], *xs: Any) -> Any:
    """Apply the scalar function ``f`` elementwise over the broadcast of ``xs``.

    Vectorized dual numbers when ``f`` runs on whole arrays (a ``math`` function passed as
    ``f`` runs as its ufunc: ``math.sin`` as ``np.sin``); otherwise (it branches on the value,
    or calls ``math.*``/``float()``) scalar duals one element at a time. Either way the result
    is one tape entry, and the profiler reports which path was taken.

    >>> import numpy as np, mixedad
    >>> def hinge(t):
    ...     return t if t > 0 else 0.0
    >>> mixedad.gradient(lambda x: np.sum(mixedad.map(hinge, x)), np.array([-1.0, 2.0]))
    array([0., 1.])

    An ``f`` that returns a tuple of numbers gives a tuple of arrays, as ``np.vectorize`` does
    (``f`` then runs once per output).
    """
    if not xs:
        raise TypeError("mixedad.map needs at least one array")
    try:
        return _map(f, xs)
    except _SeveralOutputs as several:
        count = several.count
    return tuple(_map(_output_of(f, k), xs) for k in range(count))  # (outside the except: f's own errors)


def _map(f: Callable[..., Any], xs: tuple) -> Any:
    xs = [_as_array(x) for x in currents(xs)]
    f = vectorized(f)  # mixedad.map(math.sin, x): np.sin
    trace = find_trace(xs)
    shape = np.broadcast_shapes(*[_shape(x) for x in xs])
    if trace is None:
        try:
            result = _one_number(f, _call_on_a_probe(f, xs, shape), per_element=False)
            if shape:
                if type(result) is np.ndarray and result.shape == shape:
                    return result
                if isinstance(result, LeveledValue):  # a forward dual (jvp): spread with its tangent
                    return np.broadcast_to(result, shape)
                # a constant, or a result that reads not every mapped array: spread over the shape,
                # writable as a ufunc's result, a Python number in the mapped arrays' dtype (NEP 50)
                dtype = result.dtype if isinstance(result, np.ndarray) else np.result_type(*xs, result)
                return np.array(np.broadcast_to(result, shape), dtype=dtype)
            if type(result) is float:  # math.* on 0-d arrays: a NumPy scalar of their dtype, as a ufunc gives
                return np.result_type(*xs, 0.0).type(result)
            return numpy_scalar(result)  # (np.where's 0-d array too: every path gives a scalar)
        except _InRunningTrace as running:
            return numpy_scalar(_map_in_trace(running.trace, f, xs, shape, closes_over=True))
        except Exception as error:
            if not _is_branching_error(error) and not isinstance(error, TypeError):
                raise
        return numpy_scalar(_map_per_element(f, xs))
    # (of 0-d arrays, every path gives a NumPy scalar, as a ufunc does: its [...] is a copy, not a view)
    return numpy_scalar(_map_in_trace(trace, f, xs, shape))


def _map_per_element(f: Callable[..., Any], xs: list) -> Any:
    """``map`` of plain arrays (or forward duals) element by element, on scalars (or scalar duals)."""
    # (called outside map's except clause: an error f raises here (math.log(-1.0): ValueError) is
    # f's own, not one NumPy raised in place of the error that ended the try)
    if any(isinstance(x, LeveledValue) for x in xs):
        return _forward_per_element(f, xs)
    dtype = np.result_type(*xs)  # float32 in, float32 out: as the traced path gives

    # float64 elements as np.float64, as NumPy gives them (1.0 / t at 0 is inf, not ZeroDivisionError):
    # a float subclass, which Python's math takes (np.float32 lacks __trunc__; it stays a Python float)
    # integer and bool elements as NumPy's scalars too (labels[i].max() works on one)
    as_element = [np.float64 if np.asarray(x).dtype == np.float64 else np.asarray(x).dtype.type
                  if np.asarray(x).dtype.kind in "biu" else _same for x in xs]

    def element(*args):
        result = f(*[convert(arg) for convert, arg in zip(as_element, args)])
        if isinstance(result, (Traced, LeveledValue)):  # from a value f closes over
            raise _closed_over_error(f)
        return _one_number(f, result)
    return np.vectorize(element, otypes=[dtype] if dtype.kind == "f" else None)(*xs)


def _map_in_trace(trace: Trace, f: Callable[..., Any], xs: list, shape: tuple, closes_over: bool = False) -> Any:
    """``map`` where ``trace`` follows f's operations: from the traced values among ``xs`` and
    from the plain float arrays as its constants (integer arrays: on a probe of their own)."""
    branches = False
    mixing = [] if closes_over else None  # integer arrays followed in this trace (not on a probe): what they saw
    if mixing is None and any(_is_mapped_array(x) and x.dtype.kind != "f" for x in xs):
        try:
            _call_on_a_probe(f, xs, shape, value_wanted=False)
        except _InRunningTrace:  # f closes over a value of this trace: followed in it, below
            mixing = []
        except _CaughtOnArrays:
            branches = True
        except Exception as error:
            if not _is_branching_error(error):
                raise
            branches = True
    for x in xs:
        if type(x) is Traced and x._expr is not None:
            primal(x)  # an entry of its own, which _mixes_elements follows f's operations from
    stand_ins, first = xs, len(trace.entries)
    if not branches:
        stand_ins = _as_followed(trace, xs, mixing)
        try:
            result = current(_call_on_arrays(f, stand_ins))
        except Exception as error:
            if not _is_branching_error(error):
                raise
            branches = True
    if branches or mixing or _mixes_elements(trace, first, stand_ins, shape):  # (outside the except clause, as above)
        return _evaluate_per_element(trace, f, xs)
    if not isinstance(result, (Traced, LeveledValue)):  # a constant (a branch on a 0-d value returned 2.0)
        differentiated = [np.zeros((), x.dtype) for x in xs if isinstance(x, (Traced, LeveledValue))]
        arrays = [x for x in xs if not isinstance(x, (Traced, LeveledValue))] + differentiated
        return np.full(shape, _one_number(f, result, per_element=False), _promoted_dtype(arrays, differentiated))
    if _shape(result) != shape:  # it reduced or stacked: element by element, which follows f or names what it cannot
        return _evaluate_per_element(trace, f, xs)
    return result


def sum(f: Callable[..., Any], x: Any, axis: Any = None) -> Any:
    """``np.sum(f(x), axis)`` for a scalar function ``f``, differentiated with duals.

    >>> import numpy as np, mixedad
    >>> x = np.zeros(4, dtype=np.float32)
    >>> mixedad.gradient(lambda x: mixedad.sum(lambda t: np.arctan2(t, 2.0), x), x)
    array([0.5, 0.5, 0.5, 0.5], dtype=float32)
    """
    try:
        mapped = _map(f, (x,))  # (not map: an f with several outputs is an error here)
    except _SeveralOutputs as several:
        raise OutputError(str(several)) from None
    return np.sum(mapped, axis=axis)
