"""Jacobian-vector and vector-Jacobian products, Jacobians and second derivatives.

- :func:`jvp`: forward mode through the whole program (``mixedad.forward``);
- :func:`vjp`: reverse mode, with a pullback that can be called many times (the tape is kept);
- :func:`jacobian`: forward mode (one pass per chunk of up to 12 input directions) or
  reverse mode (one sweep per output element), chosen from the sizes and reported;
- :func:`hvp` and :func:`hessian`: forward-over-reverse, the reverse gradient computed on
  forward-mode duals, so the gradient comes out carrying ``H v``;
- :func:`elementwise_gradient`: the diagonal of a Jacobian that must be diagonal, checked.

Arguments and results are pytrees (dict, list, tuple, namedtuple, dataclass) of arrays.
"""
from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .api import (_argnums_tuple, _held_by_an_enclosing_trace, _Inputs, _leaf_value, _like_argument, _plain_tree,
                  _scalar_like, call_guarded, enclosing_output, gradient)
from .core.arrays import LeveledValue
from .core.collector import pause_collector, resume_collector
from .core.errors import (InPlaceMutationError, InputError, MixedadError, OutputError, replaced_by_numpy,
                          returned_replaced_value_error)
from .core.modes import PARTIALS_CAP, Decision, Mode, Reason, check_requested_mode
from .core.primitive import MixedTracesError
from .core.pytree import flatten, leaves_like, unflatten
from .core.fused import close_region
from .core.region import primal, read_value
from .core.guards import check_guards_held, flat_store_error, release_guards
from .core.tape import TapeEntry, Trace, backward, record
from .core.traced import RetiredTraced, Traced
from .core.updates import current
from .rules.table import holds_numpy_scalar
from .forward import ForwardLevel, seed, split

logger = logging.getLogger("mixedad")

CHUNK = PARTIALS_CAP  # tangents per forward pass: ForwardDiff's cap, as for dual regions


class NotDiagonalError(MixedadError, ValueError):
    """elementwise_gradient was asked for a function whose Jacobian is not diagonal."""


# --- forward mode -----------------------------------------------------------------------------
def _primal_leaf(leaf: Any, number: int, index: int, n_leaves: int, argument: Any = None) -> Any:
    leaf = current(leaf)  # an array of the enclosing gradient assigned into (x[i] = v): its new value
    if type(leaf) is Traced:  # a jvp inside a gradient (reverse-over-forward)
        if leaf.dtype.kind != "f":
            raise InputError(f"primal {number} has dtype {leaf.dtype}; mixedad differentiates floats.")
        return leaf
    return _leaf_value(leaf, number, index, n_leaves, argument)


def _tangent_leaf(tangent: Any, value: Any, where: str) -> Any:
    if not isinstance(tangent, (Traced, np.ndarray, np.generic, LeveledValue)):
        tangent = np.asarray(tangent)
    if tangent.shape != value.shape:
        raise ValueError(f"{where} has shape {tangent.shape}; its primal has shape {value.shape}")
    if tangent.dtype.kind not in "fiu":
        raise InputError(f"{where} has dtype {tangent.dtype}; tangents are real numbers")
    return tangent if tangent.dtype == value.dtype else tangent.astype(value.dtype)


def _flat_leaves(args, numbers) -> tuple[list, list]:
    """The differentiated arguments' leaves (checked and converted) and tree definitions."""
    leaves, definitions = [], []
    for number in numbers:
        tree_leaves, definition = flatten(args[number])
        leaves.append([_primal_leaf(leaf, number, i, len(tree_leaves), args[number])
                       for i, leaf in enumerate(tree_leaves)])
        definitions.append(definition)
    return leaves, definitions


def _refuse_outputs_without_derivative(out_leaves) -> None:
    """A complex output (``rules.complex_values``) has no derivative these transforms define;
    nor has an output an in-place operation replaced after f computed it (``return v`` for
    ``v = y[:]; y[0] = 5``), whose new values mixedad does not know: taken as a constant, it
    would get a zero Jacobian."""
    for leaf in out_leaves:
        if type(leaf) is RetiredTraced:
            raise returned_replaced_value_error(leaf._replaced_at)
        if isinstance(leaf, LeveledValue):
            if leaf.dtype.kind == "c":
                raise OutputError(
                    f"f returned a complex value ({leaf.dtype}) computed from differentiated values; jvp, vjp and "
                    "jacobian differentiate real outputs. Return its real and imaginary parts (z.real, z.imag) as "
                    "two outputs, or a real quantity such as np.abs(z) ** 2.")
        elif not isinstance(leaf, Traced) and np.asarray(leaf).dtype.kind not in "biufc":  # (its tangent: 0)
            raise OutputError(f"f returned {type(leaf).__name__} {str(leaf)[:40]!r} among its outputs, which is not "
                              "a number: jvp, vjp and jacobian differentiate numeric outputs. Return the numbers "
                              "the value is made from.")


def _refuse_integer_outputs(values) -> None:
    """As ``gradient`` does: a bool or integer output (a comparison, a count) has no derivative,
    and a Jacobian of zeros for it would hide the mistake."""
    for value in values:
        dtype = np.result_type(value)
        if dtype.kind in "biu":
            what = "a bool (a comparison" if dtype.kind == "b" else f"an integer ({dtype}: a count or an index"
            raise OutputError(f"jacobian: f returned {what}, shape {np.shape(value)}) among its outputs, which has "
                              "no derivative. Return the quantity compared or counted, or cast that output to "
                              "float (.astype(float)) for its Jacobian of zeros.")


def _forward(f, args, numbers, leaves, definitions, directions, chunk=None):
    """Run ``f`` with the leaves of ``args[numbers]`` carrying ``directions`` (one tangent
    array per leaf, with a leading chunk axis when ``chunk``): the output's tree definition
    and one ``(primal, tangent)`` pair per output leaf."""
    level = ForwardLevel()
    try:
        call_args = list(args)
        for number, values, definition, tangents in zip(numbers, leaves, definitions, directions):
            call_args[number] = unflatten(definition, [seed(v, t, level, chunk) for v, t in zip(values, tangents)])
        try:
            out = f(*call_args)
            try:
                out_leaves, out_definition = flatten(out)
            except InPlaceMutationError as error:  # a stale view among the outputs (flatten's type checks reach it)
                raise returned_replaced_value_error(getattr(error, "replaced_at", None)) from None
            _refuse_outputs_without_derivative(out_leaves)
        except ValueError as error:
            replacement = replaced_by_numpy(error) or flat_store_error(error)
            if replacement is None:
                raise
            raise replacement.with_traceback(error.__traceback__) from None
        return out_definition, [split(leaf, level, chunk) for leaf in out_leaves]
    finally:
        level.finish()  # a dual that escapes now raises when used


def _public(value: Any) -> Any:
    """What a user receives: a fresh array they own (a numpy scalar for 0-d)."""
    if isinstance(value, np.generic):
        return value
    if type(value) is np.ndarray:
        return value[()] if value.ndim == 0 else np.array(value)
    return value  # a value of an outer differentiation (nested use)


def jvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """``(f(*primals), J v)``: the Jacobian-vector product of ``f`` at ``primals`` along ``tangents``.

    ``primals`` and ``tangents`` are tuples (or lists) with one entry per argument of ``f``,
    each a pytree; every tangent has the structure, shapes and (after casting) dtypes of its
    primal. One forward pass: elementwise work uses the partial derivatives of the dual
    regions, every other primitive its forward rule. The output tangent has the structure
    of ``f``'s output (zeros where the output does not depend on the primals).

    >>> import numpy as np, mixedad.transforms as T
    >>> T.jvp(lambda x: np.sin(x) * 2.0, (np.zeros(2),), (np.ones(2),))
    (array([0., 0.]), array([2., 2.]))
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp takes its primals and tangents as tuples (or lists), one entry per argument "
                        "of f: mixedad.jvp(f, (x,), (v,)).")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp got {len(primals)} primals and {len(tangents)} tangents")
    numbers = tuple(range(len(primals)))
    leaves, definitions = _flat_leaves(primals, numbers)
    directions = []
    for number, values in zip(numbers, leaves):
        tangent_leaves = leaves_like(tangents[number], definitions[number], f"tangent {number}")
        if len(tangent_leaves) != len(values):
            raise ValueError(f"tangent {number} has {len(tangent_leaves)} leaves; its primal has {len(values)}")
        directions.append([_tangent_leaf(t, v, f"tangent {number}" + (f", leaf {i}" if len(values) > 1 else ""))
                           for i, (t, v) in enumerate(zip(tangent_leaves, values))])
    out_definition, pairs = _forward(f, list(primals), numbers, leaves, definitions, directions)
    return (unflatten(out_definition, [_public(p) for p, _ in pairs]),
            unflatten(out_definition, [_public(_as_scalar_if(p, t)) for p, t in pairs], derivative=True))


def _as_scalar_if(primal_value: Any, tangent: Any) -> Any:
    """The tangent of a NumPy scalar as a scalar too inside an enclosing differentiation (plain
    0-d tangents become scalars in ``_public``): its ``ravel()`` must be a copy, as the primal's."""
    if type(tangent) is Traced and tangent._shape == () and type(primal_value) is Traced \
            and holds_numpy_scalar(primal_value):
        return tangent[()]
    return tangent


# --- reverse mode -----------------------------------------------------------------------------
_SINK = Decision(Mode.REVERSE, Reason.NOT_ELEMENTWISE)


class _Taped:
    """``f`` run once on traced inputs, its tape kept: sweep it back from any cotangent."""

    def __init__(self, f, args, numbers, mode="auto"):
        check_requested_mode(mode)
        self.trace = Trace(mode)
        self.seeds: list = []
        # The tape ends with this object (a vjp's pullback holds it): the user's arrays become
        # writeable again, and the entries go, with the cycles a closed region makes through
        # the traced values it reads (they refer to the trace).
        weakref.finalize(self, _end_tape, self.trace)
        try:
            pause_collector()  # the tape is acyclic (see core.collector)
            self.inputs = _Inputs(self.trace, args, numbers)
            self.result = call_guarded(self.trace, f, self.inputs.args)
        except BaseException:
            self.trace.active = False
            release_guards(self.trace)
            raise
        finally:
            resume_collector()

    def finish(self, result):
        """Take ``result`` (f's output, or its differentiated part) as the output pytree."""
        try:
            out_leaves, self.definition = flatten(result)
            _refuse_outputs_without_derivative(out_leaves)
            ours = [type(leaf) is Traced and leaf._trace is self.trace for leaf in out_leaves]
            for leaf, own in zip(out_leaves, ours):
                if own and leaf._expr is not None:
                    close_region(leaf)  # an output region: one entry, evaluated as needed
                elif type(leaf) is Traced and not own:  # an enclosing differentiation's: constant here
                    enclosing_output(leaf)
            self.outputs = out_leaves
            parents = tuple((leaf._entry, leaf._slot, leaf._shape, leaf._dtype) if own else None
                            for leaf, own in zip(out_leaves, ours))
            # one entry reads every output: a sweep from it seeds them all at once (pull fills
            # ``seeds`` in place; a rule that read self.seeds would make self part of a cycle)
            seeds = self.seeds
            self.sink = record(self.trace, TapeEntry(parents, lambda g: seeds, "outputs", _SINK, (), None))
            self.values = [primal(leaf) if own else leaf for leaf, own in zip(out_leaves, ours)]
        finally:
            self.trace.active = False

    def release(self) -> None:
        """The user's arrays the tape reads become writeable again: no more pulls."""
        release_guards(self.trace)

    def pull(self, cotangent_leaves: list, copies: bool = False) -> list:
        """The cotangent of each differentiated argument (a pytree each) for these output cotangents.
        ``copies``: every array a copy, for a caller who hands them out: a sweep may give back an
        array the retained tape keeps for the next one (a fused sum's partial, for a cotangent 1)."""
        check_guards_held(self.trace)  # (between pulls, the caller may have made one writeable)
        borrowed = _EVERY_ARRAY if copies else set(self.trace.borrowed)
        seeds = []
        for value, ct in zip(self.values, cotangent_leaves):
            dtype = getattr(value, "dtype", np.dtype(np.float64))
            if ct is None or dtype.kind != "f":
                seeds.append(None)
            elif isinstance(ct, np.ndarray) or np.isscalar(ct):
                seeds.append(np.array(ct, dtype=dtype))  # our own copy: a gradient may be this array
            else:
                seeds.append(ct)  # a value of an outer differentiation
        self.seeds[:] = seeds
        try:
            pause_collector()
            backward(self.trace, self.sink, 0, np.ones(()), retain=True)
            return self.inputs.gradients(borrowed)
        finally:
            resume_collector()


class _EveryArray(set):
    """A ``borrowed`` set holding every array: ``gradient_leaf`` then hands out copies only."""

    def __contains__(self, key) -> bool:
        return True

    def add(self, key) -> None:
        pass


_EVERY_ARRAY = _EveryArray()


def _end_tape(trace: Trace) -> None:
    try:
        release_guards(trace)
    finally:  # (Python drops an exception here, a Ctrl-C too: nothing would try again)
        if trace.guarded:
            release_guards(trace)
        trace.entries = []


def _check_cotangents(taped: _Taped, cotangent: Any) -> list:
    leaves = leaves_like(cotangent, taped.definition, "the cotangent")
    if len(leaves) != len(taped.values):
        raise ValueError(f"the cotangent has {len(leaves)} leaves; f's output has {len(taped.values)}")
    for k, (value, ct) in enumerate(zip(taped.values, leaves)):
        if np.shape(ct) != np.shape(value):
            raise ValueError(f"cotangent leaf {k} has shape {np.shape(ct)}; the output has shape {np.shape(value)}")
        if np.result_type(ct).kind not in "fiu":  # (a complex one would lose its imaginary part)
            raise InputError(f"cotangent leaf {k} has dtype {np.result_type(ct)}; cotangents are real numbers")
    return leaves


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False, mode: str = "auto"):
    """``(f(*primals), pullback)``; with ``has_aux``, ``(value, pullback, aux)``.

    ``pullback(cotangent)`` takes a cotangent with the structure and shapes of ``f``'s
    output and returns a tuple with one cotangent per primal, ``u^T J`` (same structures
    and dtypes as the primals). The tape is kept, so the pullback can be called any
    number of times; each call is one reverse sweep.

    >>> import numpy as np, mixedad.transforms as T
    >>> value, pullback = T.vjp(lambda x: x * 3.0, np.ones(2))
    >>> pullback(np.array([1.0, 2.0]))
    (array([3., 6.]),)
    """
    taped = _Taped(f, primals, tuple(range(len(primals))), mode)
    result, aux = taped.result, None
    if has_aux:
        if not (isinstance(result, tuple) and len(result) == 2):
            taped.finish(None)
            taped.release()
            raise MixedadError("has_aux=True needs f to return a pair (output, aux).")
        result, aux = result
        aux = _plain_tree(aux, taped.trace)
    taped.finish(result)

    def pullback(cotangent):  # the arrays the tape reads stay read-only while it lives (_Taped)
        return tuple(taped.pull(_check_cotangents(taped, cotangent), copies=True))

    value = unflatten(taped.definition, [_public(v) for v in taped.values])
    return (value, pullback, aux) if has_aux else (value, pullback)


# --- Jacobians ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class JacobianChoice:
    """How :func:`jacobian` computed a Jacobian, and why."""

    mode: str  # "forward" or "reverse"
    reason: str
    n_inputs: int  # N: total size of the differentiated arguments
    n_outputs: int  # M: total size of the output
    passes: int  # forward passes (up to CHUNK tangents each) or reverse sweeps

    def __str__(self) -> str:
        unit = {("forward", True): "forward pass", ("forward", False): "forward passes",
                ("reverse", True): "reverse sweep", ("reverse", False): "reverse sweeps"}[self.mode, self.passes == 1]
        return f"{self.mode} mode ({self.passes} {unit}; N={self.n_inputs} inputs, M={self.n_outputs} outputs): {self.reason}"


def _sizes(leaves_per_number) -> list[tuple[int, tuple, np.dtype]]:
    return [(int(np.prod(np.shape(v), dtype=np.intp)), np.shape(v), v.dtype) for values in leaves_per_number for v in values]


def _jacobian_forward(f, args, numbers, leaves, definitions):
    inputs = _sizes(leaves)
    n = sum(size for size, _, _ in inputs)
    if n == 0:  # nothing to differentiate: f's value and empty blocks
        out_leaves, out_definition = flatten(f(*args))
        pairs = [split(leaf, ForwardLevel()) for leaf in out_leaves]
        return out_definition, [p for p, _ in pairs], [np.zeros((int(np.size(p)), 0), t.dtype) for p, t in pairs], inputs
    columns, out_definition, out_pairs = [], None, None
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        chunk = stop - start
        directions, offset = [], 0
        for values in leaves:
            tangents = []
            for v in values:
                size = int(np.prod(np.shape(v), dtype=np.intp))
                t = np.zeros((chunk, size), v.dtype)
                for i in range(max(start, offset), min(stop, offset + size)):
                    t[i - start, i - offset] = 1
                tangents.append(t.reshape((chunk,) + np.shape(v)))
                offset += size
            directions.append(tangents)
        out_definition, out_pairs = _forward(f, args, numbers, leaves, definitions, directions, chunk)
        columns.append([np.reshape(t, (chunk, -1)) for _, t in out_pairs])
    blocks = [np.concatenate([c[k] for c in columns], axis=0).T for k in range(len(out_pairs))]
    return out_definition, [p for p, _ in out_pairs], blocks, inputs


def _jacobian_reverse(taped: _Taped, inputs):
    blocks = []
    for k, value in enumerate(taped.values):
        shape, dtype = np.shape(value), getattr(value, "dtype", np.dtype(np.float64))
        size = int(np.prod(shape, dtype=np.intp))
        rows = np.zeros((size, sum(s for s, _, _ in inputs)), np.result_type(dtype, *[d for _, _, d in inputs]))
        if dtype.kind == "f" and size:
            pulled = []  # stacked at the end: a row may carry an enclosing differentiation's tangents
            for i in range(size):
                cotangents = [None] * len(taped.values)
                one_hot = np.zeros(size, dtype)
                one_hot[i] = 1
                cotangents[k] = one_hot.reshape(shape)
                grads = taped.pull(cotangents)
                flat = [np.ravel(g) for tree in grads for g in flatten(tree)[0]]
                pulled.append(np.concatenate(flat) if flat else rows[i, :0])
            rows = np.stack(pulled).astype(rows.dtype, copy=False)
        blocks.append(rows)
    return blocks


def _choose(requested: str, n: int, m: int) -> tuple[str, str]:
    if requested != "auto":
        return requested, f"mode={requested!r} requested"
    if n <= m:
        return "forward", "N <= M: a tall or square Jacobian costs fewer forward tangents than reverse sweeps"
    return "reverse", "N > M: a wide Jacobian costs fewer reverse sweeps than forward tangents"


def jacobian(f: Callable[..., Any], *args: Any, argnums: int | Sequence[int] = 0, mode: str = "auto",
             return_mode: bool = False) -> Any:
    """The Jacobian of ``f`` at ``args`` with respect to ``args[argnums]``.

    For an output leaf of shape ``S`` and an input leaf of shape ``T`` the block has shape
    ``S + T`` (output axes first, as in JAX). Pytrees nest as in JAX: the output's structure,
    each leaf holding the input's structure (a tuple of them for a tuple ``argnums``).

    ``mode="forward"`` pushes the N input directions through ``f`` in chunks of up to 12
    (``ceil(N / 12)`` passes); ``mode="reverse"`` records ``f`` once and sweeps back once per
    output element (M sweeps); both give the same matrix. ``mode="auto"`` records ``f``
    once to learn M and picks forward when ``N <= M``, reverse otherwise. With
    ``return_mode=True`` the result is ``(jacobian, JacobianChoice)``; the choice is also
    logged on the ``"mixedad"`` logger (debug level).

    >>> import numpy as np, mixedad.transforms as T
    >>> J, choice = T.jacobian(lambda x: np.concatenate([x * x, x[:1]]), np.array([1.0, 2.0]),
    ...                        return_mode=True)
    >>> J
    array([[2., 0.],
           [0., 4.],
           [1., 0.]])
    >>> choice.mode
    'forward'
    """
    check_requested_mode(mode)
    if mode not in ("auto", "forward", "reverse"):
        raise ValueError(f"mode must be 'auto', 'forward' or 'reverse', got {mode!r}")
    numbers = _argnums_tuple(argnums, len(args))
    leaves, definitions = _flat_leaves(args, numbers)
    inputs = _sizes(leaves)
    n = sum(size for size, _, _ in inputs)
    taped = None
    if mode == "auto" and _held_by_an_enclosing_trace(args, numbers):
        mode = "forward"  # an enclosing gradient traces the inputs: a tape of their own cannot
    if mode != "forward":
        taped = _Taped(f, args, numbers)
        try:
            taped.finish(taped.result)
        finally:
            taped.release()  # the pulls below run now: nothing else runs in between
        m = sum(int(np.size(v)) for v in taped.values)
    chosen, reason = _choose(mode, n, m if taped is not None else 0)
    if chosen == "forward":
        out_definition, values, blocks, inputs = _jacobian_forward(f, args, numbers, leaves, definitions)
        _refuse_integer_outputs(values)
        m = sum(int(np.size(v)) for v in values)
        passes = -(-n // CHUNK)
    else:
        _refuse_integer_outputs(taped.values)
        out_definition, values, blocks = taped.definition, taped.values, _jacobian_reverse(taped, inputs)
        passes = m
    choice = JacobianChoice(chosen, reason, n, m, passes)
    logger.debug("mixedad.jacobian: %s", choice)
    originals = [leaf for number in numbers for leaf in flatten(args[number])[0]]
    result = unflatten(out_definition, [_nest(block, value, inputs, definitions, argnums, originals)
                                        for block, value in zip(blocks, values)], derivative=True)
    return (result, choice) if return_mode else result


def _nest(block, value, inputs, definitions, argnums, originals):
    """One output leaf's rows of the Jacobian, cut into the input structure. The derivative of
    a scalar output with respect to a scalar input is a scalar of the input's kind (a Python
    float for a Python float), as gradient and hessian give it."""
    out_shape = np.shape(value)
    pieces, offset = [], 0
    for (size, shape, dtype), original in zip(inputs, originals):
        # (its own C-ordered array, as NumPy functions give: the forward blocks are transposed,
        # and the columns of one input are strided in the block of several)
        piece = block[:, offset:offset + size]
        if type(piece) is np.ndarray:  # (else a value of an enclosing differentiation)
            piece = np.ascontiguousarray(piece)
        piece = piece.reshape(out_shape + shape)
        piece = piece.astype(np.result_type(piece.dtype, dtype), copy=False)
        pieces.append(_scalar_like(piece, original) if type(piece) is np.ndarray and piece.ndim == 0 else piece)
        offset += size
    return _unflatten_inputs(pieces, definitions, argnums)


def _unflatten_inputs(pieces, definitions, argnums):
    trees, start = [], 0
    for definition in definitions:
        count = _leaf_count(definition)
        trees.append(unflatten(definition, pieces[start:start + count], derivative=True))
        start += count
    return trees[0] if isinstance(argnums, (int, np.integer)) else tuple(trees)


def _leaf_count(definition) -> int:
    if definition is None:  # pytree.LEAF
        return 1
    if definition[0] == "none":
        return 0
    return sum(_leaf_count(child) for child in definition[3])


# --- second order -------------------------------------------------------------------------------
def hvp(f: Callable[..., Any], x: Any, v: Any) -> Any:
    """The Hessian-vector product ``H(x) v`` of the scalar function ``f``, forward-over-reverse.

    The reverse gradient of ``f`` is computed on forward-mode duals ``x + eps v``: the
    tangents ride through the reverse sweep, and the gradient comes out carrying ``H v``.
    The cost is about that of one gradient (times a small constant), whatever the size of
    ``x``; ``x`` and ``v`` are pytrees of the same structure.

    >>> import numpy as np, mixedad.transforms as T
    >>> T.hvp(lambda x: np.sum(x ** 3), np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    array([6., 0.])
    """
    return _like_argument(jvp(lambda x: gradient(f, x), (x,), (v,))[1], x)  # a Python float gives a float


def hessian(f: Callable[..., Any], *args: Any, argnums: int | Sequence[int] = 0) -> Any:
    """The Hessian of the scalar function ``f``, forward-over-reverse: the gradient of ``f``
    computed on duals carrying up to 12 basis directions at once, ``ceil(N / 12)`` reverse
    passes for N inputs. For an argument of shape ``S`` the result has shape ``S + S``.

    >>> import numpy as np, mixedad.transforms as T
    >>> T.hessian(lambda x: x[0] ** 2 * x[1], np.array([1.0, 2.0]))
    array([[4., 2.],
           [2., 0.]])
    """
    result = jacobian(lambda *a: gradient(f, *a, argnums=argnums), *args, argnums=argnums, mode="forward")
    if isinstance(argnums, (int, np.integer)) and isinstance(args[argnums], (float, np.generic)):
        return _like_argument(result, args[argnums])  # of a scalar: a scalar, as gradient gives
    return result


# --- elementwise functions ---------------------------------------------------------------------
def _only_elementwise(taped: _Taped, shape: tuple) -> bool:
    """Whether every entry of the tape is elementwise at ``shape`` (a dual region, or an
    elementwise op on the tape, none of them broadcasting a value that depends on the
    input): then the Jacobian is diagonal by construction."""
    for entry in taped.trace.entries:
        if entry.vjp is None or entry is taped.sink:  # the input itself, and the outputs' sink
            continue
        if entry.context_shape is None or entry.n_outputs != 1 or tuple(entry.shape) != shape \
                or tuple(entry.context_shape) != shape:
            return False
        if any(parent is not None and tuple(parent[2]) != shape for parent in entry.parents):
            return False
    return True


def elementwise_gradient(f: Callable[..., Any], *args: Any, argnums: int = 0) -> Any:
    """The derivative of an elementwise function: ``d f(x)[i] / d x[i]`` for every ``i``.

    ``f`` maps ``args[argnums]`` (one array) to an array of the same shape, each output
    element depending on the input element at the same position only: its Jacobian is
    diagonal, and this returns the diagonal, shaped like the input, in one reverse sweep
    (the gradient of ``sum(f(x))``). Unlike autograd's ``elementwise_grad``, mixedad checks
    that the Jacobian is diagonal instead of silently returning column sums: the tape
    tells when every operation was elementwise (a dual region); otherwise one forward
    pass along a random direction must agree with the diagonal, or ``NotDiagonalError``.
    It nests, as autograd's ``egrad(egrad(f))`` does, and works inside the other transforms.

    >>> import numpy as np, mixedad.transforms as T
    >>> T.elementwise_gradient(np.tanh, np.zeros(3))
    array([1., 1., 1.])
    >>> T.elementwise_gradient(lambda y: T.elementwise_gradient(np.sin, y), np.zeros(2))  # -sin
    array([-0., -0.])
    """
    if not isinstance(argnums, (int, np.integer)):
        raise TypeError("elementwise_gradient differentiates one argument: argnums must be an int")
    number = _argnums_tuple(argnums, len(args))[0]
    if type(args[number]) is Traced:  # egrad(egrad(f)): a value an enclosing gradient traces
        return _elementwise_gradient_inside_a_gradient(f, args, number)
    try:
        taped = _Taped(f, args, (number,))
    except MixedTracesError as error:  # f closes over values an enclosing gradient traces
        if not getattr(error, "traces_met", False):
            raise
        return _elementwise_gradient_inside_a_gradient(f, args, number)
    try:
        taped.finish(taped.result)
    finally:
        taped.release()  # the one pull below runs now: nothing else runs in between
    x = taped.inputs.leaves[0][0][1] if len(taped.inputs.leaves[0]) == 1 else None
    if x is None or len(taped.values) != 1 or np.shape(taped.values[0]) != x.shape:
        _not_one_array(number, None if x is None else x.shape, taped.values)
    value = taped.values[0]
    (diagonal,) = taped.pull([np.ones(np.shape(value), value.dtype)])
    if _only_elementwise(taped, x.shape):
        return diagonal
    direction = np.random.default_rng(0).uniform(0.5, 1.5, x.shape).astype(x.dtype)
    _, along = jvp(_along_argument(f, args, number), (args[number],), (direction,))
    _check_diagonal(np.asarray(along), diagonal * direction, np.result_type(x.dtype, value.dtype))
    return diagonal


def _along_argument(f, args, number):
    return lambda x: f(*args[:number], x, *args[number + 1:])


def _not_one_array(number, shape, values):
    raise NotDiagonalError(f"elementwise_gradient needs f to map one array to an array of the same shape; "
                           f"argument {number} has shape {shape} and f returned shape(s) "
                           f"{[np.shape(v) for v in values]}.")


def _check_diagonal(along, expected, dtype) -> None:
    """Raise unless J v (``along``) is diag(J) v (``expected``) for the random direction v."""
    rtol = 1e-4 if dtype == np.float64 else 1e-2
    scale = float(np.max(np.abs(expected), initial=0.0, where=np.isfinite(expected)))
    close = np.isclose(along, expected, rtol=rtol, atol=rtol * scale, equal_nan=True)
    if not np.all(close):
        where = tuple(int(i) for i in np.argwhere(~close)[0])
        raise NotDiagonalError(
            f"The Jacobian of f is not diagonal: output {where} depends on other input elements than its "
            f"own (along a random direction v, J v = {along[where]:.6g} but diag(J) v = "
            f"{expected[where]:.6g}). elementwise_gradient would return column sums of J; use "
            "mixedad.jacobian, or mixedad.vjp with a cotangent of ones if column sums are what you want.")


def _elementwise_gradient_inside_a_gradient(f, args, number):
    """``elementwise_gradient`` on values an enclosing gradient traces (autograd's
    ``egrad(egrad(f))``): in forward mode, where J 1 is the diagonal of a diagonal J, and J v
    = diag(J) v along a random v checks that J is one (the values are read for the check, so a
    prepared gradient traces such a program again on each call)."""
    along_x = _along_argument(f, args, number)
    x = args[number]
    value, diagonal = jvp(along_x, (x,), (np.ones(np.shape(x), np.result_type(x)),))
    if np.shape(value) != np.shape(x):
        _not_one_array(number, np.shape(x), [value])
    direction = np.random.default_rng(0).uniform(0.5, 1.5, np.shape(x)).astype(np.result_type(x))
    _, probe = jvp(along_x, (x,), (direction,))
    why = "elementwise_gradient's check that the Jacobian is diagonal"
    _check_diagonal(np.asarray(read_value(probe, why)), read_value(diagonal, why) * direction,
                    np.result_type(x, value))
    return diagonal
