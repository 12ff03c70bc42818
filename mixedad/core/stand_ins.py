"""What ``isinstance(value, np.ndarray)`` answers in the user's function for the values a
prepared recording hands it where a plain call hands it ndarrays.

``mixedad.gradient`` gives f the other (non-differentiated) arguments as they are, and
whatever f computes from them alone is a plain ndarray. A prepared recording gives f stand-ins
for them, so that replays can take new values: their float arrays as traced constants (and
what f computes from those alone is traced too), their integer and bool arrays and the masks f
compares as ``Recomputed`` values. A branch on ``isinstance(v, np.ndarray)`` must go the plain
call's way there, or the recorded program is not the one f runs (a silently different
gradient). So the stand-ins' ``__class__``, which ``isinstance`` asks after the real type,
answers ``np.ndarray`` to code outside mixedad (``functools.singledispatch`` asks it too).
``type(v)`` cannot be answered so: docs/getting-started.md says so.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

from .tape import value_leads_to_constants

_SET_CLASS = object.__dict__["__class__"].__set__  # __class__ stays assignable (traced values change kind)


def _asked_by_mixedad(frame) -> bool:
    name = frame.f_globals.get("__name__") or ""
    if name.startswith("mixedad."):
        return not name.startswith("mixedad.examples.")  # (the examples are user code)
    return frame.f_code.co_filename.startswith("<mixedad ")  # generated regions and programs


def class_seen_by_user(plain_class: Callable[[Any], type | None]) -> property:
    """A ``__class__`` that is ``plain_class(value)`` to code outside mixedad (the class of what
    a plain call would give: ``np.ndarray``, or a NumPy scalar type such as ``np.int64`` for
    ``labels.sum()``), or the value's own type where that is None."""
    def get(value):
        kind = plain_class(value)
        if kind is not None and not _asked_by_mixedad(sys._getframe(1)):
            return kind
        return type(value)
    return property(get, _SET_CLASS)


def plain_class_of_constant(value: Any) -> type | None:
    """For a traced value that a plain call would have as a plain array or NumPy scalar (a
    prepared recording's value that leads to its traced constants only, no differentiated
    input), that class; else None."""
    if value._trace.program is None:  # (only prepared recordings trace constants)
        return None
    if not value_leads_to_constants(value):
        return None
    return value.dtype.type if value._shape == () and value._holds_a_numpy_scalar() else np.ndarray
