"""NumPy's floating-point error state (``np.errstate``, warnings) holds for values mixedad
computes late: a fused region's values are evaluated after the user's code recorded them,
perhaps outside the ``with np.errstate(...)`` block that was active then."""
import math
import warnings

import numpy as np
import pytest

import mixedad

MODES = ("auto", "reverse", "forward")
x_with_zero = np.array([0.0, 1.0, 2.0])


def log_sum(x):
    return np.sum(np.log(x) * 2.0)


def log_sum_raising_inside(x):
    with np.errstate(divide="raise"):
        y = np.log(x)
    return np.sum(y * 2.0)  # the region's values are computed after the with block


def log_scaled(x):
    return 0.5 * np.sum(np.log(x) + x)


@pytest.mark.parametrize("mode", MODES)
def test_errstate_raise_around_the_call_raises_as_numpy_does(mode):
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError, match="divide by zero"):
        log_sum(x_with_zero)  # what NumPy itself does
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError, match="divide by zero"):
        mixedad.value_and_gradient(log_sum, x_with_zero, mode=mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [log_sum_raising_inside, log_scaled], ids=["inside", "scaled"])
def test_errstate_raise_inside_the_function_raises_after_the_block_ends(mode, f):
    if f is log_scaled:
        with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
            mixedad.value_and_gradient(f, x_with_zero, mode=mode)
    else:
        with pytest.raises(FloatingPointError, match="divide by zero"):
            mixedad.value_and_gradient(f, x_with_zero, mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_default_error_state_warns_for_values_and_ignore_is_honoured(mode):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value, grad = mixedad.value_and_gradient(log_sum, x_with_zero, mode=mode)
    assert value == -np.inf and np.isinf(grad[0])
    assert any(issubclass(w.category, RuntimeWarning) and "divide by zero" in str(w.message) for w in caught)
    with warnings.catch_warnings(record=True) as caught, np.errstate(divide="ignore"):
        warnings.simplefilter("always")
        mixedad.value_and_gradient(log_sum, x_with_zero, mode=mode)
    assert not caught


@pytest.mark.parametrize("mode", MODES)
def test_errors_only_in_partial_formulas_do_not_warn(mode):
    # sqrt(0) is fine; its partial 0.5 / sqrt(0) divides by zero, which NumPy never computes
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="raise"):
        warnings.simplefilter("always")
        value, grad = mixedad.value_and_gradient(lambda x: np.sum(np.sqrt(x)), x_with_zero, mode=mode)
    assert not caught and value == np.sum(np.sqrt(x_with_zero)) and grad[0] == np.inf


def test_overflow_and_invalid_are_reported_like_divide():
    x = np.array([1.0, 1000.0])
    with np.errstate(over="raise"), pytest.raises(FloatingPointError, match="overflow"):
        mixedad.value_and_gradient(lambda x: np.sum(np.exp(x) * 2.0), x)
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError, match="invalid"):
        mixedad.value_and_gradient(lambda x: np.sum(np.sqrt(x - 2.0) * 2.0), x)


def test_an_error_call_handler_is_called_as_numpy_would():
    seen = []
    with np.errstate(divide="call", call=lambda kind, flag: seen.append(kind)):
        mixedad.value_and_gradient(log_sum, x_with_zero)
    assert seen == ["divide by zero"]


def test_a_prepared_gradient_checks_values_under_the_state_of_each_call():
    prepared = mixedad.prepare(log_sum, np.ones(3))
    for _ in range(3):  # recorded, then replayed (interpreted, then compiled)
        with np.errstate(divide="raise"), pytest.raises(FloatingPointError, match="divide by zero"):
            prepared.value_and_gradient(x_with_zero)
        with warnings.catch_warnings(record=True) as caught, np.errstate(divide="ignore"):
            warnings.simplefilter("always")
            value, _ = prepared.value_and_gradient(x_with_zero)
        assert value == -np.inf and not caught
    inside = mixedad.prepare(log_sum_raising_inside, np.ones(3))
    for _ in range(3):  # the function's own errstate block is part of what was recorded
        with np.errstate(divide="ignore"), pytest.raises(FloatingPointError, match="divide by zero"):
            inside.value_and_gradient(x_with_zero)


@pytest.mark.parametrize("mode", MODES)
def test_gradient_alone_reports_errors_of_values_its_partials_compute(mode):
    # d/dx [log(x - 10) * x] reads log(x - 10): NaN for x < 10, as NumPy would report
    x = np.array([1.0, 20.0])
    with np.errstate(all="raise"), pytest.raises(FloatingPointError, match="invalid value"):
        mixedad.gradient(lambda x: np.sum(np.log(x - 10.0) * x), x, mode=mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grad = mixedad.gradient(lambda x: np.sum(np.log(x - 1.0)), x, mode=mode)  # log(0), derivative 1/0
    assert grad[0] == np.inf and any("divide by zero" in str(w.message) for w in caught)


@pytest.mark.parametrize("mode", MODES)
def test_the_reverse_pass_does_not_report_underflow_numpy_never_met(mode):
    # exp(-700) * 2 is fine in NumPy; the reverse pass's products of tiny numbers may underflow
    x = np.array([1.0, 700.0])
    f = lambda x: np.sum(np.exp(-x) * 2)
    with np.errstate(under="raise"):
        f(x)
        grad = mixedad.gradient(f, x, mode=mode)
    np.testing.assert_allclose(grad, -2 * np.exp(-x), rtol=1e-12)


SINGULAR_TANGENTS = {  # values NumPy computes without an error; tangents meet sqrt's derivative at 0
    "forward Jacobian through max": lambda x: mixedad.jacobian(lambda x: np.max(np.sqrt(x)), x, mode="forward"),
    "forward Jacobian through a product": lambda x: mixedad.jacobian(lambda x: np.array([1.0, 0.0]) @ np.sqrt(x), x,
                                                                     mode="forward"),
    "hessian through a product": lambda x: mixedad.hessian(lambda x: np.array([1.0, 0.0]) @ np.sqrt(x), x),
    "per-element sum": lambda x: mixedad.gradient(
        lambda x: mixedad.sum(lambda t: math.sqrt(t) if t >= 0 else 0.0, x), x),
}


@pytest.mark.parametrize("name", list(SINGULAR_TANGENTS))
def test_tangents_and_per_element_partials_do_not_raise_where_numpy_would_not(name):
    x = np.array([4.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            result = SINGULAR_TANGENTS[name](x)
    assert np.ravel(result)[0] == pytest.approx(0.25 if "hessian" not in name else -1 / 32)


def _square_failing_past_5(x):
    return square_failing_past_5(x)


@mixedad.primitive
def square_failing_past_5(x):
    return x * x


@square_failing_past_5.defvjp
def _square_vjp(g, out, x):
    if np.any(x > 5):
        raise ZeroDivisionError("a reverse rule that fails past 5")
    return 2 * x * g


@pytest.mark.parametrize("f", [log_scaled, _square_failing_past_5])
def test_the_callers_error_state_is_back_after_every_call(f):
    """The sweep and the regions switch NumPy's error state for their own work: whatever they
    do, a call leaves the caller's settings (and error callback) as they were."""
    def handler(kind, flag):
        pass

    def loss(x):
        return np.sum(f(x))

    with np.errstate(divide="warn", over="raise", under="print", invalid="call", call=handler):
        before = (np.geterr(), np.geterrcall())
        prepared = mixedad.prepare(loss, np.ones(3))
        for x in (np.ones(3), np.full(3, 2.0), np.full(3, 3.0), np.full(3, 9.0)):  # recorded, replayed, compiled
            for call in (lambda: mixedad.gradient(loss, x), lambda: mixedad.gradient(loss, x, mode="reverse"),
                         lambda: prepared.gradient(x)):
                if f is log_scaled or x[0] < 5:
                    assert np.all(np.isfinite(call()))
                else:
                    with pytest.raises(ZeroDivisionError, match="past 5"):
                        call()
                assert (np.geterr(), np.geterrcall()) == before


def _branches_on_recorded_warnings(x):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        total = np.sum(np.log(x))
    return np.sum(x ** 2) if caught else total


def _branches_on_an_error_handler(x):
    seen = []
    with np.errstate(divide="call", call=lambda kind, flag: seen.append(kind)):
        total = np.sum(np.log(x) * x)
    return np.sum(x ** 2) if seen else total


def _silences_its_own_warnings(x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = np.log(x)
    return np.sum(np.where(np.isfinite(y), y, 0.0) * x)


@pytest.mark.parametrize("f", [_branches_on_recorded_warnings, _branches_on_an_error_handler])
def test_warnings_and_error_handlers_reach_the_block_of_f_that_caught_them(f):
    with_zero, positive = np.array([0.5, 0.0, 2.0]), np.array([0.5, 1.5, 2.0])
    prepared = mixedad.prepare(f, positive)
    for x in (with_zero, positive, with_zero):
        value, grad = mixedad.value_and_gradient(f, x)
        assert value == pytest.approx(f(x))  # NumPy takes the other branch where log(0) warns
        np.testing.assert_allclose(grad, 2 * x if 0 in x else np.log(x) + 1 if f is _branches_on_an_error_handler
                                   else 1 / x)
        prepared_value, prepared_grad = prepared.value_and_gradient(x)
        assert prepared_value == pytest.approx(value)
        np.testing.assert_allclose(prepared_grad, grad)


def test_warnings_f_silences_inside_its_own_block_stay_silent():
    x = np.array([0.5, 0.0, 2.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grad = mixedad.gradient(_silences_its_own_warnings, x)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    np.testing.assert_allclose(grad, [np.log(0.5) + 1, 0.0, np.log(2.0) + 1])
