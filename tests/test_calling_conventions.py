"""The ways NumPy lets a function be called: arrays by keyword, ``out=`` (by keyword and by
position), in-place operators with aliases, ``in``, ``np.diff``'s edges. Found by a survey of
about 330 NumPy functions in every mode; each was a crash or, in forward mode, a wrong value."""
import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient

rng = np.random.default_rng(11)
G = rng.standard_normal((3, 4))
SPD = G[:, :3] @ G[:, :3].T + 3 * np.eye(3)
C = rng.standard_normal((4, 2))


def _check_every_mode(f, x):
    """Value and gradient of ``sum(f(x) * w)`` against NumPy and central differences in auto
    and reverse mode; value and tangent of ``f`` against them in forward mode (jvp)."""
    weights = np.random.default_rng(0).standard_normal(np.shape(f(x.copy())))

    def loss(v):
        return np.sum(f(v) * weights)

    expected = numerical_gradient(loss, x)
    for mode in ("auto", "reverse"):
        value, grad = mixedad.value_and_gradient(loss, x, mode=mode)
        assert value == pytest.approx(loss(x.copy()), rel=1e-12)
        np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)
    direction = np.random.default_rng(1).standard_normal(x.shape)
    value, tangent = mixedad.jvp(f, (x,), (direction,))
    np.testing.assert_allclose(value, f(x.copy()), rtol=1e-12)
    np.testing.assert_allclose(np.sum(tangent * weights), expected.ravel() @ direction.ravel(), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f", [
    lambda x: np.sort(a=x, axis=0),
    lambda x: np.transpose(a=x),
    lambda x: np.flip(m=x, axis=1),
    lambda x: np.triu(m=x),
    lambda x: np.dot(a=x, b=C),
    lambda x: np.tensordot(a=x, b=C, axes=1),
    lambda x: np.linalg.inv(a=x[:, :3] + 3 * np.eye(3)),
    lambda x: np.linalg.det(a=x[:, :3] + 3 * np.eye(3)),
    lambda x: np.linalg.solve(SPD, b=x),  # a constant matrix, the differentiated right side
    lambda x: np.linalg.solve(x[:, :3] + 3 * np.eye(3), b=np.ones(3)),  # a constant right side
    lambda x: np.linalg.solve(a=x[:, :3] + 3 * np.eye(3), b=x[:, 3]),
], ids=["sort", "transpose", "flip", "triu", "dot", "tensordot", "inv", "det", "solve-b", "solve-const-b",
        "solve-both"])
def test_arrays_passed_by_their_numpy_names(f):
    """The rules take differentiated arrays by position: these crashed (a keyword b of solve got
    a joint rule's two cotangents as one; jvp recursed until RecursionError)."""
    _check_every_mode(f, G.copy())


@pytest.mark.parametrize("f", [
    lambda x: np.diff(x, prepend=[1.0, 2.0]),
    lambda x: np.diff(x, append=x[:2], n=2),
    lambda x: np.diff(x, prepend=0.5, append=x[-1] * 2.0),
    lambda x: np.diff(x.reshape(2, 3), axis=0, prepend=np.ones((2, 3))),
], ids=["list-prepend", "traced-append", "scalars", "2d"])
def test_diff_takes_edges_longer_than_one(f):
    """NumPy broadcasts only a scalar prepend/append to one slice; longer ones crashed."""
    _check_every_mode(f, np.array([0.3, -1.2, 2.0, 0.7, 1.5, -0.4]))


@pytest.mark.parametrize("n", [-1, -3])
def test_diff_of_a_negative_order_raises_as_numpy_does(n):
    with pytest.raises(ValueError, match="order must be non-negative"):
        np.diff(np.ones(3), n=n)
    with pytest.raises(ValueError, match="order must be non-negative"):
        mixedad.gradient(lambda x: np.sum(np.diff(x, n=n) ** 2), np.array([1.0, 4.0, 9.0]))


def _alias_after_multiply(x):
    y = np.exp(x)
    z = y
    y *= x
    return z


def _alias_after_matmul(x):
    y = x * 1.0
    z = y
    y @= np.eye(4) + 0.1
    return z * 2.0


@pytest.mark.parametrize("f", [_alias_after_multiply, _alias_after_matmul])
def test_in_place_operators_update_so_aliases_see_it(f):
    """jvp rebound the name, so the alias kept the old value (value and tangent silently wrong);
    gradient raised (until session 45): the alias now stands for the update in every mode."""
    direction = rng.standard_normal(G.shape)
    value, tangent = mixedad.jvp(f, (G,), (direction,))
    np.testing.assert_allclose(value, f(G.copy()), rtol=1e-12)
    weights = rng.standard_normal(G.shape)
    expected = numerical_gradient(lambda v: np.sum(f(v) * weights), G)
    np.testing.assert_allclose(np.sum(tangent * weights), np.sum(expected * direction), rtol=1e-6)
    for mode in ("auto", "reverse"):
        np.testing.assert_allclose(mixedad.gradient(lambda v: np.sum(f(v) * weights), G, mode=mode), expected,
                                   rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("call", [
    lambda x, buffer: np.dot(x, C, out=buffer[:3]),
    lambda x, buffer: np.dot(x, C, buffer[:3]),
    lambda x, buffer: x.dot(C, out=buffer[:3]),
    lambda x, buffer: np.outer(x[0], x[1, :2], out=buffer),
    lambda x, buffer: np.outer(x[0], x[1, :2], buffer),
], ids=["dot-keyword", "dot-positional", "method", "outer-keyword", "outer-positional"])
@pytest.mark.parametrize("how", ["gradient", "jvp"])
def test_out_arguments_are_refused_and_the_buffer_is_untouched(call, how):
    """jvp wrote the value, then the tangent, into the buffer and returned the tangent as the value."""
    buffer = np.zeros((4, 2))
    with pytest.raises(mixedad.MixedadError, match="out="):
        if how == "gradient":
            mixedad.gradient(lambda x: np.sum(call(x, buffer)), G)
        else:
            mixedad.jvp(lambda x: call(x, buffer), (G,), (np.ones_like(G),))
    np.testing.assert_array_equal(buffer, 0.0)


def test_in_tests_every_element_as_numpy_does():
    """``v in x`` is ``(x == v).any()`` for any number of dimensions (a 2-D x raised)."""
    def f(x):
        return np.sum(x) * (x[1, 2] in x) + np.sum(x ** 2) * (0.123 in x)

    np.testing.assert_allclose(mixedad.gradient(f, G), numerical_gradient(f, G), rtol=1e-6, atol=1e-8)
    assert mixedad.jvp(f, (G,), (np.ones_like(G),))[1] == pytest.approx(G.size)


def test_lstsq_rank_has_numpys_type_in_forward_mode():
    rank = mixedad.jvp(lambda x: np.linalg.lstsq(x.T, np.ones(4), rcond=None)[2], (G,), (np.ones_like(G),))[0]
    assert np.asarray(rank).dtype == np.asarray(np.linalg.lstsq(G.T, np.ones(4), rcond=None)[2]).dtype


def test_nan_to_num_in_place_replaces_the_traced_value():
    """copy=False did nothing on a traced value: the NaN stayed, and nanmean skipped it."""
    def f(x):
        y = np.log(x)
        np.nan_to_num(y, copy=False)
        return np.nanmean(y)

    x = np.array([0.5, -1.0, 3.0])
    with np.errstate(invalid="ignore"):
        expected_value = f(x.copy())
        for mode in ("auto", "reverse"):
            value, grad = mixedad.value_and_gradient(f, x, mode=mode)
            assert value == pytest.approx(expected_value)
            np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=1e-6, atol=1e-8)
        assert mixedad.jvp(f, (x,), (np.ones(3),))[0] == pytest.approx(expected_value)


def test_nan_to_num_replacements_may_be_traced():
    def f(x):
        return np.sum(np.nan_to_num(np.log(x), nan=x[2] * 2.0, posinf=7.0) * np.arange(1.0, 4.0))

    x = np.array([1.5, -1.0, 3.0])
    with np.errstate(invalid="ignore"):
        value, grad = mixedad.value_and_gradient(f, x)
        assert value == pytest.approx(f(x))
        np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=1e-6, atol=1e-8)


# A ufunc told to compute in integers (dtype=, signature=, casting="unsafe") is piecewise
# constant: its derivative is 0, not the float rule's. Inputs away from the integer steps.
INTEGER_LOOPS = [
    lambda x: np.multiply(x, 10.0, dtype=np.int64, casting="unsafe") * 1.0,
    lambda x: np.maximum(x * 10, 0.0, dtype=np.int64, casting="unsafe"),
    lambda x: np.negative(x * 10, dtype="i8", casting="unsafe") * 1.5,
    lambda x: np.multiply(x, 10.0, signature="ll->l", casting="unsafe") * x,
    lambda x: np.square(x * 10, dtype=np.int64, casting="unsafe") + x,
]


@pytest.mark.parametrize("f", INTEGER_LOOPS)
@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_ufuncs_computing_in_integers_are_piecewise_constant(f, mode):
    x = np.array([0.33, 0.74, -0.26])
    loss = lambda x: np.sum(f(x)) + np.sum(x ** 2)
    value, grad = mixedad.value_and_gradient(loss, x, mode=mode)
    assert value == loss(x)
    np.testing.assert_allclose(grad, numerical_gradient(loss, x), rtol=1e-7, atol=1e-9)


def test_ufuncs_told_a_float_dtype_stay_differentiable():
    x = np.array([0.33, 0.74, -0.26])
    for f, scale in ((lambda x: np.multiply(x, 10.0, dtype=np.float32), 10.0),
                     (lambda x: np.ldexp(x, 2, dtype=np.float64), 4.0)):
        # d/dx (scale x) x = 2 scale x (differences of a float32 cast would be noise)
        np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(f(x) * x), x), 2 * scale * x, rtol=1e-6)
