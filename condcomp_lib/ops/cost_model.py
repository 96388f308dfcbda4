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

# Measured on the book's 2-thread CPU (float32) by benchmarks/bench_ops.py, "cost model".
CALL_S = 10e-6  # one small operator call in a routed path's bookkeeping
# what one convolution call costs beyond its MACs (oneDNN): measured, a 3x3 convolution
# with 8 output channels on a 14x14 map pays 200-700 us more than its MACs at batch 1 to
# 64, one with 32 channels under 50 us. A routed convolution's groups are small, so the
# larger figure: with 80 us the model routed 16 groups at batch 16 at 0.7x dense.
CONV_CALL_S = 250e-6
MACS_PER_S = 50e9  # a large matrix product or convolution (the dense path)
ROUTED_MACS_PER_S = 35e9  # the routed path's smaller products and convolutions
BYTES_PER_S = 20e9  # a copy (gather, scatter, mask) or a weight read, in cache
MARGIN = 0.8
# reading the route (a reduction, its copy to the host and the bookkeeping around them:
# about four calls) must cost under 5% of the dense path, else the dense path is taken
# unread; with two calls counted, a convolution at batch 1 lost 10% to the reading
READ_ROUTE_S = 4 * CALL_S / 0.05


def seconds(
    macs: float,
    bytes_moved: float = 0.0,
    calls: float = 0.0,
    macs_per_s: float = MACS_PER_S,
    convs: int = 0,
) -> float:
    """The modelled time of a path."""
    return (
        macs / macs_per_s
        + bytes_moved / BYTES_PER_S
        + calls * CALL_S
        + convs * CONV_CALL_S
    )


def worth_reading(dense: float) -> bool:
    """Is a dense path of ``dense`` seconds worth reading the route for?"""
    return dense >= READ_ROUTE_S


def routed_pays(routed: float, dense: float) -> bool:
    """Take the routed path (modelled ``routed`` seconds) over the dense one?"""
    return routed < MARGIN * dense


# ------------------------------------------------------------------ the ops
#
# Each op is modelled twice: its dense path (one product or convolution, then a mask pass
# that reads and writes the output) and its routed path, whose calls are counted from its
# code in routed_linear_fast.py / routed_conv_fast.py. ``share`` is the active share of
# the work. The ops first ask, from the shapes alone, whether one active item a sample
# would pay; where it would not, or where the dense path is so short that reading the
# route (a reduction and a sync) would cost more than 5% of it, they take the dense path
# without reading the route.


def linear_seconds(
    batch: int,
    f_in: int,
    f_out: int,
    itemsize: int,
    share: float,
    blocks_on: float,
    gathered_bytes: float,
    pairs: bool,
) -> tuple[float, float]:
    """(routed, dense) seconds of ``routed_linear``. ``blocks_on``: active (sample,
    block) items (at batch 1, at most the runs of blocks read as views);
    ``gathered_bytes``: the inputs they read; ``pairs``: with in_route."""
    weight, x, out = (
        f_in * f_out * itemsize,
        batch * f_in * itemsize,
        batch * f_out * itemsize,
    )
    macs = batch * f_in * f_out
    dense = seconds(macs, weight + x + 3 * out, 4 if pairs else 3)
    if batch == 1:  # views of the active rows: the weight bytes read are the cost
        calls = 4 + 2 * blocks_on * (1 + pairs)
        return seconds(share * macs, share * weight + 3 * out, calls), dense
    calls, moved = (26, 3 * weight) if pairs else (16, weight)
    moved += 2 * gathered_bytes + 3 * out
    return seconds(share * macs, moved, calls, ROUTED_MACS_PER_S), dense


def conv_seconds(
    dense_macs: float,
    in_bytes: float,
    out_bytes: float,
    share: float,
    gathered_bytes: float,
    groups_used: int,
    tiles: bool,
    fast: bool,
) -> tuple[float, float]:
    """(routed, dense) seconds of ``routed_conv2d``. The routed path gathers its input
    (read and write), writes the output once (channel groups) or zeroes it and scatters
    (tiles); ``fast`` is False where the reference path runs (with ``in_route``)."""
    dense = seconds(dense_macs, in_bytes + 3 * out_bytes, 2, convs=1)
    if tiles:
        calls, written = 25 + 2 * groups_used, (1 + 2 * share) * out_bytes
    else:
        calls, written = 14 + 3 * groups_used, (1 + 2 * share) * out_bytes
    if not fast:
        calls += 4 * groups_used
    routed = seconds(
        share * dense_macs,
        2 * gathered_bytes + written,
        calls,
        ROUTED_MACS_PER_S,
        convs=groups_used,
    )
    return routed, dense


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
    buckets = seconds(
        batch * cost.path_macs,
        2 * batch * cost.bytes_per_sample,
        used * (cost.path_calls + 1) + 2,
    )
    return routed_pays(buckets, seconds(batch * cost.dense_macs, 0, cost.dense_calls))
