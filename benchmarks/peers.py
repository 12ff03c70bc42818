"""The frameworks the suite measures, behind one interface.

Each :class:`Framework` turns a case (a function ``f(xp, params, *constants)`` written
against an ops namespace ``xp``) into two zero-argument callables, the primal and the
gradient with respect to ``params``, and converts its gradient back to NumPy for the
cross-check. Peers that are not installed are reported as skipped, with the reason.

Everything runs on one CPU thread: the BLAS variables are set by ``benchmarks.timing``
before NumPy loads, ``XLA_FLAGS`` before JAX loads, ``torch.set_num_threads(1)`` for PyTorch.
"""
from __future__ import annotations

import importlib
import os
from typing import Any, Callable

import benchmarks.timing  # noqa: F401  (one BLAS thread, set before NumPy loads)

import numpy as np

import mixedad
from mixedad import nn
from mixedad.core.pytree import flatten, unflatten

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")


def tree_leaves_like(template: Any, tree: Any) -> list[np.ndarray]:
    """``tree``'s leaves as NumPy arrays, in the order of ``template``'s (JAX sorts dict keys)."""
    if isinstance(template, dict):
        return [leaf for key in template for leaf in tree_leaves_like(template[key], tree[key])]
    if isinstance(template, (list, tuple)):
        return [leaf for t, s in zip(template, tree) for leaf in tree_leaves_like(t, s)]
    if hasattr(tree, "detach"):
        tree = tree.detach().numpy()
    return [np.asarray(tree)]


# --- the ops each framework's version of a case calls ----------------------------------------
class NumpyOps:
    """Plain NumPy plus mixedad.nn: what mixedad differentiates, and the NumPy primal."""

    name = "numpy"
    sum, sin, cos, exp, log, tanh, arctan2 = np.sum, np.sin, np.cos, np.exp, np.log, np.tanh, np.arctan2
    diagonal, cholesky, solve = np.diagonal, np.linalg.cholesky, np.linalg.solve
    relu = nn.relu
    map = staticmethod(mixedad.map)
    kron_note = ""
    kron = staticmethod(np.kron)

    @staticmethod
    def conv2d(x, w, b):
        return nn.conv2d(x, w, b)

    @staticmethod
    def max_pool2d(x):
        return nn.max_pool2d(x, 2)

    @staticmethod
    def map_sum(f, x):
        return mixedad.sum(f, x)


def _autograd_ops():
    import autograd.numpy as anp
    from autograd.scipy.signal import convolve

    class AutogradOps:
        name = "autograd"
        sum, sin, cos, exp, log, tanh, arctan2 = anp.sum, anp.sin, anp.cos, anp.exp, anp.log, anp.tanh, anp.arctan2
        cholesky, solve, kron = anp.linalg.cholesky, anp.linalg.solve, anp.kron
        kron_note = ""

        @staticmethod
        def diagonal(a):
            return anp.diagonal(a, 0, -1, -2)  # autograd's rule only takes these axes (same result)

        @staticmethod
        def relu(x):
            return anp.maximum(x, 0.0)

        @staticmethod
        def map(f, x):
            return f(x)  # autograd has no map: its functions are already elementwise

        @staticmethod
        def map_sum(f, x):
            return anp.sum(f(x))

        @staticmethod
        def conv2d(x, w, b):
            # autograd's convolve flips the kernel (a true convolution): flip it back
            out = convolve(x, w[:, :, ::-1, ::-1], axes=([2, 3], [2, 3]), dot_axes=([1], [1]), mode="valid")
            return out + b[None, :, None, None]

        @staticmethod
        def max_pool2d(x):
            n, c, h, w = x.shape
            return anp.max(anp.max(x.reshape(n, c, h // 2, 2, w // 2, 2), axis=5), axis=3)
    return AutogradOps


def _torch_ops(torch):
    functional = torch.nn.functional

    class TorchOps:
        name = "torch"
        sum, sin, cos, exp, log, tanh = torch.sum, torch.sin, torch.cos, torch.exp, torch.log, torch.tanh
        diagonal, cholesky, solve, kron = torch.diagonal, torch.linalg.cholesky, torch.linalg.solve, torch.kron
        relu = torch.relu
        kron_note = ""

        @staticmethod
        def arctan2(x, c):
            return torch.atan2(x, torch.tensor(c, dtype=x.dtype))

        @staticmethod
        def map(f, x):
            return torch.vmap(f)(x.reshape(-1)).reshape(x.shape)

        @staticmethod
        def map_sum(f, x):
            return torch.sum(torch.vmap(f)(x.reshape(-1)))

        @staticmethod
        def conv2d(x, w, b):
            return functional.conv2d(x, w, b)

        @staticmethod
        def max_pool2d(x):
            return functional.max_pool2d(x, 2)
    return TorchOps


def _jax_ops(jax):
    jnp, lax = jax.numpy, jax.lax

    class JaxOps:
        name = "jax"
        sum, sin, cos, exp, log, tanh, arctan2 = jnp.sum, jnp.sin, jnp.cos, jnp.exp, jnp.log, jnp.tanh, jnp.arctan2
        diagonal, cholesky, solve, kron = jnp.diagonal, jnp.linalg.cholesky, jnp.linalg.solve, jnp.kron
        relu = jax.nn.relu
        kron_note = ""

        @staticmethod
        def map(f, x):
            return jax.vmap(f)(x.reshape(-1)).reshape(x.shape)

        @staticmethod
        def map_sum(f, x):
            return jnp.sum(jax.vmap(f)(x.reshape(-1)))

        @staticmethod
        def conv2d(x, w, b):
            out = lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
            return out + b[None, :, None, None]

        @staticmethod
        def max_pool2d(x):
            return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    return JaxOps


# --- frameworks -------------------------------------------------------------------------------
class Framework:
    """One column of the table: a name, whether it is available, and how to run a case."""

    name = ""
    label = ""
    primal_label = ""  # the primal this framework's ratio is taken against
    available = True
    note = ""

    def callables(self, f: Callable, params: Any, constants: tuple) -> tuple[Callable, Callable]:
        """(primal, gradient): zero-argument callables; gradient() returns the gradient tree."""
        raise NotImplementedError


class Mixedad(Framework):
    primal_label = "NumPy"

    def __init__(self, mode: str):
        self.mode = mode
        self.name = f"mixedad-{mode}"
        self.label = f"mixedad {mode}"
        self.note = f"mixedad {mixedad.__version__}, mode={mode!r}"

    def callables(self, f, params, constants):
        def primal():
            return f(NumpyOps, params, *constants)

        def gradient():
            return mixedad.gradient(lambda p, *c: f(NumpyOps, p, *c), params, *constants, mode=self.mode)
        return primal, gradient


class Autograd(Framework):
    name, label, primal_label = "autograd", "autograd", "autograd.numpy"

    def __init__(self):
        try:
            self.autograd = importlib.import_module("autograd")
            self.ops = _autograd_ops()
            version = getattr(self.autograd, "__version__", None)
            if version is None:
                from importlib.metadata import version as package_version
                version = package_version("autograd")
            self.note = f"HIPS autograd {version}"
        except ImportError:
            self.available, self.note = False, "HIPS autograd not installed (pip install autograd)"

    def callables(self, f, params, constants):
        grad = self.autograd.grad(lambda p, *c: f(self.ops, p, *c))
        return (lambda: f(self.ops, params, *constants)), (lambda: grad(params, *constants))


class Torch(Framework):
    name, label, primal_label = "torch", "PyTorch", "PyTorch"

    def __init__(self):
        try:
            self.torch = importlib.import_module("torch")
        except ImportError:
            self.available, self.note = False, "PyTorch not installed (pip install torch)"
            return
        self.torch.set_num_threads(1)
        try:
            self.torch.set_num_interop_threads(1)
        except RuntimeError:  # already set: it can only be set once per process
            pass
        self.ops = _torch_ops(self.torch)
        self.note = f"PyTorch {self.torch.__version__} eager, CPU, {self.torch.get_num_threads()} thread"

    def callables(self, f, params, constants):
        torch = self.torch
        leaves, definition = flatten(params)
        tensors = [torch.from_numpy(np.array(leaf)).requires_grad_(True) for leaf in leaves]
        tree = unflatten(definition, tensors)
        plain = [torch.from_numpy(np.array(c)) if isinstance(c, np.ndarray) else c for c in constants]

        def primal():
            with torch.no_grad():
                return f(self.ops, tree, *plain)

        def gradient():
            for t in tensors:
                t.grad = None
            f(self.ops, tree, *plain).backward()
            return unflatten(definition, [t.grad for t in tensors])
        return primal, gradient


class Jax(Framework):
    def __init__(self, jit: bool):
        self.jit = jit
        self.name = "jax-jit" if jit else "jax"
        self.label = "JAX jit" if jit else "JAX"
        self.primal_label = "JAX jit" if jit else "JAX"
        try:
            self.jax = importlib.import_module("jax")
        except ImportError:
            self.available, self.note = False, "JAX not installed (pip install jax jaxlib)"
            return
        self.jax.config.update("jax_enable_x64", True)  # the float64 cases stay float64
        self.ops = _jax_ops(self.jax)
        self.note = f"JAX {self.jax.__version__} CPU, {'jit' if jit else 'eager (no jit)'}, XLA on one thread"

    def callables(self, f, params, constants):
        jax = self.jax
        to_device = lambda value: jax.device_put(value) if isinstance(value, np.ndarray) else value  # noqa: E731
        tree = jax.tree_util.tree_map(to_device, params)
        plain = [to_device(c) for c in constants]

        def function(p, *c):
            return f(self.ops, p, *c)
        primal_fn, grad_fn = function, jax.grad(function)
        if self.jit:
            primal_fn, grad_fn = jax.jit(primal_fn), jax.jit(grad_fn)
        return (lambda: jax.block_until_ready(primal_fn(tree, *plain)),
                lambda: jax.block_until_ready(grad_fn(tree, *plain)))


def frameworks(include_peers: bool = True) -> list[Framework]:
    """Every column, in table order; peers that are missing are present with available=False."""
    columns: list[Framework] = [Mixedad("auto"), Mixedad("reverse")]
    if include_peers:
        columns += [Autograd(), Torch(), Jax(jit=False), Jax(jit=True)]
    return columns
