"""Linear algebra and statistics of complex intermediate values: ``np.linalg.solve``, ``inv``,
``eigvalsh`` of a Hermitian matrix, ``np.var``, ``np.std``, ``np.prod``, ``astype`` to a
complex dtype, the functions that act on both parts alike (sums, reshapes, ``np.diff``), joins
(``concatenate``, ``stack``) and ``np.where``.

Like the rest of ``complex_values`` they are written with real operations on the parts, so
every mode differentiates them with the real rules. A complex matrix A = Ar + i Ai acts on
(xr, xi) as the real block matrix [[Ar, -Ai], [Ai, Ar]]: solving with it solves with A,
inverting it inverts A, and, for a Hermitian A, its eigenvalues are A's, each twice.
"""
from __future__ import annotations

import inspect
from typing import Callable

import numpy as np

from .complex_functions import _real_and_imaginary as _both_parts
from .complex_values import (FUNCTIONS, _componentwise, _multiply_values, _pair, _zeros_if_none, parts,
                             unsupported_complex)
from .decompositions import _reads_lower, _uplo
from ..core.region import read_value


def as_complex(array, dtype: np.dtype):
    """``array.astype(dtype)`` for a real differentiated ``array`` and a complex ``dtype``."""
    return _pair(array.astype(np.finfo(dtype).dtype), None)


def _real_block(a):
    """[[Ar, -Ai], [Ai, Ar]] for each matrix of ``a`` (..., n, n)."""
    re, im = _both_parts(a)
    return np.concatenate([np.concatenate([re, -im], axis=-1), np.concatenate([im, re], axis=-1)], axis=-2)


def _solve(a, b):
    (ar, ai), (br, bi) = parts(a), _both_parts(b)
    vector = np.ndim(b) == 1  # NumPy 2: b is a vector only when it is 1-d; else a stack of matrices
    axis = -1 if vector else -2  # the axis that runs along A's rows
    if ai is None:  # a real matrix: both parts are right-hand sides of one real solve
        if vector:
            x = np.linalg.solve(ar, np.stack([br, bi], axis=-1))
            return _pair(x[..., 0], x[..., 1])
        columns = np.shape(b)[-1]
        x = np.linalg.solve(ar, np.concatenate([br, bi], axis=-1))
        return _pair(x[..., :columns], x[..., columns:])
    n = np.shape(a)[-1]
    rows = [br, bi]
    if not vector and np.ndim(br) < np.ndim(ar):  # (n, k) against a stack: both as NumPy broadcasts them
        rows = [np.broadcast_to(part, np.shape(ar)[:-2] + np.shape(part)) for part in rows]
    x = np.linalg.solve(_real_block(a), np.concatenate(rows, axis=axis))
    if vector:
        return _pair(x[..., :n], x[..., n:])
    return _pair(x[..., :n, :], x[..., n:, :])


def _inv(a):
    re, im = parts(a)
    if im is None:
        return _pair(np.linalg.inv(re), None)
    n = np.shape(a)[-1]
    inverse = np.linalg.inv(_real_block(a))
    return _pair(inverse[..., :n, :n], inverse[..., n:, :n])


def hermitian_from_triangle(a, UPLO="L"):
    """The Hermitian matrix NumPy reads from ``a``'s lower (or upper) triangle, the diagonal's
    imaginary part ignored."""
    triangle, strict = (np.tril, -1) if _reads_lower(_uplo(UPLO)) else (np.triu, 1)
    re, im = _both_parts(a)
    off_re, off_im = triangle(re, strict), triangle(im, strict)
    return _pair(triangle(re) + np.swapaxes(off_re, -1, -2), off_im - np.swapaxes(off_im, -1, -2))


def _eigvalsh(a, UPLO="L"):
    """A Hermitian matrix's eigenvalues, as the mean of each equal pair of the real block
    matrix's: the pair's sum is differentiable even though the pair is a tie."""
    values = np.linalg.eigvalsh(_real_block(hermitian_from_triangle(a, UPLO)))
    return 0.5 * (values[..., 0::2] + values[..., 1::2])


def _statistic_of_parts(statistic, a, axis, dtype, ddof, keepdims, where, mean, correction) -> list:
    """``statistic`` (np.var or np.std) of the real and of the imaginary part, with NumPy's options."""
    if dtype is not None and np.dtype(dtype).kind != "c":
        raise unsupported_complex(f"numpy.{statistic.__name__} with dtype={np.dtype(dtype)}")
    options = {"axis": axis, "keepdims": keepdims, "where": where}
    options.update({"ddof": ddof} if correction is None else {"correction": correction})
    mean_parts = (None, None) if mean is None else _both_parts(mean)
    return [statistic(part, **options) if part_mean is None else statistic(part, mean=part_mean, **options)
            for part, part_mean in zip(_both_parts(a), mean_parts)]


def _var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=None, correction=None):
    """E|z - E z|^2 = var(Re z) + var(Im z): a real result, as NumPy's."""
    re, im = _statistic_of_parts(np.var, a, axis, dtype, ddof, keepdims, where, mean, correction)
    return re + im


def _std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=None, correction=None):
    """sqrt(var(Re z) + var(Im z)), as the hypotenuse of the parts' deviations: at no spread its
    derivative is 0, as the real np.std's (the square root of the sum would divide 0 by 0)."""
    return np.hypot(*_statistic_of_parts(np.std, a, axis, dtype, ddof, keepdims, where, mean, correction))


def _prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    """The product along ``axis`` as a tree of complex products (halves multiplied until one
    remains): log2(n) steps, and exact zeros keep the other factors' derivatives."""
    if initial is not None or where is not True:
        raise unsupported_complex("numpy.prod with initial= or where=")
    if dtype is not None and np.dtype(dtype).kind != "c":
        raise unsupported_complex(f"numpy.prod with dtype={np.dtype(dtype)}")
    ndim = np.ndim(a)
    axes = tuple(range(ndim)) if axis is None else tuple(np.atleast_1d(axis))
    axes = tuple(sorted(int(k) % ndim for k in axes)) if ndim else ()
    kept = [k for k in range(ndim) if k not in axes]
    shape = np.shape(a)
    values = np.reshape(np.transpose(a, kept + list(axes)), tuple(shape[k] for k in kept) + (-1,))
    if values.shape[-1] == 0:
        result = _pair(np.ones(values.shape[:-1], np.finfo(values.dtype).dtype), None)
    else:
        while values.shape[-1] > 1:
            half = values.shape[-1] // 2
            product = _multiply_values(values[..., :half], values[..., half:2 * half])
            values = np.concatenate([product, values[..., 2 * half:]], axis=-1) if values.shape[-1] % 2 else product
        result = values[..., 0]
    if keepdims:
        result = np.reshape(result, tuple(1 if k in axes else size for k, size in enumerate(shape)))
    return result.astype(dtype) if dtype is not None else result


FUNCTIONS.update({np.linalg.solve: _solve, np.linalg.inv: _inv, np.linalg.eigvalsh: _eigvalsh, np.var: _var,
                  np.std: _std, np.prod: _prod})


def _joined(function):
    """concatenate / stack: each part of the result joins the operands' parts (zeros for a missing one)."""
    def join(arrays, *args, **kwargs):
        operand_parts = [parts(array) for array in arrays]
        result = []
        for index in (0, 1):
            if all(p[index] is None for p in operand_parts):
                result.append(None)
                continue
            result.append(function([p[index] if p[index] is not None else _zeros_if_none(None, p[1 - index])
                                    for p in operand_parts], *args, **kwargs))
        return _pair(*result)
    return join


for _function in (np.concatenate, np.stack, np.hstack, np.vstack, np.column_stack):
    FUNCTIONS[_function] = _joined(_function)


def _where(condition, x, y):
    condition = read_value(condition, "np.where's condition")
    (xr, xi), (yr, yi) = parts(x), parts(y)
    shape = np.broadcast_shapes(np.shape(condition), np.shape(x), np.shape(y))
    zeros = np.zeros(shape, np.result_type(*[p for p in (xr, xi, yr, yi) if p is not None], 1.0))
    return _pair(*(None if a is None and b is None else
                   np.where(condition, zeros if a is None else a, zeros if b is None else b)
                   for a, b in ((xr, yr), (xi, yi))))


FUNCTIONS[np.where] = _where


def componentwise(function: Callable, valued: tuple[str, ...] = ()) -> Callable:
    """``function`` (first argument the array) applied to each part alike; the arguments named in
    ``valued``, values that join the result (np.sum's ``initial``, np.diff's ``prepend``), are
    split into their parts, each going with its own."""
    signature = inspect.signature(function).parameters
    names, defaults = list(signature)[1:], {name: signature[name].default for name in valued}

    def apply(value, *args, **kwargs):
        options = {**dict(zip(names, args)), **kwargs} if valued else kwargs
        given = tuple(name for name in valued if options.get(name, defaults[name]) is not defaults[name])
        if not given:
            return _componentwise(lambda part: function(part, *args, **kwargs), value)
        return with_joined_values(function, value, options, given)
    return apply


def with_joined_values(function: Callable, value, options: dict, joined: tuple[str, ...]):
    """``function(part, **options)`` for each part of ``value``, with the options named in
    ``joined`` (values that join the result) split into their parts, each going with its own;
    a missing part of either is zeros."""
    pieces = {name: parts(options[name]) for name in joined}
    re, im = parts(value)
    results = []
    for index, part in enumerate((_zeros_if_none(re, im), _zeros_if_none(im, re))):
        own = {name: 0.0 if split[index] is None else split[index] for name, split in pieces.items()}
        results.append(function(part, **{**options, **own}))
    return _pair(*results)


for _function in (np.mean, np.cumsum, np.reshape, np.transpose, np.ravel, np.squeeze, np.expand_dims,
                  np.swapaxes, np.moveaxis, np.flip, np.fliplr, np.flipud, np.roll, np.broadcast_to, np.diagonal,
                  np.trace, np.copy, np.atleast_1d, np.atleast_2d, np.atleast_3d, np.repeat, np.tile, np.take,
                  np.rot90, np.diag, np.diagflat, np.triu, np.tril, np.fft.fftshift, np.fft.ifftshift):
    FUNCTIONS[_function] = componentwise(_function)
FUNCTIONS[np.sum] = componentwise(np.sum, valued=("initial",))
FUNCTIONS[np.diff] = componentwise(np.diff, valued=("prepend", "append"))
