"""The tape's common case (``core.primitive.bind``: one traced argument, plain keyword values)
against float64 central differences, and the cases it must hand to the general path: keyword
values that hold lists or arrays (snapshotted and guarded), results that are views."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedad
from tests.numerical import numerical_gradient


def _chain_of_tape_ops(x):
    flat = np.reshape(x, (-1,))
    tail = flat[1:] if flat.shape[0] > 1 else flat
    column_sums = np.sum(x, axis=0)
    return (np.sum(tail ** 2) + np.sum(np.cumsum(column_sums) ** 3) * 0.1
            + np.sum(np.transpose(x).reshape(-1)[::2]) + np.mean(np.flip(x, axis=-1)[..., :1] ** 2))


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 2**16),
       mode=st.sampled_from(["auto", "reverse"]))
def test_chains_of_one_argument_tape_ops_match_central_differences(shape, seed, mode):
    x = np.random.default_rng(seed).standard_normal(shape)
    np.testing.assert_allclose(mixedad.gradient(_chain_of_tape_ops, x, mode=mode),
                               numerical_gradient(_chain_of_tape_ops, x), rtol=1e-6, atol=1e-6)


def test_float32_stays_float32_through_the_common_case():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    g = mixedad.gradient(_chain_of_tape_ops, x, mode="reverse")
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, numerical_gradient(_chain_of_tape_ops, x.astype(np.float64)), rtol=1e-3, atol=1e-3)


@mixedad.primitive
def _weighted(x, *, weights):
    return x * np.asarray(weights)


@_weighted.defvjp
def _weighted_vjp(g, out, x, *, weights):
    return g * np.asarray(weights)


def test_a_list_keyword_value_changed_after_the_op_does_not_change_the_gradient():
    def f(x):
        weights = [1.0, 2.0, 3.0]
        y = _weighted(x, weights=weights)
        weights[:] = [100.0, 100.0, 100.0]  # the reverse rule must read the values of the call
        return np.sum(y)
    np.testing.assert_allclose(mixedad.gradient(f, np.ones(3)), [1.0, 2.0, 3.0])


def test_an_array_inside_a_tuple_keyword_value_is_guarded_until_the_gradient_is_computed():
    @mixedad.primitive
    def scaled(x, *, factors):
        return x * factors[0]

    scaled.defvjp(lambda g, out, x, *, factors: g * factors[0])
    factors = np.array([2.0])

    def f(x):
        y = scaled(x, factors=(factors, 1))
        factors[0] = 5.0  # would change the gradient silently
        return np.sum(y)
    with pytest.raises(mixedad.InPlaceMutationError, match="written to"):
        mixedad.gradient(f, np.ones(2))
    assert factors.flags.writeable  # released when the differentiation ended


def test_a_reshaped_view_writes_through_and_older_views_retire():
    def write_through(x):
        y = x * 1.0
        v = np.reshape(y, (-1,))
        v[0] = 10.0 * v[1]  # NumPy writes into y too
        return np.sum(y ** 2)

    x = np.arange(1.0, 5.0).reshape(2, 2)
    np.testing.assert_allclose(mixedad.gradient(write_through, x), numerical_gradient(write_through, x), rtol=1e-6)

    def stale_view(x):
        y = x * 1.0
        v = np.reshape(y, (-1,))
        y[0, 0] = 3.0  # NumPy would show the change in v
        return np.sum(v)
    with pytest.raises(mixedad.InPlaceMutationError):
        mixedad.gradient(stale_view, x)
