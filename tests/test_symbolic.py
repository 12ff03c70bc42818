"""sympy-derived elementwise partials: traced from the body, compiled to NumPy, float32 kept,
checked against finite differences and against sympy's own differentiation."""
import inspect
import math

import numpy as np
import pytest
import sympy

import mixedad
from mixedad.checking import check_grads, check_rule
from mixedad.rules.table import NONZERO, POSITIVE, REALS, UNIT, Domain
from mixedad.symbolic import SymbolicTraceError, derive_partials, derived_elementwise

from numerical import numerical_gradients

MODES = ("auto", "reverse", "forward")
DTYPES = (np.float32, np.float64)
X, MU, SIGMA = sympy.symbols("x mu sigma", real=True)


@derived_elementwise
def softplus(x):
    return np.log1p(np.exp(x))


@derived_elementwise(domain=(REALS, REALS, POSITIVE))
def gaussian_log_density(x, mu, sigma):
    z = (x - mu) / sigma
    return -0.5 * z * z - np.log(sigma) - 0.5 * math.log(2.0 * math.pi)


@derived_elementwise
def log_one_plus_square(x):
    return np.log(1.0 + x ** 2)


EXAMPLES = [
    (softplus, [(-3.0, 3.0)]),
    (gaussian_log_density, [(-2.0, 2.0), (-1.0, 1.0), (0.5, 2.0)]),
    (log_one_plus_square, [(-3.0, 3.0)]),
]


def draw(bounds, shapes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(low, high, shape).astype(dtype) for (low, high), shape in zip(bounds, shapes)]


def test_derived_expressions_are_the_textbook_derivatives():
    differences = [
        softplus.symbolic.partials[0] - sympy.exp(X) / (1 + sympy.exp(X)),
        gaussian_log_density.symbolic.partials[0] - (MU - X) / SIGMA ** 2,
        gaussian_log_density.symbolic.partials[1] - (X - MU) / SIGMA ** 2,
        gaussian_log_density.symbolic.partials[2] - ((X - MU) ** 2 / SIGMA ** 3 - 1 / SIGMA),
        log_one_plus_square.symbolic.partials[0] - 2 * X / (1 + X ** 2),
    ]
    assert all(sympy.simplify(d) == 0 for d in differences)


@pytest.mark.parametrize("prim, bounds", EXAMPLES, ids=lambda p: getattr(p, "name", ""))
@pytest.mark.parametrize("dtype", DTYPES)
def test_derived_gradients_match_finite_differences_in_every_mode(prim, bounds, dtype):
    shapes = [(2, 3), (3,), (2, 1)][:len(bounds)]
    args = draw(bounds, shapes, dtype)
    argnums = tuple(range(len(args)))

    def loss(*a):
        return np.sum(prim(*a) * np.cos(a[0]))
    reference = numerical_gradients(loss, [a.astype(np.float64) for a in args], argnums)
    tolerance = 1e-3 if dtype == np.float32 else 1e-7
    for mode in MODES:
        grads = mixedad.gradient(loss, *args, argnums=argnums, mode=mode)
        for grad, want in zip(grads, reference):
            assert grad.dtype == dtype
            np.testing.assert_allclose(grad, want, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("prim, bounds", EXAMPLES, ids=lambda p: getattr(p, "name", ""))
@pytest.mark.parametrize("dtype", DTYPES)
def test_derived_primitives_pass_check_grads(prim, bounds, dtype):
    check_grads(prim, *draw(bounds, [(4,), (4,), (1,)][:len(bounds)], dtype, seed=1))


@pytest.mark.parametrize("prim", [softplus, gaussian_log_density, log_one_plus_square],
                         ids=lambda p: p.name)
def test_derived_primitives_pass_check_rule(prim):
    check_rule(prim, max_examples=20)


@pytest.mark.parametrize("prim, bounds", EXAMPLES, ids=lambda p: getattr(p, "name", ""))
def test_compiled_partials_keep_float32(prim, bounds):
    args = draw(bounds, [(3,)] * len(bounds), np.float32)
    out = prim.fn(*args)
    assert out.dtype == np.float32
    for j, attached in enumerate(prim.symbolic.attached):
        value = prim.partial(j, args, out, {})
        assert np.result_type(value, np.float32) == np.float32
        if callable(attached):
            assert "float64" not in inspect.getsource(attached)


def test_irrational_constants_compile_to_python_floats():
    # each derivative has a constant that lambdify would otherwise print as numpy.log(2),
    # numpy.sqrt(2), numpy.select([...], [0, 1/2, 1]) ...: float64 values
    @derived_elementwise
    def constants(x, y):
        return np.log2(x) + np.sqrt(2.0 * y) + np.exp2(y) + np.maximum(x, y) + np.pi * x * y

    x = np.array([0.5, 1.5, 2.0], np.float32)
    y = np.array([1.0, 0.5, 2.0], np.float32)
    out = constants.fn(x, y)
    for j in range(2):
        value = constants.partial(j, [x, y], out, {})
        assert value.dtype == np.float32
    # and the values are right: ties of maximum split 0.5/0.5
    want_x = 1 / (x * math.log(2)) + np.array([0.0, 1.0, 0.5]) + math.pi * y
    np.testing.assert_allclose(constants.partial(0, [x, y], out, {}), want_x, rtol=1e-6)
    check_grads(constants, x + np.float32(0.01), y)


def test_partials_reuse_the_output_where_they_contain_it():
    @derived_elementwise
    def exp_twice(x):
        return np.exp(2.0 * x)

    assert "out" in inspect.signature(exp_twice.symbolic.attached[0]).parameters
    x = np.linspace(-1.0, 1.0, 5)
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(exp_twice(x)), x), 2 * np.exp(2 * x))


def test_constant_partials_are_plain_numbers():
    @derived_elementwise
    def affine(x, y):
        return x - 2.0 * y + 0.5

    assert affine.symbolic.attached == (1, -2)
    assert all(type(p) is int for p in affine.symbolic.attached)
    grads = mixedad.gradient(lambda x, y: np.sum(affine(x, y)), np.ones(2, np.float32),
                             np.ones(2, np.float32), argnums=(0, 1))
    assert grads[0].dtype == np.float32
    np.testing.assert_array_equal(grads[1], [-2.0, -2.0])


def test_derive_partials_on_a_plain_function_only_returns_expressions():
    def body(x, y):
        return x * np.sin(y)
    partials = derive_partials(body)
    assert partials == (sympy.sin(sympy.Symbol("y", real=True)),
                        sympy.Symbol("x", real=True) * sympy.cos(sympy.Symbol("y", real=True)))
    assert not hasattr(body, "symbolic")


def test_derive_partials_attaches_to_an_existing_elementwise_primitive():
    @mixedad.primitive(elementwise=True)
    def smooth_abs(x):
        return np.sqrt(x * x + 1.0)

    partials = derive_partials(smooth_abs)
    assert partials == smooth_abs.symbolic.partials
    x = np.linspace(-2.0, 2.0, 5)
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(smooth_abs(x)), x),
                               x / np.sqrt(x * x + 1.0), rtol=1e-12)


def test_the_stability_caveat_and_the_override():
    big = np.array([100.0, 0.0], np.float32)
    derived = mixedad.gradient(lambda x: np.sum(softplus(x)), big)
    assert np.isnan(derived[0])  # exp(100)/(exp(100) + 1) = inf/inf in float32: the caveat

    @derived_elementwise(override={0: lambda x: 0.5 * (1.0 + np.tanh(0.5 * x))})
    def stable_softplus(x):
        return np.log1p(np.exp(x))

    assert stable_softplus.symbolic.overridden == {0}
    np.testing.assert_array_equal(mixedad.gradient(lambda x: np.sum(stable_softplus(x)), big), [1.0, 0.5])
    check_rule(stable_softplus, max_examples=15)


def test_override_of_one_partial_keeps_the_others_derived():
    @derived_elementwise(override={1: lambda x, y: np.cos(y)}, domain=(REALS, REALS))
    def product(x, y):
        return np.sin(x) + np.sin(y)

    assert callable(product.symbolic.attached[0]) and product.symbolic.overridden == {1}
    check_grads(product, np.linspace(0.0, 1.0, 3), np.linspace(1.0, 2.0, 3))


def test_check_rule_catches_a_wrong_override_against_sympy():
    @derived_elementwise(override={0: lambda x: 0.5 * (1.0 + np.tanh(x))})  # should be tanh(x / 2)
    def wrong_softplus(x):
        return np.log1p(np.exp(x))

    with pytest.raises(AssertionError) as failure:
        check_rule(wrong_softplus, max_examples=10)
    message = str(failure.value)
    assert "wrong_softplus" in message and "hand-written override" in message
    assert "sympy's derivative exp(x)/(exp(x) + 1)" in message


# (numpy function, sympy reference, domain): every ufunc the tracer maps, one at a time
UNARY = [
    (np.negative, lambda a: -a, REALS), (np.positive, lambda a: a, REALS),
    (np.square, lambda a: a ** 2, REALS), (np.reciprocal, lambda a: 1 / a, NONZERO),
    (np.sqrt, sympy.sqrt, POSITIVE), (np.absolute, sympy.Abs, NONZERO), (np.fabs, sympy.Abs, NONZERO),
    (np.exp, sympy.exp, REALS), (np.exp2, lambda a: 2 ** a, REALS), (np.expm1, lambda a: sympy.exp(a) - 1, REALS),
    (np.log, sympy.log, POSITIVE), (np.log2, lambda a: sympy.log(a) / sympy.log(2), POSITIVE),
    (np.log10, lambda a: sympy.log(a) / sympy.log(10), POSITIVE), (np.log1p, lambda a: sympy.log(1 + a), POSITIVE),
    (np.sin, sympy.sin, REALS), (np.cos, sympy.cos, REALS), (np.tan, sympy.tan, Domain(-1.2, 1.2)),
    (np.arcsin, sympy.asin, UNIT), (np.arccos, sympy.acos, UNIT), (np.arctan, sympy.atan, REALS),
    (np.sinh, sympy.sinh, REALS), (np.cosh, sympy.cosh, REALS), (np.tanh, sympy.tanh, REALS),
    (np.arcsinh, sympy.asinh, REALS), (np.arccosh, sympy.acosh, Domain(1.1, 4.0)), (np.arctanh, sympy.atanh, UNIT),
    (np.deg2rad, lambda a: a * sympy.pi / 180, REALS), (np.rad2deg, lambda a: a * 180 / sympy.pi, REALS),
]
BINARY = [
    (np.add, lambda a, b: a + b), (np.subtract, lambda a, b: a - b), (np.multiply, lambda a, b: a * b),
    (np.true_divide, lambda a, b: a / b), (np.power, lambda a, b: a ** b), (np.float_power, lambda a, b: a ** b),
    (np.arctan2, sympy.atan2), (np.hypot, lambda a, b: sympy.sqrt(a ** 2 + b ** 2)),
    (np.logaddexp, lambda a, b: sympy.log(sympy.exp(a) + sympy.exp(b))),
    (np.logaddexp2, lambda a, b: sympy.log(2 ** a + 2 ** b) / sympy.log(2)),
    (np.maximum, sympy.Max), (np.minimum, sympy.Min), (np.fmax, sympy.Max), (np.fmin, sympy.Min),
]


def same_function(a, b, symbols, points):
    """sympy expressions equal symbolically, or (for Heaviside, exp2, ...) at sample points."""
    difference = a - b
    if sympy.simplify(difference) == 0:
        return True
    return all(abs(complex(difference.subs(dict(zip(symbols, p))).evalf())) < 1e-12 for p in points)


@pytest.mark.parametrize("ufunc, reference, domain", UNARY, ids=[u[0].__name__ for u in UNARY])
def test_every_unary_ufunc_traces_to_its_sympy_function(ufunc, reference, domain):
    (partial,) = derive_partials(lambda x: ufunc(x))
    inside = [(domain.low + (domain.high - domain.low) * t,) for t in (0.2, 0.7, 0.9)]
    assert same_function(partial, sympy.diff(reference(X), X), (X,), inside)
    prim = derived_elementwise(lambda x: ufunc(x), name=f"derived_{ufunc.__name__}", domain=domain)
    x = np.random.default_rng(3).uniform(domain.low + 0.1, domain.high - 0.1, 6)
    x = np.where(np.abs(x) < 0.2, 0.5, x) if domain.avoid else x
    (want,) = numerical_gradients(lambda x: np.sum(ufunc(x)), [x], (0,))
    np.testing.assert_allclose(prim.partial(0, [x], ufunc(x), {}), want, rtol=1e-6, atol=1e-9)
    value32 = prim.partial(0, [x.astype(np.float32)], ufunc(x.astype(np.float32)), {})
    assert type(value32) in (int, float) or value32.dtype == np.float32  # Python numbers are weak


@pytest.mark.parametrize("ufunc, reference", BINARY, ids=[u[0].__name__ for u in BINARY])
def test_every_binary_ufunc_traces_to_its_sympy_function(ufunc, reference):
    Y = sympy.Symbol("y", real=True)
    partials = derive_partials(lambda x, y: ufunc(x, y))
    for partial, symbol in zip(partials, (X, Y)):
        assert same_function(partial, sympy.diff(reference(X, Y), symbol), (X, Y), [(1.3, 0.4), (0.7, 1.9)])
    prim = derived_elementwise(lambda x, y: ufunc(x, y), name=f"derived_{ufunc.__name__}")
    rng = np.random.default_rng(4)
    x, y = rng.uniform(0.5, 2.0, (2, 5))
    want = numerical_gradients(lambda x, y: np.sum(ufunc(x, y)), [x, y], (0, 1))
    out = ufunc(x, y)
    for j in range(2):
        np.testing.assert_allclose(np.broadcast_to(prim.partial(j, [x, y], out, {}), x.shape), want[j],
                                   rtol=1e-6, atol=1e-9)


def test_untraceable_bodies_raise_clear_errors():
    def branchy(x):
        return x if x > 0 else -x
    with pytest.raises(SymbolicTraceError, match=r"derive_partials\(branchy\).*numpy.greater"):
        derive_partials(branchy)
    with pytest.raises(SymbolicTraceError, match="numpy.floor"):
        derive_partials(lambda x: np.floor(x))
    with pytest.raises(SymbolicTraceError, match="only trace NumPy ufuncs; numpy.clip"):
        derive_partials(lambda x: np.clip(x, 0.0, 1.0))
    with pytest.raises(SymbolicTraceError, match="concrete value"):
        derive_partials(lambda x: math.exp(x))
    with pytest.raises(SymbolicTraceError, match="scalar constants"):
        derive_partials(lambda x: x * np.ones(3))


def test_derive_partials_argument_errors():
    @mixedad.primitive
    def general(x):
        return x

    with pytest.raises(mixedad.MixedadError, match="needs an elementwise primitive"):
        derive_partials(general)
    with pytest.raises(ValueError, match="override position 3"):
        derive_partials(lambda x: np.sin(x), override={3: np.cos})
    with pytest.raises(mixedad.MixedadError, match="pass nargs"):
        derive_partials(lambda *xs: xs[0] * xs[1])
    assert len(derive_partials(lambda *xs: xs[0] * xs[1], nargs=2)) == 2


def test_simplify_option():
    plain = derive_partials(lambda x: np.log(np.exp(x) * np.exp(x)))
    simplified = derive_partials(lambda x: np.log(np.exp(x) * np.exp(x)), simplify=True)
    assert simplified == (2,)
    assert sympy.simplify(plain[0] - 2) == 0


def test_operators_numpy_scalars_and_nested_primitives_trace():
    @mixedad.primitive(elementwise=True)
    def inner(x):
        return np.exp(-x)

    def body(x, y):
        return (2 ** x - np.float32(0.5) * y) / (1.0 + abs(y)) + inner(x) * y ** 0.5 - (-x)
    dx, dy = derive_partials(body)
    Y = sympy.Symbol("y", real=True)
    expression = (2 ** X - Y / 2) / (1 + sympy.Abs(Y)) + sympy.exp(-X) * sympy.sqrt(Y) + X
    points = [(0.3, 1.7), (-1.2, 0.4)]
    assert same_function(dx, sympy.diff(expression, X), (X, Y), points)
    assert same_function(dy, sympy.diff(expression, Y), (X, Y), points)


def test_a_body_that_ignores_an_argument_gets_a_zero_partial():
    @derived_elementwise
    def first(x, y):
        return np.sin(x)

    assert first.symbolic.attached[1] == 0
    grads = mixedad.gradient(lambda x, y: np.sum(first(x, y)), np.ones(2), np.ones(2), argnums=(0, 1))
    np.testing.assert_array_equal(grads[1], [0.0, 0.0])
