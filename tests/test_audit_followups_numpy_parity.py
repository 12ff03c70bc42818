"""What NumPy does with bad arguments and small dtypes, mixedad does on traced values too
(an API sweep over NumPy's functions found these differences).

- A misspelled keyword of ``np.clip`` (``lo=``) was ignored, so nothing was clipped: NumPy
  raises TypeError.
- Bad shapes in ``np.linalg`` raised a raw ValueError from inside a rule (or "not enough
  values to unpack"): NumPy raises LinAlgError, which code catches to fall back.
- float32 and complex64 came back float64 / complex128 from ``np.linspace(x32, 2.0)``,
  ``np.cov(..., dtype=np.float32)``, ``np.log10(z64)``, ``np.power(2.0, z64)``.
Each case is compared with NumPy's own behaviour on the same plain arrays.
"""
from __future__ import annotations

import numpy as np
import pytest

import mixedad

A = np.arange(1.0, 13.0).reshape(4, 3) / 7
X32 = np.array([[0.5, -1.2, 0.8], [1.1, 0.3, -0.6]], dtype=np.float32)

BAD_CALLS = {
    "clip with lo=": lambda a: np.clip(a, lo=0.0),
    "x.clip with minimum=": lambda a: a.clip(minimum=0.0),
    "linspace with an unknown keyword": lambda a: np.linspace(a[0, 0], 1.0, 3, points=2),
    "lstsq of incompatible shapes": lambda a: np.linalg.lstsq(a, np.ones(5))[0],
    "matrix_power of a non-square matrix": lambda a: np.linalg.matrix_power(a, 2),
    "matrix_power of a vector": lambda a: np.linalg.matrix_power(a[0], 2),
    "qr of a vector": lambda a: np.linalg.qr(a[0])[0],
    "svd of a vector": lambda a: np.linalg.svd(a[0])[1],
    "multi_dot of one array": lambda a: np.linalg.multi_dot([a]),
    "where with only x": lambda a: np.where(a > 0.5, a),
    "pad with an unknown mode": lambda a: np.pad(a, 1, mode="mirror"),
}


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_bad_arguments_raise_what_numpy_raises(name, mode):
    call = BAD_CALLS[name]
    with pytest.raises(Exception) as numpy_error:
        call(A.copy())
    with pytest.raises(type(numpy_error.value)) as mixedad_error:
        mixedad.gradient(lambda a: np.sum(call(a)), A.copy(), mode=mode)
    if isinstance(numpy_error.value, np.linalg.LinAlgError) or name.startswith(("where", "pad", "multi_dot")):
        assert str(numpy_error.value) in str(mixedad_error.value)
    if name.startswith(("clip", "x.clip", "linspace")):  # NumPy names the keyword it did not expect
        keyword = str(numpy_error.value).split("'")[1]
        assert f"'{keyword}'" in str(mixedad_error.value)


def test_dot_and_outer_refuse_a_third_positional_argument_as_out():
    for product in (np.outer, np.dot):
        with pytest.raises(TypeError, match=f"np.{product.__name__} with out= is not supported"):
            mixedad.gradient(lambda a: np.sum(product(a, a.T, np.zeros((4, 4)))), A.copy())


SMALL_DTYPE_CALLS = {
    "linspace from a float32 value to a Python float": lambda x: np.linspace(x[0], 2.0, 3),
    "linspace of float32 scalars": lambda x: np.linspace(x[0, 0], 2.0, 4, endpoint=True),
    "logspace from float32": lambda x: np.logspace(x[0], 2.0, 3),
    "cov with dtype float32": lambda x: np.cov(x, dtype=np.float32),
    "corrcoef with dtype float32": lambda x: np.corrcoef(x, dtype=np.float32),
    "log10 of complex64": lambda x: np.imag(np.log10(x[0] + 1j * x[1])),
    "log2 of complex64": lambda x: np.imag(np.log2(x[0] + 1j * x[1])),
    "exp2 of complex64": lambda x: np.real(np.exp2(x[0] + 1j * x[1])),
    "2.0 ** complex64": lambda x: np.real(np.power(2.0, x[0] + 1j * x[1])),
    "(-2) ** complex64": lambda x: np.imag((-2) ** (x[0] + 1j * x[1])),
    "0.0 ** complex64": lambda x: np.real(np.power(0.0, x[0] + 1j * x[1])),
}


@pytest.mark.parametrize("name", sorted(SMALL_DTYPE_CALLS))
def test_small_dtypes_stay_small(name):
    call = SMALL_DTYPE_CALLS[name]
    with np.errstate(all="ignore"):
        expected = call(X32.copy())
        value, pullback = mixedad.vjp(call, X32.copy())
    assert value.dtype == expected.dtype == np.float32
    np.testing.assert_allclose(value, expected, rtol=2e-6, atol=1e-6)
    with np.errstate(all="ignore"):
        (gradient,) = pullback(np.ones_like(value))
    assert gradient.dtype == np.float32
