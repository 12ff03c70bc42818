"""First-order optimizers over parameter pytrees: SGD (with momentum) and Adam.

Parameters and gradients are any nested dict/list/tuple of arrays with the same structure
(what :func:`mixedad.gradient` returns for such an argument). ``step(params, grads)``
returns the updated parameters as a new tree of the same structure and dtypes; the
optimizer keeps its own state (velocities, moments) between calls, created at the first
step.

>>> import numpy as np, mixedad
>>> from mixedad.optim import Adam
>>> params = {"w": np.array([3.0, -2.0])}
>>> optimizer = Adam(learning_rate=0.1)
>>> for _ in range(300):
...     grads = mixedad.gradient(lambda p: np.sum(p["w"] ** 2), params)
...     params = optimizer.step(params, grads)
>>> bool(np.all(np.abs(params["w"]) < 1e-2))
True
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .core.pytree import LEAF, flatten, leaf_path, unflatten

__all__ = ["Optimizer", "SGD", "Adam"]


class Optimizer:
    """What SGD and Adam share: matching the gradient tree to the parameters, and the state."""

    def __init__(self):
        self.state: list[dict[str, np.ndarray]] | None = None
        self.signature: list[tuple[tuple, np.dtype]] | None = None  # the parameters' shapes and dtypes
        self.definition: Any = None  # the parameter tree the state was made for (dict keys in its order)
        self.steps = 0

    def reset(self) -> None:
        """Forget the state (velocities, moments, step count), as a new optimizer would."""
        self.state = None
        self.signature = None
        self.definition = None
        self.steps = 0

    def step(self, params: Any, grads: Any) -> Any:
        """The parameters after one update with these gradients (a new tree; inputs untouched).

        Raises (and leaves the state as it was) for gradients that do not fit the parameters:
        another structure or shape (``ValueError``), or a complex gradient for a real
        parameter (``TypeError``: its imaginary part would be lost).

        >>> import numpy as np
        >>> SGD(learning_rate=0.5).step({"w": np.array([1.0, 2.0])}, {"w": np.array([2.0, 2.0])})
        {'w': array([0., 1.])}
        """
        name = type(self).__name__
        leaves, definition = flatten(params)
        grad_leaves = _leaves_matching(definition, grads, f"{name}.step")
        signature = [(np.shape(p), np.asarray(p).dtype) for p in leaves]
        state = self.state
        if state is not None:
            def in_this_order(stored: list) -> list:  # paired by key, whatever order a dict lists them in now
                return _leaves_matching(definition, unflatten(self.definition, stored, derivative=True), name)
            try:
                state, recorded = in_this_order(state), in_this_order(self.signature)
            except ValueError:
                recorded = None
            if signature != recorded:
                raise ValueError(f"{name}.step: these parameters' keys, shapes or dtypes differ from those the "
                                 "optimizer's state was made for; call reset() (or use a new optimizer) for other "
                                 "parameters.")
        # every check before any change: a step that raises leaves the state as it was
        tree, params, checked = params, [np.asarray(p) for p in leaves], []
        for index, (param, grad) in enumerate(zip(params, grad_leaves)):
            if param.dtype.kind != "f":
                raise ValueError(f"{name}.step: a parameter of dtype {param.dtype}; parameters must be floats")
            if grad is None or np.shape(grad) != param.shape:
                got = "None" if grad is None else f"a gradient of shape {np.shape(grad)}"
                raise ValueError(f"{name}.step: {got} for a parameter of shape {param.shape}")
            if np.iscomplexobj(grad):  # the cast below would drop the imaginary part, with a mere warning
                raise TypeError(f"{name}.step: the gradient for params{leaf_path(tree, index)} is complex "
                                f"({np.asarray(grad).dtype}) and the parameter real ({param.dtype}); its imaginary part "
                                "would be lost. Pass np.real(gradient) if the real part is the derivative you mean "
                                "(the optimizers update real parameters only: a complex one is two real ones).")
            checked.append(np.asarray(grad, dtype=param.dtype))
        if state is None:
            state = [self._initial_state(p) for p in params]
        self.state, self.signature, self.definition = state, signature, definition
        self.steps += 1
        updated = [self._update(p, g, s) for p, g, s in zip(params, checked, state)]
        # a 0-d array stays one (NumPy's arithmetic on 0-d arrays gives scalars, which refuse p[...] = v)
        return unflatten(definition, [np.asarray(new) if isinstance(old, np.ndarray) and not isinstance(new, np.ndarray)
                                      else new for old, new in zip(leaves, updated)])

    def _initial_state(self, param: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict) -> np.ndarray:
        raise NotImplementedError


def _leaves_matching(definition: Any, grads: Any, where: str, path: str = "params") -> list[Any]:
    """The leaves of ``grads`` in the order of the parameters' leaves (``definition`` is their
    tree's, from ``flatten``): dict entries are paired by key, not by order, and any other
    difference of structure raises."""
    if definition is LEAF:
        return [grads]
    kind = definition[0]
    if kind == "none":
        return []
    _, template, names, children = definition

    def mismatch(what):
        return ValueError(f"{where}: the gradients do not have the parameters' structure at {path} ({what}); "
                          "pass the gradient of these parameters.")
    if kind is dict:
        if not isinstance(grads, dict) or set(grads) != set(names):
            theirs = sorted(map(str, grads)) if isinstance(grads, dict) else type(grads).__name__
            raise mismatch(f"keys {sorted(map(str, names))} against {theirs}")
        parts = [(grads[key], f"{path}[{key!r}]") for key in names]
    elif kind is dataclasses:
        if type(grads) is not type(template):
            raise mismatch(f"{type(template).__name__} against {type(grads).__name__}")
        parts = [(getattr(grads, name), f"{path}.{name}") for name in names]
    else:  # list, tuple, namedtuple
        if not isinstance(grads, (list, tuple)) or len(grads) != len(children):
            theirs = len(grads) if isinstance(grads, (list, tuple)) else type(grads).__name__
            raise mismatch(f"{len(children)} items against {theirs}")
        parts = [(grad, f"{path}[{i}]") for i, grad in enumerate(grads)]
    return [leaf for child, (grad, at) in zip(children, parts) for leaf in _leaves_matching(child, grad, where, at)]


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum and weight decay.

    With momentum ``mu`` the update is ``v = mu v + g; p = p - lr v`` (PyTorch's
    convention); Nesterov uses ``g + mu v`` for the step. ``weight_decay`` adds
    ``weight_decay * p`` to every gradient.

    >>> import numpy as np, mixedad
    >>> from mixedad.optim import SGD
    >>> optimizer = SGD(learning_rate=0.1, momentum=0.5)
    >>> x = np.array([1.0, -1.0])
    >>> for _ in range(200):
    ...     x = optimizer.step(x, mixedad.gradient(lambda x: np.sum(x ** 2), x))
    >>> bool(np.all(np.abs(x) < 1e-6))
    True
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__()
        if not (learning_rate > 0 and 0 <= momentum < 1 and weight_decay >= 0):  # NaN fails too
            raise ValueError("SGD needs learning_rate > 0, 0 <= momentum < 1 and weight_decay >= 0")
        if nesterov and momentum == 0:
            raise ValueError("SGD: Nesterov momentum needs momentum > 0")
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.nesterov = nesterov
        self.weight_decay = float(weight_decay)

    def _initial_state(self, param):
        return {"velocity": np.zeros_like(param)} if self.momentum else {}

    def _update(self, param, grad, state):
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if self.momentum:
            velocity = state["velocity"]
            velocity *= self.momentum
            velocity += grad
            grad = grad + self.momentum * velocity if self.nesterov else velocity
        return param - self.learning_rate * grad


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015): steps scaled by running moments of the gradient.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, and
    ``p = p - lr m_hat / (sqrt(v_hat) + eps)`` with the bias-corrected ``m_hat``,
    ``v_hat``. ``weight_decay`` is decoupled (AdamW): ``p = p - lr weight_decay p``.

    >>> import numpy as np, mixedad
    >>> from mixedad.optim import Adam
    >>> optimizer = Adam(learning_rate=0.05)
    >>> params = [np.float32(2.0) * np.ones(3, np.float32)]
    >>> for _ in range(400):
    ...     params = optimizer.step(params, mixedad.gradient(lambda p: np.sum((p[0] - 1) ** 2), params))
    >>> params[0].dtype, bool(np.allclose(params[0], 1.0, atol=1e-3))
    (dtype('float32'), True)
    """

    def __init__(self, learning_rate: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__()
        if not (learning_rate > 0 and 0 <= beta1 < 1 and 0 <= beta2 < 1 and eps > 0 and weight_decay >= 0):
            raise ValueError("Adam needs learning_rate > 0, 0 <= beta1, beta2 < 1, eps > 0, weight_decay >= 0")
        self.learning_rate = float(learning_rate)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)

    def _initial_state(self, param):
        return {"m": np.zeros_like(param), "v": np.zeros_like(param)}

    def _update(self, param, grad, state):
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        v += (1 - self.beta2) * np.square(grad)
        # the bias corrections folded into the step size (Python floats keep float32 float32)
        step_size = self.learning_rate * math.sqrt(1 - self.beta2 ** self.steps) / (1 - self.beta1 ** self.steps)
        eps = self.eps * math.sqrt(1 - self.beta2 ** self.steps)
        if self.weight_decay:
            param = param * (1 - self.learning_rate * self.weight_decay)
        return param - step_size * m / (np.sqrt(v) + eps)
