"""``mixedad.map`` and ``mixedad.sum`` run a scalar function on whole arrays first. A function
that reduces, sorts or stacks inside (``np.sum(np.stack([t, 2 * t]))``) then mixes elements:
on whole arrays it sums everything, not each element's pair. Such a run must not be taken
(it gave silently wrong values and gradients); the function runs element by element, or, where
that path cannot follow it, raises naming the operation. References: a Python loop over the
elements, and float64 central differences (tests/numerical.py)."""
import numpy as np
import pytest

import mixedad
from mixedad.core.modes import Mode
from mixedad.core.errors import NonDifferentiableError

from numerical import numerical_gradient

X = np.array([1.0, -2.0, 3.0, 0.5])


def _reduces_a_stack(t):
    return np.sum(np.stack([t, 2 * t]) ** 2)  # 5 t**2 for one element


def _scales_by_a_stack(t):
    return t * np.sum(np.stack([t, t]))  # 2 t**2, and the right shape on whole arrays too


def _sorts_a_stack(t):
    return np.sort(np.stack([t, 1 - t]))[0]  # min(t, 1 - t)


def _norm_of_a_stack(t):
    return t / np.linalg.norm(np.stack([t, 1 + 0 * t]))


FUNCTIONS = [_reduces_a_stack, _scales_by_a_stack, _sorts_a_stack, _norm_of_a_stack]


@pytest.mark.parametrize("f", FUNCTIONS)
def test_outside_a_differentiation_values_are_those_of_each_element(f):
    x = np.array([0.2, 0.9, 0.4, 1.7])
    per_element = np.array([f(np.float64(t)) for t in x])
    np.testing.assert_allclose(mixedad.map(f, x), per_element, rtol=1e-12)
    np.testing.assert_allclose(mixedad.sum(f, x), np.sum(per_element), rtol=1e-12)
    np.testing.assert_allclose(mixedad.map(f, x.astype(np.float32)), per_element, rtol=1e-6)


@pytest.mark.parametrize("mode", ["auto", "reverse"])
@pytest.mark.parametrize("f", FUNCTIONS)
def test_a_differentiation_raises_naming_the_operation_instead_of_a_wrong_gradient(f, mode):
    with pytest.raises(NonDifferentiableError, match="(stack|sum|sort|norm) inside a per-element scalar function"):
        mixedad.gradient(lambda x: mixedad.sum(f, x), X, mode=mode)


def test_a_stack_written_as_a_list_runs_element_by_element_and_is_right():
    def f(t):
        return np.sum(np.array([t, 2 * t]) ** 2)

    for mode in ("auto", "reverse"):
        np.testing.assert_allclose(mixedad.gradient(lambda x: mixedad.sum(f, x), X, mode=mode),
                                   numerical_gradient(lambda x: np.sum(5 * x ** 2), X), rtol=1e-7)


def test_a_reduction_of_a_closed_over_constant_keeps_the_vectorized_run():
    weights = np.array([0.5, 1.5, 2.0])

    def f(t):
        return np.sin(t) * np.sum(weights) + np.max(weights) * t  # reductions of constants only

    expected = numerical_gradient(lambda x: np.sum(np.sin(x) * 4.0 + 2.0 * x), X)
    np.testing.assert_allclose(mixedad.gradient(lambda x: mixedad.sum(f, x), X), expected, rtol=1e-7)
    report = mixedad.profile(lambda x: mixedad.sum(f, x), X, lines=False)
    assert not report.by_mode(Mode.PER_ELEMENT) and report.by_mode(Mode.DUAL)


def test_a_reduction_of_a_closed_over_differentiated_value_keeps_the_vectorized_run():
    def loss(x, w):
        return mixedad.sum(lambda t: t * np.sum(w ** 2), x)  # w is differentiated, not mapped

    w = np.array([0.3, -0.7])
    gx, gw = mixedad.gradient(loss, X, w, argnums=(0, 1))
    np.testing.assert_allclose(gx, numerical_gradient(lambda x: loss(x, w), X), rtol=1e-7)
    np.testing.assert_allclose(gw, numerical_gradient(lambda w: np.sum(X) * np.sum(w ** 2), w), rtol=1e-7)


def test_a_lazy_argument_is_followed_too():
    def loss(x):
        return mixedad.sum(_scales_by_a_stack, np.sin(x) * 2.0)  # the argument is itself a fused region

    with pytest.raises(NonDifferentiableError, match="stack inside a per-element scalar function"):
        mixedad.gradient(loss, X)


def test_a_single_element_cannot_mix_and_keeps_the_vectorized_run():
    x = np.array(0.7)
    np.testing.assert_allclose(mixedad.gradient(lambda x: mixedad.sum(_reduces_a_stack, x), x),
                               numerical_gradient(lambda x: np.sum(5 * x ** 2), x), rtol=1e-7)


def test_a_result_of_another_shape_runs_element_by_element_which_says_what_f_returned():
    def f(t):
        return t + np.zeros(3)  # three numbers for one element

    with pytest.raises(mixedad.OutputError, match="must return one number per element"):
        mixedad.gradient(lambda x: mixedad.sum(f, x), X.reshape(4, 1))


@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_plain_mapped_arrays_with_a_closed_over_differentiated_value_run_once(mode):
    x = np.array([1.0, 2.0, 3.0])
    calls = []

    def loss(w):
        calls.append(1)
        return np.sum(mixedad.map(lambda t: np.sin(t) * w, x) ** 2)  # x is plain: the probe meets w's trace

    w = np.array([0.5, 1.5, 2.0])
    np.testing.assert_allclose(mixedad.gradient(loss, w, mode=mode),
                               numerical_gradient(lambda w: np.sum((np.sin(x) * w) ** 2), w), rtol=1e-7)
    assert len(calls) == 1  # no second run in forward mode after a clash of the two traces
