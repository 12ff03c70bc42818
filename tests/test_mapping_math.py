"""``math`` inside ``mixedad.map`` / ``mixedad.sum``: a math function passed itself as f, math
reached through helpers, closures and defaults, the piecewise-constant and boolean math functions,
and scipy.special ufuncs in a function run element by element. Every gradient is checked against
central differences in float64 of the plain scalar function (no derivative is taken from mixedad)."""
import functools
import math
import subprocess
import sys
import textwrap
import warnings
from math import exp as imported_exp

import numpy as np
import pytest

import mixedad
from numerical import numerical_gradient

X = np.array([0.35, 0.8, 1.3])


def plain_sum(f, *constants):
    """sum(f(v)) over the elements, in Python floats: the reference mixedad is measured against."""
    return lambda x: math.fsum(f(float(v), *constants) for v in np.ravel(x))


def check_sum(f, x=X, rtol=1e-6, atol=1e-8):
    """mixedad's gradient of sum(map(f, x)) against central differences of the plain function."""
    expected = numerical_gradient(plain_sum(f), x)
    value, grad = mixedad.value_and_gradient(lambda v: np.sum(mixedad.map(f, v)), x)
    np.testing.assert_allclose(grad, expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(value, plain_sum(f)(x), rtol=1e-12)
    return grad


def check_float32(f, x=X):
    x32 = x.astype(np.float32)
    mapped = mixedad.map(f, x32)
    assert mapped.dtype == np.float32
    grad = mixedad.gradient(lambda v: np.sum(mixedad.map(f, v)), x32)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, numerical_gradient(plain_sum(f), x), rtol=2e-3, atol=2e-4)


# --- 1. a math function passed itself as f ----------------------------------------------
UNARY = {  # name: points inside its domain
    "sin": X, "cos": X, "tan": X, "asin": X - 0.5, "acos": X - 0.5, "atan": X, "sinh": X, "cosh": X,
    "tanh": X, "asinh": X, "acosh": X + 1.0, "atanh": X - 0.5, "exp": X, "expm1": X, "exp2": X,
    "log1p": X, "log2": X, "log10": X, "sqrt": X, "cbrt": X, "fabs": X - 0.6, "degrees": X,
    "radians": X, "log": X, "floor": X + 0.25, "ceil": X + 0.25, "trunc": X - 0.6,
}
BINARY = {  # name: (points, second argument)
    "atan2": (X, 0.7), "hypot": (X, 0.7), "pow": (X, 2.5), "copysign": (X, -1.0), "fmod": (X, 0.6),
    "log": (X, 3.0),
}
SPECIAL = {"erf": X, "erfc": X, "gamma": X + 0.5, "lgamma": X + 0.5}
BOOLEAN = ("isfinite", "isnan", "isinf")


def available(name):
    if not hasattr(math, name):
        pytest.skip(f"math.{name} is newer than this Python")
    if name in SPECIAL:
        pytest.importorskip("scipy")
    return getattr(math, name)


@pytest.mark.parametrize("name", [*UNARY, *SPECIAL])
def test_math_function_passed_as_f(name):
    function = available(name)
    x = {**UNARY, **SPECIAL}[name]
    check_sum(function, x)
    np.testing.assert_allclose(mixedad.map(function, x), [function(float(v)) for v in x], rtol=1e-12)
    grad = mixedad.gradient(lambda v: mixedad.sum(function, v), x)  # mixedad.sum too
    np.testing.assert_allclose(grad, numerical_gradient(plain_sum(function), x), rtol=1e-6, atol=1e-8)
    check_float32(function, x)


@pytest.mark.parametrize("name", BINARY)
def test_binary_math_function_passed_as_f(name):
    function = available(name)
    x, constant = BINARY[name]
    grad = mixedad.gradient(lambda v: np.sum(mixedad.map(function, v, constant)), x)
    np.testing.assert_allclose(grad, numerical_gradient(plain_sum(function, constant), x), rtol=1e-6, atol=1e-8)
    y = np.full_like(x, 1.7)  # the second argument differentiated
    grad = mixedad.gradient(lambda w: np.sum(mixedad.map(function, x, w)), y)
    expected = numerical_gradient(lambda w: math.fsum(function(float(a), float(b)) for a, b in zip(x, w)), y)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", BOOLEAN)
def test_boolean_math_function_passed_as_f(name):
    function = getattr(math, name)
    x = np.array([0.5, np.inf, np.nan, -2.0])
    np.testing.assert_array_equal(mixedad.map(function, x), [function(v) for v in x])
    seen = []
    mixedad.gradient(lambda v: seen.append(mixedad.map(function, v)) or np.sum(v), x)
    np.testing.assert_array_equal(seen[0], [function(v) for v in x])


def test_math_function_as_f_runs_vectorized_so_forward_modes_work():
    hessian = mixedad.hessian(lambda v: mixedad.sum(math.sin, v), X)
    expected = numerical_gradient(lambda v: np.sum(np.cos(v)), X)  # diagonal: d/dx of the gradient
    np.testing.assert_allclose(np.diag(hessian), expected, rtol=1e-6)
    _, tangent = mixedad.jvp(lambda v: mixedad.map(math.exp, v), (X,), (np.ones_like(X),))
    np.testing.assert_allclose(tangent, numerical_gradient(plain_sum(math.exp), X), rtol=1e-6)


def test_isclose_passed_as_f_is_a_value():
    x = np.array([1.0, 1.0 + 1e-12, 2.0])
    np.testing.assert_array_equal(mixedad.map(math.isclose, x, 1.0), [True, True, False])


@pytest.mark.parametrize("name", [*UNARY, *SPECIAL])
def test_every_math_function_element_by_element(name):
    available(name)
    x = {**UNARY, **SPECIAL}[name]

    def branching(t):  # branches: runs element by element, where math is the dual-aware module
        return getattr(math, name)(t) if t > -10.0 else t
    check_sum(branching, x)
    check_float32(branching, x)


# --- 2. math reached through helpers, closures, defaults --------------------------------
def twice_exp(t):
    return math.exp(t) * 2


def calls_twice_exp(t):
    return twice_exp(t) + math.sin(t)


def recursive_sines(t, n):
    return t if n == 0 else math.sin(recursive_sines(t, n - 1))


def even(t, n):
    return t if n <= 0 else odd(t, n - 1)


def odd(t, n):
    return math.exp(0.5 * even(t, n - 1))


def helper_with_float(t):
    assert isinstance(1.5, float) and np.zeros(1, dtype=float).dtype == np.float64
    return float(t) * math.cos(t) + float("0.5")


def imports_inside(t):
    import math as m
    from math import log1p
    return m.sin(t) + log1p(t) if t > 0 else t


class Scaler:
    def __init__(self, scale):
        self.scale = scale

    def apply(self, t):
        return self.scale * math.tanh(t)


class Branching:
    def __call__(self, t):
        return math.log1p(t) * self.weight() if t > 0 else t

    def weight(self):
        return 2.0


def make_closure():
    fn = math.sin

    def inner(t):
        return fn(t) * 3.0

    def outer(t):
        return inner(t) + fn(t) if t > 0 else t
    return outer


def with_default(t, fn=math.atan, *, gn=math.exp):
    return fn(t) + gn(t) if t > 0 else t


def apply_bound(method):
    return lambda t: method(t) if t > 0 else t


@pytest.mark.parametrize("name, f", [
    ("module helper", lambda t: twice_exp(t) if t > 0 else t),
    ("helper of a helper", lambda t: calls_twice_exp(t) if t > 0 else -t),
    ("recursion", lambda t: recursive_sines(t, 3) if t > 0 else t),
    ("mutual recursion", lambda t: even(t, 4) if t > 0 else t),
    ("float() and isinstance in a helper", lambda t: helper_with_float(t) if t > 0 else t),
    ("import inside f", imports_inside),
    ("from math import at module level", lambda t: imported_exp(t) if t > 0 else t),
    ("closure variable", make_closure()),
    ("default arguments", with_default),
    ("bound method in a closure", apply_bound(Scaler(2.0).apply)),
    ("partial of a math function", apply_bound(functools.partial(math.pow, 1.5))),
    ("partial of a helper", apply_bound(functools.partial(recursive_sines, n=2))),
    ("instance with __call__", Branching()),
    ("partial as f", functools.partial(with_default, fn=math.asinh)),
])
def test_math_through_names(name, f):
    check_sum(f)
    check_float32(f)


def test_helpers_without_math_are_left_alone():
    calls = []

    def counted(t):
        calls.append(1)
        return t

    mixedad.gradient(lambda v: mixedad.sum(lambda t: counted(t) * math.exp(t) if t > 0 else t, v), X)
    assert len(calls) == len(X)


OPS = {"s": math.sin}


@pytest.mark.parametrize("f, name, hint", [
    (lambda t: OPS["s"](t) if t > 0 else t, "math.sin", "np.sin"),
    (lambda t: Scaler(2.0).apply(t) if t > 0 else t, "math.tanh", "np.tanh"),  # method reached as an attribute
    (lambda t: [math.erf, math.expm1][1](t) if t > 0 else t, None, None),  # built inside f: rewritten, works
    (lambda t: math.remainder(t, 1.0) if t > 0 else t, "math.remainder", "np"),
    (lambda t: math.fsum([t, t]) if t > 0 else t, "math.fsum", "np"),
])
def test_math_that_cannot_be_rewritten_is_named(f, name, hint):
    if name is None:
        check_sum(f)
        return
    with pytest.raises(mixedad.NonDifferentiableError) as caught:
        mixedad.gradient(lambda v: mixedad.sum(f, v), X)
    message = str(caught.value)
    assert name in message and hint in message and "test_mapping_math.py" in message


CALLS_OF_COUNTED_EXP = 0


def counted_exp(t):
    global CALLS_OF_COUNTED_EXP
    CALLS_OF_COUNTED_EXP += 1
    return math.exp(t)


def test_a_function_assigning_globals_is_not_rebuilt_so_its_writes_are_kept():
    # a rebuilt function runs in a copy of its module's namespace: the count would be lost silently
    before = CALLS_OF_COUNTED_EXP
    with pytest.raises(mixedad.NonDifferentiableError, match="(?s)math.exp.*assigns module globals.*np.exp"):
        mixedad.gradient(lambda v: mixedad.sum(lambda t: counted_exp(t) if t > 0 else t, v), X)
    assert CALLS_OF_COUNTED_EXP > before


def test_dual_converted_to_float_elsewhere_is_an_error_not_a_zero():
    with pytest.raises(mixedad.NonDifferentiableError, match="converted to float"):
        mixedad.gradient(lambda v: mixedad.sum(lambda t: np.float64(t) if t > 0 else t, v), X)


# --- 3. piecewise-constant and boolean math functions --------------------------------------
def uses_floor(t):
    whole = math.floor(t)
    assert type(whole) is int and len(range(whole + 1)) == whole + 1  # usable as Python's int
    return t - whole if t > 0 else t


@pytest.mark.parametrize("f", [
    uses_floor,
    lambda t: math.ceil(t) * t if t > 0 else t,
    lambda t: t * t * math.trunc(3 * t) if t > 0 else t,
    lambda t: round(t * 2) * t + round(t, 1) if t > 0 else t,
    lambda t: t * t if math.isfinite(t) and not math.isnan(t) and not math.isinf(t) else 0.0,
    lambda t: math.copysign(t * t, t - 1.0) if t > 0 else t,  # the sign argument: its value only
    lambda t: math.copysign(2.0, t - 1.0) * t if t > 0 else t,
    lambda t: math.fabs(t - 1.0) * t if t > 0 else t,
    lambda t: math.fmod(3 * t, 0.7) if t > 0 else t,
    lambda t: math.fmod(2.9, t) if t > 0 else t,
])
def test_piecewise_constant_and_boolean_math(f):
    check_sum(f, X + 0.01)
    check_float32(f, X + 0.01)


def test_value_only_math_returns_python_types():
    seen = []

    def record(t):
        seen.append((math.floor(t), math.ceil(t), math.trunc(t), math.isfinite(t), math.isnan(t), math.isinf(t)))
        return t if t > 0 else -t
    mixedad.gradient(lambda v: mixedad.sum(record, v), np.array([1.5]))
    assert seen[-1] == (1, 2, 1, True, False, False)
    assert [type(value) for value in seen[-1]] == [int, int, int, bool, bool, bool]


def test_nan_and_inf_branches():
    x = np.array([0.5, np.nan, np.inf, 2.0])
    grad = mixedad.gradient(lambda v: mixedad.sum(lambda t: 0.0 if math.isnan(t) or math.isinf(t) else t * t, v), x)
    np.testing.assert_allclose(grad[[0, 3]], numerical_gradient(plain_sum(lambda t: t * t), x[[0, 3]]), rtol=1e-6)
    np.testing.assert_array_equal(grad[[1, 2]], 0.0)


# --- 4. scipy.special element by element ---------------------------------------------------
@pytest.mark.parametrize("name, x", [("expit", X - 0.6), ("erf", X), ("gammaln", X + 0.3), ("log_ndtr", X)])
def test_scipy_special_in_a_branching_function(name, x):
    special = pytest.importorskip("scipy.special")
    function = getattr(special, name)

    def f(t):
        return function(t) * t if t > -10.0 else t
    check_sum(f, x)
    check_float32(f, x)


def test_scipy_special_rules_load_on_demand_element_by_element():
    pytest.importorskip("scipy")
    program = textwrap.dedent("""
        import sys
        import numpy as np
        import scipy.special
        import mixedad
        assert "mixedad.rules.special" not in sys.modules
        grad = mixedad.gradient(lambda v: mixedad.sum(lambda t: scipy.special.expit(t) if t > 0 else t, v),
                                np.array([0.5, -1.0]))
        print(repr(grad.tolist()))
    """)
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    grad = eval(result.stdout)
    expit = lambda t: 1.0 / (1.0 + math.exp(-t))  # noqa: E731
    expected = numerical_gradient(plain_sum(lambda t: expit(t) if t > 0 else t), np.array([0.5, -1.0]))
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


def test_scipy_ufunc_without_a_rule_is_named_by_its_module():
    special = pytest.importorskip("scipy.special")
    from mixedad.core.dispatch import UFUNC_HANDLERS
    import mixedad.rules.special  # noqa: F401  (the table, so that a ufunc without a rule can be picked)
    candidates = [special.ellipk, special.ellipkm1, special.ellipe, special.k0, special.y0, special.j0]
    ufunc = next((u for u in candidates if u not in UFUNC_HANDLERS), None)
    if ufunc is None:
        pytest.skip("every candidate has a rule now")
    with pytest.raises(mixedad.NonDifferentiableError) as caught:
        mixedad.gradient(lambda v: mixedad.sum(lambda t: ufunc(t) if t > 0 else t, v), X)
    message = str(caught.value)
    assert f"scipy.special.{ufunc.__name__}" in message and "numpy." not in message
    assert "test_mapping_math.py" in message


def test_floor_division_modulo_and_divmod_of_scalar_duals():
    def f(t):
        quotient, remainder = divmod(t, 0.7)
        if t > 0:
            return (t // 0.3) * t + remainder ** 2 + 2.5 % (t + 3) + quotient
        return 5.0 // (t - 2) + t % 0.4 + divmod(1.5, t - 2)[1]
    x = np.array([0.35, 1.23, -0.41, 2.05])  # away from the jumps
    check_sum(f, x)
    check_float32(f, x)


def test_math_with_a_plain_array_argument_runs_per_element():
    # math.atan2 on the plain first argument raises "only 0-dimensional arrays can be converted"
    def angle(t, u):
        return math.atan2(t, u * u + 1.0)
    c, x = np.array([0.3, -0.8, 1.2]), np.array([0.5, 0.1, -0.4])
    loss = lambda x: np.sum(mixedad.map(angle, c, x) ** 2)
    np.testing.assert_allclose(mixedad.gradient(loss, x), numerical_gradient(loss, x), rtol=1e-7)
    np.testing.assert_allclose(mixedad.map(angle, c, x), np.arctan2(c, x * x + 1.0), rtol=1e-15)


def test_math_on_a_0d_array_keeps_its_dtype_as_a_ufunc_does():
    for dtype in (np.float32, np.float64):
        result = mixedad.map(lambda t: math.sin(t), np.array(0.5, dtype))
        assert type(result) is dtype and result == np.sin(np.array(0.5, dtype))


def test_lists_are_taken_as_numpy_takes_them():
    # a plain list went to f whole (f then failed), or to np.result_type as a dtype specification
    np.testing.assert_array_equal(mixedad.map(lambda u: u * u, [1.0, 2.0]), [1.0, 4.0])
    assert mixedad.sum(lambda u: u if u > 1 else -u, [1.0, 2.0]) == 1.0

    def f(x):  # branching: element by element, with a list of numbers and one of traced values
        return np.sum(mixedad.map(lambda u, v: u * v if v > 1 else u, [x[0], x[1] ** 2], [1.0, 3.0]))
    x = np.array([0.5, 2.0])
    np.testing.assert_allclose(mixedad.gradient(f, x), [1.0, 3.0 * 2 * x[1]])


@pytest.mark.parametrize("bounds", [(0.0, 4.0), (None, 4.0), (0.0, None)])
def test_clip_element_by_element_splits_ties_at_bounds_as_the_vectorized_clip(bounds):
    """A branching function runs element by element; its np.clip must give the derivative the
    whole-array np.clip gives (0.5 where the input equals a bound, as maximum and minimum)."""
    low, high = bounds
    x = np.array([0.0, 4.0, -1.0, 2.0, 5.0])
    branching = lambda t: np.clip(t, low, high) if t < 100 else t
    whole = mixedad.gradient(lambda x: np.sum(np.clip(x, low, high)), x)
    value, grad = mixedad.value_and_gradient(lambda x: mixedad.sum(branching, x), x)
    assert value == np.sum(np.clip(x, low, high))
    np.testing.assert_array_equal(grad, whole)
    inside = np.array([-1.0, 2.0, 5.0])  # away from the bounds: finite differences hold
    np.testing.assert_allclose(mixedad.gradient(lambda x: mixedad.sum(branching, x), inside),
                               numerical_gradient(lambda x: np.sum(np.clip(x, low, high)), inside), atol=1e-8)


@pytest.mark.parametrize("f", [
    lambda t: np.sinc(math.sin(t)),
    lambda t: np.i0(t) if t > 0 else t,
    lambda t: np.round(t * 3) * t if t > 0 else math.exp(t),
    lambda t: np.fix(t * 3) + math.cos(t) + np.around(t, 1),
], ids=["sinc", "i0", "round", "fix and around"])
def test_elementwise_numpy_functions_that_are_not_ufuncs_run_on_scalar_duals(f):
    # math.* or a branch sends f element by element; np.sinc and np.i0 then take their rules from
    # the elementwise table, np.round and np.fix give their values (derivative 0)
    x = np.array([0.3, -0.7, 1.4])
    loss = lambda v: mixedad.sum(f, v)  # noqa: E731
    np.testing.assert_allclose(mixedad.gradient(loss, x), numerical_gradient(loss, x), rtol=1e-7, atol=1e-9)
    _, derivative = mixedad.jvp(loss, (x,), (np.array([1.0, -2.0, 0.5]),))
    np.testing.assert_allclose(derivative, numerical_gradient(loss, x) @ [1.0, -2.0, 0.5], rtol=1e-7)
    # second order: np.i0's partial is a primitive of its own (I1), applied to nested scalar duals
    expected = np.array([numerical_gradient(lambda v: mixedad.gradient(loss, v)[i], x) for i in range(3)])
    np.testing.assert_allclose(mixedad.hessian(loss, x), expected, rtol=1e-6, atol=1e-8)


@mixedad.primitive(elementwise=True)
def _cube(t):
    return t ** 3


_cube.defpartials(lambda t: 3 * t * t)


def test_a_users_elementwise_primitive_runs_on_scalar_duals_with_its_partials():
    def f(t):
        return _cube(t) * math.cos(t) if t > 0 else _cube(t)
    x = np.array([0.3, -0.7, 1.4])
    loss = lambda v: mixedad.sum(f, v)  # noqa: E731
    np.testing.assert_allclose(mixedad.gradient(loss, x), numerical_gradient(loss, x), rtol=1e-7)
    expected = np.array([numerical_gradient(lambda v: mixedad.gradient(loss, v)[i], x) for i in range(3)])
    np.testing.assert_allclose(mixedad.hessian(loss, x), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
@pytest.mark.parametrize("function, error", [(math.log, ValueError), (math.sqrt, ValueError),
                                             (math.exp, OverflowError)])
def test_an_uncaught_math_error_reaches_the_caller_as_python_raises_it(mode, function, error):
    """The per-element run raises what Python's math raises, not the vectorized attempt's
    error it began from (that said to use mixedad.sum, which the caller already does)."""
    x = np.array([0.5, -1.0 if function is not math.exp else 1000.0, 2.0])
    with warnings.catch_warnings(), pytest.raises(error, match="math (domain|range) error"):
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's, from the value the ufunc computes
        mixedad.gradient(lambda v: mixedad.sum(lambda t: function(t), v), x, mode=mode)


def test_item_of_an_element_keeps_its_derivative():
    """``t.item()`` on the element a scalar function receives (a NumPy scalar when NumPy calls it)."""
    def f(t):
        return t.item() * np.exp(t) if t > 0 else -t

    x = X - 0.5
    expected = numerical_gradient(lambda v: sum(f(np.float64(e)) for e in v), x)
    for mode in ("auto", "reverse", "forward"):
        np.testing.assert_allclose(mixedad.gradient(lambda v: mixedad.sum(f, v), x, mode=mode), expected,
                                   rtol=1e-6, atol=1e-8)
