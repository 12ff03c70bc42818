"""Assignments into traced arrays: the value an updated array stands for, and its views.

``x[key] = v`` (``Traced.__setitem__``) and ``x += v`` (``Traced._inplace``) record a new value
and turn ``x`` into an :class:`UpdatedTraced`: the engine still reads it as the value it was
(regions and replay steps that read it before), the user's code reaches the new value through it
(``current``), by any name bound to it. A view made by indexing or by a rearranging primitive
with a ``view_inverse`` (reshape, transpose, flip) writes its updates through into the array it
views; views that an update reaches are retired. ``constant_like`` makes the arrays that
``np.zeros_like`` and its kin return for traced values: traced constants, which can then
receive traced values.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import expressions  # (which imports this module: read at call time)
from .arrays import LeveledValue, holds_live_integer, in_layout_of, is_basic_index, memory_owner
from .errors import InPlaceMutationError, error_with_location, user_line
from .tape import CONSTANT_INPUT, LEAF_DECISION, Step, TapeEntry, record
from .traced import Traced, _retire


class Rearranged:
    """How a view made by rearranging its base (reshape, transpose, flip) maps back: ``inverse(view)``
    has the base's shape. ``undo(view, kwargs, base_shape)`` is the primitive's ``view_inverse``."""

    __slots__ = ("undo", "kwargs", "base_shape", "make")

    def __init__(self, undo, kwargs, base_shape, make):
        self.undo = undo
        self.kwargs = kwargs
        self.base_shape = base_shape
        self.make = make  # the primitive's NumPy function: the view of the base

    def inverse(self, view):
        return self.undo(view, self.kwargs, self.base_shape)

    def view(self, base):
        return self.make(base, **self.kwargs)


def view_of(prim, base, kwargs, selection=None):
    """What a view that ``prim`` made of ``base`` can write its updates through into:
    ``(base, key)`` (an index with a basic key, or a ``Rearranged``), else True (updates raise).
    ``selection``: the ``(key, basic)`` pair of a tape entry, when already computed."""
    if base is None:
        return True
    if prim.selection_key is not None:
        key, basic = selection if selection is not None else (prim.selection_key(kwargs), None)
        return (base, key) if (basic if basic is not None else is_basic_index(key)) else True
    if prim.view_inverse is not None:
        return (base, Rearranged(prim.view_inverse, kwargs, base._shape if type(base) is Traced else base.shape,
                                 prim.fn))
    return True


def refuse_write_into_argument(target: Any, skip: int) -> None:
    """Refuse, in a prepared recording, an update in place of a traced constant (the other
    arguments' float arrays): NumPy would write into the caller's array, and so does f under
    ``mixedad.gradient``, but a replay would not. The recording is then made again with those
    arrays as they are (``Prepared._record``), so every call writes into them as NumPy does."""
    entry = target._entry if type(target) is Traced else None
    if entry is not None and entry.label == CONSTANT_INPUT:
        raise error_with_location(
            InPlaceMutationError, "an update in place{where} of an argument's array that a prepared recording "
            "traces as a constant: a replay would not write into the caller's array", skip=skip)


def shared_memory_error(target: Traced, assignment: bool) -> InPlaceMutationError:
    """The error for an update of a traced value that shares memory with another value, which
    NumPy would change too (a view made by np.split, np.einsum, ...)."""
    skip = 2 if assignment else 3  # (frames to the user's line: through Traced.__setitem__, or an operator)
    if assignment:
        return error_with_location(
            InPlaceMutationError,
            "Assignment x[...] = v{where} into a view of another traced array (made by np.split, "
            "np.einsum, broadcast_to, ...): NumPy would write through to that array; mixedad cannot "
            "follow that. Assign into the original array, or copy the view first (v = v.copy()).", skip=skip)
    return error_with_location(
        InPlaceMutationError,
        "In-place update{where} of a traced array that shares memory with another one (a view "
        "made by np.split, np.einsum, broadcast_to, ...): NumPy would change both, mixedad "
        "cannot follow that. Write y = y + ... instead.", skip=skip)


def refuse_update_of_shared_input(target: Traced, assignment: bool) -> None:
    """Before an update in place of ``target``: if it is a differentiated input whose memory
    another argument shares (x passed twice, or with a view of it), raise. NumPy would change
    that argument too; a trace records a new value instead. (Checked here, at the rare update
    of an input, not on every call.)"""
    sharing = target._trace.shared_argument
    if sharing is None or target._entry is None or target._entry.label != "input":
        return
    described = sharing(target)
    if described is not None:
        raise error_with_location(
            InPlaceMutationError, f"In-place update{{where}} of {described}: NumPy would change both, "
            "mixedad cannot follow that. Pass a copy (f(x, x.copy())), or write y = y + ... instead.",
            skip=3 if assignment else 4)


def sharing_memory(value: np.ndarray, arrays: list):
    """The key of the first of ``arrays`` ((key, array) pairs) that shares memory with ``value``, or None."""
    owner = memory_owner(value)
    for key, array in arrays:
        if type(array) is np.ndarray and memory_owner(array) is owner and np.may_share_memory(value, array):
            return key
    return None


def arrays_share_memory(arrays: list) -> bool:
    """Whether two of ``arrays`` (ndarrays) may share memory: only arrays with the same memory
    owner are compared (one pass over them, not every pair: a model's tree has many leaves)."""
    by_owner: dict[int, list] = {}
    for array in arrays:
        if isinstance(array, np.ndarray):
            by_owner.setdefault(id(memory_owner(array)), []).append(array)
    return any(len(group) > 1 and any(np.may_share_memory(group[k], other) for k in range(len(group))
                                      for other in group[:k]) for group in by_owner.values())


def _cast_into(result: Any, target: Traced, ufunc: np.ufunc) -> Any:
    """``result`` as NumPy stores it in ``target`` updated in place: cast to its dtype (float32 +=
    float64 stays float32), or, for a complex result, refused as NumPy refuses it."""
    refuse_write_into_argument(target, skip=4)
    dtype = getattr(result, "dtype", target.dtype)
    if dtype.kind == "c" and target.dtype.kind != "c":
        raise error_with_location(
            TypeError, f"Cannot cast ufunc '{ufunc.__name__}' output from {dtype!r} to {target.dtype!r} with "
            "casting rule 'same_kind' (an in-place update{where} of a real array with a complex value, which "
            "NumPy refuses too). Write y = y * 1j, a new complex value, instead.", skip=3)
    # (a plain result too: floor_divide's is piecewise constant, and NumPy casts it all the same)
    return result.astype(target.dtype) if isinstance(result, (Traced, np.ndarray, np.generic)) and dtype != target.dtype \
        else result


def _write_through(view_of: tuple, new_view: Traced) -> None:
    """Write a view's new values into the array it views (``base[key] = new_view``), and make
    the new values a view of the updated array, as the old ones were of ``base``."""
    base, key = view_of
    if type(key) is Rearranged:
        base[...] = key.inverse(new_view)
    else:
        base[key] = new_view
    base = current(base)
    if type(new_view) is Traced and type(base) is Traced:
        new_view._view_of = (base, key)
        base._views = [new_view]
        base._trace.view_bases.append(base)
        value, new_value = base._value, new_view._value
        if (type(value) is np.ndarray or isinstance(value, LeveledValue)) and type(new_value) is type(value):
            new_view._value = view_value(value, key)


def view_value(base_value: Any, key: Any) -> Any:
    """The view ``base[key]`` (or a reshape's) of a base's updated value. NumPy's updated view
    keeps its strides, and they decide whether a later ravel or reshape of it is a view or a
    copy: the new values computed for the view are contiguous, this view of the base has the
    strides. (Values are never written into, so sharing the base's memory is safe.)"""
    return key.view(base_value) if type(key) is Rearranged else base_value[key]


def layout_to_keep(target: Traced, operand: Any) -> np.ndarray | None:
    """An array NumPy updates in place keeps its layout (an F-ordered one stays F-ordered), which
    decides whether a later ravel or reshape is a view. ``x += y`` computes a new array in the
    layout NumPy gives the operands', C-ordered where one is: this is ``target``'s value where
    the update must give another layout, else None. (A view keeps its base's, ``view_value``.)"""
    value = target._value
    while isinstance(value, LeveledValue):  # a forward dual's (a Hessian's): NumPy's layout is its primal's
        value = value.primal
    if type(value) is np.ndarray and not (value.flags.c_contiguous or value.flags.f_contiguous):
        return value  # gaps between its elements (z.real), which no new array computed from it has
    shape = np.shape(operand) if isinstance(operand, (list, tuple)) else getattr(operand, "shape", None)
    if len(target._shape) < 2 or shape != target._shape:  # (a broadcast operand keeps the target's layout)
        return None
    if target._value is None and target._expr is not None and not _surely_c_ordered(target._expr):
        from .region import materialize
        materialize(target)
    value = target._value
    return value if type(value) is np.ndarray and not value.flags.c_contiguous else None


def _surely_c_ordered(root) -> bool:
    """Whether a lazy value is C-ordered: NumPy's ufuncs give that where every operand of the full
    shape is. Each op keeps its answer, so a loop of updates asks each op once."""
    ExprNode = expressions.ExprNode
    stack = [root]
    while stack:
        node = stack[-1]
        pending, answer = False, True
        for arg in node.args:
            if type(arg) is ExprNode:
                if arg.shape != node.shape:  # (a broadcast operand does not decide the layout)
                    continue
                if arg.c_ordered is None:
                    stack.append(arg)
                    pending = True
                else:
                    answer = answer and arg.c_ordered
            elif type(arg) is Traced and arg._shape == node.shape:
                value = arg._value  # (not an array: not known, so not surely)
                answer = answer and type(value) is np.ndarray and value.flags.c_contiguous
        if not pending:
            node.c_ordered = answer
            stack.pop()
    return root.c_ordered


def keep_layout(updated: Traced, before: np.ndarray) -> None:
    """Give ``updated``, the value an in-place update computed, the layout of ``before``."""
    from .region import materialize
    if updated._value is None and updated._expr is not None:
        materialize(updated)
    value = updated._value
    if isinstance(value, LeveledValue):
        while isinstance(value.primal, LeveledValue):
            value = value.primal
        value.primal = in_layout_of(value.primal, before)  # (the update's own new dual)
    else:
        updated._value = in_layout_of(value, before)


def views_at_any_depth(views: list, kind: type):
    """The views of class ``kind`` (not yet retired) among these and the views taken of them, at
    any depth: an update of the array they view reaches them all in NumPy (a view of a view
    that kept its old value gave a silently stale result). Each one's own views are read
    before it is handed out, so that it may be retired."""
    pending = list(views)
    while pending:
        view = pending.pop()
        if type(view) is kind:
            below = view._views
            yield view
            if below:
                pending.extend(below)


def _retire_views(views: list) -> None:
    retired = list(views_at_any_depth(views, Traced))
    replaced_at = user_line(1) if retired else None  # (found once: the walk up the stack costs)
    for view in retired:
        _retire(view, replaced_at)


# The newest views an assignment leaves alone stay usable (row t-1 after row t is written);
# older ones are retired like the views it reaches, so that the work per assignment in a loop
# stays bounded (keeping all made an Euler loop quadratic: 56 s for 2000 steps).
_KEPT_VIEWS = 8


def split_views(views: list, base: Any, key: Any, shape: tuple, kind: type) -> tuple[list, list]:
    """``(kept, changed)``: the views of ``base`` (of class ``kind``) outside ``base[key]``,
    whose values NumPy's assignment there leaves as they were (the newest ``_KEPT_VIEWS``), and
    the others. Decided exactly: on addresses for a basic key, on the elements an advanced key
    (index arrays, a mask) writes otherwise; in doubt, a view is changed."""
    if type(base) is Traced and any(type(view) is kind for view in views) and (holds_live_integer(key) or any(
            type(view) is kind and type(view._view_of) is tuple and holds_live_integer(view._view_of[1])
            for view in views)):  # an index a replay refills: another input may decide otherwise
        base._trace.note_value_read("an assignment next to a view taken at an index computed from values")
    if not is_basic_index(key):
        written = _elements_written(shape, key)
        if written is None:
            return [], list(views)
        disjoint = lambda view_key: not written[_as_view_key(view_key)].any()  # noqa: E731
    else:
        # 1-byte items over no memory: shares_memory reads addresses only, never the elements
        strides = tuple(math.prod(shape[axis + 1:]) for axis in range(len(shape)))
        addresses = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), shape, strides, writeable=False)
        try:
            written = addresses[_as_view_key(key)]
        except (IndexError, TypeError, ValueError):
            return [], list(views)
        disjoint = lambda view_key: _disjoint(addresses, view_key, written)  # noqa: E731
    kept, changed = [], []
    for view in reversed(views):  # newest first
        view_of = view._view_of if type(view) is kind else None
        if len(kept) < _KEPT_VIEWS and type(view_of) is tuple and view_of[0] is base \
                and type(view_of[1]) is not Rearranged and disjoint(view_of[1]):
            kept.append(view)
        else:
            changed.append(view)
    kept.reverse()
    return kept, changed


_MARKED_ELEMENTS = 1 << 20  # larger arrays: views are changed by an advanced key's write, not looked into


def _elements_written(shape: tuple, key: Any) -> np.ndarray | None:
    """Which elements ``x[key] = v`` writes, for an advanced key, as a mask of ``shape``; None
    if the key does not index it (NumPy raises at the write itself) or the array is large."""
    if math.prod(shape) > _MARKED_ELEMENTS:
        return None
    written = np.zeros(shape, bool)
    try:
        written[key] = True
    except (IndexError, TypeError, ValueError):
        return None
    return written


def _disjoint(addresses: np.ndarray, view_key: Any, written: np.ndarray) -> bool:
    try:
        return not np.shares_memory(addresses[_as_view_key(view_key)], written, max_work=10_000)
    except (np.exceptions.TooHardError, IndexError, TypeError, ValueError):
        return False


def _as_view_key(key: Any) -> tuple:
    """``key`` made to give a view where it would give a scalar (``x[0, 0]``: a 0-d view)."""
    parts = key if isinstance(key, tuple) else (key,)
    return parts if any(part is Ellipsis for part in parts) else parts + (Ellipsis,)


def retire_changed_views(base: Traced, key: Any, updated: Any) -> None:
    """After ``base[key] = v``: retire the views of ``base`` that NumPy would show the change
    (using one again raises); the others keep their values and become views of ``updated``."""
    if type(updated) is not Traced:
        return _retire_views(base._views)
    kept, changed = split_views(base._views, base, key, base._shape, Traced)
    _retire_views(changed)
    if kept:
        for view in kept:
            view._view_of = (updated, view._view_of[1])
        if updated._views is None:
            updated._views = kept
            updated._trace.view_bases.append(updated)
        else:
            updated._views.extend(kept)


_ENGINE_SLOTS = frozenset(Traced.__slots__)


class UpdatedTraced(Traced):
    """A traced value after an assignment ``x[key] = v``. For the engine it is still the value
    it was: regions and replay steps that read it before keep reading that. For the user it is
    the updated value (``current``), to which every use is forwarded: through NumPy's protocols
    and Python's operators (a subclass is asked first), attributes and methods."""

    __slots__ = ()

    def __getattribute__(self, name):
        if name in _ENGINE_SLOTS:
            return object.__getattribute__(self, name)
        return getattr(current(self), name)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return getattr(ufunc, method)(*currents(inputs), **currents(kwargs))

    def __array_function__(self, func, types, args, kwargs):
        return func(*currents(args), **currents(kwargs))


def constant_like(prototype: Any, array: np.ndarray) -> Any:
    """``array`` as a value of ``prototype``'s differentiation (traced, or a forward dual) with
    no derivative, if it is a float array: an array made like a differentiated one
    (``y = np.zeros_like(x)``) then accepts differentiated values (``y[0] = x[1]``), as
    NumPy's arrays do."""
    if array.dtype.kind != "f":
        return array
    if type(prototype) is Traced:
        trace = prototype._trace
        entry = record(trace, TapeEntry((), None, "constant", LEAF_DECISION, array.shape, array.dtype))
        result = Traced(trace, array, entry)
        if trace.program is not None:  # a prepared program: the same array on every replay (shapes are fixed)
            trace.program.append(Step(_replay_constant, entry, (result,), (array,), ()))
        return result
    if isinstance(prototype, LeveledValue):
        return prototype._constant_like(array)
    return array


def _replay_constant(step: Step) -> None:
    step.outputs[0]._value = step.payload[0]  # never written into: assignments make new arrays


def current(value: Any) -> Any:
    """What ``value`` stands for now: itself, or for an updated traced value its newest update."""
    if type(value) is not UpdatedTraced:
        return value
    newest = value
    while type(newest) is UpdatedTraced:
        newest = object.__getattribute__(newest, "_successor")
    while value is not newest:  # the chain grows by one per assignment: point it all at the newest
        following = object.__getattribute__(value, "_successor")
        value._successor = newest
        value = following
    return newest


def currents(values: Any) -> Any:
    """``values`` (arguments: a tuple, list or dict of them) with updated traced values replaced
    by what they stand for."""
    kind = type(values)
    if kind is tuple or kind is list:
        return kind([currents(value) for value in values])
    if kind is dict:
        return {key: currents(value) for key, value in values.items()}
    return current(values)


def _forwarder(name: str):
    def forward(self, *args, **kwargs):
        return getattr(current(self), name)(*currents(args), **kwargs)
    forward.__name__ = name
    return forward


for _name, _member in list(Traced.__dict__.items()):
    if _name.startswith("__") and callable(_member) and _name not in (
            "__init__", "__getattr__", "__array_ufunc__", "__array_function__", "__init_subclass__"):
        setattr(UpdatedTraced, _name, _forwarder(_name))
