"""np.pad on traced values, every mode: values and dtypes against NumPy's own np.pad, gradients
against central finite differences (reverse, auto and forward mode, and prepared replay)."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixedad
from mixedad import UnsupportedOperationError
from numerical import numerical_gradient

MODES = ("auto", "reverse", "forward")
MODE_OPTIONS = [
    ("linear_ramp", {}), ("linear_ramp", {"end_values": (1.5, -2.0)}), ("maximum", {}),
    ("minimum", {"stat_length": 2}), ("mean", {}), ("mean", {"stat_length": 1}), ("median", {"stat_length": 3}),
    ("reflect", {"reflect_type": "odd"}), ("symmetric", {"reflect_type": "odd"}), ("edge", {}),
    ("reflect", {}), ("symmetric", {}), ("wrap", {}), ("constant", {"constant_values": 2.5}),
]
OPTION_IDS = [f"{mode}-{'-'.join(map(str, options.values())) or 'default'}" for mode, options in MODE_OPTIONS]


def grid_values(data, shape):
    """Distinct values on a 0.01 grid (no near-ties for maximum, minimum and median)."""
    n = int(np.prod(shape))
    draws = data.draw(st.lists(st.integers(-300, 300), min_size=n, max_size=n, unique=True))
    return np.array(draws, dtype=np.float64).reshape(shape) / 100


@settings(max_examples=15, deadline=None)
@pytest.mark.parametrize("mode, options", MODE_OPTIONS, ids=OPTION_IDS)
@given(data=st.data())
def test_values_and_gradients_match_numpy_and_finite_differences(mode, options, data):
    shape = data.draw(st.sampled_from([(4,), (1,), (2,), (3, 4), (2, 1, 3)]))
    widths = data.draw(st.sampled_from([1, 3, (2, 7), 9, ((0, 2),) + ((1, 0),) * (len(shape) - 1)]))
    x = grid_values(data, shape)
    expected = np.pad(x, widths, mode=mode, **options)
    weights = np.random.default_rng(0).standard_normal(expected.shape)

    def loss(v):
        return np.sum(np.pad(np.sin(v), widths, mode=mode, **options) * weights)

    reference = numerical_gradient(loss, x)
    for differentiation in MODES:
        value, got = mixedad.value_and_gradient(loss, x, mode=differentiation)
        np.testing.assert_allclose(value, loss(x), rtol=1e-12)
        np.testing.assert_allclose(got, reference, rtol=1e-6, atol=1e-8, err_msg=differentiation)
    padded = mixedad.gradient(lambda v: (np.sum(v), np.pad(v, widths, mode=mode, **options)), x, has_aux=True)[1]
    # a ramp's step may round differently from np.linspace's: a few ulps of the values it spans
    np.testing.assert_allclose(padded, expected, rtol=1e-14, atol=1e-14 * np.max(np.abs(expected), initial=1))
    x_new = x[::-1].copy()
    np.testing.assert_allclose(mixedad.prepare(loss, x).gradient(x_new), numerical_gradient(loss, x_new),
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode, options", MODE_OPTIONS, ids=OPTION_IDS)
def test_float32_stays_float32_and_matches_numpy(mode, options):
    x = (np.arange(12.0).reshape(3, 4) ** 1.5 / 7).astype(np.float32)
    expected = np.pad(x, ((2, 3), (4, 1)), mode=mode, **options)
    grad, padded = mixedad.gradient(lambda v: (np.sum(np.pad(v, ((2, 3), (4, 1)), mode=mode, **options) ** 2),
                                               np.pad(v, ((2, 3), (4, 1)), mode=mode, **options)), x, has_aux=True)
    assert padded.dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_allclose(padded, expected, rtol=1e-6)


def test_empty_mode_leaves_the_pad_without_derivative():
    x = np.array([1.0, 2.0, 3.0])
    grad = mixedad.gradient(lambda v: np.sum(np.pad(v, 2, mode="empty")[2:-2] ** 2), x)
    np.testing.assert_allclose(grad, 2 * x)


@pytest.mark.parametrize("call, error, match", [
    (lambda v: np.pad(v, 1, mode=lambda vector, width, axis, kwargs: None), UnsupportedOperationError,
     "callable mode"),
    (lambda v: np.pad(v, 1, mode="mean", end_values=3), ValueError, "unsupported keyword arguments for mode 'mean'"),
    (lambda v: np.pad(v, -1, mode="edge"), ValueError, "negative"),
    (lambda v: np.pad(v, 1, mode="maximum", stat_length=0), ValueError, "stat_length of 0"),
    (lambda v: np.pad(v[:0], 1, mode="linear_ramp"), ValueError, "can't extend empty axis"),
    (lambda v: np.pad(v, 1, mode="reflect", reflect_type="sideways"), ValueError, "reflect_type"),
], ids=["callable", "wrong keyword", "negative width", "empty statistic", "empty axis", "reflect_type"])
def test_bad_arguments_raise_like_numpy(call, error, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(error, match=match):
            mixedad.gradient(lambda v: np.sum(call(v)), np.array([1.0, 2.0, 3.0]))


PER_SIDE_VALUES = {
    "a pair": lambda a: (a[0, 0], a[1, 2]),
    "a pair per axis, with numbers": lambda a: ((a[0, 0], 2.0), (-1.0, a[1, 1] ** 2)),
    "one value in a tuple": lambda a: (a[1, 0],),
    "a traced pair": lambda a: a[0, :2],
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(PER_SIDE_VALUES))
def test_traced_constant_values_per_side(name, mode):
    """The padding values appear in the result: their derivative reaches them, and the corners
    take the later axis's value, as NumPy fills them."""
    a = np.arange(1.0, 7.0).reshape(2, 3)
    weights = np.cos(np.arange(30.0)).reshape(5, 6)

    def f(a):
        return np.sum(np.pad(a, ((1, 2), (2, 1)), constant_values=PER_SIDE_VALUES[name](a)) * weights)

    value, grad = mixedad.value_and_gradient(f, a, mode=mode)
    assert value == f(a)
    np.testing.assert_allclose(grad, numerical_gradient(f, a), rtol=1e-7, atol=1e-8)
    grad32 = mixedad.gradient(f, a.astype(np.float32), mode=mode)
    assert grad32.dtype == np.float32
