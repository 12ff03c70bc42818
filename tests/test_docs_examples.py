"""The Python blocks of the README, the getting-started page and the nn page run as written; so does the
floating-point example of the mode-choice page."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = ["README.md", "docs/getting-started.md", "docs/nn.md"]


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), flags=re.S)


@pytest.mark.parametrize("page", PAGES)
def test_page_python_blocks_run(page):
    blocks = python_blocks(page)
    assert blocks, f"{page} has no python example"
    namespace: dict = {}
    for block in blocks:  # blocks of a page build on each other, as a reader runs them
        exec(compile(block, f"{page} example", "exec"), namespace)


def test_modes_page_floating_point_example_raises_as_it_says(capsys):
    blocks = python_blocks("docs/modes.md")
    example = next(block for block in blocks if "np.errstate" in block)
    exec(compile(example, "docs/modes.md example", "exec"), {})
    assert capsys.readouterr().out.count("divide by zero encountered in log") == 2


def test_modes_page_interactive_examples_print_what_they_show():
    import doctest
    blocks = [block for block in python_blocks("docs/modes.md") if block.startswith(">>>")]
    assert len(blocks) >= 2
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for number, block in enumerate(blocks):
        runner.run(doctest.DocTestParser().get_doctest(block, {}, f"modes.md block {number}", None, 0))
    assert runner.failures == 0 and runner.tries >= 4
