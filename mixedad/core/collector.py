"""The cyclic garbage collector, paused while a tape grows or is swept.

A tape is acyclic: collecting cycles while it grows only costs time (7 us per op becomes 40 us
at 10^5 entries). ``gc.disable()`` and ``gc.enable()`` act on the whole process, though: two
threads each pausing and resuming on their own would leave the collector off for good (the
second sees it off while the first traces, and turns it off again after the first turned it
on). Pauses are counted instead: the collector resumes when the last one ends, if it was on
when the first began.

Each pause is held by the frame that began it, which ends it. A Ctrl-C (KeyboardInterrupt,
raised in the main thread) may stop a call between the two; the thread's next pause then
forgets its pauses whose frames are no longer running, so the collector does not stay off for
the rest of the process.

Pauses of threads that differentiate back to back overlap, so that the count may never reach
zero: cycles made anywhere in the process would then never be collected. A pause that ends
while others remain runs the collection the collector would have run by now, if any (by its
allocation counts and thresholds).
"""
from __future__ import annotations

import gc
import sys
import threading

_lock = threading.Lock()
_holders: list = []  # (thread id, frame) of each pause not yet ended
_was_enabled = False
_off_for_pauses = False  # the collector is off because of pauses (until it is turned on again)


def pause_collector() -> None:
    """Pause the cyclic collector; the calling function must end it with ``resume_collector``."""
    global _was_enabled, _off_for_pauses
    holder = (threading.get_ident(), sys._getframe(1))
    with _lock:  # (a Ctrl-C inside a ``with`` block does not leave the lock held: no call hangs)
        if _holders:
            _forget_ended_pauses(holder[0])
        _holders.append(holder)
        if len(_holders) == 1:
            if not _off_for_pauses:  # (else a Ctrl-C stopped the last resume: the state before stands)
                _was_enabled = gc.isenabled()
                _off_for_pauses = True
            gc.disable()


def resume_collector() -> None:
    """End the latest pause the calling function began; the collector runs again when no pause
    is left and it ran before."""
    caller = sys._getframe(1)
    with _lock:
        for position in range(len(_holders) - 1, -1, -1):
            if _holders[position][1] is caller:
                del _holders[position]
                break
        else:  # a Ctrl-C stopped the pause this ends before it began, or it was forgotten
            return
        if not _holders:
            _turn_back_on()
            return
        collect = _due_generation() if _was_enabled else None
    if collect is not None:  # (outside the lock: finalizers that the collection runs may pause too)
        gc.collect(collect)


def _due_generation() -> int | None:
    """The generation the collector would collect now, were it on (None: none is due)."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    if thresholds[0]:  # (0: the program turned automatic collection off)
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation]:
                return generation
    return None


def _forget_ended_pauses(thread: int) -> None:
    """Drop this thread's pauses whose frames are not on its stack any more (stopped by a Ctrl-C)."""
    top = sys._getframe(2)
    running = [holder for holder in _holders if holder[0] != thread or _on_stack(holder[1], top)]
    if len(running) < len(_holders):
        _holders[:] = running
        if not running:
            _turn_back_on()


def _turn_back_on() -> None:
    """No pause is left: the collector as it was before the first."""
    global _off_for_pauses
    if _was_enabled:
        gc.enable()
    _off_for_pauses = False


def _on_stack(frame, top) -> bool:
    while top is not None:
        if top is frame:
            return True
        top = top.f_back
    return False
