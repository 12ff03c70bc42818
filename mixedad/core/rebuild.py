"""Dataclass arguments rebuilt with traced fields: the object a differentiated function sees.

``rebuilt_dataclass(template, names, values)`` makes the user's object again with its fields
set to ``values`` (traced values, duals, or the values of a new point), so that what the
function reads from it is what the user's object would give:

* through its ``__init__`` (``dataclasses.replace``), so that ``__post_init__`` derives its
  other attributes from the new values (``self.w_t = self.w.T`` then carries derivatives);
* then with the attributes set on the original since it was made (``layer.activation =
  relu``, a new attribute) copied over: an attribute differs from what ``__init__`` makes of
  the original's own fields only if it was changed since;
* a copied attribute that holds the original's field arrays (a helper, or a lambda reading
  them) would give the function untraced values and a silently zero derivative: it raises,
  saying what to do; so does one set after construction holding any float array (it may be
  computed from the fields: ``p.cache = p.w * 2``); a method bound to the original is bound
  to the new object instead;
* a class whose ``__init__`` cannot remake it from its fields (``InitVar`` fields, an
  ``__init__`` of its own, a ``__post_init__`` that changes them) is copied without it, and
  refused if it holds float arrays beside its fields.

Derivatives (gradients, tangents) are never made through the constructor (``pytree.unflatten``
with ``derivative=True``).
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import types
from typing import Any

import numpy as np

from .arrays import same_array
from .errors import InputError, MixedadError


def rebuilt_dataclass(template: Any, names: list, values: list) -> Any:
    """``template`` with its fields ``names`` set to ``values``, as described above."""
    fields = {field.name: field for field in dataclasses.fields(template)}
    result = None
    if not _has_init_vars(template):
        given = {name: value for name, value in zip(names, values) if fields[name].init}
        try:
            result = dataclasses.replace(template, **given)
        except MixedadError:  # __post_init__ converts a traced field (np.asarray): as without a dataclass
            raise
        except (TypeError, ValueError):  # an __init__ of its own
            result = None
        if result is not None and any(getattr(result, name) is not value for name, value in given.items()):
            result = None  # __post_init__ changes its fields (self.w = self.w * 2): it cannot remake the object
    if result is None:
        result = copy.copy(template)
        for name, value in zip(names, values):
            object.__setattr__(result, name, value)
        _refuse_stale(template, result, [name for name in getattr(template, "__dict__", ()) if name not in fields],
                      remade=False)
        return result
    for name, value in zip(names, values):
        if not fields[name].init:
            object.__setattr__(result, name, value)
    original, rebuilt = getattr(template, "__dict__", {}), getattr(result, "__dict__", {})
    changed, added, made = [], [], None
    for name in original:
        if name in fields:
            continue
        if name not in rebuilt:
            added.append(name)
            continue
        if made is None:
            made = _made_again(template)
        if name not in made or not _unchanged(original[name], made[name], depth=2):
            changed.append(name)  # else derived by __init__ from the fields: the new object's from the new ones
    for name in changed + added:
        object.__setattr__(result, name, original[name])
    _refuse_stale(template, result, changed)
    _refuse_stale(template, result, added, remade=False)  # set later, maybe from the fields (p.cache = p.w * 2)
    return result


def _has_init_vars(template: Any) -> bool:
    return any(field._field_type is dataclasses._FIELD_INITVAR  # noqa: SLF001 (no public way to list them)
               for field in getattr(type(template), "__dataclass_fields__", {}).values())


def _made_again(template: Any) -> dict:
    """The attributes ``__init__`` makes of the template's own fields (``{}`` if it cannot)."""
    try:
        return vars(dataclasses.replace(template))
    except Exception:  # noqa: BLE001  (its fields are values of a finished differentiation, ...)
        return {}


def _unchanged(original: Any, made: Any, depth: int) -> bool:
    """Whether ``original`` is what ``__init__`` made (``made``, from the same fields): the same
    value, or a function, method or object made the same way."""
    if original is made:
        return True
    if type(original) is not type(made):
        return False
    if type(original).__module__.startswith("mixedad."):  # traced values of an enclosing differentiation
        return True
    if isinstance(original, np.ndarray):
        return same_array(original, made)
    if isinstance(original, types.FunctionType):
        return original.__code__ is made.__code__
    if isinstance(original, types.MethodType):
        return original.__func__ is made.__func__
    if isinstance(original, functools.partial):
        return _unchanged(original.func, made.func, depth)
    if isinstance(original, (list, tuple)):
        return len(original) == len(made) and all(_unchanged(a, b, depth) for a, b in zip(original, made))
    if isinstance(original, dict):
        return list(original) == list(made) and all(_unchanged(original[k], made[k], depth) for k in original)
    if type(original).__eq__ is not object.__eq__:
        try:
            return bool(original == made)
        except Exception:  # noqa: BLE001  (not comparable)
            return False
    if depth > 0 and hasattr(original, "__dict__"):
        return _unchanged(vars(original), vars(made), depth - 1)
    return False


def _refuse_stale(template: Any, result: Any, names: list, remade: bool = True) -> None:
    """Copied attributes ``names``: bind methods of the template to ``result``; refuse ones that
    hold the template's field arrays (they would read untraced values), or, if ``__init__``
    could not remake the object (``remade``), any float array (it may be computed from them)."""
    arrays = [value for value in (getattr(template, field.name, None) for field in dataclasses.fields(template))
              if isinstance(value, np.ndarray)]
    cls = type(template).__name__
    for name in names:
        value = getattr(result, name)
        if isinstance(value, types.MethodType) and value.__self__ is template:
            object.__setattr__(result, name, types.MethodType(value.__func__, result))
        elif arrays and _holds(value, arrays if remade else None, template, depth=3):
            how = (f"was set or changed after the {cls} was made, and holds the arrays of its fields" if remade else
                   f"holds a float array, maybe computed from {cls}'s fields, that {cls}'s __init__ does not make "
                   "(it was set later, or __init__ cannot make the object again from its fields: InitVar fields, "
                   "an __init__ of its own, a __post_init__ that changes them)")
            raise InputError(
                f"{cls}.{name} {how}: a differentiated function gets a {cls} whose fields are traced, and this "
                "attribute would give it values computed from the untraced ones (a silently zero derivative). Compute "
                "it in a method or property that reads the fields, or set it in __post_init__ (which mixedad runs "
                "again with the traced fields, when the fields alone make the object).")


def _holds(value: Any, arrays: list, template: Any, depth: int) -> bool:
    """Whether ``value`` reaches one of ``arrays`` (or the template, whose fields they are); with
    ``arrays`` None, any float array."""
    if value is template:
        return True
    if isinstance(value, np.ndarray):
        if arrays is None:
            return value.dtype.kind in "fc"
        return any(np.may_share_memory(value, array) for array in arrays)
    if depth == 0 or isinstance(value, (str, bytes, int, float, complex, type, types.ModuleType)):
        return False
    if isinstance(value, (list, tuple, set, frozenset)):
        children = list(value)
    elif isinstance(value, dict):
        children = list(value.values())
    elif isinstance(value, functools.partial):
        children = [value.func, *value.args, *value.keywords.values()]
    elif isinstance(value, types.FunctionType):
        cells = []
        for cell in value.__closure__ or ():
            try:
                cells.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        children = [*(value.__defaults__ or ()), *(value.__kwdefaults__ or {}).values(), *cells]
    elif isinstance(value, types.MethodType):
        children = [value.__self__]
    elif hasattr(value, "__dict__") and not callable(getattr(type(value), "__array__", None)):
        children = list(vars(value).values())
    else:
        return False
    return any(_holds(child, arrays, template, depth - 1) for child in children)
