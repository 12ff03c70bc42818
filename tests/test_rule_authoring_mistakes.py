"""Mistakes a rule author makes that used to give silently wrong derivatives, or misleading
errors, each now caught where mixedad can see it: a reverse rule writing into ``g``, rules
listed per positional argument past ``nondiff_argnums``, forward rules of the wrong structure,
integer cotangents; and the checker's dtype audit (an int64 exponent is no upcast of the
rule's, a float16 cotangent loses precision). Derivatives are compared with float64 central
differences (tests/numerical.py)."""
import numpy as np
import pytest

import mixedad
from mixedad.checking import audit_rules, check_grads
from mixedad.core.errors import MissingRuleError, MixedadError

from numerical import numerical_gradient

X = np.array([0.1, -0.4, 0.9, 1.3, -2.0])
W = np.arange(1.0, 6.0)


def _sine(vjp=None, jvp=None, name="sine"):
    prim = mixedad.primitive(lambda x: np.sin(x))
    prim.name = name
    if vjp is not None:
        prim.defvjp(vjp)
    if jvp is not None:
        prim.defjvp(jvp)
    return prim


def _updating_g(g, out, x):
    g *= np.cos(x)  # the mistake: np.add's reverse rule gave this same g to the other operand
    return g


def _updating_t(t, out, x):
    t *= np.cos(x)
    return t


@pytest.mark.parametrize("mode", ["reverse", "auto"])
def test_a_reverse_rule_writing_into_g_raises_instead_of_changing_a_sibling(mode):
    correct = _sine(vjp=lambda g, out, x: g * np.cos(x))
    updating = _sine(vjp=_updating_g, name="updating_sine")

    def loss(x):
        return np.sum(W * (correct(x) + updating(x)))

    with pytest.raises(ValueError, match="read-only") as raised:
        mixedad.gradient(loss, X, mode=mode)
    notes = "\n".join(getattr(raised.value, "__notes__", []))
    assert "_updating_g wrote into its cotangent g" in notes and "g = g * c" in notes
    fixed = _sine(vjp=lambda g, out, x: g * np.cos(x))
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(W * (correct(x) + fixed(x))), X, mode=mode),
                               numerical_gradient(lambda x: np.sum(W * 2 * np.sin(x)), X), rtol=1e-7)


def test_a_forward_rule_writing_into_its_tangent_raises_and_the_callers_tangent_stays_writeable():
    updating = _sine(vjp=lambda g, out, x: g * np.cos(x), jvp=_updating_t)
    tangent = np.ones(5)
    with pytest.raises(ValueError, match="read-only") as raised:
        mixedad.jvp(updating, (X,), (tangent,))
    assert "wrote into its tangent" in "\n".join(raised.value.__notes__)
    assert tangent.flags.writeable and np.all(tangent == 1.0)  # the caller's array, as it was


def test_a_correct_rule_sees_a_read_only_g_and_the_sweep_goes_on_writing_its_own_buffers():
    seen = []

    def vjp(g, out, x):
        seen.append(g.flags.writeable)
        return g * np.cos(x)

    prim = _sine(vjp=vjp)

    def loss(x):
        y = prim(x)
        return np.sum(W * y) + np.sum(y * y) + np.sum(prim(x[::-1]) * W)  # cotangents summed in place

    expected = numerical_gradient(lambda x: np.sum(W * np.sin(x)) + np.sum(np.sin(x) ** 2)
                                  + np.sum(np.sin(x[::-1]) * W), X)
    for mode in ("reverse", "auto"):
        np.testing.assert_allclose(mixedad.gradient(loss, X, mode=mode), expected, rtol=1e-7)
    assert seen and not any(seen)


def test_rules_listed_per_positional_argument_past_nondiff_argnums_are_refused():
    prim = mixedad.primitive(lambda a, k, b: a * k + b * b, nondiff_argnums=(1,))
    with pytest.raises(MixedadError, match=r"argument k \(nondiff_argnums\) is not differentiated.*\(a, b\)"):
        prim.defvjp(lambda g, out, a, k, b: g * k, lambda g, out, a, k, b: g * a, lambda g, out, a, k, b: 2 * g * b)
    with pytest.raises(MixedadError, match="one rule per differentiable argument"):
        prim.defjvp(lambda t, out, a, k, b: t * k, None, lambda t, out, a, k, b: 2 * t * b)
    prim.defvjp(lambda g, out, a, k, b: g * k, lambda g, out, a, k, b: 2 * g * b)  # one per differentiable one
    k, b = np.full(5, 0.5), np.linspace(1.0, 3.0, 5)
    ga, gb = mixedad.gradient(lambda a, b: np.sum(prim(a, k, b)), X, b, argnums=(0, 1))
    np.testing.assert_allclose(ga, numerical_gradient(lambda a: np.sum(a * k + b * b), X), rtol=1e-7)
    np.testing.assert_allclose(gb, numerical_gradient(lambda b: np.sum(X * k + b * b), b), rtol=1e-7)


def test_optional_arguments_are_not_mistaken_for_rules_per_position():
    def scaled(a, k, b=None, c=None):
        return a * k + (0.0 if b is None else b * b)

    prim = mixedad.primitive(scaled, nondiff_argnums=(1,))
    prim.defvjp(lambda g, out, a, k, b=None, c=None: g * k, lambda g, out, a, k, b=None, c=None: 2 * g * b,
                lambda g, out, a, k, b=None, c=None: None)  # three rules for a, b, c: four parameters
    k = np.full(5, 0.5)
    np.testing.assert_allclose(mixedad.gradient(lambda b: np.sum(prim(X, k, b)), X),
                               numerical_gradient(lambda b: np.sum(X * k + b * b), X), rtol=1e-7)


def test_a_forward_rule_of_several_outputs_must_return_one_tangent_per_output():
    sincos = mixedad.primitive(lambda x: (np.sin(x), np.cos(x)), multiple_outputs=True)
    sincos.name = "sincos"
    sincos.defvjp(lambda gs, outs, x: gs[0] * np.cos(x) - gs[1] * np.sin(x))
    sincos.defjvp(lambda t, outs, x: t * np.cos(x))  # the mistake: one array, spread over the two outputs
    with pytest.raises(MissingRuleError, match="forward rule \\(jvp\\) of sincos must return a tuple of 2"):
        mixedad.jvp(sincos, (X,), (np.ones(5),))
    sincos.defjvp(lambda t, outs, x: (t * np.cos(x), -t * np.sin(x)))
    _, (t_sin, t_cos) = mixedad.jvp(sincos, (X,), (np.ones(5),))
    np.testing.assert_allclose(t_sin, numerical_gradient(lambda x: np.sum(np.sin(x)), X), rtol=1e-7)
    np.testing.assert_allclose(t_cos, numerical_gradient(lambda x: np.sum(np.cos(x)), X), rtol=1e-7)


def test_a_tangent_that_does_not_broadcast_to_the_output_names_the_rule():
    prim = _sine(vjp=lambda g, out, x: g * np.cos(x), jvp=lambda t, out, x: (t * np.cos(x))[:, None])
    with pytest.raises(ValueError, match=r"forward rule \(jvp\) of sine returned a tangent of shape \(5, 1\)"):
        mixedad.jvp(prim, (X,), (np.ones(5),))


def test_a_tangent_broadcast_like_a_cotangent_is_spread_over_the_output():
    # a + x with a scalar a: the tangent of a is the same at every output element
    shift = mixedad.primitive(lambda a, x: a + x)
    shift.defvjp(lambda g, out, a, x: g, lambda g, out, a, x: g)
    shift.defjvp(lambda t, out, a, x: t, lambda t, out, a, x: t)
    _, tangent = mixedad.jvp(lambda a: shift(a, X) ** 2, (np.float64(0.7),), (np.float64(1.0),))
    np.testing.assert_allclose(tangent, 2 * (0.7 + X), rtol=1e-12)
    np.testing.assert_allclose(mixedad.gradient(lambda a: np.sum(shift(a, X) ** 2), np.float64(0.7)),
                               numerical_gradient(lambda a: np.sum((a + X) ** 2), np.array(0.7)), rtol=1e-7)


@pytest.mark.parametrize("mode", ["reverse", "auto"])
def test_an_integer_cotangent_raises_instead_of_truncating(mode):
    truncating = _sine(vjp=lambda g, out, x: np.sign(x).astype(np.int64) * g.astype(np.int64), name="truncating")
    with pytest.raises(TypeError, match="int64 for a float64 argument") as raised:
        mixedad.gradient(lambda x: np.sum(0.5 * truncating(x)), X, mode=mode)
    assert "reverse rule of truncating returned a cotangent of shape (5,) (int64)" in "\n".join(raised.value.__notes__)


def test_a_cotangent_that_does_not_fit_the_output_says_so():
    square = mixedad.primitive(lambda x: x * x, elementwise=True)
    square.name = "square"
    square.defpartials(lambda x: 2.0 * x[:, None])  # the mistake: a (5, 1) partial for a (5,) output
    with pytest.raises(ValueError, match=r"shape \(5, 1\) does not broadcast to the shape \(5,\)") as raised:
        mixedad.gradient(lambda x: np.sum(square(x)), X)
    assert "reverse rule of a dual region (square → sum)" in "\n".join(raised.value.__notes__)


def test_the_audit_follows_numpys_promotion_by_an_integer_exponent():
    power = mixedad.primitive(lambda x, n: x ** n, nondiff_argnums=(1,))
    power.name = "power"
    power.defvjp(lambda g, out, x, n: g * n * x ** (n - 1))
    x = np.array([1.1, 1.2, 1.9])
    for exponent in (3, np.int64(3), np.full(3, 3, np.int64)):
        check_grads(power, x, exponent)  # float32 ** int64 is float64 in NumPy itself: not the rule's upcast
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(power(x, np.int64(3))), x),
                               numerical_gradient(lambda x: np.sum(x ** 3), x), rtol=1e-7)


def test_the_audit_flags_precision_lost_and_integer_or_list_cotangents():
    x32 = np.linspace(0.2, 1.0, 4, dtype=np.float32)
    lossy = _sine(vjp=lambda g, out, x: (g * np.cos(x)).astype(np.float16), name="lossy")
    with pytest.raises(AssertionError, match="returns float16 for float32 inputs and a float32 output"):
        check_grads(lossy, x32)
    truncating = _sine(vjp=lambda g, out, x: (g * np.cos(x)).astype(np.int64), name="truncating")
    with pytest.raises(AssertionError, match="returns int64: a derivative computed in integers"):
        audit_rules(truncating, [x32])
    listing = _sine(vjp=lambda g, out, x: list(g * np.cos(x)), name="listing")
    with pytest.raises(AssertionError, match="returns a list: return an array"):
        check_grads(listing, x32)
    half = mixedad.primitive(lambda x: x.astype(np.float16))
    half.defvjp(lambda g, out, x: g)  # a float16 output: its cotangent has float16's precision anyway
    audit_rules(half, [x32])


def test_the_audit_reports_its_own_findings_once():
    sincos = mixedad.primitive(lambda x: (np.sin(x), np.cos(x)), multiple_outputs=True)
    sincos.name = "sincos"
    sincos.defvjp(lambda gs, outs, x: gs[0] * np.cos(x) - gs[1] * np.sin(x))
    sincos.defjvp(lambda t, outs, x: t * np.cos(x))
    with pytest.raises(AssertionError) as raised:
        check_grads(sincos, X)
    assert str(raised.value).count("check_grads(sincos)") == 1 and "tuple of 2 tangents" in str(raised.value)


def _skipping_zero_cotangents(g, out, x):
    if not np.any(g):  # a shortcut that is harmless in a reverse pass
        return None
    return g * np.cos(x)


def _converging_on_g(g, out, x):
    w, previous = g, 0.0 * g  # an implicit-function rule solved by iteration (autograd's fixed_point)
    while np.max(np.abs(w - previous)) > 1e-12:
        w, previous = g + 0.5 * w, w
    return 0.5 * w * np.cos(x)


def _sign_of_tangent(t, out, x):
    return np.where(t > 0, t, t) * np.cos(x)


@pytest.mark.parametrize("rule", [_skipping_zero_cotangents, _converging_on_g])
def test_a_reverse_rule_that_tests_g_is_not_transposed_into_a_wrong_forward_rule(rule):
    sine = _sine(vjp=rule)
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(sine(x)), X), np.cos(X), rtol=1e-9)  # reverse: fine
    with pytest.raises(MissingRuleError, match=rf"reverse rule of sine looks at the values of its cotangent g.*"
                                               rf"@sine\.defjvp"):
        mixedad.jvp(sine, (X,), (W,))
    with pytest.raises(MissingRuleError, match="reverse rule of sine"):
        mixedad.hvp(lambda x: np.sum(sine(x)), X, W)


def test_a_forward_rule_that_tests_its_tangent_is_not_transposed_into_a_wrong_reverse_rule():
    sine = _sine(jvp=_sign_of_tangent)
    np.testing.assert_allclose(mixedad.jvp(sine, (X,), (W,))[1], np.cos(X) * W, rtol=1e-9)  # forward: fine
    with pytest.raises(MissingRuleError, match=r"forward rule of sine looks at the values of its tangents.*"
                                               r"@sine\.defvjp"):
        mixedad.gradient(lambda x: np.sum(sine(x)), X, mode="reverse")
    both = _sine(vjp=_skipping_zero_cotangents, jvp=_sign_of_tangent)  # each direction has its own rule
    np.testing.assert_allclose(mixedad.hvp(lambda x: np.sum(both(x)), X, W), numerical_gradient(
        lambda x: np.dot(np.cos(x), W), X), rtol=1e-6)
