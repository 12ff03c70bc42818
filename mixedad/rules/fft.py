"""``numpy.fft`` on differentiated values: three linear primitives on real and imaginary parts.

A complex value is its two real parts (``rules.complex_values``), so the transforms are real
linear maps of them: ``c2c`` (fft, ifft), ``r2c`` (rfft) and ``c2r`` (irfft), each returning or
taking the parts as separate real arrays. Their reverse rules are the adjoint transforms (the
inverse transform with the other normalisation, then the input length restored), written with
the same primitives so that they differentiate again; their forward rules are themselves
(``deflinear``). The n-dimensional transforms are the one-dimensional ones along each axis, in
NumPy's order, so values are NumPy's.
"""
from __future__ import annotations

import numpy as np

from ..core.primitive import Primitive
from .complex_values import FUNCTIONS, _differentiated, _pair, parts, unsupported_complex
from .table import implements

_ADJOINT_NORM = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


def _check_norm(norm) -> None:
    if norm not in _ADJOINT_NORM:
        raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or "forward".')


def _complex(re, im):
    return re + 1j * im if im is not None else re


def _fit_length(part, length, axis):
    """``part`` cut or zero-padded along ``axis`` to ``length`` (the adjoint of the transforms'
    own padding or cutting of their input to ``n``)."""
    if part is None:
        return None
    current = np.shape(part)[axis]
    if current > length:
        return np.take(part, np.arange(length), axis=axis)
    if current < length:
        shape = list(np.shape(part))
        shape[axis] = length - current
        return np.concatenate([part, np.zeros(shape, np.result_type(part))], axis=axis)
    return part


def _c2c(re, im, n, axis, norm, inverse):
    out = (np.fft.ifft if inverse else np.fft.fft)(_complex(re, im), n, axis, norm)
    return out.real.copy(), out.imag.copy()


def _c2c_vjp(g, out, re, im, n, axis, norm, inverse):
    g_re, g_im = g
    back_re, back_im = c2c(g_re, g_im, None, axis, _ADJOINT_NORM[norm], not inverse)
    length = np.shape(re)[axis]
    return _fit_length(back_re, length, axis), _fit_length(back_im, length, axis)


def _r2c(x, n, axis, norm):
    out = np.fft.rfft(x, n, axis, norm)
    return out.real.copy(), out.imag.copy()


def _r2c_vjp(g, out, x, n, axis, norm):
    n = np.shape(x)[axis] if n is None else n
    g_re, g_im = (_fit_length(part, n, axis) for part in g)  # the half spectrum, zeros above it
    back_re, _ = c2c(g_re, g_im, None, axis, _ADJOINT_NORM[norm], True)
    return (_fit_length(back_re, np.shape(x)[axis], axis),)


def _c2r(re, im, n, axis, norm):
    return np.fft.irfft(_complex(re, im), n, axis, norm)


def _c2r_vjp(g, out, re, im, n, axis, norm):
    n = np.shape(out)[axis]
    spectrum_re, spectrum_im = r2c(g, n, axis, _ADJOINT_NORM[norm])
    # the terms that stand for a conjugate pair in the full spectrum count twice; the mean
    # (and the Nyquist term, n even) once
    weights = np.full(n // 2 + 1, 2.0, np.result_type(g))
    weights[0] = 1
    if n % 2 == 0:
        weights[-1] = 1
    weights = weights.reshape((-1,) + (1,) * (np.ndim(g) - 1 - axis % np.ndim(g)))
    length = np.shape(re)[axis]
    return _fit_length(spectrum_re * weights, length, axis), _fit_length(spectrum_im * weights, length, axis)


def _linear_primitive(function, vjp, name, multiple_outputs, n_parts):
    prim = Primitive(function, name=name, multiple_outputs=multiple_outputs,
                     nondiff_argnums=range(n_parts, n_parts + 4))  # n, axis, norm (and inverse)
    prim.defvjp(vjp)
    return prim.deflinear()


c2c = _linear_primitive(_c2c, _c2c_vjp, "fft", True, 2)
r2c = _linear_primitive(_r2c, _r2c_vjp, "rfft", True, 1)
c2r = _linear_primitive(_c2r, _c2r_vjp, "irfft", False, 2)


def _axis(value, axis) -> int:
    ndim = np.ndim(value)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


def _transform(value, n, axis, norm, inverse):
    """fft / ifft along one axis of a real or complex (differentiated or constant) value."""
    _check_norm(norm)
    axis = _axis(value, axis)
    re, im = parts(value)
    if n is not None and n < 1:
        raise ValueError(f"Invalid number of FFT data points ({n}) specified.")
    if _differentiated(re) and _differentiated(im):  # one transform of both parts, as NumPy computes it
        return _pair(*c2c(re, im, n, axis, norm, inverse))
    results = []
    for part, factor in ((re, 1), (im, 1j)):  # linear: the real part's transform, plus i times the imaginary's
        if part is None:
            continue
        if not _differentiated(part):
            results.append(_pair(*parts((np.fft.ifft if inverse else np.fft.fft)(part * factor, n, axis, norm))))
            continue
        out_re, out_im = c2c(part, None, n, axis, norm, inverse)
        results.append(_pair(out_re, out_im) if factor == 1 else _pair(-out_im, out_re))
    return results[0] + results[1] if len(results) == 2 else results[0]


@implements(np.fft.fft)
def fft(a, n=None, axis=-1, norm=None, out=None):
    _refuse_out(out, "fft")
    return _transform(a, n, axis, norm, False)


@implements(np.fft.ifft)
def ifft(a, n=None, axis=-1, norm=None, out=None):
    _refuse_out(out, "ifft")
    return _transform(a, n, axis, norm, True)


@implements(np.fft.rfft)
def rfft(a, n=None, axis=-1, norm=None, out=None):
    _refuse_out(out, "rfft")
    _check_norm(norm)
    re, im = parts(a)
    if im is not None:
        raise TypeError("numpy.fft.rfft takes real input; this value is complex")
    if n is not None and n < 1:
        raise ValueError(f"Invalid number of FFT data points ({n}) specified.")
    return _pair(*r2c(re, n, _axis(re, axis), norm))


@implements(np.fft.irfft)
def irfft(a, n=None, axis=-1, norm=None, out=None):
    _refuse_out(out, "irfft")
    _check_norm(norm)
    axis = _axis(a, axis)
    re, im = parts(a)
    n = 2 * (np.shape(a)[axis] - 1) if n is None else n
    if n < 1:
        raise ValueError(f"Invalid number of FFT data points ({n}) specified.")
    re = re if re is not None else np.zeros(np.shape(im), np.result_type(im))
    if im is not None and not _differentiated(im):
        return c2r(re, None, n, axis, norm) + np.fft.irfft(1j * im, n, axis, norm)
    if im is not None and not _differentiated(re):
        return c2r(np.zeros_like(re), im, n, axis, norm) + np.fft.irfft(re, n, axis, norm)
    return c2r(re, im, n, axis, norm)


def hfft(a, n=None, axis=-1, norm=None, out=None):
    """The real spectrum of a signal with Hermitian symmetry: ``irfft`` of the conjugate, with the
    other normalisation (as NumPy computes it)."""
    _refuse_out(out, "hfft")
    _check_norm(norm)
    return irfft(np.conj(a), n, axis, _ADJOINT_NORM[norm])


def ihfft(a, n=None, axis=-1, norm=None, out=None):
    _refuse_out(out, "ihfft")
    _check_norm(norm)
    return np.conj(rfft(a, n, axis, _ADJOINT_NORM[norm]))


def _refuse_out(out, name):
    if out is not None:
        raise unsupported_complex(f"numpy.fft.{name} with out=")


def _nd_arguments(a, s, axes, inverse_real=False):
    """NumPy's normalisation of ``s`` and ``axes`` (``numpy.fft._pocketfft._cook_nd_args``)."""
    shape = np.shape(a)
    if s is None:
        axes = list(range(len(shape))) if axes is None else list(axes)
        s = [shape[axis] for axis in axes]
        if inverse_real:
            s[-1] = (shape[axes[-1]] - 1) * 2
    else:
        s = list(s)
        axes = list(range(-len(s), 0)) if axes is None else list(axes)
    if len(s) != len(axes):
        raise ValueError("Shape and axes have different lengths.")
    return [shape[axis] if size == -1 else size for size, axis in zip(s, axes)], axes


def _fftn(inverse):
    def transform(a, s=None, axes=None, norm=None, out=None):
        _refuse_out(out, "ifftn" if inverse else "fftn")
        s, axes = _nd_arguments(a, s, axes)
        for size, axis in reversed(list(zip(s, axes))):
            a = _transform(a, size, axis, norm, inverse)
        return a
    return transform


def _two_dimensional(transform):
    def two(a, s=None, axes=(-2, -1), norm=None, out=None):
        return transform(a, s, axes, norm, out)
    return two


def rfftn(a, s=None, axes=None, norm=None, out=None):
    _refuse_out(out, "rfftn")
    s, axes = _nd_arguments(a, s, axes)
    a = rfft(a, s[-1], axes[-1], norm)
    for index in range(len(axes) - 2, -1, -1):
        a = _transform(a, s[index], axes[index], norm, False)
    return a


def irfftn(a, s=None, axes=None, norm=None, out=None):
    _refuse_out(out, "irfftn")
    s, axes = _nd_arguments(a, s, axes, inverse_real=True)
    for index in range(len(axes) - 1):
        a = _transform(a, s[index], axes[index], norm, True)
    return irfft(a, s[-1], axes[-1], norm)


fftn, ifftn = _fftn(False), _fftn(True)
_TABLE = {np.fft.fft: fft, np.fft.ifft: ifft, np.fft.rfft: rfft, np.fft.irfft: irfft,
          np.fft.fftn: fftn, np.fft.ifftn: ifftn, np.fft.fft2: _two_dimensional(fftn),
          np.fft.ifft2: _two_dimensional(ifftn), np.fft.rfftn: rfftn, np.fft.irfftn: irfftn,
          np.fft.rfft2: _two_dimensional(rfftn), np.fft.irfft2: _two_dimensional(irfftn),
          np.fft.hfft: hfft, np.fft.ihfft: ihfft}
for _numpy_function, _handler in _TABLE.items():
    implements(_numpy_function)(_handler)  # for real traced values
    FUNCTIONS[_numpy_function] = _handler  # for complex values
for _shift in (np.fft.fftshift, np.fft.ifftshift):
    implements(_shift)(lambda x, axes=None, _shift=_shift: np.roll(
        x, [(-1 if _shift is np.fft.ifftshift else 1) * (np.shape(x)[a] // 2) for a in
            (range(np.ndim(x)) if axes is None else np.atleast_1d(axes))],
        list(range(np.ndim(x))) if axes is None else list(np.atleast_1d(axes))))
