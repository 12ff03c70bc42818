"""Operands of traced operations that are not traced values: ndarray subclasses, other
libraries' arrays, the values a prepared recording recomputes (``core.recomputed``), and the
lists, tuples and keyword values a primitive's rules read again in the backward pass."""
from __future__ import annotations

import numpy as np

from .errors import SPARSE_ADVICE, InputError, UnsupportedOperationError, error_with_location
from .pytree import flatten
from .recomputed import Recomputed, _same, recompute, recording_trace
from .guards import borrow
from .tape import Trace
from .traced import Traced


def plain_arrays(args) -> tuple:
    """``args`` with each ndarray subclass (``np.memmap``, a user's subclass) as a plain ndarray of the
    same memory, and another library's array (``__array__``: a pandas Series) as the ndarray it gives.
    A masked array, ``np.matrix`` or a scipy.sparse matrix raises: their operations mean something
    else (sums skip masked entries, ``*`` is a matrix product), which the rules would silently not follow."""
    for arg in args:
        if isinstance(arg, (np.ma.MaskedArray, np.matrix)) or _sparse(arg):
            kind = ("a masked array (np.ma)" if isinstance(arg, np.ma.MaskedArray) else "an np.matrix"
                    if isinstance(arg, np.matrix) else f"a scipy.sparse {type(arg).__name__}")
            advice = (SPARSE_ADVICE[0].upper() + SPARSE_ADVICE[1:] if _sparse(arg) else
                      "Use np.asarray(...) for a plain array (with masks written as np.where(mask, fill, values)) "
                      "before the differentiated computation.")
            raise error_with_location(
                UnsupportedOperationError, f"A differentiated value meets {kind}{{where}}: mixedad's rules follow "
                f"plain ndarray semantics, which this type changes. {advice}", skip=3)
    return tuple([arg.view(np.ndarray) if isinstance(arg, np.ndarray) and type(arg) is not np.ndarray
                  else np.asarray(arg) if foreign_array(arg) else arg for arg in args])


def foreign_array(arg) -> bool:
    """Another library's array: one that converts with ``__array__`` (a pandas Series, an xarray
    DataArray), or a scipy.sparse matrix (which ``plain_arrays`` refuses); or a recomputed value
    whose values are read (value-dependent)."""
    kind = type(arg)
    return (kind is Recomputed or not isinstance(arg, (np.ndarray, np.generic)) and not kind.__module__.startswith(
        "mixedad.") and (hasattr(arg, "__array__") or _sparse(arg)))


def live_arrays(args) -> tuple | None:
    """``args`` of a primitive with each ``Recomputed`` as the array a prepared replay refills
    (labels given to ``cross_entropy``, a mask times a matrix), if they all belong to the
    recording of the traced values among ``args``; else None (their values are read). With no
    traced value among them there is no step to replay (``primitive(labels)`` is computed once
    from the values): None."""
    if recording_trace(args, {}) is None or not any(type(value) is Traced for value in args):
        return None
    return tuple([value._live if type(value) is Recomputed else value for value in args])


def _sparse(arg) -> bool:
    return type(arg).__module__.startswith("scipy.sparse")


def in_loop_dtypes(prim, args, kwargs) -> tuple | None:
    """``args`` with each constant array or NumPy scalar cast to the float dtype in which
    NumPy's loop for the ufunc ``prim`` computes (NumPy casts it so too: the value is the
    same), or None if none needs it. Partial derivatives then have the result's precision:
    not a uint8 ``a`` whose product ``a * a`` in ``x * a * a`` wraps around, nor a float16 1/c."""
    ufunc = prim.fn
    if type(ufunc) is not np.ufunc or (kwargs and ("dtype" in kwargs or "signature" in kwargs)):
        return None
    dtypes = []
    for arg in args:
        kind = type(arg)
        if kind is Traced:
            dtypes.append(arg._dtype if arg._dtype is not None else arg.dtype)
        elif isinstance(arg, (np.ndarray, np.generic)):
            dtypes.append(arg.dtype)
        elif kind is float or kind is int:  # weak (NEP 50)
            dtypes.append(kind)
        else:
            return None
    try:
        loop = ufunc.resolve_dtypes(tuple(dtypes) + (None,) * ufunc.nout)
    except (TypeError, ValueError):  # no loop: NumPy's own call will say so
        return None
    cast = None
    for j, (arg, dtype) in enumerate(zip(args, loop)):
        if isinstance(arg, (np.ndarray, np.generic)) and arg.dtype != dtype and dtype.kind == "f":
            cast = list(args) if cast is None else cast
            cast[j] = arg.astype(dtype)
    return tuple(cast) if cast is not None else None


def operands_in_loop(trace: Trace, prim, args, kwargs) -> tuple:
    """``args`` of an elementwise operation on traced values with each ``Recomputed`` as its
    array, in the dtype in which NumPy's loop computes (a bool mask times a float32 value: a
    float32 array that its own step refills); read (value-dependent) if it is not this
    recording's."""
    if not all(type(value) is not Recomputed or value._trace is trace and trace.active for value in args):
        return plain_arrays(args)
    arrays = plain_arrays(tuple(value._live if type(value) is Recomputed else value for value in args))
    cast = in_loop_dtypes(prim, arrays, kwargs)
    if cast is None:
        return arrays
    return tuple(recompute(trace, _same, (value,), {}, dtype=in_loop.dtype)._live
                 if type(value) is Recomputed and in_loop.dtype != value.dtype else in_loop
                 for value, in_loop in zip(args, cast))


def holds_mutable(value) -> bool:
    """Whether ``value`` is or holds a list or an array (not only numbers, slices, ...)."""
    kind = type(value)
    return kind is np.ndarray or kind is list or kind is tuple and any(
        type(part) in (np.ndarray, list, tuple) and holds_mutable(part) for part in value)


def snapshot(trace, value):
    """``value`` as the tape may keep it: lists and tuples rebuilt (the user may change a list
    after the op, and the rules read it again), the user's arrays borrowed (made read-only)."""
    kind = type(value)
    if kind is np.ndarray:
        borrow(trace, value)
    elif kind is list:
        return [snapshot(trace, part) for part in value]
    elif kind is tuple:
        return tuple([snapshot(trace, part) for part in value])
    return value


def refuse_traced_inside(prim, args) -> None:
    """Rules receive a primitive's arrays as its positional arguments: one inside a list, tuple
    or dict would get no derivative, or the body's own instead of the rule's."""
    for j, arg in enumerate(args):
        if type(arg) in (list, tuple, dict) and any(type(leaf) is Traced for leaf in flatten(arg)[0]):
            raise error_with_location(
                InputError, f"argument {j} of {prim.name} is a {type(arg).__name__} holding a differentiated value"
                "{where}: a primitive's rules see arrays passed as its own positional arguments only. Pass each "
                "array as an argument of its own (def f(x, y) rather than def f(d) with d = {'x': x, 'y': y}).",
                skip=4)


def refuse_traced_keywords(prim, kwargs) -> None:
    for key, value in kwargs.items():
        if isinstance(value, Traced):  # an updated one too
            raise error_with_location(
                InputError, f"{prim.name}: keyword argument {key!r} is a traced value{{where}}; "
                "pass differentiable values positionally.", skip=3)
