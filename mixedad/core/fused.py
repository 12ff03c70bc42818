"""Fused reductions: a linear reduction (``sum``, ``mean``) that consumes a dual region, and
the output region of ``gradient``, each one tape entry evaluated only as far as needed.

The fused entry evaluates the region's partials in the backward pass, and its value only
when somebody asks for it, so ``gradient`` of ``sum(f(x))`` never computes primal values of
``f`` that nothing uses. If the region's value is used again, ``region.materialize`` computes
it once and the fused entries read that value and its partials (``FusedReduction.source``).
"""
from __future__ import annotations

import weakref
from functools import partial

from .compiled import evaluate, evaluate_unguarded
from .errors import user_location
from .modes import reduction_decision
from .recording import last_at_the_end, region_label, region_name, region_ops
from .region import _parents_of, _shared_products, region_dtype, step_reads
from .tape import Step, TapeEntry, record
from .traced import Traced


class ShapeOnly:
    """Stands for a region's value in the reverse rule of a reduction that reads only its
    shape and dtype (the value itself may never be computed)."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


class FusedReduction:
    """A linear, shape-only reduction applied to a region; evaluated only as far as needed."""

    __slots__ = ("root", "prim", "kwargs", "partials", "keep", "source", "replays", "__weakref__")

    def __init__(self, root, prim, kwargs, keep=None):
        self.root = root
        self.prim = prim
        self.kwargs = kwargs
        self.partials = None
        self.keep = keep  # the region inputs that need a cotangent (None: all)
        self.source = None  # the region's value, computed because it was used again
        # a prepared recording's: [the replay's FusedReduction] once a region step shares its value
        # (empty until then: a replay keeps nothing there)
        self.replays: list | None = None

    def value(self):
        # Evaluated in the forward pass only if somebody reads the value; then the partials
        # come out of the same pass and wait for the backward pass.
        if self.source is not None:
            region_value = self.source
        elif self.partials is None:
            region_value, self.partials = evaluate(self.root, True, True)
        else:
            region_value = evaluate(self.root, True, False)[0]
        if self.prim is None:
            return region_value
        return self.prim.value_fn(region_value, **self.kwargs)

    def share(self, value, partials) -> None:
        """Read the region's value, computed for another use, and its partials (unless this
        entry computed its own: its value was read before)."""
        self.source = value
        if self.partials is None:
            self.partials = partials

    def vjp(self, g):
        partials = self.partials
        if partials is None:
            partials = evaluate_unguarded(self.root, False, True)[1]  # backward() set the error state
            self.partials = partials  # kept while the entry lives: a retained tape sweeps again
        if self.keep is not None:
            partials = [partials[k] for k in self.keep]
        if self.prim is None:
            return _shared_products(g, partials)
        g_root = self.prim.vjp_rules[0](g, None, ShapeOnly(self.root.shape, region_dtype(self.root)), **self.kwargs)
        return _shared_products(g_root, partials)


def close_region(value: Traced) -> None:
    """Give a lazy value its single tape entry without evaluating it: the value is computed
    only if asked for, the partials in the backward pass (the output of ``gradient``)."""
    root = value._expr
    fused = FusedReduction(root, None, {})
    entry = TapeEntry(_parents_of(root.inputs), fused.vjp, None, root.decision, root.shape, root.dtype,
                      context_shape=root.shape, n_partials=len(root.inputs))
    entry.deferred_value = fused.value
    entry.describe = partial(region_name, root)
    if value._trace.instrumented:
        entry.ops, entry.locations = region_ops(root)
        entry.region = (root, ())
        entry.label = region_label(entry.ops)
    record(value._trace, entry)
    if value._trace.program is not None:
        value._trace.program.append(Step(_replay_fused, entry, (value,), (root, None, {}, None),
                                         step_reads(root, entry), True))
    value._entry = entry
    value._slot = 0
    value._expr = None


def _replay_fused(step: Step) -> None:
    """A fused (or output) region on new inputs: evaluated lazily again, as when recorded."""
    root, prim, kwargs, replays = step.payload
    fused = FusedReduction(root, prim, kwargs, step.keep)
    if replays:  # for the step that computes the region's value (region._replay_region), which clears it
        replays[0] = fused
    step.entry.vjp = fused.vjp if step.keep is None or step.keep else None
    step.entry.deferred_value = fused.value
    step.outputs[0]._value = None


_FUSED = reduction_decision("auto", True)


def reduce_region(trace, prim, value: Traced, kwargs) -> Traced:
    """Apply a region-fusing reduction (``prim.fuses_regions``) to a lazy value: one entry."""
    root = value._expr
    shape, dtype = prim.out_meta(root.shape, value.dtype, **kwargs)
    fused = FusedReduction(root, prim, kwargs)
    if root.reductions is None:
        root.reductions = [weakref.ref(fused)]
    else:
        root.reductions.append(weakref.ref(fused))
    entry = TapeEntry(_parents_of(root.inputs), fused.vjp, None, _FUSED, shape, dtype,
                      context_shape=root.shape, n_partials=len(root.inputs))
    entry.deferred_value = fused.value
    entry.describe = partial(region_name, root, prim.name)
    if trace.instrumented:
        ops, locations = region_ops(root)
        entry.ops, entry.region = ops + (prim.name,), (root, (prim.name,))
        entry.label = region_label(entry.ops)
        entry.locations = last_at_the_end(locations, user_location(3))
    record(trace, entry)
    result = Traced(trace, None, entry, 0, None, shape, dtype)
    if trace.program is not None:
        fused.replays = []
        trace.program.append(Step(_replay_fused, entry, (result,), (root, prim, kwargs, fused.replays),
                                  step_reads(root, entry), True))
    return result
