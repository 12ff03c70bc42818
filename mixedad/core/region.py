"""Dual-number regions: elementwise work recorded as expressions and differentiated forward.

An elementwise op on traced values does not go on the tape. It returns a *lazy* traced
value whose ``ExprNode`` records the op over its arguments. The region's *inputs* are the
concrete traced values it reads. When something needs the value (a non-elementwise op, a
comparison, the user) the region is evaluated once with vectorized duals: every node
carries one partial-derivative array per region input, and the region becomes **one**
tape entry whose reverse rule is ``g * partial`` per input, unbroadcast by the engine.

A linear reduction that only needs its input's shape for its reverse rule (``sum``,
``mean``) consumes a region directly (``core.fused``).
"""
from __future__ import annotations

import time
import warnings
from functools import partial
from typing import Any

import numpy as np

from .arrays import ARRAY_TYPES, LeveledValue, current_errstate
from .errors import (MissingRuleError, MixedadError, UnsupportedOperationError,
                     error_with_location, user_location)
from .compiled import MAX_LONG_NODES, evaluate
from .dispatch import complex_result
from .expressions import VALUE_REF, ExprNode, ValueOf, input_value, partials_read, topological_order
from .modes import (DUAL_ELEMENTWISE, DUAL_SPLIT, PARTIALS_CAP, REVERSE_BEFORE_REGION, REVERSE_ON_TAPE, Decision,
                    elementwise_decision)
from .recording import held_bytes, region_label, region_name, region_ops
from .guards import borrow
from .tape import (Step, TapeEntry, compute_deferred, leads_to_constants, multiply_cotangent, record,
                   value_leads_to_constants)
from .operands import foreign_array, in_loop_dtypes, operands_in_loop, plain_arrays
from .recomputed import Recomputed
from .traced import RetiredTraced, Traced, retired_value_error


def primal(value: Any) -> Any:
    """The NumPy value behind ``value``; evaluates lazy regions (recording them) on demand."""
    if type(value) is not Traced:
        return value
    result = value._value
    if result is None:
        if value._expr is not None:
            materialize(value)
        else:
            value._value = compute_deferred(value)
        result = value._value
    return result


def _broadcast_pair(a: tuple, b: tuple) -> tuple:
    if len(a) < len(b):
        a, b = b, a
    if a[len(a) - len(b):] == b:  # b matches a's trailing axes (a bias): no per-axis work
        return a
    offset = len(a) - len(b)
    result = list(a)
    for i, n in enumerate(b):
        m = a[offset + i]
        if n != m:
            if m == 1:
                result[offset + i] = n
            elif n != 1:
                raise ValueError(f"operands could not be broadcast together with shapes {a} {b}")
    return tuple(result)


def read_value(value: Any, why: str) -> Any:
    """The NumPy value behind ``value`` for a use that leaves the traced world (a comparison,
    an index, a branch): recorded, so that a prepared gradient knows the program may depend on
    input values and must not be replayed blindly."""
    if type(value) is Traced:
        value._trace.note_value_read(why)
        value = primal(value)
    elif type(value) is Recomputed:
        return value._read(why)
    if isinstance(value, LeveledValue):  # a forward dual: its value under every level
        return value._plain(why)
    return value


def broadcast_shape(args) -> tuple:
    shape = ()
    for arg in args:
        arg_shape = arg._shape if type(arg) is Traced else getattr(arg, "shape", None)
        if arg_shape is None:
            arg_shape = np.shape(arg)
        if arg_shape != shape:
            shape = arg_shape if not shape else _broadcast_pair(shape, arg_shape) if arg_shape else shape
    return shape


def _result_dtype(prim, arg_dtypes) -> np.dtype:
    """The dtype of an elementwise op's result from its arguments' dtypes, without calling it.

    ``arg_dtypes`` holds dtypes, or Python scalars (weak under NEP 50). Ufuncs resolve
    through their own loops; other elementwise primitives return the promoted dtype.
    """
    fn = prim.fn
    if isinstance(fn, np.ufunc):
        signature = tuple(d if isinstance(d, np.dtype) else type(d) for d in arg_dtypes)
        try:
            return fn.resolve_dtypes(signature + (None,) * fn.nout)[fn.nin]
        except (TypeError, ValueError, np.exceptions.DTypePromotionError):
            pass
    return np.result_type(*arg_dtypes)


def piecewise_constant(prim, args, kwargs) -> bool:
    """Whether a ufunc told its loop (``dtype=``, ``signature=``) computes a differentiated
    argument in integers or bools, or returns them: the result is then piecewise constant, its
    derivative 0, not the float rule's (``np.multiply(x, 10, dtype=int, casting="unsafe")``)."""
    fn = prim.fn
    if not isinstance(fn, np.ufunc) or (kwargs.get("dtype") is None and kwargs.get("signature") is None):
        return False
    signature = kwargs.get("signature")
    if signature is None:
        signature = (None,) * fn.nin + (np.dtype(kwargs["dtype"]),) * fn.nout
    dtypes = tuple(arg.dtype if isinstance(arg, (Traced, *ARRAY_TYPES)) else type(arg) if type(arg) in (float, int)
                   else np.asarray(arg).dtype for arg in args)
    try:
        loop = fn.resolve_dtypes(dtypes + (None,) * fn.nout, signature=signature,
                                 casting=kwargs.get("casting", "same_kind"))
    except (TypeError, ValueError, np.exceptions.DTypePromotionError):
        return False  # NumPy's own call raises, with its message
    inexact = [loop[j] for j, arg in enumerate(args) if type(arg) is Traced] + list(loop[fn.nin:])
    return any(dtype.kind not in "fc" for dtype in inexact)


def region_dtype(node: ExprNode) -> np.dtype:
    """The dtype a region's value will have, found without evaluating it."""
    if node.dtype is not None:
        return node.dtype
    for pending in topological_order(node):
        if pending.dtype is not None:
            continue
        arg_dtypes = []
        for arg in pending.args:
            if type(arg) is ExprNode or type(arg) is Traced or type(arg) is ValueOf or isinstance(arg, ARRAY_TYPES):
                arg_dtypes.append(arg.dtype)
            else:
                arg_dtypes.append(arg)
        pending.dtype = _result_dtype(pending.prim, arg_dtypes)
    return node.dtype


def lists_as_arrays(args) -> tuple:
    """An elementwise op's arguments with lists and tuples as the arrays NumPy makes of them:
    copies, so that a change to the list after the op cannot reach the tape."""
    return tuple([np.array(a) if type(a) in (list, tuple) else a for a in args])


_PYTHON_NUMBERS = frozenset({float, int})


def grow_chain(prim, args) -> Traced | None:
    """``extend_region`` for its commonest case, with only the checks that case needs: an op
    without keywords on one lazy value and Python numbers (``y * 2.0``, ``1 - y``, ``np.sin(y)``),
    of an active auto-mode trace that does not profile, grows the value's region by one node,
    which shares the region's inputs. None for every other case (``bind_elementwise`` then takes
    the general path); ``extend_region`` is the reference, and builds the same node."""
    if len(args) == 2:
        first, second = args
        if type(first) is Traced:
            lazy = first if type(second) in _PYTHON_NUMBERS else None
        else:
            lazy = second if type(second) is Traced and type(first) in _PYTHON_NUMBERS else None
    else:
        lazy = args[0] if len(args) == 1 and type(args[0]) is Traced else None
    if lazy is None:
        return None
    below = lazy._expr
    trace = lazy._trace
    if below is None or below.reductions is not None or trace.requested != "auto" or not trace.active \
            or trace.instrumented or len(below.input_ids) > PARTIALS_CAP:
        return None
    if prim.tangent_rule is None and (prim.partial_specs is None or prim.partial_gaps
                                      or len(args) > len(prim.partial_specs)):
        return None  # (the general path raises, naming what is missing)
    node_args = (below,) if len(args) == 1 else (below, args[1]) if args[0] is lazy else (args[0], below)
    node = ExprNode(prim, node_args, {}, below.input_ids, lazy._shape, DUAL_ELEMENTWISE, None)
    errstate = current_errstate()
    if errstate is not trace.errstate and errstate != trace.errstate:  # set inside the user's function
        node.errstate = errstate
    if not node.unbounded:
        node.unbounded = below.unbounded
    if 0 < below.chain_length < MAX_LONG_NODES:
        _structure(node, below)
    dtype = lazy._dtype if lazy._dtype is not None else lazy.dtype
    if dtype.char not in prim.same_dtype_loops:
        dtype = _node_dtype(prim, args)
    if dtype.kind == "c":
        return complex_result(prim, args, {})
    return _lazy_value(trace, node, dtype)


def extend_region(trace, prim, args, kwargs) -> Traced:
    """Record an elementwise op on traced values as a region node (the auto/forward modes)."""
    if prim.partial_specs is None and prim.tangent_rule is None:
        raise error_with_location(
            MissingRuleError, f"{prim.name} is an elementwise primitive without partial derivatives{{where}}: "
            f"give one per argument with @{prim.name}.defpartials (see docs/rules.md).")
    if prim.tangent_rule is None and (prim.partial_gaps or len(args) > len(prim.partial_specs)):
        args = checked_missing_partials(trace, prim, args)
    below = None  # the one lazy argument (the region grows by one node), or False: several
    concrete = None  # the concrete traced arguments: they become region inputs
    value_only = None  # those that lead to traced constants only: read for their values (ValueOf)
    recording = trace.program is not None  # (only a prepared recording traces constants)
    shape = None
    common = None  # the dtype the array arguments share (False: they differ)
    others = False  # an argument that is neither traced, an ndarray nor a Python float/int
    scalar_dtype = None  # the NumPy scalars' dtype (False: they differ)
    for arg in args:
        kind = type(arg)
        if kind is Traced:
            expr = arg._expr
            if expr is not None and expr.reductions is not None:
                materialize(arg)  # a reduced value used again: computed once, the reduction's partials too
                expr = None
            if expr is None:
                if recording and arg._entry is not None and leads_to_constants(arg._entry):
                    value_only = {id(arg)} if value_only is None else value_only | {id(arg)}
                elif concrete is None:
                    concrete = [arg]
                else:
                    concrete.append(arg)
            else:
                below = expr if below is None else False
            arg_shape = arg._shape
            dtype = arg._dtype if arg._dtype is not None else arg.dtype
        elif kind is np.ndarray:
            borrow(trace, arg)  # the region reads it when it is evaluated, maybe much later
            arg_shape = arg.shape
            dtype = arg.dtype
        else:
            if kind is list or kind is tuple:  # as NumPy takes them; and the region must not see later changes
                return extend_region(trace, prim, lists_as_arrays(args), kwargs)
            if kind is Recomputed:  # a mask: the array a replay refills, which the region reads when it runs
                return extend_region(trace, prim, operands_in_loop(trace, prim, args, kwargs), kwargs)
            if kind is not float and kind is not int:  # Python numbers: no shape, weak dtype (NEP 50)
                others = True
                if isinstance(arg, (complex, np.complexfloating)):  # the weak-dtype shortcut would take it as real
                    return complex_result(prim, args, kwargs)
                if isinstance(arg, LeveledValue) and arg._level < trace.id:
                    # a value of an older level (a dual cotangent in a derived rule of a
                    # nested derivative): regions hold plain constants only, the tape any value
                    return tape_elementwise(trace, prim, args, kwargs, REVERSE_ON_TAPE)
                if isinstance(arg, np.ndarray):  # a subclass: np.memmap, np.ma, np.matrix
                    return extend_region(trace, prim, plain_arrays(args), kwargs)
                if not isinstance(arg, (np.generic, bool)):
                    if foreign_array(arg):
                        return extend_region(trace, prim, plain_arrays(args), kwargs)
                    raise _mixed_operand_error(prim, arg)
                if type(arg) is not bool:  # a NumPy scalar: strongly typed (NEP 50)
                    scalar_dtype = arg.dtype if scalar_dtype is None or scalar_dtype == arg.dtype else False
            continue
        if arg_shape != shape:
            shape = arg_shape if shape is None else _broadcast_pair(shape, arg_shape)
        if common is None:
            common = dtype
        elif dtype != common:
            common = False
    # constants of another dtype are computed with in the dtype of NumPy's loop (x * a, a uint8: float64)
    if common is False or (scalar_dtype is not None and scalar_dtype != common):
        cast = in_loop_dtypes(prim, args, kwargs)
        if cast is not None:
            return extend_region(trace, prim, cast, kwargs)
    # The region's inputs: those of the lazy arguments first, then the new ones, so that a
    # chain's inputs extend its lower part's (``_structure`` relies on it).
    if below is None:
        inputs = {}
    elif below is not False:  # (a node's inputs are never changed: shared unless new ones join)
        inputs = below.input_ids if concrete is None else dict(below.input_ids)
    else:
        inputs = {}
        for arg in args:
            if type(arg) is Traced and arg._expr is not None:
                inputs.update(arg._expr.input_ids)
    if concrete is not None:
        for arg in concrete:
            inputs[id(arg)] = arg
    if trace.requested == "auto" and len(inputs) <= PARTIALS_CAP:
        decision = DUAL_ELEMENTWISE
    else:
        decision = elementwise_decision(trace.requested, len(inputs))
    if decision is DUAL_SPLIT:
        for arg in args:
            if type(arg) is Traced and arg._expr is not None:
                arg._expr.decision = decision  # this region ends here because of the cap
                materialize(arg)
        decision = elementwise_decision(trace.requested, len(args))
        inputs = {id(arg): arg for arg in args if type(arg) is Traced and not (value_only and id(arg) in value_only)}
        below = None
    if value_only is not None:
        node_args = tuple([ValueOf(arg) if type(arg) is Traced and id(arg) in value_only else
                           arg._expr if type(arg) is Traced and arg._expr is not None else arg for arg in args])
    elif below is None:  # no lazy argument: the arguments are the node's as they are
        node_args = args if type(args) is tuple else tuple(args)
    else:
        node_args = tuple([arg._expr if type(arg) is Traced and arg._expr is not None else arg for arg in args])
    location = user_location(3) if trace.instrumented else None
    if others or shape is None:
        shape = broadcast_shape(args)  # lists, NumPy scalars, ...: NumPy's rules
    node = ExprNode(prim, node_args, kwargs, inputs, shape, decision, location)
    errstate = current_errstate()
    if errstate is not trace.errstate and errstate != trace.errstate:  # set inside the user's function
        node.errstate = errstate
    if not node.unbounded and below is not None:
        node.unbounded = below.unbounded if below is not False else any(
            type(arg) is ExprNode and arg.unbounded for arg in node_args)
    if below is not False and (below is None or 0 < below.chain_length < MAX_LONG_NODES):
        _structure(node, below)
    if common and not (others and any(isinstance(arg, ARRAY_TYPES) for arg in args if type(arg) is not Traced)) \
            and common.char in prim.same_dtype_loops:
        dtype = common  # Python scalars are weak (NEP 50): the arrays' dtype, if the op has a loop for it
    else:
        dtype = _node_dtype(prim, args)
    if kwargs and kwargs.get("dtype") is not None:  # a cast, or a ufunc told its output type
        dtype = np.dtype(kwargs["dtype"])
    if dtype.kind == "c":  # a complex constant: the node is dropped
        return complex_result(prim, args, kwargs)
    return _lazy_value(trace, node, dtype)


def _lazy_value(trace, node: ExprNode, dtype: np.dtype) -> Traced:
    """The traced value of the new region node ``node``, of ``dtype``; computed at once where the
    user's code reacts to floating-point errors at the op (``_errors_raise``)."""
    node.dtype = dtype
    result = Traced(trace, None, None, 0, node, node.shape, dtype)
    if (node.errstate is not None or warnings.filters is not trace.warning_filters) \
            and _errors_raise(trace, node.errstate):
        primal(result)  # NumPy raises or warns at this op, inside f's try or with block: so does mixedad
    return result


_raising: list = [None, False]  # an error state, and whether it raises (np.errstate(invalid="raise"))


def _errors_raise(trace, errstate: dict | None) -> bool:
    """Whether f sees the floating-point errors of ops under ``errstate`` (None: the caller's) at
    the op: they raise or call a handler (``call=``, ``'log'``), or f is inside a
    ``warnings.catch_warnings()`` block. Then f may react, and a prepared gradient, whose replay
    would not enter f's blocks, traces f again. (Under a state set around the differentiation,
    values stay lazy: a replay raises as NumPy does, and the prepared call then traces f.)"""
    if warnings.filters is not trace.warning_filters:  # (catch_warnings makes a new list, until it exits)
        trace.note_value_read("an op inside warnings.catch_warnings()")
        return True
    if errstate is not _raising[0]:
        _raising[:] = errstate, errstate is not None and not {"raise", "call", "log"}.isdisjoint(errstate.values())
    if _raising[1]:
        trace.note_value_read("an op under np.errstate(...='raise' or 'call')")
    return _raising[1]


def _structure(node: ExprNode, below: ExprNode | None) -> None:
    """Give a chain's newest node its part of the chain's structure (``core.compiled``'s key:
    its primitive, where each argument comes from, its keyword names) and its constants."""
    n_below = below.chain_length if below is not None else 0
    refs = []
    constants = None
    input_keys = None  # the region inputs' ids in order, listed when an argument needs its position
    for arg in node.args:
        kind = type(arg)
        if kind is ExprNode:
            refs.append(n_below - 1)
        elif kind is Traced:
            if len(node.inputs) == 1:
                refs.append(-1)
            else:
                if input_keys is None:
                    input_keys = list(node.input_ids)
                refs.append(-1 - input_keys.index(id(arg)))
        else:
            refs.append(VALUE_REF if kind is ValueOf else None)
            constants = [arg] if constants is None else constants + [arg]
    if node.kwargs:
        constants = [node.kwargs] if constants is None else constants + [node.kwargs]
        node.link = (node.prim, tuple(refs), tuple(node.kwargs))
    else:
        node.link = (node.prim, tuple(refs))
    if constants is not None:
        node.constants = tuple(constants)
    node.below = below
    node.chain_length = n_below + 1


def _node_dtype(prim, args) -> np.dtype:
    """The result dtype: the arrays' common dtype when they share one and the op has a loop
    for it (Python scalars are weak under NEP 50), else NumPy's full resolution."""
    common = None
    arg_dtypes = []
    for arg in args:
        if type(arg) is Traced or isinstance(arg, ARRAY_TYPES):
            dtype = arg.dtype
            arg_dtypes.append(dtype)
            if common is None:
                common = dtype
            elif dtype != common:
                common = False
        else:
            arg_dtypes.append(arg)
    if common and common.char in prim.same_dtype_loops:
        return common
    return _result_dtype(prim, arg_dtypes)


def _shared_products(g, partials) -> list:
    """``g * p`` for each partial, computing a product once for inputs that share a partial
    (the two inputs of ``tanh(W @ x + b)`` both have ``1 - y**2``)."""
    products: dict[int, Any] = {}
    result = []
    for p in partials:
        key = id(p)
        product = products.get(key)
        if product is None:
            product = products[key] = multiply_cotangent(g, p)
        result.append(product)
    return result


def _parents_of(inputs) -> tuple:
    return tuple([(t._entry, t._slot, t._shape, t._dtype) for t in inputs])


def _mixed_operand_error(prim, arg) -> MixedadError:
    if type(arg) is RetiredTraced:  # a stale alias met in a region: the error reverse mode gives
        return retired_value_error(skip=3)
    return error_with_location(
        UnsupportedOperationError,
        f"{prim.name} combines a traced value with a {type(arg).__name__}{{where}}. Inside a function given "
        "to mixedad.sum or mixedad.map that branches (and so runs element by element), a differentiated "
        "value the function closes over cannot meet the per-element argument: pass it as another argument "
        "(np.sum(mixedad.map(lambda t, p: ..., x, p))), or write the branch with np.where so that the function "
        "runs vectorized.", skip=3)


def materialize(value: Traced) -> None:
    """Turn a lazy traced value into a concrete one backed by a single region tape entry."""
    root = value._expr
    trace = value._trace
    if trace.instrumented:
        for source in root.inputs:  # a fused reduction read here is timed as its own entry's work
            if source._value is None:
                input_value(source)
        start = time.perf_counter()
        result, partials = evaluate(root, True, True)
        elapsed = time.perf_counter() - start
    else:
        result, partials = evaluate(root, True, True)
    if not isinstance(result, ARRAY_TYPES):
        result = np.asarray(result)
    shared = _share_with_reductions(root, result, partials) if root.reductions is not None else None

    def region_vjp(g):
        return _shared_products(g, partials)

    entry = TapeEntry(_parents_of(root.inputs), region_vjp, None, root.decision,
                      root.shape, None, context_shape=root.shape, n_partials=len(root.inputs))
    entry.describe, entry.elementwise = partial(region_name, root), True
    if trace.instrumented:
        entry.forward_seconds = elapsed
        entry.ops, entry.locations = region_ops(root)
        entry.region = (root, ())
        entry.label = region_label(entry.ops)
        entry.held = held_bytes(partials)
    entry.index = len(trace.entries)
    trace.entries.append(entry)
    if trace.program is not None:
        trace.program.append(Step(_replay_region, entry, (value,), (root, shared), step_reads(root, entry)))
    entry.dtype = result.dtype
    value._value = result
    value._dtype = result.dtype
    value._entry = entry
    value._slot = 0
    value._expr = None


def _share_with_reductions(root: ExprNode, value: Any, partials: list | None) -> list | None:
    """The fused reductions of ``root``'s region read its value and partials, now computed,
    instead of evaluating the region again (softmax's ``e / e.sum()``: exp once, not three times).
    Returns, in a prepared recording, where their replays will be, for ``_replay_region``."""
    replays = []
    for reference in root.reductions:
        fused = reference()
        if fused is not None:
            fused.share(value, partials)
            if fused.replays is not None:
                fused.replays[:] = [None]  # shared: its replays are handed over
                replays.append(fused.replays)
    root.reductions = None
    return replays or None


def step_reads(root: ExprNode, entry: TapeEntry) -> tuple:
    """What a region's replay step reads: its inputs, and the traced values it reads for their
    values only (``ValueOf``), which a replay must keep and give their new values. A region
    without inputs reads only such values: its entry leads to traced constants only."""
    values = {id(arg.source): arg.source for node in topological_order(root) for arg in node.args
              if type(arg) is ValueOf}
    if not root.inputs:
        entry.inactive = True
    return root.inputs + tuple(values.values()) if values else root.inputs


def _replay_region(step: Step) -> None:
    """Re-evaluate a materialized region on the current values of its inputs."""
    keep = step.keep
    root, shared = step.payload
    result, partials = evaluate(root, True, keep is None or bool(keep))
    result = result if isinstance(result, ARRAY_TYPES) else np.asarray(result)
    for replays in shared or ():  # the fused reductions replayed before this step read this value too
        fused, replays[0] = replays[0], None  # held by its entry until the call ends, not by the program
        if fused is not None:
            fused.share(result, partials)
    if keep is not None:
        partials = [partials[k] for k in keep] if keep else None
    step.entry.vjp = None if partials is None else lambda g: _shared_products(g, partials)
    step.outputs[0]._value = result


def apply_before_region(prim, value: Traced, kwargs) -> Traced | None:
    """``prim(value)`` for a max-like primitive (``prim.commutes_with_increasing``: max pooling)
    and a lazy ``value`` that is a chain of increasing one-argument ops (``Primitive.increasing``)
    over one concrete traced value y: as ``chain(prim(y))``, which is equal (a maximum commutes
    with a nondecreasing function), derivatives included (the chain's ops are strictly
    increasing, or flat only where their derivative is 0). The chain and its partials then run
    on the smaller output, and its full-size values are never computed unless something else
    reads them. None if ``value`` is no such chain."""
    nodes = []
    node = value._expr
    while node.prim.increasing and not node.kwargs and len(node.args) == 1:
        nodes.append(node)
        below = node.args[0]
        if type(below) is Traced:  # the region's input (a concrete value, not updated since)
            result = prim(below, **kwargs)
            if type(result) is Traced and result._entry is not None:
                result._entry.decision = REVERSE_BEFORE_REGION
            for node in reversed(nodes):
                result = node.prim(result)
                if type(result) is Traced and result._expr is not None and node.location is not None:
                    result._expr.location = node.location  # the profiler names the user's line of the op
            return result
        if type(below) is not ExprNode:
            return None
        node = below
    return None


def stands_for_a_plain_array(value: Any) -> bool:
    """Whether ``value`` is traced but stands for a plain array: it leads to no differentiated
    input, only to the constants ``mixedad.map`` traces (``tape.leads_to_constants``), so an
    argument without a derivative may take its value. Not in a prepared recording, whose
    replays give its traced constants new values."""
    return type(value) is Traced and value._trace.traces_constants and value._trace.program is None \
        and value_leads_to_constants(value)


def checked_missing_partials(trace, prim, args) -> tuple:
    """``args``, where a differentiated argument has no partial derivative (``defpartials`` gave
    None, or fewer partials than arguments): raise now, naming the user's line, not in the
    backward pass, which no longer knows it. A traced value that stands for a plain array there
    is passed as its value: the op is elementwise, so it reads each element for itself, and the
    value's own history stays on the tape, where ``mixedad.map`` follows it."""
    specs = prim.partial_specs
    for j, arg in enumerate(args):
        if type(arg) is Traced and (j >= len(specs) or specs[j] is None):
            if stands_for_a_plain_array(arg):
                args = (*args[:j], primal(arg), *args[j + 1:])
                continue
            raise error_with_location(
                MissingRuleError, f"{prim.name} has no partial derivative for argument {j}{{where}}, which is "
                f"differentiated here; give one in @{prim.name}.defpartials (None marks an argument that is "
                "never differentiated), or pass a constant there.", skip=2)
    return args


def tape_elementwise(trace, prim, args, kwargs, decision: Decision) -> Traced:
    """An elementwise op as its own tape entry (mode='reverse'), its VJP built from partials."""
    if prim.partial_specs is not None and prim.tangent_rule is None and (
            prim.partial_gaps or len(args) > len(prim.partial_specs)):
        args = checked_missing_partials(trace, prim, args)
    for arg in args:
        if type(arg) is list or type(arg) is tuple:  # copied: the partials read them in the backward pass
            args = lists_as_arrays(args)
            break
    for arg in args:
        if type(arg) is not Traced and type(arg) is not float and type(arg) is not int:
            args = operands_in_loop(trace, prim, args, kwargs)  # partials in the loop's precision
            break
    arg_values = [primal(a) for a in args]
    errstate = current_errstate()
    if errstate is not trace.errstate and errstate != trace.errstate:  # set inside the user's function
        _errors_raise(trace, errstate)
    out = prim.value_fn(*arg_values, **kwargs)
    if not isinstance(out, ARRAY_TYPES):
        out = np.asarray(out)
    if out.dtype.kind == "c":
        return complex_result(prim, args, kwargs)
    traced_positions = [j for j, a in enumerate(args) if type(a) is Traced]
    for arg in args:
        if type(arg) is np.ndarray:
            borrow(trace, arg)
    parents = tuple((args[j]._entry, args[j]._slot, args[j]._shape, args[j]._dtype) for j in traced_positions)
    elementwise_vjp = _elementwise_vjp(prim, traced_positions, arg_values, out, kwargs)
    location = (user_location(3),) if trace.instrumented else ()
    entry = TapeEntry(parents, elementwise_vjp, prim.name, decision, out.shape, out.dtype,
                      context_shape=out.shape, n_partials=0, locations=location)
    entry.elementwise = True
    if trace.instrumented:
        kept, kept_out = _kept_by_partials(prim, traced_positions, arg_values, out)
        entry.held = held_bytes(kept + [kept_out])
    record(trace, entry)
    result = Traced(trace, out, entry)
    if trace.program is not None:
        trace.program.append(Step(_replay_elementwise, entry, (result,), (prim, args, kwargs, traced_positions),
                                  tuple(args[j] for j in traced_positions)))
    return result


def _replay_elementwise(step: Step) -> None:
    prim, args, kwargs, traced_positions = step.payload
    arg_values = [primal(a) for a in args]
    out = prim.value_fn(*arg_values, **kwargs)
    if step.keep is not None:
        traced_positions = [traced_positions[k] for k in step.keep]
    step.entry.vjp = _elementwise_vjp(prim, traced_positions, arg_values, out, kwargs) if traced_positions else None
    step.outputs[0]._value = out if isinstance(out, ARRAY_TYPES) else np.asarray(out)



def _kept_by_partials(prim, traced_positions, arg_values: list, out) -> tuple[list, Any]:
    """The argument values and output that the partials of the traced arguments read (None for
    the others): what an elementwise entry on the tape keeps for its backward step."""
    if prim.tangent_rule is not None or prim.partial_specs is None:
        return arg_values, out
    uses_output, reads = partials_read(prim, traced_positions, len(arg_values), None)
    return [value if read else None for value, read in zip(arg_values, reads)], (out if uses_output else None)


def _elementwise_vjp(prim, traced_positions, arg_values, out, kwargs):
    if not (kwargs and prim.pass_kwargs_to_partials):  # (partials given keyword arguments read them all)
        arg_values, out = _kept_by_partials(prim, traced_positions, arg_values, out)

    def elementwise_vjp(g):
        return [multiply_cotangent(g, prim.partial(j, arg_values, out, kwargs)) for j in traced_positions]
    return elementwise_vjp
