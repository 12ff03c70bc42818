"""Prepared gradients see every change to the state their arguments carry: a call whose
arguments would make ``f`` record another program records it; none replays a stale one.
Each case compares the prepared gradient with ``mixedad.gradient`` on the same arguments."""
import copy
import dataclasses
import functools

import numpy as np
import pytest

import mixedad


def _agree(prepared, f, *args):
    for _ in range(2):  # the call that records again, then one that may replay
        np.testing.assert_allclose(prepared.gradient(*args), mixedad.gradient(f, *args), rtol=1e-12)


@dataclasses.dataclass
class _Config:
    power: float

    def __post_init__(self):
        self.scale = 1.0  # not a field: a tree's leaves are its dataclasses' fields only


def test_a_dataclass_attribute_that_is_not_a_field_changed_in_place_records_again():
    f = lambda x, config: np.sum(x ** config.power) * config.scale  # noqa: E731
    x, config = np.array([1.0, 2.0, 3.0]), _Config(2.0)
    prepared = mixedad.prepare(f, x, config)
    config.scale = 5.0
    _agree(prepared, f, x, config)
    config.offset = 1.0  # a new attribute, too
    _agree(prepared, f, x, config)
    assert prepared.replays


@dataclasses.dataclass
class _Params:
    w: np.ndarray

    def __post_init__(self):
        self.power = 2


def test_a_differentiated_dataclass_carries_its_other_attributes_too():
    f = lambda p: np.sum(p.w ** p.power)  # noqa: E731
    params = _Params(np.array([1.0, 2.0]))
    prepared = mixedad.prepare(f, params)
    params.power = 3
    got, want = prepared.gradient(params), mixedad.gradient(f, params)
    np.testing.assert_allclose(got.w, want.w)
    np.testing.assert_allclose(got.w, 3 * params.w ** 2)


class _Model:
    scale = 1.0

    def loss(self, x):
        return np.sum(x ** 2) * self.scale


def test_a_class_attribute_read_through_an_argument_changed_between_calls_records_again():
    x, model = np.array([1.0, -2.0]), _Model()
    by_instance = lambda x, m: m.loss(x)  # noqa: E731
    by_class = lambda x, cls: np.sum(x ** 2) * cls.scale  # noqa: E731
    prepared_instance = mixedad.prepare(by_instance, x, model)
    prepared_class = mixedad.prepare(by_class, x, _Model)
    try:
        _Model.scale = 5.0
        _agree(prepared_instance, by_instance, x, model)
        _agree(prepared_class, by_class, x, _Model)
        np.testing.assert_allclose(prepared_class.gradient(x, _Model), 10 * x)
    finally:
        _Model.scale = 1.0


def test_a_partial_holding_an_integer_array_changed_in_place_records_again():
    weights = np.array([1, 2, 3])
    scaled = functools.partial(lambda w, x: x * w, weights)
    f = lambda x, fn: np.sum(fn(x) ** 2)  # noqa: E731
    x = np.ones(3)
    prepared = mixedad.prepare(f, x, scaled)
    weights[:] = [10, 20, 30]
    _agree(prepared, f, x, scaled)
    np.testing.assert_allclose(prepared.gradient(x, scaled), 2 * weights ** 2)


@pytest.mark.parametrize("zero", [-0.0, np.float64(-0.0), (-0.0,), np.array([complex(-1, -0.0)])])
def test_a_negative_zero_is_another_static_argument_than_a_positive_one(zero):
    def f(x, s):
        s = np.asarray(s)
        return np.sum(x * np.angle(s)) if s.dtype.kind == "c" else np.sum(x * np.arctan2(s, -1.0))
    positive = np.array([-1 + 0j]) if isinstance(zero, np.ndarray) else type(zero)(np.abs(zero))
    x = np.ones(2)
    prepared = mixedad.prepare(f, x, positive)
    np.testing.assert_allclose(prepared.gradient(x, positive), np.pi)
    _agree(prepared, f, x, zero)
    np.testing.assert_allclose(prepared.gradient(x, zero), -np.pi)


def test_a_nan_static_argument_replays():
    calls = []

    def f(x, s):
        calls.append(s)
        return np.sum(x * (2.0 if s != s else s))
    prepared = mixedad.prepare(f, np.ones(2), float("nan"))
    for _ in range(3):
        np.testing.assert_allclose(prepared.gradient(np.ones(2), float("nan")), [2.0, 2.0])
    assert len(calls) == 1 and prepared.replays


@dataclasses.dataclass
class _WithExtras:
    power: float
    extra: dict = dataclasses.field(default_factory=dict)


@pytest.mark.parametrize("change, message", [
    (lambda c, d: c.extra.update(scale=5.0), r"argument 1 .*: \.extra is a dict with keys 'scale', prepared for keys \(none\)"),
    (lambda c, d: d.update(c=1), r"argument 0 .*: it is a dict with keys 'a', 'b', 'c', prepared for keys 'a', 'b'"),
    (lambda c, d: d.update(a=[d["a"]]), r"argument 0 .*: \['a'\] is a list, prepared for a leaf"),
])
def test_a_structure_mismatch_says_where_the_trees_differ(change, message):
    f = lambda d, c: np.sum(d["a"] * d["b"]) ** c.power  # noqa: E731
    d, config = {"a": np.ones(2), "b": np.ones(2)}, _WithExtras(2.0)
    prepared = mixedad.prepare(f, d, config)
    change(config, d)
    with pytest.raises(mixedad.InputError, match=message):
        prepared.gradient(d, config)


def test_dict_keys_in_another_order_are_named_as_such_and_the_advice_replays():
    def f(d):  # the order matters to f: it stacks the values in the dict's order
        return np.sum(np.stack(list(d.values())) * np.array([[1.0], [3.0]]) * d["a"])
    prepared = mixedad.prepare(f, {"a": np.ones(2), "b": np.ones(2)})
    reordered = {"b": np.array([1.0, 2.0]), "a": np.array([5.0, 7.0])}
    with pytest.raises(mixedad.InputError, match=r"keys 'b', 'a', prepared for the keys in the order 'a', 'b': "
                                                 r"the order is part of the recorded program .*for k in \['a', 'b'\]"):
        prepared.gradient(reordered)
    in_prepared_order = {k: reordered[k] for k in ["a", "b"]}  # the advice
    expected = mixedad.gradient(f, in_prepared_order)
    got = prepared.gradient(in_prepared_order)
    assert prepared.replays and list(got) == ["a", "b"]
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])
    # and the two orders are two functions here: replaying one for the other would be wrong
    assert not np.array_equal(mixedad.gradient(f, reordered)["a"], expected["a"])


def _softmax_cross_entropy(w, features, labels):
    z = features @ w
    z = z - np.max(z, axis=1, keepdims=True)
    log_p = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    # np.eye(3)[labels] reads the labels' values (a gather by them would replay with new labels:
    # tests/test_prepared_index_arrays.py), so each new value of them is another program
    return -np.sum(np.eye(3)[labels] * log_p) / len(labels)


def _labelled_batches(count, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((8, 4)), rng.integers(0, 3, 8)) for _ in range(count)]


def test_labels_read_by_value_that_change_on_every_call_trace_and_say_so_and_stay_right():
    w = np.random.default_rng(1).standard_normal((4, 3))
    batches = _labelled_batches(12)
    prepared = mixedad.prepare(_softmax_cross_entropy, w, *batches[0])
    for call, (features, labels) in enumerate(batches[1:], start=1):
        got = prepared.gradient(w, features, labels)
        np.testing.assert_allclose(got, mixedad.gradient(_softmax_cross_entropy, w, features, labels),
                                   rtol=1e-12, atol=1e-14)
        if call >= 3 and call & (call - 1):  # (calls 4 and 8 in a row record once more)
            assert not prepared.replays
            assert "argument 2 (an int64 array of shape (8,)) changes from call to call" in prepared.why_traced
    # labels that stop changing: a later call records them, and the calls after it replay
    features, labels = batches[0]
    for _ in range(16):
        prepared.gradient(w, features, labels)
    assert prepared.replays and prepared.why_traced == ""
    recorded = prepared._program
    np.testing.assert_allclose(prepared.gradient(w, features, labels),
                               mixedad.gradient(_softmax_cross_entropy, w, features, labels), rtol=1e-12)
    assert prepared._program is recorded  # replayed, not recorded again


def test_after_three_changes_in_a_row_calls_trace_instead_of_recording():
    w = np.random.default_rng(1).standard_normal((4, 3))
    batches = _labelled_batches(20)
    prepared = mixedad.prepare(_softmax_cross_entropy, w, *batches[0])
    programs = []
    for features, labels in batches[1:]:
        prepared.gradient(w, features, labels)
        programs.append(prepared._program)
    recordings = sum(1 for before, after in zip([None] + programs, programs) if after is not before)
    assert recordings == 5  # calls 1, 2 (below three in a row), then 4, 8 and 16 of the 19


def test_a_generator_argument_says_it_draws_anew():
    def loss(w, rng):
        keep = rng.random(w.shape) > 0.5
        return np.sum(np.where(keep, w, 0.0) ** 2)

    w, rng = np.ones(6), np.random.default_rng(0)
    prepared = mixedad.prepare(loss, w, rng)
    for _ in range(5):
        state = copy.deepcopy(rng)
        got = prepared.gradient(w, rng)
        np.testing.assert_array_equal(got, mixedad.gradient(loss, w, state))
    assert not prepared.replays and "argument 1 (a Generator) draws anew on every call" in prepared.why_traced


class _Tagged(np.ndarray):
    def __array_finalize__(self, obj):
        self.tag = getattr(obj, "tag", 1.0)


def _tagged(values, tag):
    array = np.asarray(values).view(_Tagged)
    array.tag = tag
    return array


def test_a_masked_arrays_mask_and_an_array_subclasss_attributes_are_part_of_its_value():
    x = np.array([0.5, -1.2, 2.0])

    def masked_total(x, w):
        return np.sum(x ** 2) * float(np.sum(w))  # np.sum of a masked array skips the masked values

    def tagged_gather(x, t):
        return np.sum(x[t]) * t.tag

    calls = {masked_total: [np.ma.array([1.0, 2.0, 3.0], mask=mask) for mask in ([0, 1, 0], [1, 0, 0], [0, 0, 0])]
             + [np.array([1.0, 2.0, 3.0]), np.ma.array([1.0, 2.0, 3.0], mask=[0, 1, 0])],
             tagged_gather: [_tagged([0, 1], tag) for tag in (2.0, 3.0, 3.0, -1.0)]}
    for f, arguments in calls.items():
        prepared = mixedad.prepare(f, x, arguments[0])
        for argument in arguments:
            value, grad = prepared.value_and_gradient(x, argument)
            assert value == pytest.approx(f(x, argument))
            np.testing.assert_allclose(grad, mixedad.gradient(f, x, argument))
