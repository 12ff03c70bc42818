"""np.histogram with a differentiated range= or bins= array. The counts are piecewise constant
(derivative zero wherever it exists, as in JAX, whose jnp.histogram differentiates the edges
only); the edges are np.linspace(lo, hi, n + 1) of the range, or the bins array itself.

NumPy dispatches np.histogram on a, bins and weights, not on range: with plain data and a
traced range NumPy's own code runs, and it writes into an index array that a differentiated
gather has read. That case raises an error naming np.histogram and the rewrite that works."""
import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient

DATA = np.array([1.0, 2.5, -0.5, 3.0, 0.2, 1.7, 2.9, -1.1])
X = np.array([0.3, -1.2, 1.1])
W = np.array([0.5, -2.0, 1.5, 3.0])


def traced_range(x):
    counts, edges = np.histogram(DATA * x[2], bins=4, range=(x[1], x[0] + 4.0))
    return np.sum(edges ** 2 * x[0]) + np.sum(counts * W * x[1])


def traced_bins(x):
    counts, edges = np.histogram(DATA, bins=np.linspace(x[1], x[0] + 4.0, 5))
    return np.sum(edges ** 2 * x[0]) + np.sum(counts * W * x[1])


def traced_bins_and_data(x):
    counts, edges = np.histogram(DATA * x[2], bins=np.sort(x) * 3.0)
    return np.sum(np.sin(edges)) + np.sum(counts * W[:2] * x[1])


def traced_range_string_bins(x):
    counts, edges = np.histogram(DATA * x[2], bins="sturges", range=(x[1], 4.0))
    return np.sum(edges ** 3) + np.sum(counts * x[0])


FUNCTIONS = [traced_range, traced_bins, traced_bins_and_data, traced_range_string_bins]


def _gradient(f, x, mode):
    if mode == "prepare":
        return mixedad.prepare(f, x).gradient(x)
    if mode == "jvp":
        return np.array([mixedad.jvp(f, (x,), (direction,))[1] for direction in np.eye(x.size)])
    return mixedad.gradient(f, x, mode=mode)


@pytest.mark.parametrize("mode", ["auto", "reverse", "prepare", "jvp"])
@pytest.mark.parametrize("f", FUNCTIONS, ids=lambda f: f.__name__)
def test_histogram_with_traced_range_or_bins_differentiates_the_edges(f, mode):
    np.testing.assert_allclose(_gradient(f, X, mode), numerical_gradient(f, X), rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("call", [
    lambda x: np.histogram(DATA * x[2], bins=4, range=(x[1], x[0] + 4.0)),
    lambda x: np.histogram(DATA * x[2], bins=3, range=(x[1], x[1])),  # widened by 0.5 on each side, as NumPy does
    lambda x: np.histogram(DATA * x[2], bins="auto", range=(x[1], 2.0)),
    lambda x: np.histogram(DATA, bins=np.sort(x)),
    lambda x: np.histogram(DATA * x[2], bins=np.sort(x), range=(x[1], 9.0)),  # NumPy ignores range then
], ids=["range", "equal bounds", "string bins", "bins array", "bins array and range"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_histogram_counts_and_edges_are_numpys(call, dtype):
    x = X.astype(dtype)
    expected_counts, expected_edges = call(x)
    seen = {}

    def f(x):
        counts, edges = call(x)
        seen["counts"], seen["edges dtype"] = counts, edges.dtype
        return np.sum(edges)

    value, grad = mixedad.value_and_gradient(f, x)
    np.testing.assert_array_equal(seen["counts"], expected_counts)
    assert type(seen["counts"]) is np.ndarray and seen["edges dtype"] == expected_edges.dtype
    assert value == np.sum(expected_edges) and grad.dtype == dtype
    _, tangent = mixedad.jvp(lambda x: call(x)[1], (x,), (np.ones_like(x),))
    assert tangent.dtype == expected_edges.dtype


def plain_data_traced_range(x):
    counts, edges = np.histogram(DATA, bins=4, range=(x[1], x[0] + 4.0))
    return np.sum(edges ** 2) + np.sum(counts * x[0])


@pytest.mark.parametrize("mode", ["auto", "reverse", "prepare"])
def test_plain_data_with_a_traced_range_names_histogram_and_the_rewrite(mode):
    with pytest.raises(mixedad.InPlaceMutationError) as raised:  # NumPy's own code wrote into a guarded array
        _gradient(plain_data_traced_range, X, mode)
    message = str(raised.value)
    assert "np.histogram" in message and "range" in message
    assert "test_audit_followups_histogram.py" in message and "counts, edges = np.histogram(DATA" in message
    assert "bins=np.histogram_bin_edges(" in message


def test_the_rewrite_the_error_suggests_gives_numpys_counts_edges_and_gradient():
    def rewritten(x):
        lo, hi = x[1], x[0] + 4.0
        counts, edges = np.histogram(DATA, bins=np.histogram_bin_edges(DATA, 4, range=(lo, hi)))
        return np.sum(edges ** 2) + np.sum(counts * x[0])

    for x in (X, np.array([0.31, -0.5, 0.0]), np.array([-1.0, -1.1, 0.0])):  # edges on data points too
        lo, hi = float(x[1]), float(x[0]) + 4.0
        np.testing.assert_array_equal(
            np.histogram(DATA, bins=np.histogram_bin_edges(DATA, 4, range=(lo, hi)))[0],
            np.histogram(DATA, bins=4, range=(lo, hi))[0])
        assert rewritten(x) == plain_data_traced_range(x)
        assert mixedad.value_and_gradient(rewritten, x)[0] == plain_data_traced_range(x)
    np.testing.assert_allclose(mixedad.gradient(rewritten, X), numerical_gradient(plain_data_traced_range, X),
                               rtol=1e-7, atol=1e-7)


def test_forward_mode_runs_numpys_own_histogram_on_a_traced_range():
    # forward duals keep no guarded arrays: NumPy's code runs, and its edges carry the tangents
    for direction in np.eye(3):
        _, tangent = mixedad.jvp(plain_data_traced_range, (X,), (direction,))
        h = 1e-6
        difference = (plain_data_traced_range(X + h * direction) - plain_data_traced_range(X - h * direction)) / (2 * h)
        assert tangent == pytest.approx(difference, rel=1e-7, abs=1e-7)


@pytest.mark.parametrize("call", [
    lambda x: np.histogram(DATA * x[0], range=(x[1], 3.1), density=True),  # (no value on an edge)
    lambda x: np.histogram(DATA, weights=np.abs(x[:1]) * np.linspace(0.5, 1.5, 8)),
], ids=["density with a traced range", "traced weights"])
def test_histogram_densities_and_weights_differentiate(call):  # (they raised until session 45)
    def loss(x):
        counts, edges = call(x)
        return np.sum(counts * np.arange(1.0, 11.0)) + np.sum(edges ** 2)
    np.testing.assert_allclose(mixedad.gradient(loss, X), numerical_gradient(loss, X), rtol=1e-6, atol=1e-8)
