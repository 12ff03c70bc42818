"""Reverse rules of general primitives as the tape calls them: ``pullback(g)`` -> one cotangent per
traced argument, built from the primitive's ``defvjp`` rules (or derived by transposing its
forward rule) and the values of one call. Partials of module-level functions, not closures:
cheaper to make, and every recorded operation makes one. And a prepared program's replay of
a primitive's step: its value and pullback on new values.
"""
from __future__ import annotations

from functools import partial, wraps

import numpy as np

from .arrays import ARRAY_TYPES, LeveledValue, apply_linear, read_only_view, shape_stand_in
from .errors import mixedads_own
from .linear import checked_joint_cotangents, has_reverse_rule, transposed_vjp
from .region import primal
from .tape import Step, leads_to_constants, one_cotangent
from .traced import Traced


def read_only_first_argument(rule, what: str, prim=None, index: int = 0):
    """A user's rule (``defvjp``, ``defjvp``) called with a read-only view of its first argument,
    the cotangent or tangent ``what``: the sweep hands one array to several rules (np.add's
    reverse rule passes g to both arguments), so a rule that updated it in place
    (``g *= np.cos(x)``) would silently change another argument's derivative. A reverse rule's
    cotangents (``prim``'s rule number ``index``) are checked for axes that the sweep would sum
    silently (``check_leading_axes``). mixedad's own rules never need either, and run unwrapped."""
    if rule is None or mixedads_own(rule):
        return rule

    @wraps(rule)
    def guarded(first, *args, **kwargs):
        if type(first) is tuple or type(first) is list:
            given = any(type(a) is np.ndarray for a in first)
            first = type(first)([read_only_view(a) for a in first])
        else:
            given = type(first) is np.ndarray
            first = read_only_view(first)
        try:
            result = rule(first, *args, **kwargs)
        except ValueError as error:
            if given and "read-only" in str(error):
                error.add_note(f"The rule {getattr(rule, '__qualname__', rule)} wrote into its {what}, which is "
                               "read-only: other arguments' derivatives may share that array. Compute a new one "
                               f"(g = g * c, not g *= c).")
            raise
        if prim is not None and args and not prim.multiple_outputs:
            _check_cotangent_axes(prim, index, result, args[0], args[1:])
        return result
    return guarded


def _check_cotangent_axes(prim, index: int, result, out, arg_values) -> None:
    """Raise for a cotangent of a user's reverse rule with leading axes its argument was not
    broadcast along (``check_leading_axes``), or for several where one was due."""
    positions = prim.differentiable_positions(len(arg_values))
    if prim.joint_vjp and len(positions) > 1:
        pairs = zip(positions, result) if type(result) in (tuple, list) else ()  # (a wrong count raises later)
    else:
        pairs = [(positions[index], one_cotangent(result))] if index < len(positions) else ()
    for j, ct in pairs:
        if type(ct) in (tuple, list) and any(isinstance(part, (np.ndarray, Traced, LeveledValue)) for part in ct):
            raise ValueError(f"the reverse rule returned {len(ct)} cotangents for argument {j}: it returns one per "
                             "differentiable argument (none for nondiff_argnums, which a joint rule leaves out)")
        if ct is not None and not isinstance(ct, (int, float)):
            check_leading_axes(np.shape(ct), np.shape(arg_values[j]), np.shape(out))


def check_leading_axes(ct_shape: tuple, shape: tuple, out_shape: tuple) -> None:
    """Raise unless the leading axes that a user's general primitive's cotangent has beyond its
    argument's are leading axes of the primitive's output that the argument was broadcast along
    (batch axes, which the sweep sums): a (4, 4) cotangent for a (4,) argument of a (4,) result,
    or two cotangents in a tuple where the rule was to return one, would be summed into a
    silently wrong one. A primitive that contracts the argument's axes (a batched vecdot) sums
    its batch axes in its rule."""
    lead = len(ct_shape) - len(shape)
    if lead > 0 and (ct_shape[:lead] != tuple(out_shape[:lead]) or len(out_shape) < len(shape) + lead):
        raise ValueError(f"a cotangent of shape {ct_shape} for an argument of shape {tuple(shape)}: its leading axes "
                         f"{ct_shape[:lead]} are not axes of the primitive's output {tuple(out_shape)} that the "
                         "argument was broadcast along, which mixedad would sum. A reverse rule returns one cotangent "
                         "per differentiable argument (none for nondiff_argnums, which a joint rule leaves out), of "
                         "the argument's shape (sum any other axes in the rule)")


def fill_missing_cotangents(vjp, outs):
    def vjp_with_zeros(gs):
        if len(outs) == 1 and not isinstance(gs, (tuple, list)):  # the sweep passes a lone output's cotangent bare
            gs = (gs,)
        return vjp(tuple(np.zeros_like(o) if g is None else g for g, o in zip(gs, outs)))
    return vjp_with_zeros


def no_cotangent(g, out, *args, **kwargs):
    """The reverse rule of an argument that leads only to a prepared recording's traced constants."""
    return None


def active_rules(prim, args, traced_positions, rule_at):
    """``rule_at``, where a prepared recording traces the other arguments as constants
    (``tape.leads_to_constants``), with no rule run for an argument that leads to them only:
    ``X @ w`` with data ``X`` computes no cotangent for ``X`` (100000 x 20: 30x the time of the
    rest of a gradient that traces every call). Per-argument rules only (a joint rule gives
    all at once)."""
    if len(traced_positions) < 2 or prim.vjp_rules is None or prim.joint_vjp:
        return rule_at
    constant = [j for j in traced_positions if args[j]._entry is not None and leads_to_constants(args[j]._entry)]
    return {**rule_at, **dict.fromkeys(constant, no_cotangent)} if constant else rule_at


def make_vjp(prim, positions, traced_positions, rule_at, arg_values, out, kwargs):
    if not prim.reverse_reads_values:  # keep no arrays alive: x[i] = v in a loop makes a new array each time
        arg_values = [shape_stand_in(v) if j in traced_positions else v for j, v in enumerate(arg_values)]
        out = shape_stand_in(out)
    if prim.vjp_rules is None:
        return transposed_vjp(prim, positions, traced_positions, arg_values, out, kwargs)
    pullback = rule_pullback(prim, positions, traced_positions, rule_at, arg_values, out, kwargs)
    return partial(_componentwise, pullback) if prim.linear else pullback


def rule_layout(prim, n_args: int) -> tuple[list, dict]:
    """``(positions, rule_at)`` of a call of ``prim`` with ``n_args`` arguments: the positions it
    differentiates, and each one's reverse rule (joint: its index). Cached on the primitive."""
    layout = prim.layouts.get(n_args)
    if layout is None:
        positions = prim.differentiable_positions(n_args)
        rules = prim.vjp_rules or ()
        if prim.joint_vjp or (prim.vjp_rules is None and has_reverse_rule(prim)):  # one (derived) rule
            rule_at = {j: k for k, j in enumerate(positions)}
        else:
            rule_at = {j: rules[k] for k, j in enumerate(positions) if k < len(rules) and rules[k] is not None}
        layout = prim.layouts[n_args] = positions, rule_at
    return layout


def single_pullback(prim, positions, rule_at) -> tuple | None:
    """``(rule, linear)`` such that ``rule(g, out, value, **kwargs)`` is the one cotangent that
    ``make_vjp``'s reverse rule gives for a call with one (traced) argument (``UnaryEntry``;
    for a linear rule and a cotangent carrying tangents, per component); or None where make_vjp
    does more. A rule that reads shapes only (``reverse_reads_values`` False) gets stand-ins for
    the value and the output from ``bind``, as ``make_vjp`` gives them."""
    if prim.vjp_rules is None or positions != [0] or 0 not in rule_at:
        return None
    return (prim.vjp_rules[0] if prim.joint_vjp else rule_at[0]), prim.linear


def rule_pullback(prim, positions, traced_positions, rule_at, arg_values, out, kwargs):
    if not prim.reverse_reads_out:  # keep no output the rules never read (matmul's)
        out = shape_stand_in(out) if not isinstance(out, (tuple, list)) else type(out)(map(shape_stand_in, out))
    if prim.joint_vjp:
        rule = prim.vjp_rules[0]
        if len(positions) == 1:
            return partial(_one_cotangent, rule, out, arg_values, kwargs)
        keep = [rule_at[j] for j in traced_positions]
        return partial(_joint_cotangents, prim, rule, len(positions), keep, out, arg_values, kwargs)
    if len(traced_positions) == 1:
        return partial(_one_cotangent, rule_at[traced_positions[0]], out, arg_values, kwargs)
    return partial(_cotangent_per_argument, [rule_at[j] for j in traced_positions], out, arg_values, kwargs)


def _one_cotangent(rule, out, arg_values, kwargs, g):
    return (one_cotangent(rule(g, out, *arg_values, **kwargs)),)


def _joint_cotangents(prim, rule, n_positions, keep, out, arg_values, kwargs, g):
    cts = checked_joint_cotangents(prim, rule(g, out, *arg_values, **kwargs), n_positions)
    return [cts[k] for k in keep]


def _cotangent_per_argument(rules, out, arg_values, kwargs, g):
    return [rule(g, out, *arg_values, **kwargs) for rule in rules]


def _componentwise(pullback, g):
    """A linear primitive's reverse rule reads only shapes and static arguments, so it takes a
    cotangent of another level (a forward dual) one component at a time, as a plain array."""
    return apply_linear(pullback, g) if isinstance(g, LeveledValue) else pullback(g)


def replay_primitive(step) -> None:
    """Recompute a primitive's entry on the current values of its traced arguments."""
    prim, args, kwargs, (positions, rule_at), _ = step.payload
    arg_values = [a._value if type(a) is Traced and a._value is not None else primal(a) for a in args]
    out = prim.fn(*arg_values, **kwargs)
    traced_positions = kept_positions(step)
    if not traced_positions:
        vjp = None
    elif step.entry.selection is not None:  # the sweep adds plain cotangents itself: build the rule if asked
        def vjp(g):
            return make_vjp(prim, positions, traced_positions, rule_at, arg_values, out, kwargs)(g)
    elif prim.vjp_rules is not None:  # a replay's cotangents are plain arrays: no per-component wrapper
        vjp = rule_pullback(prim, positions, traced_positions, rule_at, arg_values, out, kwargs)
    else:
        vjp = make_vjp(prim, positions, traced_positions, rule_at, arg_values, out, kwargs)
    if prim.multiple_outputs:
        outs = [o if isinstance(o, ARRAY_TYPES) else np.asarray(o) for o in out]
        step.entry.vjp = vjp and fill_missing_cotangents(vjp, outs)
        for result, value in zip(step.outputs, outs):
            if result is not None:
                result._value = value
    else:
        step.entry.vjp = vjp
        step.outputs[0]._value = out if isinstance(out, ARRAY_TYPES) else np.asarray(out)


def replay_checked_primitive(step) -> None:
    """``replay_primitive`` for a step that reads arrays a replay refills (``core.recomputed``):
    a primitive's result may change shape with their values (a user's, given labels), and a
    replay must not go on with another shape than the recording's (the call traces f instead)."""
    replay_primitive(step)
    for result in step.outputs:
        if result is not None and (result._value.shape != result._shape or result._value.dtype != result.dtype):
            raise ValueError(f"{step.payload[0].name} of new labels or indices changed its result's shape or dtype")


def record_step(trace, prim, args, kwargs, layout, traced_positions, entry, outputs, live_operands=False) -> None:
    """Record how to replay a primitive's entry (``args`` holding arrays a replay refills: ``live_operands``)."""
    if any(output is None for output in outputs):  # a plain (non-float) result of traced values
        trace.note_value_read(f"{prim.name} (non-float result)")
    trace.program.append(Step(replay_checked_primitive if live_operands else replay_primitive, entry, outputs,
                              (prim, args, kwargs, layout, traced_positions), tuple(args[j] for j in traced_positions)))


def kept_positions(step) -> list[int]:
    """The traced argument positions of a primitive's step that lead to a differentiated input."""
    traced_positions = step.payload[4]
    return traced_positions if step.keep is None else [traced_positions[k] for k in step.keep]
