"""Replaying a recorded tape on new inputs, without running the user's function again.

A trace recorded with ``trace.program = []`` holds one ``Step`` per tape entry (see
``tape.Step``): what the entry computed, from which traced values. The traced values
themselves are the program's registers. A replay stores new input values in the leaves,
runs the steps in order (each recomputes its values and gives its entry a fresh reverse
rule), and sweeps the tape backward as usual; so the values, the partials and the rules
are exactly those a new trace would make, minus the Python dispatch of every NumPy call.

Whether replaying is *safe* (the program does not depend on values, the function is
pure) is the caller's question: ``mixedad.prepare`` answers it.
"""
from __future__ import annotations

import weakref
from typing import Any, Callable, Sequence

import numpy as np

from .arrays import current_errstate
from .collector import pause_collector, resume_collector
from .compiled_program import compile_program
from .region import primal
from .tape import Step, TapeEntry, Trace, backward, unit_seed
from .traced import Traced

_COLLECTOR_STEPS = 200  # a shorter program makes too few objects to wake the collector: no switching it off


def _forget_steps(trace: Trace) -> None:
    trace.program = None
    trace.entries = []


class Program:
    """A recorded trace, pruned to what a gradient with respect to ``active_leaves`` needs.

    ``active_leaves`` are the differentiated inputs, ``inactive_leaves`` inputs traced only
    so that everything computed from them is recorded too (their cotangents are never
    needed: entries that reach no differentiated input lose their reverse rule, and
    entries that reach both drop the parents that only lead to constants).
    """

    def __init__(self, trace: Trace, active_leaves: Sequence[Traced], inactive_leaves: Sequence[Traced],
                 output: Traced, kept: Sequence[Traced] = ()):
        self.trace = trace
        self.steps: list[Step] = trace.program
        self.active_leaves = list(active_leaves)
        self.inactive_leaves = list(inactive_leaves)
        self.output = output
        self.entries: list[TapeEntry] = trace.entries
        self.seed = unit_seed(output.dtype)
        # constants of the program (and the seed): never returned as gradients
        self.borrowed = frozenset(trace.borrowed | {id(self.seed)})
        self._results = [result for step in self.steps for result in step.outputs if result is not None]
        self._leaves = self.active_leaves + self.inactive_leaves
        self.schedule = self._free_schedule(kept)
        self._prune()
        self.release()
        # The same program as one generated function (None: interpreted). Compiling costs a
        # few traces' time, so a program is compiled when it runs a second time: one recorded
        # again on every call (its static arguments change) never is.
        self.compiled: Callable | None = None
        self.interpreted_only = False  # never compile (long programs; tests)
        self._runs = 0
        # The recorded trace and its steps refer to each other (steps hold traced values, which
        # hold the trace): cut that when the program goes, so that reference counting frees it.
        weakref.finalize(self, _forget_steps, trace)

    def _free_schedule(self, kept: Sequence[Traced]) -> list[tuple[Step, tuple]]:
        """Per step, the values nothing reads after it: dropped as soon as it has run, as
        Python frees them in a traced call (rules keep what they need themselves)."""
        last_reader: dict[int, tuple[int, Traced]] = {}
        kept_ids = self.kept_ids = {id(t) for t in list(kept) + self._leaves + [self.output]}
        for position, step in enumerate(self.steps):
            for value in step.reads:
                if step.reads_later:  # a fused region reads its inputs in the backward pass
                    kept_ids.add(id(value))
                else:
                    last_reader[id(value)] = (position, value)
        free_after: list[list[Traced]] = [[] for _ in self.steps]
        for key, (position, value) in last_reader.items():
            if key not in kept_ids:
                free_after[position].append(value)
        return [(step, tuple(free)) for step, free in zip(self.steps, free_after)]

    @staticmethod
    def replayable(trace: Trace, n_leaves: int) -> bool:
        """Whether every entry of ``trace`` past its ``n_leaves`` inputs has a recorded step."""
        stepped = {id(step.entry) for step in trace.program}
        return all(id(entry) in stepped for entry in trace.entries[n_leaves:])

    def _prune(self) -> None:
        active = {id(leaf._entry) for leaf in self.active_leaves}
        for step in self.steps:
            entry = step.entry
            keep = [k for k, parent in enumerate(entry.parents) if parent is not None and id(parent[0]) in active]
            if keep:
                active.add(id(entry))
            if len(keep) != len(entry.parents):
                step.keep = keep
                entry.parents = tuple(entry.parents[k] for k in keep)

    def run(self, active_values: Sequence[np.ndarray], inactive_values: Sequence[np.ndarray],
            want_value: bool, read: Callable[[], None] | None = None) -> tuple[Any, list[Any]]:
        """``(value or None, cotangents of the active leaves)`` at the given input values;
        ``read`` is called before the values are released (to read other outputs)."""
        self.trace.errstate = current_errstate()  # the regions' values report errors as this call's state asks
        if self.compiled is None and not self.interpreted_only:
            self._runs += 1
            if self._runs > 1:
                self.compile()
        if self.compiled is not None and len(self.steps) < _COLLECTOR_STEPS:
            return self.compiled(active_values, inactive_values, want_value, read)  # releases as _interpret
        # as while tracing: the collector would walk the whole program (some 10^5 objects) every
        # few hundred steps, for no cycle (52 of 92 ms on a 9000-step program)
        pause_collector()
        try:
            if self.compiled is not None:
                return self.compiled(active_values, inactive_values, want_value, read)
            return self._interpret(active_values, inactive_values, want_value, read)
        finally:
            resume_collector()

    def _interpret(self, active_values, inactive_values, want_value, read):
        for leaf, value in zip(self.active_leaves, active_values):
            leaf._value = value
        for leaf, value in zip(self.inactive_leaves, inactive_values):
            leaf._value = value
        finished = False
        try:
            for step, free in self.schedule:
                step.run(step)
                for value in free:
                    value._value = None
            output = self.output
            # the value first: a fused output region then computes it with its partials, in one pass
            value = primal(output) if want_value else None
            backward(self.trace, output._entry, output._slot, self.seed)
            cotangents = [None if leaf._entry.cotangents is None else leaf._entry.cotangents[0]
                          for leaf in self.active_leaves]
            if read is not None:
                read()
            finished = True
        finally:
            self.release(finished)
        return value, cotangents

    def compile(self) -> Callable | None:
        """Compile the program now (``core.compiled_program``); None if it stays interpreted."""
        self.compiled = compile_program(self)
        self.interpreted_only = self.compiled is None
        return self.compiled

    def release(self, finished: bool = False) -> None:
        """Drop every value and rule the last run made: nothing is held between calls.

        A finished sweep has already released the rules it ran and the cotangents it passed
        on; after an error, or before the first run, every entry is cleared.
        """
        if not finished:
            for entry in self.entries:
                entry.cotangents = None
        for step in self.steps:
            entry = step.entry
            entry.vjp = entry.deferred_value = None
        for result in self._results:
            result._value = None
        for leaf in self._leaves:
            leaf._value = None
            leaf._entry.cotangents = None
