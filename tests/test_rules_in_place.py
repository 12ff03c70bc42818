"""NumPy's in-place functions (copyto, fill_diagonal, put, place, putmask, put_along_axis)
on differentiated arrays: the same program runs on NumPy arrays for the reference values
and finite differences (float64), and on traced values in every mode.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixedad
from mixedad import InPlaceMutationError, NonDifferentiableError
from numerical import numerical_gradient, random_projection_loss

MODES = ("auto", "reverse", "forward")


def distinct(*shape, seed=0):
    """Well-separated distinct values."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) / n + 0.1).reshape(shape) * 3 - 1.2


def check(f, x, rtol=1e-6, atol=1e-8):
    """f(traced x) has NumPy's values and dtype, and its gradient matches finite differences."""
    reference = f(x)
    for mode in MODES:
        _, value = mixedad.gradient(lambda v: (np.sum(f(v)), f(v)), x, has_aux=True, mode=mode)
        assert value.dtype == reference.dtype
        np.testing.assert_array_equal(value, reference, err_msg=mode)
    loss = random_projection_loss(f, reference.shape)
    expected = numerical_gradient(loss, x)
    for mode in MODES:
        np.testing.assert_allclose(mixedad.gradient(loss, x, mode=mode), expected, rtol=rtol, atol=atol, err_msg=mode)


def written(function, *args, **kwargs):
    """A program: a copy of part of x (what is overwritten) updated by ``function`` with values
    made from the rest of x; it returns the copy, and something computed before the update."""
    def f(x):
        target = x[:12].reshape(3, 4) * 1.0
        before = np.sin(target)  # read before the update: keeps the old values
        function(target, *[a(x) if callable(a) else a for a in args], **kwargs)
        return np.concatenate([np.ravel(target), np.ravel(before)])
    return f


def values_from(start, stop=None):
    return lambda x: x[start:stop] ** 2


UPDATES = {
    "copyto": written(np.copyto, values_from(12, 16)),
    "copyto where": written(np.copyto, values_from(12, 16), where=np.array([True, False, False, True])),
    "copyto a constant": written(np.copyto, 2.5, where=np.eye(3, 4, dtype=bool)),
    "fill_diagonal": written(np.fill_diagonal, values_from(12, 14)),  # two values repeated along the diagonal
    "fill_diagonal of a scalar": written(np.fill_diagonal, values_from(12, 13)),
    "put": written(np.put, [0, 5, -1], values_from(12, 15)),
    "put repeating the values": written(np.put, [1, 2, 3, 8], values_from(12, 14)),
    "put with a repeated index": written(np.put, [4, 6, 4], values_from(12, 15)),
    "put wrap": written(np.put, [13, -14], values_from(12, 14), mode="wrap"),
    "put clip": written(np.put, [20, -3], values_from(12, 14), mode="clip"),
    "place": written(np.place, np.arange(12).reshape(3, 4) % 3 == 0, values_from(12, 15)),
    "place repeating the values": written(np.place, np.arange(12).reshape(3, 4) > 5, values_from(12, 14)),
    "putmask": written(np.putmask, np.arange(12).reshape(3, 4) % 5 == 1, values_from(12, 16)),
    "putmask of a whole array": written(np.putmask, np.arange(12).reshape(3, 4) % 2 == 0, lambda x: x[12:] * 3),
    "put_along_axis": written(np.put_along_axis, np.array([[0, 3], [1, 1], [2, 0]]),
                              lambda x: x[12:18].reshape(3, 2), 1),
    "put_along_axis broadcasting": written(np.put_along_axis, np.array([[2, 0, 1, 1]]), values_from(12, 16), 0),
    "put_along_axis flat": written(np.put_along_axis, np.array([11, 0]), values_from(12, 14), None),
}


@pytest.mark.parametrize("name", UPDATES)
def test_in_place_functions_match_numpy_and_finite_differences(name):
    check(UPDATES[name], distinct(18))


def test_written_values_keep_the_arrays_dtype():
    def f(x):
        target = x[:6].astype(np.float32)
        np.put(target, [1, 4], x[6:8] ** 2)  # float64 values, stored as float32
        np.copyto(target, x[8] * 3, where=[False, True] * 3)
        return target
    x = distinct(10)
    assert f(x).dtype == np.float32
    for mode in MODES:
        _, value = mixedad.gradient(lambda v: (np.sum(f(v)), f(v)), x, has_aux=True, mode=mode)
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, f(x))
    loss = random_projection_loss(f, (6,))
    # float32 values: a wider step (exact for these quadratics) keeps rounding out of the reference
    np.testing.assert_allclose(mixedad.gradient(loss, x), numerical_gradient(loss, x, eps=1e-3), rtol=1e-3)


def test_fill_diagonal_of_tall_and_cubic_arrays():
    def tall(x, wrap):
        target = x[:14].reshape(7, 2) * 1.0
        np.fill_diagonal(target, x[14:], wrap)
        return target
    x = distinct(17)
    check(lambda v: tall(v, False), x)
    check(lambda v: tall(v, True), x)

    def cube(x):
        target = x[:8].reshape(2, 2, 2) + 0.0
        np.fill_diagonal(target, x[8])
        return target
    check(cube, x)


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 4), columns=st.integers(1, 4), n_values=st.integers(1, 5), seed=st.integers(0, 2 ** 16),
       data=st.data())
def test_put_putmask_place_copyto_match_numpy_on_random_arguments(rows, columns, n_values, seed, data):
    rng = np.random.default_rng(seed)
    size = rows * columns
    mask = rng.random((rows, columns)) < 0.5
    indices = rng.integers(-2 * size, 2 * size, rng.integers(1, 6))
    mode = data.draw(st.sampled_from(["wrap", "clip"]))
    x = distinct(size + n_values, seed=seed)

    def update(function):
        def f(v):
            target = np.reshape(v[:size] * 1.0, (rows, columns))
            function(target, v[size:] * 2.0)
            return target
        return f
    check(update(lambda target, values: np.put(target, indices, values, mode)), x)
    check(update(lambda target, values: np.putmask(target, mask, values)), x)
    check(update(lambda target, values: np.place(target, mask, values)), x)
    check(update(lambda target, values: np.copyto(target, values[:columns] if n_values >= columns else values[0],
                                                  where=mask)), x)


def test_an_update_of_a_slice_writes_through_into_the_array_it_views():
    def f(x):
        target = x[:6].reshape(2, 3) * 1.0
        np.putmask(target[1], [True, False, True], x[6:] ** 2)
        np.put(target[:, 1:], [0, 3], x[7])
        return target
    check(f, distinct(8))


def test_an_update_that_mixedad_cannot_follow_raises_naming_the_function_and_line():
    def f(x):
        first, second = np.split(x * 1.0, 2)  # views whose updates mixedad cannot write through
        np.put(first, [0], 1.0)
        return np.sum(first)
    with pytest.raises(InPlaceMutationError, match=r"np.put writes into its first argument(.|\n)*test_rules_in_place"):
        mixedad.gradient(f, distinct(4))


def test_the_old_values_stay_with_what_read_them_before():
    """NumPy's semantics: np.sin(x) saw x before the write (and the tape saved that x)."""
    def f(x):
        y = x * 1.0
        s = np.sin(y)
        np.copyto(y, 0.0, where=y > 0)
        return np.sum(s * y + s)
    x = distinct(5)
    expected = numerical_gradient(f, x)
    for mode in MODES:
        np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("update, message", [
    (lambda buffer, v: np.copyto(buffer, v), "np.copyto would store a traced value"),
    (lambda buffer, v: np.put(buffer, [0], v), "np.put would store a traced value"),
    (lambda buffer, v: np.place(buffer, [True, False, True, False], v), "np.place would store a traced value"),
    (lambda buffer, v: np.putmask(buffer, [True, False, True, False], v), "np.putmask would store a traced value"),
    (lambda buffer, v: np.put_along_axis(buffer, np.array([1]), v[:1], 0), "np.put_along_axis would store"),
    # NumPy does not hand np.fill_diagonal to mixedad for its values: the array itself refuses them
    (lambda buffer, v: np.fill_diagonal(buffer.reshape(2, 2), v), "storing it into a NumPy array"),
], ids=["copyto", "put", "place", "putmask", "put_along_axis", "fill_diagonal"])
def test_writing_a_traced_value_into_a_numpy_array_raises_naming_the_line(update, message):
    def f(x):
        buffer = np.zeros(4)
        update(buffer, x)
        return np.sum(buffer)
    with pytest.raises(NonDifferentiableError, match=message + r"(.|\n)*test_rules_in_place"):
        mixedad.gradient(f, distinct(4))


def test_plain_writes_and_numpys_errors_are_numpys():
    def f(x):
        buffer = np.zeros(3)
        np.copyto(buffer, [1.0, 2.0, 3.0], where=x > 0)  # a plain mask from traced values: NumPy's copyto
        return np.sum(x * buffer)
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_array_equal(mixedad.gradient(f, x), [1.0, 0.0, 3.0])
    failing = {
        TypeError: lambda v: np.copyto(v.astype(np.float32), v, casting="safe"),
        IndexError: lambda v: np.put(v * 1.0, [7], v[:1]),
        ValueError: lambda v: np.place(v * 1.0, v > 0, []),
    }
    for error, f in failing.items():
        with pytest.raises(error):
            mixedad.gradient(lambda v: (f(v), np.sum(v))[1], x)
    with pytest.raises(NonDifferentiableError, match="indices of np.put"):
        mixedad.gradient(lambda v: (np.put(v * 1.0, v, 1.0), np.sum(v))[1], x)
