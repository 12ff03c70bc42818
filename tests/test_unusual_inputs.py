"""Inputs as users pass them: ndarray subclasses, NumPy and Python scalars, defaultdicts,
non-float fields, out= buffers, zero-size and mixed-precision mapped functions, longdouble
constants, and NaN through maximum/minimum/fmax/fmin."""
import dataclasses
import os
from collections import defaultdict

import numpy as np
import pytest

import mixedad
from mixedad.core.pytree import flatten, structure
from numerical import numerical_gradient

MODES = ("auto", "reverse", "forward")


def squares(x):
    return np.sum(x * x)


# --- 1. ndarray subclasses --------------------------------------------------------------------
class Doubling(np.ndarray):
    """Every ufunc result doubled: f(w) is not what NumPy computes on a plain array."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = [i.view(np.ndarray) if isinstance(i, Doubling) else i for i in inputs]
        return getattr(ufunc, method)(*inputs, **kwargs) * 2


class ScaledProduct(np.ndarray):
    def __mul__(self, other):
        return np.multiply(self.view(np.ndarray), np.asarray(other)) * 10


class Tagged(np.ndarray):
    """A subclass that only carries metadata: computing with it is computing with the array."""

    def __array_finalize__(self, obj):
        self.tag = getattr(obj, "tag", "none")


@pytest.mark.parametrize("subclass", [Doubling, ScaledProduct])
def test_a_subclass_that_changes_arithmetic_is_refused_by_name(subclass):
    w = np.array([1.0, 2.0]).view(subclass)
    for differentiate in (lambda: mixedad.value_and_gradient(squares, w),
                          lambda: mixedad.jacobian(lambda x: x * x, w),
                          lambda: mixedad.gradient(lambda d: squares(d["w"]), {"w": w})):
        with pytest.raises(mixedad.InputError) as error:
            differentiate()
        message = str(error.value)
        assert "argument 0" in message and subclass.__name__ in message and "np.asarray" in message


def test_a_subclass_in_a_prepared_call_is_refused():
    prepared = mixedad.prepare(squares, np.array([1.0, 2.0]))
    with pytest.raises(mixedad.InputError, match="Doubling"):
        prepared.gradient(np.array([1.0, 2.0]).view(Doubling))


def test_memmaps_and_metadata_subclasses_still_differentiate(tmp_path):
    mapped = np.memmap(os.path.join(tmp_path, "x.dat"), dtype=np.float64, mode="w+", shape=(3,))
    mapped[:] = [1.0, -2.0, 0.5]
    tagged = np.array([0.3, 0.7]).view(Tagged)
    for x in (mapped, tagged):
        for mode in MODES:
            np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(np.sin(x) * x), x, mode=mode),
                                       numerical_gradient(lambda v: np.sum(np.sin(v) * v), x), rtol=1e-7)


# --- 2 and 3. mixedad.map / sum of a branching function ------------------------------------------
def huber(t):
    return 0.5 * t * t if abs(t) < 1.0 else abs(t) - 0.5


def test_a_branching_function_maps_over_zero_size_input_like_np_vectorize():
    expected = np.vectorize(huber, otypes=[float])(np.zeros(0))
    result = mixedad.map(huber, np.zeros(0))
    assert result.shape == expected.shape == (0,) and result.dtype == expected.dtype
    assert mixedad.sum(huber, np.zeros((0, 3))) == 0.0
    for x in (np.zeros(0), np.zeros((2, 0))):
        value, grad = mixedad.value_and_gradient(lambda x: mixedad.sum(huber, x), x)
        assert value == 0.0 and grad.shape == x.shape and grad.dtype == x.dtype


def branching_product(s, t):
    return s * t if s > 0 else s - t


def test_per_element_map_promotes_all_arguments_as_numpy_does():
    x32 = np.array([0.1, 0.2, -0.3], np.float32)
    y64 = np.array([1.0 + 1e-9, 2.0, 3.0])
    expected = np.vectorize(branching_product)(x32, y64)
    value, grad = mixedad.value_and_gradient(lambda x: np.sum(mixedad.map(branching_product, x, y64)), x32)
    assert np.result_type(value) == np.float64 and value == np.sum(expected)
    assert grad.dtype == np.float32
    reference = numerical_gradient(lambda v: np.sum(np.vectorize(branching_product)(v, y64)), x32)
    np.testing.assert_allclose(grad, reference, rtol=1e-6)
    mapped = mixedad.gradient(lambda y: np.sum(mixedad.map(branching_product, x32, y)), y64)
    np.testing.assert_allclose(mapped, [1e-1, 2e-1, -1.0], rtol=1e-6)
    # a Python number is weak: float32 stays float32
    value = mixedad.value_and_gradient(lambda x: np.sum(mixedad.map(branching_product, x, 2.0)), x32)[0]
    assert np.result_type(value) == np.float32


# --- 4. scalar inputs ------------------------------------------------------------------------------
def cubic(x):
    return x * x * x


SCALAR_TRANSFORMS = {
    "gradient": lambda x: mixedad.gradient(cubic, x),
    "value_and_gradient": lambda x: mixedad.value_and_gradient(cubic, x)[1],
    "hvp": lambda x: mixedad.hvp(cubic, x, type(x)(1.0)),
    "hessian": lambda x: mixedad.hessian(cubic, x),
    "jacobian": lambda x: mixedad.jacobian(cubic, x),
    "jacobian reverse": lambda x: mixedad.jacobian(cubic, x, mode="reverse"),
    "gradient in a dict": lambda x: mixedad.gradient(lambda d: cubic(d["a"]), {"a": x})["a"],
    "hessian in a dict": lambda x: mixedad.hessian(lambda d: cubic(d["a"]), {"a": x})["a"]["a"],
    "jacobian in a list": lambda x: mixedad.jacobian(lambda p: cubic(p[0]), [x])[0],
}
SCALAR_DERIVATIVES = {"hvp": 6 * 1.5, "hessian": 6 * 1.5, "hessian in a dict": 6 * 1.5}


@pytest.mark.parametrize("name", list(SCALAR_TRANSFORMS))
@pytest.mark.parametrize("scalar_type", [float, np.float64, np.float32])
def test_a_scalar_input_gives_a_scalar_of_its_own_type(name, scalar_type):
    result = SCALAR_TRANSFORMS[name](scalar_type(1.5))
    assert type(result) is scalar_type, (name, type(result))
    assert result == pytest.approx(SCALAR_DERIVATIVES.get(name, 3 * 1.5 ** 2), rel=1e-6)


# --- 5. defaultdict ---------------------------------------------------------------------------------
def test_a_defaultdict_keeps_its_default_factory():
    params = defaultdict(list, {"a": np.array([1.0, 2.0]), "b": 3.0})
    grad = mixedad.gradient(lambda p: np.sum(p["a"] ** 2) * p["b"], params)
    assert type(grad) is defaultdict and grad.default_factory is list
    np.testing.assert_allclose(grad["a"], [6.0, 12.0])
    assert grad["b"] == 5.0
    first = structure(flatten(params)[1])
    again = structure(flatten(defaultdict(list, {"a": np.zeros(2), "b": 0.0}))[1])
    assert first == again and hash(first) == hash(again)
    assert first != structure(flatten(defaultdict(dict, {"a": np.zeros(2), "b": 0.0}))[1])
    prepared = mixedad.prepare(lambda p: np.sum(p["a"] ** 2) * p["b"], params)
    grad = prepared.gradient(defaultdict(list, {"a": np.array([1.0, 1.0]), "b": 2.0}))
    assert grad.default_factory is list
    np.testing.assert_allclose(grad["a"], [4.0, 4.0])


# --- 6. out= buffers ----------------------------------------------------------------------------------
def two_arrays(d):
    return np.sum(d["a"] * 3.0 + d["b"] * 5.0)


@pytest.mark.parametrize("bad", ["read-only", "broadcast view"])
def test_prepared_out_checks_every_buffer_before_writing_any(bad):
    prepared = mixedad.prepare(two_arrays, {"a": np.ones(2), "b": np.ones(2)})
    first = np.zeros(2)
    if bad == "read-only":
        second = np.zeros(2)
        second.setflags(write=False)
    else:
        second = np.broadcast_to(np.zeros(1), (2,))
    with pytest.raises(mixedad.InputError, match=r"out= leaf \['b'\] is read-only"):
        prepared.gradient({"a": np.ones(2), "b": np.ones(2)}, out={"a": first, "b": second})
    np.testing.assert_array_equal(first, [0.0, 0.0])  # nothing written
    with pytest.raises(mixedad.InputError, match=r"out= leaf \['b'\] must be an ndarray of shape \(2,\)"):
        prepared.value_and_gradient({"a": np.ones(2), "b": np.ones(2)}, out={"a": first, "b": np.zeros(3)})
    np.testing.assert_array_equal(first, [0.0, 0.0])


# --- 7. non-float leaves --------------------------------------------------------------------------------
@dataclasses.dataclass
class Layer:
    w: np.ndarray
    activation: str = "tanh"


def test_a_non_float_leaf_is_named_by_its_path():
    cases = [
        (Layer(np.ones(2)), lambda layer: np.sum(np.tanh(layer.w)), "argument 0, field activation"),
        ({"fc1": {"weight": np.ones(2), "act": "relu"}}, lambda p: np.sum(p["fc1"]["weight"]),
         "argument 0['fc1']['act']"),
        ([np.ones(2), "relu"], lambda p: np.sum(p[0]), "argument 0[1]"),
    ]
    for argument, f, where in cases:
        for differentiate in (mixedad.gradient, mixedad.hessian, mixedad.prepare):
            with pytest.raises(mixedad.InputError) as error:
                differentiate(f, argument)
            message = str(error.value)
            assert message.startswith(where + " is "), message
            assert "close over" in message and "separate argument" in message


# --- 8. longdouble constants ---------------------------------------------------------------------------
LONGDOUBLE_DERIVATIVES = {
    "exp2": (np.exp2, lambda mp, t: mp.power(2, t) * mp.log(2)),
    "log2": (np.log2, lambda mp, t: 1 / (t * mp.log(2))),
    "log10": (np.log10, lambda mp, t: 1 / (t * mp.log(10))),
    "deg2rad": (np.deg2rad, lambda mp, t: mp.pi / 180),
    "rad2deg": (np.rad2deg, lambda mp, t: 180 / mp.pi),
}


@pytest.mark.parametrize("name", list(LONGDOUBLE_DERIVATIVES))
def test_longdouble_derivatives_with_constants_are_exact_in_longdouble(name):
    mpmath = pytest.importorskip("mpmath")
    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps:
        pytest.skip("longdouble is float64 on this platform")
    ufunc, derivative = LONGDOUBLE_DERIVATIVES[name]
    x = np.array([0.375, 0.75, 1.25, 2.875, 7.5], np.longdouble)  # exact in float64 too
    with mpmath.workdps(40):
        reference = np.array([np.longdouble(mpmath.nstr(derivative(mpmath, mpmath.mpf(float(t))), 35)) for t in x])
    for mode in MODES:
        grad = mixedad.gradient(lambda x: np.sum(ufunc(x)), x, mode=mode)
        assert grad.dtype == np.longdouble
        assert np.max(np.abs(grad - reference) / np.abs(reference)) <= 4 * np.finfo(np.longdouble).eps, mode
    x32 = x.astype(np.float32)  # float32 stays float32, first and second order
    assert mixedad.gradient(lambda x: np.sum(ufunc(x) * x), x32).dtype == np.float32
    assert mixedad.hessian(lambda x: np.sum(ufunc(x) * x), x32).dtype == np.float32
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(ufunc(x) * x), x.astype(np.float64)),
                               numerical_gradient(lambda v: np.sum(ufunc(v) * v), x), rtol=1e-7)


# --- 9. NaN through maximum, minimum, fmax, fmin -------------------------------------------------------
NAN = np.nan
# pairs (x[i], x[4 + i]): NaN first, NaN second, both NaN, a tie
PAIRS = np.array([NAN, 1.0, NAN, 2.0, 2.0, NAN, NAN, 2.0])
SELECTIONS = {  # the gradient of sum(selection(x[:4], x[4:])) at PAIRS
    # NaN propagates and counts as a tie (cheaper than finding which operand is NaN; the NaN
    # reaches the gradient either way)
    np.maximum: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    np.minimum: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    np.fmax: [0.0, 1.0, 0.5, 0.5, 1.0, 0.0, 0.5, 0.5],  # NaN ignored: the other one was selected
    np.fmin: [0.0, 1.0, 0.5, 0.5, 1.0, 0.0, 0.5, 0.5],
}


@pytest.mark.parametrize("selection", list(SELECTIONS), ids=lambda s: s.__name__)
def test_a_nan_operand_of_a_selection_in_every_mode(selection):
    for mode in MODES:
        grad = mixedad.gradient(lambda x: np.sum(selection(x[:4], x[4:])), PAIRS, mode=mode)
        np.testing.assert_array_equal(grad, SELECTIONS[selection], err_msg=mode)
    away_from_ties = np.array([0.3, -1.2, 2.5, 0.7, 0.1, -0.4, 2.0, 1.5])
    np.testing.assert_allclose(mixedad.gradient(lambda x: np.sum(selection(x[:4], x[4:]) ** 2), away_from_ties),
                               numerical_gradient(lambda v: np.sum(selection(v[:4], v[4:]) ** 2), away_from_ties),
                               rtol=1e-7)



# --- ndarray subclasses as constants ---------------------------------------------------------------
SUBCLASS_MODES = {
    "auto": lambda f, x: mixedad.gradient(f, x),
    "reverse": lambda f, x: mixedad.gradient(f, x, mode="reverse"),
    "forward": lambda f, x: mixedad.gradient(f, x, mode="forward"),
    "jvp": lambda f, x: mixedad.jvp(f, (x,), (np.ones_like(x),))[1],
    "prepared": lambda f, x: mixedad.prepare(f, x).gradient(x),
}
MASKED_OR_MATRIX = {
    # reverse mode used to give [1, 1, 3] for the first (the masked entry's partial kept): silently wrong
    "masked product": lambda x: np.sum(x * np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0])),
    "masked maximum": lambda x: np.sum(np.maximum(x, np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0]))),
    "matrix product": lambda x: np.sum(x @ np.matrix([[1.0, 2.0], [3.0, 4.0], [0.5, -1.0]])),
}


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("how", SUBCLASS_MODES)
@pytest.mark.parametrize("case", MASKED_OR_MATRIX)
def test_masked_arrays_and_matrices_are_refused_naming_the_line(case, how):
    with pytest.raises(mixedad.UnsupportedOperationError, match=r"(masked array \(np.ma\)|np.matrix) at .*test_unusual_inputs"):
        SUBCLASS_MODES[how](MASKED_OR_MATRIX[case], np.array([0.5, -0.7, 1.4]))


class _Tagged(np.ndarray):
    """A subclass that changes nothing NumPy computes (like np.memmap)."""


@pytest.mark.parametrize("how", SUBCLASS_MODES)
@pytest.mark.parametrize("make", ["memmap", "user subclass"])
def test_plain_ndarray_subclasses_are_constants_like_ndarrays(make, how, tmp_path):
    values = np.array([1.0, 2.0, 3.0])
    if make == "memmap":
        np.save(tmp_path / "data.npy", values)
        data = np.load(tmp_path / "data.npy", mmap_mode="r")
    else:
        data = values.view(_Tagged)
    f = lambda x: np.sum(data * x ** 2) + np.sum(data @ np.exp(x)) + np.sum(np.maximum(x, data))  # noqa: E731
    x = np.array([0.5, -0.7, 1.4])
    expected = numerical_gradient(f, x)
    result = SUBCLASS_MODES[how](f, x)
    np.testing.assert_allclose(result, expected.sum() if how == "jvp" else expected, rtol=1e-6)
