"""A prepared program compiled to one straight-line Python function, forward and backward.

``core.replay`` interprets a recorded program: every call runs each step's generic
function, then the generic backward sweep over the tape. Both decide again, at every call,
what the recording has already fixed: which arguments are traced, which reverse rule
serves which argument, which parent receives each cotangent, whether a cotangent can need
fitting or adding up. Here those decisions are made once, and the program is written out
as Python code whose values and cotangents are local variables:

* a primitive's step (``pullbacks.replay_primitive``) becomes its call and, in the backward
  part, the calls of its reverse rules on the same values (for indexing, the in-place add
  of the cotangent into the argument's buffer, as the sweep does);
* every other step (regions, fused reductions, primitives with several outputs) runs its
  own replay function and is swept through the rule it sets, as in the interpreter;
* a cotangent is checked against its parent's shape and dtype where the sweep checks it
  and fitted by the same function; contributions to one value add up in the same order,
  in place into buffers the sweep allocated;
* a value is released after its last use (``del``), where the interpreter drops it.

So the compiled function computes what the interpreter computes, call for call (the tests
compare them bit for bit). Very long programs stay interpreted.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .arrays import ARRAY_TYPES, SWEEP_ERRSTATE, enter_errstate, restore_floating_errors, stand_in
from .compiled import GENERATED, _Writer
from .errors import MixedadError
from .pullbacks import kept_positions, replay_primitive
from .pullbacks import checked_joint_cotangents, make_vjp
from .region import primal
from .tape import _PLAIN_COTANGENTS, _add_rule_note, _outline, add_selected, fit_cotangent
from .traced import Traced

MAX_STEPS = 4000  # longer programs are interpreted: compiling them would cost more than it saves


def compile_program(program) -> Callable | None:
    """The compiled ``run(active_values, inactive_values, want_value, read)`` of a
    ``replay.Program`` (its ``run`` without the release), or None if it stays interpreted."""
    if len(program.steps) > MAX_STEPS:
        return None
    return _ProgramWriter(program).function()


def _is_bind(step) -> bool:
    return step.run is replay_primitive and not step.payload[0].multiple_outputs


class _ProgramWriter:
    """Writes one program's function: a block of lines per step forward, then per entry backward."""

    def __init__(self, program):
        self.program = program
        self.writer = _Writer(0)
        self.writer.namespace.update(_HELPERS)
        self.local: dict[int, str] = {}  # id(Traced) -> the local variable that holds its value
        self.from_step: set[int] = set()  # ids of values a step's own function computes (read via primal)
        self.publishing: dict[int, Traced] = {}  # the values whose ``_value`` the code sets, by id
        self.cotangent: dict[tuple[int, int], str] = {}  # (id(entry), slot) -> its cotangent's variable
        self.fan_in: dict[tuple[int, int], int] = {}
        self.defined_in: dict[str, int] = {}  # local -> the block that assigns it
        self.calls: dict[int, tuple] = {}  # id(step) -> (raw result, argument expressions, keywords)
        self.block = 0
        self.names: dict[int, str] = {}  # id(object) -> its name in the generated code

    def constant(self, obj: Any) -> str:
        name = self.names.get(id(obj))
        if name is None:
            name = self.names[id(obj)] = self.writer.name("k", obj)
        return name

    def new_local(self, prefix: str) -> str:
        name = f"{prefix}{len(self.defined_in)}"
        self.defined_in[name] = self.block
        return name

    def cotangent_of(self, entry, slot: int) -> str:
        key = (id(entry), slot)
        if key not in self.cotangent:
            self.cotangent[key] = f"g{len(self.cotangent)}"
        return self.cotangent[key]

    # --- the function -------------------------------------------------------------------------
    def function(self) -> Callable:
        program = self.program
        actives = [f"a{k}" for k in range(len(program.active_leaves))]
        inactives = [f"c{k}" for k in range(len(program.inactive_leaves))]
        prologue = [f"{', '.join(actives)}, = active_values" if actives else "pass"]
        if inactives:
            prologue.append(f"{', '.join(inactives)}, = inactive_values")
        for name, leaf in zip(actives + inactives, program.active_leaves + program.inactive_leaves):
            self.local[id(leaf)] = name
            prologue.append(f"{self.constant(leaf)}._value = {name}")
        # values whose ``_value`` someone reads: other steps' functions, ``read``, the release
        publish = {id(value) for step in program.steps if not _is_bind(step) for value in step.reads}
        publish |= program.kept_ids
        blocks: list[list[str]] = []
        reads: list[set[str]] = []
        output_index = program.output._entry.index
        swept = []
        for step, free in program.schedule:
            lines: list[str] = []
            used = self.bind_forward(step, lines, publish) if _is_bind(step) else self.other_forward(step, lines)
            for value in free:
                if id(value) in self.publishing or id(value) in self.from_step:
                    lines.append(f"{self.constant(value)}._value = None")
            blocks.append(lines)
            reads.append(used)
            self.block += 1
            if 0 <= step.entry.index <= output_index:  # (a recomputed value's step has no entry on the tape)
                swept.append(step)
        output = program.output
        if id(output) in self.from_step:
            blocks.append([f"value = _primal({self.constant(output)}) if want_value else None"])
            reads.append(set())
        else:
            blocks.append([f"value = {self.local[id(output)]} if want_value else None"])
            reads.append({self.local[id(output)]})
        self.block += 1
        n_forward = len(blocks)
        seed = self.cotangent_of(output._entry, output._slot)
        for step in swept:
            self.count_fan_in(step)
        for step in reversed(swept):
            lines = []
            used = self.bind_backward(step, lines) if _is_bind(step) else self.other_backward(step, lines)
            blocks.append(lines)
            reads.append(used)
        leaf_cotangents = [self.cotangent_of(leaf._entry, 0) for leaf in program.active_leaves]
        blocks = self.with_deletions(blocks, reads)
        cotangents = [name for name in self.cotangent.values() if name != seed]
        body = list(prologue)
        for lines in blocks[:n_forward]:
            body += lines
        body += [f"{seed} = {self.constant(program.seed)}"]
        body += [" = ".join(cotangents) + " = None"] if cotangents else []
        body += ["owned = {}", "at = None", "cs = c = None",
                 "errstate = _enter_errstate(_SWEEP_ERRSTATE)", "try:", "    try:"]
        for lines in blocks[n_forward:]:
            body += _indent(lines, 2)
        body += ["        pass",
                 "    except MixedadError:", "        raise",
                 "    except Exception as error:  # a rule failed: say which one, and where",
                 "        _note_failed_rule(error, at)", "        raise",
                 "finally:", "    _restore_floating_errors(errstate)",
                 "if read is not None:", "    read()",
                 f"return value, [{', '.join(leaf_cotangents)}]"]
        source = ["def run(active_values, inactive_values, want_value, read):", "    try:"]
        source += _indent(body, 2) + ["    finally:  # nothing is held between calls"] + _indent(self.release(), 2)
        text = "\n".join(source) + "\n"
        namespace = self.writer.namespace
        exec(compile(text, "<mixedad program>", "exec"), namespace)  # noqa: S102 (our own code)
        GENERATED[0] += 1
        function = namespace.pop("run")  # in its own namespace it would be a cycle holding the whole program
        function.source = text  # for whoever debugs a program
        return function

    def release(self) -> list[str]:
        """What ``Program.release`` clears, among what this code or the steps it runs set."""
        program = self.program
        lines = [f"{self.constant(leaf)}._value = None" for leaf in program.active_leaves + program.inactive_leaves]
        lines += [f"{self.constant(value)}._value = None" for value in self.publishing.values()]
        for step in program.steps:
            if not _is_bind(step):
                lines.append(f"{self.constant(step.entry)}.vjp = {self.constant(step.entry)}.deferred_value = None")
                lines += [f"{self.constant(result)}._value = None" for result in step.outputs if result is not None]
        return lines

    def with_deletions(self, blocks: list[list[str]], reads: list[set[str]]) -> list[list[str]]:
        """Each block followed by ``del`` of the locals that no later block reads."""
        last = dict.fromkeys(self.defined_in, -1)
        for position, names in enumerate(reads):
            for name in names:
                if name in last:
                    last[name] = position
        dead_after: dict[int, list[str]] = {}
        for name, position in last.items():
            dead_after.setdefault(max(position, self.defined_in[name]), []).append(name)
        return [lines + ([f"del {', '.join(dead_after[position])}"] if position in dead_after else [])
                for position, lines in enumerate(blocks)]

    # --- a primitive's step ---------------------------------------------------------------------
    def bind_forward(self, step, lines: list[str], publish: set[int]) -> set[str]:
        prim, args, kwargs, (positions, rule_at), _ = step.payload
        arguments = []
        for arg in args:
            if type(arg) is not Traced:
                arguments.append(self.constant(arg))
                continue
            name = self.local[id(arg)]
            if id(arg) in self.from_step:  # computed by a step's own function, perhaps deferred (fused)
                lines.append(f"{name} = _primal({self.constant(arg)})")
                self.defined_in.setdefault(name, self.block)
            arguments.append(name)
        keywords = f", **{self.constant(kwargs)}" if kwargs else ""
        raw, value = self.new_local("o"), self.new_local("v")
        lines.append(f"{raw} = {self.constant(prim.fn)}({', '.join(arguments)}{keywords})")
        lines.append(f"{value} = {raw} if isinstance({raw}, _ARRAY_TYPES) else _asarray({raw})")
        result = step.outputs[0]
        self.local[id(result)] = value
        if id(result) in publish:
            lines.append(f"{self.constant(result)}._value = {value}")
            self.publishing[id(result)] = result
        self.calls[id(step)] = (raw, arguments, keywords, None)
        traced_positions = kept_positions(step)
        if traced_positions and prim.vjp_rules is None and step.entry.selection is None:
            rule = self.new_local("r")  # a derived rule, built now from the values it reads (as replayed)
            lines.append(f"{rule} = _make_vjp({self.constant(prim)}, {self.constant(positions)}, "
                         f"{self.constant(traced_positions)}, {self.constant(rule_at)}, [{', '.join(arguments)}], "
                         f"{raw}, {self.constant(kwargs)})")
            self.calls[id(step)] = (raw, arguments, keywords, rule)
        return {a for a in arguments if a in self.defined_in}

    def bind_backward(self, step, lines: list[str]) -> set[str]:
        prim, _, _, (positions, rule_at), _ = step.payload
        entry = step.entry
        traced_positions = kept_positions(step)
        if not traced_positions:
            return set()
        raw, arguments, keywords, derived = self.calls[id(step)]
        g = self.cotangent_of(entry, 0)
        body = self.entry_start(entry, [g])
        out = raw
        if entry.selection is None and derived is None and not prim.reverse_reads_out and not prim.multiple_outputs:
            out = self.constant(stand_in(entry.shape, entry.dtype))  # the rules never read it: freed after the forward pass
        values = f"{out}, {', '.join(arguments)}{keywords}"
        if entry.selection is not None:
            _, slot, shape, dtype = parent = entry.parents[0]
            target = self.cotangent_of(parent[0], slot)
            body += [f"if type({g}) in _PLAIN:",
                     f"    {target} = _add_selected({target}, {g}, {self.constant(entry.selection)}, "
                     f"{self.constant(shape)}, {self.constant(dtype)}, owned)",
                     "else:",
                     f"    {target} = _selected_by_rule({self.constant(step)}, {target}, {g}, {raw}, "
                     f"[{', '.join(arguments)}], owned)"]
        else:
            if derived is not None:
                body.append(f"cs = {derived}({g})")
                contributions = [f"cs[{k}]" for k in range(len(traced_positions))]
            elif prim.joint_vjp and len(positions) == 1:
                contributions = [f"{self.constant(prim.vjp_rules[0])}({g}, {values})"]
            elif prim.joint_vjp:
                body.append(f"cs = _joint({self.constant(prim)}, {self.constant(prim.vjp_rules[0])}({g}, {values}), "
                            f"{len(positions)})")
                contributions = [f"cs[{rule_at[j]}]" for j in traced_positions]
            else:
                contributions = [f"{self.constant(rule_at[j])}({g}, {values})" for j in traced_positions]
            for p, expression in enumerate(contributions):
                self.contribute(entry, p, expression, body)
        body.append(f"{g} = cs = c = None  # passed on: held no longer than the sweep holds it")
        lines += [f"if {g} is not None:"] + _indent(body)
        return {*([raw] if out == raw else []), *(a for a in arguments if a in self.defined_in),
                *([derived] if derived else [])}

    # --- any other step -------------------------------------------------------------------------
    def other_forward(self, step, lines: list[str]) -> set[str]:
        used = {self.local[id(v)] for v in step.reads if id(v) in self.local and id(v) not in self.from_step}
        lines.append(f"{self.constant(step)}.run({self.constant(step)})")
        for result in step.outputs:
            if result is not None:  # a local once a primitive reads it (``bind_forward``)
                self.local[id(result)] = f"s{len(self.local)}"
                self.from_step.add(id(result))
        return used

    def other_backward(self, step, lines: list[str]) -> set[str]:
        entry = step.entry
        names = [self.cotangent_of(entry, slot) for slot in range(entry.n_outputs)]
        e = self.constant(entry)
        body = self.entry_start(entry, names)
        body += [f"if {e}.vjp is not None:",
                 f"    cs = {e}.vjp({names[0] if entry.n_outputs == 1 else '[' + ', '.join(names) + ']'})",
                 f"    {e}.vjp = None  # frees what the rule saved"]
        inner: list[str] = []
        for p in range(len(entry.parents)):
            self.contribute(entry, p, f"cs[{p}]", inner)
        body += _indent(inner + ["cs = c = None"])
        body.append(" = ".join(names) + " = None  # passed on: held no longer than the sweep holds it")
        lines += [f"if {' or '.join(f'{name} is not None' for name in names)}:"] + _indent(body)
        return set()

    # --- cotangents -----------------------------------------------------------------------------
    def entry_start(self, entry, names: list[str]) -> list[str]:
        body = [f"at = {self.constant(entry)}"]
        for slot, name in enumerate(names):  # a buffer the sweep allocated is passed on: no more adds into it
            if self.fan_in.get((id(entry), slot), 0) > 1:
                body.append(f"owned.pop(id({name}), None)")
        return body

    def count_fan_in(self, step) -> None:
        entry = step.entry
        for parent in entry.parents:
            if parent is not None:
                key = (id(parent[0]), parent[1])
                # a selection adds into a buffer of its own: count it as two contributions
                self.fan_in[key] = self.fan_in.get(key, 0) + (2 if entry.selection is not None else 1)

    def contribute(self, entry, p: int, expression: str, body: list[str]) -> None:
        """Hand the cotangent ``expression`` to the entry's parent ``p``: fit it where the
        sweep would, then store it or add it to what the parent has."""
        parent = entry.parents[p]
        if parent is None:
            return
        parent_entry, slot, shape, dtype = parent
        target = self.cotangent_of(parent_entry, slot)
        context, shape_name, dtype_name = entry.context_shape, self.constant(shape), self.constant(dtype)
        fit = f"_fit(c, {self.constant(context)}, {shape_name}, {dtype_name}, {self.constant(entry)}, {p})"
        body += [f"c = {expression}", "if c is not None:"]
        if context is None or context == shape:
            body += [f"    if not (type(c) is _ndarray and c.shape == {shape_name} and c.dtype == {dtype_name}):",
                     f"        c = {fit}"]
        else:
            body.append(f"    c = {fit}")
        if self.fan_in.get((id(parent_entry), slot), 0) > 1:
            body.append(f"    {target} = c if {target} is None else _accumulate({target}, c, {shape_name}, owned)")
        else:
            body.append(f"    {target} = c")


def _indent(lines: list[str], levels: int = 1) -> list[str]:
    return ["    " * levels + line for line in lines]


# --- what the generated code calls ---------------------------------------------------------------
def _fit(ct, context_shape, shape, dtype, entry, p):
    try:
        return fit_cotangent(ct, context_shape, shape, dtype)
    except (ValueError, TypeError) as error:
        _add_rule_note(error, entry, f" returned a cotangent of {_outline(ct)} for its differentiable argument {p}, "
                       f"of shape {shape} ({dtype})")
        raise


def _note_failed_rule(error: Exception, entry) -> None:
    """The sweep's note on a failed rule (unless ``_fit`` has already written one)."""
    if entry is not None and not any(note.startswith("mixedad: in the reverse rule")
                                     for note in getattr(error, "__notes__", ())):
        _add_rule_note(error, entry, "")


def _accumulate(previous, ct, shape, owned):
    """``previous + ct``, in place into a buffer the sweep allocated (as ``tape._sweep``)."""
    if id(previous) in owned and type(ct) is np.ndarray:
        previous += ct
        return previous
    total = previous + ct
    if type(total) is np.ndarray and total.shape == shape:
        owned[id(total)] = total
    return total


def _selected_by_rule(step, buffer, g, raw, arg_values, owned):
    """An indexing entry's cotangent that is not a plain array: through its reverse rule."""
    prim, _, kwargs, (positions, rule_at), _ = step.payload
    (ct,) = make_vjp(prim, positions, [0], rule_at, arg_values, raw, kwargs)(g)
    if ct is None:
        return buffer
    _, _, shape, dtype = step.entry.parents[0]
    ct = _fit(ct, step.entry.context_shape, shape, dtype, step.entry, 0)
    return ct if buffer is None else _accumulate(buffer, ct, shape, owned)


_HELPERS = {
    "_primal": primal, "_asarray": np.asarray, "_ARRAY_TYPES": ARRAY_TYPES, "_ndarray": np.ndarray,
    "_PLAIN": _PLAIN_COTANGENTS, "_fit": _fit, "_accumulate": _accumulate, "_add_selected": add_selected,
    "_selected_by_rule": _selected_by_rule, "_joint": checked_joint_cotangents, "_make_vjp": make_vjp,
    "_enter_errstate": enter_errstate, "_restore_floating_errors": restore_floating_errors,
    "_SWEEP_ERRSTATE": SWEEP_ERRSTATE, "_note_failed_rule": _note_failed_rule,
    "MixedadError": MixedadError,
}
