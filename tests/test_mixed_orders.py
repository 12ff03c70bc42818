"""Second derivatives reached in either order: the gradient of a jvp (reverse over forward)
must equal the hvp (forward over reverse), and both the central differences of the gradient.
The forward rules then run on traced values, so they must not convert their arguments."""
import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient

X = np.array([0.5, 1.5, 2.0])
DIRECTION = np.array([1.0, 0.3, -0.2])
A = np.array([[2.0, 0.5, 0.1], [0.3, 1.5, 0.2], [0.1, 0.4, 1.0]])

FUNCTIONS = {
    "prod": np.prod,
    "nanprod": np.nanprod,
    "multiply.reduce": np.multiply.reduce,
    "norm": np.linalg.norm,
    "norm ord=1": lambda a: np.linalg.norm(a, 1),
    "vector_norm ord=3": lambda a: np.linalg.vector_norm(a, ord=3),
    "matrix_norm": lambda a: np.linalg.matrix_norm(np.outer(a, a) + A),
    "cond fro": lambda a: np.linalg.cond(np.outer(a, a) + A, "fro"),
    "median": lambda a: np.median(a ** 3),
    "average weights": lambda a: np.average(np.sin(a), weights=np.array([1.0, 2.0, 3.0])),
    "astype in a region": lambda a: np.sum(np.sin(a).astype(np.float64, copy=True) * a),
    "det": lambda a: np.linalg.det(np.outer(a, a) + A),
}


@pytest.mark.parametrize("f", FUNCTIONS.values(), ids=FUNCTIONS.keys())
def test_gradient_of_jvp_equals_hvp_and_differences_of_the_gradient(f):
    reverse_over_forward = mixedad.gradient(lambda a: mixedad.jvp(f, (a,), (DIRECTION,))[1], X)
    forward_over_reverse = mixedad.hvp(f, X, DIRECTION)
    by_differences = numerical_gradient(lambda a: np.dot(mixedad.gradient(f, a), DIRECTION), X)
    np.testing.assert_allclose(forward_over_reverse, by_differences, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(reverse_over_forward, forward_over_reverse, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("solver", [np.linalg.solve, lambda m, v: np.linalg.lstsq(m, v, rcond=None)[0]],
                         ids=["solve", "lstsq"])
def test_forward_mode_with_a_list_as_the_constant_operand(solver):
    matrix = [[2.0, 0.5, 0.0], [0.0, 4.0, 1.0], [1.0, 0.0, 3.0]]  # a Python list, not an array

    def f(v):
        return np.sum(solver(matrix, v) ** 2)

    direction = np.array([0.2, -1.0, 0.5])
    _, tangent = mixedad.jvp(f, (X,), (direction,))
    np.testing.assert_allclose(tangent, np.dot(numerical_gradient(f, X), direction), rtol=1e-6)
    hessian = mixedad.hessian(f, X)
    np.testing.assert_allclose(hessian @ direction, numerical_gradient(lambda v: np.dot(mixedad.gradient(f, v), direction), X),
                               rtol=1e-5, atol=1e-8)
