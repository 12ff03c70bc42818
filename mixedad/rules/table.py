"""The vocabulary of the rule tables: small helpers that name the common rule shapes.

Each helper creates a :class:`~mixedad.core.primitive.Primitive` through the public API
and registers it as what runs when the NumPy function meets a traced value.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..core.arrays import LeveledValue
from ..core.dispatch import numpy_name, register_function
from ..core.errors import UnsupportedOperationError, error_with_location, unsupported_option
from ..core.primitive import Primitive
from ..core.recomputed import recompute, recording_trace
from ..core.region import read_value
from ..core.traced import Traced


@dataclass(frozen=True)
class Domain:
    """Where an argument's derivative is defined and smooth: sampled by the tests."""

    low: float = -3.0
    high: float = 3.0
    avoid: tuple = ()  # points (kinks, poles) the tests keep a distance from
    integer: bool = False  # e.g. a power's exponent drawn from small integers

    def integer_dtype(self, float_dtype) -> np.dtype:
        """The dtype of an integer argument drawn next to ``float_dtype`` arguments: the widest
        that holds [low, high] and that NumPy combines with ``float_dtype`` into ``float_dtype``
        (int16 for float32, int8 for float16), so that the integers do not promote float32 work to
        float64 (int64 would). int64 where no narrower one holds the range."""
        for candidate in (np.int32, np.int16, np.int8):
            info = np.iinfo(candidate)
            if (np.result_type(float_dtype, candidate) == np.dtype(float_dtype)
                    and info.min <= self.low and self.high <= info.max):
                return np.dtype(candidate)
        return np.dtype(np.int64)


REALS = Domain()
POSITIVE = Domain(0.1, 4.0)
UNIT = Domain(-0.9, 0.9)
NONZERO = Domain(-3.0, 3.0, avoid=(0.0,))


def elementwise(ufunc: Callable, *partials: Any, domain: Sequence[Domain] | Domain = REALS,
                name: str | None = None) -> Primitive:
    """Register an elementwise NumPy function with one partial derivative per argument."""
    prim = Primitive(ufunc, name=name or ufunc.__name__, elementwise=True)
    prim.defpartials(*partials)
    nin = getattr(ufunc, "nin", len(partials))
    prim.domain = tuple(domain) if isinstance(domain, (tuple, list)) else (domain,) * nin
    register_function(ufunc, prim)
    return prim


def nondifferentiable(function: Callable, name: str | None = None, static_shape: bool = False) -> Primitive:
    """Register a function whose result carries no derivative (comparisons, sign, argmax, ...).

    Its result is a plain NumPy value computed from the traced values' primals; under a
    prepared recording, for a function whose result's shape follows from its arguments'
    (``static_shape``), a value the program recomputes on each replay (``core.recomputed``).
    """
    prim = Primitive(function, name=name or getattr(function, "__name__", repr(function)),
                     elementwise=isinstance(function, np.ufunc))
    prim.differentiable = False
    if not prim.elementwise:
        def plain(*args, **kwargs):
            trace = recording_trace(args, kwargs) if static_shape else None
            if trace is not None:
                return recompute(trace, function, args, kwargs)
            why = f"{numpy_name(function)}, which has no derivative"
            return function(*[_plain(a, why) for a in args], **{k: _plain(v, why) for k, v in kwargs.items()})
        register_function(function, plain)
    else:
        register_function(function, prim)
    return prim


def _plain(value: Any, why: str) -> Any:
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, why) for v in value)
    return read_value(value, why)


def reverse_rule(function: Callable, *vjps: Callable | None, nondiff_argnums: Sequence[int] = (),
                 name: str | None = None, multiple_outputs: bool = False,
                 forward: str | Callable | tuple | None = None) -> Primitive:
    """Register a NumPy function as a general primitive with reverse rules (see ``defvjp``).

    ``forward`` is its forward rule: ``"linear"`` (``deflinear``), ``"bilinear"``
    (``defbilinear``), or a ``defjvp`` rule (a tuple of them: one per argument).
    """
    prim = Primitive(function, name=name or getattr(function, "__name__", repr(function)),
                     nondiff_argnums=nondiff_argnums, multiple_outputs=multiple_outputs)
    if (getattr(function, "__module__", None) or "").startswith("numpy"):  # called as NumPy's, by the user
        prim.positional_names = _positional_names(function)
    if vjps:
        prim.defvjp(*vjps)
    if forward == "linear":
        prim.deflinear()
    elif forward == "bilinear":
        prim.defbilinear()
    elif forward is not None:
        prim.defjvp(*(forward if isinstance(forward, tuple) else (forward,)))
    register_function(function, prim)
    return prim


def implements(numpy_function: Callable) -> Callable[[Callable], Callable]:
    """Register a composite: a Python function, written with NumPy on traced values, that
    runs instead of ``numpy_function`` (for argument handling, or for functions that are
    compositions of primitives)."""
    def register(handler: Callable) -> Callable:
        register_function(numpy_function, handler)
        return handler
    return register


def numpy_scalar(value: Any) -> Any:
    """``value`` as NumPy returns a 0-d result from a function that ends in a ufunc or a reduction
    (``np.quantile``, ``np.interp``, ``ufunc.reduce``): a NumPy scalar, which is immutable (its
    ``ravel()`` and ``[None]`` are copies), not a 0-d array; other results as they are."""
    return value[()] if getattr(value, "shape", None) == () else value  # (.shape: no dispatch of np.ndim)


def holds_numpy_scalar(value: Any) -> bool:
    """Whether ``value`` (a traced value, a forward dual, or a plain one) stands for a NumPy scalar
    (an immutable ``np.float64``), where NumPy's ``np.asanyarray`` would make a new 0-d array."""
    while isinstance(value, LeveledValue):
        value = value.primal
    if type(value) is Traced:
        return value._shape == () and value._holds_a_numpy_scalar()
    return isinstance(value, np.generic)


def holds_traced(value: Any) -> bool:
    """Whether a traced value (or a forward dual) hides in ``value``: itself, a list or tuple
    holding one, or a slice's bounds."""
    if type(value) is Traced or isinstance(value, LeveledValue):
        return True
    if isinstance(value, (tuple, list)):
        return any(holds_traced(part) for part in value)
    if isinstance(value, slice):
        return holds_traced(value.start) or holds_traced(value.stop) or holds_traced(value.step)
    return False


def plain_argument(value: Any, function: str, name: str, differentiable: str) -> Any:
    """``value``, which must not be traced: an argument the rule does not differentiate raises."""
    if holds_traced(value):
        raise error_with_location(
            UnsupportedOperationError,
            f"{function}: {name} is a traced value{{where}}; mixedad differentiates {function} with respect "
            f"to {differentiable} only. Pass {name} as a plain array (not an argument in argnums).", skip=2)
    return value


def reject_out(out, function: str) -> None:
    """Refuse ``out=`` in a rule reached without NumPy's dispatch (a method call); through
    ``__array_function__``, ``out=`` is refused before any rule runs."""
    if out is not None:
        raise unsupported_option(f"np.{function} with out= is not supported on traced values; "
                                 f"assign the result instead (y = np.{function}(...)).")


def _positional_names(function: Callable) -> tuple:
    """The parameters ``function`` also takes by position, in order (none if it has no signature)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
