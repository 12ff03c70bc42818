"""Complex intermediate values: ``np.fft.fft(x)``, ``x * 1j``, ``np.exp(1j * theta)``, ``np.abs(z)``.

A complex value computed from differentiated ones is held as its real and imaginary parts,
each a real traced value (or a forward dual, a constant array, or None for an exact zero).
Every complex operation below is written as real arithmetic on the parts, so the engine only
ever meets real values: regions fuse the parts' elementwise work, and every mode (reverse,
forward, second order, prepared replays) differentiates it with the real rules. The functions
differentiated are real functions of real inputs, so there is no convention to choose; only
the result of a differentiated function must be real (take ``np.abs``, ``.real``, ...).

Operations without an entry in the tables below raise, naming the operation: nothing falls
back to rules written for real values (``matmul``'s reverse rule without conjugates would be
silently wrong).
"""
from __future__ import annotations

import cmath
import functools
import itertools
import math
import sys
import warnings
from typing import Any, Callable

import numpy as np

from ..core.arrays import LeveledValue, RefusesIntegralConversion
from ..core.conversions import stores_into_an_array
from ..core.dispatch import COMPLEX_RESULTS, function_handler, numpy_name, register_function
from ..core.primitive import primitive
from ..core.errors import (NonDifferentiableError, UnsupportedOperationError, complex_result_error, error_with_location,
                           user_location)
from ..core.region import read_value
from ..core.traced import Traced

UFUNCS: dict[np.ufunc, Callable[..., Any]] = {}
FUNCTIONS: dict[Callable, Callable[..., Any]] = {}

_ADVICE = ("mixedad differentiates complex intermediate values through arithmetic (+ - * / ** @), conj, abs, "
           "angle, real, imag, exp, log, sqrt, sin, cos, tan, arctan, arcsin, arccos, hyperbolic functions and their "
           "inverses, exp2, expm1, log2, log10, log1p, sinc, sums, prod, cumprod, var, std, reshaping, indexing, "
           "split, pad, diag, triu, tril, products (dot, matmul, einsum, tensordot, vdot, convolve, correlate), "
           "interp, trapezoid, gradient, polyval, norms, np.linalg.solve, inv, matrix_power, eigvalsh, eigh, svd and "
           "np.fft; see docs/modes.md. Write this step with the real and imaginary parts (z.real, z.imag).")


def unsupported_complex(operation: str) -> UnsupportedOperationError:
    return error_with_location(
        UnsupportedOperationError, f"{operation} on a complex value computed from differentiated values{{where}} "
        "has no complex rule in mixedad. " + _ADVICE, skip=2)


def _differentiated(value) -> bool:
    return type(value) is Traced or isinstance(value, LeveledValue)


class ComplexValue(RefusesIntegralConversion, LeveledValue):
    """A complex array computed from differentiated values: treat it as a complex ndarray.

    >>> import numpy as np, mixedad
    >>> mixedad.gradient(lambda x: np.sum(np.abs(np.fft.fft(x)) ** 2), np.array([1.0, 2.0]))
    array([4., 8.])
    """

    __slots__ = ("real_part", "imag_part", "_shape", "_dtype", "_laid_out")
    __array_priority__ = 2000.0
    # The newest of levels (``LeveledValue``): an operation it takes part in comes to ``_apply``,
    # whatever traced values or forward duals it meets there.
    _level = sys.maxsize
    handles_functions_first = True  # Traced defers NumPy functions it shares with one (traced.py)

    def __init__(self, real_part, imag_part, shape: tuple, dtype: np.dtype):
        self.real_part = real_part
        self.imag_part = imag_part
        self._shape = shape
        self._dtype = dtype
        self._laid_out = ()  # the parts given out as NumPy lays them out (z.real: _as_numpy_lays_out)

    shape = property(lambda self: self._shape)
    dtype = property(lambda self: self._dtype)
    ndim = property(lambda self: len(self._shape))
    size = property(lambda self: math.prod(self._shape))
    real = property(lambda self: _real(self), lambda self, value: self._in_place())
    imag = property(lambda self: _imag(self), lambda self, value: self._in_place())
    T = property(lambda self: np.transpose(self))
    mT = property(lambda self: np.swapaxes(self, -1, -2))

    def __repr__(self) -> str:
        return f"<mixedad complex {self._dtype}[{', '.join(map(str, self._shape))}] (parts traced)>"

    def __getattr__(self, name: str):  # (only for names the class lacks) ndarray's methods, as NumPy's functions
        method = None if name.startswith("__") else getattr(np.ndarray, name, None)
        function = getattr(np, name, None) if callable(method) else None
        if function in FUNCTIONS:  # through NumPy's dispatch, which refuses out= as for the function
            return functools.partial(function, self)
        if callable(method):
            raise unsupported_complex(f"ndarray.{name}")
        raise AttributeError(f"a complex value computed from differentiated values has no attribute {name!r}")

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of unsized object")
        return self._shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # --- NumPy's protocols --------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            raise unsupported_complex(f"{numpy_name(ufunc)}.{method}")
        return _apply_ufunc(ufunc, inputs, kwargs)

    def __array_namespace__(self, *, api_version=None):  # array-API code: xp = x.__array_namespace__()
        return np

    def __array_function__(self, func, types, args, kwargs):
        handler = FUNCTIONS.get(func)
        if handler is None:
            raise unsupported_complex(numpy_name(func))
        if kwargs.get("out") is not None:
            raise unsupported_complex(f"{numpy_name(func)} with out=")
        kwargs.pop("out", None)
        return handler(*args, **kwargs)

    def __array__(self, dtype=None, copy=None):
        raise error_with_location(
            NonDifferentiableError, "np.asarray / np.array on a complex value computed from differentiated values "
            "(or storing it into a NumPy array){where} would drop its derivative. Keep it as it is (NumPy functions "
            "accept it), or compute it outside the differentiated function. To fill an array with complex "
            "differentiated values, fill two real arrays made from a differentiated one (re = np.zeros_like(x); "
            "re[i] = z.real; im[i] = z.imag) and combine them, re + 1j * im; or collect the values in a list and "
            "use np.stack([...]).", skip=1)

    def _stored(self) -> bool:  # H[0, 1] = z into a NumPy array: NumPy converts z with complex() or float()
        location = user_location()
        return location is not None and stores_into_an_array(location.text or "")

    def _conversion_error(self, what: str, advice: str = ""):
        return error_with_location(
            NonDifferentiableError, f"{what} on a complex value computed from differentiated values{{where}} "
            "would drop its derivative. Use NumPy functions on the array instead." + advice, skip=2)

    def __float__(self):
        raise self.__array__() if self._stored() else self._conversion_error("float()")

    def __complex__(self):
        raise self.__array__() if self._stored() else self._conversion_error("complex()")

    def __int__(self):
        raise self._conversion_error("int()")

    def __index__(self):
        raise self._conversion_error("using it as an index")

    def __bool__(self):
        raise self._conversion_error("bool() (an if or while on it)", " Compare np.abs(z) or z.real instead.")

    def item(self, *args):
        raise self._conversion_error(".item()")

    def tolist(self):
        raise self._conversion_error(".tolist()")

    def __setitem__(self, key, value):
        raise error_with_location(
            UnsupportedOperationError, "Assigning into a complex value computed from differentiated values{where} "
            "is not supported. Build the new value instead (np.where, np.concatenate), or assign into the real and "
            "imaginary parts as real arrays and combine them afterwards (re + 1j * im).", skip=1)

    def __getitem__(self, key):
        return _componentwise(lambda part: part[key], self)

    # --- LeveledValue: how the engine hands it an operation -----------------------------------
    def _apply(self, prim, args, kwargs):
        return _apply_primitive(prim, args, kwargs, unsupported_complex)

    def _plain(self, why: str):
        re, im = (read_value(part, why) if part is not None else None for part in self.parts)
        return _plain_complex(re, im, self._shape, self._dtype)

    @property
    def parts(self) -> tuple:
        return self.real_part, self.imag_part

    # --- ndarray methods ----------------------------------------------------------------------
    def conj(self):
        return np.conjugate(self)

    conjugate = conj

    def reshape(self, *shape, order="C"):
        return np.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)

    def transpose(self, *axes):
        return np.transpose(self, axes[0] if len(axes) == 1 else axes or None)

    def flatten(self, order="C"):
        return np.ravel(self, order=order).copy()

    def copy(self, order="C"):
        return np.copy(self, order=order)

    def astype(self, dtype, copy=True, **kwargs):
        dtype = np.dtype(dtype)
        if dtype.kind == "c":
            real_dtype = np.finfo(dtype).dtype
            return _pair(*(None if part is None else part.astype(real_dtype) for part in self.parts))
        if dtype.kind != "f":
            raise self._conversion_error(f"astype({dtype})")
        warnings.warn("Casting complex values to real discards the imaginary part", np.exceptions.ComplexWarning,
                      stacklevel=2)
        re, im = self.parts  # (astype copies: no need for z.real's own layout first)
        return (re if re is not None else np.zeros_like(im)).astype(dtype)

    # --- operators ----------------------------------------------------------------------------
    def __add__(self, other): return _add_values(self, other)
    def __radd__(self, other): return _add_values(other, self)
    def __sub__(self, other): return _subtract_values(self, other)
    def __rsub__(self, other): return _subtract_values(other, self)
    def __mul__(self, other): return _multiply_values(self, other)
    def __rmul__(self, other): return _multiply_values(other, self)
    def __truediv__(self, other): return _divide_values(self, other)
    def __rtruediv__(self, other): return _divide_values(other, self)
    def __pow__(self, other): return _power(self, other)
    def __rpow__(self, other): return _power(other, self)
    def __matmul__(self, other): return _multilinear(np.matmul, (self, other))
    def __rmatmul__(self, other): return _multilinear(np.matmul, (other, self))
    def __neg__(self): return _pair(_negate(self.real_part), _negate(self.imag_part))

    def _in_place(self, *args):
        raise error_with_location(
            UnsupportedOperationError, "An in-place change (z += w, z *= 2, z.real = v) of a complex value computed "
            "from differentiated values{where} is not supported: its aliases and views would keep the old value, "
            "where NumPy changes them too. Write z = z + w, or z = v + 1j * z.imag.", skip=2)

    __iadd__ = __isub__ = __imul__ = __itruediv__ = __ipow__ = __imatmul__ = _in_place
    def __pos__(self): return self
    def __abs__(self): return _absolute(self)
    def __eq__(self, other): return np.equal(self, other)
    def __ne__(self, other): return np.not_equal(self, other)
    __hash__ = None


# --- parts ------------------------------------------------------------------------------------
def parts(value) -> tuple:
    """(real part, imaginary part) of an operand; None for a part that is exactly zero."""
    if type(value) is ComplexValue:
        return value.real_part, value.imag_part
    if _differentiated(value):
        if value.dtype.kind == "c":  # a forward dual of a complex constant cannot occur: its tangent is real
            raise unsupported_complex("a complex differentiated input")
        return value, None
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    if isinstance(value, complex) or isinstance(value, np.complexfloating) or \
            (isinstance(value, np.ndarray) and value.dtype.kind == "c"):
        return value.real, value.imag
    return value, None


def _plain_complex(re, im, shape, dtype) -> np.ndarray:
    result = np.zeros(shape, dtype)
    if re is not None:
        result.real = re
    if im is not None:
        result.imag = im
    return result


def _pair(re, im):
    """The complex value with these parts: a ``ComplexValue`` if either is differentiated,
    else a plain NumPy array. Constant parts are broadcast to the value's shape."""
    present = [part for part in (re, im) if part is not None]
    if not present:
        return np.zeros((), np.complex128)
    shape = np.broadcast_shapes(*[np.shape(part) for part in present])
    real_dtype = np.result_type(*[part.dtype if hasattr(part, "dtype") else part for part in present])
    if real_dtype.kind != "f":
        real_dtype = np.result_type(real_dtype, 1.0)
    dtype = np.result_type(real_dtype, np.complex64)
    real_dtype = np.finfo(dtype).dtype  # float16 parts compute in float32, as NumPy's complex64
    if not any(_differentiated(part) for part in present):
        return _plain_complex(re, im, shape, dtype)
    re, im = (_full(part, shape, real_dtype) for part in (re, im))
    return ComplexValue(re, im, shape, dtype)


def _full(part, shape, dtype):
    if part is None:
        return None
    if not _differentiated(part):
        return np.broadcast_to(np.asarray(part, dtype), shape)
    if part.dtype != dtype:
        part = part.astype(dtype)
    return part if part.shape == shape else np.broadcast_to(part, shape)


# A missing part is a +0.0 that NumPy would add or subtract: kept in the sums below (0.0 - b
# is +0.0 where -b is -0.0), so that signed zeros, which pick the side of a branch cut for
# angle, log and sqrt, are NumPy's.
def _add(a, b):
    return (None if b is None else 0.0 + b) if a is None else a if b is None else a + b


def _negate(a):
    return -0.0 if a is None else -a


def _subtract(a, b):
    return (None if b is None else 0.0 - b) if a is None else a if b is None else a - b


def _times(a, b):
    return None if a is None or b is None else a * b


def _zeros_if_none(part, like):
    return np.zeros(np.shape(like), np.result_type(like, 1.0)) if part is None else part


def _componentwise(function, value):
    """A function that acts on the parts alike (reshaping, indexing, sums: real-linear with real
    coefficients) applied to a complex value."""
    re, im = parts(value)
    return _pair(None if re is None else function(re), None if im is None else function(im))


# --- arithmetic -------------------------------------------------------------------------------
def _add_values(a, b):
    (ar, ai), (br, bi) = parts(a), parts(b)
    return _pair(_add(ar, br), _add(ai, bi))


def _subtract_values(a, b):
    (ar, ai), (br, bi) = parts(a), parts(b)
    return _pair(_subtract(ar, br), _subtract(ai, bi))


def _multiply_values(a, b):
    """NumPy's complex product, term by term, with a missing part as +0.0 (signed zeros as NumPy's)."""
    ar, ai, br, bi = (0.0 if part is None else part for part in parts(a) + parts(b))
    return _pair(ar * br - ai * bi, ar * bi + ai * br)


def _multilinear(function, operands, conjugate_first=False):
    """``function(*operands)`` for a function linear in each operand with real coefficients
    (products: multiply, matmul, einsum, ...), expanded over the operands' parts:
    i**k from k imaginary parts picks the result's part and sign."""
    operand_parts = [parts(operand) for operand in operands]
    if conjugate_first:
        re, im = operand_parts[0]
        operand_parts[0] = (re, None if im is None else -im)
    real_terms, imag_terms = [], []
    for choice in itertools.product((0, 1), repeat=len(operand_parts)):
        picked = [part[c] for part, c in zip(operand_parts, choice)]
        if any(part is None for part in picked):
            continue
        k = sum(choice)
        term = function(*picked)
        (real_terms if k % 2 == 0 else imag_terms).append((term, (k // 2) % 2 == 1))
    return _pair(_signed_sum(real_terms), _signed_sum(imag_terms))


def _signed_sum(terms):
    total = None
    for term, negative in terms:
        total = (_negate(term) if negative else term) if total is None else \
            (total - term if negative else total + term)
    return total


def _divide_values(a, b):
    """Smith's algorithm, as NumPy divides: scaled by the larger part of b, so |b|**2 never overflows."""
    (ar, ai), (br, bi) = parts(a), parts(b)
    if bi is None:
        return _pair(None if ar is None else ar / br, None if ai is None else ai / br)
    br = _zeros_if_none(br, bi)
    real_larger = np.abs(br) >= np.abs(bi)
    safe_br, safe_bi = np.where(br == 0, 1, br), np.where(bi == 0, 1, bi)
    ratio = np.where(real_larger, bi / safe_br, br / safe_bi)  # the smaller part over the larger
    scale = np.where(real_larger, br + bi * ratio, bi + br * ratio)
    first, second = (np.where(real_larger, 1, ratio), np.where(real_larger, ratio, 1))  # weights of br, bi
    numerator_re = _add(_times(ar, first), _times(ai, second))
    numerator_im = _subtract(_times(ai, first), _times(ar, second))
    return _pair(None if numerator_re is None else numerator_re / scale,
                 None if numerator_im is None else numerator_im / scale)


def _absolute(value):
    re, im = parts(value)
    if im is None:
        return np.abs(re)
    if re is None:
        return np.abs(im)
    return np.hypot(re, im)  # NumPy's complex abs: 0 derivative at 0, as np.abs of reals


def _real(value):
    return _as_numpy_lays_out(value, 0)


def _imag(value):
    return _as_numpy_lays_out(value, 1)


@primitive(name="z.real / z.imag")
def _interleaved(part):
    """``part`` laid out as NumPy lays out z.real and z.imag: every other number of an
    interleaved complex array, so that ``ravel`` copies it as NumPy's does (a view of
    contiguous memory would let writes through the copy change z). A NumPy scalar's part is a
    NumPy scalar, as NumPy gives it (immutable: ``v *= b`` rebinds v)."""
    if isinstance(part, np.generic):
        return part
    pair = np.empty(np.shape(part) + (2,), part.dtype)
    pair[..., 0] = part
    return pair[..., 0]


_interleaved.defvjp(lambda g, out, part: g)  # the identity: only the layout changes
_interleaved.defjvp(lambda t, out, part: t)


def _as_numpy_lays_out(value, index):
    """Part ``index`` of a complex value for the user (z.real, np.imag(z)), in NumPy's layout and
    z's own (other complex values may share the part it had): z takes it as its part, so that a
    write into it, or into a view of it, changes z, as in NumPy. A part with views already (z[1:]
    was taken) is given as it is, so that a write into it reaches them (the update machinery)."""
    both = parts(value)
    part = both[index] if both[index] is not None else np.zeros_like(both[1 - index])
    if type(value) is ComplexValue and _differentiated(part) and index not in value._laid_out \
            and getattr(part, "_views", None) is None:
        part = _interleaved(part)
        if type(part) is Traced:  # an identity element by element: mixedad.sum(f, x) still runs f vectorized
            part._entry.elementwise = True
        setattr(value, ("real_part", "imag_part")[index], part)
        value._laid_out += (index,)
    return part


def _angle(value, deg=False):
    re, im = parts(value)
    angle = np.arctan2(_zeros_if_none(im, re), _zeros_if_none(re, im))
    return angle * (180 / np.pi) if deg else angle


def _exp(value):
    re, im = parts(value)
    if im is None:
        return _pair(np.exp(re), None)
    if re is None:
        return _pair(np.cos(im), np.sin(im))
    scale = np.exp(re)
    return _pair(scale * np.cos(im), scale * np.sin(im))


def _log(value):
    return _pair(np.log(_absolute(value)), _angle(value))


def _sqrt(value):
    """The principal square root, as C's csqrt computes it: no cancellation on either side, and
    each side's formula smooth where it is selected (|re| would put a kink at re = 0)."""
    re, im = parts(value)
    re, im = _zeros_if_none(re, im), _zeros_if_none(im, re)
    modulus = np.hypot(re, im)
    right, left = np.sqrt((modulus + re) / 2), np.sqrt((modulus - re) / 2)  # re >= 0, re < 0
    safe_right, safe_left = np.where(right == 0, 1, right), np.where(left == 0, 1, left)
    return _pair(np.where(re >= 0, right, np.where(left == 0, 0, np.abs(im) / (2 * safe_left))),
                 np.where(re >= 0, np.where(right == 0, 0, im / (2 * safe_right)), np.copysign(left, im)))


def _separable(f, g, h, k):
    """The function taking a + ib to f(a) g(b) + i h(a) k(b): sin, cos, sinh and cosh."""
    def apply(value):
        re, im = parts(value)
        if im is None:
            return _pair(f(re), None)
        re = _zeros_if_none(re, im)
        return _pair(f(re) * g(im), h(re) * k(im))
    return apply


_sin = _separable(np.sin, np.cosh, np.cos, np.sinh)
_cos = _separable(np.cos, np.cosh, lambda a: -np.sin(a), np.sinh)


def _reciprocal(value):
    return _divide_values(1.0, value)


def _power(base, exponent):
    n = _small_integer(exponent)
    if n is not None and n >= 0:
        result, square = None, base
        while n:  # repeated squaring, as NumPy's complex power does for small integer exponents
            if n & 1:
                result = square if result is None else _multiply_values(result, square)
            n >>= 1
            if n:
                square = _multiply_values(square, square)
        return _add_values(_multiply_values(base, 0.0), 1.0) if result is None else result
    if n is not None:
        result = _reciprocal(_power(base, -n))
    else:  # a Python base's logarithm as a Python number, weak as NumPy keeps the base (complex64 stays so)
        python_base = isinstance(base, (int, float, complex)) and not isinstance(base, bool)
        log_base = (cmath.log(base) if base != 0 else complex(-math.inf, 0.0)) if python_base else _log(base)
        result = _exp(_multiply_values(exponent, log_base))
    # at a zero base these are NaN or inf; NumPy's is 0 for Re b > 0, else NaN (b = 0 gives 1 above)
    base_re, base_im = parts(base)
    zero_base = (_zeros_if_none(base_re, base_im) == 0) & (_zeros_if_none(base_im, base_re) == 0)
    if not np.any(zero_base):
        return result
    re, im = parts(result)
    exponent_re, exponent_im = parts(exponent)
    exponent_re = _zeros_if_none(exponent_re, exponent_im)
    exponent_im = _zeros_if_none(exponent_im, exponent_re)
    fill = np.where(exponent_re > 0, 0.0, np.where((exponent_re == 0) & (exponent_im == 0), 1.0, np.nan)) \
        .astype(next(part.dtype for part in (re, im) if part is not None))
    return _pair(np.where(zero_base, fill, _zeros_if_none(re, im)),
                 np.where(zero_base, fill * 0.0, _zeros_if_none(im, re)))


def _small_integer(exponent) -> int | None:
    """The exponent as an int where NumPy's complex power multiplies (a constant integer below
    100 in magnitude, imaginary part 0), else None."""
    if isinstance(exponent, (bool, np.bool_)) or not isinstance(exponent, (int, float, complex, np.number)):
        return None
    value = complex(exponent)
    if value.imag != 0 or not float(value.real).is_integer() or abs(value.real) >= 100:
        return None
    return int(value.real)


def _raise(error):
    raise error


def _not_differentiable(function):
    """A function whose result carries no derivative (a comparison), applied to the plain values."""
    def plain(*args, **kwargs):
        return function(*[read_value(a, numpy_name(function)) for a in args], **kwargs)
    return plain


UFUNCS.update({
    np.add: _add_values, np.subtract: _subtract_values, np.multiply: _multiply_values,
    np.true_divide: _divide_values, np.negative: lambda a: _pair(*(_negate(part) for part in parts(a))),
    np.positive: lambda a: a,
    np.conjugate: lambda a: _pair(parts(a)[0], _negate(parts(a)[1])), np.absolute: _absolute,
    np.exp: _exp, np.log: _log, np.sqrt: _sqrt, np.sin: _sin, np.cos: _cos, np.square: lambda a: _multiply_values(a, a),
    np.reciprocal: _reciprocal, np.power: _power, np.matmul: lambda a, b: _multilinear(np.matmul, (a, b)),
    **{ufunc: _not_differentiable(ufunc) for ufunc in (np.equal, np.not_equal, np.isfinite, np.isnan, np.isinf)},
})


def _apply_ufunc(ufunc, args, kwargs):
    handler = UFUNCS.get(ufunc)
    if handler is None:
        raise unsupported_complex(numpy_name(ufunc))
    if kwargs.get("out") is not None or kwargs.get("where", True) is not True:
        raise unsupported_complex(f"{numpy_name(ufunc)} with out= or where=")
    dtype = kwargs.get("dtype")
    if any(value is not None for key, value in kwargs.items() if key not in ("out", "where", "dtype")):
        raise unsupported_complex(f"{numpy_name(ufunc)} with {', '.join(kwargs)}")
    result = handler(*args)
    return result.astype(dtype) if dtype is not None else result


def _apply_primitive(prim, args, kwargs, error):
    """``prim`` applied through the tables: a ufunc, or a NumPy function's primitive (called with
    NumPy's signature); ``error(name)`` for any other."""
    if isinstance(prim.fn, np.ufunc):
        return _apply_ufunc(prim.fn, args, kwargs)
    handler = FUNCTIONS.get(prim.fn) if prim.positional_names else None
    if handler is None:
        raise error(prim.name)
    return handler(*args, **kwargs)


# an operation on real traced values whose result is complex (``x * 1j``, ``np.exp(x + 0j)``)
COMPLEX_RESULTS.append(lambda prim, args, kwargs: _apply_primitive(prim, args, kwargs, complex_result_error))


# --- NumPy functions (those that act on the parts alike, and joins: complex_linalg) ------------
def _norm(x, ord=None, axis=None, keepdims=False):
    """The norms of the magnitudes |z|: every vector norm, and the matrix norms that sum
    magnitudes (Frobenius, 1, -1, inf, -inf); complex_decompositions adds the matrix norms
    made of singular values (2, -2, 'nuc'), which |z| does not determine."""
    matrix = axis is None and np.ndim(x) == 2 or isinstance(axis, tuple) and len(axis) == 2
    if matrix and ord in (2, -2, "nuc"):
        raise unsupported_complex(f"numpy.linalg.norm with ord={ord!r}")
    return np.linalg.norm(_absolute(x), ord=ord, axis=axis, keepdims=keepdims)  # (which refuses a wrong ord)


def _like(function):
    def like(value, *args, **kwargs):
        return function(np.empty(value.shape, value.dtype), *args, **kwargs)
    return like


FUNCTIONS.update({
    np.real: _real, np.imag: _imag, np.angle: _angle,
    np.dot: lambda a, b: _multilinear(np.dot, (a, b)),
    np.vdot: lambda a, b: _multilinear(np.vdot, (a, b), conjugate_first=True),
    np.inner: lambda a, b: _multilinear(np.inner, (a, b)),
    np.outer: lambda a, b: _multilinear(np.outer, (a, b)),
    np.kron: lambda a, b: _multilinear(np.kron, (a, b)),
    np.tensordot: lambda a, b, axes=2: _multilinear(lambda p, q: np.tensordot(p, q, axes), (a, b)),
    np.einsum: lambda subscripts, *operands, **kwargs: _multilinear(
        lambda *ps: np.einsum(subscripts, *ps, **kwargs), operands) if isinstance(subscripts, str) else
        _raise(unsupported_complex("numpy.einsum in its sublist form (write the subscripts as a string)")),
    np.linalg.norm: _norm,
    np.iscomplexobj: lambda value: True, np.isrealobj: lambda value: False,
    np.shape: lambda value: value.shape, np.ndim: lambda value: value.ndim, np.size: lambda value, axis=None:
        value.size if axis is None else value.shape[axis],
    **{function: _like(function) for function in (np.zeros_like, np.ones_like, np.empty_like, np.full_like)},
    **{function: _not_differentiable(function)
       for function in (np.isclose, np.allclose, np.array_equal, np.iscomplex, np.isreal)},
})


# A complex constant meeting real differentiated values (``np.dot(W, x)``, W complex: a hand-written
# Fourier sum): these functions' real rules cannot differentiate the complex result, so they go to
# the table above (ufuncs and ``@`` get there through the real rule's complex result).
TAKE_COMPLEX_CONSTANTS = [np.dot, np.vdot, np.inner, np.outer, np.kron, np.tensordot, np.einsum, np.concatenate,
                          np.stack, np.hstack, np.vstack, np.column_stack, np.where]  # (complex_signal adds more)


def _complex_constant(value) -> bool:
    if type(value) is list or type(value) is tuple:
        return any(_complex_constant(item) for item in value)
    return isinstance(value, complex) or (isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind == "c")


def _complex_constants_first(function: Callable, real_handler: Callable) -> Callable:
    complex_handler = FUNCTIONS[function]

    def handler(*args, **kwargs):
        complex_constant = _complex_constant(args) or (kwargs and _complex_constant(tuple(kwargs.values())))
        return (complex_handler if complex_constant else real_handler)(*args, **kwargs)
    return handler


def route_complex_constants() -> None:
    """Register the functions above to take complex constants through the table (called once
    every real rule is registered: it wraps them)."""
    for function in TAKE_COMPLEX_CONSTANTS:
        register_function(function, _complex_constants_first(function, function_handler(function)))
