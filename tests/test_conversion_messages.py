"""Conversions of traced values, and stores into NumPy arrays, say what to write instead
(``core.conversions``; found by the session-44 workload audits, where the messages gave advice
that did not apply: a buffer made from an argument that is not differentiated, a stencil
update of a copied array, float() in a convergence test, the statistics module)."""
import math
import statistics
import sys

import numpy as np
import pytest

import mixedad
from mixedad import InPlaceMutationError, NonDifferentiableError

EPS = np.random.default_rng(0).standard_normal(20)
U0 = np.exp(-40 * (np.linspace(0, 1, 12) - 0.5) ** 2)


def simulate(params, eps):
    kappa, theta = params[0], params[1]
    path = np.zeros_like(eps)  # eps is not differentiated: a plain array
    path[0] = theta
    for t in range(1, len(eps)):
        path[t] = path[t - 1] + kappa * (theta - path[t - 1]) * 0.1 + 0.3 * eps[t]
    return np.mean(path)


def stencil(kappa, u0):
    u = u0.copy()
    for _ in range(3):
        u[1:-1] = u[1:-1] + kappa * (u[2:] - 2 * u[1:-1] + u[:-2])  # u was read: NumPy refuses the write first
    return np.sum(u ** 2)


def line_of(function, text):
    lines, first = __import__("inspect").getsourcelines(function)
    return first + next(k for k, line in enumerate(lines) if text in line)


@pytest.mark.parametrize("differentiate", [  # (prepare traces the other arguments as constants: it differentiates f)
    lambda f, *args: mixedad.gradient(f, *args),
    lambda f, *args: mixedad.gradient(f, *args, mode="forward"),
    lambda f, *args: mixedad.hessian(f, *args),
], ids=["auto", "forward", "hessian"])
@pytest.mark.parametrize("f, args, target, source, shape, line", [
    (simulate, (np.array([1.5, 1.1]), EPS), "path", "theta", (20,), "path[0] = theta"),
    (stencil, (np.array(0.2), U0), "u", "kappa", (12,), "u[1:-1] = u[1:-1]"),
], ids=["scalar into a buffer", "slice into a read copy"])
def test_a_store_into_a_plain_array_names_the_array_and_what_to_make_it_from(differentiate, f, args, target, source,
                                                                             shape, line):
    with pytest.raises(NonDifferentiableError) as info:
        differentiate(f, *args)
    message = str(info.value)
    assert message.startswith("Storing a differentiated value into a NumPy array")
    assert f"test_conversion_messages.py:{line_of(f, line)}" in message
    assert f"`{target}` is a plain NumPy array" in message
    assert f"{target} = np.zeros_like({source}, shape={shape})" in message
    assert "a = a.copy()" not in message  # (the read copy: copying again would not help)


@pytest.mark.parametrize("make", ["zeros_like", "copy"])
def test_the_advice_works(make):
    """What the message says to write differentiates (against central differences)."""
    def fixed(params, eps):
        kappa, theta = params[0], params[1]
        path = np.zeros_like(theta, shape=eps.shape) if make == "zeros_like" else np.zeros_like(theta) + eps * 0
        path[0] = theta
        for t in range(1, len(eps)):
            path[t] = path[t - 1] + kappa * (theta - path[t - 1]) * 0.1 + 0.3 * eps[t]
        return np.mean(path)

    params, h = np.array([1.5, 1.1]), 1e-6
    expected = [(fixed(params + h * e, EPS) - fixed(params - h * e, EPS)) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(mixedad.gradient(fixed, params, EPS), expected, rtol=1e-6)


def test_a_write_of_plain_values_into_a_read_array_still_says_to_copy():
    def f(x):
        y = x * 2
        mask = np.array([1.0, 0.0, 1.0])
        y = y * mask
        mask[1] = 5.0  # plain values into an array an op read: the guard's message
        return np.sum(y)
    with pytest.raises(InPlaceMutationError, match=r"already read was written to.*a = a\.copy\(\)"):
        mixedad.gradient(f, np.ones(3))


def float_error(new, x):
    return float(np.max(np.abs(new - x)))


def item_error(new, x):
    return np.max(np.abs(new - x)).item()


@pytest.mark.parametrize("error", [float_error, item_error])
def test_converting_a_one_element_value_for_a_comparison_says_to_drop_the_conversion(error):
    def heron(a):
        x = a
        for _ in range(30):
            new = 0.5 * (x + a / x)
            err = error(new, x)
            x = new
            if err < 1e-12:
                break
        return np.sum(x)
    with pytest.raises(NonDifferentiableError, match=r"drop the conversion: a comparison of a one-element traced "
                                                     r"value works") as info:
        mixedad.gradient(heron, np.array([4.0, 9.0]))
    assert "storing it into a NumPy array" not in str(info.value)


def test_a_math_call_is_named_without_the_comparison_advice():
    with pytest.raises(NonDifferentiableError, match=r"math\.exp\(\) \(a conversion to float\)") as info:
        mixedad.gradient(lambda x: math.exp(x), np.array(0.5))
    assert "drop the conversion" not in str(info.value)


def test_a_comparison_without_the_conversion_differentiates():
    def heron(a):
        x = a
        for _ in range(30):
            new = 0.5 * (x + a / x)
            err = np.max(np.abs(new - x))
            x = new
            if err < 1e-12:
                break
        return np.sum(x)
    np.testing.assert_allclose(mixedad.gradient(heron, np.array([4.0, 9.0])), [0.25, 1 / 6], rtol=1e-12)


@pytest.mark.parametrize("function", [statistics.mean, statistics.stdev, statistics.pvariance,
                                      statistics.harmonic_mean])
@pytest.mark.parametrize("mode", ["auto", "forward"])
def test_the_statistics_module_is_named_with_numpys_functions_as_advice(function, mode):
    line = sys._getframe().f_lineno + 2
    with pytest.raises(NonDifferentiableError) as info:
        mixedad.gradient(lambda x: function(x), np.array([1.0, 2.0, 4.0]), mode=mode)
    message = str(info.value)
    assert f"inside statistics.{function.__name__}" in message and "np.mean" in message
    assert f"called from {__file__}:{line}" in message
