"""Complex intermediate values (``rules.complex_values``, ``rules.fft``): real functions of real
inputs that compute through complex values, checked against float64 central differences in
every mode, with hypothesis-drawn shapes and transform options for ``np.fft``."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedad
from numerical import numerical_gradient

WEIGHTS = np.linspace(-1.0, 2.0, 64)
DFT = np.exp(-2j * np.pi * np.outer(np.arange(8), np.arange(8)) / 8)


def weighted(values):
    """A real scalar that reads every element of a real array with a different weight."""
    flat = np.ravel(values)
    return np.sum(flat * WEIGHTS[: flat.size])


CASES = {
    "power spectrum": lambda x: np.sum(np.abs(np.fft.fft(x)) ** 2),
    "fft real part, n longer": lambda x: weighted(np.fft.fft(x, n=11).real),
    "fft imaginary part, n shorter, ortho": lambda x: weighted(np.fft.fft(x, n=5, norm="ortho").imag ** 3),
    "filter in frequency": lambda x: np.sum(np.fft.ifft(np.fft.fft(x) * np.exp(1j * np.arange(x.size))).real ** 2),
    "rfft, forward norm": lambda x: weighted(np.abs(np.fft.rfft(x, norm="forward")) ** 2),
    "rfft, odd n": lambda x: weighted(np.fft.rfft(x, n=9).imag),
    "irfft of rfft": lambda x: np.sum(np.fft.irfft(np.fft.rfft(x) * (1 + 0.5j)) ** 2),
    "irfft of complex, even n, ortho": lambda x: weighted(np.fft.irfft(x + 1j * x[::-1], n=10, norm="ortho")),
    "irfft, odd n": lambda x: weighted(np.fft.irfft(x * 1j + x ** 2, n=9)),
    "fft2 of a matrix": lambda x: weighted(np.abs(np.fft.fft2(x.reshape(2, 4))) ** 2),
    "rfft2 padded": lambda x: weighted(np.abs(np.fft.rfft2(x.reshape(2, 4), s=(3, 5)))),
    "irfftn of rfftn": lambda x: weighted(np.fft.irfftn(np.fft.rfftn(x.reshape(2, 4)) * 1j + 1, s=(2, 4), axes=(0, 1))),
    "fftshift": lambda x: weighted(np.fft.fftshift(np.fft.fft(x)).real),
    "phase": lambda x: np.sum(np.angle(np.exp(1j * x) * (2 + 1j))),
    "division": lambda x: np.abs(np.sum((x + 2j) / (x[::-1] - 1j * x + 3))),
    "log and sqrt": lambda x: np.sum(np.log(x + 1j * x ** 2 + 1).imag + np.sqrt(x - 2j).real),
    "sin and cos": lambda x: np.sum(np.sin(x + 1j * x).real * np.cos(0.5j * x + 1).imag),
    "powers": lambda x: np.sum(((x + 1j) ** 3).real + np.abs((x - 0.5j) ** -2) + np.abs((x + 2j) ** 0.5)),
    "matmul": lambda x: np.sum(np.abs(np.exp(1j * np.outer(x, x)) @ (x + 1j))),
    "real @ complex": lambda x: np.sum(np.abs(x @ np.exp(1j * np.outer(x, x)))),
    "einsum": lambda x: np.abs(np.einsum("i,i->", x + 1j, np.exp(1j * x))),
    "vdot conjugates": lambda x: np.abs(np.vdot(x + 1j * x ** 2, np.exp(1j * x))),
    "z times its conjugate": lambda x: np.sum((np.fft.fft(x) * np.conj(np.fft.fft(x))).real),
    "indexing and concatenation": lambda x: np.sum(np.abs(np.concatenate([np.fft.fft(x)[1:3], x[:2] * 1j]))),
    "real and complex joined": lambda x: weighted(np.abs(np.concatenate([x, np.fft.fft(x)]))),
    "where": lambda x: np.sum(np.abs(np.where(x > 0, np.exp(1j * x), x))),
    "norm": lambda x: np.linalg.norm(np.fft.fft(x)),
    "sum and mean": lambda x: np.abs(np.fft.fft(x).mean() + np.fft.fft(x).sum() * 1j),
    "complex constant matrix": lambda x: np.sum(np.abs((np.eye(8) * (1 + 2j)) @ x)),
    "methods": lambda x: weighted((np.fft.fft(x).reshape(2, 4).T.conj() * 1j).imag),
    # a complex constant meeting the real traced array: a hand-written Fourier sum
    "dot of a complex constant": lambda x: weighted(np.abs(np.dot(DFT, x)) ** 2),
    "einsum of a complex constant": lambda x: weighted(np.einsum("ij,j->i", DFT, x).imag),
    "outer with a complex constant": lambda x: weighted(np.abs(np.outer(x[:3], DFT[1, :3]))),
    "concatenate and stack with a complex constant": lambda x: weighted(
        np.abs(np.concatenate([x, DFT[1]]) + np.stack([DFT[2], x], axis=1).ravel()[:16])),
    "where with a complex constant": lambda x: np.sum(np.abs(np.where(x > 0, x, DFT[3])) ** 2),
    # the linear shape functions, on each part alike: a propagator V diag(exp(-i w)) V^H, triangles
    "diag of a vector": lambda x: np.sum(np.abs(x[:4, None] * np.diag(np.exp(-1j * x[4:])) @ DFT[:4, :4].T) ** 2),
    "diag and diagflat of a matrix": lambda x: weighted(np.abs(np.diagflat(np.diag(np.fft.fft(x).reshape(2, 4), k=1)))),
    "triu and tril": lambda x: weighted(np.triu(np.exp(1j * x).reshape(2, 4), 1).imag + np.tril(x.reshape(2, 4) * 1j + x[::-1].reshape(2, 4), -1).real),
    "atleast_3d": lambda x: weighted(np.abs(np.atleast_3d(np.fft.fft(x)) + 1j)),
}


def at(seed=0, size=8):
    return np.random.default_rng(seed).standard_normal(size)


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("case", CASES)
def test_gradients_through_complex_values_match_finite_differences(case, mode):
    f, x = CASES[case], at()
    value, grad = mixedad.value_and_gradient(f, x, mode=mode)
    np.testing.assert_allclose(value, f(x), rtol=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", ["power spectrum", "irfft of complex, even n, ortho", "phase", "matmul",
                                  "fft2 of a matrix", "real and complex joined", "dot of a complex constant"])
def test_second_derivatives_and_jvp_through_complex_values(case):
    f, x = CASES[case], at(1)
    expected = np.array([numerical_gradient(lambda v: mixedad.gradient(f, v)[i], x) for i in range(x.size)])
    np.testing.assert_allclose(mixedad.hessian(f, x), expected, rtol=1e-5, atol=1e-6)
    tangent = at(2)
    value, derivative = mixedad.jvp(f, (x,), (tangent,))
    assert np.isclose(derivative, numerical_gradient(f, x) @ tangent, rtol=1e-6)


@pytest.mark.parametrize("case", ["power spectrum", "filter in frequency", "irfftn of rfftn", "where", "division",
                                  "einsum of a complex constant", "where with a complex constant"])
def test_prepared_gradients_replay_complex_programs_on_new_inputs(case):
    f = CASES[case]
    prepared = mixedad.prepare(f, at(0))
    for seed in (3, 4, 5):
        x = at(seed)
        np.testing.assert_allclose(prepared.gradient(x), numerical_gradient(f, x), rtol=1e-6, atol=1e-8)


TRANSFORMS = {
    "fft": lambda x, n, axis, norm: np.fft.fft(x, n, axis, norm),
    "ifft": lambda x, n, axis, norm: np.fft.ifft(x * (1 - 0.3j), n, axis, norm),
    "rfft": lambda x, n, axis, norm: np.fft.rfft(x, n, axis, norm),
    "irfft": lambda x, n, axis, norm: np.fft.irfft(x + 0.5j * x ** 2, n, axis, norm),
    "fftn": lambda x, n, axis, norm: np.fft.fftn(x * 1j, None if n is None else (n,), (axis,), norm),
    "irfftn": lambda x, n, axis, norm: np.fft.irfftn(x * (2 + 1j), None if n is None else (n,), (axis,), norm),
    "hfft": lambda x, n, axis, norm: np.fft.hfft(x - 0.5j * x ** 2, n, axis, norm),
    "ihfft": lambda x, n, axis, norm: np.fft.ihfft(x, n, axis, norm),
}


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(sorted(TRANSFORMS)), shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
       n=st.one_of(st.none(), st.integers(1, 7)), axis_choice=st.integers(0, 2),
       norm=st.sampled_from([None, "backward", "ortho", "forward"]), seed=st.integers(0, 2 ** 16),
       mode=st.sampled_from(["auto", "reverse", "forward"]))
def test_one_dimensional_transforms_match_finite_differences(kind, shape, n, axis_choice, norm, seed, mode):
    axis = axis_choice % len(shape) - len(shape) * (axis_choice % 2)  # negative axes too
    if kind.startswith(("irfft", "hfft")) and n is None and shape[axis] == 1:
        n = 2  # NumPy's default length 2 (m - 1) would be 0
    x = np.random.default_rng(seed).standard_normal(shape)

    def f(v):
        out = TRANSFORMS[kind](v, n, axis, norm)
        weights = np.cos(np.arange(out.size)).reshape(out.shape)
        return np.sum(weights * (out.real + 2 * out.imag if np.iscomplexobj(out) else out))

    value, grad = mixedad.value_and_gradient(f, x, mode=mode)
    np.testing.assert_allclose(value, f(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=1e-6, atol=1e-8)


def test_float32_stays_float32_through_complex64():
    x = at().astype(np.float32)
    f = lambda v: np.sum(np.abs(np.fft.rfft(v) * 1j + v[:5]) ** 2)  # noqa: E731
    value, grad = mixedad.value_and_gradient(f, x)
    assert value.dtype == f(x).dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_allclose(grad, numerical_gradient(f, x.astype(np.float64)), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("f, named", [
    (lambda x: np.abs(np.linalg.det(np.outer(x, x) * 1j + np.eye(x.size))), "numpy.linalg.det on a complex value"),
    (lambda x: np.sum(np.abs(np.sort(np.fft.fft(x)))), "numpy.sort on a complex value"),
    (lambda x: np.sum(np.abs(np.asarray(np.fft.fft(x)))), "np.asarray / np.array on a complex value"),
    (lambda x: float(np.fft.fft(x)[0]), "float.. on a complex value"),
    (lambda x: np.sum(x) if np.fft.fft(x)[0] else 0.0, "bool.. .an if or while on it. on a complex value"),
    (lambda x: np.sum(np.abs(np.pad(x * 1j, 1, mode="median"))), "numpy.pad with mode='median' on a complex value"),
])
def test_unsupported_complex_operations_raise_naming_the_operation_and_line(f, named):
    with pytest.raises(mixedad.MixedadError, match=named) as info:
        mixedad.gradient(f, at())
    assert "test_complex.py" in str(info.value)


def test_assigning_into_a_complex_value_is_refused():
    def f(x):
        z = np.fft.fft(x)
        z[0] = 0
        return np.sum(np.abs(z))
    with pytest.raises(mixedad.UnsupportedOperationError, match="Assigning into a complex value"):
        mixedad.gradient(f, at())


def _element_into_complex_buffer(phi):  # a Hamiltonian with a Peierls phase, filled element by element
    h = np.zeros((2, 2), complex)
    h[0, 1] = -np.exp(1j * phi[0])
    return np.sum(np.abs(h))


def _slice_into_complex_zeros_like(p):
    z = np.exp(1j * p)
    y = np.zeros_like(z)
    y[1:] = z[:-1]
    return np.sum(np.abs(y) ** 2)


def _real_element_into_complex_buffer(p):
    h = np.zeros(2, complex)
    h[0] += np.exp(1j * p[0]).real
    return np.sum(np.abs(h))


@pytest.mark.parametrize("f", [_element_into_complex_buffer, _slice_into_complex_zeros_like,
                               _real_element_into_complex_buffer])
def test_storing_a_complex_value_into_a_numpy_array_says_how_to_fill_one(f):
    """NumPy converts the value with complex(), float() or __array__ to store it: the error names
    the store and the way that works, real and imaginary parts filled apart."""
    with pytest.raises(mixedad.NonDifferentiableError, match=r"storing it into a NumPy array.*re\[i\] = z\.real") as info:
        mixedad.gradient(f, at())
    assert "test_complex.py" in str(info.value)


def test_complex_values_in_a_branching_scalar_function_are_refused():
    # the per-element path used to drop the imaginary parts of its partials: [-1.34, 1, -1.34] for [2.24, 1, 2.24]
    with pytest.raises(mixedad.UnsupportedOperationError, match="complex value .* element by element"):
        mixedad.gradient(lambda v: mixedad.sum(lambda t: abs(t * (1 + 2j)) if t > 0 else t, v),
                         np.array([0.7, -1.3, 0.2]))


def test_complex_values_in_a_vectorized_scalar_function():
    f = lambda t: np.abs(t * (1 + 2j)) ** 2 + np.real(np.exp(1j * t))  # noqa: E731
    x = at()
    np.testing.assert_allclose(mixedad.gradient(lambda v: mixedad.sum(f, v), x),
                               numerical_gradient(lambda v: np.sum(f(v)), x), rtol=1e-6)


# --- found by verification: each failed on the first version ------------------------------------
@pytest.mark.parametrize("transform", [
    lambda f, x: mixedad.jvp(f, (x,), (np.ones_like(x),)),
    lambda f, x: mixedad.vjp(f, x),
    lambda f, x: mixedad.jacobian(f, x, mode="reverse"),
    lambda f, x: mixedad.jacobian(f, x, mode="forward"),
])
def test_a_complex_output_is_refused_by_every_transform(transform):
    # these returned zero derivatives of an internal object
    with pytest.raises(mixedad.OutputError, match="complex value"):
        transform(lambda x: np.fft.fft(x) * x, at(0, 4))


def test_a_complex_auxiliary_output_comes_back_as_a_numpy_array():
    grad, aux = mixedad.gradient(lambda x: (np.sum(np.abs(np.fft.fft(x))), np.fft.fft(x)), at(0, 4), has_aux=True)
    assert type(aux) is np.ndarray and aux.dtype == np.complex128
    np.testing.assert_allclose(aux, np.fft.fft(at(0, 4)))


@pytest.mark.parametrize("f, x", [
    (lambda x: np.sum(np.sqrt(x + 1j).real + np.sqrt(x - 2j).imag), np.zeros(2)),  # real part exactly 0
    (lambda x: np.sum(np.abs((x + 1j) / (x * 1e155 + 2e155j))), np.array([0.5, -1.0])),  # |b|**2 overflows
    (lambda x: np.sum(2.0 ** (1j * x)).real, np.array([0.3, -0.8])),
    (lambda x: np.sum(np.abs(np.concatenate([x * 1j, np.array([1, 2])]))), np.array([0.5, -1.0])),
])
def test_edge_cases_match_numpy_and_finite_differences(f, x):
    value, grad = mixedad.value_and_gradient(f, x)
    np.testing.assert_allclose(value, f(x), rtol=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(f, x), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("f", [lambda x: np.angle(x * (1 + 0j)), lambda x: np.sqrt(x * np.ones(2, complex)).imag,
                               lambda x: np.log(x - 0j).imag, lambda x: np.angle(-(x * 1j) * 1j)])
def test_signed_zero_imaginary_parts_pick_numpys_side_of_the_branch_cut(f):
    x = np.array([-4.0, -1.0])
    np.testing.assert_array_equal(mixedad.value_and_gradient(lambda v: np.sum(f(v)), x)[0], np.sum(f(x)))


def test_in_place_changes_of_a_complex_value_are_refused():
    def f(x):
        z = np.fft.fft(x)
        alias = z
        z *= 2.0  # NumPy changes alias too
        return np.sum(np.abs(alias))
    with pytest.raises(mixedad.UnsupportedOperationError, match="in-place change"):
        mixedad.gradient(f, at())


def test_float16_computes_in_complex64_and_where_keeps_float32():
    x16 = at(0, 4).astype(np.float16)
    f = lambda x: np.sum(np.abs(x * 1j + 1))  # noqa: E731
    assert mixedad.value_and_gradient(f, x16)[0] == f(x16)
    g = lambda x: np.sum(np.abs(np.where(x > 0, x * 1j, 0)))  # noqa: E731
    assert mixedad.value_and_gradient(g, x16.astype(np.float32))[0].dtype == np.float32


@pytest.mark.parametrize("exponent", [2 + 0j, 2.0, 3, 2.5 + 0j, 2 + 1j, 0j, -1 + 0j, -2, -1.5, 0.5j, 99 + 0j, 150.0])
@pytest.mark.parametrize("mode", ["auto", "forward"])
def test_complex_powers_at_a_zero_base_match_numpy(exponent, mode):
    x = np.array([0.0, 0.7, -1.3])

    def f(x):
        z = (x * (1 + 1j)) ** exponent
        return np.sum(z.real + z.imag)
    with np.errstate(all="ignore"):
        want = f(x)
        value, grad = mixedad.value_and_gradient(f, x, mode=mode)
    np.testing.assert_allclose(value, want, rtol=1e-12)  # NaN where NumPy's is NaN
    for i in (1, 2):  # away from the zero base, one at a time (150: one term swamps the other's differences)
        np.testing.assert_allclose(grad[i], numerical_gradient(f, x[i:i + 1])[0], rtol=1e-6)


def test_a_real_array_updated_in_place_with_a_complex_value_raises_as_numpy_does():
    def f(x):
        y = x * 1.0
        y *= 1j
        return np.sum(np.abs(y))
    with pytest.raises(TypeError):
        f(at())  # NumPy's own refusal
    for mode in ("auto", "forward"):
        with pytest.raises(TypeError, match=r"Cannot cast ufunc 'multiply' output.*y \*= 1j"):
            mixedad.gradient(f, at(), mode=mode)
