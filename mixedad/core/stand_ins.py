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

from .tape import leads_to_constants

_SET_CLASS = object.__dict__["__class__"].__set__  # __class__ stays assignable (traced values change kind)


def _asked_by_mixedad(frame) -> bool:
    name = frame.f_globals.get("__name__") or ""
    if name.startswith("mixedad."):
        return not name.startswith("mixedad.examples.")  # (the examples are user code)
    return frame.f_code.co_filename.startswith("<mixedad ")  # generated regions and programs


def class_seen_by_user(stands_for_an_array: Callable[[Any], bool]) -> property:
    """A ``__class__`` that is ``np.ndarray`` to code outside mixedad when
    ``stands_for_an_array(value)``, and the value's own type otherwise."""
    def get(value):
        if stands_for_an_array(value) and not _asked_by_mixedad(sys._getframe(1)):
            return np.ndarray
        return type(value)
    return property(get, _SET_CLASS)


def computed_from_constants(value: Any) -> bool:
    """Whether a traced value stands for a plain array of a plain call: a prepared recording's
    value that leads to its traced constants only, no differentiated input."""
    if value._trace.program is None:  # (only prepared recordings trace constants)
        return False
    expr = value._expr
    if expr is not None:  # lazy: a region whose inputs are all constants has none (they are ValueOf)
        return not expr.inputs
    return value._entry is not None and leads_to_constants(value._entry)
