"""Replayed (prepared) gradients: equal to fresh traces on new inputs, and replayed only when safe."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedad
from numerical import numerical_gradients

rng0 = np.random.default_rng(0)
MASK = rng0.random(6) > 0.5  # a closure constant: the same on every call


def scaled_by_data(w, x):
    centred = x - np.mean(x, axis=0)  # computed from a non-differentiated argument
    return np.sum(np.tanh(centred @ w) ** 2) + np.sum(w * x[0][:, None])


def labelled(w, x, labels):
    logits = x @ w
    logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(labels)), labels])


def with_scale(w, x, scale):
    return scale * np.sum(np.sin(x @ w))


def shapes_and_views(w, x):
    y = np.concatenate([w, w[::-1]], axis=0) * 2.0
    parts = np.split(y, 2)
    return np.sum(parts[0] * parts[1]) + np.sum(np.mean(x @ w, axis=0, keepdims=True) ** 2)


def masked(w, x):
    return np.sum(np.where(MASK[:, None], w, 0.5 * w) ** 2) + np.sum(x[:, :6] @ w)


def decompositions(w, x):
    a = w.T @ w + 6.0 * np.eye(w.shape[1])
    values, vectors = np.linalg.eigh(a)  # a primitive with two outputs
    chol = np.linalg.cholesky(a)
    return (np.sum(np.log(values)) + np.sum(vectors[:, 0] ** 4) + np.sum(np.log(np.diagonal(chol)))
            + np.sum(np.linalg.solve(a, np.ones(w.shape[1]))) + np.sum(x[:6] @ w))


def data_only(w, x):
    return np.sum(w ** 2) + np.sum(x ** 2)  # the second term is a constant of the gradient


def reused_reduction(w, x):
    y = np.sin(x @ w)
    total = np.sum(y)  # a fused reduction whose value a later region reads
    return np.sum(y * total) + np.sum(np.mean(np.cos(w), axis=1, keepdims=True) * total)


def long_loop(w, x):
    total = 0.0
    for i in range(300):
        total = total + np.sin(w[i % 6, i % 3]) * x[0, i % 6]
    return total


CASES = [scaled_by_data, shapes_and_views, masked, decompositions, data_only, reused_reduction, long_loop]


def draw(rng):
    return rng.standard_normal((6, 3)), rng.standard_normal((5, 6))


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("f", CASES, ids=lambda f: f.__name__)
def test_replay_equals_a_fresh_trace_on_new_inputs(f, mode):
    rng = np.random.default_rng(1)
    prepared = mixedad.prepare(f, *draw(rng), mode=mode)
    assert prepared.replays, prepared.why_traced
    for _ in range(3):
        w, x = draw(rng)
        value, grad = prepared.value_and_gradient(w, x)
        fresh_value, fresh = mixedad.value_and_gradient(f, w, x, mode=mode)
        np.testing.assert_allclose(grad, fresh, rtol=1e-12, atol=1e-14)
        assert value == pytest.approx(fresh_value, rel=1e-12)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_replay_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    prepared = mixedad.prepare(scaled_by_data, *draw(rng), argnums=(0, 1))
    w, x = draw(rng)
    got = prepared.gradient(w, x)
    expected = numerical_gradients(scaled_by_data, (w, x), (0, 1))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-7)


def test_float32_stays_float32_in_replay():
    rng = np.random.default_rng(2)
    w, x = (a.astype(np.float32) for a in draw(rng))
    prepared = mixedad.prepare(scaled_by_data, w, x)
    grad = prepared.gradient(w * 2, x)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, mixedad.gradient(scaled_by_data, w * 2, x), rtol=1e-6)


def test_integer_arguments_are_static_a_new_value_records_again():
    rng = np.random.default_rng(3)
    w, x = draw(rng)
    labels = np.array([0, 1, 2, 0, 1])
    prepared = mixedad.prepare(labelled, w, x, labels)
    other = np.array([2, 2, 1, 0, 0])
    for lab in (labels, other, other, labels):
        np.testing.assert_allclose(prepared.gradient(w, x, lab), mixedad.gradient(labelled, w, x, lab), rtol=1e-12)
    labels[0] = 2  # mutated in place after recording: compared by value, not identity
    np.testing.assert_allclose(prepared.gradient(w, x, labels), mixedad.gradient(labelled, w, x, labels), rtol=1e-12)


def test_python_number_arguments_are_static():
    rng = np.random.default_rng(4)
    w, x = draw(rng)
    prepared = mixedad.prepare(with_scale, w, x, 2.0)
    assert prepared.replays
    for scale in (2.0, -1.5, 2.0):
        np.testing.assert_allclose(prepared.gradient(w, x, scale), mixedad.gradient(with_scale, w, x, scale))


def test_value_dependent_programs_are_traced_again_on_every_call():
    def relu_by_comparison(w, x):  # boolean indexing: the selection's size depends on the values
        h = x @ w
        return np.sum(h[h > 0] ** 2)
    rng = np.random.default_rng(5)
    prepared = mixedad.prepare(relu_by_comparison, *draw(rng))
    assert not prepared.replays and prepared.value_dependent
    for _ in range(3):
        w, x = draw(rng)
        np.testing.assert_allclose(prepared.gradient(w, x), mixedad.gradient(relu_by_comparison, w, x))


def test_per_element_fallback_is_not_replayed():
    def branchy(t):
        return math.sin(t) if t > 0 else t * t
    f = lambda x: mixedad.sum(branchy, x)
    prepared = mixedad.prepare(f, np.ones(4))
    assert not prepared.replays
    x = np.array([-1.0, 0.5, 2.0, -0.25])
    np.testing.assert_allclose(prepared.gradient(x), np.where(x > 0, np.cos(x), 2 * x))


def test_has_aux_values_are_recomputed():
    def loss_and_logits(w, x):
        logits = x @ w
        return np.sum(logits ** 2), {"logits": logits, "tag": "run"}
    rng = np.random.default_rng(6)
    prepared = mixedad.prepare(loss_and_logits, *draw(rng), has_aux=True)
    assert prepared.replays
    w, x = draw(rng)
    (value, aux), grad = prepared.value_and_gradient(w, x)
    np.testing.assert_allclose(aux["logits"], x @ w)
    assert aux["tag"] == "run" and type(aux["logits"]) is np.ndarray
    np.testing.assert_allclose(grad, 2 * x.T @ (x @ w))


def test_replayed_gradients_never_alias_the_callers_arrays():
    prepared = mixedad.prepare(lambda w, x: np.sum(w * x), np.ones(3), np.ones(3))
    w, x = np.full(3, 2.0), np.arange(3.0)
    grad = prepared.gradient(w, x)
    np.testing.assert_array_equal(grad, x)
    assert not np.shares_memory(grad, x)
    grad[:] = -1
    np.testing.assert_array_equal(x, np.arange(3.0))


def test_nothing_is_held_between_calls():
    prepared = mixedad.prepare(scaled_by_data, *draw(np.random.default_rng(7)))
    prepared.gradient(*draw(np.random.default_rng(8)))
    program = prepared._program
    held = [r._value for step in program.steps for r in step.outputs if r is not None]
    held += [leaf._value for leaf in program.active_leaves + program.inactive_leaves]
    assert all(value is None for value in held)
    assert all(step.entry.vjp is None for step in program.steps)


def test_functions_that_need_plain_constants_still_work():
    def uses_asarray(w, x):
        data = np.asarray(x)  # a traced constant would refuse this: recorded without them
        return np.sum((data @ w) ** 2)
    rng = np.random.default_rng(9)
    prepared = mixedad.prepare(uses_asarray, *draw(rng))
    assert not prepared.replays and "constants" in prepared.why_traced
    w, x = draw(rng)
    np.testing.assert_allclose(prepared.gradient(w, x), mixedad.gradient(uses_asarray, w, x))


# --- random programs: an elementwise expression, then structural ops, replayed on new inputs ---
from test_sympy_expressions import expressions  # noqa: E402  (the random elementwise trees)

STRUCTURE = [
    lambda e, x: e @ x.T,                                         # matmul with a non-differentiated array
    lambda e, x: np.sum(e * x, axis=0, keepdims=True) * e,        # a fused reduction read again
    lambda e, x: np.concatenate([e[::2], e[1:2] * x[0]], axis=0),  # slices and a join
    lambda e, x: np.where(MASK[:4], e, np.tanh(e)).reshape(-1)[::3],  # a constant mask, reshape, indexing
    lambda e, x: np.maximum(e, 0.1 * x) + np.mean(e),             # a kink against a constant
]


@settings(max_examples=40, deadline=None)
@given(expression=expressions(), structure=st.sampled_from(range(len(STRUCTURE))),
       mode=st.sampled_from(["auto", "reverse", "forward"]), seed=st.integers(0, 2**16))
def test_random_programs_replay_exactly_like_fresh_traces(expression, structure, mode, seed):
    numpy_fn, _ = expression
    rng = np.random.default_rng(seed)
    draw_args = lambda: (rng.uniform(-1.5, 1.5, (3, 4)), rng.uniform(-1.5, 1.5, (3, 4)), rng.uniform(-1.5, 1.5, 4))

    def program(w, x, c):
        e = numpy_fn(w, c) + 0.0 * w
        return np.sum(STRUCTURE[structure](e, x) ** 2)

    prepared = mixedad.prepare(program, *draw_args(), argnums=(0, 2), mode=mode)
    assert prepared.replays or prepared.value_dependent, prepared.why_traced
    for _ in range(2):
        w, x, c = draw_args()
        (value, (gw, gc)) = prepared.value_and_gradient(w, x, c)
        fresh_value, (fw, fc) = mixedad.value_and_gradient(program, w, x, c, argnums=(0, 2), mode=mode)
        np.testing.assert_allclose(gw, fw, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gc, fc, rtol=1e-12, atol=1e-12)
        assert value == pytest.approx(fresh_value, rel=1e-12, abs=1e-12)


def test_pytrees_tuple_argnums_and_python_floats_replay():
    from collections import namedtuple
    from dataclasses import dataclass
    Pair = namedtuple("Pair", "a b")

    @dataclass
    class Layer:
        weight: np.ndarray
        scale: float

    def f(layer, pair, data):
        return np.sum(np.tanh(data @ layer.weight) * layer.scale) + np.sum(pair.a * pair.b) * pair.b[0]

    rng = np.random.default_rng(10)
    make = lambda: (Layer(rng.standard_normal((3, 2)), float(rng.uniform(0.5, 2))),
                    Pair(rng.standard_normal(2), rng.standard_normal(2)), rng.standard_normal((4, 3)))
    prepared = mixedad.prepare(f, *make(), argnums=(0, 1))
    assert prepared.replays, prepared.why_traced
    for _ in range(3):
        args = make()
        got_layer, got_pair = prepared.gradient(*args)
        want_layer, want_pair = mixedad.gradient(f, *args, argnums=(0, 1))
        assert isinstance(got_layer, Layer) and isinstance(got_pair, Pair)
        assert isinstance(got_layer.scale, float)
        np.testing.assert_allclose(got_layer.weight, want_layer.weight, rtol=1e-12)
        assert got_layer.scale == pytest.approx(want_layer.scale, rel=1e-12)
        np.testing.assert_allclose(got_pair.a, want_pair.a, rtol=1e-12)
        np.testing.assert_allclose(got_pair.b, want_pair.b, rtol=1e-12)


def test_mapped_scalar_functions_replay():
    f = lambda x, y: np.sum(mixedad.map(lambda t, u: np.sin(t) * u, x, y)) + mixedad.sum(np.exp, x)
    rng = np.random.default_rng(11)
    prepared = mixedad.prepare(f, rng.standard_normal(5), rng.standard_normal(5), argnums=(0, 1))
    assert prepared.replays, prepared.why_traced
    x, y = rng.standard_normal(5), rng.standard_normal(5)
    gx, gy = prepared.gradient(x, y)
    np.testing.assert_allclose(gx, np.cos(x) * y + np.exp(x), rtol=1e-12)
    np.testing.assert_allclose(gy, np.sin(x), rtol=1e-12)


def test_output_that_ignores_the_differentiated_argument_has_zero_gradient():
    prepared = mixedad.prepare(lambda w, x: np.sum(x ** 2) + 0.0 * np.sum(w[:0]), np.ones(3), np.ones(2))
    grad = prepared.gradient(np.full(3, 5.0), np.arange(2.0))
    np.testing.assert_array_equal(grad, np.zeros(3))
    value, _ = prepared.value_and_gradient(np.full(3, 5.0), np.arange(2.0))
    assert value == 1.0


def test_closure_arrays_changed_in_place_are_seen_by_the_replay():
    weights = np.array([1.0, 2.0, 3.0])
    prepared = mixedad.prepare(lambda x: np.sum(weights * np.sin(x)), np.zeros(3))
    weights[:] = [3.0, 0.5, -1.0]  # the same object, new contents
    x = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(prepared.gradient(x), weights * np.cos(x), rtol=1e-12)


def test_a_conv_net_training_step_replays_like_fresh_traces():
    from mixedad.examples import models
    from mixedad.nn import cross_entropy
    rng = np.random.default_rng(12)
    params = models.lenet_params(rng, image_size=8, kernel_size=3, padding=1, dtype=np.float32)

    def loss(params, images, labels):
        return cross_entropy(models.lenet(params, images, padding=1), labels)

    images = rng.random((4, 1, 8, 8), dtype=np.float32)
    labels = rng.integers(0, 10, 4)
    prepared = mixedad.prepare(loss, params, images, labels)
    assert prepared.replays, prepared.why_traced
    for _ in range(2):
        images = rng.random((4, 1, 8, 8), dtype=np.float32)
        got = prepared.gradient(params, images, labels)
        want = mixedad.gradient(loss, params, images, labels)
        for got_leaf, want_leaf in zip(mixedad_leaves(got), mixedad_leaves(want)):
            assert got_leaf.dtype == np.float32
            np.testing.assert_allclose(got_leaf, want_leaf, rtol=1e-5, atol=1e-7)
        labels = rng.integers(0, 10, 4)  # new labels: recorded again, still right


def mixedad_leaves(tree):
    from mixedad.core.pytree import flatten
    return flatten(tree)[0]


def test_scalar_arguments_keep_their_type_in_replays():
    prepared = mixedad.prepare(lambda x: x * x * 2.0, 1.5)
    grad = prepared.gradient(2.5)
    assert type(grad) is float and grad == 10.0
    prepared = mixedad.prepare(lambda x: np.sin(x), np.float32(1.0))
    grad = prepared.gradient(np.float32(0.0))
    assert type(grad) is type(mixedad.gradient(lambda x: np.sin(x), np.float32(0.0))) and grad == 1.0


def test_numbers_where_arrays_were_recorded_are_taken_as_those_arrays():
    def f(params, data):
        return np.sin(params["a"]) * params["b"] * data["scale"] + np.sum(data["x"] * params["b"])
    params = {"a": np.array(0.5), "b": np.array(2.0)}
    data = {"scale": np.array(3.0, np.float32), "x": np.ones(3, np.float32)}
    prepared = mixedad.prepare(f, params, data)
    assert prepared.replays
    new_params, new_data = {"a": 0.3, "b": np.float64(1.5)}, {"scale": np.float32(2.0), "x": np.full(3, 2.0, np.float32)}
    expected = mixedad.gradient(f, {k: np.asarray(v) for k, v in new_params.items()},
                                {k: np.asarray(v) for k, v in new_data.items()})
    got = prepared.gradient(new_params, new_data)
    for key in params:
        assert np.asarray(got[key]).dtype == expected[key].dtype
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-12)
