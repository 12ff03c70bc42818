"""Complex differentiated inputs (``mixedad.complex_inputs``): the gradient of a real output u is
du/dx - i du/dy (HIPS autograd's and JAX's convention), checked against float64 central
differences of the real and imaginary parts, and, for holomorphic steps, against sympy's
complex derivative."""
from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import given, settings, strategies as st

import mixedad
from numerical import numerical_gradient

MATRIX = np.array([[1.0 + 0.5j, -0.3j, 0.2], [0.4, 2.0 - 1j, 0.1j], [-0.2 + 0.1j, 0.3, 1.5]])

CASES = {
    "squared modulus": lambda z: np.sum(np.abs(z) ** 2),
    "real part of a square": lambda z: np.sum(np.real(z ** 2)),
    "power spectrum": lambda z: np.sum(np.abs(np.fft.fft(z)) ** 2 * np.arange(1, z.size + 1)),
    "phase": lambda z: np.sum(np.angle(z + 3.0) * np.linspace(1.0, 2.0, z.size)),
    "log of modulus and conjugate": lambda z: np.sum(np.log(np.abs(z) + 1.0)) + np.sum((z * np.conj(z[::-1])).imag),
    "exp and division": lambda z: np.sum((np.exp(0.3j * z) / (z + 4.0 - 1j)).real),
    "a complex matrix": lambda z: np.sum(np.abs(MATRIX @ z.reshape(3, -1)) ** 2),
    "solve": lambda z: np.sum(np.abs(np.linalg.solve(MATRIX + 3 * np.eye(3), z.reshape(3, -1))) ** 2),
    "indexing and reductions": lambda z: np.abs(np.sum(z[1:] * z[:-1])) + np.max(z.real) + np.mean(z.imag ** 3),
    "sum's initial and diff's prepend": lambda z: np.abs(np.sum(z, initial=2 - 1j)) ** 2
    + np.sum(np.abs(np.diff(z, prepend=0.5j)) ** 2),
    "with a real input": lambda z: np.sum(np.abs(z * np.linspace(-1.0, 1.0, z.size)) ** 2),
}


def _reference(f, z):
    """du/dx - i du/dy by central differences of each part."""
    z = np.asarray(z, np.complex128)
    d_real = numerical_gradient(lambda x: f(x + 1j * z.imag), z.real)
    d_imag = numerical_gradient(lambda y: f(z.real + 1j * y), z.imag)
    return d_real - 1j * d_imag


def _complex_arrays():
    """Arrays of 3, 6 or 9 elements drawn from a seed: generic points (no ties for max, no zero
    for abs), where central differences are a reference."""
    def draw(seed_and_rows):
        rng = np.random.default_rng(seed_and_rows[0])
        return rng.normal(size=3 * seed_and_rows[1]) + 1j * rng.normal(size=3 * seed_and_rows[1])
    return st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 3)).map(draw)


@pytest.mark.parametrize("mode", ["auto", "reverse"])
@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=8, deadline=None)
@given(z=_complex_arrays())
def test_gradient_of_a_complex_input_matches_differences_of_its_parts(name, mode, z):
    f = CASES[name]
    if name == "phase" or name == "log of modulus and conjugate":
        z = z + 0.25  # away from the branch cut and the kink of abs at 0
    got = mixedad.gradient(f, z, mode=mode)
    assert got.dtype == np.complex128 and got.shape == z.shape
    np.testing.assert_allclose(got, _reference(f, z), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("expression", ["z**3", "sin(z)", "exp(2*z)", "1/(z + 3)", "log(z + 4)", "sqrt(z + 5)"])
def test_holomorphic_steps_give_the_complex_derivative(expression):
    """For holomorphic f, the gradient of Re f is f'(z) (Cauchy-Riemann): sympy's derivative."""
    symbol = sympy.Symbol("z")
    formula = sympy.sympify(expression, locals={"z": symbol})
    numeric = sympy.lambdify(symbol, formula, modules="numpy")
    derivative = sympy.lambdify(symbol, sympy.diff(formula, symbol), modules="numpy")
    z = np.array([0.3 + 0.7j, -1.1 + 0.2j, 0.5 - 0.9j])
    got = mixedad.gradient(lambda w: np.sum(np.real(numeric(w))), z)
    np.testing.assert_allclose(got, derivative(z), rtol=1e-12)


def test_dtypes_and_kinds_of_value_follow_the_input():
    f = CASES["squared modulus"]
    z = np.array([1 + 2j, -0.5j], np.complex64)
    assert mixedad.gradient(f, z).dtype == np.complex64
    scalar = mixedad.gradient(lambda w: np.abs(w) ** 2 + np.real(w), 1.0 + 2.0j)
    assert type(scalar) is complex and scalar == pytest.approx(3 - 4j)
    numpy_scalar = mixedad.gradient(lambda w: np.abs(w) ** 2, np.complex64(1 - 1j))
    assert type(numpy_scalar) is np.complex64 and numpy_scalar == pytest.approx(2 + 2j)


def test_trees_argnums_value_and_aux():
    z = np.array([1 + 2j, 3 - 1j, 0.5 + 0.5j])
    params = {"z": z, "scale": 1.5, "w": np.array([0.5, -1.0, 2.0])}

    def loss(p, other):
        return np.sum(np.abs(p["z"] * p["w"] * other) ** 2) * p["scale"], "aux"

    other = np.array([1.0, 2.0 - 1j, 3.0])
    (value, aux), (grads, d_other) = mixedad.value_and_gradient(loss, params, other, argnums=(0, 1), has_aux=True)
    assert aux == "aux" and value == pytest.approx(loss(params, other)[0])
    np.testing.assert_allclose(grads["z"], _reference(lambda t: loss({**params, "z": t}, other)[0], z), rtol=1e-6)
    np.testing.assert_allclose(grads["w"], numerical_gradient(lambda t: loss({**params, "w": t}, other)[0],
                                                              params["w"]), rtol=1e-6)
    np.testing.assert_allclose(d_other, _reference(lambda t: loss(params, t)[0], other), rtol=1e-6)
    assert grads["w"].dtype == np.float64 and d_other.dtype == np.complex128


def test_vjp_of_a_real_output_takes_a_complex_input():
    z = np.array([1 + 2j, 3 - 1j])
    out, pullback = mixedad.vjp(lambda w: np.abs(w) ** 2, z)
    np.testing.assert_allclose(out, np.abs(z) ** 2)
    cotangent = np.array([1.0, -2.0])
    (got,) = pullback(cotangent)
    np.testing.assert_allclose(got, _reference(lambda w: np.sum(cotangent * np.abs(w) ** 2), z), rtol=1e-6)


def test_a_prepared_gradient_traces_each_call_and_equals_a_fresh_one():
    f = CASES["power spectrum"]
    rng = np.random.default_rng(0)
    z = rng.normal(size=5) + 1j * rng.normal(size=5)
    prepared = mixedad.prepare(f, z)
    assert not prepared.replays and "complex" in prepared.why_traced
    other = rng.normal(size=5) + 1j * rng.normal(size=5)
    np.testing.assert_allclose(prepared.gradient(other), mixedad.gradient(f, other), rtol=1e-12)


@pytest.mark.parametrize("transform", [
    lambda f, z: mixedad.jvp(f, (z,), (z,)),
    lambda f, z: mixedad.hessian(f, z),
    lambda f, z: mixedad.jacobian(lambda w: np.abs(w), z),
])
def test_forward_and_second_order_transforms_refuse_complex_inputs_saying_what_to_do(transform):
    with pytest.raises(mixedad.InputError, match=r"complex.*take real ones.*x \+ 1j \* y"):
        transform(CASES["squared modulus"], np.array([1 + 2j, 3 - 1j]))


def test_an_update_in_place_of_a_complex_input_raises_naming_it():
    def f(z):
        z *= 2
        return np.sum(np.abs(z))
    where = r"in-place change.*test_complex_inputs.py:\d+: `z \*= 2`"
    with pytest.raises(mixedad.UnsupportedOperationError, match=where):
        mixedad.gradient(f, np.array([1 + 2j]))


def test_the_callers_array_is_left_as_it_was():
    z = np.array([1 + 2j, 3 - 1j])
    before = z.copy()
    mixedad.gradient(CASES["squared modulus"], z)
    np.testing.assert_array_equal(z, before)
    assert z.flags.writeable


def test_a_gradient_of_a_complex_input_inside_a_jvp_raises_instead_of_dropping_tangents():
    z = np.array([1 + 2j, 0.5 - 1j])

    def inner_gradient(t):
        return mixedad.gradient(lambda w: np.sum(np.abs(w * t) ** 2), z).real
    with pytest.raises(mixedad.InputError, match="enclosing jvp or hessian differentiates this gradient"):
        mixedad.jvp(inner_gradient, (np.array(1.5),), (np.array(1.0),))


def test_ndarray_methods_of_a_complex_value_run_as_numpys_functions_or_name_themselves():
    z = np.array([1 + 2j, 3 - 1j, 0.5 + 0.5j])

    def by_method(w):
        return w.var() + w.std(ddof=1) + np.abs(w.prod()) + np.abs(w.take([0, 2]).sum()) + np.sum(np.abs(w.repeat(2)))

    def by_function(w):
        return np.var(w) + np.std(w, ddof=1) + np.abs(np.prod(w)) + np.abs(np.take(w, [0, 2]).sum()) \
            + np.sum(np.abs(np.repeat(w, 2)))
    np.testing.assert_allclose(mixedad.gradient(by_method, z), _reference(by_function, z), rtol=1e-6)
    with pytest.raises(mixedad.UnsupportedOperationError, match=r"ndarray\.max .*test_complex_inputs.py:\d+"):
        mixedad.gradient(lambda w: np.abs(w.max()), z)
    with pytest.raises(mixedad.UnsupportedOperationError, match="prod with out="):  # as np.prod(w, out=buffer)
        mixedad.gradient(lambda w: np.abs(w.prod(out=np.zeros((), complex))), z)
    with pytest.raises(AttributeError, match="strides"):
        mixedad.gradient(lambda w: np.sum(np.abs(w)) * len(w.strides), z)
