"""What a prepared gradient compares the arguments it does not trace with: each call's must
equal the recorded call's for a replay (``prepared``). Arrays, containers and objects that compare
by value are copied as they are now; plain objects (a config, a model), functions, classes and
modules by their attributes (a function's: its closure and defaults), since the same object may
change in place; a random generator or an iterator equals nothing, as it draws anew on each call."""
from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import inspect
import math
import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from .core.arrays import same_array
from .core.errors import InputError
from .core.pytree import flatten, leaf_path, structure
from .core.updates import arrays_share_memory

class _ObjectState:
    """A static argument that equals only itself (a plain object such as a config), with what its
    attributes were when the program was recorded: changed in place (``cfg.p = 3.0``), the same
    object is another option, and the function is recorded again."""

    def __init__(self, value: Any, depth: int):
        self.value = value
        self.attributes = _recorded_attributes(value, depth)


class _ValueState:
    """A static argument of a subclass of a builtin value type (a set, str or float subclass)
    that has attributes: the builtin ``==`` compares its value only, so its attributes are
    compared too."""

    def __init__(self, value: Any, depth: int):
        self.value = recorded_state(value, 0)
        self.attributes = _recorded_attributes(value, depth)


def _recorded_attributes(value: Any, depth: int) -> dict:
    """A module among the attributes is compared by identity: it is a name imported (``import
    numpy as np``), and following it would compare a whole library on every call. A module passed
    as an argument is followed: f reads its attributes."""
    return {name: attribute if inspect.ismodule(attribute) else recorded_state(attribute, depth - 1)
            for name, attribute in _attributes(value).items()}


def _same_attributes(value: Any, recorded: dict) -> bool:
    attributes = _attributes(value)
    return attributes.keys() == recorded.keys() and all(same_static(attributes[name], state)
                                                        for name, state in recorded.items())


def _attributes(value: Any) -> dict:
    """An object's attributes: its ``__dict__``, its ``__slots__``, what a ``functools.partial``
    holds, and the data its class holds (``Model.scale = 5.0`` changes what ``self.scale`` reads);
    a class's: its data; a module's: all but its dunders; a function's: its ``__dict__``, code,
    defaults and closure (a closure's cell can be rebound by ``nonlocal`` or assignment)."""
    if isinstance(value, type):
        return _class_data(value)
    if inspect.ismodule(value):
        return {name: data for name, data in vars(value).items() if not (name.startswith("__") and name.endswith("__"))}
    found = dict(getattr(value, "__dict__", {}))
    if inspect.isfunction(value):
        found["__code__"] = value.__code__
        _add_arguments(found, value.__defaults__ or (), value.__kwdefaults__ or {})
        for name, cell in zip(value.__code__.co_freevars, value.__closure__ or ()):
            try:
                found[("cell", name)] = cell.cell_contents
            except ValueError:  # not yet filled: filled later, it is a new key, which records again
                pass
        return found  # (its class holds no data and no slots)
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(value, name):
                found[name] = getattr(value, name)
    if isinstance(value, functools.partial):
        found["func"] = value.func
        _add_arguments(found, value.args, value.keywords)
    for key, data in _class_data(type(value)).items():
        if key[1] not in found:
            found[key] = data
    return found


def _add_arguments(found: dict, positional: tuple, keywords: dict) -> None:
    """The arguments a partial or a function's defaults hold, one by one: a tuple of them would
    be copied whole, and an object in it (a config) would equal only its copy, never itself."""
    found.update({("argument", index): argument for index, argument in enumerate(positional)})
    found.update({("keyword", name): argument for name, argument in keywords.items()})


def _class_data(cls: type) -> dict:
    """The data attributes of a user class and its bases (not methods, properties or other
    descriptors): under ``("class", name)`` keys, apart from an instance's own attributes."""
    found = {}
    for base in cls.__mro__:
        if _from_library(base):
            continue
        for name, data in vars(base).items():
            if not (name.startswith("__") and name.endswith("__")) and not hasattr(type(data), "__get__"):
                found.setdefault(("class", name), data)
    return found


_LIBRARY_MODULES = frozenset({"builtins", "numpy", "functools", "collections", "abc", "enum", "typing"})


def _from_library(value: Any) -> bool:
    """A class, function or module of the libraries above, which programs do not change."""
    name = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
    return (name or "").split(".")[0] in _LIBRARY_MODULES


# The types whose == compares a value and not the attributes a subclass of them adds
_BUILTIN_VALUES = (dict, list, tuple, set, frozenset, str, bytes, int, float, complex, bool)


def _holds_more_than_its_value(leaf: Any) -> bool:
    """A subclass of a builtin value type with attributes, other than an enum's member (its
    attributes are its definition, like a class's methods)."""
    return isinstance(leaf, _BUILTIN_VALUES) and type(leaf) not in _BUILTIN_VALUES \
        and not isinstance(leaf, enum.Enum) and bool(_attributes(leaf))


_IMMUTABLE = (str, bytes, int, float, complex, bool, type(None), np.generic, frozenset, range)
# Objects whose state changes with every use and cannot be read: a random generator or an
# iterator passed in draws anew on each call, so no call is the same as the recorded one.
STATEFUL = (np.random.Generator, np.random.RandomState, np.random.BitGenerator, random.Random, Iterator)


class _MethodState:
    """A bound method passed as an argument (``model.loss``): its function, and its object as
    recorded (``recorded``), which may change in place between calls."""

    def __init__(self, method: Any, depth: int):
        self.function = method.__func__
        self.owner = recorded_state(method.__self__, depth)


def recorded_state(leaf: Any, depth: int = 2) -> Any:
    """What a static leaf is compared with on later calls: arrays, containers, objects that
    compare by value (a SimpleNamespace) and plain objects' attributes as they are now, since
    the same object may change in place."""
    if isinstance(leaf, np.ndarray):
        return leaf.copy()
    if isinstance(leaf, STATEFUL):
        return STATEFUL  # equal to nothing: each call records again (after a few, traces plainly)
    if inspect.ismethod(leaf) and not inspect.ismodule(leaf.__self__):  # (a classmethod's class: its data)
        return _MethodState(leaf, depth)
    if inspect.isclass(leaf) or inspect.isfunction(leaf) or inspect.ismodule(leaf):
        # what f reads through them may change between calls (a closure's cell, a default, Model.scale); also
        # for a class without data: f may read data set on it later (getattr(cls, "scale", 1.0))
        return _ObjectState(leaf, depth) if depth > 0 and not _from_library(leaf) else leaf
    if depth > 0 and _holds_more_than_its_value(leaf):
        return _ValueState(leaf, depth)
    if isinstance(leaf, _IMMUTABLE) or inspect.isroutine(leaf):
        return leaf
    if type(leaf).__eq__ is not object.__eq__:  # compares by value: a copy of it as it is now
        try:
            return copy.deepcopy(leaf)
        except Exception:  # not copyable: only the same object is the same
            return leaf
    if depth > 0:
        return _ObjectState(leaf, depth)
    return leaf


def same_static(new: Any, recorded: Any) -> bool:
    if recorded is STATEFUL:
        return False
    if new is recorded:  # (a recorded state below is never an argument itself)
        return True
    kind = type(recorded)
    if kind is _ObjectState:
        return new is recorded.value and _same_attributes(new, recorded.attributes)
    if kind is _ValueState:
        return same_static(new, recorded.value) and _same_attributes(new, recorded.attributes)
    if kind is _MethodState:
        return inspect.ismethod(new) and new.__func__ is recorded.function and same_static(new.__self__, recorded.owner)
    try:
        return _same_value(new, recorded)
    except Exception:  # not comparable: only the same object is the same
        return False


def _same_value(new: Any, recorded: Any) -> bool:
    """``new == recorded`` for a copy ``recorded``, telling -0.0 from 0.0 (``np.copysign``,
    ``arctan2`` and ``angle`` do) and a NaN equal to a NaN, also inside containers and arrays."""
    if type(new) is not type(recorded):  # (a masked array and a plain one: NumPy computes differently)
        return isinstance(new, np.ndarray) and isinstance(recorded, np.ndarray) and same_array(new, recorded) \
            and not isinstance(new, np.ma.MaskedArray) and not isinstance(recorded, np.ma.MaskedArray)
    if type(recorded) in (list, tuple):
        return len(new) == len(recorded) and all(map(_same_value, new, recorded))
    if type(recorded) is dict:
        return list(new) == list(recorded) and all(_same_value(new[key], value) for key, value in recorded.items())
    if isinstance(recorded, np.ndarray):
        if type(recorded) is np.ndarray:
            return same_array(new, recorded)
        return _same_array_subclass(new, recorded)
    if isinstance(recorded, (float, complex, np.inexact)):
        return all((a == b and math.copysign(1, a) == math.copysign(1, b)) or (a != a and b != b)
                   for a, b in ((new.real, recorded.real), (new.imag, recorded.imag)))
    return bool(new == recorded)


def _same_array_subclass(new: np.ndarray, recorded: np.ndarray) -> bool:
    """For an ndarray subclass, what it holds besides its elements is part of its value: a
    masked array's mask, another subclass's attributes (a unit, a tag)."""
    if isinstance(recorded, np.ma.MaskedArray):
        return same_array(new.data, recorded.data) and same_array(np.ma.getmaskarray(new), np.ma.getmaskarray(recorded))
    attributes, recorded_attributes = getattr(new, "__dict__", {}), getattr(recorded, "__dict__", {})
    return (same_array(new.view(np.ndarray), recorded.view(np.ndarray))
            and attributes.keys() == recorded_attributes.keys()
            and all(same_static(attributes[key], value) for key, value in recorded_attributes.items()))


def dataclass_extras(tree: Any) -> list[dict]:
    """The attributes of each node of ``tree`` that is more than a plain dict, list or tuple, which
    its leaves do not hold: a dataclass's that are not fields (set in ``__post_init__`` or later),
    a dict or list subclass's, and the data of their classes and of a namedtuple's."""
    found: list[dict] = []
    _extras_into(tree, found)
    return found


_NAMEDTUPLE_DATA = (("class", "_fields"), ("class", "_field_defaults"))


def _extras_into(node: Any, found: list[dict]) -> None:
    """As ``core.pytree.flatten`` walks ``node``, in the same order."""
    if isinstance(node, dict):
        children, fields = node.values(), ()
    elif isinstance(node, (list, tuple)):  # (what namedtuple() made: the tree's structure compares its type)
        children, fields = node, _NAMEDTUPLE_DATA if isinstance(node, tuple) and hasattr(node, "_fields") else ()
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        fields = [field.name for field in dataclasses.fields(node)]
        children = [getattr(node, name) for name in fields]
    else:
        return
    if type(node) not in (dict, list, tuple):
        attributes = {key: value for key, value in _attributes(node).items() if key not in fields}
        if attributes or hasattr(node, "__dict__"):  # (one it holds none of now may gain some)
            found.append(attributes)
    for child in children:
        if type(child) is not np.ndarray:
            _extras_into(child, found)


def same_extras(tree: Any, recorded: list[dict]) -> bool:
    extras = dataclass_extras(tree)
    return len(extras) == len(recorded) and all(
        new.keys() == old.keys() and all(same_static(new[key], value) for key, value in old.items())
        for new, old in zip(extras, recorded))


def write_into(out: Any, grad: Any) -> Any:
    """Copy ``grad`` into the buffers of ``out``, after checking every buffer: a bad one leaves
    all of them as they were, not the ones before it overwritten."""
    out_leaves, out_definition = flatten(out)
    grad_leaves, grad_definition = flatten(grad)
    if structure(out_definition) != structure(grad_definition) or len(out_leaves) != len(grad_leaves):
        raise InputError("out= must have the structure of the gradient (the differentiated arguments)")
    for index, (buffer, value) in enumerate(zip(out_leaves, grad_leaves)):
        if not isinstance(buffer, np.ndarray) or buffer.shape != np.shape(value) \
                or buffer.dtype != np.result_type(value):
            got = (f"an ndarray of shape {buffer.shape} and dtype {buffer.dtype}" if isinstance(buffer, np.ndarray)
                   else f"a {type(buffer).__name__}")
            raise InputError(f"{_out_leaf_where(out, index)} must be an ndarray of shape {np.shape(value)} and "
                             f"dtype {np.result_type(value)}, got {got}")
        if not buffer.flags.writeable:
            raise InputError(
                f"{_out_leaf_where(out, index)} is read-only (a read-only array, or a view such as np.broadcast_to "
                "gives, that NumPy will not write into): pass a writeable array, e.g. np.empty_like(x). "
                "No gradient was written.")
    if len(out_leaves) > 1 and arrays_share_memory(out_leaves):
        raise InputError("two leaves of out= share memory (the same array twice, or views of one): each gradient "
                         "needs a buffer of its own. No gradient was written.")
    for buffer, value in zip(out_leaves, grad_leaves):
        np.copyto(buffer, value)
    return out


def _out_leaf_where(out: Any, index: int) -> str:
    path = leaf_path(out, index)
    return f"out= leaf {path}" if path else "out="
