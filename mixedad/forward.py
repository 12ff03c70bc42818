"""Forward mode: dual numbers that carry tangents through ordinary NumPy code.

A :class:`ForwardDual` is an array-like value made of a *primal* (an ndarray, or a value
of an older differentiation level: a traced value of ``mixedad.gradient``, or another
dual), a *tangent* of the primal's shape (or ``chunk`` tangents stacked on a leading axis,
ForwardDiff-style, for Jacobian columns) and a *level*: the forward differentiation it
belongs to. NumPy calls on duals dispatch through the same tables as the reverse engine
(``mixedad.core.dispatch``): a composite handler is simply called again on the duals, a
non-differentiable one gives a plain result, and a :class:`~mixedad.Primitive` is applied
to the primals with its forward rule: ``sum_j partial_j * tangent_j`` from the partials
an elementwise primitive declares (the very partials of the dual regions), and for a
general primitive its linear, bilinear, written or derived rule (``core.linear``).

Levels keep nested derivatives apart. Every operation belongs to the newest level among
its arguments (levels and traces share one counter, ``core.arrays.LEVELS``); the values of
older levels are constants to it. A dual is also a raw value for the reverse engine, so a
gradient taken of duals carries their tangents through the reverse sweep: that is how
``hvp`` and ``hessian`` work (forward-over-reverse).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .core.arrays import (LEVELS, LeveledValue, RefusesIntegralConversion, all_finite, as_array,
                          ignore_floating_errors, in_layout_of, restore_floating_errors, zero_mask)
from .core.dispatch import complex_result, function_handler
from .core.conversions import stored_error
from .core.errors import (FILL_AN_ARRAY, InPlaceMutationError, InputError, MissingRuleError, MixedadError,
                          NonDifferentiableError, UnsupportedAttributeError, complex_result_error, converted_by_numpy,
                          describe_location, error_with_location, library_advice, numpy_function_entered, refuse_output,
                          stale_view_error, user_line, user_location)
from .core.linear import call, jvp_of, zeros_like
from .core.operands import foreign_array, in_loop_dtypes, plain_arrays
from .core.region import materialize, read_value
from .core.tape import multiply_cotangent
from .core.missing_attributes import refuse_missing_ndarray_attributes
from .core.traced import Traced, _index_update, function_into
from .core.updates import Rearranged, constant_like, split_views, view_of, view_value, views_at_any_depth


class EscapedDualError(MixedadError, ValueError):
    """A dual number outlived the forward differentiation it belongs to."""


class ForwardLevel:
    """One forward differentiation in progress (the *tag* of its duals)."""

    __slots__ = ("id", "active", "view_bases")

    def __init__(self):
        self.id = next(LEVELS)
        self.active = True
        self.view_bases: list[ForwardDual] = []  # duals that views were taken of (see finish)

    def finish(self) -> None:
        """End the differentiation: a dual that escapes now raises when used, and bases forget
        their views (a base and its views refer to each other: a cycle for the garbage collector)."""
        self.active = False
        for base in self.view_bases:
            base._views = None
        self.view_bases = []

    def __repr__(self) -> str:
        return f"<ForwardLevel {self.id}{'' if self.active else ' (finished)'}>"


def _shape(value: Any) -> tuple:
    return value.shape if hasattr(value, "shape") else np.shape(value)


class ForwardDual(LeveledValue, RefusesIntegralConversion):
    """A value with its tangent(s) at one forward level. Treat it as an ndarray."""

    # _view_of and _views: as for traced values (core.traced.Traced)
    __slots__ = ("primal", "tangent", "level", "chunk", "_level", "_view_of", "_views")
    __array_priority__ = 1000.0

    def __init__(self, primal: Any, tangent: Any, level: ForwardLevel, chunk: int | None = None):
        self.primal = primal
        self.tangent = tangent
        self.level = level
        self.chunk = chunk
        self._level = level.id
        self._view_of = False
        self._views = None

    # --- metadata -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.primal.shape

    @shape.setter
    def shape(self, new_shape):
        raise error_with_location(
            UnsupportedAttributeError, f"setting .shape = {new_shape!r} on a value carrying a tangent{{where}}: "
            "mixedad does not reshape in place. Assign a reshaped value instead: y = y.reshape(...).", skip=1)

    @property
    def dtype(self) -> np.dtype:
        return self.primal.dtype

    @property
    def ndim(self) -> int:
        return len(self.primal.shape)

    @property
    def size(self) -> int:
        return math.prod(self.primal.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self) -> str:
        chunk = f", chunk={self.chunk}" if self.chunk is not None else ""
        return f"ForwardDual({self.primal!r}, tangent={self.tangent!r}, level={self.level.id}{chunk})"

    # --- protocols --------------------------------------------------------------------------
    def __array_namespace__(self, *, api_version=None):  # array-API code: xp = x.__array_namespace__()
        return np

    def __array_function__(self, func, types, args, kwargs):
        if len(types) > 1 and any(getattr(kind, "handles_functions_first", False) for kind in types):
            return NotImplemented  # a complex value among the arguments: its table applies (rules.complex_values)
        if kwargs and kwargs.get("out") is not None:
            return function_into(func, args, kwargs)
        metadata = _METADATA.get(func)
        if metadata is not None:
            return metadata(*args, **kwargs)
        return function_handler(func)(*args, **kwargs)

    def __array__(self, dtype=None, copy=None):
        raise stored_error(1) or error_with_location(
            NonDifferentiableError,
            "np.asarray / np.array on a forward-mode dual (or storing it into a NumPy array, "
            "out[i] = value){where} would drop its tangent.",
            advice=converted_by_numpy(numpy_function_entered(2)) + " Keep it as it is (NumPy functions accept it), "
            f"or compute this outside the differentiated function. {FILL_AN_ARRAY}", skip=1, in_library=library_advice)

    def _conversion_error(self, what: str, advice: str = ""):
        return error_with_location(
            NonDifferentiableError,
            f"{what} on a forward-mode dual{{where}} would drop its tangent. Use NumPy functions "
            "on the array instead (np.sin, not math.sin; np.where, not if/else)." + advice, skip=2)

    def __bool__(self):
        return bool(self._plain("bool()"))

    def __format__(self, spec: str) -> str:
        if not spec:
            return str(self)
        value = self._plain("format()")
        return format(value[()] if np.ndim(value) == 0 else value, spec)

    def __setitem__(self, key, value):
        # A new dual with the assignment made takes this one's place; the arrays of this one stay
        # unchanged (other duals, and the seeds of a Jacobian's chunks, may share them).
        view_of = self._view_of
        if view_of is True:
            raise error_with_location(
                InPlaceMutationError,
                "Assignment x[...] = v{where} into a view of another forward-mode dual (made by "
                "np.split, np.einsum, broadcast_to, ...): NumPy would write through to that array; "
                "mixedad cannot follow that. Assign into the original array, or copy the view first "
                "(v = v.copy()).", skip=1)
        updated = function_handler(_index_update)(self, key, value)
        if type(updated) is not ForwardDual:  # a reverse-mode value of a newer level: it cannot live here
            raise error_with_location(
                InPlaceMutationError,
                "Assignment x[...] = v{where} of a value differentiated by an inner gradient into a "
                "forward-mode dual of an outer jvp: the dual cannot hold it. Build a new array "
                "instead (np.where, np.concatenate).", skip=1)
        if self._views:  # views taken before that NumPy would show the change: using them again raises
            kept, changed = split_views(self._views, self, key, np.shape(self.primal), ForwardDual)
            replaced_at = user_line(1) if changed else None
            for view in views_at_any_depth(changed, ForwardDual):
                view._views = replaced_at  # (a stale dual keeps no views: the slot keeps the update's line)
                view.__class__ = StaleDual
            self._views = kept or None
        self.primal, self.tangent, self.level, self.chunk, self._level = (
            in_layout_of(updated.primal, self.primal), updated.tangent, updated.level, updated.chunk, updated._level)
        if view_of:  # a view: NumPy writes through into the array it views
            base, view_key = view_of
            kept, self._views = self._views, None  # (the base's update leaves the views kept above alone)
            if type(view_key) is Rearranged:
                base[...] = view_key.inverse(self)
            else:
                base[view_key] = self
            self.__class__ = ForwardDual  # the base's update retired its views, this one included
            if type(base.primal) is np.ndarray and type(self.primal) is np.ndarray:
                self.primal = view_value(base.primal, view_key)  # NumPy's strides (a ravel of it may copy)
            self._views = kept
            base._views = [self]
            base.level.view_bases.append(base)

    # In-place operators change this dual, as NumPy changes the array: every alias of it sees
    # the new value (rebinding the name left ``z = y; y *= 2`` with the old value in z), and on
    # a view the change writes through into the array it views (row = x[0]; row += 1).
    def _inplace(self, result):
        if isinstance(self.primal, np.generic):  # a NumPy scalar is immutable: s += 1 rebinds s
            return result
        self[...] = result
        return self

    def copy(self, order="C"):  # a NumPy scalar's copy is an equal immutable scalar: itself (s += 1 rebinds s)
        return self if isinstance(self.primal, np.generic) else np.copy(self, order=order)

    def __iadd__(self, other): return self._inplace(self + other)
    def __isub__(self, other): return self._inplace(self - other)
    def __imul__(self, other): return self._inplace(self * other)
    def __itruediv__(self, other): return self._inplace(self / other)
    def __ipow__(self, other): return self._inplace(self ** other)
    def __imatmul__(self, other): return self._inplace(self @ other)
    def __imod__(self, other): return self._inplace(self % other)
    def __ifloordiv__(self, other): return self._inplace(self // other)

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        for index in range(self.shape[0]):
            yield self[index]

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self

    def __reduce_ex__(self, protocol):
        # an unpickled copy would carry a copy of the level: a constant to this one, its tangent lost
        raise error_with_location(
            NonDifferentiableError,
            "Pickling a forward-mode dual{where} (pickle.dumps, or sending it to another process) would "
            "drop its tangent. Compute with it in this process, or pickle a plain copy outside the "
            "differentiated function.", skip=1)

    # --- the engine's hooks (core.arrays.LeveledValue) ----------------------------------------
    def _apply(self, prim, args, kwargs):
        level = self.level
        if not level.active:
            raise error_with_location(
                EscapedDualError,
                "A forward-mode dual escaped from a jvp / jacobian / hvp that has finished and is "
                "used again{where}. Return plain results from the differentiated function.", skip=1)
        primals = list(args)
        tangents = [None] * len(args)
        for j, arg in enumerate(args):
            if type(arg) is ForwardDual and arg.level is level:
                primals[j] = arg.primal
                tangents[j] = arg.tangent
                if type(primals[j]) is Traced and primals[j]._expr is not None:
                    # an enclosing gradient's lazy value: computed here once. Left lazy, each
                    # later step's region (which the tangent's finiteness check evaluates)
                    # would compute the whole chain before it again: quadratic in its length
                    materialize(primals[j])
            elif (type(arg) is list or type(arg) is tuple) and prim.elementwise:
                primals[j] = np.array(arg)  # as NumPy makes it: the partials take arrays, not lists
            elif isinstance(arg, np.ndarray) and type(arg) is not np.ndarray or foreign_array(arg):
                return self._apply(prim, plain_arrays(args), kwargs)  # np.memmap, a pandas Series; np.ma raises
        for key, value in kwargs.items():
            if type(value) is ForwardDual and value.level is level:
                raise error_with_location(
                    InputError, f"{prim.name}: keyword argument {key!r} carries a tangent{{where}}; "
                    "keyword arguments are static, pass differentiable values positionally.", skip=1)
        if not prim.differentiable:
            return prim.fn(*[read_value(a, prim.name) for a in args], **kwargs)
        for j in prim.nondiff_argnums:
            if j < len(args) and tangents[j] is not None:
                raise error_with_location(
                    InputError, f"argument {j} of {prim.name} is declared non-differentiable but "
                    "received a value carrying a tangent{where}.", skip=1)
        out = call(prim, primals, kwargs)
        if type(out) is not np.ndarray or out.dtype.kind != "f":
            if not prim.multiple_outputs and getattr(out, "dtype", None) is not None and out.dtype.kind == "c":
                return complex_result(prim, args, kwargs)
            refuse_output(prim, out)  # a dict, None, a complex value: as the reverse mode refuses them
        chunk = self.chunk
        try:
            tangent = _tangent(prim, primals, tangents, out, kwargs, chunk)
        except MissingRuleError as error:
            _explain_missing_rule(prim, tangents)  # raises naming the user's line, if the rule is this one's
            _add_rule_note(error, prim)
            raise
        except MixedadError:
            raise
        except Exception as error:  # a rule failed: say which one, and where it was called (as the reverse sweep does)
            _add_rule_note(error, prim)
            raise
        if prim.multiple_outputs:
            tangent = tangent if tangent is not None else [None] * len(out)
            results = [wrap(o, t, level, chunk, prim.name) for o, t in zip(out, tangent)]
            if prim.returns_view:
                _mark_aliased(results, args, level)
            return type(out)(*results) if hasattr(type(out), "_fields") else type(out)(results)
        result = wrap(out, tangent, level, chunk, prim.name)
        dual_at = next((j for j, t in enumerate(tangents) if t is not None), 0)
        if prim.returns_view and prim.makes_view(kwargs, out, primals[dual_at]):
            base = args[dual_at] if type(args[dual_at]) is ForwardDual else None
            _mark_aliased((result,), args, level, view_of(prim, base, kwargs))
        return result

    def _plain(self, why: str):
        return read_value(self.primal, why)

    def _values(self):
        return self.primal

    def _map_linear(self, fn):
        primal_part = fn(self.primal)
        if self.chunk is None:
            return _recombine(primal_part, fn(self.tangent), self.level, None)
        parts = [fn(self.tangent[i]) for i in range(self.chunk)]
        return _recombine(primal_part, parts, self.level, self.chunk)

    def _all_finite(self) -> bool:
        return all_finite(self.primal) and all_finite(self.tangent)

    def _constant_like(self, array):
        tangent_shape = array.shape if self.chunk is None else (self.chunk,) + array.shape
        return ForwardDual(constant_like(self.primal, array), np.zeros(tangent_shape, array.dtype), self.level,
                           self.chunk)

    def _zero_mask(self):
        tangent_zero = self.tangent == 0
        if self.chunk is not None:
            tangent_zero = np.all(tangent_zero, axis=0)
        return zero_mask(self.primal) & tangent_zero


class StaleDual(ForwardDual):
    """A view taken of a dual before an assignment changed that dual: NumPy would show the change
    in it, mixedad cannot, so any use raises."""

    __slots__ = ()

    def __getattribute__(self, name):
        raise stale_view_error(skip=1, replaced_at=object.__getattribute__(self, "_views"))


def _tangent(prim, primals, tangents, out, kwargs, chunk):
    # partial formulas at singular points (1 / y at 0) and 0 * inf, which multiply_cotangent
    # resolves, and general rules pushing such tangents on (an inf tangent times a zero weight):
    # NumPy's warnings and errors are for the user's values, not for these
    token = ignore_floating_errors()
    try:
        return _elementwise_tangent(prim, primals, tangents, out, kwargs, chunk) if prim.elementwise else \
            _general_tangent(prim, primals, tangents, out, kwargs, chunk)
    finally:
        restore_floating_errors(token)


def _general_tangent(prim, primals, tangents, out, kwargs, chunk):
    if chunk is None:
        return jvp_of(prim, primals, tangents, out, kwargs)
    # a general rule takes one tangent: once per chunk member
    parts = [jvp_of(prim, primals, [None if t is None else t[i] for t in tangents], out, kwargs)
             for i in range(chunk)]
    return _stack(parts, out, prim.multiple_outputs)


def _explain_missing_rule(prim, tangents) -> None:
    """The forward-mode counterpart of ``core.errors.raise_missing_rule``: a rule this
    primitive lacks for an argument that carries a tangent, named with the user's line."""
    wanted = [j for j, t in enumerate(tangents) if t is not None]
    if prim.elementwise:
        specs = prim.partial_specs
        if specs is None and prim.tangent_rule is None:
            raise error_with_location(
                MissingRuleError, f"{prim.name} is an elementwise primitive without partial derivatives{{where}}: "
                f"give one per argument with @{prim.name}.defpartials (see docs/rules.md).", skip=2)
        for j in wanted if prim.tangent_rule is None else ():
            if j >= len(specs) or specs[j] is None:
                raise error_with_location(
                    MissingRuleError, f"{prim.name} has no partial derivative for argument {j}{{where}}, which "
                    f"carries a tangent; give one in @{prim.name}.defpartials (None marks an argument that is "
                    "never differentiated).", skip=2)
        return
    if prim.forward_rule is None:
        raise error_with_location(
            MissingRuleError, f"primitive {prim.name} has no forward rule (jvp){{where}}, and no reverse rule "
            f"(vjp) to derive one from; define one with @{prim.name}.defjvp or @{prim.name}.defvjp.", skip=2)
    if prim.forward_rule not in ("jvp", "transposed vjp") or prim.joint_jvp or (
            prim.jvp_rules is None and prim.joint_vjp):
        return
    rules = prim.jvp_rules if prim.jvp_rules is not None else prim.vjp_rules
    positions = prim.differentiable_positions(len(tangents))
    for k, j in enumerate(positions):
        if j in wanted and (k >= len(rules) or rules[k] is None):
            kind = ("forward rule (jvp)" if prim.jvp_rules is not None else
                    "reverse rule (vjp), from which its forward rule would be derived,")
            raise error_with_location(
                MissingRuleError, f"primitive {prim.name} has no {kind} for argument {j}{{where}}; "
                f"give one in @{prim.name}.{'defjvp' if prim.jvp_rules is not None else 'defvjp'}.", skip=2)


def _add_rule_note(error: Exception, prim) -> None:
    """Name the forward rule that failed and the user's line (once: the innermost rule)."""
    notes = getattr(error, "__notes__", ())
    if any(note.startswith("mixedad: in the forward rule") for note in notes):
        return
    note = f"mixedad: in the forward rule of {prim.name}{describe_location(user_location(2))}"
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:  # Python 3.10
        error.args = (f"{error} ({note})",) + error.args[1:]


def _mark_aliased(results, args, level, view_of=True) -> None:
    """The results are views of the duals of this level among ``args`` (see ``__setitem__``)."""
    views = [r for r in results if type(r) is ForwardDual]
    for view in views:
        view._view_of = view_of
    for arg in args:
        if type(arg) is ForwardDual and arg.level is level:
            if arg._views is None:
                arg._views = list(views)
                level.view_bases.append(arg)
            else:
                arg._views.extend(views)


def _borrow_array_methods():
    """The ndarray methods, properties and operators: the same dispatch as traced values."""
    names = ["__float__", "__int__", "__complex__", "__index__", "item", "tolist", "__hash__", "__buffer__",  # errors
             "as_integer_ratio",
             "__array_ufunc__", "__getitem__", "T", "mT", "real", "conj", "conjugate", "astype",
             "reshape", "transpose", "ravel", "flatten", "squeeze", "swapaxes", "sum", "mean", "prod",
             "max", "min", "var", "std", "cumsum", "cumprod", "dot", "clip", "repeat", "take", "argmax",
             "argmin", "argsort", "nonzero", "any", "all", "__add__", "__radd__", "__sub__", "__rsub__",
             "__mul__", "__rmul__", "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__",
             "__mod__", "__rmod__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__",
             "__pos__", "__abs__", "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__",
             "__divmod__", "__rdivmod__", "__round__", "round", "diagonal", "trace", "compress", "searchsorted",
             "argpartition", "imag", "itemsize", "nbytes", "__contains__",
             "sort", "partition", "fill", "put", "resize"]  # (in-place: they raise, saying what to use instead)
    for name in names:
        setattr(ForwardDual, name, Traced.__dict__[name])


_borrow_array_methods()
refuse_missing_ndarray_attributes(ForwardDual, "forward-mode duals")


def _size(a, axis=None):
    shape = _shape(a)
    if axis is None:
        return int(np.prod(shape, dtype=np.intp))
    axes = (axis,) if np.ndim(axis) == 0 else axis
    return int(np.prod([shape[ax] for ax in axes], dtype=np.intp))


def _result_type(*arrays_and_dtypes):
    return np.result_type(*[a.dtype if isinstance(a, (Traced, LeveledValue)) else a for a in arrays_and_dtypes])


# Answered from the dual's metadata: they never need its values (and the engine asks often).
_METADATA = {np.shape: _shape, np.ndim: lambda a: len(_shape(a)), np.size: _size, np.result_type: _result_type}


# --- tangents ---------------------------------------------------------------------------------
def _ndim(value: Any) -> int:
    return len(_shape(value))


def _align(tangent: Any, ndim: int):
    """A chunk of tangents (leading axis) given the output's number of axes, so that it
    broadcasts against partials like the value it belongs to."""
    shape = _shape(tangent)
    missing = ndim - (len(shape) - 1)
    return tangent if missing <= 0 else tangent.reshape(shape[:1] + (1,) * missing + shape[1:])


def _elementwise_tangent(prim, primals, tangents, out, kwargs, chunk):
    if chunk is not None:
        ndim = _ndim(out)
        tangents = [None if t is None else _align(t, ndim) for t in tangents]
    if prim.tangent_rule is not None:
        return prim.tangent_rule(tangents, out, *primals, **kwargs)
    if len({p.dtype for p in primals if isinstance(p, (np.ndarray, np.generic))}) > 1:
        primals = in_loop_dtypes(prim, primals, kwargs) or primals  # partials in the loop's precision
    total = None
    for j, t in enumerate(tangents):
        if t is not None:
            # a zero tangent stays zero against an infinite partial, as a zero cotangent does
            term = multiply_cotangent(t, prim.partial(j, primals, out, kwargs))
            total = term if total is None else total + term
    return total


def _stack(parts, out, multiple_outputs):
    if multiple_outputs:
        columns = [[None if p is None else p[k] for p in parts] for k in range(len(out))]
        return [_stack_one(column, o) for column, o in zip(columns, out)]
    return _stack_one(parts, out)


def _stack_one(parts, out):
    if all(p is None for p in parts):
        return None
    shape = _shape(out)
    return np.stack([zeros_like(out) if p is None else p if _shape(p) == shape else np.broadcast_to(p, shape)
                     for p in parts])


def _recombine(primal_part, tangent_part, level, chunk):
    """Components computed separately by a linear function, put back together as duals."""
    if isinstance(primal_part, (list, tuple)):
        if chunk is None:
            pieces = [_recombine(p, t, level, None) for p, t in zip(primal_part, tangent_part)]
        else:
            pieces = [_recombine(p, [t[k] for t in tangent_part], level, chunk) for k, p in enumerate(primal_part)]
        return type(primal_part)(pieces)
    if primal_part is None:
        return None
    tangent = tangent_part if chunk is None else np.stack(tangent_part)
    return ForwardDual(primal_part, tangent, level, chunk)


def wrap(out: Any, tangent: Any, level: ForwardLevel, chunk: int | None, operation: str = "") -> Any:
    """``out`` with ``tangent`` at ``level``: a dual of exactly ``out``'s shape and dtype, or
    ``out`` itself when the tangent is zero (None) or ``out`` is not floating point. A
    complex ``out`` with a tangent raises: the real rules would give a wrong one."""
    if tangent is None:
        return out
    if not hasattr(out, "dtype"):
        out = np.asarray(out)
    if out.dtype.kind != "f":
        if out.dtype.kind == "c":
            raise complex_result_error(operation)
        return out
    shape = out.shape if chunk is None else (chunk,) + out.shape
    if _shape(tangent) != shape:
        tangent = np.broadcast_to(tangent, shape)
    dtype = getattr(tangent, "dtype", None)
    if dtype is None or dtype != out.dtype:  # (None == float64 in NumPy: np.dtype(None) is float64)
        tangent = as_array(tangent).astype(out.dtype)
    return ForwardDual(out, tangent, level, chunk)


def seed(value: Any, tangent: Any, level: ForwardLevel, chunk: int | None = None) -> ForwardDual:
    """An input of a forward pass: ``value`` with ``tangent`` (cast to its dtype)."""
    return wrap(value, tangent, level, chunk) if tangent is not None else ForwardDual(
        value, np.zeros(((chunk,) if chunk else ()) + _shape(value), value.dtype), level, chunk)


def split(value: Any, level: ForwardLevel, chunk: int | None = None) -> tuple[Any, Any]:
    """``(primal, tangent)`` of an output leaf at ``level``; a zero tangent if it has none."""
    if type(value) is ForwardDual and value.level is level:
        primal, tangent = value.primal, value.tangent
        kind = getattr(tangent, "dtype", np.dtype(object)).kind
        if kind != "f" and kind != "c" and getattr(primal, "dtype", None) is not None and primal.dtype.kind == "f":
            # a structural zero (0 * x, False * x: an int or bool partial): in the output's dtype
            tangent = np.broadcast_to(tangent, ((chunk,) if chunk else ()) + _shape(primal)).astype(primal.dtype)
        return primal, tangent
    if not hasattr(value, "dtype"):
        value = np.asarray(value)
    dtype = value.dtype if value.dtype.kind == "f" else np.dtype(np.float64)
    return value, np.zeros(((chunk,) if chunk else ()) + _shape(value), dtype)
