"""Whether a function drew random numbers while it was traced.

A prepared gradient replays its recording: numbers drawn from a generator during the recording
would come back as constants on every call (autograd's variational-inference examples draw
their noise from a ``RandomState`` held in a closure). So the generators a function can reach
by name (its closure's and globals', those of the functions, partials, objects, classes and
modules among them, and NumPy's and Python's global generators, which libraries draw from
unseen) are compared before and after the recording; a draw means each call traces again and
draws anew, as ``gradient`` does. A function whose code makes a generator without a seed
(``np.random.default_rng()``) draws from a new one on every call: it is traced on every call too.
"""
from __future__ import annotations

import dis
import functools
import inspect
import os
import pickle
import random
import types
from typing import Any, Callable

import numpy as np

_GENERATORS = (np.random.Generator, np.random.RandomState, np.random.BitGenerator, random.Random)
_LIBRARIES = frozenset({"builtins", "numpy", "scipy", "mixedad"})  # whose classes' code is not followed


# what makes a generator (or its bit generator) when the code calls it
_MAKERS = frozenset({"default_rng", "RandomState", "Generator", "PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64",
                     "SeedSequence", "SystemRandom"})
_MADE_IN_THE_CODE = object()  # stands for the generators a function makes: new ones on every call


def _state(generator: Any) -> bytes:
    if generator is _MADE_IN_THE_CODE or isinstance(generator, random.SystemRandom):
        return os.urandom(16)  # (the operating system's entropy has no state: never the same)
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


_SKIPPED = frozenset({"CACHE", "PRECALL", "PUSH_NULL", "KW_NAMES", "NOP"})


def _unseeded_generator_made(code: types.CodeType) -> str | None:
    """The maker a function's code calls without a seed (``default_rng()``, ``RandomState(None)``),
    which draws its seed from the operating system: a new generator on every call. One called
    with a seed makes the same numbers on every call, which a replay repeats faithfully."""
    steps = [step for step in dis.get_instructions(code) if step.opname not in _SKIPPED]
    for k, step in enumerate(steps):
        if step.opname.startswith("LOAD_") and step.argval in _MAKERS:
            after = steps[k + 1:k + 3]
            calls = [later.opname == "CALL" for later in after]
            if step.argval == "SystemRandom" or calls[:1] == [True] and after[0].arg == 0 or calls == [False, True] \
                    and after[0].opname == "LOAD_CONST" and after[0].argval is None and after[1].arg == 1:
                return step.argval
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            made = _unseeded_generator_made(constant)
            if made:
                return made
    return None


def reachable_generators(f: Callable, args: tuple = (), depth: int = 3) -> dict[str, Any]:
    """The random generators ``f`` can reach by name, by the name it reaches each one under; with
    ``args``, those f's arguments reach too (a function passed in that draws from its global)."""
    found: dict[str, Any] = {"numpy.random's global generator": np.random.mtrand._rand,
                             "Python's random module": random._inst}
    seen: set = set()
    _visit(f, getattr(f, "__name__", "f"), depth, found, seen)
    for number, arg in enumerate(args):
        if not isinstance(arg, _GENERATORS):  # (a generator passed in is an argument that never repeats: prepared)
            _visit(arg, f"argument {number}", depth, found, seen)
    return found


def _visit(obj: Any, name: str, depth: int, found: dict, seen: set, names: dict | None = None) -> None:
    try:
        _look_inside(obj, name, depth, found, seen, names)
    except Exception:  # an object whose attributes cannot be read plainly: not followed
        pass


def _look_inside(obj: Any, name: str, depth: int, found: dict, seen: set, names: dict | None = None) -> None:
    """``names``: for a module or a class, the names the code that reached it reads (``rngmod.rng``)."""
    if inspect.ismodule(obj) or inspect.isclass(obj):
        key = (id(obj), tuple(names or ()))
        if names is not None and key not in seen:  # (at depth 0 too: a generator there is found)
            seen.add(key)
            for attribute in names:
                member = inspect.getattr_static(obj, attribute, None)
                if member is not None and not inspect.ismodule(member):
                    _visit(member, f"{name}.{attribute}", max(depth - 1, 0), found, seen)
        return
    if id(obj) in seen:
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
        names = dict.fromkeys(_names(obj.__code__))
        for free, cell in zip(obj.__code__.co_freevars, obj.__closure__ or ()):
            try:
                contents = cell.cell_contents
            except ValueError:  # a cell not yet filled
                continue
            _visit(contents, free, below, found, seen, names)
        made = _MAKERS.intersection(names) and _unseeded_generator_made(obj.__code__)
        if made:
            found[f"{name}, which makes a generator ({made}() without a seed)"] = _MADE_IN_THE_CODE
        for global_name in names:
            if global_name in obj.__globals__:
                _visit(obj.__globals__[global_name], global_name, below, found, seen, names)
        for default in obj.__defaults__ or ():
            _visit(default, name, below, found, seen)
    elif isinstance(obj, (list, tuple)):
        for member in obj[:64]:
            _visit(member, name, below, found, seen)
    elif isinstance(obj, dict):
        for key, member in list(obj.items())[:64]:
            _visit(member, f"{name}[{key!r}]", below, found, seen)
    else:  # an object: its attributes, its class's generators, and the functions of its class, which
        # its methods call as self.noise() (a name no code reads as a global)
        for attribute, member in list(getattr(obj, "__dict__", {}).items())[:64]:
            _visit(member, f"{name}.{attribute}", below, found, seen)
        for cls in type(obj).__mro__:
            if cls.__module__.split(".")[0] in _LIBRARIES:
                continue
            for attribute, member in list(vars(cls).items())[:64]:
                if isinstance(member, _GENERATORS):
                    found[f"{name}.{attribute}"] = member
                elif inspect.isfunction(member):
                    _visit(member, f"{name}.{attribute}", below, found, seen)


class RandomDraws:
    """The states of the generators ``f`` reaches, now; :meth:`drawn_from` names one that changed."""

    def __init__(self, f: Callable, args: tuple = ()):
        self.generators = reachable_generators(f, args)
        self.states = {name: _state(generator) for name, generator in self.generators.items()}

    def drawn_from(self) -> str | None:
        for name, generator in self.generators.items():
            if _state(generator) != self.states[name]:
                return name
        return None
