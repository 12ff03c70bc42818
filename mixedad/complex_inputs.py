"""Complex differentiated inputs of the reverse transforms (``gradient``, ``value_and_gradient``,
``grad``, ``vjp``): each is two real inputs, its real and imaginary parts, which f sees as one
complex value (``rules.complex_values``); the gradient of a real output u is du/dx - i du/dy.

That is HIPS autograd's and JAX's convention: for a holomorphic step inside f it gives the
complex derivative, and for a real loss its conjugate is the direction of steepest ascent,
so gradient descent steps ``z -= rate * np.conj(g)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .core.arrays import LeveledValue
from .core.errors import InputError
from .core.tape import LEAF_DECISION, TapeEntry, Trace, record
from .core.traced import Traced
from .rules.complex_values import ComplexValue, _pair


def is_complex_leaf(leaf: Any) -> bool:
    """Whether ``leaf`` is a complex number or array the user passed as a differentiated argument."""
    return isinstance(leaf, (complex, np.complexfloating)) or isinstance(leaf, np.ndarray) and leaf.dtype.kind == "c"


def complex_input(trace: Trace, leaf: Any) -> ComplexValue:
    """The complex value f sees for the complex input ``leaf``: its two parts traced as inputs,
    the real and imaginary views of a copy (the user's array may change after the call), laid
    out as NumPy lays out z.real and z.imag."""
    value = np.array(leaf)
    traced_parts = []
    for part in (value.real, value.imag):
        entry = record(trace, TapeEntry((), None, "input", LEAF_DECISION, part.shape, part.dtype))
        traced_parts.append(Traced(trace, part, entry))
    result = _pair(*traced_parts)
    result._laid_out = (0, 1)  # (the parts f receives with z.real and z.imag: the inputs themselves)
    return result


def _cotangent(part: Traced, where: str) -> Any:
    """The cotangent the backward pass left on one part's input (None for zero), as a plain array."""
    cotangents = part._entry.cotangents
    ct = None if cotangents is None else cotangents[0]
    if isinstance(ct, (LeveledValue, Traced)):
        raise InputError(f"{where} is complex, and an enclosing jvp or hessian differentiates this gradient: "
                         "complex inputs are taken by gradient and vjp at the outermost level only. Pass the "
                         "real and imaginary parts as two real arguments and build x + 1j * y inside f.")
    return ct


def complex_gradient(original: Any, traced: ComplexValue, where: str) -> Any:
    """du/dx - i du/dy for the input ``original`` that f saw as ``traced``: the user's dtype and kind
    of value (a Python complex for a Python complex)."""
    value = np.asarray(original)
    gradient = np.zeros(value.shape, value.dtype)
    d_real, d_imag = (_cotangent(part, where) for part in (traced.real_part, traced.imag_part))
    if d_real is not None:
        gradient.real = d_real
    if d_imag is not None:
        gradient.imag = -d_imag
    if isinstance(original, np.generic):
        return gradient[()]
    if isinstance(original, complex):
        return complex(gradient)
    return gradient
