"""Worked examples: the seed models, training a conv net on real digits, SciPy optimisers.

- :mod:`mixedad.examples.models`: the MLP and the LeNet-style conv net of the seed
  benchmarks, as functions of parameter dicts.
- :mod:`mixedad.examples.train_digits`: trains the conv net on scikit-learn's 8x8 digits
  (``python -m mixedad.examples.train_digits``; needs the ``examples`` extra).
- :mod:`mixedad.examples.scipy_minimize`: ``scipy.optimize.minimize(..., jac=True)`` driven by
  :func:`mixedad.value_and_gradient` (``python -m mixedad.examples.scipy_minimize``).
- :mod:`mixedad.examples.rosenbrock`: SciPy's ``trust-ncg`` with Hessian-vector products.
"""
