"""A primitive's own rules, called directly by the checkers (``mixedad.checking``): whether each
rule takes the arguments mixedad calls it with (:func:`check_rule_signatures`), and what each
returns on float32 copies of the arguments (:func:`audit_rules`)."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import numpy as np

from .core.errors import RuleSignatureError, argument_names, rule_location
from .core.linear import add_tangents
from .core.primitive import Primitive
from .core.tape import one_cotangent
from .checking_support import _is_float_leaf, _leaf_dtype


# --- calling a forward rule as the engine does --------------------------------------------------
def _apply_jvp(prim, args, out, tangents: dict) -> list:
    """The primitive's forward rule at ``args`` for tangents on some positions (others zero), as
    the engine reads it (``core.linear.jvp_of``): one tangent per output, None for a zero one."""
    positions = prim.differentiable_positions(len(args))
    if prim.joint_jvp:
        full = tuple(np.asarray(tangents.get(j, np.zeros(np.shape(args[j])))).astype(_leaf_dtype(args[j]))
                     if _is_float_leaf(args[j]) else None for j in positions)
        total = prim.jvp_rules[0](full if len(positions) > 1 else full[0], out, *args)
        total = total if prim.multiple_outputs else one_cotangent(total)
    else:
        total = None
        for j, rule in zip(positions, prim.jvp_rules):
            if j in tangents and rule is not None:
                term = rule(np.asarray(tangents[j]).astype(_leaf_dtype(args[j])), out, *args)
                total = add_tangents(total, _output_tangents(prim, out, term))
    return _output_tangents(prim, out, total)


def _output_tangents(prim, out, tangent) -> list:
    """A forward rule's result as one tangent per output (None: zero), or AssertionError."""
    if not prim.multiple_outputs:
        return [one_cotangent(tangent)]
    if tangent is None:
        return [None] * len(out)
    if not isinstance(tangent, (tuple, list)) or len(tangent) != len(out):
        kind = f"a {type(tangent).__name__} of {len(tangent)}" if isinstance(tangent, (tuple, list)) else "an array"
        raise AssertionError(
            f"check_grads({prim.name}): the forward rule (jvp) returns {kind}; a primitive with "
            f"multiple_outputs=True needs a tuple of {len(out)} tangents, one per output (None for a zero one).")
    return list(tangent)


# --- rule signatures ----------------------------------------------------------------------------
def check_rule_signatures(prim: Primitive, n_args: int) -> None:
    """Raise :class:`~mixedad.RuleSignatureError` for a reverse or forward rule of ``prim`` that
    cannot take the call mixedad makes for ``n_args`` positional arguments (``rule(g, out, *args)``,
    ``rule(t, out, *args)``). Run before any rule is called: otherwise the call's TypeError is
    all the author sees, from deep inside a sweep.

    >>> import numpy as np, mixedad
    >>> from mixedad.checking import check_rule_signatures
    >>> sine = mixedad.primitive(np.sin)
    >>> _ = sine.defvjp(lambda g, x: g * np.cos(x))   # forgot out
    >>> check_rule_signatures(sine, 1)
    Traceback (most recent call last):
    ...
    mixedad.core.errors.RuleSignatureError: check_grads(sin): the reverse rule (vjp) of sin ...
    """
    names = argument_names(prim, n_args)
    positions = prim.differentiable_positions(n_args)
    for kind, rules, joint in (("reverse", prim.vjp_rules, prim.joint_vjp),
                               ("forward", prim.jvp_rules, prim.joint_jvp)):
        for position, rule in ((None, rules[0]),) if rules and joint else zip(positions, rules or ()):
            error = rule is not None and _signature_error(prim, kind, rule, position, names, positions)
            if error:
                raise error


def _signature_error(prim, kind: str, rule: Callable, position: int | None, names: list[str],
                     positions: list[int]) -> RuleSignatureError | None:
    rule = inspect.unwrap(rule)  # (defvjp/defjvp wrap a user's rule: core.pullbacks.read_only_first_argument)
    try:
        signature = inspect.signature(rule)
    except (TypeError, ValueError):
        return None
    joint = position is None and len(positions) > 1
    reverse = kind == "reverse"
    first = ("g" if reverse else "t") if not joint or reverse else "tangents"
    first, out = (first if first not in names else first + "_"), ("out" if "out" not in names else "out_")
    call = [first, out, *names]
    try:
        signature.bind(*call)
        return None
    except TypeError as problem:
        mismatch = problem
    parameters = list(signature.parameters)
    differentiated = [names[j] for j in positions]
    what = "reverse rule (vjp)" if reverse else "forward rule (jvp)"
    which = "" if position is None or len(positions) == 1 else f" for argument {position} ({names[position]})"
    forgot_out = (" The output comes second, after the " + ("cotangent" if reverse else "tangent") +
                  ", even where the rule does not use it.") if out not in parameters and len(parameters) < len(call) \
        else ""
    if joint and reverse:
        shape = (f"One rule for the {len(positions)} differentiable arguments ({', '.join(differentiated)}) is "
                 f"called once for all of them, as rule({', '.join(call)}), and returns a tuple of their cotangents")
        example = f"lambda {', '.join(call)}: ({', '.join('cotangent of ' + n for n in differentiated)})"
    elif joint:
        shape = (f"One rule for the {len(positions)} differentiable arguments ({', '.join(differentiated)}) is "
                 f"called once for all of them, as rule({', '.join(call)}), with {first} the tuple of their tangents")
        example = f"lambda {', '.join(call)}: ..."
    else:
        shape = (f"A {kind} rule takes the {'cotangent of the output' if reverse else 'tangent of its argument'}, "
                 f"the output, then every positional argument of {prim.name} in order, differentiated or not")
        example = f"lambda {', '.join(call)}: ..."
    method = "defvjp" if reverse else "defjvp"
    per_argument = (f" Or give one rule per differentiable argument: {prim.name}.{method}("
                    f"{', '.join('rule_' + n for n in differentiated)}).") if joint else ""
    return RuleSignatureError(
        f"check_grads({prim.name}): the {what}{which} of {prim.name}{rule_location(rule)} takes "
        f"({', '.join(parameters)}), but mixedad calls it as rule({', '.join(call)}) ({mismatch}).{forgot_out} "
        f"{shape}: for example {example} .{per_argument}")


def _check_joint_cotangents(prim, cotangents, positions: list[int], n_args: int) -> None:
    """One reverse rule for several arguments returns one cotangent per argument: an array
    instead is a rule written for one argument (the engine can only call that a missing rule)."""
    if isinstance(cotangents, (tuple, list)) and len(cotangents) == len(positions):
        return
    names = [argument_names(prim, n_args)[j] for j in positions]
    kind = f"a {type(cotangents).__name__} of {len(cotangents)}" if isinstance(cotangents, (tuple, list)) else \
        "an array" if hasattr(cotangents, "shape") else type(cotangents).__name__
    raise RuleSignatureError(
        f"check_grads({prim.name}): {prim.name}.defvjp got one rule{rule_location(inspect.unwrap(prim.vjp_rules[0]))} "
        f"for its {len(positions)} differentiable arguments ({', '.join(names)}), so mixedad calls it once for all "
        f"of them and reads a tuple of {len(positions)} cotangents from it; it returned {kind}. Return "
        f"({', '.join('cotangent of ' + n for n in names)}), None for a zero one, or give one rule per argument: "
        f"{prim.name}.defvjp({', '.join('rule_' + n for n in names)}) (declare arguments that are never "
        "differentiated with nondiff_argnums).")


# --- a primitive's own rules on float32 ---------------------------------------------------------
def _float32_copy(value: Any) -> Any:
    if not _is_float_leaf(value):
        return value
    return np.float32(value) if isinstance(value, np.generic) else np.asarray(value, np.float32)


def _is_float_output(value: Any) -> bool:
    """Whether a primitive's output is differentiated: integer and boolean outputs are not."""
    return np.result_type(value).kind == "f" if isinstance(value, (np.ndarray, np.generic)) else not isinstance(
        value, (bool, int))


def _keeps_float32(value: Any, expected: np.dtype = np.dtype(np.float32)) -> bool:
    """Whether ``value`` computes in ``expected`` (float32, unless the call's other arguments
    make NumPy promote it: a float32 array to the power of an int64 one is float64)."""
    if value is None or isinstance(value, (int, float)) and not isinstance(value, (bool, np.generic)):
        return True  # Python numbers are weak: they take the array's dtype (np.float64, a float subclass, is not)
    return np.result_type(np.asarray(value).dtype, expected) == expected


def _loses_precision(value: Any, *dtypes: np.dtype) -> bool:
    """Whether ``value`` is floating point of less precision than every one of ``dtypes`` (a
    float16 cotangent of a float32 argument and output: the rule threw digits away)."""
    dtype = getattr(value, "dtype", None)
    return dtype is not None and dtype.kind == "f" and all(
        dtype.itemsize < np.dtype(d).itemsize for d in dtypes if np.dtype(d).kind == "f")


def _promoted_float32(args: Sequence[Any]) -> np.dtype:
    """float32, as NumPy promotes it with the arguments that are not floating point: integer
    arrays and NumPy integer scalars are strongly typed (an int64 exponent makes float64)."""
    strong = [np.asarray(a).dtype for a in args if isinstance(a, (np.ndarray, np.generic)) and not _is_float_leaf(a)]
    return np.result_type(np.float32, *strong)


def audit_rules(prim: Primitive, args: Sequence[Any], seed: int = 0) -> None:
    """Call ``prim``'s function and rules directly on float32 copies of ``args``.

    Each result must stay float32, and each cotangent must broadcast to its argument's
    shape. The engine casts every cotangent back to its input's dtype, so a rule
    computing in float64 would not show in the gradient's dtype (it still doubles the
    memory traffic of everything downstream of it); and a cotangent that does not
    broadcast would only fail deep inside the backward sweep. :func:`check_grads` runs
    this whenever ``f`` is a primitive.

    >>> import numpy as np, mixedad
    >>> from mixedad.checking import audit_rules
    >>> audit_rules(mixedad.rules.elementwise.tanh, [np.ones(3)])
    """
    name = prim.name
    check_rule_signatures(prim, len(args))
    rng = np.random.default_rng(seed)
    args32 = [_float32_copy(a) for a in args]
    copies = "" if all(a is b or np.result_type(a) == np.float32 for a, b in zip(args, args32)) else \
        " (check_grads calls each rule on float32 copies of the arguments too)"
    expected = _promoted_float32(args32)
    all_positions = prim.differentiable_positions(len(args))
    positions = [j for j in all_positions if _is_float_leaf(args32[j])]
    with np.errstate(all="ignore"):
        out = prim.fn(*args32)
    outs = list(out) if prim.multiple_outputs else [out]
    for slot, o in enumerate(outs):
        if _is_float_output(o) and not _keeps_float32(o, expected):  # integer outputs are not differentiated
            raise AssertionError(
                f"check_grads({name}): the primitive returns {np.asarray(o).dtype} for float32 "
                f"inputs{f' (output {slot})' if len(outs) > 1 else ''}: float32 must stay float32{copies}.")

    def call(rule: str, function: Callable, *rule_args):
        try:
            return function(*rule_args)
        except AssertionError as error:
            if str(error).startswith(f"check_grads({name})"):  # a finding of this audit's own (_apply_jvp)
                raise
            raise AssertionError(f"check_grads({name}): the {rule} raised AssertionError on "
                                 f"float32 inputs{copies}: {error}") from error
        except Exception as error:
            raise AssertionError(f"check_grads({name}): the {rule} raised {type(error).__name__} on "
                                 f"float32 inputs{copies}: {error}") from error

    def check(rule: str, position: Any, value: Any, target_shape: tuple, target: str, output: Any):
        if value is None:
            return
        if isinstance(value, list):
            raise AssertionError(
                f"check_grads({name}): the {rule} for argument {position} returns a list: return an array. "
                "(mixedad differentiates rules themselves for hessian and jvp of gradients, and a list of "
                "traced values cannot become an array.)")
        kind = getattr(getattr(value, "dtype", None), "kind", "f")
        output_dtype = np.result_type(output)
        if kind in "iu" or kind == "b" and rule != "partial derivative":  # (a partial may be a mask: where's)
            raise AssertionError(
                f"check_grads({name}): the {rule} for argument {position} returns {np.asarray(value).dtype}: "
                "a derivative computed in integers or booleans drops its fractional part (or g). Compute it in "
                "floating point.")
        if not _keeps_float32(value, expected):
            raise AssertionError(
                f"check_grads({name}): the {rule} for argument {position} returns "
                f"{np.asarray(value).dtype} for float32 inputs{copies} (a dtype upcast; the engine would cast it "
                "back, hiding the float64 work). Avoid NumPy float64 constants (np.float64(...), "
                "np.pi * np.ones(...)): use Python floats.")
        if _loses_precision(value, expected, output_dtype):
            raise AssertionError(
                f"check_grads({name}): the {rule} for argument {position} returns {value.dtype} for float32 "
                f"inputs{copies} and a {np.dtype(output_dtype)} output: the derivative loses precision. Compute it "
                f"in the arguments' dtype.")
        forward = rule.startswith("forward")
        try:  # either side may be the broadcast one, not both: (4, 1) for (4,) is not unbroadcast
            joint = np.broadcast_shapes(np.shape(value), target_shape)
            # (a tangent, though, is spread over its output, never summed: the engine refuses a larger one)
            if joint != tuple(target_shape) and (forward or joint != np.shape(value)):
                raise ValueError
        except ValueError:
            together = (f" One forward rule for the differentiable arguments {positions} receives the tuple of their "
                        "tangents as its first argument: take them apart (t_x, t_y = tangents), or give one rule per "
                        "argument to defjvp.") if forward and prim.joint_jvp and len(positions) > 1 else ""
            raise AssertionError(
                f"check_grads({name}): the {rule} for argument {position} returns shape "
                f"{np.shape(value)}, which does not broadcast to the {target} shape {target_shape}. "
                "A rule's result may be broadcastable (mixedad sums broadcast axes itself), but not "
                f"reduced over the wrong axes.{together}") from None

    with np.errstate(all="ignore"):
        if prim.elementwise and prim.partial_specs is not None:
            for j in positions:
                if j < len(prim.partial_specs) and prim.partial_specs[j] is not None:
                    value = call("partial derivative", prim.partial, j, args32, out, {})
                    check("partial derivative", j, value, np.shape(out), "output", out)
        if prim.vjp_rules is not None and positions:
            # as the engine: a zero cotangent of their own dtype for outputs that are not floating point
            g = [np.asarray(rng.standard_normal(np.shape(o))).astype(np.float32) if _is_float_output(o)
                 else np.zeros_like(o) for o in outs]
            g = tuple(g) if prim.multiple_outputs else g[0]
            if prim.joint_vjp:
                cotangents = call("reverse rule (vjp)", prim.vjp_rules[0], g, out, *args32)
                if len(all_positions) > 1:
                    _check_joint_cotangents(prim, cotangents, all_positions, len(args))
                per_position = dict(zip(all_positions, (cotangents,) if len(all_positions) == 1 else cotangents))
            else:
                per_position = {j: call(f"reverse rule (vjp) for argument {j}", rule, g, out, *args32)
                                for j, rule in zip(all_positions, prim.vjp_rules) if j in positions and rule}
            for j in positions:
                check("reverse rule (vjp)", j, per_position.get(j), np.shape(args32[j]), "argument's",
                      next((o for o in outs if _is_float_output(o)), expected))
        if prim.jvp_rules is not None and positions:
            tangents = {j: rng.standard_normal(np.shape(args32[j])) for j in positions}
            for j in positions:  # one tangent at a time: a finding names the argument whose rule makes it
                which = f" for argument {j}" if len(positions) > 1 else ""
                tangent_out = call(f"forward rule (jvp){which}", _apply_jvp, prim, args32, out, {j: tangents[j]})
                for o, leaf in zip(outs, tangent_out):
                    if _is_float_output(o):
                        check("forward rule (jvp)", j, leaf, np.shape(o), "output", o)
