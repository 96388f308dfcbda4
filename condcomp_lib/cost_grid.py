"""The cost model's numbers, measured, and its choice checked over a grid.

Used by ``benchmarks/bench_ops.py`` (section "cost model" of its JSON) and chapter 5,
which draws the grid. Two things:

* :func:`calibrate` measures the three numbers of the machine that
  ``condcomp_lib.ops.cost_model`` uses (seconds per operator call, MACs per second, bytes
  per second), to set beside the constants stored there;
* :func:`grid` times, for routed_linear, routed_conv2d (channel groups and spatial tiles)
  and a dispatched block, at active fractions {0, 1/16, 1/8, 1/4, 1/2, 1} and batches {1,
  16, 256}, three contenders interleaved: dense-then-mask, the routed path, and "auto"
  (what the cost model picks). The figure that counts is dense / auto (the median of its
  per-round values), which must stay at 0.95 or above everywhere; the worst cell is
  reported, and where the routed path starts to lose against dense (the crossover) beside
  where the model switches."""

from __future__ import annotations


import torch
import torch.nn.functional as F
from tqdm import tqdm

from .bench import compare, time_fn
from .headless import headless
from .ops import cost_model
from .ops import routed as routed_ops
from .ops.checks import conv_geometry
from .ops.cost_model import BlockCost
from .ops.dispatch import Dispatch
from .ops.routed import routed_conv2d, routed_linear

FRACTIONS = (0.0, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
BATCHES = (1, 16, 256)


# ------------------------------------------------------------------ calibration


def _median_seconds(fn, repeats=21, inner=1):
    """Median seconds of one call of ``fn``, timed ``inner`` calls at a time (the
    library's timer, :func:`~condcomp_lib.bench.time_fn`)."""
    many = lambda: [fn() for _ in range(inner)]
    return time_fn(many, warmup=1, repeats=repeats).median / inner


def calibrate() -> dict:
    """The machine's numbers, measured the way the model uses them."""
    small = torch.rand(64, 8) < 0.3
    rows = torch.randn(64, 32)

    def ten_small_calls():  # what a routed path's bookkeeping is made of
        j, b = small.t().nonzero(as_tuple=True)
        counts = torch.bincount(j, minlength=8)
        counts.tolist()
        b * 8 + j
        rows.index_select(0, b)
        small.sum()
        torch.arange(len(b)) - counts.cumsum(0)[j]
        rows.new_zeros(64, 32)

    call = _median_seconds(ten_small_calls, inner=50) / 10
    x, w = torch.randn(256, 512), torch.randn(512, 512)
    gemm = 256 * 512 * 512 / _median_seconds(lambda: F.linear(x, w))
    xc, wc = torch.randn(64, 64, 14, 14), torch.randn(64, 64, 3, 3)
    conv = (
        64 * 64 * 64 * 9 * 14 * 14 / _median_seconds(lambda: F.conv2d(xc, wc, padding=1))
    )
    big = torch.randn(256, 128, 14, 14)
    copy = big.numel() * 4 / _median_seconds(big.clone, repeats=11)
    return {
        "measured": {
            "CALL_S": call,
            "MACS_PER_S_gemm": gemm,
            "MACS_PER_S_conv": conv,
            "BYTES_PER_S": copy,
        },
        "stored": {
            "CALL_S": cost_model.CALL_S,
            "MACS_PER_S": cost_model.MACS_PER_S,
            "BYTES_PER_S": cost_model.BYTES_PER_S,
            "MARGIN": cost_model.MARGIN,
        },
    }


# ------------------------------------------------------------------ the families


def _blocks_each(batch, groups, frac):
    """bool [B, G] with round(frac * G) groups on per sample, chosen at random."""
    k = round(frac * groups)
    return torch.rand(batch, groups).argsort(1) < k


def linear_family(batch, frac):
    x, w, b = torch.randn(batch, 512), torch.randn(512, 512) / 22, torch.randn(512)
    route = _blocks_each(batch, 16, frac)
    run = lambda s: routed_linear(x, w, b, route, strategy=s)
    return run, routed_ops._linear_path("auto", x, w, route, None) != "dense"


def conv_family(batch, frac):
    x = torch.randn(batch, 64, 14, 14)
    w, b = torch.randn(128, 64, 3, 3) / 24, torch.randn(128)
    route = _blocks_each(batch, 16, frac)
    run = lambda s: routed_conv2d(x, w, b, route, padding=1, strategy=s)
    g = conv_geometry(x, w, b, route, None, 1, 1, None)
    return run, routed_ops._conv_path("auto", x, route, None, g) != "dense"


def tile_family(batch, frac):
    """Spatial tiles; its runner also takes "plain", the convolution with no mask at
    all (SBNet's yardstick: "dense convolution")."""
    x = torch.randn(batch, 32, 28, 28)
    w, b = torch.randn(32, 32, 3, 3) / 17, torch.randn(32)
    route = torch.rand(batch, 1, 4, 4) < frac

    def run(s):
        if s == "plain":
            return F.conv2d(x, w, b, padding=1)
        return routed_conv2d(x, w, b, route, padding=1, strategy=s)

    g = conv_geometry(x, w, b, route, None, 1, 1, None)
    return run, routed_ops._conv_path("auto", x, route, None, g) != "dense"


def dispatch_family(batch, frac):
    """A block of K = 1/frac paths, each 256 -> 512/K -> 256 (frac 0: every sample on a
    path that computes nothing). Dense: the wide block, hidden units of other paths
    zeroed."""
    k = 1 if frac == 0 else round(1 / frac)
    w1, b1 = torch.randn(512, 256) / 16, torch.randn(512)
    w2, b2 = torch.randn(256, 512) / 22, torch.randn(256)
    x = torch.randn(batch, 256)
    hid = 512 // k
    paths = [
        (
            lambda h, r=r: F.linear(
                F.relu(
                    F.linear(h, w1[r * hid : (r + 1) * hid], b1[r * hid : (r + 1) * hid])
                ),
                w2[:, r * hid : (r + 1) * hid],
                b2,
            )
        )
        for r in range(k)
    ]
    route = torch.randint(0, k, (batch,))
    computing = k
    if frac == 0:  # one more route, which computes nothing
        paths, route = paths + [None], torch.full((batch,), k)
        k += 1

    def dense(h):
        on = (torch.arange(512) // hid)[None, :] == route[:, None]  # [B, 512]
        y = F.linear(torch.where(on, F.relu(F.linear(h, w1, b1)), 0), w2, b2)
        return torch.where((route < computing)[:, None], y, 0)

    path_macs = 256 * hid * 2
    block = BlockCost(path_macs, 4, 2 * 256 * 512, 6, bytes_per_sample=4 * 256)
    d = Dispatch(route, k)
    strategies = {"dense": "dense", "routed": "buckets", "auto": "auto"}
    run = lambda s: d.run(x, paths, dense=dense, cost=block, strategy=strategies[s])
    return run, cost_model.dispatch_pays(batch, len(d.used), block)


PLAIN = ("routed_conv2d tiles [B,32,28,28]->32, 7x7 tiles",)  # also timed plain
FAMILIES = {
    "routed_linear 512->512, G=16": linear_family,
    "routed_conv2d [B,64,14,14]->128, G=16": conv_family,
    "routed_conv2d tiles [B,32,28,28]->32, 7x7 tiles": tile_family,
    "Dispatch, K paths 256->512/K->256": dispatch_family,
}


# ------------------------------------------------------------------ the grid


def time_cell(family, batch, frac, repeats, strategies=("dense", "routed", "auto")):
    """One cell of the grid: ``strategies`` timed interleaved, each sample enough calls
    for about 10 ms. Returns (the comparison, calls per sample, whether the cost model
    routes)."""
    run, chosen = FAMILIES[family](batch, frac)
    with torch.no_grad():
        inner = max(1, round(0.01 / max(1e-6, _median_seconds(lambda: run("dense"), 5))))
        fns = {s: (lambda s=s: [run(s) for _ in range(inner)]) for s in strategies}
        return compare(fns, warmup=1, repeats=repeats), inner, chosen


def grid(
    repeats: int,
    fractions=FRACTIONS,
    batches=BATCHES,
    families=tuple(FAMILIES),
    verbose: bool = True,
) -> dict:
    """Every family x fraction x batch, three contenders interleaved; see the module
    doc. ``verbose`` prints a line a cell, else a progress bar shows (not headless)."""
    torch.manual_seed(0)
    cells, worst = [], None
    todo = [(f, b, a) for f in families for b in batches for a in fractions]
    for family, batch, frac in tqdm(
        todo, desc="grid", disable=verbose or headless(), ncols=80, mininterval=2.0
    ):
        strategies = ("dense", "routed", "auto") + (("plain",) if family in PLAIN else ())
        t, inner, chosen = time_cell(family, batch, frac, repeats, strategies)
        ms = {s: 1e3 * t[s].median / inner for s in t}
        # ratios of the same round, then their median: the machine's slow drifts cancel
        # within a round
        paired = {s: t.ratio("dense", s).value for s in ("routed", "auto")}
        cell = dict(
            family=family,
            batch=batch,
            active=frac,
            chosen="routed" if chosen else "dense",
            ms=ms,
            auto_vs_dense=paired["auto"],
            routed_vs_dense=paired["routed"],
            # against the convolution with no mask, where it was timed
            routed_vs_plain=t.ratio("plain", "routed").value if "plain" in t else None,
            noisy=t.noisy,
        )
        cells.append(cell)
        if worst is None or cell["auto_vs_dense"] < worst["auto_vs_dense"]:
            worst = cell
        if verbose:
            print(
                f"  {family:<48} B={batch:<4} active {frac:6.4f}: dense "
                f"{ms['dense']:8.3f} ms, routed {cell['routed_vs_dense']:5.2f}x, "
                f"auto ({cell['chosen']}) {cell['auto_vs_dense']:5.2f}x",
                flush=True,
            )
    return {
        "cells": cells,
        "worst": worst,
        "crossovers": crossovers(cells),
        "target": ["auto_vs_dense>=", 0.95],
        "met": worst["auto_vs_dense"] >= 0.95,
    }


def large_map_tiles(
    repeats: int,
    fractions=(1 / 16, 1 / 8, 1 / 4, 1 / 2),
    size: int = 256,
    channels: int = 64,
    grid_side: int = 16,
) -> list[dict]:
    """SBNet's regime at batch 1: one 3x3 convolution, ``channels`` -> ``channels``, on a
    ``size`` x ``size`` map cut into ``grid_side`` x ``grid_side`` tiles (16 x 16 pixels
    on the default 256 x 256 map), with ``frac`` of the tiles on. Three contenders timed
    interleaved: the plain dense convolution (``F.conv2d``, no mask: what SBNet compares
    with), dense-then-mask and the routed tile path. The grid's tile family uses a small
    28 x 28 map, where a tile is 7 x 7 pixels and its halo a large share of it; here the
    work a tile saves is large against the data it moves. Returns one row a fraction."""
    torch.manual_seed(0)
    x = torch.randn(1, channels, size, size)
    w = torch.randn(channels, channels, 3, 3) / (3 * channels**0.5)
    b = torch.randn(channels)
    tiles = grid_side * grid_side
    rows = []
    for frac in fractions:
        on = torch.randperm(tiles) < round(frac * tiles)  # exactly frac of the tiles
        route = on.view(1, 1, grid_side, grid_side)
        fns = {
            "plain": lambda: F.conv2d(x, w, b, padding=1),
            "dense": lambda r=route: routed_conv2d(
                x, w, b, r, padding=1, strategy="dense"
            ),
            "routed": lambda r=route: routed_conv2d(
                x, w, b, r, padding=1, strategy="routed"
            ),
        }
        with torch.no_grad():
            t = compare(fns, warmup=1, repeats=repeats)
        rows.append(
            dict(
                shape=[1, channels, size, size],
                active=frac,
                ms={k: 1e3 * t[k].median for k in fns},
                routed_vs_plain=t.ratio("plain", "routed").value,
                routed_vs_dense=t.ratio("dense", "routed").value,
                noisy=t.noisy,
            )
        )
    return rows


def crossovers(cells) -> list:
    """Per family and batch: the smallest active fraction where the routed path is no
    faster than dense (measured), and the smallest where the model chooses dense."""
    out = []
    for family in dict.fromkeys(c["family"] for c in cells):
        for batch in sorted({c["batch"] for c in cells}):
            row = [c for c in cells if c["family"] == family and c["batch"] == batch]
            loses = [c["active"] for c in row if c["routed_vs_dense"] < 1.0]
            dense = [c["active"] for c in row if c["chosen"] == "dense"]
            out.append(
                dict(
                    family=family,
                    batch=batch,
                    routed_loses_from=min(loses) if loses else None,
                    model_goes_dense_from=min(dense) if dense else None,
                )
            )
    return out
