"""What the checkers share: default tolerances and steps, finite differences with one
Richardson step, random projections, the checked arguments' leaves, and the comparison that
allows for float64 rounding in the finite difference (``mixedad.checking``)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .api import gradient
from .core.errors import MixedadError
from .core.primitive import Primitive
from .core.pytree import flatten, unflatten

TOLERANCES = {
    np.dtype(np.float16): (5e-2, 1e-3),
    np.dtype(np.float32): (1e-3, 1e-5),
    np.dtype(np.float64): (1e-6, 1e-10),
}
SECOND_ORDER_TOLERANCE = (1e-4, 1e-8)
FIRST_ORDER_STEP = 1e-3  # with one Richardson step: truncation ~ step**4, rounding ~ 1e-16 / step
SECOND_ORDER_STEP = 1e-2
_EPS = float(np.finfo(np.float64).eps)

_MODE_NAMES = {"rev": "rev", "reverse": "rev", "fwd": "fwd", "forward": "fwd"}
_ENGINE_MODE = {"rev": "reverse", "fwd": "forward"}
_MODE_WORDS = {"auto": "dual region", "forward": "dual region", "reverse": "reverse tape"}


# --- small helpers --------------------------------------------------------------------------
def _name(f: Any) -> str:
    if isinstance(f, Primitive):
        return f.name
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or repr(f)


def _is_float_leaf(leaf: Any) -> bool:
    if isinstance(leaf, float):
        return True
    return isinstance(leaf, (np.ndarray, np.generic)) and leaf.dtype.kind == "f"


def _leaf_dtype(leaf: Any) -> np.dtype:
    return np.dtype(np.float64) if isinstance(leaf, float) else leaf.dtype


def _as_float64(tree: Any) -> Any:
    leaves, definition = flatten(tree)
    return unflatten(definition, [np.asarray(x, np.float64) if _is_float_leaf(x) else x for x in leaves])


def _tolerances(dtype: np.dtype, rtol: float | None, atol: float | None) -> tuple[float, float]:
    default_rtol, default_atol = TOLERANCES.get(np.dtype(dtype), TOLERANCES[np.dtype(np.float64)])
    return (default_rtol if rtol is None else rtol), (default_atol if atol is None else atol)


def _direction(rng, shape) -> np.ndarray:
    """A random float64 direction scaled to max |entry| = 1: a step of h moves no entry more than h."""
    z = rng.standard_normal(shape)
    peak = np.max(np.abs(z)) if z.size else 0.0
    return z / peak if peak > 0 else z


def _richardson(phi: Callable[[float], Any], h: float) -> Any:
    """d/dt phi(t) at 0 from central differences at h and h/2, combined to cancel the h**2 term."""
    coarse = (phi(h) - phi(-h)) / (2 * h)
    fine = (phi(h / 2) - phi(-h / 2)) / h
    return (4 * fine - coarse) / 3


def _relative(difference: float, scale: float) -> float:
    return difference / scale if scale > 0 else (0.0 if difference == 0 else float("inf"))


def _project(output: Any, cotangents: Sequence[Any]) -> Any:
    """sum_k <output leaf k, u_k>: a scalar, traced when the output is."""
    total = 0.0
    for leaf, u in zip(flatten(output)[0], cotangents):
        if u is not None:
            total = total + np.sum(leaf * u)
    return total


def _rounding_noise(f, args64, u64, step: float, order: int = 1) -> float:
    """What float64 rounding of ``<u, f>`` can contribute to a finite difference with this step
    (after the Richardson step): ``3 eps S / step`` for a first derivative, ``6 eps S / step**2``
    for a mixed second one, ``S = sum |u * f|``. It matters when ``f`` is large next to its
    variation (``f(x) = x + 1e6``)."""
    with np.errstate(all="ignore"):
        output = f(*args64)
    size = sum(float(np.sum(np.abs(np.asarray(leaf, np.float64) * u)))
               for leaf, u in zip(flatten(output)[0], u64) if u is not None)
    return 3 * _EPS * size / step if order == 1 else 6 * _EPS * size / (step * step)


class _Slots:
    """The checked arguments' leaves, in order: slot ``(position, leaf index)``."""

    def __init__(self, args: Sequence[Any], argnums: tuple[int, ...]):
        self.args = args
        self.argnums = argnums
        self.leaves = {n: flatten(args[n])[0] for n in argnums}
        self.slots = [(n, i) for n in argnums for i in range(len(self.leaves[n]))]

    def label(self, slot) -> str:
        position, index = slot
        return f"argument {position}" + (f", leaf {index}" if len(self.leaves[position]) > 1 else "")

    def leaf(self, slot):
        return self.leaves[slot[0]][slot[1]]

    def moved(self, base: Sequence[Any], moves: dict) -> list:
        """``base`` (arguments with this structure) with ``moves[slot]`` added to those leaves."""
        point = list(base)
        for n in self.argnums:
            leaves, definition = flatten(point[n])
            point[n] = unflatten(definition, [leaf + moves[n, i] if (n, i) in moves else leaf
                                              for i, leaf in enumerate(leaves)])
        return point

    def gradient_leaves(self, grads) -> dict:
        """``mixedad.gradient``'s result (one tree, or a tuple of them) as ``{slot: leaf}``."""
        trees = tuple(grads) if isinstance(grads, tuple) and len(self.argnums) > 1 else (grads,)
        return {(n, i): leaf for n, tree in zip(self.argnums, trees) for i, leaf in enumerate(flatten(tree)[0])}


def _run_gradient(who: str, loss: Callable, args, slots: _Slots, mode: str) -> dict:
    try:
        grads = gradient(loss, *args, argnums=slots.argnums, mode=mode)
    except MixedadError:
        raise
    except Exception as error:  # a rule raised: that is a failed check, not a crash of the checker
        raise AssertionError(f"{who}: mixedad.gradient(mode={mode!r}) raised "
                             f"{type(error).__name__}: {error}") from error
    return slots.gradient_leaves(grads)


def _compare(got: float, want: float, magnitude: float, noise: float, tolerance, message: str) -> None:
    rtol, atol = tolerance
    scale = max(abs(want), abs(got), magnitude)
    difference = abs(got - want)
    if not difference <= atol + rtol * scale + noise:
        raise AssertionError(f"{message}\n  relative error {_relative(difference, scale):.2e} > rtol "
                             f"{rtol:g} (atol {atol:g}).")
