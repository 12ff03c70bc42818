"""Every elementwise rule in the table, checked against central differences over its domain.

The table (mixedad/rules/elementwise.py) records each op's input domain; adding a rule
adds its tests here.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import mixedad
from mixedad.core.primitive import Primitive
from mixedad.rules import elementwise as table

from numerical import numerical_gradients

MODES = ("auto", "reverse", "forward")
RULES = {name: prim for name, prim in vars(table).items()
         if isinstance(prim, Primitive) and prim.elementwise and prim.differentiable and prim.domain}


def _sample(rng, domain, shape, dtype=np.float64):
    if domain.integer:
        return rng.integers(int(domain.low), int(domain.high) + 1, size=shape)
    values = rng.uniform(domain.low, domain.high, size=shape)
    for point in domain.avoid:  # keep clear of kinks and poles
        close = np.abs(values - point) < 0.2
        values = np.where(close, point + 0.2 * np.sign(values - point + 1e-12) + 0.1, values)
    return values.astype(dtype)


def _differentiable_positions(prim):
    return [j for j, spec in enumerate(prim.partial_specs) if spec is not None]


def test_the_table_covers_the_floating_point_ufuncs():
    required = ["exp", "expm1", "exp2", "log", "log1p", "log2", "log10", "sqrt", "cbrt", "square",
                "reciprocal", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
                "arcsinh", "arccosh", "arctanh", "arctan2", "hypot", "power", "float_power", "logaddexp",
                "logaddexp2", "maximum", "minimum", "fmax", "fmin", "absolute", "negative", "positive",
                "add", "subtract", "multiply", "true_divide", "copysign", "deg2rad", "rad2deg"]
    assert sorted(set(required) - set(RULES)) == []


@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=6, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16))
def test_rule_matches_finite_differences(name, mode, shapes, seed):
    prim = RULES[name]
    rng = np.random.default_rng(seed)
    n_args = len(prim.partial_specs)
    args = [_sample(rng, prim.domain[j], shapes.input_shapes[j]) for j in range(n_args)]
    positions = tuple(_differentiable_positions(prim))
    weights = rng.standard_normal(shapes.result_shape)

    def loss(*a):
        return np.sum(prim.fn(*a) * weights)

    expected = numerical_gradients(loss, args, positions)
    got = mixedad.gradient(loss, *args, argnums=positions, mode=mode)
    for j, e, g in zip(positions, expected, got):
        assert g.shape == np.shape(args[j])
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6, err_msg=f"{name} argument {j} ({mode})")


@pytest.mark.parametrize("name", sorted(RULES))
def test_float32_stays_float32(name):
    prim = RULES[name]
    rng = np.random.default_rng(1)
    args = [_sample(rng, prim.domain[j], (3, 2), np.float32) for j in range(len(prim.partial_specs))]
    positions = tuple(_differentiable_positions(prim))
    for mode in MODES:
        grads = mixedad.gradient(lambda *a: np.sum(prim.fn(*a)), *args, argnums=positions, mode=mode)
        assert all(g.dtype == np.float32 for g in grads), (name, mode, [g.dtype for g in grads])
    # and the partials do not upcast past the op's own output dtype (float_power computes in
    # float64 by definition): a float64 partial would double the memory traffic
    out = prim.fn(*args)
    for j in positions:
        partial = prim.partial(j, args, out, {})
        if isinstance(partial, np.ndarray):
            assert partial.dtype == out.dtype, (name, j, partial.dtype)


def test_where_selects_tangents_so_sqrt_at_zero_has_zero_gradient():
    x = np.array([0.0, 1.0, 4.0, -1.0])
    expected = np.where(x > 0, 0.5 / np.sqrt(np.where(x > 0, x, 1.0)), 0.0)
    for mode in MODES:
        g = mixedad.gradient(lambda x: np.sum(np.where(x > 0, np.sqrt(x), 0.0)), x, mode=mode)
        assert np.all(np.isfinite(g)), mode
        np.testing.assert_allclose(g, expected)


@pytest.mark.parametrize("mode", MODES)
def test_kink_conventions_match_central_differences(mode):
    # maximum/minimum split ties evenly and |x| has derivative sign(0) = 0: both are what a
    # central difference computes at the kink.
    x = np.array([0.0, -1.0, 2.0])
    for f in (lambda x: np.sum(np.maximum(x, 0.0)), lambda x: np.sum(np.minimum(x, 0.0)),
              lambda x: np.sum(np.abs(x)), lambda x: np.sum(np.clip(x, 0.0, 1.0)),
              lambda x: np.sum(np.copysign(x, 1.0)), lambda x: np.sum(np.copysign(x, -2.0)),
              lambda x: np.sum(np.copysign(-x, 1.0))):
        np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode),
                                   numerical_gradients(f, [x], [0])[0], atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_power_with_traced_exponent_and_base(mode):
    x, y = np.array([0.5, 1.5, 2.0]), np.array([1.5, 2.0, -0.5])
    f = lambda x, y: np.sum(x ** y + np.float_power(x, y))
    for got, want in zip(mixedad.gradient(f, x, y, argnums=(0, 1), mode=mode),
                         numerical_gradients(f, [x, y], [0, 1])):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_nondifferentiable_ufuncs_return_plain_arrays():
    def f(x):
        for result in (np.sign(x), np.floor(x), x > 0, np.isnan(x), np.round(x), np.ceil(x)):
            assert isinstance(result, np.ndarray), type(result)
        return np.sum(np.floor(x) * x)
    x = np.array([0.5, 1.5, -2.5])
    np.testing.assert_allclose(mixedad.gradient(f, x), np.floor(x))


def test_i0_derivatives_over_its_whole_range():
    """np.i0's derivative is I1, summed as a power series (NumPy has no i1); the second
    derivative I0 - I1/x is 1/2 at 0. Finite differences in relative terms up to x = 700."""
    x = np.array([0.0, 1e-3, -0.7, 2.5, -12.0, 50.0, 300.0, 700.0])
    grad = mixedad.gradient(lambda v: np.sum(np.log(np.i0(v))), x)  # I1 / I0, of order 1
    step = 1e-6 * np.maximum(1.0, np.abs(x))
    expected = (np.log(np.i0(x + step)) - np.log(np.i0(x - step))) / (2 * step)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)
    second = np.diag(mixedad.hessian(lambda v: np.sum(np.i0(v)), x[:5]))
    h = 1e-4
    np.testing.assert_allclose(second, (np.i0(x[:5] + h) - 2 * np.i0(x[:5]) + np.i0(x[:5] - h)) / h ** 2, rtol=1e-5)
    assert second[0] == pytest.approx(0.5)


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0, 0.5, 3.0])
@pytest.mark.parametrize("form", ["operator", "np.power"])
def test_power_hessian_with_a_differentiated_scalar_exponent(exponent, form):
    """x ** y's cross term d2/dxdy = x^(y-1) (1 + y ln x): the shortcuts for y = 0, 1, 2 are for
    a plain exponent only; a differentiated one (a forward dual in the hessian) keeps its tangent."""
    power = (lambda a, b: a ** b) if form == "operator" else np.power
    f = lambda p: power(p[0], p[1]) + power(p[2], p[1])
    p = np.array([1.5, exponent, 0.7])
    hessian = mixedad.hessian(f, p)
    eps = 1e-6
    expected = np.stack([(mixedad.gradient(f, p + eps * e) - mixedad.gradient(f, p - eps * e)) / (2 * eps)
                         for e in np.eye(3)])
    np.testing.assert_allclose(hessian, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hessian, hessian.T, rtol=1e-12, atol=1e-12)
