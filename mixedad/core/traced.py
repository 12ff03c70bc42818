"""The traced array: what a differentiated function receives instead of an ndarray.

It answers NumPy's override protocols (``__array_ufunc__``, NEP 13, ``__array_function__``, NEP 18),
Python operators and the common ndarray methods, forwarding each to the handler the rule tables
registered. A traced value is *concrete* (made by a tape entry, its value known or computable) or
*lazy* (the root of an elementwise expression in a dual region, evaluated when something needs it).
"""
from __future__ import annotations

import math

import numpy as np

from .arrays import LeveledValue, RefusesIntegralConversion
from .dispatch import FUNCTION_HANDLERS, function_handler, ufunc_binder, ufunc_handler, unsupported
from .conversions import conversion_error, stored_error
from .errors import (FILL_AN_ARRAY, InPlaceMutationError, NonDifferentiableError, NotVectorizableError,
                     UnsupportedAttributeError, UnsupportedOptionError, converted_by_numpy, error_with_location,
                     library_advice, numpy_function_entered, refuse_imaginary_part, retired_value_error)
from .missing_attributes import refuse_missing_ndarray_attributes
from .stand_ins import class_seen_by_user, plain_class_of_constant

_SCALAR_POWERS = {2: np.square, 0.5: np.sqrt, -1: np.reciprocal, 1: np.positive}


class Traced(RefusesIntegralConversion):
    """An array-like value being differentiated. Treat it as an ndarray."""

    # _view_of: False; for a view of another traced value, (base, key) when an update of the view
    # can write through into base (base[key] = new values), else True. _views: None, or the views
    # taken of this value. _successor: set when x[key] = v made this object stand for a new value.
    __slots__ = ("_trace", "_entry", "_slot", "_value", "_expr", "_shape", "_dtype", "_view_of", "_views",
                 "_successor")
    __array_priority__ = 1000.0
    __class__ = class_seen_by_user(plain_class_of_constant)  # a prepared recording's stand-in for a plain array

    def __init__(self, trace, value, entry, slot=0, expr=None, shape=None, dtype=None):
        self._trace = trace
        self._value = value
        self._entry = entry
        self._slot = slot
        self._expr = expr
        if shape is None:
            shape = value.shape
            dtype = value.dtype
        self._shape = shape
        self._dtype = dtype
        self._view_of = False
        self._views = None

    # --- metadata ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._shape

    @shape.setter
    def shape(self, new_shape):
        raise error_with_location(
            UnsupportedAttributeError, f"setting .shape = {new_shape!r} on a traced value{{where}}: mixedad does "
            "not reshape in place. Assign a reshaped value instead: y = y.reshape(...).", skip=1)

    @property
    def dtype(self) -> np.dtype:
        if self._dtype is None:
            from .region import region_dtype
            self._dtype = region_dtype(self._expr)
        return self._dtype

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        return math.prod(self._shape)

    def __format__(self, spec: str) -> str:
        # print(loss), f"{loss:.4f}" in a debugging print: the value, read as one the program may depend on (the
        # string can steer a branch: a prepared gradient re-traces, and so prints on every call)
        from .region import read_value
        value = read_value(self, "format()" if spec else "str()")
        return format(value[()] if not self._shape else value, spec)

    def __str__(self) -> str: return self.__format__("")

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of unsized object")
        return self._shape[0]

    def __repr__(self) -> str:
        state = "deferred" if self._expr is not None or self._value is None else "computed"
        dims = ", ".join(map(str, self._shape))
        return f"<mixedad traced {self.dtype}[{dims}] ({state})>"

    # --- protocols --------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__":
            out = kwargs.pop("out", None)
            where = kwargs.pop("where", True)
            if out is None and where is True:
                return ufunc_binder(ufunc)(inputs, kwargs)
            return _call_into(ufunc, inputs, kwargs, out, where)
        return _ufunc_method(ufunc, method, inputs, kwargs)

    def __array_namespace__(self, *, api_version=None):  # array-API code: xp = x.__array_namespace__()
        return np

    def __array_function__(self, func, types, args, kwargs):
        if len(types) > 1 and any(getattr(kind, "handles_functions_first", False) for kind in types):
            return NotImplemented  # a complex value among the arguments: its table applies (rules.complex_values)
        if kwargs and kwargs.get("out") is not None:
            return function_into(func, args, kwargs)
        handler = FUNCTION_HANDLERS.get(func) or function_handler(func)  # loads rules on demand, or raises
        return handler(*args, **kwargs)

    def __array__(self, dtype=None, copy=None):
        raise stored_error(1) or error_with_location(
            NonDifferentiableError,
            "np.asarray / np.array on a traced value (or on a list holding one), or storing it into "
            "a NumPy array (out[i] = value){where}, would drop its derivative.",
            advice=converted_by_numpy(numpy_function_entered(2)) + " Keep it as a traced value (NumPy functions "
            f"accept it), or move this computation outside the differentiated function. {FILL_AN_ARRAY}",
            skip=1, in_library=library_advice,
        )

    def _conversion_error(self, what: str, advice: str = ""):
        return conversion_error(what, self.size, advice)

    def __float__(self):  # (NumPy's out[i] = value calls it too)
        raise stored_error(1) or self._conversion_error("float()")

    def as_integer_ratio(self):  # statistics.mean and its kin, fractions.Fraction
        raise self._conversion_error("as_integer_ratio() (an exact conversion)", " Use np.mean, np.var, np.std.")

    def __int__(self):
        raise self._conversion_error("int()", " For an integer computed from a differentiated value (an index, a "
                                     "count), x.astype(int) gives a plain integer array, with no derivative to drop.")

    def __complex__(self):
        raise self._conversion_error("complex()")

    def __index__(self):
        raise self._conversion_error("using it as an index")

    def item(self, *args):
        raise self._conversion_error(".item()")

    def tolist(self):
        raise self._conversion_error(".tolist()")

    def __bool__(self):
        if self.size != 1:
            raise error_with_location(
                NotVectorizableError,
                "The truth value of a traced array with more than one element is ambiguous{where}.",
                skip=1,
            )
        from .region import read_value
        return bool(read_value(self, "bool()"))

    def __setitem__(self, key, value):
        # NumPy updates the array in place. mixedad records the updated array as a new value and
        # makes this object stand for it (UpdatedTraced): what already read it keeps the old value.
        view_of = self._view_of
        from .updates import (UpdatedTraced, _write_through, refuse_update_of_shared_input, retire_changed_views,
                              shared_memory_error)
        if view_of is True:
            raise shared_memory_error(self, assignment=True)
        if self._trace.shared_argument is not None:  # (an input another argument may share)
            refuse_update_of_shared_input(self, assignment=True)
        if type(value) is Traced and type(value._view_of) is tuple and value._view_of[0] is self \
                and value._view_of[1] is key:
            return  # x[key] op= v: the in-place operator already wrote the view's new values into x
        updated = function_handler(_index_update)(self, key, value)
        if self._views:  # views taken before that NumPy would show the change: using one again raises
            retire_changed_views(self, key, updated)
            self._views = None  # (the others are now views of updated, which writing through leaves alone)
        if view_of:  # a view: NumPy writes through into the array it views
            _write_through(view_of, updated)
        _stand_for(self, updated, UpdatedTraced)

    def __iter__(self):
        if not self._shape:
            raise TypeError("iteration over a 0-d array")
        getitem = function_handler(_getitem)
        for index in range(self._shape[0]):
            yield getitem(self, index)

    def __getitem__(self, key):
        return function_handler(_getitem)(self, key)

    def __deepcopy__(self, memo):  # a copy, not the same object: x[i] = v may change the original
        return function_handler(np.copy)(self)

    def __copy__(self):
        return function_handler(np.copy)(self)

    def __reduce_ex__(self, protocol):
        # pickle would copy the trace too, and what f computes from the copy would be recorded on
        # that copy: the gradient would silently be zero
        raise error_with_location(
            NonDifferentiableError,
            "Pickling a traced value{where} (pickle.dumps, or sending it to another process: "
            "multiprocessing, concurrent.futures) would drop its derivative.",
            advice=" Compute with it in this process, or pickle a plain copy outside the differentiated function.",
            skip=1, in_library=library_advice)

    # --- ndarray-like properties and methods ------------------------------------------
    @property
    def T(self):
        return function_handler(np.transpose)(self)

    @property
    def mT(self):
        return function_handler(np.swapaxes)(self, -1, -2)

    # a real array's real part is the array itself: NumPy's z.real = v writes every element (z[...] = v)
    real = property(lambda self: self, lambda self, value: self.__setitem__(Ellipsis, value))
    imag = property(lambda self: function_handler(np.imag)(self), refuse_imaginary_part)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def conj(self):
        return self

    conjugate = conj

    def astype(self, dtype, copy=True, **kwargs):
        if not copy and np.dtype(dtype) == self.dtype:
            return self  # NumPy returns the array itself: in-place updates must reach it
        return function_handler(_astype)(self, dtype)

    def copy(self, order="C"):  # a NumPy scalar's copy is an equal immutable scalar: itself (s += 1 rebinds s)
        return self if self._shape == () and self._holds_a_numpy_scalar() else function_handler(np.copy)(self, order)

    def reshape(self, *shape, order="C", copy=None):
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        return function_handler(np.reshape)(self, shape, order=order, copy=copy)

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = axes[0]
        return function_handler(np.transpose)(self, None if axes is None or len(axes) == 0 else axes)

    def ravel(self, order="C"):
        return function_handler(np.ravel)(self, order=order)

    def flatten(self, order="C"):
        return function_handler(_flatten)(self, order=order)

    def squeeze(self, axis=None):
        return function_handler(np.squeeze)(self, axis=axis)

    def swapaxes(self, axis1, axis2):
        return function_handler(np.swapaxes)(self, axis1, axis2)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        _check_out(out, np.sum)
        return _into(out, function_handler(np.sum)(self, axis=axis, dtype=dtype, keepdims=keepdims, **kwargs))

    def mean(self, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        _check_out(out, np.mean)
        return _into(out, function_handler(np.mean)(self, axis=axis, dtype=dtype, keepdims=keepdims, **kwargs))

    def prod(self, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        _check_out(out, np.prod)
        return _into(out, function_handler(np.prod)(self, axis=axis, dtype=dtype, keepdims=keepdims, **kwargs))

    def max(self, axis=None, out=None, keepdims=False, **kwargs):
        _check_out(out, np.max)
        return _into(out, function_handler(np.max)(self, axis=axis, keepdims=keepdims, **kwargs))

    def min(self, axis=None, out=None, keepdims=False, **kwargs):
        _check_out(out, np.min)
        return _into(out, function_handler(np.min)(self, axis=axis, keepdims=keepdims, **kwargs))

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
        _check_out(out, np.var)
        return _into(out, function_handler(np.var)(self, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims, **kwargs))

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
        _check_out(out, np.std)
        return _into(out, function_handler(np.std)(self, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims, **kwargs))

    def cumsum(self, axis=None, dtype=None, out=None):
        _check_out(out, np.cumsum)
        return _into(out, function_handler(np.cumsum)(self, axis=axis, dtype=dtype))

    def cumprod(self, axis=None, dtype=None, out=None):
        _check_out(out, np.cumprod)
        return _into(out, function_handler(np.cumprod)(self, axis=axis, dtype=dtype))

    def dot(self, other, out=None):
        _check_out(out, np.dot)
        return _into(out, function_handler(np.dot)(self, other))

    def __contains__(self, value):  # NumPy's rule; a comparison carries no derivative
        return bool(np.any(self == value))

    def clip(self, min=None, max=None, out=None, **kwargs):
        _check_out(out, np.clip)
        return _into(out, function_handler(np.clip)(self, min, max, **kwargs))

    def repeat(self, repeats, axis=None):
        return function_handler(np.repeat)(self, repeats, axis=axis)

    def take(self, indices, axis=None, out=None, **kwargs):
        _check_out(out, np.take)
        return _into(out, function_handler(np.take)(self, indices, axis=axis, **kwargs))

    def round(self, decimals=0, out=None):
        _check_out(out, np.round)
        return _into(out, function_handler(np.round)(self, decimals))

    def __round__(self, ndigits=None):  # the built-in round(x), as ndarray defines it
        return self.round(0 if ndigits is None else ndigits)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return function_handler(np.diagonal)(self, offset, axis1, axis2)

    def trace(self, offset=0, axis1=0, axis2=1, dtype=None, out=None):
        _check_out(out, np.trace)
        return _into(out, function_handler(np.trace)(self, offset, axis1, axis2, dtype))

    def compress(self, condition, axis=None, out=None):
        _check_out(out, np.compress)
        return _into(out, function_handler(np.compress)(condition, self, axis))

    def searchsorted(self, v, side="left", sorter=None):
        return function_handler(np.searchsorted)(self, v, side, sorter)

    def argpartition(self, kth, axis=-1, **kwargs):
        return function_handler(np.argpartition)(self, kth, axis=axis, **kwargs)

    def argmax(self, axis=None, **kwargs):
        return function_handler(np.argmax)(self, axis=axis, **kwargs)

    def argmin(self, axis=None, **kwargs):
        return function_handler(np.argmin)(self, axis=axis, **kwargs)

    def argsort(self, axis=-1, **kwargs):
        return function_handler(np.argsort)(self, axis=axis, **kwargs)

    def nonzero(self):
        return function_handler(np.nonzero)(self)

    def any(self, axis=None, **kwargs):
        return function_handler(np.any)(self, axis=axis, **kwargs)

    def all(self, axis=None, **kwargs):
        return function_handler(np.all)(self, axis=axis, **kwargs)

    # --- operators ----------------------------------------------------------------------
    def __add__(self, other): return ufunc_binder(np.add)((self, other), {})
    def __radd__(self, other): return ufunc_binder(np.add)((other, self), {})
    def __sub__(self, other): return ufunc_binder(np.subtract)((self, other), {})
    def __rsub__(self, other): return ufunc_binder(np.subtract)((other, self), {})
    def __mul__(self, other): return ufunc_binder(np.multiply)((self, other), {})
    def __rmul__(self, other): return ufunc_binder(np.multiply)((other, self), {})
    def __truediv__(self, other): return ufunc_binder(np.true_divide)((self, other), {})
    def __rtruediv__(self, other): return ufunc_binder(np.true_divide)((other, self), {})
    def __floordiv__(self, other): return ufunc_binder(np.floor_divide)((self, other), {})
    def __rfloordiv__(self, other): return ufunc_binder(np.floor_divide)((other, self), {})
    def __mod__(self, other): return ufunc_binder(np.remainder)((self, other), {})
    def __rmod__(self, other): return ufunc_binder(np.remainder)((other, self), {})
    def __pow__(self, other):
        # ndarray's own fast path: x ** 2 is np.square, x ** 0.5 is np.sqrt (same values)
        fast = _SCALAR_POWERS.get(other) if type(other) in (int, float) else None
        if fast is not None:
            return ufunc_binder(fast)((self,), {})
        return ufunc_binder(np.power)((self, other), {})
    def __rpow__(self, other): return ufunc_binder(np.power)((other, self), {})
    def __matmul__(self, other): return ufunc_binder(np.matmul)((self, other), {})
    def __rmatmul__(self, other): return ufunc_binder(np.matmul)((other, self), {})
    def __divmod__(self, other): return ufunc_binder(np.divmod)((self, other), {})
    def __rdivmod__(self, other): return ufunc_binder(np.divmod)((other, self), {})
    def __neg__(self): return ufunc_binder(np.negative)((self,), {})
    def __pos__(self): return ufunc_binder(np.positive)((self,), {})
    def __abs__(self): return ufunc_binder(np.absolute)((self,), {})
    def __lt__(self, other): return ufunc_binder(np.less)((self, other), {})
    def __le__(self, other): return ufunc_binder(np.less_equal)((self, other), {})
    def __gt__(self, other): return ufunc_binder(np.greater)((self, other), {})
    def __ge__(self, other): return ufunc_binder(np.greater_equal)((self, other), {})
    def __eq__(self, other): return ufunc_binder(np.equal)((self, other), {})
    def __ne__(self, other): return ufunc_binder(np.not_equal)((self, other), {})
    def __hash__(self): raise self._conversion_error("hashing (a dict key, a set, an lru_cache argument)")
    def __buffer__(self, flags): raise self._conversion_error("memoryview (the buffer protocol; Python 3.12+)")

    # In-place operators return a new traced value, which this one then stands for (below); on a
    # view x[key] they write into x too, as NumPy does (row += 1).
    def _inplace(self, ufunc, other):
        if self._shape == () and self._holds_a_numpy_scalar():  # immutable: s += 1 rebinds s, as NumPy's does
            return ufunc_binder(ufunc)((self, other), {})
        view_of = self._view_of
        from .updates import UpdatedTraced, _cast_into, _retire_views, _write_through, keep_layout, \
            layout_to_keep, refuse_update_of_shared_input, shared_memory_error
        if view_of is True:
            raise shared_memory_error(self, assignment=False)
        if self._trace.shared_argument is not None:
            refuse_update_of_shared_input(self, assignment=False)
        layout = None if view_of else layout_to_keep(self, other)
        result = _cast_into(ufunc_binder(ufunc)((self, other), {}), self, ufunc)
        result = function_handler(np.copy)(result) if self._shape == () else result  # a 0-d array, not a scalar
        _stand_for(self, result, UpdatedTraced)
        if view_of:
            _write_through(view_of, result)
        elif layout is not None and type(result) is Traced:
            keep_layout(result, layout)
        if self._views:  # views of this array: NumPy would show them the change
            _retire_views(self._views)
        return result

    def _holds_a_numpy_scalar(self) -> bool:
        """Whether NumPy would have made this 0-d value a scalar (``np.float64``: a full reduction,
        an element ``x[i, j]``, a ufunc of scalars), not a 0-d array (an input, a copy, a view)."""
        if self._value is not None or self._view_of:
            value = self._value
            while isinstance(value, LeveledValue):  # forward over reverse: the duals' values
                value = getattr(value, "primal", None)
            return isinstance(value, np.generic) and not self._view_of
        return True if self._expr is None else type(self._expr.prim.fn) is np.ufunc  # (None: a fused reduction)

    def __iadd__(self, other): return self._inplace(np.add, other)
    def __isub__(self, other): return self._inplace(np.subtract, other)
    def __imul__(self, other): return self._inplace(np.multiply, other)
    def __itruediv__(self, other): return self._inplace(np.true_divide, other)
    def __ipow__(self, other): return self._inplace(np.power, other)
    def __imatmul__(self, other): return self._inplace(np.matmul, other)
    def __imod__(self, other): return self._inplace(np.remainder, other)
    def __ifloordiv__(self, other): return self._inplace(np.floor_divide, other)


def _in_place_method(name: str, instead: str):
    def method(self, *args, **kwargs):
        raise error_with_location(
            InPlaceMutationError,
            f"x.{name}() changes a differentiated array in place{{where}}; mixedad cannot follow that. "
            f"Use {instead} and keep its result.", skip=1)
    method.__name__ = name
    return method


for _name, _instead in (("sort", "np.sort(x)"), ("partition", "np.partition(x, kth)"), ("fill", "np.full_like(x, value)"),
                        ("put", "np.where or np.concatenate to build a new array"),
                        ("resize", "np.resize(x, shape) or x.reshape(shape)")):
    setattr(Traced, _name, _in_place_method(_name, _instead))
refuse_missing_ndarray_attributes(Traced, "traced values")


class RetiredTraced(RefusesIntegralConversion):
    """What a view becomes after an update (an assignment or an in-place operator) changed the
    array it views. Every use raises, naming the update: each operator and
    protocol of an ndarray is listed, as Python looks them up on the class, not through __getattr__."""

    __slots__ = Traced.__slots__

    def _fail(self, *args, **kwargs):
        raise retired_value_error(skip=3, replaced_at=self._replaced_at)

    def __getattr__(self, name):
        self._fail()

    _replaced_at = property(lambda self: self._successor)  # the update's line (_retire: a slot only updates use)
    __array_ufunc__ = __array_function__ = __array__ = __format__ = __buffer__ = __reduce_ex__ = _fail
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _fail
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __divmod__ = __rdivmod__ = __pos__ = __abs__ = _fail
    __pow__ = __rpow__ = __matmul__ = __rmatmul__ = __neg__ = __invert__ = __getitem__ = __len__ = _fail
    __and__ = __rand__ = __or__ = __ror__ = __xor__ = __rxor__ = __lshift__ = __rlshift__ = _fail
    __rshift__ = __rrshift__ = __int__ = __complex__ = __index__ = __round__ = __contains__ = __delitem__ = _fail
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = __float__ = __bool__ = __iter__ = __hash__ = _fail
    __iadd__ = __isub__ = __imul__ = __itruediv__ = __ifloordiv__ = __imod__ = __ipow__ = __imatmul__ = _fail
    __iand__ = __ior__ = __ixor__ = __ilshift__ = __irshift__ = __setitem__ = __copy__ = __deepcopy__ = _fail
    shape = dtype = strides = real = imag = flat = property(_fail, _fail)  # (setting one too: x.shape = ...)

    def __repr__(self) -> str:
        return "<mixedad traced value retired by an in-place operator>"


def _stand_for(value: Traced, updated: Traced, updated_class: type) -> None:
    """``value`` stands for ``updated``, as NumPy's array holds the new values for every name bound to
    it (the engine still reads the old value). A function: a view's update may have retired it."""
    value._successor = updated
    if value._trace.program is not None:  # a prepared program replays the steps that read it
        value._trace.retired.append((value, Traced))
    value.__class__ = updated_class


def _retire(value: Traced, replaced_at: tuple | None) -> None:
    value._trace.retired.append((value, type(value)))
    value._successor = replaced_at  # (the user's line of the update: what an error for using it names)
    value.__class__ = RetiredTraced


def _check_out(out, function) -> None:
    """Refuse an ``out=`` that cannot take a derivative-carrying result (a plain NumPy array)."""
    if out is not None and not isinstance(out, _DIFFERENTIATED):
        raise _out_error(function, out, skip=3)


def _into(out, result):
    """``result``, assigned into ``out`` and returned as it (NumPy's ``out=``) if given."""
    if out is None:
        return result
    out[...] = result
    return out


def _call_into(ufunc, inputs, kwargs, out, where):
    """``ufunc(*inputs, out=out, where=where)`` with ``out`` differentiated arrays (made like
    ``np.zeros_like(x)``): the update ``out[...] = np.where(where, result, out)``, which is
    what NumPy writes; ``out`` itself is returned, as NumPy does. The common safe division
    ``np.divide(a, b, out=np.zeros_like(b), where=b != 0)`` is one."""
    outs = out if isinstance(out, tuple) else (out,)
    if where is not True and type(where) in (bool, np.bool_, np.ndarray) and np.ndim(where) == 0 and where:
        where = True  # np.True_, np.array(True): every entry, as without where=
    if out is None and where is True:
        return ufunc_binder(ufunc)(inputs, kwargs)
    if out is None:
        raise error_with_location(
            UnsupportedOptionError,
            f"{ufunc.__name__} with where= and no out={{where}} leaves the entries where `where` is False "
            "uninitialized (NumPy gives whatever the memory held), so they have no derivative.",
            advice=f" Pass out= an array to keep there, made from a differentiated value "
                   f"(np.{ufunc.__name__}(..., out=np.zeros_like(x), where=mask)), or write "
                   f"np.where(mask, np.{ufunc.__name__}(...), fallback).", skip=2)
    if len(outs) != ufunc.nout or not all(isinstance(o, _DIFFERENTIATED) for o in outs):
        raise _out_error(ufunc, out, skip=3)
    if where is True:
        results = ufunc_binder(ufunc)(inputs, kwargs)
    else:
        with np.errstate(all="ignore"):  # NumPy computes nothing where `where` is False: no warning from there
            results = ufunc_binder(ufunc)(inputs, kwargs)
    for target, result in zip(outs, results if ufunc.nout > 1 else (results,)):
        target[...] = result if where is True else function_handler(np.where)(where, result, target)
    return outs if ufunc.nout > 1 else outs[0]


_DIFFERENTIATED = (Traced, LeveledValue)  # arrays that can take a derivative-carrying result: reverse or forward


def function_into(func, args, kwargs):
    """``func(*args, **kwargs)`` with ``out=`` a differentiated array: the result assigned into
    it (``out[...] = result``; a plain NumPy array cannot hold a derivative)."""
    kwargs = dict(kwargs)
    out = kwargs.pop("out")
    _check_out(out, func)
    return _into(out, func(*args, **kwargs))


def _out_error(function, out=None, skip=2):
    from .dispatch import numpy_name
    outs = out if isinstance(out, tuple) else (out,)
    plain = "" if not any(type(o) is np.ndarray for o in outs) else (
        " The array written into is a plain NumPy array (as in a -= v or a[1:] += v with a NumPy "
        "array a), which cannot hold a derivative. " + FILL_AN_ARRAY)
    into = (" out= accepts an array made from a differentiated one, out=np.zeros_like(x)"
            + (", also with where=." if isinstance(function, np.ufunc) else "."))
    return error_with_location(
        InPlaceMutationError,
        f"{numpy_name(function)} with out= on a traced value{{where}} would write a derivative-"
        "carrying result into an array in place. Assign the result instead: y = f(x)." + into + plain,
        skip=skip,
    )


def _getitem(array, key):
    """Stands for ``array[key]`` in the dispatch tables (NumPy has no function for it)."""
    return array[key]


def _astype(array, dtype):
    """Stands for ``array.astype(dtype)`` in the dispatch tables."""
    return array.astype(dtype)


def _index_update(array, key, value):
    """Stands for ``array[key] = value`` as a function: ``array``'s values with the assignment
    made, in a new array (``Traced.__setitem__`` makes ``array`` stand for it)."""
    raise TypeError("_index_update is a dispatch key, applied only to traced values")


def _ufunc_at(ufunc, array, indices, values=None):
    """Stands for ``ufunc.at(array, indices, values)`` in the dispatch tables."""
    raise TypeError("_ufunc_at is a dispatch key, applied only to traced values")


def _flatten(array, order="C"):
    """Stands for ``array.flatten(order)`` in the dispatch tables: a copy, never a view."""
    return array.flatten(order)


def _ufunc_method_of(ufunc, method, array, *rest, **kwargs):
    """Stands for ``ufunc.reduce / accumulate / reduceat(array, *rest, **kwargs)`` in the dispatch tables."""
    raise TypeError("_ufunc_method_of is a dispatch key, applied only to traced values")


def _ufunc_method(ufunc, method, inputs, kwargs):
    if method == "at":
        return function_handler(_ufunc_at)(ufunc, *inputs)
    out = (kwargs.pop("out", None) or (None,))[0]  # NumPy passes a tuple of outputs
    if method in ("reduce", "accumulate", "reduceat"):  # out=: the result assigned into it, as np.sum(out=)
        _check_out(out, ufunc)
        return _into(out, function_handler(_ufunc_method_of)(ufunc, method, *inputs, **kwargs))
    if out is not None:
        raise _out_error(ufunc)
    if method == "outer":
        a, b = inputs
        a_shape, b_shape = np.shape(a), np.shape(b)
        reshape = function_handler(np.reshape) if isinstance(a, Traced) else np.reshape
        a_expanded = reshape(a, a_shape + (1,) * len(b_shape))
        return ufunc_handler(ufunc)(a_expanded, b, **kwargs)
    raise unsupported(ufunc, f".{method}")
