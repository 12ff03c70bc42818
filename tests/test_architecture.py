"""Imports point one way: the core never imports the rule tables or the outer layers."""
import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "mixedad"
OUTER = ("mixedad.rules", "mixedad.api", "mixedad.mapping", "mixedad.scalar_duals", "mixedad.profiler", "mixedad.nn",
         "mixedad.checking", "mixedad.symbolic", "mixedad.prepared", "mixedad.transforms", "mixedad.forward",
         "mixedad.optim", "mixedad.examples", "mixedad.demo")


def imported_modules(path: pathlib.Path, package: str):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.module


def test_core_imports_only_core():
    for path in (PACKAGE / "core").glob("*.py"):
        for module in imported_modules(path, "mixedad.core"):
            assert not module.startswith(OUTER) and module != "mixedad", f"{path.name} imports {module}"


def test_rules_do_not_import_outer_layers():
    for path in (PACKAGE / "rules").glob("*.py"):
        for module in imported_modules(path, "mixedad.rules"):
            assert not module.startswith(OUTER[1:]), f"rules/{path.name} imports {module}"


def test_modules_stay_small():
    for path in PACKAGE.rglob("*.py"):
        assert len(path.read_text().splitlines()) < 650, f"{path} wants a split"
