"""Errors a differentiated function catches: NumPy raises FloatingPointError under
``np.errstate(...="raise")``, np.linalg raises LinAlgError, Python's math raises ValueError,
at the op, inside the user's ``try``; mixedad raises there too (no lazily computed value
raising later, outside it), and a prepared gradient traces such a function again rather than
replay a program that would not raise. References: finite differences of the branch NumPy runs."""
import math

import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient


def safe_log(x):
    try:
        with np.errstate(invalid="raise"):
            return np.sum(np.log(x))  # raises for a negative entry: the fallback below runs
    except FloatingPointError:
        return np.sum(np.log(np.abs(x) + 1e-3))


def fallback(x):
    return np.sum(np.log(np.abs(x) + 1e-3))


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_a_floating_point_error_is_raised_inside_the_users_try(mode):
    x = np.array([0.3, -1.2])
    value, grad = mixedad.value_and_gradient(safe_log, x, mode=mode)
    np.testing.assert_allclose(value, fallback(x))
    np.testing.assert_allclose(grad, numerical_gradient(fallback, x), rtol=1e-6)
    np.testing.assert_allclose(np.diag(mixedad.hessian(safe_log, x)),
                               -1 / (np.abs(x) + 1e-3) ** 2, rtol=1e-9)


@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_a_prepared_gradient_traces_a_function_under_a_raising_error_state_again(mode):
    good, bad = np.array([0.3, 1.2]), np.array([0.3, -1.2])
    prepared = mixedad.prepare(safe_log, good, mode=mode)
    assert not prepared.replays
    np.testing.assert_allclose(prepared.gradient(bad), numerical_gradient(fallback, bad), rtol=1e-6)
    np.testing.assert_allclose(prepared.gradient(good), 1 / good, rtol=1e-12)


def solve_or_least_squares(a_flat, b):
    a = a_flat.reshape(2, 2)
    try:
        return np.sum(np.linalg.solve(a, b) ** 2)
    except np.linalg.LinAlgError:
        return np.sum(a ** 2)


def test_a_prepared_gradient_follows_a_linalg_error_fallback():
    b = np.array([1.0, 2.0])
    regular, singular = np.array([2.0, 1.0, 0.5, 3.0]), np.array([1.0, 2.0, 2.0, 4.0])
    prepared = mixedad.prepare(solve_or_least_squares, regular, b)
    np.testing.assert_allclose(prepared.gradient(singular, b), 2 * singular)  # the fallback's gradient
    np.testing.assert_allclose(prepared.gradient(regular, b),
                               numerical_gradient(lambda a: solve_or_least_squares(a, b), regular), rtol=1e-6)


def safe_math_log(t):
    try:
        return math.log(t)
    except ValueError:  # math domain error, as Python raises it
        return t


def safe_math_exp(t):
    try:
        return math.exp(t)
    except OverflowError:
        return 2.0 * t


@pytest.mark.parametrize("f, x", [(safe_math_log, np.array([0.5, -1.2])),
                                  (safe_math_exp, np.array([1.0, 800.0]))], ids=["log", "exp"])
def test_a_scalar_function_catching_pythons_math_errors(f, x):
    want = [sum(f(float(t)) for t in x), [numerical_gradient(lambda v: f(float(v[0])), [t])[0] for t in x]]
    value, grad = mixedad.value_and_gradient(lambda v: mixedad.sum(f, v), x)
    np.testing.assert_allclose(value, want[0])
    np.testing.assert_allclose(grad, want[1], rtol=1e-6)


def test_math_log_of_zero_takes_the_fallback_as_python_does():
    value, grad = mixedad.value_and_gradient(lambda v: mixedad.sum(safe_math_log, v), np.array([0.0, 1.0]))
    assert value == safe_math_log(0.0) + safe_math_log(1.0)
    np.testing.assert_allclose(grad, [1.0, 1.0])  # the branch taken at 0 is t


def test_an_object_aux_output_comes_back_with_plain_arrays():
    import types

    def loss(x):
        pred = np.sin(x)
        return np.sum(pred ** 2), types.SimpleNamespace(pred=pred, parts={"double": 2 * pred})
    x = np.array([0.3, -1.2])
    _, aux = mixedad.gradient(loss, x, has_aux=True)
    assert type(aux.pred) is np.ndarray and type(aux.parts["double"]) is np.ndarray
    np.testing.assert_allclose(aux.pred + 1, np.sin(x) + 1)
    prepared = mixedad.prepare(loss, x, has_aux=True)
    first = prepared.gradient(x)[1]
    prepared.gradient(2 * x)
    np.testing.assert_allclose(first.pred, np.sin(x))  # not overwritten by the next replay


def test_a_scalar_functions_own_except_value_error_does_not_catch_the_vectorized_attempt():
    def f(t):
        try:
            if t > 0:  # on a whole array (mixedad.sum tries that first) mixedad's error is no ValueError
                return math.log(t)
            return t
        except ValueError:
            return 0.0 * t
    x = np.array([0.5, -1.2])
    value, grad = mixedad.value_and_gradient(lambda v: mixedad.sum(f, v), x)
    np.testing.assert_allclose(value, math.log(0.5) - 1.2)
    np.testing.assert_allclose(grad, [2.0, 1.0])
    np.testing.assert_allclose(mixedad.map(f, x), [f(float(t)) for t in x])  # without a differentiation too


@pytest.mark.parametrize("use, match", [
    (lambda x: {x[0]: 1.0}[x[0]] * x[1], r"hashing .* on a traced value"),
    (lambda x: mixedad.sum(lambda t: {t: 1.0}[t] if t > 0 else t, x), r"hashing a dual number"),
    (lambda x: mixedad.sum(lambda t: t * x[0] if t > 0 else t, x), r"closes over.*mixedad\.map\(lambda t, p"),
], ids=["traced", "dual", "closed-over"])
def test_hashing_and_closed_over_values_name_the_problem(use, match):
    with pytest.raises(mixedad.MixedadError, match=match):
        mixedad.gradient(use, np.array([0.3, -1.2]))


def test_a_formatted_print_in_a_per_element_function_shows_the_value(capsys):
    def f(t):
        if t > 0:
            print(f"{t:.2f}")
        return t * t
    np.testing.assert_allclose(mixedad.gradient(lambda x: mixedad.sum(f, x), np.array([0.5, -1.0])), [1.0, -2.0])
    assert "0.50" in capsys.readouterr().out


def test_an_aux_object_without_traced_values_is_returned_as_it_is():
    class Record:
        def __init__(self):
            self.history = [1.0, "x"]
    record = Record()
    _, aux = mixedad.gradient(lambda x: (np.sum(x ** 2), record), np.ones(2), has_aux=True)
    assert aux is record and record.history == [1.0, "x"]


def test_an_except_clause_unrelated_to_arrays_keeps_the_function_vectorized():
    calls, settings = [], {}

    def f(t):
        calls.append(1)
        try:
            scale = settings["scale"]
        except KeyError:
            scale = 2.0
        return scale * t * t
    x = np.linspace(-1.0, 1.0, 50)
    np.testing.assert_allclose(mixedad.gradient(lambda v: mixedad.sum(f, v), x), 4 * x)
    assert len(calls) == 1  # one call on the whole array, not one per element


def helper_with_except(t):
    try:
        return t * t if t > 0 else -t
    except ValueError:  # NumPy's, for `if t > 0` on an array: never for one element
        return 0.0 * t


def test_an_except_in_a_helper_the_function_calls_is_seen_too():
    x = np.array([-2.0, -0.5, 0.5, 3.0])
    f = lambda t: helper_with_except(t)  # noqa: E731
    value, grad = mixedad.value_and_gradient(lambda v: mixedad.sum(f, v), x)
    np.testing.assert_allclose(value, sum(f(float(t)) for t in x))
    np.testing.assert_allclose(grad, [-1.0, -1.0, 1.0, 6.0])


def test_map_without_a_differentiation_passes_numpy_scalars_to_a_catching_function():
    def f(t):
        with np.errstate(divide="raise"):
            try:
                return 1.0 / t
            except FloatingPointError:
                return 0.0 * t
    x = np.array([0.0, 1.0, 2.0])
    np.testing.assert_allclose(mixedad.map(f, x), [f(t) for t in x])


def test_a_prepared_gradient_under_a_raising_error_state_around_it_replays():
    calls = []

    def f(x):
        calls.append(1)
        return np.sum(np.sin(x) * x)
    x = np.array([0.3, 1.2])
    want = [numerical_gradient(f, scale * x) for scale in (1.0, 2.0, 3.0)]
    calls.clear()
    with np.errstate(all="raise"):
        prepared = mixedad.prepare(f, x)
        got = [prepared.gradient(scale * x) for scale in (1.0, 2.0, 3.0)]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert len(calls) == 1 and prepared.replays  # traced once, then replayed


@pytest.mark.parametrize("call, raised", [(lambda t: math.pow(t * 0.0, -1.0), ValueError),
                                          (lambda t: math.log(t, 1.0), ZeroDivisionError),
                                          (lambda t: math.exp(t * 1000.0), OverflowError)])
def test_math_on_dual_numbers_raises_what_python_raises(call, raised):
    def f(t):
        try:
            return call(t)
        except raised:
            return -t
    np.testing.assert_allclose(mixedad.gradient(lambda v: mixedad.sum(f, v), np.array([2.0, 3.0])), [-1.0, -1.0])
