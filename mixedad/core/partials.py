"""Ways to declare an elementwise partial derivative beyond a number or a function.

Kept apart from ``primitive`` so that the region evaluator can recognise them without
importing the primitive machinery that itself depends on regions.
"""
from __future__ import annotations

import dis
import functools
import inspect
import types
from typing import Any, Callable

import numpy as np

from .arrays import read_only_view
from .errors import InPlaceMutationError, RuleSignatureError, mixedads_own, rule_location


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


class ReadOnlyArguments:
    """A user's partial-derivative function, called with read-only views of its array arguments
    and output: a partial that wrote into them (``out *= 2``) would change the primitive's value,
    or what other partials read, with no error. The built-in rules' partials are called as they
    are (``guarded``)."""

    __slots__ = ("__wrapped__",)

    def __init__(self, function: Callable):
        self.__wrapped__ = function

    def __call__(self, *args, **kwargs):
        args = [read_only_view(a) for a in args]
        if "out" in kwargs:
            kwargs["out"] = read_only_view(kwargs["out"])
        try:
            result = self.__wrapped__(*args, **kwargs)
        except ValueError as error:
            if "read-only" not in str(error):
                raise
            raise InPlaceMutationError(
                f"the partial derivative{rule_location(self.__wrapped__)} wrote into one of its arguments or its "
                f"output ({error}): they are the primitive's values, which its result and the other partials "
                "read. Return a new array instead: 2 * out, not out *= 2 or np.multiply(out, 2, out=out).") from None
        if type(result) is complex or isinstance(result, (np.ndarray, np.generic)) and result.dtype.kind == "c":
            raise RuleSignatureError(
                f"the partial derivative{rule_location(self.__wrapped__)} returned complex values: a primitive's "
                "rules are for real functions of real arguments, and the imaginary part would be dropped.")
        if result is None:  # (a forgotten return): a region would take it as no dependence, a zero derivative
            raise RuleSignatureError(
                f"the partial derivative{rule_location(self.__wrapped__)} returned None: it returns the derivative "
                "(a number or an array). An argument that is never differentiated gets None in defpartials itself, "
                "in place of a function.")
        return result

    def __repr__(self) -> str:
        return repr(self.__wrapped__)


def guarded(partial: Any) -> Any:
    """``partial`` as a region, the tape and the checkers call it: a user's function wrapped in
    ``ReadOnlyArguments``; numbers, ``UfuncOf``, NumPy's functions and mixedad's own as they are."""
    if not callable(partial) or type(partial) is UfuncOf or _numpy_callable(partial) or mixedads_own(partial):
        return partial
    return ReadOnlyArguments(partial)


def unguarded(partial: Any) -> Any:
    """The function the user gave, for its signature, its source and what its body reads."""
    return partial.__wrapped__ if type(partial) is ReadOnlyArguments else partial


def _numpy_callable(partial: Any) -> bool:
    """A ufunc or another NumPy function, maybe in a functools.partial: its ``out`` parameter is
    NumPy's output buffer, not the primitive's output (np.cos(x, out=out) would write cos into
    the primitive's value)."""
    while type(partial) is functools.partial:
        partial = partial.func
    return isinstance(partial, np.ufunc) or (getattr(partial, "__module__", None) or "").split(".")[0] == "numpy"


def takes_out(partial: Callable) -> bool:
    """Whether a partial-derivative function takes the output (a parameter named ``out``)."""
    partial = unguarded(partial)
    if _numpy_callable(partial):
        return False
    try:
        parameters = inspect.signature(partial).parameters
    except (TypeError, ValueError):
        return False
    return "out" in parameters


def takes_args(partial: Callable) -> bool:
    """Whether a partial-derivative function takes any argument besides ``out``."""
    try:
        parameters = inspect.signature(unguarded(partial)).parameters
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
    partial = unguarded(partial)
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
