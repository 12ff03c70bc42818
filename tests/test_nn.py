"""mixedad.nn activations, normalisers, layers and losses: gradients, stability, docstrings."""
import doctest

import mpmath
import numpy as np
import pytest

import mixedad
import mixedad.nn as nn
from mixedad.checking import check_grads
from nn_reference import MODES, assert_gradients_match
from numerical import numerical_gradient, random_projection_loss

ELEMENTWISE = [nn.relu, nn.sigmoid, nn.softplus, nn.gelu]
DTYPES = [np.float64, np.float32]


def _away_from_zero(shape, seed=0):
    """Values in [-3, -0.1] and [0.1, 3]: relu's kink stays out of finite-difference reach."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 3.0, shape) * rng.choice([-1.0, 1.0], shape)


# --- elementwise activations --------------------------------------------------------------
@pytest.mark.parametrize("activation", ELEMENTWISE, ids=lambda f: f.name)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_gradient_matches_finite_differences(activation, dtype):
    x = _away_from_zero((3, 4))
    w = np.random.default_rng(1).standard_normal((3, 4))
    assert_gradients_match(lambda x: np.sum(activation(2.0 * x) * w), [x], (0,), dtype)


@pytest.mark.parametrize("activation", ELEMENTWISE, ids=lambda f: f.name)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_check_grads(activation, dtype):
    x = _away_from_zero((2, 5), seed=2).astype(dtype)
    check_grads(activation, x)  # the partial audited on float32 copies too
    check_grads(lambda x: activation(x) * x, x)


def _mp_logistic(x):
    return 1 / (1 + mpmath.exp(-x))


def _mp_gelu(x):
    return x * _mp_logistic(2 * mpmath.sqrt(2 / mpmath.pi) * (x + mpmath.mpf("0.044715") * x ** 3))


MP_REFERENCES = {  # (value, derivative) at high precision, written independently of mixedad.nn
    "sigmoid": (_mp_logistic, lambda x: mpmath.exp(-x) / (1 + mpmath.exp(-x)) ** 2),
    "softplus": (lambda x: mpmath.log(1 + mpmath.exp(x)), _mp_logistic),
    "gelu": (_mp_gelu, lambda x: mpmath.diff(_mp_gelu, x)),
    "relu": (lambda x: max(x, 0), lambda x: mpmath.mpf(x > 0)),
}
TAILS = {  # inputs where a naive formula rounds the value or the derivative to 0 or 1
    np.float64: {"sigmoid": [-80, -40, -20, -1, 1, 20, 40, 80], "softplus": [-80, -40, -1, 1, 40, 80],
                 "gelu": [-10, -6, -3, 3, 6, 10], "relu": [-50, -1, 1, 50]},
    np.float32: {"sigmoid": [-60, -20, -1, 1, 20, 60], "softplus": [-60, -20, -1, 1, 20, 60],
                 "gelu": [-6, -4, -2, 2, 4, 6], "relu": [-50, -1, 1, 50]},
}


@pytest.mark.parametrize("activation", ELEMENTWISE, ids=lambda f: f.name)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_activation_tails_keep_relative_precision(activation, dtype, mode):
    mpmath.mp.dps = 50
    points = TAILS[dtype][activation.name]
    x = np.array(points, dtype)
    value_of, derivative_of = MP_REFERENCES[activation.name]
    want_value = np.array([float(value_of(mpmath.mpf(float(p)))) for p in x])
    want_derivative = np.array([float(derivative_of(mpmath.mpf(float(p)))) for p in x])
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    got = mixedad.gradient(lambda x: np.sum(activation(x)), x, mode=mode)
    assert got.dtype == dtype
    assert np.all(got[want_derivative != 0] != 0), "a non-zero derivative rounded to 0"
    np.testing.assert_allclose(activation(x), want_value, rtol=rtol, atol=0)
    np.testing.assert_allclose(got, want_derivative, rtol=rtol, atol=0)


def test_elementwise_activations_fuse_into_one_dual_region():
    report = mixedad.profile(lambda x: np.sum(nn.gelu(nn.sigmoid(nn.relu(2.0 * x) + 1.0) * nn.softplus(x))),
                             _away_from_zero((4, 3)))
    fused = [entry for entry in report.entries if "relu" in entry.ops]
    assert len(fused) == 1 and fused[0].mode is mixedad.Mode.DUAL
    assert {"sigmoid", "softplus", "gelu", "sum"} <= set(fused[0].ops)


def test_nn_functions_have_the_names_of_functions():
    """Activation tables, logging and functools.wraps read __name__ and __qualname__; the nn
    functions that are primitives have their function's."""
    public = [getattr(nn, name) for name in nn.__all__ if callable(getattr(nn, name))]
    for function in public:
        assert function.__name__ in nn.__all__ and function.__qualname__ == function.__name__, function
        assert function.__module__.startswith("mixedad.nn"), function
    table = {f.__name__: f for f in (np.tanh, nn.relu, nn.gelu)}
    assert table["relu"] is nn.relu


def test_relu_derivative_at_zero_is_zero():
    for mode in MODES:
        np.testing.assert_array_equal(mixedad.gradient(lambda x: np.sum(nn.relu(x)), np.zeros(3), mode=mode), 0.0)


@pytest.mark.parametrize("x", [np.array([-2.0, -0.0, 0.0, np.nan, np.inf, -np.inf, 3.5]),
                               np.array([[-1.5, 2.0], [np.nan, -0.0]], np.float32).T,  # not C-contiguous
                               np.array([-3, 0, 4]), np.float32(-2.0), np.array(1.5), 2.0])
def test_relu_values_equal_numpys_maximum(x):
    expected = np.maximum(x, 0)
    result = nn.relu(x)
    np.testing.assert_array_equal(result, expected)
    assert np.result_type(result) == np.result_type(expected) and np.ndim(result) == np.ndim(expected)
    assert np.array_equal(np.signbit(result), np.signbit(expected))
    if isinstance(x, np.ndarray) and x.ndim:
        assert result.strides == np.empty_like(x).strides  # the input's memory layout is kept


# --- along an axis ----------------------------------------------------------------------------
AXIS_CASES = [
    (nn.softmax, dict()), (nn.softmax, dict(axis=0)), (nn.softmax, dict(axis=(0, 2))),
    (nn.log_softmax, dict()), (nn.log_softmax, dict(axis=1)),
    (nn.logsumexp, dict()), (nn.logsumexp, dict(axis=-1)), (nn.logsumexp, dict(axis=(0, 1), keepdims=True)),
]


@pytest.mark.parametrize("function, static", AXIS_CASES, ids=[f"{f.name}-{k}" for f, k in AXIS_CASES])
@pytest.mark.parametrize("dtype", DTYPES)
def test_axis_function_gradient_matches_finite_differences(function, static, dtype):
    x = np.random.default_rng(3).standard_normal((2, 3, 4))
    shape = function(x, **static).shape
    loss = random_projection_loss(lambda x: function(x, **static), shape)
    assert_gradients_match(loss, [x], (0,), dtype)


@pytest.mark.parametrize("function, static", AXIS_CASES, ids=[f"{f.name}-{k}" for f, k in AXIS_CASES])
@pytest.mark.parametrize("dtype", DTYPES)
def test_axis_function_check_grads(function, static, dtype):
    x = np.random.default_rng(4).standard_normal((3, 4)).astype(dtype)
    if "axis" in static and static["axis"] not in (0, 1, -1):
        static = dict(static, axis=(0, 1))
    check_grads(lambda x: function(x, **static), x)
    if not static:
        check_grads(function, x)  # the rule itself, audited on float32


@pytest.mark.parametrize("dtype", DTYPES)
def test_axis_functions_do_not_overflow(dtype):
    x = np.array([[1000.0, 1000.0, 990.0], [-1000.0, -1010.0, -1000.0]], dtype)
    e = np.exp(-10.0)
    np.testing.assert_allclose(nn.softmax(x), [[1 / (2 + e), 1 / (2 + e), e / (2 + e)],
                                               [1 / (2 + e), e / (2 + e), 1 / (2 + e)]], rtol=1e-6)
    np.testing.assert_allclose(nn.logsumexp(x, axis=1), [1000 + np.log(2 + e), -1000 + np.log(2 + e)], rtol=1e-6)
    np.testing.assert_allclose(nn.log_softmax(x)[:, 2], [-10 - np.log(2 + e), -np.log(2 + e)], rtol=1e-6)
    for function in (nn.softmax, nn.log_softmax, nn.logsumexp):
        grad = mixedad.gradient(lambda x: np.sum(function(x) * np.arange(3.0)), x)
        assert grad.dtype == dtype and np.all(np.isfinite(grad))


def test_logsumexp_of_minus_infinity():
    x = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    np.testing.assert_array_equal(nn.logsumexp(x, axis=1), [-np.inf, 0.0])
    grad = mixedad.gradient(lambda x: nn.logsumexp(x, axis=1)[1], x)
    np.testing.assert_array_equal(grad, [[0.0, 0.0], [1.0, 0.0]])


# --- losses and layers ------------------------------------------------------------------------
def _cross_entropy_reference(logits, labels):
    total = 0.0
    for row, label in zip(np.asarray(logits, np.float64), labels):
        m = max(row)
        total += m + np.log(sum(np.exp(v - m) for v in row)) - row[label]
    return total / len(labels)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy(dtype):
    rng = np.random.default_rng(5)
    logits, labels = 3 * rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    np.testing.assert_allclose(nn.cross_entropy(logits.astype(dtype), labels),
                               _cross_entropy_reference(logits.astype(dtype), labels), rtol=1e-6)
    assert nn.cross_entropy(logits.astype(dtype), labels).dtype == dtype
    assert_gradients_match(nn.cross_entropy, [logits, labels], (0,), dtype)
    check_grads(nn.cross_entropy, logits.astype(dtype), labels)
    huge = np.array([[1000.0, -1000.0], [0.0, 2000.0]], dtype)
    np.testing.assert_allclose(nn.cross_entropy(huge, np.array([1, 1])), 1000.0, rtol=1e-6)


def test_cross_entropy_rejects_bad_labels():
    with pytest.raises(ValueError, match="integer"):
        nn.cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="shapes"):
        nn.cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))


@pytest.mark.parametrize("labels", [[0, -1], [3, 0]])
def test_cross_entropy_rejects_labels_outside_the_classes(labels):
    # -1 would index the last class: a silently different loss and gradient
    with pytest.raises(ValueError, match="outside the 3 classes"):
        nn.cross_entropy(np.zeros((2, 3)), np.array(labels))
    with pytest.raises(ValueError, match="outside the 3 classes"):
        mixedad.gradient(nn.cross_entropy, np.zeros((2, 3)), np.array(labels))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mse_dense_flatten(dtype):
    rng = np.random.default_rng(6)
    x, w, b, target = (rng.standard_normal(s) for s in [(2, 3, 2, 2), (12, 5), (5,), (2, 5)])

    def model(x, w, b):
        return nn.mse(nn.dense(nn.flatten(x), w, b), target)
    assert_gradients_match(model, [x, w, b], (0, 1, 2), dtype)
    assert_gradients_match(nn.mse, [x[0], x[1]], (0, 1), dtype)
    assert_gradients_match(lambda x, w: np.sum(np.sin(nn.dense(x, w))), [x.reshape(2, 12), w], (0, 1), dtype)
    np.testing.assert_allclose(model(x, w, b), np.mean((x.reshape(2, 12) @ w + b - target) ** 2))
    assert nn.flatten(x, start_axis=2).shape == (2, 3, 4)
    check_grads(nn.mse, x.astype(dtype), x[::-1].astype(dtype))
    check_grads(nn.dense, x.reshape(2, 12).astype(dtype), w.astype(dtype), b.astype(dtype))


def test_docstring_examples_run():
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    documented = [nn] + [getattr(nn, name) for name in nn.__all__]
    for item in documented:
        name = getattr(item, "name", getattr(item, "__name__", "nn"))
        assert ">>>" in (item.__doc__ or ""), f"{name} has no example in its docstring"
        runner.run(parser.get_doctest(item.__doc__, {}, name, None, 0))
    assert runner.summarize(verbose=False).failed == 0


def test_logsumexp_with_infinite_entries_takes_the_softmax_limit():
    # the softmax of x with some entries -> +inf: they share the weight, the finite ones get 0
    x = np.array([[np.inf, 0.0, np.inf], [1.0, 2.0, 0.5]])
    got = mixedad.gradient(lambda x: np.sum(nn.logsumexp(x, axis=1)), x)
    finite_row = np.exp(np.array([1.0, 2.0, 0.5])) / np.sum(np.exp(np.array([1.0, 2.0, 0.5])))
    np.testing.assert_allclose(got, [[0.5, 0.0, 0.5], finite_row])


def test_logaddexp_partials_at_infinity_and_against_finite_differences():
    for pair in ([np.inf, 1.0], [1.0, np.inf]):
        got = mixedad.gradient(lambda v: np.logaddexp(v[0], v[1]) + np.logaddexp2(v[1], v[0]), np.array(pair))
        np.testing.assert_allclose(got, [2.0, 0.0] if pair[0] == np.inf else [0.0, 2.0])
    v = np.array([0.7, -1.3])
    f = lambda v: np.logaddexp(v[0], v[1]) * np.logaddexp2(v[0], 2 * v[1])  # noqa: E731
    np.testing.assert_allclose(mixedad.gradient(f, v), numerical_gradient(f, v), rtol=1e-7)


def test_logsumexp_over_an_empty_axis_is_minus_infinity_as_in_numpy():
    x = np.zeros((2, 0))
    with np.errstate(divide="ignore"):
        expected = np.log(np.sum(np.exp(x), axis=1))
    np.testing.assert_array_equal(nn.logsumexp(x, axis=1), expected)
    assert mixedad.gradient(lambda x: np.sum(nn.logsumexp(x, axis=0)), x).shape == (2, 0)


@pytest.mark.parametrize("name", ["logsumexp", "logsumexp keepdims", "logsumexp all", "softmax", "log_softmax",
                                  "cross_entropy"])
def test_forward_rules_of_the_axis_primitives_work_under_an_outer_gradient(name):
    """They had only reverse rules; the forward rule derived from one cannot run inside an outer
    gradient, so mixedad.gradient of a jvp raised MixedTracesError."""
    labels = np.array([0, 3, 1])
    f = {"logsumexp": lambda y: nn.logsumexp(y, axis=1),
         "logsumexp keepdims": lambda y: nn.logsumexp(y, axis=0, keepdims=True),
         "logsumexp all": lambda y: nn.logsumexp(y),
         "softmax": lambda y: nn.softmax(y, axis=1),
         "log_softmax": lambda y: nn.log_softmax(y, axis=0),
         "cross_entropy": lambda y: nn.cross_entropy(y, labels)}[name]
    rng = np.random.default_rng(12)
    x, v = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    w = rng.standard_normal(np.shape(f(x)))
    _, tangent = mixedad.jvp(f, (x,), (v,))
    np.testing.assert_allclose(tangent, (f(x + 1e-6 * v) - f(x - 1e-6 * v)) / 2e-6, rtol=1e-5, atol=1e-7)

    def directional(y):
        return np.sum(mixedad.jvp(f, (y,), (v,))[1] * w)

    second = mixedad.gradient(directional, x)
    np.testing.assert_allclose(second, numerical_gradient(directional, x), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(second, mixedad.hvp(lambda y: np.sum(f(y) * w), x, v), rtol=1e-8, atol=1e-10)
    assert mixedad.jvp(f, (x.astype(np.float32),), (v.astype(np.float32),))[1].dtype == np.float32


def test_a_gradient_of_a_jvp_through_a_reverse_only_primitive_says_what_to_do():
    @mixedad.primitive
    def cube_sum(x):
        return np.sum(x ** 3)

    cube_sum.defvjp(lambda g, out, x: 3 * x ** 2 * g)
    x, v = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    assert mixedad.jvp(cube_sum, (x,), (v,))[1] == pytest.approx(3 * x ** 2 @ v)  # derived forward rule
    with pytest.raises(mixedad.MissingRuleError, match="cube_sum.defjvp"):
        mixedad.gradient(lambda y: mixedad.jvp(cube_sum, (y,), (v,))[1], x)


def test_logsumexp_gradient_is_the_softmax_for_large_inputs():
    """exp(x - out) with out rounded (3e7 in float32) gave weights of exp(-2), not 1/3."""
    from mixedad.nn import logsumexp, softmax
    for x in (np.array([3e7, 3e7, 3e7], np.float32), np.array([1e16, 1e16 + 2.0, -1e16])):
        np.testing.assert_allclose(mixedad.gradient(logsumexp, x), softmax(x), rtol=1e-6)
        np.testing.assert_allclose(mixedad.jvp(logsumexp, (x,), (np.ones_like(x),))[1], 1.0, rtol=1e-6)


def test_expm1_and_softplus_derivatives_keep_their_relative_precision_in_the_tails():
    from mixedad.nn import softplus
    x = np.array([-40.0, -20.0, 1.0])
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(np.expm1(x)), x), np.exp(x), rtol=1e-14)
    sigmoid_derivative = lambda t: np.exp(-t) / (1 + np.exp(-t)) ** 2
    y = np.array([20.0, 40.0, -3.0])
    np.testing.assert_allclose(mixedad.hvp(lambda x: np.sum(softplus(x)), y, np.ones(3)), sigmoid_derivative(y),
                               rtol=1e-12)


def test_gelu_derivative_where_x_squared_overflows():
    from mixedad.nn import gelu
    x = np.array([1e20, np.inf, -1e20], np.float32)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(mixedad.gradient(lambda x: np.sum(gelu(x)), x), [1.0, 1.0, 0.0])


def test_a_tiled_max_pool_sends_an_infinite_cotangent_to_the_maximum_only():
    """cbrt'(0) = inf reaches the pool's maximum; the other elements of the window get 0, as
    with overlapping windows (the tiled rule multiplied by a 0/1 mask: inf * 0 = NaN)."""
    from mixedad.nn import max_pool2d
    x = np.array([[[[0.0, -1.0], [-2.0, -3.0]]]])
    with np.errstate(divide="ignore"):
        for f in (lambda x: np.sum(np.cbrt(max_pool2d(x, 2))), lambda x: np.sum(max_pool2d(np.cbrt(x), 2))):
            for mode in ("auto", "reverse"):
                np.testing.assert_array_equal(mixedad.gradient(f, x, mode=mode).ravel(), [np.inf, 0.0, 0.0, 0.0])


# --- NaN inputs: a NaN value gets a NaN gradient, never a silent zero ---------------------
@pytest.mark.parametrize("mode", MODES)
def test_logsumexp_gradient_is_nan_over_a_slice_holding_nan(mode):
    x = np.array([[np.nan, 0.0, 1.0], [1.0, 2.0, 0.5]])
    grad = mixedad.gradient(lambda x: np.sum(nn.logsumexp(x, axis=1)), x, mode=mode)
    assert np.isnan(grad[0]).all()
    np.testing.assert_allclose(grad[1], numerical_gradient(lambda r: float(nn.logsumexp(r)), x[1]), rtol=1e-7)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 1)])
def test_max_pool_sends_a_nan_window_its_cotangent_at_its_first_nan(mode, kernel, stride):
    """np.maximum propagates NaN, so a window's NaN is its maximum; as in PyTorch, the first
    (row-major) NaN of the window takes the cotangent. Reference: a loop over windows."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 4, 4))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = x[0, 1, 3, 3] = np.nan
    step = kernel if stride is None else stride
    weights = rng.standard_normal(nn.max_pool2d(x, kernel, stride).shape)
    expected = np.zeros_like(x)
    for c in range(2):
        for i in range(weights.shape[2]):
            for j in range(weights.shape[3]):
                window = x[0, c, i * step:i * step + kernel, j * step:j * step + kernel]
                nans = np.flatnonzero(np.isnan(window))
                first = nans[0] if nans.size else np.argmax(window)
                expected[0, c, i * step + first // kernel, j * step + first % kernel] += weights[0, c, i, j]
    grad = mixedad.gradient(lambda x: np.sum(nn.max_pool2d(x, kernel, stride) * weights), x, mode=mode)
    np.testing.assert_allclose(grad, expected, rtol=1e-12)
