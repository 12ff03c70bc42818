"""An update in place reaches every name NumPy's would reach: an alias of the updated array
(``a = y; y += 1``, the caller's name of an argument a helper updated), and the array that a
transposed or flipped view views (``pts = np.vstack(...).T; pts -= pts.mean(0)``). Both raised
InPlaceMutationError until session 45 (a workload audit: face normals from ``np.cross``, point
centring, physics integrators that update their state arguments)."""
from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

import mixedad
from mixedad import InPlaceMutationError
from numerical import numerical_gradient

rng = np.random.default_rng(45)
A0 = rng.standard_normal((4, 3))
B = rng.standard_normal((4, 3))
W = rng.standard_normal((4, 3))
MODES = ["auto", "reverse", "forward"]


def _numerical_gradient(f, x):
    return numerical_gradient(lambda v: f(v.copy()), x)  # (f may update its argument, as NumPy's does)


def _check(f, x, hessian=False):
    """NumPy's value and central differences' gradient in every mode and in prepared replays."""
    expected = _numerical_gradient(f, x)
    for mode in MODES:
        value, grad = mixedad.value_and_gradient(f, x.copy(), mode=mode)
        assert value == pytest.approx(f(x.copy()), rel=1e-12), mode
        np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8, err_msg=mode)
    prepared = mixedad.prepare(f, x.copy())
    for y in (x * 0.9, x + 0.1):
        value, grad = prepared.value_and_gradient(y.copy())
        assert value == pytest.approx(f(y.copy()), rel=1e-12)
        np.testing.assert_allclose(grad, _numerical_gradient(f, y), rtol=1e-6, atol=1e-8)
    if hessian:
        columns = [numerical_gradient(lambda v: mixedad.gradient(f, v).ravel()[k], x).ravel() for k in range(x.size)]
        np.testing.assert_allclose(mixedad.hessian(f, x).reshape(x.size, x.size), np.array(columns),
                                   rtol=1e-5, atol=1e-6)


# --- views that write through into the array they view ----------------------------------------
def face_normals(a):  # np.cross's result is a view of a temporary in NumPy and in mixedad
    n = np.cross(a, B)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    return np.sum(n * W)


def centred_points(a):
    pts = np.vstack([a[0], a[1]]).T
    pts -= pts.mean(0)
    return np.sum(pts ** 3)


def transposed_product(a):
    m = (a @ B.T).T
    m *= 2.0
    m[0] = a[:, 1] ** 2
    return np.sum(np.sin(m))


def flipped_positionally(a):  # the axis by position: undoing the flip must use it
    b = a * 2.0
    m = np.flip(b, 0)
    m[0] = 5.0 * a[1]
    return np.sum(b * W)


def transposed_with_axes(a):
    b = a * 2.0
    m = np.transpose(b.reshape(1, 4, 3), (2, 0, 1))
    m[0] = a[2, 0] ** 2
    m *= 1.5
    return np.sum(b * W)


def rotated(a):
    m = np.rot90(a * a)
    m[:, 1] = 0.5
    m -= 1.0
    return np.sum(np.sin(m) * W.T)


def moved_then_swapped(a):
    base = a * 1.5
    v = np.swapaxes(np.moveaxis(base.reshape(2, 2, 3), 0, -1), 0, 1)
    v[1] *= 3.0
    v += a.reshape(2, 2, 3).transpose(2, 1, 0) ** 2
    return np.sum(base ** 2 * W)


def slice_of_a_transpose(a):
    base = np.exp(a)
    v = base.T[1:]
    v[0, ::2] = a[0, :2] * 4.0
    return np.sum(base * W)


def input_through_its_transpose(a):  # NumPy writes into the argument itself
    v = a.T
    v[0] *= 2.0
    return np.sum(a ** 2 * W)


def meshgrid_copies(a):  # NumPy's meshgrid copies (copy=True): an update reaches one grid only
    x, y = np.meshgrid(a[0], a[1])
    x *= 2.0
    return np.sum(x * y ** 2)


def fitted_and_scaled(a):
    coefficients = np.polyfit(np.arange(4.0), a, 2)
    coefficients *= 2.0
    return np.sum(coefficients ** 2)


def applied_along_rows(a):
    r = np.apply_along_axis(lambda v: v * v.sum(), 1, a)
    r += 1.0
    return np.sum(r ** 2)


WRITTEN_THROUGH = [face_normals, centred_points, transposed_product, flipped_positionally, transposed_with_axes,
                   rotated, moved_then_swapped, slice_of_a_transpose, input_through_its_transpose, meshgrid_copies,
                   fitted_and_scaled, applied_along_rows]


@pytest.mark.parametrize("f", WRITTEN_THROUGH)
def test_an_update_of_a_transposed_or_flipped_view_writes_through(f):
    _check(f, A0)


@pytest.mark.parametrize("f", [transposed_product, transposed_with_axes, rotated])
def test_written_through_views_have_second_derivatives(f):
    _check(f, A0, hessian=True)


def _piece_of_a_split(a):
    head, _ = np.split(a * 1.0, 2)
    head[0] = 5.0  # the split array would change too
    return np.sum(head)


def _transposing_einsum(a):
    v = np.einsum("ij->ji", a * 1.0)
    v *= 2.0  # the einsum's operand would change too
    return np.sum(v)


@pytest.mark.parametrize("f", [_piece_of_a_split, _transposing_einsum])
@pytest.mark.parametrize("mode", MODES)
def test_views_that_cannot_write_through_still_raise_naming_the_line(f, mode):
    with pytest.raises(InPlaceMutationError, match=r"test_updates_reach_aliases.py:\d+: `(head\[0\] = 5.0|v \*= 2.0)"):
        mixedad.gradient(f, A0, mode=mode)


# --- aliases of a value updated by an in-place operator ---------------------------------------
def _integrate(p, v, dt):  # updates the caller's state, returns nothing
    p += dt * v
    v *= 0.99
    v -= dt * np.sin(p)


def integrator(x):
    p, v = x[:3] * 1.0, x[3:] * 1.0
    for _ in range(20):
        _integrate(p, v, 0.1)
    return np.sum(p ** 2) + np.sum(v)


def alias_of_the_input(x):
    y = x
    y += 1.0
    return np.sum(x ** 2)


def alias_of_a_fused_value(x):
    y = np.sin(x)
    alias = y
    y *= np.cos(x)
    y += alias * 2.0  # alias is y: 3 sin cos
    return np.sum(alias * x)


def chain_of_aliases(x):
    y = x * 1.0
    a = y
    y += 1.0
    b = y
    y *= x
    c = y
    y -= 0.5
    return np.sum(a * b * c * y)


def entry_of_a_dict(x):
    state = {"p": x * 1.0}
    p = state["p"]
    p *= 3.0
    return np.sum(state["p"] ** 2)


@pytest.mark.parametrize("f", [integrator, alias_of_the_input, alias_of_a_fused_value, chain_of_aliases,
                               entry_of_a_dict])
def test_an_alias_sees_an_update_by_an_in_place_operator(f):
    x = np.array([0.3, -0.2, 0.5, 1.0, 0.1, -0.4])
    _check(f, x, hessian=f is not integrator)
    _, tangent = mixedad.jvp(f, (x,), (np.ones_like(x),))
    assert tangent == pytest.approx(np.sum(_numerical_gradient(f, x)), rel=1e-6)


_OPERATIONS = {"+=": lambda y, t: y.__iadd__(t), "-=": lambda y, t: y.__isub__(t), "*=": lambda y, t: y.__imul__(t)}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(_OPERATIONS)), st.sampled_from(["x", "sin(x)", "0.5"]),
                          st.integers(-1, 3), st.booleans()), min_size=1, max_size=6),
       st.sampled_from(MODES))
def test_random_in_place_operations_with_aliases(steps, mode):
    """Each step updates y in place, as ``y op= v`` (which rebinds y to what the operator returns)
    or through an older alias (which rebinds nothing), and may keep y as another alias; the loss
    reads every alias. In NumPy they are all one array."""
    def f(x):
        y = np.cos(x)
        aliases = [y]
        for name, operand, through, keep_alias in steps:
            value = {"x": x, "sin(x)": np.sin(x), "0.5": 0.5}[operand]
            if through < 0:
                y = _OPERATIONS[name](y, value)
            else:
                _OPERATIONS[name](aliases[through % len(aliases)], value)
            if keep_alias:
                aliases.append(y)
        return sum(np.sum(alias * (k + 1.0)) for k, alias in enumerate(aliases)) + np.sum(y)

    x = np.array([0.4, -1.1, 0.7])
    value, grad = mixedad.value_and_gradient(f, x.copy(), mode=mode)
    assert value == pytest.approx(f(x.copy()), rel=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=1e-6, atol=1e-8)
