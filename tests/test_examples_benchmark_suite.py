"""The benchmark suite runs with or without its peers and keeps one table layout."""
import json
import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # benchmarks/ lives at the top
from benchmarks import cases, peers, suite  # noqa: E402


def _blocked_peers(monkeypatch):
    for module in ("autograd", "torch", "jax"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError, as on a fresh machine


def test_suite_without_peers_skips_them_with_a_note(monkeypatch, tmp_path, capsys):
    _blocked_peers(monkeypatch)
    json_path, markdown_path = tmp_path / "out.json", tmp_path / "out.md"
    rows = suite.main(["--quick", "--budget", "0.01", "--cases", "sum(sin), 1000",
                       "--json", str(json_path), "--markdown", str(markdown_path)])
    assert [r["case"] for r in rows] == ["sum(sin), 1000"]
    results = rows[0]["results"]
    assert results["mixedad-auto"]["status"] == results["mixedad-reverse"]["status"] == "ok"
    for peer in ("autograd", "torch", "jax", "jax-jit"):
        assert results[peer]["status"] == "not installed"
    table = markdown_path.read_text()
    header = "| case | NumPy primal | mixedad auto | mixedad reverse | autograd | PyTorch | JAX | JAX jit |"
    assert header in table and "| sum(sin), 1000 |" in table and "| – | – | – | – |" in table
    assert "PyTorch: PyTorch not installed" in table
    data = json.loads(json_path.read_text())
    assert data["rows"][0]["results"]["mixedad-auto"]["ratio"] > 0
    assert "GRADIENT MISMATCH" not in capsys.readouterr().out


def test_every_case_has_the_same_gradient_in_both_mixedad_modes():
    columns = peers.frameworks(include_peers=False)
    for case in cases.all_cases(np.random.default_rng(1)):
        if "loop" in case.name or "LeNet" in case.name:
            continue  # covered by the example tests; slow to run twice here
        grads = [peers.tree_leaves_like(case.params, c.callables(case.function, case.params, case.constants)[1]())
                 for c in columns]
        assert suite._relative_error(grads[1], grads[0]) <= suite.RTOL[case.dtype], case.name


def test_a_wrong_gradient_is_reported_loudly(monkeypatch, capsys):
    _blocked_peers(monkeypatch)

    class Wrong(peers.Framework):
        name, label = "wrong", "wrong"

        def callables(self, f, params, constants):
            primal = lambda: f(peers.NumpyOps, params, *constants)  # noqa: E731
            return primal, lambda: params * 2.0  # not the gradient of sum(sin(x))
    columns = peers.frameworks(include_peers=False) + [Wrong()]
    case = next(c for c in cases.all_cases(np.random.default_rng(2)) if c.name == "sum(sin), 1000")
    messages = []
    row = suite.measure_case(case, columns, quick=True, budget=0.01, log=messages.append)
    assert row["results"]["wrong"]["mismatch"] and any("GRADIENT MISMATCH" in m for m in messages)
    assert "✗" in suite.markdown([row], columns)


def test_straight_line_block_has_400_multiplies_and_no_loop():
    import inspect
    code = cases.straight_line_product.__code__
    assert code.co_filename == "<straight-line block>"
    assert inspect.getsource(cases._straight_line_block).count("for ") == 0  # the code is repeated, not looped
    x = np.array([0.9, 0.99])
    assert cases.straight_line_product(np, x) == pytest.approx(0.9 * 0.99 ** 400, rel=1e-12)
    grad = peers.Mixedad("auto").callables(cases.straight_line_product, x, ())[1]()
    np.testing.assert_allclose(grad, [0.99 ** 400, 400 * 0.9 * 0.99 ** 399], rtol=1e-12)
