"""The rule checkers: check_grads and check_rule pass on correct rules and fail, with a
message saying what is wrong, on wrong partials, wrong vjps, wrong unbroadcasting and
float32 upcasts."""
import sys

import numpy as np
import pytest

import mixedad
from mixedad.checking import audit_rules, check_grads, check_rule
from mixedad.rules import elementwise as builtin
from mixedad.rules.table import REALS, Domain

from numerical import numerical_gradient

DTYPES = (np.float32, np.float64)
RNG = np.random.default_rng(7)


def arrays(shape, dtype, low=-1.0, high=1.0):
    return RNG.uniform(low, high, shape).astype(dtype)


# --- correct user primitives --------------------------------------------------------------
@mixedad.primitive
def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


@logsumexp.defvjp
def logsumexp_vjp(g, out, x):
    return g * np.exp(x - out)


@mixedad.primitive(elementwise=True)
def softplus(x):
    return np.logaddexp(0.0, x)


softplus.defpartials(lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)))


@mixedad.primitive(elementwise=True)
def scaled_tanh(x, scale):
    return scale * np.tanh(x)


scaled_tanh.defpartials(lambda x, scale, out: scale - out * out / scale, lambda x, scale: np.tanh(x))
scaled_tanh.domain = (REALS, Domain(0.5, 2.0))


@mixedad.primitive
def add_vec(x, b):
    return x + b


add_vec.defvjp(lambda g, out, x, b: g, lambda g, out, x, b: g)  # unreduced: mixedad sums


@mixedad.primitive(multiple_outputs=True)
def polar(x, y):
    return np.hypot(x, y), np.arctan2(y, x)


@polar.defvjp
def polar_vjp(gs, outs, x, y):
    g_r, g_theta = gs
    r, _ = outs
    return g_r * x / r - g_theta * y / (r * r), g_r * y / r + g_theta * x / (r * r)


@mixedad.primitive(nondiff_argnums=(1,))
def power_of(x, k):
    return x ** k


power_of.defvjp(lambda g, out, x, k: g * k * x ** (k - 1))


@mixedad.primitive
def sine_with_jvp(x):
    return np.sin(x)


sine_with_jvp.defvjp(lambda g, out, x: g * np.cos(x))
sine_with_jvp.defjvp(lambda t, out, x: t * np.cos(x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_check_grads_passes_on_correct_user_primitives(dtype):
    x = arrays((3, 4), dtype)
    check_grads(logsumexp, x)
    check_grads(softplus, x)
    check_grads(scaled_tanh, x, np.asarray(1.5, dtype))
    check_grads(add_vec, x, arrays((4,), dtype))
    check_grads(polar, arrays((3,), dtype, 0.5, 2.0), arrays((3,), dtype))
    check_grads(power_of, arrays((5,), dtype, 0.5, 2.0), 3)
    check_grads(sine_with_jvp, x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_check_grads_passes_on_plain_numpy_functions_and_containers(dtype):
    def model(params, x):
        hidden = np.tanh(x @ params["w"] + params["b"])
        return np.sum(hidden ** 2, axis=1) + np.log1p(np.exp(-np.abs(x[:, 0])))
    params = {"w": arrays((3, 2), dtype), "b": arrays((2,), dtype)}
    check_grads(model, params, arrays((4, 3), dtype))
    check_grads(model, params, arrays((4, 3), dtype), argnums=0)


def test_check_grads_second_order_passes():
    x = arrays((5,), np.float64)
    check_grads(logsumexp, x, order=2)
    check_grads(lambda x, y: np.sin(x) * np.exp(y) / (1.0 + x * x), x, arrays((5,), np.float64), order=2)
    check_grads(softplus, arrays((5,), np.float32), order=2)


@pytest.mark.parametrize("name", [
    "exp", "log", "tanh", "true_divide", "power", "arctan2", "hypot", "logaddexp", "sqrt",
    "arcsin", "expm1", "cbrt", "multiply", "reciprocal", "arccosh", "ldexp", "log10",
])
def test_check_rule_passes_on_builtin_elementwise_rules(name):
    check_rule(getattr(builtin, name), max_examples=15)


def test_check_rule_passes_on_correct_user_primitives():
    check_rule(softplus, max_examples=20)
    check_rule(scaled_tanh, max_examples=20)


def test_check_rule_draws_broadcasting_shapes_scalars_and_both_dtypes():
    seen = []

    @mixedad.primitive(elementwise=True)
    def recorded(x, y):
        return x * y

    def partial_x(x, y):
        seen.append((np.shape(x), np.shape(y), np.result_type(x, y)))
        return y

    recorded.defpartials(partial_x, lambda x, y: x)
    check_rule(recorded, max_examples=30)
    shapes = {(a, b) for a, b, _ in seen}
    assert any(a == () or b == () for a, b in shapes)
    assert any(a != b and a != () and b != () for a, b in shapes)
    assert any(1 in a + b for a, b in shapes)
    assert {dtype for _, _, dtype in seen} == {np.dtype(np.float32), np.dtype(np.float64)}


def test_check_rule_samples_inside_the_declared_domain():
    lows = []

    @mixedad.primitive(elementwise=True)
    def guarded_log(x):
        if np.size(x):
            lows.append(np.min(x))
        return np.log(x - 1.0)

    guarded_log.defpartials(lambda x: 1.0 / (x - 1.0))
    guarded_log.domain = (Domain(1.5, 3.0),)
    check_rule(guarded_log, max_examples=15)
    assert 1.5 - 1e-2 <= min(lows) and max(lows) <= 3.0 + 1e-2  # finite differences step a little outside


# --- the checkers fail on wrong rules -------------------------------------------------------
@mixedad.primitive(elementwise=True)
def wrong_partial_sin(x, y):
    return np.sin(x) * y


wrong_partial_sin.defpartials(lambda x, y: np.cos(x) * y, lambda x, y: 2.0 * np.sin(x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_check_grads_catches_a_wrong_partial(dtype):
    with pytest.raises(AssertionError) as failure:
        check_grads(wrong_partial_sin, arrays((4,), dtype), arrays((4,), dtype))
    message = str(failure.value)
    assert "check_grads(wrong_partial_sin)" in message
    assert "argument 1" in message and "mode='reverse'" in message
    assert "relative error" in message and "finite differences" in message


def test_check_grads_catches_a_wrong_partial_in_the_dual_region_mode():
    with pytest.raises(AssertionError, match=r"dual-region gradient \(mode='forward'\) of argument 1"):
        check_grads(wrong_partial_sin, arrays((4,), np.float64), arrays((4,), np.float64), modes=("fwd",))


def test_check_rule_catches_a_wrong_partial():
    with pytest.raises(AssertionError) as failure:
        check_rule(wrong_partial_sin, max_examples=10)
    message = str(failure.value)
    assert "check_rule(wrong_partial_sin)" in message and "argument 1" in message
    assert "wrong gradient" in message and "seed" in message and "shapes" in message


@mixedad.primitive
def wrong_vjp_sin(x):
    return np.sin(x)


wrong_vjp_sin.defvjp(lambda g, out, x: -g * np.cos(x))


def test_check_grads_catches_a_wrong_vjp():
    with pytest.raises(AssertionError) as failure:
        check_grads(wrong_vjp_sin, np.linspace(0.0, 1.0, 5))
    message = str(failure.value)
    assert "check_grads(wrong_vjp_sin)" in message and "argument 0" in message
    assert "<J^T u, v>" in message and "<u, J v>" in message


def test_check_grads_catches_a_wrong_vjp_inside_a_larger_function():
    with pytest.raises(AssertionError, match="argument 0"):
        check_grads(lambda x: np.exp(wrong_vjp_sin(x)) * 2.0, np.linspace(0.0, 1.0, 5))


@mixedad.primitive
def add_vec_wrong_axis(x, b):
    return x + b


add_vec_wrong_axis.defvjp(lambda g, out, x, b: g, lambda g, out, x, b: np.sum(g, axis=1))


def test_check_grads_catches_a_cotangent_summed_over_the_wrong_axis():
    # square x: the wrongly reduced cotangent has b's shape, so only the values are wrong
    with pytest.raises(AssertionError) as failure:
        check_grads(add_vec_wrong_axis, arrays((4, 4), np.float64), arrays((4,), np.float64))
    assert "argument 1" in str(failure.value) and "disagrees" in str(failure.value)


def test_check_grads_catches_a_cotangent_that_does_not_broadcast():
    with pytest.raises(AssertionError) as failure:
        check_grads(add_vec_wrong_axis, arrays((3, 4), np.float64), arrays((4,), np.float64))
    message = str(failure.value)
    assert "reverse rule (vjp) for argument 1 returns shape (3,)" in message
    assert "does not broadcast to the argument's shape (4,)" in message


@mixedad.primitive
def scale_rows(a, b):
    return a * b[:, None]


scale_rows.defvjp(lambda g, out, a, b: g * b[:, None], lambda g, out, a, b: np.sum(g * a, axis=1, keepdims=True))


def test_a_cotangent_that_needs_both_a_sum_and_a_stretch_is_refused():
    """(4, 1) for a (4,) argument: broadcast against it, it is (4, 4), and unbroadcasting would
    give every entry the same sum. Neither side broadcasts to the other, so mixedad raises."""
    a, b = np.random.default_rng(0).standard_normal((4, 4)), np.random.default_rng(1).standard_normal(4)
    with pytest.raises(ValueError, match=r"\(4, 1\) neither broadcasts to the shape \(4,\)"):
        mixedad.gradient(lambda b: np.sum(scale_rows(a, b) ** 2), b)
    with pytest.raises(AssertionError, match=r"returns shape \(4, 1\), which does not broadcast"):
        check_grads(scale_rows, arrays((4, 4), np.float64), arrays((4,), np.float64))


def test_check_grads_reports_a_rule_that_fails_inside_a_larger_function():
    with pytest.raises(AssertionError, match=r"mode='reverse'\) raised ValueError"):
        check_grads(lambda x, b: np.sum(add_vec_wrong_axis(x, b)) * 2.0,
                    arrays((3, 4), np.float64), arrays((4,), np.float64))


@mixedad.primitive
def upcasting_double(x):
    return 2.0 * x


upcasting_double.defvjp(lambda g, out, x: g * np.full(np.shape(x), 2.0))  # np.full: float64


def test_the_engine_hides_a_vjp_upcast_from_the_gradient_dtype():
    grad = mixedad.gradient(lambda x: np.sum(upcasting_double(x)), np.ones(3, np.float32))
    assert grad.dtype == np.float32  # which is why the checker calls the rule itself


def test_check_grads_catches_a_float32_upcast_in_a_vjp():
    with pytest.raises(AssertionError) as failure:
        check_grads(upcasting_double, np.ones(3, np.float32))
    message = str(failure.value)
    assert "check_grads(upcasting_double)" in message
    assert "reverse rule (vjp) for argument 0 returns float64 for float32 inputs" in message


@mixedad.primitive(elementwise=True)
def upcasting_partial_sin(x):
    return np.sin(x)


upcasting_partial_sin.defpartials(lambda x: np.cos(x) * np.float64(1.0))


def test_check_grads_and_check_rule_catch_a_float32_upcast_in_a_partial():
    with pytest.raises(AssertionError, match="partial derivative for argument 0 returns float64"):
        check_grads(upcasting_partial_sin, np.ones(3, np.float64))  # audited on float32 copies
    with pytest.raises(AssertionError, match="partial derivative for argument 0 returns float64 "
                                             "for float32 arguments"):
        check_rule(upcasting_partial_sin, max_examples=10, dtypes=(np.float32,))


@mixedad.primitive(elementwise=True)
def upcasting_function(x):
    return np.sin(x) + np.float64(0.0)


upcasting_function.defpartials(lambda x: np.cos(x))


def test_check_rule_and_check_grads_catch_a_primitive_that_returns_float64():
    with pytest.raises(AssertionError, match="returns float64 for float32"):
        check_rule(upcasting_function, max_examples=10)
    with pytest.raises(AssertionError, match="primitive returns float64 for float32 inputs"):
        check_grads(upcasting_function, np.ones(2, np.float32))


@mixedad.primitive
def sine_with_wrong_jvp(x):
    return np.sin(x)


sine_with_wrong_jvp.defvjp(lambda g, out, x: g * np.cos(x))
sine_with_wrong_jvp.defjvp(lambda t, out, x: t * np.sin(x))


def test_check_grads_catches_a_wrong_jvp_in_forward_mode_only():
    x = np.linspace(0.0, 1.0, 4)
    with pytest.raises(AssertionError, match=r"forward rule \(defjvp\) disagrees"):
        check_grads(sine_with_wrong_jvp, x)
    check_grads(sine_with_wrong_jvp, x, modes=("rev",))


@mixedad.primitive
def wiggly_sin(x):
    return np.sin(x)


# within rtol=1e-3 of cos(x), but its own derivative is off by ~1e-2
wiggly_sin.defvjp(lambda g, out, x: g * (np.cos(x) + 1e-4 * np.sin(100.0 * x)))


def test_order_two_catches_what_order_one_tolerates():
    x = np.linspace(0.0, 1.0, 5)
    check_grads(wiggly_sin, x, rtol=1e-3)
    with pytest.raises(AssertionError, match=r"check_grads\(wiggly_sin, order=2\)"):
        check_grads(wiggly_sin, x, rtol=1e-3, order=2)


def test_float32_tolerances_are_looser_than_float64():
    @mixedad.primitive(elementwise=True)
    def slightly_off(x):
        return np.sin(x)

    slightly_off.defpartials(lambda x: np.cos(x) * (1.0 + 1e-4))
    check_grads(slightly_off, np.linspace(0.1, 1.0, 5).astype(np.float32))
    with pytest.raises(AssertionError, match="rtol 1e-06"):
        check_grads(slightly_off, np.linspace(0.1, 1.0, 5))
    with pytest.raises(AssertionError, match="rtol 1e-05"):
        check_grads(slightly_off, np.linspace(0.1, 1.0, 5).astype(np.float32), rtol=1e-5)


# --- the reference itself, and argument handling -----------------------------------------------
def test_finite_differences_agree_with_the_tests_yardstick():
    # check_grads' projection identity on a function with a known gradient, through tests/numerical.py
    x = np.linspace(-1.0, 1.0, 6)
    reference = numerical_gradient(lambda x: np.sum(np.tanh(x) * x), x)
    grad = mixedad.gradient(lambda x: np.sum(np.tanh(x) * x), x)
    assert np.allclose(grad, reference, rtol=1e-6)
    check_grads(lambda x: np.tanh(x) * x, x)


def test_check_grads_reports_finite_differences_leaving_the_domain():
    with pytest.raises(AssertionError, match="not finite"):
        check_grads(lambda x: np.sqrt(x), np.array([0.0, 1.0]), eps=1e-3)


def test_check_grads_argument_errors():
    with pytest.raises(ValueError, match="modes"):
        check_grads(np.sin, np.ones(2), modes=("sideways",))
    with pytest.raises(ValueError, match="order"):
        check_grads(np.sin, np.ones(2), order=3)
    with pytest.raises(ValueError, match="no floating-point argument"):
        check_grads(lambda n: np.ones(2) * n, 3)


def test_check_rule_argument_errors(monkeypatch):
    with pytest.raises(TypeError, match="elementwise"):
        check_rule(logsumexp)
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    with pytest.raises(ImportError, match="check_rule needs hypothesis"):
        check_rule(softplus)


def test_audit_rules_accepts_python_numbers_and_builtin_rules():
    audit_rules(builtin.true_divide, [np.ones(3), 2.0])
    audit_rules(builtin.maximum, [np.ones(3), np.zeros(3)])
    audit_rules(polar, [np.ones(3), np.ones(3)])


@pytest.mark.parametrize("seed", range(4))
def test_large_values_with_small_variation_do_not_fail_by_rounding(seed):
    # <u, f> ~ 1e8 while its derivative is ~1: without a budget for the finite differences'
    # rounding, every one of these seeds fails
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, (3, 4))
    check_grads(lambda x, y: x + 1e7 + np.cos(y), x, x[::-1], seed=seed)
    with pytest.raises(AssertionError, match="argument 0"):
        check_grads(lambda x: wrong_vjp_sin(x) + 1e7, x, seed=seed)


_residuals = {}


@mixedad.primitive
def sum_exp_with_a_saved_residual(x):
    s = np.exp(x)
    _residuals["s"] = s  # a plain array: the rule's result does not depend on x to second order
    return np.sum(s)


sum_exp_with_a_saved_residual.defvjp(lambda g, out, x: g * _residuals["s"])


def test_check_grads_order_2_runs_forward_over_reverse():
    # first derivatives are right, and so are finite differences of the gradient; hvp and
    # hessian (forward over reverse) see a constant residual and give 0
    x = np.array([0.3, -1.2, 2.0])
    check_grads(sum_exp_with_a_saved_residual, x)
    assert not np.any(mixedad.hessian(sum_exp_with_a_saved_residual, x))
    with pytest.raises(AssertionError, match="forward over reverse"):
        check_grads(sum_exp_with_a_saved_residual, x, order=2)


@mixedad.primitive
def cube_with_a_plain_reverse_rule(x):
    return x ** 3


# np.asarray on the cotangent: fine in a gradient, impossible in the forward rule derived from it
cube_with_a_plain_reverse_rule.defvjp(lambda g, out, x: np.asarray(g) * 3 * x ** 2)


def test_check_grads_runs_forward_mode_through_a_derived_forward_rule():
    x = np.array([0.3, -1.2, 2.0])
    check_grads(cube_with_a_plain_reverse_rule, x, modes=("rev",))
    with pytest.raises(AssertionError, match=r"mixedad.jvp raised"):
        check_grads(cube_with_a_plain_reverse_rule, x)


@mixedad.primitive
def upcast_sum_of_squares(x):
    return np.sum(x.astype(np.float64) ** 2)  # np.float64 for float32 x: a float subclass, but not weak


upcast_sum_of_squares.defvjp(lambda g, out, x: 2.0 * g * x)


def test_check_grads_catches_a_numpy_float64_scalar_result():
    with pytest.raises(AssertionError, match="float64"):
        check_grads(upcast_sum_of_squares, np.ones(3, np.float32))
