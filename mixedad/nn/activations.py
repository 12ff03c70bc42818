"""Activations and normalisers: relu, sigmoid, softplus, gelu, softmax, log_softmax, logsumexp.

relu, sigmoid, softplus and gelu are elementwise primitives: one partial each, which joins
the dual region around it (``conv -> + bias -> relu`` is one tape entry). Their partials are
written so that they keep full relative precision for large ``|x|`` instead of rounding to
0 or 1 (``sigmoid'`` is ``sigma(x) * sigma(-x)``, never ``out * (1 - out)`` where ``out``
has rounded to 1). softmax, log_softmax and logsumexp are general primitives over an
``axis`` with one reverse rule each: a rule reuses the output, where tracing would save
every intermediate.
"""
from __future__ import annotations

import numpy as np

from ..core.primitive import primitive
from ..rules.reductions import expand_reduced


# --- elementwise --------------------------------------------------------------------------
def _logistic(x):
    """sigma(x) = 1 / (1 + exp(-x)), exact in relative terms on both tails (no overflow)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


@primitive(elementwise=True)
def relu(x):
    """max(x, 0) elementwise; the derivative at 0 is taken to be 0.

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import relu
    >>> relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    >>> mixedad.gradient(lambda x: np.sum(relu(x)), np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 1.])
    """
    if type(x) is np.ndarray and x.ndim and x.dtype.kind == "f":
        # NumPy's maximum loop is vectorized for two arrays, not for an array and a scalar:
        # against a zeros array (in x's memory layout) it runs 2x faster, zeros included.
        out = np.zeros_like(x)
        return np.maximum(x, out, out=out)
    return np.maximum(x, 0)


@relu.defpartials
def _relu_partial(x):
    return np.greater(x, 0).astype(np.result_type(x, 1.0))


@primitive(elementwise=True)
def sigmoid(x):
    """The logistic function 1 / (1 + exp(-x)), without overflow for any x.

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import sigmoid
    >>> float(sigmoid(np.float64(0.0)))
    0.5
    >>> mixedad.gradient(lambda x: np.sum(sigmoid(x)), np.array([0.0, 40.0]))  # not 0 at 40
    array([2.50000000e-01, 4.24835426e-18])
    """
    return _logistic(x)


@sigmoid.defpartials
def _sigmoid_partial(x, out):
    # sigma' = sigma(x) sigma(-x). Where out <= 1/2, 1 - out is exact; beyond, it would round
    # to 0 (x > 17 in float64), so sigma(-x) = exp(-x) * out there instead.
    return out * np.where(x > 0, np.exp(-np.abs(x)) * out, 1 - out)


@primitive(elementwise=True)
def softplus(x):
    """log(1 + exp(x)), a smooth relu, without overflow.

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import softplus
    >>> float(softplus(np.float64(0.0))) == float(np.log(2.0))
    True
    >>> mixedad.gradient(lambda x: np.sum(softplus(x)), np.array([0.0, -50.0]))  # sigma(-50), not 0
    array([5.00000000e-01, 1.92874985e-22])
    """
    return np.logaddexp(0, x)


@softplus.defpartials
def _softplus_partial(x, out):
    # softplus' = sigma(x) = 1 - exp(-softplus(x)); expm1 keeps the tiny values on the left tail.
    return -np.expm1(-out)


# Increasing (relu: flat only where its derivative is 0), so max pooling moves before them in
# a gradient (core.region.apply_before_region); gelu is not monotone.
relu.increasing = sigmoid.increasing = softplus.increasing = True

_GELU_C = 0.7978845608028654  # sqrt(2 / pi)
_GELU_A = 0.044715


@primitive(elementwise=True)
def gelu(x):
    """The Gaussian error linear unit in its tanh form: x * sigma(2 sqrt(2/pi) (x + 0.044715 x^3)).

    This is ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` (PyTorch's
    ``gelu(approximate="tanh")``), written with the logistic function so that the left tail
    keeps its relative precision.

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import gelu
    >>> float(gelu(np.float64(0.0)))
    0.0
    >>> mixedad.gradient(lambda x: np.sum(gelu(x)), np.array([0.0]))
    array([0.5])
    """
    return x * _logistic(2 * _GELU_C * (x + _GELU_A * x * x * x))


@gelu.defpartials
def _gelu_partial(x):
    z = 2 * _GELU_C * (x + _GELU_A * x * x * x)
    s = _logistic(z)
    # where s (1 - s) rounds to 0 (both tails) the term it multiplies is negligible next to s, and
    # it must stay 0 once x * x overflows (0 * inf)
    bump = s * (1 - s)
    return s + np.where(bump == 0, 0, x * bump * (2 * _GELU_C) * (1 + 3 * _GELU_A * x * x))


# --- along an axis ---------------------------------------------------------------------------
def _finite_max(x, axis):
    dtype = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype  # (np.result_type reads a list as a dtype)
    if dtype.kind in "biu":
        # as floats of the dtype np.exp gives them (no -inf start for an integer maximum); x - m
        # then promotes to it too, and every result is the float array's
        x = np.asarray(x, np.promote_types(dtype, np.float16))
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # an empty axis: sum(exp) is 0, log(0) = -inf
    return np.where(np.isfinite(m), m, 0)


@primitive
def logsumexp(x, *, axis=None, keepdims=False):
    """log(sum(exp(x), axis)) without overflow.

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import logsumexp
    >>> bool(np.isclose(logsumexp(np.array([1000.0, 1000.0])), 1000.0 + np.log(2.0)))
    True
    >>> mixedad.gradient(lambda x: logsumexp(x), np.zeros(4))  # the softmax
    array([0.25, 0.25, 0.25, 0.25])
    """
    m = _finite_max(x, axis)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


@logsumexp.defvjp
def _logsumexp_vjp(g, out, x, *, axis=None, keepdims=False):
    out = expand_reduced(out, np.shape(x), axis, keepdims)
    # the softmax of x, from the maximum: exp(x - out) with out rounded (3e7 in float32) is not
    with np.errstate(invalid="ignore"):
        shifted = np.exp(x - _finite_max(x, axis))
        total = np.sum(shifted, axis=axis, keepdims=True)
        nothing = total == 0  # every exp underflowed (or -inf, or an empty axis); a NaN stays NaN, as the value
        weights = np.where(nothing, 0, shifted / np.where(nothing, 1, total))
    infinite = np.isposinf(out)
    if infinite.any():  # the softmax's limit there: shared by the +inf entries, 0 for the others
        top = np.isposinf(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            weights = np.where(infinite, top / np.sum(top, axis=axis, keepdims=True), weights)
    return expand_reduced(g, np.shape(x), axis, keepdims) * weights


@logsumexp.defjvp
def _logsumexp_jvp(t, out, x, *, axis=None, keepdims=False):
    """The softmax-weighted sum of the tangent: the reverse rule's weights (``g = 1``) times ``t``."""
    ones = np.ones(np.shape(out), np.result_type(out))
    return np.sum(_logsumexp_vjp(ones, out, x, axis=axis, keepdims=keepdims) * t, axis=axis, keepdims=keepdims)


@primitive
def softmax(x, *, axis=-1):
    """exp(x) / sum(exp(x), axis), without overflow.

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import softmax
    >>> softmax(np.array([0.0, 0.0]))
    array([0.5, 0.5])
    >>> w = np.array([1.0, 0.0])
    >>> mixedad.gradient(lambda x: np.sum(softmax(x) * w), np.zeros(2))
    array([ 0.25, -0.25])
    """
    e = np.exp(x - _finite_max(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


@softmax.defvjp
def _softmax_vjp(g, out, x, *, axis=-1):
    return out * (g - np.sum(g * out, axis=axis, keepdims=True))


# The Jacobian diag(out) - out out^T is symmetric: the forward rule is the reverse one. (An
# explicit forward rule, not one derived from the reverse rule, also runs under an outer
# gradient: mixedad.gradient of a jvp.)
softmax.defjvp(_softmax_vjp)


@primitive
def log_softmax(x, *, axis=-1):
    """x - logsumexp(x, axis): log-probabilities, accurate where softmax underflows.

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import log_softmax
    >>> log_softmax(np.array([0.0, 2000.0]))
    array([-2000.,     0.])
    >>> mixedad.gradient(lambda x: log_softmax(x)[0], np.zeros(2))
    array([ 0.5, -0.5])
    """
    shifted = x - _finite_max(x, axis)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


@log_softmax.defvjp
def _log_softmax_vjp(g, out, x, *, axis=-1):
    return g - np.exp(out) * np.sum(g, axis=axis, keepdims=True)


@log_softmax.defjvp
def _log_softmax_jvp(t, out, x, *, axis=-1):
    return t - np.sum(np.exp(out) * t, axis=axis, keepdims=True)
