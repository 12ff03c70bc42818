"""mixedad.nn at the edges of its inputs: empty batches, axes out of range, integer and list
arguments, shapes that only broadcast by accident, padding wider than half the kernel.

Each case is checked against PyTorch (where installed) or NumPy on the equivalent float
array: a wrong shape or value, a crash, or an input silently accepted fails here.
"""
import numpy as np
import pytest
from numpy.exceptions import AxisError

import mixedad
import mixedad.nn as nn
from nn_reference import MODES, pool_loop
from numerical import numerical_gradient


# --- flatten ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, start_axis, want", [
    ((0, 2, 2, 2), 1, (0, 8)), ((0, 3), 1, (0, 3)), ((4, 0, 3), 1, (4, 0)), ((0, 2, 2, 2), -2, (0, 2, 4)),
    ((2, 3, 4), 0, (24,)), ((2, 3, 4), -1, (2, 3, 4)), ((6,), 0, (6,)), ((6,), -1, (6,)), ((), 0, (1,))])
def test_flatten_shapes_match_torch_also_for_empty_batches(shape, start_axis, want):
    got = nn.flatten(np.zeros(shape), start_axis)
    assert got.shape == want
    torch = pytest.importorskip("torch")
    assert tuple(torch.flatten(torch.zeros(shape), start_axis).shape) == want


def test_a_cnn_forward_and_gradient_on_an_empty_batch_reach_the_loss():
    w = np.ones((2, 1, 3, 3))
    features = nn.flatten(nn.max_pool2d(nn.relu(nn.conv2d(np.zeros((0, 1, 6, 6)), w, padding=1)), 3))
    assert features.shape == (0, 8)
    grad = mixedad.gradient(lambda w: np.sum(nn.flatten(nn.conv2d(np.zeros((0, 1, 6, 6)), w)) ** 2), w)
    assert grad.shape == w.shape and not np.any(grad)


@pytest.mark.parametrize("shape, start_axis", [((2, 3), 5), ((2, 3, 4), 7), ((2, 3), 2), ((2, 3), -3),
                                               ((6,), 1), ((), 1), ((), -2)])
def test_flatten_refuses_a_start_axis_out_of_range_as_torch_does(shape, start_axis):
    with pytest.raises(AxisError, match="start_axis"):
        nn.flatten(np.zeros(shape), start_axis)
    torch = pytest.importorskip("torch")
    with pytest.raises(IndexError):
        torch.flatten(torch.zeros(shape), start_axis)


# --- integer inputs of the normalisers ------------------------------------------------------
NORMALISERS = {
    "softmax": lambda x: nn.softmax(x),
    "softmax axis 0": lambda x: nn.softmax(x, axis=0),
    "log_softmax": lambda x: nn.log_softmax(x),
    "logsumexp": lambda x: nn.logsumexp(x),
    "logsumexp axis 1": lambda x: nn.logsumexp(x, axis=1, keepdims=True),
    "cross_entropy": lambda x: nn.cross_entropy(x, np.array([0, 2])),
}


@pytest.mark.parametrize("name", NORMALISERS)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.int8, np.bool_])
def test_normalisers_of_integer_arrays_equal_those_of_the_float_array(name, dtype):
    """Promoted as np.exp promotes them (int64 and int32 to float64, int8 to float16): the
    value is that of the same numbers in that float dtype, not an OverflowError."""
    x = np.array([[1, 0, 1], [0, 1, 1]]).astype(dtype)
    floating = np.exp(np.zeros((), dtype)).dtype
    function = NORMALISERS[name]
    got, want = function(x), function(x.astype(floating))
    assert np.result_type(got) == floating
    np.testing.assert_array_equal(got, want)
    if dtype in (np.int64, np.int32):  # float64 values: also the float64 array's, by an independent formula
        shifted = x - x.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        np.testing.assert_allclose(nn.log_softmax(x), log_softmax, rtol=1e-15)
        np.testing.assert_allclose(nn.logsumexp(x), np.log(np.sum(np.exp(x.astype(float)))), rtol=1e-15)


def test_normalisers_keep_float32_and_take_lists_of_integers():
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    assert nn.softmax(x).dtype == nn.log_softmax(x).dtype == nn.logsumexp(x).dtype == np.float32
    np.testing.assert_array_equal(nn.softmax([[1, 2, 3]]), nn.softmax(np.array([[1.0, 2.0, 3.0]])))


# --- mse ----------------------------------------------------------------------------------
@pytest.mark.parametrize("prediction_shape, target_shape", [((3, 1), (3,)), ((3,), (3, 1)), ((2, 1, 4), (5, 1))])
def test_mse_refuses_shapes_that_broadcast_to_neither(prediction_shape, target_shape):
    """(N, 1) predictions against (N,) targets would average an N x N matrix: a perfect fit gave 1.33."""
    with pytest.raises(ValueError, match=f"{prediction_shape}.*{target_shape}".replace("(", r"\(").replace(")", r"\)")):
        nn.mse(np.ones(prediction_shape), np.ones(target_shape))


@pytest.mark.parametrize("prediction_shape, target_shape", [((3, 4), (3, 4)), ((3, 4), ()), ((3, 4), (4,)),
                                                            ((3, 4), (1, 4)), ((4,), (3, 4)), ((), ())])
def test_mse_allows_shapes_one_of_which_is_the_broadcast_shape(prediction_shape, target_shape):
    rng = np.random.default_rng(0)
    prediction, target = rng.standard_normal(prediction_shape), rng.standard_normal(target_shape)
    np.testing.assert_allclose(nn.mse(prediction, target), np.mean((prediction - target) ** 2), rtol=1e-15)
    for argnum in (0, 1):
        grad = mixedad.gradient(nn.mse, prediction, target, argnums=argnum)
        args = [prediction, target]

        def loss(a):
            return np.mean((a - args[1]) ** 2) if argnum == 0 else np.mean((args[0] - a) ** 2)
        np.testing.assert_allclose(grad, numerical_gradient(loss, args[argnum]), rtol=1e-6, atol=1e-9)


def test_mse_shape_check_holds_inside_a_gradient():
    with pytest.raises(ValueError, match="neither"):
        mixedad.gradient(lambda p: nn.mse(p, np.ones(3)), np.ones((3, 1)))


# --- pools: padding at most half the kernel -------------------------------------------------
@pytest.mark.parametrize("pool", [nn.max_pool2d, nn.avg_pool2d], ids=["max", "avg"])
@pytest.mark.parametrize("kernel, padding", [(2, 2), (3, 2), ((2, 4), (1, 3)), ((4, 1), (2, 1)), (1, 1)])
def test_pools_refuse_padding_over_half_the_kernel_as_torch_does(pool, kernel, padding):
    x = np.ones((1, 1, 6, 6))
    name = "max_pool2d" if pool is nn.max_pool2d else "avg_pool2d"
    with pytest.raises(ValueError, match=f"{name}: padding .* for kernel .*at most half"):
        pool(x, kernel, 1, padding)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="pad should be at most half"):
        getattr(torch.nn.functional, name)(torch.tensor(x), kernel, 1, padding)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("kernel, stride, padding", [(2, 1, 1), (3, 3, 1), (4, 5, 2), (5, 2, 2)])
def test_pools_with_padding_of_half_the_kernel_match_the_loop(kind, kernel, stride, padding):
    """The largest padding allowed: every window still holds an input element (no -inf output)."""
    x = np.random.default_rng(1).standard_normal((1, 2, 7, 6))
    pool = nn.max_pool2d if kind == "max" else nn.avg_pool2d
    want, vjp = pool_loop(x, kernel, stride, padding, kind)
    got = pool(x, kernel, stride, padding)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    g = np.random.default_rng(2).standard_normal(want.shape)
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(pool(x, kernel, stride, padding) * g), x), vjp(g),
                               rtol=1e-12, atol=1e-15)


# --- nested lists ---------------------------------------------------------------------------
IMAGE = [[[[1.0, 2.0, 0.0], [3.0, 4.0, 1.0], [0, 2, 5]]]]
KERNEL = [[[[1.0, -1.0], [0.5, 2.0]]]]
LIST_CALLS = {
    "conv2d": lambda x, w: nn.conv2d(x, w, [0.5]),
    "conv2d stride tuple padding": lambda x, w: nn.conv2d(x, w, (0.5,), stride=2, padding=1),
    "max_pool2d": lambda x, w: nn.max_pool2d(x, 2, 1),
    "avg_pool2d": lambda x, w: nn.avg_pool2d(x, 2, 1, padding=1),
}


@pytest.mark.parametrize("name", LIST_CALLS)
@pytest.mark.parametrize("mode", MODES)
def test_conv_and_pools_take_nested_lists_as_the_arrays_they_spell(name, mode):
    call = LIST_CALLS[name]
    want = call(np.array(IMAGE), np.array(KERNEL))
    np.testing.assert_array_equal(call(IMAGE, KERNEL), want)
    np.testing.assert_array_equal(call(tuple(IMAGE), KERNEL), want)
    # a list argument next to a differentiated one: the gradient is the array argument's
    for argnum in (0, 1):
        args = [IMAGE, KERNEL]
        args[argnum] = np.array(args[argnum])
        grad = mixedad.gradient(lambda *a: np.sum(call(*a) ** 2), *args, argnums=argnum, mode=mode)
        want_grad = mixedad.gradient(lambda *a: np.sum(call(*a) ** 2), np.array(IMAGE), np.array(KERNEL),
                                     argnums=argnum, mode=mode)
        np.testing.assert_array_equal(grad, want_grad)


def test_conv2d_of_nested_lists_matches_torch():
    torch = pytest.importorskip("torch")
    got = nn.conv2d(IMAGE, KERNEL, [0.5], padding=1)
    want = torch.nn.functional.conv2d(*(torch.tensor(a, dtype=torch.float64) for a in (IMAGE, KERNEL, [0.5])),
                                      padding=1)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-15)


def test_a_list_holding_a_differentiated_value_is_refused_clearly():
    # (it is not converted: its derivative would be lost; mixedad's own error says so)
    with pytest.raises(mixedad.MixedadError, match="list holding"):
        mixedad.gradient(lambda x: np.sum(nn.max_pool2d([x], 2)), np.ones((1, 2, 2)))
