"""Elementwise expressions: the nodes of a dual region, and their evaluation with partials.

An ``ExprNode`` records one elementwise op over its arguments: other nodes, region inputs
(concrete traced values) or constants. ``evaluate`` computes a region's value and/or its
partial derivatives with respect to each region input in one forward pass, computing only
the values something needs; a plan per root and request is kept, so that a replayed
region is not analysed again. This walk is the reference: ``core.compiled`` generates
code that makes the same calls, and uses the walk for regions it does not compile.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import LeveledValue, all_finite, zero_mask
from .partials import UfuncOf, arguments_read
from .tape import compute_deferred
from .traced import RetiredTraced, Traced
from .updates import UpdatedTraced


VALUE_REF = "value"  # where a structure's argument is a ValueOf (a constant's place holds None)


class ValueOf:
    """A region argument that is a traced value read for its value only: one that leads to no
    differentiated input (computed from a prepared recording's traced constants alone,
    ``tape.leads_to_constants``). It is no region input: it carries no partials and does not
    count against the cap, but the region reads its current value, so that a replay sees the
    new constants (``region.step_reads`` lists it among the step's reads)."""

    __slots__ = ("source",)

    def __init__(self, source):
        self.source = source

    @property
    def dtype(self):
        return self.source.dtype


def input_value(value: Any) -> Any:
    """The value of a region argument: a concrete traced value's (computed if deferred) or a constant."""
    kind = type(value)
    if kind is not Traced and kind is not RetiredTraced and kind is not UpdatedTraced:  # (replaced after a read)
        if kind is ValueOf:
            return input_value(value.source)
        return value
    result = value._value
    if result is None:
        result = value._value = compute_deferred(value)
    return result


class ExprNode:
    """One elementwise op inside a region. ``args`` hold ExprNodes, concrete Traced values
    (region inputs) or constants; ``inputs`` is the ordered tuple of region inputs below."""

    __slots__ = ("prim", "args", "kwargs", "inputs", "input_ids", "shape", "decision", "location", "dtype",
                 "demand", "arg_slots", "plans", "link", "constants", "below", "chain_length", "key", "unbounded",
                 "errstate", "reductions", "c_ordered")

    def __init__(self, prim, args, kwargs, input_ids, shape, decision, location):
        self.prim = prim
        self.args = args
        self.kwargs = kwargs
        self.input_ids = input_ids  # id -> region input, in order
        self.inputs = tuple(input_ids.values())
        self.shape = shape
        self.decision = decision
        self.location = location
        self.dtype = None
        self.demand = None  # set by _plan, for nodes whose partials are evaluated
        self.arg_slots = None
        self.plans: dict[tuple, list] | None = None  # evaluation plans (_plan), kept for a replay
        # In a chain (each node reads at most one node, ``below``): this node's part of the key
        # for generated code (``core.compiled``) and its constants, set as the region grows
        # (``region.extend_region``); chain_length 0: not a chain, the region is walked instead.
        # Each node keeps only its own part: a key built up front per node grew quadratically.
        self.link: tuple = ()
        self.constants: tuple = ()
        self.below: ExprNode | None = None
        self.chain_length = 0
        self.key: tuple | None = None  # (structure, operands) of the chain up to here (chain_key)
        # whether a partial in the region up to here can be infinite at a finite input (sqrt at 0):
        # then a zero partial times it is 0 * inf, and evaluation checks for it (set by extend_region)
        self.unbounded = prim.unbounded_partials
        # NumPy's error state when the op was recorded, if not the differentiating call's (Trace.errstate)
        self.errstate: dict | None = None
        # weak references to the fused reductions that consumed this node as their region's root
        # (fused.reduce_region): if the value is used again, it is computed once and they share it
        self.reductions: list | None = None
        self.c_ordered: bool | None = None  # whether NumPy's value is surely C-ordered (updates.layout_to_keep)


def chain_key(root: ExprNode) -> tuple[tuple, tuple]:
    """``(structure, operands)`` of the chain that ends at ``root``: per node its primitive,
    where its arguments come from and its keyword names; then all constants, in node order."""
    key = root.key
    if key is None:
        links, constants = [], []
        node = root
        while node is not None:
            links.append(node.link)
            if node.constants:
                constants.append(node.constants)
            node = node.below
        links.reverse()
        constants.reverse()
        key = root.key = (tuple(links), tuple([c for part in constants for c in part]))
    return key

# what a region argument that is not a constant can be
_REGION_VALUES = (ExprNode, Traced, RetiredTraced, UpdatedTraced)


def topological_order(root: ExprNode) -> list[ExprNode]:
    """Nodes below ``root`` with every node after its arguments (iterative: regions can be long)."""
    return _chain_below(root) or _topological_dag(root)


def _chain_below(root: ExprNode) -> list[ExprNode] | None:
    """The nodes below ``root``, first to last, if each reads at most one node (most regions)."""
    chain = [root]
    node = root
    while True:
        below = None
        for arg in node.args:
            if type(arg) is ExprNode:
                if below is not None:
                    return None
                below = arg
        if below is None:
            chain.reverse()
            return chain
        chain.append(below)
        node = below


def _topological_dag(root: ExprNode) -> list[ExprNode]:
    order: list[ExprNode] = []
    expanded: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in expanded:
            continue
        expanded.add(id(node))
        stack.append((node, True))
        for arg in reversed(node.args):  # first argument first: reports read in source order
            if type(arg) is ExprNode and id(arg) not in expanded:
                stack.append((arg, False))
    return order


def _combine(d, p):
    """One chain-rule term d * p where either may be the exact identity 1."""
    if type(p) is int and p == 1:
        return d
    if type(d) is int:
        if d == 1:
            return p
        if d == -1:
            return -p
    return d * p


def _zero_wins(d, p):
    """``_combine``, zero where either factor is zero even against an infinite one: the region's
    output does not depend on the input there (``np.sqrt(np.where(x > 0, x, 0.0))`` where
    x < 0: where selects a zero tangent, and sqrt's derivative at 0 is infinite)."""
    term = _combine(d, p)
    if isinstance(term, (np.ndarray, np.generic)) and term.dtype.kind == "f" and not np.isfinite(term).all():
        fixed = np.where((np.asarray(d) == 0) | (np.asarray(p) == 0), np.zeros((), term.dtype), term)
        term = fixed if isinstance(term, np.ndarray) else fixed[()]  # a scalar (0-d region) stays one
    elif isinstance(term, LeveledValue) and not all_finite(term):  # second order: duals, tangents too
        term = np.where(zero_mask(d) | zero_mask(p), np.zeros((), term.dtype), term)
    return term


def _has_inputs(arg) -> bool:
    """Whether a node's argument depends on region inputs (an expression of constants alone,
    ``ValueOf`` values of a prepared recording, has no partials)."""
    kind = type(arg)
    return kind in _REGION_VALUES and (kind is not ExprNode or bool(arg.inputs))


def _arg_slots(args, input_ids) -> tuple:
    """Per argument: where its own region inputs sit among the node's inputs (None for a
    constant), so that evaluation combines partials by position, without lookups."""
    if len(input_ids) == 1:
        return tuple((0,) if _has_inputs(a) else None for a in args)
    position = {key: i for i, key in enumerate(input_ids)}
    slots = []
    for arg in args:
        if type(arg) is Traced or type(arg) is RetiredTraced or type(arg) is UpdatedTraced:
            slots.append((position[id(arg)],))
        elif type(arg) is ExprNode and arg.inputs:
            slots.append(tuple(position[id(t)] for t in arg.inputs))
        else:
            slots.append(None)
    return tuple(slots)


def _partial_demand(node: ExprNode) -> tuple[bool, tuple[bool, ...] | None]:
    """Whether the partials this node needs (those of arguments that depend on region
    inputs) read the node's output, and which argument values they read."""
    prim = node.prim
    n_args = len(node.args)
    if prim.tangent_rule is not None:
        reads = prim.tangent_reads
        return (True, (True,) * n_args) if reads is None else (False, tuple(reads))
    return partials_read(prim, [j for j, arg in enumerate(node.args) if _has_inputs(arg)], n_args,
                         node.kwargs)


# partials_read's answers without keyword arguments, by (primitive, positions, n_args): a
# mode="reverse" elementwise op asks on every call (0.85 of its 12 us). Cleared with the
# generated regions when a primitive's partials change (compiled.forget_compiled_regions).
PARTIALS_READ: dict[tuple, tuple[bool, tuple[bool, ...]]] = {}


def partials_read(prim, positions, n_args: int, kwargs) -> tuple[bool, tuple[bool, ...]]:
    """Whether the partials with respect to the arguments at ``positions`` read the output,
    and which of the ``n_args`` argument values they read (none read: the partials are still
    called, with None for each)."""
    if kwargs:
        return _partials_read(prim, positions, n_args, kwargs)
    key = (prim, tuple(positions), n_args)
    known = PARTIALS_READ.get(key)
    if known is None:
        if len(PARTIALS_READ) > 4096:  # (primitives made anew in a loop)
            PARTIALS_READ.clear()
        known = PARTIALS_READ[key] = _partials_read(prim, positions, n_args, None)
    return known


def _partials_read(prim, positions, n_args: int, kwargs) -> tuple[bool, tuple[bool, ...]]:
    uses_output = False
    reads = [False] * n_args
    kinds = prim.partial_kinds
    for j in positions:
        uses_output = uses_output or prim.partial_takes_out[j]
        if prim.partial_takes_args[j]:
            for i, read in enumerate(_arguments_read(prim, kinds, j, n_args, kwargs)):
                reads[i] = reads[i] or read
    return uses_output, tuple(reads)


def _arguments_read(prim, kinds, j: int, n_args: int, kwargs) -> tuple[bool, ...]:
    """The arguments the partial with respect to argument ``j`` reads (``_derivative``'s calls)."""
    if kinds is None or j >= len(kinds) or kinds[j][0] not in (OF_ARGUMENTS, OF_ARGUMENTS_AND_OUTPUT) \
            or (kwargs and prim.pass_kwargs_to_partials):
        return (True,) * n_args
    return arguments_read(kinds[j][1], n_args)


def argument_values(node: ExprNode, reads: tuple[bool, ...] | None, below_value=None, values=None) -> list:
    """The values of the node's arguments that ``reads`` asks for (all, for ``reads`` None),
    None for the others: a partial that reads only the constant of ``0.5 * s`` does not
    force the fused region s. ``below_value``: the value of the one node a chain node reads;
    ``values``: node values by id, in a DAG."""
    result = []
    for i, arg in enumerate(node.args):
        if reads is not None and not reads[i]:
            result.append(None)
        elif type(arg) is ExprNode:
            result.append(below_value if values is None else values[id(arg)])
        else:
            result.append(input_value(arg))
    return result


def interpret(root: ExprNode, want_value: bool, want_partials: bool, zero_wins: bool = False):
    """``(value or None, partials per region input or None)`` of the region ``root``, walked
    node by node (``core.compiled`` runs generated code instead, and falls back to this).
    The caller sets NumPy's error state. Only the values that something needs are computed:
    the root's if asked, and those that partial-derivative formulas read. ``zero_wins``: each
    chain-rule product is zero where a factor is, even against an infinite one (``_zero_wins``).
    """
    combine = _zero_wins if zero_wins else _combine
    plans = root.plans
    if plans is None:
        plans = root.plans = {}
    plan = plans.get((want_value, want_partials))
    if plan is None:
        plan = plans[want_value, want_partials] = _plan(root, want_value, want_partials)
    chain, steps = plan
    # unary ufunc results of this evaluation, by the id of their argument (``_reused``): sin(x)
    # computed as a value serves as cos's partial and the other way round. An argument's entry
    # keeps it alive, so that the id cannot be reused by a later value, and goes when no later
    # node reads the argument: a long region then holds a few arrays, not all it made.
    unary: dict[int, tuple] = {}
    if chain:  # each node reads only the one before it: no tables
        value = partials = None
        below = None
        for node, compute, reads in steps:
            arg_values = None
            if compute or reads:
                arg_values = argument_values(node, None if compute else reads, value)
            read = value
            value = _node_value(node, arg_values, unary) if compute else None
            if want_partials:
                partials = _node_partials(node, arg_values, value, {below: partials}, unary, combine)
            if read is not None and read is not value:
                unary.pop(id(read), None)  # the next node reads this one's value, not the one below
            below = id(node)
        return value, partials
    values: dict[int, Any] = {}
    partials_of: dict[int, list] = {}
    for node, compute, reads, done in steps:
        key = id(node)
        arg_values = None
        if compute or reads:
            arg_values = argument_values(node, None if compute else reads, values=values)
        out = None
        if compute:
            out = values[key] = _node_value(node, arg_values, unary)
        if want_partials:
            partials_of[key] = _node_partials(node, arg_values, out, partials_of, unary, combine)
        for arg_key in done:
            unary.pop(id(values.pop(arg_key, None)), None)
            partials_of.pop(arg_key, None)
    return values.get(id(root)), partials_of.get(id(root))


def _node_value(node: ExprNode, arg_values: list, unary: dict) -> Any:
    prim = node.prim
    if len(arg_values) == 1 and not node.kwargs:
        return _reused(unary, prim.value_fn, arg_values[0])
    return prim.value_fn(*arg_values, **node.kwargs)


def _reused(unary: dict, ufunc, argument) -> Any:
    """``ufunc(argument)``, computed once per evaluation (see ``interpret``)."""
    entry = unary.get(id(argument))
    if entry is None:
        entry = unary[id(argument)] = (argument, {})
    results = entry[1]
    result = results.get(ufunc)
    if result is None:
        result = results[ufunc] = ufunc(argument)
    return result


def _plan(root: ExprNode, want_value: bool, want_partials: bool) -> tuple[bool, list[tuple]]:
    """How to evaluate ``root``: whether it is a chain, and per node, in order, whether to
    compute its value, whether its partials read argument values, and which nodes' results
    it is the last to use (a chain needs no such bookkeeping)."""
    chain = _chain_below(root)
    if chain:
        return True, _chain_plan(chain, want_value, want_partials)
    order = _topological_dag(root)
    if want_partials:
        for node in order:
            if node.arg_slots is None:
                node.arg_slots = _arg_slots(node.args, node.input_ids)
    position = {id(node): k for k, node in enumerate(order)}
    compute, reads, last_reader = demand(order, position, want_value, want_partials)
    done = [tuple(id(order[m]) for m in readers) for readers in last_reader]
    return False, [(node, compute[k], reads[k], done[k]) for k, node in enumerate(order)]


def demand(order: list[ExprNode], position: dict[int, int], want_value: bool, want_partials: bool):
    """Per node of ``order`` (arguments first; ``position`` maps a node's id to its index):
    whether to compute its value, which of its argument values its partials read (None:
    none; see ``_partial_demand``), and the nodes (by index) whose results it is the last to read."""
    compute = [False] * len(order)
    reads: list[tuple[bool, ...] | None] = [None] * len(order)
    compute[-1] = want_value
    last_reader: list[list[int]] = [[] for _ in order]
    seen: set[int] = set()
    for k in range(len(order) - 1, -1, -1):  # consumers before the nodes they read
        node = order[k]
        if want_partials:
            if node.demand is None:
                node.demand = _partial_demand(node)
            uses_output, reads[k] = node.demand
            compute[k] = compute[k] or uses_output
        node_reads = reads[k]
        for i, arg in enumerate(node.args):
            if type(arg) is ExprNode:
                m = position[id(arg)]
                if compute[k] or node_reads is not None and node_reads[i]:
                    compute[m] = True
                if m not in seen:  # the last node (in evaluation order) that reads arg
                    seen.add(m)
                    last_reader[k].append(m)
    return compute, reads, last_reader


def _chain_plan(order: list[ExprNode], want_value: bool, want_partials: bool) -> list[tuple]:
    """``_plan`` for a chain (each node reads the one before it): one pass, from the top."""
    steps: list[tuple] = [()] * len(order)
    compute = want_value
    for k in range(len(order) - 1, -1, -1):
        node = order[k]
        reads = None
        if want_partials:
            demand = node.demand
            if demand is None:
                demand = node.demand = _partial_demand(node)
            if node.arg_slots is None:
                node.arg_slots = _arg_slots(node.args, node.input_ids)
            compute = compute or demand[0]
            reads = demand[1]
        steps[k] = (node, compute, reads)
        # the node below is computed if this one computes its value or its partials read it
        compute = compute or reads is not None and any(
            read for read, arg in zip(reads, node.args) if type(arg) is ExprNode)
    return steps


def _node_partials(node: ExprNode, arg_values, out, partials, unary, combine=None) -> list:
    """The node's partial with respect to each of its region inputs (a list, by position)."""
    prim = node.prim
    args = node.args
    combine = combine or _combine
    if prim.tangent_rule is not None:
        tangents_per_input = [[None] * len(args) for _ in node.inputs]
        for j, slots in enumerate(node.arg_slots):
            if slots is None:
                continue
            arg_partials = partials[id(args[j])] if type(args[j]) is ExprNode else (1,)
            for k, index in enumerate(slots):
                tangents_per_input[index][j] = arg_partials[k]
        return [prim.tangent_rule(tangents, out, *arg_values, **node.kwargs) for tangents in tangents_per_input]
    if len(node.inputs) == 1:  # one region input (the common case): one sum of chain-rule terms
        total = None
        for j, slots in enumerate(node.arg_slots):
            if slots is None:
                continue
            d = _derivative(prim, j, arg_values, out, node.kwargs, unary)
            arg = args[j]
            term = combine(d, partials[id(arg)][0]) if type(arg) is ExprNode else d
            total = term if total is None else total + term
        return [total]
    total = [None] * len(node.inputs)
    for j, slots in enumerate(node.arg_slots):
        if slots is None:
            continue
        d = _derivative(prim, j, arg_values, out, node.kwargs, unary)
        arg = args[j]
        if type(arg) is ExprNode:
            arg_partials = partials[id(arg)]
            if type(d) is int and d == 1:  # a sum: the argument's partials pass through
                for index, term in zip(slots, arg_partials):
                    previous = total[index]
                    total[index] = term if previous is None else previous + term
                continue
            for k, index in enumerate(slots):
                term = combine(d, arg_partials[k])
                previous = total[index]
                total[index] = term if previous is None else previous + term
        else:
            index = slots[0]
            previous = total[index]
            total[index] = d if previous is None else previous + d
    return total


_ERROR_FLAGS = ((1, "divide"), (2, "over"), (4, "under"), (8, "invalid"))


def report_floating_errors(root: ExprNode, flags: int) -> None:
    """Floating-point errors (NumPy's ``flags``) happened while the region ``root`` was
    evaluated, under ``VALUE_ERRSTATE``, maybe long after its ops were recorded: compute its
    values again, each op under the error state the user's code had when it was recorded, so
    that ``np.errstate(all="raise")`` raises and the default state warns as NumPy itself would.
    The errors may have come from partial-derivative formulas instead (sqrt's at 0): then
    this pass finds nothing to report."""
    order = topological_order(root)
    trace = getattr(root.inputs[0], "_trace", None) if root.inputs else None
    caller = getattr(trace, "errstate", None) or {}  # the state of the call that differentiates
    states = [node.errstate or caller for node in order]
    flagged = [name for bit, name in _ERROR_FLAGS if flags & bit]
    if all(state.get(name, "ignore") == "ignore" for state in states for name in flagged):
        return
    values: dict[int, Any] = {}
    for node, state in zip(order, states):
        arg_values = [values[id(a)] if type(a) is ExprNode else input_value(a) for a in node.args]
        with np.errstate(**state):
            values[id(node)] = node.prim.value_fn(*arg_values, **node.kwargs)


# How the evaluator calls a partial (``Primitive.partial_kinds``, one per argument).
CONSTANT, UFUNC_OF, OF_ARGUMENTS, OF_ARGUMENTS_AND_OUTPUT, MISSING = range(5)


def partial_kind(spec: Any, takes_out: bool) -> tuple[int, Any]:
    if spec is None:
        return MISSING, None
    if type(spec) is UfuncOf:
        return UFUNC_OF, spec
    if not callable(spec):
        return CONSTANT, spec
    return (OF_ARGUMENTS_AND_OUTPUT if takes_out else OF_ARGUMENTS), spec


def _derivative(prim, position, arg_values, out, kwargs, unary):
    kinds = prim.partial_kinds
    if kinds is None or position >= len(kinds):
        return prim.partial(position, arg_values, out, kwargs)  # raises: no partial declared
    kind, spec = kinds[position]
    if kind == CONSTANT:
        return spec
    if kind == UFUNC_OF and len(arg_values) == 1:
        result = _reused(unary, spec.ufunc, arg_values[0])
        return result if spec.scale == 1 else spec.scale * result
    if not (kwargs and prim.pass_kwargs_to_partials):
        if kind == OF_ARGUMENTS:
            return spec(*arg_values)
        if kind == OF_ARGUMENTS_AND_OUTPUT:
            return spec(*arg_values, out=out)
    return prim.partial(position, arg_values, out, kwargs)
