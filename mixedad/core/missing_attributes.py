"""The ndarray attributes that traced values and forward duals lack, each answering with an error
that names the feature and a way out.

They are descriptors on the class rather than a ``__getattr__``: CPython does not specialize
attribute reads on a class that defines ``__getattr__``, and the engine reads its values' slots
several times per operation (0.3 us of a 3.3 us tape operation).
"""
from __future__ import annotations

import numpy as np

from .errors import UnsupportedAttributeError, error_with_location

_ATTRIBUTE_HINTS = {
    "flat": "Use x.ravel() (or x.reshape(-1)) and index that.",
    "view": "Use x itself; for another dtype, x.astype(dtype).",
    "tobytes": "Serialize the result outside the differentiated function.",
    "tofile": "Save the result outside the differentiated function.",
    "itemset": "Build a new array: np.where(mask, value, x).",
    "setfield": "Build a new array instead.",
    "byteswap": "Byte order cannot change a derivative; drop the call.",
    "strides": "Differentiated values have no memory layout. For windows (im2col, convolutions), use "
               "np.lib.stride_tricks.sliding_window_view(x, window_shape), which mixedad differentiates.",
    "flags": "Differentiated values have no memory layout to test or change: use x as it is.",
}


def missing_attribute(value, name: str, what: str) -> AttributeError:
    """The error for an attribute ``value`` lacks: an ndarray feature is named, with a way out
    (also an AttributeError, so ``hasattr`` answers)."""
    if name.startswith("__") or not hasattr(np.ndarray, name):
        return AttributeError(f"'{type(value).__name__}' object has no attribute '{name}'")
    return error_with_location(
        UnsupportedAttributeError, f"x.{name} is not supported on {what}{{where}}. "
        + _ATTRIBUTE_HINTS.get(name, "Use the NumPy function of the same name, or compute this outside the "
                                     "differentiated function."), skip=2)


class _MissingNdarrayAttribute:
    """An ndarray attribute that a class lacks: reading it from a value raises ``missing_attribute``'s
    error; on the class it is absent, so ``hasattr(Traced, name)`` stays False."""

    __slots__ = ("name", "what")

    def __init__(self, name: str, what: str):
        self.name = name
        self.what = what

    def __get__(self, value, owner=None):
        if value is None:
            raise AttributeError(f"type object '{owner.__name__}' has no attribute '{self.name}'")
        raise missing_attribute(value, self.name, self.what)


def refuse_missing_ndarray_attributes(cls: type, what: str) -> None:
    """Give ``cls`` an answering descriptor for each public ndarray attribute it lacks (call it
    once the class has all its methods); ``what`` names its values in the errors ("traced values")."""
    for name in dir(np.ndarray):
        if not name.startswith("__") and not hasattr(cls, name):
            setattr(cls, name, _MissingNdarrayAttribute(name, what))
