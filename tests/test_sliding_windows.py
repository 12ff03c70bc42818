"""``np.lib.stride_tricks.sliding_window_view``, with which NumPy users write their own
convolutions: values as NumPy's, gradients against central finite differences in float64,
on hypothesis-generated shapes, windows and axes (repeated axes included)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import mixedad
from numerical import numerical_gradient


@st.composite
def windowed(draw):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    n_windows = draw(st.integers(1, 2))
    axes = [draw(st.integers(-len(shape), len(shape) - 1)) for _ in range(n_windows)]
    room = list(shape)
    windows = []
    for ax in axes:
        w = draw(st.integers(1, room[ax]))
        room[ax] -= w - 1
        windows.append(w)
    seed = draw(st.integers(0, 2**16))
    return shape, tuple(windows), tuple(axes), seed


@settings(max_examples=40, deadline=None)
@given(windowed(), st.sampled_from(["auto", "reverse", "forward"]))
def test_sliding_windows_match_numpy_and_finite_differences(case, mode):
    shape, windows, axes, seed = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    weights = rng.normal(size=sliding_window_view(x, windows, axis=axes).shape)

    def f(x):
        return np.sum(np.sin(sliding_window_view(x, windows, axis=axes)) * weights)

    value, grad = mixedad.value_and_gradient(f, x, mode=mode)
    assert np.isclose(value, f(x))
    np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=1e-6, atol=1e-8)


def test_a_convolution_written_with_windows_and_einsum():
    rng = np.random.default_rng(1)
    images, kernel = rng.normal(size=(2, 7, 6)), rng.normal(size=(3, 2))

    def loss(images, kernel):
        windows = sliding_window_view(images, kernel.shape, axis=(1, 2))
        return np.sum(np.tanh(np.einsum("bijkl,kl->bij", windows, kernel)) ** 2)

    for number, x in enumerate((images, kernel)):
        grads = mixedad.gradient(loss, images, kernel, argnums=(0, 1))
        expected = numerical_gradient(lambda v: loss(*(v if k == number else a for k, a in enumerate((images, kernel)))), x)
        np.testing.assert_allclose(grads[number], expected, rtol=1e-6, atol=1e-9)
    prepared = mixedad.prepare(loss, images, kernel)
    np.testing.assert_allclose(prepared.gradient(images * 2, kernel), mixedad.gradient(loss, images * 2, kernel))
    assert mixedad.gradient(loss, images.astype(np.float32), kernel.astype(np.float32)).dtype == np.float32
    hessian = mixedad.hessian(lambda k: loss(images, k), kernel).reshape(6, 6)
    by_differences = np.array([numerical_gradient(lambda k: mixedad.gradient(loss, images, k, argnums=1).ravel()[i],
                                                  kernel).ravel() for i in range(6)])
    np.testing.assert_allclose(hessian, by_differences, rtol=1e-5, atol=1e-7)


def test_writing_into_the_windows_is_refused_as_numpy_refuses_it():
    with pytest.raises(ValueError, match="read-only"):
        sliding_window_view(np.ones(4), 2)[0, 0] = 1.0
    with pytest.raises(mixedad.InPlaceMutationError, match="test_sliding_windows.py"):
        mixedad.gradient(lambda x: np.sum(_write_into_windows(x)), np.ones(4))


def _write_into_windows(x):
    windows = sliding_window_view(x, 2)
    windows[0, 0] = 1.0
    return windows
