"""Views that an assignment does not reach stay usable, as in NumPy.

``prev = X[t - 1]`` read again after ``X[t, 0] = ...`` is the Euler loop's pattern: NumPy leaves
row t-1 as it was, so mixedad must too (it raised, found by a survey of ODE programs). A view
that the assignment does reach must still raise when used again: NumPy would show it the new
values, which mixedad cannot follow. The reference for which is which is NumPy itself.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixedad
from numerical import numerical_gradient

P0 = np.array([0.7, -0.3])


def euler_with_row_views(p, steps=12, h=0.1):
    states = np.zeros_like(p, shape=(steps, 2))
    states[0] = p
    for t in range(1, steps):
        previous = states[t - 1]
        states[t, 0] = previous[0] + h * previous[1]
        states[t, 1] = previous[1] - h * np.sin(previous[0])  # previous read after row t changed
    return np.sum(states[:, 0] ** 2)


def column_read_after_other_column_written(p):
    grid = np.zeros_like(p, shape=(3, 2)) + np.sin(p)
    first = grid[:, 0]
    grid[:, 1] = 2 * first ** 2
    return np.sum(first * grid[:, 1])


def kept_view_written_into(p):
    grid = np.zeros_like(p, shape=(3, 2)) + p
    row = grid[0]
    grid[1] = 2 * p
    row[0] = 5 * p[0] ** 2  # still a view: writes into the newest grid
    return np.sum(grid ** 2)


def in_place_updates_beside_views(p):
    grid = np.zeros_like(p, shape=(3, 2)) + p
    row = grid[0]
    tail = row[1:]  # a view of a view, outside the updates too
    grid[1] += p ** 2
    grid[2, 1:] -= np.sin(p[0])
    return np.sum(row * grid[1]) + np.sum(tail ** 3) + np.sum(grid)


PROGRAMS = [euler_with_row_views, column_read_after_other_column_written, kept_view_written_into,
            in_place_updates_beside_views]


@pytest.mark.parametrize("f", PROGRAMS)
def test_views_outside_an_assignment_give_numpys_values_and_gradients(f):
    expected = numerical_gradient(f, P0)
    for mode in ("auto", "reverse", "forward"):
        value, grad = mixedad.value_and_gradient(f, P0, mode=mode)
        assert value == pytest.approx(f(P0.copy()), rel=1e-12)
        np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)
    direction = np.array([0.3, 1.0])
    value, derivative = mixedad.jvp(f, (P0,), (direction,))
    assert value == pytest.approx(f(P0.copy()), rel=1e-12)
    assert derivative == pytest.approx(expected @ direction, rel=1e-6)
    hessian_reference = np.array([numerical_gradient(lambda q: mixedad.gradient(f, q)[i], P0) for i in range(2)])
    np.testing.assert_allclose(mixedad.hessian(f, P0), hessian_reference, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("f", PROGRAMS)
def test_prepared_gradients_replay_programs_with_views_outside_assignments(f):
    prepared = mixedad.prepare(f, P0)
    for shift in (0.1, -0.4):
        point = P0 + shift
        np.testing.assert_allclose(prepared.gradient(point), numerical_gradient(f, point), rtol=1e-6, atol=1e-9)
    assert prepared.replays


def view_reached_by_a_later_assignment(p):
    grid = np.zeros_like(p, shape=(3, 2)) + p
    row = grid[0]
    grid[1] = 2 * p  # row is kept
    grid[0] = 3 * p  # now NumPy shows row the change
    return np.sum(row)


def test_a_kept_view_that_a_later_assignment_reaches_raises_in_every_mode():
    for mode in ("auto", "reverse", "forward"):
        with pytest.raises(mixedad.InPlaceMutationError):
            mixedad.gradient(view_reached_by_a_later_assignment, P0, mode=mode)
    with pytest.raises(mixedad.InPlaceMutationError, match="used again"):
        mixedad.jvp(view_reached_by_a_later_assignment, (P0,), (P0,))


def _basic_keys(shape):
    def axis_part(n):
        return st.one_of(st.integers(-n, n - 1),
                         st.builds(slice, st.none() | st.integers(-n, n), st.none() | st.integers(-n, n),
                                   st.none() | st.sampled_from([1, 2, -1, 3])))
    return st.tuples(*[axis_part(n) for n in shape]).flatmap(
        lambda parts: st.integers(1, len(parts)).map(lambda k: parts[:k]))


def _advanced_keys(shape):
    """Index arrays (repeated, negative, empty), masks, and an index array after a slice."""
    rows, columns = shape

    def indices(n):
        return st.lists(st.integers(-n, n - 1), max_size=4).map(lambda v: np.array(v, dtype=np.intp))
    pairs = st.integers(0, 3).flatmap(lambda k: st.tuples(
        st.lists(st.integers(-rows, rows - 1), min_size=k, max_size=k),
        st.lists(st.integers(-columns, columns - 1), min_size=k, max_size=k)))
    return st.one_of(indices(rows),
                     pairs.map(lambda p: (np.array(p[0], dtype=np.intp), np.array(p[1], dtype=np.intp))),
                     st.lists(st.booleans(), min_size=rows, max_size=rows).map(np.array),
                     st.lists(st.booleans(), min_size=rows * columns, max_size=rows * columns).map(
                         lambda v: np.array(v).reshape(shape)),
                     st.tuples(st.builds(slice, st.none() | st.integers(-rows, rows)), indices(columns)))


SHAPE = (4, 3)


@settings(max_examples=120, deadline=None)
@given(view_key=_basic_keys(SHAPE), write_key=st.one_of(_basic_keys(SHAPE), _advanced_keys(SHAPE)))
def test_whether_a_view_stays_usable_follows_numpy(view_key, write_key):
    weights = np.arange(1.0, 13.0).reshape(SHAPE)

    def f(x):
        grid = x * 1.0
        view = grid[view_key]
        grid[write_key] = np.cos(grid[write_key]) + 10.0  # new values wherever it writes
        return np.sum(view * 1.5) + np.sum(grid * weights)

    start = np.linspace(-1.0, 1.0, 12).reshape(SHAPE)
    grid = start.copy()
    view = grid[view_key]
    before = np.array(view, copy=True)
    grid[write_key] = np.cos(grid[write_key]) + 10.0  # differs from every value in [-1, 1]
    for mode in ("auto", "forward"):
        if not np.array_equal(before, view):  # NumPy shows the view new values, which mixedad cannot follow
            with pytest.raises(mixedad.InPlaceMutationError):
                mixedad.gradient(f, start, mode=mode)
        else:
            np.testing.assert_allclose(mixedad.gradient(f, start, mode=mode), numerical_gradient(f, start),
                                       rtol=1e-6, atol=1e-8)


def test_only_the_newest_views_outside_an_assignment_stay_usable():
    """An assignment keeps at most a few of the newest views it does not reach (so that a
    loop's work per assignment stays bounded: keeping all made an Euler loop quadratic); an
    older one raises when used, never gives stale values."""
    def rows_then_write(p, used):
        grid = np.zeros_like(p, shape=(30, 2)) + p
        rows = [grid[i] for i in range(12)]
        grid[20] = p * 3.0
        return np.sum(rows[used] ** 2) + np.sum(grid)

    newest = lambda p: rows_then_write(p, 11)  # noqa: E731
    for mode in ("auto", "forward"):
        np.testing.assert_allclose(mixedad.gradient(newest, P0, mode=mode), numerical_gradient(newest, P0),
                                   rtol=1e-6)
        with pytest.raises(mixedad.InPlaceMutationError):
            mixedad.gradient(lambda p: rows_then_write(p, 0), P0, mode=mode)
