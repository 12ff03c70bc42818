"""Dataclass arguments: a differentiated function sees the object it was given, with traced
fields. The rebuilt object goes through ``__init__`` (``__post_init__`` derives from the traced
fields), and keeps what was set on the original since it was made. References: central
finite differences on the original object."""
import dataclasses

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
