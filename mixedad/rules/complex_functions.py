"""More elementwise functions of complex intermediate values: the hyperbolic functions, ``tan``,
``exp2``, ``expm1``, the logarithms to other bases and ``log1p``, and the inverse hyperbolic
functions, written as real arithmetic on the parts like those in ``complex_values``.

Each formula keeps the derivative finite wherever NumPy's value is: ``tanh`` of a large real
part is ±1 (not inf / inf), ``expm1`` and ``log1p`` keep their accuracy near 0.
"""
from __future__ import annotations

import math

import numpy as np

from ..core.dispatch import numpy_name
from ..core.region import read_value
from .complex_values import (UFUNCS, _add_values, _divide_values, _exp, _log, _multiply_values, _pair, _separable,
                             _sqrt, _subtract_values, _zeros_if_none, parts)


def _real_and_imaginary(value):
    re, im = parts(value)
    return _zeros_if_none(re, im), _zeros_if_none(im, re)


_sinh = _separable(np.sinh, np.cos, np.cosh, np.sin)
_cosh = _separable(np.cosh, np.cos, np.sinh, np.sin)


def _mirrored(function):
    """``function`` written for a nonnegative real part, extended by oddness, f(z) = -f(-z), to a
    negative one: no overflow and no cancellation on either side."""
    def odd(value):
        re, im = _real_and_imaginary(value)
        side = np.where(read_value(re, numpy_name(function)) >= 0, 1.0, -1.0).astype(np.result_type(re))
        result_re, result_im = _real_and_imaginary(function(side * re, side * im))
        return _pair(side * result_re, side * result_im)
    return odd


def _tanh_right(re, im):
    """tanh(a + ib) for a >= 0, with e = exp(-2a) <= 1: (1 - e^2, 2 e sin 2b) / (1 + 2 e cos 2b + e^2)."""
    decay = np.exp(-2 * re)
    denominator = 1 + 2 * decay * np.cos(2 * im) + decay * decay
    return _pair(-np.expm1(-4 * re) / denominator, 2 * decay * np.sin(2 * im) / denominator)


_tanh_of_complex = _mirrored(_tanh_right)


def _tanh(value):
    re, im = parts(value)
    return _pair(np.tanh(re), None) if im is None else _tanh_of_complex(value)


def _tan(value):
    re, im = _real_and_imaginary(value)  # tan z = -i tanh(i z)
    result = _tanh(_pair(-im, re))
    result_re, result_im = _real_and_imaginary(result)
    return _pair(result_im, -result_re)


def _expm1(value):
    """exp(z) - 1 without cancellation near 0: expm1(a) cos b - 2 sin(b / 2)^2."""
    re, im = parts(value)
    if im is None:
        return _pair(np.expm1(re), None)
    re = _zeros_if_none(re, im)
    half = np.sin(im / 2)
    return _pair(np.expm1(re) * np.cos(im) - 2 * half * half, np.exp(re) * np.sin(im))


def _log1p(value):
    """log(1 + z) without cancellation near 0: log1p(2a + a^2 + b^2) / 2 and atan2(b, 1 + a)."""
    re, im = parts(value)
    if im is None:
        return _pair(np.log1p(re), None)
    re = _zeros_if_none(re, im)
    return _pair(np.log1p(re * (2 + re) + im * im) / 2, np.arctan2(im, 1 + re))


def _in_base(base: float):
    def logarithm(value):
        re, im = parts(_log(value))
        # each part scaled: a complex product would make -inf * 0 a NaN at 0 (and a Python float
        # keeps complex64, where NumPy's float64 ln 10 would promote it)
        scale = 1 / math.log(base)
        return _pair(re * scale, None if im is None else im * scale)
    return logarithm


def _arcsinh_right(re, im):
    """arcsinh(w) = log1p(w + w^2 / (1 + sqrt(1 + w^2))) for Re w >= 0: no cancellation near 0."""
    w = _pair(re, im)
    square = _multiply_values(w, w)
    return _log1p(_add_values(w, _divide_values(square, _add_values(_sqrt(_add_values(square, 1.0)), 1.0))))


def _arccosh(value):  # log(z + sqrt(z + 1) sqrt(z - 1)): the principal branch, cut along re < 1
    return _log(_add_values(value, _multiply_values(_sqrt(_add_values(value, 1.0)),
                                                    _sqrt(_subtract_values(value, 1.0)))))


def _arctanh(value):
    """(log1p(z) - log1p(-z)) / 2 in parts: the real part a quarter of log1p(2a + a^2 + b^2) -
    log1p(-2a + a^2 + b^2), the imaginary part half of atan2(b, 1 + a) - atan2(-b, 1 - a) (so
    that b = +0 beyond |a| = 1 gives NumPy's +pi/2)."""
    re, im = _real_and_imaginary(value)
    square = im * im
    return _pair((np.log1p(re * (2 + re) + square) - np.log1p(re * (re - 2) + square)) / 4,
                 (np.arctan2(im, 1 + re) - np.arctan2(-im, 1 - re)) / 2)


UFUNCS.update({
    np.sinh: _sinh, np.cosh: _cosh, np.tanh: _tanh, np.tan: _tan, np.expm1: _expm1, np.log1p: _log1p,
    np.exp2: lambda value: _exp(_multiply_values(value, math.log(2.0))), np.log2: _in_base(2.0),
    np.log10: _in_base(10.0), np.arcsinh: _mirrored(_arcsinh_right), np.arccosh: _arccosh,
    np.arctanh: _arctanh,
})
