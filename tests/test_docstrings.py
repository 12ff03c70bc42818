"""Every docstring example in the package runs and prints what it shows."""
import doctest
import importlib
import pkgutil

import pytest

import mixedad

MODULES = sorted(info.name for info in pkgutil.walk_packages(mixedad.__path__, "mixedad.")
                 if not info.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_public_functions_have_examples():
    undocumented = [name for name in mixedad.__all__
                    if callable(getattr(mixedad, name)) and not isinstance(getattr(mixedad, name), type)
                    and ">>>" not in (getattr(mixedad, name).__doc__ or "")]
    assert not undocumented, f"public functions without a docstring example: {undocumented}"
