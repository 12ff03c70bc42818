"""Where NumPy calls land: tables from ufuncs and NumPy functions to their mixedad handlers.

The rule tables fill these through ``mixedad.core.primitive``; the traced value type
reads them. A missing entry is an error that names the function and the user's line.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

from .errors import UnsupportedOperationError, complex_result_error, error_with_location, output_error

UFUNC_HANDLERS: dict[np.ufunc, Callable[..., Any]] = {}
# The same handlers called as ``binder(args, kwargs)``: a primitive's ``bind_arguments`` (no
# repacking of the arguments NumPy hands over), or the handler behind a small adapter.
UFUNC_BINDERS: dict[np.ufunc, Callable[[tuple, dict], Any]] = {}
FUNCTION_HANDLERS: dict[Callable[..., Any], Callable[..., Any]] = {}
# Called with a function that has no handler yet; each may register rules for it (tables for
# optional libraries such as scipy.special load only when one of their functions shows up).
ON_DEMAND_RULES: list[Callable[[Any], None]] = []
# Set by the complex-values table (``rules.complex_values``): ``apply(prim, args, kwargs)`` for an
# operation on traced values whose result is complex, computed on its real and imaginary parts.
COMPLEX_RESULTS: list[Callable[[Any, tuple, dict], Any]] = []
# Set by ``mixedad.scalar_duals``: per type of per-element dual number, ``apply(prim, args,
# kwargs)`` for an elementwise primitive called on one (np.i0's partial, a user's primitive).
ELEMENTWISE_ON_DUALS: dict[type, Callable[[Any, tuple, dict], Any]] = {}


def complex_result(prim: Any, args: tuple, kwargs: dict, out: Any = None) -> Any:
    """``prim`` applied to ``args``, whose result is complex: through the complex-values table,
    which raises if it has no rule for the operation. (An ``out`` of objects is refused.)"""
    if out is not None and out.dtype.kind == "O":
        raise output_error(prim, out)
    if not COMPLEX_RESULTS:
        raise complex_result_error(prim.name)
    return COMPLEX_RESULTS[0](prim, args, kwargs)


def register_function(numpy_function: Callable[..., Any], handler: Callable[..., Any]) -> None:
    """Make ``handler`` what runs when ``numpy_function`` meets a traced value."""
    if isinstance(numpy_function, np.ufunc):
        UFUNC_HANDLERS[numpy_function] = handler
        UFUNC_BINDERS[numpy_function] = getattr(handler, "bind_arguments", None) or \
            (lambda args, kwargs: handler(*args, **kwargs))
    else:
        FUNCTION_HANDLERS[numpy_function] = handler


def numpy_name(function: Any) -> str:
    module = getattr(function, "__module__", None) or "numpy"
    name = getattr(function, "__name__", repr(function))
    if isinstance(function, np.ufunc):
        special = sys.modules.get("scipy.special")
        if special is not None and getattr(special, name, None) is function:
            return f"scipy.special.{name}"
        return f"numpy.{name}"
    module = module.replace("numpy._core.", "numpy.").replace("numpy.core.", "numpy.")
    if module == "numpy.lib.scimath":  # np.emath: not to be confused with the ufunc of the same name
        return f"numpy.emath.{name}"
    if module.startswith("numpy.") and module.count(".") and not module.startswith("numpy.linalg") \
            and not module.startswith("numpy.fft") and not module.startswith("numpy.random"):
        module = "numpy"
    return f"{module}.{name}"


def unsupported(function: Any, detail: str = "") -> UnsupportedOperationError:
    return error_with_location(
        UnsupportedOperationError,
        f"mixedad has no differentiation rule for {numpy_name(function)}{detail}{{where}}. "
        "Define one with @mixedad.primitive (see docs/rules.md), compute this value outside "
        "the differentiated function, or open an issue asking for the rule.",
        skip=2,
    )


def _load_on_demand(function: Any, table: dict) -> Callable[..., Any] | None:
    for load in ON_DEMAND_RULES:
        load(function)
    return table.get(function)


def function_handler(function: Callable[..., Any]) -> Callable[..., Any]:
    handler = FUNCTION_HANDLERS.get(function)
    if handler is None:
        handler = _load_on_demand(function, FUNCTION_HANDLERS)
        if handler is None:
            raise unsupported(function)
    return handler


def ufunc_handler(ufunc: np.ufunc) -> Callable[..., Any]:
    handler = UFUNC_HANDLERS.get(ufunc)
    if handler is None:
        handler = _load_on_demand(ufunc, UFUNC_HANDLERS)
        if handler is None:
            raise unsupported(ufunc)
    return handler


def ufunc_binder(ufunc: np.ufunc) -> Callable[[tuple, dict], Any]:
    """``ufunc_handler`` as a function of ``(args, kwargs)``."""
    binder = UFUNC_BINDERS.get(ufunc)
    if binder is None:
        ufunc_handler(ufunc)  # loads rules on demand, or raises
        binder = UFUNC_BINDERS[ufunc]
    return binder
