"""Scalar dual numbers, and user functions rewritten to run on them (``mixedad.map``'s element path).

A ``ScalarDual`` is one element's value with its partial derivatives with respect to the
mapped inputs; NumPy ufuncs and operators on it apply the elementwise rule table.
``with_dual_math(f)`` gives ``f`` with ``math`` functions and ``float`` swapped for dual-aware
versions, in ``f`` and in the functions of the user's code it reaches by name (module globals,
closure cells, default arguments); ``vectorized(f)`` runs a ``math`` function passed itself as
``f`` as its NumPy (or scipy.special) ufunc. A derivative that would still be dropped (a C
function converting a dual to float) is named by ``name_what_dropped``.
"""
from __future__ import annotations

import builtins
import dis
import functools
import math
import sys
import threading
import types
from typing import Callable

import numpy as np

from .core.arrays import LeveledValue, ignore_floating_errors, restore_floating_errors
from .core.dispatch import ELEMENTWISE_ON_DUALS, FUNCTION_HANDLERS, UFUNC_HANDLERS, numpy_name, ufunc_handler
from .core.errors import (NonDifferentiableError, UnsupportedOperationError, error_with_location, in_library,
                          is_internal)
from .core.traced import Traced


class ScalarDual:
    """One element and its partials with respect to each mapped input (per-element fallback)."""

    __slots__ = ("value", "partials")
    __array_priority__ = 1000.0

    def __init__(self, value, partials):
        self.value = value
        self.partials = partials

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            return NotImplemented
        return apply_scalar(ufunc, inputs)

    def __array_function__(self, func, types, args, kwargs):
        if func is np.where:
            condition, a, b = args
            return a if _plain(condition) else b
        if func is np.clip:
            result, low, high = args[0], args[1] if len(args) > 1 else kwargs.get("a_min"), \
                args[2] if len(args) > 2 else kwargs.get("a_max")
            if low is not None:  # as maximum and minimum: a tie at a bound splits the derivative, as np.clip's does
                result = apply_scalar(np.maximum, (result, low))
            return result if high is None else apply_scalar(np.minimum, (result, high))
        if func in _VALUE_ONLY_FUNCTIONS:  # piecewise constant, or the value's type: the value only
            return func(*[_plain(a) for a in args], **kwargs)
        prim = FUNCTION_HANDLERS.get(func)
        if getattr(prim, "elementwise", False) and not kwargs:  # np.sinc, np.i0: as _elementwise_primitive
            return prim(*args)
        raise error_with_location(
            NonDifferentiableError,
            f"{func.__name__} inside a per-element scalar function{{where}} is not supported; "
            "use elementwise NumPy functions and operators.", skip=1)

    def __float__(self):
        raise _dropped_derivative_error(_C_CALLS.culprit if _C_CALLS.recording else None)

    # piecewise-constant conversions: the value only (derivative 0), as Python gives it
    def __floor__(self):
        return math.floor(_python_value(self))

    def __ceil__(self):
        return math.ceil(_python_value(self))

    def __trunc__(self):
        return math.trunc(_python_value(self))

    def __round__(self, ndigits=None):
        return round(self.value, ndigits)

    def __int__(self):
        return int(self.value)

    def item(self):  # a NumPy scalar's item(): the number, derivative kept, as for float(t) rewritten above
        return self

    def __bool__(self):
        return bool(self.value)

    def __repr__(self):
        return f"ScalarDual({self.value!r}, {self.partials!r})"

    def __format__(self, spec):  # a debugging print(f"{t:.3f}") shows the value
        return format(self.value, spec)

    def __add__(self, other): return apply_scalar(np.add, (self, other))
    def __radd__(self, other): return apply_scalar(np.add, (other, self))
    def __sub__(self, other): return apply_scalar(np.subtract, (self, other))
    def __rsub__(self, other): return apply_scalar(np.subtract, (other, self))
    def __mul__(self, other): return apply_scalar(np.multiply, (self, other))
    def __rmul__(self, other): return apply_scalar(np.multiply, (other, self))
    def __truediv__(self, other): return apply_scalar(np.true_divide, (self, other))
    def __rtruediv__(self, other): return apply_scalar(np.true_divide, (other, self))
    def __pow__(self, other): return apply_scalar(np.power, (self, other))
    def __rpow__(self, other): return apply_scalar(np.power, (other, self))
    def __mod__(self, other): return apply_scalar(np.remainder, (self, other))
    def __rmod__(self, other): return apply_scalar(np.remainder, (other, self))
    def __floordiv__(self, other): return apply_scalar(np.floor_divide, (self, other))
    def __rfloordiv__(self, other): return apply_scalar(np.floor_divide, (other, self))
    def __divmod__(self, other): return self // other, self % other
    def __rdivmod__(self, other): return other // self, other % self
    def __neg__(self): return apply_scalar(np.negative, (self,))
    def __pos__(self): return self
    def __abs__(self): return apply_scalar(np.absolute, (self,))
    def __lt__(self, other): return self.value < _plain(other)
    def __le__(self, other): return self.value <= _plain(other)
    def __gt__(self, other): return self.value > _plain(other)
    def __ge__(self, other): return self.value >= _plain(other)
    def __eq__(self, other): return self.value == _plain(other)
    def __ne__(self, other): return self.value != _plain(other)

    def __hash__(self):
        raise error_with_location(
            NonDifferentiableError, "hashing a dual number (a dict key, a set, an lru_cache argument){where} would "
            "key it by its value and drop its derivative: compute the value without the cache.", skip=1)


def _plain(value):
    return value.value if type(value) is ScalarDual else value


def _python_value(value):
    """The value for Python's math (which cannot truncate a np.float32), under every level of
    duals (second derivatives nest them)."""
    while type(value) is ScalarDual:
        value = value.value
    return builtins.float(value) if isinstance(value, np.floating) else value


# np.result_type too: at second order a rule's partial runs on duals, and np.maximum's (np.heaviside's)
# asks the type of its result, which is its value's
_VALUE_ONLY_FUNCTIONS = {np.round, np.around, np.fix, np.result_type}


def _elementwise_primitive(prim, args, kwargs):
    """An elementwise primitive called on a scalar dual (np.i0's partial, a user's primitive)."""
    if kwargs:
        raise error_with_location(
            NonDifferentiableError, f"{prim.name} with keyword arguments inside a per-element scalar function"
            "{where} is not supported; pass its arguments by position.", skip=3)
    return apply_scalar(prim.fn, args, prim)


ELEMENTWISE_ON_DUALS[ScalarDual] = _elementwise_primitive


def apply_scalar(ufunc, inputs, prim=None):
    """Apply an elementwise op (a ufunc, or the NumPy function of the elementwise primitive
    ``prim``) to scalar duals using the same partials as the dual regions."""
    prim = prim or UFUNC_HANDLERS.get(ufunc)
    if prim is None:
        try:
            prim = ufunc_handler(ufunc)  # loads rules on demand (the scipy.special table), as traced values do
        except UnsupportedOperationError:
            prim = None
    if prim is None or not getattr(prim, "elementwise", False):
        raise error_with_location(
            NonDifferentiableError, f"{numpy_name(ufunc)} has no elementwise differentiation rule{{where}} (in a "
            "scalar function mapped element by element). Define one with @mixedad.primitive (see docs/rules.md), "
            "or compute this value outside the differentiated function.", skip=2)
    for v in inputs:
        if type(v) is Traced or isinstance(v, LeveledValue):
            raise error_with_location(
                UnsupportedOperationError, f"{numpy_name(ufunc)}{{where}}, in a scalar function mapped element by "
                "element (it branches on values), meets a differentiated value the function closes over, which "
                "cannot meet the per-element argument. Pass that value as another argument "
                "(np.sum(mixedad.map(lambda t, p: ..., x, p))), or write the branch with np.where so that the "
                "function runs vectorized.", skip=2)
    values = [_plain(v) for v in inputs]
    out = prim.fn(*values)
    if not prim.differentiable:
        return out
    duals = [j for j, v in enumerate(inputs) if type(v) is ScalarDual]
    if not duals:  # math.log(2.0, base) and the like: constants only
        return out
    if isinstance(out, (complex, np.complexfloating)):  # the real partials would drop the imaginary parts
        raise error_with_location(
            UnsupportedOperationError, f"{numpy_name(ufunc)} gives a complex value{{where}} in a scalar function "
            "mapped element by element (it branches, or calls Python's math); mixedad differentiates complex values "
            "in vectorized code only. Write branches with np.where and math.f as np.f, so that the function runs "
            "on whole arrays.", skip=2)
    n_partials = len(inputs[duals[0]].partials)
    token = ignore_floating_errors()  # (partials at singular points: their errors are not the user's)
    try:
        derivatives = {j: prim.partial(j, values, out, {}) for j in duals}
        partials = tuple(builtins.sum(derivatives[j] * inputs[j].partials[k] for j in duals)
                         for k in range(n_partials))
    finally:
        restore_floating_errors(token)
    return ScalarDual(out, partials)


# --- math and float, rewritten for scalar duals --------------------------------------------
_MATH_TO_UFUNC = {
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
    "atan": np.arctan, "atan2": np.arctan2, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh, "exp": np.exp, "expm1": np.expm1,
    "exp2": np.exp2, "log1p": np.log1p, "log2": np.log2, "log10": np.log10, "sqrt": np.sqrt,
    "cbrt": np.cbrt, "fabs": np.fabs, "hypot": np.hypot, "pow": np.power, "copysign": np.copysign,
    "degrees": np.rad2deg, "radians": np.deg2rad, "fmod": np.fmod,
}
# piecewise constant or boolean: the value only (derivative 0), of the type Python's math returns.
# The ufunc is what such a function passed itself as f runs as (None: element by element).
_MATH_VALUE_ONLY = {"floor": np.floor, "ceil": np.ceil, "trunc": np.trunc, "isfinite": np.isfinite,
                    "isnan": np.isnan, "isinf": np.isinf, "isclose": None}
# math functions NumPy has no ufunc for: SciPy's (an optional dependency) carry the rules
_MATH_TO_SPECIAL = {"erf": "erf", "erfc": "erfc", "gamma": "gamma", "lgamma": "gammaln"}


def _dual_aware(name: str, original: Callable) -> Callable:
    ufunc = _MATH_TO_UFUNC[name]

    def function(*args):
        if not any(type(a) is ScalarDual for a in args):
            return original(*args)
        if name == "hypot" and len(args) != 2:  # math.hypot(*coordinates): folded pairwise
            return functools.reduce(lambda a, b: _math_on_duals(np.hypot, (a, b)), args[1:], abs(args[0]))
        return _as_python_math(name, args, _math_on_duals(ufunc, args))
    function.__name__ = name
    return function


_OVERFLOWING = {"exp", "expm1", "exp2", "sinh", "cosh", "pow", "hypot", "gamma"}


def _math_on_duals(ufunc, args):
    """``apply_scalar`` for a function of Python's math, which raises (``_as_python_math``) where
    NumPy would warn: so NumPy's warnings, and the user's ``np.errstate``, stay out of it."""
    token = ignore_floating_errors()
    try:
        return apply_scalar(ufunc, args)
    finally:
        restore_floating_errors(token)


def _as_python_math(name: str, args, result):
    """Python's math raises where NumPy gives NaN or inf from finite values: ValueError for a
    domain error (the log of a negative number or of 0), OverflowError for a result too large;
    so that a function's ``except ValueError`` runs under differentiation as it does without."""
    value = _python_value(result)
    inputs = [_python_value(a) for a in args]
    if math.isfinite(value) or not all(math.isfinite(v) for v in inputs):
        return result
    pole = (name == "pow" and inputs[0] == 0) or (name in ("gamma", "lgamma") and inputs[0] <= 0
                                                   and float(inputs[0]).is_integer())
    if math.isnan(value) or pole or name not in _OVERFLOWING:
        raise ValueError("math domain error")
    raise OverflowError("math range error")


def _value_only(name: str) -> Callable:
    original = getattr(math, name)

    def function(*args, **kwargs):
        return original(*builtins.map(_python_value, args), **{k: _python_value(v) for k, v in kwargs.items()})
    function.__name__ = name
    return function


def _dual_special(name: str, special_name: str) -> Callable:
    original = getattr(math, name)

    def function(x):
        if type(x) is not ScalarDual:
            return original(x)
        try:
            from scipy import special
        except ImportError:
            raise error_with_location(
                UnsupportedOperationError,
                f"math.{name} on a dual number{{where}} needs SciPy, whose scipy.special.{special_name} "
                "carries the derivative rule: pip install scipy (mixedad's \"examples\" extra installs it too).",
                skip=1) from None
        return _as_python_math(name, (x,), _math_on_duals(getattr(special, special_name), (x,)))  # (loads its rules)
    function.__name__ = name
    return function


def _dual_log(x, base=None):
    if type(x) is not ScalarDual and type(base) is not ScalarDual:
        return math.log(x) if base is None else math.log(x, base)
    result = _as_python_math("log", (x,), _math_on_duals(np.log, (x,)))
    if base is None:
        return result
    log_base = _as_python_math("log", (base,), _math_on_duals(np.log, (base,)))
    if _python_value(log_base) == 0:
        raise ZeroDivisionError("float division by zero")  # math.log(x, 1.0), as Python raises it
    return result / log_base


def _numpy_log(x, base=None):
    """``math.log`` passed itself as f, vectorized."""
    return np.log(x) if base is None else np.log(x) / np.log(base)


class _FloatType(type):
    def __instancecheck__(cls, instance):
        return isinstance(instance, builtins.float)

    def __subclasscheck__(cls, subclass):
        return issubclass(subclass, builtins.float)


class _DualFloat(builtins.float, metaclass=_FloatType):
    """``float`` for code run on scalar duals: keeps a dual as it is; ``isinstance(x, float)``,
    ``dtype=float`` and ``float("inf")`` mean what they mean for the builtin."""

    dtype = np.dtype(np.float64)

    def __new__(cls, x=0.0):
        return x if type(x) is ScalarDual else builtins.float(x)


_DualFloat.__name__ = _DualFloat.__qualname__ = "float"


def _dual_import(name, globals=None, locals=None, fromlist=(), level=0):
    """``import math`` / ``from math import sin`` inside a function run on scalar duals."""
    module = builtins.__import__(name, globals, locals, fromlist, level)
    return _DUAL_MATH if module is math else module


class _DualMath(types.ModuleType):
    """The ``math`` module as seen by a function evaluated on scalar duals."""

    def __getattr__(self, name):
        return getattr(math, name)


def _dual_math_module() -> types.ModuleType:
    module = _DualMath("math")
    for name in _MATH_TO_UFUNC:
        setattr(module, name, _dual_aware(name, getattr(math, name)))
    for name in _MATH_VALUE_ONLY:
        setattr(module, name, _value_only(name))
    for name, special_name in _MATH_TO_SPECIAL.items():
        setattr(module, name, _dual_special(name, special_name))
    module.log = _dual_log
    return module


_DUAL_MATH = _dual_math_module()
_MATH_FUNCTIONS = {getattr(math, name): getattr(_DUAL_MATH, name)
                   for name in [*_MATH_TO_UFUNC, *_MATH_VALUE_ONLY, *_MATH_TO_SPECIAL, "log"]}


def _numpy_equivalent(name: str) -> str | None:
    """What to call instead of ``math.<name>`` on a dual, or None if math has no rule for it."""
    if name in _MATH_TO_UFUNC:
        return f"np.{_MATH_TO_UFUNC[name].__name__}"
    if name in _MATH_TO_SPECIAL:
        return f"scipy.special.{_MATH_TO_SPECIAL[name]}"
    return f"np.{name}" if name in _MATH_VALUE_ONLY or name == "log" else None


def _is_math_function(value) -> bool:
    return isinstance(value, types.BuiltinFunctionType) and value.__self__ is math


def _is_math(value) -> bool:
    """The math module or a math function with a dual-aware version."""
    return value is math or (_is_math_function(value) and value in _MATH_FUNCTIONS)


def _replace(value, rebuilt: dict):
    """``value`` as code run on scalar duals sees it: math and its functions dual-aware, the
    functions in ``rebuilt`` rebuilt (also as bound methods and in partials, whose arguments too)."""
    if value is math:
        return _DUAL_MATH
    if _is_math_function(value):
        return _MATH_FUNCTIONS.get(value, value)
    if isinstance(value, functools.partial):
        parts = (value.func, *value.args, *value.keywords.values())
        func, *args = new = [_replace(part, rebuilt) for part in parts]
        if builtins.all(a is b for a, b in zip(new, parts)):
            return value
        return functools.partial(func, *args[:len(value.args)], **dict(zip(value.keywords, args[len(value.args):])))
    function = _function_of(value)
    if function not in rebuilt:
        return value
    return types.MethodType(rebuilt[function], value.__self__) if isinstance(value, types.MethodType) \
        else rebuilt[function]


def vectorized(f: Callable) -> Callable:
    """A ``math`` function passed itself as f: the NumPy (or scipy.special) ufunc computing it."""
    if not _is_math_function(f) or getattr(math, f.__name__, None) is not f:
        return f
    name = f.__name__
    ufunc = _MATH_TO_UFUNC.get(name) or _MATH_VALUE_ONLY.get(name)
    if ufunc is not None:
        return ufunc
    if name == "log":
        return _numpy_log
    if name in _MATH_TO_SPECIAL:
        try:
            from scipy import special
        except ImportError:  # element by element, where the error says SciPy is needed
            return _MATH_FUNCTIONS[f]
        return getattr(special, _MATH_TO_SPECIAL[name])
    return _MATH_FUNCTIONS.get(f, f)  # isclose; others fail, naming themselves


# --- rebinding math and float in f and the user's functions it calls ------------------------
def _function_of(value) -> types.FunctionType | None:
    """The Python function of the user's own code behind a function, method or partial, or None
    (NumPy's, SciPy's, mixedad's, the standard library's and installed packages' are left alone)."""
    if isinstance(value, types.MethodType):
        value = value.__func__
    elif isinstance(value, functools.partial):
        value = value.func
    if not isinstance(value, types.FunctionType):
        return None
    filename = value.__code__.co_filename
    return None if is_internal(filename) or in_library(filename) else value


def _with_nested(code: types.CodeType) -> list:
    """``code`` and the code of the lambdas, comprehensions and defs inside it."""
    return [code, *(inner for constant in code.co_consts if isinstance(constant, types.CodeType)
                    for inner in _with_nested(constant))]


def _code_names(code: types.CodeType) -> set:
    return {name for part in _with_nested(code) for name in part.co_names}


def _writes_globals(code: types.CodeType) -> bool:
    """Whether ``code`` assigns module globals (``global n; n += 1``): a rebuilt function runs
    in a copy of its module's namespace, where such a write would be lost."""
    return any(op.opname in ("STORE_GLOBAL", "DELETE_GLOBAL") for part in _with_nested(code)
               for op in dis.get_instructions(part))


def _cell_value(cell):
    try:
        return cell.cell_contents
    except ValueError:  # not bound yet
        return None


def _with_partial_arguments(values: list) -> list:
    return [*values, *(part for v in values if isinstance(v, functools.partial)
                       for part in (v.func, *v.args, *v.keywords.values()))]


def _reachable(function: types.FunctionType, names: set) -> list:
    """What ``function`` reaches by name: the globals its code names, its closure, its defaults."""
    namespace = function.__globals__
    return _with_partial_arguments([
        *(namespace[name] for name in names if name in namespace),
        *(_cell_value(cell) for cell in function.__closure__ or ()),
        *(function.__defaults__ or ()), *(function.__kwdefaults__ or {}).values()])


def _to_rebind(roots: list) -> list:
    """The user functions reachable from ``roots`` that use math or float, or call one that does."""
    order, calls, direct = list(dict.fromkeys(roots)), {}, set()
    for function in order:  # breadth first: order grows as functions are found
        names = _code_names(function.__code__)
        values = _reachable(function, names)
        if names & {"math", "float"} or any(builtins.map(_is_math, values)):
            direct.add(function)
        calls[function] = [g for g in builtins.map(_function_of, values) if g is not None]
        order.extend(g for g in dict.fromkeys(calls[function]) if g not in calls and g not in order)
    kept = {function for function in order if _writes_globals(function.__code__)}  # math there fails, named
    rebind, grew = direct - kept, True
    while grew:  # callers of rebound functions are rebound too (recursion and cycles included)
        grew = False
        for function in order:
            if function not in rebind and function not in kept and any(g in rebind for g in calls[function]):
                rebind.add(function)
                grew = True
    return [function for function in order if function in rebind]


def with_dual_math(f: Callable) -> Callable:
    """``f`` with ``math``, its functions and ``float`` rebound to dual-aware versions, in ``f``
    and in the functions of the user's code it reaches by name: module globals, closure cells
    and default arguments (through functions, bound methods and partials). Names inside dicts,
    lists or attributes are not rewritten: a dual reaching math that way fails naming the function."""
    if f is builtins.float:
        return _DualFloat
    if _function_of(f) is None and isinstance(getattr(f, "__call__", None), types.MethodType):
        f = f.__call__  # an instance of a class of the user's with __call__
    roots = [g for g in builtins.map(_function_of, _with_partial_arguments([f])) if g is not None]
    functions = _to_rebind(roots) if roots else []
    if not functions:
        return _replace(f, {})
    dual_builtins = {**vars(builtins), "float": _DualFloat, "__import__": _dual_import}
    namespaces, rebuilt = {}, {}
    replace = functools.partial(_replace, rebuilt=rebuilt)
    rebinds = set(functions)
    for function in functions:  # first the functions, so that they can refer to one another
        original = function.__globals__
        namespace = namespaces.setdefault(id(original), (original, {**original, "__builtins__": dual_builtins}))[1]
        cells = function.__closure__ and tuple(
            types.CellType()
            if _is_math(value) or isinstance(value, functools.partial) or _function_of(value) in rebinds
            else cell for cell, value in zip(function.__closure__, builtins.map(_cell_value, function.__closure__)))
        rebuilt[function] = types.FunctionType(function.__code__, namespace, function.__name__, None, cells)
    for original, namespace in namespaces.values():
        namespace.update({key: new for key, value in original.items() if (new := replace(value)) is not value})
    for function, new in rebuilt.items():
        for cell, new_cell in zip(function.__closure__ or (), new.__closure__ or ()):
            if new_cell is not cell:
                new_cell.cell_contents = replace(cell.cell_contents)
        new.__defaults__ = function.__defaults__ and tuple(builtins.map(replace, function.__defaults__))
        new.__kwdefaults__ = function.__kwdefaults__ and {k: replace(v) for k, v in function.__kwdefaults__.items()}
        new.__qualname__, new.__module__ = function.__qualname__, function.__module__
        new.__dict__.update(function.__dict__)
    return replace(f)


# --- naming the function that turned a dual into a float ------------------------------------
class _CCalls(threading.local):
    """While an element is evaluated again to name what dropped a derivative: the C functions
    running (with the frames that called them), and the one that called ``ScalarDual.__float__``."""

    recording = False
    culprit = None

    def __init__(self):
        self.running = []


_C_CALLS = _CCalls()
_FLOAT_CODE = ScalarDual.__float__.__code__


def _watch_c_calls(frame, event, arg):
    running = _C_CALLS.running
    if event == "c_call":
        running.append((arg, frame))
    elif event in ("c_return", "c_exception"):
        if running:
            running.pop()
    elif event == "call" and frame.f_code is _FLOAT_CODE:
        _C_CALLS.culprit = running[-1][0] if running and running[-1][1] is frame.f_back else None


def _dropped_derivative_error(culprit) -> NonDifferentiableError:
    name = getattr(culprit, "__name__", "")
    if _is_math_function(culprit) and getattr(math, name, None) is culprit:
        equivalent = _numpy_equivalent(name)
        message = (
            f"math.{name} has no derivative rule for scalar dual numbers{{where}}: write it with NumPy "
            "functions (np.*) and operators." if equivalent is None else
            f"math.{name} was called on a scalar dual number{{where}} through a name mixedad does not rewrite "
            "(a dict, list or attribute, a function that assigns module globals, or a library's function): its "
            "derivative would be lost. Call "
            f"{equivalent} instead, or call math.{name} from the mapped function or a function of your own "
            "that it calls by name (module global, closure or default argument).")
    elif culprit is not None:
        module = getattr(culprit, "__module__", None)
        qualname = getattr(culprit, "__qualname__", name)
        message = (f"{f'{module}.' if module else ''}{qualname} (or a function it called) converted a scalar "
                   "dual number to float{where}: this would drop its derivative. Call np.* functions instead.")
    else:
        message = ("A scalar dual number was converted to float{where} (by float(), math.* or a C function) in "
                   "code mixedad could not rewrite: this would drop its derivative. Call np.* functions "
                   "instead, or call math.* from the mapped function or a function of your own that it calls.")
    error = error_with_location(NonDifferentiableError, message, skip=2)
    error.dropped_derivative = True
    return error


def name_what_dropped(f_dual: Callable, args: list, error: Exception) -> Exception:
    """Evaluate the failing element again watching C calls, for an error naming the function
    that converted a dual to float (``error`` as it is if another profiler is running)."""
    if sys.getprofile() is not None:
        return error
    _C_CALLS.running, _C_CALLS.culprit, _C_CALLS.recording = [], None, True
    sys.setprofile(_watch_c_calls)
    try:
        f_dual(*args)
    except NonDifferentiableError as named:
        error = named
    except Exception:
        pass
    finally:
        sys.setprofile(None)
        _C_CALLS.recording, _C_CALLS.running = False, []
    return error
