"""What an instrumented trace records of a general primitive's tape entry for the profiler:
its forward time, its outputs' shapes and dtypes, and the memory its reverse rule keeps alive;
and how reports and errors name a dual region (its ops, their lines).

Only instrumented traces (``Trace.instrumented``) call these; the profiler (``mixedad.profiler``)
reads the results off the finished tape.
"""
from __future__ import annotations

import numpy as np

from .arrays import memory_owner
from .expressions import topological_order


def held_bytes(values) -> dict:
    """Bytes by array id of the memory that ``values`` (what a reverse rule keeps) keep alive:
    an array that owns its memory counts its own bytes; a view counts nothing of its own but
    keeps its owner alive, which counts (once, under the owner's id: the profiler then counts
    an array held by several entries, directly or through views, once). Shape-only stand-ins,
    numbers and other objects hold no array memory."""
    held = {}
    for value in values:
        if isinstance(value, np.ndarray):
            owner = memory_owner(value)
            held[id(owner)] = owner.nbytes
        elif type(value) is tuple or type(value) is list:
            held.update(held_bytes(value))
    return held


def record_general(entry, prim, seconds, arg_values, traced_positions, outs, kwargs) -> None:
    """Fill in what the profiler reports of a general primitive's entry: ``forward_seconds``,
    ``held`` (the arrays its rule keeps: a rule that reads only shapes, ``reverse_reads_values``
    False, keeps stand-ins of its traced arguments and results instead, and rules that never
    read the output, ``reverse_reads_out`` False, a stand-in of it) and, for several
    outputs (``outs``), ``output_shapes`` and ``output_dtypes``, one per output."""
    entry.forward_seconds = seconds
    if prim.reverse_reads_values:
        kept = list(arg_values) + (list(outs) if prim.reverse_reads_out else [])
    else:
        kept = [v for j, v in enumerate(arg_values) if j not in traced_positions]
    kept.extend(kwargs.values())
    entry.held = held_bytes(kept)
    if entry.n_outputs > 1 or prim.multiple_outputs:
        entry.output_shapes = tuple(tuple(np.shape(o)) for o in outs)
        entry.output_dtypes = tuple(np.result_type(o) for o in outs)


def region_ops(root) -> tuple[tuple[str, ...], tuple]:
    """The names of the ops of the region ``root``, in order, and the user's lines they came from."""
    order = topological_order(root)
    ops = tuple(node.prim.name for node in order)
    locations = tuple(dict.fromkeys(n.location for n in order if n.location is not None))
    return ops, last_at_the_end(locations, order[-1].location if order else None)


def last_at_the_end(locations: tuple, last) -> tuple:
    """``locations`` with ``last`` (the line of the region's last op) moved to the end: the line
    that completes the region, which the profiler reports, though an earlier op was there too."""
    return locations if last is None else tuple(loc for loc in locations if loc != last) + (last,)


def region_name(root, *after: str) -> str:
    """The region ``root`` (and the reduction ``after`` it) as errors name it: its ops in order."""
    return f"a dual region ({region_label(region_ops(root)[0] + after)})"


def region_label(ops) -> str:
    """``ops`` as one label: "sin → mul → sum", the middle elided past 6 of them."""
    if len(ops) > 6:
        return " → ".join(ops[:3]) + f" → … ({len(ops)} ops) → " + ops[-1]
    return " → ".join(ops)
