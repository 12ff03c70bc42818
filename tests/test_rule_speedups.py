"""The fast reverse rules of sort, max/min (and the NaN-aware forms), std and var.

Gradients against central finite differences in float64 on random inputs (shapes and axes
drawn by hypothesis); the conventions where the derivative is not unique (ties, NaN entries,
zero spread) built from their definitions with plain NumPy loops; float32 kept; and the fast
path taken exactly where it gives the same result.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mixedad
from mixedad.rules import extremes, reductions, shape
from numerical import numerical_gradient
from test_rules_reductions import draw_axis

MODES = ("auto", "reverse", "forward")


@st.composite
def shapes_and_axes(draw, min_dim=1, allow_none=True, allow_tuple=False):
    """(shape, axis, seed): axis None, an int (maybe negative) or, if allowed, a tuple."""
    ndim = draw(st.integers(min_dim, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    kinds = ["int"] + (["none"] if allow_none else []) + (["tuple"] if allow_tuple else [])
    return shape, draw_axis(draw, ndim, kinds), draw(st.integers(0, 2 ** 16))


def distinct(shape, seed, dtype=np.float64):
    """Values at least 0.3 apart: finite differences never swap two of them."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return ((rng.permutation(size) * 0.5 + rng.uniform(-0.1, 0.1, size)).reshape(shape) - size / 4).astype(dtype)


def slices(a, axis):
    """(index, 1-D slice) pairs of ``a`` along ``axis`` (None: the flattened array)."""
    if axis is None:
        yield (), np.ravel(a)
        return
    moved = np.moveaxis(a, axis, -1)
    for index in np.ndindex(moved.shape[:-1]):
        yield index, moved[index]


@contextlib.contextmanager
def unstable_sort_from(size):
    saved, shape.UNSTABLE_SORT_FROM = shape.UNSTABLE_SORT_FROM, size
    try:
        yield
    finally:
        shape.UNSTABLE_SORT_FROM = saved


def sort_loss(axis, weights, **options):
    return lambda x: np.sum(np.sort(x * x * np.sign(x), axis=axis, **options) * weights)


# ------------------------------------------------------------------------------------------
# sort
@pytest.mark.parametrize("threshold", [0, shape.UNSTABLE_SORT_FROM])
@given(shapes_and_axes())
def test_sort_gradient_matches_finite_differences(threshold, case):
    shape_, axis, seed = case
    x = distinct(shape_, seed)
    weights = np.random.default_rng(seed + 1).standard_normal(np.sort(x, axis=axis).shape)
    loss = sort_loss(axis, weights)
    expected = numerical_gradient(loss, x)
    with unstable_sort_from(threshold):
        for mode in MODES:
            np.testing.assert_allclose(mixedad.gradient(loss, x, mode=mode), expected, rtol=1e-6, atol=1e-8,
                                       err_msg=mode)


def stable_sort_cotangent(x, axis, g):
    """The cotangent of the k-th sorted element goes to the element a stable sort puts k-th:
    equal elements (and NaNs, which sort last) keep their order of index."""
    grad = np.zeros(np.shape(x))
    grad_slices = dict(slices(grad, axis))
    g_slices = dict(slices(g, -1 if axis is None else axis))
    for index, values in slices(x, axis):
        order = sorted(range(values.size), key=lambda i: (np.isnan(values[i]), np.nan_to_num(values[i]), i))
        for k, i in enumerate(order):
            grad_slices[index][i] = g_slices[index][k]
    return grad


TIED = np.array([[2.0, -1.0, 2.0, 0.0, -1.0, 2.0, -0.0],
                 [np.nan, 1.0, np.nan, 3.0, 1.0, np.nan, -5.0],
                 [4.0, 3.0, 2.0, 1.0, 0.5, 0.25, 0.125]])


@pytest.mark.parametrize("threshold", [0, shape.UNSTABLE_SORT_FROM])
@pytest.mark.parametrize("axis", [None, -1, 0, 1])
@pytest.mark.parametrize("kind", [None, "quicksort", "mergesort", "heapsort", "stable"])
def test_sort_ties_and_nans_follow_the_stable_order(threshold, axis, kind):
    # every kind gives the same values; the cotangent follows the stable order, whatever the kind
    g = np.random.default_rng(3).standard_normal(np.sort(TIED, axis=axis).shape)
    expected = stable_sort_cotangent(TIED, axis, g)
    with unstable_sort_from(threshold):
        for mode in MODES:
            got = mixedad.gradient(lambda x: np.sum(np.sort(x, axis=axis, kind=kind) * g), TIED, mode=mode)
            np.testing.assert_array_equal(got, expected, err_msg=mode)


@pytest.mark.parametrize("axis", [None, -1, 0])
def test_sort_options_and_methods(axis):
    x = distinct((5, 6), 7)
    g = np.random.default_rng(1).standard_normal(np.sort(x, axis=axis).shape)
    expected = stable_sort_cotangent(x, axis, g)
    with unstable_sort_from(0):
        for mode in MODES:
            for f in (lambda x: np.sort(x, axis, "stable", None), lambda x: np.sort(x, axis=axis, order=None),
                      lambda x: np.sort(a=x, axis=axis)):
                np.testing.assert_array_equal(mixedad.gradient(lambda x: np.sum(f(x) * g), x, mode=mode), expected)


@pytest.mark.parametrize("axis", [None, -1, 0])
def test_sort_keeps_float32(axis):
    x = distinct((40, 60), 2, np.float32)  # 2400 elements: past the threshold
    g = np.random.default_rng(0).standard_normal(np.sort(x, axis=axis).shape).astype(np.float32)
    expected = stable_sort_cotangent(x, axis, g)
    for mode in MODES:
        got = mixedad.gradient(lambda x: np.sum(np.sort(x, axis=axis) * g), x, mode=mode)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected.astype(np.float32), err_msg=mode)


def test_sort_hessian_through_the_permutation():
    # forward over reverse: the reverse rule then runs on dual values (the gather path)
    x, w = distinct((3, 5), 4), np.random.default_rng(5).standard_normal((3, 5))
    loss = lambda x: np.sum(np.sort(x, axis=0) ** 3 * w)  # noqa: E731
    ranks = np.argsort(np.argsort(x, axis=0), axis=0)
    expected = np.diag(np.ravel(6 * x * np.take_along_axis(w, ranks, 0))).reshape(3, 5, 3, 5)
    for threshold in (0, shape.UNSTABLE_SORT_FROM):
        with unstable_sort_from(threshold):
            np.testing.assert_allclose(mixedad.hessian(loss, x), expected, rtol=1e-12, atol=1e-12)


def test_sorted_distinct_tells_ties_and_nans():
    assert shape.sorted_distinct(np.array([1.0, 2.0, 3.0]), -1)
    assert shape.sorted_distinct(np.array([1.0, 2.0, 3.0]), None)
    assert not shape.sorted_distinct(np.array([1.0, 2.0, 2.0]), -1)
    assert not shape.sorted_distinct(np.array([-0.0, 0.0]), -1)  # equal values: a tie
    assert not shape.sorted_distinct(np.array([1.0, np.nan]), -1)
    assert shape.sorted_distinct(np.array([[1.0, 1.0], [2.0, 3.0]]), 0)  # ties across slices are no ties
    assert not shape.sorted_distinct(np.array([[1.0, 2.0], [3.0, 3.0]]), 1)
    assert not shape.sorted_distinct(np.array([[1.0, 2.0], [np.nan, 3.0]]), 0)
    assert not shape.sorted_distinct(np.zeros((0, 3)), -1)


@pytest.fixture
def sort_path(monkeypatch):
    """The answers of ``sorted_distinct`` during the test (True: the default-kind argsort)."""
    answers = []

    def spy(out, axis):
        answers.append(shape.sorted_distinct.__wrapped__(out, axis))
        return answers[-1]
    spy.__wrapped__ = shape.sorted_distinct
    monkeypatch.setattr(shape, "sorted_distinct", spy)
    return answers


@pytest.mark.parametrize("mode", MODES)
def test_sort_takes_the_fast_path_only_without_ties(sort_path, mode):
    big = np.random.default_rng(0).permutation(3000) * 1.0
    tied = np.round(big / 2)
    for x, fast in ((big, True), (tied, False), (big.reshape(60, 50), True), (np.where(big > 10, big, np.nan), False)):
        sort_path.clear()
        weights = np.arange(x.shape[0]).reshape((-1,) + (1,) * (x.ndim - 1))
        g = mixedad.gradient(lambda x: np.sum(np.sort(x, axis=0) * weights), x, mode=mode)
        assert sort_path and all(answer is fast for answer in sort_path)
        assert g.shape == x.shape
    sort_path.clear()
    mixedad.gradient(lambda x: np.sum(np.sort(x) ** 2), big[:100], mode=mode)
    assert not sort_path  # small: the stable argsort, no check


# ------------------------------------------------------------------------------------------
# max, min, nanmax, nanmin
EXTREMES = {"max": np.max, "min": np.min, "amax": np.amax, "amin": np.amin, "nanmax": np.nanmax, "nanmin": np.nanmin,
            "method_max": lambda x, **k: x.max(**k)}


@pytest.mark.parametrize("name", sorted(EXTREMES))
@given(shapes_and_axes(min_dim=0, allow_tuple=True), st.booleans())
def test_extreme_gradient_matches_finite_differences(name, case, keepdims):
    shape_, axis, seed = case
    x = distinct(shape_, seed)
    f = EXTREMES[name]
    weights = np.random.default_rng(seed + 1).standard_normal(np.shape(f(x, axis=axis, keepdims=keepdims)))
    loss = lambda x: np.sum(f(x * x * np.sign(x), axis=axis, keepdims=keepdims) * weights)  # noqa: E731
    expected = numerical_gradient(loss, x)
    for mode in MODES:
        np.testing.assert_allclose(mixedad.gradient(loss, x, mode=mode), expected, rtol=1e-6, atol=1e-8,
                                   err_msg=mode)


def even_share_among_extremes(x, axis, g, pick, skip_nan):
    """g of a slice split evenly among its extreme elements: the NaNs when the slice holds one
    (they win np.max), else the maxima (pick=np.max) or minima; NaN-aware: NaNs get nothing."""
    grad = np.zeros(np.shape(x))
    moved_grad = np.moveaxis(grad, axis, -1)
    moved_g = np.moveaxis(np.broadcast_to(np.expand_dims(g, axis), np.shape(x)), axis, -1)
    for index, values in slices(x, axis):
        finite = values[~np.isnan(values)]
        if np.isnan(values).any() and not skip_nan:
            chosen = np.isnan(values)
        elif finite.size:
            chosen = values == pick(finite)
        else:  # an all-NaN slice for nanmax: nothing chosen
            continue
        moved_grad[index][chosen] = moved_g[index][0] / chosen.sum()
    return grad


EXTREME_TIES = np.array([[3.0, 1.0, 3.0, 3.0, -2.0],
                         [0.0, 5.0, -0.0, 1.0, -1.0],
                         [2.0, np.nan, 1.0, np.nan, 2.0],
                         [np.nan, np.nan, np.nan, np.nan, np.nan],
                         [4.0, 7.0, -1.0, -1.0, 0.5]])


@pytest.mark.parametrize("name,pick,skip_nan", [("max", np.max, False), ("min", np.min, False),
                                                ("nanmax", np.max, True), ("nanmin", np.min, True)])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.filterwarnings("ignore:All-NaN")
def test_extreme_ties_share_evenly_and_nans(name, pick, skip_nan, axis, keepdims, dtype):
    x = EXTREME_TIES.astype(dtype)
    g = np.random.default_rng(2).standard_normal(EXTREME_TIES.shape[1 - axis % 2]).astype(dtype)
    f = getattr(np, name)
    expected = even_share_among_extremes(x, axis, g, pick, skip_nan)
    for mode in MODES:
        got = mixedad.gradient(lambda x: np.sum(f(x, axis=axis, keepdims=keepdims).reshape(-1) * g), x, mode=mode)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == np.float32 else 1e-15, atol=0, err_msg=mode)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_of_everything_keeps_float32_and_splits_ties(dtype):
    x = np.array([[1.0, 5.0], [5.0, 5.0]], dtype)
    for mode in MODES:
        got = mixedad.gradient(lambda x: 3 * np.max(x), x, mode=mode)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, np.array([[0.0, 1.0], [1.0, 1.0]], dtype))
        got = mixedad.gradient(lambda x: 2 * np.min(x), x, mode=mode)
        np.testing.assert_array_equal(got, np.array([[2.0, 0.0], [0.0, 0.0]], dtype))


def test_one_chosen_per_slice():
    chosen = np.array([[True, False, False], [False, False, True]])
    assert extremes.one_chosen_per_slice(chosen, (1,))
    assert not extremes.one_chosen_per_slice(chosen, (0,))  # column 1 chose nothing, column 2 one
    assert not extremes.one_chosen_per_slice(chosen, (0, 1))
    assert not extremes.one_chosen_per_slice(chosen, (1,), every_slice_chose=False)
    # one in total per slice, but one slice chose two and the other none: only the even split tells
    assert not extremes.one_chosen_per_slice(np.array([[True, True], [False, False]]), (1,), every_slice_chose=False)
    assert extremes.one_chosen_per_slice(np.array(True), ())


def test_even_share_keeps_its_dtype():
    chosen = np.array([[True, True, False], [False, False, False]])
    share = extremes.even_share(chosen, (1,), np.float32)
    assert share.dtype == np.float32
    np.testing.assert_array_equal(share, [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])


@pytest.fixture
def shares(monkeypatch):
    """How many times the even split ran (the slow path)."""
    calls = []
    even_share = extremes.even_share

    def spy(*args):
        calls.append(args)
        return even_share(*args)
    monkeypatch.setattr(extremes, "even_share", spy)
    return calls


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.filterwarnings("ignore:All-NaN")
def test_extreme_takes_the_mask_path_with_one_extreme_per_slice(shares, mode):
    x = distinct((4, 5), 0)
    for f in (lambda x: np.max(x, axis=1), lambda x: np.min(x, axis=(0, 1)), np.nanmax,
              lambda x: np.max(np.where(np.arange(5) == 2, np.nan, x), axis=1)):  # one NaN per row wins
        mixedad.gradient(lambda x: np.sum(f(x)), x, mode=mode)
    assert not shares
    for x, f in ((EXTREME_TIES[:2], lambda x: np.max(x, axis=1)),  # a tie
                 (EXTREME_TIES[2:4], lambda x: np.max(x, axis=1)),  # two NaNs in a row
                 (EXTREME_TIES[2:4], lambda x: np.nanmax(x, axis=1)),  # an all-NaN row: the mask can't tell
                 (EXTREME_TIES[3:], lambda x: np.nanmin(x, axis=1))):
        shares.clear()
        mixedad.gradient(lambda x: np.sum(f(x)), x, mode=mode)
        assert shares


def test_extreme_mask_path_keeps_nan_cotangents():
    # a mask multiply is the even share's multiply by 1 and 0: an inf cotangent gives NaN off the maximum
    x = np.array([[1.0, 3.0, 2.0], [0.0, -1.0, 4.0]])
    out = np.max(x, axis=1)
    got = reductions._extreme_vjp(np.array([np.inf, 2.0]), out, x, axis=1)
    np.testing.assert_array_equal(got, [[np.nan, np.inf, np.nan], [0.0, 0.0, 2.0]])


# ------------------------------------------------------------------------------------------
# std and var
@pytest.mark.parametrize("name", ["std", "var"])
@pytest.mark.parametrize("ddof", [0, 1])
@given(shapes_and_axes(min_dim=0, allow_tuple=True), st.booleans())
def test_moment_gradient_matches_finite_differences(name, ddof, case, keepdims):
    shape_, axis, seed = case
    f = getattr(np, name)
    x = np.random.default_rng(seed).standard_normal(shape_)
    if reductions._count(x.shape, axis) <= ddof:
        return  # no degrees of freedom: NaN or inf, not a derivative
    weights = np.random.default_rng(seed + 1).standard_normal(np.shape(f(x, axis=axis, keepdims=keepdims)))
    loss = lambda x: np.sum(f(np.sin(x) + x, axis=axis, ddof=ddof, keepdims=keepdims) * weights)  # noqa: E731
    if name == "std" and np.min(np.std(np.sin(x) + x, axis=axis)) < 1e-3:
        return  # a slice without spread: the convention below
    expected = numerical_gradient(loss, x)
    for mode in MODES:
        np.testing.assert_allclose(mixedad.gradient(loss, x, mode=mode), expected, rtol=1e-6, atol=1e-8,
                                   err_msg=mode)


def std_gradient(x, axis, ddof, g):
    """g (x - mean) / (dof std) on each slice with spread; 0 on a constant slice (the minimal-norm
    subgradient) and on a slice holding a NaN (whose std is NaN)."""
    grad = np.zeros(np.shape(x))
    moved_grad = np.moveaxis(grad, axis, -1)
    moved_g = np.moveaxis(np.broadcast_to(np.expand_dims(g, axis), np.shape(x)), axis, -1)
    for index, values in slices(x, axis):
        spread = np.std(values, ddof=ddof)
        if spread > 0:
            moved_grad[index][:] = moved_g[index] * (values - values.mean()) / ((values.size - ddof) * spread)
    return grad


STD_CASES = np.array([[1.0, 2.0, 4.0, 8.0],
                      [3.0, 3.0, 3.0, 3.0],
                      [1.0, np.nan, 2.0, 0.0],
                      [-1.0, 0.5, 0.25, 2.0]])


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_std_is_zero_without_spread_and_at_nan(axis, keepdims, ddof, dtype):
    x = STD_CASES.astype(dtype)
    g = np.random.default_rng(4).standard_normal(4).astype(dtype)
    expected = std_gradient(x.astype(np.float64), axis, ddof, g.astype(np.float64))
    for mode in MODES:
        got = mixedad.gradient(lambda x: np.sum(np.std(x, axis=axis, ddof=ddof, keepdims=keepdims).reshape(-1) * g),
                               x, mode=mode)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=3e-6 if dtype == np.float32 else 1e-13, atol=1e-7,
                                   err_msg=mode)
        assert np.all(got[np.isnan(expected)] == 0) and np.all(got[expected == 0] == 0)


def test_std_of_a_constant_slice_times_a_nan_cotangent_is_nan():
    # 0 on the slice is 0 * g: a NaN (or inf) cotangent stays NaN, as any product with it
    x = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
    got = reductions._std_vjp(np.array([np.inf, np.nan]), np.std(x, axis=1), x, axis=1)
    assert np.isnan(got).all()
    got = reductions._std_vjp(np.array([np.inf, 1.0]), np.std(x, axis=1), x, axis=1)
    assert np.isnan(got[0]).all() and np.isfinite(got[1]).all()


@pytest.mark.parametrize("name", ["std", "var"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("axis", [None, 0, (0, 1)])
def test_moments_against_their_formula(name, dtype, axis):
    x = np.random.default_rng(6).standard_normal((3, 4, 2)).astype(dtype)
    g = np.random.default_rng(7).standard_normal(np.shape(np.var(x, axis=axis))).astype(dtype)
    axes = tuple(range(3)) if axis is None else (axis,) if isinstance(axis, int) else axis
    x64 = x.astype(np.float64)
    count = np.prod([x.shape[a] for a in axes])
    centered = x64 - x64.mean(axis=axes, keepdims=True)
    g_e = np.expand_dims(g.astype(np.float64), axes)
    if name == "var":
        expected = 2 * g_e * centered / count
    else:
        expected = g_e * centered / (count * x64.std(axis=axes, keepdims=True))
    f = getattr(np, name)
    for mode in MODES:
        got = mixedad.gradient(lambda x: np.sum(f(x, axis=axis) * g), x, mode=mode)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=2e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_moment_hessians_match_finite_differences_of_the_gradient():
    # forward over reverse: the reverse rules run on dual values
    x = np.random.default_rng(8).standard_normal((3, 4))
    v = np.random.default_rng(9).standard_normal((3, 4))
    for loss in (lambda x: np.sum(np.std(x, axis=1) ** 2) + np.sum(np.var(x ** 2, axis=0)),
                 lambda x: np.sum(np.max(x * x, axis=0) * np.arange(4.0))):
        grad = mixedad.grad(loss)
        step = 1e-6
        expected = (grad(x + step * v) - grad(x - step * v)) / (2 * step)
        np.testing.assert_allclose(mixedad.hvp(loss, x, v), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maximum_and_minimum_partials_choose_split_ties_and_keep_the_dtype(mode, dtype):
    # from the definition: 1 where the argument is chosen, 1/2 on a tie (and at NaN), 0 elsewhere
    x = np.array([0.0, 1.0, -1.0, np.nan, 0.5], dtype=dtype)
    bound = np.array([0.0, 0.0, 0.0, 0.0, 0.5], dtype=dtype)
    for function, chosen in ((np.maximum, x > bound), (np.minimum, x < bound)):
        grad = mixedad.gradient(lambda x: np.sum(function(x, bound) * 3.0), x, mode=mode)
        tie = (x == bound) | np.isnan(x)
        assert grad.dtype == dtype
        np.testing.assert_array_equal(grad, np.where(tie, 1.5, np.where(chosen, 3.0, 0.0)).astype(dtype))
