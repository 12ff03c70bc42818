"""Max pooling moves before an increasing elementwise chain in a gradient
(``core.region.apply_before_region``): the values and derivatives of pooling the chain's
output, with the chain and its partials evaluated on the pooled size only."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedad
from mixedad import nn
from mixedad.core.modes import Reason
from mixedad.nn import max_pool2d
from numerical import numerical_gradient

INCREASING = [nn.relu, nn.sigmoid, nn.softplus, np.tanh, np.exp, np.exp2, np.expm1, np.arctan, np.sinh,
              np.arcsinh, np.cbrt, np.positive]
POOLS = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=(2, 3), stride=1)]


def _away_from_zero(rng, shape):
    """Inputs in +-[0.3, 1.5]: no ties within a window, and cbrt's derivative stays finite."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 1.5, shape)


def _pooled_loss(f, static, weights):
    def loss(x):
        return np.sum(max_pool2d(f(x), **static) * weights)
    return loss


@pytest.mark.parametrize("static", POOLS, ids=["2", "3s2p1", "2x3s1"])
@pytest.mark.parametrize("f", INCREASING, ids=lambda f: getattr(f, "__name__", str(f)))
def test_pooled_increasing_functions_match_finite_differences_in_every_mode(f, static):
    rng = np.random.default_rng(0)
    x = _away_from_zero(rng, (2, 3, 6, 7))
    weights = rng.standard_normal(max_pool2d(x, **static).shape)
    loss = _pooled_loss(f, static, weights)
    expected = numerical_gradient(loss, x)
    for mode in ("auto", "forward", "reverse"):  # "reverse" tapes every op: nothing moves there
        value, grad = mixedad.value_and_gradient(loss, x, mode=mode)
        assert value == pytest.approx(loss(x), rel=1e-12)
        np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


def test_relu_at_ties_and_zeros_gives_the_same_gradient_in_every_mode():
    """Windows whose maximum is exactly 0 with a negative first element, all-negative windows,
    positive ties: relu's derivative is 0 at 0, so moving the pool changes nothing."""
    window_rows = np.array([[[-1.0, 0.0, -2.0, -3.0], [0.0, -4.0, 2.0, 2.0]],
                            [[-0.5, -0.25, 1.0, 3.0], [-0.1, -0.7, 3.0, 0.5]]])
    x = np.stack([window_rows, -window_rows[::-1]])  # (2, 2, 2, 4): 2x2 windows along the last axes
    weights = np.arange(1.0, 1.0 + max_pool2d(x, 2).size).reshape(max_pool2d(x, 2).shape)
    loss = _pooled_loss(nn.relu, dict(kernel_size=2), weights)
    gradients = {mode: mixedad.gradient(loss, x, mode=mode) for mode in ("auto", "forward", "reverse")}
    np.testing.assert_array_equal(gradients["auto"], gradients["reverse"])
    np.testing.assert_array_equal(gradients["forward"], gradients["reverse"])
    tangent = np.random.default_rng(1).standard_normal(x.shape)
    _, directional = mixedad.jvp(loss, (x,), (tangent,))
    assert directional == pytest.approx(np.sum(gradients["reverse"] * tangent))


def _counting_increasing_primitive(increasing: bool):
    shapes = []

    @mixedad.primitive(elementwise=True)
    def cubic(x):  # strictly increasing: x^3 + x
        shapes.append(np.shape(x))
        return x * x * x + x

    cubic.defpartials(lambda x: 3 * x * x + 1)
    cubic.increasing = increasing
    return cubic, shapes


@pytest.mark.parametrize("increasing", [True, False])
def test_the_chain_runs_on_the_pooled_size_only_when_declared_increasing(increasing):
    rng = np.random.default_rng(2)
    x = _away_from_zero(rng, (2, 2, 8, 8))
    weights = rng.standard_normal((2, 2, 4, 4))
    cubic, shapes = _counting_increasing_primitive(increasing)
    loss = _pooled_loss(lambda v: cubic(np.tanh(v)), dict(kernel_size=2), weights)
    value, grad = mixedad.value_and_gradient(loss, x)
    assert set(shapes) == {(2, 2, 4, 4) if increasing else (2, 2, 8, 8)}
    assert value == pytest.approx(float(loss(x)))
    np.testing.assert_allclose(grad, numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)


def test_the_mode_report_gives_the_reason_and_the_users_line():
    rng = np.random.default_rng(3)
    x = _away_from_zero(rng, (2, 3, 6, 6))

    def loss(x):
        h = nn.relu(x)
        return np.sum(max_pool2d(h, 2) ** 2)

    report = mixedad.profile(loss, x, lines=False)
    pool = [e for e in report.entries if e.ops == ("nn.max_pool2d",)]
    assert [e.reason for e in pool] == [Reason.MOVED_BEFORE_REGION]
    (region,) = [e for e in report.entries if "relu" in e.ops]
    assert region.parents == (pool[0].index,)  # relu reads the pooled values
    assert region.locations[0].lineno == loss.__code__.co_firstlineno + 1  # named at the user's relu line


@pytest.mark.parametrize("chain", [
    lambda v: np.maximum(v, 0.0),  # derivative 1/2 at its kink: a tie could move, so it stays
    lambda v: np.tanh(v) * 2.0,  # a binary op in the chain
    lambda v: np.sin(v),  # not monotone
], ids=["maximum", "scaled", "sin"])
def test_chains_that_are_not_declared_increasing_stay_in_place(chain):
    rng = np.random.default_rng(4)
    x = _away_from_zero(rng, (1, 2, 4, 6))
    weights = rng.standard_normal((1, 2, 2, 3))
    loss = _pooled_loss(chain, dict(kernel_size=2), weights)
    report = mixedad.profile(loss, x, lines=False)
    assert Reason.MOVED_BEFORE_REGION not in {e.reason for e in report.entries}
    np.testing.assert_allclose(mixedad.gradient(loss, x), numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)


def test_a_chain_also_read_at_full_size_is_still_right():
    rng = np.random.default_rng(5)
    x = _away_from_zero(rng, (2, 1, 6, 6))
    weights, other = rng.standard_normal((2, 1, 3, 3)), rng.standard_normal(x.shape)

    def loss(x):
        h = np.tanh(x)
        return np.sum(max_pool2d(h, 2) * weights) + np.sum(h * other)

    np.testing.assert_allclose(mixedad.gradient(loss, x), numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)


def test_a_prepared_gradient_replays_the_moved_pool_on_new_inputs():
    rng = np.random.default_rng(6)
    weight = rng.standard_normal((3, 2, 3, 3))

    def loss(x):
        return np.sum(max_pool2d(nn.relu(nn.conv2d(x, weight)), 2) ** 2)

    prepared = mixedad.prepare(loss, _away_from_zero(rng, (2, 2, 8, 8)))
    for _ in range(3):
        x = rng.standard_normal((2, 2, 8, 8))
        np.testing.assert_allclose(prepared.gradient(x), mixedad.gradient(loss, x, mode="reverse"),
                                   rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(2, 7), w=st.integers(2, 7),
       kernel=st.integers(1, 3), stride=st.integers(1, 3), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_random_shapes_agree_with_reverse_mode(n, c, h, w, kernel, stride, seed, dtype):
    kernel = min(kernel, h, w)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    static = dict(kernel_size=kernel, stride=stride)
    weights = rng.standard_normal(max_pool2d(x, **static).shape).astype(dtype)
    loss = _pooled_loss(lambda v: np.tanh(nn.relu(v)), static, weights)
    value, grad = mixedad.value_and_gradient(loss, x)
    reverse_value, reverse_grad = mixedad.value_and_gradient(loss, x, mode="reverse")
    assert grad.dtype == dtype
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(value, reverse_value, rtol=tolerance)
    np.testing.assert_allclose(grad, reverse_grad, rtol=tolerance, atol=tolerance)


def test_second_order_through_the_moved_pool_matches_finite_differences():
    rng = np.random.default_rng(7)
    x, direction = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((2, 2, 4, 4))
    weights = rng.standard_normal((2, 2, 2, 2))
    loss = _pooled_loss(np.tanh, dict(kernel_size=2), weights)
    eps = 1e-5
    expected = (mixedad.gradient(loss, x + eps * direction, mode="reverse")
                - mixedad.gradient(loss, x - eps * direction, mode="reverse")) / (2 * eps)
    np.testing.assert_allclose(mixedad.hvp(loss, x, direction), expected, rtol=1e-6, atol=1e-8)
