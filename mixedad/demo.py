"""The quickstart demo: ``python -m mixedad.demo``.

Differentiates the seed thread's cases and prints each gradient's mode report: which
operations were fused into dual-number regions, which went on the reverse tape, and why.
"""
from __future__ import annotations

import numpy as np

import mixedad


def mlp_loss(params, images):
    x = images.reshape(images.shape[0], -1)
    h = np.tanh(x @ params["W1"] + params["b1"])
    y = h @ params["W2"] + params["b2"]
    return np.sum(y ** 2)


def branchy(t):
    """A scalar function that branches on its argument: mixedad.sum runs it per element."""
    return t * t if t > 0.5 else np.sin(t)


def arctan_loss(x):
    return np.sum(np.arctan2(x, 2.0))


def branchy_sum(x):
    return mixedad.sum(branchy, x)


def main() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((128, 1, 28, 28), dtype=np.float32)
    params = {"W1": (rng.standard_normal((784, 32)) / 28).astype(np.float32),
              "b1": np.zeros(32, np.float32),
              "W2": (rng.standard_normal((32, 10)) / 6).astype(np.float32),
              "b2": np.zeros(10, np.float32)}

    print("1. arctan_loss(x) = sum(arctan2(x, 2)) over a float32 batch of shape 128x1x28x28")
    g = mixedad.gradient(arctan_loss, images)
    print(f"   gradient: dtype {g.dtype}, shape {g.shape}, first values {g.reshape(-1)[:3]}")
    print(f"   exact 2/(x^2+4):                        {(2 / (images.reshape(-1)[:3] ** 2 + 4))}")
    print(mixedad.profile(arctan_loss, images, repeat=5, lines=False), end="\n\n")

    print("2. The seed MLP, mlp_loss (flatten -> dense 784->32 tanh -> dense 32->10, loss = sum of squares)")
    value, grads = mixedad.value_and_gradient(mlp_loss, params, images)
    print(f"   loss {value:.4f}; gradient shapes " +
          ", ".join(f"{k} {v.shape} {v.dtype}" for k, v in grads.items()))
    print(mixedad.profile(mlp_loss, params, images, repeat=5, lines=False), end="\n\n")

    print("3. branchy_sum(x) = mixedad.sum(branchy, x), with branchy(t) = t * t if t > 0.5 else sin(t):")
    print("   a scalar function with a branch, mapped element by element (the per-element fallback)")
    x = np.linspace(-1, 1, 5)
    print(f"   gradient at {x}: {mixedad.gradient(branchy_sum, x)}")
    print(f"   exact 2t or cos(t):             {np.where(x > 0.5, 2 * x, np.cos(x))}")
    print(mixedad.profile(branchy_sum, x, repeat=5, lines=False), end="\n\n")

    print("How to read the reports: '#' is the entry's index on the tape (the inputs come first, without a row);\n"
          "'held' is what an entry keeps for the backward pass ('~': partials a fused reduction makes only in\n"
          "its backward step, so the header's 'tape holds' leaves them out). More: docs/profiling.md.")


if __name__ == "__main__":
    main()
