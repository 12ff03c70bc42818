"""Direct-loop references for the windowed nn operations, and a gradient-comparison helper.

The loops index every output position and kernel offset explicitly (no sliding windows, no
im2col), so they share no code or layout trick with mixedad.nn. Nothing here imports mixedad
except ``assert_gradients_match``, which is what is being tested.
"""
from __future__ import annotations

import numpy as np

from numerical import numerical_gradients

MODES = ("auto", "reverse", "forward")


def pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def output_size(size, kernel, stride, padding, dilation=1):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv2d_loop(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    n, c, h, width = x.shape
    o, cg, kh, kw = w.shape
    ho, wo = output_size(h, kh, sh, ph, dh), output_size(width, kw, sw, pw, dw)
    og = o // groups
    out = np.zeros((n, o, ho, wo), np.float64)
    for b_ in range(n):
        for oc in range(o):
            group = oc // og
            for i in range(ho):
                for j in range(wo):
                    total = 0.0 if b is None else float(b[oc])
                    for ic in range(cg):
                        for ki in range(kh):
                            for kj in range(kw):
                                r, s = i * sh + ki * dh - ph, j * sw + kj * dw - pw
                                if 0 <= r < h and 0 <= s < width:
                                    total += float(x[b_, group * cg + ic, r, s]) * float(w[oc, ic, ki, kj])
                    out[b_, oc, i, j] = total
    return out


def conv2d_loop_vjp(g, x, w, stride=1, padding=0, dilation=1, groups=1):
    """Cotangents of x, w and the bias for the output cotangent ``g``, by the same loops."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    n, c, h, width = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    gx, gw = np.zeros(x.shape), np.zeros(w.shape)
    gb = np.zeros(o)
    for b_, oc, i, j in np.ndindex(*g.shape):
        group = oc // og
        gb[oc] += g[b_, oc, i, j]
        for ic in range(cg):
            for ki in range(kh):
                for kj in range(kw):
                    r, s = i * sh + ki * dh - ph, j * sw + kj * dw - pw
                    if 0 <= r < h and 0 <= s < width:
                        gx[b_, group * cg + ic, r, s] += g[b_, oc, i, j] * w[oc, ic, ki, kj]
                        gw[oc, ic, ki, kj] += g[b_, oc, i, j] * x[b_, group * cg + ic, r, s]
    return gx, gw, gb


def _pool_positions(h, width, kernel, stride, padding, i, j):
    """The (row, col) input positions of output (i, j)'s window in row-major order; None for padding."""
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    for ki in range(kh):
        for kj in range(kw):
            r, s = i * sh + ki - ph, j * sw + kj - pw
            yield (r, s) if 0 <= r < h and 0 <= s < width else None


def pool_loop(x, kernel, stride=None, padding=0, kind="max"):
    """Forward value and, for a cotangent, a vjp function; max sends it to the first maximum."""
    stride = kernel if stride is None else stride
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    n, c, h, width = x.shape
    ho, wo = output_size(h, kh, sh, ph), output_size(width, kw, sw, pw)
    out = np.zeros((n, c, ho, wo))
    chosen = {}
    for b_, ch, i, j in np.ndindex(n, c, ho, wo):
        positions = list(_pool_positions(h, width, kernel, stride, padding, i, j))
        if kind == "max":
            best, where = -np.inf, None
            for position in positions:
                if position is not None and x[b_, ch][position] > best:  # strict: the first maximum wins
                    best, where = x[b_, ch][position], position
            out[b_, ch, i, j], chosen[b_, ch, i, j] = best, where
        else:
            out[b_, ch, i, j] = sum(x[b_, ch][p] for p in positions if p is not None) / (kh * kw)

    def vjp(g):
        gx = np.zeros(x.shape)
        for b_, ch, i, j in np.ndindex(n, c, ho, wo):
            if kind == "max":
                gx[(b_, ch) + chosen[b_, ch, i, j]] += g[b_, ch, i, j]
            else:
                for position in _pool_positions(h, width, kernel, stride, padding, i, j):
                    if position is not None:
                        gx[(b_, ch) + position] += g[b_, ch, i, j] / (kh * kw)
        return gx
    return out, vjp


def assert_gradients_match(loss, args, argnums, dtype, rtol=None, atol=None):
    """mixedad's gradient of scalar ``loss`` in every mode vs float64 central differences.

    ``args`` are float64 (integer arguments stay as they are); the gradient is taken at
    ``args`` cast to ``dtype`` and must come back in ``dtype``.
    """
    import mixedad
    rtol = rtol if rtol is not None else (2e-3 if dtype == np.float32 else 1e-6)
    atol = atol if atol is not None else (2e-3 if dtype == np.float32 else 1e-7)
    cast = [np.asarray(a, dtype) if k in argnums else a for k, a in enumerate(args)]
    rounded = [np.asarray(a, np.float64) if k in argnums else a for k, a in enumerate(cast)]
    expected = numerical_gradients(loss, rounded, argnums)
    for mode in MODES:
        grads = mixedad.gradient(loss, *cast, argnums=tuple(argnums), mode=mode)
        for k, got, want in zip(argnums, grads, expected):
            assert got.dtype == dtype, f"mode={mode}: argument {k} gradient is {got.dtype}, not {dtype}"
            assert got.shape == np.shape(args[k])
            scale = max(1.0, float(np.max(np.abs(want))))
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * scale,
                                       err_msg=f"mode={mode}, argument {k}")
