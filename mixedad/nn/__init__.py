"""Neural-network operations on plain NumPy arrays, differentiable by mixedad.

Every function takes and returns ordinary ndarrays (NCHW layout for images) and works with
or without :func:`mixedad.gradient` around it. Where a hand-written rule beats tracing the
NumPy code, the function is a :func:`mixedad.primitive`: elementwise ones (relu, sigmoid,
softplus, gelu) fuse into dual regions; conv2d, the pools, softmax, log_softmax,
logsumexp and cross_entropy have reverse rules. Static arguments (stride, axis, ...) are
never differentiated.

>>> import numpy as np, mixedad
>>> from mixedad import nn
>>> x = np.ones((2, 1, 4, 4), np.float32)
>>> w = np.ones((3, 1, 3, 3), np.float32)
>>> def loss(w):
...     h = nn.relu(nn.conv2d(x, w, padding=1))
...     return np.sum(nn.max_pool2d(h, 2))
>>> mixedad.gradient(loss, w).shape
(3, 1, 3, 3)
"""
from .activations import gelu, log_softmax, logsumexp, relu, sigmoid, softmax, softplus
from .convolution import conv2d
from .pooling import avg_pool2d, max_pool2d
from .layers import cross_entropy, dense, flatten, mse

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "relu", "sigmoid", "softplus", "gelu", "softmax",
           "log_softmax", "logsumexp", "cross_entropy", "mse", "dense", "flatten"]
