"""Forward rules of general primitives, and a missing rule derived from the other one.

A general primitive's forward rule (JVP) is, in this order of preference:

- *linear* (``prim.deflinear()``): the primitive itself applied to the tangents, static
  arguments unchanged (reshape, sum, getitem, concatenate, trace, ...);
- *bilinear* (``prim.defbilinear()``): linear in each differentiable argument separately,
  so the rule is ``sum_j prim(args with argument j replaced by its tangent)`` (matmul, dot,
  tensordot, einsum, ...);
- written by the rule's author (``prim.defjvp``);
- derived from the reverse rule.

A JVP is linear in the tangents and a VJP in the cotangent, so each is the other's
transpose, and the engine's own reverse mode computes a transpose:
``vjp(g) = d/dt <g, jvp(t)>`` and ``jvp(t) = d/dg <vjp(g), t>``. That derivation is what
a primitive with only one of the two rules gets; a primitive with neither raises
``MissingRuleError`` naming it, when (and only when) a derivative is needed.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

import numpy as np

from .arrays import LeveledValue
from .errors import MissingRuleError, MixedadError
from .fused import close_region
from .guards import release_guards
from .tape import LEAF_DECISION, Trace, TapeEntry, backward, one_cotangent, record, unit_seed
from .traced import Traced
from .updates import current

class _Deriving(threading.local):
    """Primitives whose missing rule this thread is deriving right now (another thread may be
    deriving the same primitive's rule for a call of its own)."""

    def __init__(self):
        self.primitives: set[int] = set()


_DERIVING = _Deriving()


def forward_rule_kind(prim) -> str | None:
    """How ``prim`` is differentiated in forward mode, or None if it cannot be."""
    if not prim.differentiable:
        return None
    if prim.elementwise:
        return "elementwise" if prim.partial_specs is not None or prim.tangent_rule is not None else None
    if prim.linear:
        return "linear"
    if prim.bilinear:
        return "bilinear"
    if prim.jvp_rules is not None:
        return "jvp"
    if prim.vjp_rules is not None:
        return "transposed vjp"
    return None


def has_reverse_rule(prim) -> bool:
    """Whether ``prim`` has a reverse rule, written or derivable from its forward rule."""
    return prim.vjp_rules is not None or prim.linear or prim.bilinear or prim.jvp_rules is not None


def call(prim, args: Sequence[Any], kwargs, through_body: bool = False):
    """``prim`` applied to ``args``: straight to its NumPy function when they are plain, else
    through the primitive, so that the levels the arguments belong to record it."""
    if not through_body:
        for arg in args:
            if type(arg) is Traced or isinstance(arg, LeveledValue):
                return prim(*args, **kwargs)
    return prim.fn(*args, **kwargs)


def zeros_like(value: Any):
    if type(value) is Traced or isinstance(value, (np.ndarray, np.generic, LeveledValue)):
        return np.zeros(value.shape, value.dtype)
    value = np.asarray(value)  # a Python number or a list (np.result_type reads a list as a dtype)
    return np.zeros(value.shape, value.dtype)


def _is_float(value: Any) -> bool:
    dtype = value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype  # result_type reads a list as a dtype
    return dtype.kind == "f"


def add_tangents(a: Any, b: Any) -> Any:
    """``a + b`` where None is zero; tuples (several outputs) add element by element."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, (tuple, list)):
        return type(a)(add_tangents(x, y) for x, y in zip(a, b))
    return a + b


def jvp_of(prim, args: Sequence[Any], tangents: Sequence[Any], out: Any, kwargs, through_body: bool = False):
    """The tangent of ``prim``'s output at ``args`` for ``tangents`` (one per argument, None
    for zero); a tuple for a primitive with several outputs, None for a zero tangent."""
    positions = [j for j in prim.differentiable_positions(len(args)) if j < len(tangents)]
    if prim.linear:
        substituted = list(args)
        for j in positions:
            substituted[j] = tangents[j] if tangents[j] is not None else zeros_like(args[j])
        return call(prim, substituted, kwargs, through_body)
    if prim.bilinear:
        total = None
        for j in positions:
            if tangents[j] is not None:
                substituted = list(args)
                substituted[j] = tangents[j]
                total = add_tangents(total, call(prim, substituted, kwargs, through_body))
        return total
    if prim.jvp_rules is not None:
        if prim.joint_jvp:
            full = tuple(tangents[j] if tangents[j] is not None else
                         zeros_like(args[j]) if _is_float(args[j]) else None for j in positions)
            tangent = prim.jvp_rules[0](full if len(positions) > 1 else full[0], out, *args, **kwargs)
            return checked_tangent(prim, tangent if prim.multiple_outputs else one_cotangent(tangent), out, "")
        total = None
        for k, j in enumerate(positions):
            if tangents[j] is None:
                continue
            rule = prim.jvp_rules[k] if k < len(prim.jvp_rules) else None
            if rule is None:
                raise MissingRuleError(f"primitive {prim.name} has no forward rule (jvp) for argument {j}.")
            tangent = rule(tangents[j], out, *args, **kwargs)
            tangent = checked_tangent(prim, tangent if prim.multiple_outputs else one_cotangent(tangent), out,
                                      f" for argument {j}")
            total = add_tangents(total, tangent)
        return total
    if prim.vjp_rules is not None:
        return transposed_jvp(prim, args, tangents, out, kwargs)
    raise MissingRuleError(
        f"primitive {prim.name} has no forward rule (jvp), and no reverse rule (vjp) to derive one "
        f"from; define one with @{prim.name}.defjvp or @{prim.name}.defvjp.")


def checked_tangent(prim: Any, tangent: Any, out: Any, which: str) -> Any:
    """What a forward rule returned, if it is a tangent of the output (of each output, as a
    tuple, with ``multiple_outputs``) or broadcasts to it: another structure would be spread
    over the outputs, or fail deep in NumPy, without naming the rule."""
    if tangent is None:
        return None
    if prim.multiple_outputs:
        if not isinstance(tangent, (tuple, list)) or len(tangent) != len(out):
            raise MissingRuleError(
                f"the forward rule (jvp){which} of {prim.name} must return a tuple of {len(out)} tangents, one per "
                f"output (None for a zero one), and returned {_kind(tangent)}.")
        pairs = zip(tangent, out)
    else:
        pairs = ((tangent, out),)
    for part, value in pairs:
        if part is not None and np.shape(part) != np.shape(value):
            try:
                fits = np.broadcast_shapes(np.shape(part), np.shape(value)) == np.shape(value)
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(f"the forward rule (jvp){which} of {prim.name} returned a tangent of shape "
                                 f"{np.shape(part)}, which does not broadcast to its output's shape {np.shape(value)}.")
    return tangent


def checked_joint_cotangents(prim: Any, cts: Any, n_positions: int) -> Any:
    """What a joint reverse rule returned, if it is one cotangent per positional argument."""
    if not isinstance(cts, (tuple, list)) or len(cts) != n_positions:
        raise MissingRuleError(
            f"the reverse rule of {prim.name} must return a tuple of {n_positions} cotangents, "
            f"one per positional argument, and returned {_kind(cts)}. Declare static "
            f"positional arguments with nondiff_argnums=..., or pass one rule per argument to defvjp.")
    return cts


def _kind(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return "an array" if hasattr(value, "shape") else type(value).__name__


def transpose_linear(fn: Callable[..., Sequence[Any]], templates: Sequence[tuple], seeds: Sequence[Any],
                     rule: tuple[str, str] = ("a primitive", "reverse")) -> list:
    """The transpose of the linear map ``fn`` applied to ``seeds``.

    ``fn`` takes one array per ``(shape, dtype)`` in ``templates`` and returns a sequence of
    outputs, linear in its arguments; the result is the gradient of
    ``sum_k <seeds[k], outputs[k]>`` with respect to each argument (None: zero), computed
    by the reverse mode at arguments 0. Outputs and seeds only need to broadcast together.
    A map that looks at its arguments' values (``if not np.any(g)``, a loop until ``g``
    converges) would be transposed at 0 only: ``MissingRuleError``, naming ``rule`` (the
    primitive's name, and "reverse" or "forward": which of its rules ``fn`` is).
    """
    trace = Trace("auto")
    leaves = []
    try:
        for shape, dtype in templates:
            entry = record(trace, TapeEntry((), None, "input", LEAF_DECISION, shape, dtype))
            leaves.append(Traced(trace, np.zeros(shape, dtype), entry))
        outputs = fn(*leaves)
        if trace.value_dependent:
            name, direction = rule
            other, defined, values, pronoun = _TRANSPOSED[direction]
            raise MissingRuleError(
                f"the {direction} rule of {name} looks at the values of {values} "
                f"({', '.join(dict.fromkeys(map(str, trace.value_dependent)))}). mixedad derives {name}'s {other} "
                "rule from it by running it on traced values that are all 0, so a test on them would take the "
                f"branch of 0 for every input: a silently wrong derivative. Define the {other} rule "
                f"(@{name}.{defined}), or write the {direction} rule without tests on the values of {values} (it is "
                f"linear in {pronoun}).")
        loss = None
        for output, seed in zip(outputs, seeds):
            output = current(output)  # a rule that wrote into a new array (r = np.zeros_like(g); r[idx] = g)
            if seed is not None and type(output) is Traced:
                if isinstance(seed, LeveledValue):  # a cotangent of an older level (forward-over-reverse):
                    # a region cannot hold it as a constant, a product can
                    shape = np.broadcast_shapes(np.shape(output), np.shape(seed))
                    term = np.dot(np.reshape(np.broadcast_to(output, shape), -1),
                                  np.reshape(np.broadcast_to(seed, shape), -1))
                else:
                    term = np.sum(output * seed)
                loss = term if loss is None else loss + term
        if type(loss) is Traced:
            if loss._expr is not None:
                close_region(loss)
            backward(trace, loss._entry, loss._slot, unit_seed(loss.dtype))
    finally:
        trace.active = False
        release_guards(trace)
    results = []
    for leaf in leaves:
        cotangents = leaf._entry.cotangents
        results.append(None if cotangents is None else cotangents[0])
    return results


_TRANSPOSED = {"reverse": ("forward", "defjvp", "its cotangent g", "g"),
               "forward": ("reverse", "defvjp", "its tangents", "them")}


def _template(value: Any) -> tuple:
    return np.shape(value), value.dtype


def _guarded(prim, derive: Callable[[], Any]):
    deriving = _DERIVING.primitives
    if id(prim) in deriving:
        raise MissingRuleError(
            f"primitive {prim.name} needs a reverse rule (vjp) to be differentiated here: its forward "
            f"rule cannot be transposed, because it computes with {prim.name} itself. Define one "
            f"with @{prim.name}.defvjp.")
    deriving.add(id(prim))
    try:
        return derive()
    finally:
        deriving.discard(id(prim))


def transposed_vjp(prim, positions, traced_positions, arg_values, out, kwargs):
    """A reverse rule for ``prim`` from its forward rule: ``g -> d/dt <g, jvp(t)>`` (for bind)."""
    templates = [_template(arg_values[j]) for j in traced_positions]

    def jvp_at(*ts):
        tangents = [None] * len(arg_values)
        for j, t in zip(traced_positions, ts):
            tangents[j] = t
        tangent_out = jvp_of(prim, arg_values, tangents, out, kwargs, through_body=True)
        return list(tangent_out) if prim.multiple_outputs else [tangent_out]

    def vjp(g):
        seeds = list(g) if prim.multiple_outputs else [g]
        return _guarded(prim, lambda: transpose_linear(jvp_at, templates, seeds, (prim.name, "forward")))
    return vjp


def _fitting(prim, ct: Any, arg: Any) -> Any:
    """``ct`` if it is a cotangent for ``arg``: of its shape, or broadcast from or to it. Paired
    with a tangent of ``arg``'s shape, a (4, 1) cotangent for a (4,) argument would broadcast to
    (4, 4), a silently wrong derivative (the reverse sweep refuses it too: ``fit_cotangent``; a
    user's rule is checked for extra leading axes as it returns: ``pullbacks``)."""
    if ct is not None:
        shape, ct_shape = np.shape(arg), np.shape(ct)
        try:
            context = np.broadcast_shapes(shape, ct_shape)
        except ValueError:
            context = None
        if context != shape and context != ct_shape:
            raise MissingRuleError(f"the reverse rule of {prim.name} returned a cotangent of shape {ct_shape} for "
                                   f"an argument of shape {shape}: it neither broadcasts to that shape nor is the "
                                   "argument broadcast to it.")
    return ct


def transposed_jvp(prim, args, tangents, out, kwargs):
    """A forward rule for ``prim`` from its reverse rule: ``t -> d/dg <vjp(g), t>``."""
    positions = [j for j in prim.differentiable_positions(len(args)) if j < len(tangents)]
    wanted = [j for j in positions if tangents[j] is not None]
    outs = list(out) if prim.multiple_outputs else [out]
    floating = [k for k, o in enumerate(outs) if _is_float(o)]

    def vjp_at(*gs):
        full = [zeros_like(o) for o in outs]
        for k, g in zip(floating, gs):
            full[k] = g
        g = type(out)(*full) if hasattr(type(out), "_fields") else tuple(full) if prim.multiple_outputs else full[0]
        if prim.joint_vjp:
            cts = prim.vjp_rules[0](g, out, *args, **kwargs)
            cts = (one_cotangent(cts),) if len(positions) == 1 else checked_joint_cotangents(prim, cts, len(positions))
            by_position = dict(zip(positions, cts))
            return [_fitting(prim, by_position.get(j), args[j]) for j in wanted]
        rules = dict(zip(positions, prim.vjp_rules))
        cts = []
        for j in wanted:
            if rules.get(j) is None:
                raise MissingRuleError(f"primitive {prim.name} has no reverse rule for argument {j}, "
                                       "from which its forward rule would be derived.")
            cts.append(_fitting(prim, one_cotangent(rules[j](g, out, *args, **kwargs)), args[j]))
        return cts

    try:
        cotangents = transpose_linear(vjp_at, [_template(outs[k]) for k in floating], [tangents[j] for j in wanted],
                                      (prim.name, "reverse"))
    except MixedadError as error:
        if not any(type(a) is Traced for a in args):
            raise
        raise MissingRuleError(
            f"{prim.name} has no forward rule (defjvp): mixedad derives one from its reverse rule by "
            "a reverse pass of its own, which cannot run inside an outer mixedad.gradient (a gradient "
            f"of a jvp or of a forward-mode jacobian). Give it a forward rule with {prim.name}.defjvp, "
            "or take the derivatives the other way round: mixedad.hvp and mixedad.hessian run forward "
            "over reverse.") from error
    if not prim.multiple_outputs:
        return cotangents[0] if floating else None
    result = [None] * len(outs)
    for k, ct in zip(floating, cotangents):
        result[k] = ct
    return tuple(result)
