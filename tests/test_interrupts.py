"""A Ctrl-C (KeyboardInterrupt) may land between any two lines of mixedad's clean-up: the user's
arrays must not stay read-only, the garbage collector must not stay off, and the next call must
not hang. Before, an interrupt inside ``release_guards`` left arrays read-only for good, and one
inside ``pause_collector`` left its lock held, so that every later call hung."""
import gc
import linecache
import sys
import threading
import weakref

import numpy as np
import pytest

import mixedad
from mixedad.core import collector, guards


def _interruptible(frame, event) -> bool:
    """Whether a Ctrl-C may land at this trace event: a line about to run. Python handles a
    signal after a call returns or a loop jumps back, so not at a ``try:`` line (an instruction
    that does nothing, outside the enclosing ``with``'s handler) nor at the ``with`` line Python
    reports again before calling ``__exit__``: an exception the trace function raises there
    skips the ``with``'s ``__exit__``, as no Ctrl-C can."""
    text = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return event == "line" and not text.startswith("with ") and text not in ("try:", "finally:", "else:")


def _tracing_lines(code, run, on_line):
    """``run()``, with ``on_line(frame)`` called at each line of ``code`` a Ctrl-C may land at."""
    def tracer(frame, event, arg):
        if frame.f_code is not code:
            return None

        def local(frame, event, arg):
            if _interruptible(frame, event):
                on_line(frame)
            return local
        return local
    sys.settrace(tracer)
    try:
        return run()
    finally:
        sys.settrace(None)


def _line_events(code, run) -> int:
    """How many lines of ``code`` run (as trace events a Ctrl-C may land at) during ``run()``."""
    count = 0

    def counting(frame):
        nonlocal count
        count += 1
    _tracing_lines(code, run, counting)
    return count


def _interrupted_at(code, line_number: int, run) -> bool:
    """Run ``run()`` with a KeyboardInterrupt raised at the ``line_number``-th line of ``code``
    it runs, as a Ctrl-C arriving there would; whether the interrupt came out of it."""
    seen = 0

    def interrupting(frame):
        nonlocal seen
        seen += 1
        if seen == line_number:
            sys.settrace(None)
            raise KeyboardInterrupt("a simulated Ctrl-C")
    try:
        _tracing_lines(code, run, interrupting)
    except KeyboardInterrupt:
        return True
    return False


def _next_call_finishes() -> bool:
    """Whether an unrelated gradient finishes (in a thread: a held lock would hang it forever)."""
    results = []
    worker = threading.Thread(target=lambda: results.append(mixedad.gradient(lambda v: np.sum(v * v), np.ones(3))),
                              daemon=True)
    worker.start()
    worker.join(10)
    return bool(results) and np.array_equal(results[0], 2 * np.ones(3))


CLEAN_UP = {
    "release": lambda: guards._release.__code__,
    "release_guards": lambda: guards.release_guards.__code__,
    "pause_collector": lambda: collector.pause_collector.__code__,
    "resume_collector": lambda: collector.resume_collector.__code__,
}


@pytest.mark.parametrize("where", CLEAN_UP)
def test_a_ctrl_c_at_any_line_of_the_clean_up_leaves_nothing_behind(where):
    code = CLEAN_UP[where]()
    weights = np.linspace(0.5, 1.5, 6).reshape(2, 3)
    view = weights[:, 1:]  # a guarded view too: owners are released before their views

    def run():
        return mixedad.gradient(lambda x: np.sum(np.tanh(weights @ x) * view[0, 0]), np.ones(3))

    lines = _line_events(code, run)
    assert lines > 0
    collector_was_on = gc.isenabled()
    interrupted = 0
    for line in range(1, lines + 1):
        interrupted += _interrupted_at(code, line, run)
        assert weights.flags.writeable and view.flags.writeable, f"read-only after a Ctrl-C at line {line}"
        assert id(weights) not in guards._GUARDS and id(view) not in guards._GUARDS
        assert _next_call_finishes(), f"the next call hung or failed after a Ctrl-C at line {line}"
        # the collector may stay paused until the thread's next call begins (a Ctrl-C can land
        # before the pause ends): that call forgets the stopped pause
        np.testing.assert_array_equal(mixedad.gradient(lambda v: np.sum(v * v), np.ones(2)), [2.0, 2.0])
        assert gc.isenabled() == collector_was_on, f"collector left {'on' if gc.isenabled() else 'off'} at line {line}"
        assert not collector._holders
    assert interrupted == lines  # each interrupt reached the caller, as a Ctrl-C must


def test_an_array_guarded_when_a_ctrl_c_came_is_freed_with_its_last_reference():
    data = np.linspace(0.0, 1.0, 1000)
    alive = weakref.ref(data)
    assert _interrupted_at(guards._release.__code__, 3, lambda: mixedad.gradient(lambda a: np.sum(np.sin(a) * data), data))
    assert data.flags.writeable
    del data
    gc.collect()
    assert alive() is None  # mixedad's table of guarded arrays let go of it


def test_a_view_read_by_an_inner_gradient_is_writeable_once_the_outer_one_ends():
    """The outer gradient guards the owner, the inner one the view: the view could not be made
    writeable when the inner one ended (its owner was still read-only), and stayed read-only."""
    owner = np.linspace(0.1, 1.0, 10)
    view = owner[2:8]

    def outer(x):
        y = np.sum(np.sin(x) * owner)
        inner = mixedad.gradient(lambda z: np.sum(z * view), np.ones(6))
        assert not view.flags.writeable and not owner.flags.writeable  # the outer one still reads them
        return y + np.sum(inner)
    np.testing.assert_allclose(mixedad.gradient(outer, np.ones(10)), np.cos(np.ones(10)) * owner)
    assert owner.flags.writeable and view.flags.writeable
    view[0] = 5.0
    assert owner[2] == 5.0


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped Ctrl-C
def test_a_ctrl_c_as_a_pullback_is_dropped_leaves_no_array_read_only():
    """Python drops an exception raised in a weakref finalizer, a KeyboardInterrupt too: the
    pullback's tape ended without releasing the arrays, and nothing tried again."""
    x, weights = np.linspace(-1.0, 1.0, 5), np.linspace(0.1, 1.0, 5)
    _, pullback = mixedad.vjp(lambda z: np.sum(np.sin(z) * weights), x)
    np.testing.assert_allclose(pullback(1.0)[0], np.cos(x) * weights)
    assert not weights.flags.writeable
    with_interrupt = []

    def tracer(frame, event, arg):
        if event == "call" and frame.f_code is guards.release_guards.__code__ and not with_interrupt:
            with_interrupt.append(True)
            raise KeyboardInterrupt("a simulated Ctrl-C")
    sys.settrace(tracer)
    try:
        del pullback  # its finalizer ends the tape
    finally:
        sys.settrace(None)
    assert with_interrupt
    assert x.flags.writeable and weights.flags.writeable
