"""The examples: seed models' gradients, SciPy minimisation driven by value_and_gradient."""
import doctest
import importlib

import numpy as np
import pytest

import mixedad
from mixedad.checking import check_grads
from mixedad.core.pytree import flatten
from mixedad.examples import models

pytest.importorskip("scipy")


def _seed(model_name, batch, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    params = models.mlp_params(rng, dtype=dtype) if model_name == "mlp" else models.lenet_params(rng, dtype=dtype)
    return getattr(models, model_name), params, models.seed_batch(rng, batch).astype(dtype)


@pytest.mark.parametrize("model_name", ["mlp", "lenet"])
def test_seed_models_give_float32_gradients_for_every_parameter(model_name):
    model, params, images = _seed(model_name, 128)
    assert images.shape == (128, 1, 28, 28) and images.dtype == np.float32
    loss = models.sum_of_squares(model)
    grads = {mode: mixedad.gradient(loss, params, images, mode=mode) for mode in ("auto", "reverse")}
    param_leaves, grad_leaves = flatten(params)[0], flatten(grads["auto"])[0]
    assert len(grad_leaves) == len(param_leaves) == (4 if model_name == "mlp" else 10)
    for p, g, r in zip(param_leaves, grad_leaves, flatten(grads["reverse"])[0]):
        assert g.shape == p.shape and g.dtype == np.float32 and np.any(g != 0)
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4 * float(np.max(np.abs(r))))


@pytest.mark.parametrize("model_name", ["mlp", "lenet"])
def test_seed_model_gradients_match_finite_differences(model_name):
    model, params, images = _seed(model_name, 3, seed=1, dtype=np.float64)
    check_grads(models.sum_of_squares(model), params, images, argnums=0, modes=("rev",), eps=1e-6)  # steps that cross no relu or pool kink


def test_lenet_gradient_matches_pytorch():
    torch = pytest.importorskip("torch")
    model, params, images = _seed("lenet", 4, seed=2, dtype=np.float64)
    grads = mixedad.gradient(models.sum_of_squares(model), params, images)
    t = {name: {k: torch.tensor(v, requires_grad=True) for k, v in layer.items()} for name, layer in params.items()}
    functional = torch.nn.functional
    h = torch.tensor(images)
    for name in ("conv1", "conv2"):
        h = functional.max_pool2d(torch.relu(functional.conv2d(h, t[name]["weight"], t[name]["bias"])), 2)
    h = h.flatten(1)
    for name in ("fc1", "fc2"):
        h = torch.relu(h @ t[name]["weight"] + t[name]["bias"])
    torch.sum((h @ t["fc3"]["weight"] + t["fc3"]["bias"]) ** 2).backward()
    for name, layer in params.items():
        for key in layer:
            np.testing.assert_allclose(grads[name][key], t[name][key].grad.numpy(), rtol=1e-9, atol=1e-9)


def test_lenet_for_small_images():
    rng = np.random.default_rng(3)
    params = models.lenet_params(rng, image_size=8, kernel_size=3, padding=1)
    assert params["fc1"]["weight"].shape == (64, 120)
    assert models.lenet(params, np.zeros((5, 1, 8, 8), np.float32), padding=1).shape == (5, 10)
    with pytest.raises(ValueError, match="too small"):
        models.lenet_params(rng, image_size=8)


def test_scipy_minimize_with_value_and_gradient():
    from scipy.optimize import rosen, rosen_der
    from mixedad.examples import scipy_minimize as example
    x = np.random.default_rng(4).standard_normal(7)
    value, grad = example.with_gradient(example.rosenbrock)(x)
    assert isinstance(value, float) and value == pytest.approx(rosen(x), rel=1e-12)
    np.testing.assert_allclose(grad, rosen_der(x), rtol=1e-12)
    result = example.minimize_rosenbrock(10)
    assert result.success
    np.testing.assert_allclose(result.x, 1.0, atol=1e-6)


def test_scipy_fits_a_logistic_regression():
    from mixedad.examples import scipy_minimize as example
    x, y, weights, bias = example.logistic_regression_data(n=400)
    params, result = example.fit_logistic_regression(x, y, l2=0.0)
    assert result.success
    # at the maximum-likelihood estimate the score equations hold: X^T (p - y) = 0, sum(p - y) = 0
    p = 1 / (1 + np.exp(-(x @ params["weights"] + params["bias"])))
    np.testing.assert_allclose(x.T @ (p - y) / len(y), 0.0, atol=1e-4)
    assert abs(np.mean(p - y)) < 1e-4
    assert np.all(np.sign(params["weights"]) == np.sign(weights))


def test_scipy_example_runs_as_a_script(capsys):
    from mixedad.examples import scipy_minimize as example
    example.main()
    assert "Rosenbrock" in capsys.readouterr().out


@pytest.mark.parametrize("module", ["models", "scipy_minimize", "train_digits"])
def test_docstring_examples_run(module):
    imported = importlib.import_module(f"mixedad.examples.{module}")
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    for test in finder.find(imported):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_the_quickstart_demo_prints_gradients_that_match_the_exact_ones(capsys):
    from mixedad import demo

    demo.main()
    printed = capsys.readouterr().out
    lines = printed.splitlines()

    def numbers_after(prefix: str) -> np.ndarray:
        line = next(line for line in lines if line.strip().startswith(prefix))
        return np.array(line.rsplit("[", 1)[1].rstrip("]").split(), dtype=float)

    np.testing.assert_allclose(numbers_after("gradient: dtype float32"), numbers_after("exact 2/(x^2+4)"), rtol=1e-6)
    np.testing.assert_allclose(numbers_after("gradient at"), numbers_after("exact 2t or cos(t)"), rtol=1e-7)
    for name in ("arctan_loss", "mlp_loss", "branchy_sum"):
        assert f"mixedad profile of {name} (demo.py:" in printed
    assert "linear reduction consumed the dual region" in printed and "per-element" in printed
    assert "docs/profiling.md" in printed
