"""Prepared gradients of loops that read a non-differentiated array element by element.

Under ``prepare`` the float arrays of the other arguments are traced constants, so ``y[t]``
is a traced value. Such values lead to no differentiated input: a region reads them for
their values only (``expressions.ValueOf``), without partials and without counting them
against the partials cap. Before, each ``y[t]`` was a region input, the region was split at
the cap every few iterations, and each piece walked again the chain it shared with the
others (the Kalman filter's variance, which depends on the parameters only): the program's
region work grew quadratically with the loop's length.
"""
import numpy as np
import pytest

import mixedad
from mixedad.core.expressions import topological_order
from mixedad.core.fused import _replay_fused
from mixedad.core.region import _replay_region


def kalman(p, y):
    q, r = np.exp(p[0]), np.exp(p[1])
    m, P, out = 0.0, 10.0, 0.0
    for t in range(len(y)):
        P = P + q
        S = P + r
        v = y[t] - m
        out = out - 0.5 * (np.log(2 * np.pi * S) + v ** 2 / S)
        K = P / S
        m = m + K * v
        P = (1 - K) * P
    return -out


def _series(seed, n):
    return np.cumsum(np.random.default_rng(seed).standard_normal(n))


def _region_work(prepared):
    """(region steps, region nodes summed over them) of a prepared program."""
    steps = [s for s in prepared._program.steps if s.run in (_replay_region, _replay_fused)]
    return len(steps), sum(len(topological_order(s.payload[0])) for s in steps)


def _central_differences(f, p, *rest, h=1e-6):
    return np.array([(f(p + h * e, *rest) - f(p - h * e, *rest)) / (2 * h) for e in np.eye(p.size)]).reshape(p.shape)


def test_constants_read_in_a_loop_do_not_split_the_region():
    p = np.array([-1.0, -0.5])
    prepared = mixedad.prepare(kalman, p, _series(0, 60))
    assert prepared.replays
    n_steps, n_nodes = _region_work(prepared)
    # one fused region, as when y is closed over (it was 29 regions and some 5000 nodes)
    assert n_steps == 1
    closed = mixedad.prepare(lambda p: kalman(p, _series(0, 60)), p)
    assert n_nodes <= _region_work(closed)[1] + 5


def test_region_work_grows_linearly_with_the_loop():
    p = np.array([-1.0, -0.5])
    short = _region_work(mixedad.prepare(kalman, p, _series(0, 40)))[1]
    long = _region_work(mixedad.prepare(kalman, p, _series(0, 160)))[1]
    assert long <= 4.5 * short  # quadratic work would be some 16 times


def test_prepared_gradient_uses_the_new_constants():
    rng = np.random.default_rng(1)
    p = np.array([-1.0, -0.5])
    prepared = mixedad.prepare(kalman, p, _series(0, 60))
    for k in range(4):  # the second call on compiles the program
        y = _series(10 + k, 60)
        p_new = p + 0.3 * rng.standard_normal(2)
        value, grad = prepared.value_and_gradient(p_new, y)
        assert prepared.replays
        np.testing.assert_allclose(grad, mixedad.gradient(kalman, p_new, y), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(grad, _central_differences(kalman, p_new, y), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(value, kalman(p_new, y), rtol=1e-12)


def _chain(p, y):  # each node reads the one before: a chain region, with generated code
    x = p[0]
    for t in range(len(y)):
        x = np.sin(x * y[t] + p[1])
    return x * 1.0


def _only_constants(p, y):  # regions of constants alone, read by a primitive and by a fused sum
    w = np.log(y ** 2 + 1.0)  # no differentiated input: a region without inputs
    s = np.sum(np.cos(y) * 0.5)  # a fused reduction of constants: its value is deferred
    return np.dot(w, p) * s + np.sum(p ** 2 * np.abs(y))


def _broadcast(p, y):  # y (3, 4) of another dtype, p (3,)
    return np.sum(np.tanh(p[:, None] * y + y[0]) ** 2)


def _mixed(p, y):  # values of y beside ones computed from p, stacked
    z = np.stack([y[0] * 2.0, p[0] * y[0]] + [y[t] * 2.0 for t in range(2, y.shape[0])])
    total = 0.0
    for t in range(z.shape[0]):
        total = total + np.exp(-z[t] * p[1]) * y[t]
    return total


@pytest.mark.parametrize("f, p, make_y", [
    (_chain, np.array([0.3, -0.2]), lambda seed: np.random.default_rng(seed).standard_normal(30)),
    (_chain, np.array([0.3, -0.2]), lambda seed: np.random.default_rng(seed).standard_normal(5)),
    (_only_constants, np.array([0.5, -1.5, 2.0]), lambda seed: np.random.default_rng(seed).standard_normal(3)),
    (_broadcast, np.array([0.5, -1.0, 0.25]),
     lambda seed: np.random.default_rng(seed).standard_normal((3, 4)).astype(np.float32)),
    (_mixed, np.array([0.4, 0.7]), lambda seed: np.random.default_rng(seed).standard_normal(6)),
])
@pytest.mark.parametrize("interpreted", [False, True])
def test_value_only_reads_replay_with_new_values(f, p, make_y, interpreted):
    prepared = mixedad.prepare(f, p, make_y(0))
    prepared._program.interpreted_only = interpreted
    assert prepared.replays
    for seed in range(1, 4):
        y = make_y(seed)
        grad = prepared.gradient(p, y)
        np.testing.assert_allclose(grad, mixedad.gradient(f, p, y), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(grad, _central_differences(f, p, y.astype(np.float64)), rtol=1e-5, atol=1e-5)


def _sqrt_times_constants(w, c):
    return np.sum(np.sqrt(w) * np.sin(c))


def _long_affine_loop(w, c):
    z = w
    for _ in range(30):
        z = z * 0.9 + c * 2
    return np.sum(z ** 2)


@pytest.mark.parametrize("walked", [False, True], ids=["generated", "walked"])
def test_expressions_of_constants_alone_inside_walked_regions(walked, monkeypatch):
    # an expression of constants alone (np.sin(c)) took a region input's place when the region
    # was walked (a partial made inf at sqrt(0), or a long region): IndexError
    from mixedad.core import compiled
    if walked:
        monkeypatch.setattr(compiled, "MAX_NODES", 0)
        monkeypatch.setattr(compiled, "LONG_HOT_AFTER", 10**9)
    rng = np.random.default_rng(2)
    for f in (_sqrt_times_constants, _long_affine_loop):
        prepared = mixedad.prepare(f, rng.random(3) + 0.5, rng.standard_normal(3))
        for w, c in [(rng.random(3) + 0.5, rng.standard_normal(3)), (np.array([0.0, 1.0, 2.0]), np.array([0.0, 0.2, 1.0]))]:
            grad = prepared.gradient(w, c)
            np.testing.assert_allclose(grad, mixedad.gradient(f, w, c), rtol=1e-12)
            if w.min() > 0:
                np.testing.assert_allclose(grad, _central_differences(f, w, c), rtol=1e-5, atol=1e-6)
