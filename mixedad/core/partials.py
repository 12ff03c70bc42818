"""Ways to declare an elementwise partial derivative beyond a number or a function.

Kept apart from ``primitive`` so that the region evaluator can recognise them without
importing the primitive machinery that itself depends on regions.
"""
from __future__ import annotations

import dis
import inspect
import types
from typing import Any, Callable

import numpy as np


class UfuncOf:
    """A partial derivative that is another ufunc of the same argument, times a constant:
    ``UfuncOf(np.cos)`` for sin, ``UfuncOf(np.sin, -1)`` for cos. Declared this way, a dual
    region reuses a value it already computed (sin and cos of the same x) instead of
    recomputing the transcendental."""

    __slots__ = ("ufunc", "scale")

    def __init__(self, ufunc: np.ufunc, scale: int | float = 1):
        self.ufunc = ufunc
        self.scale = scale

    def __call__(self, x):
        value = self.ufunc(x)
        return value if self.scale == 1 else self.scale * value

    def __repr__(self) -> str:
        return f"UfuncOf({self.ufunc.__name__}{'' if self.scale == 1 else f', {self.scale}'})"


def takes_out(partial: Callable) -> bool:
    """Whether a partial-derivative function takes the output (a parameter named ``out``)."""
    try:
        parameters = inspect.signature(partial).parameters
    except (TypeError, ValueError):
        return False
    return "out" in parameters


def takes_args(partial: Callable) -> bool:
    """Whether a partial-derivative function takes any argument besides ``out``."""
    try:
        parameters = inspect.signature(partial).parameters
    except (TypeError, ValueError):
        return True
    return any(name != "out" for name in parameters)


_READS: dict[Any, tuple[bool, ...] | None] = {}  # by code object: the parameters its body mentions (arguments_read)


def arguments_read(partial: Callable, n_args: int) -> tuple[bool, ...]:
    """Per argument (by position), whether the partial-derivative function ``partial`` may read
    it: ``lambda x, y: y`` does not read x, so the evaluator need not compute x's value, which
    may be a whole fused region (``0.5 * np.sum(f(x))``: the constant's partial never needs
    the sum). A body that mentions a parameter in any way counts as reading it; anything
    that is not plain Python code (a ufunc, a functools.partial, ``*args``) reads everything."""
    code = getattr(partial, "__code__", None)
    if code is None:
        return (True,) * n_args
    # by code object, and whether it is a bound method (its first parameter is not an argument);
    # a function that declares another signature is looked at each time
    key = (code, type(partial) is types.MethodType)
    mentioned = _READS.get(key, False)
    if mentioned is False:
        mentioned = _parameters_mentioned(partial, code)
        if getattr(partial, "__signature__", None) is None and len(_READS) < 4096:
            _READS[key] = mentioned
    if mentioned is None:
        return (True,) * n_args
    return mentioned[:n_args] + (True,) * (n_args - len(mentioned))  # the rest through *args, or an error


def reads_parameter(rule: Callable, position: int) -> bool:
    """Whether ``rule``'s body may read its positional parameter ``position`` (any mention of
    it counts; a rule that is not plain Python code, or takes ``*args``, reads everything): a
    reverse rule ``lambda g, out, a, b: (g @ b.T, a.T @ g)`` never reads ``out``, which the tape
    then need not keep."""
    mentioned = _parameters_mentioned(rule, getattr(rule, "__code__", None), skip_out=False)
    return mentioned is None or position >= len(mentioned) or mentioned[position]


def _parameters_mentioned(function: Callable, code, skip_out: bool = True) -> tuple[bool, ...] | None:
    """Per positional parameter (but one named ``out``, with ``skip_out``), whether the body
    mentions it; None if that cannot be told."""
    if code is None or getattr(function, "__signature__", None) is not None:
        return None
    try:  # the function's own parameters (a functools.wraps wrapper's are *args, **kwargs: reads all)
        parameters = list(inspect.signature(function, follow_wrapped=False).parameters.values())
    except (TypeError, ValueError):
        return None
    if not {p.name for p in parameters} <= set(code.co_varnames):  # not this code's arguments
        return None
    positional = []
    for parameter in parameters:
        if parameter.kind is parameter.VAR_POSITIONAL:
            break  # later arguments land in *args: read (positions past the result's count)
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD) and not (
                skip_out and parameter.name == "out"):
            positional.append(parameter.name)
    names: set[str] = set(code.co_cellvars)  # read by a nested function
    for instruction in dis.get_instructions(code):
        value = instruction.argval
        if type(value) is str:
            names.add(value)
        elif type(value) is tuple:  # a superinstruction (LOAD_FAST_LOAD_FAST) names two
            names.update(v for v in value if type(v) is str)
    if {"locals", "vars", "eval", "exec"} & names:
        return None
    return tuple(name in names for name in positional)
