"""Dual regions: one tape entry per fused elementwise region, fused reductions, the cap,
deferred evaluation and mixedad.sum/map (vectorized and per-element)."""
import math

import numpy as np
import pytest

import mixedad
from mixedad import Mode, Reason
from mixedad.core import compiled

from numerical import numerical_gradient

MODES = ("auto", "reverse", "forward")


def tape_entries(f, *args, mode="auto"):
    report = mixedad.profile(f, *args, mode=mode)
    return [e for e in report.entries if e.mode is not Mode.LEAF]


@pytest.mark.parametrize("size", [1, 10, 10_000])
@pytest.mark.parametrize("length", [1, 5, 40])
def test_one_entry_per_region_whatever_the_size_and_chain_length(size, length):
    x = np.linspace(0.1, 0.9, size)

    def f(x):
        y = x
        for _ in range(length):
            y = np.sin(y) * 0.5 + y
        return np.sum(y)
    entries = tape_entries(f, x)
    assert len(entries) == 1
    assert entries[0].mode is Mode.DUAL and entries[0].reason is Reason.REDUCTION_FUSED
    assert entries[0].n_partials == 1
    assert len(entries[0].ops) == 3 * length + 1
    # reverse mode puts every op on the tape instead
    assert len(tape_entries(f, x, mode="reverse")) == 3 * length + 1


def test_region_feeding_a_matmul_is_one_entry_and_gradients_agree():
    rng = np.random.default_rng(0)
    W, x, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(4)

    def loss(W, b):
        h = np.tanh(W @ x + b[:, None])
        return np.sum(h ** 2)
    entries = tape_entries(loss, W, b)
    kinds = [(e.mode, e.ops) for e in entries]
    assert kinds[0] == (Mode.REVERSE, ("matmul",))
    dual = [e for e in entries if e.mode is Mode.DUAL]
    assert len(dual) == 1 and dual[0].ops[-3:] == ("tanh", "square", "sum")
    grads = [mixedad.gradient(loss, W, b, argnums=(0, 1), mode=m) for m in MODES]
    for g in grads[1:]:
        np.testing.assert_allclose(g[0], grads[0][0], rtol=1e-12)
        np.testing.assert_allclose(g[1], grads[0][1], rtol=1e-12)
    np.testing.assert_allclose(grads[0][0], numerical_gradient(lambda W: loss(W, b), W), rtol=1e-6)


def test_regions_split_at_the_partials_cap_and_stay_correct():
    xs = [np.full(3, 0.1 * (i + 1)) for i in range(20)]

    def f(*xs):
        total = 0.0
        for x in xs:
            total = total + np.sin(x)
        return np.sum(total)
    report = mixedad.profile(f, *xs, argnums=tuple(range(20)))
    split = [e for e in report.entries if e.reason is Reason.SPLIT_AT_CAP]
    assert split, "a region over 20 inputs must be split"
    assert max(e.n_partials for e in report.entries) <= 12
    grads = mixedad.gradient(f, *xs, argnums=tuple(range(20)))
    for x, g in zip(xs, grads):
        np.testing.assert_allclose(g, np.cos(x))
    # forward mode does not cap
    forward = mixedad.profile(f, *xs, argnums=tuple(range(20)), mode="forward")
    assert max(e.n_partials for e in forward.entries) == 20


def test_fused_sum_with_axis_and_keepdims_and_mean():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal(4)
    for reducer in (lambda z: np.sum(z, axis=0), lambda z: np.sum(z, axis=1, keepdims=True),
                    lambda z: np.mean(z, axis=(0, 1)), lambda z: z.mean(axis=-1)):
        def f(x, y, reducer=reducer):
            r = reducer(np.sin(x) * y + y)
            return np.sum(r * np.arange(1, r.size + 1).reshape(np.shape(r)))
        for mode in MODES:
            gx, gy = mixedad.gradient(f, x, y, argnums=(0, 1), mode=mode)
            np.testing.assert_allclose(gx, numerical_gradient(lambda x: f(x, y), x), rtol=1e-6)
            np.testing.assert_allclose(gy, numerical_gradient(lambda y: f(x, y), y), rtol=1e-6)


def test_broadcast_scalar_input_is_counted_once_per_use():
    # sum(x + s) over n elements has d/ds = n: the engine must multiply, not just reshape
    x = np.ones((2, 3))
    gs = mixedad.gradient(lambda s, x: np.sum(x + s), 0.5, x)
    assert gs == 6.0 and isinstance(gs, float)


class CountingSin:
    """An elementwise primitive that counts how often its primal is evaluated."""

    def __init__(self):
        self.calls = 0

        def counted_sin(x):
            self.calls += 1
            return np.sin(x)
        self.prim = mixedad.primitive(counted_sin, elementwise=True)
        self.prim.defpartials(lambda x: np.cos(x))


def test_gradient_of_sum_of_region_does_not_evaluate_the_unused_primal():
    counter = CountingSin()
    x = np.linspace(0, 1, 5)
    g = mixedad.gradient(lambda x: np.sum(counter.prim(x)), x)
    np.testing.assert_allclose(g, np.cos(x))
    assert counter.calls == 0
    value, g = mixedad.value_and_gradient(lambda x: np.sum(counter.prim(x)), x)
    assert counter.calls == 1 and np.isclose(value, np.sum(np.sin(x)))


@pytest.mark.parametrize("outer", [
    lambda s: 0.5 * s, lambda s: s / 7.0, lambda s: -s, lambda s: 3.0 * s - 1.0, lambda s: s * np.float32(2.0)],
    ids=["half", "divided", "negated", "affine", "float32 scale"])
@pytest.mark.parametrize("inner", [lambda sin, x: sin(x), lambda sin, x: sin(x) + 2.0 * np.cos(x)],
                         ids=["chain", "dag"])
@pytest.mark.parametrize("interpreted", [False, True], ids=["generated", "interpreted"])
def test_scaling_a_fused_sum_does_not_evaluate_the_unused_primal(outer, inner, interpreted, monkeypatch):
    # the constant's partial (d(0.5 s)/ds = 0.5) reads only the constant: the sum's value,
    # a whole fused region, is not needed, here or in a prepared replay
    if interpreted:  # regions longer than MAX_NODES are walked until their structure recurs
        monkeypatch.setattr(compiled, "MAX_NODES", 0)
        monkeypatch.setattr(compiled, "LONG_HOT_AFTER", 10**9)
    counter = CountingSin()
    x = np.linspace(0.1, 1, 6)
    f = lambda x: outer(np.sum(inner(counter.prim, x)))
    reference = lambda x: outer(np.sum(inner(np.sin, x)))
    prepared = mixedad.prepare(f, x)  # its tracing call computes the value, to compare replays with
    for run in (lambda: mixedad.gradient(f, x), lambda: prepared.gradient(x)):
        before = counter.calls
        g = run()
        np.testing.assert_allclose(g, numerical_gradient(reference, x), rtol=1e-7)
        assert counter.calls == before
    before = counter.calls
    value, g = mixedad.value_and_gradient(f, x)
    assert counter.calls == before + 1 and np.isclose(value, reference(x))


def test_a_partial_reading_only_some_arguments_still_gets_the_values_it_reads():
    # user partials: d/dy (x * exp(y)) = x * exp(y) reads both, d/dx reads y only
    prim = mixedad.primitive(lambda x, y: x * np.exp(y), elementwise=True)
    prim.defpartials(lambda x, y: np.exp(y), lambda x, y, out: out)
    x, y = np.linspace(0.5, 1.5, 4), np.linspace(-1, 1, 4)
    f = lambda x, y: 0.25 * np.sum(prim(np.sin(x), np.cos(y)) * x)
    reference = lambda x, y: 0.25 * np.sum(np.sin(x) * np.exp(np.cos(y)) * x)
    for mode in MODES:
        gx, gy = mixedad.gradient(f, x, y, argnums=(0, 1), mode=mode)
        np.testing.assert_allclose(gx, numerical_gradient(lambda x: reference(x, y), x), rtol=1e-6)
        np.testing.assert_allclose(gy, numerical_gradient(lambda y: reference(x, y), y), rtol=1e-6)


def test_values_match_numpy_exactly():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    f = lambda x: np.sum(np.tanh(x) * np.exp(-x * x) + np.arctan2(x, 2.0))
    for mode in MODES:
        value, _ = mixedad.value_and_gradient(f, x, mode=mode)
        assert value == f(x) and value.dtype == np.float32


# --- mixedad.sum and mixedad.map ------------------------------------------------------------
def test_mixedad_sum_vectorized_is_one_fused_entry():
    x = np.linspace(-2, 2, 64).astype(np.float32)
    f = lambda x: mixedad.sum(lambda t: np.arctan2(t, 2.0), x)
    entries = tape_entries(f, x)
    assert len(entries) == 1 and entries[0].mode is Mode.DUAL
    g = mixedad.gradient(f, x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2.0 / (x.astype(np.float64) ** 2 + 4.0), rtol=1e-6)


def branchy(t):
    if t > 0.5:
        return t * t
    return math.sin(t) + float(t) * 2.0


def test_mixedad_sum_falls_back_per_element_for_branches_math_and_float():
    x = np.array([-1.0, 0.2, 0.7, 1.5])
    report = mixedad.profile(lambda x: mixedad.sum(branchy, x), x)
    per_element = report.by_mode(Mode.PER_ELEMENT)
    assert len(per_element) == 1 and per_element[0].reason is Reason.NOT_VECTORIZABLE
    expected = np.where(x > 0.5, 2 * x, np.cos(x) + 2.0)
    np.testing.assert_allclose(report.gradient, expected)
    np.testing.assert_allclose(report.value, sum(branchy(float(t)) for t in x))


def test_mixedad_map_broadcasts_several_inputs():
    x, y = np.array([[0.5], [1.5]]), np.array([1.0, 2.0, 3.0])

    def f(x, y):
        return np.sum(mixedad.map(lambda a, b: a * np.exp(b) if a > 1 else a - b, x, y) ** 2)
    gx, gy = mixedad.gradient(f, x, y, argnums=(0, 1))
    np.testing.assert_allclose(gx, numerical_gradient(lambda x: f(x, y), x), rtol=1e-6)
    np.testing.assert_allclose(gy, numerical_gradient(lambda y: f(x, y), y), rtol=1e-6)


def test_map_outside_a_gradient_is_plain_numpy():
    x = np.array([-1.0, 2.0])
    np.testing.assert_allclose(mixedad.map(branchy, x), [branchy(-1.0), branchy(2.0)])
    assert mixedad.sum(np.sin, x) == np.sum(np.sin(x))


def test_helper_calling_math_in_a_nested_function_is_differentiated_not_silently_zero():
    def helper(t):
        return math.exp(t)

    def f(t):
        return helper(t) if t > 0 else t
    x = np.array([1.0, -1.0])
    grad = mixedad.gradient(lambda x: mixedad.sum(f, x), x)
    np.testing.assert_allclose(grad, numerical_gradient(lambda v: sum(f(float(t)) for t in v), x), rtol=1e-6)


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("input_dtype", [np.float64, np.float32])
def test_dtype_of_a_lazy_value_is_the_dtype_numpy_computes(mode, input_dtype):
    """Casts and ufuncs given dtype= inside a region report the dtype their value will have
    (the dtype of everything built on them depends on it)."""
    x = np.linspace(0.5, 2.0, 6).astype(input_dtype)
    mask = np.arange(6) % 2 == 0
    expressions = [
        lambda x: x.astype(np.float32),
        lambda x: x.astype(np.float64) * 2,
        lambda x: np.add(x, 1.0, dtype=np.float32),
        lambda x: np.where(mask, x.astype(np.float32) ** 2, 0),
        lambda x: np.exp(x.astype(np.float32)) + np.float32(1),
    ]
    seen = []

    def f(traced):
        for expression in expressions:
            value = expression(traced)
            seen.append((value.dtype, mixedad.core.region.primal(value).dtype, expression(x).dtype))
        return np.sum(traced)

    mixedad.gradient(f, x, mode=mode)
    assert len(seen) == len(expressions)
    for reported, computed, numpy_dtype in seen:
        assert reported == computed == numpy_dtype


def test_math_functions_without_a_numpy_ufunc_use_scipys_rules_in_mapped_functions():
    special = pytest.importorskip("scipy.special")
    z = np.array([0.3, -1.2, 2.0])
    normal_cdf = mixedad.gradient(lambda z: mixedad.sum(lambda t: 0.5 * (1 + math.erf(t / math.sqrt(2))), z), z)
    np.testing.assert_allclose(normal_cdf, np.exp(-z ** 2 / 2) / np.sqrt(2 * np.pi), rtol=1e-12)

    def f(t):
        return math.lgamma(t + 3) + math.gamma(t + 3) + math.erfc(t)

    expected = (special.digamma(z + 3) * (1 + special.gamma(z + 3)) - 2 / np.sqrt(np.pi) * np.exp(-z * z))
    np.testing.assert_allclose(mixedad.gradient(lambda z: mixedad.sum(f, z), z), expected, rtol=1e-10)


def test_partials_count_as_reading_every_argument_they_might_read():
    import functools
    import inspect

    from mixedad.core.partials import arguments_read

    class Rule:
        def partial(self, x, y):
            return y

    def nested(x, y):
        return (lambda: x)()

    def through_locals(x, y):
        return locals()["x"]

    assert arguments_read(lambda x, y: y, 2) == (False, True)
    assert arguments_read(lambda x, y, out: -out / y, 2) == (False, True)
    assert arguments_read(Rule().partial, 2) == (False, True)
    assert arguments_read(nested, 2) == (True, False)
    for opaque in (lambda *args: args[1], np.cos, functools.partial(lambda x, y: y), through_locals):
        assert arguments_read(opaque, 2) == (True, True)
    assert arguments_read(Rule.partial, 3) == (False, False, True)  # the same code unbound: self is an argument
    assert arguments_read(Rule().partial, 2) == (False, True)

    @functools.wraps(lambda x, y: y)
    def wrapped(*args, **kwargs):  # its own signature is *args: functools.wraps does not change what it reads
        return args[0] * 2.0
    assert arguments_read(wrapped, 2) == (True, True)
    declared = lambda x, y: x
    declared.__signature__ = inspect.signature(lambda a, b: None)
    assert arguments_read(declared, 2) == (True, True)
    assert arguments_read(lambda x: 2.0, 2) == (False, True)  # past its parameters: read (the call fails)
    assert arguments_read(lambda x, *rest: rest[0], 3) == (False, True, True)  # through *args
    assert arguments_read(lambda x, y, **options: y, 2) == (False, True)  # keywords hold no argument


SCALE = 3.0


@pytest.mark.parametrize("mode", MODES)
def test_a_partial_that_reads_no_argument_is_still_called(mode):
    prim = mixedad.primitive(lambda x: x * SCALE, elementwise=True)
    prim.defpartials(lambda x: SCALE)  # a global, not x: nothing to read
    x = np.linspace(0.0, 1.0, 3)
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(np.sin(prim(x))), x, mode=mode),
                               numerical_gradient(lambda x: np.sum(np.sin(x * SCALE)), x), rtol=1e-7)

    def refuse(x):
        raise ArithmeticError("the partial's own error")
    failing = mixedad.primitive(lambda x: x * SCALE, elementwise=True)
    failing.defpartials(refuse)
    with pytest.raises(ArithmeticError, match="own error"):
        mixedad.gradient(lambda x: np.sum(failing(x)), x, mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_a_scaled_fused_sum_keeps_zero_against_an_infinite_partial(mode):
    # sqrt's derivative at 0 is infinite: scaled by 0 the gradient is 0, by 2 it stays infinite
    x = np.array([0.0, 1.0, 4.0])
    for scale, expected in ((0.0, [0.0, 0.0, 0.0]), (2.0, [np.inf, 1.0, 0.5]), (-0.5, [-np.inf, -0.25, -0.125])):
        grad = mixedad.gradient(lambda x: scale * np.sum(np.sqrt(x)), x, mode=mode)
        np.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize("mode", MODES)
def test_rules_wrapped_by_a_decorator_still_get_every_value(mode):
    # np.errstate as a decorator wraps the rule (functools.wraps): its signature is the inner
    # function's, its code the wrapper's, which names no parameter
    prim = mixedad.primitive(np.exp)
    prim.defvjp(np.errstate(over="ignore")(lambda g, out, x: g * out))
    partial_prim = mixedad.primitive(lambda x: x * x, elementwise=True)
    partial_prim.defpartials(np.errstate(over="ignore")(lambda x: 2.0 * x))
    x = np.linspace(-1.0, 1.0, 3)
    for f, reference in ((lambda x: np.sum(prim(x) * 2.0), lambda x: np.sum(np.exp(x) * 2.0)),
                         (lambda x: np.sum(partial_prim(x) * 3.0), lambda x: np.sum(x * x * 3.0))):
        np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), numerical_gradient(reference, x), rtol=1e-7)
        prepared = mixedad.prepare(f, x)
        for _ in range(3):
            np.testing.assert_allclose(prepared.gradient(x), numerical_gradient(reference, x), rtol=1e-7)


class CountingExp:
    """exp as an elementwise primitive that counts evaluations of its value and of its partial."""

    def __init__(self):
        self.values = self.partials = 0

        def counted_exp(x):
            self.values += 1
            return np.exp(x)

        def partial(x):
            self.partials += 1
            return np.exp(x)
        self.prim = mixedad.primitive(counted_exp, elementwise=True)
        self.prim.defpartials(partial)


@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_a_reduced_value_used_again_is_evaluated_once(mode):
    """softmax's ``e / e.sum()``: the sum fuses e's region; e's second use computes e once and
    the sum reads that value and partial, instead of a region per use evaluating e again."""
    counter = CountingExp()
    x = np.random.default_rng(3).normal(size=(4, 6))
    target = np.eye(6)[[0, 2, 5, 1]]

    def loss(x, exp):
        e = exp(x - np.max(x, axis=1, keepdims=True))
        p = e / np.sum(e, axis=1, keepdims=True)
        return -np.sum(target * np.log(p))

    value, grad = mixedad.value_and_gradient(lambda x: loss(x, counter.prim), x, mode=mode)
    assert (counter.values, counter.partials) == (1, 1)
    assert np.isclose(value, loss(x, np.exp))
    np.testing.assert_allclose(grad, numerical_gradient(lambda x: loss(x, np.exp), x), rtol=1e-6, atol=1e-9)

    prepared = mixedad.prepare(lambda x: loss(x, counter.prim), x, mode=mode)
    for new_x in (x + 0.5, x[::-1] * 2.0):
        counter.values = counter.partials = 0
        grad = prepared.gradient(new_x)
        assert (counter.values, counter.partials) == (1, 1)  # a replay shares the value as the recording did
        np.testing.assert_allclose(grad, numerical_gradient(lambda x: loss(x, np.exp), new_x), rtol=1e-6, atol=1e-9)
    assert prepared.replays


def test_a_shared_reduced_value_changed_in_place_keeps_the_sum_of_the_old_values():
    def f(x):
        e = np.exp(x)
        s = np.sum(e, axis=0)
        t = e * 2.0  # e's second use: computed now, and the sum reads it (lazily)
        e += 1.0
        return np.sum(s * s) + np.sum(t * e)

    x = np.linspace(-1, 1, 6).reshape(3, 2)
    value, grad = mixedad.value_and_gradient(f, x)
    assert np.isclose(value, f(x.copy()))
    np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=1e-6)


@pytest.mark.parametrize("shared", [False, True], ids=["a fused sum", "a fused sum whose value is used again"])
def test_a_prepared_gradient_keeps_no_array_of_the_last_call(shared):
    import gc
    import tracemalloc
    x = np.random.default_rng(0).normal(size=(300, 400))  # 960 KB an array

    def loss(x):
        e = np.tanh(x) * x
        s = np.sum(e, axis=1, keepdims=True)
        return np.sum(s * s) + (np.sum(e / s) if shared else 0.0)

    prepared = mixedad.prepare(loss, x)
    prepared.gradient(x)
    prepared.gradient(x + 1.0)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        grad = prepared.gradient(x + 2.0)
        del grad
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < x.nbytes / 4
