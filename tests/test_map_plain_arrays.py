"""mixedad.map / mixedad.sum over plain arrays beside the differentiated ones, and over forward duals.

``mixedad.map(f, x, y)`` means ``f(x[i], y[i])`` for each element. The whole-array run of ``f``
gives the same only if no output element reads another's input. These tests check that this
holds, or that ``f`` runs element by element, when the reading across elements goes through an
array no differentiation traces: a plain float array, an integer or boolean one, or the values
of a forward dual (jvp). The reference is ``f`` called on each element in a Python loop, and
central differences of that loop in float64.
"""
import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

import mixedad
from mixedad.core.errors import UnsupportedOperationError
from mixedad.followed_arrays import followed

RNG = np.random.default_rng(7)
X = RNG.uniform(0.5, 1.5, 6)
Y = RNG.uniform(0.5, 1.5, 6)
LABELS = np.array([1, 2, 3, 1, 2, 0])
MASK = LABELS > 1
TABLE = np.array([10.0, 20.0, 30.0, 40.0])
Z = RNG.normal(size=6) + 1j * RNG.normal(size=6)

# (f, the array mapped beside x): some read across the elements of that array, some do not
CASES = {
    "sum of it": (lambda t, s: t * np.sum(s), Y),
    "its sum method": (lambda t, s: t * s.sum(), Y),
    "mean of a square": (lambda t, s: t * np.mean(s ** 2), Y),
    "sum of a sine": (lambda t, s: t * np.sum(np.sin(s)), Y),
    "a sum times itself": (lambda t, s: np.exp(t) * np.sum(np.exp(s)) * s, Y),
    "max": (lambda t, s: t * np.max(s), Y),
    "elementwise": (lambda t, s: t * s + np.sin(s), Y),
    "a branch": (lambda t, s: t * s if s > 1 else t, Y),
    "gammainc of it": (lambda t, s: scipy.special.gammainc(s, t), Y),
    "sum of labels": (lambda t, k: t * np.sum(k), LABELS),
    "max method of labels": (lambda t, k: t * k.max(), LABELS),
    "labels": (lambda t, k: t * k, LABELS),
    "a table read at labels": (lambda t, k: t * TABLE[k], LABELS),
    "a bit of labels": (lambda t, k: t * (k & 1), LABELS),
    "where a mask": (lambda t, m: np.where(m, t, 2 * t), MASK),
    "count of a mask": (lambda t, m: t * np.sum(m), MASK),
    "a complex modulus": (lambda t, z: t * np.abs(z) + np.real(z * np.conj(z)) * t, Z),
    "a complex sum": (lambda t, z: t * np.abs(np.sum(z)), Z),
}


def per_element(f, x, other):
    return np.array([f(a, b) for a, b in zip(x, other)], dtype=float)


def central_differences(f, x, other, h=1e-6):
    grad = np.zeros_like(x)
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (per_element(f, x + step, other).sum() - per_element(f, x - step, other).sum()) / (2 * h)
    return grad


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_plain_array_mapped_beside_a_differentiated_one(name):
    f, other = CASES[name]
    want_value, want_grad = per_element(f, X, other).sum(), central_differences(f, X, other)
    np.testing.assert_allclose(np.sum(mixedad.map(f, X, other)), want_value, rtol=1e-12)
    for mode in ("auto", "reverse", "forward"):
        value, grad = mixedad.value_and_gradient(lambda x: np.sum(mixedad.map(f, x, other)), X, mode=mode)
        np.testing.assert_allclose(value, want_value, rtol=1e-12, err_msg=mode)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=1e-7, err_msg=mode)
    value, derivative = mixedad.jvp(lambda x: np.sum(mixedad.map(f, x, other)), (X,), (np.ones_like(X),))
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    np.testing.assert_allclose(derivative, want_grad.sum(), rtol=1e-6)


ELEMENTWISE = ["elementwise", "gammainc of it", "labels", "a table read at labels", "a bit of labels", "where a mask",
               "a complex modulus"]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_a_closed_over_differentiated_value_with_plain_arrays_mapped(name):
    """Both arrays plain, f closes over the differentiated w: followed in w's differentiation."""
    f, other = CASES[name]
    w0 = 0.7
    grad = mixedad.gradient(lambda w: np.sum(mixedad.map(lambda t, s: w * w * f(t, s), X, other)), np.float64(w0))
    np.testing.assert_allclose(grad, 2 * w0 * per_element(f, X, other).sum(), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(set(CASES) - set(ELEMENTWISE) - {"a branch"}))
def test_reading_across_elements_with_a_closed_over_value_is_refused(name):
    """Element by element, f cannot meet the closed-over value: an error, not the whole-array run."""
    f, other = CASES[name]
    with pytest.raises(UnsupportedOperationError, match="reads across elements of an array mapped over"):
        mixedad.gradient(lambda w: np.sum(mixedad.map(lambda t, s: w * f(t, s), X, other)), np.float64(0.7))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 7), scale=st.floats(0.1, 3.0), float32=st.booleans())
def test_a_centered_plain_array(n, scale, float32):
    """``s - mean(s)`` reads every element of s: per element it is 0, so f is t alone."""
    dtype = np.float32 if float32 else np.float64
    x = np.linspace(0.2, 1.0, n).astype(dtype)
    y = (scale * np.arange(1.0, n + 1.0)).astype(dtype)
    f = lambda t, s: t * (1.0 + (s - np.mean(s)))  # noqa: E731
    grad = mixedad.gradient(lambda x: np.sum(mixedad.map(f, x, y)), x)
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, central_differences(f, x.astype(float), y.astype(float)), rtol=1e-5)


def test_a_forward_dual_that_reads_across_its_elements():
    """jvp: a forward dual is no traced value, so its values are followed on a probe."""
    f = lambda t: t * np.sum(np.stack([t, t]))  # noqa: E731  (per element: 2 t**2)
    with pytest.raises(mixedad.NonDifferentiableError, match="stack"):
        mixedad.jvp(lambda x: np.sum(mixedad.map(f, x)), (X,), (np.ones_like(X),))
    g = lambda t: t * np.cos(t)  # noqa: E731
    value, derivative = mixedad.jvp(lambda x: np.sum(mixedad.map(g, x)), (X,), (np.ones_like(X),))
    np.testing.assert_allclose(value, np.sum(X * np.cos(X)), rtol=1e-12)
    np.testing.assert_allclose(derivative, np.sum(np.cos(X) - X * np.sin(X)), rtol=1e-12)


def test_integer_elements_are_numpy_scalars_element_by_element():
    """On plain arrays too, as on the traced path: ``labels[i].max()`` works on an np.int64."""
    result = mixedad.map(lambda t, k: t * k.max() if t > 0 else 0.0, X, LABELS)
    np.testing.assert_allclose(result, X * LABELS)


def test_followed_arrays_note_what_reads_across_elements():
    seen = []
    labels = followed(np.array([1, 2, 3]), seen)
    elementwise = np.where(labels > 1, labels * 2, -labels)
    assert seen == [] and type(elementwise).__name__ == "FollowedArray"
    np.sum(labels)
    labels.argmax()
    labels[0]
    np.sum(np.where(labels > 1, 1, 0))  # through an elementwise function's result
    assert seen == ["np.sum", "np.add.reduce", ".argmax()", "indexing", "np.sum", "np.add.reduce"]
    assert type(np.add(labels, 1).view(np.ndarray)) is np.ndarray


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("f", [np.sin, lambda t: 0.42, lambda t, s: t * 2.0, lambda t, s: t * s],
                         ids=["ufunc", "constant", "ignores-an-argument", "reads-both"])
def test_a_plain_map_returns_a_writable_array_in_the_dtype_a_differentiation_gives(f, dtype):
    x = np.array([0.4, -0.9, 0.7], dtype=dtype)
    args = (x,) if f is np.sin or f.__code__.co_argcount == 1 else (x, np.array([[1.5], [-2.0]], dtype=dtype))
    result = mixedad.map(f, *args)
    broadcast = np.broadcast_arrays(*args)
    reference = np.array([f(*element) for element in zip(*[a.ravel() for a in broadcast])]).reshape(broadcast[0].shape)
    assert result.flags.writeable
    result[...] = 0.0  # as with a ufunc's result
    result = mixedad.map(f, *args)
    np.testing.assert_allclose(result, reference, rtol=1e-6)
    value, _ = mixedad.value_and_gradient(lambda x: np.sum(mixedad.map(f, x, *args[1:])), x)
    assert result.dtype == dtype == np.asarray(value).dtype
    assert np.sum(mixedad.map(f, *args)).dtype == dtype
    if len(args) == 1:
        assert mixedad.sum(f, x).dtype == dtype
