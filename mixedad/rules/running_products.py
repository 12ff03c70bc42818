"""Derivatives of a running (cumulative) product, for ``np.cumprod``, ``np.nancumprod``,
``np.cumulative_prod`` and ``np.multiply.accumulate``.

The fast forms divide by the input (d out[i] / d x[k] = out[i] / x[k]), which is exact while
the running product stays a normal number. Where it under- or overflows (``[1e-200, 1e-200,
1e250]``: out[1] is 0, so out[i] / x[k] loses every later term), the derivative is taken step
by step along the axis instead, as the product's own loop ``p = p * x[i]`` would be
differentiated: slower (one NumPy call per step), and exact wherever the product is.
"""
from __future__ import annotations

import numpy as np

from ..core.arrays import LeveledValue
from ..core.region import primal, read_value
from ..core.tape import multiply_cotangent as _times  # a zero factor wins against an infinite one
from ..core.traced import Traced


def reverse_cumsum(g, axis):
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


def cumprod_grad(g, out, x, axis, orders=None):
    """Reverse rule of a cumulative product along ``axis``, exact with zeros, and differentiable
    there too (its own derivative, a Hessian's, is exact).

    d out[i] / d x[k] = prod(x[j] for j <= i, j != k) for k <= i. Before the first zero z of a
    slice, that is out[i] / x[k] (x[k] is nonzero there). From z on, the sum over i is the
    same sum for the slice y, x with x[z] replaced by 1: at z the cumulative sum of g times
    cumprod(y), after z that rule for y times x[z], which is 0 but has a derivative (each term
    holds x[z] once). Values that carry tangents of their own (forward-over-reverse) follow
    this recursion, one level per zero of a slice and at most one per derivative ``orders`` to
    be taken (the levels of forward duals they nest: x[z] times y's rule needs the latter
    exact to one order less); plain values take the direct formula.
    """
    if orders is None:
        orders = max(_nesting(x), _nesting(out))
    if orders == 0:  # no derivative of this rule will be taken: plain values, and 0 after a zero
        out, x = read_value(out, "cumprod"), read_value(x, "cumprod")
    zero = read_value(x, "cumprod") == 0
    if not zero.any():
        if _normal(read_value(out, "cumprod")):
            grad = reverse_cumsum(g * out, axis) / x
            if _finite(grad):  # else a sum of terms out[i] * g[i] overflowed where the quotient need not
                return grad
        return _stepwise_grad(g, out, x, axis)
    zeros_so_far, first_zero, y, y_out, x_at_zero = _at_first_zero(zero, x, axis)
    if not _normal(read_value(y_out, "cumprod")[zeros_so_far <= 1]):  # the part the formulas divide
        return _stepwise_grad(g, out, x, axis)
    grad = reverse_cumsum(g * out, axis) / np.where(zero, 1, x)
    at_first_zero = reverse_cumsum(g * y_out, axis)
    if not (_finite(grad) and _finite(at_first_zero)):
        return _stepwise_grad(g, out, x, axis)
    after = 0 if orders == 0 else x_at_zero * cumprod_grad(g, y_out, y, axis, orders - 1)
    return np.where(zeros_so_far == 0, grad, np.where(first_zero, at_first_zero, after))


def _at_first_zero(zero, x, axis):
    """Per slice along ``axis``: the zeros so far, the first zero z, y = x with 1 at z,
    cumprod(y), and x[z] (0, but with the tangents x carries there)."""
    zeros_so_far = np.cumsum(zero, axis=axis)
    first_zero = zero & (zeros_so_far == 1)
    y = np.where(first_zero, 1, x)
    x_at_zero = np.sum(np.where(first_zero, x, 0), axis=axis, keepdims=True)
    return zeros_so_far, first_zero, y, np.cumprod(y, axis=axis), x_at_zero


def cumprod_tangent(t, out, x, axis, orders=None):
    """Forward rule of a cumulative product along ``axis``, exact with zeros and differentiable
    there, as ``cumprod_grad`` is (a reverse pass of its own, the transposed reverse rule,
    could not run inside an enclosing gradient).

    Before the first zero z of a slice, d out = out * cumsum(t / x). From z on, out = x[z] *
    cumprod(y) with y = x but y[z] = 1, so d out = t[z] * cumprod(y) + x[z] * (this rule for y,
    whose tangent is 0 at z): the second term is 0, but has a derivative where x[z] carries one.
    """
    if orders is None:
        orders = max(_nesting(x), _nesting(out), _nesting(t))
    if orders == 0:
        out, x = read_value(out, "cumprod"), read_value(x, "cumprod")
    zero = read_value(x, "cumprod") == 0
    if not zero.any():
        if _normal(read_value(out, "cumprod")):
            tangent = out * np.cumsum(t / x, axis=axis)
            if _finite(tangent):
                return tangent
        return _stepwise_tangent(t, out, x, axis)
    zeros_so_far, first_zero, y, y_out, x_at_zero = _at_first_zero(zero, x, axis)
    if not _normal(read_value(y_out, "cumprod")[zeros_so_far <= 1]):
        return _stepwise_tangent(t, out, x, axis)
    tangent = out * np.cumsum(t / np.where(zero, 1, x), axis=axis)
    from_zero = np.sum(np.where(first_zero, t, 0), axis=axis, keepdims=True) * y_out
    if not (_finite(tangent) and _finite(from_zero)):
        return _stepwise_tangent(t, out, x, axis)
    if orders > 0:
        from_zero = from_zero + x_at_zero * cumprod_tangent(np.where(first_zero, 0, t), y_out, y, axis, orders - 1)
    return np.where(zeros_so_far == 0, tangent, from_zero)


def within_normal_range(magnitudes, floor: float = 0.0) -> bool:
    """Whether every value of a plain array of magnitudes (|x|, or sums of squares) is a finite
    normal number of its float type, so that a quotient by it keeps full precision. ``floor``
    is a lower bound known beforehand: when it is normal, the smallest value is not looked for."""
    if np.size(magnitudes) == 0:
        return True
    finfo = np.finfo(np.result_type(magnitudes))
    if not floor >= finfo.tiny and not np.min(magnitudes) >= finfo.tiny:  # (NaN fails)
        return False
    return bool(np.max(magnitudes) <= finfo.max)


def _normal(values) -> bool:
    """Whether out[i] / x[k] holds every factor of the product: ``values`` normal numbers."""
    return not np.issubdtype(values.dtype, np.inexact) or within_normal_range(np.abs(values))


def _finite(values) -> bool:
    return bool(np.isfinite(read_value(values, "cumprod")).all())


def _stepwise_grad(g, out, x, axis):
    """The reverse pass of the loop ``out[i] = out[i-1] * x[i]``: the adjoint s of out[k]
    is g[k] + x[k+1] * (the adjoint of out[k+1]), and x[k]'s is out[k-1] * s. A zero factor
    wins against an overflowed one, as on the tape: each term holding it is 0."""
    g, out, x = (np.moveaxis(value, axis, 0) for value in (g, out, x))
    n = np.shape(x)[0]
    grads = [None] * n
    adjoint = g[n - 1]
    for k in range(n - 1, -1, -1):
        if k < n - 1:
            adjoint = g[k] + _times(adjoint, x[k + 1])
        grads[k] = _times(adjoint, out[k - 1]) if k else adjoint
    return np.moveaxis(np.stack(grads), 0, axis)


def _stepwise_tangent(t, out, x, axis):
    """The forward pass of the loop ``out[i] = out[i-1] * x[i]``: d out[i] = d out[i-1] * x[i]
    + out[i-1] * t[i]."""
    t, out, x = (np.moveaxis(value, axis, 0) for value in (t, out, x))
    tangent = t[0]
    tangents = [tangent]
    for i in range(1, np.shape(x)[0]):
        tangent = _times(tangent, x[i]) + _times(t[i], out[i - 1])
        tangents.append(tangent)
    return np.moveaxis(np.stack(tangents), 0, axis)


def _nesting(value) -> int:
    """How many derivative levels ``value`` carries (0 for a plain array): forward duals, and
    traced values of an enclosing gradient (a gradient of a gradient runs the inner one in
    forward mode on them), each with the levels of the value it holds."""
    levels = 0
    while True:
        if isinstance(value, LeveledValue):
            value = getattr(value, "primal", None)
        elif type(value) is Traced:
            value = value._value if value._value is not None else primal(value)
        else:
            return levels
        levels += 1
