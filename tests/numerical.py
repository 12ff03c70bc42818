"""Independent references for gradient tests: central finite differences in float64.

Nothing here imports mixedad: it is the yardstick the engine is measured against.
"""
from __future__ import annotations

import numpy as np


def numerical_gradient(f, x, eps=1e-6):
    """Central-difference gradient of scalar ``f`` at float64 copy of array ``x``."""
    x = np.array(x, dtype=np.float64, order="C")  # C order: reshape(-1) below must be a view
    grad = np.zeros_like(x)
    flat = x.reshape(-1)
    grad_flat = grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        step = eps * max(1.0, abs(original))
        flat[i] = original + step
        plus = float(f(x))
        flat[i] = original - step
        minus = float(f(x))
        flat[i] = original
        grad_flat[i] = (plus - minus) / (2 * step)
    return grad


def numerical_gradients(f, args, argnums, eps=1e-6):
    """Central-difference gradients of ``f(*args)`` for each position in ``argnums``."""
    results = []
    for number in argnums:
        def partial(x, number=number):
            new_args = list(args)
            new_args[number] = x
            return f(*new_args)
        results.append(numerical_gradient(partial, args[number], eps))
    return results


def random_projection_loss(f, shape_of_output, seed=0):
    """Wrap a non-scalar ``f`` into a scalar: sum(f(...) * w) with a fixed random w."""
    w = np.random.default_rng(seed).standard_normal(shape_of_output)

    def loss(*args):
        return np.sum(f(*args) * w)
    return loss
