"""A prepared gradient of a function that draws random numbers from a generator it reaches by
name (a closure's RandomState, a global Generator, NumPy's global one, a model's attribute)
draws anew on each call, as ``mixedad.gradient`` does. Replaying would return the recording's
draws as constants: every call the same gradient (found porting autograd's black-box SVI)."""
from __future__ import annotations

import random

import numpy as np
import pytest

import mixedad
from mixedad.random_draws import reachable_generators

GLOBAL_GENERATOR = np.random.default_rng(0)
X = np.array([0.5, -0.3, 0.1])


def _closure_random_state(seed):
    state = np.random.RandomState(seed)

    def loss(x):
        noise = state.randn(4, x.size)
        return np.sum((noise * np.exp(x) + x) ** 2)
    return loss


def _global_generator_loss(x):
    return np.sum(np.sin(x * GLOBAL_GENERATOR.standard_normal(x.shape)))


def _numpy_global_loss(x):
    return np.sum(x * np.random.uniform(size=x.shape) ** 2)


_uniform = np.random.uniform  # as after from numpy.random import uniform


def _imported_draw_loss(x):
    return np.sum(x * _uniform(size=x.shape))


def _python_random_loss(x):
    return np.sum(x ** 2) * random.random()


def _noise(x):  # a helper the loss calls: its generator is one name further
    return x + GLOBAL_GENERATOR.normal(size=x.shape)


def _helper_loss(x):
    return np.sum(_noise(x) ** 2)


class _Model:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def loss(self, x):
        return np.sum((x - self.rng.normal(size=x.shape)) ** 2)


def _closure_generator(seed):
    rng = np.random.default_rng(seed)
    return lambda x: np.sum((x * rng.normal(size=x.shape)) ** 2)


MAKERS = {
    "closure RandomState": lambda seed: _closure_random_state(seed),
    "closure Generator": _closure_generator,
    "global Generator": lambda seed: _global_generator_loss,
    "numpy.random's global state": lambda seed: _numpy_global_loss,
    "Python's random module": lambda seed: _python_random_loss,
    "an imported numpy.random function": lambda seed: _imported_draw_loss,
    "a helper's global Generator": lambda seed: _helper_loss,
    "a bound method's attribute": lambda seed: _Model(seed).loss,
}


def _reseed(seed):
    global GLOBAL_GENERATOR
    GLOBAL_GENERATOR = np.random.default_rng(seed)
    np.random.seed(seed)
    random.seed(seed)


@pytest.mark.parametrize("name", MAKERS)
def test_each_prepared_call_draws_anew_as_gradient_does(name):
    _reseed(1)
    f = MAKERS[name](1)
    prepared = mixedad.prepare(f, X)  # draws once
    assert not prepared.replays and "random" in prepared.why_traced
    prepared_gradients = [prepared.gradient(X) for _ in range(3)]
    _reseed(1)
    reference = MAKERS[name](1)
    mixedad.gradient(reference, X)  # the same first draw
    fresh_gradients = [mixedad.gradient(reference, X) for _ in range(3)]
    for got, want in zip(prepared_gradients, fresh_gradients):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert not np.allclose(prepared_gradients[0], prepared_gradients[1])  # not one draw replayed


def test_a_function_that_reaches_a_generator_without_drawing_still_replays():
    rng = np.random.default_rng(0)

    def loss(x, noisy=False):
        return np.sum(x ** 2) + (rng.normal() if noisy else 0.0)

    prepared = mixedad.prepare(loss, X)
    assert prepared.replays, prepared.why_traced
    np.testing.assert_allclose(prepared.gradient(X + 1.0), 2 * (X + 1.0))


def test_generators_are_found_through_closures_globals_partials_and_attributes():
    import functools
    rng = np.random.default_rng(0)
    model = _Model(0)
    found = reachable_generators(functools.partial(lambda x, m: m.loss(x) + rng.normal(), m=model))
    assert any(generator is rng for generator in found.values())
    assert any(generator is model.rng for generator in found.values())
    assert any(generator is GLOBAL_GENERATOR for generator in reachable_generators(_helper_loss).values())
