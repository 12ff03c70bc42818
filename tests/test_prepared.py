"""Prepared gradients: equal to fresh ones, out= in place, shape checks, value dependence."""
import random

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedad
from numerical import numerical_gradient


def mlp(params, x):
    h = np.tanh(x @ params["W"] + params["b"])
    return np.sum(h ** 2)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_prepared_gradients_equal_fresh_gradients_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    make = lambda: ({"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}, rng.standard_normal((5, 4)))
    prepared = mixedad.prepare(mlp, *make())
    for _ in range(3):
        params, x = make()
        fresh = mixedad.gradient(mlp, params, x)
        got = prepared.gradient(params, x)
        for key in fresh:
            np.testing.assert_array_equal(got[key], fresh[key])
        value, _ = prepared.value_and_gradient(params, x)
        assert value == mlp(params, x)


def test_out_writes_in_place_and_returns_the_same_objects():
    rng = np.random.default_rng(0)
    params, x = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}, rng.standard_normal((5, 4))
    prepared = mixedad.prepare(mlp, params, x)
    out = {"W": np.empty((4, 3)), "b": np.empty(3)}
    W_buffer, b_buffer = out["W"], out["b"]
    result = prepared.gradient(params, x, out=out)
    assert result is out and result["W"] is W_buffer and result["b"] is b_buffer
    fresh = mixedad.gradient(mlp, params, x)
    np.testing.assert_array_equal(W_buffer, fresh["W"])
    np.testing.assert_array_equal(b_buffer, fresh["b"])
    with pytest.raises(mixedad.InputError, match="out="):
        prepared.gradient(params, x, out={"W": np.empty((3, 4)), "b": np.empty(3)})


def test_shape_and_dtype_mismatches_raise_clearly():
    prepared = mixedad.prepare(lambda x: np.sum(x ** 2), np.zeros(3))
    with pytest.raises(mixedad.InputError, match="argument 0 does not match"):
        prepared.gradient(np.zeros(4))
    with pytest.raises(mixedad.InputError, match="argument 0 does not match"):
        prepared.gradient(np.zeros(3, np.float32))


def test_a_pytree_of_another_structure_raises_clearly():
    import dataclasses

    @dataclasses.dataclass
    class Layer:
        W: np.ndarray
        b: np.ndarray

    params = {"W": np.ones((4, 3)), "b": np.ones(3)}
    prepared = mixedad.prepare(mlp, params, np.ones((5, 4)))
    for other in ({"W": np.ones((4, 3)), "c": np.ones(3)},            # a renamed key
                  {"b": np.ones(3), "W": np.ones((4, 3))},            # the same keys in another order
                  {"W": np.ones((4, 3)), "b": [np.ones(3)]},          # a leaf in a list
                  Layer(np.ones((4, 3)), np.ones(3))):                 # another container
        with pytest.raises(mixedad.InputError, match="argument 0 does not match"):
            prepared.gradient(other, np.ones((5, 4)))

    def layer_loss(layer, x):
        return np.sum(np.tanh(x @ layer.W + layer.b) ** 2)
    layer = Layer(np.ones((4, 3)), np.ones(3))
    prepared = mixedad.prepare(layer_loss, layer, np.ones((5, 4)))  # dataclasses: checked by type and fields
    got = prepared.gradient(Layer(np.full((4, 3), 0.5), np.zeros(3)), np.ones((5, 4)))
    want = mixedad.gradient(layer_loss, Layer(np.full((4, 3), 0.5), np.zeros(3)), np.ones((5, 4)))
    np.testing.assert_array_equal(got.W, want.W)
    with pytest.raises(mixedad.InputError, match="argument 0 does not match"):
        prepared.gradient({"W": np.ones((4, 3)), "b": np.ones(3)}, np.ones((5, 4)))


def branching(x):
    if np.sum(x) > 0:  # value-dependent Python control flow
        return np.sum(np.sin(x))
    return np.sum(x ** 3)


def test_value_dependent_control_flow_is_detected_and_never_replayed_wrongly():
    prepared = mixedad.prepare(branching, np.ones(3))
    assert prepared.value_dependent
    line = branching.__code__.co_firstlineno + 1  # the if statement: where f read a value
    assert prepared.value_reads == (f"bool() at test_prepared.py:{line}",)
    assert f"bool() at test_prepared.py:{line}" in prepared.why_traced
    positive, negative = np.full(3, 0.5), np.full(3, -0.5)
    np.testing.assert_allclose(prepared.gradient(positive), np.cos(positive))
    np.testing.assert_allclose(prepared.gradient(negative), 3 * negative ** 2)
    assert not mixedad.prepare(mlp, {"W": np.ones((4, 3)), "b": np.ones(3)}, np.ones((5, 4))).value_dependent


def test_gradient_of_sum_of_region_skips_the_primal_in_prepared_calls_too():
    calls = []

    @mixedad.primitive(elementwise=True)
    def counted_exp(x):
        calls.append(1)
        return np.exp(x)
    counted_exp.defpartials(lambda x, out: out)  # needs its output: evaluated once, in the backward pass

    @mixedad.primitive(elementwise=True)
    def counted_sin(x):
        calls.append(2)
        return np.sin(x)
    counted_sin.defpartials(lambda x: np.cos(x))  # needs only the input: never evaluated

    prepared = mixedad.prepare(lambda x: np.sum(counted_sin(x)) + np.sum(counted_exp(x)), np.zeros(3))
    calls.clear()
    g = prepared.gradient(np.full(3, 0.25))
    np.testing.assert_allclose(g, np.cos(0.25) + np.exp(0.25))
    assert calls == [1]


def _recurrent(p, xs):
    h = np.zeros_like(p["b"])
    states = np.empty_like(p["b"], shape=(xs.shape[0], p["b"].size))
    for t in range(xs.shape[0]):
        h = np.tanh(p["W"] @ h + xs[t] + p["b"])
        states[t] = h * np.ones_like(h) + np.full_like(h, 0.5)
    return np.sum(states ** 2)


def test_buffers_made_like_traced_values_are_replayed():
    """np.zeros_like / ones_like / empty_like / full_like of a traced value: the program was
    traced again on every call (why_traced blamed the per-element fallback)."""
    rng = np.random.default_rng(4)
    xs = rng.standard_normal((5, 4))
    params = {"W": rng.standard_normal((4, 4)) * 0.3, "b": rng.standard_normal(4)}
    prepared = mixedad.prepare(_recurrent, params, xs)
    for _ in range(4):
        new = {"W": rng.standard_normal((4, 4)) * 0.3, "b": rng.standard_normal(4)}
        new_xs = rng.standard_normal((5, 4))
        got, want = prepared.gradient(new, new_xs), mixedad.gradient(_recurrent, new, new_xs)
        assert prepared.replays, prepared.why_traced
        for name in new:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-14)


class _Options:
    def __init__(self, power):
        self.power = power
        self.sizes = [1]
        self.inner = None


class _Inner:
    def __init__(self, scale):
        self.scale = scale


def test_an_options_object_changed_in_place_records_the_function_again():
    """The same object with other attributes is another option: never the stale program."""
    def f(w, options):
        scale = 1.0 if options.inner is None else options.inner.scale
        return np.sum(w ** options.power) * len(options.sizes) * scale

    w, options = np.array([1.0, 2.0, 0.5]), _Options(2.0)
    prepared = mixedad.prepare(f, w, options)
    changes = [lambda: setattr(options, "power", 3.0), lambda: options.sizes.append(2),
               lambda: setattr(options, "inner", _Inner(2.0)), lambda: setattr(options.inner, "scale", 5.0),
               lambda: None]
    for change in changes:
        change()
        np.testing.assert_allclose(prepared.gradient(w, options), mixedad.gradient(f, w, options), rtol=1e-12)
        np.testing.assert_allclose(prepared.gradient(w, options), mixedad.gradient(f, w, options), rtol=1e-12)
    assert prepared.replays
    index = np.array([0, 2])
    prepared = mixedad.prepare(lambda w, i: np.sum(w[i] ** 2), w, index)
    index[0] = 1  # an index array changed in place
    np.testing.assert_allclose(prepared.gradient(w, index), [0.0, 4.0, 1.0])


def test_a_program_that_keeps_reading_values_is_traced_plainly_after_three_recordings(monkeypatch):
    """Recording costs more than tracing: a prepared gradient whose every recording looked at
    input values stops recording (it still traces every call, so it is still right)."""
    def f(x):  # the selection's size depends on the values: a replay cannot follow it
        return np.sum(x[x > 0.5] ** 2) + np.sum(np.sin(x[x <= 0.5]))

    x = np.linspace(0.0, 1.0, 7)
    prepared = mixedad.prepare(f, x)
    assert not prepared.replays and prepared.why_traced.startswith("the program depends")
    recordings = []
    real_record = mixedad.Prepared._record
    monkeypatch.setattr(mixedad.Prepared, "_record", lambda self, *a: recordings.append(1) or real_record(self, *a))
    for shift in np.linspace(-0.4, 0.4, 6):
        np.testing.assert_allclose(prepared.gradient(x + shift), mixedad.gradient(f, x + shift), rtol=1e-12)
    assert len(recordings) == 2  # with the one at prepare time, three in a row


@pytest.mark.parametrize("trajectory", [False, True], ids=["type test", "buffer made like a data argument"])
def test_calls_traced_plainly_see_the_other_arguments_as_the_recordings_did(trajectory):
    """After three recordings that read values, calls still trace the other arguments' float
    arrays as constants: the same function on every call (before, a type test on a data
    argument flipped on the fourth call, and a buffer made like one refused traced rows)."""
    def f(w, data):
        if trajectory:  # a state buffer made like the initial state, filled row by row
            states = np.zeros_like(data, shape=(4,) + data.shape)
            states[0] = data
            for t in range(3):
                states[t + 1] = np.where(states[t] > 0, states[t] * w, 0.5 * states[t] * w)
            return np.sum(states ** 2)
        scale = 2.0 if isinstance(data, np.ndarray) else 3.0
        return np.sum(np.where(data @ w > 0, data @ w, 0.1 * (data @ w)) ** 2) * scale

    rng = np.random.default_rng(1)
    w = rng.standard_normal(3)
    data = rng.standard_normal(3) if trajectory else rng.standard_normal((5, 3))
    prepared = mixedad.prepare(f, w, data)
    grads = [prepared.gradient(w, data) for _ in range(5)]
    for grad in grads[1:]:
        np.testing.assert_array_equal(grad, grads[0])
    np.testing.assert_allclose(grads[0], numerical_gradient(lambda w: prepared.value_and_gradient(w, data)[0], w),
                               rtol=1e-6)


def test_options_that_compare_by_value_or_have_slots_changed_in_place_record_again():
    import types

    class Slotted:
        __slots__ = ("power",)

        def __init__(self, power):
            self.power = power

    w = np.array([1.0, 2.0, 0.5])
    namespace = types.SimpleNamespace(scale=1.0, inner=types.SimpleNamespace(shift=0.0))
    f = lambda w, o: np.sum(w ** 3) * o.scale + o.inner.shift * np.sum(w)
    prepared = mixedad.prepare(f, w, namespace)
    for change in (lambda: setattr(namespace, "scale", 10.0), lambda: setattr(namespace.inner, "shift", 2.0)):
        change()
        np.testing.assert_allclose(prepared.gradient(w, namespace), mixedad.gradient(f, w, namespace), rtol=1e-12)
    slotted = Slotted(2.0)
    g = lambda w, o: np.sum(w ** o.power)
    prepared = mixedad.prepare(g, w, slotted)
    slotted.power = 3.0
    np.testing.assert_allclose(prepared.gradient(w, slotted), 3 * w ** 2, rtol=1e-12)


def _made_inside(x):
    return np.zeros_like(x), np.diag(np.arange(1.0, x.size + 1))  # NumPy makes both anew on each call


@pytest.mark.parametrize("which", [0, 1], ids=["zeros_like of a traced value", "plain array built inside f"])
def test_an_aux_array_changed_in_place_by_the_caller_leaves_the_program_alone(which):
    """The aux of a replay is the caller's to change: an array the recording made (which the
    program reads again) was handed out itself, and ``aux += 1`` changed later gradients."""
    def f(x):
        made = _made_inside(x)
        c, m = made
        return np.sum((x + c) @ m * x), made[which]

    x = np.array([1.0, 2.0, 3.0])
    prepared = mixedad.prepare(f, x, has_aux=True)
    m = np.diag([1.0, 2.0, 3.0])
    expected_value, expected_grad = x @ m @ x, 2.0 * m @ x
    for call in range(4):
        (value, aux), grad = prepared.value_and_gradient(x)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-14, err_msg=f"call {call}")
        np.testing.assert_allclose(value, expected_value, rtol=1e-14, err_msg=f"call {call}")
        np.testing.assert_array_equal(aux, _made_inside(x)[which])
        aux += 1.0
    assert prepared.replays, prepared.why_traced


def test_an_integer_argument_that_f_updates_in_place_is_compared_as_it_was_passed():
    """The recorded copy of an integer argument is taken before f runs: taken after, it held
    f's update, and a later call with the array as passed replayed the wrong program."""
    def f(x, k):
        k += 1
        return np.sum(x * k)

    x = np.array([1.0, 2.0, 3.0])
    prepared = mixedad.prepare(f, x, np.array([1, 2, 3]))
    for _ in range(3):
        k = np.array([1, 2, 3])
        np.testing.assert_array_equal(prepared.gradient(x, k), [2.0, 3.0, 4.0])
    k = np.array([5, 5, 5])
    np.testing.assert_array_equal(prepared.gradient(x, k), [6.0, 6.0, 6.0])


def _trees(leaf):
    return st.recursive(leaf, lambda children: st.one_of(
        st.lists(children, max_size=3), st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from(["a", "b", "w", 1]), children, max_size=3)), max_leaves=6)


_ARRAYS = st.builds(lambda shape, dtype: np.zeros(shape, dtype), st.sampled_from([(), (2,), (1, 3)]),
                    st.sampled_from([np.float64, np.float32]))


@settings(max_examples=60, deadline=None)
@given(_trees(_ARRAYS), st.data())
def test_generated_tree_readers_and_builders_agree_with_flatten(tree, data):
    from mixedad.core.pytree import compiled_builder, compiled_reader, flatten, unflatten
    leaves, definition = flatten(tree)
    read = compiled_reader(definition, [(leaf.shape, leaf.dtype) for leaf in leaves])
    got = read(tree)
    assert len(got) == len(leaves) and all(a is b for a, b in zip(got, leaves))
    build = compiled_builder(definition)
    if build is not None:
        numbers = list(range(len(leaves)))
        assert build(numbers) == unflatten(definition, numbers)
        rebuilt = build(leaves)
        assert type(rebuilt) is type(tree) and flatten(rebuilt)[1] == definition
    if leaves:  # any other leaf, shape or dtype is not this tree
        k = data.draw(st.integers(0, len(leaves) - 1))
        other = data.draw(st.sampled_from(["shape", "dtype", "float", "list"]))
        changed = list(leaves)
        changed[k] = {"shape": np.zeros(leaves[k].shape + (1,), leaves[k].dtype),
                      "dtype": leaves[k].astype(np.float16), "float": 0.0, "list": [leaves[k]]}[other]
        assert read(unflatten(definition, changed)) is None


def test_trees_of_lists_and_tuples_replay_like_fresh_gradients():
    def loss(layers, x):
        for weight, bias in layers[0]:
            x = np.tanh(x @ weight + bias)
        return np.sum(x ** 2) * layers[1]["scale"]
    rng = np.random.default_rng(3)

    def params():
        return [[(rng.standard_normal((3, 3)), rng.standard_normal(3)) for _ in range(2)],
                {"scale": rng.standard_normal(())}]
    x = rng.standard_normal((4, 3))
    prepared = mixedad.prepare(loss, params(), x)
    for _ in range(3):
        p = params()
        got, want = prepared.gradient(p, x), mixedad.gradient(loss, p, x)
        assert type(got) is list and type(got[0][1]) is tuple and type(got[1]) is dict
        for g, w in zip(mixedad.core.pytree.flatten(got)[0], mixedad.core.pytree.flatten(want)[0]):
            np.testing.assert_allclose(g, w, rtol=1e-12)
    with pytest.raises(mixedad.InputError, match="argument 0 does not match"):
        prepared.gradient([params()[0][:1], params()[1]], x)


def test_a_mismatch_names_the_leaf_and_what_was_prepared():
    prepared = mixedad.prepare(mlp, {"W": np.ones((4, 3)), "b": np.ones(3)}, np.ones((5, 4)))
    with pytest.raises(mixedad.InputError, match=r"argument 0 does not match .*: leaf \['W'\] is a float32 array "
                                                 r"of shape \(4, 3\), prepared for a float64 array of shape \(4, 3\)"):
        prepared.gradient({"W": np.ones((4, 3), np.float32), "b": np.ones(3)}, np.ones((5, 4)))
    with pytest.raises(mixedad.InputError, match=r"argument 1 does not match .*: it is a list of 5 entries, "
                                                 r"prepared for a float64 array of shape \(5, 4\)"):
        prepared.gradient({"W": np.ones((4, 3)), "b": np.ones(3)}, [[1.0] * 4] * 5)


def test_a_nested_jacobian_over_the_arguments_is_differentiated_as_gradient_does():
    """Newton's method with an automatic Jacobian inside f: prepare refused it (MixedTracesError)
    where mixedad.gradient differentiates in forward mode; it now does the same on every call."""
    def newton(theta):
        residual = lambda u: 3.0 * u + theta * np.sin(u) - 1.0
        u = np.zeros(2)
        for _ in range(4):
            u = u - np.linalg.solve(mixedad.jacobian(residual, u), residual(u))
        return np.sum(u ** 2)

    theta = np.array([0.5, 0.2])
    prepared = mixedad.prepare(newton, theta)
    assert not prepared.replays and "forward mode" in prepared.why_traced
    for scale in (1.0, 2.0):
        out = np.empty(2)
        assert prepared.gradient(theta * scale, out=out) is out
        np.testing.assert_allclose(out, numerical_gradient(newton, theta * scale), rtol=1e-6)


def test_calls_traced_again_fall_back_as_recordings_do():
    """After three value-reading recordings, a call traces f again. Where f then refuses a traced
    constant (np.asarray of a data argument) or nests a Jacobian over the arguments, that call
    falls back as a recording would: plain tracing, or forward mode."""
    def f(w, d):
        if w[0] > 0:
            return np.sum(w * w * d)
        if w[1] > 0:
            return np.sum(w * np.asarray(d))  # refuses a traced constant
        residual = lambda u: 3.0 * u + w * np.sin(u) - 1.0  # a Jacobian nested over w
        u = np.zeros(2)
        for _ in range(3):
            u = u - np.linalg.solve(mixedad.jacobian(residual, u), residual(u))
        return np.sum(u ** 2) + np.sum(d)

    d = np.array([0.5, 2.0])
    w = np.array([0.3, 0.7])
    prepared = mixedad.prepare(f, w, d)
    for _ in range(4):
        prepared.gradient(w, d)
    for point in (np.array([-0.3, 0.7]), np.array([-0.3, -0.2]), np.array([0.3, 0.7])):
        np.testing.assert_allclose(prepared.gradient(point, d), numerical_gradient(lambda w: f(w, d), point),
                                   rtol=1e-6, atol=1e-9)


# --- values read past the tape, and arguments whose state the comparison cannot see ----------------
def test_a_branch_on_a_formatted_value_is_traced_again():
    def f(x):
        sign = f"{np.sum(x):.3f}"  # a formatted value can steer control flow like float() does
        return np.sum(x ** 2) * (2.0 if sign.startswith("-") else 1.0)
    prepared = mixedad.prepare(f, np.array([1.0, 2.0]))
    x = np.array([-1.0, -2.0])
    np.testing.assert_allclose(prepared.gradient(x), mixedad.gradient(f, x))  # [-4, -8]; the replay gave [-2, -4]


class _Scaler:
    def __init__(self, k):
        self.k = k

    def scale(self, x):
        return self.k * x


def test_a_bound_method_argument_sees_its_object_change():
    model = _Scaler(2.0)
    f = lambda x, method: np.sum(method(x) ** 2)  # noqa: E731
    prepared = mixedad.prepare(f, np.ones(3), model.scale)
    model.k = 5.0
    np.testing.assert_allclose(prepared.gradient(np.ones(3), model.scale), mixedad.gradient(f, np.ones(3), model.scale))


@pytest.mark.parametrize("make", [lambda: np.random.default_rng(0), lambda: np.random.RandomState(0),
                                  lambda: random.Random(0), lambda: iter(range(2, 100))])
def test_a_random_generator_or_iterator_argument_draws_anew_on_each_call(make):
    def draw(source):
        if isinstance(source, random.Random):
            return source.random()
        if isinstance(source, (np.random.Generator, np.random.RandomState)):
            return source.uniform()
        return float(next(source))

    def f(x, source):
        return np.sum(x * draw(source))
    source, reference = make(), make()
    prepared = mixedad.prepare(f, np.ones(3), make())  # recording draws from another generator
    for _ in range(4):  # each call's gradient is that call's draw, as with mixedad.gradient
        np.testing.assert_allclose(prepared.gradient(np.ones(3), source), mixedad.gradient(f, np.ones(3), reference))


def test_a_prepared_gradient_that_traces_every_call_runs_no_rule_for_the_data():
    """Value-dependent programs are traced on every call, the other arguments traced as
    constants: the rule of an argument that leads only to them must not run (found: X @ w
    computed X's cotangent, 30x slower than mixedad.gradient for a 100000 x 20 X)."""
    rule_calls = []

    @mixedad.primitive
    def scaled(data, w):
        return data * w

    scaled.defvjp(lambda g, out, data, w: rule_calls.append("data") or g * w,
                  lambda g, out, data, w: rule_calls.append("w") or np.sum(g * data, axis=0))

    def f(w, data):
        r = scaled(data, w)
        return np.sum(r ** 2) if np.mean(r) > -100 else 0.0  # reads a value: traced again every call

    rng = np.random.default_rng(0)
    w, data = rng.standard_normal(3), rng.standard_normal((5, 3))
    prepared = mixedad.prepare(f, w, data)
    assert not prepared.replays
    for call in range(5):  # the recordings, then the calls traced again
        rule_calls.clear()
        w_now = w + call
        grad = prepared.gradient(w_now, data)
        assert rule_calls == ["w"], call
        np.testing.assert_allclose(grad, numerical_gradient(lambda v: f(v, data), w_now), rtol=1e-6)


def test_out_leaves_that_share_memory_are_refused_before_anything_is_written():
    def f(params):
        return np.sum(params["a"] * 2.0) + np.sum(params["b"] ** 2)

    params = {"a": np.ones(3), "b": np.array([1.0, 2.0, 3.0])}
    prepared = mixedad.prepare(f, params)
    shared, halves = np.full(3, 7.0), np.full(6, 7.0)
    for out in ({"a": shared, "b": shared}, {"a": halves[:3], "b": halves[:3][::-1]}):
        with pytest.raises(mixedad.InputError, match="share memory"):
            prepared.gradient(params, out=out)
        assert np.all(shared == 7.0) and np.all(halves == 7.0)
    separate = {"a": halves[:3], "b": halves[3:]}  # views of one array that do not overlap: fine
    assert prepared.gradient(params, out=separate) is separate
    np.testing.assert_allclose(halves, [2.0, 2.0, 2.0, 2.0, 4.0, 6.0])
