"""The rule tables: what mixedad knows about NumPy, declared through the Primitive API.

Importing this package registers every rule. Modules are flat tables grouped by kind.
"""
from . import compositions, decompositions, elementwise, linalg, reductions, shape  # noqa: F401  (registration happens on import)
