"""More scipy.special rules, np.sinc near 0, and digamma/polygamma at any order.

Every derivative is checked against sympy's derivative of the function's definition,
evaluated with mpmath at high precision (not against mixedad's own formulas): the gradient,
the full Hessian (its block structure included), a jvp, and a third directional derivative
(jvp of an hvp), in float64 on hypothesis-drawn inputs, plus float32 preservation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

scipy_special = pytest.importorskip("scipy.special")
sympy = pytest.importorskip("sympy")
mpmath = pytest.importorskip("mpmath")

from hypothesis import assume, given, settings, strategies as st  # noqa: E402

import mixedad  # noqa: E402
from mixedad.core.errors import UnsupportedOperationError  # noqa: E402

X, Y = sympy.symbols("x y", real=True)


def floats(low, high, *extra):
    values = st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return st.one_of(values, st.sampled_from(extra)) if extra else values


def draw_rows(case, n, draw_value):
    """n points of the case's domain (away from its kinks), one value per argument each."""
    rows = []
    while len(rows) < n:
        row = [draw_value(j, span) for j, span in enumerate(case.values)]
        if not case.keep(*row):
            if getattr(draw_value, "assume", False):
                assume(False)  # hypothesis draws another example
            continue
        rows.append(row)
    return [np.array([row[j] for row in rows]) for j in range(len(case.values))]


@dataclass(frozen=True)
class Case:
    function: Callable  # the scipy.special function, called with NumPy values or traced ones
    expr: Callable  # sympy expression of the definition, from the argument symbols
    values: tuple  # per argument: (low, high, *special values) of the values drawn
    traced: tuple = (0,)  # the arguments differentiated
    keep: Callable = lambda *a: True  # noqa: E731  away from kinks and outside-domain points
    nudge: Callable | None = None  # moves a removable singularity of expr (lambda = 0) off the point
    dps: int = 40  # mpmath digits: expr may cancel near the point


def _sign_pieces(x, positive, negative):
    return sympy.Piecewise((positive, x > 0), (negative, True))


def _tiny_lambda(position):
    def nudge(values):
        values = list(values)
        if abs(values[position]) < 1e-20:
            values[position] = 1e-20 if values[position] >= 0 else -1e-20
        return values
    return nudge


def _off_poles(values):
    """1/Gamma is smooth at 0, -1, ...; sympy's form -psi(x)/Gamma(x) is 0/0 there."""
    nearest = round(values[0])
    return [mpmath.mpf(nearest) + mpmath.mpf("1e-30")] if nearest <= 0 and abs(values[0] - nearest) < 1e-20 else values


LAMBDAS = (-2.0, 2.0, 0.0, 1e-12, -1e-9, 1e-6, 0.5, -0.4999, 1.0)
SP = scipy_special
CASES = {
    "expm1": Case(SP.expm1, lambda x: sympy.exp(x) - 1, ((-5.0, 5.0, 0.0, 1e-10),)),
    "log1p": Case(SP.log1p, lambda x: sympy.log(1 + x), ((-0.9, 5.0, 0.0, -1e-10),)),
    "cbrt": Case(SP.cbrt, lambda x: _sign_pieces(x, x ** sympy.Rational(1, 3), -(-x) ** sympy.Rational(1, 3)),
                 ((-5.0, 5.0),), keep=lambda x: abs(x) > 1e-3),
    "exp10": Case(SP.exp10, lambda x: 10 ** x, ((-3.0, 3.0),)),
    "exp2": Case(SP.exp2, lambda x: 2 ** x, ((-5.0, 5.0),)),
    "rel_entr": Case(SP.rel_entr, lambda x, y: x * sympy.log(x / y), ((0.05, 5.0), (0.05, 5.0)), (0, 1)),
    "kl_div": Case(SP.kl_div, lambda x, y: x * sympy.log(x / y) - x + y, ((0.05, 5.0), (0.05, 5.0)),
                   (0, 1)),
    "huber": Case(SP.huber, lambda d, r: sympy.Piecewise((r ** 2 / 2, sympy.Abs(r) <= d), (d * (r - d / 2), r > 0),
                                                         (d * (-r - d / 2), True)),
                  ((0.1, 3.0), (-5.0, 5.0)), (0, 1), keep=lambda d, r: abs(abs(r) - d) > 1e-3),
    "pseudo_huber": Case(SP.pseudo_huber, lambda d, r: d ** 2 * (sympy.sqrt(1 + (r / d) ** 2) - 1),
                         ((0.1, 3.0), (-5.0, 5.0, 0.0, 1e-8)), (0, 1)),
    "beta": Case(SP.beta, lambda a, b: sympy.beta(a, b), ((0.2, 5.0), (0.2, 5.0)), (0, 1)),
    "betaln": Case(SP.betaln, lambda a, b: sympy.log(sympy.beta(a, b)), ((0.2, 5.0), (0.2, 5.0)),
                   (0, 1)),
    "loggamma": Case(SP.loggamma, lambda x: sympy.loggamma(x), ((0.1, 8.0),)),
    "rgamma": Case(SP.rgamma, lambda x: 1 / sympy.gamma(x), ((-3.5, 5.0, 0.0, -1.0, -2.0, 0.5, 0.4999),),
                   nudge=_off_poles, dps=150),
    "i0e": Case(SP.i0e, lambda x: _sign_pieces(x, sympy.exp(-x) * sympy.besseli(0, x), sympy.exp(x) * sympy.besseli(0, x)),
                ((-20.0, 20.0, 1e-9, -1e-6),), keep=lambda x: x != 0),
    "i1e": Case(SP.i1e, lambda x: _sign_pieces(x, sympy.exp(-x) * sympy.besseli(1, x), sympy.exp(x) * sympy.besseli(1, x)),
                ((-20.0, 20.0, 1e-9, -1e-6, 0.999, 1.0),), keep=lambda x: x != 0),
    "i1": Case(SP.i1, lambda x: sympy.besseli(1, x), ((-20.0, 20.0, 0.0, 1e-9, -1e-6, 0.999, 1.0),)),
    "erfcx": Case(SP.erfcx, lambda x: sympy.exp(x ** 2) * sympy.erfc(x),
                  ((-3.0, 30.0, 9.999, 10.0, 10.001, 1e3, 1e7),), dps=80),
    "ndtri": Case(SP.ndtri, lambda p: sympy.sqrt(2) * sympy.erfinv(2 * p - 1), ((0.001, 0.999),)),
    "dawsn": Case(SP.dawsn, lambda x: sympy.sqrt(sympy.pi) / 2 * sympy.exp(-x ** 2) * sympy.erfi(x),
                  ((-30.0, 30.0, 0.0, 9.999, -10.0, 1e4),), dps=80),
    "digamma": Case(SP.digamma, lambda x: sympy.polygamma(0, x), ((0.2, 6.0, -0.5),)),
    "boxcox": Case(SP.boxcox, lambda x, lmbda: (x ** lmbda - 1) / lmbda, ((0.05, 10.0, 1.0), LAMBDAS), (0, 1),
                   nudge=_tiny_lambda(1), dps=150),
    "boxcox1p": Case(SP.boxcox1p, lambda x, lmbda: ((1 + x) ** lmbda - 1) / lmbda,
                     ((-0.9, 10.0, 0.0, 1e-9), LAMBDAS), (0, 1), nudge=_tiny_lambda(1), dps=150),
    "inv_boxcox": Case(SP.inv_boxcox, lambda y, lmbda: (1 + lmbda * y) ** (1 / lmbda),
                       ((-1.0, 2.0, 0.0), (-0.4, 0.4, 0.0, 1e-12, 0.05, -0.1)), (0, 1),
                       nudge=_tiny_lambda(1), dps=150),
    "gammainc": Case(SP.gammainc, lambda a, x: sympy.lowergamma(a, x) / sympy.gamma(a),
                     ((0.5, 5.0, 1.0), (0.05, 10.0)), (1,)),
    "gammaincc": Case(SP.gammaincc, lambda a, x: sympy.uppergamma(a, x) / sympy.gamma(a),
                      ((0.5, 5.0, 1.0), (0.05, 10.0)), (1,)),
    "zeta": Case(SP.zeta, lambda s, q: sympy.zeta(s, q), ((1.5, 5.0, 2.0), (0.2, 5.0)), (1,)),
}


# --- sympy references ------------------------------------------------------------------------
_REFERENCES = {}


def reference(name):
    """Lambdified sympy derivatives of the definition: gradient, Hessian and third-order tensors
    over the traced arguments."""
    if name not in _REFERENCES:
        case = CASES[name]
        symbols = sympy.symbols(f"a0:{len(case.values)}", real=True)
        expr = case.expr(*symbols)
        traced = [symbols[j] for j in case.traced]
        to_mp = lambda e: sympy.lambdify(symbols, e, "mpmath")  # noqa: E731
        first = [sympy.diff(expr, s) for s in traced]
        second = [[sympy.diff(d, s) for s in traced] for d in first]
        third = [[[sympy.diff(d, s) for s in traced] for d in row] for row in second]
        _REFERENCES[name] = (to_mp(expr), [to_mp(d) for d in first], [[to_mp(d) for d in row] for row in second],
                             [[[to_mp(d) for d in row] for row in plane] for plane in third])
    return _REFERENCES[name]


def evaluate(name, fn, values):
    case = CASES[name]
    with mpmath.workdps(case.dps):
        if case.nudge is not None:
            values = case.nudge(values)
        return float(mpmath.re(fn(*[mpmath.mpf(v) for v in values])))


def close(got, want, rtol=1e-8, scale=None):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = np.max(np.abs(want), initial=1e-300) if scale is None else scale
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-3 * scale)


def draw_case(data, name, n):
    def draw_value(j, span):
        return data.draw(floats(*span))
    draw_value.assume = True
    return draw_rows(CASES[name], n, draw_value)


def interior_case(name, n, seed):
    """n points drawn uniformly from the middle 80% of each argument's range."""
    rng = np.random.default_rng(seed)

    def draw_value(j, span):
        low, high = span[:2]
        return float(rng.uniform(low + 0.1 * (high - low), high - 0.1 * (high - low)))
    return draw_rows(CASES[name], n, draw_value)


def objective(name, args, weights):
    """f(v): the weighted sum of the function, v the traced arguments laid end to end."""
    case = CASES[name]
    n = len(weights)

    def f(v):
        full = list(args)
        for k, j in enumerate(case.traced):
            full[j] = v[k * n:(k + 1) * n]
        return np.sum(case.function(*full) * weights)
    return f, np.concatenate([args[j] for j in case.traced])


def expected(name, args, weights):
    """Gradient, Hessian and third-derivative tensor of the objective, from sympy."""
    value, first, second, third = reference(name)
    n, m = len(weights), len(CASES[name].traced)
    grad, hess, tens = np.zeros(m * n), np.zeros((m * n, m * n)), np.zeros((m * n,) * 3)
    for e in range(n):
        point = [float(a[e]) for a in args]
        for p in range(m):
            grad[p * n + e] = weights[e] * evaluate(name, first[p], point)
            for q in range(m):
                hess[p * n + e, q * n + e] = weights[e] * evaluate(name, second[p][q], point)
                for r in range(m):
                    tens[p * n + e, q * n + e, r * n + e] = weights[e] * evaluate(name, third[p][q][r], point)
    return grad, hess, tens


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_derivatives_match_sympy(name, data):
    n = data.draw(st.integers(1, 3))
    args = draw_case(data, name, n)
    weights = np.array([1.0, -0.75, 2.0])[:n]
    f, v = objective(name, args, weights)
    grad, hess, tens = expected(name, args, weights)
    tangent = np.array([0.5, -1.25, 0.75, 1.5, -0.5, 1.0])[:v.size]

    for mode in ("auto", "reverse", "forward"):
        close(mixedad.gradient(f, v, mode=mode), grad)
    close(mixedad.hessian(f, v), hess)
    value, directional = mixedad.jvp(f, (v,), (tangent,))
    close(value, np.sum(CASES[name].function(*args) * weights), rtol=1e-12)
    close(directional, grad @ tangent, scale=np.abs(grad) @ np.abs(tangent))
    hess_tangent_scale = np.max(np.abs(hess) @ np.abs(tangent))
    close(mixedad.hvp(f, v, tangent), hess @ tangent, scale=hess_tangent_scale)
    reverse_over_forward = mixedad.gradient(lambda a: mixedad.jvp(f, (a,), (tangent,))[1], v)
    close(reverse_over_forward, hess @ tangent, scale=hess_tangent_scale)
    third = mixedad.jvp(lambda a: mixedad.hvp(f, a, tangent), (v,), (tangent,))[1] @ tangent
    want = np.einsum("ijk,i,j,k->", tens, tangent, tangent, tangent)
    close(third, want, rtol=1e-7, scale=np.einsum("ijk,i,j,k->", np.abs(tens), *[np.abs(tangent)] * 3))


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_stays_float32(name):
    args = interior_case(name, 3, seed=7)
    args32 = [a.astype(np.float32) for a in args]
    weights = np.array([1.0, -0.75, 2.0], dtype=np.float32)
    f, v = objective(name, args32, weights)
    grad, hess, _ = expected(name, args, weights.astype(np.float64))
    g = mixedad.gradient(f, v)
    h = mixedad.hessian(f, v)
    assert g.dtype == np.float32 and h.dtype == np.float32
    close(g, grad, rtol=2e-3)
    close(h, hess, rtol=2e-3)


# --- mixedad.map / mixedad.sum ----------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_inside_map_and_sum(name):
    case = CASES[name]
    args = interior_case(name, 4, seed=3)
    weights = np.linspace(0.5, 2.0, args[0].size)
    f, v = objective(name, args, weights)
    want = expected(name, args, weights)[0]
    n = args[0].size

    def split(v):
        full = list(args)
        for k, j in enumerate(case.traced):
            full[j] = v[k * n:(k + 1) * n]
        return full

    mapped = lambda v: np.sum(mixedad.map(case.function, *split(v)) * weights)  # noqa: E731
    close(mixedad.gradient(mapped, v), want)
    if len(case.values) == 1:
        summed = lambda v: mixedad.sum(lambda t: case.function(t) * 2.0, v * 1.0)  # noqa: E731
        close(mixedad.gradient(summed, v), 2.0 * want / weights)
        # a branch: evaluated element by element on scalar duals, with the same partials
        branchy = lambda v: mixedad.sum(lambda t: case.function(t) if t < 1e300 else 0.0 * t, v)  # noqa: E731
        close(mixedad.gradient(branchy, v), want / weights)
    close(mixedad.hessian(mapped, v), expected(name, args, weights)[1])


# --- arguments without a derivative ------------------------------------------------------------
@pytest.mark.parametrize("function, position, name", [(SP.gammainc, 0, "a"), (SP.gammaincc, 0, "a"),
                                                      (SP.zeta, 0, "x")])
@pytest.mark.parametrize("transform", ["gradient", "hessian", "jvp"])
def test_traced_constant_argument_is_refused_by_name(function, position, name, transform):
    plain = np.array([1.5, 2.5])

    def f(t):
        args = [plain, plain]
        args[position] = t
        return np.sum(function(*args))
    with pytest.raises(UnsupportedOperationError) as info:
        if transform == "gradient":
            mixedad.gradient(f, np.array([2.0, 3.0]))
        elif transform == "hessian":
            mixedad.hessian(f, np.array([2.0, 3.0]))
        else:
            mixedad.jvp(f, (np.array([2.0, 3.0]),), (np.ones(2),))
    message = str(info.value)
    assert f"{name} (argument {position}) is a traced value" in message
    assert "test_special_functions_more.py" in message  # the user's line


def test_riemann_zeta_is_refused():
    with pytest.raises(UnsupportedOperationError, match="x \\(argument 0\\) is a traced value"):
        mixedad.gradient(lambda s: np.sum(SP.zeta(s)), np.array([2.5]))


# --- digamma and polygamma at any order -------------------------------------------------------
@given(x=floats(0.1, 8.0, -0.5, -1.5))
@settings(max_examples=20, deadline=None)
def test_digamma_second_and_third_derivatives(x):
    point = np.array([x])
    f = lambda a: np.sum(SP.digamma(a))  # noqa: E731
    want = [float(mpmath.polygamma(k, x)) for k in (1, 2, 3, 4)]
    close(mixedad.gradient(f, point), [want[0]])
    close(mixedad.hessian(f, point), [[want[1]]])
    close(mixedad.hvp(f, point, np.ones(1)), [want[1]])
    close(mixedad.jvp(lambda a: mixedad.hvp(f, a, np.ones(1)), (point,), (np.ones(1),))[1], [want[2]])
    fourth = mixedad.jvp(lambda b: mixedad.jvp(lambda a: mixedad.hvp(f, a, np.ones(1)), (b,), (np.ones(1),))[1],
                         (point,), (np.ones(1),))[1]
    close(fourth, [want[3]], rtol=1e-7)


def test_psi_is_digamma_under_hvp():
    x = np.array([0.7, 1.5, 3.0])
    got = mixedad.hvp(lambda a: np.sum(SP.psi(a)), x, np.ones(3))
    close(got, [float(mpmath.polygamma(2, t)) for t in x])


def test_digamma_hessian_keeps_float32():
    x = np.array([0.7, 1.5, 3.0], dtype=np.float32)
    h = mixedad.hessian(lambda a: np.sum(SP.digamma(a)), x)
    assert h.dtype == np.float32
    close(np.diag(h), [float(mpmath.polygamma(2, float(t))) for t in x], rtol=1e-4)


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_polygamma_primitive_differentiates_to_polygamma_of_next_order(n):
    from mixedad.rules.special import polygamma
    x = np.array([0.4, 1.5, 4.0])
    f = lambda a: np.sum(polygamma(n, a))  # noqa: E731
    close(mixedad.gradient(f, x), [float(mpmath.polygamma(n + 1, t)) for t in x])
    close(np.diag(mixedad.hessian(f, x)), [float(mpmath.polygamma(n + 2, t)) for t in x])
    assert mixedad.gradient(f, x.astype(np.float32)).dtype == np.float32


# --- np.sinc near 0 ---------------------------------------------------------------------------
_SINC = sympy.sin(sympy.pi * X) / (sympy.pi * X)
_SINC_DERIVATIVES = [sympy.lambdify(X, sympy.diff(_SINC, X, k), "mpmath") for k in (1, 2, 3)]
_SINC_AT_0 = [sympy.limit(sympy.diff(_SINC, X, k), X, 0) for k in (1, 2, 3)]


def sinc_reference(x):
    if x == 0:
        return [float(d) for d in _SINC_AT_0]
    with mpmath.workdps(40 + int(4 * max(0.0, -math.log10(abs(x))))):  # the formula cancels near 0
        return [float(d(mpmath.mpf(x))) for d in _SINC_DERIVATIVES]


def sinc_derivatives(x):
    f = lambda a: np.sum(np.sinc(a))  # noqa: E731
    point, one = np.array([x]), np.ones(1)
    return (mixedad.gradient(f, point)[0], mixedad.hessian(f, point)[0, 0],
            mixedad.jvp(lambda a: mixedad.hvp(f, a, one), (point,), (one,))[1][0])


@pytest.mark.parametrize("x", [0.0, 1e-9, -1e-9, 1e-5, -1e-5, 1e-3, 0.0999, 0.1, -0.1001, 0.5, 1.0, 2.5, -3.7])
def test_sinc_first_second_third_derivatives(x):
    got = sinc_derivatives(x)
    want = sinc_reference(x)
    for order, (g, w) in enumerate(zip(got, want), start=1):
        assert abs(g - w) <= 1e-12 * max(1.0, abs(w)), (order, g, w)


def test_sinc_second_derivative_at_0_is_minus_pi_squared_over_3():
    h = mixedad.hessian(lambda a: np.sum(np.sinc(a)), np.array([0.0]))
    assert abs(h[0, 0] + math.pi ** 2 / 3) < 1e-13


@given(x=floats(-6.0, 6.0, 0.0, 1e-300, -1e-12, 0.1, -0.1))
@settings(max_examples=30, deadline=None)
def test_sinc_matches_sympy(x):
    got = sinc_derivatives(x)
    for g, w in zip(got, sinc_reference(x)):
        assert abs(g - w) <= 1e-11 * max(1.0, abs(w)), (x, got)


def test_sinc_value_is_numpys_and_float32_stays_float32():
    x = np.array([0.0, 1e-5, 0.05, 0.1, 0.7, -2.3])
    value, grad = mixedad.value_and_gradient(lambda a: np.sum(np.sinc(a) * np.arange(1.0, 7.0)), x)
    assert value == np.sum(np.sinc(x) * np.arange(1.0, 7.0))
    x32 = x.astype(np.float32)
    g32 = mixedad.gradient(lambda a: np.sum(np.sinc(a)), x32)
    h32 = mixedad.hessian(lambda a: np.sum(np.sinc(a)), x32)
    assert g32.dtype == np.float32 and h32.dtype == np.float32
    want = np.array([sinc_reference(float(t)) for t in x32])
    np.testing.assert_allclose(g32, want[:, 0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.diag(h32), want[:, 1], rtol=1e-4, atol=1e-5)
    assert np.count_nonzero(h32 - np.diag(np.diag(h32))) == 0


def test_sinc_gradient_of_jvp_and_far_values_are_finite():
    x = np.array([0.0, 1e-8, 3.0, 1e300])
    v = np.ones(4)
    f = lambda a: np.sum(np.sinc(a))  # noqa: E731
    got = mixedad.gradient(lambda a: mixedad.jvp(f, (a,), (v,))[1], x)
    want = mixedad.hvp(f, x, v)
    assert np.all(np.isfinite(got)) and np.allclose(got, want, rtol=1e-12, atol=1e-15)
    assert abs(want[0] + math.pi ** 2 / 3) < 1e-12


# --- the rule checker: broadcasting shapes, float32 partials, finite differences ---------------
@pytest.mark.parametrize("name", ["expm1", "log1p", "cbrt", "exp2", "exp10", "rel_entr", "kl_div", "huber",
                                  "pseudo_huber", "beta", "betaln", "loggamma", "rgamma", "i0e", "i1e", "i1",
                                  "erfcx", "ndtri", "dawsn", "polygamma", "boxcox", "boxcox1p", "inv_boxcox",
                                  "gammainc", "gammaincc", "hurwitz_zeta", "digamma"])
def test_check_rule(name):
    from mixedad.checking import check_rule
    import mixedad.rules.special as special_rules
    check_rule(getattr(special_rules, name), max_examples=10)


def test_check_rule_sinc():
    from mixedad.checking import check_rule
    from mixedad.rules.compositions import sinc
    check_rule(sinc, max_examples=20)


def test_zeta_loads_the_rules_when_it_is_the_first_scipy_function_to_meet_a_traced_value():
    # scipy.special.zeta calls the private ufunc _zeta; a fresh process has loaded no rules yet
    import subprocess
    import sys
    program = ("import numpy as np, mixedad, scipy.special as s\n"
               "g = mixedad.gradient(lambda q: np.sum(s.zeta(2.0, q)), np.array([1.5]))\n"
               "print(repr(float(g[0])), repr(float(-2 * s.zeta(3.0, 1.5))))\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    got, want = map(float, result.stdout.split())
    assert got == pytest.approx(want, rel=1e-12)
