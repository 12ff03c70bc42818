"""NumPy >= 2.1's array-API cumulative functions, ``np.cumulative_sum`` and ``np.cumulative_prod``:
``cumsum``/``cumprod`` with an optional leading identity (``include_initial``)."""
from __future__ import annotations

import numpy as np

from .reductions import _int_axis, _normalize_axis, _without_initial
from .running_products import cumprod_grad, cumprod_tangent, reverse_cumsum
from .table import implements, reject_out, reverse_rule


def _cumulative_sum_vjp(g, out, x, axis=None, dtype=None, include_initial=False):
    axis = _int_axis(0 if axis is None else axis, np.ndim(x))
    if include_initial:
        g = _without_initial(g, axis)
    return reverse_cumsum(g, axis)


def _cumulative_prod_vjp(g, out, x, axis=None, dtype=None, include_initial=False):
    axis = _int_axis(0 if axis is None else axis, np.ndim(x))
    if include_initial:
        g, out = _without_initial(g, axis), _without_initial(out, axis)
    return cumprod_grad(g, out, x, axis)


if hasattr(np, "cumulative_sum"):
    def _cumulative_sum(x, axis=None, dtype=None, include_initial=False):
        return np.cumulative_sum(x, axis=axis, dtype=dtype, include_initial=include_initial)

    def _cumulative_prod(x, axis=None, dtype=None, include_initial=False):
        return np.cumulative_prod(x, axis=axis, dtype=dtype, include_initial=include_initial)

    def _cumulative_prod_jvp(t, out, x, axis=None, dtype=None, include_initial=False):
        axis = _int_axis(0 if axis is None else axis, np.ndim(x))
        if not include_initial:
            return cumprod_tangent(t, out, x, axis)
        tangent = cumprod_tangent(t, _without_initial(out, axis), x, axis)
        initial = list(np.shape(x))
        initial[axis] = 1
        return np.concatenate([np.zeros(initial, np.result_type(t, x)), tangent], axis=axis)

    cumulative_sum_ = reverse_rule(_cumulative_sum, _cumulative_sum_vjp, name="cumulative_sum", forward="linear")
    cumulative_prod_ = reverse_rule(_cumulative_prod, _cumulative_prod_vjp, name="cumulative_prod",
                                    forward=_cumulative_prod_jvp)

    @implements(np.cumulative_sum)
    def cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        reject_out(out, "cumulative_sum")
        return cumulative_sum_(x, axis=_normalize_axis(axis), dtype=dtype, include_initial=bool(include_initial))

    @implements(np.cumulative_prod)
    def cumulative_prod(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        reject_out(out, "cumulative_prod")
        return cumulative_prod_(x, axis=_normalize_axis(axis), dtype=dtype, include_initial=bool(include_initial))
