"""Derivatives at singular points, where a formula that divides breaks: np.linalg.det at singular
matrices of every rank (the gradient is the cofactor matrix, the Hessian the second-order
minors), np.linalg.slogdet there (its gradient does not exist: no finite number may come out),
and np.cumprod / np.prod at inputs holding zeros (the Hessian needs the gradient's own
derivative at the zeros).

Every mode is checked — gradient (auto, reverse, forward), a prepared gradient replayed at the
singular point, jvp and hessian — against references that do not use mixedad: sympy's exact
derivatives, cofactors and second-order minors from np.linalg.det of submatrices, and central
differences in float64 (det, cumprod and prod are polynomials of degree at most one or two in
each input, so second differences are exact up to rounding).
"""
from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import mixedad
from numerical import numerical_gradient

HAS_CUMULATIVE_PROD = hasattr(np, "cumulative_prod")


# ------------------------------------------------------------------------------------------
# references
def cofactors_by_minors(a):
    """C[..., i, j] = (-1)^(i+j) det(a without row i and column j)."""
    n = a.shape[-1]
    out = np.zeros(a.shape)
    for i, j in itertools.product(range(n), range(n)):
        minor = np.delete(np.delete(a, i, axis=-2), j, axis=-1)
        out[..., i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return out


def det_hessian_by_minors(a):
    """d^2 det / da[i, j] da[k, l]: +- the determinant of a without rows i, k and columns j, l
    (zero when i == k or j == l), for one matrix."""
    n = a.shape[-1]
    out = np.zeros(a.shape + a.shape)
    for i, j, k, l in itertools.product(range(n), repeat=4):
        if i != k and j != l:
            minor = np.delete(np.delete(a, [i, k], axis=0), [j, l], axis=1)
            position = (k - (k > i)) + (l - (l > j))  # of a[k, l] in the minor of a[i, j]
            out[i, j, k, l] = (-1) ** (i + j + position) * np.linalg.det(minor)
    return out


def second_differences(f, x, step):
    """The Hessian of scalar ``f`` by central differences of f itself (exact for a polynomial of
    degree at most two in each input, up to rounding)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    hessian = np.zeros((n, n))
    basis = np.eye(n).reshape((n,) + x.shape) * step
    for i in range(n):
        for j in range(i, n):
            value = (f(x + basis[i] + basis[j]) - f(x + basis[i] - basis[j])
                     - f(x - basis[i] + basis[j]) + f(x - basis[i] - basis[j])) / (4 * step * step)
            hessian[i, j] = hessian[j, i] = value
    return hessian.reshape(x.shape + x.shape)


@functools.lru_cache(maxsize=None)
def sympy_det_derivatives(n):
    """The gradient and Hessian of det for a symbolic n x n matrix, as functions of its entries."""
    symbols = sympy.symbols(f"m0:{n * n}")
    det = sympy.Matrix(n, n, symbols).det(method="berkowitz")
    gradient = [sympy.diff(det, s) for s in symbols]
    hessian = [[sympy.diff(g, s) for s in symbols] for g in gradient]
    return sympy.lambdify(symbols, gradient, "sympy"), sympy.lambdify(symbols, hessian, "sympy")


def sympy_det_gradient_and_hessian(a):
    """Evaluated exactly, in rationals, at the float64 matrix ``a``."""
    n = a.shape[0]
    gradient, hessian = sympy_det_derivatives(n)
    values = [sympy.Rational(float(v)) for v in a.ravel()]
    return (np.array(gradient(*values), dtype=float).reshape(n, n),
            np.array(hessian(*values), dtype=float).reshape(n, n, n, n))


def gradients_in_every_mode(f, x, prepared_at):
    """Gradients of f at x: auto, reverse, forward, and traced at ``prepared_at`` then replayed at x."""
    yield "auto", mixedad.gradient(f, x)
    yield "reverse", mixedad.gradient(f, x, mode="reverse")
    yield "forward", mixedad.gradient(f, x, mode="forward")
    yield "prepared", mixedad.prepare(f, prepared_at.copy()).gradient(x.copy())


def assert_every_mode(f, x, expected_gradient, expected_hessian, prepared_at, rtol, atol):
    for mode, grad in gradients_in_every_mode(f, x, prepared_at):
        np.testing.assert_allclose(grad, expected_gradient, rtol=rtol, atol=atol, err_msg=mode)
    direction = np.random.default_rng(11).standard_normal(np.shape(x))
    value, tangent = mixedad.jvp(f, (x,), (direction,))
    assert value == pytest.approx(f(x), rel=1e-12, abs=atol)
    assert tangent == pytest.approx(np.sum(expected_gradient * direction), rel=rtol, abs=atol * direction.size)
    np.testing.assert_allclose(mixedad.hessian(f, x), expected_hessian, rtol=rtol, atol=atol, err_msg="hessian")


def det(a):
    return np.linalg.det(a)


# ------------------------------------------------------------------------------------------
# det: exact references from sympy at singular integer matrices
SINGULAR_MATRICES = [
    np.array([[1.0, 2.0], [2.0, 4.0]]),                                  # rank 1 of 2
    np.zeros((2, 2)),                                                    # rank 0 of 2
    np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]),       # rank 2 of 3
    np.outer([1.0, -2.0, 3.0], [2.0, 1.0, -1.0]),                        # rank 1 of 3: gradient 0
    np.array([[1.0, 2.0, 0.0, 1.0], [0.0, 1.0, 1.0, 2.0], [1.0, 3.0, 1.0, 3.0], [2.0, 1.0, -1.0, 0.0]]),  # rank 3
    np.outer([1.0, 2.0, 3.0, 4.0], [1.0, -1.0, 2.0, 0.5]) + np.outer([0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]),  # 2 of 4
    np.outer([1.0, 0.0, -1.0, 2.0], [3.0, 1.0, 1.0, -2.0]),              # rank 1 of 4: gradient and Hessian 0
    np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 0.0, 0.0, 0.0, 0.0], [2.0, 1.0, 0.0, 1.0, 2.0],
              [1.0, 1.0, 1.0, 1.0, 1.0], [3.0, 0.0, 1.0, -1.0, 2.0]]),   # a zero row, rank 4 of 5
]


@pytest.mark.parametrize("index", range(len(SINGULAR_MATRICES)))
def test_det_at_singular_matrices_in_every_mode(index):
    a = SINGULAR_MATRICES[index]
    n = a.shape[0]
    assert np.linalg.matrix_rank(a) < n
    if n <= 4:  # sympy's derivatives of the symbolic determinant, evaluated exactly
        gradient, hessian = sympy_det_gradient_and_hessian(a)
    else:  # (5x5 takes sympy seconds) cofactors and second-order minors
        gradient, hessian = cofactors_by_minors(a), det_hessian_by_minors(a)
    regular = a + np.eye(n)  # a prepared gradient traced away from the singular point
    assert_every_mode(det, a, gradient, hessian, regular, rtol=1e-10, atol=1e-10)


def test_sympy_reference_is_not_trivial_where_the_old_rule_failed():
    gradient, hessian = sympy_det_gradient_and_hessian(SINGULAR_MATRICES[5])
    assert np.abs(gradient).max() == 0  # rank n - 2: no gradient ...
    assert np.abs(hessian).max() > 1    # ... but a Hessian
    gradient, _ = sympy_det_gradient_and_hessian(SINGULAR_MATRICES[4])
    assert np.abs(gradient).max() > 1   # rank n - 1: a gradient, where inv(A) raises
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.inv(SINGULAR_MATRICES[0])


def test_det_hessian_matches_second_differences_at_singular_and_regular_matrices():
    rng = np.random.default_rng(0)
    for a in (SINGULAR_MATRICES[2], SINGULAR_MATRICES[5], rng.standard_normal((4, 4)), rng.standard_normal((5, 5))):
        expected = second_differences(det, a, step=0.25)
        np.testing.assert_allclose(mixedad.hessian(det, a), expected, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(mixedad.gradient(det, a), numerical_gradient(det, a), rtol=1e-7, atol=1e-8)


# ------------------------------------------------------------------------------------------
# det: random rank-deficient matrices A = B C, batched or not
@st.composite
def rank_deficient(draw):
    n = draw(st.integers(2, 5))
    rank = draw(st.integers(0, n - 1))
    batch = draw(st.sampled_from([(), (2,), (2, 1)]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, batch + (n, rank)) @ rng.uniform(-1, 1, batch + (rank, n))
    if batch and draw(st.booleans()):
        a[0] = rng.uniform(-1, 1, (n, n))  # one regular matrix among singular ones
    return a


@settings(max_examples=30, deadline=None)
@given(rank_deficient())
def test_det_of_rank_deficient_matrices_in_every_mode(a):
    n = a.shape[-1]
    weights = np.linspace(1.0, 2.0, int(np.prod(a.shape[:-2], dtype=int))).reshape(a.shape[:-2])

    def f(z):
        return np.sum(np.linalg.det(z) * weights)

    scale = max(1.0, np.abs(a).max()) ** (n - 1)
    expected = weights[..., None, None] * cofactors_by_minors(a)
    np.testing.assert_allclose(expected, numerical_gradient(f, a), rtol=1e-6, atol=1e-7 * scale)  # the yardstick
    hessian = np.zeros(a.shape + a.shape)
    for index in np.ndindex(a.shape[:-2]):
        hessian[index + (slice(None), slice(None)) + index] = weights[index] * det_hessian_by_minors(a[index])
    prepared_at = a + np.eye(n)
    assert_every_mode(f, a, expected, hessian, prepared_at, rtol=1e-8, atol=1e-10 * scale)


def test_batched_det_with_exactly_singular_members():
    rng = np.random.default_rng(1)
    for n in (2, 3, 4, 6):
        a = rng.standard_normal((5, n, n))
        a[1] = 0.0
        a[2, -1] = a[2, 0]             # two equal rows: LU meets a zero pivot
        a[3] = np.outer(a[3, 0], a[3, 1])
        grad = mixedad.gradient(lambda z: np.sum(np.linalg.det(z)), a)
        np.testing.assert_allclose(grad, cofactors_by_minors(a), rtol=1e-9, atol=1e-12)
        _, tangent = mixedad.jvp(lambda z: np.linalg.det(z), (a,), (np.ones_like(a),))
        np.testing.assert_allclose(tangent, np.sum(cofactors_by_minors(a), axis=(-2, -1)), rtol=1e-9, atol=1e-12)


def test_det_of_a_large_batch_of_3x3_matrices_holding_singular_ones():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((1000, 3, 3))
    a[::7, 2] = 2.0 * a[::7, 0]  # every seventh is singular
    grad = mixedad.gradient(lambda z: np.sum(np.linalg.det(z) ** 2), a)
    expected = 2.0 * np.linalg.det(a)[:, None, None] * cofactors_by_minors(a)
    np.testing.assert_allclose(grad, expected, rtol=1e-9, atol=1e-12)


def test_det_of_nearly_singular_matrices_keeps_its_accuracy():
    """Rank 3 of 4 plus 1e-9 noise: cond ~ 1e9. sympy's derivatives are evaluated exactly in
    rationals; a Hessian formula dividing by det would lose about eps cond of its accuracy."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 3)) @ rng.standard_normal((3, 4)) + 1e-9 * rng.standard_normal((4, 4))
    gradient, hessian = sympy_det_gradient_and_hessian(a)
    np.testing.assert_allclose(mixedad.gradient(det, a), gradient, rtol=1e-9, atol=1e-12 * np.abs(gradient).max())
    np.testing.assert_allclose(mixedad.hessian(det, a), hessian, rtol=1e-9, atol=1e-10 * np.abs(hessian).max())


@pytest.mark.parametrize("n, rank", [(2, 1), (3, 2), (3, 3), (5, 3), (5, 4), (5, 5)])
def test_det_keeps_float32(n, rank):
    rng = np.random.default_rng(n + rank)
    a64 = rng.uniform(-1, 1, (2, n, rank)) @ rng.uniform(-1, 1, (2, rank, n))
    a = a64.astype(np.float32)

    def f(z):
        return np.sum(np.linalg.det(z))

    expected = cofactors_by_minors(a.astype(np.float64))
    for mode, grad in gradients_in_every_mode(f, a, a + np.eye(n, dtype=np.float32)):
        assert grad.dtype == np.float32, mode
        np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-5, err_msg=mode)
    value, tangent = mixedad.jvp(f, (a,), (np.ones_like(a),))
    assert np.result_type(tangent) == np.float32
    assert tangent == pytest.approx(np.sum(expected), rel=1e-3, abs=1e-5)
    hessian = mixedad.hessian(f, a)
    assert hessian.dtype == np.float32
    for k in range(2):
        np.testing.assert_allclose(hessian[k, :, :, k], det_hessian_by_minors(a64[k].astype(np.float32).astype(float)),
                                   rtol=1e-3, atol=1e-5)


def test_third_derivative_of_det():
    a = SINGULAR_MATRICES[2]
    direction = np.random.default_rng(4).standard_normal(a.shape)
    _, tangent = mixedad.jvp(lambda z: mixedad.hessian(det, z), (a,), (direction,))
    step = 1e-3  # d^3 det is constant for 3x3: central differences of the Hessian are exact
    expected = (second_differences(det, a + step * direction, 0.25)
                - second_differences(det, a - step * direction, 0.25)) / (2 * step)
    np.testing.assert_allclose(tangent, expected, rtol=1e-7, atol=1e-7)
    singular_4x4 = SINGULAR_MATRICES[5]
    with pytest.raises(mixedad.UnsupportedOperationError, match="det"):
        mixedad.jvp(lambda z: mixedad.hessian(det, z), (singular_4x4,), (np.ones((4, 4)),))


# ------------------------------------------------------------------------------------------
# slogdet: no derivative at a singular matrix, and no finite number pretending to be one
def log_abs_det(a):
    return np.sum(np.linalg.slogdet(a)[1])


@pytest.mark.parametrize("a", [SINGULAR_MATRICES[0], SINGULAR_MATRICES[2], SINGULAR_MATRICES[4], np.zeros((3, 3))],
                         ids=["2x2", "3x3", "4x4", "zeros"])
def test_slogdet_gradient_at_singular_matrices_is_not_finite(a):
    assert np.linalg.slogdet(a)[1] == -np.inf
    for mode, grad in gradients_in_every_mode(log_abs_det, a, a + np.eye(a.shape[0])):
        assert not np.isfinite(grad).any(), mode
    _, tangent = mixedad.jvp(log_abs_det, (a,), (np.ones_like(a),))
    assert not np.isfinite(tangent)


def test_slogdet_in_a_batch_is_exact_for_its_regular_members():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((3, 4, 4))
    a[1, 2] = a[1, 3]  # singular
    grad = mixedad.gradient(log_abs_det, a)
    for k in (0, 2):
        np.testing.assert_allclose(grad[k], np.linalg.inv(a[k]).T, rtol=1e-10)
        np.testing.assert_allclose(grad[k], numerical_gradient(lambda z: np.linalg.slogdet(z)[1], a[k]),
                                   rtol=1e-6, atol=1e-8)
    assert not np.isfinite(grad[1]).any()
    hessian = mixedad.hessian(lambda z: np.linalg.slogdet(z)[1], a[0])
    inverse = np.linalg.inv(a[0])  # d^2 log|det| / da_ij da_kl = -inv[j, k] inv[l, i]
    np.testing.assert_allclose(hessian, -np.einsum("jk,li->ijkl", inverse, inverse), rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------
# cumprod and prod at zeros
WEIGHTS = np.array([1.0, -2.0, 0.5, 3.0, 1.5, -1.0, 2.5, 0.75])


def weighted_cumprod(x):
    """Linear and quadratic in the cumulative products: a cotangent that depends on them."""
    out = np.cumprod(x, axis=-1)
    return np.sum(out * WEIGHTS[:x.shape[-1]]) + 0.5 * np.sum(out * out)


def cumprod_over_rows(x):
    return np.sum(np.cumprod(x, axis=0) * WEIGHTS[:x.shape[-1]])


def cumprod_flattened(x):
    return np.sum(np.cumprod(x) * np.resize(WEIGHTS, x.size))


def product_times_sum(x):
    return np.prod(x) * np.sum(x)


def products_of_rows(x):
    return np.sum(np.prod(x, axis=-1) ** 2) + np.sum(np.prod(x, axis=0))


CUMPROD_PROGRAMS = [weighted_cumprod, cumprod_over_rows, cumprod_flattened, product_times_sum, products_of_rows]
ZERO_PATTERNS = [
    np.array([2.0, 0.0, 3.0, 0.5, -1.5, 1.2]),          # one zero
    np.array([2.0, 0.0, 3.0, 0.0, 0.5, 1.5]),           # two zeros in the same row
    np.array([0.0, 0.0, 3.0, 0.5, 0.0, 1.5]),           # three, two at the start
    np.array([1.5, -1.0, 2.0, 0.5, 0.7, 0.0]),          # at the end
    np.array([[1.5, 0.0, 2.0], [0.0, 0.5, 0.0]]),       # in rows and columns
    np.array([[0.0, 0.0, 2.0], [1.0, 0.0, 0.0]]),
]


@pytest.mark.parametrize("program", CUMPROD_PROGRAMS)
@pytest.mark.parametrize("pattern", range(len(ZERO_PATTERNS)))
def test_products_at_zeros_in_every_mode(program, pattern):
    x = ZERO_PATTERNS[pattern]
    if program is cumprod_over_rows and x.ndim == 1:
        x = x.reshape(2, 3)
    expected_hessian = second_differences(program, x, step=0.01)
    expected_gradient = numerical_gradient(program, x)
    assert_every_mode(program, x, expected_gradient, expected_hessian, prepared_at=x + 0.25,
                      rtol=1e-6, atol=1e-7)


def test_cumprod_hessian_where_the_old_rule_lost_the_derivative_after_the_zero():
    x = np.array([2.0, 0.0, 3.0, 0.5])
    hessian = mixedad.hessian(lambda z: np.sum(np.cumprod(z) * np.arange(1.0, 5.0)), x)
    # d^2 / dx1 dx2 of sum_i (i+1) cumprod(x)_i = 3 x0 + 4 x0 x3 = 10: nonzero although x1 = 0
    assert hessian[2, 1] == hessian[1, 2] == pytest.approx(10.0)
    np.testing.assert_allclose(hessian, hessian.T)


@st.composite
def with_zeros(draw):
    shape = draw(st.sampled_from([(5,), (7,), (2, 4), (3, 3)]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, shape)
    x[rng.random(shape) < draw(st.sampled_from([0.2, 0.4, 0.7]))] = 0.0
    return x


@settings(max_examples=30, deadline=None)
@given(with_zeros(), st.sampled_from(CUMPROD_PROGRAMS))
def test_products_with_zeros_in_random_places(x, program):
    assert_every_mode(program, x, numerical_gradient(program, x), second_differences(program, x, step=0.01),
                      prepared_at=x + 2.0, rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(not HAS_CUMULATIVE_PROD, reason="np.cumulative_prod needs NumPy >= 2.1")
@pytest.mark.parametrize("include_initial", [False, True])
def test_cumulative_prod_hessian_at_two_zeros(include_initial):
    x = np.array([[2.0, 0.0, 3.0, 0.0, 0.5], [1.0, 0.5, 0.0, 2.0, -1.0]])

    def f(z):
        out = np.cumulative_prod(z, axis=1, include_initial=include_initial)
        return np.sum(out * np.arange(1.0, out.shape[1] + 1)) + np.sum(out ** 2)
    np.testing.assert_allclose(mixedad.hessian(f, x), second_differences(f, x, 0.01), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(mixedad.gradient(f, x), numerical_gradient(f, x), rtol=1e-6, atol=1e-8)


def test_cumprod_hessian_keeps_float32():
    x = np.array([2.0, 0.0, 3.0, 0.0, 0.5, 1.5], dtype=np.float32)
    hessian = mixedad.hessian(weighted_cumprod, x)
    assert hessian.dtype == np.float32 and mixedad.gradient(weighted_cumprod, x).dtype == np.float32
    np.testing.assert_allclose(hessian, second_differences(weighted_cumprod, x.astype(np.float64), 0.01),
                               rtol=1e-5, atol=1e-5)


def test_third_derivative_of_cumprod_at_two_zeros():
    x = np.array([2.0, 0.0, 3.0, 0.0, 0.5, 1.5])
    direction = np.array([0.3, -1.0, 0.7, 0.2, 1.0, -0.4])
    _, tangent = mixedad.jvp(lambda z: mixedad.hessian(weighted_cumprod, z), (x,), (direction,))
    step = 1e-4
    expected = (second_differences(weighted_cumprod, x + step * direction, 0.01)
                - second_differences(weighted_cumprod, x - step * direction, 0.01)) / (2 * step)
    np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-5)
    assert abs(tangent[1, 3]) > 1  # a third derivative through both zeros


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_hypot_at_the_origin_has_the_subgradient_norm_has(mode):
    # hypot(x, y) = norm([x, y]); both give 0 at the origin (0 / 0 would be NaN), and the usual
    # derivative elsewhere
    for point in (np.zeros(2), np.array([3.0, -4.0]), np.array([0.0, 2.0])):
        hypot = mixedad.gradient(lambda v: np.hypot(v[0], v[1]), point, mode=mode)
        norm = mixedad.gradient(lambda v: np.linalg.norm(v), point, mode=mode)
        np.testing.assert_allclose(hypot, norm, atol=1e-15)
        if np.any(point):
            np.testing.assert_allclose(hypot, numerical_gradient(lambda v: np.hypot(v[0], v[1]), point), rtol=1e-7)


def test_a_nan_through_maximum_or_minimum_reaches_the_gradient_in_every_mode():
    def correlations(x):  # a constant row: its standard deviation is 0, its correlations NaN (clip's max/min)
        return np.sum(np.corrcoef(x))

    def floored_root(x):
        return np.sum(np.maximum(np.sqrt(x), 0.5))
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]])
        assert np.isnan(correlations(x))
        for mode in ("auto", "reverse", "forward"):
            assert np.isnan(mixedad.gradient(correlations, x, mode=mode)).all(), mode
            g = mixedad.gradient(floored_root, np.array([-1.0, 4.0]), mode=mode)
            assert np.isnan(g[0]) and g[1] == 0.25, mode


def test_maximum_and_minimum_split_a_nan_operand_like_a_tie_in_every_mode():
    def f(x):
        return np.sum(np.maximum(x[:2], x[2:4]) + np.minimum(x[:2], x[2:4]))
    x = np.array([np.nan, 1.0, 1.0, np.nan])
    for mode in ("auto", "reverse", "forward"):
        np.testing.assert_array_equal(mixedad.gradient(f, x, mode=mode), [1.0, 1.0, 1.0, 1.0])


# --- an infinite derivative behind a selection ------------------------------------------------
SELECTED_BEFORE_AN_INFINITE_DERIVATIVE = {
    "sqrt of where": lambda x: np.sum(np.sqrt(np.where(x > 0, x, 0.0)) * np.arange(1.0, 1.0 + x.size)),
    "longer chain": lambda x: np.sum(np.sqrt(np.where(x > 0, x, 0.0) * 2.0 + 0.0) ** 3 + np.tanh(x)),
    "clip then cbrt": lambda x: np.sum(np.cbrt(np.clip(x, 0.0, None))),
    "distance, safe": lambda x: np.sum(np.sqrt(np.where(x * x - 1.0 > 0, x * x - 1.0, 0.0))),
}


@pytest.mark.parametrize("name", list(SELECTED_BEFORE_AN_INFINITE_DERIVATIVE))
def test_a_zero_selected_before_an_infinite_derivative_gives_zero_in_every_mode(name):
    """The output does not depend on x where the selection picked the constant: 0 * inf there
    is 0 (the gradient was NaN in auto and reverse mode; PyTorch and autograd give 0)."""
    f = SELECTED_BEFORE_AN_INFINITE_DERIVATIVE[name]
    x = np.array([1.5, -2.0, 4.0, -0.3, 0.7, 2.5])
    expected = numerical_gradient(f, x)
    for mode in ("auto", "reverse", "forward"):
        np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), expected, rtol=1e-6, atol=1e-8)
    prepared = mixedad.prepare(f, x)
    for _ in range(3):
        np.testing.assert_allclose(prepared.gradient(x), expected, rtol=1e-6, atol=1e-8)
    direction = np.linspace(-1.0, 1.0, x.size)
    assert mixedad.jvp(f, (x,), (direction,))[1] == pytest.approx(expected @ direction)


def test_an_infinite_derivative_that_is_real_stays_infinite():
    for mode in ("auto", "reverse", "forward"):
        with np.errstate(divide="ignore"):
            grad = mixedad.gradient(lambda x: np.sum(np.sqrt(x) * 2.0), np.array([0.0, 4.0]), mode=mode)
        assert grad[0] == np.inf and grad[1] == pytest.approx(0.5)


def test_third_derivative_of_det_at_a_regular_4x4_matrix():
    """jacobian of hessian of det: the LU path's conditioning check ravelled a forward dual
    with order='K' (refused) at 4x4 and up."""
    r = np.random.default_rng(14).standard_normal((4, 4)) + 4 * np.eye(4)
    third = mixedad.jacobian(lambda a: mixedad.hessian(np.linalg.det, a), r)
    eps = 1e-5
    for i, j in [(1, 2), (3, 0)]:
        e = np.zeros_like(r)
        e[i, j] = eps
        expected = (mixedad.hessian(np.linalg.det, r + e) - mixedad.hessian(np.linalg.det, r - e)) / (2 * eps)
        np.testing.assert_allclose(third[..., i, j], expected, rtol=1e-6, atol=1e-8)


def test_a_user_primitives_infinite_partial_times_a_zero_is_zero_without_a_declaration():
    @mixedad.primitive(elementwise=True)
    def root(x):
        return np.sqrt(x)

    root.defpartials(lambda x, out: 0.5 / out)
    x = np.array([1.5, -2.0, 4.0])
    with np.errstate(divide="ignore"):
        grad = mixedad.gradient(lambda v: np.sum(root(np.where(v > 0, v, 0.0))), x)
    np.testing.assert_allclose(grad[[0, 2]], 0.5 / np.sqrt(x[[0, 2]]))
    assert grad[1] == 0.0


@pytest.mark.parametrize("declared", [True, False])
def test_a_user_primitive_declares_partials_that_are_nan_on_purpose(declared):
    """A NaN the partial returns (not one NumPy makes) is seen only by the declared check."""
    @mixedad.primitive(elementwise=True)
    def root(x):
        return np.sqrt(np.maximum(x, 0.0))

    root.defpartials(lambda x: np.where(x > 0, 0.5 / np.sqrt(np.abs(x) + (x == 0)), np.nan))
    root.unbounded_partials = declared
    x = np.array([1.5, -2.0, 4.0])
    grad = mixedad.gradient(lambda v: np.sum(root(np.where(v > 0, v, 0.0))), x)
    np.testing.assert_allclose(grad[[0, 2]], 0.5 / np.sqrt(x[[0, 2]]))
    assert grad[1] == 0.0 if declared else np.isnan(grad[1])


# A partial that overflows (exp past 709) or a constant that is infinite, times a zero further up
# the chain: the region's output does not depend on the input there, as in every mode.
OVERFLOW_CASES = {
    "minimum(exp(x), 1)": lambda x: np.sum(np.minimum(np.exp(x), 1.0)),
    "Gumbel exp(-exp(x))": lambda x: np.sum(np.exp(-np.exp(x))),
    "tanh(exp(x))": lambda x: np.sum(np.tanh(np.exp(x))),
    "clip(exp(x), 0, 1)": lambda x: np.sum(np.clip(np.exp(x), 0.0, 1.0)),
    "clip(x * inf, -1, 1)": lambda x: np.sum(np.clip(x * np.inf, -1.0, 1.0)),
    "tanh(x * inf)": lambda x: np.sum(np.tanh(x * np.inf)),
}


@pytest.mark.parametrize("name", list(OVERFLOW_CASES))
@pytest.mark.parametrize("mode", ["auto", "forward", "reverse", "prepared", "jvp"])
def test_an_overflowing_partial_times_a_zero_is_zero_in_every_mode(name, mode):
    f = OVERFLOW_CASES[name]
    x = np.array([0.5, 1000.0, -3.0])
    with np.errstate(over="ignore", invalid="ignore"):
        if mode == "prepared":
            grad = mixedad.prepare(f, x).gradient(x)
        elif mode == "jvp":
            grad = np.array([mixedad.jvp(f, (x,), (np.eye(3)[i],))[1] for i in range(3)])
        else:
            grad = mixedad.gradient(f, x, mode=mode)
        expected = numerical_gradient(f, x)
    assert grad[1] == 0.0  # saturated: the value does not change with x there
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)


DIVISIONS_BY_A_PYTHON_ZERO = {
    "x / 0.0": lambda x: np.sum(np.clip(x / 0.0, -1.0, 1.0)),
    "x / -0.0": lambda x: np.sum(np.clip(x / -0.0, -1.0, 1.0)),
    "np.divide(x, 0)": lambda x: np.sum(np.clip(np.divide(x, 0), -1.0, 1.0)),
    "x / False": lambda x: np.sum(np.clip(x / False, -1.0, 1.0)),
    "mixedad.sum": lambda x: mixedad.sum(lambda t: np.clip(t / 0.0, -1.0, 1.0), x),
}


@pytest.mark.parametrize("name", list(DIVISIONS_BY_A_PYTHON_ZERO))
@pytest.mark.parametrize("mode", ["auto", "forward", "reverse", "jvp", "hvp"])
def test_division_by_a_python_zero_is_numpys_infinity_without_warnings_from_the_rules(name, mode):
    """1 / y in Python raises ZeroDivisionError for y = 0.0; NumPy gives inf, and clipping the
    infinity is constant: gradient 0. Only the user's own division may warn."""
    import warnings
    f = DIVISIONS_BY_A_PYTHON_ZERO[name]
    x = np.array([1.0, -1.0, 2.5])
    with warnings.catch_warnings(), np.errstate(divide="ignore"):
        warnings.simplefilter("error")
        if mode == "jvp":
            result = np.array([mixedad.jvp(f, (x,), (np.eye(3)[i],))[1] for i in range(3)])
        elif mode == "hvp":
            result = mixedad.hvp(f, x, np.ones(3))
        else:
            result = mixedad.gradient(f, x, mode=mode)
    np.testing.assert_array_equal(result, np.zeros(3))


SCALAR_SATURATIONS = {
    "minimum(exp(s), 5) at 800": (lambda s: np.minimum(np.exp(s), 5.0), 800.0),
    "minimum(s * inf, 5)": (lambda s: np.minimum(s * np.inf, 5.0), 1.0),
    "where(s > 0, sqrt(s), 0) at -1": (lambda s: np.where(s > 0, np.sqrt(s), 0.0), -1.0),
    "where(s != 0, 1 / s, 0) at 0": (lambda s: np.where(s != 0, 1 / s, 0.0), 0.0),
}


@pytest.mark.parametrize("name", list(SCALAR_SATURATIONS))
@pytest.mark.parametrize("mode", ["auto", "forward", "reverse", "prepared"])
def test_scalar_inputs_get_the_zero_times_infinity_rule_too(name, mode):
    """0-d values take other paths (scalar products on the tape, scalar terms in a region):
    there too the output does not depend on the input, so the gradient is 0, not NaN."""
    f, s = SCALAR_SATURATIONS[name]
    with np.errstate(all="ignore"):
        grad = mixedad.prepare(f, s).gradient(s) if mode == "prepared" else mixedad.gradient(f, s, mode=mode)
    assert grad == 0.0


def test_second_derivatives_through_a_saturated_overflow_are_zero():
    f = lambda y: np.sum(y[:1] * np.minimum(np.exp(y[1:]), 5.0))  # 5 * y0 there
    x = np.array([1.0, 800.0])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(mixedad.hessian(f, x), np.zeros((2, 2)))
        np.testing.assert_array_equal(mixedad.hvp(f, x, np.array([1.0, 0.0])), [0.0, 0.0])
        np.testing.assert_array_equal(mixedad.gradient(lambda y: mixedad.gradient(f, y)[1], x), [0.0, 0.0])
        np.testing.assert_array_equal(mixedad.gradient(f, x), [5.0, 0.0])


# ------------------------------------------------------------------------------------------
# scipy's x log y family where x is 0: 0 for every y (at y = 0 too), so its derivative in y is 0
XLOGY_FAMILY = {  # scipy function, its sympy formula for x != 0, its value at x = 0 as a function of y
    "xlogy": ("xlogy", lambda x, y: x * sympy.log(y), lambda y: 0),
    "xlog1py": ("xlog1py", lambda x, y: x * sympy.log(1 + y), lambda y: 0),
    "rel_entr": ("rel_entr", lambda x, y: x * sympy.log(x / y), lambda y: 0),
    "kl_div": ("kl_div", lambda x, y: x * sympy.log(x / y) - x + y, lambda y: y),
}


def _sympy_derivatives(formula, at_zero, x_value, y_value):
    """(d/dy, d2/dy2, d2/dx dy) by sympy: of the x = 0 formula where x is 0 (its cross term is the
    limit of d/dy of the formula's x-derivative), of the general formula elsewhere."""
    x, y = sympy.symbols("x y")
    y_exact = sympy.Rational(str(y_value))
    as_float = lambda v: float("inf") if v in (sympy.zoo, sympy.oo, -sympy.oo) else float(v)  # (1/0: its sign aside)
    general = formula(x, y)
    if x_value == 0:
        zero = sympy.sympify(at_zero(y))
        cross = sympy.limit(sympy.diff(general, x, y), x, 0, "+").subs(y, y_exact)
        return [as_float(sympy.diff(zero, y).subs(y, y_exact)), as_float(sympy.diff(zero, y, 2).subs(y, y_exact)),
                as_float(cross)]
    point = {x: sympy.Rational(str(x_value)), y: y_exact}
    return [as_float(sympy.diff(general, *v).subs(point)) for v in ((y,), (y, y), (x, y))]


@pytest.mark.parametrize("name", list(XLOGY_FAMILY))
def test_the_x_log_y_family_at_x_zero(name):
    """A Bernoulli likelihood sum(xlogy(t, p) + xlog1py(1 - t, -p)) at probabilities of exactly 0
    or 1 has a finite gradient: the term whose x is 0 contributes nothing (it gave NaN, 0 / 0)."""
    special = pytest.importorskip("scipy.special")
    function, formula, at_zero = getattr(special, XLOGY_FAMILY[name][0]), *XLOGY_FAMILY[name][1:]
    x = np.array([0.0, 0.0, 0.5, 2.0])
    y = np.array([0.0, 0.7, 0.25, 3.0]) if name != "xlog1py" else np.array([0.0, -0.3, 0.25, 3.0])
    expected = np.array([_sympy_derivatives(formula, at_zero, a, b) for a, b in zip(x, y)])
    f = lambda y: np.sum(function(x, y))
    for mode in ("auto", "reverse", "forward"):
        np.testing.assert_allclose(mixedad.gradient(f, y, mode=mode), expected[:, 0], rtol=1e-12, err_msg=mode)
    np.testing.assert_allclose(mixedad.prepare(f, y).gradient(y), expected[:, 0], rtol=1e-12)
    np.testing.assert_allclose(np.diag(mixedad.hessian(f, y)), expected[:, 1], rtol=1e-12)
    both = lambda v: np.sum(function(v[:4], v[4:]))
    cross = np.diag(mixedad.hessian(both, np.concatenate([x, y]))[:4, 4:])
    finite = np.isfinite(expected[:, 2])
    np.testing.assert_allclose(cross[finite], expected[finite, 2], rtol=1e-12)  # 1/y at x = 0, y > 0 too
    assert np.isinf(cross[~finite]).all()  # at x = y = 0: 1/y
