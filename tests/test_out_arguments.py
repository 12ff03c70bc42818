"""``out=`` and ufunc ``where=`` on traced values: an ``out`` array made from a differentiated
one (``np.zeros_like(x)``) receives the result as an assignment would, with ``where=`` keeping
its entries where the mask is False (NumPy's semantics, such as the safe division
``np.divide(a, b, out=np.zeros_like(b), where=b != 0)``); a plain NumPy ``out`` cannot hold a
derivative and is refused. References: central finite differences in float64, and NumPy's
own result for the values."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedad
from tests.numerical import numerical_gradient

MODES = ["auto", "reverse", "forward"]


def safe_division(x):
    b = x[0] * np.array([0.0, 1.0, 1.0, 0.0])
    return np.sum(np.divide(x[1], b, out=np.zeros_like(b), where=b != 0) ** 2)


def safe_log(x):
    return np.sum(np.log(x, out=np.full_like(x, -10.0), where=x > 0) * x)


def exp_into_itself(x):
    y = x * 1.0
    np.exp(y, out=y)
    return np.sum(y * x)


def two_outputs(x):
    fractional, whole = np.zeros_like(x), np.zeros_like(x)
    np.modf(x * 3.3, out=(fractional, whole))
    return np.sum(fractional * whole)


def functions_with_out(x):
    column_sums = np.zeros_like(x[0])
    np.sum(x, axis=0, out=column_sums)
    clipped = np.zeros_like(x)
    np.clip(x, -0.5, 0.5, out=clipped)
    running = np.zeros_like(x)
    np.cumsum(x, axis=1, out=running)
    means = np.zeros_like(x[0])
    np.mean(x, axis=0, out=means, where=x > -0.3)
    return np.sum(column_sums ** 2) + np.sum(clipped ** 2) + np.sum(running * x) + np.sum(means ** 2)


def methods_with_out(x):  # the ndarray methods take out= as the functions do
    row_sums, clipped, taken = np.zeros_like(x[:, 0]), np.zeros_like(x), np.zeros_like(x[0])
    assert x.sum(axis=1, out=row_sums) is row_sums
    x.clip(-0.5, 0.5, out=clipped)
    x.take([3, 0, 1, 2], out=taken)
    return np.sum(row_sums ** 3) + np.sum(clipped * x) + np.sum(taken * x[1])


def ufunc_methods_with_out(x):  # np.add.reduce(out=) as np.sum(out=)
    column_sums, running, largest = np.zeros_like(x[0]), np.zeros_like(x), np.zeros_like(x, shape=(3, 2, 4))
    assert np.add.reduce(np.sin(x), axis=0, out=column_sums) is column_sums
    np.add.accumulate(x, axis=1, out=running)
    np.maximum.reduce(np.stack([x, x * x]), axis=0, out=largest[1])
    return np.sum(column_sums ** 2) + np.sum(running * x) + np.sum(largest[1] * x) + np.sum(largest)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [safe_division, safe_log, exp_into_itself, two_outputs, functions_with_out,
                               methods_with_out, ufunc_methods_with_out])
def test_out_arrays_made_from_traced_values_give_finite_difference_gradients(f, mode):
    x = np.random.default_rng(5).standard_normal((2, 4)) + 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # where= masks the division by zero, as in NumPy: no warning
        got = mixedad.gradient(f, x, mode=mode)
        value = mixedad.value_and_gradient(f, x, mode=mode)[0]
    np.testing.assert_allclose(got, numerical_gradient(f, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(value, f(x), rtol=1e-13)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=1, max_size=6), st.lists(st.booleans(), min_size=6, max_size=6),
       st.sampled_from(["auto", "reverse"]))
def test_where_keeps_the_out_entries_where_the_mask_is_false(values, mask, mode):
    x = np.array(values)
    mask = np.array(mask[:x.size])
    kept = np.linspace(-1.0, 1.0, x.size)

    def f(x):
        out = np.zeros_like(x) + kept * x  # depends on x: its derivative must survive where the mask is False
        result = np.multiply(x, np.sin(x), out=out, where=mask)
        assert result is out
        return np.sum(result * np.cos(x))
    np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), numerical_gradient(f, x), rtol=1e-6, atol=1e-7)


def test_out_keeps_its_dtype_and_is_returned_as_the_same_object():
    x = np.array([0.5, -1.0, 2.0])

    def f(x):
        buffer = np.zeros_like(x, dtype=np.float32)
        result = np.multiply(x, x, out=buffer, where=x > 0)
        assert result is buffer and result.dtype == np.float32  # NumPy casts into out
        return np.sum(result)
    np.testing.assert_allclose(mixedad.gradient(f, x), 2 * x * (x > 0), rtol=1e-7)


def test_a_plain_numpy_out_array_is_refused_with_the_way_out():
    def f(x):
        b = np.array([0.0, 1.0, 2.0])
        return np.sum(np.divide(x, b, out=np.zeros(3), where=b != 0))
    with pytest.raises(mixedad.InPlaceMutationError, match=r"numpy.divide with out=.*test_out_arguments.py.*"
                                                           r"np.zeros_like\(x\), also with where="):
        mixedad.gradient(f, np.ones(3))


def test_where_without_out_is_refused_as_uninitialized():
    with pytest.raises(mixedad.UnsupportedOperationError, match=r"add with where= and no out=.*"
                                                                 r"test_out_arguments.py.*uninitialized.*np.where"):
        mixedad.gradient(lambda x: np.sum(np.add(x, 1.0, where=x > 0)), np.ones(3))


@pytest.mark.parametrize("everywhere", [np.True_, np.array(True)])
def test_a_scalar_true_where_is_the_plain_call(everywhere):
    x = np.array([1.0, -2.0, 0.5])
    got = mixedad.gradient(lambda x: np.sum(np.multiply(x, x, where=everywhere) * x), x)
    np.testing.assert_allclose(got, 3 * x ** 2)
