"""Linear algebra and statistics of complex intermediate values (``rules.complex_linalg``):
``solve``, ``inv``, ``eigvalsh`` of a Hermitian matrix, ``var``, ``std``, ``prod`` and
``astype(complex)``, checked against float64 central differences in every mode, second
order against differences of the gradient, with hypothesis-drawn shapes and axes."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedad
from mode_checks import assert_second_order_and_replays
from numerical import numerical_gradient

RNG = np.random.default_rng(7)
B, C = RNG.standard_normal((4, 4)), RNG.standard_normal((4, 4))
COMPLEX_B = RNG.standard_normal(4) + 1j * RNG.standard_normal(4)
X = RNG.standard_normal(4) * 0.5 + 1.0


def matrix(x):
    """A complex 4x4 matrix, well conditioned, that depends on every element of x."""
    return np.eye(4) * (3 + 1j) + np.outer(x, x[::-1]) * (0.3 - 0.2j) + B + 1j * C * x[0]


CASES = {
    "astype(complex)": lambda x: np.sum(np.abs(x.astype(complex) * (1 + 2j)) ** 2),
    "var": lambda x: np.var(x * (1 + 1j) + 1j * x ** 2),
    "var, axis and ddof": lambda x: np.sum(np.var(np.outer(x, x) * (1 - 1j) + 1j * x, axis=0, ddof=1)),
    "var, mean given": lambda x: np.var(x * (1 + 1j), mean=np.mean(x * (1 + 1j), keepdims=True)),
    "std": lambda x: np.std(np.exp(1j * x) * x),
    "std, correction and where": lambda x: np.std(np.exp(1j * x) * x, correction=1.5, where=[True, False, True, True]),
    "std, no spread along an axis": lambda x: np.sum(np.std(np.outer([1.0, 1.0], x * (1 + 1j)), axis=0)) + np.std(x),
    "std, keepdims": lambda x: np.sum(np.std(np.outer(x, x) * 1j + x, axis=1, keepdims=True) * [[1], [2], [3], [4]]),
    "sum with a real initial": lambda x: np.abs(np.sum(x * (1 + 1j), initial=2.0)) ** 2,
    "sum with a complex initial, axis": lambda x: np.sum(np.abs(np.sum(np.outer(x, x) * 1j, axis=0, initial=1 - 2j))),
    "diff with prepend and append": lambda x: np.sum(np.abs(np.diff(x * (1 - 1j), prepend=0.5j, append=x[0] + 2.0))),
    "diff with positional n, axis and a traced prepend": lambda x: np.sum(np.abs(
        np.diff(np.outer(x, x) * (1 + 1j), 1, 0, x[None, :] * 1j)) ** 2),
    "prod": lambda x: np.abs(np.prod(x * (1 + 1j) + 1j)),
    "prod, axis and keepdims": lambda x: np.sum(np.abs(np.prod(np.outer(x, x) * (1 - 0.5j), axis=1, keepdims=True))),
    "prod with an exact zero": lambda x: np.real(np.prod((x - x[0]) * (1 + 1j) + x[1] * 1j)),
    "prod of an odd count": lambda x: np.imag(np.prod(np.concatenate([x, x[:1]]) * (1 + 1j))),
    "solve, vector": lambda x: np.sum(np.abs(np.linalg.solve(matrix(x), COMPLEX_B * x[1]))),
    "solve, real right-hand side": lambda x: np.sum(np.abs(np.linalg.solve(matrix(x), x))),
    "solve, matrix right-hand side": lambda x: np.sum(np.abs(np.linalg.solve(matrix(x), np.outer(x, [1, 2j]))) ** 2),
    "solve, real matrix": lambda x: np.sum(np.abs(np.linalg.solve(np.eye(4) * 3 + np.outer(x, x), COMPLEX_B))),
    "solve, constant complex matrix": lambda x: np.sum(np.abs(np.linalg.solve(matrix(X), x * (1 + 1j)))),
    "solve, stacked": lambda x: np.sum(np.abs(np.linalg.solve(np.stack([matrix(x), matrix(x ** 2)]),
                                                              (np.stack([x, x[::-1]]) + 0j)[..., None]))),
    "inv": lambda x: np.sum(np.abs(np.linalg.inv(matrix(x))) ** 2),
    "inv of a real value cast": lambda x: np.sum(np.linalg.inv((np.eye(4) * 3 + np.outer(x, x)).astype(complex)).real),
    "eigvalsh, Hermitian": lambda x: np.sum(np.linalg.eigvalsh(matrix(x) + matrix(x).conj().T) ** 2),
    "eigvalsh, upper triangle": lambda x: np.sum(np.linalg.eigvalsh(matrix(x), UPLO="U") * np.arange(4)),
    "eigvalsh, lower triangle read": lambda x: np.sum(np.linalg.eigvalsh(matrix(x)) * np.arange(4)),
}


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_and_value_match_numpy_and_central_differences(name, mode):
    f = CASES[name]
    value, grad = mixedad.value_and_gradient(f, X, mode=mode)
    assert value == pytest.approx(f(X), rel=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(f, X), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["inv", "eigvalsh, Hermitian", "prod", "std", "solve, vector"])
def test_second_derivatives_and_prepared_replays(name):
    assert assert_second_order_and_replays(CASES[name], X).replays


def _matrix64(x):  # complex64 for float32 x: NumPy's result stays float32
    dtype = np.result_type(x, np.complex64)
    return np.eye(4, dtype=dtype) * (3 + 1j) + np.outer(x, x[::-1]) * dtype.type(0.3 - 0.2j)


FLOAT32_CASES = {
    "astype(complex64)": lambda x: np.sum(np.abs(x.astype(np.result_type(x, np.complex64)) * (1 + 2j)) ** 2),
    "var": CASES["var"], "std": CASES["std"], "prod": CASES["prod"],
    "solve": lambda x: np.sum(np.abs(np.linalg.solve(_matrix64(x), x))),
    "inv": lambda x: np.sum(np.abs(np.linalg.inv(_matrix64(x))) ** 2),
    "eigvalsh": lambda x: np.sum(np.linalg.eigvalsh(_matrix64(x)) ** 2),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_stays_float32(name):
    f, x32 = FLOAT32_CASES[name], X.astype(np.float32)
    value, grad = mixedad.value_and_gradient(f, x32)
    assert grad.dtype == np.float32 and np.asarray(value).dtype == np.asarray(f(x32)).dtype == np.float32
    np.testing.assert_allclose(grad, numerical_gradient(f, X), rtol=2e-3, atol=2e-3)


def test_astype_to_a_wider_complex_dtype_computes_in_it():
    x32 = X.astype(np.float32)
    got = mixedad.gradient(lambda x: np.sum(np.abs(x.astype(np.complex128) * (1 + 2j)) ** 2), x32)
    np.testing.assert_allclose(got, 10 * x32.astype(np.float64), rtol=1e-6)  # d/dx 5 x^2


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), data=st.data(),
       function=st.sampled_from(["var", "std", "prod"]), keepdims=st.booleans())
def test_reductions_over_drawn_shapes_and_axes(shape, data, function, keepdims):
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    x = np.random.default_rng(len(shape)).uniform(0.5, 1.5, size=shape)
    weights = np.linspace(1.0, 2.0, np.prod(shape))

    def f(x):
        z = x * (1 + 0.5j) + 1j * x ** 2
        reduced = getattr(np, function)(z, axis=axis, keepdims=keepdims)
        magnitude = reduced if function != "prod" else np.abs(reduced)
        return np.sum(np.ravel(magnitude) * weights[:np.size(magnitude)])

    np.testing.assert_allclose(mixedad.value_and_gradient(f, x)[0], f(x), rtol=1e-12)
    np.testing.assert_allclose(mixedad.gradient(f, x), numerical_gradient(f, x), rtol=1e-6, atol=1e-7)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), batch=st.lists(st.integers(1, 2), max_size=2), vector=st.booleans())
def test_solve_over_drawn_sizes_and_stacks(n, batch, vector):
    rng = np.random.default_rng(n)
    shape = tuple(batch) + (n, n)
    real, imag = rng.standard_normal(shape), rng.standard_normal(shape)
    rhs = rng.standard_normal(n) if vector else rng.standard_normal(tuple(batch) + (n, 2))

    def f(scale):
        a = (real + n * np.eye(n)) * scale[0] + 1j * imag * scale[1]
        return np.sum(np.abs(np.linalg.solve(a, rhs * (1 + 1j) * scale[2])))

    scale = np.array([1.0, 0.5, 2.0])
    np.testing.assert_allclose(mixedad.value_and_gradient(f, scale)[0], f(scale), rtol=1e-10)
    np.testing.assert_allclose(mixedad.gradient(f, scale), numerical_gradient(f, scale), rtol=1e-5, atol=1e-7)


def test_complex_determinants_still_refuse_with_the_line():
    with pytest.raises(mixedad.UnsupportedOperationError, match=r"numpy.linalg.det .*test_complex_linalg.py"):
        mixedad.gradient(lambda x: np.abs(np.linalg.det(matrix(x))), X)
