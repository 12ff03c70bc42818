"""np.polyval with the coefficients in a Python list (or tuple) holding traced values: NumPy
converts the list with np.asarray first, so a Python float (or int, or a float64 scalar) next
to float32 coefficients makes a float64 array, and the whole evaluation float64. mixedad used
to add the coefficients one by one, as weak Python numbers, and computed in float32.
Values and dtypes are checked against NumPy's own call, derivatives against central
differences in float64, in every mode."""
import numpy as np
import pytest

import mixedad
from numerical import numerical_gradients

C = np.array([0.3, -1.2], np.float32)
T = np.array([0.5, 1.5, 2.5, -0.7], np.float32)

CASES = {
    "python float": lambda c, t: np.polyval([c[0], c[1], 1.0], t),
    "python int": lambda c, t: np.polyval([c[0], 2, c[1]], t),
    "python bool": lambda c, t: np.polyval([c[0], c[1], True], t),
    "float32 only": lambda c, t: np.polyval([c[0], c[1]], t),
    "float32 scalar": lambda c, t: np.polyval([c[0], np.float32(0.25), c[1]], t),
    "float64 scalar": lambda c, t: np.polyval((c[1], np.float64(0.25), c[0]), t),
    "nested rows": lambda c, t: np.polyval([[c[0], c[1], 1.5, c[0]], [1.0, c[0], c[1], 2.0]], t),
    "0-d point": lambda c, t: np.polyval([c[0], c[1], 1.0], t[1]),
    "array, python float point": lambda c, t: np.polyval(c, 0.7) * t,
    "array, python int point": lambda c, t: np.polyval(c, 2) * t,
    "array, list of points": lambda c, t: np.polyval(c, [0.5, 2.0]) * t[0],
    "array, list of points holding traced": lambda c, t: np.polyval(c, [t[0], 1.0, t[1]]),
}


def _loss(f):
    return lambda c, t: np.sum(np.sin(f(c, t)))


def _expected(name):
    f = CASES[name]
    value = _loss(f)(C, T)
    grads = numerical_gradients(_loss(f), [C.astype(np.float64), T.astype(np.float64)], (0, 1))
    return value, grads


def _tolerance(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("mode", ["auto", "reverse", "prepare"])
def test_polyval_of_a_list_has_numpys_dtype_value_and_gradient(name, mode):
    loss = _loss(CASES[name])
    expected_value, expected_grads = _expected(name)
    if mode == "prepare":
        prepared = mixedad.prepare(loss, C, T, argnums=(0, 1))
        value, grads = prepared.value_and_gradient(C, T)
    else:
        value, grads = mixedad.value_and_gradient(loss, C, T, argnums=(0, 1), mode=mode)
    assert np.result_type(value) == expected_value.dtype
    np.testing.assert_allclose(value, expected_value, **_tolerance(expected_value.dtype))
    for grad, expected in zip(grads, expected_grads):
        assert grad.dtype == np.float32  # (cotangents are summed in it: a few float32 roundings)
        np.testing.assert_allclose(grad, expected, **(_tolerance(expected_value.dtype) | dict(rtol=1e-6)))


@pytest.mark.parametrize("name", CASES)
def test_polyval_of_a_list_has_numpys_dtype_and_value_in_forward_mode(name):
    f = CASES[name]
    expected = f(C, T)
    dc, dt = np.array([0.7, -0.4], np.float32), np.array([0.1, -0.3, 0.2, 0.5], np.float32)
    value, tangent = mixedad.jvp(f, (C, T), (dc, dt))
    assert value.dtype == expected.dtype and tangent.dtype == expected.dtype
    np.testing.assert_allclose(value, expected, **_tolerance(expected.dtype))
    h = 1e-6
    c64, t64 = C.astype(np.float64), T.astype(np.float64)
    difference = (f(c64 + h * dc, t64 + h * dt) - f(c64 - h * dc, t64 - h * dt)) / (2 * h)
    np.testing.assert_allclose(tangent, difference, **_tolerance(expected.dtype))


def test_polyval_of_a_list_at_second_order():
    def loss(c):
        return np.sum(np.sin(np.polyval([c[0], c[1], 1.0], T.astype(np.float64) * c[2])))

    c = np.array([0.3, -1.2, 0.8])
    v = np.array([0.5, -1.0, 2.0])
    h = 1e-6
    difference = (mixedad.gradient(loss, c + h * v) - mixedad.gradient(loss, c - h * v)) / (2 * h)
    np.testing.assert_allclose(mixedad.hvp(loss, c, v), difference, rtol=1e-6, atol=1e-8)


def test_a_list_of_traced_coefficients_at_a_plain_point_names_the_conversion():
    # NumPy's dispatch sees only the list and the plain point: its own polyval runs and calls
    # np.asarray on the list, which cannot keep the derivatives
    with pytest.raises(mixedad.NonDifferentiableError, match=r"np.polyval converted differentiated values.*np.stack"):
        mixedad.gradient(lambda c: np.polyval([c[0], c[1], 1.0], 0.7), C)
    stacked = lambda c: np.polyval(np.stack([c[0], c[1], 1.0]), 0.7)  # what the message suggests
    value, grad = mixedad.value_and_gradient(stacked, C)
    assert np.result_type(value) == np.float64 and value == stacked(C)
    np.testing.assert_allclose(grad, [0.49, 0.7], rtol=1e-6)
