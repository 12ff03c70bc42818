"""0-d inputs with an explicit axis (and np.pad of a 0-d array): NumPy computes these, so mixedad must too.

NumPy's ufunc reductions (prod, max, min, ptp, the NaN-aware forms) take ``axis=0`` or ``axis=-1``
on a 0-d array and reduce nothing; ``np.repeat`` with an axis repeats a 0-d array as a 1-d one;
``np.pad`` of a 0-d array is a copy; ``np.cumulative_sum`` takes ``axis=(0,)``. Each case is
checked in every mode, prepared, against a float64 central difference, and its value, shape and
dtype against NumPy's; the same functions on 1-d inputs guard against regressions.
"""
import numpy as np
import pytest

import mixedad
from numpy_versions import NUMPY_VERSION

CASES = {
    "prod_axis0": lambda a: np.prod(a, axis=0),
    "prod_axis-1": lambda a: np.prod(a, axis=-1),
    "prod_axis0_keepdims": lambda a: np.prod(a, axis=0, keepdims=True),
    "nanprod_axis0": lambda a: np.nanprod(a, axis=0),
    "max_axis0": lambda a: np.max(a, axis=0),
    "min_axis-1": lambda a: np.min(a, axis=-1),
    "amax_axis0": lambda a: np.amax(a, axis=0),
    "amin_axis0": lambda a: np.amin(a, axis=0),
    "max_axis0_keepdims": lambda a: np.max(a, axis=0, keepdims=True),
    "max_axis0_initial": lambda a: np.max(a, axis=0, initial=-5.0),
    "ptp_axis0": lambda a: np.ptp(a, axis=0),
    "ptp_plus_max": lambda a: np.ptp(a, axis=-1) + np.max(a, axis=-1),
    "nanmean_axis0": lambda a: np.nanmean(a, axis=0),
    "nanmean_axis-1_keepdims": lambda a: np.nanmean(a, axis=-1, keepdims=True),
    "nanvar_axis0": lambda a: np.nanvar(a, axis=0),
    "nanstd_axis-1": lambda a: np.nanstd(a, axis=-1),
    "repeat_axis0": lambda a: np.repeat(a, 2, axis=0),
    "repeat_axis-1": lambda a: np.repeat(a, [3], axis=-1),
    "take_axis0": lambda a: np.take(a, [0, 0], axis=0),
    "take_scalar_index_axis-1": lambda a: np.take(a, 0, axis=-1),
    "pad_constant": lambda a: np.pad(a, 1),
    "pad_constant_values": lambda a: np.pad(a, ((1, 2),), constant_values=0.25),
    "pad_edge": lambda a: np.pad(a, 1, mode="edge"),
    "pad_reflect": lambda a: np.pad(a, 2, mode="reflect"),
    "pad_wrap": lambda a: np.pad(a, 2, mode="wrap"),
}
if NUMPY_VERSION >= (2, 1):  # np.cumulative_sum and np.cumulative_prod
    CASES.update({
        "cumulative_sum_axis_tuple": lambda a: np.cumulative_sum(a, axis=(0,)),
        "cumulative_sum_axis-1_tuple": lambda a: np.cumulative_sum(a, axis=(-1,)),
        "cumulative_prod_axis_tuple": lambda a: np.cumulative_prod(a, axis=(0,)),
    })
# These already worked on a 0-d input (np.pad pads them axis by axis, without np.pad): a regression guard.
WORKED = {
    "pad_symmetric_odd": lambda a: np.pad(a, 2, mode="symmetric", reflect_type="odd"),
    "pad_mean": lambda a: np.pad(a, 2, mode="mean"),
    "pad_linear_ramp": lambda a: np.pad(a, 2, mode="linear_ramp", end_values=0.5),
}
MODES = ("auto", "reverse", "forward")


def _loss(f, seen=None):
    def loss(a):
        y = f(a)
        if seen is not None:
            seen.append((tuple(y.shape), np.dtype(y.dtype)))
        return np.sum(np.sin(y) * (1.5 + y))
    return loss


def _finite_difference(loss, x):
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = 1e-6 * max(1.0, abs(x[index]))
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        grad[index] = (loss(up) - loss(down)) / (2 * step)
    return grad


def _input(shape, dtype):
    if shape == ():
        return np.asarray(0.7, dtype=dtype)
    return np.asarray([0.7, -0.3, 1.9, 0.4], dtype=dtype)[: shape[0]]


def _check(name, shape, dtype):
    f = CASES[name] if name in CASES else WORKED[name]
    x = _input(shape, dtype)
    expected_y = np.asarray(f(x))
    seen = []
    value, grad = mixedad.value_and_gradient(_loss(f, seen), x)
    assert seen and seen[0] == (expected_y.shape, expected_y.dtype), (seen, expected_y.shape, expected_y.dtype)
    reference = _finite_difference(_loss(f), x)
    tolerance = dict(rtol=1e-5, atol=1e-7) if dtype == np.float64 else dict(rtol=5e-3, atol=5e-4)
    np.testing.assert_allclose(value, _loss(f)(x), rtol=1e-6 if dtype == np.float64 else 1e-5)
    grads = [grad, mixedad.prepare(_loss(f), x).gradient(x)]
    grads += [mixedad.gradient(_loss(f), x, mode=mode) for mode in MODES]
    for g in grads:
        assert np.shape(g) == x.shape
        assert np.asarray(g).dtype == dtype
        np.testing.assert_allclose(np.asarray(g, dtype=np.float64), reference, **tolerance)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_zero_d_input_with_axis(name, dtype):
    _check(name, (), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CASES) + sorted(WORKED))
def test_one_d_input_unchanged(name, dtype):
    _check(name, (4,), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(WORKED))
def test_zero_d_pad_by_axis_modes_still_work(name, dtype):
    _check(name, (), dtype)


@pytest.mark.parametrize("mode", MODES)
def test_zero_d_input_python_scalar_and_numpy_scalar(mode):
    for x in (0.7, np.float64(0.7)):
        grad = mixedad.gradient(lambda a: np.prod(a, axis=0) * np.max(a, axis=-1), x, mode=mode)
        np.testing.assert_allclose(grad, 2 * 0.7)


@pytest.mark.parametrize("mode", MODES)
def test_pad_without_widths_is_a_copy(mode):
    """Writing into a pad that added nothing leaves the input alone, as in NumPy."""
    def f(a):
        b = np.pad(a, 0 if np.ndim(a) else 1, mode="mean")
        b[...] = 5.0
        return np.sum(a * a) + np.sum(b)

    for x in (np.asarray(0.7), np.array([0.7, -0.3, 1.9])):
        value, grad = mixedad.value_and_gradient(f, x, mode=mode)
        np.testing.assert_allclose(value, f(x.copy()))
        np.testing.assert_allclose(grad, 2 * x)


RAISES = [  # NumPy raises for these on a 0-d array; mixedad raised something else (or nothing) before
    (lambda a: np.max(a, axis=(0,)), np.exceptions.AxisError),
    (lambda a: np.min(a, axis=1), np.exceptions.AxisError),
    (lambda a: np.pad(a, -1), ValueError),
]
STILL_RAISES = [  # NumPy's own error from the primal, before and after the fix: a guard that 0-d stays strict
    (lambda a: np.prod(a, axis=(0,)), np.exceptions.AxisError),
    (lambda a: np.prod(a, axis=-2), np.exceptions.AxisError),
    (lambda a: np.nanmean(a, axis=(0,)), np.exceptions.AxisError),
    (lambda a: np.repeat(a, 2, axis=1), np.exceptions.AxisError),
    (lambda a: np.take(a, [0], axis=1), np.exceptions.AxisError),
    (lambda a: np.pad(a, 1.5), TypeError),
]
if NUMPY_VERSION >= (2, 1):
    STILL_RAISES.append((lambda a: np.cumulative_sum(a, axis=(0,), include_initial=True), TypeError))


def _raises_like_numpy(f, error):
    z = np.asarray(0.7)
    with pytest.raises(error):
        f(z)
    with pytest.raises(error):
        mixedad.gradient(lambda a: np.sum(f(a)), z)


@pytest.mark.parametrize("index", range(len(RAISES)))
def test_zero_d_input_errors_match_numpy(index):
    _raises_like_numpy(*RAISES[index])


@pytest.mark.parametrize("index", range(len(STILL_RAISES)))
def test_zero_d_input_numpy_errors_kept(index):
    _raises_like_numpy(*STILL_RAISES[index])


def test_empty_extreme_with_invalid_axis_raises():
    x = np.ones((2, 0))
    with pytest.raises(np.exceptions.AxisError):
        np.max(x, axis=5, initial=0.0)
    with pytest.raises(np.exceptions.AxisError):
        mixedad.gradient(lambda a: np.sum(np.max(a, axis=5, initial=0.0)), x)
