"""docs/rules.md runs: every ```python block, in order, in one namespace (so the docs cannot rot)."""
import pathlib
import re

import pytest

import mixedad

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "rules.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def needs_profile(block: str) -> bool:
    return "mixedad.profile" in block


def run_blocks(blocks, namespace):
    for index, block in enumerate(blocks):
        exec(compile(block, f"{DOC}:python-block-{index}", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def doc_namespace():
    return run_blocks([b for b in BLOCKS if not needs_profile(b)], {"__name__": "docs_rules"})


def test_the_doc_has_the_acceptance_example():
    text = "\n".join(BLOCKS)
    assert len(BLOCKS) >= 8
    for snippet in ("def logsumexp", "def softplus", "@derived_elementwise", "check_grads(logsumexp",
                    "check_grads(softplus", "check_grads(gaussian_log_density", "(np.float32, np.float64)"):
        assert snippet in text, snippet


def test_docs_rules_blocks_run(doc_namespace):
    assert isinstance(doc_namespace["logsumexp"], mixedad.Primitive)
    assert doc_namespace["softplus"].elementwise
    assert doc_namespace["gaussian_log_density"].symbolic is not None
    assert "bad_sin" in doc_namespace["message"]


def test_docs_rules_profile_block_shows_softplus_fused(doc_namespace):
    if not hasattr(mixedad, "profile"):
        pytest.skip("mixedad.profile does not exist yet (the lead enables this test)")
    profile_blocks = [b for b in BLOCKS if needs_profile(b)]
    assert profile_blocks
    run_blocks(profile_blocks, dict(doc_namespace))
