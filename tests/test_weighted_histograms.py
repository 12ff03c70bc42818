"""np.histogram, histogram2d and histogramdd with differentiated weights, and with density=True:
the counts are the sum of the weights per bin (linear in them), a density divides by the total
and the bin widths (which move with the data where NumPy spaces the edges between its
extremes). Both raised until session 45 (both workload audits asked). References: NumPy's own
histograms, and central differences of them."""
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

import mixedad
from numerical import numerical_gradient

rng = np.random.default_rng(8)
DATA = rng.standard_normal(40)
WEIGHTS = rng.random(40)
MODES = ["auto", "reverse", "forward"]

HISTOGRAMS = {
    "weights": lambda a, w: np.histogram(a, bins=5, weights=w)[0],
    "weights, range": lambda a, w: np.histogram(a, bins=6, range=(-1.0, 1.0), weights=w)[0],
    "weights, edges": lambda a, w: np.histogram(a, bins=np.array([-2.0, -0.5, 0.0, 0.3, 2.0]), weights=w)[0],
    "density": lambda a, w: np.histogram(a, bins=5, density=True)[0],
    "density, weights": lambda a, w: np.histogram(a, bins=5, weights=w, density=True)[0],
    "2-D, weights": lambda a, w: np.histogram2d(a, a[::-1], bins=3, weights=w)[0],
    "2-D, density": lambda a, w: np.histogram2d(a, a[::-1], bins=(3, 2), weights=w, density=True)[0],
    "d-D, columns": lambda a, w: np.histogramdd([a, a ** 2], bins=(4, 3), weights=w)[0],
    "d-D, one array": lambda a, w: np.histogramdd(np.stack([a, -a], axis=1), bins=3, weights=w, density=True)[0],
}


@pytest.mark.parametrize("name", list(HISTOGRAMS))
@pytest.mark.parametrize("argnum", [0, 1], ids=["data", "weights"])
@pytest.mark.parametrize("mode", MODES)
def test_values_and_gradients_are_numpys(name, argnum, mode):
    histogram = HISTOGRAMS[name]
    expected = histogram(DATA, WEIGHTS)
    probe = rng.standard_normal(expected.shape)

    def loss(a, w):
        return np.sum(histogram(a, w) * probe)

    value, grad = mixedad.value_and_gradient(loss, DATA, WEIGHTS, argnums=argnum, mode=mode)
    assert value == pytest.approx(np.sum(expected * probe), rel=1e-12)
    reference = numerical_gradient(lambda x: loss(x, WEIGHTS), DATA) if argnum == 0 else \
        numerical_gradient(lambda x: loss(DATA, x), WEIGHTS)
    np.testing.assert_allclose(grad, reference, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", list(HISTOGRAMS))
def test_the_counts_keep_numpys_dtype(name):
    weights = WEIGHTS.astype(np.float32)
    counts = mixedad.vjp(lambda w: HISTOGRAMS[name](DATA, w), weights)[0]
    expected = HISTOGRAMS[name](DATA, weights)
    assert counts.dtype == expected.dtype  # float32 weights: float32 counts in 1-D, float64 in d-D and densities
    np.testing.assert_allclose(counts, expected, rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 30), elements=st.integers(-8, 8).map(lambda k: k / 4)),
       st.one_of(st.integers(1, 6), st.just("edges")), st.booleans())
def test_values_on_edges_fall_in_numpys_bins(data, bins, with_range):
    """Quarter-integer data with quarter-integer edges: many values sit exactly on an edge, the
    last edge included, and some outside a range. Weights 2^k: each bin's sum (exact in any
    order) tells which elements fell in it."""
    edges = np.array([-1.5, -0.25, 0.0, 0.75, 1.0]) if bins == "edges" else bins
    value_range = (-1.0, 1.0) if with_range and bins != "edges" else None
    weights = 2.0 ** np.arange(data.size)
    probe = np.arange(1.0, 1.0 + (len(edges) - 1 if bins == "edges" else bins))

    def loss(w):
        return np.sum(np.histogram(data, bins=edges, range=value_range, weights=w)[0] * probe)

    counts = mixedad.vjp(lambda w: np.histogram(data, bins=edges, range=value_range, weights=w)[0], weights)[0]
    np.testing.assert_array_equal(counts, np.histogram(data, bins=edges, range=value_range, weights=weights)[0])
    # the loss is linear in the weights: its gradient is NumPy's histogram of each unit weight
    by_numpy = [np.sum(np.histogram(data, bins=edges, range=value_range, weights=unit)[0] * probe)
                for unit in np.eye(data.size)]
    np.testing.assert_array_equal(mixedad.gradient(loss, weights), by_numpy)


def test_a_prepared_gradient_traces_again_for_new_data_and_stays_right():
    def loss(w, a):
        return np.sum(np.histogram(a, bins=5, weights=w)[0] ** 2)

    prepared = mixedad.prepare(loss, WEIGHTS, DATA)
    for _ in range(3):
        a, w = rng.standard_normal(40), rng.random(40)
        np.testing.assert_allclose(prepared.gradient(w, a), numerical_gradient(lambda v: loss(v, a), w), rtol=1e-6)


def test_numpys_errors_for_weights_stay_numpys():
    with pytest.raises(TypeError, match="not supported for weighted data"):
        mixedad.gradient(lambda w: np.sum(np.histogram(DATA, bins="auto", weights=w)[0]), WEIGHTS)
    with pytest.raises(ValueError, match="same shape"):
        mixedad.gradient(lambda w: np.sum(np.histogram(DATA, bins=3, weights=w[:5])[0]), WEIGHTS)
