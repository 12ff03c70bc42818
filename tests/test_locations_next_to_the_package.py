"""User files whose path starts like the package's folder are the user's, not mixedad's."""
import os

import numpy as np
import pytest

import mixedad

PACKAGE_DIR = os.path.dirname(os.path.abspath(mixedad.__file__))
SOURCE = "import numpy as np\ndef loss(x):\n    return np.sum(np.asarray(x) * 2.0) + np.sum(np.sin(x) ** 2)\n"


@pytest.mark.parametrize("filename", [PACKAGE_DIR + "_scratch.py",
                                      os.path.join(PACKAGE_DIR + "-experiments", "train.py")])
def test_a_file_beside_the_package_is_named_as_the_users(filename):
    namespace = {}
    exec(compile(SOURCE, filename, "exec"), namespace)  # no file is written: the code object names it
    with pytest.raises(mixedad.NonDifferentiableError) as error:
        mixedad.gradient(namespace["loss"], np.ones(3))
    assert f"{filename}:3" in str(error.value)
    traced_only = "import numpy as np\ndef loss(x):\n    return np.sum(np.sin(x) ** 2)\n"
    exec(compile(traced_only, filename, "exec"), namespace)
    report = mixedad.profile(namespace["loss"], np.ones(3), lines=False)
    assert any(entry.where and entry.where.endswith(f"{os.path.basename(filename)}:3") for entry in report.entries)
