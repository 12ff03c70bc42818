"""Prepared gradients: ``mixedad.prepare(f, *args)`` for repeated calls on same-shaped inputs.

``prepare`` traces ``f`` once, recording for every tape entry how to recompute it
(``core.replay``). Later calls check the inputs against the shapes and dtypes prepared for
(a clear error instead of a silent broadcast), then *replay* the recording on the new
values: the same NumPy kernels and the same rules run, without calling ``f`` and without
dispatching each NumPy call through the traced type. ``out=`` writes gradients into
caller-owned buffers (the analogue of Enzyme's ``Duplicated``).

A replay is only correct if ``f`` would record the same program again, so it is used only
when that is known:

* the float arrays of the arguments that are not differentiated are traced as constants,
  so that whatever ``f`` computes from them is recorded and recomputed;
* their integer and bool arrays (labels, indices, masks) are values the replay refills
  (``core.recomputed``), as long as ``f`` only indexes, compares or computes elementwise with
  them; if it reads their values, they are compared like the other leaves
  (``Prepared._recorded_call``);
* every other leaf of those arguments (Python numbers, options) is compared with the one
  recorded; a different value records ``f`` again (one that differs on every call is traced
  instead: ``Prepared._changed``);
* a program that looked at values (comparisons, ``bool()``, masks, ``argmax``, an integer
  result of a traced value: ``value_dependent``) may take another path on other inputs,
  so it is traced again on every call, as is a program with a step that cannot be
  replayed (the per-element fallback of ``mixedad.sum``/``map``), one that drew random
  numbers from a generator it or its arguments reach by name (``random_draws``), or one of complex inputs.

As with ``jax.jit``, ``f`` must be a function of its arguments (a global rebound between calls is replayed
as recorded). One recorded tape serves one call at a time: threads take turns (prepare one per thread instead).
"""
from __future__ import annotations

import dataclasses
import functools
import threading
from itertools import repeat
from typing import Any, Callable, Sequence

import numpy as np

from .api import (ACTIVE_OBSERVERS, _argnums_tuple, _differentiate, _gradient_inside_a_gradient, _leaf_value,
                  _plain_tree, gradient_leaf)
from .core.arrays import LeveledValue
from .core.errors import InPlaceMutationError, InputError, MixedadError
from .core.heap import keeping_memory
from .core.primitive import MixedTracesError
from .core.pytree import compiled_builder, compiled_reader, flatten, leaf_path, structure, unflatten
from .core.replay import Program
from .core.traced import Traced
from .core.updates import arrays_share_memory
from .prepared_arguments import STATEFUL, dataclass_extras, recorded_state, same_extras, same_static, write_into
from .random_draws import RandomDraws


def _leaf_signature(leaf: Any) -> tuple:
    if type(leaf) is np.ndarray:
        return leaf.shape, leaf.dtype
    if _is_numeric(leaf):
        return np.shape(leaf), np.result_type(leaf).str
    return (type(leaf),)


def _reader(arg: Any) -> Callable[[Any], list | None] | None:
    """Generated code that gives the leaves of an argument like ``arg`` (a tree of arrays of
    the same structure, shapes and dtypes), or None for any other; None if ``arg`` has leaves
    other than arrays (which the general check compares by value or type)."""
    leaves, definition = flatten(arg)
    if not all(type(leaf) is np.ndarray for leaf in leaves):
        return None
    return compiled_reader(definition, [(leaf.shape, leaf.dtype) for leaf in leaves])


def _outline(value: Any) -> str:
    """A short description of an argument, for error messages: ``a float64 array of shape (3,)``,
    ``a dict with keys 'W', 'b'``, ``a list of 3 entries``."""
    if isinstance(value, np.ndarray):
        return f"{'an' if value.dtype.name[0] in 'aeiou' else 'a'} {value.dtype} array of shape {value.shape}"
    if isinstance(value, dict):
        return f"a {type(value).__name__} with keys {', '.join(map(repr, value))}" if value else "an empty dict"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} entries"
    if isinstance(value, (np.generic, float, int, complex, bool)):
        return f"a {type(value).__name__} ({np.result_type(value)})"
    return f"a {type(value).__name__}"


def _outline_of_signature(signature: tuple) -> str:
    if len(signature) == 2 and isinstance(signature[1], np.dtype):
        return f"a {signature[1]} array of shape {signature[0]}"
    if len(signature) == 2:  # a Python or NumPy scalar: (shape, dtype string)
        return f"a scalar ({np.dtype(signature[1])})"
    return f"a {signature[0].__name__}"


def _structure_difference(new: Any, prepared: Any, path: str) -> str | None:
    """Where the tree structures ``new`` and ``prepared`` (``core.pytree.structure``) first differ."""
    if new == prepared:
        return None
    where = f"{path} is" if path else "it is"

    def kind(node):
        if node is None:
            return "a leaf (an array or a value)"
        if node[0] == "none":
            return "None"
        return f"a {node[1].__name__ if isinstance(node[1], type) else 'defaultdict'}"
    if new is None or prepared is None or new[0] == "none" or prepared[0] == "none" or new[:2] != prepared[:2]:
        return f"{where} {kind(new)}, prepared for {kind(prepared)}" if path else None  # else: the outline
    (container, _, names, children), (_, _, prepared_names, prepared_children) = new, prepared
    names, prepared_names = names or (), prepared_names or ()
    if names != prepared_names:
        if container is dict and set(names) == set(prepared_names):
            return (f"{where} a dict with keys {_listed(names)}, prepared for the keys in the order "
                    f"{_listed(prepared_names)}: the order is part of the recorded program (f may iterate over the "
                    f"dict), so pass the dict in that order ({{k: d[k] for k in [{_listed(prepared_names)}]}})")
        label = "fields" if container is dataclasses else "keys"
        return f"{where} {kind(new)} with {label} {_listed(names)}, prepared for {label} {_listed(prepared_names)}"
    if len(children) != len(prepared_children):
        return f"{where} {kind(new)} of {len(children)} entries, prepared for {len(prepared_children)}"
    for position, (child, prepared_child) in enumerate(zip(children, prepared_children)):
        if container is dict:
            step = f"[{names[position]!r}]"
        elif container is dataclasses:
            step = f".{names[position]}"
        else:
            step = f"[{position}]"
        found = _structure_difference(child, prepared_child, path + step)
        if found:
            return found
    return None


def _listed(names) -> str:
    return ", ".join(map(repr, names)) if names else "(none)"


def _comparable(definition: Any) -> Any:
    """``definition`` if ``==`` on it compares structure only (no dataclass template, whose
    ``==`` would compare field values), else None."""
    if definition is None or definition[0] == "none":
        return definition
    if definition[0] is dataclasses:
        return None
    return definition if all(_comparable(child) is child for child in definition[3]) else None


def _signature(tree: Any) -> tuple:
    leaves, definition = flatten(tree)
    return structure(definition), tuple(_leaf_signature(leaf) for leaf in leaves)


def _is_numeric(leaf: Any) -> bool:
    return isinstance(leaf, (np.ndarray, np.generic, float, int, bool, complex))


def _is_traced_constant(leaf: Any) -> bool:
    """The leaves of non-differentiated arguments that a recording traces (float arrays)."""
    return type(leaf) is np.ndarray and leaf.dtype.kind == "f"


def _is_index_array(leaf: Any) -> bool:
    """The leaves of non-differentiated arguments that a recording may take as inputs a replay
    refills (integer and bool arrays: labels, indices, masks)."""
    return type(leaf) is np.ndarray and leaf.dtype.kind in "biu"


# A program that looked at input values this many recordings in a row is traced plainly from
# then on (recording costs more than tracing: some 20%), no longer in the hope it stops.
_RECORDINGS_IN_A_ROW = 3
_WATCHED_REPLAYS = 3  # replays that count page faults (core.heap); later ones would spend a microsecond on it


def _untraceable(error: Exception) -> str:
    """Why the other arguments' arrays are no longer traced as constants: ``error``'s first sentence,
    whole if mixedad's (what f did, the line it quotes, what that would lose), else its first words
    (another's may hold an array's repr)."""
    reason = _first_sentence(str(error))
    reason = reason if isinstance(error, MixedadError) else _clipped(reason)
    return f"the other arguments' arrays could not be traced as constants ({reason})"


def _first_sentence(text: str) -> str:
    end = text.find(". ")
    while end >= 0 and text.count("`", 0, end) % 2:  # inside a quoted source line: `x = a. b`
        end = text.find(". ", end + 2)
    return (text if end < 0 else text[:end]).strip()


def _clipped(text: str, limit: int = 200) -> str:
    """``text``, or as many of its words as fit in ``limit`` characters and an ellipsis."""
    cut = text.rfind(" ", 0, limit) if len(text) > limit else -1
    return text if len(text) <= limit else text[:cut if cut > 0 else limit].rstrip(" ,;:") + " ..."


_NESTED = ("f nests a reverse-mode differentiation over values this one traces: each call differentiates in "
           "forward mode, as mixedad.gradient does")


class _Recording:
    """What ``_differentiate`` hands back when it records a program."""

    def __init__(self, trace_constants: bool, index_arrays: bool = False):
        self.trace_constants = trace_constants
        self.index_arrays = index_arrays
        self.trace = self.inputs = self.output = self.aux = None
        self.output_shape = None  # of a one-element array f returned (output is it reshaped to a scalar)
        self.updates_inputs = False  # f updated a differentiated or traced input in place


class Prepared:
    """A gradient of ``f`` prepared for arguments shaped like the ones given to
    :func:`prepare`. Call :meth:`gradient` or :meth:`value_and_gradient`.

    ``replays`` says whether calls replay the recorded program (``why_traced`` says why
    not); ``value_dependent`` whether the program looked at input values.
    """

    def __init__(self, f: Callable[..., Any], args: tuple, argnums: int | Sequence[int], mode: str, has_aux: bool):
        self.f = f
        self.argnums = argnums
        self.mode = mode
        self.has_aux = has_aux
        self.numbers = _argnums_tuple(argnums, len(args))
        self.signatures = [_signature(arg) for arg in args]
        self._outlines = [_outline(arg) for arg in args]  # for error messages
        self._comparable = [_comparable(flatten(arg)[1]) for arg in args]  # for a fast check
        self._readers = [_reader(arg) for arg in args]  # and a faster one for trees of arrays
        self.value_reads: tuple[str, ...] = ()
        self.why_traced = ""
        self._program: Program | None = None
        self._constants_refused = ""  # why f refused a traced constant, if it did (then: never traced again)
        self._index_arrays_refused = ""  # what f did with index arrays taken as inputs (then: never again)
        self._dependent_recordings = 0  # recordings in a row that looked at input values
        self._changes_in_a_row = 0  # calls in a row whose other arguments differed from the recorded call's
        self._watched_replays = _WATCHED_REPLAYS  # replays left whose page faults are counted (core.heap)
        self._changing_reason: tuple = (None, "")  # the last such argument, and what why_traced says of it
        # A call keeps its values on the recorded trace: calls from several threads take turns
        self._lock = threading.Lock()
        self._caller: int | None = None  # the thread whose call is running
        self._record(args, want_value=True)  # traced once now: errors surface at prepare time

    @property
    def value_dependent(self) -> bool:
        """Whether the last trace looked at input values (so the program may change with them)."""
        return bool(self.value_reads)

    @property
    def replays(self) -> bool:
        """Whether calls replay the recorded program instead of tracing ``f`` again."""
        return self._program is not None and not self.why_traced

    # --- recording ---------------------------------------------------------------------
    def _record(self, args: tuple, want_value: bool):
        static, sizes = self._argument_state(args)  # as passed: f may update an int array in place
        extras = [(number, [{key: recorded_state(value) for key, value in found.items()} for found in extras])
                  for number, extras in enumerate(map(dataclass_extras, args)) if extras]
        why = self._constants_refused
        draws = RandomDraws(self.f, args)
        refused = None
        try:
            result, recording = self._recorded_call(args, want_value, trace_constants=not why)
            changed = recording.inputs.changed_by_f() if recording.trace_constants else None
            if changed is not None:  # f's change went into the copy that holds the traced constants
                raise InPlaceMutationError(f"f changed argument {changed} in place, which a prepared recording "
                                           "had made anew to trace its arrays")
        except MixedTracesError as error:  # mixedad.jacobian(F, u) inside f, F closing over the arguments
            return self._nested(error, args, want_value)
        except Exception as error:  # noqa: BLE001  np.asarray on a traced constant, a write into one, or a
            # test that only an ndarray passes (type(x) is np.ndarray): recorded on the arrays themselves
            # below, where f's own errors recur (raised as they are, not during the handling of this one)
            if why:
                raise
            refused = _untraceable(error)
        if refused is not None:
            result, recording = self._recorded_call(args, want_value, trace_constants=False)
            why = self._constants_refused = refused
        trace = recording.trace
        self.value_reads = tuple(dict.fromkeys(trace.value_dependent))
        inputs = recording.inputs
        active = [traced for leaves in inputs.leaves for _, traced in leaves]
        if not why and self.value_reads:
            why = f"the program depends on input values ({', '.join(self.value_reads[:3])})"
        changed = self._changed_in_place(args, static, sizes)
        if not why and changed:  # NumPy code changes the caller's objects on every call: so must f
            why = f"f updates {changed} in place, so every call runs f"
        drawn_from = draws.drawn_from()
        if not why and drawn_from:  # replayed, the draws would be constants: each call draws anew
            why = f"f draws random numbers ({drawn_from})"
        self._dependent_recordings = self._dependent_recordings + 1 if self.value_reads else 0
        if not why and not isinstance(recording.output, Traced):
            why = "the output does not depend on the differentiated arguments"
        if not why and inputs.has_complex_leaves:
            why = "a differentiated argument is complex (replays take real arrays)"
        if not why and not Program.replayable(trace, len(active) + len(inputs.constant_leaves)):
            why = "a step cannot be replayed (the per-element fallback of mixedad.sum or mixedad.map)"
        self.why_traced = why
        self._updates_inputs = recording.updates_inputs
        aux_values = [leaf for leaf in flatten(recording.aux)[0] if type(leaf) is Traced] if self.has_aux else []
        self._program = None if why else Program(trace, active, inputs.constant_leaves, recording.output, aux_values)
        self._definitions = inputs.definitions
        self._builders = [compiled_builder(definition) or functools.partial(unflatten, definition, derivative=True)
                          for definition in self._definitions]
        self._one_array = len(self.numbers) == 1 and self._definitions[0] is None and not self.has_aux
        self._aux = recording.aux
        self._output_shape = recording.output_shape
        # the index arrays a replay copies into the arrays the program reads (if taken as inputs)
        self._index_inputs = [(number, index, taken._live) for number, index, taken in inputs.index_leaves]
        index_slots = {(number, index) for number, index, _ in self._index_inputs}
        self._static = [leaf for leaf in static if leaf[:2] not in index_slots]
        self._extras = extras
        # where the traced constants are among the other arguments' leaves (if they were traced)
        self._constant_slots = [(number, index) for number, arg in enumerate(args) if number not in self.numbers
                                for index, leaf in enumerate(flatten(arg)[0]) if _is_traced_constant(leaf)
                                ] if recording.trace_constants else []
        return result

    def _recorded_call(self, args: tuple, want_value: bool, trace_constants: bool) -> tuple[Any, _Recording]:
        """``_differentiate`` recording a program, and the recording. The other arguments'
        integer and bool arrays are taken as inputs a replay refills, as long as f only computes
        with them: a recording that reads their values (``if labels.max() > 9``,
        ``np.eye(10)[labels]``, ``x[mask]``) or fails with them (a library that wants an ndarray)
        is made again with them compared as recorded, and so is every later one."""
        index_arrays = trace_constants and not self._index_arrays_refused and any(
            _is_index_array(leaf) for number, arg in enumerate(args) if number not in self.numbers
            for leaf in flatten(arg)[0])
        recording = _Recording(trace_constants, index_arrays)
        if index_arrays:
            try:
                result = _differentiate(self.f, args, self.argnums, self.has_aux, self.mode, want_value,
                                        recording=recording)
                if not recording.trace.value_dependent:
                    return result, recording
                reads = ", ".join(dict.fromkeys(recording.trace.value_dependent))
                self._index_arrays_refused = f"it reads values: {reads}"
            except MixedTracesError:
                raise
            except Exception as error:  # noqa: BLE001  f gets the arrays themselves below; its own errors recur there
                self._index_arrays_refused = f"f raised {type(error).__name__} with them"
            recording = _Recording(trace_constants)
        return _differentiate(self.f, args, self.argnums, self.has_aux, self.mode, want_value,
                              recording=recording), recording

    def _changed_in_place(self, args: tuple, static: list, sizes: dict[int, int]) -> str:
        """Which of the other arguments f changed in place, from their state before the call
        (``_argument_state``)."""
        leaves = {number: flatten(args[number])[0] for number in sizes}
        for number, now in leaves.items():
            if len(now) != sizes[number]:
                return f"argument {number}"
        for number, index, recorded in static:  # (a random generator changes as it draws: said below)
            if recorded is not STATEFUL and not same_static(leaves[number][index], recorded):
                path = leaf_path(args[number], index)
                return f"argument {number}{' leaf ' + path if path else ''}"
        return ""

    def _argument_state(self, args: tuple) -> tuple[list, dict[int, int]]:
        """The other arguments before a call: their static leaves (those that are not traced
        constants), as ``(number, index, recorded state)``, which later calls must equal, and
        their numbers of leaves."""
        static, sizes = [], {}
        for number, arg in enumerate(args):
            if number not in self.numbers:
                leaves = flatten(arg)[0]
                sizes[number] = len(leaves)
                static.extend((number, index, recorded_state(leaf)) for index, leaf in enumerate(leaves)
                              if not _is_traced_constant(leaf))
        return static, sizes

    # --- calls -------------------------------------------------------------------------
    def _check(self, args: tuple) -> tuple[list, bool]:
        """The leaves of each argument, after checking them against the prepared signature, and
        whether they are all ndarrays (every argument read by its generated reader, which checks it)."""
        if len(args) != len(self.signatures):
            raise InputError(f"prepared for {len(self.signatures)} arguments, called with {len(args)}")
        flat = []
        all_arrays = True
        for number, (arg, expected, reader) in enumerate(zip(args, self.signatures, self._readers)):
            if reader is not None:  # the common case, checked by generated code
                leaves = reader(arg)
                if leaves is not None:
                    flat.append(leaves)
                    continue
            all_arrays = False
            leaves, definition = flatten(arg)
            if tuple([_leaf_signature(leaf) for leaf in leaves]) != expected[1] or \
                    (definition != self._comparable[number] and structure(definition) != expected[0]):
                self._mismatch(number, arg, expected)
            flat.append(leaves)
        return flat, all_arrays

    def _mismatch(self, number: int, arg: Any, expected: tuple):
        leaves, definition = flatten(arg)
        if any(isinstance(leaf, (Traced, LeveledValue)) for leaf in leaves):
            raise InputError(
                f"argument {number} holds a value that an enclosing differentiation traces: a prepared gradient "
                "replays its program on plain arrays. Inside a differentiated function, call mixedad.gradient "
                "(which computes a nested gradient in forward mode).")
        detail = f"it is {_outline(arg)}, prepared for {self._outlines[number]}"
        if structure(definition) != expected[0]:
            detail = _structure_difference(structure(definition), expected[0], "") or detail
        elif len(leaves) == len(expected[1]):
            for index, (leaf, recorded) in enumerate(zip(leaves, expected[1])):
                if _leaf_signature(leaf) != recorded:
                    path = leaf_path(arg, index)
                    detail = (f"{'leaf ' + path if path else 'it'} is {_outline(leaf)}, prepared for "
                              f"{_outline_of_signature(recorded)}")
                    break
        raise InputError(f"argument {number} does not match what the gradient was prepared for: {detail}. "
                         "To use arguments like these, prepare again (mixedad.prepare(f, *new_args)).")

    def _run(self, args: tuple, want_value: bool):
        thread = threading.get_ident()
        lock = self._lock
        if not lock.acquire(False):  # busy: another thread's call (wait for it), or this thread's own
            if self._caller == thread:
                raise InputError(
                    "a prepared gradient was called during its own call (from the function it differentiates, "
                    "or a rule that function uses): its recorded program holds the running call's values. "
                    "Prepare another one for the inner call.")
            lock.acquire()
        self._caller = thread
        try:
            return self._run_alone(args, want_value)
        finally:
            self._caller = None
            lock.release()

    def _run_alone(self, args: tuple, want_value: bool):
        flat, all_arrays = self._check(args)
        if self.why_traced is _NESTED:
            return _gradient_inside_a_gradient(self.f, args, self.argnums, self.has_aux, want_value)
        if self._program is None or ACTIVE_OBSERVERS:  # profilers see ordinary traces
            if self.why_traced.startswith("the program depends") and self._dependent_recordings < _RECORDINGS_IN_A_ROW:
                return self._record(args, want_value)  # it may stop depending on them
            return self._trace_again(args, want_value)
        for number, index, recorded in self._static:
            if not same_static(flat[number][index], recorded):
                return self._changed(args, want_value, number, index)
        for number, recorded in self._extras:
            if not same_extras(args[number], recorded):
                return self._changed(args, want_value, number, None)
        if self._changes_in_a_row:  # the recorded call's arguments again: replays resume
            self._changes_in_a_row, self.why_traced = 0, ""
        if self._updates_inputs and arrays_share_memory([leaf for leaves in flat for leaf in leaves
                                                         if type(leaf) is np.ndarray]):
            return self._trace_again(args, want_value)  # f updates an input another argument shares: it raises
        try:
            if self._watched_replays:
                self._watched_replays -= 1
                return keeping_memory(self._replay, args, flat, all_arrays, want_value)
            return self._replay(args, flat, all_arrays, want_value)
        except Exception:  # noqa: BLE001  a step raised (a singular matrix): f may catch it, as only a trace follows
            return self._trace_again(args, want_value)

    def _changed(self, args: tuple, want_value: bool, number: int, index: int | None):
        """A call whose argument ``number`` (its leaf ``index``) differs from the recorded call's:
        recorded, as another program, until that has happened ``_RECORDINGS_IN_A_ROW`` times in
        a row (a value that changes on every call: labels of a new batch, a step counter); from
        then on traced, which costs less, until a call equals the last recorded one. Calls 4, 8,
        16, ... in a row record again: a value that stops changing gets a program to replay."""
        self._changes_in_a_row += 1
        changes = self._changes_in_a_row
        if changes < _RECORDINGS_IN_A_ROW or changes & (changes - 1) == 0:
            return self._record(args, want_value)
        leaf = args[number] if index is None else flatten(args[number])[0][index]
        reason_key = (number, index, type(leaf), self._index_arrays_refused, self._constants_refused)
        if self._changing_reason[0] != reason_key:  # (the same argument changes on every call: said once)
            self._changing_reason = (reason_key, self._why_changing(args[number], number, index, leaf))
        self.why_traced = self._changing_reason[1]
        return self._trace_again(args, want_value)

    def _why_changing(self, arg: Any, number: int, index: int | None, leaf: Any) -> str:
        """``why_traced`` for calls traced because argument ``number`` (its ``leaf``) changes."""
        path = "" if index is None else leaf_path(arg, index)
        what = f"argument {number}{' leaf ' + path if path else ''} ({_outline(leaf)})"
        if isinstance(leaf, STATEFUL):
            return (f"{what} draws anew on every call, so no call repeats the recorded one: draw the "
                    "random numbers outside f and pass them in as a float array to replay")
        if _is_index_array(leaf):
            # (the constants' reason is bounded already, and cut again it would lose the line it quotes)
            refused = _clipped(self._index_arrays_refused) if self._index_arrays_refused else self._constants_refused
            return (f"{what} changes from call to call, and a replay takes integer and bool arrays as inputs only "
                    f"where f indexes, compares or computes elementwise with them ({refused}). "
                    "For example, write np.eye(k)[labels] as labels[:, None] == np.arange(k), and x[mask] as "
                    "np.where(mask, x, 0)")
        return (f"{what} changes from call to call: a replay needs the arguments that are not "
                "differentiated to equal the recorded call's, apart from float arrays, which it "
                "takes as inputs (pass a changing number as a float array: np.asarray(value))")

    def _trace_again(self, args: tuple, want_value: bool):
        """A call traced, not replayed: with the other arguments traced as constants, as the
        recordings trace them, so that f sees the same kinds of values on every call."""
        try:
            recording = None if self._constants_refused else _Recording(trace_constants=True)
            return _differentiate(self.f, args, self.argnums, self.has_aux, self.mode, want_value,
                                  recording=recording)
        except MixedTracesError as error:
            return self._nested(error, args, want_value)
        except Exception as error:  # noqa: BLE001  (as in _record)
            if self._constants_refused:
                raise
            self._constants_refused = _untraceable(error)  # f refused a traced constant: as _record does, never again
        return _differentiate(self.f, args, self.argnums, self.has_aux, self.mode, want_value)

    def _nested(self, error: MixedTracesError, args: tuple, want_value: bool):
        """f nests a reverse-mode differentiation over the arguments: from now on every call
        differentiates in forward mode, as ``mixedad.gradient`` does."""
        if not getattr(error, "traces_met", False):
            raise error
        self._program, self.why_traced, self.value_reads = None, _NESTED, ()
        return _gradient_inside_a_gradient(self.f, args, self.argnums, self.has_aux, want_value)

    def _value(self, value):
        return _plain_value(value) if self._output_shape is None else np.reshape(value, self._output_shape)

    def _replay(self, args: tuple, flat: list, all_arrays: bool, want_value: bool):
        program = self._program
        for number, index, live in self._index_inputs:  # before any step reads them
            np.copyto(live, flat[number][index])
        constants = [flat[number][index] for number, index in self._constant_slots]
        if not all_arrays and not all([type(leaf) is np.ndarray for leaf in constants]):  # 0.5 for array(0.5)
            constants = [np.asarray(leaf) for leaf in constants]
        if self._one_array:  # f(x, ...) differentiated with respect to one array: no trees to walk
            original = flat[self.numbers[0]][0]
            x = _leaf_value(original, self.numbers[0], 0, 1, args[self.numbers[0]])
            value, (ct,) = program.run((x,), constants, want_value)
            grad = gradient_leaf(original, ct, x, self._borrowed(flat))
            grad = grad if isinstance(self.argnums, (int, np.integer)) else (grad,)
            return (self._value(value), grad) if want_value else grad
        numbers = self.numbers
        originals = flat[numbers[0]] if len(numbers) == 1 else [leaf for number in numbers for leaf in flat[number]]
        active = originals
        if not all_arrays and not all([type(leaf) is np.ndarray for leaf in originals]):
            active = []
            for number in numbers:
                leaves = flat[number]
                active += [_leaf_value(leaf, number, index, len(leaves), args[number])
                           for index, leaf in enumerate(leaves)]
        aux = None
        if self.has_aux:
            def read_aux():
                nonlocal aux
                aux = _fresh_aux(_plain_tree(self._aux, program.trace), flat)
        else:
            read_aux = None
        value, cotangents = program.run(active, constants, want_value, read_aux)
        leaves = list(map(gradient_leaf, originals, cotangents, active, repeat(self._borrowed(flat))))
        grads, position = [], 0
        for number, definition, build in zip(numbers, self._definitions, self._builders):
            end = position + len(flat[number])
            grads.append(leaves[position] if definition is None else build(leaves[position:end]))
            position = end
        grad = grads[0] if isinstance(self.argnums, (int, np.integer)) else tuple(grads)
        if want_value:
            value = self._value(value)
            return ((value, aux) if self.has_aux else value), grad
        return (grad, aux) if self.has_aux else grad

    def _borrowed(self, flat: list) -> set[int]:
        """Ids no gradient may be: the program's constants and this call's arrays."""
        borrowed = set(self._program.borrowed)
        for leaves in flat:
            borrowed.update(map(id, leaves))  # other leaves' ids are never an array's
        return borrowed

    def gradient(self, *args: Any, out: Any = None) -> Any:
        """The gradient at ``args``; with ``out`` (arrays shaped like the gradient), written
        into those arrays in place and returned as the same objects.

        >>> import numpy as np, mixedad
        >>> prepared = mixedad.prepare(lambda x: np.sum(x ** 2), np.zeros(3))
        >>> buffer = np.empty(3)
        >>> prepared.gradient(np.arange(3.0), out=buffer) is buffer
        True
        >>> buffer
        array([0., 2., 4.])
        """
        result = self._run(args, want_value=False)
        grad, aux = result if self.has_aux else (result, None)
        if out is not None:
            grad = write_into(out, grad)
        return (grad, aux) if self.has_aux else grad

    def value_and_gradient(self, *args: Any, out: Any = None) -> tuple[Any, Any]:
        """``(value, gradient)`` at ``args``; ``out`` as in :meth:`gradient`."""
        value, grad = self._run(args, want_value=True)
        if out is not None:
            grad = write_into(out, grad)
        return value, grad


def _fresh_aux(aux: Any, flat: list) -> Any:
    """The aux of a replay with its arrays copied, but for the caller's own arguments: an array
    NumPy would make anew on each call (a ``zeros_like``, an array built inside f) is the one the
    recording made, which the program reads again on the next call; a caller who changes the
    aux in place must not change the program."""
    leaves, definition = flatten(aux)
    if not any(type(leaf) is np.ndarray for leaf in leaves):
        return aux
    callers = {id(leaf) for arg_leaves in flat for leaf in arg_leaves}
    return unflatten(definition, [leaf.copy() if type(leaf) is np.ndarray and id(leaf) not in callers else leaf
                                  for leaf in leaves])


def _plain_value(value: Any) -> Any:
    return value[()] if type(value) is np.ndarray and value.ndim == 0 else value


def prepare(f: Callable[..., Any], *args: Any, argnums: int | Sequence[int] = 0, mode: str = "auto",
            has_aux: bool = False) -> Prepared:
    """Prepare the gradient of ``f`` for repeated calls with arguments shaped like ``args``.

    >>> import numpy as np, mixedad
    >>> prepared = mixedad.prepare(lambda w, x: np.sum(np.tanh(x @ w)), np.zeros(3), np.ones((4, 3)))
    >>> prepared.gradient(np.ones(3), np.ones((4, 3))).shape
    (3,)
    >>> prepared.value_dependent, prepared.replays
    (False, True)
    """
    return Prepared(f, args, argnums, mode, has_aux)
