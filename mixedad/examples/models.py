"""The seed models: an MLP and a LeNet-style conv net, written with mixedad.nn on parameter dicts.

Both take a float32 NCHW batch (the seed batch is 128 x 1 x 28 x 28) and return logits
(N, 10). The seed benchmark differentiates ``sum(model(params, images) ** 2)`` with respect
to every parameter (:func:`sum_of_squares`):

>>> import numpy as np, mixedad
>>> from mixedad.examples.models import lenet, lenet_params, seed_batch, sum_of_squares
>>> rng = np.random.default_rng(0)
>>> params, images = lenet_params(rng), seed_batch(rng)
>>> grads = mixedad.gradient(sum_of_squares(lenet), params, images)
>>> grads["conv1"]["weight"].shape, grads["fc3"]["bias"].dtype
((6, 1, 5, 5), dtype('float32'))
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import nn

Params = dict[str, dict[str, np.ndarray]]


def seed_batch(rng: np.random.Generator, batch: int = 128, image_size: int = 28) -> np.ndarray:
    """The seed thread's input: uniform [0, 1) float32 images of shape (batch, 1, size, size)."""
    return rng.random((batch, 1, image_size, image_size), dtype=np.float32)


def _dense_params(rng, n_in, n_out, dtype, gain=2.0):
    return {"weight": (rng.standard_normal((n_in, n_out)) * np.sqrt(gain / n_in)).astype(dtype),
            "bias": np.zeros(n_out, dtype)}


def _conv_params(rng, c_in, c_out, kernel, dtype):
    fan_in = c_in * kernel * kernel
    return {"weight": (rng.standard_normal((c_out, c_in, kernel, kernel)) * np.sqrt(2.0 / fan_in)).astype(dtype),
            "bias": np.zeros(c_out, dtype)}


# --- the MLP ---------------------------------------------------------------------------------
def mlp_params(rng: np.random.Generator, n_in: int = 784, hidden: int = 32, n_out: int = 10,
               dtype=np.float32) -> Params:
    """Parameters of :func:`mlp`: ``{"fc1": {"weight": (784, 32), "bias": (32,)}, "fc2": ...}``."""
    return {"fc1": _dense_params(rng, n_in, hidden, dtype, gain=1.0),
            "fc2": _dense_params(rng, hidden, n_out, dtype, gain=1.0)}


def mlp(params: Params, images: Any) -> Any:
    """flatten -> dense 784->32 -> tanh -> dense 32->10.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> mlp(mlp_params(rng), seed_batch(rng, batch=4)).shape
    (4, 10)
    """
    h = np.tanh(nn.dense(nn.flatten(images), params["fc1"]["weight"], params["fc1"]["bias"]))
    return nn.dense(h, params["fc2"]["weight"], params["fc2"]["bias"])


# --- the LeNet-style conv net ---------------------------------------------------------------------
def lenet_params(rng: np.random.Generator, image_size: int = 28, kernel_size: int = 5, padding: int = 0,
                 in_channels: int = 1, n_out: int = 10, dtype=np.float32) -> Params:
    """Parameters of :func:`lenet` for square images of ``image_size`` pixels.

    The defaults are the seed net (28x28: conv 5x5 1->6, pool, conv 5x5 6->16, pool, 256
    features, 120, 84, 10). For 8x8 digits use ``kernel_size=3, padding=1`` (64 features);
    pass the same ``padding`` to :func:`lenet`.
    """
    size = image_size
    for _ in range(2):  # conv (stride 1) then a 2x2 pool, twice
        size = (size + 2 * padding - kernel_size + 1) // 2
    if size < 1:
        raise ValueError(f"lenet: {image_size}x{image_size} images are too small for {kernel_size}x{kernel_size} "
                         f"kernels with padding {padding}")
    return {"conv1": _conv_params(rng, in_channels, 6, kernel_size, dtype),
            "conv2": _conv_params(rng, 6, 16, kernel_size, dtype),
            "fc1": _dense_params(rng, 16 * size * size, 120, dtype),
            "fc2": _dense_params(rng, 120, 84, dtype),
            "fc3": _dense_params(rng, 84, n_out, dtype, gain=1.0)}


def lenet(params: Params, images: Any, padding: int = 0) -> Any:
    """conv -> relu -> maxpool 2 -> conv -> relu -> maxpool 2 -> flatten -> 120 relu -> 84 relu -> 10.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> lenet(lenet_params(rng), seed_batch(rng, batch=2)).shape
    (2, 10)
    """
    h = images
    for name in ("conv1", "conv2"):
        h = nn.relu(nn.conv2d(h, params[name]["weight"], params[name]["bias"], padding=padding))
        h = nn.max_pool2d(h, 2)
    h = nn.flatten(h)
    h = nn.relu(nn.dense(h, params["fc1"]["weight"], params["fc1"]["bias"]))
    h = nn.relu(nn.dense(h, params["fc2"]["weight"], params["fc2"]["bias"]))
    return nn.dense(h, params["fc3"]["weight"], params["fc3"]["bias"])


def sum_of_squares(model: Callable[..., Any]) -> Callable[..., Any]:
    """The seed benchmark's loss for ``model``: ``sum(model(params, images, ...) ** 2)``."""
    def loss(params, images, *args, **kwargs):
        return np.sum(model(params, images, *args, **kwargs) ** 2)
    loss.__name__ = f"sum_of_squares_{getattr(model, '__name__', 'model')}"
    return loss
