"""The tiled max_pool2d reverse rule and conv2d's bias rule against independent references.

Both rules have a fast path: the max-pool rule takes its one comparison of the input with
the output as the choice of maxima when it finds exactly one maximum per window, and the bias
rule sums a batch-innermost cotangent with one matrix-vector product. The references here
(a loop that sends each window's cotangent to its first maximum, float64 sums, central
differences) do not share either path; the tests also check which path runs.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mixedad
import mixedad.nn.convolution as convolution
import mixedad.nn.pooling as pooling
from mixedad.nn import conv2d, max_pool2d
from nn_reference import assert_gradients_match
from numerical import numerical_gradient

CASES = ["random", "ties", "nan in x", "nan in x and a tie", "inf in g", "nan in g"]
LAYOUTS = ["C", "batch innermost"]


def _batch_innermost(a):
    """``a`` (N, C, H, W) as a view of an (C, H, W, N) array, the layout conv2d returns."""
    return np.ascontiguousarray(np.moveaxis(a, 0, -1)).transpose(3, 0, 1, 2)


def _in_layout(a, layout):
    return np.ascontiguousarray(a) if layout == "C" else _batch_innermost(a)


def first_maximum_vjp(g, x, kernel):
    """Reference tiled (stride = kernel, no padding) max-pool cotangent: each window's cotangent
    goes to its first maximum in row-major order; a window holding NaN has maximum NaN, and its
    first NaN takes the cotangent (as in PyTorch). Rows and columns past the last window get zero."""
    kh, kw = kernel
    result = np.zeros(x.shape, g.dtype)
    for b, c, i, j in np.ndindex(g.shape):
        window = x[b, c, i * kh:(i + 1) * kh, j * kw:(j + 1) * kw]
        hits = np.flatnonzero(np.isnan(window) if np.isnan(window).any() else window == np.max(window))
        if hits.size:
            r, s = divmod(int(hits[0]), kw)
            result[b, c, i * kh + r, j * kw + s] = g[b, c, i, j]
    return result


def _pool_case(shape, kernel, case, dtype, seed):
    rng = np.random.default_rng(seed)
    if case == "ties":
        x = rng.integers(0, 3, shape).astype(dtype)  # small integers: many ties, at every position
    else:
        x = rng.standard_normal(shape).astype(dtype)
    if case.startswith("nan in x"):
        x[0, 0, 0, 0] = np.nan
    if case == "nan in x and a tie":
        # as many maxima as windows: the NaN window's missing one must not hide the tie
        x[-1, -1, :kernel[0], -kernel[1]:] = 7
        x[0, 0, 0, 0] = np.nan
    out_shape = shape[:2] + (shape[2] // kernel[0], shape[3] // kernel[1])
    g = rng.standard_normal(out_shape).astype(dtype)
    if case == "inf in g":
        g[0, 0, 0, 0], g[-1, -1, -1, -1] = np.inf, -np.inf
    if case == "nan in g":
        g[-1, -1, -1, -1] = np.nan
    return x, g


@st.composite
def tiled_pools(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    # the input may leave rows and columns uncovered by the windows
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 3)),
             kernel[0] * draw(st.integers(1, 3)) + draw(st.integers(0, kernel[0] - 1)),
             kernel[1] * draw(st.integers(1, 3)) + draw(st.integers(0, kernel[1] - 1)))
    return shape, kernel, draw(st.integers(0, 2 ** 16))


def _pool_rule(g, x, kernel):
    out = max_pool2d(x, kernel)
    return pooling._max_pool2d_vjp(g, out, x, kernel_size=kernel)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(pool=tiled_pools(), x_layout=st.sampled_from(LAYOUTS), g_layout=st.sampled_from(LAYOUTS))
def test_tiled_max_pool2d_rule_matches_the_first_maximum_loop(case, dtype, pool, x_layout, g_layout):
    shape, kernel, seed = pool
    x, g = _pool_case(shape, kernel, case, dtype, seed)
    with np.errstate(invalid="ignore"):
        got = _pool_rule(_in_layout(g, g_layout), _in_layout(x, x_layout), kernel)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_array_equal(got, first_maximum_vjp(g, x, kernel))


@pytest.mark.parametrize("kernel", [(2, 2), (2, 3)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_tiled_max_pool2d_rule_sends_a_tie_to_the_first_of_its_two_positions(kernel, layout):
    """Every pair of positions in a window, tied at the maximum, in every window at once."""
    kh, kw = kernel
    positions = list(np.ndindex(kh, kw))
    pairs = [(p, q) for k, p in enumerate(positions) for q in positions[k + 1:]]
    x = np.zeros((3, 2, kh, kw * len(pairs)))  # one window per pair, along W
    for w, (p, q) in enumerate(pairs):
        x[:, :, :, w * kw:(w + 1) * kw] = -1.0
        x[:, :, p[0], w * kw + p[1]] = x[:, :, q[0], w * kw + q[1]] = 2.0
    g = np.random.default_rng(0).standard_normal((3, 2, 1, len(pairs))) + 3  # no zero cotangent
    got = _pool_rule(_in_layout(g, layout), _in_layout(x, layout), kernel)
    for w, (p, q) in enumerate(pairs):
        np.testing.assert_array_equal(got[:, :, p[0], w * kw + p[1]], g[:, :, 0, w])  # p comes first
        assert not np.any(got[:, :, q[0], w * kw + q[1]])
    np.testing.assert_array_equal(got, first_maximum_vjp(g, x, kernel))


# a window's one NaN is its one maximum: only ties (of values, or of NaN) need the first-maximum pass
@pytest.mark.parametrize("case, first_maxima_runs", [("random", False), ("inf in g", False), ("ties", True),
                                                       ("nan in x", False), ("nan in x and a tie", True)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_tiled_max_pool2d_rule_picks_first_maxima_only_for_ties_and_nan(monkeypatch, case, first_maxima_runs,
                                                                        layout):
    calls = []
    first_maxima = pooling._first_maxima
    monkeypatch.setattr(pooling, "_first_maxima", lambda *a: calls.append(1) or first_maxima(*a))
    x, g = _pool_case((4, 3, 6, 4), (2, 2), case, np.float32, seed=3)
    with np.errstate(invalid="ignore"):
        got = _pool_rule(_in_layout(g, layout), _in_layout(x, layout), (2, 2))
    assert bool(calls) == first_maxima_runs
    np.testing.assert_array_equal(got, first_maximum_vjp(g, x, (2, 2)))


def _conv_pool_loss(x, w, b, g):
    """A LeNet block: conv2d (batch-innermost result and cotangents), max_pool2d, a weighted sum."""
    return np.sum(max_pool2d(conv2d(x, w, b, padding=1), 2) * g)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv_pool_block_gradients_match_finite_differences(dtype):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((3, 2, 6, 6)), rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4)
    g = rng.standard_normal((3, 4, 3, 3)).astype(dtype)
    assert_gradients_match(lambda x, w, b: _conv_pool_loss(x, w, b, g), [x, w, b], (0, 1, 2), dtype)


# --- conv2d's bias rule ----------------------------------------------------------------------
def _bias_cotangent(g):
    return convolution._conv2d_vjp_bias(g, None, None, None)


def _cotangent_in_layout(shape, dtype, layout, seed):
    g = np.random.default_rng(seed).standard_normal(shape + (2,)).astype(dtype)
    if layout == "strided":
        return g[..., 0]  # every other element: contiguous in no order
    g = g[..., 0].copy()
    if layout == "batch innermost":
        return _batch_innermost(g)
    if layout == "H W swapped":
        return np.ascontiguousarray(g.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    return g


BIAS_LAYOUTS = ["batch innermost", "C", "strided", "H W swapped"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(shape=st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6)),
       layout=st.sampled_from(BIAS_LAYOUTS), seed=st.integers(0, 2 ** 16))
def test_conv2d_bias_rule_sums_the_cotangent_over_batch_and_space(dtype, shape, layout, seed):
    g = _cotangent_in_layout(shape, dtype, layout, seed)
    got = _bias_cotangent(g)
    assert got.dtype == dtype and got.shape == (shape[1],)
    want = np.sum(g.astype(np.float64), axis=(0, 2, 3))
    scale = np.sum(np.abs(g.astype(np.float64)), axis=(0, 2, 3))  # the rounding error grows with it
    np.testing.assert_array_less(np.abs(got - want), scale * (1e-6 if dtype == np.float32 else 1e-14) + 1e-30)


class _CountingNumpy:
    """numpy, with the calls to ``np.sum`` counted: the bias rule's other path."""

    def __init__(self):
        self.sums = 0

    def sum(self, *args, **kwargs):
        self.sums += 1
        return np.sum(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(np, name)


@pytest.mark.parametrize("layout, dtype, product", [
    ("batch innermost", np.float32, True), ("batch innermost", np.float64, True),
    ("batch innermost", np.float16, False),  # no BLAS for float16
    ("C", np.float32, False), ("strided", np.float32, False), ("H W swapped", np.float64, False)])
def test_conv2d_bias_rule_takes_the_matrix_vector_product_for_batch_innermost_blas_floats(monkeypatch, layout,
                                                                                          dtype, product):
    counting = _CountingNumpy()
    monkeypatch.setattr(convolution, "np", counting)
    g = _cotangent_in_layout((5, 3, 4, 6), dtype, layout, seed=5)
    got = _bias_cotangent(g)
    assert (counting.sums == 0) == product
    assert got.dtype == dtype
    np.testing.assert_allclose(got, np.sum(g.astype(np.float64), axis=(0, 2, 3)), rtol=1e-2 if dtype == np.float16
                               else 1e-5, atol=1e-2 if dtype == np.float16 else 1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_bias_gradient_in_a_network_takes_the_product_and_matches_finite_differences(monkeypatch, dtype):
    rng = np.random.default_rng(6)
    x, w, b = (rng.standard_normal(shape).astype(dtype) for shape in [(4, 1, 5, 5), (3, 1, 2, 2), (3,)])
    g = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    counting = _CountingNumpy()
    monkeypatch.setattr(convolution, "np", counting)
    grad = mixedad.gradient(lambda b: _conv_pool_loss(x, w, b, g), b)
    monkeypatch.undo()
    assert counting.sums == 0  # conv2d's cotangent arrives batch innermost
    assert grad.dtype == dtype
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))  # the same values, in float64
    want = numerical_gradient(lambda b: _conv_pool_loss(x64, w64, b, g64), b.astype(np.float64))
    np.testing.assert_allclose(grad, want, rtol=1e-5 if dtype == np.float32 else 1e-7, atol=1e-6)
