"""Item assignment, x[key] = v, on differentiated arrays, against finite differences.

NumPy writes into x; mixedad records a new value and makes x stand for it, so values read
before the assignment keep the old one. Every program is checked in each mode (auto,
reverse, prepared on new inputs, jvp, hessian) against central differences in float64.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mixedad
from mixedad import InPlaceMutationError, NonDifferentiableError
from numerical import numerical_gradient

X0 = np.array([0.3, -0.7, 1.1, 0.4, -0.2, 0.9])


def slice_of_a_copy(x):
    y = x * 1.0
    y[1:3] = x[:2] ** 2
    return np.sum(y * x)


def recurrence_into_zeros_like(x):
    y = np.zeros_like(x)
    y[0] = x[0]
    for i in range(1, x.size):
        y[i] = 0.5 * y[i - 1] + np.sin(x[i])
    return np.sum(y ** 2)


def rnn_rows(x):
    w = np.array([[0.5, -0.3], [0.2, 0.8]])
    inputs = x.reshape(3, 2)
    states = np.zeros_like(inputs)
    states[0, :] = np.tanh(inputs[0])
    for t in range(1, 3):
        states[t, :] = np.tanh(states[t - 1, :] @ w + inputs[t])
    return np.sum(states ** 2)


def mask_assignment(x):
    y = x.copy()
    y[x > 0.5] = 0.0
    return np.sum(y ** 3 + x)


def repeated_fancy_index(x):
    y = x * 1.0
    y[[0, 2, 0]] = x[3:6] * np.array([1.0, 2.0, 3.0])  # NumPy keeps the last write to y[0]
    return np.sum(y ** 2 * np.arange(1, 7))


def broadcast_into_columns_and_rows(x):
    m = np.outer(x[:3], x[3:])
    out = np.zeros_like(m)
    out[:, 1] = m[:, 0] * 2.0
    out[2] = np.sum(m, axis=0)
    out[0, 0] = np.prod(x)
    return np.sum(np.sin(out))


def into_the_input(x):
    x[0] = 0.0
    x[2:4] *= 3.0
    return np.sum(x ** 2)


def list_of_traced_values(x):
    y = x * 1.0
    y[:2] = [x[3], x[4] ** 2]
    return np.sum(np.exp(y))


def earlier_reads_keep_the_old_value(x):
    y = x * 2.0
    z = np.sin(y)  # deferred: evaluated after the assignment below
    alias = y
    y[0] = 5.0
    return np.sum(z) + np.sum(alias ** 2)


def chained_indexing_and_views_written_through(x):
    y = np.exp(x).reshape(2, 3)
    y[0][1] = x[5] ** 2  # y[0] is a view: NumPy writes through into y
    row = y[1]
    row *= x[:3]  # so does an in-place operator on a view
    row_total = np.sum(row)
    y[1, 2] += 1.0
    return np.sum(y ** 2) + row_total


def write_through_views_into_the_input(x):
    y = x.reshape(2, 3)
    row = y[0]
    row[1] = 5.0  # NumPy changes y and x too
    return np.sum(y * x.reshape(2, 3)) + np.sum(x)


def ufunc_at_with_repeated_indices(x):
    a = np.zeros_like(x, shape=(4,))
    np.add.at(a, [0, 0, 2, 0], x[1:5] ** 2)  # unbuffered: a[0] gets three additions
    np.multiply.at(a, [0, 2, 0], x[:3])
    np.negative.at(a, [3])
    return np.sum(a ** 2) + np.sum(a * x[2:])


def assignment_chain_on_an_updated_array(x):
    y = np.ones_like(x)
    y[0] = x[1]
    y[1] = y[0] * x[2]
    y += x
    y[2:] = y[:4] * y[0]
    return np.sum(y ** 2)


def values_with_leading_length_one_axes(x):
    # NumPy drops a value's leading length-1 axes to fit the target: (1, 1) into 3 elements
    y = np.zeros((2, 3)) + x[0]
    y[1, :] = x[None, None, 1:4] ** 2
    y[0, 1:2] = x[None, None, 0] * 3.0
    y[:, 2] = x[None, 3:4]
    return np.sum(y * np.arange(6.0).reshape(2, 3)) + np.sum(y ** 3)


PROGRAMS = [slice_of_a_copy, recurrence_into_zeros_like, rnn_rows, mask_assignment, repeated_fancy_index,
            broadcast_into_columns_and_rows, into_the_input, list_of_traced_values,
            earlier_reads_keep_the_old_value, chained_indexing_and_views_written_through,
            write_through_views_into_the_input, ufunc_at_with_repeated_indices,
            assignment_chain_on_an_updated_array, values_with_leading_length_one_axes]


def reference_gradient(f, x):
    return numerical_gradient(lambda z: f(z.copy()), x.copy())


@pytest.mark.parametrize("f", PROGRAMS)
@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_gradient_matches_finite_differences(f, mode):
    value, grad = mixedad.value_and_gradient(f, X0.copy(), mode=mode)
    assert value == pytest.approx(f(X0.copy()), rel=1e-12)
    np.testing.assert_allclose(grad, reference_gradient(f, X0), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f", PROGRAMS)
def test_prepared_gradient_replays_the_assignments_on_new_inputs(f):
    prepared = mixedad.prepare(f, X0.copy())
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = X0 + 0.05 * rng.standard_normal(X0.shape)
        np.testing.assert_allclose(prepared.gradient(x.copy()), mixedad.gradient(f, x.copy()), rtol=1e-12)
        np.testing.assert_allclose(prepared.gradient(x.copy()), reference_gradient(f, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f", PROGRAMS)
def test_jvp_matches_the_gradient(f):
    direction = np.linspace(-1.0, 1.0, X0.size)
    value, along = mixedad.jvp(f, (X0.copy(),), (direction,))
    assert value == pytest.approx(f(X0.copy()), rel=1e-12)
    assert along == pytest.approx(reference_gradient(f, X0) @ direction, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("f", PROGRAMS)
def test_hessian_matches_differences_of_the_gradient(f):
    hessian = mixedad.hessian(f, X0.copy())
    columns = [numerical_gradient(lambda z: mixedad.gradient(f, z.copy())[i], X0.copy()) for i in range(X0.size)]
    np.testing.assert_allclose(hessian, np.array(columns), rtol=1e-5, atol=1e-6)


def test_forward_jacobian_of_an_array_valued_program():
    def f(x):
        y = 2.0 * x
        y[1:3] = x[:2] ** 3
        return y
    expected = np.array([numerical_gradient(lambda z: f(z.copy())[i], X0.copy()) for i in range(X0.size)])
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(mixedad.jacobian(f, X0.copy(), mode=mode), expected, rtol=1e-6, atol=1e-8)


def test_float32_stays_float32():
    x = X0.astype(np.float32)

    def f(x):
        y = np.zeros_like(x)
        y[1:] = x[:-1] * 2.0
        y[0] = np.float64(1.5) * x[-1]  # a float64 value is cast to the array's dtype, as NumPy does
        return np.sum(y ** 2)
    grad = mixedad.gradient(f, x)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, reference_gradient(f, X0), rtol=1e-5)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, st.integers(2, 8), elements=st.floats(-2, 2)), st.data())
def test_random_slices_and_index_arrays(x, data):
    n = x.size
    start = data.draw(st.integers(0, n - 1))
    stop = data.draw(st.integers(start + 1, n))
    index = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n))
    weights = np.arange(1.0, n + 1)

    def f(z):
        y = np.cos(z)
        y[start:stop] = z[:stop - start] * 1.5
        y[index] = np.sin(z[-len(index):])
        return np.sum(y * weights) + np.sum(y ** 2)
    np.testing.assert_allclose(mixedad.gradient(f, x.copy()), reference_gradient(f, x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(mixedad.gradient(f, x.copy(), mode="reverse"), reference_gradient(f, x),
                               rtol=1e-5, atol=1e-7)


def test_an_array_made_like_a_traced_one_takes_traced_values_in_every_mode():
    def f(x):
        out = np.empty_like(x, shape=(2,) + x.shape)
        out[0] = np.sin(x)
        out[1] = np.full_like(x, 2.0) * x
        return np.sum(out ** 2)
    expected = reference_gradient(f, X0)
    np.testing.assert_allclose(mixedad.gradient(f, X0), expected, rtol=1e-6)
    assert mixedad.jvp(f, (X0,), (np.ones_like(X0),))[1] == pytest.approx(expected.sum(), rel=1e-6)


# --- what cannot be followed raises -------------------------------------------------------------
def write_into_a_piece_of_a_split(x):
    head, tail = np.split(x * 1.0, 2)
    head[0] = 5.0  # NumPy would change the split array too
    return np.sum(head)


def stale_view_used_again(x):
    y = x * 1.0
    head = y[:2]
    y[0] = 5.0  # NumPy would show head the change
    return np.sum(head)


@pytest.mark.parametrize("f, match", [(write_into_a_piece_of_a_split, "into a view"),
                                      (stale_view_used_again, "view again after the (assignment|update)")])
def test_what_mixedad_cannot_follow_raises_naming_the_line(f, match):
    with pytest.raises(InPlaceMutationError, match=match) as reverse_error:
        mixedad.gradient(f, X0.copy())
    assert "test_item_assignment.py" in str(reverse_error.value)
    with pytest.raises(InPlaceMutationError, match="test_item_assignment.py"):
        mixedad.jvp(f, (X0.copy(),), (np.ones_like(X0),))


@pytest.mark.parametrize("differentiate", [
    lambda f: mixedad.gradient(f, X0),
    lambda f: mixedad.prepare(f, X0).gradient(X0),
    lambda f: mixedad.jvp(f, (X0,), (np.ones_like(X0),)),
    lambda f: mixedad.hessian(f, X0),
], ids=["gradient", "prepare", "jvp", "hessian"])
@pytest.mark.parametrize("element", [lambda x: x[0], lambda x: x[0] * 2.0, lambda x: x[:2]],
                         ids=["0-d element", "0-d result", "slice"])
def test_storing_into_a_numpy_array_points_to_zeros_like(differentiate, element):
    def f(x):
        buffer = np.zeros(3)
        value = element(x)
        buffer[:np.size(value)] = value  # NumPy wraps the 0-d refusal in its own ValueError
        return np.sum(buffer)
    with pytest.raises(NonDifferentiableError, match=r"(?s)test_item_assignment.py.*buffer = np.zeros_like\(value, "
                       r"shape=\(3,\)\)"):
        differentiate(f)


def test_ufunc_at_into_a_numpy_array_points_to_a_way_out():
    def assemble(v):
        stiffness = np.zeros((3, 3))
        np.add.at(stiffness, ([0, 1, 1], [0, 1, 1]), v)
        return np.sum(stiffness ** 2)
    with pytest.raises(InPlaceMutationError, match="np.add.at.*test_item_assignment.py.*np.bincount"):
        mixedad.gradient(assemble, np.ones(3))


@pytest.mark.parametrize("ufunc", [np.add, np.subtract])
@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_add_at_with_many_repetitions_matches_numpy(ufunc, mode):
    """Summed in one pass (np.bincount): rounds of assignments cost a pass over the array per
    repetition of the most repeated index (100,000 values into 100 bins took 87 ms, not 2)."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal(300)
    rows, columns = rng.integers(0, 3, 300), rng.integers(0, 2, 300)

    def f(v, plain=False):
        a = np.ones((3, 2)) * 0.5 if plain else np.ones_like(v, shape=(3, 2)) * 0.5
        ufunc.at(a, (rows, columns), v * v)
        return np.sum(a * np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 1.0]]))

    value, grad = mixedad.value_and_gradient(f, x, mode=mode)
    assert value == pytest.approx(f(x, plain=True), rel=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(lambda v: f(v, plain=True), x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("ufunc", [np.add, np.subtract])
@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_ufunc_at_leaves_the_elements_it_does_not_touch_alone(ufunc, mode):
    # y holds -0.0 where x <= 0; arctan2(y, -1) is -pi at -0.0 and +pi at 0.0: adding a zero
    # to the untouched elements would change the value and the gradient
    x = np.array([-0.16, -1.10, 0.5, 0.25])

    def f(x):
        y = x * (x > 0)
        ufunc.at(y, np.array([2, 3, 2]), x[[2, 3, 2]] ** 3)
        return np.sum(np.arctan2(y, -1.0) * x)

    value, grad = mixedad.value_and_gradient(f, x, mode=mode)
    assert value == f(x.copy())
    np.testing.assert_allclose(grad, reference_gradient(f, x), rtol=1e-6, atol=1e-8)
    assert mixedad.jvp(f, (x,), (np.ones_like(x),))[0] == f(x.copy())


@pytest.mark.parametrize("write", ["v[0] = 1.0", "v += 1.0", "np.add.at(v, [0, 1, 0], 1.0)"])
@pytest.mark.parametrize("mode", ["gradient", "jvp"])
def test_a_broadcast_of_a_scalar_is_read_only_as_numpys(write, mode):
    """np.broadcast_to gives a read-only view, also of a NumPy scalar: NumPy refuses the write
    (ufunc.at writes regardless, every index into the one element); mixedad raises, naming it."""
    namespace = {"np": np}
    exec(f"def f(a):\n    v = np.broadcast_to(np.sinh(a), (2,))\n    {write}\n    return np.sum(v)\n", namespace)
    f = namespace["f"]
    if "add.at" not in write:
        with pytest.raises(ValueError, match="read-only"):
            f(np.array(-0.3))
    with pytest.raises(mixedad.InPlaceMutationError, match=r"<string>:3"):
        if mode == "gradient":
            mixedad.gradient(f, np.array(-0.3))
        else:
            mixedad.jvp(f, (np.array(-0.3),), (np.array(1.0),))
