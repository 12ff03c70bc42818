"""A prepared recording hands f stand-ins for the arrays a plain call hands it (traced
constants for the other arguments' float arrays, refilled values for their integer and bool
arrays and for masks). ``isinstance(v, np.ndarray)`` must answer as in the plain call, or f
records another program than the one it runs: each case compares the prepared gradient with
``mixedad.gradient`` on the same arguments, for the recorded values and new ones."""
import numpy as np
import pytest

import mixedad


def _doubled_if_array(w, x):
    if isinstance(x, np.ndarray):  # the plain call takes this branch
        x = x * 2
    return np.sum((x @ w) ** 2)


def _derived_constant(w, x):
    scale = np.exp(x[:, :1]) + 1.0  # computed from the constant alone: an ndarray in a plain call
    return np.sum((x @ w) ** 2) * (2.0 if isinstance(scale, np.ndarray) else 1.0) + np.sum(scale * (x @ w))


def _product_is_no_array(w, x):
    z = x @ w  # depends on w: traced in both calls, no ndarray
    return np.sum(z ** 2) * (2.0 if isinstance(z, np.ndarray) else 1.0)


def _converted_unless_array(w, x):
    if not isinstance(x, np.ndarray):  # would read the values (np.asarray) in the recording
        x = np.asarray(x)
    return np.sum(np.tanh(x @ w))


def _mask_kind(w, x):
    mask = x[:, 0] > 0
    weight = 3.0 if isinstance(mask, np.ndarray) else 1.0
    return weight * np.sum(np.where(mask, x @ w, 0.0) ** 2)


def _via_singledispatch(w, x):
    import functools

    @functools.singledispatch
    def weight(value):
        return 1.0

    @weight.register
    def _(value: np.ndarray):
        return 3.0

    return weight(x) * np.sum((x @ w) ** 2)


CASES = [_doubled_if_array, _derived_constant, _product_is_no_array, _converted_unless_array, _mask_kind,
         _via_singledispatch]


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("loss", CASES, ids=lambda f: f.__name__)
def test_isinstance_answers_as_in_a_plain_call(loss, mode):
    rng = np.random.default_rng(7)
    w, x = rng.standard_normal(3), rng.standard_normal((5, 3))
    prepared = mixedad.prepare(loss, w, x, mode=mode)
    for data in (x, rng.standard_normal((5, 3))):
        expected = mixedad.gradient(loss, w, data, mode=mode)
        np.testing.assert_allclose(prepared.gradient(w, data), expected, rtol=1e-12, atol=0)


def test_the_stand_ins_still_replay():
    rng = np.random.default_rng(8)
    w, x = rng.standard_normal(3), rng.standard_normal((5, 3))
    prepared = mixedad.prepare(_doubled_if_array, w, x)
    prepared.gradient(w, rng.standard_normal((5, 3)))
    assert prepared.replays, prepared.why_traced


def _with_metrics(w, x, labels):
    z = x @ w
    metrics = {"accuracy": np.mean((z > 0) == (labels > 0)), "positives": labels.sum(), "best": np.argmax(z),
               "first": (z > 0)[0], "mean": x.mean(), "column_means": x.mean(axis=0), "batch": len(labels)}
    return np.sum(z ** 2), metrics


def test_aux_outputs_have_the_plain_calls_types():
    """A replayed aux output is what the plain call returns: NumPy scalars where it gives them
    (``json.dumps`` takes an np.float64, not a 0-d array), arrays where it gives arrays."""
    import json

    rng = np.random.default_rng(9)
    w, x, labels = rng.standard_normal(3), rng.standard_normal((6, 3)), rng.integers(0, 3, 6)
    prepared = mixedad.prepare(_with_metrics, w, x, labels, has_aux=True)
    for k in range(2):
        _, replayed = prepared.gradient(w, x + k, (labels + k) % 3)
        _, plain = mixedad.gradient(_with_metrics, w, x + k, (labels + k) % 3, has_aux=True)
        assert prepared.replays, prepared.why_traced
        for key, value in plain.items():
            assert type(replayed[key]) is type(value), key
            np.testing.assert_array_equal(replayed[key], value)
        json.dumps({key: float(value) for key, value in replayed.items() if np.ndim(value) == 0})
        json.dumps({key: value for key, value in replayed.items() if key in ("accuracy", "mean")})
