"""Primitives: operations mixedad treats as opaque, with rules attached by their authors.

This is the rule author's API (``mixedad.primitive``), and the built-in tables use it too. A primitive
is either *elementwise* (its partial derivatives, written once, give the reverse rule, the forward
rule and membership of dual regions) or general (``defvjp`` and/or ``defjvp``).
"""
from __future__ import annotations

from functools import partial
import time
from typing import Any, Callable, Sequence

import numpy as np

from .arrays import (ARRAY_TYPES, LeveledValue, arrays_by_position, is_basic_index, options_by_name, shape_stand_in,
                     stand_in)
from .dispatch import ELEMENTWISE_ON_DUALS, complex_result
from .errors import (MissingRuleError, MixedadError, check_declaration, check_partial_signatures, check_rule_count,
                     error_with_location, partial_signature_error, raise_missing_rule, refuse_output, user_location)
from .linear import call, forward_rule_kind
from .modes import Decision, Mode, Reason
from .pullbacks import (active_rules, fill_missing_cotangents, make_vjp, read_only_first_argument, record_step,
                        rule_layout, single_pullback)
from .recording import record_general
from .compiled import forget_compiled_regions
from .expressions import partial_kind
from .partials import guarded, reads_parameter, takes_args, takes_out, unguarded
from .fused import reduce_region
from .operands import (foreign_array, holds_mutable, live_arrays, plain_arrays, refuse_traced_inside,
                       refuse_traced_keywords, snapshot)
from .recomputed import Recomputed, recompute, recording_trace
from .region import (apply_before_region, extend_region, grow_chain, piecewise_constant, primal,
                     read_value, tape_elementwise)
from .guards import borrow
from .tape import TapeEntry, UnaryEntry, record
from .traced import Traced
from .updates import UpdatedTraced, currents, view_of

_UNKNOWN = object()
_REVERSE_ON_TAPE = Decision(Mode.REVERSE, Reason.NOT_ELEMENTWISE)
_REVERSE_REQUESTED = Decision(Mode.REVERSE, Reason.REQUESTED_REVERSE)


class MixedTracesError(MixedadError, ValueError):
    """Values from two differentiations met in one operation."""


def find_trace(args: Sequence[Any]):
    """The trace an operation on ``args`` belongs to; None if none, or if a value of a newer
    level (a forward dual, ``core.arrays``) is among them: that level applies the op."""
    trace = None
    newer = None
    for arg in args:
        if type(arg) is Traced:
            arg_trace = arg._trace
            if trace is None:
                trace = arg_trace
            elif arg_trace is not trace:
                if arg_trace.active and trace.active:
                    raise _mixed_trace_error(trace, arg_trace)
                trace = trace if not trace.active else arg_trace
                break
        elif isinstance(arg, LeveledValue) and (newer is None or arg._level > newer._level):
            newer = arg
        elif type(arg) is UpdatedTraced:
            raise _UpdatedArgument
    if trace is not None and not trace.active:
        raise error_with_location(
            MixedTracesError,
            "A traced value escaped from a differentiation that has finished and is used again{where}: kept in "
            "a cache, an attribute or a global, it stands for that differentiation's values only. Keep plain "
            "arrays there (a buffer made with np.zeros(x.shape), not np.zeros_like(x) of a traced x), and "
            "return results with has_aux.", skip=2)
    if newer is not None and (trace is None or newer._level > trace.id):
        return None
    return trace


def _untraced(prim, args, kwargs):
    """Apply ``prim`` where no trace owns the operation: a newer level's value, if any, does (or
    a per-element scalar dual, ``dispatch.ELEMENTWISE_ON_DUALS``)."""
    newest = None
    for arg in args:
        if isinstance(arg, LeveledValue) and (newest is None or arg._level > newest._level):
            newest = arg
        elif type(arg) in ELEMENTWISE_ON_DUALS:
            return ELEMENTWISE_ON_DUALS[type(arg)](prim, args, kwargs)
    return prim.fn(*args, **kwargs) if newest is None else newest._apply(prim, args, kwargs)


def _value_through_rules(prim, *args, **kwargs):
    """``prim.value_fn`` of a primitive with a Python body: the body on plain values, else the primitive."""
    return call(prim, args, kwargs)


def _mixed_trace_error(first, second):
    error = error_with_location(
        MixedTracesError,
        "Values from two different differentiations meet in one operation{where}. A reverse-mode vjp or "
        "jacobian nested in another over the same values is not supported by this version; use "
        "mixedad.hessian / mixedad.hvp, or mixedad.gradient, which retries such a nested gradient in "
        "forward mode.", skip=3)
    error.traces_met = True  # both are running: one differentiation is nested in the other
    error.traces = (first, second)  # (mixedad.map's probe learns from it which differentiation f closes over)
    return error


def _same_dtype_loops(fn) -> str:
    if not isinstance(fn, np.ufunc):
        return "efdg"
    return "".join(c for c in "efdg" if c * fn.nin + "->" + c * fn.nout in fn.types)


class Primitive:
    """An operation with one tape entry (or one node of a dual region, if elementwise).

    Create with :func:`mixedad.primitive`; attach rules with :meth:`defvjp`,
    :meth:`defjvp` or, for elementwise primitives, :meth:`defpartials`.

    >>> import numpy as np, mixedad
    >>> @mixedad.primitive
    ... def logsumexp(x):
    ...     m = np.max(x)
    ...     return m + np.log(np.sum(np.exp(x - m)))
    >>> @logsumexp.defvjp
    ... def logsumexp_vjp(g, out, x):
    ...     return g * np.exp(x - out)
    >>> float(mixedad.gradient(logsumexp, np.zeros(2))[0])
    0.5
    """

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None, elementwise: bool = False,
                 nondiff_argnums: Sequence[int] = (), multiple_outputs: bool = False):
        self.fn = fn
        # What regions call for an op's value. On another level's values (hessian's forward duals)
        # the primitive applies, so that its rules give the derivative: its NumPy body run on the
        # duals would differentiate that body instead, wrong at the body's own kinks (sigmoid's
        # np.abs(x) at 0) and deaf to declared partials (relu's 0 at 0). A ufunc dispatches by itself.
        self.value_fn = fn if isinstance(fn, np.ufunc) else partial(_value_through_rules, self)
        self.name = name or getattr(fn, "__name__", repr(fn))
        self.elementwise = elementwise
        # ``self(*args, **kwargs)`` for callers that hold the arguments already packed
        self.bind_arguments = partial(bind_elementwise if elementwise else bind, self)
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.multiple_outputs = multiple_outputs
        self.differentiable = True
        self.vjp_rules: tuple | None = None  # per differentiable argument, or (joint,) with joint_vjp
        self.reverse_reads_out = True  # whether a vjp rule reads the output (defvjp)
        self.layouts: dict[int, tuple] = {}  # per argument count: positions and rule per position
        # For a call with one traced argument (``bind``'s common case): (pullback function, rule), as
        # ``pullbacks.make_vjp`` would build the reverse rule; None where that needs make_vjp itself.
        self.single_pullback: tuple | None = _UNKNOWN
        self.joint_vjp = False
        self.jvp_rules: tuple | None = None
        self.joint_jvp = False
        self.linear = False  # deflinear: the forward rule is the primitive applied to the tangents
        self.bilinear = False  # defbilinear: linear in each differentiable argument separately
        self.partial_specs: tuple | None = None
        self.partial_gaps: tuple = ()  # positions whose partial is None (never differentiated)
        self.partial_takes_out: tuple = ()
        self.partial_takes_args: tuple = ()
        self.partial_kinds: tuple | None = None  # per argument: how the evaluator calls it (core.expressions)
        self.tangent_rule: Callable | None = None  # elementwise: custom tangent propagation
        # the arguments the tangent rule reads (None: all, and the output), as partials' (arguments_read)
        self.tangent_reads: tuple | None = None
        # (number of operands, names of the options after them): options passed by position are
        # passed on by name, as a derived primitive's partials take them (symbolic.derive_partials)
        self.positional_options: tuple | None = None
        self.fuses_regions = False  # linear with a shape-only VJP: may consume a dual region
        self.unbounded_partials = False  # elementwise: a partial may return NaN itself (regions then always check)
        self.positional_names: tuple = ()  # of the NumPy function it stands for (rules.table.reverse_rule)
        # max-like (max pooling): applied before an increasing elementwise chain (region.apply_before_region)
        self.commutes_with_increasing = False
        # elementwise, one argument: nondecreasing, and flat only where its derivative is 0
        self.increasing = False
        self.out_meta: Callable | None = None
        self.domain = None  # input domain for table-driven tests
        self.symbolic = None  # sympy derivation details, when derived by mixedad.symbolic
        # NumPy returns a view (reshape, transpose, basic indexing): True, or a function of the
        # static arguments and the result that says whether this call did
        self.returns_view = False
        # For a view primitive that can be undone (reshape): ``view_inverse(view, kwargs,
        # base_shape)`` maps new view values back to the argument's shape; an in-place update of
        # such a view then writes through (``core.updates._write_through``)
        self.view_inverse: Callable[[Any, dict, tuple], Any] | None = None
        # False for a linear primitive whose reverse rule reads only the shapes and dtypes of its
        # differentiable arguments and result: the tape then keeps zero-memory stand-ins
        self.reverse_reads_values = True
        # For a primitive that selects elements of its first argument (indexing): the index,
        # from the call's keyword arguments. The backward sweep then adds cotangents into the
        # argument's buffer in place instead of calling the reverse rule.
        self.selection_key: Callable[[dict], Any] | None = None
        self.pass_kwargs_to_partials = not isinstance(fn, np.ufunc)
        # dtype characters d for which the op maps d inputs to a d output (NEP 50: Python
        # scalars do not promote), so a region's dtype needs no resolution
        self.same_dtype_loops = _same_dtype_loops(fn)
        # what names a function (activation tables, logging, functools.wraps): the wrapped one's
        self.__name__ = getattr(fn, "__name__", self.name)
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)
        self.__module__ = getattr(fn, "__module__", None) or type(self).__module__
        try:
            self.__doc__ = fn.__doc__
            self.__wrapped__ = fn
        except AttributeError:
            pass

    def __repr__(self) -> str:
        kind = "elementwise primitive" if self.elementwise else "primitive"
        return f"<mixedad {kind} {self.name}>"

    # --- rules ----------------------------------------------------------------------------
    def defvjp(self, *rules: Callable | None):
        """Attach reverse rules: one per differentiable argument, or one returning a tuple.

        Each rule is called as ``rule(g, out, *args, **kwargs)`` with the output cotangent
        ``g``; it returns the cotangent of its argument (anything broadcastable to the
        argument's shape: mixedad unbroadcasts). ``None`` marks an argument without a rule.
        Used as a decorator with a single function, it returns that function.

        >>> import numpy as np, mixedad
        >>> cube = mixedad.primitive(lambda x: x ** 3, name="cube")
        >>> _ = cube.defvjp(lambda g, out, x: g * 3 * x ** 2)
        >>> mixedad.gradient(lambda x: np.sum(cube(x)), np.array([1.0, 2.0]))
        array([ 3., 12.])
        """
        check_rule_count(self, rules, "defvjp")
        self.vjp_rules = tuple(read_only_first_argument(rule, "cotangent g", self, k) for k, rule in enumerate(rules))
        self.joint_vjp = len(rules) == 1
        # a rule that never reads the output (matmul's): the tape keeps a stand-in, not the array
        self.reverse_reads_out = any(reads_parameter(rule, 1) for rule in rules if rule is not None)
        self._forget_layouts()
        return rules[0] if len(rules) == 1 else self

    def defjvp(self, *rules: Callable | None):
        """Attach forward rules: ``rule(tangent, out, *args, **kwargs)`` per argument (summed),
        or a single ``rule(tangents, out, *args, **kwargs)`` taking a tuple of tangents.

        >>> import numpy as np, mixedad
        >>> cube = mixedad.primitive(lambda x: x ** 3, name="cube")
        >>> _ = cube.defjvp(lambda t, out, x: 3 * x ** 2 * t)
        >>> float(mixedad.jvp(cube, (np.array(2.0),), (np.array(1.0),))[1])
        12.0
        """
        check_rule_count(self, rules, "defjvp")
        self.jvp_rules = tuple(read_only_first_argument(rule, "tangent") for rule in rules)
        self.joint_jvp = len(rules) == 1
        self._forget_layouts()  # a reverse rule can now be derived from it
        return rules[0] if len(rules) == 1 else self

    def deflinear(self):
        """Declare the primitive linear in its differentiable arguments (jointly): its forward
        rule is the primitive itself applied to the tangents, static arguments unchanged
        (reshape, sum, indexing, concatenate). Without ``defvjp``, the reverse rule is derived
        by transposing the function's body with mixedad's reverse mode. A linear primitive's
        reverse rule must read only shapes and static arguments (never values): it may then
        write into new arrays in place, since a dual cotangent reaches it component by component.

        >>> import numpy as np, mixedad
        >>> double = mixedad.primitive(lambda x: 2 * x, name="double").deflinear()
        >>> mixedad.gradient(lambda x: np.sum(double(x)), np.zeros(2))
        array([2., 2.])
        """
        self.linear = True
        self._forget_layouts()
        return self

    def defbilinear(self):
        """Declare the primitive linear in each differentiable argument separately (matmul,
        dot, einsum: products): its forward rule is ``sum_j fn(args with argument j replaced
        by its tangent)``. Without ``defvjp``, the reverse rule is that rule transposed.

        >>> import numpy as np, mixedad
        >>> times = mixedad.primitive(lambda a, b: a * b, name="times").defbilinear()
        >>> mixedad.gradient(lambda a: np.sum(times(a, np.array([3.0, 4.0]))), np.ones(2))
        array([3., 4.])
        """
        self.bilinear = True
        self._forget_layouts()
        return self

    def _forget_layouts(self) -> None:
        self.layouts = {}
        self.single_pullback = _UNKNOWN

    @property
    def forward_rule(self) -> str | None:
        """How forward mode differentiates this primitive: ``"elementwise"``, ``"linear"``,
        ``"bilinear"``, ``"jvp"``, ``"transposed vjp"`` (derived), or None (no rule)."""
        return forward_rule_kind(self)

    def defpartials(self, *partials: Callable | float | None):
        """Elementwise primitives: the partial derivative with respect to each argument.

        A partial is a number (a constant derivative) or a function of the arguments; a
        function with a final parameter named ``out`` also receives the output, e.g.
        ``lambda x, out: 1 - out * out`` for tanh. Used as a decorator with one function,
        it returns that function.

        >>> import numpy as np, mixedad
        >>> tanh = mixedad.primitive(np.tanh, elementwise=True, name="tanh")
        >>> _ = tanh.defpartials(lambda x, out: 1 - out * out)
        >>> mixedad.gradient(lambda x: np.sum(tanh(x)), np.zeros(2))
        array([1., 1.])
        """
        if not self.elementwise:
            raise MixedadError(f"defpartials is for elementwise primitives; {self.name} is not one "
                               "(create it with mixedad.primitive(elementwise=True)).")
        check_partial_signatures(self, partials)
        self.partial_specs = tuple(guarded(p) for p in partials)
        self.partial_gaps = tuple(j for j, p in enumerate(partials) if p is None)
        self.partial_takes_out = tuple(callable(p) and takes_out(p) for p in partials)
        self.partial_takes_args = tuple(callable(p) and takes_args(p) for p in partials)
        self.partial_kinds = tuple(partial_kind(p, with_out) for p, with_out in zip(self.partial_specs,
                                                                                 self.partial_takes_out))
        forget_compiled_regions()  # code generated for the old partials must not run again
        return partials[0] if len(partials) == 1 else self

    def partial(self, position: int, arg_values, out, kwargs):
        """The partial derivative with respect to argument ``position`` at these values."""
        specs = self.partial_specs
        if specs is None:
            raise MissingRuleError(f"elementwise primitive {self.name} has no partials; add them "
                                   f"with @{self.name}.defpartials")
        spec = specs[position] if position < len(specs) else None
        if spec is None:
            raise MissingRuleError(f"{self.name} has no partial derivative for argument {position}")
        if not callable(spec):
            return spec
        extra = kwargs if self.pass_kwargs_to_partials else {}
        try:
            if self.partial_takes_out[position]:
                return spec(*arg_values, out=out, **extra)
            return spec(*arg_values, **extra)
        except TypeError as error:  # called with the wrong arguments: name the rule (else an error of its own)
            raise partial_signature_error(self, position, unguarded(spec), len(arg_values), extra) or error

    # --- application ------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if self.elementwise:
            if self.positional_options is not None and len(args) > self.positional_options[0]:
                args, kwargs = options_by_name(self.positional_options, args, kwargs)
            return bind_elementwise(self, args, kwargs)
        if kwargs and self.positional_names:  # an array passed by its NumPy name: np.sort(a=x)
            args, kwargs = arrays_by_position(self.positional_names, args, kwargs)
        return bind(self, args, kwargs)

    def makes_view(self, kwargs, out, source) -> bool:
        """Whether NumPy's result ``out`` is a view of the argument's value ``source``, for an op
        that may return one (``returns_view``): never a NumPy scalar, which is immutable, nor
        where NumPy copied (the ravel of a scalar, ``ravel(order="F")`` of a C-ordered array)."""
        returns_view = self.returns_view
        if not (returns_view is True or bool(returns_view) and returns_view(kwargs, out)):
            return False
        while isinstance(out, LeveledValue) and isinstance(source, LeveledValue):  # forward duals: their values
            out, source = out.primal, source.primal
        if type(out) is Traced and type(source) is Traced:  # values of an outer differentiation: it knows
            return bool(out._view_of) and (out._view_of is True or out._view_of[0] is source)
        if type(out) is not np.ndarray or out.base is None:
            return False
        if type(source) is not np.ndarray:  # np.broadcast_to of a scalar: read-only, a write raises as NumPy's
            return isinstance(source, np.generic) and not out.flags.writeable
        # NumPy gives a view of a view the same base: the usual cases without a bounds check
        return out.base is source or out.base is source.base or np.may_share_memory(out, source)

    def differentiable_positions(self, n_args: int) -> list[int]:
        return [j for j in range(n_args) if j not in self.nondiff_argnums]


class _UpdatedArgument(Exception):
    """An argument is a value that an assignment updated, reached past NumPy's dispatch (the
    operand of a method): the operation restarts on what it stands for."""


def bind_elementwise(prim: Primitive, args, kwargs):
    if not kwargs and prim.differentiable:
        grown = grow_chain(prim, args)
        if grown is not None:
            return grown
    elif kwargs:
        refuse_traced_keywords(prim, kwargs)  # options are constants: a traced one would be taken as one
    try:
        trace = find_trace(args)
    except _UpdatedArgument:
        return bind_elementwise(prim, currents(args), kwargs)
    if trace is None:
        return _untraced(prim, args, kwargs)
    if not prim.differentiable or (kwargs and piecewise_constant(prim, args, kwargs)):
        if trace.program is not None and not kwargs and recording_trace(args, kwargs) is trace:
            return recompute(trace, prim.fn, args, kwargs)  # a prepared recording's mask: a step recomputes it
        return prim.fn(*[read_value(a, prim.name) for a in args], **kwargs)
    if trace.requested == "reverse":
        return tape_elementwise(trace, prim, args, kwargs, _REVERSE_REQUESTED)
    return extend_region(trace, prim, args, kwargs)


# Keyword values that ``bind`` keeps as they are: numbers, strings, slices, dtypes, None.
_ATOMS = frozenset({int, float, bool, str, slice, type(None), type(Ellipsis), type, np.dtype})


def bind(prim: Primitive, args, kwargs, atoms_only: bool = False):
    """Apply a general primitive: compute on NumPy values, record one tape entry.

    The common case (a reshape, a sum, an index in a loop) is handled here with only the checks
    it needs: one traced argument with a value, of a trace that neither records a program nor
    profiles, and keyword arguments that the rules need not snapshot; everything else goes to
    ``_bind_general``. The per-operation cost of the tape is paid here. ``atoms_only``: the
    caller has checked that every keyword value is an atom (``_ATOMS``, or a tuple of them)."""
    if len(args) != 1 or type(args[0]) is not Traced:
        return _bind_general(prim, args, kwargs)
    only = args[0]
    trace = only._trace
    value = only._value
    if (value is None or trace.program is not None or trace.instrumented or not trace.active
            or prim.multiple_outputs or (only._expr is not None and (prim.fuses_regions
                                                                     or prim.commutes_with_increasing))
            or (type(value) is not np.ndarray and isinstance(value, LeveledValue))):
        return _bind_general(prim, args, kwargs)
    if not atoms_only:
        for item in kwargs.values():
            kind = type(item)
            if kind is tuple:
                for part in item:
                    if type(part) not in _ATOMS:
                        return _bind_general(prim, args, kwargs)
            elif kind not in _ATOMS:
                return _bind_general(prim, args, kwargs)
    single = prim.single_pullback  # (not None: the argument has a reverse rule)
    if single is _UNKNOWN:
        single = prim.single_pullback = single_pullback(prim, *rule_layout(prim, 1))
    if single is None and 0 not in rule_layout(prim, 1)[1]:
        return _bind_general(prim, args, kwargs)  # it raises, naming what is missing
    out = prim.fn(value, **kwargs)
    if type(out) is not np.ndarray and not isinstance(out, np.generic):
        out = np.asarray(out)
    shape, dtype = out.shape, out.dtype  # (read once: the entry, its stand-ins and the result use them)
    if dtype.kind != "f":
        if dtype.kind in "cO":
            return complex_result(prim, args, kwargs, out)
        return out
    decision = _REVERSE_REQUESTED if trace.requested == "reverse" else _REVERSE_ON_TAPE
    parent = (only._entry, only._slot, only._shape, only._dtype)
    if single is not None:
        if prim.reverse_reads_values:
            kept_out, kept_value = out if prim.reverse_reads_out else stand_in(shape, dtype), value
        else:  # a rule that reads shapes (np.sum's): keep neither array alive for the backward pass
            kept_out = stand_in(shape, dtype)
            kept_value = kept_out if shape == parent[2] and dtype is parent[3] else shape_stand_in(value)
        entry = UnaryEntry(parent, single[0], kept_out, kept_value, kwargs, single[1], prim.name, decision,
                           shape, dtype)
    else:
        positions, rule_at = rule_layout(prim, 1)
        entry = TapeEntry((parent,), make_vjp(prim, positions, [0], rule_at, [value], out, kwargs), prim.name,
                          decision, shape, dtype)
    if prim.selection_key is not None:
        key = prim.selection_key(kwargs)
        entry.selection = (key, is_basic_index(key))
    entry.index = len(trace.entries)
    trace.entries.append(entry)
    result = Traced(trace, out, entry, 0, None, shape, dtype)
    # (a NumPy scalar or a new array is nobody's view: no call to ask)
    if prim.returns_view and type(out) is np.ndarray and out.base is not None and prim.makes_view(kwargs, out, value):
        result._view_of = view_of(prim, only, kwargs, entry.selection)
        if only._views is None:
            only._views = [result]
            trace.view_bases.append(only)
        else:
            only._views.append(result)
    return result


def _bind_general(prim: Primitive, args, kwargs, live_operands=False):
    """``bind`` for every case. ``live_operands``: ``args`` hold arrays a prepared replay refills."""
    trace = None
    traced_positions = []
    borrowed = None  # the user's arrays among the arguments
    containers = False  # a list or tuple among the arguments
    newer = None  # a value of a newer level than any traced argument owns the operation
    for j, arg in enumerate(args):
        kind = type(arg)
        if kind is Traced:
            traced_positions.append(j)
            if trace is None:
                trace = arg._trace
            elif arg._trace is not trace:
                find_trace(args)  # raises the error that fits
        elif kind is np.ndarray:
            borrowed = [arg] if borrowed is None else borrowed + [arg]
        elif kind is list or kind is dict or kind is tuple and (holds_mutable(arg) or Traced in map(type, arg)):
            containers = True
        elif isinstance(arg, LeveledValue) and (newer is None or arg._level > newer._level):
            newer = arg
        elif kind is UpdatedTraced:
            return bind(prim, currents(args), kwargs)
        elif kind is Recomputed and not live_operands:  # a label or a mask: read on each replay if it can be
            live = live_arrays(args)
            return bind(prim, plain_arrays(args), kwargs) if live is None else _bind_general(prim, live, kwargs, True)
        elif isinstance(arg, np.ndarray) or kind is not float and kind is not int and foreign_array(arg):
            return bind(prim, plain_arrays(args), kwargs)  # np.memmap, np.ma, np.matrix, a pandas Series
    if containers:
        refuse_traced_inside(prim, args)
    if trace is not None:
        if borrowed is not None:
            for array in borrowed:
                borrow(trace, array)
        if containers:
            args = tuple([snapshot(trace, a) if type(a) in (list, tuple) else a for a in args])
    if kwargs:
        kept = False  # a keyword value the rules may read again: index arrays and lists, weights
        for value in kwargs.values():
            kind = type(value)
            if kind is Traced:
                refuse_traced_keywords(prim, kwargs)  # raises, naming the keyword
            elif (kind is np.ndarray or kind is list or (kind is tuple and value)) and holds_mutable(value):
                kept = True
        if kept and trace is not None:
            kwargs = {key: snapshot(trace, value) for key, value in kwargs.items()}
    if newer is not None and (trace is None or newer._level > trace.id):
        return newer._apply(prim, args, kwargs)
    if trace is None:
        return prim.fn(*args, **kwargs)
    if not trace.active:
        find_trace(args)  # raises: a value escaped from a finished differentiation
    if len(args) == 1 and args[0]._expr is not None and trace.requested != "reverse":
        if prim.fuses_regions:
            return reduce_region(trace, prim, args[0], kwargs)
        if prim.commutes_with_increasing:
            moved = apply_before_region(prim, args[0], kwargs)
            if moved is not None:
                return moved
    layout = positions, rule_at = rule_layout(prim, len(args))
    for j in traced_positions:
        if j not in rule_at:
            raise_missing_rule(prim, traced_positions, rule_at)
    if len(args) == 1:  # one traced argument (the common case), without the list comprehensions
        only = args[0]
        arg_values = [only._value if only._value is not None else primal(only)]
        parents = ((only._entry, only._slot, only._shape, only._dtype),)
    else:
        arg_values = [a if type(a) is not Traced else a._value if a._value is not None else primal(a) for a in args]
        parents = tuple([(args[j]._entry, args[j]._slot, args[j]._shape, args[j]._dtype)
                         for j in traced_positions])
    apply = prim.fn  # an older level's values (hvp's duals) take the forward rule, not the NumPy body
    for value in arg_values:
        if type(value) is not np.ndarray and isinstance(value, LeveledValue):
            apply = prim
            break
    start = time.perf_counter() if trace.instrumented else 0.0
    try:
        out = apply(*arg_values, **kwargs)
    except Exception:  # f may catch it (a LinAlgError fallback): a prepared gradient must not replay past it
        trace.note_value_read(f"{prim.name} raised an error")
        raise
    elapsed = time.perf_counter() - start if trace.instrumented else 0.0
    if trace.program is not None:  # a prepared recording: after the values, so that their entries exist
        rule_at = active_rules(prim, args, traced_positions, rule_at)
    vjp = make_vjp(prim, positions, traced_positions, rule_at, arg_values, out, kwargs)
    decision = _REVERSE_REQUESTED if trace.requested == "reverse" else _REVERSE_ON_TAPE
    location = (user_location(2),) if trace.instrumented else ()
    if prim.multiple_outputs:
        refuse_output(prim, out)  # a dict, None, a complex value
        # (an enclosing gradient's traced value, where a nested forward rule left an output without tangent)
        outs = [o if isinstance(o, ARRAY_TYPES) or type(o) is Traced else np.asarray(o) for o in out]
        entry = TapeEntry(parents, vjp, prim.name, decision, None, None, n_outputs=len(outs),
                          locations=location)
        entry.vjp = fill_missing_cotangents(vjp, outs)
        if trace.instrumented:
            record_general(entry, prim, elapsed, arg_values, traced_positions, outs, kwargs)
        record(trace, entry)
        results = [Traced(trace, o, entry, slot) if o.dtype.kind == "f" else o for slot, o in enumerate(outs)]
        if trace.program is not None:
            record_step(trace, prim, args, kwargs, layout, traced_positions, entry,
                        tuple(r if type(r) is Traced else None for r in results), live_operands)
        if prim.returns_view:  # np.split's pieces are views of the input
            _mark_aliased([r for r in results if type(r) is Traced], args, traced_positions)
        if hasattr(type(out), "_fields"):  # a namedtuple, such as NumPy's SlogdetResult
            return type(out)(*results)
        return type(out)(results)
    if not isinstance(out, ARRAY_TYPES):
        out = np.asarray(out)
    if out.dtype.kind != "f":
        if out.dtype.kind in "cO":
            return complex_result(prim, args, kwargs, out)
        if trace.program is not None:  # a plain result computed from traced values
            trace.note_value_read(f"{prim.name} (non-float result)")
        return out
    entry = TapeEntry(parents, vjp, prim.name, decision, out.shape, out.dtype)
    if location:
        entry.locations = location
    if prim.selection_key is not None and traced_positions == [0]:
        key = prim.selection_key(kwargs)
        entry.selection = (key, is_basic_index(key))
    if trace.instrumented:
        record_general(entry, prim, elapsed, arg_values, traced_positions, (out,), kwargs)
    entry.index = len(trace.entries)
    trace.entries.append(entry)
    result = Traced(trace, out, entry)
    if trace.program is not None:
        record_step(trace, prim, args, kwargs, layout, traced_positions, entry, (result,), live_operands)
    if prim.returns_view and prim.makes_view(kwargs, out, arg_values[traced_positions[0]]):
        base = args[traced_positions[0]] if len(traced_positions) == 1 else None
        _mark_aliased((result,), args, traced_positions, view_of(prim, base, kwargs, entry.selection))
    return result


def _mark_aliased(results, args, traced_positions, view_of=True) -> None:
    """NumPy would share memory between these results and arguments. A view remembers what it
    views as ``(base, key)`` when an update of it can write through into ``base`` (an index, or
    a ``Rearranged``), else as True (an update raises); an update of an argument retires the
    views taken of it (NumPy would show them the change)."""
    for result in results:
        result._view_of = view_of
    for j in traced_positions:
        base = args[j]
        if base._views is None:
            base._views = list(results)
            base._trace.view_bases.append(base)
        else:
            base._views.extend(results)


def primitive(fn: Callable[..., Any] | None = None, *, elementwise: bool = False,
              nondiff_argnums: Sequence[int] = (), multiple_outputs: bool = False,
              name: str | None = None):
    """Turn ``fn`` into a :class:`Primitive` (usable bare or with options, as a decorator).

    >>> import numpy as np, mixedad
    >>> @mixedad.primitive(elementwise=True)
    ... def softplus(x):
    ...     return np.logaddexp(0.0, x)
    >>> @softplus.defpartials
    ... def softplus_partial(x):
    ...     return 0.5 * (1 + np.tanh(0.5 * x))   # the logistic sigmoid, stable for large |x|
    >>> float(mixedad.gradient(lambda x: np.sum(softplus(x)), np.zeros(3))[0])
    0.5
    """
    def wrap(function):
        return check_declaration(Primitive(function, name=name, elementwise=elementwise,
                                           nondiff_argnums=nondiff_argnums, multiple_outputs=multiple_outputs))
    return wrap(fn) if fn is not None else wrap
