"""Whether a function drew random numbers while it was traced.

A prepared gradient replays its recording: numbers drawn from a generator during the recording
would come back as constants on every call (autograd's variational-inference examples draw
their noise from a ``RandomState`` held in a closure). So the generators a function can reach
by name (its closure's and globals', those of the functions, partials and objects among them,
and NumPy's and Python's global generators where its code names ``random``) are compared
before and after the recording; a draw means each call traces again and draws anew, as
``gradient`` does.
"""
from __future__ import annotations

import functools
import inspect
import pickle
import random
import types
from typing import Any, Callable

import numpy as np

_GENERATORS = (np.random.Generator, np.random.RandomState, np.random.BitGenerator, random.Random)


def _state(generator: Any) -> bytes:
    if isinstance(generator, np.random.Generator):
        state = generator.bit_generator.state
    elif isinstance(generator, np.random.BitGenerator):
        state = generator.state
    elif isinstance(generator, np.random.RandomState):
        state = generator.get_state(legacy=False)
    else:
        state = generator.getstate()
    return pickle.dumps(state)


def _names(code: types.CodeType):
    """The global names a function's code (and the lambdas and comprehensions in it) reads."""
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _names(constant)


def reachable_generators(f: Callable, depth: int = 3) -> dict[str, Any]:
    """The random generators ``f`` can reach by name, by the name it reaches each one under."""
    found: dict[str, Any] = {}
    _visit(f, getattr(f, "__name__", "f"), depth, found, set())
    return found


def _visit(obj: Any, name: str, depth: int, found: dict, seen: set) -> None:
    try:
        _look_inside(obj, name, depth, found, seen)
    except Exception:  # an object whose attributes cannot be read plainly: not followed
        pass


def _look_inside(obj: Any, name: str, depth: int, found: dict, seen: set) -> None:
    if id(obj) in seen or inspect.ismodule(obj) or inspect.isclass(obj):
        return
    seen.add(id(obj))
    if inspect.isbuiltin(obj):  # a generator's method by another name (from numpy.random import normal)
        if isinstance(obj.__self__, _GENERATORS):
            found[name] = obj.__self__
        return
    if isinstance(obj, _GENERATORS):
        found[name] = obj
        return
    if depth == 0 or isinstance(obj, (str, bytes, int, float, complex, np.ndarray, np.generic)):
        return
    below = depth - 1
    if isinstance(obj, functools.partial):
        for member in (obj.func, *obj.args, *obj.keywords.values()):
            _visit(member, name, below, found, seen)
    elif inspect.ismethod(obj):
        _visit(obj.__func__, name, depth, found, seen)
        _visit(obj.__self__, name, below, found, seen)
    elif inspect.isfunction(obj):
        for free, cell in zip(obj.__code__.co_freevars, obj.__closure__ or ()):
            try:
                contents = cell.cell_contents
            except ValueError:  # a cell not yet filled
                continue
            _visit(contents, free, below, found, seen)
        names = dict.fromkeys(_names(obj.__code__))
        if "random" in names:  # np.random.normal(...), random.random(): the global generators
            found["numpy.random's global generator"] = np.random.mtrand._rand
            found["Python's random module"] = random._inst
        for global_name in names:
            if global_name in obj.__globals__:
                _visit(obj.__globals__[global_name], global_name, below, found, seen)
        for default in obj.__defaults__ or ():
            _visit(default, name, below, found, seen)
    elif isinstance(obj, (list, tuple)):
        for member in obj[:64]:
            _visit(member, name, below, found, seen)
    elif isinstance(obj, dict):
        for key, member in list(obj.items())[:64]:
            _visit(member, f"{name}[{key!r}]", below, found, seen)
    else:  # an object: its attributes, and its __call__ if f is one
        for attribute, member in list(getattr(obj, "__dict__", {}).items())[:64]:
            _visit(member, f"{name}.{attribute}", below, found, seen)
        call = getattr(type(obj), "__call__", None)
        if inspect.isfunction(call):
            _visit(call, name, below, found, seen)


class RandomDraws:
    """The states of the generators ``f`` reaches, now; :meth:`drawn_from` names one that changed."""

    def __init__(self, f: Callable):
        self.generators = reachable_generators(f)
        self.states = {name: _state(generator) for name, generator in self.generators.items()}

    def drawn_from(self) -> str | None:
        for name, generator in self.generators.items():
            if _state(generator) != self.states[name]:
                return name
        return None
