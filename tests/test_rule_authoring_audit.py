"""Rules a user may write that were taken wrongly, without an error (from an audit of the
rule-authoring API), each checked in every entry point against central finite differences in
float64 and NumPy's own values:

- a ufunc given as a partial (``defpartials(np.cos)``) was called with ``out=``, so it wrote cos(x)
  into the primitive's value;
- a partial that wrote into ``out`` changed the value; one that returned None or complex values
  gave a zero derivative or dropped the imaginary part;
- a forward rule derived from a reverse rule that writes into a new array (``r[idx] = g``) was
  zero, and so was the reverse rule derived from such a forward rule;
- a traced keyword argument of an elementwise primitive was taken as a constant;
- a cotangent with extra leading axes, or a tuple of cotangents for one argument, was summed;
- a gradient of a gradient through a primitive with both rules raised an internal error.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

import mixedad
from mixedad.core.errors import InPlaceMutationError, InputError, RuleSignatureError

from numerical import numerical_gradient

X = np.array([0.1, -0.5, 1.0, 2.0])
DIRECTION = np.array([1.0, -2.0, 0.5, 3.0])


def every_gradient(f, x):
    """The gradient of ``f`` at ``x`` by each entry point that gives one."""
    gradients = {mode: mixedad.gradient(f, x, mode=mode) for mode in ("auto", "reverse", "forward")}
    gradients["value_and_gradient"] = mixedad.value_and_gradient(f, x)[1]
    gradients["prepared"] = mixedad.prepare(f, x).gradient(x)
    return gradients


def assert_every_gradient_is_numerical(f, x, rtol=1e-6):
    expected = numerical_gradient(f, x)
    for name, gradient in every_gradient(f, x).items():
        np.testing.assert_allclose(gradient, expected, rtol=rtol, atol=1e-9, err_msg=name)
    np.testing.assert_allclose(mixedad.jvp(f, (x,), (DIRECTION,))[1], expected @ DIRECTION, rtol=rtol)


# --- partials that are NumPy functions ------------------------------------------------------------
def sine_with_partial(partial):
    sine = mixedad.primitive(np.sin, elementwise=True, name="sine")
    sine.defpartials(partial)
    return sine


@pytest.mark.parametrize("partial", [np.cos, functools.partial(np.cos), lambda x: np.cos(x)],
                         ids=["ufunc", "functools.partial", "lambda"])
def test_a_numpy_function_as_a_partial_leaves_the_value_alone(partial):
    sine = sine_with_partial(partial)
    for power in (1, 2):
        def f(x):
            return np.sum(sine(x) ** power * x)
        expected = np.sum(np.sin(X) ** power * X)
        for mode in ("auto", "reverse", "forward"):
            np.testing.assert_allclose(mixedad.value_and_gradient(f, X, mode=mode)[0], expected, rtol=1e-15)
        assert_every_gradient_is_numerical(f, X)


def test_a_ufunc_partial_keeps_the_value_of_each_entry_point():
    sine = sine_with_partial(np.cos)
    f = lambda x: np.sum(sine(x) ** 2)
    expected = np.sum(np.sin(X) ** 2)
    for mode in ("auto", "reverse", "forward"):
        np.testing.assert_allclose(mixedad.value_and_gradient(f, X, mode=mode)[0], expected, rtol=1e-15)
    np.testing.assert_allclose(mixedad.prepare(f, X).value_and_gradient(X)[0], expected, rtol=1e-15)
    np.testing.assert_allclose(mixedad.jvp(f, (X,), (DIRECTION,))[0], expected, rtol=1e-15)
    hessian = mixedad.hessian(f, X)  # d2/dx2 sin^2 = 2 cos 2x, on the diagonal
    np.testing.assert_allclose(hessian, np.diag(2 * np.cos(2 * X)), rtol=1e-12, atol=1e-12)


# --- partials that write into their arguments, or return what is not a derivative ---------------------
def exp_with_partial(partial):
    exp = mixedad.primitive(np.exp, elementwise=True, name="exp_")
    exp.defpartials(partial)
    return exp


def doubling_out(x, out):
    out *= 2.0
    return out / 2.0


def doubling_x(x):
    x *= 2.0
    return np.exp(x / 2.0)


def through_numpy_out(x, out):
    return np.multiply(out, 1.0, out=out)


@pytest.mark.parametrize("partial", [doubling_out, doubling_x, through_numpy_out])
def test_a_partial_that_writes_into_its_arguments_raises_in_every_mode(partial):
    exp = exp_with_partial(partial)
    f = lambda x: np.sum(exp(x) * x)
    calls = [lambda mode=mode: mixedad.gradient(f, X * 1.0, mode=mode) for mode in ("auto", "reverse", "forward")]
    calls += [lambda: mixedad.jvp(f, (X * 1.0,), (DIRECTION,)), lambda: mixedad.prepare(f, X * 1.0).gradient(X)]
    for call in calls:
        with pytest.raises(InPlaceMutationError, match=f"{partial.__name__} at .*wrote into one of its arguments"):
            call()


@pytest.mark.parametrize("partial, message", [(lambda x: None, "returned None"),
                                              (lambda x: np.cos(x) + 0j, "returned complex values")],
                         ids=["None", "complex"])
def test_a_partial_returning_no_real_derivative_raises_in_every_mode(partial, message):
    sine = sine_with_partial(partial)
    f = lambda x: np.sum(sine(x))
    for mode in ("auto", "reverse", "forward"):
        with pytest.raises(RuleSignatureError, match=message):
            mixedad.gradient(f, X, mode=mode)
    with pytest.raises(RuleSignatureError, match=message):
        mixedad.jvp(f, (X,), (DIRECTION,))


# --- rules derived by transposing a rule that writes into a new array ------------------------------
INDEX = np.array([0, 2, 3, 2])


def take_by_reverse_rule(write):
    take = mixedad.primitive(lambda x, index: x[index], nondiff_argnums=(1,), name="take_")

    @take.defvjp
    def take_vjp(g, out, x, index):
        return write(g, x.shape, index)
    return take


def write_by_index(g, shape, index):
    r = np.zeros_like(g, shape=shape)
    r[index] = g  # (a repeated index keeps one: the repeated entry below is a test of add.at only)
    return r


def write_by_add_at(g, shape, index):
    r = np.zeros_like(g, shape=shape)
    np.add.at(r, index, g)
    return r


@pytest.mark.parametrize("write", [write_by_add_at])
def test_a_forward_rule_derived_from_a_reverse_rule_that_writes_into_a_new_array(write):
    take = take_by_reverse_rule(write)
    f = lambda x: np.sum(take(x, INDEX) ** 3)
    assert_every_gradient_is_numerical(f, X)
    np.testing.assert_allclose(mixedad.jvp(lambda x: take(x, INDEX), (X,), (DIRECTION,))[1], DIRECTION[INDEX])
    np.testing.assert_allclose(mixedad.jacobian(lambda x: take(x, INDEX), X, mode="forward"), np.eye(4)[INDEX])
    columns = [numerical_gradient(lambda y: mixedad.gradient(f, y)[k], X) for k in range(X.size)]
    np.testing.assert_allclose(mixedad.hessian(f, X), np.array(columns), rtol=1e-5, atol=1e-6)


def test_a_forward_rule_derived_from_a_reverse_rule_that_assigns_by_index():
    take = take_by_reverse_rule(write_by_index)
    index = np.array([0, 2, 3])
    np.testing.assert_allclose(mixedad.jvp(lambda x: take(x, index), (X,), (DIRECTION,))[1], DIRECTION[index])
    np.testing.assert_allclose(mixedad.jacobian(lambda x: take(x, index), X, mode="forward"), np.eye(4)[index])


def test_a_forward_rule_derived_from_a_reverse_rule_with_a_numpy_out_argument():
    sine = mixedad.primitive(np.sin, name="sine_")

    @sine.defvjp
    def sine_vjp(g, out, x):
        r = np.zeros_like(g)
        np.multiply(g, np.cos(x), out=r)
        return r
    np.testing.assert_allclose(mixedad.jvp(sine, (X,), (DIRECTION,))[1], np.cos(X) * DIRECTION, rtol=1e-15)


def test_a_reverse_rule_derived_from_a_forward_rule_that_writes_into_a_new_array():
    take = mixedad.primitive(lambda x, index: x[index], nondiff_argnums=(1,), name="take_forward")

    @take.defjvp
    def take_jvp(t, out, x, index):
        r = np.zeros_like(t, shape=index.shape)
        r[:] = t[index]
        return r
    index = np.array([0, 2, 3])
    f = lambda x: np.sum(take(x, index) * np.array([1.0, 2.0, 3.0]))
    for mode in ("auto", "reverse"):
        np.testing.assert_allclose(mixedad.gradient(f, X, mode=mode), numerical_gradient(f, X), rtol=1e-6)


# --- traced keyword arguments of an elementwise primitive ---------------------------------------
def test_a_traced_keyword_of_an_elementwise_primitive_is_refused_in_every_mode():
    scale = mixedad.primitive(lambda x, k=1.0: x * k, elementwise=True, name="scale")
    scale.defpartials(lambda x, k=1.0: k * np.ones_like(x))
    f = lambda x: np.sum(scale(x, k=x))
    calls = [lambda mode=mode: mixedad.gradient(f, X, mode=mode) for mode in ("auto", "reverse", "forward")]
    calls += [lambda: mixedad.prepare(f, X).gradient(X), lambda: mixedad.hessian(f, X),
              lambda: mixedad.gradient(lambda x: np.sum(mixedad.map(lambda t: scale(t, k=t), x)), X)]
    for call in calls:
        with pytest.raises(InputError, match="keyword argument 'k' is a traced value"):
            call()
    with pytest.raises(InputError, match="keyword argument 'k'"):
        mixedad.jvp(f, (X,), (DIRECTION,))
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(scale(x, k=3.0)), X), np.full(4, 3.0))


# --- cotangents the sweep would sum -----------------------------------------------------------------
def test_a_cotangent_with_extra_leading_axes_is_refused():
    sine = mixedad.primitive(np.sin, name="sine_axes")
    sine.defvjp(lambda g, out, x: g[:, None] * np.cos(x))  # (4, 4) for a (4,) argument
    f = lambda x: np.sum(sine(x))
    for call in (lambda: mixedad.gradient(f, X), lambda: mixedad.gradient(f, X, mode="reverse"),
                 lambda: mixedad.prepare(f, X).gradient(X), lambda: mixedad.jvp(f, (X,), (DIRECTION,))):
        with pytest.raises(ValueError, match=r"cotangent of shape \(4, 4\) for an argument of shape \(4,\)"):
            call()


@pytest.mark.parametrize("declare", ["nondiff_argnums", "one argument"])
def test_a_tuple_of_cotangents_for_one_argument_is_refused(declare):
    k = np.array([1.0, 2.0, 0.5, -1.0])
    if declare == "nondiff_argnums":  # a joint rule written for both arguments, then k made static
        times = mixedad.primitive(lambda x, k: x * k, nondiff_argnums=(1,), name="times")
        times.defvjp(lambda g, out, x, k: (g * k, g * x))
        f = lambda x: np.sum(times(x, k))
    else:
        double = mixedad.primitive(lambda x: 2.0 * x, name="double")
        double.defvjp(lambda g, out, x: (2.0 * g, 2.0 * g))
        f = lambda x: np.sum(double(x))
    for call in (lambda: mixedad.gradient(f, X), lambda: mixedad.gradient(f, X, mode="reverse"),
                 lambda: mixedad.jvp(f, (X,), (DIRECTION,))):
        with pytest.raises(ValueError, match="returned 2 cotangents for argument 0"):
            call()


def test_cotangents_of_arguments_broadcast_along_batch_axes_are_still_summed():
    """What the check lets through: a row broadcast against a matrix, a matrix against a batch."""
    add_row = mixedad.primitive(lambda x, row: x + row, name="add_row")
    add_row.defvjp(lambda g, out, x, row: g, lambda g, out, x, row: g)  # row's cotangent left (2, 3)
    batched = mixedad.primitive(np.matmul, name="batched_matmul")
    batched.defvjp(lambda g, out, a, b: g @ np.swapaxes(b, -1, -2), lambda g, out, a, b: np.swapaxes(a, -1, -2) @ g)
    x, a = np.arange(6.0).reshape(2, 3), np.linspace(-1, 1, 30).reshape(5, 2, 3)
    cases = [(lambda row: np.sum(add_row(x, row) ** 2), np.array([0.1, 0.2, 0.3])),
             (lambda b: np.sum(batched(a, b) ** 2), np.linspace(0.5, 2.0, 12).reshape(3, 4))]
    for f, value in cases:
        expected = numerical_gradient(f, value)
        for mode in ("auto", "reverse", "forward"):
            np.testing.assert_allclose(mixedad.gradient(f, value, mode=mode), expected, rtol=1e-6, err_msg=mode)


# --- a gradient of a gradient through a primitive with both rules -----------------------------------
def test_a_gradient_of_a_gradient_through_a_primitive_with_forward_and_reverse_rules():
    sine = mixedad.primitive(np.sin, name="sine_both")
    sine.defvjp(lambda g, out, x: g * np.cos(x))
    sine.defjvp(lambda t, out, x: t * np.cos(x))
    f = lambda x: np.sum(sine(x) ** 2)
    x = X[:3]
    v = DIRECTION[:3]
    second = lambda x: np.sum(mixedad.gradient(f, x) * v)
    np.testing.assert_allclose(mixedad.gradient(second, x), numerical_gradient(second, x), rtol=1e-6)
    np.testing.assert_allclose(mixedad.gradient(second, x), 2 * np.cos(2 * x) * v, rtol=1e-12)
    through_jacobian = lambda x: np.sum(mixedad.jacobian(sine, x, mode="forward"))
    np.testing.assert_allclose(mixedad.gradient(through_jacobian, x), -np.sin(x), rtol=1e-12)


# --- declarations that cannot apply raise when made, not at a first use (or never) ------------------
def test_declarations_that_cannot_apply_raise_when_made():
    with pytest.raises(mixedad.MixedadError, match="elementwise=True takes one output"):
        mixedad.primitive(lambda x: (np.sin(x), np.cos(x)), elementwise=True, multiple_outputs=True)
    with pytest.raises(mixedad.MixedadError, match=r"nondiff_argnums \(5,\) outside its 2"):
        mixedad.primitive(lambda x, k: x * k, nondiff_argnums=(5,))
    with pytest.raises(mixedad.MixedadError, match=r"nondiff_argnums \(-1,\) outside .*from 0"):
        mixedad.primitive(lambda x, k: x * k, nondiff_argnums=(-1,))  # (was ignored: a joint rule then failed)
    two = mixedad.primitive(lambda x, y: x * y, name="two")
    with pytest.raises(mixedad.MixedadError, match="got 3 rules for 2 differentiable"):
        two.defvjp(lambda g, out, x, y: g * y, lambda g, out, x, y: g * x, lambda g, out, x, y: g)
    with pytest.raises(mixedad.MixedadError, match="got 3 rules for 2 differentiable"):
        two.defjvp(lambda t, out, x, y: t * y, lambda t, out, x, y: t * x, lambda t, out, x, y: t)
    two_elementwise = mixedad.primitive(lambda x, y: x * y, elementwise=True, name="two_elementwise")
    with pytest.raises(mixedad.MixedadError, match="got 3 partials for 2 argument"):
        two_elementwise.defpartials(lambda x, y: y, lambda x, y: x, lambda x, y: 1.0)
    # what stays allowed: one rule for all arguments, one per differentiable argument
    two.defvjp(lambda g, out, x, y: (g * y, g * x))
    static = mixedad.primitive(lambda x, k: x * k, nondiff_argnums=(1,), name="static")
    static.defvjp(lambda g, out, x, k: g * k)
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(static(x, 3.0)), X), np.full(4, 3.0))
