"""Prepared gradients: ``mixedad.prepare(f, *args)`` for repeated calls on same-shaped inputs.

A prepared gradient checks each call's inputs against the shapes and dtypes it was prepared
for (a clear error instead of a silent broadcast), writes gradients into caller-owned
buffers when asked (``out=``, the analogue of Enzyme's ``Duplicated``), and knows whether
the traced program looked at input values (comparisons, ``bool()``, masks, argmax, ...):
such a program may take another path on other inputs.

This version traces ``f`` on every call, so a program that depends on values is always
differentiated along the path the new inputs take: it never replays a wrong program.
Replaying the recorded tape without running ``f`` again is future work.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .api import _argnums_tuple, _differentiate
from .core.errors import InputError
from .core.pytree import flatten


def _signature(tree: Any) -> tuple:
    leaves, definition = flatten(tree)
    return repr(definition), tuple((np.shape(leaf), np.result_type(leaf).str if _is_numeric(leaf) else type(leaf))
                                   for leaf in leaves)


def _is_numeric(leaf: Any) -> bool:
    return isinstance(leaf, (np.ndarray, np.generic, float, int, bool, complex))


class Prepared:
    """A gradient of ``f`` prepared for arguments shaped like the ones given to
    :func:`prepare`. Call :meth:`gradient` or :meth:`value_and_gradient`."""

    def __init__(self, f: Callable[..., Any], args: tuple, argnums: int | Sequence[int], mode: str, has_aux: bool):
        self.f = f
        self.argnums = argnums
        self.mode = mode
        self.has_aux = has_aux
        self.numbers = _argnums_tuple(argnums, len(args))
        self.signatures = [_signature(arg) for arg in args]
        self.value_reads: tuple[str, ...] = ()
        self._run(args, want_value=True)  # traced once now: errors surface at prepare time

    @property
    def value_dependent(self) -> bool:
        """Whether the last trace looked at input values (so the program may change with them)."""
        return bool(self.value_reads)

    def _check(self, args: tuple) -> None:
        if len(args) != len(self.signatures):
            raise InputError(f"prepared for {len(self.signatures)} arguments, called with {len(args)}")
        for number, (arg, expected) in enumerate(zip(args, self.signatures)):
            got = _signature(arg)
            if got != expected:
                raise InputError(
                    f"argument {number} does not match what the gradient was prepared for: expected "
                    f"structure/shapes/dtypes {expected}, got {got}. Prepare again for the new shapes.")

    def _run(self, args: tuple, want_value: bool):
        def observe(trace):
            self.value_reads = tuple(dict.fromkeys(trace.value_dependent))
        return _differentiate(self.f, args, self.argnums, self.has_aux, self.mode, want_value, observe=observe)

    def gradient(self, *args: Any, out: Any = None) -> Any:
        """The gradient at ``args``; with ``out`` (arrays shaped like the gradient), written
        into those arrays in place and returned as the same objects.

        >>> import numpy as np, mixedad
        >>> prepared = mixedad.prepare(lambda x: np.sum(x ** 2), np.zeros(3))
        >>> buffer = np.empty(3)
        >>> prepared.gradient(np.arange(3.0), out=buffer) is buffer
        True
        >>> buffer
        array([0., 2., 4.])
        """
        self._check(args)
        result = self._run(args, want_value=False)
        grad, aux = result if self.has_aux else (result, None)
        if out is not None:
            grad = _write_into(out, grad)
        return (grad, aux) if self.has_aux else grad

    def value_and_gradient(self, *args: Any, out: Any = None) -> tuple[Any, Any]:
        """``(value, gradient)`` at ``args``; ``out`` as in :meth:`gradient`."""
        self._check(args)
        value, grad = self._run(args, want_value=True)
        if out is not None:
            grad = _write_into(out, grad)
        return value, grad


def _write_into(out: Any, grad: Any) -> Any:
    out_leaves, out_definition = flatten(out)
    grad_leaves, grad_definition = flatten(grad)
    if repr(out_definition) != repr(grad_definition) or len(out_leaves) != len(grad_leaves):
        raise InputError("out= must have the structure of the gradient (the differentiated arguments)")
    for buffer, value in zip(out_leaves, grad_leaves):
        if not isinstance(buffer, np.ndarray) or buffer.shape != np.shape(value) or buffer.dtype != np.result_type(value):
            raise InputError(f"out= leaf must be an ndarray of shape {np.shape(value)} and dtype "
                             f"{np.result_type(value)}, got {getattr(buffer, 'shape', type(buffer))}")
        np.copyto(buffer, value)
    return out


def prepare(f: Callable[..., Any], *args: Any, argnums: int | Sequence[int] = 0, mode: str = "auto",
            has_aux: bool = False) -> Prepared:
    """Prepare the gradient of ``f`` for repeated calls with arguments shaped like ``args``.

    >>> import numpy as np, mixedad
    >>> prepared = mixedad.prepare(lambda w, x: np.sum(np.tanh(x @ w)), np.zeros(3), np.ones((4, 3)))
    >>> prepared.gradient(np.ones(3), np.ones((4, 3))).shape
    (3,)
    >>> prepared.value_dependent
    False
    """
    return Prepared(f, args, argnums, mode, has_aux)
