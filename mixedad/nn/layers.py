"""Layers and losses: dense, flatten, mse, cross_entropy.

dense, flatten and mse are plain NumPy compositions: the engine's matmul rule, reshape
rule and fused dual region (``mean((pred - target)**2)`` is one tape entry) already do
what a hand-written rule would. cross_entropy is a primitive: its rule
``(softmax(logits) - onehot(labels)) / N`` needs neither the log-probabilities nor a
gather of them on the tape.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from ..core.primitive import primitive
from .activations import log_softmax, softmax


def dense(x, weight, bias=None):
    """The affine layer ``x @ weight + bias``: ``x`` is (..., in), ``weight`` (in, out), ``bias`` (out,).

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import dense
    >>> dense(np.ones((2, 3)), np.ones((3, 4)), np.arange(4.0))
    array([[3., 4., 5., 6.],
           [3., 4., 5., 6.]])
    >>> mixedad.gradient(lambda b: np.sum(dense(np.ones((2, 3)), np.ones((3, 4)), b)), np.zeros(4))
    array([2., 2., 2., 2.])
    """
    y = x @ weight
    return y if bias is None else y + bias


def flatten(x, start_axis=1):
    """Merge the axes from ``start_axis`` on into one: (N, C, H, W) -> (N, C * H * W).

    ``start_axis`` may be negative; outside ``-ndim .. ndim - 1`` it raises
    ``numpy.exceptions.AxisError`` (as ``torch.flatten`` raises; a 0-d ``x`` counts as 1-d,
    so the default ``start_axis=1`` needs at least two axes). An empty batch stays empty.

    >>> import numpy as np
    >>> from mixedad.nn import flatten
    >>> flatten(np.zeros((128, 16, 4, 4))).shape
    (128, 256)
    >>> flatten(np.zeros((0, 16, 4, 4))).shape
    (0, 256)
    """
    shape = np.shape(x)
    start_axis = normalize_axis_index(start_axis, max(len(shape), 1), msg_prefix="flatten: start_axis")
    # the merged size spelled out: -1 cannot be inferred from an empty array
    return np.reshape(x, tuple(shape[:start_axis]) + (math.prod(shape[start_axis:]),))


def mse(prediction, target):
    """The mean squared error ``mean((prediction - target) ** 2)`` over every element.

    ``target`` may broadcast against ``prediction`` or the other way round (a scalar, a row),
    but shapes that broadcast to a shape neither has raise ``ValueError``: ``(N, 1)``
    predictions against ``(N,)`` targets would otherwise average an ``N x N`` matrix.

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import mse
    >>> float(mse(np.array([1.0, 3.0]), np.array([0.0, 0.0])))
    5.0
    >>> mixedad.gradient(mse, np.array([1.0, 3.0]), np.zeros(2))
    array([1., 3.])
    """
    shapes = np.shape(prediction), np.shape(target)
    if np.broadcast_shapes(*shapes) not in shapes:
        raise ValueError(f"mse: prediction of shape {shapes[0]} and target of shape {shapes[1]} broadcast to "
                         f"{np.broadcast_shapes(*shapes)}, neither's shape; reshape one to the other's shape "
                         "(for example target.reshape(prediction.shape))")
    return np.mean(np.square(prediction - target))


def _check_labels(logits, labels):
    if np.ndim(logits) != 2 or np.shape(labels) != np.shape(logits)[:1]:
        raise ValueError(f"cross_entropy expects logits (N, classes) and labels (N,); got shapes "
                         f"{np.shape(logits)} and {np.shape(labels)}")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"cross_entropy: labels must be integer class indices, got dtype {labels.dtype}")
    classes = np.shape(logits)[1]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        # indexing would wrap -1 to the last class and silently train towards it
        bad = labels[(labels < 0) | (labels >= classes)][0]
        raise ValueError(f"cross_entropy: label {bad} is outside the {classes} classes 0..{classes - 1}")
    return labels


@primitive(nondiff_argnums=(1,))
def cross_entropy(logits, labels):
    """Mean cross-entropy of integer class ``labels`` (N,) under the softmax of ``logits`` (N, classes).

    Equal to ``-mean(log_softmax(logits)[arange(N), labels])``, computed without
    overflow; differentiable in ``logits``.

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import cross_entropy
    >>> logits = np.zeros((2, 4))
    >>> labels = np.array([0, 3])
    >>> float(cross_entropy(logits, labels)) == float(np.log(4.0))
    True
    >>> mixedad.gradient(cross_entropy, logits, labels)
    array([[-0.375,  0.125,  0.125,  0.125],
           [ 0.125,  0.125,  0.125, -0.375]])
    """
    labels = _check_labels(logits, labels)
    picked = np.take_along_axis(log_softmax.fn(logits, axis=1), labels[:, None], axis=1)
    return -np.mean(picked)


@cross_entropy.defvjp
def _cross_entropy_vjp(g, out, logits, labels):
    labels = np.asarray(labels)
    n = logits.shape[0]
    grad = softmax.fn(logits, axis=1)
    grad[np.arange(n), labels] -= 1
    return grad * (g / n)


@cross_entropy.defjvp
def _cross_entropy_jvp(t, out, logits, labels):
    """<(softmax(logits) - onehot(labels)) / N, t>: the reverse rule's gradient (g = 1) against t."""
    return np.sum(_cross_entropy_vjp(1.0, out, logits, labels) * t)
