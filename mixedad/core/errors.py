"""Errors raised by mixedad, and locating the user's source line they point at."""
from __future__ import annotations

import functools
import inspect
import itertools
import linecache
import os
import re
import sys
import sysconfig
import types
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# (with the separator: a user's "mixedad_experiments/" next to the package is not the package)
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_NUMPY_DIR = (os.path.dirname(os.path.abspath(sys.modules["numpy"].__file__)) + os.sep
              if "numpy" in sys.modules else None)
_NUMPY_CYTHON = "numpy/"  # (as Cython records a module's path)


@dataclass(frozen=True)
class SourceLocation:
    """A line in the user's code: where an operation was written."""

    filename: str
    lineno: int
    function: str
    # For a line inside an installed library (scipy calling np.asarray): the user's line that
    # called into it, which is what the user can change, and the library function it called
    # (``"scipy.special.logsumexp"``).
    called_from: "SourceLocation | None" = None
    library_call: str | None = None

    @property
    def text(self) -> str:
        return linecache.getline(self.filename, self.lineno).strip()

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno}"


# Modules inside the package that are user code as far as reports are concerned.
_USER_CODE_IN_PACKAGE = (os.path.join(_PACKAGE_DIR, "examples", ""), os.path.join(_PACKAGE_DIR, "demo.py"))


@functools.lru_cache(maxsize=1024)  # asked for every in-place update (the line a later error names)
def is_internal(filename: str) -> bool:
    """Whether code in ``filename`` is mixedad's or NumPy's (not the user's)."""
    if in_numpy(filename):  # (before abspath: NumPy's Cython frames have paths relative to site-packages)
        return True
    if not filename.startswith("<"):
        filename = os.path.abspath(filename)
    if filename.startswith(_PACKAGE_DIR) and not filename.startswith(_USER_CODE_IN_PACKAGE):
        return True
    if in_numpy(filename):
        return True
    # "<mixedad region>", "<mixedad program>": code mixedad generates (dual regions, replayed programs)
    return filename.startswith(("<frozen", "<mixedad ")) or filename == "<__array_function__ internals>"


_LIBRARY_DIRS = tuple({os.path.abspath(sysconfig.get_paths()[key]) + os.sep
                      for key in ("stdlib", "purelib", "platlib")})


@functools.lru_cache(maxsize=1024)  # the profiler asks for every recorded operation
def in_library(filename: str) -> bool:
    """Whether ``filename`` belongs to the standard library or an installed package (not mixedad)."""
    return os.path.abspath(filename).startswith(_LIBRARY_DIRS) and not filename.startswith(_PACKAGE_DIR)


def _user_frame(skip: int):
    """The innermost stack frame outside mixedad and NumPy, from ``skip`` frames above the
    caller's (as ``sys._getframe(skip)`` there), or None."""
    frame = sys._getframe(skip + 1)
    while frame is not None and is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def user_location(skip: int = 1) -> SourceLocation | None:
    """The innermost stack frame outside mixedad and NumPy, or None."""
    frame = _user_frame(skip)
    if frame is None:
        return None
    filename = frame.f_code.co_filename
    called_from = library_call = None
    if in_library(filename):
        entered, caller = frame, frame.f_back
        while caller is not None and (is_internal(caller.f_code.co_filename)
                                      or in_library(caller.f_code.co_filename)):
            entered, caller = caller, caller.f_back
        if caller is not None:
            called_from = SourceLocation(caller.f_code.co_filename, caller.f_lineno, caller.f_code.co_name)
            library_call = _public_name(entered)
            if "<locals>" in library_call:  # a decorator's wrapper: the name the user's call has
                library_call = _called_name(caller) or library_call
    return SourceLocation(filename, frame.f_lineno, frame.f_code.co_name, called_from, library_call)


def user_line(skip: int = 1) -> tuple[types.CodeType, int] | None:
    """``(code, line number)`` of the frame ``user_location(skip)`` describes: cheap enough (a
    microsecond less) to keep at every in-place update, for a message that may name it later."""
    frame = _user_frame(skip)
    return None if frame is None else (frame.f_code, frame.f_lineno)


def _described_line(line: tuple[types.CodeType, int] | None) -> str:
    """``describe_location`` of a ``user_line``."""
    return "" if line is None else describe_location(SourceLocation(line[0].co_filename, line[1], line[0].co_name))


def _qualname(frame) -> str:
    return getattr(frame.f_code, "co_qualname", frame.f_code.co_name)


def _running_call(frame) -> str | None:
    """The source of the expression ``frame`` is stopped at (a call), if it fits on one line."""
    try:
        line, end_line, start, end = list(frame.f_code.co_positions())[frame.f_lasti // 2]
    except (AttributeError, IndexError, ValueError):
        return None
    if line is None or line != end_line or start is None:
        return None
    return linecache.getline(frame.f_code.co_filename, line).encode()[start:end].decode(errors="replace")


def _called_name(frame) -> str | None:
    """``scipy.linalg.solve_triangular`` for a frame stopped at the call ``sla.solve_triangular(a, b)``
    (the name as the source spells it where it is not a function's), if the call fits on one line."""
    source = _running_call(frame)
    if source is None:
        return None
    called = re.match(r"\s*([\w.]+)\s*\(", source)
    if called is None:
        return None
    first, *attributes = called.group(1).split(".")
    function = frame.f_locals.get(first, frame.f_globals.get(first, frame.f_builtins.get(first)))
    try:
        for attribute in attributes:  # modules' attributes (maybe lazy), else static: no property runs again
            function = (getattr(function, attribute) if isinstance(function, types.ModuleType)
                        else inspect.getattr_static(function, attribute))
    except AttributeError:
        return called.group(1)
    if not isinstance(function, (types.FunctionType, types.BuiltinFunctionType)):
        return called.group(1)
    if function.__module__ == "builtins":  # getattr(module, "name")(...): the wrapper's name is all there is
        return None
    public = itertools.takewhile(lambda part: not part.startswith("_"), (function.__module__ or "").split("."))
    return ".".join([*public, function.__name__])


def _public_name(frame) -> str:
    """``scipy.special.logsumexp`` for a frame of ``scipy.special._logsumexp.logsumexp``: the
    module path up to its first private part, and the function."""
    public = itertools.takewhile(lambda part: not part.startswith("_"), frame.f_globals.get("__name__", "").split("."))
    return ".".join([*public, _qualname(frame)])


def numpy_function_entered(skip: int = 1) -> str | None:
    """The NumPy function the user's code called that led here (``"np.sum"``,
    ``"np.linalg.norm"``, ``"np.vectorize.__call__"``), or None if the call came from elsewhere."""
    frame, entered = sys._getframe(skip), None
    while frame is not None and is_internal(frame.f_code.co_filename):
        if in_numpy(frame.f_code.co_filename):
            entered = frame
        frame = frame.f_back
    if entered is None or frame is None:
        return None
    return numpy_name(entered)


def in_numpy(filename: str) -> bool:
    """Whether ``filename`` (an absolute path, or a Cython module's "numpy/random/_generator.pyx")
    is NumPy's code."""
    return _NUMPY_DIR is not None and filename.startswith(_NUMPY_DIR) or filename.startswith(_NUMPY_CYTHON)


def numpy_name(entered) -> str:
    """The public name of the NumPy function running in the frame ``entered`` (``"np.linalg.norm"``)."""
    public = []  # numpy.linalg._linalg -> linalg; numpy._core.fromnumeric, numpy.lib._* -> nothing
    for part in entered.f_globals.get("__name__", "").split(".")[1:]:
        if part.startswith("_") or part == "lib":
            break
        public.append(part)
    return ".".join(["np", *public, getattr(entered.f_code, "co_qualname", entered.f_code.co_name)])


def converted_by_numpy(entered: str | None) -> str:
    """What to do when the NumPy function ``entered`` (from ``numpy_function_entered``) converted
    differentiated values to a plain array."""
    if entered is None:
        return _advice_for_a_call_in_c(user_location(3))
    if entered.startswith("np.vectorize"):
        return " np.vectorize runs its function on plain values: use mixedad.map(f, x) instead."
    if "AxisConcatenator" in entered:
        return " np.r_ and np.c_ convert their pieces: use np.concatenate([...]) or np.column_stack([...])."
    if entered.startswith("np.polynomial"):
        return (" np.polynomial converts its coefficients c to a plain array. A series is linear in them: "
                "evaluate it as a product with its Vandermonde matrix, np.polynomial.chebyshev.chebvander(x, "
                "len(c) - 1) @ c for a plain x (polyvander, legvander, hermvander, hermevander, lagvander in the "
                "other bases); in the power basis np.polyval(c[::-1], x) works too.")
    if entered.startswith("np.ma."):
        return (" np.ma (masked arrays) converts its data to a plain array, and mixedad does not differentiate "
                "masked arrays: select with np.where(mask, fill_value, x), or x[~mask] (np.sum(x[~mask]) is what "
                "np.ma's sum computes).")
    if entered == "np.select":
        return (" NumPy's np.select dispatches on condlist and choicelist only, not on default: pass a "
                "differentiated default as a last case, np.select([*conditions, True], [*choices, default]), or "
                "write np.where(condition, choice, default).")
    if entered == "np.as_strided":
        return (" np.lib.stride_tricks.as_strided makes a view from raw memory, with no derivative to follow: for "
                "windows (im2col, convolutions) use np.lib.stride_tricks.sliding_window_view(x, window_shape), which "
                "mixedad differentiates; otherwise index, reshape or np.broadcast_to.")
    if entered == "np.full":
        return (" np.full converts its fill value to a plain array: use np.broadcast_to(value, shape), or "
                "value * np.ones(shape) for an array to write into.")
    return (f" {entered} converted differentiated values to a plain array (NumPy does so with values inside a "
            f"list or tuple, and with arguments it does not dispatch on): pass one differentiated array, as in "
            f"{entered}(np.stack([a, b])) for a list.")


def math_call_named(conversion: str) -> str:
    """``float()`` as the ``math`` function the user's code calls, which converts with it
    (``math.exp(x)``): the call running on the user's line, or if that spans lines, a ``math``
    call on the line."""
    frame = _user_frame(1) if conversion.startswith("float()") else None
    if frame is None:
        return conversion
    call = _running_call(frame)
    if call is not None:
        found = re.match(r"\s*math\.(\w+)\(", call)
    else:  # a call over several lines
        found = re.search(r"\bmath\.(\w+)\(", linecache.getline(frame.f_code.co_filename, frame.f_lineno))
    return f"math.{found.group(1)}() (a conversion to float)" if found else conversion


# Random draws with differentiated parameters, as a transformation of parameter-free noise
# (the reparameterization trick), which mixedad differentiates.
REPARAMETERIZED_DRAWS = {
    "normal": "loc + scale * rng.standard_normal(size)",
    "uniform": "low + (high - low) * rng.random(size)",
    "exponential": "scale * rng.standard_exponential(size)",
    "lognormal": "np.exp(mean + sigma * rng.standard_normal(size))",
    "laplace": "loc + scale * rng.laplace(size=size)",
    "logistic": "loc + scale * rng.logistic(size=size)",
    "gumbel": "loc + scale * rng.gumbel(size=size)",
    "multivariate_normal": "mean + rng.standard_normal(size + (d,)) @ np.linalg.cholesky(cov).T",
}
_NUMPY_SCALAR_TYPES = r"float64|float32|float16|double|single|half|longdouble"
_SELECTING_DRAWS = {"choice", "permutation", "shuffle", "permuted"}  # draw elements of x, not from parameters


def _advice_for_a_call_in_c(location: SourceLocation | None) -> str:
    """For a line calling something in C that converts its arguments (no NumPy frame to name):
    a method of a NumPy array (``w.dot(x)``), whose function form dispatches on traced values;
    a random draw (``rng.normal(mu, 1.0)``); a NumPy scalar type (``np.float64(x[0])``)."""
    text = location.text if location is not None else None
    if re.search(r"\b(?:np|numpy)\.(?:array|asarray)\(", text or ""):
        return ""  # the conversion the message names is there: no method of the line to suspect
    for owner, name in re.findall(r"([\w\])]+)\.(\w+)\(", text or ""):
        if owner not in ("np", "numpy", "mixedad", "math") and hasattr(np.ndarray, name) and callable(getattr(np, name, None)) and not name.startswith("_"):
            return (f" If .{name}(...) here is the method of a plain NumPy array, it converts its arguments: "
                    f"call the function np.{name}(array, ...) instead, which passes traced values through.")
        if owner not in ("np", "numpy") and name in _SELECTING_DRAWS:
            return (f" If .{name}(...) here is a NumPy random draw, it converts the values it draws from to a plain "
                    "array: draw indices instead and select with them (x[rng.permutation(len(x))], "
                    "x[rng.choice(len(x), k)]), which mixedad differentiates.")
        if owner not in ("np", "numpy") and hasattr(np.random.Generator, name) and not name.startswith("_"):
            draw = REPARAMETERIZED_DRAWS.get(name)
            transform = (f"draw it as {draw}" if draw else
                         "draw parameter-free noise and transform it with NumPy functions of the parameters")
            return (f" If .{name}(...) here is a NumPy random draw, it converts its parameters to plain arrays, "
                    f"so no derivative reaches them: {transform} (the reparameterization trick), which mixedad "
                    "differentiates.")
    layout = re.search(r"\b(?:np|numpy)\.(ascontiguousarray|asfortranarray|asanyarray|require)\(", text or "")
    if layout:
        return (f" np.{layout.group(1)}(...) makes a plain array: a differentiated value has no memory layout to "
                "change, so use it as it is (x.copy() for a copy that a later write must not reach).")
    scalar = re.search(rf"\b(?:np|numpy)\.({_NUMPY_SCALAR_TYPES})\(", text or "")
    if scalar:
        return (f" np.{scalar.group(1)}(...) makes a plain NumPy scalar: keep the traced value itself, or change "
                f"its dtype with value.astype(np.{scalar.group(1)}).")
    return ""


def describe_location(location: SourceLocation | None) -> str:
    if location is None:
        return ""
    text = location.text
    described = f" at {location}" + (f": `{text}`" if text else "")
    if location.called_from is not None:
        inside = f" (inside {location.library_call})" if location.library_call else ""
        described += f"{inside}, called from {location.called_from}" + (
            f": `{location.called_from.text}`" if location.called_from.text else "")
    return described


class MixedadError(Exception):
    """Base class of every error mixedad raises on purpose."""


# What to do instead of storing differentiated values into a NumPy array (out[i] = value).
FILL_AN_ARRAY = ("To fill an array with differentiated values, make the array from a differentiated one: "
                 "out = np.zeros_like(x) (or np.zeros_like(x, shape=...)) accepts out[i] = value; or collect "
                 "the values in a list and use np.stack([...]).")


# What to do when a library function the user called converts a traced value (scipy.special.logsumexp).
IN_A_LIBRARY = ("{library} converts its arguments to plain arrays, so mixedad cannot follow the derivative "
                "through it: {instead}")
OTHERWISE = ("write that computation with NumPy functions on the traced value, or make it a primitive with its "
             "own rule (@mixedad.primitive and defvjp; see docs/rules.md).")
# Library functions whose work NumPy functions (which mixedad differentiates) or mixedad.nn do.
LIBRARY_REPLACEMENTS = {
    "scipy.special.logsumexp": "mixedad.nn.logsumexp(a, axis=...) (for b=, add np.log(b) to a)",
    "scipy.special.softmax": "mixedad.nn.softmax(x, axis=...)",
    "scipy.special.log_softmax": "mixedad.nn.log_softmax(x, axis=...)",
    "scipy.linalg.solve_triangular": "np.linalg.solve(a, b) (a triangular a is no harder for it)",
    "scipy.linalg.cho_solve": "np.linalg.solve(a, b) with the matrix a itself",
    "scipy.linalg.cho_factor": "np.linalg.cholesky(a) (lower triangular)",
    "scipy.linalg.cholesky": "np.linalg.cholesky(a) (lower triangular: transpose it for scipy's upper)",
    **{f"scipy.linalg.{name}": f"np.linalg.{name}"
       for name in ("solve", "inv", "det", "eigh", "eigvalsh", "svd", "qr", "norm", "lstsq", "pinv")},
}


# A sparse matrix A times a traced x (A @ x) reaches A's own code first, which converts x.
SPARSE_ADVICE = ("for a constant sparse matrix A, use A.toarray() @ x (a dense product, which mixedad "
                 "differentiates), or make the sparse product a primitive whose reverse rule multiplies the "
                 "cotangent by A.T (@mixedad.primitive and defvjp; see docs/rules.md).")


def library_advice(library: str) -> str:
    """What to do instead of calling ``library`` (a function's public name) on a traced value."""
    replacement = LIBRARY_REPLACEMENTS.get(library)
    instead = f"use {replacement} instead, which mixedad differentiates." if replacement else \
        SPARSE_ADVICE if library.startswith("scipy.sparse") else OTHERWISE
    return IN_A_LIBRARY.format(library=library, instead=instead)


def replaced_by_numpy(error: BaseException) -> MixedadError | None:
    """mixedad's error behind a ValueError NumPy raised instead: ``buf[i] = value`` into a
    NumPy array calls ``float(value)``; mixedad refuses, and NumPy reports "setting an array
    element with a sequence"."""
    if isinstance(error, MixedadError) or not isinstance(error, ValueError):
        return None
    origin = error.__cause__ if error.__cause__ is not None or error.__suppress_context__ else error.__context__
    return origin if isinstance(origin, MixedadError) else None


class UnsupportedOperationError(MixedadError, TypeError):
    """A NumPy function or method reached mixedad and it has no rule for it."""


class NonDifferentiableError(MixedadError, TypeError):
    """A value was used in a way that would silently drop its derivative."""


class InPlaceMutationError(MixedadError, ValueError):
    """A traced value was modified in place, or used after an in-place update replaced it."""


class NotVectorizableError(NonDifferentiableError):
    """A scalar function branched on, or converted, a traced array (used by mixedad.sum/map fallback).
    Not a ValueError, though NumPy's "truth value ... is ambiguous" is: a scalar function's own
    ``except ValueError`` would catch it when mixedad.sum/map first tries the function on arrays."""


class InputError(MixedadError, TypeError):
    """Arguments that mixedad cannot differentiate with respect to (integers, complex, ...)."""


class OutputError(MixedadError, TypeError):
    """``f``'s output is not what the transform differentiates (a floating-point scalar for a gradient)."""


class MissingRuleError(MixedadError, NotImplementedError):
    """A primitive was differentiated in a mode for which it has no rule."""


class RuleSignatureError(MixedadError, TypeError):
    """A rule attached to a primitive cannot be called the way mixedad calls it (a partial
    derivative with parameters other than the primitive's arguments and ``out``)."""


class UnsupportedOptionError(UnsupportedOperationError, NotImplementedError):
    """A NumPy function mixedad supports was called with an option it has no rule for
    (``out=``, an interpolation method, a pad mode, ...)."""


class UnsupportedAttributeError(UnsupportedOperationError, AttributeError):
    """An ndarray attribute or method that traced values do not provide (``x.flat``, ``x.view()``)."""


def refuse_imaginary_part(value, new) -> None:
    """``z.imag = v`` on a real differentiated array, which NumPy refuses too (with a TypeError)."""
    raise error_with_location(
        UnsupportedAttributeError, "z.imag = v on a real differentiated array{where}: a real array has no "
        "imaginary part to set (NumPy raises TypeError too). Build a complex value instead: z = z + 1j * v.")


def unsupported_option(message: str) -> UnsupportedOptionError:
    """``message`` (which says what to use instead) with the user's source line."""
    return UnsupportedOptionError(message + describe_location(user_location(2)).replace(" at ", "\n    at ", 1))


def error_with_location(cls: type[MixedadError], message: str, skip: int = 2, advice: str = "",
                        in_library: Callable[[str], str] | None = None) -> MixedadError:
    """Build ``cls`` with the user's source line put in ``message`` for ``{where}``, then
    ``advice``; or, where the line is in a library function the user called and ``in_library``
    is given, ``in_library(that function's name)``."""
    location = user_location(skip + 1)
    message = message.replace("{where}", describe_location(location))
    if in_library and location is not None and location.library_call:
        return cls(message + " " + in_library(location.library_call))
    return cls(message + advice)


def rule_location(rule) -> str:
    """`` (<lambda> at model.py:12)``: where a rule the user wrote is defined, if Python knows."""
    code = getattr(rule, "__code__", None)
    if code is None:
        return ""
    return f" ({getattr(rule, '__qualname__', code.co_name)} at {code.co_filename}:{code.co_firstlineno})"


def complex_result_error(operation: str) -> UnsupportedOperationError:
    """A traced value met an operation whose result is complex and that the complex-values table
    has no rule for (a user's primitive): refused, because its real rules would silently give
    wrong gradients."""
    return error_with_location(
        UnsupportedOperationError,
        f"{operation} on a traced value gives a complex result{{where}}, and mixedad has no complex rule "
        "for it (a primitive's rules are for real values; see docs/modes.md for the complex operations "
        "mixedad differentiates). Write the computation with real and imaginary parts as separate real "
        "arrays (for example np.cos(x) and np.sin(x) for exp(1j * x)), or compute it outside the "
        "differentiated function.", skip=2)


def retired_value_error(skip: int, replaced_at: tuple | None = None) -> InPlaceMutationError:
    """A use of a view of a traced array that an in-place update changed (``replaced_at``: its ``user_line``)."""
    line = "" if replaced_at is None else linecache.getline(replaced_at[0].co_filename, replaced_at[1])
    shuffled = re.search(r"\.shuffle\(", line)  # a random generator's in-place shuffle, which swaps rows
    return error_with_location(
        InPlaceMutationError,
        f"This traced value was replaced by an in-place operation{_described_line(replaced_at)} (x += ... or "
        "x[...] = v on the array it is a view of, directly or through other views) and is used again{where}. "
        "NumPy would show the view the change; mixedad cannot follow that. Take the view again after the "
        "update, or write x = x + ... and use the new value." +
        (" If .shuffle(x) there shuffles x in place, select a permutation instead: x = x[rng.permutation(len(x))], "
         "which mixedad differentiates." if shuffled else ""), skip=skip)


def stale_view_error(skip: int, replaced_at: tuple | None = None) -> InPlaceMutationError:
    """A use of a forward-mode view taken before an assignment (at ``replaced_at``) changed the array
    it views; the error keeps ``replaced_at``, for ``returned_replaced_value_error`` if f returned it."""
    error = error_with_location(
        InPlaceMutationError,
        f"This view was taken of an array before an assignment x[...] = v{_described_line(replaced_at)} changed "
        "that array, and is used again{where}. NumPy would show it the change; mixedad cannot follow that. "
        "Take the view again after the assignment.", skip=skip + 1)
    error.replaced_at = replaced_at
    return error


def returned_replaced_value_error(replaced_at: tuple | None) -> InPlaceMutationError:
    """f (of gradient, jvp, vjp, jacobian) returned a value that an in-place update replaced after it was
    computed: the error names that update's line (its ``user_line``), the place in f to change,
    as f has returned."""
    return InPlaceMutationError(
        f"f returned a traced value that an in-place operation{_described_line(replaced_at)} replaced after "
        "it was computed (an alias y of x after x += ..., or a view taken before an assignment into the array "
        "it views): NumPy would return the changed values, which mixedad cannot follow. Return the updated "
        "array itself, or take the view again after the assignment.")


def output_error(prim, out) -> OutputError:
    """A primitive's function returned what cannot carry a derivative (a dict, None, strings)."""
    if getattr(out, "dtype", None) is not None and out.dtype.kind == "O" and out.ndim == 0:
        out = out[()]  # np.asarray(a dict): the dict
    what = "None" if out is None else f"a {type(out).__name__}"
    shape = "a tuple of arrays (declared with multiple_outputs=True)" if prim.multiple_outputs else "an array"
    advice = ("Check that the function returns its result." if out is None else
              "Return a tuple of arrays from the primitive, declared with mixedad.primitive(multiple_outputs=True), "
              f"and build {what} from them outside it.")
    return error_with_location(
        OutputError, f"primitive {prim.name} returned {what}{{where}}; its function must return {shape}, the "
        f"values its rules differentiate. {advice}", skip=2)


def refuse_output(prim, out) -> None:
    """Raise if a primitive's result (of differentiated arguments) cannot carry a derivative:
    a dict or other object, a multiple-output primitive's non-sequence, or a complex value."""
    outs = out if isinstance(out, (tuple, list)) else None
    if not prim.multiple_outputs:
        outs = (out,)
    elif outs is None:
        raise output_error(prim, out)
    for o in outs:
        kind = (o.dtype if getattr(o, "dtype", None) is not None else np.asarray(o).dtype).kind
        if kind == "c":
            raise complex_result_error(prim.name)
        if kind not in "fiub":
            raise output_error(prim, out)


def positional_arity(fn) -> tuple[int, int] | None:
    """The fewest and most positional arguments ``fn`` takes; None if unknown (``*args``)."""
    if isinstance(getattr(fn, "nin", None), int):  # a ufunc
        return fn.nin, fn.nin
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return None
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return sum(p.default is p.empty for p in positional), len(positional)


def argument_names(prim, n_args: int) -> list[str]:
    """Names for the ``n_args`` positional arguments of ``prim``: its function's parameters, then
    ``x1``, ``x2``, ... (all of them for a ufunc, which has no signature to read)."""
    try:
        names = [p.name for p in inspect.signature(prim.fn).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][:n_args]
    except (TypeError, ValueError):  # a ufunc
        names = []
    return names + [f"x{i}" for i in range(len(names), n_args)]


def partial_signature_error(prim, position: int, spec, n_args: int, kwargs=(), where: str = ""):
    """The error for a partial derivative that cannot be called as mixedad calls it, with the
    primitive's ``n_args`` arguments, ``out=`` if it has a parameter of that name, and the call's
    keyword arguments; None if it can be."""
    try:
        signature = inspect.signature(spec)
    except (TypeError, ValueError):
        return None
    names = argument_names(prim, n_args)
    extra = (["out"] if "out" in signature.parameters else []) + list(kwargs)
    try:
        signature.bind(*names, **dict.fromkeys(extra))
    except TypeError as problem:
        call = ", ".join(names + [f"{key}={key}" for key in extra])
        return RuleSignatureError(
            f"the partial derivative for argument {position} of {prim.name}{rule_location(spec)} takes "
            f"({', '.join(signature.parameters)}), but mixedad calls it as partial({call}){where} ({problem}). "
            "A partial takes the primitive's arguments in order, then optionally the output as a last "
            f"parameter named out{' and the keyword arguments of the call' if kwargs else ''}: for example "
            f"lambda {', '.join(names)}, out: ... .")
    return None


def check_partial_signatures(prim, partials) -> None:
    """At ``defpartials``: raise if a partial cannot take the primitive's arguments, or for more
    partials than it has arguments (the extra ones would be ignored)."""
    arity = positional_arity(prim.fn)
    if arity is not None and len(partials) > arity[1] and not any(map(mixedads_own, partials)):
        raise MixedadError(f"{prim.name}.defpartials got {len(partials)} partials for {arity[1]} argument(s): give "
                           "one per positional argument, in order (None for one never differentiated).")
    for position, spec in enumerate(partials):
        if arity is not None and callable(spec):
            errors = [partial_signature_error(prim, position, spec, n, where="{where}")
                      for n in range(arity[0], arity[1] + 1)]
            if errors and all(errors):
                raise type(errors[0])(str(errors[0]).replace("{where}", describe_location(user_location(3))))


def check_declaration(prim):
    """``prim``, made by ``mixedad.primitive``, after raising for options that cannot apply,
    rather than at a first use."""
    if prim.elementwise and prim.multiple_outputs:
        raise MixedadError(f"primitive {prim.name}: elementwise=True takes one output; for several, declare a "
                           "general primitive (multiple_outputs=True) with reverse rules (defvjp).")
    arity = positional_arity(prim.fn)
    outside = [j for j in prim.nondiff_argnums if j < 0 or arity is not None and j >= arity[1]]
    if outside:
        raise MixedadError(f"primitive {prim.name}: nondiff_argnums {tuple(outside)} outside its "
                           f"{'' if arity is None else arity[1]} positional argument(s): give positions from 0.")
    return prim


def mixedads_own(function) -> bool:
    """Whether a rule or partial is mixedad's own (built-in rules, ``mixedad.nn``), which the checks
    and read-only wrappers for a user's rules leave alone."""
    return (getattr(function, "__module__", None) or "").startswith("mixedad.")


def check_rule_count(prim, rules, method: str) -> None:
    """At ``defvjp``/``defjvp``: raise for more rules than the primitive has differentiable
    arguments (the extra ones would be ignored), and for one rule per positional argument where
    some arguments are not differentiated (``nondiff_argnums``). Rules are one per
    differentiable argument, so each rule after a skipped argument would silently apply to the
    next argument. (``check_grads`` reports a rule that cannot take mixedad's call.)"""
    arity = positional_arity(prim.fn)
    if arity is not None and not any(map(mixedads_own, rules)):  # (mixedad's own declare options besides)
        differentiable = arity[1] - len(set(prim.nondiff_argnums))
        if len(rules) > max(differentiable, 1) and len(rules) != arity[1]:
            raise MixedadError(f"{prim.name}.{method} got {len(rules)} rules for {differentiable} differentiable "
                               "argument(s): give one per differentiable argument, in order, or one rule for all.")
    skipped = [j for j in prim.nondiff_argnums if arity is not None and j < arity[1]]
    if len(rules) < 2 or not skipped or len(rules) != arity[1]:
        return
    try:
        names = [p.name for p in inspect.signature(prim.fn).parameters.values()][:arity[1]]
    except (TypeError, ValueError):  # a ufunc: no signature to read
        names = [f"argument {j}" for j in range(arity[1])]
    wanted = ", ".join(name for j, name in enumerate(names) if j not in skipped)
    raise MixedadError(
        f"{prim.name}.{method} got {len(rules)} rules, one per argument, but argument"
        f"{'s' if len(skipped) > 1 else ''} {', '.join(names[j] for j in skipped)} (nondiff_argnums) "
        f"{'are' if len(skipped) > 1 else 'is'} not differentiated: give one rule per differentiable "
        f"argument, in order ({wanted}). As written, each rule after the skipped argument would apply to the next.")


def raise_missing_rule(prim, traced_positions, rule_at) -> None:
    """Raise the error for a call of ``prim`` that has no reverse rule for a traced argument."""
    for j in traced_positions:
        if j in prim.nondiff_argnums:
            raise error_with_location(
                InputError, f"argument {j} of {prim.name} is declared non-differentiable but "
                "received a traced value{where}.", skip=3)
    if prim.vjp_rules is None:
        raise error_with_location(
            MissingRuleError, f"primitive {prim.name} has no reverse rule (vjp){{where}}, and no "
            f"forward rule to derive one from; define one with @{prim.name}.defvjp.", skip=3)
    missing = [j for j in traced_positions if j not in rule_at]
    raise error_with_location(
        MissingRuleError, f"primitive {prim.name} has no reverse rule for argument {missing[0]}"
        "{where}.", skip=3)
