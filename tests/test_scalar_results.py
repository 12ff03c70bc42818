"""0-d results are NumPy scalars or 0-d arrays exactly where NumPy's are.

The difference is visible: a NumPy scalar is immutable, so ``s.ravel()``, ``s.reshape(1)``,
``s[None]`` and ``s[...]`` are new arrays and writing into them leaves ``s`` alone, while the
same views of a 0-d array write into it. Each function below is run by NumPy itself on the
same inputs; mixedad must give NumPy's value in every mode, and a gradient that matches
central finite differences.
"""
import math

import numpy as np
import pytest

import mixedad
from tests.mode_checks import assert_values_and_gradients_match
from tests.numerical import numerical_gradient

VECTOR = np.array([0.3, -0.7, 1.1])
SINGLE = np.array([0.3])
ZERO_D = np.array(-0.4)

# (expression of a, input): NumPy gives a scalar for each, except where noted
RESULTS = [
    ("np.quantile(a, 0.3)", VECTOR), ("np.percentile(a, 30)", VECTOR), ("np.nanquantile(a, 0.3)", VECTOR),
    ("np.nanpercentile(a, 30)", VECTOR), ("np.nanmedian(a)", VECTOR), ("np.quantile(a, 0.3, method='nearest')", VECTOR),
    ("np.quantile(a, 0.5)", ZERO_D), ("np.interp(0.5, [0.0, 1.0], a[:2])", VECTOR),
    ("np.interp(a[0], [0.0, 1.0], [2.0, 3.0])", VECTOR), ("np.interp(a, [0.0, 1.0], [2.0, 3.0])", ZERO_D),
    ("np.interp(0.5, [0.0], a)", SINGLE), ("np.subtract.reduce(a)", VECTOR), ("np.subtract.reduce(a)", SINGLE),
    ("np.logaddexp.reduce(a)", SINGLE), ("np.logaddexp2.reduce(a)", SINGLE), ("np.hypot.reduce(a)", SINGLE),
    ("np.divide.reduce(a)", SINGLE), ("np.subtract.reduce(a, axis=())", ZERO_D),
    ("np.logaddexp.reduce(a, axis=())", ZERO_D), ("np.nan_to_num(a)", ZERO_D), ("np.nan_to_num(a[0])", VECTOR),
    ("np.nan_to_num(a, nan=1.0)", ZERO_D), ("np.round(a, 1)", ZERO_D), ("np.round(a[0], 1)", VECTOR),
    ("a * 2", ZERO_D), ("-a", ZERO_D), ("np.multiply(a[0], 2)", VECTOR),
    # found by the session-44 fuzzer (p470506): keepdims on a 0-d array keeps no axis
    ("np.logaddexp.reduce(a, keepdims=True)", ZERO_D), ("np.add.reduce(a, keepdims=True)", ZERO_D),
    ("np.maximum.reduce(a, axis=None, keepdims=True)", ZERO_D),
    # (p464420) mixedad.map of a 0-d array gives a NumPy scalar on every path, as a ufunc does
    ("mixedad.map(lambda t: math.exp(-t * t), a)", ZERO_D), ("mixedad.map(lambda t: t if t > 0 else -t, a)", ZERO_D),
    ("mixedad.map(np.tanh, a)", ZERO_D),
    # (p573346, session 46) a function whose 0-d result is a 0-d array (np.where's) too
    ("mixedad.map(lambda t: np.where(t > 0, t, 0.1 * t), a)", ZERO_D),
    # (p580430, session 46) a derivative taken inside a gradient, of a NumPy scalar: a scalar too
    ("mixedad.gradient(lambda z: np.sin(z) * a, np.float64(0.3))", ZERO_D),
    ("mixedad.value_and_gradient(lambda z: np.sin(z) * a[0] * a[1], np.float64(0.3))[1]", VECTOR),
    ("mixedad.jvp(lambda z: np.sin(z) * a, (np.float64(0.3),), (np.float64(1.0),))[1]", ZERO_D),
    ("mixedad.vjp(lambda z: np.sin(z) * 2.0, np.float64(0.3))[1](np.reshape(a, ()))[0]", ZERO_D),
    # (p614096) of a differentiated NumPy scalar (an element times 1.0): a scalar too
    ("mixedad.gradient(lambda z: np.sum(z ** 3) * np.sum(a), a[0] * 1.0)", VECTOR),
    ("mixedad.jvp(lambda z: z ** 3, (a[1] * 1.0,), (np.float64(1.0),))[1]", VECTOR),
    # for contrast: these were right before
    ("mixedad.vjp(lambda z: np.sin(z) * a, np.float64(0.3))[1](np.float64(1.0))[0]", ZERO_D),
    ("np.median(a)", VECTOR), ("np.sum(a)", VECTOR), ("np.logaddexp.reduce(a)", VECTOR),
    ("np.where(a[0] > 0, a[0], a[1])", VECTOR),  # a 0-d array in NumPy: the write reaches it
    ("np.copy(a)", ZERO_D),  # a 0-d array too
    ("np.real_if_close(a[0])", VECTOR),  # a scalar in, a new 0-d array out (np.asanyarray's)
    ("np.real_if_close(a)", ZERO_D),  # a real array: the array itself
]
WRITES = {"ravel": "r = v.ravel(); r *= 0.5", "reshape": "r = v.reshape(1); r *= 0.5",
          "new axis": "r = v[None]; r *= 0.5", "ellipsis": "r = v[...]; r *= 0.5"}


def _function(expression, write):
    namespace = {"np": np, "math": math, "mixedad": mixedad}
    exec(f"def f(a):\n    v = {expression}\n    {write}\n    return v * 1.5 + 0.25 * np.sum(a)\n", namespace)
    return namespace["f"]


def _cases():
    for expression, x in RESULTS:
        for name, write in WRITES.items():
            yield pytest.param(expression, x, write, id=f"{expression}-{name}-{x.ndim}d")


@pytest.mark.parametrize("expression, x, write", list(_cases()))
def test_values_and_gradients_match_numpy(expression, x, write):
    f = _function(expression, write)
    expected, expected_gradient = f(x.copy()), numerical_gradient(f, x)
    assert_values_and_gradients_match(f, x, expected_gradient, np.linspace(0.5, 1.5, x.size).reshape(x.shape))
    prepared = mixedad.prepare(f, x.copy())
    for call in range(2):  # the recording, then a replay
        value, gradient = prepared.value_and_gradient(x.copy())
        np.testing.assert_allclose(value, expected, rtol=1e-12, err_msg=f"prepared call {call}")
        np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("constant", [2, 2.0, np.float32(2.0)])
def test_forward_tangents_take_the_output_dtype(constant):
    """A partial that is a Python number must not become the tangent's type (np.dtype(None) is
    float64, so a comparison with None once let an int tangent through)."""
    def f(a):
        v = np.multiply(a[0], constant)
        return v[None] * 1.0

    value, tangent = mixedad.jvp(f, (VECTOR.copy(),), (np.ones(3),))
    assert tangent.dtype == value.dtype == np.float64
    np.testing.assert_allclose(tangent, [2.0])


@pytest.mark.parametrize("f", [lambda t: t if t > 0 else -t, math.exp, lambda t: np.tanh(t),
                               lambda t: np.where(t > 0, t, 0.1 * t)],
                         ids=["per element", "math function", "vectorized", "vectorized, a 0-d array"])
def test_map_of_a_0_d_array_is_a_numpy_scalar_on_every_path(f):
    """As a ufunc gives (np.vectorize, which the per-element path once returned, gives a 0-d array)."""
    result = mixedad.map(f, ZERO_D)
    assert type(result) is np.float64 and result == f(float(ZERO_D))
    assert type(mixedad.gradient(lambda a: (mixedad.map(f, a) * 1.0, mixedad.map(f, a)), ZERO_D,
                                 has_aux=True)[1]) is np.float64
