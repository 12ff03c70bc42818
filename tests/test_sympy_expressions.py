"""Random elementwise expression trees: mixedad in every mode vs sympy's exact derivative."""
import numpy as np
import sympy
from hypothesis import given, settings, strategies as st

import mixedad

X, Y = sympy.symbols("x y", real=True)

# (arity, numpy function, sympy function): chosen to stay finite on the sampled inputs
UNARY = [
    (np.sin, sympy.sin), (np.cos, sympy.cos), (np.tanh, sympy.tanh), (np.arctan, sympy.atan),
    (lambda a: np.exp(np.sin(a)), lambda a: sympy.exp(sympy.sin(a))),
    (lambda a: np.log1p(a * a), lambda a: sympy.log(1 + a * a)),
    (lambda a: np.sqrt(1.0 + a * a), lambda a: sympy.sqrt(1 + a * a)),
    (np.square, lambda a: a ** 2), (np.negative, lambda a: -a),
    (lambda a: np.arctan2(a, 2.0), lambda a: sympy.atan2(a, 2)),
    (np.sinh, sympy.sinh), (lambda a: a ** 3, lambda a: a ** 3),
    (lambda a: np.logaddexp(a, 0.5), lambda a: sympy.log(sympy.exp(a) + sympy.exp(sympy.Rational(1, 2)))),
]
BINARY = [
    (np.add, lambda a, b: a + b), (np.subtract, lambda a, b: a - b), (np.multiply, lambda a, b: a * b),
    (lambda a, b: a / (1.5 + np.cos(b)), lambda a, b: a / (sympy.Rational(3, 2) + sympy.cos(b))),
    (np.hypot, lambda a, b: sympy.sqrt(a ** 2 + b ** 2)),
    (lambda a, b: a * 0.5 + b * 2.0, lambda a, b: a / 2 + 2 * b),
]


def expressions():
    leaves = st.sampled_from([(lambda x, y: x, X), (lambda x, y: y, Y), (lambda x, y: 0.7, sympy.Float(0.7))])

    def extend(children):
        unary = st.tuples(st.sampled_from(UNARY), children).map(
            lambda t: ((lambda x, y, f=t[0][0], c=t[1][0]: f(c(x, y))), t[0][1](t[1][1])))
        binary = st.tuples(st.sampled_from(BINARY), children, children).map(
            lambda t: ((lambda x, y, f=t[0][0], a=t[1][0], b=t[2][0]: f(a(x, y), b(x, y))),
                       t[0][1](t[1][1], t[2][1])))
        return unary | binary
    return st.recursive(leaves, extend, max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(expression=expressions(), seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float64, np.float32]))
def test_random_expression_gradients_match_sympy(expression, seed, dtype):
    numpy_fn, sympy_expr = expression
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, size=(3, 4)).astype(dtype)
    y = rng.uniform(-1.5, 1.5, size=(4,)).astype(dtype)  # broadcast against x
    dx = sympy.lambdify((X, Y), sympy.diff(sympy_expr, X), "numpy")
    dy = sympy.lambdify((X, Y), sympy.diff(sympy_expr, Y), "numpy")
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    want_x = np.broadcast_to(dx(x64, y64), x.shape)
    want_y = np.sum(np.broadcast_to(dy(x64, y64), x.shape), axis=0)

    def loss(x, y):
        return np.sum(numpy_fn(x, y) + 0.0 * x)

    tolerance = dict(rtol=2e-3, atol=2e-3) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)
    for mode in ("auto", "reverse", "forward"):
        gx, gy = mixedad.gradient(loss, x, y, argnums=(0, 1), mode=mode)
        assert gx.dtype == dtype and gy.dtype == dtype
        np.testing.assert_allclose(gx, want_x, **tolerance, err_msg=f"{sympy_expr} d/dx ({mode})")
        np.testing.assert_allclose(gy, want_y, **tolerance, err_msg=f"{sympy_expr} d/dy ({mode})")
