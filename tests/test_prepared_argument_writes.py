"""A function that updates an argument's array in place (``x -= x.mean(0)``) changes the
caller's array under ``mixedad.gradient``, as NumPy does. A prepared gradient must do the same
on every call (a replay of a recording that traced the array as a constant would not), and
give the same gradient: each case compares both, for the recorded values and new ones."""
import numpy as np
import pytest

import mixedad


def _centred(w, x):
    x -= x.mean(axis=0)
    return np.sum((x @ w) ** 2)


def _first_row_zeroed(w, x):
    x[0] = 0.0
    return np.sum((x @ w) ** 2)


def _column_scaled(w, x):
    x[:, 0] *= 2
    return np.sum((x @ w) ** 2)


def _through_a_view(w, x):
    rows = x[1:]
    rows += 1.0
    return np.sum((x @ w) ** 2)


def _added_at(w, x):
    np.add.at(x, [0, 0], 1.0)
    return np.sum((x @ w) ** 2)


def _sorted_rows(w, x):
    x.sort(axis=1)
    return np.sum((x @ w) ** 2)


def _copied_into(w, x):
    np.copyto(x, x * 2)
    return np.sum((x @ w) ** 2)


def _ufunc_out(w, x):
    np.multiply(x, 2, out=x)
    return np.sum(np.tanh(x @ w))


def _in_a_dict(w, data):
    data["x"] /= 2
    return np.sum((data["x"] @ w) ** 2)


CASES = [_centred, _first_row_zeroed, _column_scaled, _through_a_view, _added_at, _sorted_rows, _copied_into,
         _ufunc_out, _in_a_dict]


@pytest.mark.parametrize("loss", CASES, ids=lambda f: f.__name__)
def test_writes_into_arguments_happen_as_in_a_plain_call(loss):
    rng = np.random.default_rng(11)
    w = rng.standard_normal(3)
    wrap = (lambda a: {"x": a}) if loss is _in_a_dict else (lambda a: a)
    prepared = mixedad.prepare(loss, w, wrap(rng.standard_normal((5, 3))))
    for _ in range(3):
        data = rng.standard_normal((5, 3))
        plain, replayed = data.copy(), data.copy()
        expected = mixedad.gradient(loss, w, wrap(plain))
        np.testing.assert_allclose(prepared.gradient(w, wrap(replayed)), expected, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(replayed, plain)  # the caller's array, changed as NumPy changes it
        assert not np.array_equal(plain, data)
    assert "update in place" in prepared.why_traced or "sort" in prepared.why_traced


def test_a_function_that_writes_into_its_own_arrays_still_replays():
    def loss(w, x):
        centred = x - x.mean(axis=0)
        centred[0] = 0.0  # a new array: the caller's is untouched
        return np.sum((centred @ w) ** 2)

    rng = np.random.default_rng(12)
    w, x = rng.standard_normal(3), rng.standard_normal((5, 3))
    prepared = mixedad.prepare(loss, w, x)
    new = rng.standard_normal((5, 3))
    np.testing.assert_allclose(prepared.gradient(w, new), mixedad.gradient(loss, w, new), rtol=1e-12, atol=0)
    assert prepared.replays, prepared.why_traced


def _labels_shifted(w, x, labels):
    labels += 1
    labels %= 3
    return np.sum((x @ w)[np.arange(len(labels)), labels] ** 2)


def _labels_sorted(w, x, labels):
    labels.sort()
    return np.sum((x @ w)[np.arange(len(labels)), labels] ** 2)


def _dict_key_assigned(w, x, batch):
    batch["seen"] = batch["seen"] + 1
    return np.sum((x @ w)[np.arange(len(batch["labels"])), batch["labels"]] ** 2)


def _counted(w, x, options):
    options.calls += 1
    return np.sum((x @ w) ** 2) * options.scale


@pytest.mark.parametrize("loss", [_labels_shifted, _labels_sorted, _dict_key_assigned, _counted],
                         ids=lambda f: f.__name__)
def test_other_arguments_changed_in_place_change_on_every_call(loss):
    """Labels updated in place, a key assigned into a dict argument, a counter in an options
    object: the caller's objects change on every call, as under mixedad.gradient, also when
    a call's values equal the recorded ones (a replay would not run f)."""
    import copy
    import types

    rng = np.random.default_rng(14)
    w, x = rng.standard_normal((3, 3)), rng.standard_normal((6, 3))
    labels = np.array([2, 0, 1, 1, 0, 2])
    argument = {_dict_key_assigned: {"labels": labels, "seen": 0},
                _counted: types.SimpleNamespace(calls=0, scale=2.0)}.get(loss, labels)
    prepared = mixedad.prepare(loss, w, x, copy.deepcopy(argument))
    plain, replayed = copy.deepcopy(argument), copy.deepcopy(argument)
    for _ in range(4):  # the same objects again: their values change with each call
        expected = mixedad.gradient(loss, w, x, plain)
        np.testing.assert_allclose(prepared.gradient(w, x, replayed), expected, rtol=1e-12, atol=0)
        for now, then in zip(mixedad.core.pytree.flatten(replayed)[0], mixedad.core.pytree.flatten(plain)[0]):
            np.testing.assert_array_equal(now, then)
        if loss is _counted:
            assert replayed.calls == plain.calls
    assert "in place" in prepared.why_traced
