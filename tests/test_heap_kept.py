"""A gradient's working memory stays with the process between calls (``mixedad.core.heap``).

Counted in page faults, not timed: a fresh interpreter (no allocator settings, unlike the
benchmarks') computes the LeNet-style net's gradient repeatedly; once warm, a call faults in
(almost) no memory. Before, glibc handed the 8 MiB tape back at the end of every call and
the next faulted in some 2000 pages again, which doubled its time.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mixedad
from mixedad.core import heap

on_glibc = pytest.mark.skipif(not heap._WATCHED, reason="glibc's malloc (Linux), where page faults are counted")

_REPEATED_GRADIENTS = textwrap.dedent("""
    import json, resource
    import numpy as np
    import mixedad
    from mixedad.examples import models

    rng = np.random.default_rng(0)
    params, images = models.lenet_params(rng), models.seed_batch(rng, 128)
    loss = models.sum_of_squares(models.lenet)
    prepared = mixedad.prepare(loss, params, images)
    calls = {"auto": lambda: mixedad.gradient(loss, params, images),
             "reverse": lambda: mixedad.gradient(loss, params, images, mode="reverse"),
             "prepared": lambda: prepared.gradient(params, images)}
    faults = {}
    for name, call in calls.items():
        for _ in range(4):
            call()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(4):
            call()
        faults[name] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4
    print(json.dumps(faults))
""")


@on_glibc
def test_warm_gradients_fault_in_no_memory():
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
    environment["OPENBLAS_NUM_THREADS"] = "1"
    finished = subprocess.run([sys.executable, "-c", _REPEATED_GRADIENTS], capture_output=True, text=True,
                              env=environment, timeout=300, check=True)
    faults = json.loads(finished.stdout.splitlines()[-1])
    tape_pages = 8 * 2**20 // heap._PAGE  # what a call faulted in before: the whole tape, 2000 pages
    for name, per_call in faults.items():
        assert per_call < tape_pages / 20, f"{name}: {per_call} page faults a call"


@on_glibc
def test_a_small_call_changes_nothing(monkeypatch):
    monkeypatch.setattr(heap, "_kept", 0)
    heap.keep_memory_faulted_since(heap.page_faults())
    assert heap._kept == 0


@on_glibc
def test_a_call_that_faulted_in_memory_frees_a_block_that_large_once(monkeypatch):
    blocks = []
    monkeypatch.setattr(heap, "_kept", 0)
    monkeypatch.setattr(heap.np, "empty", lambda size, dtype: blocks.append(size))
    pages = 3 * 2**20 // heap._PAGE
    heap.keep_memory_faulted_since(heap.page_faults() - pages)
    assert blocks == [pages * heap._PAGE]
    heap.keep_memory_faulted_since(heap.page_faults() - pages // 2)  # less than kept already: nothing
    assert blocks == [pages * heap._PAGE]
    heap.keep_memory_faulted_since(heap.page_faults() - 10**7)  # 40 GB: glibc adapts up to its cap only
    assert blocks[-1] == heap._LARGEST <= 32 * 2**20


def test_gradients_are_unchanged_by_the_kept_memory():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((600, 600))  # a 2.9 MB input: its tape is worth keeping
    f = lambda x: np.sum(np.tanh(x @ x) ** 2)  # noqa: E731
    expected = None
    for _ in range(3):
        g = mixedad.gradient(f, x)
        if expected is None:
            t = np.tanh(x @ x)
            h = 2 * t * (1 - t ** 2)
            expected = h @ x.T + x.T @ h  # d/dx sum(tanh(x x)^2), by hand
        np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-10)
