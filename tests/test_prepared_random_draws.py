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


class _ModelWithClassGenerator:
    rng = np.random.default_rng(5)  # a class attribute, read as _ModelWithClassGenerator.rng


def _helper_module():
    import types
    module = types.ModuleType("noise_helpers")
    module.rng = np.random.default_rng(6)
    module.noise = lambda n: module.rng.standard_normal(n)
    return module


NOISE_HELPERS = _helper_module()


def _scipy_loss(x):
    import scipy.stats
    return np.sum(x * scipy.stats.norm.rvs(size=x.shape))  # draws from NumPy's global generator


DRAWING_UNSEEN = {
    "a generator made inside f": lambda x: np.sum(x * np.random.default_rng().standard_normal(x.shape)),
    "a RandomState made inside f": lambda x: np.sum(x * np.random.RandomState().randn(x.size)),
    "a dropout mask from a generator made inside f":
        lambda x: np.sum(np.where(np.random.default_rng().random(x.shape) < 0.5, 0.0, 2 * x) ** 2),
    "a class attribute": lambda x: np.sum(x * _ModelWithClassGenerator.rng.standard_normal(x.shape)),
    "a module's attribute": lambda x: np.sum(x * NOISE_HELPERS.rng.standard_normal(x.shape)),
    "a module's function": lambda x: np.sum(x * NOISE_HELPERS.noise(x.size)),
    "a library drawing from NumPy's global generator": _scipy_loss,
    "the operating system's entropy": lambda x: np.sum(x) * random.SystemRandom().random(),
}


@pytest.mark.parametrize("name", DRAWING_UNSEEN)
def test_draws_from_generators_made_inside_f_or_reached_through_classes_modules_and_libraries(name):
    if name == "a library drawing from NumPy's global generator":
        pytest.importorskip("scipy")
    f, x = DRAWING_UNSEEN[name], np.linspace(0.1, 1.0, 50)  # (50 values: no two dropout masks alike)
    prepared = mixedad.prepare(f, x)
    assert not prepared.replays and "random" in prepared.why_traced
    values = [float(prepared.value_and_gradient(x)[0]) for _ in range(3)]
    assert len(set(values)) == 3  # a new draw on every call, as NumPy's f and mixedad.gradient make


def test_a_generator_made_with_a_seed_inside_f_repeats_its_numbers_and_replays():
    def loss(x):
        projection = np.random.default_rng(7).standard_normal((x.size, 2))  # the same on every call
        return np.sum((x @ projection) ** 2)

    prepared = mixedad.prepare(loss, X)
    assert prepared.replays, prepared.why_traced
    for shift in (0.0, 1.0, -2.0):
        np.testing.assert_allclose(prepared.gradient(X + shift), mixedad.gradient(loss, X + shift))
