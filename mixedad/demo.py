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


def main() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((128, 1, 28, 28), dtype=np.float32)
    params = {"W1": (rng.standard_normal((784, 32)) / 28).astype(np.float32),
              "b1": np.zeros(32, np.float32),
              "W2": (rng.standard_normal((32, 10)) / 6).astype(np.float32),
              "b2": np.zeros(10, np.float32)}

    print("1. sum(arctan2(x, 2)) over a float32 batch of shape 128x1x28x28")
    g = mixedad.gradient(lambda x: np.sum(np.arctan2(x, 2.0)), images)
    print(f"   gradient: dtype {g.dtype}, shape {g.shape}, first values {g.reshape(-1)[:3]}")
    print(f"   exact 2/(x^2+4):                        {(2 / (images.reshape(-1)[:3] ** 2 + 4))}")
    print(mixedad.profile(lambda x: np.sum(np.arctan2(x, 2.0)), images, lines=False), end="\n\n")

    print("2. The seed MLP (flatten -> dense 784->32 tanh -> dense 32->10, loss = sum of squares)")
    value, grads = mixedad.value_and_gradient(mlp_loss, params, images)
    print(f"   loss {value:.4f}; gradient shapes " +
          ", ".join(f"{k} {v.shape} {v.dtype}" for k, v in grads.items()))
    print(mixedad.profile(mlp_loss, params, images, lines=False), end="\n\n")

    print("3. A scalar function with a branch, mapped with mixedad.sum (per-element fallback)")
    x = np.linspace(-1, 1, 5)
    print(f"   gradient at {x}: {mixedad.gradient(lambda x: mixedad.sum(branchy, x), x)}")
    print(mixedad.profile(lambda x: mixedad.sum(branchy, x), x, lines=False))


if __name__ == "__main__":
    main()
