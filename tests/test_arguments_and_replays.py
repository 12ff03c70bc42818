"""Calling conventions and replays that once gave a silently wrong result or an unhelpful error.

- A prepared program's index from ``divmod(np.argmax(x), k)`` (two outputs) and an argmax used as
  a dict key or rounded: replays must follow new inputs, as ``mixedad.gradient`` does.
- An argument passed twice (or with a view of it) that f updates in place: NumPy changes both.
- Python's math in a scalar function mapped element by element, at a domain error the function
  catches: no NumPy warning, and the user's ``np.errstate`` does not turn it into another error.
- A complex cotangent for ``vjp``, and keyword arguments through ``grad``.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import mixedad
from mixedad.transforms import vjp

INPUTS = [np.array([1.0, 2.0, 3.0, -0.5]), np.array([5.0, 1.0, 0.0, 2.0]), np.array([0.0, 1.0, 0.0, 2.0]),
          np.array([-1.0, 4.0, 0.5, 0.25])]

VALUE_DEPENDENT = {
    "divmod": lambda x: np.sum(x.reshape(2, 2)[divmod(np.argmax(x), 2)]) * x[0],
    "np.divmod": lambda x: np.sum(x.reshape(2, 2)[np.divmod(np.argmax(x), 2)] ** 2),
    "dict key": lambda x: {0: x[0], 1: x[1] * 2, 2: x[2] * 3, 3: x[3] * 4}[np.argmax(x)],
    "round": lambda x: x[round(np.argmax(x) / 2)] * x[3],
    "set": lambda x: x[0] * len({np.argmax(x), np.argmin(x)}),
}


@pytest.mark.parametrize("name", sorted(VALUE_DEPENDENT))
def test_prepared_gradients_follow_indices_computed_from_values(name):
    f = VALUE_DEPENDENT[name]
    prepared = mixedad.prepare(f, INPUTS[0])
    for x in INPUTS + INPUTS[:1]:
        expected = mixedad.gradient(f, x)
        np.testing.assert_array_equal(prepared.gradient(x), expected)
        step = 1e-6 * np.eye(4)
        numerical = np.array([(f(x + e) - f(x - e)) / 2e-6 for e in step])
        np.testing.assert_allclose(expected, numerical, atol=1e-6)


def _update_first(a, b):
    a += 1.0  # in place, as NumPy code may do: with b the same array, NumPy changes b too
    return np.sum(b * a)


@pytest.mark.parametrize("second", [lambda x: x, lambda x: x[::-1], lambda x: x.reshape(2, 1)[:, 0]])
def test_an_input_updated_in_place_that_another_argument_shares_raises(second):
    x = np.array([1.0, 2.0])
    with pytest.raises(mixedad.InPlaceMutationError, match="argument 0, whose memory argument 1 shares"):
        mixedad.value_and_gradient(_update_first, x, second(x), argnums=(0, 1))
    with pytest.raises(mixedad.InPlaceMutationError, match="argument 0, whose memory argument 1 shares"):
        mixedad.gradient(_update_first, x, second(x))  # the other argument not differentiated
    assert np.array_equal(x, [1.0, 2.0])


def test_leaves_that_share_memory_are_named():
    x = np.array([1.0, 2.0])

    def f(p, d):
        p["w"] += 1.0
        return np.sum(p["w"] * d["v"])

    with pytest.raises(mixedad.InPlaceMutationError, match=r"argument 0\['w'\], whose memory argument 1\['v'\]"):
        mixedad.gradient(f, {"w": x}, {"v": x})


def test_shared_arguments_without_updates_and_disjoint_parts_differentiate():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    grads = mixedad.gradient(lambda a, b: np.sum(a * b ** 2), x, x, argnums=(0, 1))
    np.testing.assert_array_equal(grads[0], x ** 2)
    np.testing.assert_array_equal(grads[1], 2 * x * x)
    # halves of one array do not overlap: an update of one leaves the other as NumPy does
    value, grad = mixedad.value_and_gradient(_update_first, x[:2], x[2:])
    assert value == _update_first(x[:2].copy(), x[2:].copy())
    np.testing.assert_array_equal(grad, x[2:])


def test_a_prepared_replay_with_arguments_that_share_memory_runs_f():
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    prepared = mixedad.prepare(_update_first, x.copy(), y, argnums=(0, 1))
    np.testing.assert_array_equal(prepared.gradient(x.copy(), y)[1], x + 1)
    shared = x.copy()
    with pytest.raises(mixedad.InPlaceMutationError, match="whose memory argument 1 shares"):
        prepared.gradient(shared, shared)
    np.testing.assert_array_equal(prepared.gradient(x.copy(), y)[0], y)


def _safe_log(t):
    try:
        return math.log(t)
    except ValueError:
        return 0.0


def test_a_math_domain_error_the_function_catches_raises_no_numpy_error():
    x = np.array([-1.0, 0.5, 2.0, 0.0])
    expected = np.array([0.0, 2.0, 0.5, 0.0])  # 1 / t where log is defined, else the constant 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from NumPy fails the test
        np.testing.assert_allclose(mixedad.gradient(lambda a: mixedad.sum(_safe_log, a), x), expected)
        with np.errstate(all="raise"):
            np.testing.assert_allclose(mixedad.gradient(lambda a: mixedad.sum(_safe_log, a), x), expected)
            np.testing.assert_allclose(mixedad.map(_safe_log, x), [_safe_log(float(t)) for t in x])


def test_vjp_refuses_a_complex_cotangent():
    _, pullback = vjp(lambda x: x * 3.0, np.ones(3))
    with pytest.raises(mixedad.InputError, match="complex128"):
        pullback(1j * np.ones(3))
    np.testing.assert_array_equal(pullback(np.arange(3))[0], 3.0 * np.arange(3))  # integers are numbers


def test_grad_passes_keyword_arguments_to_f_undifferentiated():
    def loss(w, *, scale=1.0):
        return np.sum(w ** 2) * scale

    w = np.array([1.0, 2.0])
    np.testing.assert_array_equal(mixedad.grad(loss)(w, scale=3.0), 6.0 * w)
    value, grad = mixedad.value_and_grad(loss)(w, scale=0.5)
    assert value == 2.5
    np.testing.assert_array_equal(grad, w)
