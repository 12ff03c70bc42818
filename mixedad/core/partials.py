"""Ways to declare an elementwise partial derivative beyond a number or a function.

Kept apart from ``primitive`` so that the region evaluator can recognise them without
importing the primitive machinery that itself depends on regions.
"""
from __future__ import annotations

import numpy as np


class UfuncOf:
    """A partial derivative that is another ufunc of the same argument, times a constant:
    ``UfuncOf(np.cos)`` for sin, ``UfuncOf(np.sin, -1)`` for cos. Declared this way, a dual
    region reuses a value it already computed (sin and cos of the same x) instead of
    recomputing the transcendental."""

    __slots__ = ("ufunc", "scale")

    def __init__(self, ufunc: np.ufunc, scale: int | float = 1):
        self.ufunc = ufunc
        self.scale = scale

    def __call__(self, x):
        value = self.ufunc(x)
        return value if self.scale == 1 else self.scale * value

    def __repr__(self) -> str:
        return f"UfuncOf({self.ufunc.__name__}{'' if self.scale == 1 else f', {self.scale}'})"
