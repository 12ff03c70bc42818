"""The public differentiation API: gradient and value_and_gradient.

Everything a user calls lives here or is re-exported from ``mixedad``.
"""
from __future__ import annotations

import copy
import functools
import math
import operator
import types
from typing import Any, Callable, Sequence

import numpy as np

from .complex_inputs import ComplexValue, complex_gradient, complex_input, is_complex_leaf
from .core.arrays import ARRAY_TYPES, LeveledValue
from .core.collector import pause_collector, resume_collector
from .core.errors import InputError, OutputError, replaced_by_numpy, returned_replaced_value_error
from .core.modes import check_requested_mode
from .core.primitive import MixedTracesError
from .core.pytree import flatten, leaf_path, structure, tree_map, unflatten
from .core.recomputed import Recomputed
from .core.fused import close_region
from .core.region import primal
from .core.guards import borrow, check_guards_held, guarded_write_error, release_guards
from .core.heap import keep_memory_faulted_since, page_faults
from .core.tape import CONSTANT_INPUT, LEAF_DECISION, TapeEntry, Trace, backward, record, unit_seed
from .core.traced import RetiredTraced, Traced
from .core.updates import current, sharing_memory
from .rules.table import holds_numpy_scalar


def _argnums_tuple(argnums: int | Sequence[int], n_args: int) -> tuple[int, ...]:
    if type(argnums) is int and 0 <= argnums < n_args:  # the usual call
        return (argnums,)
    numbers = (argnums,) if isinstance(argnums, (int, np.integer)) else argnums
    try:
        if isinstance(numbers, (bool, np.bool_)) or any(isinstance(n, (bool, np.bool_)) for n in numbers):
            raise TypeError
        numbers = tuple(operator.index(n) for n in numbers)
    except TypeError:
        raise TypeError(f"argnums must be an int or a sequence of ints (positions of f's arguments), "
                        f"got {argnums!r}") from None
    for number in numbers:
        if not -n_args <= number < n_args:
            raise ValueError(f"argnums {argnums!r} is out of range for {n_args} positional arguments")
    numbers = tuple(n % n_args for n in numbers)
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"argnums {argnums!r} names an argument twice; list each position once.")
    return numbers


# What an ndarray subclass may change about computing with it. mixedad computes with NumPy's own
# ufuncs and operators on a plain view, so a subclass that changes any of these would get values
# (and gradients) other than the ones f computes on it.
_ARRAY_BEHAVIOUR = ("__array_ufunc__", "__array_function__", "__array_wrap__", "__getitem__",
                    *(f"__{prefix}{op}__" for op in ("add", "sub", "mul", "matmul", "truediv", "floordiv", "mod",
                                                     "pow", "lshift", "rshift", "and", "or", "xor")
                      for prefix in ("", "r", "i")),
                    "__divmod__", "__rdivmod__", "__neg__", "__pos__", "__abs__", "__invert__",
                    "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__")


def _overridden_behaviour(cls: type) -> list[str]:
    """The methods of ``_ARRAY_BEHAVIOUR`` that the ndarray subclass ``cls`` overrides; np.memmap's
    own overrides only decide whether a result stays a memmap, so they are measured from it."""
    base = np.memmap if issubclass(cls, np.memmap) else np.ndarray
    return [name for name in _ARRAY_BEHAVIOUR if getattr(cls, name, None) is not getattr(base, name, None)]


def _leaf_where(number: int, index: int, n_leaves: int, argument: Any = None) -> str:
    """Where a leaf is, for an error message: ``argument 0['fc1']['weight']``, ``argument 0,
    field activation``. Computed only when raising: it walks the argument again."""
    if argument is None:
        return f"argument {number}" + (f", leaf {index}" if n_leaves > 1 else "")
    path = leaf_path(argument, index)
    if path.startswith(".") and "." not in path[1:] and "[" not in path:
        return f"argument {number}, field {path[1:]}"
    return f"argument {number}{path}"


def _leaf_value(leaf: Any, number: int, index: int, n_leaves: int, argument: Any = None) -> np.ndarray:
    """The array a differentiated leaf stands for, or an InputError naming where the leaf is
    (``argument`` is the whole argument the leaf came from)."""
    if type(leaf) is np.ndarray and leaf.dtype.kind == "f":
        return leaf
    path = _leaf_where(number, index, n_leaves, argument)
    if isinstance(leaf, Traced):
        raise InputError(
            f"{path} is already a traced value: a reverse-mode vjp, jacobian or prepared gradient nested "
            "inside a gradient (or inside another vjp or reverse jacobian) is not supported by this version. "
            "Use mixedad.jacobian(..., mode='forward') or mixedad.jvp inside, or mixedad.gradient, which "
            "computes a nested gradient in forward mode.")
    if isinstance(leaf, bool) or isinstance(leaf, (np.bool_,)):
        raise InputError(f"{path} is a bool; mixedad differentiates floating-point inputs only.")
    if isinstance(leaf, np.ma.MaskedArray):
        raise InputError(
            f"{path} is a masked array (np.ma): mixedad differentiates plain arrays and would ignore the "
            "mask. Pass the data and the mask separately and select with np.where(mask, 0.0, x), or "
            "pass x.filled(value).")
    if isinstance(leaf, np.matrix):
        raise InputError(
            f"{path} is an np.matrix, whose * is a matrix product and whose reductions stay 2-D: mixedad "
            "differentiates plain arrays. Pass np.asarray(m) and write products with @.")
    if isinstance(leaf, np.ndarray) and type(leaf) is not np.ndarray:
        overridden = _overridden_behaviour(type(leaf))
        if overridden:
            raise InputError(
                f"{path} is a {type(leaf).__module__}.{type(leaf).__qualname__}, an ndarray subclass that overrides "
                f"{', '.join(overridden[:4])}{' ...' if len(overridden) > 4 else ''}: mixedad computes with "
                "NumPy's own operations on a plain array, so the value and gradient would not be the ones f "
                "computes with the subclass. Pass np.asarray(x) (a plain array), and apply what the subclass "
                "adds inside f.")
        leaf = leaf.view(np.ndarray)  # a memmap or another subclass: its values, as a plain array
    value = leaf if isinstance(leaf, ARRAY_TYPES) else np.asarray(leaf)  # a forward dual stays one
    kind = value.dtype.kind
    if kind in "iub":
        raise InputError(
            f"{path} has {'boolean' if kind == 'b' else 'integer'} dtype {value.dtype}; a derivative with respect "
            f"to {'a boolean' if kind == 'b' else 'an integer'} is not defined. Pass floats (e.g. "
            "x.astype(np.float64)), or leave it out of the differentiated arguments: not in argnums, or for "
            "jvp a value f closes over (mixedad.jvp(lambda x: f(x, labels), (x,), (v,))).")
    if kind == "c":
        raise InputError(f"{path} is complex ({value.dtype}): gradient, value_and_gradient, grad and vjp take complex "
                         "inputs; jvp, hessian, hvp and jacobian take real ones. Pass the real and imaginary "
                         "parts as two real arguments and build x + 1j * y inside f.")
    if kind != "f":
        raise InputError(
            f"{path} is {_described(leaf)} (dtype {value.dtype}); mixedad differentiates floating-point arrays. "
            "Pass a setting that is not a float as a separate argument left out of argnums, or close over "
            "it (mixedad.gradient(lambda w: f(w, setting), w)).")
    return value


def _described(leaf: Any) -> str:
    if isinstance(leaf, (str, bytes)):
        return repr(leaf) if len(leaf) <= 40 else f"a {type(leaf).__name__} of length {len(leaf)}"
    return f"a {type(leaf).__name__}"


class _Inputs:
    """The differentiated arguments, flattened into traced leaves."""

    def __init__(self, trace: Trace, args: tuple, argnums: tuple[int, ...], trace_constants: bool = False,
                 index_arrays: bool = False):
        self.args = list(args)
        self.argnums = argnums
        self.definitions = []
        self.leaves: list[list[tuple[Any, Traced]]] = []
        self.constant_leaves: list[Traced] = []  # float arrays of the other arguments, if traced
        self.index_leaves: list[tuple[int, int, Recomputed]] = []  # their integer and bool arrays, if taken as
        # inputs: (argument number, leaf index, the value a replay refills)
        self.has_complex_leaves = False  # (a complex leaf is a ComplexValue of two traced leaves)
        self.rebuilt: list[tuple[int, Any, list]] = []  # the other arguments made anew to hold them: (number,
        # definition, leaves)
        entries = trace.entries
        built = []
        flat = {}
        for number in argnums:
            leaves, definition = flatten(args[number])
            flat[number] = leaves
            traced_leaves = []
            for index, leaf in enumerate(leaves):
                if type(leaf) is np.ndarray and leaf.dtype.kind == "f":
                    value = leaf  # the usual leaf, without the call
                elif is_complex_leaf(leaf):  # two real inputs, which f sees as one complex value
                    self.has_complex_leaves = True
                    traced_leaves.append((leaf, complex_input(trace, leaf)))
                    continue
                else:
                    value = _leaf_value(leaf, number, index, len(leaves), args[number])
                borrow(trace, value)
                entry = TapeEntry((), None, "input", LEAF_DECISION, value.shape, value.dtype)
                entry.index = len(entries)
                entries.append(entry)
                traced_leaves.append((leaf, Traced(trace, value, entry)))
            self.definitions.append(definition)
            self.leaves.append(traced_leaves)
            built.append((number, definition, [t for _, t in traced_leaves]))
        # only inputs so far (the backward sweep stops before them); a dataclass's __post_init__,
        # which building the arguments runs, may record steps on the traced leaves
        trace.leading_inputs = len(entries)
        for number, definition, traced in built:
            self.args[number] = unflatten(definition, traced)
        if trace_constants:
            self._trace_constants(trace, index_arrays)
        if len(args) > 1 or len(flat[argnums[0]]) > 1:  # an update in place of an input asks (cleared at the end)
            trace.shared_argument = functools.partial(self._shared_argument, args, flat)

    def _shared_argument(self, args: tuple, flat: dict, target: Traced) -> str | None:
        """``"argument 0, whose memory argument 1 shares"`` if the input ``target`` shares its
        memory with another leaf of the arguments (x passed twice, or with a view of it), else None."""
        own = next(((number, index) for number, leaves in zip(self.argnums, self.leaves)
                    for index, (_, traced) in enumerate(leaves) if traced is target), None)
        if own is None:
            return None
        others = [((number, index), leaf) for number, arg in enumerate(args)
                  for index, leaf in enumerate(flat.get(number) or flatten(arg)[0]) if (number, index) != own]
        other = sharing_memory(target._value, others)
        if other is None:
            return None

        def name(key):
            number, index = key
            return _leaf_where(number, index, len(flat.get(number) or flatten(args[number])[0]), args[number])
        return f"{name(own)}, whose memory {name(other)} shares"

    def _trace_constants(self, trace: Trace, index_arrays: bool) -> None:
        """Trace the float arrays of the non-differentiated arguments too (no gradient flows
        to them): then everything computed from them is recorded, and can be recomputed. With
        ``index_arrays``, their integer and bool arrays (labels, indices, masks) become values
        a replay refills (``core.recomputed``), so that new labels need no new recording."""
        kinds = "fbiu" if index_arrays else "f"
        for number, arg in enumerate(self.args):
            if number in self.argnums:
                continue
            leaves, definition = flatten(arg)
            if not any(type(leaf) is np.ndarray and leaf.dtype.kind in kinds for leaf in leaves):
                continue
            for index, leaf in enumerate(leaves):
                if type(leaf) is not np.ndarray or leaf.dtype.kind not in kinds:
                    continue
                if leaf.dtype.kind != "f":
                    # its own array (f may change the caller's), in the caller's layout (y.ravel(order="K"))
                    leaves[index] = Recomputed(trace, leaf.copy(order="K"))
                    self.index_leaves.append((number, index, leaves[index]))
                    continue
                borrow(trace, leaf)
                entry = record(trace, TapeEntry((), None, CONSTANT_INPUT, LEAF_DECISION, leaf.shape, leaf.dtype))
                leaves[index] = Traced(trace, leaf, entry)
                self.constant_leaves.append(leaves[index])
            self.args[number] = unflatten(definition, leaves)
            self.rebuilt.append((number, definition, leaves))

    def changed_by_f(self) -> int | None:
        """The first of the arguments made anew by ``_trace_constants`` that f changed in place (a
        key assigned in a dict, an attribute set): NumPy code would have changed the caller's."""
        for number, definition, leaves in self.rebuilt:
            now, now_definition = flatten(self.args[number])
            if len(now) != len(leaves) or any(a is not b for a, b in zip(now, leaves)) \
                    or structure(now_definition) != structure(definition):
                return number
        return None

    def gradients(self, borrowed: set[int]):
        results = []
        for definition, leaves in zip(self.definitions, self.leaves):
            grads = []
            for index, (original, traced) in enumerate(leaves):
                if type(traced) is ComplexValue:
                    where = _leaf_where(self.argnums[len(results)], index, len(leaves))
                    grads.append(complex_gradient(original, traced, where))
                    continue
                cotangents = traced._entry.cotangents
                grads.append(gradient_leaf(original, None if cotangents is None else cotangents[0], traced._value,
                                           borrowed))
            results.append(unflatten(definition, grads, derivative=True))
        return results


def gradient_leaf(original: Any, ct: Any, value: np.ndarray, borrowed: set[int]) -> Any:
    """The cotangent ``ct`` (None for zero) of the input ``value`` (given by the user as
    ``original``) as a gradient: ``value``'s shape and dtype, ``original``'s type, and never
    an array in ``borrowed`` (the user's own arrays, or one already returned)."""
    if type(ct) is np.ndarray and type(original) is np.ndarray and ct.shape == value.shape \
            and ct.dtype == value.dtype and ct.flags.writeable and id(ct) not in borrowed \
            and (ct.base is None or id(ct.base) not in borrowed):  # the usual case: hand it over
        borrowed.add(id(ct))
        return ct
    if ct is None:
        ct = np.zeros(value.shape, value.dtype)
    elif isinstance(ct, (LeveledValue, Traced)):  # the gradient carries tangents (forward over reverse),
        # or is a value of an enclosing differentiation (a vjp pullback given a cotangent it traces)
        if ct.shape != value.shape or ct.dtype != value.dtype:
            ct = np.broadcast_to(ct, value.shape).astype(value.dtype)
        return ct[()] if _stands_for_a_scalar(original) else ct  # a scalar's: immutable, as plain
    elif type(ct) is not np.ndarray or not ct.flags.writeable or ct.shape != value.shape:
        ct = np.array(np.broadcast_to(ct, value.shape), dtype=value.dtype)
    elif ct.dtype != value.dtype:
        ct = ct.astype(value.dtype)
    elif id(ct) in borrowed or (ct.base is not None and id(ct.base) in borrowed):
        ct = ct.copy()  # the user's own array (or one already returned for another leaf)
    if type(ct) is np.ndarray:
        borrowed.add(id(ct))
    return _scalar_like(ct, original)


def _stands_for_a_scalar(original: Any) -> bool:
    """Whether a differentiated argument is a scalar (a Python float, a NumPy scalar, or a traced
    value standing for one), whose derivative is then a scalar too: immutable, its ravel() a copy."""
    return isinstance(original, float) or holds_numpy_scalar(original)


def _scalar_like(array: np.ndarray, original: Any) -> Any:
    """``array`` as the kind of scalar ``original`` is, if it is one: a NumPy scalar (np.float64
    included, though it is a float too) gives a NumPy scalar, a Python float a Python float."""
    if isinstance(original, np.generic):
        return array[()]
    if isinstance(original, float):
        return float(array)
    return array


def call_guarded(trace: Trace, f: Callable[..., Any], args: list) -> Any:
    """``f(*args)``, NumPy's error at a write into a guarded array replaced by mixedad's."""
    try:
        result = f(*args)
    except TypeError as error:
        note_sequences_of_scalars(error, args)
        raise
    except ValueError as error:
        replacement = replaced_by_numpy(error) or guarded_write_error(trace, error)
        if replacement is None:
            raise
        # (NumPy's traceback: its last frames are f's line that raised, as the message says)
        raise replacement.with_traceback(error.__traceback__) from None
    check_guards_held(trace)
    # an array that f updated by assignment (y[i] = v) stands for its newest value
    return result if type(result) is Traced else tree_map(current, result)


def note_sequences_of_scalars(error: TypeError, args: Sequence[Any]) -> None:
    """Explain a TypeError in f (``x[1:] ** 2`` on a list) when an argument is a list or tuple of
    numbers: mixedad, like JAX and autograd, takes it as a tree of scalars, not as an array."""
    if any(note.startswith("mixedad: argument") for note in getattr(error, "__notes__", ())):
        return  # (a nested differentiation's call noted it)
    for number, arg in enumerate(args):
        # (np.ndim of a list would convert it: of traced values, an error of its own)
        if type(arg) in (list, tuple) and arg and all(type(leaf) not in (list, tuple) and np.ndim(leaf) == 0
                                                      for leaf in arg):
            kind = type(arg).__name__
            error.add_note(f"mixedad: argument {number} is a {kind} of {len(arg)} numbers, which mixedad "
                           f"differentiates as a {kind} of scalars (f receives a {kind}, not an array). To "
                           f"differentiate it as an array, pass np.asarray(...) of it.")
            return


def _plain_tree(tree: Any, trace: Trace, depth: int = 2) -> Any:
    """``tree`` with the values ``trace`` traced as plain arrays; an enclosing differentiation's
    values stay traced, for it to differentiate (an aux output that holds one). An object in it
    (a SimpleNamespace, a user's class) holding traced values comes back as a copy holding
    plain ones, to ``depth`` objects deep."""
    return tree_map(lambda leaf: _plain_leaf(leaf, trace, depth), tree)


def _plain_leaf(leaf: Any, trace: Trace, depth: int) -> Any:
    if isinstance(leaf, Traced):
        return primal(leaf) if leaf._trace is trace else leaf
    if isinstance(leaf, LeveledValue):
        return leaf._plain("an auxiliary output") if leaf.dtype.kind == "c" else leaf
    if type(leaf) is Recomputed:  # a mask: a prepared replay recomputes it, then reads it here
        return leaf.output_value()
    if depth and isinstance(getattr(leaf, "__dict__", None), dict) and not isinstance(leaf, _NOT_DATA):
        attributes = vars(leaf)
        traced = [name for name, value in attributes.items()
                  if any(isinstance(part, (Traced, LeveledValue, Recomputed)) for part in flatten(value)[0])]
        if traced:  # the object as it is, but for the values of this differentiation
            plain = copy.copy(leaf)
            if plain is not leaf:  # (a logging.Logger's copy is itself: left alone)
                vars(plain).update({name: _plain_tree(attributes[name], trace, depth - 1) for name in traced})
                return plain
    return leaf


_NOT_DATA = (type, types.ModuleType, types.FunctionType, types.MethodType, functools.partial, np.ndarray)


# Profilers active around ordinary gradient calls (``with mixedad.profiling()``): each is
# called with the finished trace. Empty means no instrumentation at all.
ACTIVE_OBSERVERS: list[Callable[[Trace, Callable[..., Any]], None]] = []


_SCALAR_NEEDED = ("f must return a {}scalar or an array of one element (gradient, value_and_gradient, hessian "
                  "and hvp differentiate scalar functions)")


def _differentiate(f, args, argnums, has_aux, mode, want_value, instrumented=False, observe=None, recording=None):
    """The one differentiation routine behind the public functions. ``recording`` (from a
    prepared gradient) receives the trace, its inputs and its output, with the tape's
    steps recorded for replay and the other arguments' float arrays traced as constants."""
    keep_entries = recording is not None  # a prepared gradient replays the tape (observers read it in the call)
    if ACTIVE_OBSERVERS and observe is None:
        instrumented = True
        observers = list(ACTIVE_OBSERVERS)

        def observe(trace):
            for observer in observers:
                observer(trace, f)
    if mode != "auto":
        check_requested_mode(mode)
    numbers = _argnums_tuple(argnums, len(args))
    if recording is None and _held_by_an_enclosing_trace(args, numbers):
        return _gradient_inside_a_gradient(f, args, argnums, has_aux, want_value)
    trace = Trace(mode, instrumented=instrumented)
    if recording is not None:
        trace.program = []
        recording.trace = trace
    faults = page_faults()
    finished = False  # observers (profilers) see calls that return a gradient, not ones that raised
    try:
        pause_collector()  # the tape is acyclic: collecting cycles while it grows only costs time
        inputs = _Inputs(trace, args, numbers, trace_constants=recording is not None and recording.trace_constants,
                         index_arrays=recording is not None and recording.index_arrays)
        if recording is not None:
            recording.inputs = inputs
        result = call_guarded(trace, f, inputs.args)
        aux = None
        if has_aux:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise OutputError("has_aux=True needs f to return a pair (output, aux).")
            result, aux = result
            if recording is not None:
                recording.aux = aux
        if type(result) is RetiredTraced:  # (else the first read of it would blame the caller's line)
            raise returned_replaced_value_error(result._replaced_at)
        output_shape = None
        if isinstance(result, Traced) and result._shape != () and math.prod(result._shape) == 1:
            output_shape, result = result._shape, np.reshape(result, ())  # a size-1 array, as autograd takes it
        if isinstance(result, Traced):
            if result._shape != ():
                raise OutputError(
                    f"{_SCALAR_NEEDED.format('')}; it returned shape {result._shape}. Reduce it (np.sum, np.mean) "
                    "or use mixedad.jacobian.")
            if result.dtype.kind != "f":
                raise OutputError(f"{_SCALAR_NEEDED.format('floating-point ')}; f returned {result.dtype}.")
        if isinstance(result, Traced) and result._trace is not trace:
            value = enclosing_output(result)  # does not depend on the inputs: the gradient is exactly zero
        elif isinstance(result, Traced):
            if result._expr is not None:
                close_region(result)  # the output region: one entry, evaluated only as needed
            if recording is not None:
                recording.output, recording.output_shape = result, output_shape
            # the value first: a fused output region then computes it with its partials, in one pass;
            # not under the profiler, whose entries time the partials in the backward pass, as gradient runs them
            value = primal(result) if want_value and not instrumented else None
            backward(trace, result._entry, result._slot, unit_seed(result.dtype))
            if want_value and instrumented:
                value = primal(result)
        else:
            if isinstance(result, (tuple, list)) and not has_aux:
                raise OutputError(
                    f"{_SCALAR_NEEDED.format('')}; it returned a {type(result).__name__} of "
                    f"{len(result)} values. If the values after the first are auxiliary outputs, return "
                    "(output, aux) and pass has_aux=True: the result is then (gradient, aux).")
            plain = result if isinstance(result, LeveledValue) else np.asarray(result)
            if plain.size == 1 and plain.dtype.kind in "biu":
                what = ("a bool (a comparison" if plain.dtype.kind == "b"
                        else f"an integer ({plain.dtype}: a count or an index")
                raise OutputError(
                    f"{_SCALAR_NEEDED.format('floating-point ')}; it returned {what} has no derivative). "
                    "Return the quantity compared or counted, or a float built from it (for a constant, 0.0).")
            if plain.dtype.kind == "c":
                raise OutputError(f"{_SCALAR_NEEDED.format('real ')}; it returned a complex value ({plain.dtype}). "
                                  "Return a real quantity made from it: np.abs(z) ** 2, z.real, np.angle(z).")
            if plain.size != 1 or plain.dtype.kind != "f":
                what = (f"{type(result).__name__} with shape {plain.shape}" if plain.dtype.kind in "biufc"
                        else "None" if result is None else type(result).__name__)  # no shape to speak of
                raise OutputError(f"{_SCALAR_NEEDED.format('')}; it returned {what}.")
            value = result  # does not depend on the inputs: the gradient is exactly zero
        grads = inputs.gradients(trace.borrowed)
        if recording is not None:  # (a replay with arguments that share memory must trace f instead)
            retired = {id(updated) for updated, _ in trace.retired}
            recording.updates_inputs = any(id(leaf) in retired for leaves in inputs.leaves for _, leaf in leaves) \
                or any(id(leaf) in retired for leaf in inputs.constant_leaves)
        if has_aux:
            aux = _plain_tree(aux, trace)
        finished = True
    finally:
        try:
            trace.active = False
            release_guards(trace)
            if observe is not None and finished:
                observe(trace)
            if not keep_entries:
                # Rules and deferred regions refer back to the trace (through the traced values
                # they read): dropping its entries breaks those cycles, so the tape is freed here,
                # by reference counting, not whenever the cyclic collector next runs.
                trace.entries = []
        finally:
            try:
                release_guards(trace)  # a no-op, unless a Ctrl-C stopped the call above midway
            finally:
                # The output leads back through every entry's parents: dropped before the collector
                # resumes, the tape is freed by reference counting, and the collection that the
                # pause's allocations trigger at once does not walk it (40 ms for 12000 ops).
                result = None
                resume_collector()
    keep_memory_faulted_since(faults)  # the tape is freed: a large one should stay with the process
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()] if output_shape is None else np.reshape(value, output_shape)
    grad = grads[0] if isinstance(argnums, (int, np.integer)) else tuple(grads)
    if want_value:
        return ((value, aux) if has_aux else value), grad
    return (grad, aux) if has_aux else grad


def enclosing_output(result: Traced) -> Traced:
    """An output of ``f`` that an enclosing differentiation traces (computed from values ``f``
    closes over, not from its arguments): returned as it is, for the enclosing one to
    differentiate. Its tape is not this differentiation's, whose backward pass must not touch it."""
    if not result._trace.active:
        raise MixedTracesError(
            "f returned a traced value of a differentiation that has finished (kept from an earlier call, "
            "or a copy made by pickle): its derivative cannot be followed. Return a value computed from "
            "f's arguments.")
    return result


def _held_by_an_enclosing_trace(args, numbers) -> bool:
    """Whether a differentiated argument is a value that an enclosing gradient traces (an array
    assigned into, x[i] = v, included: what it stands for now)."""
    for number in numbers:
        arg = args[number]
        if type(arg) is not np.ndarray and (type(current(arg)) is Traced or any(
                type(current(leaf)) is Traced for leaf in flatten(arg)[0])):
            return True
    return False


def _gradient_inside_a_gradient(f, args, argnums, has_aux, want_value):
    """A gradient of values that an enclosing gradient traces (``gradient(lambda x:
    g(gradient(f, x)), x)``, autograd's ``grad(grad(f))``): computed in forward mode,
    ``jacobian(mode="forward")`` of the scalar ``f`` (N input directions in passes of up to 12),
    on the enclosing trace's values, which the enclosing gradient then differentiates in turn
    (reverse over forward). N passes where a reverse sweep would take one: for a Hessian of
    many inputs, ``mixedad.hessian`` or ``hvp`` (forward over reverse) are faster."""
    from .transforms import jacobian  # transforms is built on this module

    def output(*call_args):
        result = f(*call_args)
        result = result[0] if has_aux and isinstance(result, tuple) and len(result) == 2 else result
        if np.size(result) != 1 or np.result_type(result).kind != "f":
            raise OutputError(f"{_SCALAR_NEEDED.format('floating-point ')}; it returned "
                              f"{np.result_type(result)} with shape {np.shape(result)}.")
        return np.reshape(result, ()) if np.shape(result) != () else result

    grad = jacobian(output, *args, argnums=argnums, mode="forward")
    numbers = _argnums_tuple(argnums, len(args))
    grads = grad if isinstance(argnums, Sequence) else (grad,)
    grads = tuple(_like_argument(g, args[number]) for g, number in zip(grads, numbers))
    grad = grads if isinstance(argnums, Sequence) else grads[0]
    if not (want_value or has_aux):
        return grad
    result = f(*args)  # the value and aux, on the enclosing trace's values
    if has_aux and not (isinstance(result, tuple) and len(result) == 2):
        raise OutputError("has_aux=True needs f to return a pair (output, aux).")
    if want_value:
        return result, grad
    return grad, result[1]


def _like_argument(grad: Any, argument: Any) -> Any:
    """A forward-mode gradient with its argument's leaf types and dtypes, as gradient gives them."""
    grad_leaves, definition = flatten(grad)
    leaves = []
    for g, leaf in zip(grad_leaves, flatten(argument)[0]):
        dtype = np.result_type(leaf)
        if type(g) is np.ndarray or isinstance(g, np.generic):
            g = _scalar_like(np.asarray(g).astype(dtype, copy=False), leaf)
        elif isinstance(g, (Traced, LeveledValue)):  # a value of an enclosing differentiation
            g = g if np.result_type(g) == dtype else g.astype(dtype)
            g = g[()] if _stands_for_a_scalar(leaf) and np.shape(g) == () else g  # immutable, as plain
        leaves.append(g)
    return unflatten(definition, leaves)


def _nested_or_not(f, args, argnums, has_aux, mode, want_value):
    try:
        return _differentiate(f, args, argnums, has_aux, mode, want_value)
    except MixedTracesError as error:
        if not getattr(error, "traces_met", False):
            raise
    # f closes over values an enclosing gradient traces (d/dx of x * d/dy (x + y)): forward mode
    return _gradient_inside_a_gradient(f, args, argnums, has_aux, want_value)


def gradient(f: Callable[..., Any], *args: Any, argnums: int | Sequence[int] = 0,
             has_aux: bool = False, mode: str = "auto") -> Any:
    """The gradient of the scalar function ``f`` at ``args``, with respect to ``args[argnums]``.

    ``f`` is ordinary NumPy code. The result has the structure and dtypes of the
    differentiated argument (a tuple of them when ``argnums`` is a tuple). ``mode`` is
    ``"auto"`` (mixed: dual regions for elementwise work, a reverse tape for the rest),
    ``"reverse"`` (every op on the tape) or ``"forward"`` (dual regions wherever legal);
    all three give the same gradient. With ``has_aux``, ``f`` returns ``(output, aux)``
    and this returns ``(grad, aux)``.

    >>> import numpy as np, mixedad
    >>> mixedad.gradient(lambda x: np.sum(x ** 2), np.array([1.0, 2.0]))
    array([2., 4.])
    """
    return _nested_or_not(f, args, argnums, has_aux, mode, want_value=False)


def value_and_gradient(f: Callable[..., Any], *args: Any, argnums: int | Sequence[int] = 0,
                       has_aux: bool = False, mode: str = "auto") -> tuple[Any, Any]:
    """``(f(*args), gradient)`` in one pass; with ``has_aux``, ``((value, aux), gradient)``.

    >>> import numpy as np, mixedad
    >>> value, grad = mixedad.value_and_gradient(lambda x: np.sum(np.sin(x)), np.zeros(2))
    >>> float(value), grad
    (0.0, array([1., 1.]))
    """
    return _nested_or_not(f, args, argnums, has_aux, mode, want_value=True)


def grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False,
         mode: str = "auto") -> Callable[..., Any]:
    """``f``'s gradient as a function, as in JAX and autograd: ``grad(f)(*args)`` is
    ``gradient(f, *args)``. Keyword arguments go to ``f``, not differentiated (as in JAX).

    >>> import numpy as np, mixedad
    >>> df = mixedad.grad(lambda x: np.sum(np.sin(x)))
    >>> df(np.zeros(2))
    array([1., 1.])
    """
    def gradient_of_f(*args: Any, **kwargs: Any) -> Any:
        return gradient(functools.partial(f, **kwargs) if kwargs else f, *args, argnums=argnums, has_aux=has_aux,
                        mode=mode)
    gradient_of_f.__name__ = f"grad_{getattr(f, '__name__', 'f')}"
    gradient_of_f.__doc__ = f"The gradient of {getattr(f, '__name__', 'f')} (mixedad.grad)."
    return gradient_of_f


def value_and_grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   mode: str = "auto") -> Callable[..., tuple[Any, Any]]:
    """``(f(*args), gradient)`` as a function of ``args``: ``value_and_gradient`` curried.

    >>> import numpy as np, mixedad
    >>> value, g = mixedad.value_and_grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
    >>> float(value), g
    (5.0, array([2., 4.]))
    """
    def value_and_gradient_of_f(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        return value_and_gradient(functools.partial(f, **kwargs) if kwargs else f, *args, argnums=argnums,
                                  has_aux=has_aux, mode=mode)
    value_and_gradient_of_f.__name__ = f"value_and_grad_{getattr(f, '__name__', 'f')}"
    return value_and_gradient_of_f
