"""Elementwise NumPy functions: one partial derivative per argument, written once.

Each partial feeds the dual regions, the reverse rule and the forward rule. A partial is a
constant, or a function of the arguments (and of ``out``, the result, where that is
cheaper or more stable). Conventions at kinks: ``abs``/``sign``-like functions use
``sign(0) = 0``; ``maximum``/``minimum``/``clip`` split ties 0.5/0.5 (what a central
difference sees), and a NaN operand of ``maximum``/``minimum`` counts as a tie; ``fmax``/``fmin``
ignore a NaN (the other argument gets 1), and two NaNs split as a tie.
Constants (ln 2, pi / 180) are rounded in the argument's float type, so that longdouble
derivatives are as exact as longdouble values. Domains say where the tests sample each argument.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .reductions import in_dtype
from .running_products import within_normal_range
from .table import NONZERO, POSITIVE, REALS, UNIT, Domain, elementwise, implements, nondifferentiable, numpy_scalar
from ..core.partials import UfuncOf
from ..core.primitive import Primitive
from ..core.recomputed import Recomputed
from ..core.region import read_value
from ..core.arrays import finite_array
from ..core.errors import unsupported_option

_LOGS: dict = {}  # (base, dtype) -> ln(base) rounded in that float type


def _log_of(base: int, like) -> Any:
    """ln(base) in the float type of ``like``: a float64 ln 2 would put hundreds of ulps of error
    into a longdouble derivative. A NumPy scalar of float32's type keeps float32 float32, as a
    Python float (weak) did; non-float values get the Python float."""
    dtype = getattr(like, "dtype", None)
    if dtype is None or dtype.kind != "f":
        return math.log(base)
    key = (base, dtype)
    if key not in _LOGS:
        _LOGS[key] = np.log(dtype.type(base))
    return _LOGS[key]


def _slope_of(linear_ufunc: np.ufunc, like) -> Any:
    """The constant derivative of a linear ufunc (deg2rad, rad2deg): its value at 1, so in the
    float type of ``like`` with NumPy's own constant for that type."""
    dtype = getattr(like, "dtype", None)
    return linear_ufunc(dtype.type(1) if dtype is not None and dtype.kind == "f" else 1.0)


def _within_range(squares, *terms) -> bool:
    """Whether every value of a plain array of sums of squares of ``terms`` is a normal finite
    number (so that a quotient by it keeps full precision); False for a value that carries
    derivatives (second order), which then takes the scaled form without reading it. A term
    that is a plain number with a normal square (arctan2(x, 2)) bounds them from below."""
    if type(squares) is not np.ndarray and not isinstance(squares, (float, np.floating)):
        return False
    floor = max([float(term) * float(term) for term in terms if isinstance(term, (float, int, np.floating))], default=0)
    return within_normal_range(squares, floor)


def _over_squared_radius(numerator, y, x):
    """numerator / (x^2 + y^2), arctan2's partials. Where the squares under- or overflow
    (|x|, |y| below 1e-154 or above 1e154 in float64, 1e-19 and 1e19 in float32), each
    element is scaled by a power of two near 1 / max(|x|, |y|) first: exact, and a constant
    to differentiate. (np.hypot would cost 20 times x * x.)"""
    squares = x * x + y * y
    if _within_range(squares, x, y):
        return numerator / squares
    largest = np.maximum(np.abs(_plain_value(x)), np.abs(_plain_value(y)))
    dtype = squares.dtype if hasattr(squares, "dtype") else np.result_type(largest)  # (a scalar dual has none)
    scale = np.ldexp(np.ones_like(largest, dtype=dtype), -np.frexp(largest)[1])  # (a Python x: float64)
    x, y = x * scale, y * scale
    return numerator * scale / (x * x + y * y) * scale


def _plain_value(value):
    """The plain value under a traced value or a dual of any level, a per-element scalar dual
    (``mixedad.sum``'s, whose ``value`` may be a dual again) included."""
    value = read_value(value, "np.arctan2")
    while not isinstance(value, (np.ndarray, np.generic, float, int)) and hasattr(value, "value"):
        value = read_value(value.value, "np.arctan2")
    return value


def _arcsinh_partial(x):
    """1 / sqrt(x^2 + 1), from 1 / (|x| sqrt(1 + x^-2)) where x^2 overflows."""
    squares = x * x + 1
    if _within_range(squares):
        return 1 / np.sqrt(squares)
    large = np.abs(read_value(x, "np.arcsinh")) > 1
    inverse = 1 / np.where(large, x, 1)
    return np.where(large, np.abs(inverse) / np.sqrt(1 + inverse * inverse), 1 / np.sqrt(np.where(large, 1, squares)))


def _power_partial_base(x, y):
    # shortcuts for a plain exponent only: a differentiated one (a hessian's cross term) keeps y
    if isinstance(y, (int, float, np.generic)) or (type(y) is np.ndarray and y.ndim == 0):
        if y == 2:
            return 2 * x
        if y == 1:
            return 1
        if y == 0:
            return 0
    return y * x ** (y - 1)


def _power_partial_exponent(x, y, out):
    # log of a negative base is NaN, and says so (invalid): a region then computes its chain
    # products again with a zero factor winning, so an exponent that does not move (x * 0 + 3,
    # np.floor(x)) leaves y * x**(y - 1), as reverse mode's products give
    with np.errstate(divide="ignore"):
        return np.where(x == 0, 0, out * np.log(np.where(x == 0, 1, x)))


def _float_power_partial_base(x, y):
    return y * np.float_power(x, y - 1)


def _choice_partial(first_wins, tie, out):
    """1 where this argument was chosen, 0.5 on a tie, 0 elsewhere, in the output's dtype."""
    dtype = np.result_type(out)
    if type(first_wins) is np.ndarray and type(tie) is np.ndarray:  # the bools added as bytes: one cast, not two
        return np.multiply(np.add(first_wins.view(np.uint8), tie.view(np.uint8)), 0.5, dtype=dtype)
    return np.add(first_wins, tie, dtype=dtype) * 0.5


# "Not smaller" rather than x >= y: a NaN operand (which maximum and minimum propagate) gets
# half the derivative, as on a tie, so that the NaN reaches the gradient in every mode. With
# x >= y it would get none, and reverse mode would give 0 where forward mode gives NaN. (Giving
# it all, as np.max does, takes three more passes over the arrays: a relu written with
# np.maximum would pay 50% more for its gradient.)
def _greater_partial(x, y, out):
    return _choice_partial(x > y, ~(x < y), out)


def _less_partial(x, y, out):
    return _choice_partial(x < y, ~(x > y), out)


# fmax and fmin ignore NaN: the result came from the other argument, unless both are NaN (a tie).
def _fmax_partial_x(x, y, out):
    y_is_nan = y != y
    return _choice_partial((x > y) | (y_is_nan & (x == x)), (x >= y) | y_is_nan, out)


def _fmax_partial_y(x, y, out):
    return _fmax_partial_x(y, x, out)


def _fmin_partial_x(x, y, out):
    y_is_nan = y != y
    return _choice_partial((x < y) | (y_is_nan & (x == x)), (x <= y) | y_is_nan, out)


def _fmin_partial_y(x, y, out):
    return _fmin_partial_x(y, x, out)


POSITIVE_PAIR = (POSITIVE, REALS)
TWO_REALS = (REALS, REALS)
# ------------------------------------------------------------------------------------------
# arithmetic
add = elementwise(np.add, 1, 1)
subtract = elementwise(np.subtract, 1, -1)
multiply = elementwise(np.multiply, lambda x, y: y, lambda x, y: x)
def _reciprocal(y):
    """1 / y, with NumPy's inf for a Python number 0 (``x / 0.0``; Python raises ZeroDivisionError)
    and Python's weak float type otherwise, so that a float32 x stays float32."""
    if type(y) in (float, int, bool) and not y:
        return math.copysign(math.inf, y)
    return 1 / y


true_divide = elementwise(np.true_divide, lambda x, y: _reciprocal(y), lambda x, y, out: -out / y,
                          domain=(REALS, NONZERO))
negative = elementwise(np.negative, -1)
positive = elementwise(np.positive, 1)
conjugate = elementwise(np.conjugate, 1)  # of a real input (complex inputs are refused)
power = elementwise(np.power, _power_partial_base, _power_partial_exponent, domain=(POSITIVE, REALS))
float_power = elementwise(np.float_power, _float_power_partial_base, _power_partial_exponent,
                          domain=(POSITIVE, REALS))
square = elementwise(np.square, lambda x: 2 * x)
reciprocal = elementwise(np.reciprocal, lambda x, out: -out * out, domain=NONZERO)
sqrt = elementwise(np.sqrt, lambda x, out: 0.5 / out, domain=POSITIVE)
cbrt = elementwise(np.cbrt, lambda x, out: 1 / (3 * out * out), domain=NONZERO)
absolute = elementwise(np.absolute, lambda x: np.sign(x), domain=NONZERO)
fabs = elementwise(np.fabs, lambda x: np.sign(x), domain=NONZERO)
remainder = elementwise(np.remainder, 1, lambda x, y: -np.floor_divide(x, y),
                        domain=(Domain(0.1, 0.9), Domain(1.2, 3.0)))
fmod = elementwise(np.fmod, 1, lambda x, y: -np.trunc(x / y), domain=(Domain(0.1, 0.9), Domain(1.2, 3.0)))
copysign = elementwise(np.copysign, lambda x, y: np.sign(x) * np.copysign(1, y), 0,  # |x| sign(y): sign(0) = 0
                       domain=(NONZERO, NONZERO))
ldexp = elementwise(np.ldexp, lambda x, i: np.ldexp(np.ones((), np.result_type(x)), i), None,
                    domain=(REALS, Domain(-3, 3, integer=True)))

# exponentials and logarithms
exp = elementwise(np.exp, lambda x, out: out)
exp2 = elementwise(np.exp2, lambda x, out: out * _log_of(2, out))
expm1 = elementwise(np.expm1, UfuncOf(np.exp))  # exp(x), not out + 1: that cancels for x < 0
log = elementwise(np.log, lambda x: 1 / x, domain=POSITIVE)
log2 = elementwise(np.log2, lambda x: 1 / x / _log_of(2, x), domain=POSITIVE)  # x * ln 2 can overflow
log10 = elementwise(np.log10, lambda x: 1 / x / _log_of(10, x), domain=POSITIVE)
log1p = elementwise(np.log1p, lambda x: 1 / (1 + x), domain=Domain(-0.9, 3.0))


def _share(d, exp=np.exp):
    """The logistic 1 / (1 + exp(-d)) (base 2 with exp2): logaddexp's partial, d = x - y, rather
    than e^(x - out), which is NaN where x is +inf. Each side of 0 exponentiates only numbers
    <= 0, so neither the value nor its own derivative (second order) overflows into NaN when
    x and y are far apart, and the tail keeps full relative precision."""
    upper = d >= 0
    below = exp(np.where(upper, 0, d))
    return np.where(upper, 1 / (1 + exp(-np.where(upper, d, 0))), below / (1 + below))


logaddexp = elementwise(np.logaddexp, lambda x, y: _share(x - y), lambda x, y: _share(y - x))
logaddexp2 = elementwise(np.logaddexp2, lambda x, y: _share(x - y, np.exp2), lambda x, y: _share(y - x, np.exp2))

# trigonometric and hyperbolic
sin = elementwise(np.sin, UfuncOf(np.cos))
cos = elementwise(np.cos, UfuncOf(np.sin, -1))
tan = elementwise(np.tan, lambda x, out: 1 + out * out, domain=Domain(-1.2, 1.2))
arcsin = elementwise(np.arcsin, lambda x: 1 / np.sqrt(1 - x * x), domain=UNIT)
arccos = elementwise(np.arccos, lambda x: -1 / np.sqrt(1 - x * x), domain=UNIT)
arctan = elementwise(np.arctan, lambda x: 1 / (1 + x * x))
arctan2 = elementwise(np.arctan2, lambda y, x: _over_squared_radius(x, y, x),
                      lambda y, x: _over_squared_radius(-y, y, x), domain=(NONZERO, NONZERO))
# At (0, 0) the partials are 0, as for np.linalg.norm (a subgradient), not 0 / 0.
hypot = elementwise(np.hypot, lambda x, y, out: x / np.where(out == 0, 1, out),
                    lambda x, y, out: y / np.where(out == 0, 1, out), domain=(NONZERO, NONZERO))
sinh = elementwise(np.sinh, UfuncOf(np.cosh))
cosh = elementwise(np.cosh, UfuncOf(np.sinh))
# sech(x)^2, not 1 - out^2: tanh rounds to 1 (from x = 9 in float32, 19 in float64) long before
# its derivative underflows, and 1 - out^2 loses digits on the way (2x off at x = 9 in float32)
tanh = elementwise(np.tanh, lambda x: (1 / np.cosh(x)) ** 2)
arcsinh = elementwise(np.arcsinh, _arcsinh_partial)
arccosh = elementwise(np.arccosh, lambda x: 1 / (np.sqrt(x - 1) * np.sqrt(x + 1)), domain=Domain(1.1, 4.0))
arctanh = elementwise(np.arctanh, lambda x: 1 / (1 - x * x), domain=UNIT)
deg2rad = elementwise(np.deg2rad, lambda x: _slope_of(np.deg2rad, x))
rad2deg = elementwise(np.rad2deg, lambda x: _slope_of(np.rad2deg, x))
# NumPy's older names: other ufunc objects, same maths
radians = elementwise(np.radians, lambda x: _slope_of(np.radians, x))
degrees = elementwise(np.degrees, lambda x: _slope_of(np.degrees, x))

# selection by value (ties split evenly)
maximum = elementwise(np.maximum, _greater_partial, lambda x, y, out: _greater_partial(y, x, out))
minimum = elementwise(np.minimum, _less_partial, lambda x, y, out: _less_partial(y, x, out))
fmax = elementwise(np.fmax, _fmax_partial_x, _fmax_partial_y)
nextafter = elementwise(np.nextafter, 1, 0)  # x moved by one ulp: the identity, to first order
# the step's value at 0 is the second argument's
heaviside = elementwise(np.heaviside, 0, lambda x, h: np.equal(x, 0).astype(np.result_type(x, h, 1.0)))
fmin = elementwise(np.fmin, _fmin_partial_x, _fmin_partial_y)

# Strictly increasing on all reals (no domain to leave, no kink): max pooling moves before
# them in a gradient (core.region.apply_before_region). Not maximum/minimum/clip: their
# derivative at a kink is 1/2, so the window's tie between a kink and a flat part would move.
for _increasing in (positive, cbrt, exp, exp2, expm1, arctan, sinh, tanh, arcsinh):
    _increasing.increasing = True

# ------------------------------------------------------------------------------------------
# no derivative (zero almost everywhere, or not real-valued)
for _ufunc in (np.sign, np.floor, np.ceil, np.trunc, np.rint, np.signbit, np.isnan, np.isinf,
               np.isfinite, np.greater, np.greater_equal, np.less, np.less_equal, np.equal,
               np.not_equal, np.logical_and, np.logical_or, np.logical_xor, np.logical_not,
               np.floor_divide, np.spacing):
    nondifferentiable(_ufunc)
for _function in (np.round, np.around, np.fix, np.isclose, np.isreal, np.iscomplex, np.isneginf, np.isposinf):
    nondifferentiable(_function, static_shape=True)
# Python bools: a prepared recording cannot stand in for one (f may test it with `is False`, or
# match it against a literal), so these read the values, and a program branching on them traces
for _function in (np.allclose, np.array_equal):
    nondifferentiable(_function)


@implements(np.iscomplexobj)
def iscomplexobj(x):
    return x.dtype.kind == "c"  # the dtype's question, as NumPy asks it: no value is read


@implements(np.isrealobj)
def isrealobj(x):
    return x.dtype.kind != "c"


# ------------------------------------------------------------------------------------------
# np.where: the tangent of the branch not taken is never multiplied in, so an infinite
# derivative there (sqrt at 0) cannot turn into NaN.
def _where_tangent(tangents, out, condition, a, b, dtype=None):
    """The tangent of ``np.where(condition, a, b)``: reads only the condition (and ``dtype``,
    the result's type, for tangents that are exact integers: a branch that is a region input).
    Multiplying by the mask streams; ``np.where`` on an unpredictable condition is some 15x
    slower, so it only redoes a selection whose product met an infinite tangent (inf * 0)."""
    _, tangent_a, tangent_b = tangents
    selected_a = 0 if tangent_a is None else tangent_a
    selected_b = 0 if tangent_b is None else tangent_b
    result_dtype = np.result_type(selected_a, selected_b)
    if result_dtype.kind != "f":
        result_dtype = dtype if dtype is not None else np.result_type(a, b, 1.0)
    if type(condition) is np.ndarray and all(type(t) in _PLAIN_TANGENTS for t in (selected_a, selected_b)):
        result = None
        if tangent_a is not None:
            result = np.multiply(condition, tangent_a, dtype=result_dtype)
        if tangent_b is not None:
            other = np.multiply(~condition, tangent_b, dtype=result_dtype)
            result = other if result is None else result + other
        if finite_array(result):
            return result
    result = np.where(condition, selected_a, selected_b)
    return result if result.dtype.kind == "f" else result.astype(result_dtype)


_PLAIN_TANGENTS = (np.ndarray, int, float)  # not a forward dual's, whose products np.where keeps exact


def _select(condition, a, b, dtype=None):
    return np.where(condition, a, b)


where_select = Primitive(_select, name="where", elementwise=True)
where_select.defpartials(None, lambda c, a, b: np.asarray(c, dtype=bool),
                         lambda c, a, b: np.logical_not(c))
where_select.tangent_rule = _where_tangent
where_select.tangent_reads = (True, False, False)  # the condition: a gradient computes no branch's value
where_select.pass_kwargs_to_partials = False  # dtype= is for the tangent rule


@implements(np.where)
def where(condition, a=None, b=None):
    if a is None and b is None:
        return np.nonzero(read_value(condition, "np.where"))
    if a is None or b is None:
        raise ValueError("either both or neither of x and y should be given")
    if type(condition) is Recomputed:  # a prepared recording's mask: read by the region when it runs
        condition = condition if condition.dtype == bool else condition != 0
    else:
        condition = np.asarray(read_value(condition, "np.where"))  # may be a Python bool
        if condition.dtype != bool:
            condition = condition != 0
    return where_select(condition, a, b, dtype=_branches_type(a, b))


def _branches_type(a, b) -> np.dtype | None:
    """The float type of ``np.where``'s result, for its tangent rule, which reads no branch."""
    try:
        return np.result_type(*[v if isinstance(v, (np.ndarray, np.generic, float, int)) else v.dtype
                                for v in (a, b)], 1.0)
    except (AttributeError, TypeError, ValueError):  # a list: the rule reads the branches' types then
        return None


# ndarray.clip (on a plain array, with traced bounds) calls NumPy's clip ufunc, not np.clip
try:
    from numpy._core.umath import clip as _CLIP_UFUNC
except ImportError:  # NumPy 1.x
    from numpy.core.umath import clip as _CLIP_UFUNC


_UFUNC_KEYWORDS = frozenset({"where", "casting", "order", "dtype", "subok", "signature"})


@implements(_CLIP_UFUNC)
@implements(np.clip)
def clip(a, a_min=None, a_max=None, **kwargs):
    if kwargs.pop("out", None) is not None:  # x.clip(out=...): np.clip(out=) is refused on dispatch
        raise unsupported_option("x.clip with out= is not supported on traced values; assign the result instead.")
    a_min = kwargs.pop("min", a_min)
    a_max = kwargs.pop("max", a_max)
    unknown = [keyword for keyword in kwargs if keyword not in _UFUNC_KEYWORDS]
    if unknown:  # NumPy hands the rest to its ufunc, which names the first it does not know
        raise TypeError(f"clip() got an unexpected keyword argument {unknown[0]!r}")
    if kwargs:
        raise unsupported_option(f"np.clip with {sorted(kwargs)} is not supported on traced values")
    # np.clip converts a Python number to an array (float64, not weak: np.clip(0.5, lo32, hi32) is float64)
    result = np.asarray(a) if isinstance(a, (int, float, complex)) else a
    if a_min is not None:
        result = np.maximum(result, a_min)
    if a_max is not None:
        result = np.minimum(result, a_max)
    return result


@implements(np.nan_to_num)
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """The finite values kept, the others replaced (by values that may be traced too); with
    ``copy=False`` in place, as NumPy does (the traced value then stands for the result)."""
    value = np.asarray(read_value(x, "np.nan_to_num"))
    if value.dtype.kind != "f":  # integers and bools have nothing to replace
        return x
    limits, dtype = np.finfo(value.dtype), value.dtype  # the replacements are cast into x's dtype, as in NumPy
    result = where_select(np.isnan(value), in_dtype(nan, dtype), where_select(
        value == np.inf, limits.max if posinf is None else in_dtype(posinf, dtype),
        where_select(value == -np.inf, limits.min if neginf is None else in_dtype(neginf, dtype), x)))
    if copy or not hasattr(x, "__setitem__"):
        return numpy_scalar(result)
    x[...] = result
    return numpy_scalar(x)


# ------------------------------------------------------------------------------------------
# np.i0, the modified Bessel function of order 0: its derivative is I1, which NumPy lacks.
def _bessel_i1(x):
    """I1(x) by its power series, the sum of (x/2)^(2k+1) / (k! (k+1)!): the terms share the
    sign of x, so nothing cancels and the sum keeps full relative precision. The terms peak at
    k = |x|/2 and then fall off within a few sqrt(|x|); past |x| = 713, I1 overflows to inf,
    as np.i0 does."""
    dtype = np.result_type(x, np.float16)  # x's float type (computed in float64, returned in it)
    x = np.asarray(x, np.float64)
    largest = float(np.max(np.abs(np.where(np.isfinite(x), x, 0.0)), initial=0.0))
    half_squared = (x / 2) ** 2
    term = x / 2
    total = term.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, int(min(largest, 800.0) / 2 + 10 * math.sqrt(largest) + 20)):
            term = term * half_squared / (k * (k + 1))
            total = total + term
    return total.astype(dtype, copy=False)


bessel_i1 = Primitive(_bessel_i1, name="i1", elementwise=True)
# I1' = I0 - I1 / x, which is 1/2 at 0
bessel_i1.defpartials(lambda x, out: np.where(x == 0, 0.5, np.i0(x) - out / np.where(x == 0, 1.0, x)))
i0 = elementwise(np.i0, lambda x: bessel_i1(x))
