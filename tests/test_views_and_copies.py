"""Which NumPy results share memory with their input, as mixedad models it.

An in-place update of a traced view would have to change the array it views too; mixedad
cannot, so it raises. A result NumPy copies must not raise. Found by a sweep of realistic
programs: np.split's pieces used to be copies, and `p -= ...` on them was silently lost.
"""
import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient
from numpy_versions import needs_numpy

Z0 = np.array([1.0, 0.5, -0.3, 0.2])


def leapfrog_on_split_views(z):
    z = z * 1.0
    q, p = np.split(z, 2)
    p -= 0.1 * q
    return np.sum(z ** 2)


def scale_astype_without_copy(z):
    y = z * 1.0
    w = y.astype(np.float64, copy=False)  # y itself
    w *= 3
    return np.sum(y ** 2)


def slice_then_update(z):
    y = np.sin(z).reshape(2, 2)
    row = y[0]
    y += 1.0
    return np.sum(row)


@pytest.mark.parametrize("f", [leapfrog_on_split_views, slice_then_update,
                               lambda z: leapfrog_on_split_views(z.reshape(2, 2)),
                               lambda z: np.sum([piece for piece in np.array_split(z * 1.0, 3)][0].__iadd__(1.0))])
def test_in_place_update_of_a_view_raises(f):
    # at the update (a view that cannot write through), or at the next use of a view it retired
    with pytest.raises(mixedad.InPlaceMutationError, match="shares memory|view again"):
        mixedad.gradient(f, Z0)


def test_astype_without_copy_is_the_array_itself():
    for mode in ("auto", "reverse", "forward"):  # the update of w is one of y
        value, grad = mixedad.value_and_gradient(scale_astype_without_copy, Z0, mode=mode)
        assert value == pytest.approx(scale_astype_without_copy(Z0.copy()), rel=1e-12)
        np.testing.assert_allclose(grad, numerical_gradient(scale_astype_without_copy, Z0), rtol=1e-6)
    assert mixedad.gradient(lambda z: np.sum(z.astype(np.float64, copy=False) ** 2), Z0) == pytest.approx(2 * Z0)


def scalar_element_then_update(z):
    y = np.sin(z)
    first = y[0]  # an integer per axis: NumPy returns a scalar, a copy
    y += 1.0
    return np.sum(y * first)


def fancy_index_then_update(z):
    y = z[[0, 1, 2]]
    y += 1.0
    return np.sum(y ** 2)


def mask_then_update(z):
    y = z[z > 0]
    y *= 2.0
    return np.sum(y ** 2) + np.sum(z)


def flatten_then_update(z):
    y = np.sin(z.reshape(2, 2))
    v = y.flatten()
    y += 1.0
    v += 2.0
    return np.sum(v * y.ravel())


def reshape_copy_then_update(z):
    """reshape(copy=True) is a copy: the update must not reach y (it did, silently)."""
    y = np.sin(z)
    v = np.reshape(y, (2, 2), copy=True)
    v[0, 0] = 5.0 * z[3]
    w = y.reshape(2, 2, copy=True)
    w += 1.0
    return np.sum(y * y) + np.sum(v * w)


def scalar_reshape_then_update(z):
    """A NumPy scalar's reshape is the immutable scalar itself, not a view: the update must not
    reach s (it did: the value was 44 at Z0 where NumPy gives 34)."""
    s = z[3]
    r = np.reshape(s, ())
    r += 1.0
    return s * 10.0 + r * z[0]


@pytest.mark.parametrize("f", [scalar_element_then_update, fancy_index_then_update, mask_then_update,
                               flatten_then_update,
                               pytest.param(reshape_copy_then_update, marks=needs_numpy(2, 1)),  # copy=
                               scalar_reshape_then_update])
@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_copies_can_be_updated_in_place(f, mode):
    value, grad = mixedad.value_and_gradient(f, Z0, mode=mode)
    assert value == pytest.approx(f(Z0.copy()))
    np.testing.assert_allclose(grad, numerical_gradient(f, Z0), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("take_diagonal", [np.diagonal, np.diag, lambda m: m.diagonal()])
def test_a_diagonal_taken_before_its_matrix_changes_raises_in_every_mode(take_diagonal):
    """Found by a sweep: the diagonal was treated as a copy, so the value and gradient were half
    of NumPy's."""
    def f(x):
        m = np.outer(x, x)
        d = take_diagonal(m)
        m *= 2.0
        return np.sum(d)
    with pytest.raises(mixedad.InPlaceMutationError, match="view again"):
        mixedad.gradient(f, Z0)
    with pytest.raises(mixedad.InPlaceMutationError):
        mixedad.jvp(f, (Z0,), (np.ones_like(Z0),))
    # np.diag of a vector builds a new matrix: no view, no error
    assert mixedad.gradient(lambda x: np.sum(np.diag(x) * 2.0), Z0) == pytest.approx(2 * np.ones(4))


def test_a_scalar_reshape_updated_in_place_agrees_with_numpy_in_forward_mode():
    tangent = np.arange(1.0, 5.0)
    value, derivative = mixedad.jvp(scalar_reshape_then_update, (Z0,), (tangent,))
    assert value == pytest.approx(scalar_reshape_then_update(Z0.copy()))
    assert derivative == pytest.approx(numerical_gradient(scalar_reshape_then_update, Z0) @ tangent)


def _grandchild_after_root_update(z):
    y = z * 1.0
    w = y[0:3][0:2]  # a view of a view
    y[0] = 5.0 * z[2]
    return np.sum(w * z[:2])  # NumPy: w shows the new y[0]; mixedad read the old one (19 vs 5)


def _grandchild_after_sibling_update(z):
    y = z * 1.0
    v, u = y[0:2], y.reshape(2, 2)
    row = u[0]
    v[0] = 3.0 * z[3]  # writes through into y, so u and row change too
    return np.sum(row * z[1:3])


def _grandchild_after_parent_update(z):
    y = z * 1.0
    v = y[1:4]
    w = v[0:2]
    v += 1.0
    return np.sum(w)


@pytest.mark.parametrize("f", [_grandchild_after_root_update, _grandchild_after_sibling_update,
                               _grandchild_after_parent_update])
def test_a_view_of_a_view_used_after_its_array_changed_raises_in_every_mode(f):
    for mode in ("auto", "reverse"):
        with pytest.raises(mixedad.InPlaceMutationError, match="used again"):
            mixedad.gradient(f, Z0, mode=mode)
    with pytest.raises(mixedad.InPlaceMutationError, match="used again"):
        mixedad.jvp(f, (Z0,), (np.ones_like(Z0),))


def test_views_of_views_taken_again_after_the_update_are_right():
    def f(z):
        y = z * 1.0
        w = y[0:3][0:2]
        y[0] = 5.0 * z[2]
        w = y[0:3][0:2]  # taken again: sees the update, as in NumPy
        return np.sum(w * z[:2])

    _agrees_with_numpy_in_every_mode(f, Z0)


def _agrees_with_numpy_in_every_mode(f, x):
    for mode in ("auto", "reverse"):
        value, grad = mixedad.value_and_gradient(f, x, mode=mode)
        assert value == pytest.approx(f(x.copy()))
        np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=1e-6, atol=1e-9)
    _, derivative = mixedad.jvp(f, (x,), (np.ones_like(x),))
    assert derivative == pytest.approx(numerical_gradient(f, x).sum())


def test_a_view_of_a_view_the_assignment_does_not_reach_stays_usable():
    def f(x):
        y = np.reshape(x * 1.0, (2, 3))  # itself a view: the assignment writes through into x * 1.0
        row = y[1]
        y[0, 1] = 5.0 * x[0]
        row[0] = x[2] ** 2  # still a view of y, as in NumPy: this writes into y too
        return np.sum(np.sin(y) * np.arange(6.0).reshape(2, 3)) + np.sum(row ** 2)

    x = np.linspace(0.1, 0.9, 6)
    _agrees_with_numpy_in_every_mode(f, x)
    prepared = mixedad.prepare(f, x)
    np.testing.assert_allclose(prepared.gradient(x[::-1].copy()), mixedad.gradient(f, x[::-1].copy()))


# Where NumPy copies although the op can return a view: a scalar's ravel or reshape (a full
# reduction gives an immutable scalar), ravel(order="F") of a C-ordered array, ravel of a
# transpose. An update of the copy must leave the original alone (it wrote through before).
W22 = np.array([[1.0, 2.0], [3.0, 4.0]])
COPIES_OF_VIEWABLE_OPS = {
    "ravel of a sum": (lambda x: _updated(np.ravel(np.sum(x)), 2.0)[0] + np.sum(x), np.array([0.8, -1.3, 0.25])),
    "reshape of a sum": (lambda x: _updated(np.sum(x).reshape(1), 0.0)[0] + np.sum(x) * x[0],
                         np.array([0.8, -1.3, 0.25])),
    "atleast_1d of a scalar": (lambda x: _updated(np.atleast_1d(np.sin(x[0])), 3.0)[0] + np.sin(x[0]),
                               np.array([0.8, -1.3])),
    "ravel in Fortran order": (lambda x: np.sum(_updated(np.sin(x).ravel(order="F"), 3.0)) + np.sum(np.sin(x) * W22),
                               np.array([[0.5, -1.0], [2.0, 0.3]])),
    "ravel of a transpose": (lambda x: np.sum(_updated(np.ravel(np.sin(x).T), 3.0) * W22.ravel()),
                             np.array([[0.5, -1.0], [2.0, 0.3]])),
    "ravel of a strided column": (lambda x: _ravel_column_then_update_source(x), np.array([[0.5, -1.0], [2.0, 0.3]])),
    # np.tile always copies, also where its reshape could be a view (each axis repeats or has length 1)
    "tile of a column": (lambda x: _tile_then_update_source(x, (1, 2)), np.array([[0.5], [1.0], [1.5]])),
    "tile of a row": (lambda x: _tile_then_update_source(x, (2, 1)), np.array([[0.5, 1.0, 1.5]])),
    "tile of one element": (lambda x: _tile_then_update_source(x, 3), np.array([0.7])),
    "tile by ones": (lambda x: _tile_then_update_source(x, (1, 1)), np.array([[0.5, -1.0], [2.0, 0.3]])),
}


def _ravel_column_then_update_source(x):
    v = np.sin(x)
    column = v[:, 0].ravel()  # NumPy copies: the column is not contiguous
    v[1, 1:] += 1.0
    column *= 3.0
    return np.sum(column * v[:, 1]) + np.sum(v * v)


def _tile_then_update_source(x, reps):
    v = np.sin(x)
    tiled = np.tile(v, reps)
    v += 1.0
    tiled *= 2.0
    return np.sum(tiled * np.cos(tiled)) + np.sum(v * v)


def _updated(a, factor):
    a *= factor
    return a


def _twice_sum_then_scale(x):
    s = np.sum(x)
    v = np.ravel(s)  # NumPy: a new array, since s is a scalar
    v *= 2.0
    return s * x[1]


@pytest.mark.parametrize("name", list(COPIES_OF_VIEWABLE_OPS))
@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_copies_made_by_ops_that_can_return_views(name, mode):
    f, x = COPIES_OF_VIEWABLE_OPS[name]
    value, grad = mixedad.value_and_gradient(f, x, mode=mode)
    assert value == pytest.approx(f(x.copy()), rel=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=1e-6, atol=1e-9)
    assert mixedad.jvp(f, (x,), (np.ones_like(x),))[0] == pytest.approx(f(x.copy()), rel=1e-12)


def test_a_scalar_updated_through_its_ravel_is_unchanged():
    x = np.array([0.8, -1.3, 0.25])
    value, grad = mixedad.value_and_gradient(_twice_sum_then_scale, x)
    assert value == pytest.approx(_twice_sum_then_scale(x.copy()))
    np.testing.assert_allclose(grad, numerical_gradient(_twice_sum_then_scale, x), rtol=1e-7)


@pytest.mark.parametrize("subscripts", ["ii->i", "ij->ji", "ij->ij"])
def test_an_einsum_view_updated_in_place_raises(subscripts):
    # NumPy's einsum of one operand returns a view: the update changes y, which mixedad cannot follow
    def f(x):
        y = np.sin(x)
        view = np.einsum(subscripts, y)
        view *= 3.0
        return np.sum(y * W22)
    x = np.array([[0.5, -1.0], [2.0, 0.3]])
    for transform in (lambda: mixedad.gradient(f, x), lambda: mixedad.gradient(f, x, mode="reverse"),
                      lambda: mixedad.jvp(f, (x,), (np.ones_like(x),))):
        with pytest.raises(mixedad.InPlaceMutationError):
            transform()


def test_a_stale_alias_met_in_a_region_gets_the_in_place_error():
    def f(x):
        reversed_x = x[::-1]
        x *= 2.0
        return np.sum(np.sum(x) * reversed_x)  # reversed_x went stale: NumPy doubled it too
    for mode in ("auto", "reverse"):
        with pytest.raises(mixedad.InPlaceMutationError, match="replaced by an in-place operation"):
            mixedad.gradient(f, np.array([1.0, 2.0, 3.0]), mode=mode)


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_an_in_place_operator_casts_into_the_array_it_updates(mode):
    # NumPy: y += c computes in float64 and stores float32
    c = np.array([0.1, 0.2, 0.3])

    def f(x):
        y = x * 1.0
        y += c
        return np.sum(y * y)
    x = np.array([0.5, -1.0, 2.0], np.float32)
    value, grad = mixedad.value_and_gradient(f, x, mode=mode)
    assert value.dtype == np.float32 and value == f(x.copy())
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, 2 * (x + c.astype(np.float32)), rtol=1e-6)


# NumPy scalars are immutable: ``s += 1`` on the np.float64 a full reduction, an element or a
# ufunc of scalars gives rebinds s, and an alias keeps the old value (a loss history).
SCALAR_UPDATES = {
    "full sum": lambda x: _scalar_then_alias(np.sum(x * x)),
    "element": lambda x: _scalar_then_alias(x[0, 1]),
    "max": lambda x: _scalar_then_alias(x.max()),
    "dot of rows": lambda x: _scalar_then_alias(np.dot(x[0], x[1])),
    "ufunc of an element": lambda x: _scalar_then_alias(np.sin(x[1, 0])),
    "fused sum": lambda x: _scalar_then_alias(np.sum(np.sin(x))),
    "loss history": lambda x: _loss_history(x),
    "copy of an element": lambda x: _copy_then_update(x[1, 0]),
    "copy of a full sum": lambda x: _copy_then_update(np.sum(x * x)),
}


def _copy_then_update(s):  # NumPy: a scalar's .copy() is a scalar, which s += 1 leaves alone
    s = s.copy()
    t = s
    s += 1.0
    return t * s


def _scalar_then_alias(s):
    t = s
    s += 1.0
    s *= 1.5
    return t * s + t


def _loss_history(x):
    loss = np.sum(np.sin(x))
    history = [loss]
    loss -= 0.5
    return history[0] * loss


@pytest.mark.parametrize("name", list(SCALAR_UPDATES))
@pytest.mark.parametrize("mode", ["auto", "reverse", "forward", "prepared"])
def test_in_place_operators_on_numpy_scalars_rebind_as_in_numpy(name, mode):
    f = SCALAR_UPDATES[name]
    x = np.array([[0.3, 0.7], [1.1, -0.4]])
    if mode == "prepared":
        value, grad = mixedad.prepare(f, x).value_and_gradient(x)
    else:
        value, grad = mixedad.value_and_gradient(f, x, mode=mode)
    assert value == pytest.approx(f(x.copy()), rel=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=1e-6, atol=1e-9)
    assert mixedad.jvp(f, (x,), (np.ones_like(x),))[0] == pytest.approx(f(x.copy()), rel=1e-12)
    hessian = mixedad.hessian(f, x).reshape(4, 4)
    by_differences = np.array([numerical_gradient(lambda x: mixedad.gradient(f, x).ravel()[i], x).ravel()
                               for i in range(4)])
    np.testing.assert_allclose(hessian, by_differences, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("make", [lambda x: x, lambda x: np.copy(x * 1.0), lambda x: x.reshape(())],
                         ids=["0-d input", "np.copy", "reshape"])
def test_zero_d_arrays_stay_arrays_an_alias_of_an_updated_one_sees_the_update(make):
    def f(x):
        y = make(x)
        alias = y
        y += 1.0
        return alias * y

    def twice(x):  # after one update it is still a 0-d array, not a scalar
        y = make(x)
        y += x
        alias = y
        y *= 3.0
        return alias * y

    assert isinstance(make(np.array(0.5)), np.ndarray)  # NumPy: an array, updated in place (alias too)
    x = np.array(0.5)
    for function in (f, twice):
        for mode in ("auto", "reverse", "forward"):
            value, grad = mixedad.value_and_gradient(function, x, mode=mode)
            assert value == pytest.approx(function(x.copy()), rel=1e-12)
            assert grad == pytest.approx(numerical_gradient(function, x), rel=1e-6)


LAYOUTS = {
    "take axis 1": lambda a: np.take(a, [0, 3, 3, 5], axis=1),
    "repeat axis 1": lambda a: np.repeat(a, 2, axis=1),
    "delete int axis 1": lambda a: np.delete(a, 1, axis=1),
    "delete slice axis 1": lambda a: np.delete(a, slice(0, 4), axis=1),
    "tile 3-d": lambda a: np.tile(a, (2, 1, 1)),
    "tile of a transpose, nothing repeated": lambda a: np.tile(a.T, (1, 1)),
    "copy order F": lambda a: a.copy(order="F"),
    "np.copy order F": lambda a: np.copy(a * 2.0, order="F"),
    "copy of a transpose": lambda a: (a * 2.0).T.copy(),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_results_have_numpys_memory_layout_so_later_sums_round_alike(name):
    """NumPy's sums add in memory order: a result in another layout sums to other last bits."""
    op = LAYOUTS[name]
    x = np.random.default_rng(5).standard_normal((60, 301))
    expected = op(x)
    value = mixedad.vjp(op, x)[0]
    assert value.flags.c_contiguous == expected.flags.c_contiguous
    assert value.flags.f_contiguous == expected.flags.f_contiguous
    total, grad = mixedad.value_and_gradient(lambda a: np.sum(op(a)), x)
    assert total == np.sum(expected)
    np.testing.assert_array_equal(grad, mixedad.gradient(lambda a: np.sum(op(a)), x, mode="forward"))


@pytest.mark.parametrize("operator", ["%=", "//="])
def test_remainder_and_floor_division_in_place_keep_the_dtype_and_update_aliases(operator):
    divisor = np.array([0.7, 0.35, 1.1])  # float64 next to a float32 array: NumPy casts back into it

    def f(x):
        y = x * np.float32(3.0)
        row = y[:]  # an alias NumPy updates too
        if operator == "%=":
            y %= divisor
        else:
            y //= divisor
        assert y.dtype == np.float32
        return np.sum(y * x) + np.sum(row)

    x = np.array([0.5, 1.27, 2.9], np.float32)  # (3x / divisor is 2.1, 10.9, 7.9: away from the jumps)
    expected_value = f(x.copy())
    with pytest.raises(mixedad.InPlaceMutationError):  # row went stale, as in NumPy: use raises, not a stale value
        mixedad.gradient(f, x)

    def g(x):
        y = x * np.float32(3.0)
        if operator == "%=":
            y %= divisor
        else:
            y //= divisor
        return np.sum(y * x)

    value, grad = mixedad.value_and_gradient(g, x)
    assert value.dtype == np.float32 and grad.dtype == np.float32 and expected_value.dtype == np.float32
    assert value == pytest.approx(g(x.copy()), rel=1e-6)
    wide = x.astype(np.float64)
    np.testing.assert_allclose(grad, numerical_gradient(lambda v: g(v.astype(np.float32)).astype(np.float64), wide,
                                                        eps=1e-3), rtol=1e-3)
    _, tangent = mixedad.jvp(g, (x,), (np.ones_like(x),))
    assert tangent.dtype == np.float32


def _returns_a_view_taken_before_an_assignment(x):
    y = x * 2.0
    v = y[:]
    y[0] = 5.0  # NumPy: v shows it, f(x) = [5, 2 x1, 2 x2]
    return v


def _returns_a_view_of_a_value_updated_in_place(x):
    y = x * 2.0
    v = y[1:]
    y += 1.0  # NumPy: v shows it
    return {"out": v}


def _returns_an_alias_of_an_updated_value(x):
    y = x * 2.0
    v = y
    y += x ** 2  # NumPy: v is y, updated
    return {"out": v}


def test_returning_an_alias_of_a_value_updated_in_place_returns_the_update():
    x = np.array([1.0, 2.0, 3.0])
    for mode in ("auto", "reverse", "forward"):
        np.testing.assert_allclose(mixedad.jacobian(_returns_an_alias_of_an_updated_value, x, mode=mode)["out"],
                                   np.diag(2.0 + 2.0 * x), rtol=1e-12)
    value, pullback = mixedad.vjp(_returns_an_alias_of_an_updated_value, x)
    np.testing.assert_allclose(value["out"], 2.0 * x + x ** 2, rtol=1e-12)
    np.testing.assert_allclose(pullback({"out": np.ones(3)})[0], 2.0 + 2.0 * x, rtol=1e-12)


@pytest.mark.parametrize("f", [_returns_a_view_taken_before_an_assignment, _returns_a_view_of_a_value_updated_in_place])
def test_returning_a_value_an_update_replaced_raises_in_vjp_and_jacobian(f):
    """Taken as a constant output, it had a zero Jacobian (mode="reverse") and a pullback of zeros."""
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(mixedad.InPlaceMutationError, match="f returned a traced value"):
        mixedad.jacobian(f, x, mode="reverse")
    with pytest.raises(mixedad.InPlaceMutationError, match="f returned a traced value"):
        mixedad.vjp(f, x)
