"""An array updated in place keeps its layout, as NumPy's does.

Whether ``y.ravel()`` or ``y.reshape(-1)`` is a view (writing into it changes ``y``) or a copy
depends on ``y``'s strides: NumPy copies a strided view (``y[:, ::2]``), a reversed one, or an
F-ordered array (``np.zeros_like(a.T)``). An in-place update (``v += 1``, ``v[0, 0] = 5``,
``out=v``) computes new values for ``v``; they must keep ``v``'s strides, or a later ravel
becomes a view and a write into it silently changes ``v`` and its base. The reference is
NumPy itself, run on the same function, and central finite differences.
"""
import numpy as np
import pytest

import mixedad
from tests.mode_checks import assert_values_and_gradients_match
from tests.numerical import numerical_gradient

X = np.array([[0.1, 0.25, 0.3], [0.45, 0.5, 0.65]])

MADE = ["a[:, ::2] * 1.0", "(a * 2.0)[:, ::-1]", "(a * 1.0)[:, 1:]", "(a * 1.0)[::-1]",
        "np.zeros_like(a.T) + a.T", "np.zeros_like(a.T)", "np.empty_like(a.T) * 0.0 + a.T", "np.ones_like(a.T)",
        "np.full_like(a.T, 0.5)", "(a * 1.0)[:, None, :]"]
UPDATES = ["y += 1.0", "y *= a.T.sum() if y.shape[0] == 3 else a.sum()", "y[0, 0] = 5.0", "y[...] = y * 2",
           "np.add(y, 1.0, out=y)", "np.sin(y, out=y)", "np.copyto(y, 2 * y)", "y -= y.mean()", "y **= 2",
           "y += np.ones(y.shape)"]
READS = ["ravel()", "reshape(-1)"]


def _function(made, update, read):
    namespace = {"np": np}
    exec(f"def f(a):\n    y = {made}\n    {update}\n    r = y.{read}\n    r[0] = 100.0 * r[1]\n"
         f"    return np.sum(y * np.arange(1.0, y.size + 1).reshape(y.shape))\n", namespace)
    return namespace["f"]


def _cases():
    for made in MADE:
        for update in UPDATES:
            for read in READS:
                f = _function(made, update, read)
                try:
                    f(X.copy())
                except Exception:  # (an update NumPy refuses for this shape)
                    continue
                yield pytest.param(f, id=f"{made} | {update} | {read}")


@pytest.mark.parametrize("f", list(_cases()))
def test_ravel_after_an_update_is_numpys_view_or_copy(f):
    assert_values_and_gradients_match(f, X, numerical_gradient(f, X), np.ones_like(X), atol=1e-6)


@pytest.mark.parametrize("made", ["a[:, ::2] * 1.0", "np.zeros_like(a.T) + a.T"])
def test_prepared_replays_keep_the_view_decision(made):
    f = _function(made, "y += 1.0", "ravel()")
    prepared = mixedad.prepare(f, X.copy())
    for scale in (1.0, 1.5, -0.5):  # the recording, then replays at new inputs
        x = X * scale
        value, gradient = prepared.value_and_gradient(x.copy())
        np.testing.assert_allclose(value, f(x.copy()), rtol=1e-12)
        np.testing.assert_allclose(gradient, numerical_gradient(f, x), rtol=1e-6, atol=1e-6)


def _strided_loss(a):
    """The second-order form of the same defect: a ravel of an updated strided view."""
    y = a * a
    v = y[::2]
    v *= 3.0
    r = v.ravel()
    r[0] = 7.0
    return np.sum(np.sin(y) * np.arange(1.0, 5.0))


def test_hessian_vector_products_see_the_copy():
    x = np.array([0.3, -0.6, 0.9, 0.2])
    direction = np.array([1.0, -0.5, 0.25, 2.0])
    step = 1e-5
    expected = (numerical_gradient(_strided_loss, x + step * direction)
                - numerical_gradient(_strided_loss, x - step * direction)) / (2 * step)
    np.testing.assert_allclose(mixedad.hvp(_strided_loss, x, direction), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mixedad.hessian(_strided_loss, x) @ direction, expected, rtol=1e-4, atol=1e-5)
