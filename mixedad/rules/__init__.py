"""The rule tables: what mixedad knows about NumPy, declared through the Primitive API.

Importing this package registers every rule. Modules are flat tables grouped by kind; the
scipy.special table loads on demand, so SciPy stays optional.
"""
import sys

from . import (assignment, complex_decompositions, complex_functions, complex_linalg, complex_signal,  # noqa: F401
               complex_values, compositions, cumulative, decompositions, determinants, eigen_general, elementwise,
               fft, gathers, in_place, linalg, masked_reductions, metadata, padding, reductions, shape, signal,
               statistics, ufunc_methods, utilities)  # registration happens on import
from ..core.dispatch import ON_DEMAND_RULES

complex_values.route_complex_constants()  # wraps the real rules of products and joins


def _load_special_rules(function) -> None:
    special = sys.modules.get("scipy.special")
    name = getattr(function, "__name__", "")
    # scipy.special.zeta calls the private ufunc _zeta: look in the module of ufuncs too
    if special is not None and function in (getattr(special, name, None), getattr(special._ufuncs, name, None)):
        from . import special as _special  # noqa: F401  (registers on import)
        ON_DEMAND_RULES.remove(_load_special_rules)


ON_DEMAND_RULES.append(_load_special_rules)
