"""Forward mode, rule by rule: every registered primitive has a forward rule, and every
rule's forward rule agrees with central finite differences along a random direction.

The cases are the tables of the reverse-rule tests (elementwise domains, shape ops,
reductions, linear algebra). Each case also checks chunked tangents (a forward-mode
Jacobian against the reverse-mode one) and forward-over-reverse (the reverse rules run
on dual numbers: a Hessian-vector product against finite differences of the gradient).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings

import mixedad
import test_rules_elementwise as elementwise_tests
import test_rules_linalg as linalg_tests
import test_rules_reductions as reduction_tests
import test_rules_shape as shape_tests
from mixedad import MissingRuleError
from numerical import numerical_gradient
from mixedad.core.dispatch import FUNCTION_HANDLERS, UFUNC_HANDLERS
from mixedad.core.primitive import Primitive
from mixedad.core.pytree import flatten
from mixedad.rules import elementwise, linalg, reductions, shape
from mixedad.transforms import hvp, jacobian, jvp

FORWARD_KINDS = ("elementwise", "linear", "bilinear", "jvp")


# ------------------------------------------------------------------------------------------
# the registry
def _all_primitives():
    handlers = list(UFUNC_HANDLERS.values()) + list(FUNCTION_HANDLERS.values())
    found = {id(h): h for h in handlers if isinstance(h, Primitive)}
    for module in (elementwise, reductions, shape, linalg):  # those the composites call, too
        found.update({id(v): v for v in vars(module).values() if isinstance(v, Primitive)})
    return list(found.values())


def test_every_registered_primitive_has_a_forward_rule():
    primitives = _all_primitives()
    assert len(primitives) > 100
    missing = sorted(p.name for p in primitives if p.differentiable and p.forward_rule not in FORWARD_KINDS)
    assert missing == []


def test_the_forward_rule_kinds_are_the_declared_ones():
    assert UFUNC_HANDLERS[np.sin].forward_rule == "elementwise"
    assert FUNCTION_HANDLERS[np.broadcast_to].forward_rule == "linear"
    assert shape.transpose.forward_rule == "linear"
    assert UFUNC_HANDLERS[np.matmul].forward_rule == "bilinear"
    assert FUNCTION_HANDLERS[np.linalg.solve].forward_rule == "jvp"
    assert UFUNC_HANDLERS[np.greater].forward_rule is None  # not differentiable


# ------------------------------------------------------------------------------------------
# the checks every case goes through
def directional_difference(f, args, directions, eps=1e-6):
    """(f(x + eps v) - f(x - eps v)) / 2 eps, per output leaf, in float64."""
    def at(step):
        moved = [a + step * d if d is not None else a for a, d in zip(args, directions)]
        return [np.asarray(leaf, np.float64) for leaf in flatten(f(*moved))[0]]
    return [(p - m) / (2 * eps) for p, m in zip(at(eps), at(-eps))]


def assert_jvp_matches(f, args, positions, rtol=1e-5, seed=0):
    rng = np.random.default_rng(seed)
    args = [np.asarray(a, np.float64) if j in positions else a for j, a in enumerate(args)]
    directions = [rng.standard_normal(np.shape(a)) if j in positions else None for j, a in enumerate(args)]

    def of_differentiated(*xs):
        full = list(args)
        for j, x in zip(positions, xs):
            full[j] = x
        return f(*full)

    value, tangent = jvp(of_differentiated, [args[j] for j in positions], [directions[j] for j in positions])
    expected = directional_difference(f, args, directions)
    got = flatten(tangent)[0]
    assert len(got) == len(expected)
    for g, e, v in zip(got, expected, flatten(value)[0]):
        assert np.shape(g) == np.shape(e) == np.shape(v)
        scale = float(np.max(np.abs(e), initial=1.0))
        np.testing.assert_allclose(g, e, rtol=rtol, atol=1e-6 * scale)
    return of_differentiated, [args[j] for j in positions]


def assert_forward_jacobian_matches_reverse(f, args):
    argnums = tuple(range(len(args)))
    forward = flatten(jacobian(f, *args, argnums=argnums, mode="forward"))[0]
    reverse = flatten(jacobian(f, *args, argnums=argnums, mode="reverse"))[0]
    assert len(forward) == len(reverse)
    for a, b in zip(forward, reverse):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * float(np.max(np.abs(b), initial=1.0)))


def assert_hvp_matches(f, args, seed=0, rtol=1e-4):
    """Forward-over-reverse: H v against differences of the gradient. The loss is not linear
    in f's output, so that the cotangents reaching f's reverse rules carry tangents too."""
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(np.shape(leaf)) for leaf in flatten(f(*args))[0]]

    def loss(xs):
        return sum(np.sum(np.sin(leaf) * w) for leaf, w in zip(flatten(f(*xs))[0], weights))

    directions = [rng.standard_normal(np.shape(a)) for a in args]
    got = hvp(loss, list(args), directions)
    eps = 1e-5
    plus = mixedad.gradient(loss, [a + eps * d for a, d in zip(args, directions)])
    minus = mixedad.gradient(loss, [a - eps * d for a, d in zip(args, directions)])
    for g, p, m in zip(got, plus, minus):
        expected = (p - m) / (2 * eps)
        np.testing.assert_allclose(g, expected, rtol=rtol, atol=rtol * float(np.max(np.abs(expected), initial=1.0)))


def assert_float32_tangents(f, args):
    args32 = [np.asarray(a, np.float32) for a in args]
    _, tangent = jvp(f, args32, [np.ones_like(a) for a in args32])
    for leaf in flatten(tangent)[0]:
        assert np.result_type(leaf) == np.float32


# ------------------------------------------------------------------------------------------
# elementwise: the partials, on broadcast shapes of different ranks (chunks must align)
ELEMENTWISE = elementwise_tests.RULES
SHAPES = [(2, 3), (3,), ()]


def _elementwise_case(name, dtype=np.float64):
    prim = ELEMENTWISE[name]
    rng = np.random.default_rng(3)
    n = len(prim.partial_specs)
    args = [elementwise_tests._sample(rng, prim.domain[j], SHAPES[j % 3], dtype) for j in range(n)]
    return prim, args, elementwise_tests._differentiable_positions(prim)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_forward_rule(name):
    prim, args, positions = _elementwise_case(name)
    f, xs = assert_jvp_matches(prim.fn, args, positions)
    assert_forward_jacobian_matches_reverse(f, xs)
    assert_hvp_matches(f, xs)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_float32(name):
    prim, args, positions = _elementwise_case(name, np.float32)
    _, tangent = jvp(lambda *xs: prim.fn(*[xs[positions.index(j)] if j in positions else a
                                          for j, a in enumerate(args)]),
                     [args[j] for j in positions], [np.ones_like(args[j]) for j in positions])
    if name != "float_power":  # computes in float64 by definition
        assert tangent.dtype == np.float32


# ------------------------------------------------------------------------------------------
# shape and selection ops
SHAPE_CASES = shape_tests.CASES


@pytest.mark.parametrize("name", sorted(SHAPE_CASES))
def test_shape_forward_rule(name):
    f, shape_ = SHAPE_CASES[name]
    x = shape_tests.arange_input(*shape_)
    assert_jvp_matches(f, [x], [0])
    assert_forward_jacobian_matches_reverse(f, [x])
    assert_hvp_matches(f, [x])


# ------------------------------------------------------------------------------------------
# reductions (axes and keepdims drawn)
@pytest.mark.parametrize("name", sorted(reduction_tests.REDUCTIONS))
@settings(max_examples=8, deadline=None)
@given(case=reduction_tests.reduction_cases())
def test_reduction_forward_rule(name, case):
    reduce, kind = reduction_tests.REDUCTIONS[name]
    shape_, axis, keepdims, seed = case
    x = reduction_tests.values(kind, shape_, seed)
    f = lambda x: reduce(x, axis, keepdims)  # noqa: E731
    assume(np.all(np.isfinite(f(x))))  # ddof=1 over one element: no derivative to compare
    assert_jvp_matches(f, [x], [0], seed=seed)
    assert_forward_jacobian_matches_reverse(f, [x])
    assert_hvp_matches(f, [x], seed=seed)


@pytest.mark.parametrize("name", sorted(reduction_tests.CUMULATIVE))
@settings(max_examples=8, deadline=None)
@given(case=reduction_tests.cumulative_cases())
def test_cumulative_forward_rule(name, case):
    accumulate, kind = reduction_tests.CUMULATIVE[name]
    shape_, axis, seed = case
    x = reduction_tests.values(kind, shape_, seed)
    f = lambda x: accumulate(x, axis)  # noqa: E731
    assert_jvp_matches(f, [x], [0], seed=seed)
    assert_forward_jacobian_matches_reverse(f, [x])
    assert_hvp_matches(f, [x], seed=seed)


@pytest.mark.parametrize("accumulate", [np.cumprod, np.prod])
def test_products_with_zeros(accumulate):
    x = np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0]])  # one zero, two zeros, none
    f = lambda x: accumulate(x, axis=1)  # noqa: E731
    assert_jvp_matches(f, [x], [0])
    assert_forward_jacobian_matches_reverse(f, [x])


# ------------------------------------------------------------------------------------------
# linear algebra
LINALG = {case.name: case for case in linalg_tests.CASES}
# the reverse rules of the spectral and nuclear norms call np.linalg.svd, which has no rule:
# they cannot run on duals (forward-over-reverse)
NO_SECOND_ORDER = {"norm-matrix-nuc", "norm-matrix-2", "norm-matrix--2", "norm-matrix-axes",
                   "norm-matrix-keepdims", "linalg-matrix-norm"}


@pytest.mark.parametrize("name", sorted(LINALG))
def test_linalg_forward_rule(name):
    case = LINALG[name]
    positions = list(range(len(case.args)))
    assert_jvp_matches(case.fn, list(case.args), positions, rtol=max(case.rtol, 1e-5))
    assert_forward_jacobian_matches_reverse(case.fn, list(case.args))
    if name not in NO_SECOND_ORDER:
        assert_hvp_matches(case.fn, list(case.args), rtol=max(case.rtol, 1e-4))
    if case.keeps_dtype:
        assert_float32_tangents(case.fn, case.args)


# ------------------------------------------------------------------------------------------
# user primitives: one rule gives the other
def test_only_a_forward_rule_gives_a_gradient_by_transposition():
    @mixedad.primitive
    def weighted_cumsum(x, w):
        return np.cumsum(x * w)

    weighted_cumsum.defjvp(lambda t, out, x, w: np.cumsum(t * w), lambda t, out, x, w: np.cumsum(x * t))
    assert weighted_cumsum.forward_rule == "jvp"
    x, w = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    gx, gw = mixedad.gradient(lambda x, w: np.sum(weighted_cumsum(x, w) ** 2), x, w, argnums=(0, 1))
    out = np.cumsum(x * w)
    ct = np.cumsum((2 * out)[::-1])[::-1]  # the transpose of cumsum, by hand
    np.testing.assert_allclose(gx, ct * w)
    np.testing.assert_allclose(gw, ct * x)


def test_only_a_reverse_rule_gives_a_forward_rule_by_transposition():
    @mixedad.primitive
    def cube(x):
        return x ** 3

    cube.defvjp(lambda g, out, x: 3 * x * x * g)
    assert cube.forward_rule == "transposed vjp"
    x, v = np.array([1.0, -2.0]), np.array([1.0, 0.5])
    np.testing.assert_allclose(jvp(cube, (x,), (v,))[1], 3 * x * x * v)
    np.testing.assert_allclose(hvp(lambda x: np.sum(cube(x)), x, v), 6 * x * v)


def test_a_linear_primitive_needs_no_rule():
    @mixedad.primitive
    def differences(x):
        return x[1:] - x[:-1]

    differences.deflinear()
    x, v = np.array([1.0, 4.0, 9.0]), np.array([1.0, 0.0, 2.0])
    np.testing.assert_allclose(jvp(differences, (x,), (v,))[1], [-1.0, 2.0])
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(differences(x) * [1.0, 2.0]), x), [-1.0, -1.0, 2.0])


def test_a_bilinear_primitive_needs_no_rule():
    @mixedad.primitive
    def scaled_product(a, b):
        return 2.0 * a * b

    scaled_product.defbilinear()
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    grads = mixedad.gradient(lambda a, b: np.sum(scaled_product(a, b)), a, b, argnums=(0, 1))
    np.testing.assert_allclose(grads[0], 2 * b)
    np.testing.assert_allclose(grads[1], 2 * a)
    np.testing.assert_allclose(jvp(scaled_product, (a, b), (np.ones(2), np.zeros(2)))[1], 2 * b)


def test_a_primitive_without_rules_fails_only_when_differentiated_naming_itself():
    @mixedad.primitive
    def opaque(x):
        return np.sin(x)

    assert opaque.forward_rule is None
    assert np.allclose(opaque(np.zeros(2)), 0.0)  # defining and calling it is fine
    with pytest.raises(MissingRuleError, match="opaque"):
        jvp(opaque, (np.zeros(2),), (np.ones(2),))
    with pytest.raises(MissingRuleError, match="opaque"):
        mixedad.gradient(lambda x: np.sum(opaque(x)), np.zeros(2))


# ------------------------------------------------------------------------------------------
# float32 stays float32: a tangent has its value's dtype (float32 unless NumPy itself
# promotes, as with a float64 constant), and rules compute in float32 (the engine's final
# cast to the output's dtype would hide a rule that widens)
@pytest.mark.parametrize("name", shape_tests.FLOAT32_CASES)
def test_shape_float32(name):
    f, shape_ = SHAPE_CASES[name]
    x64 = shape_tests.arange_input(*shape_)
    v64 = np.random.default_rng(0).standard_normal(x64.shape)
    want = flatten(jvp(f, (x64,), (v64,))[1])[0]
    x32 = x64.astype(np.float32)
    values, tangents = jvp(f, (x32,), (v64.astype(np.float32),))
    for g, v, w, plain in zip(flatten(tangents)[0], flatten(values)[0], want, flatten(f(x32))[0]):
        assert g.dtype == v.dtype == np.result_type(plain)  # NumPy's dtype for the same program
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("index", range(len(reduction_tests.FLOAT32_CASES)))
def test_reduction_float32(index):
    f = reduction_tests.FLOAT32_CASES[index]
    x64 = reduction_tests.values("distinct", (3, 4), 9) / 6
    v64 = np.random.default_rng(0).standard_normal(x64.shape)
    want = jvp(f, (x64,), (v64,))[1]
    x32 = x64.astype(np.float32)
    value, got = jvp(f, (x32,), (v64.astype(np.float32),))
    assert got.dtype == value.dtype == np.result_type(f(x32))  # NumPy's dtype for the same program
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def _float32_rule_cases():
    rng = np.random.default_rng(4)
    x = (reduction_tests.values("distinct", (3, 4), 10) / 6).astype(np.float32)
    a = (rng.standard_normal((3, 3)) + 3 * np.eye(3)).astype(np.float32)
    spd = (a @ a.T).astype(np.float32)
    cases = [(getattr(reductions, name), (x,), kwargs) for name, kwargs in reduction_tests.RULES_IN_FLOAT32]
    cases += [(reductions.weighted_average_, (x, x + 1), {"axis": 1}),
              (linalg.solve, (a, x[:, 0]), {}), (linalg.solve, (a, x[:, :3]), {}), (linalg.inv, (a,), {}),
              (linalg.det, (a,), {}), (linalg.slogdet_, (a,), {}), (linalg.cholesky, (spd,), {}),
              (linalg.vector_norm_, (x,), {"ord": 3, "axis": 1}), (linalg.matrix_norm_, (x,), {"ord": "fro"}),
              (shape.sort, (x,), {"axis": 0}), (shape.pad_, (x,), {"widths": ((1, 0), (0, 2)), "constant_values": 1.5})]
    return cases


@pytest.mark.parametrize("index", range(len(_float32_rule_cases())))
def test_forward_rules_compute_in_float32(index):
    from mixedad.core.linear import jvp_of
    prim, args, kwargs = _float32_rule_cases()[index]
    out = prim.fn(*args, **kwargs)
    tangents = [np.full(np.shape(a), 0.5, np.float32) for a in args]
    tangent = jvp_of(prim, list(args), tangents, out, kwargs)
    for leaf in (tangent if prim.multiple_outputs else [tangent]):
        if leaf is not None:
            assert np.result_type(leaf) == np.float32, prim.name


def _written(write):
    """``write(c, a)`` fills a zeros array ``c`` from ``a`` in place; then a loss of both."""
    def f(a):
        c = np.zeros_like(a)
        write(c, a)
        return np.sum(c * a) + np.sum(c ** 2)
    return f


LISTS_OF_TRACED_VALUES = {
    "np.put": _written(lambda c, a: np.put(c, [0, 4], [a[0, 1], a[1, 0] * 2])),
    "np.fill_diagonal": _written(lambda c, a: np.fill_diagonal(c, [a[0, 1], a[1, 0], a[2, 2] ** 2])),
    "np.copyto": _written(lambda c, a: np.copyto(c[0], [a[0, 1], a[1, 0], 1.0])),
    "np.putmask": _written(lambda c, a: np.putmask(c, a > 4.5, [a[0, 1], a[1, 0]])),
    "np.place": _written(lambda c, a: np.place(c, a > 4.5, [a[0, 1], a[1, 0]])),
    "np.put_along_axis": _written(lambda c, a: np.put_along_axis(c, np.array([[0], [1], [2]]),
                                                                 [[a[0, 1]], [a[1, 0]], [a[2, 2]]], axis=1)),
    "np.concatenate": lambda a: np.sum(np.concatenate([a.ravel(), [a[0, 0], a[1, 1] ** 2]]) ** 2),
    "np.vstack": lambda a: np.sum(np.vstack([a, [a[0, 0], a[1, 1], a[2, 2] ** 2]]) ** 2),
    # found by porting autograd's tests: np.append of a list raised in every mode
    "np.append": lambda a: np.sum(np.append([a[0, 0], a[1, 1] ** 2], a) ** 2),
    "np.append, axis=0": lambda a: np.sum(np.append(a, [[a[0, 0], a[1, 1], a[2, 2] ** 2]], axis=0) ** 2),
    "np.dstack": lambda a: np.sum(np.dstack([a[0], [a[1, 1], a[0, 0], 1.0]]) ** 3),
    "np.column_stack": lambda a: np.sum(np.column_stack([a[0], [a[1, 1], a[0, 0], np.sin(a[2, 2])]]) ** 3),
    "np.hstack": lambda a: np.sum(np.hstack([a[0], [a[1, 1], 2.0]]) ** 3),
}


@pytest.mark.parametrize("name", LISTS_OF_TRACED_VALUES)
def test_lists_of_traced_values_written_or_joined_in_forward_mode(name):
    """Found: forward duals in a Python list were not stacked (reverse mode's were): jvp raised."""
    f = LISTS_OF_TRACED_VALUES[name]
    a = np.arange(1.0, 10.0).reshape(3, 3)
    direction = np.random.default_rng(1).standard_normal(a.shape)
    expected = numerical_gradient(f, a)
    np.testing.assert_allclose(mixedad.jvp(f, (a,), (direction,))[1], np.sum(expected * direction), rtol=1e-6)
    for mode in ("forward", "auto", "reverse"):
        np.testing.assert_allclose(mixedad.gradient(f, a, mode=mode), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_structural_zero_tangent_has_the_outputs_dtype(dtype):
    x = np.array([0.3, -1.2, 0.7], dtype)
    for f in (lambda x: 0 * x[0], lambda x: False * x[0], lambda x: dtype(1.5) + 0 * x[0]):
        value, tangent = mixedad.jvp(f, (x,), (np.ones_like(x),))
        assert np.asarray(tangent).dtype == np.asarray(value).dtype == dtype and tangent == 0
    jacobian = mixedad.jacobian(lambda x: 0 * x, x, mode="forward")
    assert jacobian.dtype == dtype and not jacobian.any()
