"""Which OpenBLAS kernels NumPy's matrix products run on, for shape choices in the conv rules.

OpenBLAS picks its kernels for the CPU when it loads. The narrow products of small conv
layers run at different speeds on its AVX-512 kernels and on its AVX2 ones (Haswell, Zen),
so a shape trick that speeds up one set can slow down the other (``convolution.py`` gives
the numbers). NumPy's wheels bundle OpenBLAS as ``scipy_openblas``; other builds (MKL,
Accelerate, a system BLAS without the symbol) report no kernel name.
"""
from __future__ import annotations

import ctypes
import functools
import glob
import os

import numpy as np

AVX512_CORES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})
_CORE_NAME_SYMBOLS = ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename64_",
                      "openblas_get_corename")


@functools.cache
def openblas_core() -> str | None:
    """The name of OpenBLAS's kernels (``"Haswell"``, ``"SkylakeX"``, ...), or None if unknown."""
    package = os.path.dirname(np.__file__)
    # the library NumPy already loaded: dlopen hands back the same one, it is not loaded twice
    for path in glob.glob(os.path.join(package, os.pardir, "numpy.libs", "*openblas*")) + \
            glob.glob(os.path.join(package, ".dylibs", "*openblas*")):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in _CORE_NAME_SYMBOLS:
            core_name = getattr(library, symbol, None)
            if core_name is not None:
                core_name.restype = ctypes.c_char_p
                name = core_name()
                return name.decode() if name else None
    return None


def avx512_kernels() -> bool:
    """Whether NumPy's matrix products run on OpenBLAS's AVX-512 kernels (False if unknown)."""
    return (openblas_core() or "").lower() in AVX512_CORES
