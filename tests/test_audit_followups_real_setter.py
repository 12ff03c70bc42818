"""``z.real = v`` and ``z.imag = v`` on a real differentiated array. NumPy writes a real array's
real part in place (the array itself: z[...] = v) and refuses to set the imaginary part of a
real array with a TypeError. Traced values and forward duals raised a bare AttributeError
("property 'real' of 'Traced' object has no setter"): ``Traced.real`` and ``Traced.imag``
(mixedad/core/traced.py, borrowed by ForwardDual) were properties without setters."""
import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient

X = np.array([0.3, -1.2, 0.7])


def set_real(x):
    z = x * 1.0
    alias = z  # NumPy writes in place: the alias sees the new values
    z.real = x ** 2
    return np.sum(alias * x)


def set_imag(x):
    z = x * 1.0
    z.imag = x
    return np.sum(z)


@pytest.mark.parametrize("mode", ["auto", "reverse", "jvp", "prepare"])
def test_setting_the_real_part_writes_the_array_as_numpy_does(mode):
    expected = numerical_gradient(set_real, X)
    if mode == "jvp":
        grad = np.array([mixedad.jvp(set_real, (X,), (d,))[1] for d in np.eye(3)])
    elif mode == "prepare":
        grad = mixedad.prepare(set_real, X).gradient(X)
    else:
        grad = mixedad.gradient(set_real, X, mode=mode)
    np.testing.assert_allclose(grad, expected, rtol=1e-7)


@pytest.mark.parametrize("mode", ["reverse", "jvp"])
def test_setting_the_imaginary_part_of_a_real_array_raises_a_clear_type_error(mode):
    with pytest.raises(TypeError, match="imaginary part"):
        set_imag(X)  # NumPy's own refusal
    with pytest.raises(mixedad.MixedadError, match=r"z\.imag = v.*test_audit_followups_real_setter.py:\d+"):
        if mode == "jvp":
            mixedad.jvp(set_imag, (X,), (np.ones(3),))
        else:
            mixedad.gradient(set_imag, X)
