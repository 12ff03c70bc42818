"""Findings of an audit of the profiler, each fixed with a test: ops that a library function
makes are reported at the user's line that called it (they were at the library's lines, and the
user's line got no mode and no backward time), and the command line's exit status and messages
for a script that exits while imported, an --argnums past the hook's arguments or not a number,
and a report path in a folder that does not exist."""
from __future__ import annotations

import os
import sysconfig
import types

import numpy as np
import pytest

import mixedad
from mixedad.profiler.cli import main

LIBRARY_SOURCE = "import numpy as np\ndef smooth_loss(y):\n    a = np.tanh(y)\n    return np.sum(a * a)\n"


@pytest.fixture
def library():
    """A module whose code lives where installed packages do (site-packages), as mixedad tells them."""
    module = types.ModuleType("fake_installed_library")
    filename = os.path.join(sysconfig.get_paths()["purelib"], "fake_installed_library.py")
    exec(compile(LIBRARY_SOURCE, filename, "exec"), module.__dict__)  # noqa: S102 (a fixed test module)
    return module


def test_ops_a_library_makes_are_reported_at_the_users_calling_line(library):
    def loss(x):
        y = np.sin(x)
        return library.smooth_loss(y)  # the line that makes tanh, the product and the sum

    first = loss.__code__.co_firstlineno
    report = mixedad.profile(loss, np.linspace(0.0, 1.0, 5))
    entry = report.body[0]
    lines = {(os.path.basename(loc.filename), loc.lineno) for loc in entry.locations}
    assert lines == {(os.path.basename(__file__), first + 1), (os.path.basename(__file__), first + 2)}
    assert "fake_installed_library" not in entry.where
    assert "fake_installed_library" not in report.to_json()
    calling = [line for line in report.lines.functions[0].lines if "smooth_loss" in line.source]
    assert len(calling) == 1 and calling[0].modes and calling[0].backward_seconds > 0
    np.testing.assert_allclose(report.gradient, mixedad.gradient(loss, np.linspace(0.0, 1.0, 5)), rtol=1e-15)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "train.py"
    path.write_text("import numpy as np\ndef loss(x):\n    return np.sum(np.tanh(x))\nARGS = (np.ones(3),)\n")
    return path


@pytest.mark.parametrize("body", ["import sys\nsys.exit(3)\n",
                                  "import argparse\nargparse.ArgumentParser().parse_args(['--unknown'])\n"])
def test_a_script_that_exits_while_imported_gives_status_1_and_says_why(tmp_path, capsys, body):
    path = tmp_path / "exits.py"
    path.write_text(body + "def loss(x):\n    return x\nARGS = (1.0,)\n")
    assert main([f"{path}:loss", "--no-lines"]) == 1
    err = capsys.readouterr().err
    assert f"loading {path}:loss raised" in err and "if __name__ == '__main__'" in err


@pytest.mark.parametrize("argnums", ["1", "0,2", "-2"])
def test_argnums_past_the_hooks_arguments_is_an_invalid_option(script, capsys, argnums):
    assert main([f"{script}:loss", "--no-lines", "--argnums", argnums]) == 2
    err = capsys.readouterr().err
    assert "does not fit the 1 argument(s)" in err and "Traceback" not in err


def test_argnums_that_is_not_a_number_names_the_option(script, capsys):
    with pytest.raises(SystemExit) as exited:
        main([f"{script}:loss", "--argnums", "a"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--argnums: invalid value 'a'" in err and "_argnums" not in err


@pytest.mark.parametrize("option", ["--json", "--html"])
def test_a_report_path_in_a_missing_folder_fails_before_profiling(script, tmp_path, capsys, option):
    path = tmp_path / "missing" / "report.out"
    assert main([f"{script}:loss", "--no-lines", option, str(path)]) == 2
    captured = capsys.readouterr()
    assert f"cannot write {path}" in captured.err and "mixedad profile of" not in captured.out


def test_a_report_that_cannot_be_written_still_prints_the_table(script, tmp_path, capsys):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    assert main([f"{script}:loss", "--no-lines", "--json", str(folder)]) == 1  # a folder, not a file
    captured = capsys.readouterr()
    assert "mixedad profile of loss" in captured.out and "cannot write the report" in captured.err
