"""mixedad.optim: SGD and Adam minimise quadratics over pytrees, step by the documented formulas."""
import doctest

import numpy as np
import pytest

import mixedad
import mixedad.optim as optim
from mixedad.optim import SGD, Adam


def _quadratic(seed=0, n=4):
    """0.5 x^T A x - b^T x with A symmetric positive definite, split over a dict pytree."""
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    a = q @ np.diag(np.linspace(1.0, 4.0, n)) @ q.T
    b = rng.standard_normal(n)

    def loss(params):
        x = np.concatenate([params["first"], params["rest"]["tail"]])
        return 0.5 * x @ (a @ x) - b @ x
    return loss, np.linalg.solve(a, b)


def _minimise(optimizer, loss, steps, dtype=np.float64):
    params = {"first": np.zeros(1, dtype), "rest": {"tail": np.zeros(3, dtype)}}
    for _ in range(steps):
        params = optimizer.step(params, mixedad.gradient(loss, params))
    return params


@pytest.mark.parametrize("optimizer, steps", [
    (optim.SGD(learning_rate=0.2), 300),
    (optim.SGD(learning_rate=0.05, momentum=0.9), 300),
    (optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True), 300),
    (optim.Adam(learning_rate=0.05), 1500),
], ids=["sgd", "momentum", "nesterov", "adam"])
def test_optimizers_minimise_a_quadratic(optimizer, steps):
    loss, solution = _quadratic()
    params = _minimise(optimizer, loss, steps)
    found = np.concatenate([params["first"], params["rest"]["tail"]])
    np.testing.assert_allclose(found, solution, atol=1e-4)


@pytest.mark.parametrize("optimizer", [optim.SGD(0.1, momentum=0.5), optim.Adam(0.01)], ids=["sgd", "adam"])
def test_float32_parameters_stay_float32(optimizer):
    loss, solution = _quadratic(seed=1)
    params = _minimise(optimizer, lambda p: loss(p).astype(np.float32), 5, dtype=np.float32)
    assert params["first"].dtype == np.float32 and params["rest"]["tail"].dtype == np.float32


@pytest.mark.parametrize("make", [lambda: SGD(0.1), lambda: SGD(0.1, momentum=0.9), lambda: Adam(0.1)],
                         ids=["sgd", "momentum", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_0d_array_parameter_stays_a_0d_array(make, dtype):
    """NumPy's arithmetic on 0-d arrays gives scalars, which refuse ``p[...] = value``."""
    params = {"w": np.array(0.5, dtype), "b": np.zeros(2, dtype)}
    for _ in range(2):
        params = make().step(params, {"w": np.array(1.0, dtype), "b": np.ones(2, dtype)})
        assert type(params["w"]) is np.ndarray and params["w"].shape == () and params["w"].dtype == dtype
    params["w"][...] = 0.0  # writeable, as the parameter was


def test_sgd_momentum_follows_its_formula():
    optimizer = optim.SGD(learning_rate=0.1, momentum=0.5)
    p0 = np.array([1.0, 2.0])
    g1, g2 = np.array([1.0, -1.0]), np.array([0.5, 2.0])
    p1 = optimizer.step(p0, g1)
    p2 = optimizer.step(p1, g2)
    np.testing.assert_allclose(p1, p0 - 0.1 * g1)
    np.testing.assert_allclose(p2, p1 - 0.1 * (0.5 * g1 + g2))
    np.testing.assert_array_equal(p0, [1.0, 2.0])  # the caller's arrays are never changed
    nesterov = optim.SGD(learning_rate=0.1, momentum=0.5, nesterov=True)
    q1 = nesterov.step(p0, g1)
    np.testing.assert_allclose(q1, p0 - 0.1 * (g1 + 0.5 * g1))
    decayed = optim.SGD(learning_rate=0.1, weight_decay=0.5).step(p0, np.zeros(2))
    np.testing.assert_allclose(decayed, p0 * (1 - 0.1 * 0.5))


def test_adam_follows_its_formula():
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.01
    optimizer = optim.Adam(learning_rate=lr, beta1=b1, beta2=b2, eps=eps)
    rng = np.random.default_rng(2)
    p = rng.standard_normal(5)
    m = v = np.zeros(5)
    for t in range(1, 4):
        g = rng.standard_normal(5)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        want = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        p = optimizer.step(p, g)
        np.testing.assert_allclose(p, want, rtol=1e-12)
    assert optimizer.steps == 3


def test_adam_first_step_has_the_learning_rate_as_size():
    p = optim.Adam(learning_rate=0.1).step([np.zeros(3)], [np.array([1e-3, -3.0, 2e4])])
    np.testing.assert_allclose(p[0], [-0.1, 0.1, -0.1], rtol=1e-4)


def test_mismatched_trees_and_reset():
    optimizer = optim.Adam()
    optimizer.step({"a": np.zeros(2)}, {"a": np.ones(2)})
    with pytest.raises(ValueError, match="reset"):
        optimizer.step({"a": np.zeros(2), "b": np.zeros(1)}, {"a": np.ones(2), "b": np.ones(1)})
    with pytest.raises(ValueError, match="structure"):
        optimizer.step({"a": np.zeros(2)}, {"a": np.ones(2), "b": np.ones(1)})
    with pytest.raises(ValueError, match="shape"):
        optimizer.step({"a": np.zeros(2)}, {"a": np.ones(3)})
    optimizer.reset()
    assert optimizer.steps == 0
    optimizer.step({"a": np.zeros(2), "b": np.zeros(1)}, {"a": np.ones(2), "b": np.ones(1)})
    with pytest.raises(ValueError):
        optim.SGD(learning_rate=0.1, nesterov=True)
    with pytest.raises(ValueError):
        optim.Adam(beta1=1.0)


def test_docstring_examples_run():
    runner = doctest.DocTestRunner()
    for item in (optim, optim.SGD, optim.Adam):
        assert ">>>" in item.__doc__
        runner.run(doctest.DocTestParser().get_doctest(item.__doc__, {}, item.__name__, None, 0))
    assert runner.summarize(verbose=False).failed == 0


def test_gradients_are_paired_with_parameters_by_key_not_by_order():
    params = {"a": np.array([3.0]), "b": np.array([1.0])}
    grads = {"b": np.array([0.0]), "a": np.array([6.0])}  # the same tree, keys in another order
    updated = SGD(learning_rate=1.0).step(params, grads)
    np.testing.assert_allclose(updated["a"], params["a"] - grads["a"])
    np.testing.assert_allclose(updated["b"], params["b"] - grads["b"])


@pytest.mark.parametrize("make", [lambda: Adam(0.1), lambda: SGD(0.1, momentum=0.9)], ids=["Adam", "SGD momentum"])
def test_state_follows_each_parameter_by_key_when_a_dict_lists_them_in_another_order(make):
    params = {"a": np.zeros(2), "b": np.zeros(2)}
    grads = {"a": np.array([1.0, 2.0]), "b": np.array([-100.0, -50.0])}
    reference = make()
    expected = reference.step(reference.step(params, grads), grads)
    optimizer = make()
    once = optimizer.step(params, grads)
    twice = optimizer.step({"b": once["b"], "a": once["a"]}, {"b": grads["b"], "a": grads["a"]})
    for key in params:
        np.testing.assert_allclose(twice[key], expected[key], rtol=1e-12)
    thrice = optimizer.step(twice, grads)  # and back in the first order
    expected = reference.step(expected, grads)
    for key in params:
        np.testing.assert_allclose(thrice[key], expected[key], rtol=1e-12)


def test_state_made_for_other_keys_raises():
    optimizer = SGD(0.1, momentum=0.9)
    optimizer.step({"encoder": np.zeros(2)}, {"encoder": np.ones(2)})
    with pytest.raises(ValueError, match="keys, shapes or dtypes.*reset"):
        optimizer.step({"decoder": np.zeros(2)}, {"decoder": np.zeros(2)})


@pytest.mark.parametrize("params, grads", [
    ({"a": np.ones(2)}, {"b": np.ones(2)}),
    ([np.ones(2), np.ones(2)], [np.ones(2)]),
    ({"a": [np.ones(2)]}, {"a": np.ones(2)}),
])
def test_gradients_of_another_structure_raise(params, grads):
    with pytest.raises(ValueError, match="structure"):
        SGD(learning_rate=0.1).step(params, grads)


@pytest.mark.parametrize("make", [lambda: Adam(0.1), lambda: SGD(0.1, momentum=0.9)])
@pytest.mark.parametrize("later", [np.ones(1), np.ones(3, np.float32)])
def test_state_made_for_other_parameters_raises_instead_of_broadcasting(make, later):
    optimizer = make()
    optimizer.step(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="reset"):
        optimizer.step(later, np.ones_like(later))
    optimizer.reset()
    assert optimizer.step(later, np.ones_like(later)).dtype == later.dtype


@pytest.mark.parametrize("make", [lambda: Adam(0.1), lambda: SGD(0.1, momentum=0.9)], ids=["Adam", "SGD momentum"])
def test_a_step_that_raises_leaves_the_state_as_it_was(make):
    params = {"a": np.ones(2), "b": np.ones(2)}
    grads = {"a": np.full(2, 0.5), "b": np.full(2, -0.25)}
    optimizer = make()
    with pytest.raises(ValueError, match="shape \\(3,\\)"):
        optimizer.step(params, {"a": np.ones(2), "b": np.ones(3)})
    first = optimizer.step(params, grads)
    fresh = make().step(params, grads)
    for key in params:
        np.testing.assert_array_equal(first[key], fresh[key])


def test_bad_hyperparameters_integer_parameters_and_missing_gradients_are_refused():
    with pytest.raises(ValueError, match="learning_rate"):
        SGD(float("nan"))
    with pytest.raises(ValueError, match="learning_rate"):
        Adam(float("nan"))
    with pytest.raises(ValueError, match="dtype int"):
        SGD(0.1).step({"a": np.ones(2, int)}, {"a": np.full(2, 0.4)})
    with pytest.raises(ValueError, match="None for a parameter"):
        SGD(0.1).step({"a": np.ones(2)}, {"a": None})


@pytest.mark.parametrize("make", [lambda: Adam(0.1), lambda: SGD(0.1, momentum=0.9), lambda: SGD(0.1)],
                         ids=["Adam", "SGD momentum", "SGD"])
@pytest.mark.parametrize("complex_grad, path", [
    (np.array([1j, 2.0]), r"params\['rest'\]\['tail'\]"),  # a complex array, even with one real entry
    (np.complex64(1 + 1j), r"params\['rest'\]\['tail'\]"),  # a complex scalar
    (np.array([0j, 0j]), r"params\['rest'\]\['tail'\]"),  # complex dtype, zero imaginary part: still refused
])
def test_a_complex_gradient_for_a_real_parameter_raises_and_leaves_the_state(make, complex_grad, path):
    """NumPy's cast would drop the imaginary part with only a ComplexWarning; the step refuses it,
    names the parameter and what to do, and a later step is that of an optimizer that never saw it."""
    params = {"first": np.ones(1), "rest": {"tail": np.ones(2)}}
    grads = {"first": np.full(1, 0.5), "rest": {"tail": np.full(2, -0.25)}}
    optimizer, fresh = make(), make()
    params_after = optimizer.step(params, grads)
    fresh.step(params, grads)
    bad = {"first": np.full(1, 0.5), "rest": {"tail": np.broadcast_to(complex_grad, (2,))}}
    with pytest.raises(TypeError, match=f"{path} is complex.*np.real"):
        optimizer.step(params_after, bad)
    assert optimizer.steps == 1
    got, want = optimizer.step(params_after, grads), fresh.step(params_after, grads)
    np.testing.assert_array_equal(got["first"], want["first"])
    np.testing.assert_array_equal(got["rest"]["tail"], want["rest"]["tail"])


def test_a_complex_gradient_for_a_single_array_names_params():
    with pytest.raises(TypeError, match=r"gradient for params is complex \(complex128\)"):
        SGD(0.1).step(np.zeros(2), np.array([1j, 2j]))
    with pytest.raises(TypeError, match=r"params\[1\]"):
        SGD(0.1).step([np.zeros(2), np.zeros(1)], [np.zeros(2), [1j]])
