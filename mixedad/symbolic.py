"""Symbolic partial derivatives for elementwise primitives, derived with sympy.

An elementwise primitive's scalar body, written with NumPy ufuncs (``np.exp``,
``np.log1p``, operators, ...), is run once on sympy symbols instead of arrays: a small
stand-in type answers NumPy's ``__array_ufunc__`` protocol and maps each ufunc to its
sympy function. The resulting expression is differentiated with respect to each
argument, common subexpressions are shared (``sympy.cse``) and each partial is compiled
to NumPy with ``sympy.lambdify``. Irrational constants (``log(2)``, ``sqrt(2)``) are
folded into Python floats first, so a float32 input gives a float32 partial.

Where a partial contains the body itself (``exp``, ``tanh``) it is rewritten in terms of
the output, ``out``, which the engine already has. sympy is imported only when a
derivation is asked for: ``import mixedad`` does not need it.
"""
from __future__ import annotations

import inspect
import keyword
import math
from fractions import Fraction
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .core.errors import MixedadError
from .core.primitive import Primitive
from .rules.table import Domain


class SymbolicTraceError(MixedadError, TypeError):
    """An elementwise body did something that cannot be traced with sympy symbols."""


def _sympy():
    try:
        import sympy
    except ImportError as error:  # pragma: no cover - sympy is a test dependency
        raise ImportError("mixedad.symbolic needs sympy: pip install 'mixedad[symbolic]' "
                          "(or write the partial derivatives by hand with defpartials).") from error
    return sympy


_UFUNC_TABLE: dict | None = None


def _ufunc_table() -> dict:
    """NumPy ufunc -> the sympy expression it builds (created on first use: sympy is optional)."""
    global _UFUNC_TABLE
    if _UFUNC_TABLE is not None:
        return _UFUNC_TABLE
    sp = _sympy()
    from sympy.codegen.cfunctions import exp2, expm1, log1p, log2, log10
    _UFUNC_TABLE = {
        np.add: lambda a, b: a + b,
        np.subtract: lambda a, b: a - b,
        np.multiply: lambda a, b: a * b,
        np.true_divide: lambda a, b: a / b,
        np.power: lambda a, b: a ** b,
        np.float_power: lambda a, b: a ** b,
        np.negative: lambda a: -a,
        np.positive: lambda a: a,
        np.square: lambda a: a ** 2,
        np.reciprocal: lambda a: 1 / a,
        np.sqrt: sp.sqrt,
        np.absolute: sp.Abs,
        np.fabs: sp.Abs,
        np.exp: sp.exp,
        np.exp2: exp2,
        np.expm1: expm1,
        np.log: sp.log,
        np.log2: log2,
        np.log10: log10,
        np.log1p: log1p,
        np.logaddexp: lambda a, b: sp.log(sp.exp(a) + sp.exp(b)),
        np.logaddexp2: lambda a, b: log2(exp2(a) + exp2(b)),
        np.sin: sp.sin,
        np.cos: sp.cos,
        np.tan: sp.tan,
        np.arcsin: sp.asin,
        np.arccos: sp.acos,
        np.arctan: sp.atan,
        np.arctan2: sp.atan2,
        np.hypot: lambda a, b: sp.sqrt(a ** 2 + b ** 2),
        np.sinh: sp.sinh,
        np.cosh: sp.cosh,
        np.tanh: sp.tanh,
        np.arcsinh: sp.asinh,
        np.arccosh: sp.acosh,
        np.arctanh: sp.atanh,
        np.deg2rad: lambda a: a * sp.pi / 180,
        np.rad2deg: lambda a: a * 180 / sp.pi,
        np.maximum: sp.Max,
        np.minimum: sp.Min,
        np.fmax: sp.Max,
        np.fmin: sp.Min,
    }
    return _UFUNC_TABLE


def _to_sympy(value: Any):
    sp = _sympy()
    if type(value) is Symbolic:
        return value.expr
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise SymbolicTraceError(
                f"an elementwise body traced by derive_partials may only use scalar constants; it "
                f"used an array of shape {value.shape}.")
        value = value[()]
    if isinstance(value, (bool, np.bool_)):
        raise SymbolicTraceError("derive_partials cannot trace boolean values (masks, comparisons).")
    if isinstance(value, (int, np.integer)):
        return sp.Integer(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            raise SymbolicTraceError(f"derive_partials cannot trace the constant {value}.")
        exact = Fraction(value)
        if exact.denominator <= 2 ** 16:  # 0.5, 0.25, 3.0: exact rationals simplify symbolically
            return sp.Rational(exact.numerator, exact.denominator)
        # 17 significant digits: the compiled code reproduces the double exactly
        return sp.Float(repr(value), 17)
    raise SymbolicTraceError(f"derive_partials cannot trace a value of type {type(value).__name__}.")


class Symbolic:
    """A sympy expression standing in for an array while an elementwise body is traced.

    NumPy ufuncs and Python operators on it build sympy expressions; anything that needs
    a concrete value (``if x > 0``, ``float(x)``, ``np.where``) raises
    :class:`SymbolicTraceError`.
    """

    __slots__ = ("expr",)

    def __init__(self, expr):
        self.expr = expr

    def __repr__(self) -> str:
        return f"Symbolic({self.expr})"

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            raise SymbolicTraceError(
                f"derive_partials cannot trace numpy.{ufunc.__name__}.{method} or ufunc keyword "
                f"arguments {sorted(kwargs)}; the body must call ufuncs plainly, e.g. np.exp(x).")
        build = _ufunc_table().get(ufunc)
        if build is None:
            raise SymbolicTraceError(
                f"derive_partials has no sympy equivalent for numpy.{ufunc.__name__} (comparisons, "
                "rounding and branches have none); write the partial derivatives by hand with "
                "defpartials.")
        return Symbolic(build(*[_to_sympy(a) for a in inputs]))

    def __array_function__(self, func, types, args, kwargs):
        raise SymbolicTraceError(
            f"derive_partials can only trace NumPy ufuncs; numpy.{func.__name__} is not one. "
            "Write the partial derivatives by hand with defpartials.")

    def __array__(self, dtype=None, copy=None):
        raise SymbolicTraceError("derive_partials cannot convert a traced symbol to an array.")

    def _concrete(self, *args):
        raise SymbolicTraceError(
            "the elementwise body needs a concrete value (a branch, float(), an index); "
            "derive_partials can only trace straight-line ufunc code. Write the partial "
            "derivatives by hand with defpartials.")

    __bool__ = __float__ = __int__ = __index__ = __complex__ = _concrete

    def __add__(self, other): return np.add(self, other)
    def __radd__(self, other): return np.add(other, self)
    def __sub__(self, other): return np.subtract(self, other)
    def __rsub__(self, other): return np.subtract(other, self)
    def __mul__(self, other): return np.multiply(self, other)
    def __rmul__(self, other): return np.multiply(other, self)
    def __truediv__(self, other): return np.true_divide(self, other)
    def __rtruediv__(self, other): return np.true_divide(other, self)
    def __pow__(self, other): return np.power(self, other)
    def __rpow__(self, other): return np.power(other, self)
    def __neg__(self): return np.negative(self)
    def __pos__(self): return np.positive(self)
    def __abs__(self): return np.absolute(self)
    def __lt__(self, other): return np.less(self, other)
    def __le__(self, other): return np.less_equal(self, other)
    def __gt__(self, other): return np.greater(self, other)
    def __ge__(self, other): return np.greater_equal(self, other)
    __hash__ = None


@dataclass(frozen=True)
class SymbolicPartials:
    """What :func:`derive_partials` derived for one primitive (stored as ``prim.symbolic``).

    ``partials[j]`` is the derivative of ``output`` with respect to ``symbols[j]`` exactly
    as sympy differentiated it; ``attached[j]`` is what the primitive uses (a number, a
    compiled function, or the author's override for positions in ``overridden``).
    """

    symbols: tuple
    output: Any
    partials: tuple
    attached: tuple
    overridden: frozenset

    def reference(self, position: int) -> Callable[..., Any]:
        """sympy's derivative for ``position`` compiled plainly (no rewriting): a yardstick."""
        sp = _sympy()
        return sp.lambdify(self.symbols, self.partials[position], modules="numpy")

    def cse(self):
        """``sympy.cse`` of the partials: ``(shared subexpressions, reduced partials)``."""
        return _sympy().cse(list(self.partials))


def _signature_names(fn: Callable, nargs: int | None) -> list[str]:
    if isinstance(fn, np.ufunc):
        count = fn.nin if nargs is None else nargs
        return [f"x{i}" for i in range(count)] if count > 1 else ["x"]
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        parameters = None
    positional = []
    variadic = False
    if parameters is not None:
        for parameter in parameters:
            if parameter.kind is parameter.VAR_POSITIONAL:
                variadic = True
            elif parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD) \
                    and parameter.default is parameter.empty:
                positional.append(parameter.name)
    if nargs is None:
        if parameters is None or variadic:
            raise MixedadError(f"derive_partials cannot tell how many arguments {_name(fn)} takes; "
                               "pass nargs=.")
        nargs = len(positional)
    names = positional[:nargs] + [f"x{i}" for i in range(len(positional), nargs)]
    return [n if n.isidentifier() and not keyword.iskeyword(n) else f"x{i}" for i, n in enumerate(names)]


def _name(fn: Any) -> str:
    return getattr(fn, "name", None) or getattr(fn, "__name__", None) or repr(fn)


def _fold_constants(expr):
    """Rewrite what would compile to NumPy float64 values: irrational constants become
    Python floats and Heaviside (from max/min) becomes ``(1 + sign)/2`` (0.5 at ties)."""
    sp = _sympy()
    expr = expr.replace(lambda e: isinstance(e, sp.Heaviside), lambda e: (1 + sp.sign(e.args[0])) / 2)
    return expr.replace(
        lambda e: e.is_number and not e.is_Rational and not e.is_Float and not e.free_symbols,
        lambda e: sp.Float(e.evalf(17), 17))


def _trace(fn: Callable, names: Sequence[str], keywords: Mapping[str, Any] | None = None):
    sp = _sympy()
    symbols = tuple(sp.Symbol(n, real=True) for n in names)
    try:
        result = fn(*[Symbolic(s) for s in symbols], **(keywords or {}))
    except SymbolicTraceError as error:
        raise SymbolicTraceError(f"derive_partials({_name(fn)}): {error}") from error
    if isinstance(result, tuple):
        raise SymbolicTraceError(f"derive_partials({_name(fn)}): the body returns a tuple; only "
                                 "single-output elementwise functions can be derived.")
    return symbols, _to_sympy(result)


def _compile(expr, symbols, output, label: str):
    """A NumPy function ``(*args, out=None)`` for one partial, or a number if it is constant."""
    sp = _sympy()
    expr = _fold_constants(expr)
    if not expr.free_symbols:
        if expr.is_Integer:
            return int(expr)
        value = complex(expr.evalf())
        if value.imag != 0 or not math.isfinite(value.real):
            raise SymbolicTraceError(f"{label} is {expr}, which is not a finite real number.")
        return value.real
    args = tuple(sp.Symbol(f"_arg{i}", real=True) for i in range(len(symbols)))
    out = sp.Symbol("out", real=True)
    renamed = expr.xreplace(dict(zip(symbols, args)))
    body = _fold_constants(output).xreplace(dict(zip(symbols, args)))
    if not body.is_Atom:
        with_out = renamed.subs(body, out)
        if out in with_out.free_symbols:
            renamed = with_out
    printer_check = sp.printing.numpy.NumPyPrinter()
    source = printer_check.doprint(renamed)
    if "Not supported" in source:
        raise SymbolicTraceError(f"{label} = {expr} cannot be compiled to NumPy:\n{source}")
    parameters = args + ((out,) if out in renamed.free_symbols else ())
    function = sp.lambdify(parameters, renamed, modules="numpy", cse=True, docstring_limit=0)
    function.__name__ = label.replace(" ", "_")
    function.__qualname__ = function.__name__
    function.__doc__ = f"{label}: {expr} (derived with sympy)"
    return function


def _takes_keywords(fn: Callable, names: Sequence[str]) -> bool:
    """Whether ``fn`` has parameters besides the traced positional ones (options with defaults)."""
    try:
        return len(inspect.signature(fn).parameters) > len(names)
    except (TypeError, ValueError):
        return False


class _KeywordOptions:
    """The derived partials of a primitive whose body takes keyword options (``def f(x, *,
    scale=2.0)``): derived again, once per distinct set of keyword values a call passes, with
    those values as constants (the partials attached at definition hold the defaults)."""

    def __init__(self, prim: Primitive, names: Sequence[str], defaults: tuple):
        self.prim, self.names, self.defaults = prim, tuple(names), self._with_out(defaults)
        self.derived: dict = {}
        # options that a call may also pass by position, after the differentiated arguments
        self.positional = tuple(p.name for p in inspect.signature(prim.fn).parameters.values()
                                if p.kind is p.POSITIONAL_OR_KEYWORD and p.name not in self.names)

    def by_name(self, extra: tuple, kwargs: dict) -> dict:
        """The options of a call, those it passed by position (``extra``) named; NumPy scalars
        as Python numbers, so that a set of options is a key."""
        if len(extra) > len(self.positional):
            raise SymbolicTraceError(
                f"{self.prim.name} takes {len(self.names)} arguments and the options {list(self.positional)}, "
                f"but was called with {len(self.names) + len(extra)} positional arguments.")
        options = {**dict(zip(self.positional, extra)), **kwargs}
        return {key: value.item() if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0
                else value for key, value in options.items()}

    @staticmethod
    def _with_out(partials) -> tuple:
        """Each partial with whether it takes ``out`` (a number: a constant partial)."""
        return tuple((p, callable(p) and "out" in inspect.signature(p).parameters) for p in partials)

    def partials(self, kwargs: dict) -> tuple:
        if not kwargs:
            return self.defaults
        key = tuple(sorted(kwargs.items()))
        try:
            found = self.derived.get(key)
        except TypeError:  # an unhashable value: an array
            raise SymbolicTraceError(
                f"{self.prim.name} was called with keyword arguments {sorted(kwargs)} holding an array; the "
                "partials derived with sympy take numbers, strings and other constants as keyword options. Pass "
                "numbers, or write the partial derivatives by hand with defpartials.") from None
        if found is None:
            symbols, output = _trace(self.prim.fn, self.names, kwargs)
            label = f"{self.prim.name} partial"
            found = self._with_out(_compile(_sympy().diff(output, s), symbols, output, f"{label} {n}")
                                   for s, n in zip(symbols, self.names))
            if len(self.derived) >= 64:  # a value that changes on every call: keep the most recent
                self.derived.pop(next(iter(self.derived)))
            self.derived[key] = found
        return found


class _WithOptions:
    """One partial of a primitive with keyword options (see ``_KeywordOptions``)."""

    def __init__(self, options: _KeywordOptions, position: int):
        self.options, self.position = options, position
        self.__name__ = f"{options.prim.name}_partial_{options.names[position]}"
        self.__doc__ = f"{self.__name__}: derived with sympy for each set of keyword options"

    def __call__(self, *args, out=None, **kwargs):
        n_args = len(self.options.names)
        if len(args) > n_args or kwargs:  # options, by position or keyword
            kwargs = self.options.by_name(args[n_args:], kwargs)
            args = args[:n_args]
        partial, takes_out = self.options.partials(kwargs)[self.position]
        if not callable(partial):
            return partial
        return partial(*args, out=out) if takes_out else partial(*args)


def derive_partials(prim_or_function: Primitive | Callable, *, nargs: int | None = None,
                    override: Mapping[int, Callable | float] | None = None,
                    simplify: bool = False) -> tuple:
    """Derive an elementwise function's partial derivatives with sympy; attach them to a primitive.

    The body is traced with sympy symbols (it must be straight-line code over NumPy
    ufuncs and operators, with scalar constants), differentiated with respect to each
    positional argument, compiled to NumPy with common subexpressions shared, and, if
    ``prim_or_function`` is an elementwise :class:`~mixedad.Primitive`, attached with
    ``defpartials``. The sympy expressions are returned either way (one per argument),
    and a primitive also keeps them in ``prim.symbolic`` (a :class:`SymbolicPartials`),
    which :func:`mixedad.check_rule` compares the attached partials against.

    ``override={position: partial}`` attaches a hand-written partial (a number, or a
    function of the arguments and optionally ``out``) for that argument instead of the
    derived one. ``simplify=True`` runs ``sympy.simplify`` first (slow; it may also pick
    a less stable form). ``nargs`` is needed when the body takes ``*args``.

    Numerical stability: sympy differentiates the formula, not the algorithm. The
    derivative it finds may overflow or cancel where a hand-written one does not: the
    derived partial of ``log1p(exp(x))`` is ``exp(x)/(exp(x) + 1)``, which is ``inf/inf =
    nan`` for x > 88 in float32 and x > 709 in float64, while the hand-written
    ``0.5 * (1 + tanh(x / 2))`` is exact there. Check the derived partials over the
    range your inputs take, and override the ones that break.

    >>> import numpy as np, mixedad
    >>> from mixedad.symbolic import derive_partials
    >>> derive_partials(lambda x, y: x * np.sin(y))
    (sin(y), x*cos(y))
    >>> @mixedad.primitive(elementwise=True)
    ... def log1p_square(x):
    ...     return np.log(1 + x ** 2)
    >>> derive_partials(log1p_square)
    (2*x/(x**2 + 1),)
    >>> mixedad.gradient(lambda x: np.sum(log1p_square(x)), np.ones(2, np.float32))
    array([1., 1.], dtype=float32)
    """
    override = dict(override or {})
    if isinstance(prim_or_function, Primitive):
        prim = prim_or_function
        if not prim.elementwise:
            raise MixedadError(
                f"derive_partials needs an elementwise primitive; {prim.name} is not one (create it "
                "with mixedad.primitive(elementwise=True), or use mixedad.symbolic.derived_elementwise).")
        fn = prim.fn
        label = prim.name
    else:
        prim = None
        fn = prim_or_function
        label = _name(fn)
    names = _signature_names(fn, nargs)
    if "out" in names:
        names = [f"x{i}" for i in range(len(names))]
    for position in override:
        if not 0 <= position < len(names):
            raise ValueError(f"derive_partials({label}): override position {position} is out of range "
                             f"for {len(names)} arguments.")
    sp = _sympy()
    symbols, output = _trace(fn, names)
    partials = tuple(sp.diff(output, s) for s in symbols)
    if simplify:
        partials = tuple(sp.simplify(p) for p in partials)
    if prim is not None:
        attached = tuple(override[j] if j in override else
                         _compile(p, symbols, output, f"{label} partial {names[j]}")
                         for j, p in enumerate(partials))
        if _takes_keywords(fn, names):  # keyword options reach the partials: derive them for those values
            options = _KeywordOptions(prim, names, attached)
            attached = tuple(a if j in override else _WithOptions(options, j) for j, a in enumerate(attached))
            prim.positional_options = (len(names), options.positional)
        prim.defpartials(*attached)
        prim.symbolic = SymbolicPartials(symbols, output, partials, attached, frozenset(override))
    return partials


def derived_elementwise(fn: Callable | None = None, *, name: str | None = None,
                        domain: Domain | Sequence[Domain] | None = None, nargs: int | None = None,
                        override: Mapping[int, Callable | float] | None = None,
                        simplify: bool = False):
    """Decorator: an elementwise primitive whose partials sympy derives from its body.

    Equivalent to ``mixedad.primitive(elementwise=True)`` followed by
    :func:`derive_partials`. ``domain`` (a :class:`~mixedad.rules.table.Domain`, or one
    per argument) is where :func:`mixedad.check_rule` samples the arguments. Read the
    numerical-stability caveat in :func:`derive_partials`.

    >>> import numpy as np, mixedad
    >>> from mixedad.symbolic import derived_elementwise
    >>> @derived_elementwise
    ... def softplus(x):
    ...     return np.log1p(np.exp(x))
    >>> softplus.symbolic.partials
    (exp(x)/(exp(x) + 1),)
    >>> mixedad.gradient(lambda x: np.sum(softplus(x)), np.zeros(2, np.float32))
    array([0.5, 0.5], dtype=float32)
    """
    def wrap(function: Callable) -> Primitive:
        prim = Primitive(function, name=name, elementwise=True)
        derive_partials(prim, nargs=nargs, override=override, simplify=simplify)
        count = len(prim.symbolic.symbols)
        if domain is not None:
            prim.domain = tuple(domain) if isinstance(domain, (tuple, list)) else (domain,) * count
        return prim
    return wrap(fn) if fn is not None else wrap
