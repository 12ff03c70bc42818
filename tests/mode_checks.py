"""Checks of mixedad's modes against each other and against central differences
(``numerical.py``, which imports no mixedad), shared by test modules."""
from __future__ import annotations

import numpy as np

import mixedad
from numerical import numerical_gradient


def assert_values_and_gradients_match(f, x, expected_gradient, direction, atol=1e-8):
    """``f``'s value is NumPy's and its gradient ``expected_gradient`` in auto and reverse mode,
    and jvp along ``direction`` gives their inner product."""
    expected = f(x.copy())
    for mode in ("auto", "reverse"):
        value, gradient = mixedad.value_and_gradient(f, x.copy(), mode=mode)
        np.testing.assert_allclose(value, expected, rtol=1e-12, err_msg=mode)
        np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-6, atol=atol, err_msg=mode)
    value, tangent = mixedad.jvp(f, (x.copy(),), (direction,))
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(tangent, np.sum(expected_gradient * direction), rtol=1e-6, atol=atol)


def assert_second_order_and_replays(f, x):
    """The Hessian of ``f`` at ``x`` is the central difference of its gradient, and a prepared
    gradient gives fresh gradients at nearby points; returns the prepared gradient."""
    columns = [numerical_gradient(lambda y: mixedad.gradient(f, y)[k], x) for k in range(x.size)]
    np.testing.assert_allclose(mixedad.hessian(f, x), np.array(columns), rtol=1e-5, atol=1e-6)
    prepared = mixedad.prepare(f, x)
    for y in (x + 0.1, x * 0.9, x):
        np.testing.assert_allclose(prepared.gradient(y), mixedad.gradient(f, y), rtol=1e-12, atol=1e-12)
    return prepared
