"""Signals, polynomials and norms of complex intermediate values: ``np.convolve``, ``correlate``,
``pad``, ``interp``, ``trapezoid``, ``gradient``, ``polyval``, ``cumprod``, the ``split`` family,
``arctan``, ``arcsin``, ``arccos``, ``sinc``, ``sort_complex`` and ``matrix_power``.

As in ``complex_values``, each is written with real operations on the parts, so every mode
differentiates it with the real rules. Linear functions with real coefficients act on each
part alike; products (``convolve``) expand over the parts; the inverse trigonometric functions
are the inverse hyperbolic ones turned by i, as NumPy's branch cuts are.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..core.region import read_value
from .complex_functions import _arcsinh_right, _arctanh, _mirrored, _real_and_imaginary
from .complex_linalg import _inv, as_complex, with_joined_values
from .complex_values import (FUNCTIONS, TAKE_COMPLEX_CONSTANTS, UFUNCS, _componentwise, _multilinear,
                             _multiply_values, _pair, parts, unsupported_complex)
from .linalg import check_matrices
from .table import implements


# --- linear in one complex operand, with real coefficients: each part alike -------------------------
def _joined_options(function: Callable, value, options: dict, valued: tuple[str, ...]):
    """``function(part, **options)`` for each part of ``value``; the options named in ``valued``
    that are given (pad's ``constant_values``) join the result, split into their parts."""
    given = tuple(name for name in valued if options.get(name) is not None)
    if not given:
        return _componentwise(lambda part: function(part, **options), value)
    return with_joined_values(function, value, options, given)


_LINEAR_PAD_MODES = ("constant", "edge", "linear_ramp", "mean", "reflect", "symmetric", "wrap", "empty")


def _pad(array, pad_width, mode="constant", **kwargs):
    if mode not in _LINEAR_PAD_MODES:  # maximum, minimum, median order complex values; a callable is the user's
        raise unsupported_complex(f"numpy.pad with mode={mode!r}")
    return _joined_options(lambda part, **options: np.pad(part, pad_width, mode, **options), array, kwargs,
                           ("constant_values", "end_values"))


def _interp(x, xp, fp, left=None, right=None, period=None):
    """Linear in ``fp`` (and ``left``, ``right``), whose parts interpolate alike on the real knots."""
    if any(parts(value)[1] is not None for value in (x, xp)):
        raise unsupported_complex("numpy.interp with complex x or xp")
    return _joined_options(lambda part, **options: np.interp(x, xp, part, period=period, **options), fp,
                           {"left": left, "right": right}, ("left", "right"))


def _trapezoid(y, x=None, dx=1.0, axis=-1):
    if x is not None and parts(x)[1] is not None:
        raise unsupported_complex("numpy.trapezoid with complex x")
    return _componentwise(lambda part: np.trapezoid(part, x, dx, axis), y)


def _per_result(function: Callable) -> Callable:
    """A function of one complex operand that acts on each part alike and returns a list of
    arrays (np.split, np.gradient of several axes): the list of their complex pairs."""
    def apply(value, *args, **kwargs):
        re, im = parts(value)
        re_results = None if re is None else function(re, *args, **kwargs)
        im_results = None if im is None else function(im, *args, **kwargs)
        either = re_results if re_results is not None else im_results
        if not isinstance(either, (list, tuple)):
            return _pair(re_results, im_results)
        pieces = [_pair(None if re_results is None else re_results[k], None if im_results is None else im_results[k])
                  for k in range(len(either))]
        return tuple(pieces) if isinstance(either, tuple) else pieces
    return apply


# --- products of two operands ----------------------------------------------------------------
def _convolve(a, v, mode="full"):
    return _multilinear(lambda p, q: np.convolve(p, q, mode), (a, v))


def _correlate(a, v, mode="valid"):
    """NumPy conjugates the second operand: c[k] = sum_n a[n + k] conj(v[n])."""
    return _multilinear(lambda p, q: np.correlate(p, q, mode), (a, np.conjugate(v)))


def _polyval(p, x):
    """Horner's scheme, as NumPy evaluates: y = y * x + p[k], of x's shape."""
    if np.ndim(p) != 1:
        raise unsupported_complex("numpy.polyval with coefficients that are not a 1-d array")
    # NumPy starts from zeros_like(asanyarray(x)): a Python number counts as an array, not a weak scalar
    dtype = np.result_type(*[value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype for value in (p, x)])
    if np.shape(p)[0] == 0:
        return np.zeros(np.shape(x), dtype)
    result = _pair(*parts(p[0]))  # (a complex value, also for one Python number)
    for k in range(1, np.shape(p)[0]):
        result = result * x + p[k]
    result = result if result.dtype == dtype else result.astype(dtype)
    return result if np.shape(result) == np.shape(x) else np.broadcast_to(result, np.shape(x))


def _cumprod(a, axis=None, dtype=None):
    """Running products by doubling: after step s each element holds the product of the 2**s
    elements up to it; log2(n) complex products of shifted arrays rather than n of one element."""
    if dtype is not None and np.dtype(dtype).kind != "c":
        raise unsupported_complex(f"numpy.cumprod with dtype={np.dtype(dtype)}")
    values = np.ravel(a) if axis is None else np.moveaxis(a, axis, -1)
    n, shift = np.shape(values)[-1], 1
    while shift < n:
        values = np.concatenate([values[..., :shift], _multiply_values(values[..., shift:], values[..., :-shift])],
                                axis=-1)
        shift *= 2
    result = values if axis is None else np.moveaxis(values, -1, axis)
    return result.astype(dtype) if dtype is not None else result


def _matrix_power(a, n):
    """Repeated squaring with complex products; a negative power inverts first."""
    if not isinstance(n, (int, np.integer)):
        raise TypeError("exponent must be an integer")
    check_matrices(a, square=True)
    size = np.shape(a)[-1]
    if n == 0:  # the identity, which depends on nothing
        return np.broadcast_to(np.eye(size, dtype=a.dtype), np.shape(a)).copy()
    base, n = (_inv(a), -int(n)) if n < 0 else (a, int(n))
    result = None
    while n:
        if n & 1:
            result = base if result is None else _multilinear(np.matmul, (result, base))
        n >>= 1
        if n:
            base = _multilinear(np.matmul, (base, base))
    return result


# --- inverse trigonometric functions, sinc -----------------------------------------------------------
def _turned(inverse_hyperbolic: Callable) -> Callable:
    """f(z) = -i g(i z) (arctan from arctanh, arcsin from arcsinh): i z = (-b, a) and
    -i (u + i v) = (v, -u), so no complex product rounds the parts."""
    def turned(value):
        re, im = _real_and_imaginary(value)
        result_re, result_im = _real_and_imaginary(inverse_hyperbolic(_pair(-im, re)))
        return _pair(result_im, -result_re)
    return turned


_arctan = _turned(_arctanh)
_arcsin = _turned(_mirrored(_arcsinh_right))


def _arccos(value):
    re, im = _real_and_imaginary(_arcsin(value))
    return _pair(np.pi / 2 - re, -im)


def _sinc(value):
    """NumPy's own formula: sin(pi y) / (pi y) with y = 1e-20 where the value is 0 (derivative 0 there)."""
    re, im = _real_and_imaginary(value)
    zero = (read_value(re, "numpy.sinc at 0") == 0) & (read_value(im, "numpy.sinc at 0") == 0)
    scaled = _multiply_values(np.pi, np.where(zero, 1.0e-20, value)) if zero.any() else _multiply_values(np.pi, value)
    return np.sin(scaled) / scaled


# --- ordering -----------------------------------------------------------------------------------
def _sort_complex(a):
    """Sorted by real part, then imaginary part (NumPy's complex order), along the last axis."""
    re, im = _real_and_imaginary(a)
    plain = read_value(re, "numpy.sort_complex") + 1j * read_value(im, "numpy.sort_complex")
    order = np.argsort(plain, axis=-1, kind="stable")
    return _componentwise(lambda part: np.take_along_axis(part, order, axis=-1), a)


@implements(np.sort_complex)
def sort_complex(a):
    """Real differentiated values, sorted, as complex numbers (NumPy gives complex128 but for
    the smallest integer types)."""
    return as_complex(np.sort(a, axis=-1), np.dtype(np.complex128))


UFUNCS.update({np.arctan: _arctan, np.arcsin: _arcsin, np.arccos: _arccos})
FUNCTIONS.update({
    np.pad: _pad, np.interp: _interp, np.trapezoid: _trapezoid, np.convolve: _convolve, np.correlate: _correlate,
    np.polyval: _polyval, np.cumprod: _cumprod, np.linalg.matrix_power: _matrix_power, np.sinc: _sinc,
    np.sort_complex: _sort_complex,
    **{function: _per_result(function) for function in (np.split, np.array_split, np.hsplit, np.vsplit, np.dsplit,
                                                        np.gradient)},
})
if hasattr(np, "unstack"):  # NumPy 2.1
    FUNCTIONS[np.unstack] = _per_result(np.unstack)
# a complex constant meeting real differentiated values (np.convolve(x, kernel), a complex kernel) comes here too
TAKE_COMPLEX_CONSTANTS += [np.convolve, np.correlate, np.interp, np.pad, np.polyval]
