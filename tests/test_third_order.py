"""Third derivatives, reverse mode outermost, of programs that assign into arrays or call
functions of several outputs.

The reverse rule of ``x[key] = value`` copied its cotangent with ``np.array(g, copy=True)``,
which refuses a traced value: a gradient of an ``hvp`` (or a gradient of a gradient of a
gradient) of any program that assigns raised ``NonDifferentiableError`` naming the user's line.
``np.linalg.slogdet`` (outputs ``sign`` and ``logabsdet``) raised the same error: the forward
rule left ``sign`` without a tangent, as the enclosing gradient's traced value, which the
nested gradient then converted with ``np.asarray``.
Reference: central differences of mixedad's ``hvp``, itself checked against second differences.
"""
import numpy as np
import pytest

import mixedad

X = np.array([0.3, -0.2, 0.5, 0.1, 0.7, -0.4])
V = np.linspace(-1.0, 1.0, X.size)


def slice_assignment(y):
    z = np.zeros_like(y)
    z[1:4] = np.sin(y[:3]) * y[3:]
    return np.sum(z ** 2)


def add_at_repeated_indices(y):
    z = np.zeros_like(y, shape=4)
    np.add.at(z, [0, 2, 0], y[:3] ** 2)
    return np.sum(np.sin(z) * y[3:4])


def put(y):
    z = np.ones(6) * y[0]
    np.put(z, [1, 3], y[1:3] ** 3)
    return np.sum(z ** 2 * y)


def divide_where_positive(y):
    out = np.zeros_like(y)
    np.divide(np.sin(y), y + 2.0, out=out, where=y > 0)
    return np.sum(out ** 3)


def mask_assignment(y):
    z = y ** 2
    z[y < 0] = 0.5 * y[y < 0] ** 3
    return np.sum(z * y)


def _spd(y):
    t = np.tanh(y[:4].reshape(2, 2))
    return 0.5 * t @ t.T + np.diag([1.5, 2.5])


def slogdet(y):
    return np.linalg.slogdet(_spd(y))[1] * y[4]


def eigh_values_cubed(y):
    return np.sum(np.linalg.eigh(_spd(y))[0] ** 3)


def singular_values_cubed(y):
    return np.sum(np.linalg.svd(_spd(y) + np.array([[0.0, 0.3], [0.0, 0.0]]))[1] ** 3)


def qr_r_cubed(y):
    return np.sum(np.linalg.qr(_spd(y))[1] ** 3)


PROGRAMS = [slice_assignment, add_at_repeated_indices, put, divide_where_positive, mask_assignment, slogdet,
            eigh_values_cubed, singular_values_cubed, qr_r_cubed]


def second_differences_along(f, x, v, h=1e-4):
    return (f(x + h * v) - 2 * f(x) + f(x - h * v)) / h ** 2


@pytest.mark.parametrize("f", PROGRAMS)
def test_hvp_is_checked_against_second_differences(f):
    assert float(V @ mixedad.hvp(f, X, V)) == pytest.approx(second_differences_along(f, X, V), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("f", PROGRAMS)
def test_gradient_of_hvp_matches_differences_of_hvp(f):
    h = 1e-5
    reference = np.array([(np.sum(mixedad.hvp(f, X + h * e, V)) - np.sum(mixedad.hvp(f, X - h * e, V))) / (2 * h)
                          for e in np.eye(X.size)])
    third = mixedad.gradient(lambda y: np.sum(mixedad.hvp(f, y, V)), X)
    np.testing.assert_allclose(third, reference, rtol=1e-5, atol=1e-6)
