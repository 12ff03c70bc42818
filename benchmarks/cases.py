"""The benchmark cases, each written once against an ops namespace ``xp`` (see benchmarks.peers).

A case is ``f(xp, params, *constants)`` returning a scalar; the gradient is taken with
respect to ``params`` (an array, a tuple or a dict of arrays). Two groups:

- the seed thread's cases (float32 batch of 128 x 1 x 28 x 28): sum of squares,
  ``sum(arctan2(x, 2))`` broadcast and as ``sum(f, x)``, ``sum(sin(x) cos(x) exp(x))``, the
  MLP and the LeNet-style net, loss = sum of squared outputs;
- a Python translation of the inter-framework table that Mooncake.jl prints on its pull
  requests (float64): sum and sum(sin) of 1000 numbers, the same as Python loops, the
  ``sin(cos(exp(x)))`` chain over 10x10 by map, broadcast and loop, ``sum(kron(x, y))``, a
  two-layer ReLU MLP with squared error, a Gaussian-process log marginal likelihood with 128
  points, and a straight-line block of 400 scalar multiplies. Sizes, inputs and the
  differentiated arguments follow Mooncake's ``bench/run_benchmarks.jl`` (every argument
  is differentiated).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from mixedad.examples import models


@dataclass
class Case:
    name: str
    function: Callable[..., Any]
    params: Any
    constants: tuple = ()
    dtype: str = "float64"
    notes: dict = field(default_factory=dict)  # framework name -> how its version differs


# --- the seed cases -----------------------------------------------------------------------------
def sum_of_squares(xp, x):
    return xp.sum(x ** 2)


def sum_arctan2(xp, x):
    return xp.sum(xp.arctan2(x, 2.0))


def sum_of_arctan2_map(xp, x):
    return xp.map_sum(lambda t: xp.arctan2(t, 2.0), x)


def sin_cos_exp_product(xp, x):
    return xp.sum(xp.sin(x) * xp.cos(x) * xp.exp(x))


def dense(x, layer):
    return x @ layer["weight"] + layer["bias"]


def seed_mlp(xp, params, images):
    h = xp.tanh(dense(images.reshape(images.shape[0], -1), params["fc1"]))
    return xp.sum(dense(h, params["fc2"]) ** 2)


def seed_lenet(xp, params, images):
    h = images
    for name in ("conv1", "conv2"):
        h = xp.max_pool2d(xp.relu(xp.conv2d(h, params[name]["weight"], params[name]["bias"])))
    h = h.reshape(h.shape[0], -1)
    h = xp.relu(dense(h, params["fc1"]))
    h = xp.relu(dense(h, params["fc2"]))
    return xp.sum(dense(h, params["fc3"]) ** 2)


# --- the inter-framework table ----------------------------------------------------------------------
def total(xp, x):
    return xp.sum(x)


def total_of_sin(xp, x):
    return xp.sum(xp.sin(x))


def loop_total(xp, x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i]
    return s


def loop_total_of_sin(xp, x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + xp.sin(x[i])
    return s


def map_sin_cos_exp(xp, x):
    return xp.sum(xp.map(lambda t: xp.sin(xp.cos(xp.exp(t))), x))


def broadcast_sin_cos_exp(xp, x):
    return xp.sum(xp.sin(xp.cos(xp.exp(x))))


def loop_sin_cos_exp(xp, x):
    s = 0.0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            s = s + xp.sin(xp.cos(xp.exp(x[i, j])))
    return s


def kron_sum(xp, params):
    x, y = params
    return xp.sum(xp.kron(x, y))


def relu_mlp(xp, params):
    w2, w1, y, x = params["W2"], params["W1"], params["Y"], params["X"]
    h = w1 @ x
    return xp.sum((y - w2 @ (h * (h >= 0))) ** 2)


def gp_log_marginal_likelihood(xp, params, identity):
    """log N(y | 0, K + s I), K the unit squared-exponential kernel on the points ``params["x"]``."""
    x, y = params["x"], params["y"]
    difference = x[:, None] - x[None, :]
    covariance = xp.exp(-0.5 * difference ** 2) + params["noise"] * identity
    lower = xp.cholesky(covariance)
    whitened = xp.solve(lower, y)
    n = y.shape[0]
    return -0.5 * xp.sum(whitened ** 2) - xp.sum(xp.log(xp.diagonal(lower))) - 0.5 * n * math.log(2 * math.pi)


def _straight_line_block(multiplies: int = 400) -> Callable[..., Any]:
    """``x[0] * x[1] ** multiplies`` as ``multiplies`` lines of ``y = y * a`` (no loop in the code)."""
    lines = ["def straight_line_product(xp, x):", "    y = x[0]", "    a = x[1]"]
    lines += ["    y = y * a"] * multiplies
    lines.append("    return y")
    namespace: dict = {}
    exec(compile("\n".join(lines), "<straight-line block>", "exec"), namespace)
    return namespace["straight_line_product"]


straight_line_product = _straight_line_block()


# --- the list ------------------------------------------------------------------------------------------
def all_cases(rng: np.random.Generator) -> list[Case]:
    img = models.seed_batch(rng)
    mlp_params = models.mlp_params(rng)
    lenet_params = models.lenet_params(rng)
    vector = rng.standard_normal(1000)
    square = rng.standard_normal((10, 10))
    points = np.arange(128) * 0.2
    spread = np.exp(-0.5 * (points[:, None] - points[None, :]) ** 2) + np.eye(128)
    gp_params = {"x": points, "y": np.linalg.cholesky(spread) @ rng.standard_normal(128), "noise": np.array(1.0)}
    map_notes = {"autograd": "elementwise call (autograd has no map)", "torch": "torch.vmap", "jax": "jax.vmap",
                 "jax-jit": "jax.vmap"}
    return [
        Case("seed: sum(x.^2), 128x1x28x28", sum_of_squares, img, dtype="float32"),
        Case("seed: sum(arctan2.(x, 2))", sum_arctan2, img, dtype="float32"),
        Case("seed: sum(t -> arctan2(t, 2), x)", sum_of_arctan2_map, img, dtype="float32",
             notes=dict(map_notes, **{"mixedad-auto": "mixedad.sum(f, x)", "mixedad-reverse": "mixedad.sum(f, x)"})),
        Case("seed: sum(sin.(x) .* cos.(x) .* exp.(x))", sin_cos_exp_product, img, dtype="float32"),
        Case("seed: MLP 784-32-10 tanh, batch 128", seed_mlp, mlp_params, (img,), dtype="float32"),
        Case("seed: LeNet conv net, batch 128", seed_lenet, lenet_params, (img,), dtype="float32"),
        Case("sum, 1000", total, vector),
        Case("sum(sin), 1000", total_of_sin, vector),
        Case("sum as a Python loop, 1000", loop_total, vector),
        Case("sum(sin) as a Python loop, 1000", loop_total_of_sin, vector),
        Case("sin(cos(exp)) 10x10, map", map_sin_cos_exp, square, notes=map_notes),
        Case("sin(cos(exp)) 10x10, broadcast", broadcast_sin_cos_exp, square),
        Case("sin(cos(exp)) 10x10, loop", loop_sin_cos_exp, square),
        Case("sum(kron(x, y)), 20x20 and 40x40", kron_sum, (rng.standard_normal((20, 20)), rng.standard_normal((40, 40)))),
        Case("ReLU MLP, squared error (W2 128x256, W1 256x128, Y, X 128x70)", relu_mlp,
             {"W2": rng.standard_normal((128, 256)), "W1": rng.standard_normal((256, 128)),
              "Y": rng.standard_normal((128, 70)), "X": rng.standard_normal((128, 70))}),
        Case("GP log marginal likelihood, 128 points", gp_log_marginal_likelihood, gp_params, (np.eye(128),)),
        Case("x[0] * x[1]^400, 400 straight-line multiplies", straight_line_product, np.array([0.9, 0.99])),
    ]
