"""Regions compiled to Python code (core.compiled) against the interpreter (core.expressions).

The generated function must do exactly what the interpreter does: the same values and the
same partials, bit for bit, for any region; and a generated function must never be reused
where its structure does not fit (other constants, changed partials).
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import mixedad
from mixedad.core import compiled, expressions
from mixedad.core.tape import LEAF_DECISION, TapeEntry, Trace
from mixedad.core.traced import Traced

from numerical import numerical_gradient
from test_sympy_expressions import expressions as expression_trees


def _leaf(trace, value):
    return Traced(trace, value, TapeEntry((), None, "input", LEAF_DECISION, value.shape, value.dtype))


def _region(function, *values):
    trace = Trace("auto")
    result = function(*[_leaf(trace, v) for v in values])
    assume(type(result) is Traced and result._expr is not None)  # a region, not a constant
    return result._expr


def _same(a, b):
    if a is None or b is None:
        assert a is None and b is None
        return
    assert type(a) is type(b)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b), strict=True)


@settings(max_examples=80, deadline=None)
@given(expression=expression_trees(), seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float64, np.float32]),
       request=st.sampled_from([(True, True), (True, False), (False, True)]))
def test_generated_code_gives_the_interpreters_values_and_partials(expression, seed, dtype, request):
    numpy_fn, _ = expression
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, size=(3, 4)).astype(dtype)
    y = rng.uniform(-1.5, 1.5, size=(4,)).astype(dtype)
    root = _region(numpy_fn, x, y)
    want_value, want_partials = request
    with np.errstate(all="ignore"):
        value, partials = compiled.evaluate(root, want_value, want_partials)
        reference_value, reference_partials = expressions.interpret(root, want_value, want_partials)
    assert compiled.generated_function(root, want_value, want_partials) is not None  # not interpreted
    _same(value, reference_value)
    if not want_partials:
        assert partials is None and reference_partials is None
        return
    assert len(partials) == len(reference_partials) == len(root.inputs)
    for p, q in zip(partials, reference_partials):
        _same(p, q)
    # inputs that share a partial array in the interpreter share it here too (one product later)
    assert [id(p) for p in partials].count(id(partials[0])) == \
        [id(q) for q in reference_partials].count(id(reference_partials[0]))


@settings(max_examples=60, deadline=None)
@given(expression=expression_trees(), request=st.sampled_from([(True, True), (True, False), (False, True)]))
def test_a_chains_structure_built_as_it_grows_is_the_one_a_walk_finds(expression, request):
    """extend_region keys a chain node by node; the walk over the finished region (used for
    regions that are not chains) must reach the very same cache entry and operands."""
    numpy_fn, _ = expression
    root = _region(numpy_fn, np.linspace(-1.0, 1.0, 4), np.linspace(0.5, 1.5, 4))
    assume(root.chain_length > 0)
    assert expressions._chain_below(root) is not None
    walked_function, walked_operands = compiled._compile(root, *request)
    assert walked_function is compiled.generated_function(root, *request)
    operands = expressions.chain_key(root)[1]
    assert len(walked_operands) == len(operands)
    assert all(a is b for a, b in zip(walked_operands, operands))


def _sin_chain_gradient(x, n):
    """d/dx sum(sin(sin(...sin(x)))) by the chain rule, one cos at a time, in plain NumPy."""
    expected = np.ones_like(x)
    y = x
    for _ in range(n):
        expected = expected * np.cos(y)
        y = np.sin(y)
    return expected


def _sin_chain(n):
    def f(x):
        y = x
        for _ in range(n):
            y = np.sin(y)
        return np.sum(y)
    return f


def test_a_region_longer_than_the_cap_is_interpreted_and_correct():
    x = np.linspace(0.1, 0.9, 5)
    n = compiled.MAX_LONG_NODES + 10
    trace = Trace("auto")
    out = _leaf(trace, x)
    for _ in range(n):
        out = np.sin(out)
    assert compiled._compile(out._expr, True, True) is compiled._INTERPRET
    assert out._expr.chain_length == 0 and compiled.generated_function(out._expr, True, True) is None
    np.testing.assert_allclose(mixedad.gradient(_sin_chain(n), x), _sin_chain_gradient(x, n), rtol=1e-12)


def test_a_growing_chain_keeps_memory_linear_in_its_length():
    """Each node keeps its own part of the chain's key; a key built up front per node (as it
    was) made an n-node chain hold n^2 / 2 entries (measured: bytes, not time)."""
    import gc
    import tracemalloc

    def chain_bytes(n):
        trace = Trace("auto")
        out = _leaf(trace, np.float64(0.5))
        gc.collect()  # earlier tests' cyclic garbage, whose finalizers would otherwise run (and allocate) inside
        tracemalloc.start()
        try:
            for _ in range(n):
                out = out * 1.0001
            return tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()

    short, long = chain_bytes(200), chain_bytes(400)
    assert long < 2.3 * short, (short, long)


@pytest.mark.parametrize("shape", ["chain", "dag"])
def test_a_long_region_gets_code_once_its_structure_recurs(shape):
    x = np.linspace(0.1, 0.9, 5)
    n = compiled.MAX_NODES + 10
    compiled.forget_compiled_regions()
    f = _sin_chain(n)
    expected = _sin_chain_gradient(x, n)
    if shape == "dag":  # the chain's first node used again at its end: one region, not a chain
        def f(x):
            first = y = np.sin(x)
            for _ in range(n - 1):
                y = np.sin(y)
            return np.sum(y + first)
        expected = expected + np.cos(x)
    for sighting in range(1, compiled.LONG_HOT_AFTER + 2):
        functions_before = len(compiled._FUNCTIONS)
        np.testing.assert_allclose(mixedad.gradient(f, x), expected, rtol=1e-12)
        generated = len(compiled._FUNCTIONS) > functions_before
        assert generated == (sighting == compiled.LONG_HOT_AFTER), sighting  # cold, then code, then reused


def test_constants_are_operands_of_the_generated_code_not_part_of_it():
    x = np.linspace(-1.0, 1.0, 7)
    for c in (2.0, 3.0, np.full(7, -0.5)):  # one structure, three constants
        got = mixedad.gradient(lambda x: np.sum(np.sin(x * c) + c), x)
        np.testing.assert_allclose(got, np.cos(x * c) * c, rtol=1e-12)


def test_changed_partials_are_not_served_by_code_generated_for_the_old_ones():
    @mixedad.primitive(elementwise=True)
    def cube(x):
        return x ** 3

    cube.defpartials(lambda x: 3 * x * x)
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(np.tanh(cube(x))), x),
                               3 * x * x / np.cosh(x ** 3) ** 2, rtol=1e-8)
    cube.defpartials(lambda x: 0 * x + 7.0)  # a deliberately different rule
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(np.tanh(cube(x))), x),
                               7.0 / np.cosh(x ** 3) ** 2, rtol=1e-8)


def test_the_generated_function_frees_intermediates_it_no_longer_needs():
    trace = Trace("auto")
    x = _leaf(trace, np.linspace(0.1, 1.0, 4))
    root = (((x * 2.0) + 1.0) * 3.0 - 0.5)._expr  # a chain with no reuse between its nodes
    compiled.evaluate(root, True, True)
    function = compiled.generated_function(root, True, True)
    assert "del v0" in function.source and "del v1" in function.source


@pytest.mark.parametrize("mode", ["auto", "forward"])
def test_where_regions_use_the_tangent_rule_in_generated_code(mode):
    x = np.array([-1.0, 0.0, 0.25, 4.0])
    got = mixedad.gradient(lambda x: np.sum(np.where(x > 0, np.sqrt(np.abs(x)), x * x)), x, mode=mode)
    with np.errstate(divide="ignore"):
        expected = np.where(x > 0, 0.5 / np.sqrt(np.abs(x)), 2 * x)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("interpreted", [False, True], ids=["generated", "interpreted"])
def test_a_long_chain_holds_a_few_arrays_whatever_its_length(interpreted, monkeypatch):
    # sin's value serves as cos's partial of the same argument: kept while the argument lives,
    # not to the end of the region (memory grew with the chain's length)
    import tracemalloc
    if interpreted:
        monkeypatch.setattr(compiled, "MAX_NODES", 0)
        monkeypatch.setattr(compiled, "LONG_HOT_AFTER", 10 ** 9)
    x = np.random.default_rng(0).standard_normal(100_000)

    def chain(n):
        def f(x):
            y = x
            for _ in range(n):
                y = np.tanh(np.sin(y)) * 1.01 + np.exp(-y * y) * 0.5
            return np.sum(y)
        return f

    peaks = {}
    for n in (2, 12):
        f = chain(n)
        mixedad.value_and_gradient(f, x)  # code generated, memory touched
        tracemalloc.start()
        value, grad = mixedad.value_and_gradient(f, x)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[12] < 1.5 * peaks[2], {n: p / x.nbytes for n, p in peaks.items()}
    small = x[:6]
    np.testing.assert_allclose(mixedad.gradient(chain(2), small), numerical_gradient(chain(2), small), rtol=1e-6)
