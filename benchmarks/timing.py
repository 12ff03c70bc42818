"""Timing helpers shared by the benchmark scripts: interleaved rounds, medians, ratios.

Machines are shared and noisy, so every case measures its reference (the NumPy primal)
in the same process, interleaved round by round with the contenders, and reports the
ratio of medians.
"""
from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from typing import Callable

# One thread, like the peers are measured: set before NumPy loads its BLAS.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_variable, "1")


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks instead of returning them to the OS.

    Without this, a 400 KB array freed between calls is unmapped and page-faulted back in
    on the next call (about 100 faults, a few hundred microseconds on this VM), which
    swamps the work being measured. It applies to every contender in the process alike
    (NumPy primal, mixedad, peers), as a long-running training process would see it.
    """
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(libc.mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024)) and \
        bool(libc.mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024))


def _calls_per_sample(function: Callable[[], object], target_seconds: float = 2e-3) -> int:
    start = time.perf_counter()
    function()
    elapsed = time.perf_counter() - start
    return max(1, int(target_seconds / max(elapsed, 1e-7)))


def interleaved_medians(contenders: dict[str, Callable[[], object]], rounds: int = 30,
                        warmup: int = 3) -> dict[str, float]:
    """Median seconds per call of each contender, measured round-robin."""
    for function in contenders.values():
        for _ in range(warmup):
            function()
    repeats = {name: _calls_per_sample(f) for name, f in contenders.items()}
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, function in contenders.items():
            n = repeats[name]
            start = time.perf_counter()
            for _ in range(n):
                function()
            samples[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(values) for name, values in samples.items()}


SAMPLE_SECONDS = 2e-3  # a sample repeats a call until it lasts this long
WARM_CALL_BELOW = 0.05  # calls shorter than this get one untimed call before each sample


def call_seconds(contenders: dict[str, Callable[[], object]], calls: int = 3) -> dict[str, float]:
    """How long a call of each contender takes, the fastest of ``calls``: it sets how many calls
    a sample needs, and whether to warm it. Not the first call alone: a call that still
    compiles (a prepared program's second call, JAX) would make that contender's samples
    shorter than the others', and a short sample pays the cold start after its neighbour
    (PyTorch, JAX) over fewer calls."""
    estimates = {}
    for name, function in contenders.items():
        fastest = float("inf")
        for _ in range(calls):
            start = time.perf_counter()
            function()
            fastest = min(fastest, time.perf_counter() - start)
        estimates[name] = fastest
    return estimates


def shuffled_medians(contenders: dict[str, Callable[[], object]], estimates: dict[str, float], rounds: int,
                     rng, warmup: int = 0) -> dict[str, float]:
    """Median seconds per call, in rounds that visit the contenders in a new random order.

    A fixed order would always time one contender right after the same neighbour (after
    PyTorch or JAX the caches are cold); calls shorter than ``WARM_CALL_BELOW`` get one
    untimed call before each sample, so each is measured warm, as in a training loop. The
    objects alive before the rounds (the frameworks, JAX's caches of compiled code) are
    frozen out of the garbage collector: else a full collection that one contender's
    allocations trigger scans the others' heaps, landing in its samples.
    """
    for function in contenders.values():
        for _ in range(warmup):
            function()
    names = list(contenders)
    repeats = {name: max(1, int(SAMPLE_SECONDS / max(estimates[name], 1e-7))) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    gc.freeze()
    try:
        for _ in range(rounds):
            for index in rng.permutation(len(names)):
                name = names[index]
                function, n = contenders[name], repeats[name]
                if estimates[name] < WARM_CALL_BELOW:
                    function()
                start = time.perf_counter()
                for _ in range(n):
                    function()
                samples[name].append((time.perf_counter() - start) / n)
    finally:
        gc.unfreeze()
    return {name: statistics.median(values) for name, values in samples.items()}


ALLOCATOR_TUNED = keep_freed_memory()


def machine_description() -> str:
    import numpy as np
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}, "
            f"single-threaded BLAS, glibc keeps freed memory: {ALLOCATOR_TUNED}")


def format_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"
