"""Second-order optimisation: SciPy's Newton-CG trust region driven by mixedad's Hessian-vector products.

Run: python -m mixedad.examples.rosenbrock

``scipy.optimize.minimize(method="trust-ncg")`` asks for the gradient (``jac=``) and for
Hessian-vector products (``hessp=``), never for the Hessian itself. mixedad gives the first
with :func:`mixedad.gradient` and the second with :func:`mixedad.hvp`, forward-over-reverse:
the reverse gradient computed on forward-mode duals ``x + eps p``, which comes out as
``grad + eps H p`` at about twice the cost of a gradient, whatever the dimension. The
function is the n-dimensional Rosenbrock function written in plain NumPy; SciPy's own
``rosen_der``, ``rosen_hess_prod`` and ``rosen_hess`` are the reference (needs SciPy).
"""
from __future__ import annotations

import numpy as np

from ..api import gradient
from ..transforms import hessian, hvp


def rosenbrock(x):
    """sum(100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2): minimum 0 at x = (1, ..., 1)."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def minimize_rosenbrock(n: int = 100, x0=None):
    """Minimise the n-dimensional Rosenbrock function with trust-ncg, from SciPy's tutorial start.

    >>> result = minimize_rosenbrock(100)
    >>> bool(result.success), bool(np.allclose(result.x, 1.0, atol=1e-6))
    (True, True)
    """
    from scipy.optimize import minimize
    x0 = np.resize([1.3, 0.7, 0.8, 1.9, 1.2], n) if x0 is None else x0
    return minimize(rosenbrock, x0, method="trust-ncg",
                    jac=lambda x: gradient(rosenbrock, x),
                    hessp=lambda x, p: hvp(rosenbrock, x, p),
                    options={"gtol": 1e-8})


def compare_with_scipy(n: int = 6, seed: int = 0) -> dict[str, float]:
    """Largest differences from SciPy's closed forms at a random point (gradient, H p, H).

    >>> all(difference < 1e-9 for difference in compare_with_scipy().values())
    True
    """
    from scipy.optimize import rosen_der, rosen_hess, rosen_hess_prod
    rng = np.random.default_rng(seed)
    x, p = rng.uniform(-2.0, 2.0, n), rng.standard_normal(n)
    relative = lambda got, want: float(np.max(np.abs(got - want)) / max(1.0, np.max(np.abs(want))))  # noqa: E731
    return {"gradient": relative(gradient(rosenbrock, x), rosen_der(x)),
            "hvp": relative(hvp(rosenbrock, x, p), rosen_hess_prod(x, p)),
            "hessian": relative(hessian(rosenbrock, x), rosen_hess(x))}


def main() -> None:
    for name, difference in compare_with_scipy().items():
        print(f"{name:>8}: largest relative difference from SciPy's closed form {difference:.1e}")
    result = minimize_rosenbrock(100)
    print(f"trust-ncg, 100 dimensions: {result.message} after {result.nit} iterations, {result.njev} "
          f"gradients and {result.nhev} Hessian-vector products; max |x - 1| = {np.max(np.abs(result.x - 1)):.1e}")


if __name__ == "__main__":
    main()
