"""Every refusal is a MixedadError that names the operation and the user's line (found by
sweeps of the NumPy API and of realistic programs: these raised bare NumPy or Python errors)."""
import math
import re

import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient

A = np.array([[1.0, 2.0], [0.5, 1.5]])
_RNG = np.random.default_rng(0)


@pytest.mark.parametrize("name, f", [
    ("dot", lambda x: np.sum(np.dot(x, x, out=np.empty((2, 2))))),
    ("clip", lambda x: np.sum(np.clip(x, 0, 1, out=np.empty((2, 2))))),
    ("sum", lambda x: np.sum(x, axis=0, out=np.empty(2))),
])
def test_out_arguments_raise_in_place_errors(name, f):
    with pytest.raises(mixedad.InPlaceMutationError, match=rf"{name} with out=.*test_error_messages.py"):
        mixedad.gradient(f, A)


@pytest.mark.parametrize("f, match", [
    (lambda x: np.sum(np.pad(x, 1, mode=lambda vector, width, axis, kwargs: None)), "np.pad with mode=<function"),
    (lambda x: np.quantile(x, 0.3, method="inverted_cdf", weights=np.ones((2, 2)), axis=(0, 1)), "weights="),
    (lambda x: np.sum(np.ravel(x, order="K")), "np.ravel with order='K'"),
    (lambda x: np.sum(x.flatten("K")), r"x\.flatten\(\) with order='K'"),
    (lambda x: np.sum(np.linalg.qr(np.vstack([x, x]), mode="complete")[0]), "qr"),
])
def test_unsupported_options_are_mixedad_errors_with_the_line(f, match):
    with pytest.raises(mixedad.UnsupportedOperationError, match=match) as caught:
        mixedad.gradient(f, A)
    assert isinstance(caught.value, NotImplementedError)  # still caught by code written for the old type
    assert isinstance(caught.value, mixedad.UnsupportedOptionError)
    assert "test_error_messages.py" in str(caught.value)


@pytest.mark.parametrize("attribute, hint", [("flat", "x.ravel()"), ("view", "x itself")])
def test_missing_ndarray_attributes_name_a_way_out(attribute, hint):
    with pytest.raises(mixedad.UnsupportedOperationError, match=rf"x\.{attribute} is not supported.*{hint}"):
        mixedad.gradient(lambda x: np.sum(getattr(x, attribute)), A)
    seen = []
    mixedad.gradient(lambda x: seen.append(hasattr(x, attribute)) or np.sum(x), A)
    assert seen == [False]  # an AttributeError too: hasattr answers instead of raising


def test_forgotten_has_aux_is_named():
    with pytest.raises(mixedad.MixedadError, match="tuple of 2 values.*has_aux=True"):
        mixedad.gradient(lambda x: (np.sum(x), x), A)


def test_storing_traced_values_into_a_numpy_array_says_what_to_do():
    def rows(x):
        out = np.zeros((2, 2))
        out[0] = x[0]
        return np.sum(out)

    with pytest.raises(mixedad.NonDifferentiableError, match=r"out\[i\] = value.*np\.stack"):
        mixedad.gradient(rows, A)

    def elements(x):
        out = np.zeros(2)
        out[0] = x[0, 0] ** 2
        return np.sum(out)

    # NumPy replaces the error with its own ValueError; gradient raises mixedad's again
    with pytest.raises(mixedad.NonDifferentiableError, match=r"`out` is a plain NumPy array.*out = np\.zeros_like\(x, "
                       r"shape=\(2,\)\) accepts out\[i\] = value"):
        mixedad.gradient(elements, A)


def test_branching_mapped_function_closing_over_a_differentiated_value_is_named():
    x = np.array([0.5, -2.0, 1.0])

    def huber(x, delta):
        return mixedad.sum(lambda t: 0.5 * t * t if abs(t) < delta else delta * (abs(t) - 0.5 * delta), x)

    with pytest.raises(mixedad.UnsupportedOperationError, match="closes over.*np.where"):
        mixedad.gradient(huber, x, 1.3, argnums=(0, 1))


@pytest.mark.parametrize("argnums", [0, (0, 1)], ids=["constant x", "differentiated x"])
def test_a_branching_mapped_function_whose_result_holds_a_closed_over_value_says_to_pass_it(argnums):
    def loss(p, x):
        return mixedad.sum(lambda t: p[0] * t if t > 0 else t, x)

    p, x = np.array([2.0]), np.array([0.5, -1.0])
    with pytest.raises(mixedad.UnsupportedOperationError,
                       match=r"(?s)test_error_messages.py.*closes over.*mixedad\.map\(lambda t, p: \.\.\., x, p\)"):
        mixedad.gradient(loss, p, x, argnums=argnums)
    # what the message advises works
    grads = mixedad.gradient(lambda p, x: np.sum(mixedad.map(lambda t, q: q * t if t > 0 else t, x, p[0])),
                             p, x, argnums=(0, 1))
    np.testing.assert_allclose(grads[0], [0.5])
    np.testing.assert_allclose(grads[1], [2.0, 1.0])


def _set_shape(x):
    y = x * 2.0
    y.shape = (4,)
    return np.sum(y)


@pytest.mark.parametrize("differentiate", [
    lambda f: mixedad.gradient(f, A),
    lambda f: mixedad.jvp(f, (A,), (A,)),
    lambda f: mixedad.hessian(f, A),
], ids=["gradient", "jvp", "hessian"])
def test_setting_shape_in_place_names_reshape_and_the_line(differentiate):
    with pytest.raises(mixedad.UnsupportedOperationError, match=r"\.shape = \(4,\).*test_error_messages.py.*reshape"):
        differentiate(_set_shape)


def test_prepared_out_buffer_of_the_wrong_dtype_names_both_dtypes():
    prepared = mixedad.prepare(lambda x: np.sum(x ** 2), A)
    with pytest.raises(mixedad.InputError, match="dtype float64, got an ndarray of shape \\(2, 2\\) and dtype float32"):
        prepared.gradient(A, out=np.zeros((2, 2), np.float32))


def test_an_error_inside_a_library_also_names_the_users_line_that_called_it():
    import statistics  # its Python code calls float() on each element

    def mean_of(x):
        return statistics.fmean(x)  # the line the message must name

    with pytest.raises(mixedad.NonDifferentiableError) as caught:
        mixedad.gradient(mean_of, np.array([1.0, 2.0, 3.0]))
    message = str(caught.value)
    assert "statistics.py" in message
    assert "called from" in message and "test_error_messages.py" in message
    assert "return statistics.fmean(x)" in message
    assert "(inside statistics.fmean)" in message


def test_a_library_that_converts_a_traced_value_is_named_with_what_to_do_instead():
    special = pytest.importorskip("scipy.special")

    def log_normaliser(x):
        return special.logsumexp(x)  # SciPy calls np.asarray on its argument

    with pytest.raises(mixedad.NonDifferentiableError) as caught:
        mixedad.gradient(log_normaliser, np.array([1.0, 2.0, 3.0]))
    message = str(caught.value)
    assert "(inside scipy.special.logsumexp)" in message
    assert "return special.logsumexp(x)" in message
    assert "scipy.special.logsumexp converts its arguments" in message
    assert "use mixedad.nn.logsumexp(a, axis=...)" in message  # which does that work, differentiably
    assert "np.zeros_like" not in message  # the advice for the user's own np.asarray does not apply


def test_a_library_function_behind_a_decorator_is_named_as_the_user_called_it():
    """SciPy wraps scipy.linalg.solve_triangular in a decorator's function: the message named
    ``scipy._apply_over_batch.<locals>.decorator.<locals>.wrapper``, with no replacement."""
    linalg = pytest.importorskip("scipy.linalg")
    a = np.tril(np.ones((3, 3))) + 2 * np.eye(3)
    with pytest.raises(mixedad.NonDifferentiableError) as caught:
        mixedad.gradient(lambda b: np.sum(linalg.solve_triangular(a, b, lower=True)), np.ones(3))
    message = str(caught.value)
    assert "<locals>" not in message
    assert "(inside scipy.linalg.solve_triangular)" in message
    assert "scipy.linalg.solve_triangular converts its arguments" in message and "np.linalg.solve(a, b)" in message


def test_a_library_function_without_a_numpy_replacement_gets_the_primitive_advice():
    linalg = pytest.importorskip("scipy.linalg")
    with pytest.raises(mixedad.NonDifferentiableError) as caught:
        mixedad.gradient(lambda m: np.sum(linalg.expm(m)), np.eye(2))
    message = str(caught.value)
    assert "scipy.linalg.expm converts its arguments" in message and "@mixedad.primitive" in message


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix's own warning
@pytest.mark.parametrize("differentiate", [
    lambda f, x: mixedad.gradient(f, x),
    lambda f, x: mixedad.jvp(f, (x,), (x,)),
    lambda f, x: mixedad.hessian(f, x),
    lambda f, x: mixedad.prepare(f, x),
], ids=["gradient", "jvp", "hessian", "prepare"])
@pytest.mark.parametrize("make, match", [
    (lambda: np.ma.array([1.0, 2.0, 3.0], mask=[False, True, False]), "masked array.*np.where"),
    (lambda: np.matrix([[1.0, 2.0], [3.0, 4.0]]), "np.matrix.*np.asarray"),
], ids=["masked", "matrix"])
def test_masked_arrays_and_matrices_are_refused_not_differentiated_as_plain_arrays(differentiate, make, match):
    # a masked array's gradient would ignore the mask: NumPy's value, a silently wrong derivative
    with pytest.raises(mixedad.InputError, match=match):
        differentiate(lambda a: np.sum(a ** 2), make())


def test_other_ndarray_subclasses_are_differentiated_as_their_values(tmp_path):
    mapped = np.memmap(tmp_path / "values", dtype=np.float64, mode="w+", shape=(3,))
    mapped[:] = [1.0, -2.0, 0.5]
    grad = mixedad.gradient(lambda a: np.sum(a ** 3), mapped)
    assert type(grad) is np.ndarray
    np.testing.assert_allclose(grad, 3 * np.array([1.0, -2.0, 0.5]) ** 2)


@pytest.mark.parametrize("differentiate", [
    lambda f, x: mixedad.gradient(f, x),
    lambda f, x: mixedad.jvp(f, (x,), (x,)),
], ids=["reverse", "forward"])
def test_a_formatted_debugging_print_shows_the_value(differentiate, capsys):
    def loss(x):
        total = np.sum(x ** 2)
        print(f"loss = {total:.3f}")
        return total

    differentiate(loss, np.array([1.0, 2.0]))
    assert capsys.readouterr().out.strip() == "loss = 5.000"


def _strided_windows(x):
    from numpy.lib.stride_tricks import as_strided
    return np.sum(as_strided(x, shape=(6, 3), strides=(8, 8)) ** 2)


def _strides_read(x):
    return np.sum(x[:: x.strides[0] // 8] ** 2)


def _shuffled_rows(w):
    h = w * 1.0
    np.random.default_rng(0).shuffle(h)
    return np.sum(h * np.arange(12.0).reshape(4, 3))


@pytest.mark.parametrize("f, error, advice", [
    (_strided_windows, mixedad.NonDifferentiableError, r"as_strided makes a view from raw memory.*sliding_window_view"),
    (_strides_read, AttributeError, r"x\.strides is not supported.*sliding_window_view"),
    (_shuffled_rows, mixedad.InPlaceMutationError, r"shuffles x in place.*x\[rng\.permutation\(len\(x\)\)\]"),
], ids=["as_strided", "strides", "shuffle"])
@pytest.mark.filterwarnings("ignore:you are shuffling")  # NumPy's, for any non-ndarray
def test_strided_windows_and_an_in_place_shuffle_say_what_works(f, error, advice):
    with pytest.raises(error, match=advice) as info:
        mixedad.gradient(f, np.arange(12.0).reshape(4, 3) if f is _shuffled_rows else np.arange(8.0))
    assert "test_error_messages.py" in str(info.value)


@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_a_plain_debugging_print_shows_the_numbers(mode, capsys):
    """print(total) and f"{y}" show the values as NumPy prints them (a deferred one is computed);
    repr still says what the value is."""
    def loss(x):
        y = np.sin(x)
        total = np.sum(y ** 2)
        print("total", total, "y", y, f"{y}")
        assert repr(total).startswith("<mixedad traced float64[]")
        return total

    x = np.array([1.0, 2.0])
    mixedad.gradient(loss, x, mode=mode)
    y = np.sin(x)
    assert capsys.readouterr().out.strip() == f"total {np.sum(y ** 2)} y {y} {y}"


def test_a_debugging_print_runs_on_every_call_of_a_prepared_gradient(capsys):
    def loss(x):
        total = np.sum(x ** 2)
        print(total)
        return total

    prepared = mixedad.prepare(loss, np.array([1.0, 2.0]))
    capsys.readouterr()
    for scale in (1.0, 2.0):
        prepared.gradient(np.array([1.0, 2.0]) * scale)
        assert capsys.readouterr().out.strip() == str(5.0 * scale ** 2)
    assert "str()" in prepared.why_traced


@pytest.mark.parametrize("differentiate", [
    lambda f, x: mixedad.gradient(f, x),
    lambda f, x: mixedad.jvp(f, (x,), (x,)),
], ids=["reverse", "forward"])
@pytest.mark.parametrize("use, match", [
    (lambda x: math.trunc(x[0]), r"math\.trunc\(\).*np\.trunc"),
    (lambda x: math.floor(x[0]), r"math\.floor\(\).*np\.floor"),
    (lambda x: x.strides, r"x\.strides is not supported"),
    (lambda x: x.fill(0.0), r"x\.fill|full_like"),
    (lambda x: x.flat, r"x\.flat is not supported"),
], ids=["trunc", "floor", "strides", "fill", "flat"])
def test_forward_and_reverse_name_unsupported_uses_with_the_line(differentiate, use, match):
    def f(x):
        use(x)
        return np.sum(x)

    with pytest.raises(mixedad.MixedadError, match=match) as caught:
        differentiate(f, np.array([1.5, 2.5]))
    assert "test_error_messages.py" in str(caught.value)


@pytest.mark.parametrize("f, match", [
    (lambda x: bool(np.sum(x) > 0), "returned a bool.*comparison has no derivative"),
    (lambda x: np.any(x > 0), "returned a bool.*comparison has no derivative"),
    (lambda x: np.sum(x > 0), "returned an integer.*count or an index has no derivative"),  # an accuracy count
    (lambda x: np.argmax(x), "returned an integer.*count or an index has no derivative"),
    (lambda x: 0, "returned an integer"),
], ids=["bool", "np.any", "count", "argmax", "int constant"])
@pytest.mark.parametrize("differentiate", [mixedad.gradient, lambda f, x: mixedad.prepare(f, x).gradient(x)],
                         ids=["gradient", "prepare"])
def test_returning_a_bool_or_an_integer_is_an_error_not_a_zero_gradient(f, match, differentiate):
    with pytest.raises(mixedad.OutputError, match=match) as raised:
        differentiate(f, A)
    assert isinstance(raised.value, TypeError)  # as autograd's and JAX's errors for such outputs


def test_a_float_constant_output_has_a_zero_gradient():
    np.testing.assert_array_equal(mixedad.gradient(lambda x: 0.0, A), np.zeros_like(A))


@pytest.mark.parametrize("f, advice", [
    (lambda x: np.sum([x[0] * x[1], x[1]]),
     r"np\.sum converted differentiated values.*inside a.*list.*np\.sum\(np\.stack"),
    (lambda x: np.full((2, 3), x[0]), r"np\.full converts its fill value.*np\.broadcast_to\(value, shape\)"),
    (lambda x: np.max([x[0], x[1]]), r"np\.max\(np\.stack"),
    (lambda x: np.linalg.norm([x[0], x[1]]), r"np\.linalg\.norm\(np\.stack"),
    (lambda x: np.sum(np.r_[x, 2 * x]), r"np\.r_ and np\.c_.*np\.concatenate"),
    (lambda x: np.sum(np.vectorize(lambda t: t * t)(x)), r"mixedad\.map"),
    (lambda x: np.polynomial.polynomial.polyval(0.7, x), r"np\.polyval"),
    # conversions in C code (no NumPy frame to name): random draws, NumPy scalar types; and np.ma
    (lambda x: _RNG.normal(x, 1.0), r"\.normal\(\.\.\.\) here is a NumPy random draw.*loc \+ scale \* "
                                    r"rng\.standard_normal\(size\).*reparameterization"),
    (lambda x: np.random.uniform(x, x + 1.0), r"low \+ \(high - low\) \* rng\.random\(size\)"),
    (lambda x: _RNG.gamma(x), r"\.gamma\(\.\.\.\).*draw parameter-free noise and transform it"),
    (lambda x: _RNG.choice(x, 2), r"\.choice\(\.\.\.\).*draw indices instead.*x\[rng\.choice\(len\(x\), k\)\]"),
    (lambda x: np.float64(x[0]), r"np\.float64\(\.\.\.\) makes a plain NumPy scalar.*astype\(np\.float64\)"),
    (lambda x: np.ma.masked_array(x, mask=[0, 1]), r"np\.ma \(masked arrays\).*np\.where\(mask, fill_value, x\)"),
], ids=["sum of a list", "full", "max of a list", "norm of a list", "r_", "vectorize", "polynomial", "normal",
        "np.random.uniform", "gamma", "choice", "np.float64", "np.ma"])
@pytest.mark.parametrize("differentiate", [
    lambda f, x: mixedad.gradient(lambda v: np.sum(f(v)), x),
    lambda f, x: mixedad.jvp(f, (x,), (np.ones_like(x),)),
], ids=["gradient", "jvp"])
def test_numpy_functions_that_convert_traced_values_are_named_with_what_to_do(f, advice, differentiate):
    with pytest.raises(mixedad.NonDifferentiableError, match=f"(?s)test_error_messages.py.*{advice}"):
        differentiate(f, np.array([1.5, 2.5]))


@pytest.mark.parametrize("differentiate", [mixedad.gradient, mixedad.hessian,
                                           lambda f, x: mixedad.hvp(f, x, np.ones_like(x))],
                         ids=["gradient", "hessian", "hvp"])
def test_a_non_scalar_output_is_reported_for_every_scalar_transform(differentiate):
    with pytest.raises(mixedad.OutputError, match=r"f must return a scalar or an array of one element "
                                                  r"\(.*hessian and hvp.*shape \(3,\).*jacobian"):
        differentiate(lambda x: x * 2.0, np.ones(3))


def test_an_in_place_operator_on_a_plain_array_says_the_array_cannot_hold_a_derivative():
    """f = np.zeros_like(x) with x a constant is a NumPy array: f[1:] -= k * ... only said to
    assign the result instead."""
    def forces(k, x):
        f = np.zeros_like(x)
        f[1:] -= k * (x[1:] - x[:-1])
        return np.sum(f ** 2)

    with pytest.raises(mixedad.InPlaceMutationError, match="plain NumPy array.*np.zeros_like") as caught:
        mixedad.gradient(forces, 2.0, np.arange(4.0))
    assert "test_error_messages.py" in str(caught.value)


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_an_elementwise_primitive_without_partials_raises_missing_rule(mode):
    """In a dual region it raised IndexError from inside the engine."""
    @mixedad.primitive(elementwise=True)
    def doubled(x):
        return x * 2

    with pytest.raises(mixedad.MissingRuleError, match="defpartials"):
        mixedad.gradient(lambda x: np.sum(doubled(x)), np.ones(3), mode=mode)


def test_int_of_a_traced_value_points_to_astype_which_works():
    x = np.array([1.0, 2.0, 0.5])
    with pytest.raises(mixedad.NonDifferentiableError, match=r"(?s)int\(\).*test_error_messages.py.*astype\(int\)"):
        mixedad.gradient(lambda x: x[int(x[0])] * 2.0, x)
    np.testing.assert_array_equal(mixedad.gradient(lambda x: x[x[0].astype(int)] * 2.0, x), [0.0, 2.0, 0.0])


@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_pickling_a_traced_value_is_refused_not_a_zero_gradient(mode):
    import pickle
    with pytest.raises(mixedad.NonDifferentiableError,
                       match=r"Pickling a traced value at .*test_error_messages.py.*derivative\. Compute with it"):
        mixedad.gradient(lambda x: np.sum(pickle.loads(pickle.dumps(x * 1.0)) ** 2), A, mode=mode)


def _pickled_product(x):
    import pickle
    return np.sum(pickle.loads(pickle.dumps(x)) * x)


@pytest.mark.parametrize("transform", [
    lambda: mixedad.jvp(_pickled_product, (A,), (np.ones_like(A),)),
    lambda: mixedad.jacobian(_pickled_product, A, mode="forward"),
], ids=["jvp", "forward jacobian"])
def test_pickling_a_forward_dual_is_refused_not_a_zero_tangent(transform):
    """Found: the unpickled copy carried a copy of the level, so it counted as a constant."""
    with pytest.raises(mixedad.NonDifferentiableError,
                       match=r"Pickling a forward-mode dual at .*test_error_messages.py.*drop its tangent"):
        transform()


@pytest.mark.parametrize("f", [lambda x: {x[0, 0]: 1.0}[x[0, 0]] * x[0, 0], lambda x: _cached_square(x[0, 0])],
                         ids=["dict key", "lru_cache"])
def test_hashing_a_forward_dual_names_the_line(f):
    with pytest.raises(mixedad.NonDifferentiableError,
                       match=r"hashing .* on a forward-mode dual at .*test_error_messages.py"):
        mixedad.jvp(f, (A,), (np.ones_like(A),))


@__import__("functools").lru_cache
def _cached_square(t):
    return t * t


def _huber_missing_a_return(t):
    if abs(t) < 1.0:
        0.5 * t * t  # the return is missing
    else:
        return abs(t) - 0.5


@pytest.mark.parametrize("f, returned", [
    (_huber_missing_a_return, r"None \(does a branch miss its `return`\?\)"),
    (lambda t: None, r"None \(does a branch miss its `return`\?\)"),
    (lambda t: (t, t), r"a tuple"),
], ids=["a branch without return", "no return", "a tuple"])
@pytest.mark.parametrize("transform", ["value", "gradient", "gradient of map", "prepare", "jvp"])
def test_a_mapped_function_must_return_one_number_per_element(f, returned, transform):
    """Found: None became NaN in the value and a silent zero in the derivative."""
    x = np.array([-2.0, 0.3, 1.5])
    calls = {"value": lambda: mixedad.sum(f, x),
             "gradient": lambda: mixedad.gradient(lambda v: mixedad.sum(f, v), x),
             "gradient of map": lambda: mixedad.gradient(lambda v: np.sum(mixedad.map(f, v)), x),
             "prepare": lambda: mixedad.prepare(lambda v: mixedad.sum(f, v), x).gradient(x),
             "jvp": lambda: mixedad.jvp(lambda v: mixedad.sum(f, v), (x,), (np.ones(3),))}
    if returned == "a tuple" and transform == "gradient of map":  # map gives one array per output
        assert len(mixedad.map(f, x)) == 2
        return
    with pytest.raises(mixedad.OutputError, match=r"mixedad\.map / mixedad\.sum: the function \(.* at "
                                                  rf".*test_error_messages\.py:\d+\) returned {returned}; it must"):
        calls[transform]()


@pytest.mark.parametrize("output, match", [
    (lambda x: np.array([3]), r"it returned an integer \(int64: a count or an index"),
    (lambda x: None, r"it returned None\.$"),
    (lambda x: "loss", r"it returned str\.$"),
])
def test_outputs_that_are_no_float_scalar_are_named_plainly(output, match):
    with pytest.raises(mixedad.OutputError, match=match):
        mixedad.gradient(output, A)


class _ArrayLike:
    """Another library's array (a pandas Series, an xarray DataArray): it converts with __array__."""

    def __init__(self, values):
        self.values = np.asarray(values)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("f", [
    lambda x, c: np.sum(x * c),
    lambda x, c: np.sum(np.sin(x) + c * x),
    lambda x, c: np.sum((x @ _ArrayLike(np.outer(np.array(c), [1.0, 2.0]))) ** 2),
    lambda x, c: np.sum(np.where(_ArrayLike(np.array(c) > 3.5), x, 2 * x)),
], ids=["multiply", "region", "matmul", "where-mask"])
def test_array_likes_of_other_libraries_are_constants_as_numpy_converts_them(f, mode):
    x, values = np.array([0.5, -1.0, 2.0]), [3.0, 4.0, -1.0]
    want = numerical_gradient(lambda v: f(v, values), x)
    np.testing.assert_allclose(mixedad.gradient(lambda v: f(v, _ArrayLike(values)), x, mode=mode), want, rtol=1e-6)


@pytest.mark.parametrize("f", [lambda x, a: np.sum((x @ a) ** 2), lambda x, a: np.sum(x * a),
                               lambda x, a: np.sum(np.dot(x, a)), lambda x, a: np.sum(x + a)],
                         ids=["matmul", "multiply", "dot", "add"])
@pytest.mark.parametrize("mode", ["auto", "forward"])
def test_a_scipy_sparse_matrix_meeting_a_traced_value_is_refused_with_advice(f, mode):
    sparse = pytest.importorskip("scipy.sparse")
    a = sparse.csr_matrix(np.array([[1.0, 0.0], [2.0, 3.0]]))
    with pytest.raises(mixedad.UnsupportedOperationError, match=r"scipy\.sparse csr_matrix at .*toarray\(\)"):
        mixedad.gradient(lambda x: f(x, a), np.ones(2), mode=mode)


def test_a_plain_arrays_method_with_a_traced_argument_points_to_the_function_form():
    w = np.array([[1.0, 2.0], [3.0, 4.0]])

    def f(x):
        return np.sum(w.dot(x))
    with pytest.raises(mixedad.NonDifferentiableError, match=r"w\.dot\(x\).*call the function np\.dot\(array"):
        mixedad.gradient(f, np.ones(2))


@pytest.mark.parametrize("mode", ["auto", "forward"])
def test_a_plain_arrays_clip_method_with_traced_bounds_differentiates(mode):
    w = np.array([-1.0, 0.5, 3.0, 2.0])
    f = lambda x: np.sum(w.clip(x[0], x[1]) * x)  # noqa: E731  (NumPy's clip ufunc, not np.clip)
    x = np.array([0.1, 1.5, 0.3, 0.7])
    np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), numerical_gradient(f, x), rtol=1e-6)


def test_a_math_function_on_a_traced_value_is_named():
    def f(x):
        return math.exp(x[0]) + np.sum(x)
    with pytest.raises(mixedad.NonDifferentiableError, match=r"math\.exp\(\) \(a conversion to float\).*np\.sin"):
        mixedad.gradient(f, np.ones(2))


@pytest.mark.parametrize("f, named", [
    (lambda x: float(x[0]) * math.sqrt(2.0), r"^float\(\)"),  # math.sqrt only saw a plain float
    (lambda x: math.sqrt(2.0) * math.exp(x[0]), r"^math\.exp\(\)"),  # the math call that got the traced value
    (lambda x: math.exp(math.sqrt(x[0])), r"^math\.sqrt\(\)"),
    (lambda x: math.sqrt(
        x[0]), r"^math\.sqrt\(\)"),  # a call over two lines: the math call on the line
])
def test_the_call_that_converted_is_named_not_another_on_its_line(f, named):
    with pytest.raises(mixedad.NonDifferentiableError, match=named):
        mixedad.gradient(f, np.array([0.3, 1.2]))


def test_a_traced_buffer_kept_in_a_cache_names_the_cache_and_the_plain_alternative():
    cache = {}

    def loss(x):
        if x.shape not in cache:
            cache[x.shape] = np.zeros_like(x) + 1.0  # traced: it stands for this differentiation only
        return np.sum((x + cache[x.shape]) ** 2)
    mixedad.gradient(loss, np.ones(3))
    with pytest.raises(mixedad.MixedadError, match=r"finished and is used again at .*kept in a cache.*np\.zeros\(x\.shape\)"):
        mixedad.gradient(loss, np.ones(3))


def test_naming_a_decorated_library_function_runs_no_user_code_again():
    """The name comes from the user's call, looked up statically: a property on the way ran a
    second time, and its exception replaced mixedad's error."""
    linalg = pytest.importorskip("scipy.linalg")

    class Model:
        accesses = 0

        @property
        def algebra(self):
            Model.accesses += 1
            if Model.accesses > 1:
                raise RuntimeError("read twice")
            return linalg
    model = Model()
    with pytest.raises(mixedad.NonDifferentiableError, match="model.algebra.solve_triangular converts"):
        mixedad.gradient(lambda b: np.sum(model.algebra.solve_triangular(np.eye(2), b)), np.ones(2))
    assert Model.accesses == 1


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
@pytest.mark.parametrize("f, what", [(lambda x: (x > 0).astype(int), "an integer"), (lambda x: x > 0, "a bool"),
                                     (lambda x: (x * 2.0, np.count_nonzero(x > 0)), "an integer")],
                         ids=["integer", "bool", "a count beside a float output"])
def test_jacobian_refuses_integer_and_bool_outputs_as_gradient_does(mode, f, what):
    """Found: they gave a Jacobian of zeros, where gradient refuses them."""
    with pytest.raises(mixedad.OutputError, match=rf"jacobian: f returned {what} .*cast that output to float"):
        mixedad.jacobian(f, np.array([1.0, -2.0]), mode=mode)
    np.testing.assert_array_equal(mixedad.jacobian(lambda x: (x > 0).astype(float), np.array([1.0, -2.0]), mode=mode),
                                  np.zeros((2, 2)))


def _rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward", "prepared"])
@pytest.mark.parametrize("sequence", [list, tuple])
def test_a_list_of_numbers_that_f_treats_as_an_array_says_to_pass_an_array(mode, sequence):
    """A list is a tree of scalars (as in JAX and autograd): f's own TypeError gets a note."""
    x = sequence([1.3, 0.7, 0.8])
    with pytest.raises(TypeError) as caught:
        if mode == "prepared":
            mixedad.prepare(_rosenbrock, x)
        else:
            mixedad.gradient(_rosenbrock, x, mode=mode)
    notes = getattr(caught.value, "__notes__", [])
    assert any(f"argument 0 is a {sequence.__name__} of 3 numbers" in note and "np.asarray" in note
               for note in notes), notes
    want = numerical_gradient(_rosenbrock, np.asarray(x))
    np.testing.assert_allclose(mixedad.gradient(_rosenbrock, np.asarray(x)), want, rtol=1e-6)


def _sum_of_squares_of_asarray(nested):
    return np.sum(np.asarray(nested) ** 2)


def test_a_nested_list_that_f_converts_names_the_conversion_and_its_line():
    with pytest.raises(mixedad.NonDifferentiableError) as caught:
        mixedad.gradient(_sum_of_squares_of_asarray, [[1.0, 2.0], [3.0, 4.0]])
    message = str(caught.value)
    assert "np.ndim" not in message and "np.asarray(nested)" in message, message


def test_a_list_of_numbers_that_f_indexes_one_by_one_is_differentiated_as_a_list():
    got = mixedad.gradient(lambda v: v[0] * v[1] ** 2, [2.0, 3.0])
    assert type(got) is list and np.allclose(got, [9.0, 12.0])


def test_if_on_a_traced_array_is_not_vectorizable_and_if_on_a_comparison_fails_as_in_numpy():
    # as docs/getting-started.md says: `if x:` names the line; `if x > 0:` is NumPy's own error on
    # the plain bool array a comparison gives, which the same code raises without mixedad
    x = np.array([0.3, -1.2, 0.8])
    with pytest.raises(mixedad.NotVectorizableError, match=r"truth value of a traced array .* at .*test_error_messages"):
        mixedad.gradient(lambda x: np.sum(x) if x else 0.0, x)

    def branchy(x):
        return np.sum(x) if x > 0 else -np.sum(x)
    with pytest.raises(ValueError) as without_mixedad:
        branchy(x)
    with pytest.raises(ValueError, match=re.escape(str(without_mixedad.value))):
        mixedad.gradient(branchy, x)


LAYOUT_CONVERSIONS = {"ascontiguousarray": lambda v: np.sum(np.ascontiguousarray(v.T) ** 2),
                      "asfortranarray": lambda v: np.sum(np.asfortranarray(v) ** 2),
                      "asanyarray": lambda v: np.sum(np.asanyarray(v) ** 2)}


@pytest.mark.parametrize("name", LAYOUT_CONVERSIONS)
def test_a_layout_conversion_says_to_use_the_value_as_it_is(name):
    x = np.arange(1.0, 7.0).reshape(2, 3)
    with pytest.raises(mixedad.NonDifferentiableError, match=rf"np.{name}\(...\) makes a plain array: "
                       "a differentiated value has no memory layout to change"):
        mixedad.gradient(LAYOUT_CONVERSIONS[name], x)
    with pytest.raises(mixedad.UnsupportedOperationError) as caught:
        mixedad.gradient(lambda v: np.sum(v ** 2) if v.flags.c_contiguous else 0.0, x)
    assert "use x as it is" in str(caught.value) and "ascontiguousarray" not in str(caught.value)
    np.testing.assert_allclose(mixedad.gradient(lambda v: np.sum(v.T ** 2), x),  # the advice, followed
                               numerical_gradient(lambda v: np.sum(v.T ** 2), x), rtol=1e-7)


def test_the_advice_for_differentiated_chebyshev_coefficients_computes_that_series():
    c = np.array([0.5, -1.0, 2.0, 0.25])
    x = np.linspace(-0.9, 0.9, 5)

    def series(c):
        return np.sum(np.polynomial.chebyshev.chebval(x, c) ** 2)

    with pytest.raises(mixedad.NonDifferentiableError) as caught:
        mixedad.gradient(series, c)
    assert "np.polynomial.chebyshev.chebvander(x, len(c) - 1) @ c" in str(caught.value)

    def advised(c):
        return np.sum((np.polynomial.chebyshev.chebvander(x, len(c) - 1) @ c) ** 2)
    np.testing.assert_allclose(advised(c), series(c), rtol=1e-12)
    np.testing.assert_allclose(mixedad.gradient(advised, c), numerical_gradient(series, c), rtol=1e-6)


def test_a_plain_arrays_method_that_converts_is_suspected_but_not_beside_np_array():
    w = np.ones((2, 3))

    def method(x):
        return np.sum(w.dot(x))

    def conversion(x):
        return np.sum(np.concatenate([np.cumsum(x) ** 2, np.array([np.linalg.det(x[:4].reshape(2, 2))])]))

    with pytest.raises(mixedad.NonDifferentiableError) as info:
        mixedad.gradient(method, np.ones(3))
    assert "call the function np.dot(array, ...) instead" in str(info.value)
    with pytest.raises(mixedad.NonDifferentiableError) as info:
        mixedad.gradient(conversion, np.arange(1.0, 7.0))
    assert "np.array on a traced value" in str(info.value) and ".reshape(...)" not in str(info.value)
