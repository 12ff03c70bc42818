"""A prepared recording hands f stand-ins for the arrays a plain call hands it (traced
constants for the other arguments' float arrays, refilled values for their integer and bool
arrays and for masks). ``isinstance(v, np.ndarray)`` must answer as in the plain call, or f
records another program than the one it runs: each case compares the prepared gradient with
``mixedad.gradient`` on the same arguments, for the recorded values and new ones."""
import functools

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


@functools.singledispatch
def _weight(value):
    return 1.0


@_weight.register
def _(value: np.ndarray):  # the plain call's arrays, and the stand-ins for them
    return 3.0


def _via_singledispatch(w, x):
    return _weight(x) * np.sum((x @ w) ** 2)


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


def _ce(z, labels):
    z = z - z.max(axis=1, keepdims=True)
    return np.mean(np.log(np.sum(np.exp(z), axis=1)) - z[np.arange(len(labels)), labels])


def _scalar_kinds(w, x, labels):
    first, total, share = labels[0], labels.sum(), (labels == 1).mean()
    scale = 1.0
    scale += isinstance(first, np.ndarray) + 2 * isinstance(first, np.integer) + 4 * np.isscalar(total)
    scale += 8 * isinstance(share, float) + 16 * isinstance(x[0, 0], float) + 32 * isinstance(x.sum(), np.ndarray)
    return scale * _ce(x @ w, labels)


def _array_protocol(w, x, labels):
    return (2.0 if hasattr(labels, "__array_interface__") and hasattr(labels, "__array_priority__") else 1.0) \
        * _ce(x @ w, labels)


def _sum_into_a_buffer(w, x, labels):
    total = np.zeros(())
    np.sum(labels, out=total)
    return _ce(x @ w, labels) * (1.0 + total)


def _clipped_into_the_labels(w, x, labels):
    np.clip(labels, 0, 1, out=labels)
    return _ce(x @ w, labels)


def _methods(w, x, labels):
    flat = labels.reshape(2, -1).ravel()
    same = labels.flatten().copy().clip(0, 2).squeeze()
    return _ce(x @ w, flat) + _ce(x @ w, same) + _ce(x @ w, np.cumsum(labels) % 3)


def _written_through_a_ravel_view(w, x, labels):
    labels.ravel()[0] = 1  # a view: the labels change, as in NumPy
    return _ce(x @ w, labels)


def _fortran_order(w, x, labels):
    return _ce(x @ w, labels.reshape(-1, order="A"))


@pytest.mark.parametrize("loss, replays", [(_scalar_kinds, True), (_array_protocol, False), (_sum_into_a_buffer, False),
                                           (_clipped_into_the_labels, False), (_methods, True),
                                           (_fortran_order, True), (_written_through_a_ravel_view, False)],
                         ids=lambda v: getattr(v, "__name__", ""))
def test_labels_behave_as_the_plain_calls_arrays(loss, replays):
    """Each program on labels that change from call to call gives the plain call's gradient (and
    leaves the caller's labels as the plain call does); the ones that only compute with the
    labels replay new ones, the ones that read them compare them by value."""
    rng = np.random.default_rng(10)
    w, x = rng.standard_normal((3, 3)), rng.standard_normal((6, 3))
    if loss is _fortran_order:  # reshape(order="A") reads an F-ordered array column by column
        label_sets = [np.asfortranarray(rng.integers(0, 3, (3, 2))) for _ in range(4)]
    else:
        label_sets = [rng.integers(0, 3, 6) for _ in range(4)]
    prepared = mixedad.prepare(loss, w, x, label_sets[0].copy(order="K"))
    for labels in label_sets[1:] + label_sets[:1]:
        plain, replayed = labels.copy(order="K"), labels.copy(order="K")
        expected = mixedad.gradient(loss, w, x, plain)
        np.testing.assert_allclose(prepared.gradient(w, x, replayed), expected, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(replayed, plain)
    assert (prepared._index_arrays_refused == "") == replays, prepared._index_arrays_refused


def test_a_function_that_insists_on_an_ndarray_type_is_recorded_on_the_arrays():
    def loss(w, x):
        if type(x) is not np.ndarray:  # no stand-in passes this: f runs on the arrays themselves
            raise TypeError("x must be an ndarray")
        return np.sum((x @ w) ** 2)

    rng = np.random.default_rng(13)
    w, x = rng.standard_normal(3), rng.standard_normal((4, 3))
    prepared = mixedad.prepare(loss, w, x)
    np.testing.assert_allclose(prepared.gradient(w, x + 1), mixedad.gradient(loss, w, x + 1), rtol=1e-12)
    assert "x must be an ndarray" in prepared.why_traced


def _scaled_if_array(w, x, labels):
    if isinstance(labels, np.ndarray):  # the plain call takes this branch: so must the recording
        labels = labels * 2
    return np.sum((x @ w - labels) ** 2)


def _by_type(w, x, labels):
    mask = x[:, 0] > 0  # a recomputed mask: dispatched as the plain array it is outside a recording
    return _weight(labels) * _weight(mask) * np.sum((x @ w - labels) ** 2)


@pytest.mark.parametrize("loss", [_scaled_if_array, _by_type])
def test_type_checks_on_labels_and_masks_take_the_plain_calls_branch(loss):
    rng = np.random.default_rng(3)
    w, x = rng.standard_normal(3), rng.standard_normal((5, 3))
    label_sets = [np.array([0, 1, 2, 1, 0]), np.array([2, 2, 1, 0, 1])]
    prepared = mixedad.prepare(loss, w, x, label_sets[0])
    for labels in label_sets:
        np.testing.assert_array_equal(prepared.gradient(w, x, labels), mixedad.gradient(loss, w, x, labels))
        assert prepared.replays


def _identity_of_a_dtype_test(x):
    if np.iscomplexobj(x) is False:  # NumPy answers with Python's bool: `is` holds
        return np.sum(x ** 2)
    return np.sum(x ** 3)


def _literal_pattern(x):
    match np.isrealobj(x):  # literal patterns compare True and False by identity
        case True:
            return np.sum(x ** 2)
        case _:
            return np.sum(x ** 3)


def _identity_of_a_value_test(x):
    return np.sum(x ** 2) if np.allclose(x, 0.0) is False and np.array_equal(x, x) is True else np.sum(x)


@pytest.mark.parametrize("loss", [_identity_of_a_dtype_test, _literal_pattern, _identity_of_a_value_test])
def test_numpys_python_bools_stay_python_bools(loss):
    x = np.array([1.0, -2.0, 3.0])
    prepared = mixedad.prepare(loss, x)
    for values in (x, np.array([0.5, 2.0, -1.5])):
        value, gradient = prepared.value_and_gradient(values)
        assert value == np.sum(values ** 2)
        np.testing.assert_allclose(gradient, mixedad.gradient(loss, values), rtol=1e-12)
        np.testing.assert_allclose(gradient, 2 * values, rtol=1e-12)
    assert (loss is _identity_of_a_value_test) is not prepared.replays  # a dtype's question reads no value
