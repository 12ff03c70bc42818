"""Keeping a gradient's working memory from one call to the next (glibc's malloc).

glibc returns the top of its heap to the operating system when more than its *trim threshold*
is free there, and a program that then allocates the same memory again faults every page back
in. Left at its defaults the threshold adapts: freeing a block that was memory-mapped raises
the mmap threshold to that block's size and the trim threshold to twice it (``mallopt(3)``,
"dynamic mmap threshold"). A plain NumPy primal rarely crosses it; a gradient, which keeps its
forward values for the backward pass, does: the LeNet-style net's (8 MiB) was handed back at
the end of every call and faulted in again by the next, 2000 page faults that doubled its time
on a Linux VM (10 ms against 5).

So a differentiation counts the page faults of its thread; one that faulted in more than a MiB
allocates and frees a block of that size (untouched: no page of it is faulted in), which is
the event glibc adapts to. Its later calls then keep their memory. This changes no setting
glibc would not have reached itself after any such block, so a user's own ``mallopt`` or
``MALLOC_TRIM_THRESHOLD_`` (which turn the adaptation off) still decides; elsewhere than
glibc nothing is done.
"""
from __future__ import annotations

import os
import struct

import numpy as np

try:
    import resource
except ImportError:  # (Windows)
    resource = None


def _runs_on_glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


_WATCHED = resource is not None and _runs_on_glibc()
_RUSAGE = getattr(resource, "RUSAGE_THREAD", getattr(resource, "RUSAGE_SELF", 0))  # this thread's, where counted
_PAGE = resource.getpagesize() if resource is not None else 4096
_WORTH_KEEPING = 1 << 20  # bytes faulted in by a call, below which glibc's default threshold stands
# glibc adapts to freed mapped blocks up to DEFAULT_MMAP_THRESHOLD_MAX (4 MiB times a C long's size);
# a block a few pages smaller stays within it with its header
_LARGEST = 4 * 1024 * 1024 * struct.calcsize("l") - 4 * _PAGE
_kept = 0  # the largest block freed so far: glibc's threshold is at least this


def page_faults() -> int:
    """The page faults (minor: memory the kernel maps in) of the calling thread so far; 0
    where they are not counted."""
    return resource.getrusage(_RUSAGE).ru_minflt if _WATCHED else 0


def keep_memory_faulted_since(faults_before: int) -> None:
    """After a call that began at ``page_faults() == faults_before``: if it faulted in more
    than a MiB, have glibc keep that much freed memory for the next call (see the module)."""
    global _kept
    if not _WATCHED:
        return
    wanted = min((resource.getrusage(_RUSAGE).ru_minflt - faults_before) * _PAGE, _LARGEST)
    if wanted >= _WORTH_KEEPING and wanted > _kept:
        _kept = wanted
        np.empty(wanted, np.uint8)  # larger than the threshold so far: mapped, and unmapped as it is freed


def keeping_memory(function, *args):
    """``function(*args)``, with ``keep_memory_faulted_since`` after it."""
    faults = page_faults()
    result = function(*args)
    keep_memory_faulted_since(faults)
    return result
