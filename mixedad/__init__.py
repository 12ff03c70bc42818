"""mixedad: automatic differentiation of plain NumPy code, mixing reverse and forward mode.

>>> import numpy as np, mixedad
>>> mixedad.gradient(lambda x: np.sum(np.tanh(x)), np.zeros(3))
array([1., 1., 1.])
"""
import numpy as _np

if int(_np.__version__.split(".")[0]) < 2:  # NEP 50 promotion and the array-API functions the rules follow
    raise ImportError(f"mixedad needs NumPy >= 2.0, and this is NumPy {_np.__version__}: "
                      "pip install --upgrade 'numpy>=2'")
from . import rules as _rules  # noqa: F401  (registers the built-in rules)
from . import nn, optim
from .api import grad, gradient, value_and_grad, value_and_gradient
from .checking import check_grads, check_rule
from .core.errors import (InPlaceMutationError, InputError, MissingRuleError, MixedadError,
                          NonDifferentiableError, NotVectorizableError, OutputError, RuleSignatureError,
                          UnsupportedAttributeError, UnsupportedOperationError, UnsupportedOptionError)
from .core.modes import Decision, Mode, Reason
from .core.primitive import MixedTracesError, Primitive, primitive
from .mapping import map, sum
from .prepared import Prepared, prepare
from .profiler import EntryReport, Report, profile, profiling
from .symbolic import SymbolicTraceError, derive_partials, derived_elementwise
from .transforms import (JacobianChoice, NotDiagonalError, elementwise_gradient, hessian, hvp, jacobian,
                         jvp, vjp)
from .forward import EscapedDualError, ForwardDual

__all__ = [
    "gradient", "value_and_gradient", "grad", "value_and_grad", "jvp", "vjp", "jacobian", "hvp", "hessian",
    "elementwise_gradient", "JacobianChoice", "NotDiagonalError", "ForwardDual", "EscapedDualError", "check_grads", "check_rule", "derive_partials",
    "derived_elementwise", "SymbolicTraceError", "prepare", "Prepared", "map", "sum", "profile", "profiling", "Report", "EntryReport", "primitive", "Primitive", "Mode", "Reason", "Decision",
    "MixedadError", "UnsupportedOperationError", "UnsupportedAttributeError", "UnsupportedOptionError", "NonDifferentiableError", "InPlaceMutationError", "NotVectorizableError",
    "InputError", "MissingRuleError", "MixedTracesError", "OutputError", "RuleSignatureError",
]
__version__ = "0.1.0"
