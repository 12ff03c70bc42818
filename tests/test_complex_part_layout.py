"""``z.real`` and ``z.imag`` of a complex value are laid out as NumPy lays them out (every other
number of an interleaved array), and are z's own: ``ravel`` copies them as NumPy's does, and a
write into them changes z and nothing else. Found by the session-44 fuzzer (p440750): a write
through ``z.real``'s ravel changed it (value 2.07 where NumPy gives 5.82), and a write into
``z.real`` changed ``z.conj()`` too, which shared the part."""
from __future__ import annotations

import numpy as np
import pytest

import mixedad
from mixedad import InPlaceMutationError
from mode_checks import assert_second_order_and_replays, assert_values_and_gradients_match
from numerical import numerical_gradient

X = np.array([1.0, 2.0, 0.5, -1.0, 0.3, 1.7])
MODES = ["auto", "reverse", "forward"]


def write_through_ravel(x):  # the fuzzer's program, reduced: NumPy's ravel of z.real is a copy
    real = np.fft.ifft(np.fft.fft(x) * np.arange(6)).real
    flat = real[..., None].ravel()
    flat *= 0.5
    return np.sum(np.sin(real @ real)) + np.mean(real ** 2)


def write_through_ravel_of_imag(x):
    imag = np.exp(1j * x).imag
    flat = imag.ravel()
    flat[0] = 7.0
    return np.sum(imag * x)


def write_into_the_part(x):  # z sees the write; z.conj(), a copy in NumPy, does not
    z = np.fft.fft(x)
    conjugate = z.conj()
    real = z.real
    real[1] = 5.0 * x[0]
    return np.sum(np.abs(z)) + 2 * np.sum(np.abs(conjugate))


def write_into_a_view_of_the_part(x):
    z = np.fft.fft(x)
    view = z.real.reshape(2, 3)
    view *= 2
    return np.sum(np.abs(z))


def write_into_a_missing_part(x):  # x * 1j has no real part: z.real is zeros that z then holds
    z = x * 1j
    real = z.real
    real[0] = 5.0 * x[1]
    return np.sum(np.abs(z)) + np.sum(np.abs(real.ravel()))


def write_into_a_complex_input(z):
    flat = z.real.ravel()
    flat *= 3.0
    real = z.real
    real[0] = 2.0
    return np.sum(np.abs(z) ** 2)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [write_through_ravel, write_through_ravel_of_imag, write_into_the_part,
                               write_into_a_view_of_the_part, write_into_a_missing_part])
def test_values_and_gradients_are_numpys(f, mode):
    value, grad = mixedad.value_and_gradient(f, X, mode=mode)
    assert value == pytest.approx(f(X.copy()), rel=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(f, X), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f", [write_through_ravel, write_into_the_part, write_into_a_missing_part])
def test_prepared_replays_and_second_order(f):
    assert_second_order_and_replays(f, X)


def test_a_complex_input_keeps_numpys_layout():
    z = X[:3] + 1j * X[3:]
    _, grad = mixedad.value_and_gradient(write_into_a_complex_input, z)
    h = 1e-6
    expected = [(write_into_a_complex_input(z + h * d) - write_into_a_complex_input(z - h * d)) / (2 * h)
                for d in np.eye(3)]
    imaginary = [(write_into_a_complex_input(z + 1j * h * d) - write_into_a_complex_input(z - 1j * h * d)) / (2 * h)
                 for d in np.eye(3)]
    np.testing.assert_allclose(grad, np.array(expected) - 1j * np.array(imaginary), rtol=1e-6, atol=1e-8)
    assert mixedad.value_and_gradient(write_into_a_complex_input, z)[0] == pytest.approx(
        write_into_a_complex_input(z.copy()), rel=1e-12)


def test_a_write_into_a_part_that_views_of_z_share_is_refused():
    """z[1:] was taken before z.real: its parts are views of z's, which the write would have to
    reach; mixedad refuses the use of the view after the write rather than miss it."""
    def f(x):
        z = np.fft.fft(x)
        tail = z[1:]
        real = z.real
        real[1] = 5.0 * x[0]
        return np.sum(np.abs(tail))
    with pytest.raises(InPlaceMutationError, match="test_complex_part_layout.py"):
        mixedad.gradient(f, X)


def test_real_of_a_fused_complex_value_keeps_f_vectorized_in_mixedad_sum():
    f = lambda t: np.real(np.exp(1j * t)) * t + np.imag(np.exp(2j * t)) ** 2  # noqa: E731
    np.testing.assert_allclose(mixedad.gradient(lambda v: mixedad.sum(f, v), X),
                               numerical_gradient(lambda v: np.sum(f(v)), X), rtol=1e-6)


def scaled_part_of_a_scalar(x):  # the session-45 fuzzer's p482400, reduced
    peak = np.amax(x)
    real = (peak * np.exp(1j * peak)).real  # NumPy: a float64 scalar, so *= rebinds it to an array
    real *= x
    imag = np.exp(1j * peak).imag
    imag += x[::-1]
    return np.sum(real) + np.sum(imag ** 2)


def test_the_part_of_a_numpy_scalar_is_a_numpy_scalar():
    """jvp raised a bare ValueError (could not broadcast (5,) into ()): the part of a complex
    scalar was given as a 0-d array, into which ``real *= x`` then wrote."""
    x = np.array([-0.46, 0.46, 0.53, 0.56, -0.88])
    expected = numerical_gradient(scaled_part_of_a_scalar, x)
    assert_values_and_gradients_match(scaled_part_of_a_scalar, x, expected, np.linspace(-1.0, 1.0, 5))
    assert_second_order_and_replays(scaled_part_of_a_scalar, x)


# --- an updated part keeps its layout (the session-47 fuzzer, p644520): a new value computed for
# z.real[0] = v or z.real += v was contiguous, so its ravel became a view, and a write into that
# ravel changed it (15.04 where NumPy gives 9.56)
def assign_then_write_through_ravel(x):
    real = (x * np.exp(1j * x)).real
    real[0] = 3.0
    flat = np.ravel(real)
    flat += 1.0
    return np.sum(real ** 2)


def add_then_write_through_ravel(x):
    imag = np.exp(1j * x).imag
    imag += 1.0
    flat = imag.ravel()
    flat *= 4.0
    return np.sum(imag * x)


def assign_then_add_into_an_overlapping_ravel(x):  # the fuzzer's program, reduced
    real = (x * np.exp(1j * x)).real
    same = real.reshape(-1)
    same[0] = 3.0
    flat = np.ravel(same)
    np.add(flat[1:], flat[:-1], out=flat[1:])
    return np.sum(real ** 2)


def assign_into_a_matrix_part_then_reshape(x):
    real = (np.outer(x[:3], x[3:]) * np.exp(1j * x[:3])).real
    real[0, 0] = 1.0
    real.T[1] *= 2.0
    flat = real.reshape(-1)
    flat += 1.0
    return np.sum(real ** 2)


UPDATES_OF_A_PART = [assign_then_write_through_ravel, add_then_write_through_ravel,
                     assign_then_add_into_an_overlapping_ravel, assign_into_a_matrix_part_then_reshape]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", UPDATES_OF_A_PART)
def test_an_updated_part_keeps_numpys_layout(f, mode):
    value, grad = mixedad.value_and_gradient(f, X, mode=mode)
    assert value == pytest.approx(f(X.copy()), rel=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(f, X), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f", UPDATES_OF_A_PART)
def test_an_updated_part_keeps_its_layout_in_replays_and_at_second_order(f):
    assert_second_order_and_replays(f, X)
