"""Powers whose exponent is a differentiated value that does not change with the input (x * 0 + 3,
np.floor(x), np.sign(x) + 2) at negative bases, where NumPy's power is defined for the integer
exponents these take but log(base), in the exponent's partial, is not.

The exponent's derivative is exactly 0 there, so the derivative is y * x**(y - 1), as if the
exponent were a number: every mode (auto, reverse, forward, prepared replays, mixedad.map, the
Hessian) must give it, checked against sympy and central differences.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import mixedad
from numerical import numerical_gradient

BASES = np.array([-2.5, -1.5, -0.5, 0.75, 2.25])  # none where np.floor jumps

# (name, f elementwise in NumPy, the exponent it takes as a plain function of x)
CASES = [
    ("x ** (x * 0 + 3.0)", lambda x: x ** (x * 0 + 3.0), lambda x: np.full_like(x, 3.0)),
    ("np.power(x, x * 0.0 + 2)", lambda x: np.power(x, x * 0.0 + 2), lambda x: np.full_like(x, 2.0)),
    ("np.float_power(x, 0 * x + 3)", lambda x: np.float_power(x, 0 * x + 3), lambda x: np.full_like(x, 3.0)),
    ("x ** np.floor(x)", lambda x: x ** np.floor(x), np.floor),
    ("x ** (np.sign(x) + 2)", lambda x: x ** (np.sign(x) + 2), lambda x: np.sign(x) + 2),
]
IDS = [case[0] for case in CASES]


def sympy_gradient(exponent_of, x):
    """d/dt t**k at each t, with k the exponent's (integer) value there, by sympy."""
    t = sympy.Symbol("t")
    return np.array([float(sympy.diff(t ** int(k), t).subs(t, sympy.Rational(str(v))))
                     for v, k in zip(x, exponent_of(x))])


@pytest.mark.parametrize("name, elementwise, exponent_of", CASES, ids=IDS)
def test_every_mode_gives_the_derivative_of_the_integer_power(name, elementwise, exponent_of):
    def f(x):
        return np.sum(elementwise(x))

    expected = sympy_gradient(exponent_of, BASES)
    np.testing.assert_allclose(numerical_gradient(f, BASES), expected, rtol=1e-6)  # the reference itself
    results = {
        "auto": mixedad.gradient(f, BASES),
        "reverse": mixedad.gradient(f, BASES, mode="reverse"),
        "forward": mixedad.gradient(f, BASES, mode="forward"),
        "prepared": mixedad.prepare(f, BASES).gradient(BASES),
        "map": mixedad.gradient(lambda x: np.sum(mixedad.map(elementwise, x)), BASES),
    }
    for mode, gradient in results.items():
        np.testing.assert_allclose(gradient, expected, rtol=1e-12, err_msg=mode)
    direction = np.linspace(1.0, 2.0, BASES.size)
    _, tangent = mixedad.jvp(f, (BASES,), (direction,))
    np.testing.assert_allclose(tangent, expected @ direction, rtol=1e-12)


@pytest.mark.parametrize("name, elementwise, exponent_of", CASES, ids=IDS)
def test_second_derivatives_and_replays_at_negative_bases(name, elementwise, exponent_of):
    def f(x):
        return np.sum(elementwise(x))

    t = sympy.Symbol("t")
    expected = np.diag([float(sympy.diff(t ** int(k), t, 2).subs(t, sympy.Rational(str(v))))
                        for v, k in zip(BASES, exponent_of(BASES))])
    np.testing.assert_allclose(mixedad.hessian(f, BASES), expected, rtol=1e-12, atol=1e-12)
    prepared = mixedad.prepare(f, BASES)
    for x in (BASES, BASES * 1.1, -BASES):
        np.testing.assert_allclose(prepared.gradient(x), sympy_gradient(exponent_of, x), rtol=1e-12)


def test_a_negative_base_raised_to_a_changing_exponent_still_has_no_derivative():
    """Where the exponent does change with x, its partial, log(x) * x**y, is NaN at x < 0: the
    derivative does not exist in the reals, and no mode may make up a number for it."""
    x = np.array([-2.0, -1.0])
    for mode in ("auto", "reverse", "forward"):
        gradient = mixedad.gradient(lambda x: np.sum(x ** (x * 0.5 + 3.0)), x, mode=mode)
        assert np.isnan(gradient).all(), mode
