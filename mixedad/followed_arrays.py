"""Integer, boolean and complex arrays ``mixedad.map`` maps over, followed while f runs on whole arrays.

``mixedad.map(f, x, labels)`` means ``f(x[i], labels[i])`` for each element. Run once on the
whole arrays, ``f`` gives the same only if no output element reads another's input: ``x *
np.sum(labels)`` sums every label, not the one of each element. Float arrays are followed on a
trace (``mapping._mixes_elements``); integer and boolean ones cannot be (their results carry no
derivative, so no tape entry records them), nor complex ones (traced, they would be complex
differentiated values), so they run as a ``FollowedArray``, which notes each
operation that may read across elements: a reduction, an index, a NumPy function that is not
elementwise, a method that is not.
"""
from __future__ import annotations

from typing import Any

import numpy as np

# NumPy functions that work element by element (on each element of their array arguments alone)
_ELEMENTWISE_FUNCTIONS = frozenset({
    np.where, np.clip, np.round, np.around, np.real, np.imag, np.angle, np.isclose, np.nan_to_num, np.fix,
    np.sinc, np.i0, np.isreal, np.iscomplex, np.result_type, np.can_cast, np.iscomplexobj, np.isrealobj,
    np.copy, np.astype,
})

# The ndarray methods written in C that read across elements without NumPy's dispatch (the
# reductions among ndarray's methods, sum() or max(), reach ``__array_ufunc__`` as ``reduce``)
_MIXING_METHODS = ("argmax", "argmin", "argsort", "argpartition", "sort", "partition", "searchsorted", "nonzero",
                   "reshape", "ravel", "flatten", "transpose", "swapaxes", "repeat", "take", "put", "compress",
                   "choose", "diagonal", "trace", "dot", "tolist", "item", "fill", "resize", "squeeze")


class FollowedArray(np.ndarray):
    """An array mapped over, whose operations that may read across elements are noted in
    ``self._mixing`` (a list shared with the arrays computed from it)."""

    _mixing: list

    def __array_finalize__(self, obj: Any) -> None:
        self._mixing = getattr(obj, "_mixing", None)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__":
            self._note(f"np.{ufunc.__name__}.{method}")
        if "out" in kwargs:
            self._note(f"np.{ufunc.__name__}(out=...)")
            kwargs["out"] = tuple(_plain(out) for out in kwargs["out"])
        result = getattr(ufunc, method)(*[_plain(value) for value in inputs], **kwargs)
        if method != "__call__":
            return result
        return tuple(self._followed(part) for part in result) if type(result) is tuple else self._followed(result)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func not in _ELEMENTWISE_FUNCTIONS:
            self._note(f"np.{func.__name__}")
        result = super().__array_function__(func, types, args, kwargs)
        return self._followed(result)  # (np.where gives a plain array: its elements come from this one)

    def _followed(self, value: Any) -> Any:
        if type(value) is np.ndarray:
            return followed(value, self._mixing)
        return value

    def _note(self, what: str) -> None:
        self._mixing.append(what)

    def __getitem__(self, key: Any) -> Any:
        self._note("indexing")
        return super().__getitem__(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._note("an assignment into it")
        super().__setitem__(key, value)

    def __len__(self) -> int:
        self._note("len()")
        return super().__len__()

    def __iter__(self) -> Any:
        self._note("iteration")
        return super().__iter__()


def _noting(name: str) -> Any:
    method = getattr(np.ndarray, name)

    def noted(self, *args: Any, **kwargs: Any) -> Any:
        self._note(f".{name}()")
        return method(self, *args, **kwargs)
    noted.__name__ = name
    return noted


for _name in _MIXING_METHODS:
    setattr(FollowedArray, _name, _noting(_name))
for _name in ("T", "mT", "flat", "shape", "size", "ndim"):  # what an element (a NumPy scalar) has otherwise
    setattr(FollowedArray, _name, property(lambda self, _name=_name: (self._note(f".{_name}"),
                                                                       getattr(_plain(self), _name))[1]))


def _plain(value: Any) -> Any:
    return np.ndarray.view(value, np.ndarray) if isinstance(value, FollowedArray) else value


def followed(array: np.ndarray, mixing: list) -> FollowedArray:
    """``array`` as a ``FollowedArray`` that notes into ``mixing``."""
    value = np.ndarray.view(array, FollowedArray)
    value._mixing = mixing
    return value
