"""How a rule's author may write its result, and what is refused: found by a survey of rule
authoring. Each case was a silently wrong derivative in some transform (a zero forward
derivative, a cotangent broadcast to the wrong shape), checked here against central
differences in every transform."""
import numpy as np
import pytest

import mixedad
from mixedad.core.errors import MissingRuleError
from numerical import numerical_gradient

X = np.array([0.5, -1.0, 2.0])


def _every_transform(f, x):
    """gradient (three modes), jvp, forward and reverse jacobian and hessian of the scalar f
    against central differences."""
    expected = numerical_gradient(f, x)
    for mode in ("auto", "reverse", "forward"):
        np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), expected, rtol=1e-6)
    direction = np.array([0.3, -0.7, 1.1])
    np.testing.assert_allclose(mixedad.jvp(f, (x,), (direction,))[1], expected @ direction, rtol=1e-6)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(mixedad.jacobian(f, x, mode=mode), expected, rtol=1e-6)
    hessian = np.array([numerical_gradient(lambda v: mixedad.gradient(f, v)[i], x) for i in range(x.size)])
    np.testing.assert_allclose(mixedad.hessian(f, x), hessian, rtol=1e-5, atol=1e-8)


def test_reverse_rule_returning_a_one_tuple():
    @mixedad.primitive
    def cube_sum(x):
        return np.sum(x ** 3)
    cube_sum.defvjp(lambda g, out, x: (3.0 * g * x ** 2,))  # JAX's convention: a tuple of cotangents
    _every_transform(cube_sum, X)


def test_reverse_rule_returning_a_one_list_for_an_elementwise_body():
    @mixedad.primitive
    def scaled(x):
        return 2.0 * x
    scaled.defvjp(lambda g, out, x: [2.0 * g])
    _every_transform(lambda x: np.sum(scaled(x) * x), X)


def test_forward_rule_returning_a_one_tuple():
    @mixedad.primitive
    def cube_sum(x):
        return np.sum(x ** 3)
    cube_sum.defjvp(lambda t, out, x: (np.sum(3.0 * x ** 2 * t),))
    _every_transform(cube_sum, X)


def test_joint_rule_must_give_a_cotangent_per_positional_argument_in_forward_mode_too():
    @mixedad.primitive
    def power_sum(x, n):  # n is an int the author did not declare non-differentiable
        return np.sum(x ** n)
    power_sum.defvjp(lambda g, out, x, n: g * n * x ** (n - 1))
    for transform in (lambda: mixedad.gradient(lambda x: power_sum(x, 3), X),
                      lambda: mixedad.jvp(lambda x: power_sum(x, 3), (X,), (np.ones(3),)),
                      lambda: mixedad.jacobian(lambda x: power_sum(x, 3), X, mode="forward")):
        with pytest.raises(MissingRuleError, match="tuple of 2 cotangents.*returned an array"):
            transform()


def test_a_cotangent_of_the_wrong_shape_is_refused_in_forward_mode_too():
    @mixedad.primitive
    def sum_of_squares(x):
        return np.sum(x ** 2)
    sum_of_squares.defvjp(lambda g, out, x: (2.0 * g * x)[:, None])  # (3, 1) for a (3,) argument
    with pytest.raises(ValueError, match=r"\(3, 1\)"):
        mixedad.gradient(sum_of_squares, X)
    with pytest.raises(ValueError, match=r"\(3, 1\)"):  # as the rule returns, in either direction
        mixedad.jvp(sum_of_squares, (X,), (np.array([1.0, 0.0, 0.0]),))


def test_an_unreduced_cotangent_still_works_in_forward_mode():
    @mixedad.primitive
    def add_row(x, row):
        return x + row
    add_row.defvjp(lambda g, out, x, row: g, lambda g, out, x, row: g)  # row's cotangent left unreduced
    x, row = np.arange(6.0).reshape(2, 3), np.array([0.1, 0.2, 0.3])
    f = lambda row: np.sum(add_row(x, row) ** 2)
    direction = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(mixedad.jvp(f, (row,), (direction,))[1],
                               numerical_gradient(f, row) @ direction, rtol=1e-6)


@pytest.mark.parametrize("pack", [lambda x: {"x": x}, lambda x: [x, x], lambda x: (x, 2.0)])
def test_a_differentiated_value_inside_a_container_argument_is_refused(pack):
    # the rule, which exists because the body's own derivative is unstable, would be skipped
    @mixedad.primitive
    def first_softplus(packed):
        first = packed["x"] if isinstance(packed, dict) else packed[0]
        return np.log1p(np.exp(first))
    first_softplus.defvjp(lambda g, out, packed: None)
    with pytest.raises(mixedad.InputError, match="argument 0 of first_softplus is a .* holding a differentiated"):
        mixedad.gradient(lambda x: np.sum(first_softplus(pack(x))), X)
    assert np.allclose(first_softplus(pack(X)), np.log1p(np.exp(X)))  # plain values still work
