"""The engine's one unbroadcast (``tape.fit_cotangent``) against a direct reference."""
import numpy as np
from hypothesis import given, settings, strategies as st

from mixedad.core.tape import fit_cotangent


@st.composite
def broadcast_cases(draw):
    """(cotangent shape, context shape, input shape): the input broadcasts to the context
    (leading axes added, size-1 axes stretched); the cotangent broadcasts to the context too."""
    context = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=4)))
    n_leading = draw(st.integers(0, len(context)))
    shape = tuple(1 if draw(st.booleans()) else n for n in context[n_leading:])
    ct_leading = draw(st.integers(0, len(context)))
    ct_shape = tuple(1 if draw(st.booleans()) else n for n in context[ct_leading:])
    return ct_shape, context, shape


def _reference(ct, context, shape, dtype):
    full = np.broadcast_to(ct, context).astype(np.float64)
    lead = len(context) - len(shape)
    full = full.sum(axis=tuple(range(lead)))
    axes = tuple(a for a, n in enumerate(shape) if n == 1 and full.shape[a] != 1)
    return full.sum(axis=axes, keepdims=True).reshape(shape).astype(dtype)


@settings(max_examples=200, deadline=None)
@given(case=broadcast_cases(), dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2**16))
def test_fit_cotangent_sums_what_was_broadcast(case, dtype, seed):
    ct_shape, context, shape = case
    ct = np.random.default_rng(seed).standard_normal(ct_shape).astype(dtype)
    for given_context in (context, None) if ct_shape == context else (context,):
        got = fit_cotangent(ct, given_context, shape, np.dtype(dtype))
        assert isinstance(got, np.ndarray) and got.shape == shape and got.dtype == dtype
        np.testing.assert_allclose(got, _reference(ct, context, shape, dtype), rtol=1e-5, atol=1e-5)


def test_fit_cotangent_casts_a_bias_cotangent_to_the_input_dtype():
    ct = np.ones((3, 2), np.float64)
    got = fit_cotangent(ct, (3, 2), (2,), np.dtype(np.float32))
    assert got.dtype == np.float32 and got.tolist() == [3.0, 3.0]


@settings(max_examples=100, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
       dtype=st.sampled_from([np.float64, np.float32, np.float16]), transposed=st.booleans(),
       special=st.sampled_from([None, np.inf, -np.inf, np.nan]), seed=st.integers(0, 2**16))
def test_sum_over_first_axis_is_numpys_sum(shape, dtype, transposed, special, seed):
    from mixedad.core.arrays import sum_over_first_axis
    value = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    if transposed:  # not in C order: NumPy's own sum
        value = value.T
    if special is not None:
        value.flat[seed % value.size] = special
    got = sum_over_first_axis(value)
    want = value.astype(np.float64).sum(axis=0)
    assert got.shape == want.shape and got.dtype == value.dtype
    tolerance = {np.float64: 1e-12, np.float32: 1e-5, np.float16: 1e-2}[dtype]
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=tolerance, atol=tolerance * value.shape[0])
