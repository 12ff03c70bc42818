"""The performance benchmark (issue 7) produces every row and verdict, on tiny inputs, with or without peers."""
import json
import pathlib
import sys
import types

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # benchmarks/ lives at the top
from benchmarks import performance  # noqa: E402
from benchmarks.peers import tree_leaves_like  # noqa: E402

import mixedad  # noqa: E402

TINY = ["--rounds", "1", "--batch", "2", "--length", "10"]
ISSUE_TARGETS = {"sum(x**2)": 1.5, "sum(arctan2(x, 2))": 1.0, "sum(arctan2(x, 2)), value_and_gradient": 1.5,
                 "sum(sin(x)), 10 float64": 2.0, "sum(sin(x)), Python loop over 10 float64": 50.0,
                 "sum(sin(x)*cos(x)*exp(x)), 10 float64": 2.0, "sum(sin(x)*cos(x)*exp(x)), float32": 1.8,
                 "MLP 784→32 tanh→10, batch 2": 2.5, "LeNet-style conv net, batch 2": 2.5}


def _blocked_peers(monkeypatch):
    for module in ("autograd", "torch", "jax"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError, as on a fresh machine


def _tiny_cases():
    return performance.performance_cases(np.random.default_rng(3), batch=2, length=10)


def test_every_row_and_verdict_is_produced_without_peers(monkeypatch, tmp_path, capsys):
    _blocked_peers(monkeypatch)
    json_path, markdown_path = tmp_path / "out.json", tmp_path / "out.md"
    result = performance.main(TINY + ["--json", str(json_path), "--markdown", str(markdown_path), "--report"])
    rows = result["rows"]
    assert {row["case"]: row["target"] for row in rows} == ISSUE_TARGETS
    assert [row["case"] for row in rows] == list(ISSUE_TARGETS)
    for row in rows:
        results = row["results"]
        for column in performance.MIXEDAD_COLUMNS + (performance.HAND_WRITTEN,):
            assert results[column]["status"] == "ok" and results[column]["ratio"] > 0, (row["case"], column)
            assert not results[column].get("mismatch"), (row["case"], column)
        for column in performance.PEER_COLUMNS:
            assert results[column]["status"] == "not installed"
        assert row["best_ratio"] == min(results[c]["ratio"] for c in performance.MIXEDAD_COLUMNS)
        assert row["target_met"] == (row["best_ratio"] <= row["target"])
        assert row["lost_to"] == [] and row["unmeasured_peers"] == list(performance.EAGER_PEERS)

    table = markdown_path.read_text()
    assert ("| case | NumPy primal | mixedad auto | mixedad reverse | mixedad prepared | autograd | PyTorch eager | "
            "JAX eager | jax.jit | hand-written NumPy | target | best mixedad | target met | beats peers |") in table
    for row in rows:
        line = next(line for line in table.splitlines() if line.startswith(f"| {row['case']} |"))
        assert "| - | - | - | - |" in line and f"≤ {row['target']:g}" in line
        assert ("| met |" if row["target_met"] else "| MISSED |") in line
        assert line.endswith("| no peer measured |")
    assert "- PyTorch eager: PyTorch not installed" in table and "- autograd: HIPS autograd not installed" in table

    assert [m["model"] for m in result["memory"]] == ["MLP", "LeNet"]
    for memory in result["memory"]:
        assert memory["autograd"] is None and memory["mixedad auto"] > 0 and memory["mixedad prepared"] > 0
    assert table.count("- (autograd not installed)") == 2

    reported = [case for case in ISSUE_TARGETS if "value_and_gradient" not in case]
    assert list(result["mode_reports"]) == reported
    assert all(f"**Mode report: {case}**" in table for case in reported)
    assert "mixedad profile of loop_total_of_sin" in result["mode_reports"]["sum(sin(x)), Python loop over 10 float64"]

    assert json.loads(json_path.read_text())["rows"][0]["results"]["mixedad auto"]["ratio"] > 0
    assert "MISMATCH" not in capsys.readouterr().out


@pytest.mark.parametrize("case", _tiny_cases(), ids=lambda case: case.name)
def test_hand_written_gradient_agrees_with_mixedad(case):
    args = (case.params, *case.constants)
    f = performance.on_numpy(case.function)
    hand_written = case.hand_written(*args)
    if case.value_and_gradient:
        value, hand_written = hand_written
        assert value == pytest.approx(float(f(*args)), rel=performance.RTOL[case.dtype])
    leaves = tree_leaves_like(case.params, hand_written)
    reference = tree_leaves_like(case.params, mixedad.gradient(f, *args))
    assert [leaf.dtype for leaf in leaves] == [leaf.dtype for leaf in reference]
    assert performance.relative_difference(leaves, reference) <= performance.RTOL[case.dtype]


def test_a_wrong_gradient_is_marked_and_a_skipped_peer_is_not_counted(monkeypatch, capsys):
    _blocked_peers(monkeypatch)
    peers = performance.peer_frameworks()
    peers["JAX eager"] = types.SimpleNamespace(available=True, note="stand-in", callables=None)  # never called
    case = next(c for c in _tiny_cases() if c.skipped_when_quick)
    calls = performance.gradient_calls(case, peers, quick=True)
    assert calls["JAX eager"] == "skipped by --quick"
    calls[performance.HAND_WRITTEN] = lambda: np.sin(case.params)  # not the gradient of a sum of sines
    messages = []
    row = performance.measure_case(case, calls, rounds=1, rng=np.random.default_rng(0), log=messages.append)
    assert row["results"][performance.HAND_WRITTEN]["mismatch"]
    assert any("GRADIENT MISMATCH: hand-written NumPy" in m for m in messages)
    line = performance.table_markdown([row]).splitlines()[-1]
    assert " ✗ |" in line and "| skipped |" in line
    assert "JAX eager" in row["unmeasured_peers"]
    assert "hand-written NumPy: MISMATCH" in performance.notes_markdown([row], peers, {})


def test_installed_peers_run_and_agree_on_array_and_dict_cases():
    peers = {column: framework for column, framework in performance.peer_frameworks().items() if framework.available}
    if not peers:
        pytest.skip("no peer installed (pip install -e '.[bench]')")
    all_peers = performance.peer_frameworks()
    for case in _tiny_cases():
        if case.function.__name__ not in ("total_of_sin", "seed_mlp") and not case.value_and_gradient:
            continue
        row = performance.measure_case(case, performance.gradient_calls(case, all_peers), rounds=1,
                                       rng=np.random.default_rng(0), log=print)
        for column in peers:
            result = row["results"][column]
            assert result["status"] == "ok" and result["ratio"] > 0 and not result.get("mismatch"), (case.name, column)
        assert set(row["lost_to"]) | set(row["unmeasured_peers"]) <= set(performance.EAGER_PEERS)
