"""Flatten and rebuild nested containers of arrays: dict, list, tuple, namedtuple, dataclass."""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any, Callable

import numpy as np

from .errors import InputError
from .rebuild import rebuilt_dataclass

LEAF = None  # the tree definition of a leaf


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def flatten(tree: Any) -> tuple[list[Any], Any]:
    """Return the leaves of ``tree`` (depth first) and a definition to rebuild it."""
    leaves: list[Any] = []
    return leaves, _flatten_into(tree, leaves)


_ARRAY_LEAF_TYPES = (np.ndarray, float, int)  # the common leaves, tested first: flattening is per call


def _flatten_into(tree: Any, leaves: list[Any]) -> Any:
    if type(tree) in _ARRAY_LEAF_TYPES:
        leaves.append(tree)
        return LEAF
    if isinstance(tree, dict):
        keys = list(tree.keys())
        children = []
        for key in keys:
            value = tree[key]
            if type(value) in _ARRAY_LEAF_TYPES:  # a leaf, without the call
                leaves.append(value)
                children.append(LEAF)
            else:
                children.append(_flatten_into(value, leaves))
        return (dict, dict if type(tree) is dict else _with_attributes(tree, _dict_template(tree)), keys, children)
    if _is_namedtuple(tree):
        return (tuple, _with_attributes(tree, type(tree)), None, [_flatten_into(v, leaves) for v in tree])
    if isinstance(tree, (list, tuple)):
        template = type(tree)
        if template is not list and template is not tuple:
            template = _with_attributes(tree, template)
        return (list, template, None, [_flatten_into(v, leaves) for v in tree])
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        names = [f.name for f in dataclasses.fields(tree)]
        return (dataclasses, tree, names, [_flatten_into(getattr(tree, n), leaves) for n in names])
    if tree is None:
        return ("none",)
    leaves.append(tree)
    return LEAF


def _dict_template(tree: dict) -> Any:
    """What rebuilds a dict: its type, or for a defaultdict ``(type, default_factory)``, so
    that the rebuilt one has the factory too (and trees with the same factory compare equal)."""
    if isinstance(tree, defaultdict):
        return (type(tree), tree.default_factory)
    return type(tree)


class _Attributed:
    """The template of a dict, list or tuple subclass whose instance has attributes of its own
    (``opts.scale`` on a ``class Opts(dict)``): the container made again to hold traced values
    gets them too, unchanged (they are not differentiated). Equal templates hold the same
    attribute objects (compared by identity: they may be arrays)."""

    __slots__ = ("template", "attributes")

    def __init__(self, template: Any, attributes: dict):
        self.template = template
        self.attributes = attributes

    def __eq__(self, other: Any) -> bool:
        return type(other) is _Attributed and self.template == other.template \
            and self.attributes.keys() == other.attributes.keys() \
            and all(value is other.attributes[name] for name, value in self.attributes.items())

    def __hash__(self) -> int:
        return hash(self.template)


def _with_attributes(tree: Any, template: Any) -> Any:
    attributes = getattr(tree, "__dict__", None)
    if not attributes or attributes is tree:  # (an "attribute dict" whose attributes are its entries)
        return template
    return _Attributed(template, dict(attributes))


def _container_class(template: Any) -> Any:
    return template.template if type(template) is _Attributed else template


def structure(definition: Any) -> Any:
    """A hashable description of a tree's shape from its definition: container types, keys
    and field names, but not the values a dataclass template holds."""
    if definition is LEAF:
        return None
    if definition[0] == "none":
        return definition
    kind, template, names, children = definition
    template = type(template) if kind is dataclasses else _container_class(template)
    return (kind, template, tuple(names) if names else None, tuple(structure(child) for child in children))


def unflatten(definition: Any, leaves: list[Any], derivative: bool = False) -> Any:
    """Rebuild the tree described by ``definition`` with ``leaves`` in flatten order.

    ``derivative``: the leaves are derivatives (a gradient, a tangent), not values of the user's
    objects: a dataclass, namedtuple or container subclass is then made without its constructor
    (which may check or change values, or derive other attributes) and holds its fields only."""
    if definition is not LEAF and definition[0] is dict and definition[1] is dict \
            and len(definition[3]) == len(leaves) and not any(definition[3]):
        return dict(zip(definition[2], leaves))  # a flat dict of leaves (the usual parameters)
    iterator = iter(leaves)
    return _build(definition, iterator, derivative)


def _build(definition: Any, leaves: Any, derivative: bool) -> Any:
    if definition is LEAF:
        return next(leaves)
    kind = definition[0]
    if kind == "none":
        return None
    _, template, names, children = definition
    values = [_build(child, leaves, derivative) for child in children]
    if type(template) is _Attributed:
        result = _build_container(kind, template.template, names, values, derivative)
        if not derivative:  # (a derivative holds the entries only)
            result.__dict__.update(template.attributes)
        return result
    return _build_container(kind, template, names, values, derivative)


def _build_container(kind: Any, template: Any, names: Any, values: list, derivative: bool) -> Any:
    if kind is dict:
        if template is dict:
            result = {}
        elif type(template) is tuple:  # a defaultdict and its factory
            result = template[0](template[1])
        else:
            result = template.__new__(template) if derivative else _constructed(template)
        for key, value in zip(names, values):
            result[key] = value
        return result
    if kind is tuple:  # a namedtuple
        return tuple.__new__(template, values) if derivative else _constructed(template, *values)
    if kind is list:
        if template is list or template is tuple:
            return template(values)
        if not derivative:
            return _constructed(template, values)
        if issubclass(template, tuple):
            return tuple.__new__(template, values)
        result = template.__new__(template)
        list.extend(result, values)
        return result
    if derivative:
        result = object.__new__(type(template))
        for name, value in zip(names, values):
            object.__setattr__(result, name, value)
        return result
    return rebuilt_dataclass(template, names, values)


def _constructed(container: type, *args: Any) -> Any:
    """``container(*args)``: a dict, list or tuple subclass made again from its entries."""
    try:
        return container(*args)
    except TypeError as error:
        raise InputError(
            f"mixedad makes a {container.__name__} again from its entries, as {container.__name__}"
            f"({'entries' if args else ''}), to hold traced values, and that raised: {error}. Pass a plain dict, "
            "list, tuple or namedtuple, or a dataclass.") from error


def tree_map(function: Callable[[Any], Any], tree: Any) -> Any:
    leaves, definition = flatten(tree)
    return unflatten(definition, [function(leaf) for leaf in leaves])


def leaves_like(tree: Any, definition: Any, where: str) -> list[Any]:
    """The leaves of ``tree`` in the order of the tree ``definition`` describes: a dict's
    entries by key, whatever their order in ``tree`` (a tangent or cotangent written with its
    keys in another order). Raises ValueError if ``tree`` has another structure."""
    leaves: list[Any] = []
    _leaves_like(tree, definition, leaves, where)
    return leaves


def _leaves_like(tree: Any, definition: Any, leaves: list[Any], where: str) -> None:
    if definition is LEAF:
        if isinstance(tree, (dict, list, tuple)):
            raise ValueError(f"{where} is a {type(tree).__name__} where an array is expected")
        leaves.append(tree)
        return
    if definition[0] == "none":
        if tree is not None:
            raise ValueError(f"{where} is a {type(tree).__name__} where None is expected")
        return
    kind, template, names, children = definition
    if kind is dict:
        if not isinstance(tree, dict) or set(tree) != set(names):
            got = f"keys {', '.join(sorted(map(repr, tree)))}" if isinstance(tree, dict) else f"a {type(tree).__name__}"
            raise ValueError(f"{where} has {got}; expected a dict with keys {', '.join(sorted(map(repr, names)))}")
        for key, child in zip(names, children):
            _leaves_like(tree[key], child, leaves, f"{where}[{key!r}]")
    elif kind is dataclasses:
        if type(tree) is not type(template):
            raise ValueError(f"{where} is a {type(tree).__name__}; expected a {type(template).__name__}")
        for name, child in zip(names, children):
            _leaves_like(getattr(tree, name), child, leaves, f"{where}.{name}")
    else:  # a list, tuple or namedtuple
        if not isinstance(tree, (list, tuple)) or len(tree) != len(children):
            got = f"{len(tree)} entries" if isinstance(tree, (list, tuple)) else f"a {type(tree).__name__}"
            raise ValueError(f"{where} has {got}; expected a {_container_class(template).__name__} of {len(children)}")
        for i, (value, child) in enumerate(zip(tree, children)):
            _leaves_like(value, child, leaves, f"{where}[{i}]")


def leaf_path(tree: Any, index: int) -> str:
    """Where leaf ``index`` (in flatten order) of ``tree`` is, as Python would reach it:
    ``['fc1']['weight']``, ``[1]``, ``.activation`` ("" for the tree itself). For error
    messages only: it flattens the tree again."""
    path = _leaf_path(flatten(tree)[1], index, [0])
    return path if path is not None else ""


def _leaf_path(definition: Any, index: int, counter: list[int]) -> str | None:
    if definition is LEAF:
        counter[0] += 1
        return "" if counter[0] - 1 == index else None
    if definition[0] == "none":
        return None
    kind, template, names, children = definition
    for position, child in enumerate(children):
        below = _leaf_path(child, index, counter)
        if below is not None:
            if kind is dict:
                step = f"[{names[position]!r}]"
            elif kind is dataclasses:
                step = f".{names[position]}"
            elif kind is tuple:  # a namedtuple (lists and plain tuples are kind list)
                step = f".{_container_class(template)._fields[position]}"
            else:
                step = f"[{position}]"
            return step + below
    return None


# --- generated readers and builders, for the per-call work of prepared gradients -------------------
def _plain(definition: Any) -> bool:
    """Whether the tree holds only plain dicts, lists and tuples (which generated code can walk)."""
    if definition is LEAF:
        return True
    if definition[0] == "none" or definition[1] not in (dict, list, tuple):
        return False
    return all(_plain(child) for child in definition[3])


def compiled_reader(definition: Any, signatures: list[tuple]) -> Callable[[Any], list | None] | None:
    """A function giving the leaves of a tree exactly like the one ``definition`` describes (the
    same containers, dict keys in the same order) whose leaves are ndarrays of the (shape,
    dtype) ``signatures``; None for any other tree (which the caller then flattens and checks
    itself). None instead of a function if the tree holds more than plain dicts, lists and tuples."""
    if not _plain(definition) or len(signatures) != _count_leaves(definition):
        return None
    code = _Code({"_ndarray": np.ndarray})
    leaves: list[str] = []
    _emit_reader(code, definition, "tree", signatures, leaves)
    code.lines.append(f"    return [{', '.join(leaves)}]")
    return code.function("read", "tree")


def _emit_reader(code: "_Code", node: Any, name: str, signatures: list[tuple], leaves: list[str]):
    indent = "    "  # flat code: every check returns early
    if node is LEAF:
        k = len(leaves)
        shape, dtype = code.constant(signatures[k][0]), code.constant(signatures[k][1])
        code.lines += [f"{indent}if type({name}) is not _ndarray or {name}.shape != {shape} or {name}.dtype != {dtype}:",
                       f"{indent}    return None"]
        leaves.append(name)
        return
    kind, template, names, children = node
    if kind is dict:
        code.lines.append(f"{indent}if type({name}) is not dict or list({name}) != {code.constant(list(names))}:")
    else:
        code.lines.append(f"{indent}if type({name}) is not {template.__name__} or len({name}) != {len(children)}:")
    code.lines.append(f"{indent}    return None")
    for index, child in enumerate(children):
        child_name = code.local()
        key = code.constant(names[index]) if kind is dict else str(index)
        code.lines.append(f"{indent}{child_name} = {name}[{key}]")
        _emit_reader(code, child, child_name, signatures, leaves)


def compiled_builder(definition: Any) -> Callable[[list], Any] | None:
    """A function building the tree ``definition`` describes from its leaves (as ``unflatten``);
    None if the tree holds more than plain dicts, lists and tuples."""
    if definition is LEAF or not _plain(definition):
        return None
    code = _Code({})
    code.lines.append(f"    return {_built(code, definition, iter(range(_count_leaves(definition))))}")
    return code.function("build", "leaves")


def _built(code: "_Code", node: Any, positions: Any) -> str:
    """The expression that builds ``node`` from ``leaves``."""
    if node is LEAF:
        return f"leaves[{next(positions)}]"
    kind, template, names, children = node
    parts = [_built(code, child, positions) for child in children]
    if kind is dict:
        return "{" + ", ".join(f"{code.constant(key)}: {part}" for key, part in zip(names, parts)) + "}"
    if template is list:
        return "[" + ", ".join(parts) + "]"
    return "(" + "".join(part + ", " for part in parts) + ")"


class _Code:
    """Lines of a generated function and the constants it reads."""

    def __init__(self, namespace: dict):
        self.namespace = namespace
        self.lines: list[str] = []
        self.made = 0

    def constant(self, value: Any) -> str:
        self.made += 1
        self.namespace[f"k{self.made}"] = value
        return f"k{self.made}"

    def local(self) -> str:
        self.made += 1
        return f"t{self.made}"

    def function(self, name: str, parameter: str) -> Callable:
        source = f"def {name}({parameter}):\n" + "\n".join(self.lines) + "\n"
        exec(compile(source, f"<mixedad tree {name}>", "exec"), self.namespace)  # noqa: S102 (our own code)
        return self.namespace.pop(name)  # left in its namespace it would make a reference cycle


def _count_leaves(definition: Any) -> int:
    if definition is LEAF:
        return 1
    if definition[0] == "none":
        return 0
    return sum(_count_leaves(child) for child in definition[3])
