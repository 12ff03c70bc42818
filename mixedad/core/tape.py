"""The reverse tape: entries in creation order, the backward sweep, and unbroadcasting.

Every differentiable operation that is not absorbed into a dual region appends one
``TapeEntry``. Creation order is a topological order, so the backward sweep is a plain
loop over the list in reverse: no recursion, whatever the depth of the graph.
Cotangents returned by rules only need to be *broadcastable* to their input: the engine
fixes shapes (``fit_cotangent``) and dtypes here, and nowhere else.
"""
from __future__ import annotations

import math
import os
import time
import warnings
from typing import Any, Callable

import numpy as np

from .arrays import (LEVELS, PLAIN_TYPES, SWEEP_ERRSTATE, LeveledValue, all_finite, apply_linear, as_array,
                     current_errstate, enter_errstate, finite_array, restore_floating_errors, sum_over_first_axis,
                     zero_mask)
from .errors import MixedadError, describe_location, user_location
from .modes import Decision, Mode, Reason

_trace_ids = LEVELS  # shared with forward levels (core.arrays): a newer level has a larger id


class Trace:
    """One differentiation in progress: the tape and the mode the user asked for."""

    __slots__ = ("entries", "requested", "active", "id", "instrumented", "value_dependent", "borrowed",
                 "guarded", "program", "leading_inputs", "retired", "view_bases", "errstate", "swept", "recomputed",
                 "traces_constants", "shared_argument", "warning_filters", "__weakref__")

    def __init__(self, requested: str = "auto", instrumented: bool = False):
        self.entries: list[TapeEntry] = []
        self.requested = requested
        self.active = True
        self.id = next(_trace_ids)
        self.instrumented = instrumented
        self.value_dependent: list[Any] = []  # where Python control flow looked at traced values
        # ids of the user's arrays that ops received as constants: a gradient must never be
        # one of them (a partial such as d(w * x)/dx = w would hand the user's w back)
        self.borrowed: set[int] = set()
        # id -> (depth, array): the user's arrays kept read-only while the tape may read them
        self.guarded: dict[int, tuple[int, np.ndarray]] = {}
        # When a prepared gradient records: one Step per tape entry, so that the tape can be
        # recomputed on new inputs without running the user's function again.
        self.program: list[Step] | None = None
        # traced values an in-place operator retired, with their class: the tape's regions and
        # replay steps may still read them; they become traced values again when the trace ends
        self.retired: list[tuple[Any, type]] = []
        # traced values that views were taken of: a base and its views refer to each other (an
        # update of either reaches the other), a cycle that would leave the whole tape to the
        # cyclic garbage collector; the links are cut when the trace ends
        self.view_bases: list[Any] = []
        self.recomputed: list[Any] = []  # a prepared recording's masks (core.recomputed): frozen at its end
        # How many entries at the start of the tape are inputs: they have no reverse rule, so
        # the backward sweep stops before them (their cotangents are complete by then).
        self.leading_inputs = 0
        # NumPy's error state when the differentiation was called (a prepared gradient's replay
        # updates it): the state a region's values are checked under, unless the user's code
        # had set another when it recorded the op (``expressions.report_floating_errors``)
        self.errstate = current_errstate()
        # Python's warning filters: a new list inside a warnings.catch_warnings() block in f
        self.warning_filters = warnings.filters
        self.swept = False  # a backward pass has begun (the profiler's forward times end there)
        # plain arrays mixedad.map maps over are among its inputs, traced without a derivative
        # (``CONSTANT_INPUT``, as a prepared recording's other arguments): ``stands_for_a_plain_array``
        self.traces_constants = False
        # input -> "argument 0, whose memory argument 1 shares", or None (``updates.shared_argument``)
        self.shared_argument: Callable[[Any], str | None] | None = None

    def note_value_read(self, why: str) -> None:
        """Record that the program read input values (``why``: how), and in a prepared
        recording where in the user's code, which ``prepared.value_reads`` reports (for the first
        reads only: finding the line costs some microseconds, and a loop may read thousands)."""
        if self.program is not None and len(self.value_dependent) < 16:
            location = user_location(1)
            why = why if location is None else f"{why} at {os.path.basename(location.filename)}:{location.lineno}"
        self.value_dependent.append(why)

    def __repr__(self) -> str:
        return f"<Trace {self.id} {self.requested} entries={len(self.entries)}>"


class TapeEntry:
    """One node of the reverse graph.

    ``parents[i]`` is ``(entry, slot, shape, dtype)`` of the i-th differentiable input,
    or None for an input that is constant. ``vjp(g)`` returns one cotangent (or None for
    zero) per parent. ``context_shape`` is the shape the cotangents broadcast against
    before they are summed back to each parent's shape (the output shape of an
    elementwise region); None means each cotangent only needs fitting to its parent.
    """

    # Every recorded operation makes one: the fields every entry sets are slots, the others
    # class-level defaults until set (in the instance dict, which Python makes only then).
    __slots__ = ("parents", "vjp", "label", "decision", "shape", "dtype", "n_outputs", "cotangents", "index",
                 "__dict__")
    context_shape: tuple | None = None
    n_partials = 0
    locations: tuple = ()
    deferred_value: Callable[[], Any] | None = None
    saved_bytes = 0
    held: dict | None = None  # instrumented: bytes of the arrays the entry keeps alive, by id
    forward_seconds = 0.0
    backward_seconds = 0.0
    selection: tuple | None = None  # (key, basic): output = parent[key], cotangents added in place
    _ops: tuple | None = None
    describe: Callable[[], str] | None = None  # names a dual region's ops, when an error asks (label is None)
    region: tuple | None = None  # instrumented: a dual region's (root node, names of the reductions after it)
    elementwise = False  # a region's, or an elementwise op's: each output element reads its own inputs only
    inactive: bool | None = None  # whether it leads to traced constants only (``leads_to_constants``)

    def __init__(self, parents, vjp, label, decision: Decision, shape, dtype, *, n_outputs=1,
                 context_shape=None, ops=None, n_partials=0, locations=()):
        self.parents = parents
        self.vjp = vjp
        self.label = label
        self.decision = decision
        self.shape = shape
        self.dtype = dtype
        self.n_outputs = n_outputs
        self.cotangents = None
        self.index = -1
        if context_shape is not None:
            self.context_shape = context_shape
        if ops is not None:
            self._ops = ops
        if n_partials:
            self.n_partials = n_partials
        if locations:
            self.locations = locations

    @property
    def ops(self) -> tuple:
        """The operations the entry stands for (a fused region: all of them)."""
        return self._ops if self._ops is not None else (self.label,) if self.label is not None else ()

    @ops.setter
    def ops(self, ops: tuple) -> None:
        self._ops = ops

    def __repr__(self) -> str:
        return f"<TapeEntry {self.index} {self.label} {self.decision.mode.value}>"


class UnaryEntry(TapeEntry):
    """The entry of a general primitive applied to one traced value (a reshape, a sum, an index
    in a loop: the common case). ``vjp`` is the primitive's reverse rule itself, and the entry
    keeps what the rule reads, so that recording makes one object per operation, not a closure
    besides; the sweep calls ``vjp(g, out, value, **kwargs)``."""

    __slots__ = ("out", "value", "kwargs", "linear")
    n_outputs = 1  # (a class attribute: one store less per operation)

    def __init__(self, parent, rule, out, value, kwargs, linear, label, decision, shape, dtype):
        # the fields set here, not through TapeEntry.__init__: its call and keyword tests cost
        # 0.1 us an operation (``index`` is set by ``bind``, which appends the entry)
        self.parents = (parent,)
        self.vjp = rule
        self.out = out
        self.value = value
        self.kwargs = kwargs
        self.linear = linear
        self.label = label
        self.decision = decision
        self.shape = shape
        self.dtype = dtype
        self.cotangents = None

    def componentwise(self, g):
        """The cotangent for a ``g`` that carries tangents, by a linear rule written for plain
        arrays (which may write into a new array in place): applied to each component."""
        return apply_linear(lambda part: self.vjp(part, self.out, self.value, **self.kwargs), g)


class Step:
    """How to recompute one tape entry on new input values (``core.replay``).

    ``run(step)`` reads the current values of the traced arguments in ``payload``, stores
    the new values in ``outputs`` (the traced values the entry produced) and gives
    ``entry`` a fresh reverse rule. ``reads`` are the traced values it reads: when it runs,
    or, with ``reads_later``, as late as the backward pass (a fused region). ``keep`` lists
    the entry's parents that lead to a differentiated input (None: all of them); the
    others need no cotangent.
    """

    __slots__ = ("run", "entry", "outputs", "payload", "reads", "reads_later", "keep")

    def __init__(self, run: Callable[["Step"], None], entry: "TapeEntry", outputs: tuple, payload: tuple,
                 reads: tuple, reads_later: bool = False):
        self.run = run
        self.entry = entry
        self.outputs = outputs
        self.payload = payload
        self.reads = reads
        self.reads_later = reads_later
        self.keep: list[int] | None = None


LEAF_DECISION = Decision(Mode.LEAF, Reason.INPUT)


CONSTANT_INPUT = "constant input"  # the label of a traced constant's entry (a prepared recording's)


def leads_to_constants(entry: TapeEntry) -> bool:
    """Whether ``entry`` reaches no differentiated input, only traced constants (the other
    arguments' arrays a prepared recording traces, ``CONSTANT_INPUT``): no cotangent is ever
    needed for it. Known once per entry (iterative: chains of entries can be long)."""
    known = entry.inactive
    if known is not None:
        return known
    stack = [entry]
    while stack:
        top = stack[-1]
        if top.inactive is not None:
            stack.pop()
            continue
        parents = [parent[0] for parent in top.parents if parent is not None]
        if not parents:
            top.inactive = top.label == CONSTANT_INPUT
        elif any(parent.inactive is False for parent in parents):
            top.inactive = False
        else:
            pending = [parent for parent in parents if parent.inactive is None]
            if pending:
                stack.extend(pending)
                continue
            top.inactive = True
        stack.pop()
    return entry.inactive


def value_leads_to_constants(value: Any) -> bool:
    """Whether the traced ``value`` leads to traced constants only (``leads_to_constants``): a
    lazy one through its region's inputs (none, where the constants are read as ``ValueOf``)."""
    expr = value._expr
    if expr is not None:
        return all(leads_to_constants(arg._entry) for arg in expr.inputs if arg._entry is not None)
    return value._entry is not None and leads_to_constants(value._entry)


def record(trace: Trace, entry: TapeEntry) -> TapeEntry:
    entry.index = len(trace.entries)
    trace.entries.append(entry)
    return entry


def one_cotangent(ct: Any) -> Any:
    """A rule's cotangent for its one differentiable argument (or tangent of its one output),
    also when written as a 1-tuple (JAX's convention): taken as it is, the tuple would be an
    array with an extra axis, or, to the rule derived from it, no array at all (a zero
    derivative)."""
    if type(ct) in (tuple, list) and len(ct) == 1:
        return ct[0]
    return ct


def fit_cotangent(ct: Any, context_shape: tuple | None, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """Bring a cotangent to ``shape`` and ``dtype``: the one place that unbroadcasts.

    ``ct`` must be broadcastable to ``context_shape`` (or, without a context, to the
    broadcast of itself and ``shape``). Axes where the input was broadcast are summed;
    axes where ``ct`` is itself broadcast (size 1) but the input is not are expanded; axes
    where both are size 1 against a larger context are multiplied by the replication count.
    """
    if type(ct) is np.ndarray:
        ct_shape = ct.shape
        if ct_shape == shape and ct.dtype == dtype and (context_shape is None or context_shape == shape):
            return ct
        if ct.dtype.kind in "iu":
            _refuse_integers(ct, dtype)
        lead = len(ct_shape) - len(shape)
        if lead > 0 and shape and ct_shape[lead:] == shape and (context_shape is None or context_shape == ct_shape):
            # the common unbroadcast: an input broadcast along leading axes (a bias)
            ct = sum_over_first_axis(ct) if lead == 1 else ct.sum(axis=tuple(range(lead)))
            return ct if ct.dtype == dtype else ct.astype(dtype)
    elif (type(ct) is np.float64 or type(ct) is np.float32) and not shape and not context_shape:
        return ct if ct.dtype == dtype else ct.astype(dtype)  # a scalar's (a Python loop's), without the checks below
    else:
        ct = one_cotangent(ct)
        _refuse_integers(ct, dtype)
        ct_shape = np.shape(ct)
    if ct_shape == shape and (context_shape is None or context_shape == shape):
        return as_array(ct).astype(dtype, copy=False)
    if context_shape is None:
        context_shape = np.broadcast_shapes(ct_shape, shape)
        if context_shape != ct_shape and context_shape != tuple(shape):
            # (4, 1) for (4,): unbroadcasting would sum over an axis of the cotangent's own
            raise ValueError(f"a cotangent of shape {ct_shape} neither broadcasts to the shape {tuple(shape)} of its "
                             f"argument nor is that argument broadcast to it")
    ct = as_array(ct)
    ndim = len(context_shape)
    padded_ct = (1,) * (ndim - len(ct_shape)) + ct_shape
    if len(ct_shape) > ndim or any(n != 1 and n != m for n, m in zip(padded_ct, context_shape)):
        raise ValueError(f"a cotangent of shape {ct_shape} does not broadcast to the shape {tuple(context_shape)} of "
                         "the operation's output")
    padded_target = (1,) * (ndim - len(shape)) + tuple(shape)
    sum_axes = []
    scale = 1
    for axis in range(ndim):
        if padded_target[axis] == 1:
            if padded_ct[axis] != 1:
                sum_axes.append(axis)
            elif context_shape[axis] != 1:
                scale *= context_shape[axis]
    if padded_ct != ct_shape:
        ct = ct.reshape(padded_ct)
    if sum_axes:
        ct = ct.sum(axis=tuple(sum_axes), keepdims=True)
    if scale != 1:
        ct = ct * scale
    if ct.dtype != dtype:
        ct = ct.astype(dtype)
    if ct.shape != padded_target:
        ct = np.broadcast_to(ct, padded_target)
    return ct.reshape(shape)


_UNIT_SEEDS: dict[np.dtype, np.ndarray] = {}


def _refuse_integers(ct: Any, dtype: np.dtype) -> None:
    """An integer array as the cotangent of a floating-point argument: a rule that computed in
    integers, which truncates (``g.astype(int)``). (A boolean one is a mask that ``g * mask``
    gives as it is where g is 1: ``multiply_cotangent``.)"""
    kind = getattr(getattr(ct, "dtype", None), "kind", "f")
    if kind in "iu" and dtype.kind in "fc":
        raise TypeError(f"a cotangent of dtype {ct.dtype} for a {dtype} argument: the rule computed it in integers, "
                        "which drops its fractional part. Compute in floating point.")


def unit_seed(dtype: np.dtype) -> np.ndarray:
    """The cotangent 1 that starts a backward pass, one read-only array per dtype: rules
    must not write into a cotangent they receive, and the sweep knows it by identity."""
    seed = _UNIT_SEEDS.get(dtype)
    if seed is None:
        seed = np.ones((), dtype)
        seed.flags.writeable = False
        seed = _UNIT_SEEDS.setdefault(np.dtype(dtype), seed)
    return seed


def multiply_cotangent(g: Any, partial: Any) -> Any:
    """``g * partial`` where a zero on either side gives zero even against an infinity.

    This is what makes ``np.where(x > 0, np.sqrt(x), 0.0)`` differentiate to 0 at 0 in
    reverse mode too, as it does in a dual region where the tangents are selected; and
    ``np.sqrt(np.where(x > 0, x, 0.0))`` to 0 where x < 0 (the where's partial there is 0, the
    cotangent reaching it infinite: the output does not depend on x there).
    """
    if type(partial) is int and partial == 1:
        return g
    if type(g) is np.ndarray and _UNIT_SEEDS.get(g.dtype) is g:
        return partial
    if _ndim(g) == 0:
        if isinstance(g, PLAIN_TYPES) and g == 1:  # a traced value or a dual carries more than 1
            return partial
        if isinstance(g, PLAIN_TYPES) and isinstance(partial, PLAIN_TYPES) and _ndim(partial) == 0:
            result = g * partial  # scalars (a Python loop's): zero wins here too
            return result if math.isfinite(result) or (g != 0 and partial != 0) else type(result)(0.0)
    if type(partial) is np.ndarray and _finite_nonzero_everywhere(g):
        return g * partial  # no zero to win against an infinite partial: nothing to check
    result = g * partial
    if type(result) is not np.ndarray:  # a forward dual (its tangents must be finite too) or a traced value
        if result.dtype.kind == "f" and not all_finite(result):
            result = np.where(zero_mask(g) | zero_mask(partial), np.zeros((), result.dtype), result)
        return result
    if result.dtype.kind == "f" and not finite_array(result):
        result = np.where((g == 0) | (np.asarray(partial) == 0), np.zeros((), result.dtype), result)
    return result


def _ndim(value) -> int:
    """``np.ndim(value)``, without its call for the values a sweep meets most (0.4 us each)."""
    kind = type(value)
    if kind is np.ndarray or kind is np.float64 or kind is np.float32:
        return value.ndim
    return 0 if kind is float or kind is int else np.ndim(value)


def _finite_nonzero_everywhere(g) -> bool:
    """Whether ``g`` is one finite, nonzero value, alone or broadcast (the cotangent a full
    ``np.sum`` or ``np.mean`` hands a fused region: ``0.5 * np.sum(f(x))``), checked without
    reading the broadcast array's elements."""
    if type(g) is np.ndarray:
        if g.size == 0 or any(g.strides) or g.dtype.kind != "f":
            return False
        value = g[(0,) * g.ndim]
    elif isinstance(g, np.floating):
        value = g
    else:
        return False
    return value != 0 and math.isfinite(value)


def backward(trace: Trace, output_entry: TapeEntry, slot: int, seed: np.ndarray, retain: bool = False) -> None:
    """Propagate ``seed`` from one output back through the tape; leaves keep their cotangents.

    By default each rule is released as soon as it has run. With ``retain`` the tape stays
    intact, so the sweep can be repeated with other seeds (a pullback called many times).
    """
    if retain:
        for entry in trace.entries:
            entry.cotangents = None
    trace.swept = True
    token = enter_errstate(SWEEP_ERRSTATE)
    try:
        _sweep(trace.entries, output_entry, slot, seed, trace.instrumented, retain, trace.leading_inputs)
    finally:
        restore_floating_errors(token)


def _outline(ct: Any) -> str:
    dtype = getattr(ct, "dtype", None)
    return f"shape {np.shape(ct)}" + (f" ({dtype})" if dtype is not None else "")


def _add_rule_note(error: Exception, entry: TapeEntry, what: str) -> None:
    where = describe_location(entry.locations[0]) if entry.locations else ""
    name = entry.label or (entry.describe() if entry.describe is not None else "a dual region")
    note = f"mixedad: {'the' if what else 'in the'} reverse rule of {name}{where}{what}"
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:  # Python 3.10
        error.args = (f"{error} ({note})",) + error.args[1:]


def compute_deferred(value) -> Any:
    """The value of a traced value whose entry computes it only when asked (a fused reduction:
    ``TapeEntry.deferred_value``). Under a profiler, computing it in the forward pass adds to
    the entry's forward time: it is timed as its own work, not the reader's (reads in or after
    the backward pass are not forward work)."""
    entry, trace = value._entry, value._trace
    if not trace.instrumented or trace.swept:
        return entry.deferred_value()
    start = time.perf_counter()
    try:
        return entry.deferred_value()
    finally:
        entry.forward_seconds += time.perf_counter() - start


def _timed(entry: TapeEntry, vjp):
    """Wrap a VJP so that its time is added to the entry (only under a profiler)."""
    def timed_vjp(g):
        start = time.perf_counter()
        try:
            return vjp(g)
        finally:
            entry.backward_seconds += time.perf_counter() - start
    return timed_vjp


def _sweep(entries, output_entry, slot, seed, instrumented=False, retain=False, leading_inputs=0) -> None:
    output_entry.cotangents = [None] * output_entry.n_outputs
    output_entry.cotangents[slot] = seed
    # Cotangent buffers this sweep allocated (by id, holding them so that no id is reused):
    # nobody else sees them until their entry is reached, so sums go into them in place.
    owned: dict[int, np.ndarray] = {}
    for entry in reversed(entries[leading_inputs:output_entry.index + 1]):
        cotangents = entry.cotangents
        vjp = entry.vjp
        if cotangents is None or vjp is None:
            continue
        if owned:
            for ct in cotangents:
                owned.pop(id(ct), None)
        g = cotangents if entry.n_outputs > 1 else cotangents[0]
        entry.cotangents = None
        if entry.selection is not None and type(g) in _PLAIN_COTANGENTS:
            if instrumented:
                start = time.perf_counter()
                _add_selected(entry, g, owned)
                entry.backward_seconds += time.perf_counter() - start
            else:
                _add_selected(entry, g, owned)
            continue
        try:
            if type(entry) is not UnaryEntry:
                parent_cts = zip(entry.parents, vjp(g) if not instrumented else _timed(entry, vjp)(g))
            elif entry.linear and type(g) is not np.ndarray and isinstance(g, LeveledValue):
                parent_cts = ((entry.parents[0], entry.componentwise(g)),)  # g carries tangents (second order)
            else:
                parent_cts = ((entry.parents[0], vjp(g, entry.out, entry.value, **entry.kwargs)),)
        except MixedadError:
            raise
        except Exception as error:  # a rule failed: say which one, and where it was called
            _add_rule_note(error, entry, "")
            raise
        if not retain:
            entry.vjp = None  # frees what the rule saved as soon as it has run
            if type(entry) is UnaryEntry:
                entry.out = entry.value = None
        context_shape = entry.context_shape
        for parent, ct in parent_cts:  # (parent, its cotangent) pairs
            if parent is None or ct is None:
                continue
            parent_entry, parent_slot, parent_shape, parent_dtype = parent
            if not (type(ct) is np.ndarray and ct.shape == parent_shape and ct.dtype == parent_dtype
                    and (context_shape is None or context_shape == parent_shape)):
                try:
                    ct = fit_cotangent(ct, context_shape, parent_shape, parent_dtype)
                except (ValueError, TypeError) as error:
                    _add_rule_note(error, entry, f" returned a cotangent of {_outline(ct)} for its differentiable "
                                   f"argument {entry.parents.index(parent)}, of shape {parent_shape} ({parent_dtype})")
                    raise
            existing = parent_entry.cotangents
            if existing is None:
                if parent_entry.n_outputs == 1:  # (the common case: its first cotangent, in one step)
                    parent_entry.cotangents = [ct]
                    continue
                existing = parent_entry.cotangents = [None] * parent_entry.n_outputs
            previous = existing[parent_slot]
            if previous is None:
                existing[parent_slot] = ct
            elif id(previous) in owned and type(ct) is np.ndarray:
                previous += ct
            else:
                total = existing[parent_slot] = previous + ct
                if type(total) is np.ndarray and total.shape == parent_shape:
                    owned[id(total)] = total


_PLAIN_COTANGENTS = (np.ndarray, np.float64, np.float32, np.float16, np.longdouble, float)


def _add_selected(entry: TapeEntry, g, owned: dict) -> None:
    """The reverse rule of ``out = x[key]``, added in place into x's cotangent buffer."""
    parent_entry, parent_slot, parent_shape, parent_dtype = entry.parents[0]
    existing = parent_entry.cotangents
    if existing is None:
        existing = parent_entry.cotangents = [None] * parent_entry.n_outputs
    existing[parent_slot] = add_selected(existing[parent_slot], g, entry.selection, parent_shape, parent_dtype, owned)


def add_selected(buffer, g, selection: tuple, shape: tuple, dtype: np.dtype, owned: dict) -> np.ndarray:
    """``buffer`` (a cotangent, or None) with ``g`` added at ``selection``'s key: in place if
    ``buffer`` is one the sweep allocated (in ``owned``), else into a fresh zero buffer."""
    earlier = None  # a cotangent of another level (a forward dual of hessian, hvp): added, never written into
    if buffer is None or id(buffer) not in owned:
        fresh = np.zeros(shape, dtype)
        if buffer is not None:
            if type(buffer) in _PLAIN_COTANGENTS:
                fresh += buffer
            else:
                earlier = buffer
        buffer = fresh
        if earlier is None:
            owned[id(fresh)] = fresh
    key, basic = selection
    if basic:
        buffer[key] += g
    else:
        np.add.at(buffer, key, g)  # repeated indices read an element twice: their cotangents add up
    return buffer if earlier is None else earlier + buffer
