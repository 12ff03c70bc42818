"""State an argument carries outside its tree's leaves, changed between calls, must record the
function again: a dict, list or set subclass's attributes, a namedtuple's class data, what a
function argument closes over and its defaults, a module argument's attributes. Each case
compares the prepared result with a fresh ``mixedad.gradient`` on the same arguments, at
values where a replay of the recorded program would differ, then checks that the next call
with nothing changed replays (f not called) and still agrees."""
import collections
import dataclasses
import enum
import functools
import math
import types

import numpy as np
import pytest

import mixedad
from mixedad.random_draws import reachable_generators

X = np.array([0.5, -1.5, 2.0])


def _counted(f):
    def counted(*args):
        counted.calls += 1
        return f(*args)
    counted.calls = 0
    return counted


def _agrees(prepared, f, args, argnums=0):
    grad, want = prepared.gradient(*args), mixedad.gradient(f, *args, argnums=argnums)
    (value, grad_too), (want_value, want_too) = (prepared.value_and_gradient(*args),
                                                 mixedad.value_and_gradient(f, *args, argnums=argnums))
    assert value == pytest.approx(want_value, rel=1e-12)
    for got, expected in ((grad, want), (grad_too, want_too)):
        assert type(got) is type(expected)
        for got_leaf, expected_leaf in zip(*map(_entries, (got, expected)), strict=True):
            np.testing.assert_allclose(got_leaf, expected_leaf, rtol=1e-12)


def _entries(grad):
    """A gradient's arrays: a dict's values, a (named) tuple's entries, or the array itself."""
    return list(grad.values()) if isinstance(grad, dict) else list(grad) if isinstance(grad, tuple) else [grad]


def _records_again_then_replays(f, make_args, change, argnums=0):
    """``make_args()`` gives the arguments of a call; ``change()`` changes what f reads from them."""
    counted = _counted(f)  # (the fresh gradients call f itself)
    prepared = mixedad.prepare(counted, *make_args(), argnums=argnums)
    assert prepared.replays, prepared.why_traced
    before = float(prepared.value_and_gradient(*make_args())[0])
    change()
    calls = counted.calls
    _agrees(prepared, f, make_args(), argnums)
    assert float(prepared.value_and_gradient(*make_args())[0]) != before  # (the case can tell a stale replay)
    assert counted.calls > calls  # recorded again
    calls = counted.calls
    _agrees(prepared, f, make_args(), argnums)
    assert prepared.replays and counted.calls == calls  # nothing changed since: replayed


class _Options(dict):
    pass


class _Layers(list):
    pass


class _Tags(set):
    pass


class _Number(float):
    pass


def _with_scale(container, scale=2.0):
    container.scale = scale
    return container


CONTAINERS = {
    "dict subclass": (lambda x, o: np.sum(x ** 2) * o.scale * o["s"], _with_scale(_Options(s=1.5))),
    "list subclass": (lambda x, o: np.sum(x ** 2) * o.scale * o[0], _with_scale(_Layers([1.5]))),
    "set subclass": (lambda x, o: np.sum(x ** 2) * o.scale * len(o), _with_scale(_Tags({1, 2}))),
    "float subclass": (lambda x, o: np.sum(x ** 2) * o.scale * float(o), _with_scale(_Number(1.5))),
}


@pytest.mark.parametrize("name", CONTAINERS)
def test_a_subclass_of_a_builtin_container_or_value_whose_attribute_changes_in_place_records_again(name):
    f, options = CONTAINERS[name]
    _records_again_then_replays(f, lambda: (X, options), lambda: setattr(options, "scale", 3.0))


class _Params(dict):
    power = 2.0  # read through the instance: p.power


_Pair = collections.namedtuple("_Pair", "w b")


class _Point(collections.namedtuple("_Point", "a")):
    scale = 2.0


@dataclasses.dataclass
class _Fields:
    a: float


def _reads_scale(x, p):
    return np.sum(x ** 2) * p.scale * p.a


CLASS_DATA = {
    "dict subclass, differentiated": (_Params, "power", lambda p: np.sum(p["w"] ** p.power), lambda: (_Params(w=X),)),
    "namedtuple, differentiated": (_Pair, "scale", lambda p: np.sum(p.w ** 2 * p.b) * p.scale, lambda: (_Pair(X, X),)),
    "namedtuple subclass, differentiated": (_Point, "scale", lambda p: np.sum(p.a ** 2) * p.scale,
                                            lambda: (_Point(X),)),
    "namedtuple subclass": (_Point, "scale", _reads_scale, lambda: (X, _Point(1.5))),
    "dataclass": (_Fields, "scale", _reads_scale, lambda: (X, _Fields(1.5))),
}


@pytest.mark.parametrize("name", CLASS_DATA)
def test_a_containers_class_data_changed_between_calls_records_again(name):
    cls, attribute, f, args = CLASS_DATA[name]
    had = attribute in vars(cls)
    setattr(cls, attribute, 2.0)
    try:
        _records_again_then_replays(f, args, lambda: setattr(cls, attribute, 3.0))
    finally:
        if had:
            setattr(cls, attribute, 2.0)
        else:
            delattr(cls, attribute)


def _scaling(scale):
    def scaled(x):
        return x * scale
    return scaled


def _with_default(x, scale=2.0):
    return x * scale


def _with_keyword_default(x, *, scale=2.0):
    return x * scale


def _set_cell(function, value):
    function.__closure__[0].cell_contents = value


class _Config:
    scale = 2.0  # (and an instance's own, set in place below)


_CONFIG = _Config()


def _with_object_default(x, config=_CONFIG):
    return x * config.scale


def _scaled_by(config, x):
    return x * config.scale


FUNCTIONS = {
    "closure": (_scaling(2.0), lambda g: _set_cell(g, 3.0)),
    "defaults": (_with_default, lambda g: setattr(g, "__defaults__", (3.0,))),
    "keyword defaults": (_with_keyword_default, lambda g: setattr(g, "__kwdefaults__", {"scale": 3.0})),
    "partial of a closure": (functools.partial(_scaling(2.0)), lambda g: _set_cell(g.func, 3.0)),
    "an object default": (_with_object_default, lambda g: setattr(_CONFIG, "scale", 3.0)),
    "a partial's object": (functools.partial(_scaled_by, _CONFIG), lambda g: setattr(_CONFIG, "scale", 3.0)),
    "a partial's keyword object": (functools.partial(_with_object_default, config=_Config()),
                                   lambda g: setattr(g.keywords["config"], "scale", 3.0)),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_function_argument_whose_closure_or_defaults_change_records_again(name):
    function, change = FUNCTIONS[name]
    defaults, keyword_defaults = getattr(function, "__defaults__", None), getattr(function, "__kwdefaults__", None)
    _CONFIG.scale = 2.0  # its own attribute, so that a change below changes a value, not which attributes it has
    try:
        _records_again_then_replays(lambda x, g: np.sum(g(x) ** 2), lambda: (X, function), lambda: change(function))
    finally:
        if name == "defaults":
            function.__defaults__ = defaults
        elif name == "keyword defaults":
            function.__kwdefaults__ = keyword_defaults
        vars(_CONFIG).pop("scale", None)


def test_a_module_argument_whose_attribute_changes_records_again():
    options = types.ModuleType("options")
    options.scale = 2.0
    options.weights = np.array([1.0, 2.0, 3.0])
    f = lambda x, m: np.sum(x ** 2 * m.weights) * m.scale  # noqa: E731
    _records_again_then_replays(f, lambda: (X, options), lambda: setattr(options, "scale", 3.0))
    _records_again_then_replays(f, lambda: (X, options), lambda: options.weights.__setitem__(0, 5.0))


class _Scaled(dict):
    def apply(self, x):
        return x * self.scale


class _Model:
    scale = 2.0

    @classmethod
    def apply(cls, x):
        return x * cls.scale


class _Empty:
    pass


def test_a_bound_method_of_a_dict_subclass_and_a_classmethod_see_their_owners_changes():
    owner = _with_scale(_Scaled())
    f = lambda x, g: np.sum(g(x) ** 2)  # noqa: E731
    _records_again_then_replays(f, lambda: (X, owner.apply), lambda: setattr(owner, "scale", 3.0))
    owners = [owner, _with_scale(_Scaled(), 5.0)]  # another owner, equal as a dict
    _records_again_then_replays(f, lambda: (X, owners[0].apply), lambda: owners.pop(0))
    try:
        _records_again_then_replays(f, lambda: (X, _Model.apply), lambda: setattr(_Model, "scale", 3.0))
    finally:
        _Model.scale = 2.0


def test_a_class_argument_that_gains_class_data_records_again():
    f = lambda x, cls: np.sum(x ** 2) * getattr(cls, "scale", 1.0)  # noqa: E731
    try:
        _records_again_then_replays(f, lambda: (X, _Empty), lambda: setattr(_Empty, "scale", 3.0))
    finally:
        del _Empty.scale


_GENERATOR = np.random.default_rng(1)


def _global_noise(n):
    return _GENERATOR.standard_normal(n)


class _Noisy:
    def noise(self, n):
        return _GENERATOR.standard_normal(n)

    def loss(self, x):
        return np.sum(x * self.noise(x.size))  # draws through another method: a name no code reads as a global


def _drawing_arguments():
    closure_generator = np.random.default_rng(2)
    module = types.ModuleType("noise")
    module.rng = np.random.default_rng(3)
    return {
        "a function drawing from a closure's generator": lambda n: closure_generator.standard_normal(n),
        "a module holding a generator": module,
        "a function drawing from a global generator": _global_noise,
        "an object whose method draws from a global generator": _Noisy(),
    }


@pytest.mark.parametrize("name", [
    "a function drawing from a closure's generator", "a module holding a generator",
    "a function drawing from a global generator", "an object whose method draws from a global generator"])
def test_an_argument_that_draws_random_numbers_draws_anew_on_each_call(name):
    argument = _drawing_arguments()[name]
    draws = {types.ModuleType: lambda a, n: a.rng.standard_normal(n), _Noisy: lambda a, n: a.noise(n)}
    draw = draws.get(type(argument), lambda a, n: a(n))
    f = lambda x, a: np.sum(x * draw(a, x.size))  # noqa: E731
    prepared = mixedad.prepare(f, X, argument)
    values = [float(prepared.value_and_gradient(X, argument)[0]) for _ in range(3)]
    grads = [prepared.gradient(X, argument) for _ in range(2)]
    assert len(set(values)) == 3 and not np.array_equal(*grads)  # not one draw replayed


def test_the_generators_of_a_functions_or_an_objects_code_are_found():
    found = reachable_generators(_Noisy().loss)
    assert any(generator is _GENERATOR for generator in found.values())
    found = reachable_generators(lambda x, a, b: x, (X, _global_noise, _Noisy()))
    assert [name for name, generator in found.items() if generator is _GENERATOR] == ["_GENERATOR"]
    assert not any(generator is _GENERATOR for generator in reachable_generators(lambda x: x).values())


def test_a_method_drawing_through_another_method_draws_anew_on_each_call():
    prepared = mixedad.prepare(_Noisy().loss, X)
    assert not prepared.replays and "_GENERATOR" in prepared.why_traced
    values = [float(prepared.value_and_gradient(X)[0]) for _ in range(3)]
    assert len(set(values)) == 3


class _Activation(str, enum.Enum):
    TANH = "tanh"
    SINE = "sin"


def _recursive(x, n=2):
    return x if n == 0 else _recursive(x * 2.0, n - 1)


def _local_recursive():
    def halve(x, n=2):
        return x if n == 0 else halve(x / 2.0, n - 1)
    return halve


LIBRARY_AND_PLAIN_ARGUMENTS = {
    "numpy as an argument": (lambda x, xp: xp.sum(xp.tanh(x)), np),
    "a ufunc": (lambda x, g: np.sum(g(x)), np.tanh),
    "the math module": (lambda x, m: np.sum(x) * m.pi, math),
    "a str enum": (lambda x, a: np.sum(getattr(np, a.value)(x)), _Activation.SINE),
    "a function": (lambda x, g: np.sum(g(x)), _recursive),
    "a recursive local function": (lambda x, g: np.sum(g(x)), _local_recursive()),
    "a plain namedtuple": (lambda x, p: np.sum(x * p.w), _Pair(2.0, None)),
}


@pytest.mark.parametrize("name", LIBRARY_AND_PLAIN_ARGUMENTS)
def test_arguments_that_do_not_change_replay(name):
    f, argument = LIBRARY_AND_PLAIN_ARGUMENTS[name]
    counted = _counted(f)
    prepared = mixedad.prepare(counted, X, argument)
    for shift in (1.0, 2.0):
        _agrees(prepared, f, (X + shift, argument))
    assert prepared.replays and counted.calls == 1, prepared.why_traced
