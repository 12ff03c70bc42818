"""scipy.special ufuncs: one partial derivative per argument, like the NumPy elementwise table.

Loaded on demand (SciPy stays optional): the first time one of these ufuncs meets a traced
value. Partials are written for stability in the tails (``expit``'s as ``out * expit(-x)``,
``log_ndtr``'s through ``exp(-x^2/2 - out)``).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

from .table import POSITIVE, REALS, UNIT, Domain, elementwise

TWO_OVER_ROOT_PI = 2.0 / math.sqrt(math.pi)
ONE_OVER_ROOT_TWO_PI = 1.0 / math.sqrt(2.0 * math.pi)
HALF_ROOT_PI = math.sqrt(math.pi) / 2.0


def _bessel_i1_partial(x, out):
    # I1'(x) = I0(x) - I1(x)/x, with the limit 1/2 at 0
    safe = np.where(x == 0, 1, x)
    return np.where(x == 0, 0.5, special.i0(x) - out / safe)


def _digamma_partial(x):
    return special.polygamma(1, x).astype(np.result_type(x, 1.0), copy=False)


expit = elementwise(special.expit, lambda x, out: out * special.expit(-x))
log_expit = elementwise(special.log_expit, lambda x: special.expit(-x))
logit = elementwise(special.logit, lambda x: 1 / (x * (1 - x)), domain=Domain(0.1, 0.9))
erf = elementwise(special.erf, lambda x: TWO_OVER_ROOT_PI * np.exp(-x * x))
erfc = elementwise(special.erfc, lambda x: -TWO_OVER_ROOT_PI * np.exp(-x * x))
erfinv = elementwise(special.erfinv, lambda x, out: HALF_ROOT_PI * np.exp(out * out), domain=UNIT)
ndtr = elementwise(special.ndtr, lambda x: ONE_OVER_ROOT_TWO_PI * np.exp(-0.5 * x * x))
log_ndtr = elementwise(special.log_ndtr, lambda x, out: ONE_OVER_ROOT_TWO_PI * np.exp(-0.5 * x * x - out))
gammaln = elementwise(special.gammaln, lambda x: special.digamma(x), domain=Domain(0.5, 4.0))
gamma = elementwise(special.gamma, lambda x, out: out * special.digamma(x), domain=Domain(0.5, 4.0))
digamma = elementwise(special.digamma, _digamma_partial, domain=Domain(0.5, 4.0))
xlogy = elementwise(special.xlogy, lambda x, y: np.log(y), lambda x, y: x / y, domain=(REALS, POSITIVE))
xlog1py = elementwise(special.xlog1py, lambda x, y: np.log1p(y), lambda x, y: x / (1 + y),
                      domain=(REALS, Domain(-0.5, 3.0)))
entr = elementwise(special.entr, lambda x: -(np.log(x) + 1), domain=POSITIVE)
i0 = elementwise(special.i0, lambda x: special.i1(x))
i1 = elementwise(special.i1, _bessel_i1_partial)
