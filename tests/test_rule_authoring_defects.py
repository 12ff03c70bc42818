"""Defects of the rule-authoring path, each fixed with a test: keyword options of sympy-derived
primitives, primitives returning a dict, partials with the wrong signature, forward-mode errors
without the user's line, check_grads on integer outputs and on forward rules returning None
tangents, and integer domains in float32. Gradients are compared with central finite differences
in float64 (tests/numerical.py), never with values the code under test computed."""
import numpy as np
import pytest

import mixedad
from mixedad.checking import check_grads, check_rule
from mixedad.core.errors import MissingRuleError, OutputError, RuleSignatureError, UnsupportedOperationError
from mixedad.rules.table import Domain
from mixedad.symbolic import derived_elementwise

from numerical import numerical_gradient

MODES = ("auto", "reverse", "forward")
X = np.array([0.3, -1.2, 0.8, 2.0])


def where(function, offset=1):
    """``file:line`` of the line ``offset`` lines below ``function``'s ``def``: where it calls a primitive."""
    return f"{__file__}:{function.__code__.co_firstlineno + offset}"


# --- 1. derived_elementwise with keyword options ---------------------------------------------------
@derived_elementwise
def scaled_sin(x, *, scale=2.0):
    return scale * np.sin(x)


@derived_elementwise
def affine(x, y, shift=0.0, *, slope=1.0):
    return slope * x + y + shift   # constant partials: slope and 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", (np.float32, np.float64))
def test_derived_elementwise_takes_keyword_options(mode, dtype):
    x = X.astype(dtype)
    for scale in (3.0, -0.5, 2.0):
        def loss(x, scale=scale):
            return np.sum(scaled_sin(x, scale=scale) * np.cos(x))
        grad = mixedad.gradient(loss, x, mode=mode)
        assert grad.dtype == dtype
        np.testing.assert_allclose(grad, numerical_gradient(loss, X), rtol=2e-3 if dtype == np.float32 else 1e-7)
    grad = mixedad.gradient(lambda x: np.sum(affine(x, np.ones(4, dtype), slope=-4.0) ** 2), x, mode=mode)
    np.testing.assert_allclose(grad, numerical_gradient(lambda x: np.sum((-4.0 * x + 1.0) ** 2), X), rtol=1e-3)


@derived_elementwise
def scaled_cos(x, scale=2.0):
    return scale * np.cos(x)


@pytest.mark.parametrize("mode", MODES)
def test_derived_elementwise_takes_options_by_position_too(mode):
    for scale in (3.0, np.float32(-0.5), np.array(2.0)):
        def loss(x, scale=scale):
            return np.sum(scaled_cos(x, scale) * np.sin(x))
        np.testing.assert_allclose(mixedad.gradient(loss, X, mode=mode), numerical_gradient(loss, X), rtol=1e-7)
    with pytest.raises(TypeError):  # more arguments than the function takes, as Python says
        mixedad.gradient(lambda x: np.sum(scaled_cos(x, 1.0, 2.0)), X, mode=mode)


@derived_elementwise
def branch_on_option(x, kind="sin"):
    if kind == "sin":
        return np.sin(x)
    return np.cos(x)


@pytest.mark.parametrize("mode", MODES)
def test_derived_elementwise_takes_string_options_by_position(mode):
    for kind, reference in (("sin", lambda x: np.sum(np.sin(x))), ("cos", lambda x: np.sum(np.cos(x)))):
        grad = mixedad.gradient(lambda x: np.sum(branch_on_option(x, kind)), X, mode=mode)
        np.testing.assert_allclose(grad, numerical_gradient(reference, X), rtol=1e-7)


def test_derived_elementwise_keyword_options_forward_and_checkers():
    tangent = mixedad.jvp(lambda x: np.sum(scaled_sin(x, scale=3.0)), (X,), (np.ones(4),))[1]
    assert np.isclose(tangent, np.sum(numerical_gradient(lambda x: np.sum(3.0 * np.sin(x)), X)))
    check_grads(lambda x: scaled_sin(x, scale=-1.5), X)
    check_rule(scaled_sin, max_examples=5)   # the defaults
    with pytest.raises(mixedad.MixedadError, match="scaled_sin was called with keyword arguments"):
        mixedad.gradient(lambda x: np.sum(scaled_sin(x, scale=np.ones(4))), X)


# --- 2. a primitive returning a dict -----------------------------------------------------------------
@mixedad.primitive
def stats(x):
    return {"mean": np.mean(x), "max": np.max(x)}


stats.defvjp(lambda g, out, x: g["mean"] / x.size)


@mixedad.primitive(multiple_outputs=True)
def stats_declared(x):
    return {"mean": np.mean(x), "max": np.max(x)}


stats_declared.defvjp(lambda gs, outs, x: gs[0] / x.size)


def mean_of_stats(x):
    return stats(x)["mean"]


def mean_of_stats_declared(x):
    return stats_declared(x)["mean"]


@pytest.mark.parametrize("loss, name", [(mean_of_stats, "stats"), (mean_of_stats_declared, "stats_declared")])
@pytest.mark.parametrize("transform", ["gradient-auto", "gradient-reverse", "jvp"])
def test_a_primitive_returning_a_dict_gets_a_clear_error(loss, name, transform):
    with pytest.raises(OutputError) as caught:
        if transform == "jvp":
            mixedad.jvp(loss, (X,), (np.ones(4),))
        else:
            mixedad.gradient(loss, X, mode=transform.split("-")[1])
    message = str(caught.value)
    assert f"primitive {name} returned a dict" in message
    assert where(loss) in message                           # the user's line that calls the primitive
    assert "multiple_outputs=True" in message and "tuple of arrays" in message   # what to do instead


# --- 3. partials with the wrong signature -----------------------------------------------------------
def test_a_partial_taking_only_out_is_refused_at_defpartials():
    @mixedad.primitive(elementwise=True)
    def my_exp(x):
        return np.exp(x)

    with pytest.raises(RuleSignatureError) as caught:
        my_exp.defpartials(lambda out: out)
    message = str(caught.value)
    assert "partial derivative for argument 0 of my_exp" in message and "takes (out)" in message
    assert "partial(x, out=out)" in message and "lambda x, out:" in message   # what it should be
    assert f"{__file__}:" in message


def test_a_partial_with_too_few_arguments_is_refused_at_defpartials():
    @mixedad.primitive(elementwise=True)
    def product(x, y):
        return x * y

    with pytest.raises(RuleSignatureError, match=r"argument 0 of product .*takes \(y\).*partial\(x, y\)"):
        product.defpartials(lambda y: y, lambda x, y: x)
    product.defpartials(lambda x, y: y, lambda x, y, out: x)   # correct ones are accepted
    grad = mixedad.gradient(lambda x: np.sum(product(x, x)), X)
    np.testing.assert_allclose(grad, numerical_gradient(lambda x: np.sum(x * x), X), rtol=1e-7)


@pytest.mark.parametrize("mode", MODES)
def test_a_partial_that_does_not_take_the_calls_keywords_names_the_rule(mode):
    @mixedad.primitive(elementwise=True)
    def scaled_cos(x, *, scale=1.0):
        return scale * np.cos(x)

    scaled_cos.defpartials(lambda x: -np.sin(x))   # forgets scale: fine until a call passes it
    grad = mixedad.gradient(lambda x: np.sum(scaled_cos(x)), X, mode=mode)
    np.testing.assert_allclose(grad, numerical_gradient(lambda x: np.sum(np.cos(x)), X), rtol=1e-7)
    with pytest.raises(RuleSignatureError) as caught:
        mixedad.gradient(lambda x: np.sum(scaled_cos(x, scale=2.0)), X, mode=mode)
    assert "partial derivative for argument 0 of scaled_cos" in str(caught.value)
    assert "scale=scale" in str(caught.value)


# --- 4. forward-mode errors name the user's line, as reverse-mode ones do -----------------------------
@mixedad.primitive(elementwise=True)
def no_partials(x):
    return np.sin(x)


@mixedad.primitive(elementwise=True)
def half_partials(x, y):
    return np.sin(x) * y


half_partials.defpartials(lambda x, y: np.cos(x) * y, None)


@mixedad.primitive
def no_rules(x):
    return np.sum(np.sin(x))


@mixedad.primitive
def jvp_for_first(x, y):
    return np.sum(np.sin(x) * y)


jvp_for_first.defjvp(lambda t, out, x, y: np.sum(np.cos(x) * y * t), None)


@mixedad.primitive
def vjp_for_first(x, y):
    return np.sum(np.sin(x) * y)


vjp_for_first.defvjp(lambda g, out, x, y: g * np.cos(x) * y, None)


def uses_no_partials(x):
    return np.sum(no_partials(x))


def uses_half_partials(x):
    return np.sum(half_partials(1.0, x))


def uses_no_rules(x):
    return no_rules(x)


def uses_jvp_for_first(x):
    return jvp_for_first(x, x)


def uses_vjp_for_first(x):
    return vjp_for_first(x, x)


@pytest.mark.parametrize("loss, words", [
    (uses_no_partials, "no_partials is an elementwise primitive without partial derivatives"),
    (uses_half_partials, "half_partials has no partial derivative for argument 1"),
    (uses_no_rules, "primitive no_rules has no forward rule (jvp)"),
    (uses_jvp_for_first, "primitive jvp_for_first has no forward rule (jvp) for argument 1"),
    (uses_vjp_for_first, "primitive vjp_for_first has no reverse rule (vjp), from which its forward rule"),
])
@pytest.mark.parametrize("transform", ["jvp", "jacobian"])
def test_missing_rule_errors_in_forward_mode_name_the_users_line(loss, words, transform):
    with pytest.raises(MissingRuleError) as caught:
        if transform == "jvp":
            mixedad.jvp(loss, (X,), (np.ones(4),))
        else:
            mixedad.jacobian(lambda x: loss(x)[None], X, mode="forward")
    assert words in str(caught.value)
    assert where(loss) in str(caught.value)


def test_reverse_mode_names_the_line_of_the_same_missing_rules():  # the yardstick the forward errors now meet
    for loss in (uses_no_partials, uses_no_rules, uses_vjp_for_first):
        with pytest.raises(MissingRuleError, match=where(loss)):
            mixedad.gradient(loss, X)


@mixedad.primitive
def failing_rules(x):
    return np.sum(np.sin(x))


failing_rules.defjvp(lambda t, out, x: t.no_such_attribute)  # rules with a bug
failing_rules.defvjp(lambda g, out, x: g.no_such_attribute)


def uses_failing_rules(x):
    return failing_rules(x) * 2.0


def test_an_exception_in_a_forward_rule_gets_a_note_with_the_users_line():
    with pytest.raises(AttributeError) as caught:
        mixedad.jvp(uses_failing_rules, (X,), (np.ones(4),))
    notes = getattr(caught.value, "__notes__", [])
    assert any(n.startswith("mixedad: in the forward rule of failing_rules") and where(uses_failing_rules) in n
               for n in notes), notes
    with pytest.raises(AttributeError) as caught:   # the reverse sweep's note, for comparison
        mixedad.gradient(uses_failing_rules, X)
    assert any("in the reverse rule of failing_rules" in n for n in caught.value.__notes__)


@mixedad.primitive
def complex_exp(x):
    return np.exp(1j * x)


complex_exp.defvjp(lambda g, out, x: g)


def real_of_complex_exp(x):
    return np.sum(np.real(complex_exp(x)))


@pytest.mark.parametrize("transform", ["gradient", "jvp"])
def test_a_complex_result_is_refused_in_forward_mode_too(transform):
    # forward mode used to return a zero tangent here, silently
    with pytest.raises(UnsupportedOperationError, match="complex_exp on a traced value gives a complex result at "
                       + where(real_of_complex_exp) + ".*, and mixedad has no complex rule"):
        if transform == "jvp":
            mixedad.jvp(real_of_complex_exp, (X,), (np.ones(4),))
        else:
            mixedad.gradient(real_of_complex_exp, X)


# --- 5. check_grads with integer outputs ---------------------------------------------------------------
@mixedad.primitive(multiple_outputs=True)
def max_and_argmax(x):
    return np.max(x), np.argmax(x)


@max_and_argmax.defvjp
def max_and_argmax_vjp(gs, outs, x):
    return np.where(np.arange(x.size) == outs[1], gs[0], 0.0)


@mixedad.primitive(multiple_outputs=True)
def sin_and_count(x):
    return np.sum(x > 0), np.sin(x), np.ones(2, dtype=bool)


sin_and_count.defvjp(lambda gs, outs, x: gs[1] * np.cos(x))
sin_and_count.defjvp(lambda t, outs, x: (None, t * np.cos(x), None))


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
def test_check_grads_passes_correct_primitives_with_integer_outputs(dtype):
    x = X.astype(dtype)
    check_grads(max_and_argmax, x)
    check_grads(sin_and_count, x)
    grad = mixedad.gradient(lambda x: max_and_argmax(x)[0] * 3.0, X)
    np.testing.assert_allclose(grad, numerical_gradient(lambda x: np.max(x) * 3.0, X), atol=1e-8)


def test_check_grads_still_fails_a_wrong_rule_with_integer_outputs():
    @mixedad.primitive(multiple_outputs=True)
    def bad_max_and_argmax(x):
        return np.max(x), np.argmax(x)

    bad_max_and_argmax.defvjp(lambda gs, outs, x: np.where(np.arange(x.size) == outs[1], 2.0 * gs[0], 0.0))
    with pytest.raises(AssertionError, match="bad_max_and_argmax.*disagrees with central finite differences"):
        check_grads(bad_max_and_argmax, X)


# --- 6. check_grads on forward rules returning None tangents ----------------------------------------
@mixedad.primitive
def sin_plus_nothing(x, y):
    return np.sin(x) + 0.0 * y


sin_plus_nothing.defvjp(lambda g, out, x, y: g * np.cos(x), lambda g, out, x, y: None)
sin_plus_nothing.defjvp(lambda t, out, x, y: t * np.cos(x), lambda t, out, x, y: None)


@mixedad.primitive(multiple_outputs=True)
def product_and_cos(x, y):
    return np.sin(x) * y, np.cos(y)


product_and_cos.defvjp(lambda gs, outs, x, y: (gs[0] * np.cos(x) * y, gs[0] * np.sin(x) - gs[1] * np.sin(y)))
product_and_cos.defjvp(lambda t, outs, x, y: (t * np.cos(x) * y, None),       # cos(y) does not depend on x
                       lambda t, outs, x, y: (t * np.sin(x), -t * np.sin(y)))


@mixedad.primitive(multiple_outputs=True)
def constant_and_sin(x):
    return np.ones(2, x.dtype), np.sin(x)


constant_and_sin.defvjp(lambda gs, outs, x: gs[1] * np.cos(x))
constant_and_sin.defjvp(lambda t, outs, x: (None, t * np.cos(x)))


@mixedad.primitive
def constant(x):
    return np.zeros_like(x) + 1.0


constant.defvjp(lambda g, out, x: None)
constant.defjvp(lambda t, out, x: None)


@pytest.mark.parametrize("prim, args", [(sin_plus_nothing, (X, X[::-1].copy())),
                                        (product_and_cos, (X, X[::-1].copy())),
                                        (constant_and_sin, (X,)), (constant, (X,))])
@pytest.mark.parametrize("dtype", (np.float32, np.float64))
def test_check_grads_reads_none_tangents_as_zero(prim, args, dtype):
    check_grads(prim, *[a.astype(dtype) for a in args])


def test_check_grads_still_fails_a_wrong_forward_rule_with_none_tangents():
    @mixedad.primitive(multiple_outputs=True)
    def bad_product_and_cos(x, y):
        return np.sin(x) * y, np.cos(y)

    bad_product_and_cos.defvjp(product_and_cos.vjp_rules[0])
    bad_product_and_cos.defjvp(lambda t, outs, x, y: (t * np.cos(x) * y, None),
                               lambda t, outs, x, y: (t * np.sin(x), None))   # misses -t sin(y)
    with pytest.raises(AssertionError, match="bad_product_and_cos.*forward"):
        check_grads(bad_product_and_cos, X, X[::-1].copy())

    @mixedad.primitive
    def not_constant(x):
        return np.sin(x)

    not_constant.defvjp(lambda g, out, x: g * np.cos(x))
    not_constant.defjvp(lambda t, out, x: None)   # None is a zero tangent: wrong here
    with pytest.raises(AssertionError, match=r"not_constant\): the forward rule \(defjvp\) disagrees"):
        check_grads(not_constant, X)


def test_check_grads_explains_a_forward_rule_with_the_wrong_number_of_tangents():
    @mixedad.primitive(multiple_outputs=True)
    def two_outputs(x):
        return np.sin(x), np.cos(x)

    two_outputs.defvjp(lambda gs, outs, x: gs[0] * np.cos(x) - gs[1] * np.sin(x))
    two_outputs.defjvp(lambda t, outs, x: t * np.cos(x))   # one tangent for two outputs
    with pytest.raises(AssertionError, match=r"forward rule \(jvp\) returns an array; .*tuple of 2 tangents"):
        check_grads(two_outputs, X)


# --- 7. integer domains in float32 ------------------------------------------------------------------
@mixedad.primitive(elementwise=True)
def integer_power(x, n):
    return x ** n


integer_power.defpartials(lambda x, n: n * x ** (n - 1), None)
integer_power.domain = (Domain(0.5, 2.0), Domain(1, 3, integer=True))


def test_integer_domains_keep_float32_float32():
    assert Domain(1, 3, integer=True).integer_dtype(np.float32) == np.int16
    assert Domain(1, 3, integer=True).integer_dtype(np.float16) == np.int8
    assert Domain(1, 3, integer=True).integer_dtype(np.float64) == np.int32
    check_rule(integer_power, max_examples=15, dtypes=(np.float32,))
    check_rule(integer_power, max_examples=15, dtypes=(np.float64,))


def test_integer_domains_in_float32_still_catch_a_wrong_partial():
    @mixedad.primitive(elementwise=True)
    def bad_integer_power(x, n):
        return x ** n

    bad_integer_power.defpartials(lambda x, n: (n + 1) * x ** (n - 1), None)
    bad_integer_power.domain = integer_power.domain
    with pytest.raises(AssertionError, match="bad_integer_power.*wrong gradient for argument 0"):
        check_rule(bad_integer_power, max_examples=15, dtypes=(np.float32,))


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("declared", [(lambda x, y: np.exp(y), None), (lambda x, y: np.exp(y),)],
                         ids=["None partial", "too few partials"])
def test_a_differentiated_argument_without_a_partial_is_named_with_the_users_line(mode, declared):
    prim = mixedad.primitive(lambda x, y: x * np.exp(y), elementwise=True)
    prim.defpartials(*declared)
    x = np.ones(3)
    with pytest.raises(mixedad.MissingRuleError, match="argument 1") as caught:
        mixedad.gradient(lambda y: np.sum(prim(x, y)), x, mode=mode)  # the line named
    assert "test_rule_authoring_defects.py" in str(caught.value) and "prim(x, y)" in str(caught.value)
    # the other argument, which has its partial, still differentiates
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(prim(x, np.zeros(3))), x, mode=mode), 1.0)
