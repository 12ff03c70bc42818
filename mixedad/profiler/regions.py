"""Which tape entry a user's elementwise op counts in, when several dual regions contain it.

The engine names every region entry by all the nodes below its root (``recording.region_ops``),
and a node can lie below several roots: a fused reduction consumes a region whose value is read
again later (softmax's ``e / np.sum(e)``: ``exp`` is in the reduction's region and in the region
materialized for the division), or two reductions consume overlapping regions (log-softmax's
``z = x - max`` under ``np.sum(np.exp(z))`` and under ``z - np.log(...)``). Counted per entry,
such an op is counted, and its line reported, once per region that contains it. Here each node
counts once: in the first region (tape order) that computes it as a value the program reads (a
materialized or output region), else in the first fused reduction over it.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..core.expressions import topological_order
from ..core.recording import last_at_the_end, region_label


@dataclass(frozen=True)
class Attribution:
    """What an entry reports when some of its region's ops count in other entries: its own
    ops, label and lines, and whether it reads another entry's partials (then its backward
    step materialises none of its own)."""

    ops: tuple[str, ...]
    label: str
    locations: tuple
    shares_partials: bool


def attributions(entries) -> dict[int, Attribution]:
    """``Attribution`` by entry index, for the region entries that contain ops counted elsewhere."""
    regions = []
    for entry in entries:
        if entry.region is None:  # not a dual region's entry (the engine notes it when it traces for a profile)
            continue
        root, after = entry.region
        order = topological_order(root)  # the order in which the engine named the entry's ops
        regions.append((entry, root, order, after))
    owner: dict[int, int] = {}  # node id -> the index of the entry it counts in (nodes are alive: the tape holds them)
    # A value region evaluates its nodes in the forward pass, and a fused reduction over the same root
    # reads that value and those partials (``region._share_with_reductions``): the value's region owns
    # them even when the reduction was recorded first.
    for reduced in (False, True):
        for entry, root, order, after in regions:
            if bool(after) is reduced:
                for node in order:
                    owner.setdefault(id(node), entry.index)
    materialized = {id(root) for entry, root, order, after in regions if not after and entry.elementwise}
    result = {}
    for entry, root, order, after in regions:
        own = [node for node in order if owner[id(node)] == entry.index]
        if len(own) == len(order):
            continue
        ops = tuple(node.prim.name for node in own) + after
        label = region_label(ops) if ops else f"({region_label(entry.ops)})"
        lines = tuple(dict.fromkeys(node.location for node in own if node.location is not None))
        # the line that completed the entry stays last: the line report charges its backward time there
        locations = last_at_the_end(lines, entry.locations[-1] if entry.locations else None)
        result[entry.index] = Attribution(ops, label, locations, bool(after) and id(root) in materialized)
    return result
