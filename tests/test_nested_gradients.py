"""A gradient inside a gradient (autograd's ``grad(grad(f))``): the inner one runs in forward
mode on the outer trace's values, and the outer one differentiates it. Checked against
analytic derivatives, ``mixedad.hessian`` and finite differences of gradients."""
import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient
from numpy_versions import needs_numpy


def _g(t):
    return np.sin(t) * t ** 3


def test_derivatives_of_a_scalar_function_to_third_order():
    t = 0.7
    first = lambda t: mixedad.gradient(_g, t)
    second = lambda t: mixedad.gradient(first, t)
    third = mixedad.gradient(second, t)
    np.testing.assert_allclose(second(t), 6 * t * np.sin(t) + 6 * t * t * np.cos(t) - t ** 3 * np.sin(t), rtol=1e-12)
    np.testing.assert_allclose(third, 6 * np.sin(t) + 18 * t * np.cos(t) - 9 * t * t * np.sin(t) - t ** 3 * np.cos(t),
                               rtol=1e-12)


def _f(x):
    return np.sum(np.sin(x) * x ** 2) + np.prod(x) + np.log(np.sum(np.exp(x)))


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_nested_gradients_give_the_hessian(mode):
    x = np.array([0.3, 1.2, -0.7, 2.0])
    rows = np.stack([mixedad.gradient(lambda x: mixedad.gradient(_f, x, mode=mode)[i], x, mode=mode)
                     for i in range(4)])
    np.testing.assert_allclose(rows, mixedad.hessian(_f, x), rtol=1e-10, atol=1e-12)
    for jacobian_mode in ("reverse", "auto"):
        np.testing.assert_allclose(mixedad.jacobian(lambda x: mixedad.gradient(_f, x), x, mode=jacobian_mode),
                                   mixedad.hessian(_f, x), rtol=1e-10, atol=1e-12)


def test_a_closed_over_outer_value_is_a_constant_to_the_inner_gradient():
    """d/dx sum(grad_y sum(y * x) at y = x) = d/dx sum(x) = 1; and the classic perturbation
    confusion test d/dx [x * d/dy (x + y)] = 1."""
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(mixedad.gradient(lambda y: np.sum(y * x), x)), x),
                               np.ones(2))
    confusion = mixedad.gradient(lambda x: x * mixedad.gradient(lambda y: x + y, 1.0), 1.0)
    assert confusion == 1.0


def test_pytrees_argnums_value_and_aux():
    params, y = {"w": np.array([0.5, -1.0]), "b": np.array(0.3)}, np.array([1.0, 2.0])

    def loss(p, y):
        return np.sum(np.tanh(p["w"] * y + p["b"]) ** 2)

    def outer(p):
        return np.sum(mixedad.gradient(loss, p, y)["w"] ** 2)

    grad = mixedad.gradient(outer, params)
    eps = 1e-6
    for key, size in (("w", 2), ("b", 1)):
        for i in range(size):
            step = np.zeros(size) if size > 1 else np.zeros(())
            step[... if size == 1 else i] = eps
            plus, minus = dict(params), dict(params)
            plus[key], minus[key] = params[key] + step, params[key] - step
            expected = (outer(plus) - outer(minus)) / (2 * eps)
            np.testing.assert_allclose(np.ravel(grad[key])[i], expected, rtol=1e-6, atol=1e-9)

    def h(a, b):
        return np.sum(a * b ** 2)

    b = np.array([2.0, 3.0])
    np.testing.assert_allclose(
        mixedad.gradient(lambda a: np.sum(mixedad.gradient(h, a, b, argnums=(0, 1))[1]), np.array([1.0, -1.0])),
        2 * b)
    np.testing.assert_allclose(
        mixedad.gradient(lambda a: mixedad.value_and_gradient(h, a, b * a)[1][1], np.array([1.0, -1.0])),
        [0.0, 2 * b[1] ** 2 * -1.0], rtol=1e-12)  # d/da1 of (b1 a1)^2
    grad, aux = mixedad.gradient(lambda a: (np.sum(a ** 3), "aux"), np.array([1.0, -1.0]), has_aux=True)
    assert aux == "aux"
    np.testing.assert_allclose(
        mixedad.gradient(lambda a: mixedad.gradient(lambda a: (np.sum(a ** 3), "aux"), a, has_aux=True)[0][1],
                         np.array([1.0, -1.0])), [0.0, -6.0])


def test_float32_stays_float32_and_a_non_scalar_inner_output_is_an_output_error():
    x = np.array([0.3, 1.2], np.float32)
    grad = mixedad.gradient(lambda x: mixedad.gradient(lambda x: np.sum(x ** 3), x)[0], x)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, [6 * 0.3, 0.0], rtol=1e-6)
    with pytest.raises(mixedad.OutputError, match="scalar"):
        mixedad.gradient(lambda x: mixedad.gradient(lambda x: x * 2.0, x)[0], x)


def _third_derivative_by_differences(f, x, eps=1e-5):
    """T[i, j, k] = d^3 f / dx_i dx_j dx_k from central differences of mixedad.hessian."""
    return np.stack([(mixedad.hessian(f, x + eps * e) - mixedad.hessian(f, x - eps * e)) / (2 * eps)
                     for e in np.eye(x.size)], axis=-1)


THIRD_ORDER_CASES = {
    "basic index": lambda a: a[0] ** 3 * a[1] + a[2] ** 2 * a[0],
    "slices": lambda a: np.sum(a[1:] ** 3 * a[::-1][:2]),
    "fancy index": lambda a: np.sum(a[[0, 1, 1, 2]] ** 3),
    "diag": lambda a: np.sum(np.diag(np.outer(a, a)) ** 2),
    "einsum trace": lambda a: np.einsum("ii", np.outer(a, a ** 2)) ** 2,
}


@pytest.mark.parametrize("name", list(THIRD_ORDER_CASES))
def test_third_derivatives_through_indexing_with_reverse_mode_outermost(name):
    """Reverse rules that assign a cotangent into zeros (indexing, diag, einsum's repeated labels)
    hold an enclosing gradient's traced values: third derivatives by gradient of gradient of
    gradient, gradient of hessian and jacobian of hessian."""
    f = THIRD_ORDER_CASES[name]
    x = np.array([0.5, 2.0, -1.5])
    expected = _third_derivative_by_differences(f, x)
    np.testing.assert_allclose(mixedad.jacobian(lambda a: mixedad.hessian(f, a), x), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mixedad.gradient(lambda a: np.sum(mixedad.hessian(f, a)), x),
                               expected.sum(axis=(0, 1)), rtol=1e-5, atol=1e-6)
    g = mixedad.gradient
    np.testing.assert_allclose(g(lambda a: g(lambda b: g(f, b)[0], a)[1], x), expected[0, 1], rtol=1e-5, atol=1e-6)


def test_a_reverse_jacobian_inside_forward_mode_and_an_auto_jacobian_inside_a_gradient():
    """jacfwd(jacrev(f)), JAX's Hessian recipe; and jacobian's default mode under a gradient,
    which picks forward mode since the enclosing gradient traces the inputs."""
    f = lambda a: np.sum(a ** 3) + a[0] * a[1]
    x = np.array([1.0, 2.0])
    hessian = mixedad.hessian(f, x)
    np.testing.assert_allclose(mixedad.jacobian(lambda a: mixedad.jacobian(f, a, mode="reverse"), x, mode="forward"),
                               hessian, rtol=1e-12)
    np.testing.assert_allclose(mixedad.jvp(lambda a: mixedad.jacobian(f, a, mode="reverse"), (x,), (np.ones(2),))[1],
                               hessian @ np.ones(2), rtol=1e-12)
    np.testing.assert_allclose(mixedad.jacobian(lambda a: mixedad.jacobian(f, a), x), hessian, rtol=1e-12)
    np.testing.assert_allclose(mixedad.gradient(lambda a: np.sum(mixedad.jacobian(lambda y: y ** 2 * a[0], a)), x),
                               [2 * x[0] + 2 * x.sum(), 2 * x[0]], rtol=1e-12)


def test_a_gradient_computed_in_forward_mode_keeps_the_arguments_types_and_dtypes():
    """When the outer gradient itself falls back to forward mode (its function closes over its
    own input through an inner transform), its result is still what gradient gives."""
    f = lambda x: x * mixedad.jacobian(lambda y: x * y, 1.0)
    assert mixedad.gradient(f, 1.5) == 3.0 and type(mixedad.gradient(f, 1.5)) is float
    assert mixedad.gradient(lambda p: f(p["s"]), {"s": 1.5}) == {"s": 3.0}
    single = mixedad.gradient(f, np.float32(1.5))
    assert type(single) is np.float32 and single == 3.0
    inner = mixedad.gradient(lambda x: mixedad.gradient(lambda t: np.sum(t ** 3), x)[0],
                             np.array([0.5, 1.0], np.float32))
    assert inner.dtype == np.float32


@pytest.mark.parametrize("name", ["cumprod", "cumprod axis 1", pytest.param("cumulative_prod", marks=needs_numpy(2, 1)),
                                  "nancumprod", "prod"])
def test_products_with_zeros_to_third_order(name):
    """Rules exact at zeros stay exact for the enclosing gradient's values: nested gradients of
    cumprod and third derivatives of prod at a zero gave wrong numbers."""
    functions = {
        "cumprod": lambda z: np.sum(np.cumprod(z) ** 2),
        "cumprod axis 1": lambda z: np.sum(np.cumprod(z.reshape(2, 2), axis=1) ** 2),
        "cumulative_prod": lambda z: np.sum(np.cumulative_prod(z, include_initial=True) * np.arange(5.0)),
        "nancumprod": lambda z: np.sum(np.nancumprod(z) * np.arange(1.0, 5.0)),
        "prod": np.prod,
    }
    f = functions[name]
    x = np.array([1.5, 0.0, 2.0, -1.0])
    hessian = mixedad.hessian(f, x)
    rows = np.stack([mixedad.gradient(lambda y: mixedad.gradient(f, y)[i], x) for i in range(4)])
    np.testing.assert_allclose(rows, hessian, rtol=1e-10, atol=1e-10)
    third = _third_derivative_by_differences(f, x)
    nested = np.array([[mixedad.gradient(lambda a: mixedad.gradient(lambda b: mixedad.gradient(f, b)[i], a)[j], x)
                        for j in range(4)] for i in range(4)])
    np.testing.assert_allclose(nested, third, rtol=1e-5, atol=1e-5)


def _through_a_reshape_view(x):
    y = x * 1.0
    z = y.reshape(2, 2)
    z[0] = z[1] ** 2  # writes through into y: x0 and x1 drop out
    return np.sum(y ** 2 * x)


def _through_a_row_view(x):
    y = x.reshape(2, 2) * 1.0
    row = y[0]
    row *= y[1]  # an in-place operator on a basic-index view: writes through into y
    return np.sum(np.sin(y))


def _through_a_ravel(x):
    y = np.outer(x, x)
    flat = y.ravel()
    flat[:15:3] = np.tanh(flat[1::3])  # a reshape-like view of a C-ordered array
    return np.sum(y * y)


@pytest.mark.parametrize("f", [_through_a_reshape_view, _through_a_row_view, _through_a_ravel])
@pytest.mark.parametrize("outer", ["gradient of gradient", "reverse jacobian of gradient", "vjp of gradient"])
def test_second_derivatives_through_writes_into_views(f, outer):
    """The inner gradient runs on values of the outer differentiation: a reshape of them was not
    taken for a view, so writing into it left the array alone, and the second derivative was that
    of a function without the write (found by a survey; hessian and hvp were right)."""
    x = np.array([0.5, -1.0, 1.5, 2.0])
    gradient = lambda v: mixedad.gradient(f, v)  # noqa: E731
    w = np.array([0.3, -0.7, 1.1, 0.4])
    if outer == "gradient of gradient":
        got = mixedad.gradient(lambda v: np.sum(gradient(v) * w), x)
    elif outer == "reverse jacobian of gradient":
        got = mixedad.jacobian(gradient, x, mode="reverse").T @ w
    else:
        got = mixedad.vjp(gradient, x)[1](w)[0]
    step = 1e-6
    expected = [(np.sum(gradient(x + step * e) * w) - np.sum(gradient(x - step * e) * w)) / (2 * step)
                for e in np.eye(x.size)]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(mixedad.hessian(f, x) @ w, expected, rtol=1e-6, atol=1e-8)


def _inner_gradient_of_a_closure(x):  # the inner output depends on x only: its gradient is 0
    g = mixedad.gradient(lambda y: np.sum(x * 2.0), np.ones(3))
    return np.sum(x ** 2) + np.sum(g)


def _inner_value_of_a_closure(x):
    v, g = mixedad.value_and_gradient(lambda y: np.sum(x * x) + np.sum(y), np.ones(3))
    return np.sum(x ** 2) + 3.0 * v + np.sum(g * x)


def _inner_vjp_of_a_closure(x):
    out, pullback = mixedad.vjp(lambda y: (x * 2.0, x * y), np.ones(3))
    (g,) = pullback((np.ones(3), x))
    return np.sum(x ** 2) + np.sum(out[0] * out[1]) + np.sum(g)


def _inner_jacobian_of_a_closure(x):
    jac = mixedad.jacobian(lambda y: (x * 2.0) * y, np.ones(3), mode="reverse")
    return np.sum(x ** 2) + np.sum(jac * x)


def _inner_aux_of_an_outer_value(x):
    (value, aux), grad = mixedad.value_and_gradient(lambda y: (np.sum(y ** 2), x * 3.0), np.ones(3), has_aux=True)
    return np.sum(aux ** 2) + value + np.sum(grad)


def _inner_gradient_aux(x):
    grad, aux = mixedad.gradient(lambda y: (np.sum(y ** 2), np.sin(x)), np.ones(3), has_aux=True)
    return np.sum(aux * x) + np.sum(grad)


def _inner_vjp_aux(x):
    out, pullback, aux = mixedad.vjp(lambda y: (y * 2.0, x ** 2), np.ones(3), has_aux=True)
    return np.sum(aux * out) + np.sum(pullback(np.ones(3))[0])


def _inner_out_into_a_buffer(x):  # out= into the inner function's buffer, with an outer operand
    return np.sum(mixedad.gradient(lambda y: np.sum(np.multiply(x, y, out=np.zeros_like(y)) ** 2), np.ones(3)))


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("f", [_inner_gradient_of_a_closure, _inner_value_of_a_closure, _inner_vjp_of_a_closure,
                               _inner_jacobian_of_a_closure, _inner_aux_of_an_outer_value, _inner_gradient_aux,
                               _inner_vjp_aux, _inner_out_into_a_buffer])
def test_inner_outputs_holding_outer_values_keep_the_outer_gradient(f, mode):
    # an inner output of the outer trace once had the inner backward pass sweep the outer tape
    # (adding to its cotangents); an aux holding an outer value came back plain (outer gradient 0)
    from tests.numerical import numerical_gradient
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), numerical_gradient(f, x), rtol=1e-7)


def test_a_prepared_gradient_called_with_an_outer_traced_value_says_what_to_do():
    prepared = mixedad.prepare(lambda y: np.sum(y ** 3), np.ones(3))
    with pytest.raises(mixedad.InputError, match="enclosing differentiation traces.*call mixedad.gradient"):
        mixedad.gradient(lambda x: np.sum(prepared.gradient(x * 2.0)), np.ones(3))


def test_a_gradient_of_a_forward_mode_gradient_evaluates_each_step_once(monkeypatch):
    """The inner gradient of a 3-element input runs in forward mode; its primal values are the
    outer gradient's lazy values. Each step's tangent evaluated the whole chain before it again,
    so the nested gradient took time quadratic in the loop's length (7 s for 1000 steps)."""
    from mixedad.core import region
    from mixedad.core.expressions import topological_order
    sizes = []
    evaluate = region.evaluate

    def counting(root, *args):
        sizes.append(len(topological_order(root)))
        return evaluate(root, *args)
    monkeypatch.setattr(region, "evaluate", counting)

    def f(x):
        for _ in range(200):
            x = np.sin(x) * 0.99 + 0.01 * x
        return np.sum(x)
    x = np.array([0.3, -0.5, 0.8])
    row = mixedad.gradient(lambda z: mixedad.gradient(f, z)[0], x)
    assert max(sizes) < 20  # regions of a step or two, not of the chain so far
    monkeypatch.setattr(region, "evaluate", evaluate)
    np.testing.assert_allclose(row, mixedad.hessian(f, x)[0], rtol=1e-10)
    np.testing.assert_allclose(row, numerical_gradient(lambda z: mixedad.gradient(f, z, mode="reverse")[0], x),
                               rtol=1e-6)
