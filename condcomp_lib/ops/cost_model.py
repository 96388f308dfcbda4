"""When routing pays: the choice between the routed path and "dense, then mask".

Used by :func:`~condcomp_lib.ops.routed_linear`, :func:`~condcomp_lib.ops.routed_conv2d`
and :class:`~condcomp_lib.ops.Dispatch` (chapters 4 and 5). Saved multiply-accumulates are
not saved time: a routed path does less arithmetic but makes more, smaller calls and moves
more data (gather, scatter). Where the arithmetic it saves is small, the simple
alternative (compute everything, then zero what is off) is faster, so every routed path
asks here first.

The model charges a path for three things, with three numbers of the machine measured by
``benchmarks/bench_ops.py`` (section "cost model"):

    time = MACs / MACS_PER_S + bytes moved / BYTES_PER_S + operator calls * CALL_S

The routed path is taken when its modelled time is below ``MARGIN`` times the dense
path's. The margin leans towards the dense path because the routed path's small products
run below the machine's best rate; near the crossing the two take about the same time
anyway. The benchmark checks the choice over a grid of active fractions and batch sizes
against both paths measured, and reports the worst case. The choice never changes a
result, only the time: both paths compute the same numbers."""
from __future__ import annotations

from dataclasses import dataclass

# Measured on the book's 2-thread CPU (Intel Xeon, float32) by benchmarks/bench_ops.py.
MACS_PER_S = 60e9      # a mid-sized matrix product or convolution
BYTES_PER_S = 5e9      # a large copy into fresh memory (page faults included)
CALL_S = 6e-6          # one small operator call
MARGIN = 0.8


def seconds(macs: float, bytes_moved: float = 0.0, calls: float = 0.0) -> float:
    """The modelled time of a path."""
    return macs / MACS_PER_S + bytes_moved / BYTES_PER_S + calls * CALL_S


def routed_pays(routed: float, dense: float) -> bool:
    """Take the routed path (modelled ``routed`` seconds) over the dense one?"""
    return routed < MARGIN * dense


# ------------------------------------------------------------------ the ops

def linear_pays(batch: int, f_in: int, f_out: int, active_macs: float, gathered: float,
                used_share: float, pairs: bool, itemsize: int) -> bool:
    """``routed_linear``: ``active_macs`` of ``batch * f_in * f_out``, reading
    ``gathered`` input values; ``used_share`` of the weight's blocks are used by some
    sample (the routed path reads only those); ``pairs``: with ``in_route`` the block
    pairs are copied once. The dense path writes its output, then masks it (read and
    write)."""
    weight, out = f_in * f_out * itemsize, batch * f_out * itemsize
    dense = seconds(batch * f_in * f_out, weight + batch * f_in * itemsize + 3 * out, 2)
    read = used_share * weight * (3 if pairs else 1)
    if batch == 1:           # views of the active rows, no gather
        return routed_pays(seconds(active_macs, read + 2 * out, 4), dense)
    return routed_pays(seconds(active_macs, read + 2 * gathered * itemsize + 3 * out, 9),
                       dense)


def conv_pays(dense_macs: float, active_macs: float, in_bytes: float,
              gathered_bytes: float, out_bytes: float, active_share: float,
              groups_used: int) -> bool:
    """``routed_conv2d``: the dense path reads the input, writes the output and masks it
    (read and write); the routed path gathers its inputs (read and write), writes its
    results and copies them into the output, written once."""
    dense = seconds(dense_macs, in_bytes + 3 * out_bytes, 2)
    routed = seconds(active_macs, 2 * gathered_bytes + (1 + 2 * active_share) * out_bytes,
                     6 + 2 * groups_used)
    return routed_pays(routed, dense)


# ------------------------------------------------------------------ a dispatched block

@dataclass(frozen=True)
class BlockCost:
    """What one sample costs in a routed block: on one path, and through the dense
    alternative (the wide block with its off outputs zeroed); ``*_calls`` count operator
    calls per batch, ``bytes_per_sample`` what a gather (or a scatter) of one sample
    moves."""
    path_macs: float
    path_calls: int
    dense_macs: float
    dense_calls: int
    bytes_per_sample: float = 0.0


def dispatch_pays(batch: int, used: int, cost: BlockCost) -> bool:
    """Buckets or dense for a :class:`~condcomp_lib.ops.Dispatch` of ``batch`` samples
    over ``used`` routes. Buckets run each sample on its own path once, but pay a call
    sequence per bucket, a gather and a scatter; the dense block pays all the arithmetic
    in few calls. One bucket (batch 1 above all) adds nothing, and its path does less
    arithmetic than the wide block, so it always pays."""
    if used <= 1:
        return True
    buckets = seconds(batch * cost.path_macs, 2 * batch * cost.bytes_per_sample,
                      used * (cost.path_calls + 1) + 2)
    return routed_pays(buckets, seconds(batch * cost.dense_macs, 0, cost.dense_calls))
