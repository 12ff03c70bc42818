"""Dataclass arguments: a differentiated function sees the object it was given, with traced
fields. The rebuilt object goes through ``__init__`` (``__post_init__`` derives from the traced
fields), and keeps what was set on the original since it was made. References: central
finite differences on the original object."""
import collections
import dataclasses
import functools

import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient


@dataclasses.dataclass
class _Layer:
    w: np.ndarray

    def __post_init__(self):
        self.activation = np.tanh
        self.power = 2
        self.w_t = self.w.T  # derived from a field: must follow the traced w

    def __call__(self, x):
        return np.sum(self.activation(x @ self.w_t) ** self.power)


X = np.array([[0.3, -0.2], [0.1, 0.5], [-0.4, 0.2]])


def _reference(layer, attributes):
    def loss(w):
        rebuilt = _Layer(w)
        for name, value in attributes.items():
            setattr(rebuilt, name, value)
        return rebuilt(X)
    return numerical_gradient(loss, layer.w)


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("attributes", [{}, {"power": 3}, {"activation": np.sin}, {"power": 3, "scale": 2.0}])
def test_a_dataclass_keeps_attributes_set_after_it_was_made_and_derives_the_rest(mode, attributes):
    layer = _Layer(np.array([[0.5, -1.0], [2.0, 0.25]]))
    for name, value in attributes.items():
        setattr(layer, name, value)
    got = mixedad.gradient(lambda layer: layer(X) * getattr(layer, "scale", 1.0), layer, mode=mode).w
    want = _reference(layer, attributes) * attributes.get("scale", 1.0)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


@dataclasses.dataclass
class _WithHelper:
    w: np.ndarray

    def __post_init__(self):
        self.scaled = lambda x: x * self.w  # closes over the object: must read the traced one
        self.parts = [self.w[0], self.w[1]]


def test_objects_post_init_makes_from_the_fields_are_made_again_from_the_traced_ones():
    params = _WithHelper(np.array([1.5, -2.0]))
    loss = lambda p: np.sum(p.scaled(np.array([1.0, 3.0])) ** 2) + p.parts[0] * p.parts[1]  # noqa: E731
    got = mixedad.gradient(loss, params).w
    np.testing.assert_allclose(got, numerical_gradient(lambda w: loss(_WithHelper(w)), params.w), rtol=1e-6)


@dataclasses.dataclass(frozen=True)
class _Frozen:
    w: np.ndarray
    size: float = dataclasses.field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "size", float(len(self.w)))


def test_frozen_dataclasses_and_fields_outside_init_rebuild():
    params = _Frozen(np.array([1.0, 2.0, 4.0]))
    grads = mixedad.gradient(lambda p: np.sum(p.w ** 2) * p.size, params)
    np.testing.assert_allclose(grads.w, 2 * params.w * 3)
    np.testing.assert_allclose(grads.size, np.sum(params.w ** 2))
    prepared = mixedad.prepare(lambda x, p: np.sum(x * p.w) * p.size, np.ones(3), params)
    np.testing.assert_allclose(prepared.gradient(np.ones(3), params), params.w * 3)


def test_forward_transforms_and_second_order_see_derived_attributes():
    layer, direction = _Layer(np.array([[0.5, -1.0], [2.0, 0.25]])), np.array([[1.0, 0.5], [-0.5, 2.0]])
    loss = lambda layer: layer(X)  # noqa: E731
    numerical = numerical_gradient(lambda w: _Layer(w)(X), layer.w)
    _, tangent = mixedad.jvp(loss, (layer,), (_Layer(direction),))
    np.testing.assert_allclose(tangent, np.sum(numerical * direction), rtol=1e-6)
    hvp = mixedad.hvp(loss, layer, _Layer(direction)).w
    step = 1e-5  # the Hessian times the direction: central differences of the gradient along it
    plus, minus = (mixedad.gradient(loss, _Layer(layer.w + s * direction)).w for s in (step, -step))
    np.testing.assert_allclose(hvp, (plus - minus) / (2 * step), rtol=1e-5, atol=1e-8)


@dataclasses.dataclass
class _Defaulted:
    w: np.ndarray

    def __post_init__(self):
        self.apply = lambda x, w=self.w: x @ w  # the field as a default argument: made again, traced


def test_a_function_post_init_makes_from_a_field_reads_the_traced_field():
    params = _Defaulted(np.array([0.5, -1.5]))
    loss = lambda p: np.sum(np.sin(p.apply(X)))  # noqa: E731
    for mode in ("auto", "reverse", "forward"):
        np.testing.assert_allclose(mixedad.gradient(loss, params, mode=mode).w,
                                   numerical_gradient(lambda w: loss(_Defaulted(w)), params.w), rtol=1e-6)


class _Scaled:
    def __init__(self, w):
        self.w, self.scale = w, 1.0

    def __call__(self, x):
        return self.scale * (x @ self.w)


@dataclasses.dataclass
class _WithHelperObject:
    w: np.ndarray

    def __post_init__(self):
        self.helper = _Scaled(self.w)

    def relu(self, x):
        return np.maximum(x @ self.w, 0.0)


def test_attributes_replaced_after_construction_are_used_and_stale_ones_refused():
    layer = _Layer(np.array([[0.5, -1.0], [2.0, 0.25]]))
    layer.activation = functools.partial(np.maximum, 0.0)  # a partial replacing __post_init__'s np.tanh
    np.testing.assert_allclose(mixedad.gradient(lambda l: l(X), layer).w,
                               numerical_gradient(lambda w: _with(_Layer(w), activation=layer.activation)(X), layer.w),
                               rtol=1e-6)
    bound = _WithHelperObject(np.array([1.0, -2.0]))
    bound.act = bound.relu  # a method bound to the original: bound to the traced copy
    np.testing.assert_allclose(mixedad.gradient(lambda p: np.sum(p.act(X)), bound).w,
                               numerical_gradient(lambda w: np.sum(np.maximum(X @ w, 0.0)), bound.w), rtol=1e-6)
    bound.helper.scale = 3.0  # the helper holds the untraced w: refused, not a zero gradient
    with pytest.raises(mixedad.InputError, match=r"_WithHelperObject\.helper was set or changed .* method or property"):
        mixedad.gradient(lambda p: np.sum(p.helper(X)), bound)


def _with(obj, **attributes):
    for name, value in attributes.items():
        setattr(obj, name, value)
    return obj


@dataclasses.dataclass
class _Validated:
    w: np.ndarray
    lr: float

    def __post_init__(self):
        self.sigma = np.abs(self.w)  # derived
        if self.lr <= 0:
            raise ValueError("lr must be positive")


@dataclasses.dataclass
class _Normalized:
    q: np.ndarray

    def __post_init__(self):
        self.q = np.abs(self.q)


def test_derivatives_are_not_made_through_the_constructor():
    params = _Validated(np.array([1.0, -2.0]), 0.1)
    grads = mixedad.gradient(lambda p: np.sum(p.sigma) * p.lr - 10.0 * p.lr, params)  # d/dlr < 0: not validated
    np.testing.assert_allclose(grads.lr, np.sum(np.abs(params.w)) - 10.0)
    np.testing.assert_allclose(grads.w, params.lr * np.sign(params.w))
    x = np.array([0.5, -1.0, 2.0])
    jacobian = mixedad.jacobian(lambda x: _Normalized(x * 2.0), x)
    np.testing.assert_allclose(np.diag(jacobian.q), 2 * np.sign(x))  # the signs kept, not made positive
    _, tangent = mixedad.jvp(lambda x: _Normalized(x * 2.0), (x,), (np.ones(3),))
    np.testing.assert_allclose(tangent.q, 2 * np.sign(x))


@dataclasses.dataclass
class _WithInitVar:
    w: np.ndarray
    scale: dataclasses.InitVar[float] = 1.0

    def __post_init__(self, scale):
        self.w2 = self.w * scale


def test_an_object_its_init_cannot_make_again_with_array_attributes_is_refused():
    made = _WithInitVar(np.array([0.2, -0.1]), scale=5.0)  # the traced copy cannot know scale=5
    with pytest.raises(mixedad.InputError, match=r"_WithInitVar\.w2 holds a float array.*InitVar"):
        mixedad.gradient(lambda m: np.sum(m.w2 ** 2), made)


class _NeedsScale(dict):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale


def test_a_container_subclass_its_constructor_cannot_make_again_is_refused_clearly():
    params = _NeedsScale(2.0)
    params["w"] = np.ones(2)
    with pytest.raises(mixedad.InputError, match=r"makes a _NeedsScale again .* plain dict"):
        mixedad.gradient(lambda p: np.sum(p["w"] ** 2), params)


def test_hessian_of_a_dataclass_with_derived_attributes():
    layer = _Layer(np.array([[0.5, -1.0], [2.0, 0.25]]))
    hessian = mixedad.hessian(lambda l: l(X), layer)
    column = numerical_gradient(lambda w: mixedad.gradient(lambda l: l(X), _Layer(w)).w[0, 1], layer.w)
    np.testing.assert_allclose(hessian.w.w[0, 1], column, rtol=1e-5, atol=1e-8)


@dataclasses.dataclass
class _Converting:
    w: np.ndarray

    def __post_init__(self):
        self.w = np.asarray(self.w, dtype=float)
        self.norm = float(np.linalg.norm(self.w))


@dataclasses.dataclass
class _Doubling:
    w: np.ndarray

    def __post_init__(self):
        self.w = self.w * 2.0  # not idempotent: made again from its own field it would double again


@dataclasses.dataclass
class _Rooted:
    w: np.ndarray

    def __post_init__(self):
        with np.errstate(invalid="ignore"):
            self.r = np.sqrt(self.w)  # NaN for a negative entry: still derived from the field


def test_constructors_that_convert_or_change_their_fields():
    with pytest.raises(mixedad.NonDifferentiableError, match=r"np\.asarray"):  # as without a dataclass
        mixedad.gradient(lambda p: p.norm * np.sum(p.w), _Converting(np.array([3.0, 4.0])))
    doubled = _Doubling(np.array([1.0, 2.0]))
    value, grads = mixedad.value_and_gradient(lambda p: np.sum(p.w ** 2), doubled)
    assert value == np.sum(doubled.w ** 2)
    np.testing.assert_allclose(grads.w, 2 * doubled.w)
    rooted, loss = _Rooted(np.array([-1.0, 1.0, 2.0])), lambda p: np.nansum(p.r) + np.sum(p.w)  # noqa: E731
    for mode in ("reverse", "forward"):
        np.testing.assert_allclose(mixedad.gradient(loss, rooted, mode=mode).w,
                                   numerical_gradient(lambda w: loss(_Rooted(w)), rooted.w), rtol=1e-6)


def test_an_array_attribute_set_after_construction_is_refused():
    layer = _Layer(np.array([[0.5, -1.0], [2.0, 0.25]]))
    layer.cache = layer.w * 2  # computed from the field, in memory of its own: cannot be told from data
    with pytest.raises(mixedad.InputError, match=r"_Layer\.cache holds a float array.*set later"):
        mixedad.gradient(lambda l: np.sum(l.cache), layer)


class _Settings(dict):
    pass


class _Stack(list):
    pass


class _Couple(tuple):
    pass


class _Named(collections.namedtuple("_Named", "a b")):
    pass


def _attributed(container, scale):
    container.scale = scale  # an attribute of the instance, besides the differentiated entries
    return container


ATTRIBUTED = {
    "dict subclass": (lambda s: _attributed(_Settings(a=s[0], b=s[1]), 3.0), lambda p: (p["a"], p["b"])),
    "list subclass": (lambda s: _attributed(_Stack(s), 3.0), lambda p: (p[0], p[1])),
    "tuple subclass": (lambda s: _attributed(_Couple(s), 3.0), lambda p: (p[0], p[1])),
    "namedtuple subclass": (lambda s: _attributed(_Named(*s), 3.0), lambda p: (p.a, p.b)),
}


@pytest.mark.parametrize("name", ATTRIBUTED)
def test_a_differentiated_container_subclass_keeps_its_instance_attributes(name):
    """The container made again to hold traced values has the original's attributes (once a
    bare AttributeError); the gradient holds the entries only."""
    make, entries = ATTRIBUTED[name]
    parts = (np.array([0.3, -0.7]), np.array([1.1, 0.4]))

    def loss(p):
        a, b = entries(p)
        return np.sum(np.sin(a) * b ** 2) * p.scale

    def loss_of_flat(flat):
        return loss(make((flat[:2], flat[2:])))

    expected = numerical_gradient(loss_of_flat, np.concatenate(parts))
    for mode in ("auto", "reverse"):
        gradient = mixedad.gradient(loss, make(parts), mode=mode)
        np.testing.assert_allclose(np.concatenate(entries(gradient)), expected, rtol=1e-6, err_msg=mode)
    prepared = mixedad.prepare(loss, make(parts))
    for call in range(2):  # the recording, then a replay
        np.testing.assert_allclose(np.concatenate(entries(prepared.gradient(make(parts)))), expected, rtol=1e-6)
    direction = (np.array([1.0, 0.5]), np.array([-0.25, 2.0]))
    _, tangent = mixedad.jvp(loss, (make(parts),), (make(direction),))
    np.testing.assert_allclose(tangent, expected @ np.concatenate(direction), rtol=1e-6)
    product = mixedad.hvp(loss, make(parts), make(direction))  # forward over reverse
    flat_direction = np.concatenate(direction)
    step = 1e-4
    along = (numerical_gradient(loss_of_flat, np.concatenate(parts) + step * flat_direction)
             - numerical_gradient(loss_of_flat, np.concatenate(parts) - step * flat_direction)) / (2 * step)
    np.testing.assert_allclose(np.concatenate(entries(product)), along, rtol=1e-4, atol=1e-6)
