"""Shape and selection rules: every op against central finite differences, in every mode.

Each case feeds a non-linear function of the input (so dual regions meet the shape ops)
through the op and projects the result on fixed random weights, so every output element
reaches the scalar loss.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mixedad
from mixedad import InPlaceMutationError, NonDifferentiableError
from numerical import numerical_gradient, numerical_gradients, random_projection_loss

MODES = ("auto", "reverse", "forward")


def projection_loss(f, args, seed=0, dtype=np.float64):
    """A scalar loss reading every element of f's output (an array or a list of arrays)."""
    out = f(*args)
    if isinstance(out, (list, tuple)):
        rng = np.random.default_rng(seed)
        weights = [rng.standard_normal(np.shape(piece)).astype(dtype) for piece in out]
        return lambda *a: sum(np.sum(piece * w) for piece, w in zip(f(*a), weights))
    if dtype == np.float64:
        return random_projection_loss(f, np.shape(out), seed)
    w = np.random.default_rng(seed).standard_normal(np.shape(out)).astype(dtype)
    return lambda *a: np.sum(f(*a) * w)


def assert_gradients_match(f, args, argnums=(0,), rtol=1e-6, atol=1e-8):
    args = [np.asarray(a, dtype=np.float64) for a in args]
    loss = projection_loss(f, args)
    expected = numerical_gradients(loss, args, argnums)
    for mode in MODES:
        got = mixedad.gradient(loss, *args, argnums=tuple(argnums), mode=mode)
        for number, g, e in zip(argnums, got, expected):
            assert g.shape == e.shape and g.dtype == np.float64
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"mode={mode} argnum={number}")


def arange_input(*shape):
    """Distinct, well-separated values (sort, argsort and masks are stable under FD steps)."""
    n = int(np.prod(shape))
    return (np.random.default_rng(n).permutation(n) / n + 0.1).reshape(shape)


# ------------------------------------------------------------------------------------------
# one function per op; each is differentiated w.r.t. its first argument
def sq(x):
    return x * x + np.sin(x)


CASES = {
    "index_int": (lambda x: sq(x)[1], (3, 4)),
    "index_negative_int": (lambda x: sq(x)[-1, -2], (3, 4)),
    "index_slices": (lambda x: sq(x)[1:, ::2], (3, 4)),
    "index_negative_step": (lambda x: sq(x)[::-1, -1:0:-2], (3, 4)),
    "index_newaxis_ellipsis": (lambda x: sq(x)[None, ..., 1], (2, 3, 4)),
    "index_repeated_list": (lambda x: sq(x)[[0, 0, 2, 0]], (3, 4)),
    "index_repeated_pairs": (lambda x: sq(x)[[0, 1, 0], [2, 2, 2]], (3, 4)),
    "index_array_and_slice": (lambda x: sq(x)[np.array([[2, 2], [0, 1]]), 1:], (3, 4)),
    "index_slice_array_slice": (lambda x: sq(x)[:, [1, 1, 0], ::-1], (2, 3, 4)),
    "index_separated_arrays": (lambda x: sq(x)[[1, 0], :, [3, 3]], (2, 3, 4)),
    "index_mask": (lambda x: sq(x)[x > 0.5], (3, 4)),
    "index_row_mask": (lambda x: sq(x)[np.array([True, False, True])], (3, 4)),
    "index_mask_and_int": (lambda x: sq(x)[1, np.array([True, False, True, True])], (3, 4)),
    "index_bool_list": (lambda x: sq(x)[[True, False, True]], (3, 4)),
    "index_empty_list": (lambda x: sq(x)[[]], (3, 4)),
    "index_zero_d": (lambda x: sq(x)[()], ()),
    "iterate_rows": (lambda x: np.stack([row * i for i, row in enumerate(sq(x))]), (3, 4)),
    "astype_same": (lambda x: sq(x).astype(np.float64), (5,)),
    "copy": (lambda x: np.copy(sq(x)), (3, 4)),
    "copy_method": (lambda x: sq(x).copy()[0], (3, 4)),
    "reshape": (lambda x: np.reshape(sq(x), (2, -1)), (3, 4)),
    "reshape_F": (lambda x: np.reshape(sq(x), (4, 3), order="F"), (3, 4)),
    "reshape_method": (lambda x: sq(x).reshape(6, 2), (3, 4)),
    "ravel": (lambda x: np.ravel(sq(x)), (3, 4)),
    "ravel_F": (lambda x: np.ravel(sq(x), order="F"), (3, 4)),
    "flatten": (lambda x: sq(x).flatten(), (2, 3)),
    "transpose": (lambda x: np.transpose(sq(x)), (2, 3, 4)),
    "transpose_axes": (lambda x: np.transpose(sq(x), (1, -1, 0)), (2, 3, 4)),
    "transpose_T": (lambda x: sq(x).T, (3, 4)),
    "transpose_method": (lambda x: sq(x).transpose(2, 0, 1), (2, 3, 4)),
    "mT": (lambda x: sq(x).mT, (2, 3, 4)),
    "moveaxis": (lambda x: np.moveaxis(sq(x), 0, -1), (2, 3, 4)),
    "moveaxis_many": (lambda x: np.moveaxis(sq(x), [0, 1], [2, 0]), (2, 3, 4)),
    "swapaxes": (lambda x: np.swapaxes(sq(x), 0, 2), (2, 3, 4)),
    "squeeze": (lambda x: np.squeeze(sq(x)), (1, 3, 1, 2)),
    "squeeze_axis": (lambda x: np.squeeze(sq(x), axis=2), (1, 3, 1, 2)),
    "expand_dims": (lambda x: np.expand_dims(sq(x), (0, -1)), (3, 2)),
    "broadcast_to": (lambda x: np.broadcast_to(sq(x), (2, 3, 4)), (3, 1)),
    "broadcast_arrays": (lambda x: np.broadcast_arrays(sq(x), np.ones((2, 1, 4)))[0], (3, 1)),
    "concatenate": (lambda x: np.concatenate([sq(x), x[:1], np.ones((2, 4))]), (3, 4)),
    "concatenate_axis1": (lambda x: np.concatenate((x, sq(x)), axis=1), (3, 4)),
    "concatenate_none": (lambda x: np.concatenate([sq(x), np.arange(3.0), x[0]], axis=None), (3, 4)),
    "concatenate_single": (lambda x: np.concatenate([sq(x)], axis=-1), (3, 4)),
    "stack": (lambda x: np.stack([sq(x), x, np.zeros((3, 4))]), (3, 4)),
    "stack_axis": (lambda x: np.stack([sq(x), x], axis=-1), (3, 4)),
    "stack_scalars": (lambda x: np.stack([x[0] * x[1], x[2], 1.5]), (3,)),
    "hstack_1d": (lambda x: np.hstack([sq(x), np.ones(2), x]), (3,)),
    "hstack_2d": (lambda x: np.hstack([sq(x), np.ones((3, 1))]), (3, 4)),
    "vstack": (lambda x: np.vstack([sq(x), np.ones(3), x]), (3,)),
    "dstack": (lambda x: np.dstack([sq(x), x]), (2, 3)),
    "column_stack": (lambda x: np.column_stack([sq(x[0]), x.T, np.ones(4)]), (3, 4)),
    "atleast_1d": (lambda x: np.atleast_1d(sq(x)), ()),
    "atleast_2d": (lambda x: np.atleast_2d(sq(x)), (3,)),
    "atleast_3d": (lambda x: np.atleast_3d(sq(x)), (3, 2)),
    "atleast_several": (lambda x: np.concatenate(np.atleast_1d(sq(x)[0, 0], x[1])), (3, 2)),
    "split_sections": (lambda x: np.split(sq(x), 2, axis=1), (3, 4)),
    "split_indices": (lambda x: np.split(sq(x), [1, 3]), (4, 2)),
    "split_overlapping_indices": (lambda x: np.split(sq(x), [3, 1]), (4,)),
    "split_one_piece_used": (lambda x: np.split(sq(x), 3)[1], (6,)),
    "array_split": (lambda x: np.array_split(sq(x), 3, axis=-1), (2, 5)),
    "hsplit": (lambda x: np.hsplit(sq(x), 2), (3, 4)),
    "vsplit": (lambda x: np.vsplit(sq(x), [1]), (3, 4)),
    "dsplit": (lambda x: np.dsplit(sq(x), 2), (2, 1, 4)),
    "flip": (lambda x: np.flip(sq(x)), (3, 4)),
    "flip_axis": (lambda x: np.flip(sq(x), axis=(0, 2)), (2, 3, 4)),
    "fliplr": (lambda x: np.fliplr(sq(x)), (3, 4)),
    "flipud": (lambda x: np.flipud(sq(x)), (3, 4)),
    "rot90": (lambda x: np.rot90(sq(x)), (3, 4)),
    "rot90_k2": (lambda x: np.rot90(sq(x), 2, axes=(1, 2)), (2, 3, 4)),
    "rot90_k3": (lambda x: np.rot90(sq(x), -1), (3, 4)),
    "roll": (lambda x: np.roll(sq(x), 2), (3, 4)),
    "roll_axis": (lambda x: np.roll(sq(x), -1, axis=1), (3, 4)),
    "roll_many": (lambda x: np.roll(sq(x), (1, 5), axis=(0, 1)), (3, 4)),
    "tile": (lambda x: np.tile(sq(x), 3), (2,)),
    "tile_2d": (lambda x: np.tile(sq(x), (2, 1, 3)), (2, 3)),
    "repeat": (lambda x: np.repeat(sq(x), 2), (2, 3)),
    "repeat_axis": (lambda x: np.repeat(sq(x), [1, 0, 3], axis=0), (3, 2)),
    "repeat_method": (lambda x: sq(x).repeat(3, axis=-1), (3, 2)),
    "pad_constant": (lambda x: np.pad(sq(x), 1), (3, 4)),
    "pad_constant_values": (lambda x: np.pad(sq(x), ((1, 0), (2, 3)), constant_values=(5.0, -1.0)), (3, 4)),
    "pad_traced_constant": (lambda x: np.pad(sq(x), ((0, 1), (2, 0)), constant_values=x[1, 1] * 3), (3, 4)),
    "pad_edge": (lambda x: np.pad(sq(x), (2, 1), mode="edge"), (3, 4)),
    "pad_reflect": (lambda x: np.pad(sq(x), 2, mode="reflect"), (3, 4)),
    "pad_reflect_wide": (lambda x: np.pad(sq(x), 5, mode="reflect"), (3,)),
    "pad_symmetric": (lambda x: np.pad(sq(x), ((0, 3), (1, 1)), mode="symmetric"), (3, 4)),
    "pad_wrap": (lambda x: np.pad(sq(x), 2, mode="wrap"), (3, 4)),
    "take": (lambda x: np.take(sq(x), [5, 0, 5, -1]), (3, 4)),
    "take_axis": (lambda x: np.take(sq(x), [[2, 2], [0, 1]], axis=1), (3, 4)),
    "take_scalar": (lambda x: np.take(sq(x), 1, axis=0), (3, 4)),
    "take_wrap": (lambda x: np.take(sq(x), [4, -6], axis=1, mode="wrap"), (3, 4)),
    "take_clip": (lambda x: np.take(sq(x), [9, -1], mode="clip"), (3, 4)),
    "take_method": (lambda x: sq(x).take([0, 0], axis=0), (3, 4)),
    "take_along_axis": (lambda x: np.take_along_axis(sq(x), np.argsort(x, axis=1), axis=1), (3, 4)),
    "take_along_axis_repeated": (lambda x: np.take_along_axis(sq(x), np.array([[0], [0], [2]]), 0), (3, 4)),
    "take_along_axis_none": (lambda x: np.take_along_axis(sq(x), np.array([1, 1, 7]), None), (3, 4)),
    "sort": (lambda x: np.sort(sq(x)), (3, 4)),
    "sort_axis0": (lambda x: np.sort(sq(x), axis=0), (3, 4)),
    "sort_flat": (lambda x: np.sort(sq(x), axis=None)[:5], (3, 4)),
    "sort_top_k": (lambda x: np.sort(-x)[..., :2] * sq(x)[..., :2], (3, 4)),
    "append": (lambda x: np.append(sq(x), [1.0, 2.0]), (3, 2)),
    "append_axis": (lambda x: np.append(np.ones((1, 2)), sq(x), axis=0), (3, 2)),
    "delete": (lambda x: np.delete(sq(x), [0, 2]), (2, 3)),
    "delete_axis": (lambda x: np.delete(sq(x), 1, axis=1), (2, 3)),
    "delete_slice": (lambda x: np.delete(sq(x), slice(None, None, 2), axis=-1), (2, 5)),
    "full_like_traced_fill": (lambda x: np.full_like(x, sq(x)[0, 0]) * x, (2, 3)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_finite_differences(name):
    f, shape = CASES[name]
    assert_gradients_match(f, [arange_input(*shape)])


FLOAT32_CASES = ("index_repeated_pairs", "index_mask", "reshape_F", "transpose_axes", "concatenate_none",
                 "stack_scalars", "split_overlapping_indices", "flip_axis", "roll_many", "tile_2d",
                 "repeat_axis", "pad_constant_values", "pad_traced_constant", "pad_reflect", "take_axis", "take_along_axis",
                 "sort_flat", "delete", "broadcast_to", "copy", "astype_same", "full_like_traced_fill")


@pytest.mark.parametrize("name", FLOAT32_CASES)
def test_float32_stays_float32(name):
    f, shape = CASES[name]
    x64 = arange_input(*shape)
    expected = numerical_gradients(projection_loss(f, [x64]), [x64], (0,))[0]
    x32 = x64.astype(np.float32)
    loss32 = projection_loss(f, [x32], dtype=np.float32)
    for mode in MODES:
        got = mixedad.gradient(loss32, x32, mode=mode)
        assert got.dtype == np.float32, mode
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-5, err_msg=mode)


def test_float32_input_concatenated_with_float64_constant():
    x = arange_input(3).astype(np.float32)
    for mode in MODES:
        grad = mixedad.gradient(lambda x: np.sum(np.concatenate([x, np.ones(2)]) * np.arange(5.0)), x,
                                mode=mode)
        assert grad.dtype == np.float32
        np.testing.assert_array_equal(grad, [0.0, 1.0, 2.0])


def test_cast_to_float32_and_back_keeps_input_dtype():
    x = arange_input(4)
    for mode in MODES:
        grad = mixedad.gradient(lambda x: np.sum(x.astype(np.float32) ** 2), x, mode=mode)
        assert grad.dtype == np.float64
        np.testing.assert_allclose(grad, 2 * x, rtol=1e-6)


# ------------------------------------------------------------------------------------------
# several traced members, in any position of a sequence
@pytest.mark.parametrize("joiner", [
    lambda a, b: np.concatenate([np.ones((1, 3)), a, b * b, a]),
    lambda a, b: np.stack([a, np.zeros((2, 3)), np.sin(b)], axis=1),
    lambda a, b: np.hstack((a, b[:, ::-2])),
    lambda a, b: np.vstack((np.cos(a), b)),
    lambda a, b: np.column_stack([a, b[:, 0], b]),
    lambda a, b: np.append(a, b, axis=1),
])
def test_sequences_with_several_traced_members(joiner):
    a, b = arange_input(2, 3), arange_input(2, 3) + 1
    assert_gradients_match(joiner, [a, b], argnums=(0, 1))


def test_repeated_advanced_indices_accumulate():
    x = np.array([1.0, 2.0, 3.0])
    for mode in MODES:
        grad = mixedad.gradient(lambda x: np.sum(x[[0, 0, 0, 2]]), x, mode=mode)
        np.testing.assert_array_equal(grad, [3.0, 0.0, 1.0])
        grad = mixedad.gradient(lambda x: np.sum(np.take(x, [1, 1]) ** 2), x, mode=mode)
        np.testing.assert_array_equal(grad, [0.0, 8.0, 0.0])
        grad = mixedad.gradient(lambda x: np.sum(np.repeat(x, [0, 2, 1])), x, mode=mode)
        np.testing.assert_array_equal(grad, [0.0, 2.0, 1.0])


def test_boolean_mask_selects_the_gradient():
    x = np.array([[-1.0, 2.0], [3.0, -4.0]])
    for mode in MODES:
        grad = mixedad.gradient(lambda x: np.sum(x[x > 0] ** 2), x, mode=mode)
        np.testing.assert_array_equal(grad, [[0.0, 4.0], [6.0, 0.0]])


def test_negative_step_slice_gradient():
    x = np.arange(6.0)
    weights = np.array([10.0, 20.0, 30.0])
    for mode in MODES:
        grad = mixedad.gradient(lambda x: np.sum(x[::-2] * weights), x, mode=mode)
        np.testing.assert_array_equal(grad, [0.0, 30.0, 0.0, 20.0, 0.0, 10.0])


def test_sort_sends_the_cotangent_back_to_the_sorted_element():
    x = np.array([3.0, 1.0, 2.0])
    for mode in MODES:
        grad = mixedad.gradient(lambda x: np.sort(x)[0] * 10 + np.sort(x)[2], x, mode=mode)
        np.testing.assert_array_equal(grad, [1.0, 10.0, 0.0])


def test_copy_is_a_new_value_not_an_alias():
    x = arange_input(3)
    for mode in MODES:
        def f(x):
            y = np.copy(x)
            y += 1.0  # retires y; x must stay usable, as it would in NumPy
            return np.sum(x * y)
        np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), 2 * x + 1)


# ------------------------------------------------------------------------------------------
# hypothesis: drawn shapes and keys
small_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


@given(st.data())
def test_reshape_drawn(data):
    shape = data.draw(small_shapes)
    size = int(np.prod(shape))
    first = data.draw(st.sampled_from([d for d in range(1, size + 1) if size % d == 0]))
    target = data.draw(st.sampled_from([(size,), (first, -1), (-1, first, 1), (1, first, size // first)]))
    order = data.draw(st.sampled_from("CF"))
    assert_gradients_match(lambda x: np.reshape(sq(x), target, order=order), [arange_input(*shape)])


@given(st.data())
def test_transpose_drawn(data):
    shape = data.draw(small_shapes)
    axes = data.draw(st.permutations(range(len(shape))))
    assert_gradients_match(lambda x: np.transpose(sq(x), axes), [arange_input(*shape)])


@given(st.data())
def test_concatenate_drawn(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=4))
    traced = data.draw(st.lists(st.booleans(), min_size=len(sizes), max_size=len(sizes)).filter(any))
    members = []
    for index, n in enumerate(sizes):
        member_shape = list(shape)
        member_shape[axis] = n
        members.append(arange_input(*member_shape) + index)
    argnums = tuple(i for i, t in enumerate(traced) if t)

    def joined(*arrays):
        return np.concatenate([np.sin(a) for a in arrays], axis=axis)
    assert_gradients_match(joined, members, argnums=argnums)


@given(st.data())
def test_basic_indexing_drawn(data):
    shape = data.draw(small_shapes)
    key = data.draw(hnp.basic_indices(shape, allow_newaxis=True))
    assert_gradients_match(lambda x: sq(x)[key], [arange_input(*shape)])


@given(st.data())
def test_advanced_indexing_drawn(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    result_shapes = hnp.array_shapes(min_dims=0, max_dims=2, max_side=4)
    key = data.draw(hnp.integer_array_indices(shape, result_shape=result_shapes))
    if data.draw(st.booleans()) and len(key) > 1:  # replace one axis's array by a slice
        position = data.draw(st.integers(0, len(key) - 1))
        step = data.draw(st.sampled_from([1, -1, 2]))
        key = key[:position] + (slice(None, None, step),) + key[position + 1:]
    assert_gradients_match(lambda x: sq(x)[key], [arange_input(*shape)])


@given(st.data())
def test_mask_indexing_drawn(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    leading = data.draw(st.integers(1, len(shape)))
    mask = data.draw(hnp.arrays(bool, shape[:leading]))
    assert_gradients_match(lambda x: sq(x)[mask], [arange_input(*shape)])


# ------------------------------------------------------------------------------------------
# non-differentiable and metadata functions on traced values
def run_inside(f, x, mode="auto"):
    """Run f on the traced x inside a differentiation and return what it saw."""
    seen = {}

    def loss(x):
        seen["result"] = f(x)
        return np.sum(x)
    mixedad.gradient(loss, x, mode=mode)
    return seen["result"]


def test_metadata_does_not_evaluate_a_deferred_value():
    def f(x):
        y = np.sin(x) * 2.0
        answers = (np.shape(y), np.ndim(y), np.size(y), np.size(y, 1), np.size(y, (0, 1)), len(y),
                   np.zeros_like(y).shape, np.result_type(y, np.float32))
        return answers, repr(y)
    answers, description = run_inside(f, arange_input(2, 3))
    assert answers == ((2, 3), 2, 6, 3, 6, 2, (2, 3), np.float64)
    assert "deferred" in description


@pytest.mark.parametrize("like, expected", [
    (lambda y: np.zeros_like(y), np.zeros((2, 3))),
    (lambda y: np.ones_like(y, dtype=np.int32), np.ones((2, 3), np.int32)),
    (lambda y: np.full_like(y, 7.0), np.full((2, 3), 7.0)),
    (lambda y: np.full_like(y, 7.5, dtype=np.float32, shape=(4,)), np.full(4, 7.5, np.float32)),
    (lambda y: np.empty_like(y).astype(bool) | True, np.ones((2, 3), bool)),
])
def test_like_constructors_give_constants(like, expected):
    """Their values carry no derivative; a float one is a traced constant (it may then receive
    traced values by assignment), any other a plain array."""
    x = arange_input(2, 3)
    result = run_inside(like, x)
    assert result.dtype == expected.dtype and result.shape == expected.shape
    if expected.dtype.kind != "f":
        assert type(result) is np.ndarray
        np.testing.assert_array_equal(result, expected)
        return

    def weighted(x):
        return np.sum(like(x) * np.sum(x ** 2))
    np.testing.assert_allclose(mixedad.gradient(weighted, x), numerical_gradient(weighted, x), rtol=1e-6)
    np.testing.assert_allclose(mixedad.gradient(weighted, x), 2 * x * expected.sum(), rtol=1e-12)


@pytest.mark.parametrize("function", [
    lambda y: np.argmax(y), lambda y: np.argmin(y, axis=0), lambda y: np.argsort(y, axis=1),
    lambda y: y.argsort(), lambda y: np.nonzero(y > 0.5), lambda y: np.flatnonzero(y > 0.5),
    lambda y: np.any(y > 0.5, axis=0), lambda y: np.all(y > 0.5), lambda y: np.count_nonzero(y > 0.5),
    lambda y: np.unique(np.round(y, 1)), lambda y: np.argwhere(y > 0.5), lambda y: y.astype(np.int64),
    lambda y: (y * 10).astype(bool), lambda y: np.searchsorted(np.sort(y[0]), 0.5),
    lambda y: np.argpartition(y, 1, axis=1),
])
@pytest.mark.parametrize("mode", MODES)
def test_integer_valued_functions_give_plain_values(function, mode):
    x = arange_input(2, 3)
    result = run_inside(lambda t: function(np.sin(t)), x, mode)
    expected = function(np.sin(x))
    results, expectations = (result, expected) if isinstance(expected, tuple) else ((result,), (expected,))
    assert len(results) == len(expectations)
    for got, want in zip(results, expectations):
        assert type(got) is type(want)  # NumPy's own types (count_nonzero gives an int before NumPy 2.1)
        np.testing.assert_array_equal(got, want)


def test_integer_cast_carries_no_gradient():
    x = arange_input(2, 3) * 10
    for mode in MODES:
        grad = mixedad.gradient(lambda x: np.sum(x * x.astype(np.int64)), x, mode=mode)
        np.testing.assert_array_equal(grad, np.floor(x))


def test_argsort_result_indexes_differentiably():
    x = np.array([0.3, -1.0, 2.0, 0.5])
    for mode in MODES:
        grad = mixedad.gradient(lambda x: x[np.argsort(x)[-1]] * 3 + x[np.argmax(x * -1)], x, mode=mode)
        np.testing.assert_array_equal(grad, [0.0, 1.0, 3.0, 0.0])


# ------------------------------------------------------------------------------------------
# errors
@pytest.mark.parametrize("use_traced_index", [
    lambda x: x[x[0]],
    lambda x: x[(0, x[1])],
    lambda x: x[[0, x[1]]],
    lambda x: x[x[0]:],
    lambda x: np.take(x, x),
    lambda x: np.roll(x, x[0]),
    lambda x: np.repeat(x, x),
], ids=["scalar", "in_tuple", "in_list", "slice_bound", "take", "roll", "repeat"])
def test_traced_index_is_an_error_naming_the_line(use_traced_index):
    x = np.array([0.0, 1.0, 2.0])
    with pytest.raises(NonDifferentiableError) as info:
        mixedad.gradient(lambda x: np.sum(use_traced_index(x)), x)
    message = str(info.value)
    assert "test_rules_shape.py" in message
    assert "no derivative" in message


def test_asarray_of_traced_is_non_differentiable_error():
    with pytest.raises(NonDifferentiableError):
        mixedad.gradient(lambda x: np.sum(np.asarray(x)), np.ones(3))


@pytest.mark.parametrize("call", [
    lambda x: np.reshape(x, (2, 3), order="A"),
    lambda x: np.pad(x, 1, mode=lambda vector, width, axis, kwargs: None),
])
def test_unsupported_variants_raise_not_implemented(call):
    with pytest.raises(NotImplementedError):
        mixedad.gradient(lambda x: np.sum(call(x)), np.ones(6))


@pytest.mark.parametrize("call, error", [
    (lambda x: np.split(x, 4), ValueError),
    (lambda x: np.stack([x, x[:2]]), ValueError),
    (lambda x: np.moveaxis(x, 3, 0), np.exceptions.AxisError),
    (lambda x: np.fliplr(x), ValueError),
    (lambda x: x[7], IndexError),
])
def test_invalid_arguments_raise_numpys_errors(call, error):
    with pytest.raises(error):
        call(np.ones(6))  # NumPy itself
    with pytest.raises(error):
        mixedad.gradient(lambda x: np.sum(call(x)), np.ones(6))


# --- indexing cotangents added in place by the backward sweep ---------------------------------
def element_loop(x):
    total = 0.0
    for i in range(x.shape[0]):
        total = total + np.sin(x[i]) * x[(i + 1) % x.shape[0]]
    return total


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_element_loop_gradient_matches_finite_differences(dtype):
    x = np.linspace(-1.0, 1.5, 7).astype(dtype)
    grad = mixedad.gradient(element_loop, x)
    assert grad.dtype == dtype
    expected = numerical_gradient(element_loop, x)
    np.testing.assert_allclose(grad, expected, rtol=1e-4 if dtype == np.float32 else 1e-7, atol=1e-5)


def test_selected_and_dense_cotangents_add_up_in_any_order():
    def mixed_uses(x):
        head = x[:2] * 3.0              # basic index
        picked = x[np.array([0, 0, 3])]  # advanced, repeated
        return np.sum(head ** 2) + np.sum(picked * x[1]) + np.sum(x * x)
    x = np.array([0.5, -1.0, 2.0, 1.5])
    np.testing.assert_allclose(mixedad.gradient(mixed_uses, x), numerical_gradient(mixed_uses, x), rtol=1e-7)


def test_in_place_sums_never_touch_shared_cotangents():
    def shared(x):
        y = np.tanh(x) + 0.0       # one region whose two inputs share a partial
        parts = [y[i] for i in range(3)]
        return parts[0] * parts[1] + parts[2] + np.sum(y * x)
    x = np.array([0.3, -0.7, 1.1])
    first = mixedad.gradient(shared, x)
    np.testing.assert_allclose(first, numerical_gradient(shared, x), rtol=1e-7)
    np.testing.assert_array_equal(mixedad.gradient(shared, x), first)


def test_second_order_through_indexing_uses_the_rule_not_the_buffer():
    f = lambda x: x[0] ** 2 * x[1] + np.sum(x[np.array([1, 1])] ** 3)
    x = np.array([0.5, 2.0])
    expected = np.array([[2 * x[1], 2 * x[0]], [2 * x[0], 12 * x[1]]])
    np.testing.assert_allclose(mixedad.hessian(f, x), expected, rtol=1e-12)


# --- metadata functions and histogram: plain results from shapes and values ----------------
def test_index_helpers_read_only_the_shape():
    a = np.arange(1.0, 10.0).reshape(3, 3)
    for helper, weights in ((np.tril_indices_from, 2.0), (np.triu_indices_from, 3.0), (np.diag_indices_from, 4.0)):
        def f(x, helper=helper, weights=weights):
            return np.sum(weights * x[helper(x)] ** 2)
        np.testing.assert_allclose(mixedad.gradient(f, a), numerical_gradient(f, a), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_histogram_counts_are_constant_and_data_placed_edges_follow_the_extremes(dtype):
    x = np.random.default_rng(0).standard_normal(40).astype(dtype)

    def f(x):
        counts, edges = np.histogram(x, bins=5)
        return np.sum(counts * edges[1:] ** 2)

    counts, edges = np.histogram(x, bins=5)
    value, grad = mixedad.value_and_gradient(f, x)
    assert value == pytest.approx(float(f(x)), rel=1e-6) and grad.dtype == dtype
    np.testing.assert_allclose(grad, numerical_gradient(f, x.astype(np.float64), eps=1e-7), rtol=1e-3, atol=1e-3)
    assert np.count_nonzero(grad) == 2  # only the minimum and the maximum place the edges
    fixed = mixedad.gradient(lambda x: np.sum(np.histogram(x, bins=[-1.0, 0.0, 1.0])[0] * x[:2]), x)
    np.testing.assert_array_equal(fixed[:2], np.histogram(x, bins=[-1.0, 0.0, 1.0])[0])
    # weighted counts: each weight counts in its element's bin (they raised until session 45)
    np.testing.assert_array_equal(mixedad.gradient(lambda w: np.sum(np.histogram(x, weights=w)[0]), x),
                                  np.ones_like(x))


def test_histogram_edges_of_equal_values_move_with_them():
    """NumPy widens the range by 0.5 each side; the edges still follow the data (they had a zero gradient)."""
    def f(t):
        return np.sum(np.histogram(np.full(3, 2.0) + t, 3)[1] ** 2)
    assert mixedad.gradient(f, 0.3) == pytest.approx(numerical_gradient(f, np.array(0.3)), rel=1e-6)


@pytest.mark.parametrize("split", [
    lambda x: np.split(x, 1), lambda x: np.array_split(x, 1), lambda x: np.split(x, 1, axis=-1),
    lambda x: np.split(x, [5]), lambda x: np.hsplit(x, 1),
], ids=["split 1", "array_split 1", "split 1 last axis", "split at the end", "hsplit 1"])
@pytest.mark.parametrize("shape", [(5,), (3, 5), (2, 3, 5)])
@pytest.mark.parametrize("mode", ["auto", "reverse", "prepared"])
def test_a_split_into_one_piece_gets_its_whole_cotangent(split, shape, mode):
    """One output of a multiple-output primitive: its cotangent is the piece's, not its first row
    (a (3, 5) input got [g[0], g[0], g[0]])."""
    if split(np.ones(shape))[0].shape != shape:
        pytest.skip("this split of this shape makes more than one piece")
    x = np.random.default_rng(3).standard_normal(shape)
    weights = np.random.default_rng(4).standard_normal(shape)
    f = lambda x: np.sum(split(x)[0] ** 2 * weights)
    grad = mixedad.prepare(f, x).gradient(x) if mode == "prepared" else mixedad.gradient(f, x, mode=mode)
    np.testing.assert_allclose(grad, 2 * x * weights, rtol=1e-12)


def test_a_user_primitive_with_one_of_multiple_outputs():
    @mixedad.primitive(multiple_outputs=True)
    def doubled(x):
        return (2.0 * x,)

    doubled.defvjp(lambda gs, outs, x: 2.0 * gs[0])
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(doubled(x)[0] * x), x), 4 * x)
