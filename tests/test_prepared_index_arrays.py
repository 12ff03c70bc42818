"""Prepared gradients take the integer and bool arrays of the other arguments (labels, indices,
masks) as inputs that each replay refills: a training loop whose labels change with every batch
replays one recording. Each case compares the prepared gradient with ``mixedad.gradient`` on the
same arguments (and the cross-entropy one with central differences); a program that reads the
values of those arrays is recorded with them compared by value instead, and says so."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixedad
from mixedad import nn
from mixedad.core.pullbacks import replay_checked_primitive

CLASSES, BATCH = 5, 12


def _log_softmax(z):
    z = z - np.max(z, axis=1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))


def _labels(rng):
    return rng.integers(0, CLASSES, BATCH)


def _mask(rng):
    return rng.random(BATCH) > 0.5


def _counts(rng):
    return rng.integers(-3, 4, BATCH)


def _step(rng):
    return np.array(rng.integers(1, 4))


# (loss of (w, x, index array), how to draw the index array)
REPLAYED = {
    "gather by arange and labels": (lambda w, x, y: -np.mean(_log_softmax(x @ w)[np.arange(len(y)), y]), _labels),
    "np.take_along_axis": (lambda w, x, y: -np.mean(np.take_along_axis(_log_softmax(x @ w), y[:, None], axis=1)),
                           _labels),
    "np.take rows, repeated": (lambda w, x, y: np.sum(np.take(np.tanh(x @ w), y, axis=0) ** 2), _labels),
    "np.take wrapped": (lambda w, x, y: np.sum(np.take(x @ w, y + 7, axis=1, mode="wrap") ** 2), _labels),
    "nn.cross_entropy": (lambda w, x, y: nn.cross_entropy(x @ w, y), _labels),
    "one-hot by comparison": (lambda w, x, y: -np.sum((y[:, None] == np.arange(CLASSES)) * _log_softmax(x @ w)),
                              _labels),
    "negative indices": (lambda w, x, y: np.sum((x @ w)[:, y - CLASSES] ** 2), _labels),
    "embedding rows": (lambda w, x, y: np.sum(np.sin(w.T[y]) * x[:, :1]), _labels),
    "mask in np.where": (lambda w, x, m: np.sum(np.where(m[:, None], x @ w, 0.0) ** 2), _mask),
    "masked mean": (lambda w, x, m: np.sum(np.sum(x @ w, axis=1) * m) / max(BATCH, 1), _mask),
    "mask as a matrix": (lambda w, x, m: np.sum(m.astype(float) @ np.tanh(x @ w)), _mask),
    "integer weights": (lambda w, x, c: np.sum((x @ w) * c[:, None].astype(np.float64) ** 2), _counts),
    "integer vector product": (lambda w, x, c: np.sum(np.cos(c @ (x @ w))), _counts),
    "0-d integer power": (lambda w, x, t: np.sum((x @ w) ** t), _step),
}


@pytest.mark.parametrize("name", list(REPLAYED))
def test_index_arrays_that_change_on_every_call_replay_one_recording(name):
    loss, draw = REPLAYED[name]
    rng = np.random.default_rng(len(name))
    w = rng.standard_normal((4, CLASSES))
    prepared = mixedad.prepare(loss, w, rng.standard_normal((BATCH, 4)), draw(rng))
    recorded = prepared._program
    for _ in range(6):
        x, index = rng.standard_normal((BATCH, 4)), draw(rng)
        caller_copy = index.copy()
        value, grad = prepared.value_and_gradient(w, x, index)
        want_value, want = mixedad.value_and_gradient(loss, w, x, index)
        np.testing.assert_allclose(grad, want, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(value, want_value, rtol=1e-12)
        np.testing.assert_array_equal(index, caller_copy)  # the caller's array is only read
    assert prepared.replays and prepared.why_traced == ""
    assert prepared._program is recorded  # replayed every time, never recorded again


def test_replayed_cross_entropy_gradient_matches_central_differences():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, CLASSES))
    loss = REPLAYED["np.take_along_axis"][0]
    prepared = mixedad.prepare(loss, w, rng.standard_normal((BATCH, 4)), _labels(rng))
    x, labels = rng.standard_normal((BATCH, 4)), _labels(rng)
    grad = prepared.gradient(w, x, labels)
    grad = prepared.gradient(w, x, labels)  # (the second replay runs the compiled program)
    eps, numeric = 1e-6, np.zeros_like(w)
    for i in np.ndindex(w.shape):
        step = np.zeros_like(w)
        step[i] = eps
        numeric[i] = (loss(w + step, x, labels) - loss(w - step, x, labels)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 9), classes=st.integers(1, 6), seed=st.integers(0, 2 ** 16))
def test_gathers_by_drawn_labels_replay_the_fresh_gradient(batch, classes, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((3, classes)).astype(np.float32)

    def loss(w, x, y):
        z = x @ w
        return np.sum(z[np.arange(len(y)), y] ** 2) - np.sum(np.take_along_axis(z, y[:, None], axis=1))

    prepared = mixedad.prepare(loss, w, rng.standard_normal((batch, 3)).astype(np.float32),
                               rng.integers(0, classes, batch))
    for _ in range(3):
        x, y = rng.standard_normal((batch, 3)).astype(np.float32), rng.integers(-classes, classes, batch)
        grad = prepared.gradient(w, x, y)
        assert grad.dtype == np.float32
        np.testing.assert_allclose(grad, mixedad.gradient(loss, w, x, y), rtol=1e-6, atol=1e-6)
    assert prepared.replays


def test_labels_out_of_range_on_a_replay_raise_as_a_fresh_gradient_does_and_replays_go_on():
    rng = np.random.default_rng(4)
    w, x = rng.standard_normal((4, CLASSES)), rng.standard_normal((BATCH, 4))
    gather, _ = REPLAYED["gather by arange and labels"]
    prepared = mixedad.prepare(gather, w, x, _labels(rng))
    bad = _labels(rng)
    bad[3] = CLASSES
    with pytest.raises(IndexError):
        mixedad.gradient(gather, w, x, bad)
    with pytest.raises(IndexError):
        prepared.gradient(w, x, bad)
    labels = _labels(rng)
    np.testing.assert_allclose(prepared.gradient(w, x, labels), mixedad.gradient(gather, w, x, labels), rtol=1e-12)
    assert prepared.replays

    logits = rng.standard_normal((5, CLASSES))
    prepared = mixedad.prepare(nn.cross_entropy, logits, np.array([0, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match=f"label {CLASSES} is outside the {CLASSES} classes"):
        prepared.gradient(logits, np.array([0, 1, CLASSES, 3, 4]))


@mixedad.primitive(nondiff_argnums=(1,))
def _distinct_entries(x, index):
    """x at the distinct values of index: the result's length depends on index's values."""
    return x[np.unique(index)]


@_distinct_entries.defvjp
def _distinct_entries_vjp(g, out, x, index):
    ct = np.zeros_like(x)
    ct[np.unique(index)] = g
    return ct


def test_a_primitive_whose_result_shape_follows_index_values_is_traced_when_it_changes():
    loss = lambda x, index: np.sum(_distinct_entries(np.sin(x), index) ** 2)  # noqa: E731
    x = np.linspace(0.1, 0.9, 6)
    prepared = mixedad.prepare(loss, x, np.array([0, 1, 1, 2]))
    for index in ([3, 4, 4, 5], [0, 1, 2, 3], [5, 5, 5, 5], [0, 2, 4, 2]):
        index = np.array(index)
        want = np.zeros_like(x)
        chosen = np.unique(index)
        want[chosen] = 2 * np.sin(x[chosen]) * np.cos(x[chosen])  # d/dx sin(x)^2
        np.testing.assert_allclose(prepared.gradient(x, index), want, rtol=1e-12)
        np.testing.assert_allclose(prepared.gradient(x, index), mixedad.gradient(loss, x, index), rtol=1e-12)
    # the primitive's step checks the shape of what it computes from the refilled index on each replay
    assert [step.payload[0] for step in prepared._program.steps if step.run is replay_checked_primitive] == \
        [_distinct_entries]


# programs that read the values of their index arrays: compared by value, as before
READ = {
    "one-hot by np.eye": (lambda w, x, y: -np.sum(np.eye(CLASSES)[y] * _log_softmax(x @ w)), _labels, "np.asarray"),
    "boolean selection": (lambda w, x, m: np.sum((x @ w)[m] ** 2), _mask, "a mask"),
    "a Python number from the labels": (lambda w, x, y: np.sum(x @ w) * float(y.max()), _labels, ".max"),
    "np.bincount": (lambda w, x, y: np.sum(np.bincount(y, weights=(x @ w)[:, 0], minlength=CLASSES) ** 2),
                    _labels, "numpy.bincount"),
}


@pytest.mark.parametrize("name", list(READ))
def test_programs_that_read_index_values_compare_them_and_say_why(name):
    loss, draw, read = READ[name]
    rng = np.random.default_rng(len(name))
    w = rng.standard_normal((4, CLASSES))
    prepared = mixedad.prepare(loss, w, rng.standard_normal((BATCH, 4)), draw(rng))
    for _ in range(5):
        x, index = rng.standard_normal((BATCH, 4)), draw(rng)
        np.testing.assert_allclose(prepared.gradient(w, x, index), mixedad.gradient(loss, w, x, index), rtol=1e-12)
    assert not prepared.replays
    assert "changes from call to call, and a replay takes integer and bool arrays as inputs only" in \
        prepared.why_traced
    assert read in prepared.why_traced


def test_a_function_that_wants_an_ndarray_gets_one_and_replays():
    def loss(w, labels):
        if not isinstance(labels, np.ndarray):
            raise TypeError("labels must be an ndarray")
        return np.sum(w[labels] ** 2)

    w = np.arange(4.0)
    prepared = mixedad.prepare(loss, w, np.array([0, 2]))
    np.testing.assert_allclose(prepared.gradient(w, np.array([0, 2])), [0.0, 0.0, 4.0, 0.0])
    np.testing.assert_allclose(prepared.gradient(w, np.array([3, 3])), [0.0, 0.0, 0.0, 12.0])
    assert prepared.replays and prepared._index_arrays_refused == ""


def _accuracy_aux(w, x):
    z = x @ w
    return np.sum(z ** 2), np.mean(np.argmax(z, axis=1) == 1)


def _nearest_centroid(w, x):
    offsets = x[:, None, :] - w.T[None]
    nearest = np.argmin(np.sum(offsets ** 2, axis=-1), axis=1)
    return np.sum(offsets[np.arange(len(x)), nearest] ** 2)


# indices computed from traced values, then gathered by: recomputed on each replay
DERIVED = {
    "argmax gather": lambda w, x: np.sum((x @ w)[np.arange(len(x)), np.argmax(x @ w, axis=1)] ** 2),
    "argmin of distances (k-means)": _nearest_centroid,
    "argsort top three": lambda w, x: np.sum(np.ravel(x @ w)[np.argsort(np.ravel(x @ w))[-3:]] ** 2),
    "argsort along an axis": lambda w, x: np.sum(
        np.take_along_axis(x @ w, np.argsort(x @ w, axis=1)[:, :2], axis=1) ** 3),
    "argpartition": lambda w, x: np.sum(np.ravel(x @ w)[np.argpartition(np.ravel(x @ w), 4)[:4]]),
    "digitize lookup": lambda w, x: np.sum(w[np.digitize(np.ravel(x @ w)[:5], [-1.0, 0.0, 1.0]), 0] ** 2),
    "isin mask": lambda w, x: np.sum(np.where(np.isin(np.argmax(x @ w, 1), [0, 2]), np.sum(x @ w, 1), 0.0) ** 2),
    "floor as an index": lambda w, x: np.sum(w[np.clip(np.floor(np.abs(x[:, 0]) * 1.5).astype(int), 0, 3)] ** 2),
    "accuracy in aux": _accuracy_aux,
}


@pytest.mark.parametrize("name", list(DERIVED))
def test_indices_computed_from_traced_values_are_recomputed_on_each_replay(name):
    loss, has_aux = DERIVED[name], DERIVED[name] is _accuracy_aux
    rng = np.random.default_rng(len(name))
    w = rng.standard_normal((4, 3))
    prepared = mixedad.prepare(loss, w, rng.standard_normal((8, 4)), has_aux=has_aux)
    recorded = prepared._program
    for _ in range(6):
        x = rng.standard_normal((8, 4))
        got, want = prepared.gradient(w, x), mixedad.gradient(loss, w, x, has_aux=has_aux)
        if has_aux:
            assert got[1] == want[1]
            got, want = got[0], want[0]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert prepared.replays and prepared._program is recorded


@mixedad.primitive
def _one_hot(labels, classes):
    return np.eye(classes)[labels]


def test_a_primitive_of_index_arrays_alone_is_not_replayed_with_stale_values():
    # nothing traced among its arguments: no step recomputes it, so the labels' values are read
    loss = lambda w, x, y: -np.sum(_one_hot(y, 3) * (x @ w))  # noqa: E731
    rng = np.random.default_rng(6)
    w = rng.standard_normal((4, 3))
    prepared = mixedad.prepare(loss, w, rng.standard_normal((6, 4)), rng.integers(0, 3, 6))
    for _ in range(5):
        x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
        np.testing.assert_allclose(prepared.gradient(w, x, y), -x.T @ np.eye(3)[y], rtol=1e-12)


def _doubled_row_at_argmax(z):
    y = z * 1.0
    row = y[np.argmax(z[:, 0])]  # an np.int64 index: a view of y in NumPy, updated below
    row *= 2.0
    return np.sum(y ** 2)


def _doubled_row_at_label(z, labels):
    y = z * 1.0
    row = y[labels[0]]
    row[1:] *= 3.0
    return np.sum(np.sin(y))


def _view_then_assignment(z):
    y = z * 1.0
    v = y[np.argmax(z[:, 0])]
    y[0] = 100.0 * z[0]  # reaches v when the argmax is row 0
    return np.sum(v * np.arange(4.0))


def test_a_view_at_an_index_computed_from_values_writes_through_on_every_replay():
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal((3, 4)) for _ in range(6)]
    prepared = mixedad.prepare(_doubled_row_at_argmax, inputs[0])
    for z in inputs:
        value, grad = prepared.value_and_gradient(z)
        assert value == pytest.approx(_doubled_row_at_argmax(z))
        np.testing.assert_allclose(grad, mixedad.gradient(_doubled_row_at_argmax, z))
    assert prepared.replays
    labelled = mixedad.prepare(_doubled_row_at_label, inputs[0], np.array([1, 0]))
    for z, label in zip(inputs, [0, 2, 1, 2, 0, 1]):
        labels = np.array([label, 0])
        value, grad = labelled.value_and_gradient(z, labels)
        assert value == pytest.approx(_doubled_row_at_label(z, labels))
        np.testing.assert_allclose(grad, mixedad.gradient(_doubled_row_at_label, z, labels))


def test_a_view_at_an_index_computed_from_values_next_to_an_assignment_is_decided_on_each_call():
    z = np.array([[0.5, -1.2, 2.0, 0.3], [-0.7, 1.5, 0.1, -0.2], [1.1, 0.4, -0.9, 2.2]])
    reaching = z.copy()
    reaching[0, 0] = 9.0  # the argmax moves to row 0, which the assignment writes
    prepared = mixedad.prepare(_view_then_assignment, z)
    assert not prepared.replays and "index computed from values" in prepared.why_traced
    np.testing.assert_allclose(prepared.gradient(z), mixedad.gradient(_view_then_assignment, z))
    with pytest.raises(mixedad.InPlaceMutationError):
        mixedad.gradient(_view_then_assignment, reaching)
    with pytest.raises(mixedad.InPlaceMutationError):
        prepared.gradient(reaching)
