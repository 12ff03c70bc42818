"""Dual regions compiled to straight-line Python, one function per region structure.

The interpreter in ``expressions`` walks a region node by node and looks up each node's
partial-derivative rule as it goes. A program records regions of the same structure on
every call (the same ufuncs over the same kinds of operands), so here that walk is done
once per structure: it writes a Python function that computes the region's value and its
partials in local variables, and keeps it, keyed by the structure, for every later region
of that shape. Constants and keyword arguments are passed in as operands, never written
into the code, so a key never depends on values. The generated code does what the
interpreter does, step for step: the same calls, in the same order, with the same reuse of
unary results (sin's value as cos's partial) and the same exact-1 shortcuts, so both give
the same arrays. Long regions are interpreted until their structure recurs: generating code
costs some 27 us a node once, and saves about 1.5 us a node on every later evaluation.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .arrays import (INVALID, NAN_WATCH, VALUE_ERRSTATE, all_finite, enter_errstate, finite_array,
                     restore_floating_errors)
from .expressions import (CONSTANT, OF_ARGUMENTS, OF_ARGUMENTS_AND_OUTPUT, PARTIALS_READ, UFUNC_OF, VALUE_REF,
                          ExprNode, ValueOf, _chain_below, chain_key, demand, input_value, interpret,
                          report_floating_errors, topological_order)
from .traced import RetiredTraced, Traced
from .updates import UpdatedTraced

MAX_NODES = 64  # regions up to this size get code the first time their structure is seen
MAX_LONG_NODES = 512  # longer regions are always interpreted (their keys alone grow quadratically)
LONG_HOT_AFTER = 8  # a long region gets code when its structure is seen this many times
MAX_FUNCTIONS = 4096  # generated functions kept; past this the cache starts afresh

_FUNCTIONS: dict[tuple, Callable] = {}
GENERATED = [0]  # functions generated so far (regions and prepared programs): the profiler notes new ones
_SIGHTINGS: dict[tuple, int] = {}  # how often each long structure without code was evaluated
_INTERPRET = object()  # a region's plan: let the interpreter evaluate it


def forget_compiled_regions() -> None:
    """Drop every generated function (a primitive's partials changed)."""
    _FUNCTIONS.clear()
    _SIGHTINGS.clear()
    PARTIALS_READ.clear()


def _long_and_cold(key: tuple, n_nodes: int) -> bool:
    """Whether a region of ``n_nodes`` with this key is interpreted this time: it is long, and
    its structure has not been seen often enough to pay for generating its code."""
    if n_nodes <= MAX_NODES:
        return False
    if n_nodes > MAX_LONG_NODES:
        return True
    sightings = _SIGHTINGS.get(key, 0) + 1
    if sightings >= LONG_HOT_AFTER:
        del _SIGHTINGS[key]
        return False
    if len(_SIGHTINGS) >= MAX_FUNCTIONS:
        _SIGHTINGS.clear()
    _SIGHTINGS[key] = sightings
    return True


def evaluate(root: ExprNode, want_value: bool, want_partials: bool):
    """``(value or None, partials per region input or None)`` of the region ``root``, with
    NumPy's floating-point errors noted (``VALUE_ERRSTATE``) rather than warned about: partial
    formulas may divide by zero where the cotangent will be zero, and the values are checked
    against the user's error state afterwards (``evaluate_unguarded``)."""
    token = enter_errstate(VALUE_ERRSTATE)
    try:
        return evaluate_unguarded(root, want_value, want_partials)
    finally:
        restore_floating_errors(token)


def evaluate_unguarded(root: ExprNode, want_value: bool, want_partials: bool):
    """``evaluate`` inside the error state the caller has set (``VALUE_ERRSTATE``, or the
    backward sweep's ``SWEEP_ERRSTATE``), which notes NumPy's floating-point errors.

    Only the values that something needs are computed: the root's if asked, and those
    that partial-derivative formulas read. Where the evaluation made a NaN (``NAN_WATCH``:
    0 * inf in a chain-rule product, from sqrt's partial at 0, exp's past overflow, a product
    with an infinite constant), or the region holds an op that asks for it
    (``Primitive.unbounded_partials``), a partial that comes out inf or NaN is computed again by
    the walk with products where a zero factor wins (``expressions._zero_wins``): a NaN from
    0 * inf there means the output did not depend on the input. Where any error was noted,
    the values are computed again under the error state the user's code had
    (``report_floating_errors``): a region runs later than the code that recorded it, and
    NumPy would have warned, or raised, there.
    """
    watch = NAN_WATCH
    outer_errors = watch.floating_errors  # another region may be reading this one's value
    watch.floating_errors = 0
    try:
        result = _evaluate(root, want_value, want_partials)
        if want_partials and (watch.floating_errors & INVALID or root.unbounded) and not all(
                _finite_partial(p) for p in result[1]):
            result = interpret(root, want_value, want_partials, zero_wins=True)
        errors = watch.floating_errors
    finally:
        watch.floating_errors = outer_errors | (watch.floating_errors & INVALID)  # NaNs made: the reader's too
    if errors:
        report_floating_errors(root, errors)
    return result


def _finite_partial(partial) -> bool:
    if type(partial) is np.ndarray:
        return partial.dtype.kind != "f" or finite_array(partial)
    return type(partial) is int or all_finite(partial)  # a forward dual's tangents too


def _evaluate(root: ExprNode, want_value: bool, want_partials: bool):
    if root.chain_length:  # a chain: its nodes carry the key's parts
        structure, operands = chain_key(root)
        key = (want_value, want_partials, len(root.input_ids), structure)
        function = _FUNCTIONS.get(key)
        if function is None:
            if _long_and_cold(key, len(structure)):
                return interpret(root, want_value, want_partials)
            function = _generated(_chain_below(root), root, structure, want_value, want_partials)
        return function(*root.inputs, *operands)
    plans = root.plans
    if plans is None:
        plans = root.plans = {}
    request = (_INTERPRET, want_value, want_partials)
    plan = plans.get(request)
    if plan is None:
        plan = plans[request] = _compile(root, want_value, want_partials)
    if plan is _INTERPRET:
        return interpret(root, want_value, want_partials)
    function, operands = plan
    return function(*root.inputs, *operands)


def generated_function(root: ExprNode, want_value: bool, want_partials: bool) -> Callable | None:
    """The generated function that evaluates this request for ``root``; None if the region
    is interpreted."""
    if root.chain_length:
        return _generated(_chain_below(root), root, chain_key(root)[0], want_value, want_partials)
    plan = _compile(root, want_value, want_partials)
    return None if plan is _INTERPRET else plan[0]


def _compile(root: ExprNode, want_value: bool, want_partials: bool):
    """``(function, operands)`` for ``root``: the function for its structure (generated on
    first sight) and the constants and keyword arguments it takes after the region inputs."""
    order = topological_order(root)  # chains carry their structure (extend_region): mostly DAGs here
    if len(order) > MAX_LONG_NODES:
        return _INTERPRET
    position = {id(node): n for n, node in enumerate(order)}
    input_ids = root.input_ids
    input_position = None if len(input_ids) == 1 else {key: k for k, key in enumerate(input_ids)}
    structure = []
    operands = []
    for node in order:
        refs = []
        for arg in node.args:
            kind = type(arg)
            if kind is ExprNode:
                refs.append(position[id(arg)])
            elif kind is Traced or kind is RetiredTraced or kind is UpdatedTraced:  # replaced after the region read it
                refs.append(-1 if input_position is None else -1 - input_position[id(arg)])
            else:
                refs.append(VALUE_REF if kind is ValueOf else None)
                operands.append(arg)
        if node.kwargs:
            operands.append(node.kwargs)
            structure.append((node.prim, tuple(refs), tuple(node.kwargs)))
        else:
            structure.append((node.prim, tuple(refs)))
    structure = tuple(structure)
    if len(order) > MAX_NODES:
        key = (want_value, want_partials, len(input_ids), structure)
        if key not in _FUNCTIONS and _long_and_cold(key, len(order)):
            return _INTERPRET
    return _generated(order, root, structure, want_value, want_partials), tuple(operands)


def _generated(order: list[ExprNode], root: ExprNode, structure: tuple, want_value: bool,
               want_partials: bool) -> Callable:
    """The function for a region of this structure, generated on first sight. A structure
    lists per node (in ``order``) its primitive, where each argument comes from (an earlier
    node, a region input by position, a constant) and its keyword names."""
    key = (want_value, want_partials, len(root.input_ids), structure)
    function = _FUNCTIONS.get(key)
    if function is None:
        if len(_FUNCTIONS) >= MAX_FUNCTIONS:
            _FUNCTIONS.clear()
        function = _FUNCTIONS[key] = _generate(order, {k: i for i, k in enumerate(root.input_ids)},
                                               want_value, want_partials)
    return function


class _Writer:
    """The source of one generated function and the objects its names refer to."""

    def __init__(self, n_inputs: int):
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {"_input_value": input_value}
        self.used_inputs: set[int] = set()
        # names that hold a unary result a later node may reuse (sin's value as cos's partial of
        # the same argument): kept while that argument lives, by the argument's name
        self.pinned: set[str] = set()
        self.dead_but_pinned: set[str] = set()  # node values no node reads, kept only for reuse
        self.reuse_of: dict[str, list] = {}  # argument name -> its memo keys in ``unary``
        self.scratch: list[str] = []  # the current node's derivative names
        self.n_inputs = n_inputs

    def name(self, prefix: str, obj: Any) -> str:
        """A global name for ``obj`` in the generated code."""
        name = f"{prefix}{len(self.namespace)}"
        self.namespace[name] = obj
        return name

    def emit(self, line: str) -> None:
        self.lines.append("    " + line)


def _generate(order: list[ExprNode], input_position: dict[int, int], want_value: bool,
              want_partials: bool) -> Callable:
    n_inputs = len(input_position)
    position = {id(node): n for n, node in enumerate(order)}
    compute, reads, last_reader = demand(order, position, want_value, want_partials)
    writer = _Writer(n_inputs)
    parameters = [f"t{k}" for k in range(n_inputs)]
    unary: dict[tuple, str] = {}  # (ufunc, argument's name) -> the name holding its result
    depends: list[tuple[int, ...]] = []  # per node, the region inputs below it
    partial_names: list[dict[int, str]] = []  # per node: input -> name (or "1") of its partial
    assigned: list[list[str]] = []  # per node, the names it assigned (deleted after its last reader)
    inputs_read_last = [[] for _ in order]  # per node, the region inputs no later node reads
    last_input_reader = {input_position[id(arg)]: n for n, node in enumerate(order) for arg in node.args
                         if type(arg) in (Traced, RetiredTraced, UpdatedTraced)}
    for k, n in last_input_reader.items():
        inputs_read_last[n].append(k)
    value_only: set[str] = set()  # the parameters that hold a ValueOf, until its value is loaded
    for n, node in enumerate(order):
        argument_names, argument_depends = [], []
        for arg in node.args:
            kind = type(arg)
            if kind is ExprNode:
                m = position[id(arg)]
                argument_names.append(f"v{m}")
                argument_depends.append(depends[m])
            elif kind is Traced or kind is RetiredTraced or kind is UpdatedTraced:  # replaced after the region read it
                k = input_position[id(arg)]
                argument_names.append(f"i{k}")
                argument_depends.append((k,))
            else:
                name = f"c{len(parameters)}"
                parameters.append(name)
                argument_names.append(name)
                argument_depends.append(())
                if kind is ValueOf:  # a traced value read for its value: loaded below, if read
                    value_only.add(name)
        keywords = None
        if node.kwargs:
            keywords = f"c{len(parameters)}"
            parameters.append(keywords)
        names: list[str] = []
        read_names = None  # the arguments this node's value or partials read, "None" for the others
        if compute[n] or reads[n] is not None:
            read_names = argument_names if compute[n] else [a if read else "None"
                                                            for a, read in zip(argument_names, reads[n])]
            for a in read_names:
                if a[0] == "i":
                    writer.used_inputs.add(int(a[1:]))
                elif a in value_only:
                    value_only.discard(a)  # (loaded once)
                    writer.emit(f"{a} = _input_value({a})")
        value = f"v{n}"
        if compute[n]:
            _emit_value(writer, node, value, argument_names, keywords, unary)
            names.append(value)
        below = tuple(sorted({k for d in argument_depends for k in d}))
        depends.append(below)
        partials: dict[int, str] = {}
        if want_partials:
            partials = _emit_partials(writer, n, node, value if compute[n] else "None",
                                      read_names, argument_depends, keywords,
                                      partial_names, unary, position)
            names.extend(name for name in partials.values() if name != "1")
            if writer.scratch:  # the derivatives were only needed for this node's partials
                writer.emit("del " + ", ".join(writer.scratch))
                writer.scratch.clear()
        partial_names.append(partials)
        assigned.append(names)
        for m in last_reader[n]:  # free what no later node reads, as the interpreter does
            dead = [name for name in assigned[m] if name not in writer.pinned]
            writer.dead_but_pinned.update(name for name in assigned[m] if name in writer.pinned)
            dead += _forget_reuse(writer, unary, f"v{m}")  # no later node reads v{m}: nothing reuses its results
            if dead:
                writer.emit("del " + ", ".join(dead))
        reused = [name for k in inputs_read_last[n] for name in _forget_reuse(writer, unary, f"i{k}")]
        if reused:
            writer.emit("del " + ", ".join(reused))
    root = len(order) - 1
    result_value = f"v{root}" if compute[root] else "None"  # the interpreter's answer, even unasked
    result_partials = "[" + ", ".join(partial_names[root][k] for k in range(n_inputs)) + "]" \
        if want_partials else "None"
    writer.emit(f"return {result_value}, {result_partials}")
    loads = []
    for k in sorted(writer.used_inputs):
        loads += [f"    i{k} = t{k}._value", f"    if i{k} is None:", f"        i{k} = _input_value(t{k})"]
    source = f"def region({', '.join(parameters)}):\n" + "\n".join(loads + writer.lines) + "\n"
    exec(compile(source, "<mixedad region>", "exec"), writer.namespace)  # noqa: S102 (our own code)
    GENERATED[0] += 1
    function = writer.namespace["region"]
    function.source = source  # for whoever debugs a region
    return function


def _forget_reuse(writer: _Writer, unary: dict, argument: str) -> list[str]:
    """Unpin the unary results of ``argument``, which no later node reads (so none can reuse
    them); the names among them that nothing else needs, to delete."""
    freed = []
    for memo in writer.reuse_of.pop(argument, ()):
        name = unary.pop(memo)
        writer.pinned.discard(name)
        if name[0] == "u" or name in writer.dead_but_pinned:  # a reused partial, or a value no node reads
            writer.dead_but_pinned.discard(name)
            freed.append(name)
    return freed


def _emit_value(writer: _Writer, node: ExprNode, value: str, argument_names: list[str], keywords: str | None,
                unary: dict) -> None:
    fn = node.prim.value_fn
    if len(argument_names) == 1 and keywords is None:
        memo = (fn, argument_names[0])
        known = unary.get(memo)
        if known is not None:
            writer.emit(f"{value} = {known}")  # the same array: ``known`` keeps it for reuse
        else:
            writer.emit(f"{value} = {writer.name('f', fn)}({argument_names[0]})")
            unary[memo] = value
            writer.reuse_of.setdefault(memo[1], []).append(memo)
            writer.pinned.add(value)
        return
    call = ", ".join(argument_names + ([f"**{keywords}"] if keywords else []))
    writer.emit(f"{value} = {writer.name('f', fn)}({call})")


def _emit_derivative(writer: _Writer, node: ExprNode, j: int, out: str, argument_names: list[str] | None,
                     keywords: str | None, unary: dict, target: str) -> str:
    """The expression of the node's partial with respect to argument ``j``: an int literal
    for an exact 1 or -1, else a name assigned here (``expressions._derivative``)."""
    prim = node.prim
    kinds = prim.partial_kinds
    kind, spec = kinds[j] if kinds is not None and j < len(kinds) else (None, None)
    args = "None" if argument_names is None else "[" + ", ".join(argument_names) + "]"
    if kind == CONSTANT:
        if type(spec) is int and spec in (1, -1):
            return str(spec)
        return writer.name("k", spec)
    if kind == UFUNC_OF and argument_names is not None and len(argument_names) == 1:
        memo = (spec.ufunc, argument_names[0])
        known = unary.get(memo)
        if known is None:
            known = unary[memo] = f"u{target}"
            writer.reuse_of.setdefault(memo[1], []).append(memo)
            writer.emit(f"{known} = {writer.name('f', spec.ufunc)}({argument_names[0]})")
            writer.pinned.add(known)
        if spec.scale == 1:
            return known
        writer.emit(f"{target} = {writer.name('k', spec.scale)} * {known}")
        writer.scratch.append(target)
        return target
    if kind in (OF_ARGUMENTS, OF_ARGUMENTS_AND_OUTPUT) and argument_names is not None \
            and not (node.kwargs and prim.pass_kwargs_to_partials):
        with_out = f", out={out}" if kind == OF_ARGUMENTS_AND_OUTPUT else ""
        writer.emit(f"{target} = {writer.name('s', spec)}({', '.join(argument_names)}{with_out})")
        writer.scratch.append(target)
        return target
    # everything else (and a missing partial, which raises) goes through the primitive itself
    writer.emit(f"{target} = {writer.name('P', prim)}.partial({j}, {args}, {out}, {keywords or '{}'})")
    writer.scratch.append(target)
    return target


def _times(d: str, p: str) -> str:
    """``expressions._combine`` on names: exact int 1 and -1 multiply away."""
    if p == "1":
        return d
    if d == "1":
        return p
    if d == "-1":
        return f"-{p}"
    return f"{d} * {p}"


def _emit_partials(writer, n, node, out, argument_names, argument_depends, keywords, partial_names, unary,
                   position) -> dict[int, str]:
    """Assign the node's partial with respect to each region input below it (by input index)."""
    args = node.args
    below = sorted({k for d in argument_depends for k in d})

    def argument_partial(j: int, k: int) -> str:
        arg = args[j]
        return partial_names[position[id(arg)]][k] if type(arg) is ExprNode else "1"

    result: dict[int, str] = {}
    prim = node.prim
    if prim.tangent_rule is not None:
        rule = writer.name("r", prim.tangent_rule)
        for k in below:
            tangents = ", ".join(argument_partial(j, k) if k in argument_depends[j] else "None"
                                 for j in range(len(args)))
            name = result[k] = f"p{n}_{k}"
            options = f", **{keywords}" if keywords else ""
            writer.emit(f"{name} = {rule}([{tangents}], {out}, {', '.join(argument_names)}{options})")
        return result
    derivatives: dict[int, str] = {}
    for j, depends in enumerate(argument_depends):
        if depends:
            derivatives[j] = _emit_derivative(writer, node, j, out, argument_names, keywords, unary, f"d{n}_{j}")
    for k in below:
        terms = [_times(derivatives[j], argument_partial(j, k)) for j, depends in enumerate(argument_depends)
                 if k in depends]
        expression = " + ".join(terms)
        if expression == "1":
            result[k] = "1"
            continue
        name = result[k] = f"p{n}_{k}"
        writer.emit(f"{name} = {expression}")
    return result
