"""Errors for traced values that NumPy or Python convert to plain numbers: ``float(x)``,
``x.item()``, a ``math`` function, and a store into a NumPy array (``buffer[t] = x``), which
NumPy makes with ``float()`` or ``np.asarray``. Each names the user's line and says what to
write instead: for a store, the array to make from a differentiated value, named from the line."""
from __future__ import annotations

import linecache
import re

import numpy as np

from .errors import (FILL_AN_ARRAY, MixedadError, NonDifferentiableError, NotVectorizableError, _user_frame,
                     error_with_location, math_call_named)


# A store on the user's line: `name[...] = value` or an augmented `name[...] += value`.
_STORE = re.compile(r"\s*([A-Za-z_][\w.]*)\s*\[.*\]\s*(?://|\*\*|<<|>>|[-+*/%@&|^])?=(?!=)")


def stores_into_an_array(text: str) -> bool:
    """Whether the source line ``text`` stores into a subscript (``buffer[t] = value``, ``+=``)."""
    return _STORE.match(text) is not None


def _differentiated(value) -> bool:  # (duck-typed: this module imports none of the value classes)
    return hasattr(value, "_trace") and hasattr(value, "_entry") or hasattr(value, "_level")


def store_advice(frame) -> str | None:
    """For a differentiated value stored into a plain NumPy array on ``frame``'s line
    (``buffer[t] = value``): that the array cannot hold it, and what to make it from, naming
    the array and a differentiated value the line reads; None if the line stores none."""
    if frame is None:
        return None
    text = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    found = _STORE.match(text)
    if found is None:
        return None
    names = dict(frame.f_globals, **frame.f_locals)
    source = next((name for name in re.findall(r"(?<![\w.])[A-Za-z_]\w*(?!\s*\.(?:shape|dtype|ndim|size)\b)",
                                               text[found.end():])
                   if _differentiated(names.get(name))), None)
    if source is None:
        return None
    target = found.group(1).removesuffix(".flat")  # (a.flat[i] = v stores into a)
    array = names.get(target)
    shape = f"shape={tuple(array.shape)!r}" if isinstance(array, np.ndarray) else "shape=..."
    dtype = getattr(array, "dtype", None)
    dtype = f", dtype=np.{dtype}" if dtype is not None and dtype != getattr(names[source], "dtype", dtype) else ""
    return (f"`{target}` is a plain NumPy array (made without a differentiated value: np.zeros(n), or np.zeros_like "
            f"or a copy of an array that is not differentiated), and cannot hold a derivative. Make it from a "
            f"differentiated value such as `{source}`: {target} = np.zeros_like({source}, {shape}{dtype}) accepts "
            f"{target}[i] = value (and constant values: {target}[...] = values); or collect the values in a list "
            "and use np.stack([...]).")


STORING = "Storing a differentiated value into a NumPy array{where} would drop its derivative: "


def stored_error(skip: int) -> MixedadError | None:
    """The error for a differentiated value stored into a plain NumPy array on the user's line
    (NumPy converts it with float() or np.asarray), or None if the line stores none."""
    advice = store_advice(_user_frame(skip + 1))
    if advice is None:
        return None
    return error_with_location(NonDifferentiableError, STORING + advice, skip=skip + 1)


# Why a conversion of a one-element value is not needed for a comparison (err = float(...); if err < tol).
COMPARE_WITHOUT_CONVERTING = (" To compare it (a convergence test, if err < tol), drop the conversion: a "
                              "comparison of a one-element traced value works as it is (it reads the value, so a "
                              "prepared gradient traces again on each call).")


def conversion_error(what: str, size: int, advice: str = "", skip: int = 1) -> MixedadError:
    """The error for converting a traced value of ``size`` elements with ``what`` (``float()``,
    ``int()``, ``.item()``) on the user's line: a ``math`` call that converts is named as such; a
    float() not written on the line may be NumPy's store into an array (out[i] = value)."""
    named = math_call_named(what)
    if what == "float()" and named == what:
        frame = _user_frame(skip + 1)
        written = frame is not None and re.search(r"\bfloat\(", linecache.getline(frame.f_code.co_filename,
                                                                                   frame.f_lineno))
        if not written:
            named, advice = "float() (or storing it into a NumPy array, out[i] = value)", " " + FILL_AN_ARRAY + advice
    if size == 1 and what in ("float()", ".item()") and named == what:
        advice = COMPARE_WITHOUT_CONVERTING + advice
    return error_with_location(
        NotVectorizableError if size != 1 else NonDifferentiableError,
        f"{named} on a traced value{{where}} would drop its derivative. Use NumPy functions on the array instead "
        "(np.sin, not math.sin; np.where, not if/else); for a scalar function mapped over an array, mixedad.sum "
        "and mixedad.map handle branches element by element." + advice, skip=skip + 1)
