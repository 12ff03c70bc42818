"""SciPy's optimizers with mixedad gradients: ``minimize(fun, x0, jac=True)``.

Run: python -m mixedad.examples.scipy_minimize

With ``jac=True`` SciPy calls ``fun(x)`` for the pair ``(value, gradient)``, which is
exactly what :func:`mixedad.value_and_gradient` returns, so one call gives both. Two
problems: the n-dimensional Rosenbrock function, and a maximum-likelihood fit of a
logistic regression whose parameters come as a dict (flattened to the vector SciPy
wants with :func:`ravel_tree` / :func:`unravel_tree`). Needs SciPy (the ``examples`` or
``test`` extra).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import nn
from ..api import value_and_gradient
from ..core.pytree import flatten, unflatten


def rosenbrock(x):
    """sum(100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2): minimum 0 at x = (1, ..., 1)."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def with_gradient(f: Callable[..., Any]) -> Callable[..., tuple[float, np.ndarray]]:
    """``f`` as SciPy's ``jac=True`` wants it: ``x -> (f(x), gradient of f at x)``."""
    def value_and_jacobian(x, *args):
        value, grad = value_and_gradient(f, x, *args)
        return float(value), grad
    return value_and_jacobian


def minimize_rosenbrock(n: int = 10, method: str = "BFGS"):
    """Minimise the n-dimensional Rosenbrock function from SciPy's tutorial start (1.3, 0.7, 0.8, 1.9, 1.2, ...).

    >>> result = minimize_rosenbrock(4)
    >>> bool(result.success), bool(np.allclose(result.x, 1.0, atol=1e-4))
    (True, True)
    """
    from scipy.optimize import minimize
    x0 = np.resize([1.3, 0.7, 0.8, 1.9, 1.2], n)
    return minimize(with_gradient(rosenbrock), x0, jac=True, method=method, options={"gtol": 1e-8})


# --- a model with a parameter dict ---------------------------------------------------------
def ravel_tree(tree: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """A float64 vector of ``tree``'s leaves and the function that rebuilds the tree from one."""
    leaves, definition = flatten(tree)
    shapes = [np.shape(leaf) for leaf in leaves]
    sizes = [int(np.prod(shape)) for shape in shapes]

    def unravel_tree(vector):
        pieces, start = [], 0
        for shape, size in zip(shapes, sizes):
            pieces.append(np.reshape(vector[start:start + size], shape))
            start += size
        return unflatten(definition, pieces)
    return np.concatenate([np.ravel(leaf) for leaf in leaves]).astype(np.float64), unravel_tree


def logistic_regression_data(n: int = 200, features: int = 3, seed: int = 0):
    """Points and 0/1 labels drawn from a known logistic model; returns (x, y, true weights, true bias)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features))
    weights, bias = rng.standard_normal(features) * 2, 0.5
    probabilities = 1 / (1 + np.exp(-(x @ weights + bias)))
    return x, (rng.random(n) < probabilities).astype(np.int64), weights, bias


def fit_logistic_regression(x, y, l2: float = 1e-3):
    """Penalised maximum likelihood with L-BFGS-B over ``{"weights": ..., "bias": ...}``.

    >>> x, y, _, _ = logistic_regression_data()
    >>> params, result = fit_logistic_regression(x, y)
    >>> bool(result.success), sorted(params)
    (True, ['bias', 'weights'])
    """
    from scipy.optimize import minimize
    x0, unravel = ravel_tree({"weights": np.zeros(x.shape[1]), "bias": np.zeros(1)})

    def objective(vector):
        params = unravel(vector)
        logits = x @ params["weights"] + params["bias"]
        # -log-likelihood of the labels: log(1 + exp(z)) - y z, per point
        return np.mean(nn.softplus(logits) - y * logits) + l2 * np.sum(params["weights"] ** 2)

    result = minimize(with_gradient(objective), x0, jac=True, method="L-BFGS-B")
    return unravel(result.x), result


def main() -> None:
    result = minimize_rosenbrock(10)
    print(f"Rosenbrock, 10 dimensions: {result.message} after {result.nit} iterations, "
          f"{result.nfev} calls of value_and_gradient; max |x - 1| = {np.max(np.abs(result.x - 1)):.2e}")
    x, y, weights, bias = logistic_regression_data()
    params, result = fit_logistic_regression(x, y)
    print(f"logistic regression: {result.message} after {result.nit} iterations")
    print(f"  fitted weights {np.round(params['weights'], 2)}, bias {params['bias'][0]:.2f}")
    print(f"  true weights   {np.round(weights, 2)}, bias {bias:.2f}")


if __name__ == "__main__":
    main()
