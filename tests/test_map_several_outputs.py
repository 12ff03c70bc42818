"""``mixedad.map`` of a function that returns a tuple gives a tuple of arrays, as np.vectorize
does. mixedad's error for ``np.vectorize(f)(x)`` advises ``mixedad.map``, which refused such an
``f`` (session-45 audit: the advice led nowhere). References: np.vectorize's values and central
differences of them."""
import math

import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient

X = np.array([0.3, -1.2, 2.0, 0.7])
Y = np.array([1.0, 0.5, -0.7, 2.5])


def polar_with_math(x, y):  # element by element: math rebinds to dual-aware versions
    return math.hypot(x, y), math.atan2(y, x)


def polar_with_numpy(x, y):  # whole arrays at once
    return np.hypot(x, y), np.arctan2(y, x)


def branching(x, y):
    return (x * y, -x) if x > 0 else (y ** 2, x * 3.0)


@pytest.mark.parametrize("f", [polar_with_math, polar_with_numpy, branching])
@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_each_output_is_numpys_and_differentiates(f, mode):
    def loss(x, mapper):
        first, second = mapper(f, x, Y)
        return np.sum(first * 2.0 + second ** 2)

    plain = lambda f, *arrays: np.vectorize(f)(*arrays)  # noqa: E731
    value, grad = mixedad.value_and_gradient(lambda x: loss(x, mixedad.map), X, mode=mode)
    assert value == pytest.approx(loss(X, plain), rel=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(lambda x: loss(x, plain), X), rtol=1e-6)
    outputs = mixedad.map(f, X, Y)
    assert type(outputs) is tuple and len(outputs) == 2
    for got, expected in zip(outputs, np.vectorize(f)(X, Y)):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_a_prepared_gradient_and_jvp_of_several_outputs():
    def loss(x):
        first, second = mixedad.map(branching, x, Y)
        return np.sum(first * second)

    prepared = mixedad.prepare(loss, X)
    for x in (X, -X, X * 0.5):
        np.testing.assert_allclose(prepared.gradient(x), mixedad.gradient(loss, x), rtol=1e-12)
    direction = np.linspace(-1.0, 1.0, X.size)
    _, tangent = mixedad.jvp(loss, (X,), (direction,))
    assert tangent == pytest.approx(np.sum(numerical_gradient(loss, X) * direction), rel=1e-6)


def test_scalars_give_a_tuple_of_scalars_and_sum_refuses_several_outputs():
    first, second = mixedad.map(polar_with_math, 0.5, 1.0)
    assert (first, second) == pytest.approx(polar_with_math(0.5, 1.0), rel=1e-15)
    with pytest.raises(mixedad.OutputError, match="returned a tuple; it must return one number per element"):
        mixedad.gradient(lambda x: mixedad.sum(lambda t: (t * t, t), x), X)
    with pytest.raises(mixedad.OutputError, match="returned a tuple"):  # a tuple holding a container
        mixedad.map(lambda t: (t, [t]), X)
