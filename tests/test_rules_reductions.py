"""Reductions: gradients against central finite differences in float64, in every mode.

Shapes, axes (int, negative, tuple, None) and keepdims are drawn by hypothesis. Where the
derivative is a convention (ties, zero variance, NaN entries, zeros in a product) the
expected gradient is built from the convention's definition with plain NumPy loops.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import mixedad
import mixedad.core.primitive as primitive_module
from mixedad.rules import reductions
from numerical import numerical_gradient, numerical_gradients, random_projection_loss

MODES = ("auto", "reverse", "forward")


# ------------------------------------------------------------------------------------------
# strategies and helpers
@st.composite
def reduction_cases(draw, max_dim=4):
    """(shape, axis, keepdims, seed): axis None, an int (maybe negative) or a tuple of axes."""
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.lists(st.integers(1, max_dim), min_size=ndim, max_size=ndim)))
    axis = draw_axis(draw, ndim, ["none", "int", "tuple"])
    return shape, axis, draw(st.booleans()), draw(st.integers(0, 2 ** 16))


def draw_axis(draw, ndim: int, kinds: list[str]):
    """An axis argument for ``ndim`` dimensions: None, an int (maybe negative) or a tuple, of ``kinds``."""
    kind = draw(st.sampled_from(kinds)) if ndim else "none"
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in chosen)


@st.composite
def cumulative_cases(draw):
    """(shape, axis, seed) for cumsum/cumprod: axis None (flattens) or an int."""
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    axis = draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1)))
    return shape, axis, draw(st.integers(0, 2 ** 16))


def values(kind, shape, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    if kind == "normal":
        x = rng.standard_normal(shape)
    elif kind == "distinct":  # gaps of at least 0.3: finite differences never cross a kink
        x = (rng.permutation(size) * 0.5 + rng.uniform(-0.1, 0.1, size) - size / 4).reshape(shape)
    elif kind == "nonzero":  # products of a few dozen factors stay of moderate size
        x = rng.choice([-1.0, 1.0], shape) * rng.uniform(0.6, 1.4, shape)
    else:
        raise ValueError(kind)
    return np.asarray(x, dtype=dtype)


def reduced_count(shape, axis):
    if axis is None:
        return int(np.prod(shape))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes]))


def check_against_fd(fn, x, rtol=1e-5, atol=1e-7):
    """Gradient of sum(fn(x) * w), w random, against central differences in every mode."""
    loss = random_projection_loss(fn, np.shape(fn(x)))
    expected = numerical_gradient(loss, x)
    assert np.all(np.isfinite(expected))
    for mode in MODES:
        got = mixedad.gradient(loss, x, mode=mode)
        assert got.shape == x.shape and got.dtype == x.dtype, mode
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=f"mode={mode}")


def slices(shape, axis):
    """Index tuples selecting each reduced slice, paired with the output index it feeds."""
    ndim = len(shape)
    axes = tuple(range(ndim)) if axis is None else tuple(
        a % ndim for a in ((axis,) if isinstance(axis, int) else axis))
    kept = [i for i in range(ndim) if i not in axes]
    for out_index in np.ndindex(*[shape[i] for i in kept]):
        index = [slice(None)] * ndim
        for i, j in zip(kept, out_index):
            index[i] = j
        yield tuple(index), out_index


def reduced_weights(shape, axis, seed):
    kept = [n for i, n in enumerate(shape) if axis is not None and i not in
            {a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis)}]
    return np.random.default_rng(seed).standard_normal(tuple(kept))


# ------------------------------------------------------------------------------------------
# the reductions, all called as f(x, axis, keepdims)
REDUCTIONS = {
    "sum": (lambda x, a, k: np.sum(x, axis=a, keepdims=k), "normal"),
    "mean": (lambda x, a, k: np.mean(x, axis=a, keepdims=k), "normal"),
    "prod": (lambda x, a, k: np.prod(x, axis=a, keepdims=k), "nonzero"),
    "max": (lambda x, a, k: np.max(x, axis=a, keepdims=k), "distinct"),
    "amax": (lambda x, a, k: np.amax(x, axis=a, keepdims=k), "distinct"),
    "min": (lambda x, a, k: np.min(x, axis=a, keepdims=k), "distinct"),
    "amin": (lambda x, a, k: np.amin(x, axis=a, keepdims=k), "distinct"),
    "ptp": (lambda x, a, k: np.ptp(x, axis=a, keepdims=k), "distinct"),
    "median": (lambda x, a, k: np.median(x, axis=a, keepdims=k), "distinct"),
    "var": (lambda x, a, k: np.var(x, axis=a, keepdims=k), "normal"),
    "var_ddof1": (lambda x, a, k: np.var(x, axis=a, ddof=1, keepdims=k), "normal"),
    "std": (lambda x, a, k: np.std(x, axis=a, keepdims=k), "normal"),
    "std_ddof1": (lambda x, a, k: np.std(x, axis=a, ddof=1, keepdims=k), "normal"),
    "average": (lambda x, a, k: np.average(x, axis=a, keepdims=k), "normal"),
    "average_weighted": (lambda x, a, k: np.average(x, axis=a, weights=np.linspace(0.5, 2.0, np.size(x)).reshape(
        np.shape(x)), keepdims=k), "normal"),
    "nansum": (lambda x, a, k: np.nansum(x, axis=a, keepdims=k), "normal"),
    "nanmean": (lambda x, a, k: np.nanmean(x, axis=a, keepdims=k), "normal"),
    "nanmax": (lambda x, a, k: np.nanmax(x, axis=a, keepdims=k), "distinct"),
    "nanmin": (lambda x, a, k: np.nanmin(x, axis=a, keepdims=k), "distinct"),
    "nanprod": (lambda x, a, k: np.nanprod(x, axis=a, keepdims=k), "nonzero"),
    "nanvar": (lambda x, a, k: np.nanvar(x, axis=a, keepdims=k), "normal"),
    "nanstd_ddof1": (lambda x, a, k: np.nanstd(x, axis=a, ddof=1, keepdims=k), "normal"),
}
NAN_REDUCTIONS = [name for name in REDUCTIONS if name.startswith("nan")]

CUMULATIVE = {
    "cumsum": (lambda x, a: np.cumsum(x, axis=a), "normal"),
    "cumprod": (lambda x, a: np.cumprod(x, axis=a), "nonzero"),
    "nancumsum": (lambda x, a: np.nancumsum(x, axis=a), "normal"),
    "nancumprod": (lambda x, a: np.nancumprod(x, axis=a), "nonzero"),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(case=reduction_cases())
def test_reduction_matches_finite_differences(name, case):
    shape, axis, keepdims, seed = case
    reduce, kind = REDUCTIONS[name]
    if "ddof1" in name:
        assume(reduced_count(shape, axis) > 1)
    x = values(kind, shape, seed)
    check_against_fd(lambda v: reduce(v, axis, keepdims), x)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_of_a_lazy_elementwise_value(name):
    # the argument is an unevaluated dual region: the reduction must materialize it
    reduce, kind = REDUCTIONS[name]
    x = values(kind, (3, 4), 11) / 4
    for axis, keepdims in ((1, False), ((0, 1), True), (None, False)):
        check_against_fd(lambda v: reduce(np.tanh(v) * 1.5, axis, keepdims), x)


@pytest.mark.parametrize("name", sorted(CUMULATIVE))
@given(case=cumulative_cases())
def test_cumulative_matches_finite_differences(name, case):
    shape, axis, seed = case
    accumulate, kind = CUMULATIVE[name]
    x = values(kind, shape, seed)
    assert accumulate(x, axis).shape == ((x.size,) if axis is None else x.shape)
    check_against_fd(lambda v: accumulate(v, axis), x)


@pytest.mark.parametrize("name", NAN_REDUCTIONS)
@given(case=reduction_cases(), nan_seed=st.integers(0, 2 ** 16))
def test_nan_reductions_ignore_nan_entries(name, case, nan_seed):
    shape, axis, keepdims, seed = case
    reduce, kind = REDUCTIONS[name]
    x = values(kind, shape, seed)
    nan = np.random.default_rng(nan_seed).random(shape) < 0.3
    x[nan] = np.nan
    # A slice with nothing left (all NaN, or fewer values than ddof + 1) has a NaN or inf
    # value that nothing can depend on smoothly: nan_to_num makes it a constant 0.
    fn = lambda v: np.nan_to_num(reduce(v, axis, keepdims), nan=0.0, posinf=0.0, neginf=0.0)  # noqa: E731
    check_against_fd(fn, x)
    grad = mixedad.gradient(lambda v: np.sum(fn(v)), x)
    assert np.all(grad[nan] == 0)


# ------------------------------------------------------------------------------------------
# conventions, checked against their definitions
def product_of_others(x, axis):
    expected = np.zeros_like(x)
    for index, _ in slices(x.shape, axis):
        block = x[index]
        flat = block.reshape(-1)
        others = np.array([np.prod(np.delete(flat, k)) for k in range(flat.size)])
        expected[index] = others.reshape(block.shape)
    return expected


@pytest.mark.parametrize("x, axis", [
    (np.array([2.0, 0.0, 3.0, -1.5]), None),  # exactly one zero
    (np.array([0.0, 2.0, 0.0, 3.0]), None),  # several zeros
    (np.array([0.0]), None),
    (np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0], [1.0, 2.0, -1.0]]), 1),  # one, two, no zeros per row
    (np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0], [1.0, 2.0, -1.0]]), -2),
    (np.array([[[0.0, 2.0], [3.0, 1.0]], [[1.0, 0.0], [0.0, 4.0]]]), (0, 2)),
])
def test_prod_with_zeros_is_the_product_of_the_others(x, axis):
    expected = product_of_others(x, axis)
    w = reduced_weights(x.shape, axis, seed=1)
    for mode in MODES:
        got = mixedad.gradient(lambda v: np.sum(np.prod(v, axis=axis) * w), x, mode=mode)
        for index, out_index in slices(x.shape, axis):
            np.testing.assert_allclose(got[index], w[out_index] * expected[index], rtol=1e-12)
    # prod is multilinear: central differences are exact even at the zeros
    check_against_fd(lambda v: np.prod(v, axis=axis, keepdims=True), x)


@pytest.mark.parametrize("x", [
    np.array([2.0, 0.0, 3.0, 0.0, 5.0]),
    np.array([0.0, 0.0, 1.5]),
    np.array([1.5, -2.0, 0.0]),
    np.array([1.5, -2.0, 0.5]),
])
def test_cumprod_with_zeros_matches_its_definition(x):
    w = np.random.default_rng(0).standard_normal(x.size)
    # d/dx_k sum_i w_i prod_{j<=i} x_j = sum_{i>=k} w_i prod_{j<=i, j!=k} x_j
    expected = np.array([sum(w[i] * np.prod(np.delete(x[:i + 1], k)) for i in range(k, x.size))
                         for k in range(x.size)])
    for mode in MODES:
        got = mixedad.gradient(lambda v: np.sum(np.cumprod(v) * w), x, mode=mode)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    two_d = np.stack([x, x[::-1], np.ones_like(x)], axis=1)
    check_against_fd(lambda v: np.cumprod(v, axis=0), two_d)
    check_against_fd(lambda v: np.cumprod(v), two_d)


def tie_split(x, axis, w, select):
    """Each slice's weight, divided evenly among the elements equal to select(slice)."""
    expected = np.zeros_like(x)
    for index, out_index in slices(x.shape, axis):
        block = x[index]
        chosen = block == select(block)
        expected[index] = w[out_index] * chosen / np.count_nonzero(chosen)
    return expected


@pytest.mark.parametrize("reduce, select", [
    (np.max, np.max), (np.amax, np.max), (np.min, np.min), (np.amin, np.min),
    (np.nanmax, np.nanmax), (np.nanmin, np.nanmin),
])
@given(case=reduction_cases())
def test_max_min_ties_split_the_cotangent_evenly(reduce, select, case):
    shape, axis, keepdims, seed = case
    x = np.random.default_rng(seed).integers(0, 3, shape).astype(np.float64)  # many ties
    w = reduced_weights(shape, axis, seed + 1)
    expected = tie_split(x, axis, w, select)
    for mode in MODES:
        got = mixedad.gradient(lambda v: np.sum(reduce(v, axis=axis) * w), x, mode=mode)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    got = mixedad.gradient(lambda v: np.sum(reduce(v, axis=axis, keepdims=True)), x)
    np.testing.assert_allclose(got, tie_split(x, axis, np.ones_like(w), select), rtol=1e-12)


def median_split(x, axis, w):
    """The middle element gets the weight; with an even count the two middle values get half
    each; elements tied with a middle value share its part evenly."""
    expected = np.zeros_like(x)
    for index, out_index in slices(x.shape, axis):
        block = x[index]
        ordered = np.sort(block.reshape(-1))
        n = ordered.size
        for middle in {(n - 1) // 2: None, n // 2: None}:
            chosen = block == ordered[middle]
            part = 1.0 if n % 2 else 0.5
            expected[index] += w[out_index] * part * chosen / np.count_nonzero(chosen)
    return expected


@given(case=reduction_cases())
def test_median_gradient_goes_to_the_middle_elements(case):
    shape, axis, keepdims, seed = case
    x = np.random.default_rng(seed).integers(0, 4, shape).astype(np.float64)
    w = reduced_weights(shape, axis, seed + 1)
    expected = median_split(x, axis, w)
    for mode in MODES:
        got = mixedad.gradient(lambda v: np.sum(np.median(v, axis=axis) * w), x, mode=mode)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


def test_std_at_zero_variance_is_zero_not_nan():
    constant = np.full((3, 4), 1.5)
    mixed = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]])
    for mode in MODES:
        assert np.array_equal(mixedad.gradient(np.std, constant, mode=mode), np.zeros((3, 4)))
        # the zero-variance slice must not poison what else depends on the input
        got = mixedad.gradient(lambda v: np.sum(np.std(v, axis=1)) + np.sum(v), mixed, mode=mode)
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got[0], np.ones(3))
        row = mixed[1]
        np.testing.assert_allclose(got[1], 1 + (row - row.mean()) / (row.size * row.std()))
        got = mixedad.gradient(lambda v: np.sum(np.nanstd(v, axis=1, ddof=1)), mixed, mode=mode)
        np.testing.assert_array_equal(got[0], np.zeros(3))


def test_all_nan_slices_get_zero_gradient():
    x = np.array([[np.nan, np.nan], [1.0, 3.0]])
    for fn in (np.nanmax, np.nanmin, np.nanmean, np.nanvar, np.nanstd, np.nansum):
        for mode in MODES:
            got = mixedad.gradient(lambda v: np.nansum(fn(v, axis=1)), x, mode=mode)
            assert np.array_equal(got[0], np.zeros(2)), fn
            assert np.all(np.isfinite(got[1]))


# ------------------------------------------------------------------------------------------
# average with weights, traced or not
@pytest.mark.parametrize("shape, axis, weights_shape", [
    ((4,), None, (4,)),
    ((3, 4), 1, (4,)),
    ((3, 4), -2, (3,)),
    ((3, 4), None, (3, 4)),
    ((2, 3, 4), (2, 0), (4, 2)),  # weights follow the order of the axes given
    ((2, 3, 4), (0, -1), (2, 3, 4)),
])
@pytest.mark.parametrize("keepdims", [False, True])
def test_average_with_traced_weights(shape, axis, weights_shape, keepdims):
    rng = np.random.default_rng(3)
    a = rng.standard_normal(shape)
    weights = rng.uniform(0.5, 2.0, weights_shape)

    def f(a, weights):
        return np.average(a, axis=axis, weights=weights, keepdims=keepdims)
    loss = random_projection_loss(f, np.shape(f(a, weights)))
    expected_a = numerical_gradient(lambda v: loss(v, weights), a)
    expected_w = numerical_gradient(lambda v: loss(a, v), weights)
    for mode in MODES:
        got_a, got_w = mixedad.gradient(loss, a, weights, argnums=(0, 1), mode=mode)
        np.testing.assert_allclose(got_a, expected_a, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(got_w, expected_w, rtol=1e-6, atol=1e-8)
        got_w_only = mixedad.gradient(loss, a, weights, argnums=1, mode=mode)
        np.testing.assert_allclose(got_w_only, expected_w, rtol=1e-6, atol=1e-8)


def test_average_returned_sum_of_weights():
    rng = np.random.default_rng(4)
    a, weights = rng.standard_normal((3, 4)), rng.uniform(0.5, 2.0, 4)

    def f(a, weights):
        average, total = np.average(a, axis=1, weights=weights, returned=True)
        assert total.shape == (3,)
        return np.sum(average * total ** 2)
    expected = numerical_gradients(f, (a, weights), (0, 1))
    for mode in MODES:
        got = mixedad.gradient(f, a, weights, argnums=(0, 1), mode=mode)
        for got_arg, expected_arg in zip(got, expected):
            np.testing.assert_allclose(got_arg, expected_arg, rtol=1e-6)

    def unweighted(v):
        average, count = np.average(v, axis=0, returned=True)
        np.testing.assert_array_equal(count, np.full(4, 3.0))
        return np.sum(average * count ** 2)
    for mode in MODES:
        np.testing.assert_allclose(mixedad.gradient(unweighted, a, mode=mode), np.full(a.shape, 3.0))


# ------------------------------------------------------------------------------------------
# the fused path: sum/mean of an elementwise chain
@pytest.mark.parametrize("reduce", [np.sum, np.mean])
@given(case=reduction_cases())
def test_reduction_of_elementwise_chain(reduce, case):
    shape, axis, keepdims, seed = case
    x = values("normal", shape, seed)
    check_against_fd(lambda v: reduce(np.sin(v) * np.exp(0.5 * v) + v * v, axis=axis, keepdims=keepdims), x)


def test_reduction_of_elementwise_chain_takes_the_fused_path(monkeypatch):
    calls = []
    original = primitive_module.reduce_region

    def counting(*args, **kwargs):
        calls.append(args[1].name)
        return original(*args, **kwargs)
    monkeypatch.setattr(primitive_module, "reduce_region", counting)
    x = values("normal", (3, 4), 5)
    w = np.random.default_rng(6).standard_normal((3, 1))
    f = lambda v: np.sum(np.sum(np.tanh(v) * v, axis=-1, keepdims=True) * w)  # noqa: E731
    expected = numerical_gradient(f, x)
    for mode in MODES:
        calls.clear()
        np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), expected, rtol=1e-6)
        assert (calls == ["sum", "sum"]) if mode != "reverse" else not calls, (mode, calls)


# ------------------------------------------------------------------------------------------
# methods, ufunc.reduce / accumulate, float32, errors
METHOD_FORMS = {
    "x.sum()": lambda x: x.sum(),
    "x.mean(axis=0)": lambda x: x.mean(axis=0),
    "x.max(axis=1, keepdims=True)": lambda x: x.max(axis=1, keepdims=True),
    "x.min(0)": lambda x: x.min(0),
    "x.prod(axis=-1)": lambda x: x.prod(axis=-1),
    "x.var(ddof=1)": lambda x: x.var(ddof=1),
    "x.std(axis=0)": lambda x: x.std(axis=0),
    "x.cumsum(0)": lambda x: x.cumsum(0),
    "x.cumprod()": lambda x: x.cumprod(),
    "np.add.reduce(x, axis=0)": lambda x: np.add.reduce(x, axis=0),
    "np.add.reduce(x, axis=None)": lambda x: np.add.reduce(x, axis=None),
    "np.maximum.reduce(x)": lambda x: np.maximum.reduce(x),
    "np.minimum.reduce(x, axis=(0, 1), keepdims=True)": lambda x: np.minimum.reduce(x, axis=(0, 1), keepdims=True),
    "np.multiply.reduce(x, axis=-1)": lambda x: np.multiply.reduce(x, axis=-1),
    "np.add.accumulate(x, axis=1)": lambda x: np.add.accumulate(x, axis=1),
    "np.multiply.accumulate(x)": lambda x: np.multiply.accumulate(x),
    "np.sum(x, axis=np.int64(1))": lambda x: np.sum(x, axis=np.int64(1)),
    "np.var(x, axis=0, correction=1)": lambda x: np.var(x, axis=0, correction=1),
}


@pytest.mark.parametrize("form", sorted(METHOD_FORMS))
def test_methods_and_ufunc_reductions(form):
    x = values("distinct", (3, 4), 7) / 4
    check_against_fd(METHOD_FORMS[form], x)


if hasattr(np, "cumulative_sum"):
    @pytest.mark.parametrize("function", [np.cumulative_sum, np.cumulative_prod])
    @pytest.mark.parametrize("axis", [0, -1])
    @pytest.mark.parametrize("include_initial", [False, True])
    def test_cumulative_array_api_functions(function, axis, include_initial):
        x = values("nonzero", (3, 4), 8)
        x[1, 2] = 0.0
        check_against_fd(lambda v: function(v, axis=axis, include_initial=include_initial), x)


FLOAT32_CASES = [lambda x, f=f: f(x, 1, False) for f, _ in REDUCTIONS.values()] + \
    [lambda x, f=f: f(x, 0) for f, _ in CUMULATIVE.values()] + \
    [lambda x, f=f: f(x, None) for f, _ in CUMULATIVE.values()]


@pytest.mark.parametrize("index", range(len(FLOAT32_CASES)))
def test_float32_stays_float32(index):
    fn = FLOAT32_CASES[index]
    x64 = values("distinct", (3, 4), 9) / 6
    x32 = x64.astype(np.float32)
    loss = random_projection_loss(fn, np.shape(fn(x64)))
    expected = mixedad.gradient(loss, x64)
    for mode in MODES:
        got = mixedad.gradient(loss, x32, mode=mode)
        assert got.dtype == np.float32, mode
        np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-4)


RULES_IN_FLOAT32 = [
    ("prod_", {"axis": 1}), ("max_", {"axis": (0, 1)}), ("min_", {}), ("nanmax_", {"axis": 0}),
    ("nanmin_", {"axis": -1, "keepdims": True}), ("median_", {"axis": 1}), ("var_", {"ddof": 1}),
    ("std_", {"axis": 0}), ("nanmean_", {"axis": 1}), ("nanvar_", {}), ("nanstd_", {"axis": 0}),
    ("cumsum_", {"axis": 1}), ("cumsum_", {}), ("cumprod_", {"axis": 0}), ("cumprod_", {}),
]


@pytest.mark.parametrize("name, kwargs", RULES_IN_FLOAT32)
def test_reverse_rules_compute_in_float32(name, kwargs):
    # the engine casts cotangents at the end; this checks the rules never widened on the way
    prim = getattr(reductions, name)
    x = values("distinct", (3, 4), 10).astype(np.float32)
    x[0, 1] = 0.0
    x[2, 2] = np.nan if name.startswith("nan") else x[2, 2]
    out = prim.fn(x, **kwargs)
    g = np.ones(np.shape(out), np.float32)
    assert prim.vjp_rules[0](g, out, x, **kwargs).dtype == np.float32


def test_nondifferentiable_reductions_give_plain_results():
    x = np.array([[0.5, 2.0, -1.0], [3.0, 0.0, 1.0]])

    def f(v):
        index = np.argmax(v) + np.argmin(v, axis=1)[0] + np.count_nonzero(v) + np.any(v > 2) + np.all(v > -2)
        assert isinstance(index, (np.ndarray, np.generic))
        return np.sum(v) * index
    scale = 3 + 2 + 5 + 1 + 1
    for mode in MODES:
        np.testing.assert_array_equal(mixedad.gradient(f, x, mode=mode), np.full(x.shape, float(scale)))


@pytest.mark.parametrize("reduce", [
    lambda x: np.sum(np.sin(x), axis=0, dtype=np.float64), lambda x: np.prod(x, axis=1, dtype=np.float64),
    lambda x: np.var(x, dtype=np.float64), lambda x: np.std(x, axis=0, ddof=1, dtype=np.float64),
    lambda x: np.cumsum(x, dtype=np.float64), lambda x: np.cumprod(x, axis=0, dtype=np.float64),
    lambda x: np.nanmean(x, axis=-1, dtype=np.float64), lambda x: np.nansum(x, axis=1, dtype=np.float64),
])
def test_dtype_argument_widens_the_value_not_the_gradient(reduce):
    x64 = values("distinct", (3, 4), 12) / 6
    x32 = x64.astype(np.float32)
    loss = random_projection_loss(reduce, np.shape(reduce(x64)))
    expected = numerical_gradient(loss, x64)
    for mode in MODES:
        value, got = mixedad.value_and_gradient(loss, x32, mode=mode)
        assert np.asarray(value).dtype == np.float64 and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


REJECTED = [
    (lambda x: np.sum(x, out=np.empty(())), "sum"),
    (lambda x: np.mean(x, out=np.empty(())), "mean"),  # where=/initial=: test_rules_masked_reductions
    (lambda x: np.prod(x, out=np.empty(())), "prod"),
    (lambda x: np.std(x, out=np.empty(())), "std"),
    (lambda x: np.nanvar(x, mean=np.mean(np.ones(3))), "nanvar"),
    (lambda x: np.cumsum(x, out=np.empty(x.shape)), "cumsum"),
    (lambda x: np.cumprod(x, out=np.empty(x.shape)), "cumprod"),
    (lambda x: np.median(x, out=np.empty(())), "median"),
    (lambda x: np.ptp(x, out=np.empty(())), "ptp"),
    (lambda x: np.nanmax(x, out=np.empty(())), "nanmax"),
]


@pytest.mark.parametrize("index", range(len(REJECTED)))
def test_out_and_unsupported_options_are_rejected_by_name(index):
    fn, name = REJECTED[index]
    with pytest.raises(mixedad.MixedadError, match=rf"\b{name} with (out=|.*not supported on traced values)"):
        mixedad.gradient(fn, np.ones(3))


@pytest.mark.parametrize("method", ["sum", "prod", "mean", "max", "cumsum"])
def test_out_in_a_method_call_is_rejected_with_the_source_line(method):
    with pytest.raises(mixedad.MixedadError, match=rf"{method} with out=.*test_rules_reductions.py"):
        mixedad.gradient(lambda x: np.sum(getattr(x, method)(out=np.empty(3 if method == "cumsum" else ()))),
                         np.ones(3))


def test_method_out_is_rejected():
    with pytest.raises(mixedad.InPlaceMutationError, match="out="):
        mixedad.gradient(lambda x: x.max(out=np.empty(())), np.ones(3))


@pytest.mark.parametrize("reduce", [np.sum, np.mean], ids=["sum", "mean"])
def test_a_reduction_with_a_wider_dtype_adds_up_in_that_dtype(reduce):
    # float32 data summed in float32 and cast afterwards loses ~1e-3 over a million elements
    x = np.random.default_rng(1).random(10 ** 6).astype(np.float32)
    value, grad = mixedad.value_and_gradient(lambda x: reduce(x, dtype=np.float64), x)
    want = reduce(x, dtype=np.float64)
    assert value.dtype == np.float64 and grad.dtype == np.float32
    assert abs(value - want) <= 1e-12 * abs(want)
    assert abs(value - reduce(x).astype(np.float64)) > 1e-9 * abs(want)  # the float32 sum differs: the check can fail


def test_sum_with_an_integer_dtype_truncates_each_element_as_numpy_does():
    x = np.array([1.0, 2.0, 3.0])
    value, _ = mixedad.vjp(lambda x: np.sum(x * 0.6, dtype=int), x)
    assert value == np.sum(x * 0.6, dtype=int) == 2
