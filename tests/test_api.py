"""The public API: argument handling, pytrees, aux, errors for what cannot be differentiated."""
import dataclasses
import sys
from collections import namedtuple

import numpy as np
import pytest

import mixedad

from numerical import numerical_gradient

MODES = ("auto", "reverse", "forward")


def mlp_params(rng, dtype=np.float64):
    return {"W1": rng.standard_normal((8, 6)).astype(dtype), "b1": rng.standard_normal(8).astype(dtype),
            "W2": rng.standard_normal((3, 8)).astype(dtype), "b2": rng.standard_normal(3).astype(dtype)}


def mlp_loss(params, x):
    h = np.tanh(params["W1"] @ x + params["b1"][:, None])
    y = params["W2"] @ h + params["b2"][:, None]
    return np.sum(y ** 2)


@pytest.mark.parametrize("mode", MODES)
def test_issue_example_mlp_matches_finite_differences(mode):
    rng = np.random.default_rng(0)
    params, x = mlp_params(rng), rng.standard_normal((6, 5))
    grads = mixedad.gradient(mlp_loss, params, x, mode=mode)
    assert set(grads) == set(params)
    for key in params:
        def partial(value, key=key):
            return mlp_loss({**params, key: value}, x)
        np.testing.assert_allclose(grads[key], numerical_gradient(partial, params[key]), rtol=1e-5, atol=1e-7)


def test_float32_params_give_float32_grads_and_value():
    rng = np.random.default_rng(1)
    params, x = mlp_params(rng, np.float32), rng.standard_normal((6, 5)).astype(np.float32)
    value, grads = mixedad.value_and_gradient(mlp_loss, params, x)
    assert value.dtype == np.float32 and value == mlp_loss(params, x)
    assert all(g.dtype == np.float32 for g in grads.values())


Pair = namedtuple("Pair", "a b")


@dataclasses.dataclass(frozen=True)
class Layer:
    weight: np.ndarray
    scale: float


def test_pytrees_keep_their_structure_and_leaf_types():
    tree = {"list": [np.ones(2), 2.0], "pair": Pair(np.full(3, 2.0), 0.5), "layer": Layer(np.ones(2), 3.0),
            "tuple": (np.float32(1.5),), "nothing": None}

    def f(t):
        return (np.sum(t["list"][0] * t["list"][1]) + np.sum(t["pair"].a ** 2) * t["pair"].b
                + np.sum(t["layer"].weight) * t["layer"].scale + t["tuple"][0] * 2.0)
    g = mixedad.gradient(f, tree)
    assert isinstance(g["pair"], Pair) and isinstance(g["layer"], Layer) and g["nothing"] is None
    np.testing.assert_allclose(g["list"][0], [2.0, 2.0])
    assert isinstance(g["list"][1], float) and g["list"][1] == 2.0
    np.testing.assert_allclose(g["pair"].a, 2 * 2.0 * 0.5)
    assert g["pair"].b == 12.0 and g["layer"].scale == 2.0
    assert isinstance(g["tuple"][0], np.float32) and g["tuple"][0] == 2.0


def test_argnums_tuple_and_untouched_other_arguments():
    seen = {}

    def f(x, y, label, z):
        seen["label"] = label
        seen["z"] = type(z)
        return np.sum(x * y) + np.sum(z)
    x, y, z = np.ones(3), np.arange(3.0), np.ones(2)
    gx, gy = mixedad.gradient(f, x, y, "hello", z, argnums=(0, 1))
    np.testing.assert_allclose(gx, y)
    np.testing.assert_allclose(gy, x)
    assert seen == {"label": "hello", "z": np.ndarray}
    assert mixedad.gradient(f, x, y, "s", z, argnums=-1).shape == (2,)


def test_has_aux_follows_the_jax_convention():
    def f(x):
        loss = np.sum(x ** 2)
        return loss, {"loss": loss, "note": "ok"}
    (value, aux), g = mixedad.value_and_gradient(f, np.array([1.0, 2.0]), has_aux=True)
    assert value == 5.0 and aux["loss"] == 5.0 and not isinstance(aux["loss"], mixedad.core.traced.Traced)
    g2, aux2 = mixedad.gradient(f, np.array([1.0, 2.0]), has_aux=True)
    np.testing.assert_allclose(g2, [2.0, 4.0])


def test_reflected_operators_with_arrays_and_scalars_on_the_left():
    x = np.array([1.0, 2.0])
    c = np.array([3.0, 5.0])
    f = lambda x: np.sum(c + x) + np.sum(c * x) + np.sum(c - x) + np.sum(c / x) + np.sum(2.0 ** x) + np.sum(c @ x)
    np.testing.assert_allclose(mixedad.gradient(f, x), numerical_gradient(f, x), rtol=1e-6)


def test_ndarray_like_methods_and_properties():
    def f(x):
        assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and x.dtype == np.float64 and len(x) == 2
        return x.T.reshape(-1).sum() + x.mean(axis=0).sum() + x[1, ::-1].sum() * 2.0
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(mixedad.gradient(f, x), numerical_gradient(f, x), rtol=1e-6)


def test_constant_function_has_exactly_zero_gradient():
    g = mixedad.gradient(lambda x: 3.0, np.ones(3))
    np.testing.assert_array_equal(g, np.zeros(3))


# --- errors ------------------------------------------------------------------------------------
def this_line_number(offset=0):
    return sys._getframe(1).f_lineno + offset


def test_unsupported_numpy_function_names_it_and_the_user_line():
    def f(x):
        return np.sum(np.packbits(x))  # no rule for packbits
    line = f.__code__.co_firstlineno + 1
    with pytest.raises(mixedad.UnsupportedOperationError) as info:
        mixedad.gradient(f, np.ones(4))
    message = str(info.value)
    assert "numpy.packbits" in message and f"test_api.py:{line}" in message and "mixedad.primitive" in message


@pytest.mark.parametrize("convert", [np.asarray, float, lambda x: x.item(), lambda x: x.tolist()])
def test_conversions_that_drop_the_derivative_raise(convert):
    with pytest.raises(mixedad.NonDifferentiableError, match="test_api.py"):
        mixedad.gradient(lambda x: np.sum(x) * float(np.sum(convert(x))), np.ones(1))


def test_inplace_operator_updates_the_array_for_every_name_bound_to_it():
    def accumulate(x):
        total = x * 0.0
        for i in range(3):
            total += x * i  # fine: nothing else refers to the old total
        return np.sum(total)
    np.testing.assert_allclose(mixedad.gradient(accumulate, np.ones(2)), [3.0, 3.0])

    def aliased(x):
        y = x * 1.0
        alias = y
        y += x ** 2  # NumPy changes alias too
        return np.sum(alias * x)
    x = np.array([0.5, 2.0])
    for mode in ("auto", "reverse", "forward"):
        value, grad = mixedad.value_and_gradient(aliased, x, mode=mode)
        assert value == pytest.approx(aliased(x.copy()), rel=1e-12)
        np.testing.assert_allclose(grad, numerical_gradient(aliased, x), rtol=1e-6)



def _add_to_the_input(a):
    a += 1.0
    return np.sum(a * a)


def _center_scale_the_input(a):
    a -= a.mean()  # a reduction's tape entry reads the old a
    a *= 2.0
    a /= 3.0
    return np.sum(a ** 3)


def _update_after_a_region_read_it(a):
    y = np.sin(a)  # a deferred region that reads a, evaluated after a += ...
    a += 1.0
    return np.sum(y) + np.sum(a * a)


def _update_a_product_a_region_read(a):
    y = a @ np.linspace(-1.0, 1.0, 9).reshape(3, 3)
    z = np.sin(y)
    y += 1.0
    return np.sum(z) + np.sum(y ** 2)


@pytest.mark.parametrize("f", [_add_to_the_input, _center_scale_the_input, _update_after_a_region_read_it,
                               _update_a_product_a_region_read])
def test_in_place_operators_on_inputs_and_values_already_read(f):
    x = np.array([0.5, -1.0, 2.0])
    expected = numerical_gradient(lambda v: f(v.copy()), x)  # f changes plain arrays in place too
    for mode in ("auto", "reverse"):
        np.testing.assert_allclose(mixedad.gradient(f, x.copy(), mode=mode), expected, rtol=1e-6, atol=1e-8)
    prepared = mixedad.prepare(f, x.copy())
    for new in (x, 2.0 * x + 1.0):  # the replay reads the values the in-place operators retired
        np.testing.assert_allclose(prepared.gradient(new.copy()), numerical_gradient(lambda v: f(v.copy()), new),
                                   rtol=1e-6, atol=1e-8)
    _, pullback = mixedad.vjp(f, x.copy())
    np.testing.assert_allclose(pullback(1.0)[0], expected, rtol=1e-6, atol=1e-8)
    hessian_fd = np.array([numerical_gradient(lambda v: mixedad.gradient(f, v.copy())[i], x) for i in range(3)])
    np.testing.assert_allclose(mixedad.hessian(f, x.copy()), hessian_fd, rtol=1e-5, atol=1e-6)

def test_ufunc_out_argument_raises():
    def f(x):
        buffer = np.empty(3)
        np.sin(x, out=buffer)
        return np.sum(buffer)
    with pytest.raises(mixedad.InPlaceMutationError, match="out="):
        mixedad.gradient(f, np.ones(3))


@pytest.mark.parametrize("bad, named", [(np.arange(3), "integer"), (3, "integer"), (True, "bool"),
                                        (np.array([True, False]), "boolean")])
def test_integer_and_bool_inputs_raise(bad, named):  # (complex inputs: test_complex_inputs.py)
    with pytest.raises(mixedad.InputError, match=named):
        mixedad.gradient(lambda x: np.sum(x * 2.0), bad)


COMPLEX_INTERMEDIATES = {
    # each would give a wrong gradient if complex values were differentiated with real rules;
    # they are computed on real and imaginary parts (rules.complex_values)
    "abs of a complex product": lambda x: np.sum(np.abs(x * (1 + 2j)) ** 2),
    "imaginary part": lambda x: np.sum(np.imag(x * 1j)),
    "exp of an imaginary argument": lambda x: np.real(np.sum(np.exp(1j * x))),
    "matmul with a complex matrix": lambda x: np.sum(np.abs(x @ np.array([[1j, 1.0], [0.5, 2j]]))),
    "complex constant array": lambda x: np.sum(np.abs(x + np.array([1j, 0.0]))),
    "NumPy complex scalar": lambda x: np.sum(np.abs(x * np.complex64(1j))),
}
COMPLEX_DIFFERENTIATIONS = {
    "auto": lambda f, x: mixedad.gradient(f, x),
    "reverse": lambda f, x: mixedad.gradient(f, x, mode="reverse"),
    "jvp": lambda f, x: mixedad.jvp(f, (x,), (np.ones_like(x),)),
    "hessian": lambda f, x: mixedad.hessian(f, x),
    "prepared": lambda f, x: mixedad.prepare(f, x).gradient(x),
}


@pytest.mark.parametrize("how", COMPLEX_DIFFERENTIATIONS)
@pytest.mark.parametrize("case", COMPLEX_INTERMEDIATES)
def test_complex_intermediate_values_are_differentiated_in_every_mode(case, how):
    f = COMPLEX_INTERMEDIATES[case]
    x = np.array([0.7, -1.3])
    result = COMPLEX_DIFFERENTIATIONS[how](f, x)
    expected = numerical_gradient(f, x)
    if how == "jvp":
        assert np.isclose(result[0], f(x), rtol=1e-12) and np.isclose(result[1], expected.sum(), rtol=1e-6)
    elif how == "hessian":
        hessian_fd = np.array([numerical_gradient(lambda v: mixedad.gradient(f, v)[i], x) for i in range(2)])
        np.testing.assert_allclose(result, hessian_fd, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-9)


def test_a_complex_result_of_a_differentiated_function_is_refused_with_advice():
    with pytest.raises(mixedad.OutputError, match="complex value .complex128.*np.abs"):
        mixedad.gradient(lambda x: np.sum(x * 1j), np.ones(2))


def test_real_and_imag_of_real_values_are_differentiated():
    def f(x):
        return np.sum(np.real(x) ** 3 + np.cos(np.imag(x) + x) + np.conj(x))
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(mixedad.gradient(f, x), numerical_gradient(f, x), rtol=1e-6)


def _writes_after_use(kind):
    """f reads a NumPy array, then writes into it: the backward pass would read the new values."""
    def f(x):
        weights = np.linspace(0.5, 2.0, 3)
        index = np.array([0, 1, 1])
        table = np.ones((3, 3))
        y = np.sum(weights * np.sin(x)) + np.sum(table @ x ** 2) + np.sum(x[index] ** 2)
        if kind == "item":
            weights[0] = 5.0
        elif kind == "slice":
            table[:] = 2.0
        elif kind == "in-place operator":
            weights *= 10
        elif kind == "index array":
            index[0] = 2
        return y
    return f


WRITES = ("item", "slice", "in-place operator", "index array")
DIFFERENTIATIONS = {
    "auto": lambda f, x: mixedad.gradient(f, x),
    "reverse": lambda f, x: mixedad.gradient(f, x, mode="reverse"),
    "prepared": lambda f, x: mixedad.prepare(f, x).gradient(x),
    "vjp": lambda f, x: mixedad.vjp(f, x),
    "jacobian": lambda f, x: mixedad.jacobian(f, x, mode="reverse"),
}


@pytest.mark.parametrize("how", DIFFERENTIATIONS)
@pytest.mark.parametrize("kind", WRITES)
def test_writing_into_an_array_the_tape_read_raises_naming_the_line(kind, how):
    f = _writes_after_use(kind)
    x = np.array([0.3, -0.7, 1.1])
    f(x)  # plain NumPy is happy
    with pytest.raises(mixedad.InPlaceMutationError, match="test_api.py:[0-9]+: `(weights|table|index)") as info:
        DIFFERENTIATIONS[how](f, x)
    assert "a.copy()" in str(info.value)


def test_arrays_read_by_the_tape_are_writeable_again_afterwards():
    owner = np.arange(6.0) / 5  # owns its memory (NumPy's views point to the owner, not to other views)
    view = owner[1:4]
    frozen = np.ones(3)
    frozen.flags.writeable = False
    x = np.array([0.3, -0.7, 1.1])

    def loss(v):
        return np.sum(view * v * frozen) + np.sum(v[np.array([0, 2])] ** 2)

    def f(v):
        y = loss(v)
        assert not view.flags.writeable and not owner.flags.writeable and not x.flags.writeable
        return y
    for mode in MODES:
        np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), numerical_gradient(loss, x), rtol=1e-6)
        assert owner.flags.writeable and view.flags.writeable and x.flags.writeable
        assert not frozen.flags.writeable  # it was read-only before: it stays so
    with pytest.raises(mixedad.InPlaceMutationError):
        mixedad.gradient(_writes_after_use("item"), x)
    assert x.flags.writeable


@pytest.mark.parametrize("mode", MODES)
def test_a_writeable_view_of_an_array_made_read_only_later_is_writeable_again_afterwards(mode):
    owner = np.arange(6.0) / 5
    view = owner[1:4]
    owner.flags.writeable = False  # NumPy leaves the view writeable
    x = np.array([0.3, -0.7, 1.1])

    def f(v):
        y = np.sum(view * v ** 2)
        with pytest.raises(ValueError, match="read-only"):
            view[0] = 5.0  # the tape reads it again later: guarded while the gradient runs
        return y
    np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), 2 * owner[1:4] * x)
    assert view.flags.writeable and not owner.flags.writeable  # as the user left them
    view[0] = 5.0
    assert owner[1] == 5.0


def test_a_pullback_keeps_the_arrays_it_reads_read_only_while_it_lives():
    weights = np.array([1.0, 2.0, 3.0])
    x = np.array([0.3, -0.7, 1.1])
    _, pullback = mixedad.vjp(lambda v: np.sin(v) * weights, x)
    assert not weights.flags.writeable
    (first,) = pullback(np.ones(3))
    np.testing.assert_allclose(first, np.cos(x) * weights)
    del pullback
    assert weights.flags.writeable


@pytest.mark.parametrize("mode", MODES)
def test_lists_changed_after_an_op_read_them_do_not_change_the_gradient(mode):
    def f(v, mutate=True):
        weights = [1.0, 2.0, 3.0]
        rows = [[1.0, -1.0, 0.5]]
        index = [0, 1, 1]
        y = np.sum(v * weights) + np.dot(v ** 2, weights) + np.sum(np.matmul(rows, v ** 3)) + np.sum(v[index] ** 2)
        if mutate:  # NumPy took the values at the call: so must the tape
            weights[0] = 5.0
            rows[0][0] = 7.0
            index[0] = 2
        return y
    x = np.array([0.3, -0.7, 1.1])
    value, gradient = mixedad.value_and_gradient(f, x, mode=mode)
    np.testing.assert_allclose(value, f(x, mutate=False), rtol=1e-12)
    np.testing.assert_allclose(gradient, numerical_gradient(lambda v: f(v, mutate=False), x), rtol=1e-6)


def test_writing_into_an_array_before_the_tape_reads_it_is_fine():
    def f(v):
        weights = np.ones(3)
        weights[1] = 4.0  # not read yet: nothing to protect
        return np.sum(weights * v ** 2)
    x = np.array([0.3, -0.7, 1.1])
    for mode in MODES:
        np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), numerical_gradient(f, x), rtol=1e-6)


def test_non_scalar_output_raises():
    with pytest.raises(mixedad.MixedadError, match="scalar"):
        mixedad.gradient(lambda x: x * 2.0, np.ones(3))


def test_escaped_traced_value_raises_when_reused():
    kept = []
    mixedad.gradient(lambda x: kept.append(x * 2.0) or np.sum(x), np.ones(2))
    with pytest.raises(mixedad.MixedadError, match="escaped"):
        mixedad.gradient(lambda y: np.sum(y * kept[0]), np.ones(2))


def test_bad_mode_raises():
    with pytest.raises(ValueError, match="mode"):
        mixedad.gradient(lambda x: np.sum(x), np.ones(2), mode="sideways")


# --- deep graphs -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_deep_graph_of_scalar_ops_does_not_recurse(mode):
    n = 50_000  # two ops per step: 10^5 tape entries in reverse mode

    def f(x):
        y = x
        for _ in range(n):
            y = y * 1.000001 + 1e-7
        return y
    g = mixedad.gradient(f, 1.0, mode=mode)
    np.testing.assert_allclose(g, 1.000001 ** n, rtol=1e-9)


def test_python_loop_over_elements():
    x = np.linspace(0, 1, 200)

    def f(x):
        total = 0.0
        for i in range(len(x)):
            total = total + np.sin(x[i])
        return total
    for mode in MODES:
        np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), np.cos(x), rtol=1e-12)


def test_joint_rule_returning_one_array_for_two_arguments_raises_instead_of_slicing():
    @mixedad.primitive
    def scale(x, k):
        return x * k
    scale.defvjp(lambda g, out, x, k: g * k)  # meant k to be static, but did not say so
    x = np.arange(6.0).reshape(2, 3)
    with pytest.raises(mixedad.MissingRuleError, match="tuple of 2 cotangents"):
        mixedad.gradient(lambda x: np.sum(scale(x, 2.0) * x), x)


def test_inplace_update_of_a_view_writes_through_and_of_its_base_retires_the_view():
    def update_view(x):
        base = x * 1.0
        view = base.reshape(-1)
        view += x.reshape(-1) ** 2  # NumPy changes base too
        return np.sum(view * base.reshape(-1))

    def update_base(x):
        base = x * 1.0
        view = base.reshape(-1)
        base += 1.0  # NumPy would change view too
        return np.sum(view) + np.sum(base)
    x = np.array([[0.5, -1.0], [2.0, 0.3]])
    np.testing.assert_allclose(mixedad.gradient(update_view, x), numerical_gradient(update_view, x), rtol=1e-6)
    with pytest.raises(mixedad.InPlaceMutationError, match="view again"):
        mixedad.gradient(update_base, x)


@pytest.mark.parametrize("mode", MODES)
def test_gradients_never_alias_user_arrays_or_each_other(mode):
    w = np.arange(3.0)
    g = mixedad.gradient(lambda x: np.sum(w * x), np.ones(3), mode=mode)
    assert not np.shares_memory(g, w)
    g += 1.0  # an optimizer updating the gradient in place must not touch w
    np.testing.assert_array_equal(w, np.arange(3.0))
    x, y = np.ones(3), np.ones(3)
    gx, gy = mixedad.gradient(lambda x, y: np.sum(x + y), x, y, argnums=(0, 1), mode=mode)
    assert not np.shares_memory(gx, gy) and not np.shares_memory(gx, x) and not np.shares_memory(gy, y)


def test_python_lists_holding_traced_values_inside_concatenate_and_stack():
    def f(x):
        extended = np.concatenate([x, [np.sum(x) * 2.0, 1.0]])
        pairs = np.stack([x, [x[1], 3.0]])
        return np.sum(extended ** 2) + np.sum(pairs ** 3)
    x = np.array([0.5, 1.5])
    np.testing.assert_allclose(mixedad.gradient(f, x), numerical_gradient(f, x), rtol=1e-6)


def test_np_array_of_traced_values_raises_and_points_to_stack():
    with pytest.raises(mixedad.NonDifferentiableError, match="np.stack"):
        mixedad.gradient(lambda x: np.sum(np.array([x[0], x[1]])), np.ones(2))


def test_grad_and_value_and_grad_are_curried_forms():
    f = lambda w, x: np.sum(np.tanh(x @ w))
    w, x = np.ones(3), np.arange(6.0).reshape(2, 3) / 6
    np.testing.assert_array_equal(mixedad.grad(f)(w, x), mixedad.gradient(f, w, x))
    gw, gx = mixedad.grad(f, argnums=(0, 1), mode="reverse")(w, x)
    np.testing.assert_allclose(gx, mixedad.gradient(f, w, x, argnums=1))
    value, g = mixedad.value_and_grad(f)(w, x)
    assert value == f(w, x)
    np.testing.assert_array_equal(g, mixedad.gradient(f, w, x))


@pytest.mark.parametrize("argnums, error", [((0, 0), ValueError), ((1, -1), ValueError), (1.0, TypeError),
                                            (None, TypeError), (True, TypeError), ((0, "1"), TypeError)])
def test_argnums_that_repeat_or_are_not_integers_raise(argnums, error):
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(error, match="argnums"):
        mixedad.gradient(lambda a, b: np.sum(a * b ** 2), x, x + 1, argnums=argnums)


def test_numpy_integer_argnums_act_as_ints():
    x = np.array([1.0, 2.0, 3.0])
    f = lambda a, b: np.sum(a * b ** 2)  # noqa: E731
    got = mixedad.gradient(f, x, x + 1, argnums=np.int64(1))
    np.testing.assert_allclose(got, numerical_gradient(lambda b: f(x, b), x + 1), rtol=1e-7)


@pytest.mark.parametrize("mode", ["auto", "reverse", "prepared"])
def test_an_output_of_one_element_is_differentiated_as_a_scalar(mode):
    """As autograd takes it (JAX wants shape ()): np.sum(..., keepdims=True), a (1, 1) result."""
    x = np.array([[0.5], [1.5], [-2.0]])
    f = lambda x: np.sum(np.sin(x) * x, axis=0, keepdims=True)  # shape (1, 1)
    if mode == "prepared":
        value, grad = mixedad.prepare(f, x).value_and_gradient(x)
    else:
        value, grad = mixedad.value_and_gradient(f, x, mode=mode)
    assert np.shape(value) == (1, 1)
    np.testing.assert_allclose(value, f(x))
    np.testing.assert_allclose(grad, np.sin(x) + x * np.cos(x), rtol=1e-12)
    np.testing.assert_allclose(mixedad.hessian(lambda x: f(x.reshape(3, 1)), x.ravel()),
                               np.diag((2 * np.cos(x) - x * np.sin(x)).ravel()), rtol=1e-12, atol=1e-12)
    with pytest.raises(mixedad.OutputError, match="shape \\(3, 1\\)"):
        mixedad.gradient(lambda x: x * 2.0, x)


def test_older_numpy_is_refused_at_import_with_advice():
    """mixedad follows NumPy 2's type promotion and functions: on NumPy 1.x it failed at import
    with an AttributeError from a rule table, and pyproject let pip keep NumPy 1.x."""
    import subprocess
    import sys
    code = "import numpy; numpy.__version__ = '1.26.4'; import mixedad"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "ImportError: mixedad needs NumPy >= 2.0, and this is NumPy 1.26.4" in result.stderr
