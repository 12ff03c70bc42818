"""The mode decision: a pure function from what is known about an operation to a mode and a reason.

The engine asks, the profiler records; nothing else decides.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

# ForwardDiff caps a chunk at 12 partials; past that a region costs more memory than
# the reverse tape it replaces, so it is split at its inputs.
PARTIALS_CAP = 12


class Mode(str, enum.Enum):
    """How one tape entry is differentiated."""

    DUAL = "dual"  # a fused elementwise region carrying vectorized partials
    REVERSE = "reverse"  # an ordinary reverse-mode tape entry with a VJP rule
    PER_ELEMENT = "per-element"  # scalar duals, one element at a time (mixedad.sum/map fallback)
    LEAF = "input"  # a differentiated input


class Reason(str, enum.Enum):
    """Why an entry got its mode. Stable strings: reports are aggregated on them."""

    ELEMENTWISE = "elementwise chain fused into one dual region"
    REDUCTION_FUSED = "linear reduction consumed the dual region"
    SPLIT_AT_CAP = "region would carry more partials than the cap; split at its inputs"
    REQUESTED_REVERSE = "mode='reverse' puts every op on the tape"
    NOT_ELEMENTWISE = "not elementwise: reverse rule on the tape"
    MOVED_BEFORE_REGION = ("max pooling moved before the increasing elementwise chain it reads: the chain "
                           "and its partials then run on the smaller pooled output")
    NOT_VECTORIZABLE = "scalar function branches on or converts its argument; per-element scalar duals"
    INPUT = "differentiated input"


@dataclass(frozen=True)
class Decision:
    mode: Mode
    reason: Reason


# The decisions there are (shared instances: deciding allocates nothing)
DUAL_ELEMENTWISE = Decision(Mode.DUAL, Reason.ELEMENTWISE)
DUAL_SPLIT = Decision(Mode.DUAL, Reason.SPLIT_AT_CAP)
DUAL_REDUCTION = Decision(Mode.DUAL, Reason.REDUCTION_FUSED)
REVERSE_REQUESTED = Decision(Mode.REVERSE, Reason.REQUESTED_REVERSE)
REVERSE_ON_TAPE = Decision(Mode.REVERSE, Reason.NOT_ELEMENTWISE)
REVERSE_BEFORE_REGION = Decision(Mode.REVERSE, Reason.MOVED_BEFORE_REGION)
PER_ELEMENT = Decision(Mode.PER_ELEMENT, Reason.NOT_VECTORIZABLE)

REQUESTED_MODES = ("auto", "reverse", "forward")


def check_requested_mode(mode: str) -> str:
    if mode not in REQUESTED_MODES:
        raise ValueError(f"mode must be one of {REQUESTED_MODES}, got {mode!r}")
    return mode


def elementwise_decision(requested: str, n_partials: int, cap: int = PARTIALS_CAP) -> Decision:
    """Decide how an elementwise op joins the graph.

    ``n_partials`` is the number of differentiable region inputs the op's region would
    carry if the op joined its arguments' regions.

    >>> elementwise_decision("auto", 3).mode
    <Mode.DUAL: 'dual'>
    >>> elementwise_decision("auto", 13).reason
    <Reason.SPLIT_AT_CAP: 'region would carry more partials than the cap; split at its inputs'>
    """
    if requested == "reverse":
        return REVERSE_REQUESTED
    if requested == "auto" and n_partials > cap:
        return DUAL_SPLIT
    return DUAL_ELEMENTWISE


def reduction_decision(requested: str, region_input: bool) -> Decision:
    """Decide whether a linear reduction fuses with the dual region it consumes."""
    if region_input and requested != "reverse":
        return DUAL_REDUCTION
    if requested == "reverse":
        return REVERSE_REQUESTED
    return REVERSE_ON_TAPE
