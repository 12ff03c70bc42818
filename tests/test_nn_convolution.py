"""conv2d, max_pool2d and avg_pool2d against direct loops and finite differences."""
import numpy as np
import pytest

import mixedad
from mixedad.checking import check_grads
from mixedad.nn import avg_pool2d, conv2d, max_pool2d
from mixedad.nn.convolution import conv2d_primitive
from mixedad.nn.pooling import avg_pool2d_primitive, max_pool2d_primitive
from nn_reference import MODES, assert_gradients_match, conv2d_loop, conv2d_loop_vjp, pool_loop

# (input shape, weight shape, static arguments): strides, paddings, dilations and groups,
# square and not
CONV_GEOMETRIES = [
    ((2, 3, 6, 5), (4, 3, 3, 3), dict()),
    ((2, 3, 7, 6), (2, 3, 3, 2), dict(stride=2)),
    ((1, 2, 6, 6), (3, 2, 3, 3), dict(padding=1)),
    ((2, 2, 7, 8), (2, 2, 2, 3), dict(stride=(2, 1), padding=(1, 2))),
    ((1, 2, 8, 7), (2, 2, 3, 2), dict(dilation=2)),
    ((2, 4, 6, 6), (6, 2, 3, 3), dict(groups=2, padding=1)),
    ((1, 4, 7, 7), (4, 1, 3, 3), dict(groups=4, stride=2, padding=1, dilation=(1, 2))),
    ((2, 1, 5, 5), (3, 1, 5, 5), dict()),  # the kernel covers the whole image: 1x1 output
    ((3, 2, 7, 6), (4, 2, 3, 2), dict(padding=(2, 1))),  # stride 1, uneven padding and kernel
    ((2, 1, 6, 7), (6, 1, 3, 2), dict()),  # 5-7 output channels: the weight rule pads the cotangent
    ((3, 2, 5, 5), (7, 2, 2, 3), dict(padding=1)),
]
CONV_IDS = [f"{x}-{w}-{kw}" for x, w, kw in CONV_GEOMETRIES]


def _conv_inputs(x_shape, w_shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0]))


@pytest.mark.parametrize("x_shape, w_shape, static", CONV_GEOMETRIES, ids=CONV_IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_forward_matches_loop(x_shape, w_shape, static, dtype):
    x, w, b = (a.astype(dtype) for a in _conv_inputs(x_shape, w_shape))
    got = conv2d(x, w, b, **static)
    assert got.dtype == dtype
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, conv2d_loop(x, w, b, **static), rtol=tolerance, atol=tolerance * 10)
    np.testing.assert_allclose(conv2d(x, w, **static), conv2d_loop(x, w, None, **static),
                               rtol=tolerance, atol=tolerance * 10)


@pytest.mark.parametrize("x_shape, w_shape, static", CONV_GEOMETRIES, ids=CONV_IDS)
@pytest.mark.parametrize("mode", MODES)
def test_conv2d_gradient_matches_loop_vjp(x_shape, w_shape, static, mode):
    x, w, b = _conv_inputs(x_shape, w_shape)
    g = np.random.default_rng(1).standard_normal(conv2d_loop(x, w, b, **static).shape)
    grads = mixedad.gradient(lambda x, w, b: np.sum(conv2d(x, w, b, **static) * g), x, w, b,
                             argnums=(0, 1, 2), mode=mode)
    for got, want in zip(grads, conv2d_loop_vjp(g, x, w, **static)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("x_shape, w_shape, static", CONV_GEOMETRIES[1:7:2] + CONV_GEOMETRIES[6:7],
                         ids=CONV_IDS[1:7:2] + CONV_IDS[6:7])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_gradient_matches_finite_differences(x_shape, w_shape, static, dtype):
    x, w, b = _conv_inputs(x_shape, w_shape, seed=2)
    g = np.random.default_rng(3).standard_normal(conv2d_loop(x, w, b, **static).shape)
    assert_gradients_match(lambda x, w, b: np.sum(conv2d(x, w, b, **static) * g), [x, w, b], (0, 1, 2), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_check_grads(dtype):
    x, w, b = (a.astype(dtype) for a in _conv_inputs((2, 4, 6, 5), (4, 4, 3, 2)))
    check_grads(conv2d_primitive, x, w, b)  # also calls the rules directly on float32 copies
    check_grads(lambda x, w, b: conv2d(x, w, b, stride=2, padding=1, dilation=(2, 1), groups=2),
                x, w[:, :2], b)


def test_conv2d_without_bias_and_constant_input():
    x, w, _ = _conv_inputs((2, 3, 5, 5), (2, 3, 3, 3))
    grad = mixedad.gradient(lambda w: np.sum(conv2d(x, w) ** 2), w)  # x is a plain constant
    g = 2 * conv2d_loop(x, w)
    np.testing.assert_allclose(grad, conv2d_loop_vjp(g, x, w)[1], rtol=1e-10)


def test_conv2d_rejects_inconsistent_shapes():
    x, w, _ = _conv_inputs((1, 4, 5, 5), (2, 3, 3, 3))
    with pytest.raises(ValueError, match="groups"):
        conv2d(x, w)
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(x[:, :3, :2], w)
    with pytest.raises(ValueError, match="4 dimensions"):
        max_pool2d(x[0], 2)
    x, w, b = _conv_inputs((1, 3, 5, 5), (2, 3, 3, 3))
    with pytest.raises(ValueError, match="4 dimensions each; got shapes \\(3, 5, 5\\)"):
        conv2d(x[0], w)
    with pytest.raises(ValueError, match="4 dimensions each.*\\(3, 3, 3\\)"):
        conv2d(x, w[0])
    with pytest.raises(ValueError, match="bias of shape \\(3,\\) for 2 output channels"):
        conv2d(x, w, np.ones(3))
    with pytest.raises(ValueError, match="stride must be an int or a pair of ints, got 2.0"):
        conv2d(x, w, b, stride=2.0)


# --- pooling ------------------------------------------------------------------------------
POOL_GEOMETRIES = [
    ((2, 3, 6, 6), dict(kernel_size=2)),
    ((1, 2, 7, 5), dict(kernel_size=3, stride=2)),
    ((2, 2, 5, 6), dict(kernel_size=(2, 3), stride=1)),
    ((1, 3, 6, 7), dict(kernel_size=3, stride=(2, 1), padding=1)),
    ((1, 2, 7, 5), dict(kernel_size=2)),  # tiles, leaving the last row and column out
    ((2, 1, 6, 6), dict(kernel_size=(2, 3))),
]
POOL_IDS = [f"{x}-{kw}" for x, kw in POOL_GEOMETRIES]


@pytest.mark.parametrize("x_shape, static", POOL_GEOMETRIES, ids=POOL_IDS)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("mode", MODES)
def test_pool_matches_loop(x_shape, static, kind, mode):
    pool = max_pool2d if kind == "max" else avg_pool2d
    x = np.random.default_rng(4).standard_normal(x_shape)
    want, loop_vjp = pool_loop(x, static["kernel_size"], static.get("stride"), static.get("padding", 0), kind)
    np.testing.assert_allclose(pool(x, **static), want, rtol=1e-12)
    g = np.random.default_rng(5).standard_normal(want.shape)
    grad = mixedad.gradient(lambda x: np.sum(pool(x, **static) * g), x, mode=mode)
    np.testing.assert_allclose(grad, loop_vjp(g), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape, static", POOL_GEOMETRIES[1:], ids=POOL_IDS[1:])
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pool_gradient_matches_finite_differences(x_shape, static, kind, dtype):
    pool = max_pool2d if kind == "max" else avg_pool2d
    # a permutation of well-separated values: no ties, and steps of 1e-6 never reorder a window
    x = np.random.default_rng(6).permutation(np.prod(x_shape)).reshape(x_shape) / 8.0
    g = np.random.default_rng(7).standard_normal(pool(x, **static).shape)
    assert_gradients_match(lambda x: np.sum(pool(x, **static) * g), [x], (0,), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pool_check_grads(dtype):
    x = (np.random.default_rng(8).permutation(2 * 2 * 6 * 6).reshape(2, 2, 6, 6) / 4.0).astype(dtype)
    check_grads(lambda x: max_pool2d(x, 3, stride=2, padding=1), x, eps=1e-2)
    check_grads(lambda x: avg_pool2d(x, 2, stride=1, padding=1), x)
    check_grads(lambda x: max_pool2d_primitive(x, kernel_size=2), x, eps=1e-2)
    check_grads(lambda x: avg_pool2d_primitive(x, kernel_size=(3, 2)), x)


def test_max_pool2d_sends_ties_to_the_first_maximum():
    x = np.array([[[[1.0, 5.0, 5.0, 0.0],
                    [5.0, 2.0, 0.0, 0.0],
                    [0.0, 0.0, 3.0, 3.0],
                    [0.0, 0.0, 3.0, 3.0]]]])
    for mode in MODES:
        grad = mixedad.gradient(lambda x: np.sum(max_pool2d(x, 2)), x, mode=mode)
        np.testing.assert_array_equal(grad[0, 0], [[0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
    overlapping = mixedad.gradient(lambda x: np.sum(max_pool2d(x, 2, stride=1)), x)
    np.testing.assert_array_equal(overlapping, pool_loop(x, 2, 1)[1](np.ones((1, 1, 3, 3))))


def test_max_pool2d_padding_never_wins():
    x = -np.arange(1.0, 17.0).reshape(1, 1, 4, 4)  # all negative: a zero pad would be the maximum
    out = max_pool2d(x, 3, stride=2, padding=1)
    np.testing.assert_array_equal(out, pool_loop(x, 3, 2, 1)[0])
    assert np.all(out < 0)


def _in_bounds_first_maximum_vjp(g, x, kernel, stride, padding):
    """PyTorch's max-pool cotangent, by a loop: each window starts from its first in-bounds
    element with maximum -inf and moves on only at a larger value, so a window whose input
    values are all -inf sends its cotangent to that first in-bounds element, never the padding."""
    result = np.zeros(x.shape)
    for b, c, i, j in np.ndindex(g.shape):
        best, where = -np.inf, None
        for ki, kj in np.ndindex(kernel, kernel):
            r, s = i * stride + ki - padding, j * stride + kj - padding
            if 0 <= r < x.shape[2] and 0 <= s < x.shape[3]:
                if where is None or x[b, c, r, s] > best:
                    best, where = x[b, c, r, s], (r, s)
        result[(b, c) + where] += g[b, c, i, j]
    return result


MINUS_INF_WINDOWS = [(2, 1, 1), (3, 1, 1), (3, 2, 1), (2, 2, 1), (4, 3, 2)]  # kernel, stride, padding


@pytest.mark.parametrize("kernel, stride, padding", MINUS_INF_WINDOWS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool2d_sends_a_minus_inf_windows_cotangent_to_its_first_in_bounds_element(kernel, stride, padding,
                                                                                          mode, dtype):
    """The -inf padding ties with a window whose input values are all -inf: the cotangent
    goes to the first in-bounds element (PyTorch), not into the padding (where it was lost)."""
    rng = np.random.default_rng(20)
    x = rng.standard_normal((2, 2, 5, 6))
    x[rng.random(x.shape) < 0.7] = -np.inf  # many windows of -inf only, some of them in the corners
    x[0, 0] = -np.inf  # a whole channel: every window of it
    x = x.astype(dtype)
    g = rng.standard_normal(max_pool2d(x, kernel, stride, padding).shape).astype(dtype)
    want = _in_bounds_first_maximum_vjp(g, x, kernel, stride, padding)
    assert np.sum(want) == pytest.approx(np.sum(g.astype(np.float64)))  # no window's cotangent is lost
    grad = mixedad.gradient(lambda x: np.sum(max_pool2d(x, kernel, stride, padding) * g), x, mode=mode)
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, want, rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_max_pool2d_minus_inf_windows_match_torch(mode):
    torch = pytest.importorskip("torch")
    x = np.full((1, 1, 2, 2), -np.inf)
    x[0, 0, 1, 1] = 1.0
    grad = mixedad.gradient(lambda x: np.sum(max_pool2d(x, 2, 1, 1)), x, mode=mode)
    np.testing.assert_array_equal(grad[0, 0], [[3.0, 1.0], [1.0, 4.0]])  # torch's, as below
    for kernel, stride, padding in MINUS_INF_WINDOWS:
        rng = np.random.default_rng(kernel + 10 * stride)
        x = rng.standard_normal((2, 3, 5, 6))
        x[rng.random(x.shape) < 0.7] = -np.inf
        g = rng.standard_normal(max_pool2d(x, kernel, stride, padding).shape)
        t = torch.tensor(x, requires_grad=True)
        torch.nn.functional.max_pool2d(t, kernel, stride, padding).backward(torch.tensor(g))
        grad = mixedad.gradient(lambda x: np.sum(max_pool2d(x, kernel, stride, padding) * g), x, mode=mode)
        np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-12)


def test_max_pool2d_rules_check_the_padding_only_where_a_maximum_is_minus_inf(monkeypatch):
    """The in-bounds masks cost a pass over the padded shape: only padding and a -inf maximum pay it."""
    from mixedad.nn import pooling
    made = []
    offset_views = pooling._Geometry.offset_views
    monkeypatch.setattr(pooling._Geometry, "offset_views",
                        lambda self, a, fill=0: made.append(a.dtype == bool) or offset_views(self, a, fill))
    x = np.random.default_rng(21).standard_normal((2, 2, 6, 6))
    for padding, minus_inf, masks in [(1, False, False), (0, True, False), (1, True, True)]:
        made.clear()
        x[0, 0, :3, :3] = -np.inf if minus_inf else 0.0  # a whole window of -inf, with padding or without
        for mode in ("reverse", "forward"):
            mixedad.gradient(lambda x: np.sum(max_pool2d(x, 3, 1, padding)), x, mode=mode)
        assert any(made) == masks


@pytest.mark.parametrize("layer", ["conv2d", "conv2d_no_bias", "max_pool2d", "avg_pool2d"])
def test_forward_mode_through_conv_and_pools_matches_finite_differences(layer):
    import mixedad
    from mixedad.nn import avg_pool2d, conv2d, max_pool2d
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2, 6, 6))
    w, b = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    f = {"conv2d": lambda x, w, b: conv2d(x, w, b, stride=1, padding=1),
         "conv2d_no_bias": lambda x, w, b: conv2d(x, w, stride=2),
         "max_pool2d": lambda x, w, b: max_pool2d(x, 2),
         "avg_pool2d": lambda x, w, b: avg_pool2d(x, 3, stride=1, padding=1)}[layer]
    tangents = (rng.standard_normal(x.shape), rng.standard_normal(w.shape), rng.standard_normal(b.shape))
    _, got = mixedad.jvp(f, (x, w, b), tangents)
    eps = 1e-6
    plus = f(*(a + eps * t for a, t in zip((x, w, b), tangents)))
    minus = f(*(a - eps * t for a, t in zip((x, w, b), tangents)))
    np.testing.assert_allclose(got, (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-7)


# --- memory layouts ------------------------------------------------------------------------
# conv2d returns its (N, O, H, W) result as a view of an (O, H, W, N) array; the layers after
# it keep that layout, and a cotangent may arrive in another one (after a reshape).
def _batch_innermost(a):
    return np.ascontiguousarray(np.moveaxis(a, 0, -1)).transpose(3, 0, 1, 2)


def test_conv2d_result_is_batch_innermost_and_equal_to_the_loop():
    x, w, b = _conv_inputs((3, 2, 6, 6), (4, 2, 3, 3))
    got = conv2d(x, w, b)
    assert got.strides[0] == got.itemsize  # the batch is the innermost axis in memory
    np.testing.assert_allclose(got, conv2d_loop(x, w, b), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv2d(_batch_innermost(x), w, b), got, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", ["C", "batch innermost"])
def test_max_pool2d_rule_with_a_cotangent_in_another_layout(layout):
    x = np.random.default_rng(9).permutation(4 * 3 * 6 * 6).reshape(4, 3, 6, 6) / 8.0
    x_in_layout = np.ascontiguousarray(x) if layout == "C" else _batch_innermost(x)
    g = np.random.default_rng(10).standard_normal((4, 3, 3, 3))
    g_other = _batch_innermost(g) if layout == "C" else np.ascontiguousarray(g)
    grad = mixedad.gradient(lambda x: np.sum(max_pool2d(x, 2) * g_other), x_in_layout)
    np.testing.assert_allclose(grad, mixedad.gradient(lambda x: np.sum(max_pool2d(x, 2) * g), x),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(max_pool2d(x_in_layout, 2), pool_loop(x, 2)[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv_relu_pool_stack_with_a_reshape_matches_finite_differences(dtype):
    """Two conv blocks and a dense layer: batch-innermost activations, then a C-order reshape
    whose cotangent flows back into them."""
    from mixedad.nn import relu
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 1, 10, 10))
    w1, w2 = rng.standard_normal((4, 1, 3, 3)) / 3, rng.standard_normal((5, 4, 3, 3)) / 6
    dense = rng.standard_normal((5 * 1 * 1, 2))

    def loss(w1, w2, dense):
        h = max_pool2d(relu(conv2d(x.astype(w1.dtype), w1)), 2)
        h = max_pool2d(relu(conv2d(h, w2)), 2)
        return np.sum(np.tanh(h.reshape(h.shape[0], -1) @ dense))

    assert_gradients_match(loss, [w1, w2, dense], (0, 1, 2), dtype)


# The batch-innermost rules work per output row on the kernel rows of the input (the weight
# rule splits off the last kernel index when C kh kw = 8m + 1 and pads 5-7 output channels to
# 8): shapes that exercise those branches, with padding, in both input layouts.
ROW_GEOMETRIES = [
    ((4, 1, 12, 11), (6, 1, 5, 5), dict(padding=(2, 1))),  # LeNet's first layer: K = 25, O = 6
    ((3, 1, 7, 9), (5, 1, 3, 3), dict()),  # K = 9, O = 5
    ((2, 3, 6, 7), (9, 3, 3, 1), dict(padding=(0, 2))),  # K = 9 over three channels, O = 9
    ((3, 6, 8, 8), (16, 6, 5, 5), dict()),  # LeNet's second layer, smaller: 4x4 output
    ((2, 2, 4, 5), (3, 2, 4, 1), dict(padding=(1, 0))),  # more kernel rows than output rows
]
ROW_IDS = [f"{x}-{w}-{kw}" for x, w, kw in ROW_GEOMETRIES]


@pytest.mark.parametrize("x_shape, w_shape, static", ROW_GEOMETRIES, ids=ROW_IDS)
@pytest.mark.parametrize("layout", ["C", "batch innermost"])
@pytest.mark.parametrize("avx512_kernels", [False, True], ids=["AVX2 shapes", "AVX-512 shapes"])
def test_conv2d_row_rules_match_loops(monkeypatch, x_shape, w_shape, static, layout, avx512_kernels):
    """Both shape choices of the weight rule (padded O and split K for OpenBLAS's AVX2
    kernels, plain for its AVX-512 ones) give the loop's gradient, whichever this machine runs."""
    from mixedad.nn import convolution
    monkeypatch.setattr(convolution, "avx512_kernels", lambda: avx512_kernels)
    x, w, b = _conv_inputs(x_shape, w_shape, seed=12)
    x_in_layout = x if layout == "C" else _batch_innermost(x)
    out = conv2d(x_in_layout, w, b, **static)
    np.testing.assert_allclose(out, conv2d_loop(x, w, b, **static), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(13).standard_normal(out.shape)
    grads = mixedad.gradient(lambda x, w, b: np.sum(conv2d(x, w, b, **static) * g), x_in_layout, w, b,
                             argnums=(0, 1, 2))
    for got, want in zip(grads, conv2d_loop_vjp(g, x, w, **static)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("x_dtype, w_dtype", [(np.float64, np.float64), (np.float32, np.float64),
                                              (np.float64, np.float32)])
@pytest.mark.parametrize("mode", ["auto", "prepared"])
@pytest.mark.parametrize("w_shape, padding, copies", [
    ((8, 1, 5, 5), (2, 1), 1),  # kernel rows (16 x 5 x 9 per sample) no larger than the output: kept
    ((3, 1, 5, 5), (2, 1), 2),  # larger than the output: not kept, copied again in the reverse pass
])
def test_conv2d_weight_rule_reuses_the_forward_passs_kernel_rows(monkeypatch, x_dtype, w_dtype, mode, w_shape,
                                                                padding, copies):
    """The weight's reverse rule finds the kernel rows the forward pass copied (kept in the
    output's memory block, where that at most doubles its memory) instead of copying them
    again; and its gradient is the loop's either way."""
    from mixedad.nn import convolution
    x, w, b = _conv_inputs((4, 1, 12, 11), w_shape, seed=15)
    x, w = x.astype(x_dtype), w.astype(w_dtype)
    g = np.random.default_rng(16).standard_normal(conv2d_loop(x, w, b, padding=padding).shape)
    made = []
    real_rows = convolution._batch_last_rows
    monkeypatch.setattr(convolution, "_batch_last_rows", lambda *a: made.append(1) or real_rows(*a))

    def loss(w):
        return np.sum(conv2d(x, w, b, padding=padding) * g)

    if mode == "prepared":
        prepared = mixedad.prepare(loss, w)
        made.clear()
        grad = prepared.gradient(w)
    else:
        grad = mixedad.gradient(loss, w)
    assert len(made) == copies
    assert grad.dtype == w_dtype
    # outside a differentiation no rule will read them: plain conv2d keeps no rows
    geometry = convolution._conv_geometry(x, w, 1, padding, 1, 1)
    assert convolution._kept_rows(conv2d(x, w, b, padding=padding), x, geometry) is None
    want = conv2d_loop_vjp(g, x.astype(np.float64), w.astype(np.float64), padding=padding)[1]
    tolerance = 1e-10 if x_dtype == w_dtype == np.float64 else 1e-4
    np.testing.assert_allclose(grad, want, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("x_shape, w_shape, static", ROW_GEOMETRIES[:3], ids=ROW_IDS[:3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_row_rules_match_finite_differences(x_shape, w_shape, static, dtype):
    x, w, b = _conv_inputs(x_shape, w_shape, seed=14)

    def loss(x, w, b):  # a second conv: the first one's input cotangent and a batch-innermost input
        h = np.tanh(conv2d(x, w, b, **static))
        return np.sum(conv2d(h, np.ones((2, w.shape[0], 2, 2), h.dtype) / 8) ** 2)

    assert_gradients_match(loss, [x, w, b], (0, 1, 2), dtype)


@pytest.mark.parametrize("x_shape, kernel", [((3, 2, 7, 5), 2), ((1, 3, 6, 6), 2), ((2, 2, 6, 7), (2, 3)),
                                             ((3, 1, 5, 8), (3, 2))])
@pytest.mark.parametrize("layout", ["C", "batch innermost"])
def test_tiled_max_pool2d_rule_in_both_layouts_with_ties(x_shape, kernel, layout):
    # small integers: many ties, which go to the first maximum of each window (row-major)
    x = np.random.default_rng(15).integers(0, 3, x_shape).astype(float)
    x_in_layout = x if layout == "C" else _batch_innermost(x)
    want, loop_vjp = pool_loop(x, kernel)
    g = np.random.default_rng(16).standard_normal(want.shape)
    grad = mixedad.gradient(lambda x: np.sum(max_pool2d(x, kernel) * g), x_in_layout)
    np.testing.assert_array_equal(max_pool2d(x_in_layout, kernel), want)
    np.testing.assert_array_equal(grad, loop_vjp(g))


# --- second order: the reverse rules run on forward duals (hvp, hessian) -------------------
def _hvp_by_differences(f, params, direction, eps=1e-5):
    """Central differences of mixedad's gradient (itself checked against differences above)."""
    shifted = [tuple(p + s * eps * d for p, d in zip(params, direction)) for s in (1, -1)]
    plus, minus = (mixedad.gradient(f, p) for p in shifted)
    return [(a - b) / (2 * eps) for a, b in zip(plus, minus)]


@pytest.mark.parametrize("x_shape, w_shape, static", CONV_GEOMETRIES, ids=CONV_IDS)
def test_hvp_through_conv2d_in_input_and_weight_matches_differences_of_the_gradient(x_shape, w_shape, static):
    x, w, b = _conv_inputs(x_shape, w_shape, seed=3)

    def loss(params):
        x, w, b = params
        return np.sum(np.tanh(conv2d(x, w, b, **static)) ** 2)

    rng = np.random.default_rng(4)
    params = (x, w, b)
    direction = tuple(rng.standard_normal(np.shape(p)) for p in params)
    got = mixedad.hvp(loss, params, direction)
    for g, want in zip(got, _hvp_by_differences(loss, params, direction)):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("static", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
                                    dict(kernel_size=3, stride=2)])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_hessian_through_pooling_matches_differences_of_the_gradient(static, kind):
    pool = max_pool2d if kind == "max" else avg_pool2d
    x = np.random.default_rng(5).standard_normal((2, 2, 6, 6))

    def loss(x):
        return np.sum(np.sin(pool(x ** 3, **static)) ** 2)

    hessian = mixedad.hessian(loss, x).reshape(x.size, x.size)
    direction = np.random.default_rng(6).standard_normal(x.shape)
    (want,) = _hvp_by_differences(lambda p: loss(p[0]), (x,), (direction,))
    np.testing.assert_allclose((hessian @ direction.ravel()).reshape(x.shape), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mixedad.hvp(loss, x, direction), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("static", [dict(kernel_size=2), dict(kernel_size=2, stride=1), dict(kernel_size=3, padding=1)])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_reverse_over_forward_through_pooling_matches_differences_of_the_gradient(static, kind):
    # the pools' forward rules run on values an enclosing gradient traces (a gradient of a jvp)
    pool = max_pool2d if kind == "max" else avg_pool2d
    x = np.random.default_rng(7).standard_normal((2, 2, 5, 5))
    direction = np.random.default_rng(8).standard_normal(x.shape)

    def loss(x):
        return np.sum(pool(x, **static) ** 3)

    (want,) = _hvp_by_differences(lambda p: loss(p[0]), (x,), (direction,))
    gradient_of_jvp = mixedad.gradient(lambda y: mixedad.jvp(loss, (y,), (direction,))[1], x)
    np.testing.assert_allclose(gradient_of_jvp, want, rtol=1e-5, atol=1e-6)
    gradient_of_gradient = mixedad.gradient(lambda y: np.sum(mixedad.gradient(loss, y) * direction), x)
    np.testing.assert_allclose(gradient_of_gradient, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(16, 2, 8, 8), (32, 4, 4, 4), (17, 3, 5, 5), (20, 1, 16, 8)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_last_and_layout_copies_of_c_ordered_cotangents(shape, dtype):
    """The transposing copies (through a buffer with longer rows when the rows are a multiple
    of 512 bytes) give the same values as NumPy's, in both directions."""
    from mixedad.nn import convolution, windows
    g = np.random.default_rng(17).standard_normal(shape).astype(dtype)
    n = shape[0]
    np.testing.assert_array_equal(convolution._batch_last(g), g.transpose(1, 2, 3, 0).reshape(shape[1], -1))
    batch_last = _batch_innermost(g)
    to_batch_last = windows._in_layout_of(g, batch_last)
    np.testing.assert_array_equal(to_batch_last, g)
    assert to_batch_last.strides == batch_last.strides
    to_c = windows._in_layout_of(batch_last, g)
    np.testing.assert_array_equal(to_c, g)
    assert to_c.flags.c_contiguous
    np.testing.assert_array_equal(windows._transposed_copy(g.reshape(n, -1)), g.reshape(n, -1).T)


def test_conv_rules_with_a_c_ordered_cotangent_of_512_byte_rows_match_the_loop():
    x, w, b = _conv_inputs((16, 3, 10, 10), (8, 3, 3, 3), seed=18)  # O H W = 8 * 8 * 8 = 512 float64 values
    g = np.random.default_rng(19).standard_normal((16, 8, 8, 8))  # C order, unlike conv2d's result
    grads = mixedad.gradient(lambda x, w, b: np.sum(conv2d(x, w, b) * g), x, w, b, argnums=(0, 1, 2))
    for got, want in zip(grads, conv2d_loop_vjp(g, x, w)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_of_an_empty_batch_has_empty_and_zero_gradients(stride, mode, dtype):
    """N = 0: the value is (0, O, H_out, W_out) as with a loop, and each gradient has its
    argument's shape and dtype (the input's is empty; the weight's and bias's are 0: no term)."""
    rng = np.random.default_rng(0)
    x = np.zeros((0, 2, 6, 6), dtype)
    w, b = rng.standard_normal((3, 2, 3, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)
    value = conv2d(x, w, b, stride=stride)
    assert value.shape == (0,) + conv2d_loop(np.ones((1, 2, 6, 6)), w, b, stride=stride).shape[1:]
    assert value.dtype == dtype
    grads = mixedad.gradient(lambda w, b, x: np.sum(conv2d(x, w, b, stride=stride) ** 2), w, b, x,
                             argnums=(0, 1, 2), mode=mode)
    for grad, arg in zip(grads, (w, b, x)):
        assert grad.shape == arg.shape and grad.dtype == dtype
        assert not np.any(grad)


def test_openblas_kernel_name_is_read_or_unknown():
    from mixedad.nn import blas
    core = blas.openblas_core()
    assert core is None or (isinstance(core, str) and core)
    assert blas.avx512_kernels() == (core is not None and core.lower() in blas.AVX512_CORES)
