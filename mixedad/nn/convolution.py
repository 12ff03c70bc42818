"""Two-dimensional convolution over NCHW arrays, as a primitive with reverse and forward rules.

``conv2d`` reads the (padded) input through the strided window views of ``windows.py``
(no copy), copies them into a patch matrix (im2col) and multiplies it with the weights
(BLAS). The reverse rules add back through the same views (``_Geometry.scatter``), keeping
no patch matrix. The pools live in ``pooling.py``.

Memory layout: with stride 1, no dilation and one group (the usual case) ``conv2d`` puts
the batch innermost. It then copies only the kernel rows (``_batch_last_rows``: each padded
input row at each of the kw column offsets, ``(H, C, kw, W_out, N)``), whose overlapping
strided view holds, per output row, that row's patch matrix ``(kh C kw, W_out N)``: one
product per output row, with no full patch matrix (kh H_out / H times larger) to build, keep
or read back from memory; in a differentiation, where they are no larger than the output,
they share its memory block, so the weight's reverse rule reads them there rather than
copying them again. Its result is an ``(N, O, H, W)`` view of an ``(O, H, W, N)`` array
(PyTorch's "channels last" idea, with the batch). Elementwise ops and the pools keep that
layout (``order="K"``), so the next conv reads its input without a transposing copy; a rule
that meets operands of different layouts first copies the cotangent into the layout of the
values (NumPy's loops over mixed layouts are many times slower). Values are the same as with
C order; only ``reshape`` of such a result copies.

Conventions: ``padding`` pads with zeros; the same as ``torch.nn.functional.conv2d``.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..core.arrays import stand_in
from ..core.primitive import primitive
from .blas import avx512_kernels
from .windows import _array_of_numbers, _Geometry, _plain, _transposed_copy


# --- conv2d ------------------------------------------------------------------------------
# Other than batch-innermost (strides, dilation, groups, traced values), the patch matrices
# (im2col) are copies of the windows in the layout each product wants:
# per sample (N, groups, K, H_out * W_out), so that the forward product lands in NCHW order
# with no transpose, and across samples (groups, K, N * H_out * W_out) for the weight cotangent.
# K = C/groups * kh * kw.
def _conv_geometry(x, weight, stride, padding, dilation, groups):
    if np.ndim(x) != 4 or np.ndim(weight) != 4:
        raise ValueError(f"conv2d expects an NCHW input and an (O, C / groups, kh, kw) weight, of 4 dimensions "
                         f"each; got shapes {np.shape(x)} and {np.shape(weight)}")
    c = np.shape(x)[1]
    o, c_group, kh, kw = np.shape(weight)
    if c != c_group * groups or o % groups:
        raise ValueError(f"conv2d: input channels {c} and weight shape {np.shape(weight)} do not fit "
                         f"groups={groups} (need C = weight.shape[1] * groups and O divisible by groups)")
    return _Geometry("conv2d", np.shape(x), (kh, kw), stride, padding, dilation)


def _weight_matrix(weight, groups):
    return weight.reshape(groups, weight.shape[0] // groups, -1)  # (groups, O/groups, K)


@primitive(name="nn.conv2d")  # as reports name it: what the user called
def conv2d_primitive(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    """The primitive behind :func:`conv2d` (static arguments by keyword only)."""
    return _conv2d(x, weight, bias, stride, padding, dilation, groups, keep_rows=True)


def _conv2d(x, weight, bias, stride, padding, dilation, groups, keep_rows):
    geometry = _conv_geometry(x, weight, stride, padding, dilation, groups)
    if x.size == 0 or weight.size == 0:  # an empty batch: the products' reshapes need sizes
        out = np.zeros((x.shape[0], weight.shape[0]) + geometry.out_hw, np.result_type(x, weight))
        if bias is not None:
            out += np.reshape(bias, (1, -1, 1, 1))  # in place, as below: the result keeps its dtype
        return out
    if _batch_last_applies(geometry, groups, x, weight):
        return _conv2d_batch_last(x, weight, bias, geometry, keep_rows)
    n, (ho, wo), o = x.shape[0], geometry.out_hw, weight.shape[0]
    patches = geometry.windows(x).reshape(n, groups, -1, ho * wo)
    out = np.matmul(_weight_matrix(weight, groups), patches).reshape(n, o, ho, wo)
    if bias is not None:
        out += np.reshape(bias, (1, o, 1, 1))
    return out


def _batch_last_applies(geometry, groups, *arrays) -> bool:
    """The batch-innermost rules below cover plain arrays, stride 1, no dilation, one group."""
    return (groups == 1 and geometry.stride == (1, 1) and geometry.dilation == (1, 1)
            and all(type(a) is np.ndarray for a in arrays))


def _batch_last(g):
    """``g`` (N, O, H, W) as (O, H * W * N): with the batch innermost, every strided slice the
    rules below read or write has long contiguous runs (W_out * N elements, not W_out)."""
    n, o, ho, wo = g.shape
    if g.flags.c_contiguous and n > 1:
        return _transposed_copy(g.reshape(n, -1)).reshape(o, ho * wo * n)
    return g.transpose(1, 2, 3, 0).reshape(o, ho * wo * n)


def _batch_last_rows(x, geometry, r=None):
    """The kernel rows of ``x``, batch innermost: ``R`` (H_pad, C, kw, W_out, N) holds, for each
    padded input row r and column offset j, ``x_pad[:, c, r, j:j + W_out]``; and ``V``, the
    (H_out, kh * C * kw, W_out * N) view of ``R`` whose matrix ``V[h]`` is the patch matrix of
    output row h (kernel index in (i, c, j) order). Consecutive output rows share kh - 1 of
    their kernel rows, so ``R`` is kh * H_out / H_pad times smaller than the full patch matrix
    (4.4x for LeNet's first layer) and each product reads it from cache; ``V[h]`` is a plain
    strided matrix, so NumPy hands each to BLAS. ``r``: where to write ``R``."""
    (n, c), wo, (ph, pw) = x.shape[:2], geometry.out_hw[1], geometry.padding
    rows = x.transpose(2, 1, 3, 0)  # (H, C, W, N)
    if ph or pw or rows.strides[3] != x.itemsize:
        # a C-ordered input (the images) gathers the batch once here, not kw times below
        padded = np.zeros((x.shape[2] + 2 * ph, c, x.shape[3] + 2 * pw, n), x.dtype)
        padded[ph:ph + x.shape[2], :, pw:pw + x.shape[3]] = rows
        rows = padded
    r = np.empty(_rows_shape(x, geometry), x.dtype) if r is None else r
    for j in range(geometry.kernel[1]):
        r[:, :, j] = rows[:, :, j:j + wo]
    return r, _patch_matrices(r, geometry)


def _rows_shape(x, geometry):
    return geometry.padded_shape[2], x.shape[1], geometry.kernel[1], geometry.out_hw[1], x.shape[0]


def _patch_matrices(r, geometry):
    """``V``, the per-output-row patch matrices, as a view of the kernel rows ``r``."""
    (_, c, kw, wo, n), ho, size = r.shape, geometry.out_hw[0], r.itemsize
    return as_strided(r, (ho, geometry.kernel[0] * c * kw, wo * n), (c * kw * wo * n * size, wo * n * size, size),
                      writeable=False)


# The forward pass's kernel rows, kept for the weight's reverse rule: the output and the rows
# share one memory block (the output first), so the rule, which receives the output, finds them
# through ``out.base`` instead of copying them from the input again (60 us of LeNet's 3.5 ms
# gradient), and they live exactly as long as the output does. The rows are those of the input
# as it was when the output was computed, which is what the derivative is about. They are kw
# times the input, so they are kept only where they are no larger than the output (LeNet's
# layers; not a 3x3 conv with as many output channels as input ones, whose rows are 3x its
# output): what a kept output costs in memory then at most doubles.
_BLOCK_ALIGNMENT = 64


def _output_and_rows(out_shape, out_dtype, rows_shape, rows_dtype):
    """Two empty arrays, the output and room for the kernel rows: in one memory block if the rows
    are no larger than the output."""
    rows_bytes = math.prod(rows_shape) * rows_dtype.itemsize
    if rows_bytes > math.prod(out_shape) * out_dtype.itemsize:
        return np.empty(out_shape, out_dtype), np.empty(rows_shape, rows_dtype)
    out_bytes = -(-math.prod(out_shape) * out_dtype.itemsize // _BLOCK_ALIGNMENT) * _BLOCK_ALIGNMENT
    block = np.empty(out_bytes + rows_bytes, np.uint8)
    out = block[:math.prod(out_shape) * out_dtype.itemsize].view(out_dtype).reshape(out_shape)
    return out, block[out_bytes:].view(rows_dtype).reshape(rows_shape)


def _kept_rows(out, x, geometry):
    """The kernel rows that ``_output_and_rows`` keeps after ``out``'s memory, or None."""
    block = out.base if type(out) is np.ndarray else None
    if block is None or block.dtype != np.uint8 or block.ndim != 1:
        return None
    rows_shape = _rows_shape(x, geometry)
    out_bytes = -(-out.size * out.itemsize // _BLOCK_ALIGNMENT) * _BLOCK_ALIGNMENT
    if block.size != out_bytes + math.prod(rows_shape) * x.itemsize:
        return None
    return block[out_bytes:].view(x.dtype).reshape(rows_shape)


def _rows_weight(weight):
    """The weights as the (O, kh * C * kw) matrix that multiplies ``_batch_last_rows``'s ``V[h]``."""
    return weight.transpose(0, 2, 1, 3).reshape(weight.shape[0], -1)


def _conv2d_batch_last(x, weight, bias, geometry, keep_rows):
    """The forward product with the batch innermost, one product per output row; the result
    is an (N, O, H, W) view of an (O, H, W, N) array: the layers after it (relu, pooling, the
    next conv and the reverse rules) read it in long contiguous runs, with no transposing copy.
    ``keep_rows``: keep the kernel rows with the output, for the weight's reverse rule."""
    n, (ho, wo), o = x.shape[0], geometry.out_hw, weight.shape[0]
    out_shape, dtype = (o, ho, wo * n), np.result_type(x, weight)
    if keep_rows:
        out, r = _output_and_rows(out_shape, dtype, _rows_shape(x, geometry), x.dtype)
    else:
        out, r = np.empty(out_shape, dtype), None
    np.matmul(_rows_weight(weight), _batch_last_rows(x, geometry, r)[1], out=out.transpose(1, 0, 2))
    out = out.reshape(o, ho, wo, n)
    if bias is not None:
        out += np.reshape(bias, (o, 1, 1, 1))
    return out.transpose(3, 0, 1, 2)


def _conv2d_vjp_x_batch_last(g, x, weight, geometry):
    """Row r of ``R``'s cotangent gets, from each kernel row i, the weights' part for i times
    output row r - i: one product per padded row, with the kh output rows it reads stacked
    into one matrix (inner dimension kh O, not O; and no partial products to add up), then
    ``R``'s kw column offsets back into the input."""
    (n, c), (ho, wo), (kh, kw), o = x.shape[:2], geometry.out_hw, geometry.kernel, weight.shape[0]
    (_, _, hp, wp), dtype = geometry.padded_shape, np.result_type(g, weight)
    g_by_row = np.empty((ho, o, wo * n), g.dtype)  # output rows outermost: consecutive rows form one matrix
    g_by_row[...] = _batch_last(g).reshape(o, ho, wo * n).transpose(1, 0, 2)
    # (C kw, kh O), kernel rows reversed: the stacked output rows r - i run upwards as i runs down
    weight_by_row = np.ascontiguousarray(weight[:, :, ::-1].transpose(1, 3, 2, 0)).reshape(c * kw, kh * o)
    r_cotangent = np.empty((hp, c * kw, wo * n), dtype)
    for r in range(hp):
        first, last = max(0, r - ho + 1), min(kh - 1, r)  # the kernel rows i that reach row r
        np.matmul(weight_by_row[:, (kh - 1 - last) * o:(kh - first) * o],
                  g_by_row[r - last:r - first + 1].reshape(-1, wo * n), out=r_cotangent[r])
    r_cotangent = r_cotangent.reshape(hp, c, kw, wo, n).transpose(1, 0, 2, 3, 4)  # C first, as the result
    result = np.empty((c, hp, wp, n), dtype)
    result[:, :, :wo] = r_cotangent[:, :, 0]
    result[:, :, wo:] = 0
    for j in range(1, kw):
        result[:, :, j:j + wo] += r_cotangent[:, :, j]
    (ph, pw), (h, w) = geometry.padding, x.shape[2:]
    return result[:, ph:ph + h, pw:pw + w].transpose(3, 0, 1, 2)


def _conv2d_vjp_weight_batch_last(g, out, x, weight, geometry):
    """The sum over output rows h of ``V[h] @ g[h].T``: (K, L) @ (L, O) rather than (O, L) @
    (L, K), as OpenBLAS runs this orientation faster when both sides are short and L is long."""
    (o, c, kh, kw), (ho, wo), n = weight.shape, geometry.out_hw, x.shape[0]
    g_rows = _batch_last(g).reshape(o, ho, wo * n)
    # OpenBLAS's AVX2 kernels run O = 5..7 slower than O = 8, and K = 8m + 1 slower than 8m plus a
    # matrix-vector product: both changes take LeNet's first layer from 0.77 ms to 0.58. Its
    # AVX-512 kernels run the plain shapes fastest (0.29 ms against 0.40 with both changes).
    narrow_shapes_pay = not avx512_kernels()
    if 4 < o < 8 and narrow_shapes_pay:
        padded = np.empty((8, ho, wo * n), g_rows.dtype)
        padded[:o] = g_rows
        padded[o:] = 0
        g_rows = padded
    g_columns = g_rows.transpose(1, 2, 0)  # (H_out, W_out N, O)
    kept = _kept_rows(out, x, geometry)
    v = _batch_last_rows(x, geometry)[1] if kept is None else _patch_matrices(kept, geometry)
    k = v.shape[1]
    if k % 8 == 1 and k > 1 and narrow_shapes_pay:  # the last kernel index gets a product of its own
        product = np.empty((k, g_columns.shape[2]), np.result_type(v, g_columns))
        np.sum(np.matmul(v[:, :-1], g_columns), axis=0, out=product[:-1])
        np.sum(np.matmul(v[:, -1:], g_columns), axis=0, out=product[-1:])
    else:
        product = np.sum(np.matmul(v, g_columns), axis=0)
    return product[:, :o].T.reshape(o, kh, c, kw).transpose(0, 2, 1, 3)


def _conv2d_vjp_x(g, out, x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    if not _plain(g, weight):  # second order (hvp, hessian): the cotangent carries tangents
        return conv2d_input_cotangent(g, weight, x_shape=np.shape(x), stride=stride, padding=padding,
                                      dilation=dilation, groups=groups)
    geometry = _conv_geometry(x, weight, stride, padding, dilation, groups)
    if x.size == 0 or g.size == 0:  # an empty batch (or no output channels): the rules' reshapes need sizes
        return np.zeros(x.shape, np.result_type(g, weight))
    if _batch_last_applies(geometry, groups, g, x, weight):
        return _conv2d_vjp_x_batch_last(g, x, weight, geometry)
    (n, c), (ho, wo), (kh, kw), o = x.shape[:2], geometry.out_hw, geometry.kernel, weight.shape[0]
    g_matrix = np.reshape(g, (n, groups, o // groups, ho * wo))
    columns = np.matmul(_weight_matrix(weight, groups).transpose(0, 2, 1), g_matrix)  # (N, groups, K, HW)
    columns = columns.reshape(n, c, kh, kw, ho, wo)
    return geometry.scatter([columns[:, :, i, j] for i, j in geometry.offsets], columns.dtype)


def _conv2d_vjp_weight(g, out, x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    if not _plain(g, x):
        return conv2d_weight_cotangent(g, x, weight_shape=np.shape(weight), stride=stride, padding=padding,
                                       dilation=dilation, groups=groups)
    geometry = _conv_geometry(x, weight, stride, padding, dilation, groups)
    if x.size == 0 or g.size == 0:  # an empty batch: no term in the sum
        return np.zeros(weight.shape, np.result_type(g, x))
    if _batch_last_applies(geometry, groups, g, x, weight):
        return _conv2d_vjp_weight_batch_last(g, out, x, weight, geometry)
    n, (ho, wo), o = x.shape[0], geometry.out_hw, weight.shape[0]
    patches = geometry.windows(x).transpose(1, 2, 3, 0, 4, 5).reshape(groups, -1, n * ho * wo)
    g_matrix = np.reshape(g, (n, o, ho * wo)).transpose(1, 0, 2).reshape(groups, o // groups, n * ho * wo)
    return np.matmul(g_matrix, patches.transpose(0, 2, 1)).reshape(weight.shape)


def _conv2d_vjp_bias(g, out, x, weight, bias=None, **static):
    if type(g) is np.ndarray and g.ndim == 4 and g.dtype in (np.float32, np.float64) \
            and g.transpose(1, 2, 3, 0).flags.c_contiguous:
        # batch innermost (conv2d's own layout): each channel's values are one contiguous row, and
        # one BLAS matrix-vector product with ones sums them 2.5x faster than np.sum over three axes
        rows = g.transpose(1, 2, 3, 0).reshape(g.shape[1], -1)  # (O, H W N), a view
        return rows @ np.ones(rows.shape[1], g.dtype)
    return np.sum(g, axis=(0, 2, 3))


conv2d_primitive.defvjp(_conv2d_vjp_x, _conv2d_vjp_weight, _conv2d_vjp_bias)


# The two cotangents of conv2d as primitives of their own, for second order (the reverse
# rules then run on forward duals): each is linear in each of its arguments.
@primitive
def conv2d_input_cotangent(g, weight, *, x_shape, **static):
    """``x``'s cotangent of ``conv2d(x, weight)`` for the output cotangent ``g``."""
    return _conv2d_vjp_x(g, None, stand_in(x_shape, np.result_type(g, weight)), weight, **static)


@primitive
def conv2d_weight_cotangent(g, x, *, weight_shape, **static):
    """``weight``'s cotangent of ``conv2d(x, weight)`` for the output cotangent ``g``."""
    return _conv2d_vjp_weight(g, None, x, stand_in(weight_shape, np.result_type(g, x)), **static)


conv2d_input_cotangent.defbilinear()
conv2d_weight_cotangent.defbilinear()
# Their reverse rules (a vjp pullback given a cotangent that a gradient traces): each is the
# transpose of a product linear in each argument, <h, input_cotangent(g, w)> = <conv2d(h, w), g>
# = <weight_cotangent(g, h), w>, and likewise for the weight's.
conv2d_input_cotangent.defvjp(
    lambda h, out, g, weight, *, x_shape, **static: conv2d_primitive(h, weight, **static),
    lambda h, out, g, weight, *, x_shape, **static: conv2d_weight_cotangent(
        g, h, weight_shape=np.shape(weight), **static),
)
conv2d_weight_cotangent.defvjp(
    lambda h, out, g, x, *, weight_shape, **static: conv2d_primitive(x, h, **static),
    lambda h, out, g, x, *, weight_shape, **static: conv2d_input_cotangent(g, h, x_shape=np.shape(x), **static),
)
# Forward rules: linear in the input and in the weight separately, affine in the bias.
conv2d_primitive.defjvp(
    lambda t, out, x, weight, bias=None, **static: conv2d_primitive(t, weight, **static),
    lambda t, out, x, weight, bias=None, **static: conv2d_primitive(x, t, **static),
    lambda t, out, x, weight, bias=None, **static: np.broadcast_to(np.reshape(t, (1, -1, 1, 1)), np.shape(out)),
)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation (deep learning's "convolution") of an NCHW batch.

    ``x`` is ``(N, C, H, W)``, ``weight`` is ``(O, C / groups, kh, kw)``, ``bias`` is
    ``(O,)`` or None; the result is ``(N, O, H_out, W_out)`` with
    ``H_out = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1``. ``stride``,
    ``padding`` (zeros) and ``dilation`` are ints or (height, width) pairs; with ``groups``
    the channels split into that many independent convolutions. Same conventions as
    ``torch.nn.functional.conv2d``. Differentiable in ``x``, ``weight`` and ``bias``.
    With stride 1, no dilation and one group the result keeps the batch innermost in
    memory (an ``(N, O, H, W)`` view of an ``(O, H, W, N)`` array, 2x faster here, and the
    next layers keep that layout); ``np.ascontiguousarray`` gives a C-ordered copy of a plain
    result (inside a differentiation, values and derivatives are the same in either layout).
    The arguments may also be nested lists of numbers.

    >>> import numpy as np, mixedad
    >>> from mixedad.nn import conv2d
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> w = np.ones((1, 1, 2, 2))
    >>> conv2d(x, w, stride=2)
    array([[[[10., 18.],
             [42., 50.]]]])
    >>> mixedad.gradient(lambda w: np.sum(conv2d(x, w, stride=2)), w)
    array([[[[20., 24.],
             [36., 40.]]]])
    """
    x, weight, bias = _array_of_numbers(x), _array_of_numbers(weight), _array_of_numbers(bias)
    if bias is not None and np.shape(bias) != (np.shape(weight)[0],):
        raise ValueError(f"conv2d: bias of shape {np.shape(bias)} for {np.shape(weight)[0]} output channels; "
                         f"it must have shape ({np.shape(weight)[0]},)")
    if all(type(a) is np.ndarray for a in (x, weight, np.empty(0) if bias is None else bias)):
        # nothing is differentiated: no reverse rule will want the kernel rows
        return _conv2d(x, weight, bias, stride, padding, dilation, groups, keep_rows=False)
    static = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    if bias is None:
        return conv2d_primitive(x, weight, **static)
    return conv2d_primitive(x, weight, bias, **static)

