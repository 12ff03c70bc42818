"""Derivatives of running products whose values under- or overflow.

``np.cumprod([1e-200, 1e-200, 1e250])`` is ``[1e-200, 0, 0]``: the second product underflows,
so a rule that divides the running product by an input (``out[i] / x[k]``) loses every later
factor, and gave 0 where d out[2] / d x[0] = x[1] * x[2] = 1e50. The references here do not use
mixedad: the derivative of NumPy's own loop ``p = p * x[i]`` taken by hand in Python floats
(what a user's loop of scalar products differentiates to), and exact rational arithmetic
(``fractions.Fraction``) where the running product stays representable.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import mixedad

HAS_CUMULATIVE_PROD = hasattr(np, "cumulative_prod")


def times(a, b):
    """A product where a zero factor wins against an infinite one (mixedad's chain-rule
    convention: every term holding the zero is 0)."""
    if not isinstance(a, Dual) and not isinstance(b, Dual) and (a == 0 or b == 0):
        return a * 0 if a == 0 else b * 0  # the zero factor itself, whatever the other is
    return a * b


def loop_gradient(x, w, number=float):
    """d sum(w * cumprod(x)) / dx for a 1-d ``x``, through the scalar loop's adjoints, in
    ``number`` arithmetic (``x`` may hold ``Dual`` numbers)."""
    x = [v if isinstance(v, Dual) else number(v) for v in x]
    w = [number(v) for v in w]
    n = len(x)
    running, products = 1.0, []
    for value in x:
        running = running * value
        products.append(running)
    gradient, adjoint = [0.0] * n, 0.0
    for k in reversed(range(n)):
        adjoint = w[k] + (times(x[k + 1], adjoint) if k + 1 < n else 0.0)
        gradient[k] = times(products[k - 1], adjoint) if k else adjoint
    return np.array(gradient)


class Dual:
    """A number with one tangent, for the derivative of ``loop_gradient``."""

    def __init__(self, value, tangent=0.0):
        self.value, self.tangent = value, tangent

    def __add__(self, other):
        other = other if isinstance(other, Dual) else Dual(other)
        return Dual(self.value + other.value, self.tangent + other.tangent)

    def __mul__(self, other):
        other = other if isinstance(other, Dual) else Dual(other)
        return Dual(self.value * other.value, self.tangent * other.value + self.value * other.tangent)

    __radd__, __rmul__ = __add__, __mul__


def loop_hessian(x, w):
    """The loop's second derivatives: the tangents of ``loop_gradient`` along each input."""
    columns = []
    for l in range(len(x)):
        duals = [Dual(float(v), float(k == l)) for k, v in enumerate(x)]
        columns.append([g.tangent if isinstance(g, Dual) else 0.0 for g in loop_gradient(duals, w)])
    return np.array(columns).T


def loop_tangent(x, t):
    """d cumprod(x) along ``t``, through the scalar loop's tangents."""
    running, tangent, tangents = 1.0, 0.0, []
    for value, dvalue in zip(map(float, x), map(float, t)):
        tangent = times(tangent, value) + times(running, dvalue)
        running = running * value
        tangents.append(tangent)
    return np.array(tangents)


def exact_gradient(x, w):
    """sum over i >= k of w[i] * prod(x[j] for j <= i, j != k), in exact rationals."""
    x, w = [Fraction(float(v)) for v in x], [Fraction(float(v)) for v in w]
    gradient = []
    for k in range(len(x)):
        total = Fraction(0)
        for i in range(k, len(x)):
            term = w[i]
            for j in range(i + 1):
                if j != k:
                    term *= x[j]
            total += term
        gradient.append(float(total) if abs(total) < 2 ** 1024 else (np.inf if total > 0 else -np.inf))
    return np.array(gradient)


def exact_hessian(x, w):
    """d^2 sum(w * cumprod(x)) / dx[k] dx[l], in exact rationals."""
    x, w = [Fraction(float(v)) for v in x], [Fraction(float(v)) for v in w]
    n = len(x)
    hessian = np.zeros((n, n))
    for k in range(n):
        for l in range(n):
            if k == l:
                continue
            total = Fraction(0)
            for i in range(max(k, l), n):
                term = w[i]
                for j in range(i + 1):
                    if j not in (k, l):
                        term *= x[j]
                total += term
            hessian[k, l] = float(total)
    return hessian


def weighted_cumprod(w):
    return lambda x: np.sum(w * np.cumprod(x))


def close(actual, expected, scale, rtol):
    """Elementwise: ``actual`` equals ``expected`` to ``rtol`` of ``scale`` (the same sum with |x|
    and |w|, so that cancelling terms do not ask for more digits than the sum has), or exactly
    (infinities, or NaN from inf - inf in both)."""
    with np.errstate(invalid="ignore"):
        return (actual == expected) | (np.abs(actual - expected) <= rtol * scale + 1e-300) \
            | (np.isnan(actual) & np.isnan(expected))  # inf - inf in both


def assert_matches(actual, expected, scale, rtol, label=""):
    assert np.all(close(actual, expected, scale, rtol)), (label, actual, expected)


AUDIT_CASE = np.array([1e-200, 1e-200, 1e250])
WEIGHTS = np.array([0.3, -0.7, 1.1])


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_an_underflowed_product_keeps_later_factors(mode):
    gradient = mixedad.gradient(weighted_cumprod(WEIGHTS), AUDIT_CASE, mode=mode)
    expected = exact_gradient(AUDIT_CASE, WEIGHTS)  # [1.1e50 - 0.7e-200 + 0.3, 1.1e50, 0]
    np.testing.assert_allclose(gradient, expected, rtol=1e-14)
    assert gradient[0] == pytest.approx(1.1e50, rel=1e-14)


def test_an_overflowed_product_keeps_earlier_factors():
    x = np.array([1e200, 1e200, 1e-250])  # the running product is inf from the second on
    for mode in ("auto", "reverse", "forward"):
        gradient = mixedad.gradient(lambda x: np.cumprod(x)[2], x, mode=mode)
        # d out[2] / d x[0] = x[1] * x[2] = 1e-50, as for x[1]; d out[2] / d x[2] = x[0] * x[1] = inf
        np.testing.assert_allclose(gradient, [1e-50, 1e-50, np.inf], rtol=1e-14, err_msg=mode)


def test_jvp_prepared_and_hessian_of_an_underflowed_product():
    f = weighted_cumprod(WEIGHTS)
    expected = exact_gradient(AUDIT_CASE, WEIGHTS)
    for k in range(3):
        direction = np.eye(3)[k]
        _, tangent = mixedad.jvp(f, (AUDIT_CASE,), (direction,))
        assert tangent == pytest.approx(expected[k], rel=1e-14)
        np.testing.assert_allclose(mixedad.jvp(np.cumprod, (AUDIT_CASE,), (direction,))[1],
                                   loop_tangent(AUDIT_CASE, direction), rtol=1e-14)
    prepared = mixedad.prepare(f, np.ones(3))
    np.testing.assert_allclose(prepared.gradient(AUDIT_CASE), expected, rtol=1e-14)
    np.testing.assert_allclose(prepared.gradient(np.full(3, 2.0)), exact_gradient(np.full(3, 2.0), WEIGHTS))
    np.testing.assert_allclose(mixedad.hessian(f, AUDIT_CASE), exact_hessian(AUDIT_CASE, WEIGHTS), rtol=1e-14)


def test_zeros_and_underflow_in_one_slice():
    x = np.array([1e-200, 0.0, 1e-200, 1e-200, 1e250, 3.0])
    w = np.array([0.5, -1.0, 2.0, 0.25, 1.5, -0.75])
    np.testing.assert_allclose(mixedad.gradient(weighted_cumprod(w), x), exact_gradient(x, w), rtol=1e-14)
    # Its second derivatives: the loop's, as a Hessian of x's own loop underflows where exact
    # ones need not (d out[3] / d x[1] = x[0] * x[2] * x[3] = 1e-600).
    np.testing.assert_allclose(mixedad.hessian(weighted_cumprod(w), x), loop_hessian(x, w), rtol=1e-14)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_only_the_slices_that_underflow_change_nothing_in_the_others(axis):
    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 2.0, size=(3, 4))
    if axis == 0:
        x[:, 1] = [1e-200, 1e-200, 1e250]
    else:
        x[1, :3] = [1e-200, 1e-200, 1e250]
    w = rng.normal(size=x.shape)
    moved_x, moved_w = np.moveaxis(x, axis, -1), np.moveaxis(w, axis, -1)
    expected = np.moveaxis(np.array([loop_gradient(a, b) for a, b in zip(moved_x, moved_w)]), -1, axis)
    for mode in ("auto", "reverse", "forward"):
        gradient = mixedad.gradient(lambda x: np.sum(w * np.cumprod(x, axis=axis)), x, mode=mode)
        np.testing.assert_allclose(gradient, expected, rtol=1e-12, err_msg=mode)


@pytest.mark.parametrize("spelling", ["nancumprod", "multiply.accumulate", "cumulative_prod"])
def test_every_spelling_of_a_running_product(spelling):
    if spelling == "cumulative_prod" and not HAS_CUMULATIVE_PROD:
        pytest.skip("NumPy < 2.1")
    function = {"nancumprod": np.nancumprod, "multiply.accumulate": np.multiply.accumulate,
                "cumulative_prod": getattr(np, "cumulative_prod", None)}[spelling]
    f = lambda x: np.sum(WEIGHTS * function(x))  # noqa: E731
    for mode in ("auto", "reverse", "forward"):
        np.testing.assert_allclose(mixedad.gradient(f, AUDIT_CASE, mode=mode), exact_gradient(AUDIT_CASE, WEIGHTS),
                                   rtol=1e-14, err_msg=mode)


def test_float32_underflow():
    x = np.array([1e-30, 1e-30, 1e25, 2.0], dtype=np.float32)
    w = np.array([1.0, -2.0, 0.5, 0.25], dtype=np.float32)
    gradient = mixedad.gradient(weighted_cumprod(w), x)
    assert gradient.dtype == np.float32
    np.testing.assert_allclose(gradient, loop_gradient(x, w, np.float32), rtol=1e-6)
    assert gradient[0] == pytest.approx(1 + (-2 + (0.5 + 0.25 * 2) * 1e25) * 1e-30, rel=1e-6)  # exact: 1 + 1e-5


scaled_values = st.builds(lambda sign, mantissa, exponent: sign * mantissa * 10.0 ** exponent,
                          st.sampled_from([1.0, -1.0]), st.floats(1.0, 9.99),
                          st.one_of(st.integers(-300, 300), st.integers(-3, 3), st.just(-400)))


@settings(max_examples=60, deadline=None)
@given(st.lists(scaled_values, min_size=1, max_size=7), st.randoms(use_true_random=False))
def test_random_scales_match_the_loop(values, random):
    x = np.array(values)
    with np.errstate(invalid="ignore", over="ignore"):
        assume(not np.isnan(np.cumprod(x)).any())  # inf * 0: NumPy's product is NaN, and so is its derivative
    w = np.array([random.choice([-1, 1]) * random.uniform(0.5, 2) for _ in values])  # g * out stays normal
    # NumPy's loop over x, differentiated, or the exact sum where that loop's own adjoints
    # overflow (mixedad's product of the running product and a reversed cumulative sum can
    # stay finite there: x = [0.1, 0, 1, 1e109, 2e199] gives -2e307 for x[1], the loop -inf)
    loop, exact = loop_gradient(x, w), exact_gradient(x, w)
    loop_scale, exact_scale = np.abs(loop_gradient(np.abs(x), np.abs(w))), np.abs(exact_gradient(np.abs(x), np.abs(w)))
    for mode in ("auto", "reverse", "forward"):
        gradient = mixedad.gradient(weighted_cumprod(w), x, mode=mode)
        assert np.all(close(gradient, loop, loop_scale, 1e-12) | close(gradient, exact, exact_scale, 1e-12)), \
            (mode, gradient, loop, exact)
    direction = np.array([random.choice([-1, 1]) * random.uniform(0.5, 1) for _ in values])  # t / x stays normal
    _, tangent = mixedad.jvp(np.cumprod, (x,), (direction,))
    tangent_scale = np.abs(loop_tangent(np.abs(x), np.abs(direction)))
    assert_matches(tangent, loop_tangent(x, direction), tangent_scale, 1e-12, "jvp")
