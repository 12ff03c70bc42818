"""A region's common case (``core.region.grow_chain``: one lazy value and Python numbers, in
auto mode) against the general ``extend_region``, which must build the same node, against
float64 central differences, and the cases it must leave to the general path."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedad
from mixedad.core.dispatch import ufunc_handler
from mixedad.core.expressions import ExprNode
from mixedad.core.region import extend_region, grow_chain
from mixedad.core.traced import Traced
from tests.numerical import numerical_gradient

_NODE_FIELDS = ("prim", "args", "kwargs", "inputs", "input_ids", "shape", "decision", "location", "dtype",
                "unbounded", "link", "constants", "below", "chain_length", "errstate")


def _same(a, b) -> bool:
    """Equal as the engine reads them: nodes and traced values by identity, numbers by type and value."""
    if type(a) is not type(b):
        return False
    if type(a) in (tuple, list):
        return len(a) == len(b) and all(_same(p, q) for p, q in zip(a, b))
    if type(a) is dict:
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if type(a) in (ExprNode, Traced):
        return a is b
    return a is b or a == b


# (ufunc, how its arguments are made from the lazy value y): numbers on either side, ints and floats
_CASES = [
    (np.multiply, lambda y: (y, 1.5)), (np.multiply, lambda y: (2, y)), (np.add, lambda y: (y, 3)),
    (np.subtract, lambda y: (1.0, y)), (np.true_divide, lambda y: (y, 4)), (np.true_divide, lambda y: (2.5, y)),
    (np.power, lambda y: (y, 2.5)), (np.power, lambda y: (1.5, y)), (np.arctan2, lambda y: (y, 2)),
    (np.maximum, lambda y: (y, 0.0)), (np.hypot, lambda y: (3, y)), (np.sin, lambda y: (y,)),
    (np.exp, lambda y: (y,)), (np.sqrt, lambda y: (y,)), (np.square, lambda y: (y,)), (np.tanh, lambda y: (y,)),
    (np.multiply, lambda y: (y, 2**70)), (np.float_power, lambda y: (y, 2)),  # (float_power: float64 loops only)
]


@mixedad.primitive(elementwise=True)
def _root(x):
    return np.sqrt(x)


_root.defpartials(lambda x, out: 0.5 / out)
_root.unbounded_partials = True  # a partial that may be infinite: nodes above it check for 0 * inf


@pytest.mark.parametrize("head", [np.sin, _root], ids=["bounded", "unbounded partials"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ufunc, make_args", _CASES)
def test_the_common_case_builds_the_node_the_general_path_builds(ufunc, make_args, dtype, head):
    prim = ufunc_handler(ufunc)
    compared = []

    def f(x):
        y = head(x) * 1.5 + 2.0  # a lazy value at the end of a chain of three nodes
        args = make_args(y)
        fast = grow_chain(prim, args)
        general = extend_region(y._trace, prim, args, {})
        assert type(fast) is Traced and fast._expr is not None
        for field in _NODE_FIELDS:
            assert _same(getattr(fast._expr, field), getattr(general._expr, field)), field
        assert (fast._shape, fast._dtype) == (general._shape, general._dtype)
        assert fast._expr.unbounded is (head is _root)  # (y came by the common case too: checked on its own)
        compared.append(fast._dtype)
        return np.sum(fast) + np.sum(general)

    x = np.linspace(0.2, 0.9, 6, dtype=dtype).reshape(2, 3)
    gradient = mixedad.gradient(f, x)
    assert gradient.dtype == dtype
    assert compared == [np.float64 if ufunc is np.float_power else dtype]


_UNARY = [np.sin, np.cos, np.exp, np.tanh, np.log1p, np.arctan, np.square, np.negative]
_BINARY = [np.add, np.subtract, np.multiply, np.true_divide, np.arctan2, np.hypot, np.maximum, np.minimum]


@st.composite
def _chains(draw):
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(_UNARY)), None, False))
        else:
            number = draw(st.one_of(st.integers(1, 5), st.floats(0.5, 3.0)))
            steps.append((draw(st.sampled_from(_BINARY)), number, draw(st.booleans())))
    return steps


def _run_chain(steps):
    def f(x):
        y = x * 0.5
        for ufunc, number, number_first in steps:
            if number is None:
                y = ufunc(y)
            else:
                y = ufunc(number, y) if number_first else ufunc(y, number)
            y = np.tanh(y)  # keeps values in a range where every op is smooth and finite
        return np.sum(y * y)
    return f


@settings(max_examples=60, deadline=None)
@given(steps=_chains(), shape=st.lists(st.integers(1, 4), max_size=3), seed=st.integers(0, 2**16))
def test_chains_of_lazy_values_and_numbers_match_central_differences(steps, shape, seed):
    f = _run_chain(steps)
    x = np.random.default_rng(seed).uniform(0.3, 1.2, shape)
    np.testing.assert_allclose(mixedad.gradient(f, x), numerical_gradient(f, x), rtol=1e-5, atol=1e-7)


@settings(max_examples=20, deadline=None)
@given(steps=_chains(), seed=st.integers(0, 2**16))
def test_float32_chains_stay_float32(steps, seed):
    f = _run_chain(steps)
    x = np.random.default_rng(seed).uniform(0.3, 1.2, (3, 2))
    gradient = mixedad.gradient(f, x.astype(np.float32))
    assert gradient.dtype == np.float32
    np.testing.assert_allclose(gradient, numerical_gradient(f, x), rtol=2e-3, atol=1e-4)


@pytest.mark.parametrize("constant", [True, np.float64(2.0), np.float32(2.0), 2j, [2.0], np.array(2.0)],
                         ids=["bool", "float64 scalar", "float32 scalar", "complex", "list", "0-d array"])
def test_other_constants_are_left_to_the_general_path(constant):
    prim = ufunc_handler(np.multiply)

    def f(x):
        y = np.sin(x)
        assert grow_chain(prim, (y, constant)) is None and grow_chain(prim, (constant, y)) is None
        return np.sum(y)

    mixedad.gradient(f, np.ones(3, np.float32))


def test_traces_and_values_it_leaves_to_the_general_path():
    prim = ufunc_handler(np.multiply)
    seen = []

    def f(x):
        y = np.sin(x)
        seen.append(grow_chain(prim, (y, 2.0)))  # per mode: None unless auto and not profiling
        seen.append(grow_chain(prim, (x, 2.0)))  # a concrete value: a new region, not a node on a chain
        total = np.sum(y)
        seen.append(grow_chain(prim, (y, 2.0)))  # y's region was reduced: using y again computes it once
        seen.append(grow_chain(prim, (y, y)))  # two traced values
        return total

    for mode in ("auto", "reverse", "forward"):
        seen.clear()
        mixedad.gradient(f, np.ones(3), mode=mode)
        assert [r is not None for r in seen] == [mode == "auto", False, False, False], mode
    seen.clear()
    mixedad.profile(f, np.ones(3), lines=False)
    assert seen[0] is None  # profiling records the user's line of each op: the general path does


def test_a_raising_error_state_inside_the_function_raises_at_the_op():
    def f(x):
        y = x * 1.0
        with np.errstate(invalid="raise"):
            try:
                np.sqrt(y - 10.0)
            except FloatingPointError:
                return np.sum(y * 3.0)
        return np.sum(y)

    np.testing.assert_allclose(mixedad.gradient(f, np.ones(3)), [3.0, 3.0, 3.0])


def test_a_value_escaped_from_a_finished_differentiation_is_refused():
    kept = []

    def f(x):
        y = np.sin(x)
        kept.append(y)
        return np.sum(y)

    mixedad.gradient(f, np.ones(2))
    with pytest.raises(mixedad.MixedTracesError, match="escaped"):
        kept[0] * 2.0
