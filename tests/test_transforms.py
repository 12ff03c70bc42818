"""jvp, vjp, jacobian, hvp, hessian and elementwise_gradient against finite differences,
sympy's exact derivatives on random expressions and SciPy's Rosenbrock closed forms, in
float32 and float64; nesting of derivatives (levels never mix); the mode choice of jacobian."""
from __future__ import annotations

import doctest

import numpy as np
import pytest
import sympy
from hypothesis import given, settings, strategies as st

import mixedad
import mixedad.forward
import mixedad.transforms
from mixedad import InputError
from mixedad.examples import rosenbrock as example
from mixedad.forward import EscapedDualError
from mixedad.transforms import (NotDiagonalError, elementwise_gradient, hessian, hvp, jacobian, jvp, vjp)
from numerical import numerical_gradient
from test_sympy_expressions import X, Y, expressions

scipy_optimize = pytest.importorskip("scipy.optimize")

TOLERANCE = {np.float64: dict(rtol=1e-8, atol=1e-8), np.float32: dict(rtol=2e-3, atol=2e-3)}


# ------------------------------------------------------------------------------------------
# random expressions: exact derivatives from sympy
@settings(max_examples=30, deadline=None)
@given(expression=expressions(), seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float64, np.float32]))
def test_random_expressions_match_sympy(expression, seed, dtype):
    numpy_fn, sympy_expr = expression
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, size=(3, 4)).astype(dtype)
    y = rng.uniform(-1.5, 1.5, size=(4,)).astype(dtype)  # broadcast against x
    vx, vy = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(4).astype(dtype)
    u, w = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal((3, 4)).astype(dtype)

    def derivative(*wrt):  # DiracDelta (from atan2's second derivative) is zero away from its pole
        exact = sympy.diff(sympy_expr, *wrt).replace(sympy.DiracDelta, lambda *args: sympy.S.Zero)
        return np.broadcast_to(sympy.lambdify((X, Y), exact, "numpy")(x.astype(np.float64), y.astype(np.float64)),
                               x.shape)

    exact = {"x": derivative(X), "y": derivative(Y), "xx": derivative(X, X), "yy": derivative(Y, Y)}
    tolerance = TOLERANCE[dtype]

    def f(x, y):
        return numpy_fn(x, y) + 0.0 * x

    def check(got, want, what, expected_dtype=dtype):
        assert np.result_type(got) == expected_dtype, what
        np.testing.assert_allclose(got, want, **tolerance, err_msg=f"{sympy_expr}: {what}")

    # tangents have the output's dtype: NumPy's, which a float64 constant such as
    # np.sin(0.7) promotes; cotangents, and so Hessians, have the inputs' dtypes
    value, tangent = jvp(f, (x, y), (vx, vy))
    check(tangent, exact["x"] * vx + exact["y"] * vy, "jvp", value.dtype)
    _, pullback = vjp(f, x, y)
    gx, gy = pullback(u)
    check(gx, u * exact["x"], "vjp x")
    check(gy, np.sum(u * exact["y"], axis=0), "vjp y")
    column_sums = lambda x: np.sum(f(x, y), axis=0)  # noqa: E731  (M = 4 < N = 12: reverse)
    want = np.einsum("ik,jk->jik", exact["x"], np.eye(4))
    for mode in ("auto", "forward", "reverse"):
        check(jacobian(column_sums, x, mode=mode), want, f"jacobian ({mode})", value.dtype)
    loss_x = lambda x: np.sum(f(x, y) * w)  # noqa: E731
    loss_y = lambda y: np.sum(f(x, y) * w)  # noqa: E731
    check(hvp(loss_x, x, vx), w * exact["xx"] * vx, "hvp")
    check(hessian(loss_y, y), np.diag(np.sum(w * exact["yy"], axis=0)), "hessian")


# ------------------------------------------------------------------------------------------
# a non-elementwise program against finite differences
W = np.random.default_rng(7).standard_normal((3, 4))


def network(x, b):
    h = np.tanh(W.astype(x.dtype) @ x + b[:, None])
    return np.concatenate([np.sum(h * h, axis=0), np.sort(h[1])[::-1], np.linalg.norm(h)[None]])


def _inputs(dtype):
    rng = np.random.default_rng(1)
    return rng.standard_normal((4, 2)).astype(dtype), rng.standard_normal(3).astype(dtype)


def numerical_jacobian(f, x):
    out = np.asarray(f(x), np.float64)
    rows = [numerical_gradient(lambda x, i=i: np.ravel(f(x))[i], x) for i in range(out.size)]
    return np.reshape(rows, out.shape + np.shape(x))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_jvp_and_vjp_match_finite_differences(dtype):
    x, b = _inputs(dtype)
    rng = np.random.default_rng(2)
    vx, vb = rng.standard_normal(x.shape).astype(dtype), rng.standard_normal(b.shape).astype(dtype)
    x64, b64 = x.astype(np.float64), b.astype(np.float64)
    jx = numerical_jacobian(lambda x: network(x, b64), x64)
    jb = numerical_jacobian(lambda b: network(x64, b), b64)
    value, tangent = jvp(network, (x, b), (vx, vb))
    tolerance = TOLERANCE[dtype] if dtype == np.float32 else dict(rtol=1e-6, atol=1e-8)
    assert value.dtype == tangent.dtype == dtype
    np.testing.assert_allclose(value, network(x64, b64), **tolerance)
    np.testing.assert_allclose(tangent, np.tensordot(jx, vx, 2) + jb @ vb, **tolerance)
    u = rng.standard_normal(value.shape).astype(dtype)
    _, pullback = vjp(network, x, b)
    for _ in range(2):  # the pullback can be called again
        gx, gb = pullback(u)
        assert gx.dtype == gb.dtype == dtype
        np.testing.assert_allclose(gx, np.tensordot(u, jx, 1), **tolerance)
        np.testing.assert_allclose(gb, u @ jb, **tolerance)
        u = -2 * u


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_jacobian_matches_finite_differences_in_both_modes(dtype):
    x, b = _inputs(dtype)
    want = numerical_jacobian(lambda x: network(x, b.astype(np.float64)), x.astype(np.float64))
    tolerance = TOLERANCE[dtype] if dtype == np.float32 else dict(rtol=1e-6, atol=1e-8)
    for mode in ("forward", "reverse", "auto"):
        got, choice = jacobian(network, x, b, mode=mode, return_mode=True)
        assert got.shape == (5, 4, 2) and got.dtype == dtype
        np.testing.assert_allclose(got, want, **tolerance, err_msg=mode)
        assert choice.n_inputs == 8 and choice.n_outputs == 5
    assert choice.mode == "reverse"  # N = 8 inputs > M = 5 outputs


def test_hessian_and_hvp_match_finite_differences_of_the_gradient():
    x, b = _inputs(np.float64)
    loss = lambda x: np.sum(network(x, b) ** 2) + np.prod(x[0])  # noqa: E731
    want = numerical_jacobian(lambda x: mixedad.gradient(loss, x), x)
    np.testing.assert_allclose(hessian(loss, x), want, rtol=1e-6, atol=1e-7)
    v = np.random.default_rng(3).standard_normal(x.shape)
    np.testing.assert_allclose(hvp(loss, x, v), np.tensordot(want, v, 2), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------------------------
# SciPy's Rosenbrock function
def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rosenbrock_matches_scipy(seed, dtype):
    rng = np.random.default_rng(seed)
    n = 3 + 4 * seed
    x, v = rng.uniform(-2.0, 2.0, n).astype(dtype), rng.standard_normal(n).astype(dtype)
    x64, v64 = x.astype(np.float64), v.astype(np.float64)
    tolerance = dict(rtol=1e-12, atol=1e-9) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-2)
    got = {"gradient": mixedad.gradient(rosen, x), "hvp": hvp(rosen, x, v), "hessian": hessian(rosen, x)}
    want = {"gradient": scipy_optimize.rosen_der(x64), "hvp": scipy_optimize.rosen_hess_prod(x64, v64),
            "hessian": scipy_optimize.rosen_hess(x64)}
    for name in got:
        assert got[name].dtype == dtype, name
        np.testing.assert_allclose(got[name], want[name], **tolerance, err_msg=name)


def test_trust_ncg_converges_on_rosenbrock_in_100_dimensions():
    result = example.minimize_rosenbrock(100)
    assert result.success and result.x.shape == (100,)
    np.testing.assert_allclose(result.x, np.ones(100), atol=1e-6)
    assert result.nhev > 0  # the Hessian-vector products were used
    from_scipy = scipy_optimize.minimize(rosen, result.x * 0 + np.resize([1.3, 0.7, 0.8, 1.9, 1.2], 100),
                                         method="trust-ncg", jac=scipy_optimize.rosen_der,
                                         hessp=scipy_optimize.rosen_hess_prod, options={"gtol": 1e-8})
    assert result.nit == from_scipy.nit  # the same steps as with SciPy's closed forms


def test_rosenbrock_example_runs(capsys):
    example.main()
    assert "trust-ncg, 100 dimensions: Optimization terminated successfully" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------
# jacobian: the mode choice, chunks and structures
def test_auto_picks_forward_for_tall_and_reverse_for_wide():
    x = np.linspace(0.1, 1.0, 5)
    tall, tall_choice = jacobian(lambda x: np.outer(x, x), x, return_mode=True)
    wide, wide_choice = jacobian(lambda x: np.sum(x ** 2) * x[:2], x, return_mode=True)
    assert (tall_choice.mode, tall_choice.passes) == ("forward", 1)
    assert (wide_choice.mode, wide_choice.passes) == ("reverse", 2)
    assert "forward" in str(tall_choice) and "N=5" in str(wide_choice)
    np.testing.assert_allclose(tall, jacobian(lambda x: np.outer(x, x), x, mode="reverse"))
    np.testing.assert_allclose(wide, jacobian(lambda x: np.sum(x ** 2) * x[:2], x, mode="forward"))


def test_forward_jacobian_is_chunked_by_twelve():
    x = np.linspace(-1.0, 1.0, 30)
    f = lambda x: np.cumsum(np.sin(x)) * x[::-1]  # noqa: E731
    forward, choice = jacobian(f, x, mode="forward", return_mode=True)
    assert choice.passes == 3
    np.testing.assert_allclose(forward, jacobian(f, x, mode="reverse"), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(forward, numerical_jacobian(f, x), rtol=1e-6, atol=1e-8)


def test_jacobian_of_pytrees_nests_like_jax():
    params = {"w": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.array([0.5, -0.5])}
    x = np.array([1.0, -1.0])

    def f(params, x):
        return {"y": params["w"] @ x + params["b"], "s": np.sum(x * x)}

    for mode in ("forward", "reverse"):
        by_params = jacobian(f, params, x, mode=mode)
        assert by_params["y"]["w"].shape == (2, 2, 2) and by_params["s"]["b"].shape == ()  + (2,)
        np.testing.assert_allclose(by_params["y"]["b"], np.eye(2))
        np.testing.assert_allclose(by_params["y"]["w"][0], [[1.0, -1.0], [0.0, 0.0]])
        both = jacobian(f, params, x, argnums=(0, 1), mode=mode)
        np.testing.assert_allclose(both["y"][1], params["w"])
        np.testing.assert_allclose(both["s"][1], 2 * x)


# ------------------------------------------------------------------------------------------
# vjp and jvp: structures, repeated pullbacks, argument checks
def test_vjp_of_a_dict_output_with_aux_and_repeated_pullbacks():
    x = np.array([1.0, 2.0])
    value, pullback, aux = vjp(lambda x: ({"a": x * x, "b": np.sum(x)}, "note"), x, has_aux=True)
    assert aux == "note" and np.allclose(value["a"], [1.0, 4.0]) and value["b"] == 3.0
    np.testing.assert_allclose(pullback({"a": np.ones(2), "b": 0.0})[0], 2 * x)
    np.testing.assert_allclose(pullback({"a": np.zeros(2), "b": 1.0})[0], np.ones(2))
    cotangent = {"a": np.array([1.0, 0.0]), "b": 0.0}
    (grad,) = vjp(lambda x: {"a": x, "b": np.sum(x)}, x)[1](cotangent)
    grad[0] = 99.0
    assert cotangent["a"][0] == 1.0  # the pullback never hands back the caller's array


def test_jvp_argument_checks():
    with pytest.raises(TypeError, match="tuples"):
        jvp(np.sin, np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="shape"):
        jvp(np.sin, (np.zeros(2),), (np.ones(3),))
    with pytest.raises(InputError, match="integer"):
        jvp(np.sin, (np.arange(2),), (np.ones(2),))


def test_jvp_of_pytrees_and_float32():
    params = {"a": np.float32(2.0), "v": np.ones(3, np.float32)}
    value, tangent = jvp(lambda p: p["a"] * np.sin(p["v"]), (params,),
                         ({"a": np.float32(1.0), "v": np.zeros(3, np.float32)},))
    assert tangent.dtype == np.float32
    np.testing.assert_allclose(tangent, np.sin(np.ones(3)), rtol=1e-6)


# ------------------------------------------------------------------------------------------
# nesting: each level's perturbation stays its own
def test_nested_jvps_do_not_confuse_perturbations():
    # d/dx [x * (d/dy (x + y))] = d/dx [x * 1] = 1; confusing the two perturbations gives 2
    def inner(x):
        return jvp(lambda y: x + y, (np.array(1.0),), (np.array(1.0),))[1]

    assert jvp(lambda x: x * inner(x), (np.array(2.0),), (np.array(1.0),))[1] == 1.0


def test_jvp_of_jvp_is_the_second_derivative():
    x = np.linspace(-1.0, 1.0, 4)
    first = lambda x: jvp(np.sin, (x,), (np.ones_like(x),))[1]  # noqa: E731
    np.testing.assert_allclose(jvp(first, (x,), (np.ones_like(x),))[1], -np.sin(x))


def test_gradient_of_a_jvp_is_reverse_over_forward():
    x, v = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, -1.0])
    f = lambda x: np.sum(np.exp(x) * x[::-1])  # noqa: E731
    via_reverse = mixedad.gradient(lambda x: jvp(f, (x,), (v,))[1], x)
    np.testing.assert_allclose(via_reverse, hvp(f, x, v), rtol=1e-12)
    np.testing.assert_allclose(hvp(f, x, v), hessian(f, x) @ v, rtol=1e-12)


def test_an_escaped_dual_is_an_error():
    kept = []
    jvp(lambda x: kept.append(x) or x * 2.0, (np.ones(2),), (np.ones(2),))
    with pytest.raises(EscapedDualError, match="escaped"):
        np.sin(kept[0])


def test_a_closure_over_an_outer_dual_is_a_constant_inside():
    # the inner jvp differentiates y only; the outer one sees x * y * y
    def outer(x):
        return jvp(lambda y: x * y * y, (np.array(3.0),), (np.array(1.0),))[1]  # 2 x y = 6 x
    assert jvp(outer, (np.array(2.0),), (np.array(1.0),))[1] == 6.0


# ------------------------------------------------------------------------------------------
# elementwise_gradient
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_elementwise_gradient_is_the_derivative(dtype):
    x = np.linspace(-2.0, 2.0, 6).astype(dtype)  # not 0: where the branches meet
    f = lambda x: np.where(x > 0, np.log1p(x * x), np.sin(x) * 2.0)  # noqa: E731
    got = elementwise_gradient(f, x)
    want = [numerical_gradient(lambda t: f(t)[()], xi) for xi in x.astype(np.float64)]
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, **TOLERANCE[dtype])


def test_elementwise_gradient_accepts_diagonal_programs_built_from_other_ops():
    x = np.linspace(-1.0, 1.0, 5)
    got = elementwise_gradient(lambda x: np.concatenate([x[:2], x[2:]]) ** 3, x)  # checked on a probe
    np.testing.assert_allclose(got, 3 * x ** 2)


@pytest.mark.parametrize("f", [lambda x: np.cumsum(x), lambda x: x * np.sum(x), lambda x: x[::-1]])
def test_elementwise_gradient_refuses_a_non_diagonal_jacobian(f):
    with pytest.raises(NotDiagonalError, match="not diagonal"):
        elementwise_gradient(f, np.linspace(0.5, 1.5, 4))


def test_elementwise_gradient_needs_matching_shapes():
    with pytest.raises(NotDiagonalError, match="same shape"):
        elementwise_gradient(lambda x: np.sum(x), np.ones(3))


def _tanh_by_exponentials(x):
    return (1.0 - np.exp(-2 * x)) / (1.0 + np.exp(-(2 * x)))


_S = sympy.Symbol("s")
_TANH_DERIVATIVES = [sympy.lambdify(_S, sympy.diff(sympy.tanh(_S), _S, k), "numpy") for k in range(5)]


def _nested_elementwise(order):
    f = _tanh_by_exponentials
    for _ in range(order):
        f = (lambda g: lambda y: elementwise_gradient(g, y))(f)
    return f


@pytest.mark.parametrize("order", [2, 3, 4])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_elementwise_gradient_nests_as_autograds_egrad_does(order, dtype):
    # autograd's tanh example: egrad(egrad(tanh)) and on to the 4th derivative
    x = np.linspace(-3.0, 3.0, 7).astype(dtype)
    got = _nested_elementwise(order)(x)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, _TANH_DERIVATIVES[order](x.astype(np.float64)),
                               rtol=1e-9 if dtype == np.float64 else 1e-3, atol=1e-10 if dtype == np.float64 else 1e-4)


def test_elementwise_gradient_inside_other_transforms():
    x = np.linspace(-1.0, 1.0, 5)
    derivative = lambda k: _TANH_DERIVATIVES[k](x)  # noqa: E731
    total = lambda y: np.sum(elementwise_gradient(np.tanh, y))  # noqa: E731
    for mode in ("auto", "reverse", "forward"):
        np.testing.assert_allclose(mixedad.gradient(total, x, mode=mode), derivative(2), rtol=1e-10)
    np.testing.assert_allclose(np.diag(hessian(total, x)), derivative(3), rtol=1e-9)
    prepared = mixedad.prepare(total, x)
    np.testing.assert_allclose(prepared.gradient(x), derivative(2), rtol=1e-10)
    # f closing over a value the enclosing gradient traces, x plain
    scaled = lambda a: np.sum(elementwise_gradient(lambda y: a * np.sin(y) ** 2, x))  # noqa: E731
    assert mixedad.gradient(scaled, np.array(0.7)) == pytest.approx(numerical_gradient(scaled, np.array(0.7)))


@pytest.mark.parametrize("f", [lambda x: np.cumsum(x), lambda x: x * np.sum(x)])
def test_nested_elementwise_gradient_refuses_a_non_diagonal_jacobian(f):
    with pytest.raises(NotDiagonalError, match="not diagonal"):
        elementwise_gradient(lambda y: elementwise_gradient(f, y), np.linspace(0.5, 1.5, 4))
    with pytest.raises(NotDiagonalError, match="same shape"):
        elementwise_gradient(lambda y: elementwise_gradient(lambda z: z[:2], y), np.linspace(0.5, 1.5, 4))


# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("module", [mixedad.transforms, mixedad.forward, example])
def test_docstring_examples_run(module):
    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(module):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


# names the lead adds to mixedad/__init__.py; until then the page's code finds them here
EXPORTS = ("jvp", "vjp", "jacobian", "hvp", "hessian", "elementwise_gradient", "JacobianChoice",
           "NotDiagonalError")


def test_the_docs_page_runs(monkeypatch, capsys):
    import pathlib
    import re
    for name in EXPORTS:
        if not hasattr(mixedad, name):
            monkeypatch.setattr(mixedad, name, getattr(mixedad.transforms, name), raising=False)
    page = pathlib.Path(__file__).resolve().parent.parent / "docs" / "forward-and-second-order.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert len(blocks) >= 7
    namespace = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "forward mode (1 forward pass; N=3 inputs, M=50 outputs)" in printed
    assert "The Jacobian of f is not diagonal" in printed


def _one_argument_ops(x):
    """General primitives applied to one traced value each (the tape's common case): moves,
    a reduction and a maximum, whose reverse rules read the saved input or output."""
    y = np.reshape(x, (2, 3)).T
    s = np.sum(y * y, axis=1)
    return np.concatenate([np.cumsum(s[::-1]), np.max(y, axis=0, keepdims=True).ravel()])


@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_a_pullback_over_one_argument_ops_can_be_called_again(mode):
    x = np.array([0.3, -1.2, 0.8, 2.0, -0.5, 1.1])
    value, pullback = vjp(_one_argument_ops, x, mode=mode)
    np.testing.assert_allclose(value, _one_argument_ops(x))
    rng = np.random.default_rng(3)
    for _ in range(3):  # the rules and what they read must survive each sweep
        u = rng.standard_normal(value.shape)
        (gx,) = pullback(u)
        np.testing.assert_allclose(gx, numerical_gradient(lambda v: _one_argument_ops(v) @ u, x), rtol=1e-6, atol=1e-8)


def test_dict_tangents_and_cotangents_are_matched_by_key_not_by_order():
    """JAX sorts a dict's keys; mixedad keeps their order, so a tangent written with its keys in
    another order than the primal's must still go to the right leaves (it went by position)."""
    params = {"w": np.array([1.0, 2.0]), "b": np.array([10.0, 20.0])}

    def f(p):
        return p["w"] * 3.0 + p["b"] * 0.0

    reordered = {"b": np.zeros(2), "w": np.ones(2)}
    np.testing.assert_allclose(jvp(f, (params,), (reordered,))[1], [3.0, 3.0])
    hv = mixedad.hvp(lambda p: np.sum(p["w"] ** 2), params, reordered)
    np.testing.assert_allclose(hv["w"], [2.0, 2.0])
    np.testing.assert_allclose(hv["b"], [0.0, 0.0])
    _, pullback = mixedad.vjp(lambda a: {"u": a * 1.0, "z": a * 0.0}, params["w"])
    np.testing.assert_allclose(pullback({"z": np.zeros(2), "u": np.ones(2)})[0], [1.0, 1.0])
    for wrong, message in (([np.ones(2), np.ones(2)], "has a list; expected a dict"),
                           ({"w": np.ones(2)}, "has keys 'w'; expected a dict with keys 'b', 'w'")):
        with pytest.raises(ValueError, match=message):
            jvp(f, (params,), (wrong,))


def test_hvp_and_hessian_of_scalars_have_the_arguments_types():
    """As gradient gives them: a Python float in, a float out; np.float32 stays np.float32."""
    import collections
    assert type(hvp(lambda x: x ** 3, 2.0, 1.0)) is float and hvp(lambda x: x ** 3, 2.0, 1.0) == 12.0
    assert type(hessian(lambda x: x ** 3, 2.0)) is float
    single = hessian(lambda x: x ** 3, np.float32(2.0))
    assert type(single) is np.float32 and single == 12.0
    Pair = collections.namedtuple("Pair", "a b")
    result = hvp(lambda p: p.a ** 2 * p.b, Pair(1.0, 2.0), Pair(1.0, 0.0))
    assert result == Pair(4.0, 2.0) and type(result.a) is float
    assert hvp(lambda x: np.sum(x ** 3), np.ones(2, np.float32), np.ones(2, np.float32)).dtype == np.float32


PULLED_ONCE_AGAIN = {  # a function, and an input for which a cotangent 1 is the whole seed
    "sum of sin": (lambda x: np.sum(np.sin(x)), np.linspace(0.1, 1.0, 5)),
    "sum of tanh times x": (lambda x: np.sum(np.tanh(x) * x), np.linspace(0.1, 1.0, 5)),
    "mixedad.sum": (lambda x: mixedad.sum(lambda t: np.arctan2(t, 2.0), x), np.linspace(0.1, 1.0, 5)),
    "elementwise on 0-d": (np.sin, np.array(0.7)),
}


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
@pytest.mark.parametrize("name", list(PULLED_ONCE_AGAIN))
def test_a_pullback_result_changed_in_place_leaves_later_pulls_alone(name, mode):
    """A fused sum's partial is what a unit cotangent pulls back: the pullback handed out the
    array its tape keeps for the next pull, and ``g *= 100`` changed every later result."""
    f, x = PULLED_ONCE_AGAIN[name]
    value, pullback = vjp(f, x, mode=mode)
    step = 1e-6
    expected = [(f(x + step * e) - f(x - step * e)) / (2 * step) for e in np.eye(x.size).reshape((x.size,) + x.shape)]
    (first,) = pullback(1.0)
    first *= 100.0
    for cotangent in (1.0, np.float64(1.0)):
        (again,) = pullback(cotangent)
        assert again is not first
        np.testing.assert_allclose(np.ravel(again), expected, rtol=1e-7)
