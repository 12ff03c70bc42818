"""Checking differentiation rules: the rule author's test tools.

:func:`check_grads` checks the gradient mixedad computes for any function against
central finite differences taken in float64, through random projections (one random
output cotangent ``u`` and one random input direction ``v`` per argument), and checks
that float32 inputs give float32 gradients. :func:`check_rule` property-tests an
elementwise primitive with hypothesis over shapes, broadcasting patterns, dtypes and
values from the primitive's declared domain. Both raise ``AssertionError`` with a
message naming the function, the argument, the mode and the size of the disagreement;
``RuleSignatureError`` for a rule that cannot take the call mixedad makes
(:func:`check_rule_signatures`).

Default tolerances (``rtol``, ``atol``), by the least precise floating dtype among the
checked arguments and the output: float16 (5e-2, 1e-3), float32 (1e-3, 1e-5), float64
(1e-6, 1e-10); second-order checks run in float64 with (1e-4, 1e-8). A difference passes
when it is at most ``atol + rtol * scale + noise``: ``scale`` is the size of the terms
compared and ``noise`` what float64 rounding can contribute to the finite difference.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .core.primitive import Primitive
from .core.pytree import flatten, unflatten
from .transforms import jvp
from .rules.table import Domain
from .checking_support import (FIRST_ORDER_STEP, SECOND_ORDER_STEP, SECOND_ORDER_TOLERANCE, _ENGINE_MODE, _EPS,
                               _MODE_NAMES, _MODE_WORDS, _Slots, _as_float64, _compare, _direction, _is_float_leaf,
                               _leaf_dtype, _name, _project, _relative, _richardson, _rounding_noise, _run_gradient,
                               _tolerances)
from .checking_primitive_rules import _apply_jvp, _keeps_float32, audit_rules, check_rule_signatures

__all__ = ["audit_rules", "check_grads", "check_rule", "check_rule_signatures"]


# --- check_grads ----------------------------------------------------------------------------
def check_grads(f: Callable, *args: Any, modes: Sequence[str] = ("rev", "fwd"), order: int = 1,
                rtol: float | None = None, atol: float | None = None,
                argnums: int | Sequence[int] | None = None, seed: int = 0,
                eps: float | None = None) -> None:
    """Check mixedad's derivatives of ``f`` at ``args`` against finite differences.

    ``f`` takes ``args`` positionally (arrays, floats or containers of them) and returns
    an array, a scalar or a container of arrays. A random cotangent ``u`` (in the
    output's dtype) and, per checked argument, a random direction ``v`` give two numbers
    that must agree: ``<u, J v>`` by central finite differences of ``<u, f>`` along
    ``v`` (in float64: inputs are cast for that evaluation) and ``<J^T u, v>`` with
    ``J^T u`` from :func:`mixedad.gradient`.

    ``modes``: ``"rev"`` checks ``mode="reverse"`` (every operation on the tape: the
    reverse rules). ``"fwd"`` checks ``mode="forward"`` (elementwise work in dual
    regions: the partials) the same way, checks that ``mode="auto"`` agrees with
    ``mode="reverse"`` entry by entry and, when ``f`` is a primitive with a forward
    rule (``defjvp``), checks ``<u, jvp(v)>`` against finite differences.

    Every mode must also return float32 gradients for float32 arguments. When ``f`` is a
    :class:`~mixedad.Primitive`, its rules are additionally called directly on float32
    copies of ``args`` (:func:`audit_rules`): a rule returning float64 fails the check
    even though the engine would cast its result back to float32, and so does a
    cotangent that does not broadcast to its argument's shape. Before any rule runs, each must
    take the call mixedad makes (:func:`check_rule_signatures`): ``RuleSignatureError`` if not.

    ``order=2`` checks the gradient of the gradient by finite differences of
    :func:`mixedad.gradient` itself (float64): for random directions ``v`` and ``w``,
    ``<w, (G(x + h v) - G(x - h v)) / 2h>`` and the same with ``v`` and ``w`` swapped
    must both match the mixed second difference of ``<u, f>``.

    ``argnums`` (default: every argument made of floats, less a primitive's
    ``nondiff_argnums``) selects the checked arguments; ``rtol``/``atol`` replace the
    per-dtype defaults listed in the module docstring; ``eps`` is the finite-difference
    step (default 1e-3; directions have max |entry| 1, so keep ``eps`` below the
    distance to the edge of ``f``'s domain); ``seed`` fixes ``u`` and ``v``.

    >>> import numpy as np
    >>> from mixedad.checking import check_grads
    >>> check_grads(lambda x, y: np.sin(x) * y, np.linspace(-1, 1, 4), np.float32(2.0))
    >>> check_grads(lambda x: np.tanh(x), np.ones(3), order=2)
    >>> check_grads(lambda x: np.cos(x), np.ones(3), modes=("rev",), rtol=1e-9, atol=0.0)
    """
    name = _name(f)
    try:
        checked_modes = tuple(dict.fromkeys(_MODE_NAMES[m] for m in modes))
    except KeyError as error:
        raise ValueError(f"check_grads: modes must be drawn from {sorted(_MODE_NAMES)}, got {modes!r}") from error
    if order not in (1, 2):
        raise ValueError(f"check_grads: order must be 1 or 2, got {order!r}")
    if argnums is None:
        excluded = set(f.nondiff_argnums) if isinstance(f, Primitive) else set()
        argnums = tuple(n for n, arg in enumerate(args) if n not in excluded and flatten(arg)[0]
                        and all(_is_float_leaf(leaf) for leaf in flatten(arg)[0]))
    argnums = tuple(n % len(args) for n in ((argnums,) if isinstance(argnums, (int, np.integer)) else argnums))
    if not argnums:
        raise ValueError(f"check_grads({name}): no floating-point argument to check; pass argnums=.")
    slots = _Slots(args, argnums)
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        output = f(*args)
    cotangents = [np.asarray(rng.standard_normal(np.shape(leaf))).astype(np.result_type(leaf))
                  if np.result_type(leaf).kind == "f" else None for leaf in flatten(output)[0]]
    if not any(u is not None for u in cotangents):
        raise ValueError(f"check_grads({name}): f returns no floating-point value to differentiate.")
    directions = {slot: _direction(rng, np.shape(slots.leaf(slot))) for slot in slots.slots}
    dtypes = [_leaf_dtype(slots.leaf(s)) for s in slots.slots if _is_float_leaf(slots.leaf(s))]
    dtypes += [u.dtype for u in cotangents if u is not None]
    tolerance = _tolerances(min(dtypes, key=lambda d: d.itemsize), rtol, atol)
    step = FIRST_ORDER_STEP if eps is None else eps

    if isinstance(f, Primitive):
        audit_rules(f, args, seed=seed)
    expected = _finite_difference_projections(name, f, slots, cotangents, directions, step)

    def loss(*traced_args):
        return _project(f(*traced_args), cotangents)

    for mode in checked_modes:
        grads = _run_gradient(f"check_grads({name})", loss, args, slots, _ENGINE_MODE[mode])
        _check_gradient_dtypes(name, slots, grads, _ENGINE_MODE[mode])
        what = ("the reverse-mode gradient (mode='reverse')" if mode == "rev"
                else "the dual-region gradient (mode='forward')")
        failures = []  # every argument that disagrees, not only the first: each names its own rule
        for slot in slots.slots:
            leaf, (want, noise) = slots.leaf(slot), expected[slot]
            g_v = np.asarray(grads[slot], np.float64) * directions[slot]
            got = float(np.sum(g_v))
            try:
                _compare(got, want, float(np.sum(np.abs(g_v))), noise, tolerance,
                         f"check_grads({name}): {what} of {slots.label(slot)} ({_leaf_dtype(leaf)}, shape "
                         f"{np.shape(leaf)}) disagrees with central finite differences.\n"
                         f"  mixedad:             <J^T u, v> = {got:.9g}\n"
                         f"  finite differences:  <u, J v>   = {want:.9g}\n"
                         f"  u and v are a random output cotangent and input direction (seed={seed}).")
            except AssertionError as failure:
                failures.append(str(failure))
        if failures:
            raise AssertionError("\n".join(failures))
    if "fwd" in checked_modes:
        _compare_auto_with_reverse(name, loss, args, slots, tolerance)
        if isinstance(f, Primitive) and f.jvp_rules is not None:  # the rule itself first: the plainer message
            _check_jvp_rule(f, args, slots, cotangents, directions, expected, tolerance, seed)
        _check_forward_mode(name, loss, args, slots, directions, expected, tolerance, seed)
    if order == 2:
        second = (SECOND_ORDER_TOLERANCE[0] if rtol is None else rtol,
                  SECOND_ORDER_TOLERANCE[1] if atol is None else atol)
        for mode in checked_modes:
            _check_second_order(name, f, args, slots, cotangents, _ENGINE_MODE[mode], second,
                                SECOND_ORDER_STEP if eps is None else 10 * eps, rng)


def _finite_difference_projections(name, f, slots: _Slots, cotangents, directions, step) -> dict:
    """``{slot: (<u, J v>, rounding noise)}`` by central differences of ``<u, f>`` in float64."""
    args64 = [_as_float64(a) for a in slots.args]
    u64 = [None if u is None else u.astype(np.float64) for u in cotangents]
    noise = _rounding_noise(f, args64, u64, step)
    expected = {}
    for slot in slots.slots:
        with np.errstate(all="ignore"):
            value = _richardson(lambda t: float(_project(f(*slots.moved(args64, {slot: t * directions[slot]})),
                                                         u64)), step)
        if not np.isfinite(value):
            raise AssertionError(
                f"check_grads({name}): finite differences of f along a random direction are not finite "
                f"for {slots.label(slot)}: a step of {step:g} leaves f's domain at these inputs, or f "
                "overflows. Pass a smaller eps= or other inputs.")
        expected[slot] = (value, noise)
    return expected


def _check_gradient_dtypes(name, slots: _Slots, grads: dict, mode: str) -> None:
    for slot in slots.slots:
        leaf = slots.leaf(slot)
        got = np.asarray(grads[slot]).dtype
        if isinstance(leaf, (np.ndarray, np.generic)) and got != leaf.dtype:
            raise AssertionError(
                f"check_grads({name}): mode={mode!r} returned a {got} gradient for {slots.label(slot)}, "
                f"whose dtype is {leaf.dtype}: {leaf.dtype} inputs must give {leaf.dtype} gradients "
                "(a dtype upcast).")


def _compare_auto_with_reverse(name, loss, args, slots: _Slots, tolerance) -> None:
    rtol, atol = tolerance
    auto = _run_gradient(f"check_grads({name})", loss, args, slots, "auto")
    reverse = _run_gradient(f"check_grads({name})", loss, args, slots, "reverse")
    _check_gradient_dtypes(name, slots, auto, "auto")
    for slot in slots.slots:
        a, r = np.asarray(auto[slot], np.float64), np.asarray(reverse[slot], np.float64)
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        bad = ~(np.abs(a - r) <= atol + rtol * scale)
        if np.any(bad):
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise AssertionError(
                f"check_grads({name}): mode='auto' (dual regions) and mode='reverse' give different "
                f"gradients for {slots.label(slot)} at index {where}: auto {a[where]:.9g}, reverse "
                f"{r[where]:.9g}; relative error {_relative(float(abs(a - r)[where]), scale):.2e} > rtol "
                f"{rtol:g} (relative to the largest entry, {scale:.3g}).")


def _check_jvp_rule(prim, args, slots: _Slots, cotangents, directions, expected, tolerance, seed):
    with np.errstate(all="ignore"):
        out = prim.fn(*args)

    def along(argnums):
        with np.errstate(all="ignore"):
            tangent_out = _raised(f"check_grads({prim.name})", "the forward rule (jvp)", lambda: _apply_jvp(
                prim, args, out, {n: directions[n, 0] for n in argnums}))
        products = [np.asarray(leaf, np.float64) * u for leaf, u in zip(tangent_out, cotangents)
                    if u is not None and leaf is not None]
        return float(sum(np.sum(p) for p in products)), float(sum(np.sum(np.abs(p)) for p in products))

    _check_along_directions(prim.name, "the forward rule (defjvp)", along, slots, expected, tolerance, seed,
                            ("forward rule:        <u, jvp(v)> =", "finite differences:  <u, J v>    ="))


def _check_along_directions(name, subject, along, slots: _Slots, expected, tolerance, seed, labels) -> None:
    """``along(argnums)``, mixedad's ``(<u, J v>, sum of the magnitudes of its terms)`` along the
    random directions of ``argnums`` only, against finite differences: along every checked argument
    at once, and where that disagrees along each alone, so that the report names the arguments
    whose rule is wrong (and not the others, as one direction for all of them would)."""
    def disagreement(argnums):
        got, magnitude = along(argnums)
        mine = [slot for slot in slots.slots if slot[0] in argnums]
        want = sum(expected[slot][0] for slot in mine)
        try:
            _compare(got, want, magnitude, sum(expected[slot][1] for slot in mine), tolerance,
                     f"  {labels[0]} {got:.9g}\n  {labels[1]} {want:.9g}")
        except AssertionError as failure:
            return str(failure)
        return None

    together = disagreement(slots.argnums)
    if together is None:
        return
    alone = {n: disagreement((n,)) for n in slots.argnums} if len(slots.argnums) > 1 else {}
    wrong = [n for n, found in alone.items() if found is not None]
    if wrong:
        others = "; along each other argument's direction alone it agrees" if len(wrong) < len(alone) else ""
        raise AssertionError("\n".join(
            f"check_grads({name}): {subject} disagrees with central finite differences along a random direction "
            f"of argument {n} (seed={seed}){others}.\n{alone[n]}" for n in wrong))
    mixed = ("\n  Along each argument's direction alone it agrees: the error needs the tangents of several "
             "arguments together.") if alone else ""
    raise AssertionError(f"check_grads({name}): {subject} disagrees with central finite differences along a random "
                         f"direction of arguments {list(slots.argnums)} (seed={seed}).\n{together}{mixed}")


def _raised(who: str, what: str, run: Callable[[], Any]) -> Any:
    try:
        return run()
    except Exception as error:  # a rule raised: that is a failed check, not a crash of the checker
        raise AssertionError(f"{who}: {what} raised {type(error).__name__}: {error}") from error


def _check_forward_mode(name, loss, args, slots: _Slots, directions, expected, tolerance, seed):
    """mixedad.jvp (forward mode, with the forward rules written or derived from reverse ones)
    against the same finite differences as the gradient."""
    def along(argnums):
        tangents = []
        for n in argnums:
            leaves, definition = flatten(args[n])
            tangents.append(unflatten(definition, [np.asarray(directions[n, i], _leaf_dtype(leaf))
                                                   for i, leaf in enumerate(leaves)], derivative=True))

        def of_these(*values):
            point = list(args)
            for n, value in zip(argnums, values):
                point[n] = value
            return loss(*point)
        _, tangent = _raised(f"check_grads({name})", "mixedad.jvp",
                             lambda: jvp(of_these, tuple(args[n] for n in argnums), tuple(tangents)))
        return float(tangent), 0.0  # (the terms are not at hand: the size of the finite difference is the scale)

    _check_along_directions(name, "forward mode (mixedad.jvp, through the forward rules written or derived from "
                            "the reverse ones)", along, slots, expected, tolerance, seed,
                            ("mixedad.jvp:         <u, J v> =", "finite differences:  <u, J v> ="))


def _check_second_order(name, f, args, slots: _Slots, cotangents, mode, tolerance, step, rng):
    args64 = [_as_float64(a) for a in args]
    u64 = [None if u is None else u.astype(np.float64) for u in cotangents]
    v = {slot: _direction(rng, np.shape(slots.leaf(slot))) for slot in slots.slots}
    w = {slot: _direction(rng, np.shape(slots.leaf(slot))) for slot in slots.slots}

    def shifted(t, s):
        return slots.moved(args64, {slot: t * v[slot] + s * w[slot] for slot in slots.slots})

    def loss(*point):
        return _project(f(*point), u64)

    def value(t, s):
        return float(loss(*shifted(t, s)))

    def flat_gradient(t, s):
        grads = _run_gradient(f"check_grads({name})", loss, shifted(t, s), slots, mode)
        return np.concatenate([np.ravel(np.asarray(grads[slot], np.float64)) for slot in slots.slots])

    def mixed(h):
        return (value(h, h) - value(h, -h) - value(-h, h) + value(-h, -h)) / (4 * h * h)

    noise = _rounding_noise(f, args64, u64, step, order=2)
    with np.errstate(all="ignore"):
        want = (4 * mixed(step / 2) - mixed(step)) / 3
        along_v = _richardson(lambda t: flat_gradient(t, 0.0), step / 10)
        along_w = _richardson(lambda s: flat_gradient(0.0, s), step / 10)
    def along_v_as_hvp_computes_it(t):  # forward over reverse: the gradient on duals x + t v
        grads = _run_gradient(f"check_grads({name})", loss, shifted(t, 0.0), slots, mode)
        return sum(np.sum(grads[slot] * w[slot]) for slot in slots.slots)

    got = float(_raised(f"check_grads({name}, order=2)", "forward over reverse (as mixedad.hvp and hessian compute)",
                        lambda: jvp(along_v_as_hvp_computes_it, (np.float64(0.0),), (np.float64(1.0),))[1]))
    _compare(got, want, abs(want), noise, tolerance,
             f"check_grads({name}, order=2): mixedad's second derivative (mode={mode!r}, forward over reverse, as "
             f"mixedad.hvp and mixedad.hessian compute it) disagrees with second-order finite differences of f.\n"
             f"  mixedad:                  w^T H v = {got:.9g}\n"
             f"  finite differences of f:  d2/ds dt <u, f(x + s w + t v)> = {want:.9g}")
    for label, derivative, other in (("w^T (dG/dx) v", along_v, w), ("v^T (dG/dx) w", along_w, v)):
        other = np.concatenate([np.ravel(other[slot]) for slot in slots.slots])
        got = float(np.dot(other, derivative))
        _compare(got, want, float(np.sum(np.abs(other * derivative))), noise, tolerance,
                 f"check_grads({name}, order=2): the derivative of mixedad's gradient G (mode={mode!r}) "
                 f"with respect to arguments {list(slots.argnums)} disagrees with second-order finite "
                 f"differences of f.\n"
                 f"  finite differences of G:  {label} = {got:.9g}\n"
                 f"  finite differences of f:  d2/ds dt <u, f(x + s w + t v)> = {want:.9g}")


# --- check_rule -------------------------------------------------------------------------------
def _draw_values(rng, domain: Domain, shape: tuple, dtype: np.dtype) -> np.ndarray:
    if domain.integer:
        return np.asarray(rng.integers(int(np.ceil(domain.low)), int(np.floor(domain.high)) + 1, size=shape),
                          domain.integer_dtype(dtype))
    low, high = float(domain.low), float(domain.high)
    x = rng.uniform(low, high, size=shape)
    margin = 0.05 * (high - low)
    for point in domain.avoid:
        pushed = point + np.where(x >= point, margin, -margin)
        pushed = np.where(pushed > high, point - margin, np.where(pushed < low, point + margin, pushed))
        x = np.where(np.abs(x - point) < margin, pushed, x)
    return np.asarray(x).astype(dtype)


def _unbroadcast(value: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``value`` down to ``shape`` (the reference for the engine's own unbroadcasting)."""
    value = value.sum(axis=tuple(range(value.ndim - len(shape))))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and value.shape[i] != 1)
    return (value.sum(axis=axes, keepdims=True) if axes else value).reshape(shape)


def _elementwise_finite_differences(prim, args64, position, domain: Domain):
    """Every partial derivative at once (perturbing an elementwise argument moves only its
    outputs), and the rounding noise of each (see ``_rounding_noise``)."""
    x = args64[position]
    step = FIRST_ORDER_STEP * np.minimum(np.maximum(1.0, np.abs(x)), float(domain.high - domain.low))

    def evaluate(t):
        moved = list(args64)
        moved[position] = x + t * step
        return np.asarray(prim.fn(*moved), np.float64)
    with np.errstate(all="ignore"):
        return _richardson(evaluate, 1.0) / step, 3 * _EPS * np.abs(evaluate(0.0)) / step


def _rule_arity(prim: Primitive) -> int:
    if prim.domain is not None:
        return len(prim.domain)
    if isinstance(prim.fn, np.ufunc):
        return prim.fn.nin
    if prim.partial_specs is not None:  # derive_partials attaches one per argument
        return len(prim.partial_specs)
    raise ValueError(f"check_rule({prim.name}): cannot tell how many arguments it takes; set prim.domain.")


def check_rule(prim: Primitive, *, max_examples: int = 30,
               dtypes: Sequence[Any] = (np.float32, np.float64),
               rtol: float | None = None, atol: float | None = None) -> None:
    """Property-test an elementwise primitive's partial derivatives with hypothesis.

    Draws broadcast-compatible argument shapes (up to 3-D, with size-1 axes and
    scalars), a dtype from ``dtypes``, and values inside the primitive's declared
    domain (``prim.domain``: one :class:`~mixedad.rules.table.Domain` per argument,
    ``Domain()`` = [-3, 3] if unset; values keep 5% of the domain's width away from its
    ``avoid`` points; integer domains give non-differentiated integer arguments). For
    each example it checks that

    * float32 arguments give a float32 value and float32 partials;
    * if the partials were derived with sympy (``prim.symbolic``, see
      :func:`mixedad.symbolic.derive_partials`), the attached partials, including hand
      overrides, agree with sympy's derivative;
    * the gradient of ``sum(prim(*args) * u)`` in ``mode="auto"`` (a dual region),
      ``"forward"`` and ``"reverse"`` (the tape) matches central finite differences of
      the primitive entry by entry, after summing over broadcast axes, and keeps the
      arguments' dtype.

    Needs hypothesis (a test dependency). Raises AssertionError naming the primitive,
    the check, the argument, the example (shapes, dtype, seed) and the disagreement.
    Examples are not shrunk: generation starts from the simplest shapes.

    >>> import mixedad
    >>> from mixedad.checking import check_rule
    >>> check_rule(mixedad.rules.elementwise.arctan, max_examples=5)
    """
    try:
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import strategies as st
        from hypothesis.extra.numpy import mutually_broadcastable_shapes
    except ImportError as error:
        raise ImportError("mixedad.check_rule needs hypothesis: pip install hypothesis "
                          "(or pip install 'mixedad[test]').") from error
    if not isinstance(prim, Primitive) or not prim.elementwise:
        raise TypeError(f"check_rule checks elementwise primitives; got {prim!r}. Use check_grads "
                        "for general primitives.")
    nargs = _rule_arity(prim)
    domains = tuple(prim.domain) if prim.domain is not None else (Domain(),) * nargs

    # No shrinking: generation starts from the simplest shapes, so the first failure is
    # usually small already, and shrinking a systematic rule error costs seconds.
    @settings(max_examples=max_examples, deadline=None, database=None,
              phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck))
    @given(shapes=mutually_broadcastable_shapes(num_shapes=nargs, max_dims=3, max_side=3),
           dtype=st.sampled_from([np.dtype(d) for d in dtypes]), seed=st.integers(0, 2 ** 32 - 1))
    def check(shapes, dtype, seed):
        _check_rule_example(prim, shapes.input_shapes, dtype, seed, domains, rtol, atol)

    check()


def _check_rule_example(prim: Primitive, shapes: Sequence[tuple], dtype: Any, seed: int,
                        domains: Sequence[Domain], rtol: float | None = None,
                        atol: float | None = None) -> None:
    """One example of :func:`check_rule`: arguments of these shapes and dtype, values from ``seed``."""
    name, dtype = prim.name, np.dtype(dtype)
    rng = np.random.default_rng(seed)
    args = [_draw_values(rng, domain, tuple(shape), dtype) for domain, shape in zip(domains, shapes)]
    specs = prim.partial_specs or ()
    positions = tuple(j for j, domain in enumerate(domains)
                      if not domain.integer and j < len(specs) and specs[j] is not None)
    rtol, atol = _tolerances(dtype, rtol, atol)
    example = f"arguments of shapes {', '.join(str(tuple(s)) for s in shapes)}, dtype {dtype}, seed {seed}"
    with np.errstate(all="ignore"):
        out = np.asarray(prim.fn(*args))
    if out.dtype != dtype:
        raise AssertionError(f"check_rule({name}): the primitive returns {out.dtype} for {dtype} "
                             f"arguments ({example}): {dtype} must stay {dtype}.")
    u = np.asarray(rng.standard_normal(out.shape)).astype(dtype)
    args64 = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in args]
    u64 = u.astype(np.float64)
    partials = {}
    for j in positions:
        with np.errstate(all="ignore"):
            partials[j] = prim.partial(j, args, out, {})
        if dtype == np.float32 and not _keeps_float32(partials[j]):
            raise AssertionError(f"check_rule({name}): the partial derivative for argument {j} returns "
                                 f"{np.asarray(partials[j]).dtype} for float32 arguments ({example}): "
                                 "a dtype upcast.")

    symbolic = getattr(prim, "symbolic", None)
    for j in positions if symbolic is not None else ():
        with np.errstate(all="ignore"):
            reference = np.broadcast_to(np.asarray(symbolic.reference(j)(*args64), np.float64), out.shape)
        overridden = " (hand-written override)" if j in symbolic.overridden else ""
        _assert_entries_close(
            f"check_rule({name}): the partial derivative for argument {j}{overridden} disagrees with "
            f"sympy's derivative {symbolic.partials[j]} ({example})",
            np.broadcast_to(np.asarray(partials[j], np.float64), out.shape), reference,
            np.abs(reference), rtol, atol, "sympy gives")

    expected = {}
    for j in positions:
        derivative, noise = _elementwise_finite_differences(prim, args64, j, domains[j])
        expected[j] = [_unbroadcast(a, args[j].shape)
                       for a in (u64 * derivative, np.abs(u64 * derivative), np.abs(u64) * noise)]

    def loss(*traced):
        return np.sum(prim(*traced) * u)

    for mode in ("auto", "forward", "reverse") if positions else ():
        grads = _run_gradient(f"check_rule({name}) with {example}", loss, args, _Slots(args, positions), mode)
        for j in positions:
            grad = np.asarray(grads[j, 0])
            if grad.dtype != dtype:
                raise AssertionError(f"check_rule({name}): mode={mode!r} returned a {grad.dtype} gradient "
                                     f"for argument {j} ({example}): a dtype upcast.")
            want, scale, noise = expected[j]
            _assert_entries_close(
                f"check_rule({name}): mode={mode!r} ({_MODE_WORDS[mode]}) gives a wrong gradient for "
                f"argument {j} ({example})", grad, want, scale, rtol, atol + noise, "finite differences give")


def _assert_entries_close(context, got, want, scale, rtol, atol, reference_name):
    """Entry by entry, ``|got - want| <= atol + rtol * scale`` (``atol`` may be an array)."""
    got = np.asarray(got, np.float64)
    bad = ~(np.abs(got - want) <= atol + rtol * scale)
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
        difference = float(np.abs(got - want)[where])
        raise AssertionError(
            f"{context} at index {where}: got {got[where]:.9g}, {reference_name} {want[where]:.9g}; "
            f"relative error {_relative(difference, float(scale[where])):.2e} > rtol {rtol:g} "
            f"(atol {float(np.max(atol)):g}).")
