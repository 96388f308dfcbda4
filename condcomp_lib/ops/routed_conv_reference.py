"""Routed convolution in plain PyTorch: the ground truth, and the CPU path.

Used through :func:`condcomp_lib.ops.routed_conv2d` by CIGT (chapter 4), Bengio et al.'s
block policies, Olah's activity specialization and early exit.

It must *realize* the savings, not compute everything and mask: for every output group it
gathers the samples (and tiles) that are on, runs one ordinary convolution on that compact
stack with the group's slice of the weight, and scatters the result into a zero output. On
a CPU a few large convolutions beat many small ones, so the work is cut into as few
*units* as the routing allows:

* channel routing: one unit per output group (G convolutions, whatever the batch);
* with ``in_route``: one unit per (output group, pattern of active input groups). In a
  trellis every sample has exactly one input group on, so this is one unit per (input
  group, output group) pair. When the patterns are so many that this would exceed G_in * G
  units, the work is cut by pairs instead and the pair results are summed
  (``accumulate``);
* spatial tiles: each unit gathers its tiles with their halo ((th-1)*stride + k input
  pixels a side) from the padded input, and convolves the stack with padding 0.

The backward pass walks the same units and calls PyTorch's convolution backward on each,
so gradients flow through active items only."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .checks import Geometry


@dataclass
class Unit:
    """One dense convolution: output group ``j`` for the items (b, ty, tx) it lists,
    reading the input channels ``chans`` (None: all; empty: none, the output is the bias
    alone)."""

    j: int
    b: torch.Tensor
    ty: torch.Tensor
    tx: torch.Tensor
    chans: torch.Tensor | None
    with_bias: bool
    accumulate: bool
    everyone: bool  # channel routing, and every sample of the batch is in this unit


def all_on(route: torch.Tensor, in_route: torch.Tensor | None) -> bool:
    """Everything routed on: the op is the ordinary convolution, computed in one call."""
    return bool(route.all()) and (in_route is None or bool(in_route.all()))


def dense_backward(grad_out, x, weight, bias, g: Geometry, needs) -> tuple:
    """Gradients (x, weight, bias) of ``F.conv2d(x, weight, bias, g.stride, g.padding)``,
    for ``needs`` (x, weight, bias): backward when everything is routed on."""
    return torch.ops.aten.convolution_backward(
        grad_out,
        x,
        weight,
        [g.c_out] if bias is not None else None,
        list(g.stride),
        list(g.padding),
        [1, 1],
        False,
        [0, 0],
        1,
        [needs[0], needs[1], needs[2] and bias is not None],
    )


def plan(route4: torch.Tensor, in_route: torch.Tensor | None, g: Geometry) -> list[Unit]:
    """Cut the active work of ``route4`` [B, G, Th, Tw] into units (see the module
    doc)."""
    units: list[Unit] = []

    def items(mask):  # mask [B, Th, Tw] -> (b, ty, tx)
        b, ty, tx = mask.nonzero(as_tuple=True)
        return b, ty, tx

    def add(j, mask, chans, with_bias, accumulate):
        b, ty, tx = items(mask)
        if len(b):
            units.append(
                Unit(
                    j,
                    b,
                    ty,
                    tx,
                    chans,
                    with_bias,
                    accumulate,
                    not g.spatial and len(b) == g.batch,
                )
            )

    if in_route is None:
        for j in range(g.groups):
            add(j, route4[:, j], None, True, False)
        return units

    chan_of = torch.arange(g.c_in, device=route4.device).view(g.in_groups, g.group_in)
    patterns, which = torch.unique(in_route, dim=0, return_inverse=True)  # [P, G_in], [B]
    used = (
        torch.nn.functional.one_hot(which, len(patterns)).T.float()
        @ route4.flatten(2).any(2).float()
    )  # [P, G] samples
    if int((used > 0).sum()) <= g.in_groups * g.groups:
        for q, pattern in enumerate(patterns):
            chans = None if bool(pattern.all()) else chan_of[pattern].flatten()
            for j in range(g.groups):
                if used[q, j] > 0:
                    add(j, route4[:, j] & (which == q)[:, None, None], chans, True, False)
        return units

    # too many patterns: sum over (input group, output group) pairs, bias written first
    for j in range(g.groups):
        add(j, route4[:, j], chan_of[:0].flatten(), True, False)
        for i in range(g.in_groups):
            add(j, route4[:, j] & in_route[:, i, None, None], chan_of[i], False, True)
    return units


# ------------------------------------------------------------------ gather and scatter


def input_source(x: torch.Tensor, g: Geometry) -> torch.Tensor:
    """What units gather from: x itself (channel routing), or for tiles a strided view of
    the padded input as patches [B, Th, Tw, C_in, ph, pw] (no copy until a unit gathers).
    """
    if not g.spatial:
        return x
    (ph, pw), (sh, sw), (th, tw) = g.patch, g.stride, g.tile
    xp = F.pad(x, (g.padding[1], g.padding[1], g.padding[0], g.padding[0]))
    return xp.unfold(2, ph, th * sh).unfold(3, pw, tw * sw).permute(0, 2, 3, 1, 4, 5)


def gather_input(src: torch.Tensor, u: Unit, g: Geometry) -> torch.Tensor:
    """The unit's input stack: [n, C_sel, H, W] (channels) or [n, C_sel, ph, pw]
    (tiles)."""
    if not g.spatial:
        xs = src if u.everyone else src.index_select(0, u.b)
        return xs if u.chans is None else xs.index_select(1, u.chans)
    if u.chans is None:
        return src[u.b, u.ty, u.tx]
    return src[u.b[:, None], u.ty[:, None], u.tx[:, None], u.chans]


def out_tiles(out: torch.Tensor, g: Geometry) -> torch.Tensor:
    """A view of out [B, C_out, H_out, W_out] as tiles [B, G, Th, Tw, C_out/G, th, tw]."""
    (Th, Tw), (th, tw) = g.grid, g.tile
    return out.view(g.batch, g.groups, g.group_out, Th, th, Tw, tw).permute(
        0, 1, 3, 5, 2, 4, 6
    )


def out_rows(out: torch.Tensor, g: Geometry, j: int) -> torch.Tensor:
    """Output group j as rows [B, C_out/G * H_out * W_out] (a view; channel routing)."""
    return out.view(g.batch, g.groups, -1)[:, j]


def scatter_output(out: torch.Tensor, y: torch.Tensor, u: Unit, g: Geometry) -> None:
    """Write (or add) the unit's result y [n, C_out/G, th, tw] into its place in
    ``out``."""
    if g.spatial:
        out_tiles(out, g)[:, u.j].index_put_(
            (u.b, u.ty, u.tx), y, accumulate=u.accumulate
        )
        return
    rows, y = out_rows(out, g, u.j), y.reshape(len(u.b), -1)
    if u.everyone:
        rows.add_(y) if u.accumulate else rows.copy_(y)
    else:
        rows.index_add_(0, u.b, y) if u.accumulate else rows.index_copy_(0, u.b, y)


def gather_output(grad_out: torch.Tensor, u: Unit, g: Geometry) -> torch.Tensor:
    """The gradient of the unit's outputs, [n, C_out/G, th, tw] (inverse of
    scatter_output)."""
    if g.spatial:
        return out_tiles(grad_out, g)[:, u.j][u.b, u.ty, u.tx]
    shape = (len(u.b), g.group_out, *g.out_hw)
    rows = out_rows(grad_out, g, u.j)
    return (rows if u.everyone else rows.index_select(0, u.b)).reshape(shape)


# ------------------------------------------------------------------ the two passes


def _slices(u: Unit, weight, bias, g: Geometry):
    rows = slice(u.j * g.group_out, (u.j + 1) * g.group_out)
    w = weight[rows] if u.chans is None else weight[rows].index_select(1, u.chans)
    b = bias[rows] if (bias is not None and u.with_bias) else None
    return rows, w, b


def _conv_padding(g: Geometry):
    return (0, 0) if g.spatial else g.padding  # tiles carry their halo, so no padding


def forward(x, weight, bias, route, in_route, g: Geometry) -> torch.Tensor:
    """y [B, C_out, H_out, W_out]: the convolution where ``route`` is on, exact zeros
    elsewhere."""
    if all_on(route, in_route):
        return F.conv2d(x, weight, bias, g.stride, g.padding)
    out = x.new_zeros(g.batch, g.c_out, *g.out_hw)
    src = input_source(x, g)
    for u in plan(route.view(g.batch, g.groups, *g.grid), in_route, g):
        rows, w, b = _slices(u, weight, bias, g)
        if u.chans is not None and len(u.chans) == 0:  # no input read: bias only
            if b is None:
                continue
            y = b.view(1, -1, 1, 1).expand(len(u.b), -1, *g.tile)
        else:
            y = F.conv2d(gather_input(src, u, g), w, b, g.stride, _conv_padding(g))
        scatter_output(out, y, u, g)
    return out


def backward(grad_out, x, weight, bias, route, in_route, g: Geometry, needs=(True,) * 3):
    """Gradients (x, weight, bias) of ``forward``, through the active units only."""
    need_x, need_w, need_b = needs[0], needs[1], needs[2] and bias is not None
    if all_on(route, in_route):
        return dense_backward(grad_out, x, weight, bias, g, needs)
    gw = torch.zeros_like(weight) if need_w else None
    gb = torch.zeros_like(bias) if need_b else None
    src = input_source(x.detach(), g)
    if (
        g.spatial
    ):  # patch gradients [B, Th, Tw, C_in, ph, pw], summed into x by fold below
        gcols = x.new_zeros(g.batch, *g.grid, g.c_in, *g.patch) if need_x else None
    else:
        gx = (
            torch.zeros_like(x, memory_format=torch.contiguous_format) if need_x else None
        )

    for u in plan(route.view(g.batch, g.groups, *g.grid), in_route, g):
        rows, w, b = _slices(u, weight, bias, g)
        gy = gather_output(grad_out, u, g)
        if u.chans is not None and len(u.chans) == 0:
            if need_b and b is not None:
                gb[rows] += gy.sum((0, 2, 3))
            continue
        xs = gather_input(src, u, g)
        gxs, gws, gbs = torch.ops.aten.convolution_backward(
            gy,
            xs,
            w,
            [w.shape[0]] if b is not None else None,
            list(g.stride),
            list(_conv_padding(g)),
            [1, 1],
            False,
            [0, 0],
            1,
            [need_x, need_w, need_b and b is not None],
        )
        if need_w and u.chans is None:
            gw[rows] += gws
        elif need_w:
            gw[rows].index_add_(1, u.chans, gws)
        if gbs is not None:
            gb[rows] += gbs
        if need_x and g.spatial:
            idx = (
                (u.b, u.ty, u.tx)
                if u.chans is None
                else (u.b[:, None], u.ty[:, None], u.tx[:, None], u.chans)
            )
            gcols.index_put_(idx, gxs, accumulate=True)
        elif need_x:
            if u.everyone and u.chans is None:
                gx += gxs
            elif u.chans is None:
                gx.index_add_(0, u.b, gxs)
            else:
                gx.index_put_((u.b[:, None], u.chans), gxs, accumulate=True)

    if need_x and g.spatial:  # [B, Th, Tw, C_in, ph, pw] -> [B, C_in*ph*pw, Th*Tw]
        gx = fold_patches(gcols.permute(0, 3, 4, 5, 1, 2).flatten(1, 3).flatten(2), g)
    return (gx if need_x else None), gw, gb


def fold_patches(cols: torch.Tensor, g: Geometry) -> torch.Tensor:
    """dL/dx from the tiles' patch gradients, cols [B, C_in*ph*pw, Th*Tw] (F.fold's
    layout): the halos overlap, so F.fold sums them into the padded input; then the
    padding is cut away."""
    (ph, pw), (h, w), (pad_h, pad_w) = g.patch, g.in_hw, g.padding
    padded = F.fold(
        cols,
        (h + 2 * pad_h, w + 2 * pad_w),
        (ph, pw),
        stride=(g.tile[0] * g.stride[0], g.tile[1] * g.stride[1]),
    )
    return padded[:, :, pad_h : pad_h + h, pad_w : pad_w + w]
