"""``python -m mixedad.profiler TARGET``: profile a function defined in a script or a module.

TARGET is ``path/to/script.py:function`` or ``package.module:function`` (``function`` may be
dotted: ``model.loss``, the method of an object the module makes). The arguments come from a
hook in the same file: ``--args NAME`` names it; by default ``make_args`` (called with no
arguments) and then ``ARGS`` are tried. A hook returns a tuple of positional arguments
(anything else is the single argument). A script is imported under the name
``__mixedad_profile__``, so its ``if __name__ == "__main__":`` block does not run; what follows
``--`` on the command line is its ``sys.argv[1:]``, as for ``python script.py ...``.

Exit status: 0; 1 if importing the script, its hook or the profiled gradient raised (the
traceback is printed, ending at the user's line); 2 if the target or the hook cannot be
found or an option is invalid.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import traceback
from typing import Any, Sequence

from ..core.modes import REQUESTED_MODES
from .session import profile

DEFAULT_HOOKS = ("make_args", "ARGS")
SCRIPT_MODULE = "__mixedad_profile__"


class TargetError(Exception):
    """The target or its argument hook could not be found."""


def load_module(spec: str):
    """Import ``path/to/script.py`` (its folder goes first on sys.path, as for ``python script.py``)
    or an importable module name."""
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        path = os.path.abspath(spec)
        if not os.path.isfile(path):
            raise TargetError(f"no such script: {spec}")
        sys.path.insert(0, os.path.dirname(path))
        module_spec = importlib.util.spec_from_file_location(SCRIPT_MODULE, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[SCRIPT_MODULE] = module
        module_spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(spec)
    except ImportError as error:
        raise TargetError(f"cannot import module {spec!r}: {error}") from error


def _attribute(module, dotted: str, what: str):
    value = module
    for part in dotted.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise TargetError(f"{what} {dotted!r} not found in {getattr(module, '__file__', module.__name__)}") from None
    return value


def resolve(target: str, hook: str | None) -> tuple[Any, tuple]:
    """The function and its positional arguments for ``target`` (``where:function``)."""
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise TargetError(f"target must look like path/to/script.py:function or module:function, got {target!r}")
    module = load_module(where)
    function = _attribute(module, name, "function")
    if not callable(function):
        raise TargetError(f"{name!r} is not callable")
    hooks = (hook,) if hook else DEFAULT_HOOKS
    for candidate in hooks:
        try:
            source = _attribute(module, candidate, "argument hook")
        except TargetError:
            if hook:
                raise
            continue
        args = source() if callable(source) else source
        return function, args if isinstance(args, tuple) else (args,)
    raise TargetError(f"{where} defines neither make_args() nor ARGS: add one returning the "
                      "positional arguments of the function, or name a hook with --args")


def _argnums(text: str) -> int | tuple[int, ...]:
    try:
        numbers = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: give integers, e.g. 0 or 0,1") from None
    if not numbers:
        raise argparse.ArgumentTypeError("argnums needs at least one integer")
    return numbers[0] if len(numbers) == 1 and "," not in text else numbers


def _positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mixedad.profiler",
        description="Profile mixedad.gradient of a function: every tape entry, its mode and why, "
                    "time, memory and source lines.",
        epilog="Example: python -m mixedad.profiler train.py:loss --repeat 5 --compare --html profile.html")
    p.add_argument("target", help="path/to/script.py:function or package.module:function")
    p.add_argument("--args", "--args-from", dest="hook", metavar="NAME",
                   help="hook in the same file giving the arguments: a function called with no "
                        "arguments, or a value (default: make_args, then ARGS); returns a tuple")
    p.add_argument("--argnums", type=_argnums, default=0, help="argument(s) to differentiate, e.g. 0 or 0,1")
    p.add_argument("--mode", choices=REQUESTED_MODES, default="auto")
    p.add_argument("--has-aux", action="store_true", help="the function returns (loss, aux)")
    p.add_argument("--repeat", type=_positive_int, default=1, help="runs to take median times over (default 1)")
    p.add_argument("--compare", action="store_true", help="also run mode='reverse' and report what it needs")
    p.add_argument("--no-lines", action="store_true", help="skip the line-level report (line_profiler)")
    p.add_argument("--json", metavar="PATH", help="write the JSON report (- for standard output)")
    p.add_argument("--html", metavar="PATH", help="write the self-contained HTML report")
    p.add_argument("--quiet", action="store_true", help="do not print the table")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    script_args = argv[argv.index("--") + 1:] if "--" in argv else []
    options = parser().parse_args(argv[:len(argv) - len(script_args) - 1] if "--" in argv else argv)
    script, saved_argv = options.target.rpartition(":")[0], sys.argv
    sys.argv = [script or options.target, *script_args]  # what the script's own argument parsing reads
    try:
        return _run(options)
    finally:
        sys.argv = saved_argv


def _run(options) -> int:
    for path in (options.json, options.html):  # before the profile, not after its minutes of work
        if path and path != "-" and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            print(f"mixedad.profiler: cannot write {path}: no folder {os.path.dirname(os.path.abspath(path))}",
                  file=sys.stderr)
            return 2
    try:
        function, args = resolve(options.target, options.hook)
    except TargetError as error:
        print(f"mixedad.profiler: {error}", file=sys.stderr)
        return 2
    except (Exception, SystemExit) as error:  # the script or its hook raised: its traceback shows the user's line
        traceback.print_exc()
        exited = (" (it exits while imported: put its own main code under if __name__ == '__main__':)"
                  if isinstance(error, SystemExit) else "")
        print(f"mixedad.profiler: loading {options.target} raised (traceback above){exited}", file=sys.stderr)
        return 1
    numbers = options.argnums if isinstance(options.argnums, tuple) else (options.argnums,)
    if any(not -len(args) <= number < len(args) for number in numbers):
        print(f"mixedad.profiler: --argnums {options.argnums} does not fit the {len(args)} argument(s) the hook "
              "gives", file=sys.stderr)
        return 2
    try:
        report = profile(function, *args, argnums=options.argnums, mode=options.mode, has_aux=options.has_aux,
                         repeat=options.repeat, compare=options.compare, lines=not options.no_lines)
    except Exception:
        traceback.print_exc()
        print(f"mixedad.profiler: differentiating {options.target} raised (traceback above)", file=sys.stderr)
        return 1
    if not options.quiet and options.json != "-":
        print(report)
    try:
        if options.json == "-":
            print(report.to_json())
        elif options.json:
            report.to_json(options.json)
        if options.html:
            report.to_html(options.html)
    except OSError as error:
        print(f"mixedad.profiler: cannot write the report: {error}", file=sys.stderr)
        return 1
    return 0
