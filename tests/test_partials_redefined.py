"""A primitive whose partials are declared again after it was differentiated: every mode uses
the new ones, including what the tape keeps for them (which arguments they read), which
mixedad remembers per primitive."""
import numpy as np
import pytest

import mixedad


@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_partials_declared_again_take_effect(mode):
    scaled = mixedad.primitive(lambda x, y: x * y, elementwise=True, name="scaled_for_redefinition")
    scaled.defpartials(lambda x, y: np.ones_like(x), lambda x, y: np.ones_like(y))  # wrong on purpose, reads x
    x, y = np.array([1.0, 2.0, 3.0]), np.array([0.5, -2.0, 4.0])

    def f(x):
        return np.sum(scaled(x, y) * 1.5)

    first = mixedad.gradient(f, x, mode=mode)
    np.testing.assert_allclose(first, 1.5 * np.ones(3))  # the partials declared, right or not
    scaled.defpartials(lambda x, y: y, lambda x, y: x)  # now right, and reading y
    np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), 1.5 * y)
    step = 1e-6
    differences = [(f(x + step * e) - f(x - step * e)) / (2 * step) for e in np.eye(3)]
    np.testing.assert_allclose(mixedad.gradient(f, x, mode=mode), differences, rtol=1e-7)
