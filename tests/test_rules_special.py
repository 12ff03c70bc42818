"""scipy.special ufuncs: loaded on demand, checked like the NumPy elementwise table."""
import numpy as np
import pytest

scipy_special = pytest.importorskip("scipy.special")

import mixedad

from numerical import numerical_gradients

CASES = ["expit", "log_expit", "logit", "erf", "erfc", "erfinv", "ndtr", "log_ndtr", "gammaln", "gamma",
         "digamma", "xlogy", "xlog1py", "entr", "i0", "i1"]


def table():
    import mixedad.rules.special as special_rules  # noqa: F401
    return special_rules


def sample(rng, domain, shape):
    values = rng.uniform(domain.low, domain.high, size=shape)
    return values


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("mode", ["auto", "reverse", "forward"])
def test_special_rule_matches_finite_differences(name, mode):
    prim = getattr(table(), name)
    rng = np.random.default_rng(abs(hash(name)) % 2**16)
    args = [sample(rng, prim.domain[j], (3, 2)) for j in range(len(prim.partial_specs))]
    positions = tuple(range(len(args)))
    loss = lambda *a: np.sum(prim.fn(*a) * np.arange(1.0, 7.0).reshape(3, 2))
    got = mixedad.gradient(loss, *args, argnums=positions, mode=mode)
    for g, want in zip(got, numerical_gradients(loss, args, positions)):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("name", CASES)
def test_special_rule_keeps_float32(name):
    prim = getattr(table(), name)
    rng = np.random.default_rng(0)
    args = [sample(rng, prim.domain[j], (4,)).astype(np.float32) for j in range(len(prim.partial_specs))]
    grads = mixedad.gradient(lambda *a: np.sum(prim.fn(*a)), *args, argnums=tuple(range(len(args))))
    assert all(g.dtype == np.float32 for g in grads)


def test_called_through_scipy_special_in_user_code():
    x = np.array([-30.0, -1.0, 0.5, 30.0])
    g = mixedad.gradient(lambda x: np.sum(scipy_special.expit(x)), x)
    expected = scipy_special.expit(x) * scipy_special.expit(-x)
    np.testing.assert_allclose(g, expected, rtol=1e-12)
    assert g[0] > 0 and g[-1] > 0  # the tails do not collapse to 0
