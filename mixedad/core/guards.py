"""Guards on the user's arrays: an array a traced computation read is read-only until the
differentiation ends, since reverse rules and deferred regions read it again later, and a
write in between would silently change the gradient; NumPy then raises at the write, and
``guarded_write_error`` names it."""
from __future__ import annotations

import threading
import traceback
from typing import TYPE_CHECKING

import numpy as np

from .conversions import STORING, store_advice
from .errors import (InPlaceMutationError, MixedadError, NonDifferentiableError, SourceLocation, describe_location,
                     in_numpy, is_internal, numpy_name)

if TYPE_CHECKING:  # (for annotations only)
    from .tape import Trace

# The user's arrays that traces keep read-only, by id: (array, how many traces guard it).
# Traces in other threads (or nested ones) may guard the same array: it becomes writeable
# again when the last of them ends, not the first.
_GUARDS: dict[int, list] = {}
_GUARDS_LOCK = threading.Lock()


def borrow(trace, array: np.ndarray) -> None:
    """Note a user's array that the tape holds: a gradient must never be it (``borrowed``),
    and it is read-only, with the arrays it is a view of, until the differentiation ends:
    reverse rules and deferred regions read it again later, so a write in between would
    silently change the gradient. NumPy raises at such a write; ``guarded_write_error`` then
    names it. (A write through another view of the same memory made before is not caught:
    NumPy keeps no list of an array's views.)"""
    key = id(array)
    trace.borrowed.add(key)
    guarded = trace.guarded
    if key in guarded and guarded[key][1] is array:
        return  # this trace guards it, and the arrays it views, already
    if type(array) is np.ndarray and array.base is None:
        chain = (array,)  # it owns its memory (the common case)
    else:
        chain = []
        while isinstance(array, np.ndarray):
            chain.append(array)
            array = array.base
    with _GUARDS_LOCK:
        for depth, member in enumerate(reversed(chain)):  # depth 0: the array owning the memory
            key = id(member)
            if key in guarded:
                continue
            guard = _GUARDS.get(key)
            if guard is not None and guard[0] is member:  # another trace guards it: one more
                guard[1] += 1
            elif member.flags.writeable:
                member.flags.writeable = False
                _GUARDS[key] = [member, 1]
            else:
                continue  # read-only of its own: left as it is
            guarded[key] = (depth, member)


def _depth(item) -> int:
    return item[1][0]


def release_guards(trace: Trace) -> None:
    """Undo what tracing did to the user's objects when the trace ends: the guarded arrays
    become writeable again (owners before their views, NumPy's rule) unless another trace
    still guards them, and the values that in-place operators retired become traced values
    again, so that a prepared program can replay the steps that read them (the user cannot use
    them any more: the trace is over), and bases forget their views, so that the tape is freed
    as soon as nothing refers to it."""
    for value, kind in trace.retired:
        value.__class__ = kind
    trace.retired = []
    trace.shared_argument = None  # (it refers to the inputs, which refer to the trace)
    for mask in trace.recomputed:
        mask.freeze()
    trace.recomputed = []
    for base in trace.view_bases:
        base._views = None
    trace.view_bases = []
    guarded = trace.guarded
    if not guarded:
        return
    # owners last in the list, so first off it: a Ctrl-C (KeyboardInterrupt) in the first pass
    # would leave the user's arrays read-only for good, so the rest is released on the way out
    pending = sorted(guarded.items(), key=_depth, reverse=True)
    trace.guarded = {}
    try:
        _release(pending)
    finally:
        if pending:
            _release(pending)


def _release(pending: list) -> None:
    """Release the guards in ``pending``, taking each off the list once done, so that a pass
    stopped midway can be finished by another."""
    with _GUARDS_LOCK:
        while pending:
            key, (_, array) = pending[-1]
            guard = _GUARDS.get(key)
            if guard is not None and guard[0] is array:
                if guard[1] > 1:
                    guard[1] -= 1
                else:
                    _make_writeable(array)
                    del _GUARDS[key]
                    for view in guard[2:]:
                        _make_writeable(view)
            pending.pop()


def _make_writeable(array: np.ndarray) -> None:
    """Make a guarded array writeable again. A view whose owner another trace still guards
    cannot be: it waits on the owner's guard (``[owner, count, waiting views...]``)."""
    try:
        array.flags.writeable = True
    except ValueError:
        base = array.base
        while isinstance(base, np.ndarray):
            guard = _GUARDS.get(id(base))
            if guard is not None and guard[0] is base:
                guard.append(array)
                return
            base = base.base
        _make_writeable_under_read_only_bases(array)


def _make_writeable_under_read_only_bases(view: np.ndarray) -> None:
    """A view the user could write into, of arrays read-only of their own (made so after the
    view was taken): NumPy sets a view's flag only while its bases are writeable, so they are
    for that moment, and read-only again after it."""
    read_only, base = [], view.base
    while isinstance(base, np.ndarray):
        if not base.flags.writeable:
            read_only.append(base)
        base = base.base
    made_writeable = []
    try:
        for base in reversed(read_only):  # the owner first, as NumPy requires
            base.flags.writeable = True
            made_writeable.append(base)
        view.flags.writeable = True
    except ValueError:
        pass  # memory that was never writeable (np.frombuffer of bytes): the view cannot be either
    finally:
        for base in made_writeable:
            base.flags.writeable = False


# What to write instead, for NumPy functions known to write into what they computed from an
# argument they do not dispatch on
_NUMPY_WRITES = {
    "np.histogram": (" NumPy dispatches np.histogram on a, bins and weights, not on range: pass the edges as "
                     "bins instead, np.histogram(a, bins=np.histogram_bin_edges(a, bins, range=(lo, hi))), which "
                     "gives the same counts, and edges that move with lo and hi."),
}


def check_guards_held(trace) -> None:
    """Raise if an array the trace keeps read-only was made writeable again (``a.flags.writeable =
    True``, ``a.setflags(write=True)``) before the differentiation ended: a write may have followed,
    which NumPy then allowed, changing values that the reverse pass reads again."""
    for _, array in trace.guarded.values():
        if array.flags.writeable:
            raise InPlaceMutationError(
                f"An array of shape {array.shape} ({array.dtype}) that the differentiated function read was "
                "made writeable again (a.flags.writeable = True, or a.setflags(write=True)) before the "
                "differentiation ended. mixedad keeps the arrays it read read-only until then, since the "
                "reverse pass reads them again: a write in between would change the gradient silently. "
                "Leave the array read-only, and write into a copy of it (a = a.copy()).")


def _where_raised(error: BaseException) -> tuple:
    """From ``error``'s traceback: the user's innermost line (a ``SourceLocation``), its frame,
    and the NumPy function (Python code, not a Cython routine) it called that raised, or None."""
    location = inside = user_frame = None
    for frame, line in traceback.walk_tb(error.__traceback__):  # outermost first
        filename = frame.f_code.co_filename
        if not is_internal(filename):
            location, inside, user_frame = SourceLocation(filename, line, frame.f_code.co_name), None, frame
        elif inside is None and location is not None and in_numpy(filename) and filename.endswith(".py"):
            # (a Cython routine, rng.shuffle: the user's call wrote, not NumPy's code run on traced values)
            inside = numpy_name(frame)
    return location, user_frame, inside


def _store_error(location, user_frame) -> MixedadError | None:
    """The error for a differentiated value stored into a plain array on the user's line, or None."""
    stored = store_advice(user_frame)
    if stored is None:
        return None
    return NonDifferentiableError(STORING.format(where=describe_location(location)) + stored)


def flat_store_error(error: ValueError) -> MixedadError | None:
    """mixedad's error for ``a.flat[i] = v`` with a differentiated ``v`` (NumPy's setter replaces
    the error that ``float(v)`` raised by its own), or None if the user's line stores no such value."""
    location, user_frame, _ = _where_raised(error)
    return _store_error(location, user_frame)


def guarded_write_error(trace, error: BaseException) -> MixedadError | None:
    """The error to raise instead of NumPy's when ``f`` wrote into a guarded array, or None."""
    if not isinstance(error, ValueError):
        return None
    if str(error) == "Error setting single item of array.":  # (a.flat[i] = v: NumPy drops float()'s error)
        return flat_store_error(error)
    if not trace.guarded or "read-only" not in str(error):
        return None
    location, user_frame, inside = _where_raised(error)
    stored = _store_error(location, user_frame) if inside is None else None
    if stored is not None:  # NumPy refused the read-only array before it would have refused the value
        return stored
    if inside is not None:  # NumPy's own code ran on traced values (an argument it does not dispatch on)
        return InPlaceMutationError(
            f"{inside}{describe_location(location)} wrote into an array that a differentiated operation "
            f"read, which mixedad keeps read-only until the gradient is computed: NumPy ran its own code on "
            f"differentiated values, as it does for the arguments it does not dispatch on."
            f"{_NUMPY_WRITES.get(inside, '')} Else compute this outside the differentiated function, or from "
            "plain values.")
    return InPlaceMutationError(
        f"A NumPy array that the differentiated computation already read was written to"
        f"{describe_location(location)}. mixedad keeps such arrays read-only until the gradient "
        "is computed: the backward pass reads them again, and the write would change the "
        "gradient silently. Write into a copy (a = a.copy() before changing it) or build a new "
        "array (np.where, np.concatenate). If what is written is a differentiated value, a NumPy "
        "array cannot hold it in any case: make the array from a differentiated one "
        "(np.zeros_like(x), x differentiated).")
