"""Marks for tests of NumPy functions and options newer than the oldest NumPy mixedad supports (2.0)."""
import numpy as np
import pytest

NUMPY_VERSION = tuple(int(part) for part in np.__version__.split(".")[:2])


def needs_numpy(major: int, minor: int):
    """Skip a test (or a ``pytest.param``) on NumPy older than major.minor, which lacks what it calls."""
    return pytest.mark.skipif(NUMPY_VERSION < (major, minor), reason=f"needs NumPy >= {major}.{minor}")
