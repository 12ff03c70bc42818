"""Prepared programs compiled to one function (core.compiled_program) give, bit for bit, what
the interpreted replay (core.replay) gives, and fail, free and hold nothing as it does."""
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedad

rng0 = np.random.default_rng(0)
REPEATED = np.array([0, 2, 2, 1, 0, 3])  # repeated indices: cotangents add up (np.add.at)


@mixedad.primitive
def scaled_by_joint_rule(a, b):
    return a * 2.0 + b


@scaled_by_joint_rule.defvjp
def _scaled_joint_vjp(g, out, a, b):
    return 2.0 * g, np.sum(g)  # the second cotangent is a scalar: the engine fits it to b's shape


@mixedad.primitive
def only_forward_rule(a):
    return 3.0 * a


only_forward_rule.deflinear()  # no reverse rule: derived by transposing the function


@mixedad.primitive
def first_only(a, b):
    return a + 0.0 * b


first_only.defvjp(lambda g, out, a, b: g, lambda g, out, a, b: None)  # None: a zero cotangent


def dense_net(w, x):
    h = np.tanh(x.reshape(x.shape[0], -1) @ w["w1"] + w["b1"])
    return np.sum((h @ w["w2"] + w["b2"]) ** 2)


def indexing_loop(w, x):
    total = 0.0
    for i in range(12):
        total = total + np.sin(w[i % 4, i % 3]) * x[0, i % 4]
    return total + np.sum(w[REPEATED] ** 2) + np.sum(w[1:3, ::2])


def shared_values(w, x):
    y = x[:4] @ w
    return np.sum(y.T @ y) + np.sum(y[0]) + np.sum(np.tanh(y)) + np.sum(np.mean(y, axis=1, keepdims=True) * y)


def two_outputs(w, x):
    a = w.T @ w + 4.0 * np.eye(3)
    values, vectors = np.linalg.eigh(a)
    return np.sum(np.log(values)) + np.sum(vectors[:, 0] ** 4) + np.sum(np.linalg.solve(a, w[0]))


def user_rules(w, x):
    y = scaled_by_joint_rule(w, w[0])
    return np.sum(only_forward_rule(y) ** 2) + np.sum(first_only(w, x[:4, :3]) * w)


def centred_data(w, x):
    centred = x - np.mean(x, axis=0)  # computed from the argument that is not differentiated
    return np.sum(np.tanh(centred[:, :4] @ w) ** 2)


def draw(rng, f):
    if f is dense_net:
        w = {"w1": rng.standard_normal((8, 5)), "b1": rng.standard_normal(5),
             "w2": rng.standard_normal((5, 2)), "b2": rng.standard_normal(2)}
        return w, rng.standard_normal((3, 2, 4))
    return rng.standard_normal((4, 3)), rng.standard_normal((5, 4))


CASES = [dense_net, indexing_loop, shared_values, two_outputs, user_rules, centred_data]


def prepared_pair(f, args, **options):
    compiled = mixedad.prepare(f, *args, **options)
    interpreted = mixedad.prepare(f, *args, **options)
    assert compiled.replays, compiled.why_traced
    assert compiled._program.compile() is not None
    interpreted._program.interpreted_only = True
    return compiled, interpreted


def assert_same_bits(a, b):
    leaves_a, leaves_b = _leaves(a), _leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for left, right in zip(leaves_a, leaves_b):
        assert type(left) is type(right) and np.asarray(left).dtype == np.asarray(right).dtype
        np.testing.assert_array_equal(left, right, strict=True)


def _leaves(tree):
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in _leaves(tree[key])]
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in _leaves(item)]
    return [tree]


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("f", CASES, ids=lambda f: f.__name__)
def test_compiled_program_gives_the_interpreters_bits(f, mode):
    rng = np.random.default_rng(1)
    compiled, interpreted = prepared_pair(f, draw(rng, f), mode=mode, argnums=(0, 1))
    for _ in range(3):
        args = draw(rng, f)
        assert_same_bits(compiled.value_and_gradient(*args), interpreted.value_and_gradient(*args))
        assert_same_bits(compiled.gradient(*args), interpreted.gradient(*args))
        fresh = mixedad.gradient(f, *args, mode=mode, argnums=(0, 1))
        for got, expected in zip(_leaves(compiled.gradient(*args)), _leaves(fresh)):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_a_program_is_compiled_when_it_runs_a_second_time():
    rng = np.random.default_rng(4)
    prepared = mixedad.prepare(dense_net, *draw(rng, dense_net))
    program = prepared._program
    first = prepared.gradient(*draw(rng, dense_net))
    assert program.compiled is None  # a program recorded again on every call never pays for compiling
    args = draw(rng, dense_net)
    second = prepared.gradient(*args)
    assert program.compiled is not None
    assert_same_bits(second, mixedad.prepare(dense_net, *args).gradient(*args))
    assert _leaves(first)[0].shape == _leaves(second)[0].shape


def test_float32_programs_stay_float32():
    rng = np.random.default_rng(2)
    w, x = (a.astype(np.float32) for a in draw(rng, shared_values))
    compiled, interpreted = prepared_pair(shared_values, (w, x))
    grad = compiled.gradient(w * 2, x)
    assert grad.dtype == np.float32
    assert_same_bits(grad, interpreted.gradient(w * 2, x))


# --- random programs ------------------------------------------------------------------------------
N = 4
OPS = {
    "matmul": lambda a, b: a @ b,
    "product": lambda a, b: a * b,
    "tanh of sum": lambda a, b: np.tanh(a + b),
    "transpose": lambda a, b: a.T,
    "reverse rows": lambda a, b: a[::-1],
    "gather rows": lambda a, b: a[REPEATED[:N]],
    "column mean": lambda a, b: np.mean(a, axis=0, keepdims=True) * b,
    "stack and slice": lambda a, b: np.concatenate([a, b])[1:N + 1],
    "reshape": lambda a, b: (a.reshape(-1) * 0.5).reshape(N, N),
    "exp chain": lambda a, b: np.exp(-a * a) * np.sin(b),
}


def random_program(choices):
    def f(x, y):
        values = [x, y, x * y]
        for name, i, j in choices:
            values.append(OPS[name](values[i % len(values)], values[j % len(values)]))
        return np.sum(values[-1] ** 2) + sum(np.sum(v) for v in values[3::2])
    return f


@settings(max_examples=40, deadline=None)
@given(choices=st.lists(st.tuples(st.sampled_from(sorted(OPS)), st.integers(0, 50), st.integers(0, 50)),
                        min_size=1, max_size=8),
       mode=st.sampled_from(["auto", "reverse"]), seed=st.integers(0, 2**16))
def test_random_programs_compile_to_the_interpreters_bits(choices, mode, seed):
    rng = np.random.default_rng(seed)
    f = random_program(choices)
    args = rng.standard_normal((N, N)), rng.standard_normal((N, N))
    compiled, interpreted = prepared_pair(f, args, mode=mode, argnums=(0, 1))
    new = rng.standard_normal((N, N)), rng.standard_normal((N, N))
    assert_same_bits(compiled.value_and_gradient(*new), interpreted.value_and_gradient(*new))
    for got, expected in zip(compiled.gradient(*new), mixedad.gradient(f, *new, mode=mode, argnums=(0, 1))):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


# --- failures and memory ----------------------------------------------------------------------------
@mixedad.primitive
def fragile(x):
    return x * 1.0


@fragile.defvjp
def _fragile_vjp(g, out, x):
    if np.any(x > 10):
        raise FloatingPointError("too large")
    if np.any(x < -10):
        return np.ones(7)  # not broadcastable to x
    return g


def test_a_failing_rule_is_named_and_the_program_stays_usable():
    prepared = mixedad.prepare(lambda x: np.sum(np.tanh(fragile(x)) ** 2), np.ones(3))
    assert prepared._program.compile() is not None
    with pytest.raises(FloatingPointError) as failure:
        prepared.gradient(np.full(3, 20.0))
    assert any("reverse rule of fragile" in note for note in failure.value.__notes__)
    with pytest.raises(ValueError) as failure:
        prepared.gradient(np.full(3, -20.0))
    assert any("cotangent of shape (7,)" in note for note in failure.value.__notes__)
    x = np.full(3, 0.5)
    np.testing.assert_allclose(prepared.gradient(x), 2 * np.tanh(x) * (1 - np.tanh(x) ** 2))
    program = prepared._program
    assert all(step.entry.vjp is None for step in program.steps)
    assert all(leaf._value is None for leaf in program.active_leaves)
    assert all(result._value is None for step in program.steps for result in step.outputs if result is not None)


def chain(w, x):
    h = x
    for _ in range(6):
        h = np.tanh(h @ w)
    return np.sum(h ** 2)


def peak_bytes(function, *args):
    function(*args)
    tracemalloc.start()
    try:
        function(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_compiled_program_frees_values_as_the_interpreter_does():
    rng = np.random.default_rng(3)
    w, x = rng.standard_normal((300, 300)) * 0.05, rng.standard_normal((300, 300))
    compiled, interpreted = prepared_pair(chain, (w, x))
    source = compiled._program.compiled.source
    assert "del " in source
    assert peak_bytes(compiled.gradient, w, x) <= 1.05 * peak_bytes(interpreted.gradient, w, x)


@pytest.mark.parametrize("interpreted", [True, False])
def test_replaying_a_long_program_wakes_no_cycle_collection_and_restores_the_collector(interpreted):
    """A long program's replay makes many objects, none of them cyclic garbage: the collector,
    which would walk the whole program each time, stays off during the run (as while tracing),
    and runs again after it."""
    import gc

    def loop(x):
        s = 0.0
        for i in range(x.shape[0]):
            s = s + np.sin(x[i]) * x[i]
        return s

    x = np.linspace(0.0, 1.0, 400)
    prepared = mixedad.prepare(loop, x)
    prepared._program.interpreted_only = interpreted
    prepared.gradient(x)
    prepared.gradient(x)  # the second replay compiles (unless interpreted)
    program = prepared._program
    states = []  # whether the collector ran, as the replay began
    if interpreted:
        run, program._interpret = program._interpret, lambda *args: (states.append(gc.isenabled()), run(*args))[1]
    else:
        run, program.compiled = program.compiled, lambda *args: (states.append(gc.isenabled()), run(*args))[1]
    grad = prepared.gradient(x + 0.5)
    assert states == [False] and gc.isenabled()
    np.testing.assert_allclose(grad, mixedad.gradient(loop, x + 0.5), rtol=1e-12)
    assert prepared.replays and (prepared._program.compiled is None) == interpreted
