"""The work plan of a routed convolution on the kernel path, made with one host
synchronisation.

Used by ``routed_kernel`` (the GPU path of :func:`condcomp_lib.ops.routed_conv2d`). It
cuts the work the way ``routed_conv_reference.plan`` does (the readable version, and the
oracle), but on the device and without a Python loop over samples:

* an *item* is (sample b, output group j, tile ty, tx);
* a *unit* is one dense convolution: the items of output group j whose samples read the
  same input channels (the same pattern of active input groups; one pattern without
  ``in_route``). Every active item belongs to exactly one unit, so the unit's result is
  written into the output, never added, and the output needs no initialisation;
* items whose route bit is off are filled with exact zeros, and items whose sample reads
  no input group are filled with the bias (or zeros): each output element is written once;
* when the patterns are so many that this would exceed G_in * G units, the work is cut by
  (input group, output group) pairs instead: every active item is filled with the bias
  first and the pairs' results are added in turn (``Unit.accumulate``), as the reference
  does.

How, on the device: every item gets a key (its unit, or "off in group j"), one stable sort
orders the items by key, and ``searchsorted`` finds where each key's run starts. The one
synchronisation copies those boundaries (and the samples' input patterns) to the host,
which needs them to size the convolutions. Backward reuses the plan, so it does not
synchronise."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from . import cuda
from .checks import Geometry

MAX_CODE_GROUPS = (
    62  # input patterns travel as the bits of an int64 up to this many groups
)


@dataclass
class Unit:
    """One dense convolution: output group ``j`` for ``items`` [n, 4] (b, j, ty, tx),
    reading input channels ``chans`` (int32 on the device) or, when that is None, c0 ...
    c0 + c_sel - 1."""

    j: int
    items: torch.Tensor
    c0: int
    c_sel: int
    chans: torch.Tensor | None
    accumulate: bool


@dataclass
class Fill:
    """Items written without a convolution: the bias where ``with_bias``, else exact
    zeros."""

    items: torch.Tensor
    with_bias: bool


@dataclass
class Plan:
    all_on: bool  # nothing to route: the ordinary convolution
    units: list[Unit] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)


def to_host(t: torch.Tensor) -> np.ndarray:
    """The plan's one host synchronisation (a separate function so that tests can count
    it)."""
    return t.cpu().numpy()


def _patterns(in_route, g: Geometry, dev):
    """Each sample's input pattern id [B] (on the device; None without in_route), a bound
    on the number of patterns, and what the host needs to name the patterns."""
    if in_route is None:
        return None, 1, torch.zeros(0, dtype=torch.int64, device=dev)
    if g.in_groups > MAX_CODE_GROUPS:  # rare: torch.unique, at the price of a second sync
        patterns, pid = torch.unique(in_route, dim=0, return_inverse=True)
        return pid, g.batch, patterns.flatten().long()
    bits = torch.arange(g.in_groups, device=dev)
    code = (in_route.long() << bits).sum(1)  # [B]
    ordered, _ = code.sort()
    new = torch.ones_like(ordered, dtype=torch.bool)
    new[1:] = ordered[1:] != ordered[:-1]
    rank = new.cumsum(0) - 1  # pattern id, in order
    pid = rank[torch.searchsorted(ordered, code)]
    return pid, min(g.batch, 2**g.in_groups), code


def _pattern_groups(host_data: np.ndarray, g: Geometry) -> list[tuple[int, ...] | None]:
    """The input groups of each pattern id, None for "all of them" (from _patterns'
    data)."""
    if len(host_data) == 0:  # no in_route
        return [None]
    if g.in_groups > MAX_CODE_GROUPS:
        rows = host_data.reshape(-1, g.in_groups)
        groups = [tuple(int(i) for i in np.flatnonzero(r)) for r in rows]
    else:
        groups = [
            tuple(i for i in range(g.in_groups) if c >> i & 1)
            for c in np.unique(host_data)
        ]
    return [None if len(s) == g.in_groups else s for s in groups]


def _unpack(flat: torch.Tensor, slots: int, g: Geometry, dtype) -> torch.Tensor:
    """Items [n, 4] (b, j, ty, tx) from flat indices into a [B, slots, tiles] mask."""
    n = flat.numel()
    if 4 * n >= 2**31:
        raise ValueError(f"{n} items exceed the routing kernels' 32-bit indices")
    items = torch.empty(n, 4, dtype=torch.int32, device=flat.device)
    if n:
        k = cuda.kernel("routing.cu", "unpack_items", dtype, flat.device)
        cuda.launch(
            k,
            (-(-n // 256), 1, 1),
            (min(n, 256), 1, 1),
            flat.contiguous(),
            n,
            slots,
            g.groups,
            g.grid[0] * g.grid[1],
            g.grid[1],
            items,
        )
    return items


def _chans(groups, g: Geometry, device) -> torch.Tensor:
    per = g.group_in
    idx = [i * per + c for i in groups for c in range(per)]
    return torch.tensor(idx, dtype=torch.int32).to(device, non_blocking=True)


def make(route, in_route, g: Geometry, dtype: torch.dtype) -> Plan:
    """The plan of one routed convolution; ``dtype`` picks the compiled module to use."""
    dev, n_groups = route.device, g.groups
    tiles = g.grid[0] * g.grid[1]
    on = route.reshape(g.batch, n_groups, tiles)
    pid, n_pat, pattern_data = _patterns(in_route, g, dev)
    j = torch.arange(n_groups, device=dev).view(1, n_groups, 1)
    unit_key = j * n_pat + (0 if pid is None else pid.view(-1, 1, 1))
    key = torch.where(on, unit_key, n_groups * n_pat + j)  # off: after the units
    n_keys = n_groups * n_pat + n_groups
    ordered, flat = key.flatten().sort(stable=True)
    bounds = torch.searchsorted(ordered, torch.arange(n_keys + 1, device=dev))
    host = to_host(torch.cat([bounds, pattern_data]))  # the synchronisation
    bounds, patterns = host[: n_keys + 1], _pattern_groups(host[n_keys + 1 :], g)

    n_on = int(bounds[n_groups * n_pat])
    if n_on == flat.numel() and all(p is None for p in patterns):
        return Plan(all_on=True)
    items = _unpack(flat, n_groups, g, dtype)
    plan = Plan(all_on=False)
    if n_on < flat.numel():
        plan.fills.append(Fill(items[n_on:], False))
    counts = np.diff(bounds)
    used = [
        (jj, p)
        for jj in range(n_groups)
        for p in range(len(patterns))
        if counts[jj * n_pat + p]
    ]
    if len(used) > g.in_groups * n_groups:
        _pair_units(plan, items[:n_on], in_route, on, counts, n_pat, patterns, g, dtype)
        return plan

    chans = {p: _chans(p, g, dev) for p in set(patterns) if p}  # partial patterns
    for jj, p in used:
        k = jj * n_pat + p
        unit_items = items[int(bounds[k]) : int(bounds[k + 1])]
        groups = patterns[p]
        if groups is None:
            plan.units.append(Unit(jj, unit_items, 0, g.c_in, None, False))
        elif not groups:  # reads nothing
            plan.fills.append(Fill(unit_items, True))
        else:
            plan.units.append(
                Unit(jj, unit_items, 0, len(chans[groups]), chans[groups], False)
            )
    return plan


def _pair_units(
    plan, on_items, in_route, on, counts, n_pat, patterns, g: Geometry, dtype
):
    """Cut the active work by (input group i, output group j) pairs, summed into the
    output after every active item was filled with the bias."""
    plan.fills.append(Fill(on_items, True))
    n_in, n_groups = g.in_groups, g.groups
    pair_on = in_route[:, :, None, None] & on[:, None]  # [B, G_in, G, tiles]
    i = torch.arange(n_in, device=on.device).view(1, n_in, 1, 1)
    j = torch.arange(n_groups, device=on.device).view(1, 1, n_groups, 1)
    key = torch.where(pair_on, j * n_in + i, n_groups * n_in)
    _, flat = key.flatten().sort(stable=True)
    # a pair's count is the sum of its output group's counts over the patterns holding i
    sizes = [
        [
            sum(
                int(counts[jj * n_pat + p])
                for p, groups in enumerate(patterns)
                if groups is None or ii in groups
            )
            for ii in range(n_in)
        ]
        for jj in range(n_groups)
    ]
    total = sum(map(sum, sizes))
    items = _unpack(flat[:total], n_in * n_groups, g, dtype)
    start = 0
    for jj in range(n_groups):
        for ii in range(n_in):
            if sizes[jj][ii]:
                plan.units.append(
                    Unit(
                        jj,
                        items[start : start + sizes[jj][ii]],
                        ii * g.group_in,
                        g.group_in,
                        None,
                        True,
                    )
                )
            start += sizes[jj][ii]
