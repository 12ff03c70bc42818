"""docs/profiling.md runs: its python blocks, in order, as one file example.py (as the page
says), print reports whose entry tables match the documented ones; its command line works."""
import pathlib
import re
import shlex

from mixedad import Mode
from mixedad.profiler import Report
from mixedad.profiler.cli import main, parser

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "profiling.md"
TEXT = DOC.read_text(encoding="utf-8")
PYTHON = re.findall(r"^```python\n(.*?)^```", TEXT, flags=re.S | re.M)
OUTPUTS = re.findall(r"^```text\n(.*?)^```", TEXT, flags=re.S | re.M)
BASH = re.findall(r"^```bash\n(.*?)^```", TEXT, flags=re.S | re.M)
SCRIPT = next(b for b in PYTHON if b.startswith("# train_mlp.py"))
EXAMPLE = [b for b in PYTHON if b is not SCRIPT]


def entry_tables(text: str) -> list[list[tuple[str, str, str]]]:
    """(index, operation, mode) of every row of every entry table in ``text``."""
    tables, rows = [], None
    for line in text.splitlines():
        if re.match(r"^ +# +operation +mode ", line):
            rows = []
            tables.append(rows)
        elif rows is not None and line.strip():
            match = re.match(r"^ +(\d+)  (\S.*?) +(dual|reverse|per-element) ", line)
            if match:
                rows.append(match.groups())
        else:
            rows = None
    return tables


def test_the_page_has_the_promised_examples():
    assert "from mixedad.demo import mlp_loss" in EXAMPLE[0] and "compare=True" in EXAMPLE[0]
    assert any("np.arctan2(x, 2.0)" in b for b in EXAMPLE)
    assert any("mixedad.profiling()" in b for b in EXAMPLE)
    assert "images/profile-mlp.png" in TEXT and (DOC.parent / "images" / "profile-mlp.png").exists()
    documented = [t for block in OUTPUTS for t in entry_tables(block)]
    assert len(documented) == 5 and any(row[2] == "per-element" for row in documented[2])


def test_the_examples_print_the_documented_tables(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    source = "\n".join(EXAMPLE)
    (tmp_path / "example.py").write_text(source)
    namespace = {"__name__": "example", "__file__": str(tmp_path / "example.py")}
    exec(compile(source, str(tmp_path / "example.py"), "exec"), namespace)
    printed = capsys.readouterr().out
    documented = [t for block in OUTPUTS for t in entry_tables(block)]
    assert entry_tables(printed) == documented
    assert (tmp_path / "profile-mlp.html").exists()
    slow, fast = namespace["slow"], namespace["fast"]
    assert not fast.by_mode(Mode.PER_ELEMENT) and slow.by_mode(Mode.PER_ELEMENT)
    assert slow.summary.forward_seconds > 10 * fast.summary.forward_seconds


def test_the_documented_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train_mlp.py").write_text(SCRIPT)
    (command,) = [line for block in BASH for line in block.splitlines() if "train_mlp.py:loss" in line]
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "mixedad.profiler"]
    words = [w if w != "20" else "2" for w in words[3:]]  # fewer repeats: this is not a benchmark
    assert main(words) == 0
    assert "add → tanh" in capsys.readouterr().out
    report = Report.from_json((tmp_path / "profile.json").read_text())
    assert report.comparison.n_entries == 7 and report.n_entries == 4
    assert (tmp_path / "profile.html").read_text().startswith("<!DOCTYPE html>")
    known = {option for action in parser()._actions for option in action.option_strings}
    documented = set(re.findall(r"^\| `(--[a-z-]+)", TEXT, flags=re.M))
    assert len(documented) == 10 and documented <= known  # every documented option exists
