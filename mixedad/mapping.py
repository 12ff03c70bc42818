"""Scalar functions mapped over arrays: ``mixedad.map(f, *xs)`` and ``mixedad.sum(f, x)``.

``f`` is written for one element with NumPy ufuncs and operators. It is first run once on
the whole arrays, which builds an ordinary dual region (vectorized duals). If ``f`` cannot
run vectorized (it branches on the value, calls ``math.*`` or ``float()``), it is run again
element by element on scalar dual numbers, with ``math`` functions and ``float`` swapped for
dual-aware versions in ``f``'s own namespace. Either way the result is one tape entry.
"""
from __future__ import annotations

import builtins
import math
import time
import types
from typing import Any, Callable

import numpy as np

from .core.arrays import LeveledValue
from .core.dispatch import UFUNC_HANDLERS, ufunc_handler
from .core.errors import (NonDifferentiableError, NotVectorizableError, UnsupportedOperationError, error_with_location,
                          user_location)
from .core.modes import Decision, Mode, Reason
from .core.primitive import find_trace
from .core.region import primal
from .core.tape import TapeEntry, multiply_cotangent, record
from .core.traced import Traced
from .core.updates import current, currents

_PER_ELEMENT = Decision(Mode.PER_ELEMENT, Reason.NOT_VECTORIZABLE)


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
            if low is not None and _plain(result) < _plain(low):
                result = low
            if high is not None and _plain(result) > _plain(high):
                result = high
            return result
        raise error_with_location(
            NonDifferentiableError,
            f"{func.__name__} inside a per-element scalar function{{where}} is not supported; "
            "use elementwise NumPy functions and operators.", skip=1)

    def __float__(self):
        raise error_with_location(
            NonDifferentiableError,
            "A scalar dual number was converted to float{where} (by float(), math.* or a C "
            "function) in code mixedad could not rewrite: this would drop its derivative. Call "
            "np.* functions instead, or pass the helper's math calls through the mapped function itself.",
            skip=1)

    def __int__(self):
        return int(self.value)

    def __bool__(self):
        return bool(self.value)

    def __repr__(self):
        return f"ScalarDual({self.value!r}, {self.partials!r})"

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
    def __neg__(self): return apply_scalar(np.negative, (self,))
    def __pos__(self): return self
    def __abs__(self): return apply_scalar(np.absolute, (self,))
    def __lt__(self, other): return self.value < _plain(other)
    def __le__(self, other): return self.value <= _plain(other)
    def __gt__(self, other): return self.value > _plain(other)
    def __ge__(self, other): return self.value >= _plain(other)
    def __eq__(self, other): return self.value == _plain(other)
    def __ne__(self, other): return self.value != _plain(other)
    __hash__ = None


def _shape(value) -> tuple:
    return value.shape if type(value) is Traced else np.shape(value)


def _plain(value):
    return value.value if type(value) is ScalarDual else value


def apply_scalar(ufunc, inputs):
    """Apply an elementwise op to scalar duals using the same partials as the dual regions."""
    prim = UFUNC_HANDLERS.get(ufunc)
    values = [_plain(v) for v in inputs]
    if prim is None or not getattr(prim, "elementwise", False):
        raise error_with_location(
            NonDifferentiableError, f"numpy.{getattr(ufunc, '__name__', ufunc)} has no elementwise rule{{where}}.", skip=2)
    out = prim.fn(*values)
    if not prim.differentiable:
        return out
    duals = [j for j, v in enumerate(inputs) if type(v) is ScalarDual]
    if not duals:  # math.log(2.0, base) and the like: constants only
        return out
    n_partials = len(inputs[duals[0]].partials)
    derivatives = {j: prim.partial(j, values, out, {}) for j in duals}
    partials = tuple(builtins.sum(derivatives[j] * inputs[j].partials[k] for j in duals) for k in range(n_partials))
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


def _dual_aware(name: str, original: Callable) -> Callable:
    ufunc = _MATH_TO_UFUNC[name]

    def function(*args):
        if any(type(a) is ScalarDual for a in args):
            return apply_scalar(ufunc, args)
        return original(*args)
    function.__name__ = name
    return function


# math functions NumPy has no ufunc for: SciPy's (an optional dependency) carry the rules
_MATH_TO_SPECIAL = {"erf": "erf", "erfc": "erfc", "gamma": "gamma", "lgamma": "gammaln"}


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
                "carries the derivative rule: install scipy (mixedad's optional extra).", skip=1) from None
        ufunc = getattr(special, special_name)
        ufunc_handler(ufunc)  # loads the scipy.special rules
        return apply_scalar(ufunc, (x,))
    function.__name__ = name
    return function


def _dual_log(x, base=None):
    if type(x) is not ScalarDual and type(base) is not ScalarDual:
        return math.log(x) if base is None else math.log(x, base)
    result = apply_scalar(np.log, (x,))
    return result if base is None else result / apply_scalar(np.log, (base,))


def _dual_float(x=0.0):
    return x if type(x) is ScalarDual else builtins.float(x)


class _DualMath(types.ModuleType):
    """The ``math`` module as seen by a function evaluated on scalar duals."""

    def __getattr__(self, name):
        return getattr(math, name)


def _dual_math_module() -> types.ModuleType:
    module = _DualMath("math")
    for name in _MATH_TO_UFUNC:
        setattr(module, name, _dual_aware(name, getattr(math, name)))
    for name, special_name in _MATH_TO_SPECIAL.items():
        setattr(module, name, _dual_special(name, special_name))
    module.log = _dual_log
    return module


_DUAL_MATH = _dual_math_module()
_MATH_FUNCTIONS = {getattr(math, name): getattr(_DUAL_MATH, name)
                   for name in [*_MATH_TO_UFUNC, *_MATH_TO_SPECIAL, "log"]}


def _with_dual_math(f: Callable) -> Callable:
    """``f`` with ``math``, its functions and ``float`` rebound to dual-aware versions."""
    if not isinstance(f, types.FunctionType):
        return f
    namespace = dict(f.__globals__)
    for key, value in f.__globals__.items():
        if value is math:
            namespace[key] = _DUAL_MATH
        elif isinstance(value, types.BuiltinFunctionType) and value in _MATH_FUNCTIONS:
            namespace[key] = _MATH_FUNCTIONS[value]
    namespace["float"] = _dual_float
    rebuilt = types.FunctionType(f.__code__, namespace, f.__name__, f.__defaults__, f.__closure__)
    rebuilt.__kwdefaults__ = f.__kwdefaults__
    return rebuilt


def _is_branching_error(error: Exception) -> bool:
    if isinstance(error, NonDifferentiableError):
        return True
    return isinstance(error, (ValueError, TypeError)) and "truth value of an array" in str(error)


def _no_forward_mode_error(f) -> NotVectorizableError:
    return error_with_location(
        NotVectorizableError,
        f"mixedad.map / mixedad.sum of {getattr(f, '__name__', 'f')}{{where}}: the function branches on element "
        "values (if, math.*, float()), which is differentiated element by element in reverse mode only "
        "(gradient, vjp, jacobian(mode='reverse')). For jvp, forward jacobians, hvp and hessian, write it "
        "with NumPy functions (np.where instead of if).", skip=3)


def _evaluate_per_element(trace, f, xs) -> Traced:
    arrays = [primal(x) for x in xs]
    if any(isinstance(a, LeveledValue) for a in arrays):  # second order: the scalar duals are first order
        raise _no_forward_mode_error(f)
    shape = np.broadcast_shapes(*[np.shape(a) for a in arrays])
    traced = [j for j, x in enumerate(xs) if type(x) is Traced]
    dtype = np.result_type(*[arrays[j] for j in traced])
    broadcast = [np.broadcast_to(a, shape) for a in arrays]
    f_dual = _with_dual_math(f)
    start = time.perf_counter()
    values = np.empty(shape, dtype)
    partials = [np.empty(shape, dtype) for _ in traced]
    units = [tuple(dtype.type(k == i) for k in range(len(traced))) for i in range(len(traced))]
    for index in np.ndindex(*shape):
        args = list(b[index] for b in broadcast)
        for i, j in enumerate(traced):
            args[j] = ScalarDual(args[j], units[i])
        result = f_dual(*args)
        if type(result) is ScalarDual:
            values[index] = result.value
            for k in range(len(traced)):
                partials[k][index] = result.partials[k]
        else:
            values[index] = result
            for k in range(len(traced)):
                partials[k][index] = 0
    parents = tuple((xs[j]._entry, xs[j]._slot, xs[j]._shape, xs[j]._dtype) for j in traced)

    def per_element_vjp(g):
        return [multiply_cotangent(g, p) for p in partials]

    name = getattr(f, "__name__", "f")
    entry = TapeEntry(parents, per_element_vjp, f"map({name}) per element", _PER_ELEMENT, shape, dtype,
                      context_shape=shape, ops=(name,), n_partials=len(traced),
                      locations=(user_location(3),) if trace.instrumented else ())
    entry.saved_bytes = builtins.sum(p.nbytes for p in partials)
    entry.forward_seconds = time.perf_counter() - start
    record(trace, entry)
    return Traced(trace, values, entry)


def map(f: Callable[..., Any], *xs: Any) -> Any:
    """Apply the scalar function ``f`` elementwise over the broadcast of ``xs``.

    Vectorized dual numbers when ``f`` runs on whole arrays; otherwise (it branches on the
    value, or calls ``math.*``/``float()``) scalar duals one element at a time. Either way
    the result is one tape entry, and the profiler reports which path was taken.

    >>> import numpy as np, mixedad
    >>> def hinge(t):
    ...     return t if t > 0 else 0.0
    >>> mixedad.gradient(lambda x: np.sum(mixedad.map(hinge, x)), np.array([-1.0, 2.0]))
    array([0., 1.])
    """
    if not xs:
        raise TypeError("mixedad.map needs at least one array")
    xs = currents(xs)
    trace = find_trace(xs)
    shape = np.broadcast_shapes(*[_shape(x) for x in xs])
    if trace is None:
        try:
            return np.broadcast_to(f(*xs), shape) if shape else f(*xs)
        except Exception as error:
            if not _is_branching_error(error) and not isinstance(error, TypeError):
                raise
            if any(isinstance(x, LeveledValue) for x in xs):
                raise _no_forward_mode_error(f) from None
            dtype = np.result_type(*xs)  # float32 in, float32 out: as the traced path gives
            return np.vectorize(f, otypes=[dtype] if dtype.kind == "f" else None)(*xs)
    try:
        result = current(f(*xs))
    except Exception as error:
        if not _is_branching_error(error):
            raise
        return _evaluate_per_element(trace, f, xs)
    if _shape(result) != shape:
        if type(result) is not Traced:
            return np.broadcast_to(result, shape) + 0.0 * xs[0]
        raise ValueError(f"mixedad.map: f must map elements to elements; it turned shape {shape} "
                         f"into {_shape(result)}.")
    return result


def sum(f: Callable[..., Any], x: Any, axis: Any = None) -> Any:
    """``np.sum(f(x), axis)`` for a scalar function ``f``, differentiated with duals.

    >>> import numpy as np, mixedad
    >>> x = np.zeros(4, dtype=np.float32)
    >>> mixedad.gradient(lambda x: mixedad.sum(lambda t: np.arctan2(t, 2.0), x), x)
    array([0.5, 0.5, 0.5, 0.5], dtype=float32)
    """
    return np.sum(map(f, x), axis=axis)
