"""Functions composed from other rules: values equal NumPy's, gradients equal finite differences."""
import numpy as np
import pytest

import mixedad

from numerical import numerical_gradients

MODES = ("auto", "reverse", "forward")
rng = np.random.default_rng(0)

CASES = {
    "kron 2-D": (lambda a, b: np.kron(a, b), [rng.standard_normal((2, 3)), rng.standard_normal((3, 2))]),
    "kron 1-D x 2-D": (lambda a, b: np.kron(a, b), [rng.standard_normal(3), rng.standard_normal((2, 2))]),
    "diff": (lambda a: np.diff(a), [rng.standard_normal((3, 5))]),
    "diff n=2 axis 0": (lambda a: np.diff(a, n=2, axis=0), [rng.standard_normal((5, 3))]),
    "diff prepend": (lambda a: np.diff(a, prepend=0.5), [rng.standard_normal(4)]),
    "cross": (lambda a, b: np.cross(a, b), [rng.standard_normal((4, 3)), rng.standard_normal(3)]),
    "sinc": (lambda a: np.sinc(a), [np.array([0.0, 0.3, -1.7, 2.2])]),
    "trapezoid dx": (lambda y: np.trapezoid(y, dx=0.5), [rng.standard_normal((2, 6))]),
    "trapezoid x": (lambda y, x: np.trapezoid(y, x), [rng.standard_normal(6), np.sort(rng.standard_normal(6))]),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("mode", MODES)
def test_composition_matches_numpy_and_finite_differences(name, mode):
    f, args = CASES[name]
    weights = rng.standard_normal(np.shape(f(*args)))
    loss = lambda *a: np.sum(f(*a) * weights)
    argnums = tuple(range(len(args)))
    got = mixedad.gradient(loss, *args, argnums=argnums, mode=mode)
    for g, want in zip(got, numerical_gradients(loss, args, argnums)):
        np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-8)
    value, _ = mixedad.value_and_gradient(loss, *args, argnums=argnums, mode=mode)
    np.testing.assert_allclose(value, loss(*args), rtol=1e-12)


def test_sinc_derivative_at_zero_is_zero_not_nan():
    g = mixedad.gradient(lambda x: np.sum(np.sinc(x)), np.array([0.0, 0.5]))
    assert g[0] == 0.0 and np.isfinite(g).all()
