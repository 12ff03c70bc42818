"""scipy.special ufuncs: one partial derivative per argument, like the NumPy elementwise table.

Loaded on demand (SciPy stays optional): the first time one of these ufuncs meets a traced
value. Partials are written for stability in the tails (``expit``'s as ``out * expit(-x)``,
``log_ndtr``'s through ``erfcx``).

A partial is itself differentiated for second and higher derivatives: it runs on forward
duals then, so it uses only operations with rules (ufuncs, ``np.where``, the primitives
here; never ``scipy.special.polygamma``, which calls ``np.asarray``). Where a closed form
cancels (``boxcox``'s derivative in lambda near lambda = 0, ``dawsn``/``erfcx`` for large x,
``I1(x)/x`` near 0) a series takes over inside ``np.where``, and each branch's input is
guarded so the branch not taken computes on harmless values.

Arguments whose derivative has no elementary form (``gammainc``'s ``a``, ``zeta``'s ``x``)
have no partial; a traced value there raises an error that names the argument.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

from .table import NONZERO, POSITIVE, REALS, UNIT, Domain, elementwise, holds_traced
from ..core.dispatch import register_function
from ..core.errors import UnsupportedOperationError, error_with_location
from ..core.primitive import Primitive
from ..core.region import stands_for_a_plain_array

TWO_OVER_ROOT_PI = 2.0 / math.sqrt(math.pi)
ONE_OVER_ROOT_PI = 1.0 / math.sqrt(math.pi)
ONE_OVER_ROOT_TWO_PI = 1.0 / math.sqrt(2.0 * math.pi)
ROOT_TWO_PI = math.sqrt(2.0 * math.pi)
ROOT_TWO_OVER_PI = math.sqrt(2.0 / math.pi)
ONE_OVER_ROOT_TWO = 1.0 / math.sqrt(2.0)
HALF_ROOT_PI = math.sqrt(math.pi) / 2.0
LN2 = math.log(2.0)
LN10 = math.log(10.0)


def _series(z, coefficients):
    """sum_k coefficients[k] * z**k by Horner's rule (Python-float coefficients keep float32)."""
    result = coefficients[-1]
    for c in coefficients[-2::-1]:
        result = result * z + c
    return result


def _double_factorial(n: int) -> int:
    return math.prod(range(n, 0, -2))


# ------------------------------------------------------------------------------------------
# polygamma(n, x) for an integer constant n: digamma's derivative, and its own derivative is
# polygamma(n + 1, x), so digamma differentiates to any order. scipy.special.polygamma is a
# Python function that calls np.asarray on its arguments, so NumPy never dispatches it to a
# rule: this primitive is what the partials call.
def _polygamma_value(n, x):
    return np.asarray(special.polygamma(n, x)).astype(np.result_type(x, 1.0), copy=False)


polygamma = Primitive(_polygamma_value, name="polygamma", elementwise=True)
polygamma.defpartials(None, lambda n, x: polygamma(n + 1, x))
polygamma.domain = (Domain(0, 3, integer=True), Domain(0.5, 4.0))


# ------------------------------------------------------------------------------------------
# arguments without a partial: a traced value there is refused when the ufunc is called
def _constant_arguments(prim: Primitive, ufunc, function: str, names: tuple, differentiable: str) -> Primitive:
    """Refuse a traced value, at the call, in the arguments whose partial is None."""
    bind = prim.bind_arguments
    constant = [j for j, spec in enumerate(prim.partial_specs) if spec is None]

    def bind_checked(args, kwargs):
        for j in constant:
            if j < len(args) and holds_traced(args[j]) and not stands_for_a_plain_array(args[j]):
                raise error_with_location(
                    UnsupportedOperationError,
                    f"scipy.special.{function}: {names[j]} (argument {j}) is a traced value{{where}}; the "
                    f"derivative with respect to {names[j]} has no closed form, and mixedad differentiates "
                    f"scipy.special.{function} with respect to {differentiable} only. Pass {names[j]} as a "
                    "plain array (not an argument in argnums, and not computed from one).", skip=2)
        return bind(args, kwargs)
    prim.bind_arguments = bind_checked
    register_function(ufunc, prim)
    return prim


# ------------------------------------------------------------------------------------------
# partials written out
def _digamma_partial(x):
    return polygamma(1, x)


I1_OVER_X = tuple(0.5 / (math.factorial(k) * math.factorial(k + 1) * 4.0 ** k) for k in range(10))


def _bessel_i1_over_x(x, out, scaled):
    """I1(x)/x (times e^-|x| if scaled), smooth through 0 (1/2 there): a series for |x| < 1
    (to 1e-17), out / x beyond."""
    small = np.abs(x) < 1.0
    near = np.where(small, x, 0.0)
    series = _series(near * near, I1_OVER_X)
    if scaled:
        series = series * np.exp(-np.abs(near))
    return np.where(small, series, out / np.where(small, 1.0, x))


def _bessel_i1_partial(x, out):
    # I1'(x) = I0(x) - I1(x)/x
    return special.i0(x) - _bessel_i1_over_x(x, out, scaled=False)


def _bessel_i1e_partial(x, out):
    # (e^-|x| I1)' = e^-|x| (I0 - I1/x) - sign(x) e^-|x| I1
    direct = special.i0e(x) - _bessel_i1_over_x(x, out, scaled=True) - np.sign(x) * out
    return _scaled_bessel_slope(x, direct, I1E_LARGE, 1)  # i1e is odd: its slope is even


def _bessel_i0e_partial(x, out):
    return _scaled_bessel_slope(x, special.i1e(x) - np.sign(x) * out, I0E_LARGE, np.sign(x))


def _asymptotic_slope(order: int, terms: int = 10) -> tuple:
    """Coefficients s_k of the slope of e^-x I_order(x) for large x: sum_k s_k (1/x)^k, times
    x^-3/2 / sqrt(2 pi). Its value is sum_k c_k x^-k-1/2 / sqrt(2 pi), c_0 = 1 and c_k =
    -c_(k-1) (4 order^2 - (2k - 1)^2) / (8k) (Abramowitz and Stegun 9.7.1)."""
    c, slopes = 1.0, []
    for k in range(terms):
        if k:
            c *= -(4 * order ** 2 - (2 * k - 1) ** 2) / (8 * k)
        slopes.append(-(k + 0.5) * c)
    return tuple(slopes)


I0E_LARGE, I1E_LARGE = _asymptotic_slope(0), _asymptotic_slope(1)


def _scaled_bessel_slope(x, direct, slopes, sign):
    """d/dx e^-|x| I_n(x): ``direct`` for small |x|, beyond ``sign`` times the asymptotic series
    at |x|. The direct difference of two scaled functions loses 2 |x| eps relative to its size
    (it was 3e-4 off at 1e12 and 30% at 1e15); the series' ten terms are exact to rounding from
    |x| = 100 (the next is 2e-17 of the first there), and to float32's from 20."""
    start = 100.0 if np.dtype(getattr(x, "dtype", np.float64)).itemsize >= 8 else 20.0
    large = np.abs(x) > start
    t = 1 / np.where(large, np.abs(x), start)
    series = _series(t, slopes) * t * np.sqrt(t) * ONE_OVER_ROOT_TWO_PI
    return np.where(large, sign * series, direct)


def _rgamma_partial(x, out):
    # -psi(x)/Gamma(x) for x >= 1/2; below, through the reflection 1/Gamma(x) =
    # Gamma(1-x) sin(pi x)/pi, which stays finite at the poles of psi (x = 0, -1, ...)
    right = x >= 0.5
    xr = np.where(right, x, 1.0)
    xl = np.where(right, 0.0, x)
    left = special.gamma(1.0 - xl) * (np.cos(math.pi * xl) - special.digamma(1.0 - xl) * np.sin(math.pi * xl) / math.pi)
    return np.where(right, -special.rgamma(xr) * special.digamma(xr), left)


# erfcx(x) ~ (1/(x sqrt(pi))) sum (-1)^k (2k-1)!!/(2x^2)^k and dawsn(x) ~ sum (2k-1)!!/(2^(k+1) x^(2k+1))
# for large x, where 2x erfcx(x) - 2/sqrt(pi) and 1 - 2x dawsn(x) cancel. Both derivative
# series, in w = 1/x^2, reach 1e-17 with 15 terms at |x| >= 10.
ASYMPTOTIC = 10.0
ERFCX_TAIL = tuple(-ONE_OVER_ROOT_PI * (-1) ** k * _double_factorial(2 * k + 1) / 2.0 ** k for k in range(15))
DAWSN_TAIL = tuple(-_double_factorial(2 * k + 1) / 2.0 ** (k + 1) for k in range(15))


def _erfcx_partial(x, out):
    large = x >= ASYMPTOTIC
    far = np.where(large, x, ASYMPTOTIC)
    w = 1.0 / (far * far)
    return np.where(large, w * _series(w, ERFCX_TAIL), 2.0 * x * out - TWO_OVER_ROOT_PI)


def _dawsn_partial(x, out):
    large = np.abs(x) >= ASYMPTOTIC
    far = np.where(large, x, ASYMPTOTIC)
    w = 1.0 / (far * far)
    return np.where(large, w * _series(w, DAWSN_TAIL), 1.0 - 2.0 * x * out)


def _huber_partial_delta(delta, r):
    # huber = r^2/2 for |r| <= delta, delta (|r| - delta/2) beyond
    return np.maximum(np.abs(r) - delta, 0.0)


def _pseudo_huber_partials():
    def common(delta, r):
        q = (r / delta) ** 2
        return q, np.sqrt(1.0 + q)

    def partial_delta(delta, r):
        # d/d delta of delta^2 (s - 1), s = sqrt(1 + q): 2 delta (s - 1) - delta q / s, with
        # s - 1 = q / (s + 1): delta q^2 / (s (s + 1)^2), no cancellation for small q
        q, s = common(delta, r)
        return delta * q * q / (s * (s + 1.0) ** 2)

    def partial_r(delta, r):
        return r / common(delta, r)[1]
    return partial_delta, partial_r


# g(y) = (y e^y - expm1(y)) / y^2 = sum_j (j + 1) y^j / (j + 2)!: boxcox's derivative in lambda
# is log(x)^2 g(lambda log x). The series (|y| < 1/2, to 1e-17) replaces the cancelling form.
BOXCOX_G = tuple((j + 1) / math.factorial(j + 2) for j in range(16))


def _boxcox_g(y):
    small = np.abs(y) < 0.5
    near = np.where(small, y, 0.0)
    far = np.where(small, 1.0, y)
    return np.where(small, _series(near, BOXCOX_G), (far * np.exp(far) - np.expm1(far)) / (far * far))


def _boxcox_partial_lambda(x, lmbda):
    log_x = np.log(x)
    return log_x * log_x * _boxcox_g(lmbda * log_x)


def _boxcox1p_partial_lambda(x, lmbda):
    log_x = np.log1p(x)
    return log_x * log_x * _boxcox_g(lmbda * log_x)


# inv_boxcox(y, lambda) = exp(log1p(lambda y) / lambda); its derivative in lambda is
# out * y^2 h(lambda y), h(u) = (u/(1+u) - log1p(u)) / u^2 = sum_k (-1)^(k+1) (k-1)/k u^(k-2)
# (k >= 2), the series for |u| < 0.1 (to 1e-17).
INV_BOXCOX_H = tuple((-1) ** (k + 1) * (k - 1) / k for k in range(2, 20))


def _inv_boxcox_partial_lambda(y, lmbda, out):
    u = lmbda * y
    small = np.abs(u) < 0.1
    near = np.where(small, u, 0.0)
    far = np.where(small, 1.0, u)
    h = np.where(small, _series(near, INV_BOXCOX_H), (far / (1.0 + far) - np.log1p(far)) / (far * far))
    return out * y * y * h


def _gammainc_partial_x(a, x):
    # x^(a-1) e^-x / Gamma(a); xlogy keeps a = 1, x = 0 finite
    return np.exp(special.xlogy(a - 1.0, x) - x - special.gammaln(a))


# ------------------------------------------------------------------------------------------
expit = elementwise(special.expit, lambda x, out: out * special.expit(-x))
log_expit = elementwise(special.log_expit, lambda x: special.expit(-x))
logit = elementwise(special.logit, lambda x: 1 / (x * (1 - x)), domain=Domain(0.1, 0.9))
erf = elementwise(special.erf, lambda x: TWO_OVER_ROOT_PI * np.exp(-x * x))
erfc = elementwise(special.erfc, lambda x: -TWO_OVER_ROOT_PI * np.exp(-x * x))
erfinv = elementwise(special.erfinv, lambda x, out: HALF_ROOT_PI * np.exp(out * out), domain=UNIT)
erfcx = elementwise(special.erfcx, _erfcx_partial, domain=Domain(-2.0, 20.0))
dawsn = elementwise(special.dawsn, _dawsn_partial, domain=Domain(-20.0, 20.0))
ndtr = elementwise(special.ndtr, lambda x: ONE_OVER_ROOT_TWO_PI * np.exp(-0.5 * x * x))
# pdf(x) / ndtr(x) = sqrt(2 / pi) / erfcx(-x / sqrt(2)): exp(-x^2 / 2 - out) cancels in the left tail
log_ndtr = elementwise(special.log_ndtr, lambda x: ROOT_TWO_OVER_PI / special.erfcx(-x * ONE_OVER_ROOT_TWO))
ndtri = elementwise(special.ndtri, lambda p, out: ROOT_TWO_PI * np.exp(0.5 * out * out), domain=Domain(0.02, 0.98))

gammaln = elementwise(special.gammaln, lambda x: special.digamma(x), domain=Domain(0.5, 4.0))
loggamma = elementwise(special.loggamma, lambda x: special.digamma(x), domain=Domain(0.1, 6.0))  # real x > 0
gamma = elementwise(special.gamma, lambda x, out: out * special.digamma(x), domain=Domain(0.5, 4.0))
rgamma = elementwise(special.rgamma, _rgamma_partial, domain=Domain(-3.0, 4.0))
digamma = elementwise(special.digamma, _digamma_partial, domain=Domain(0.5, 4.0))
beta = elementwise(special.beta, lambda a, b, out: out * (special.digamma(a) - special.digamma(a + b)),
                   lambda a, b, out: out * (special.digamma(b) - special.digamma(a + b)), domain=(POSITIVE, POSITIVE))
betaln = elementwise(special.betaln, lambda a, b: special.digamma(a) - special.digamma(a + b),
                     lambda a, b: special.digamma(b) - special.digamma(a + b), domain=(POSITIVE, POSITIVE))
gammainc = _constant_arguments(
    elementwise(special.gammainc, None, _gammainc_partial_x, domain=(Domain(0.5, 4.0), POSITIVE)),
    special.gammainc, "gammainc", ("a", "x"), "x")
gammaincc = _constant_arguments(
    elementwise(special.gammaincc, None, lambda a, x: -_gammainc_partial_x(a, x), domain=(Domain(0.5, 4.0), POSITIVE)),
    special.gammaincc, "gammaincc", ("a", "x"), "x")
# scipy.special.zeta(x, q) is a Python function calling these ufuncs
_hurwitz_zeta = special._ufuncs._zeta
hurwitz_zeta = _constant_arguments(
    elementwise(_hurwitz_zeta, None, lambda x, q: -x * _hurwitz_zeta(x + 1.0, q), name="zeta",
                domain=(Domain(1.5, 4.0), POSITIVE)),
    _hurwitz_zeta, "zeta", ("x", "q"), "q (the Hurwitz zeta function's second argument)")
riemann_zeta = _constant_arguments(
    elementwise(special._ufuncs._riemann_zeta, None, name="zeta", domain=Domain(1.5, 4.0)),
    special._ufuncs._riemann_zeta, "zeta", ("x",), "q (the Hurwitz zeta function's second argument)")

def _ratio_value(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0, x / y)


# x / y, but 0 where x is 0 (at y = 0 too): the partial in y of xlogy, xlog1py, rel_entr and kl_div,
# which are 0 wherever x is, whatever y (a Bernoulli likelihood at a probability of exactly 0 or 1).
# A primitive of its own, so that its derivative in x is 1 / y at x = 0 too, as a np.where is not.
_ratio = Primitive(_ratio_value, name="x / y (0 where x is 0)", elementwise=True)
_ratio.defpartials(lambda x, y: 1 / y, lambda x, y: _ratio(-x, y * y))

xlogy = elementwise(special.xlogy, lambda x, y: np.log(y), _ratio, domain=(REALS, POSITIVE))
xlog1py = elementwise(special.xlog1py, lambda x, y: np.log1p(y), lambda x, y: _ratio(x, 1 + y),
                      domain=(REALS, Domain(-0.5, 3.0)))
entr = elementwise(special.entr, lambda x: -(np.log(x) + 1), domain=POSITIVE)
rel_entr = elementwise(special.rel_entr, lambda x, y: np.log(x) - np.log(y) + 1.0, lambda x, y: -_ratio(x, y),
                       domain=(POSITIVE, POSITIVE))
kl_div = elementwise(special.kl_div, lambda x, y: np.log(x) - np.log(y), lambda x, y: 1.0 - _ratio(x, y),
                     domain=(POSITIVE, POSITIVE))
huber = elementwise(special.huber, _huber_partial_delta, lambda delta, r: np.clip(r, -delta, delta),
                    domain=(POSITIVE, REALS))
pseudo_huber = elementwise(special.pseudo_huber, *_pseudo_huber_partials(), domain=(POSITIVE, REALS))

i0 = elementwise(special.i0, lambda x: special.i1(x))
i1 = elementwise(special.i1, _bessel_i1_partial)
i0e = elementwise(special.i0e, _bessel_i0e_partial, domain=NONZERO)
i1e = elementwise(special.i1e, _bessel_i1e_partial, domain=NONZERO)

expm1 = elementwise(special.expm1, lambda x: np.exp(x))  # not out + 1: that cancels for x < 0
log1p = elementwise(special.log1p, lambda x: 1.0 / (1.0 + x), domain=Domain(-0.9, 3.0))
cbrt = elementwise(special.cbrt, lambda x, out: 1.0 / (3.0 * out * out), domain=NONZERO)
exp2 = elementwise(special.exp2, lambda x, out: out * LN2)
exp10 = elementwise(special.exp10, lambda x, out: out * LN10)

boxcox = elementwise(special.boxcox, lambda x, lmbda: np.power(x, lmbda - 1.0), _boxcox_partial_lambda,
                     domain=(POSITIVE, Domain(-2.0, 2.0)))
boxcox1p = elementwise(special.boxcox1p, lambda x, lmbda: np.exp((lmbda - 1.0) * np.log1p(x)),
                       _boxcox1p_partial_lambda, domain=(Domain(-0.9, 3.0), Domain(-2.0, 2.0)))
inv_boxcox = elementwise(special.inv_boxcox, lambda y, lmbda, out: out / (1.0 + lmbda * y),
                         _inv_boxcox_partial_lambda, domain=(Domain(-1.0, 1.5), Domain(-0.5, 0.5)))
