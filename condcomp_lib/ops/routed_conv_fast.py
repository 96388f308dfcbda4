"""Routed convolution on a CPU, fast: every gather and every scatter done once.

Used through :func:`condcomp_lib.ops.routed_conv2d` by CIGT (chapter 4), chapter 5 and
Olah's activity specialization (spatial tiles). The readable ground truth is
:mod:`.routed_conv_reference` beside it; the tests hold the two equal, value and gradient.
This file covers the routes without ``in_route`` (a trellis runs through
:class:`~condcomp_lib.ops.Dispatch` instead); :func:`supports` says so, and the caller
falls back to the reference for the rest.

What makes it fast (measured by ``benchmarks/bench_ops.py``: on a CPU a fresh output costs
page faults and a memset, so bytes written count as much as MACs):

* the active items are listed once, grouped by output group (``nonzero`` on the transposed
  route, no loop over samples), and the input they read is gathered once;
* each output group runs one convolution on its contiguous slice of that stack;
* the output is written exactly once: rows that are off get zeros (``index_fill_``), rows
  that are on get their results (``index_copy_``), with no zero-filled buffer first;
* spatial tiles follow SBNet: every active tile, with its halo, is gathered from the
  unpadded input in one indexing operation (indices clamped at the border, the pixels
  outside masked to zero, so the whole input is never padded or copied), convolved with no
  padding, and written back in one ``index_put_``.

Backward walks the same items: one gather of the output gradient, the convolution's
backward per group, one scatter of the input gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .checks import Geometry
from .routed_conv_reference import all_on, dense_backward


def supports(g: Geometry, in_route) -> bool:
    """True when this file computes the op: channel groups or tiles, without
    ``in_route``."""
    return in_route is None


@dataclass
class Items:
    """The active (group, sample[, tile]) items, grouped by output group: ``b``, ``ty``,
    ``tx`` [n] (tiles zero for channel routing) and ``counts[j]`` items in group j."""

    j: torch.Tensor
    b: torch.Tensor
    ty: torch.Tensor
    tx: torch.Tensor
    counts: list


def items(route: torch.Tensor, g: Geometry) -> Items:
    """List the active items of ``route`` [B, G] or [B, G, Th, Tw], group by group."""
    if g.spatial:
        j, b, ty, tx = route.transpose(0, 1).nonzero(as_tuple=True)  # sorted by group
    else:
        j, b = route.t().nonzero(as_tuple=True)
        ty = tx = None
    counts = torch.bincount(j, minlength=g.groups).tolist()
    return Items(j, b, ty, tx, counts)


# ------------------------------------------------------------------ channel routing


def _rows(it: Items, g: Geometry) -> torch.Tensor:
    """Row of each item in the output viewed as [B * G, C_out/G * H_out * W_out]."""
    return it.b * g.groups + it.j


def _group_slices(weight, bias, g: Geometry, j: int):
    rows = slice(j * g.group_out, (j + 1) * g.group_out)
    return rows, weight[rows], (None if bias is None else bias[rows])


# oneDNN on the book's CPU runs 3x3 (and smaller) convolutions 1.3 to 1.6 times faster on
# channels-last input than on NCHW, and 5x5 ones alike or slower (bench_ops.py, chapter 5)
CHANNELS_LAST_MAX_KERNEL = 3


def _gather_rows(
    t: torch.Tensor, rows: torch.Tensor, channels_last: bool
) -> torch.Tensor:
    """t[rows] for t [N, C, H, W], in channels-last memory when asked: gathering from the
    NHWC view makes the layout in the same single copy."""
    if not channels_last:
        return t.index_select(0, rows)
    return t.permute(0, 2, 3, 1).index_select(0, rows).permute(0, 3, 1, 2)


def _channels_last(g: Geometry) -> bool:
    return max(g.kernel) <= CHANNELS_LAST_MAX_KERNEL


def _channel_forward(x, weight, bias, route, g: Geometry) -> torch.Tensor:
    it = items(route, g)
    xs = _gather_rows(x, it.b, _channels_last(g))  # [n, C_in, H, W], by group
    out = x.new_empty(g.batch * g.groups, g.group_out, *g.out_hw)
    on = _rows(it, g)
    off = (~route).flatten().nonzero().flatten()  # rows of the groups off
    out.index_fill_(0, off, 0)
    start = 0
    for j, n in enumerate(it.counts):  # one convolution a group
        if n:
            _, w, b = _group_slices(weight, bias, g, j)
            y = F.conv2d(xs[start : start + n], w, b, g.stride, g.padding)
            out.index_copy_(0, on[start : start + n], y.contiguous())  # NCHW rows
            start += n
    return out.view(g.batch, g.c_out, *g.out_hw)


def _per_group_backward(gys, xs, weight, bias, it: Items, g: Geometry, padding, needs):
    """The convolution's backward for each group's slice of the stacks ``gys`` (output
    gradients) and ``xs`` (inputs): the stack of input gradients (None unless asked for),
    and the weight and bias gradients, each group's rows filled by its slice."""
    need_x, need_w, need_b = needs
    gxs = xs.new_empty(xs.shape) if need_x else None
    gw = torch.zeros_like(weight) if need_w else None
    gb = torch.zeros_like(bias) if need_b else None
    start = 0
    for j, n in enumerate(it.counts):
        if not n:
            continue
        rows, w, b = _group_slices(weight, bias, g, j)
        part = slice(start, start + n)
        gx_j, gw_j, gb_j = torch.ops.aten.convolution_backward(
            gys[part],
            xs[part],
            w,
            [w.shape[0]] if b is not None else None,
            list(g.stride),
            list(padding),
            [1, 1],
            False,
            [0, 0],
            1,
            list(needs),
        )
        if need_x:
            gxs[part] = gx_j
        if need_w:
            gw[rows] = gw_j
        if need_b:
            gb[rows] = gb_j
        start += n
    return gxs, gw, gb


def _channel_backward(grad_out, x, weight, bias, route, g: Geometry, needs):
    needs = (needs[0], needs[1], needs[2] and bias is not None)
    it = items(route, g)
    # the convolution's backward is the faster on NCHW, whatever the kernel (measured)
    xs = x.index_select(0, it.b)
    gys = grad_out.reshape(g.batch * g.groups, g.group_out, *g.out_hw).index_select(
        0, _rows(it, g)
    )  # [n, C_out/G, H', W']
    gxs, gw, gb = _per_group_backward(gys, xs, weight, bias, it, g, g.padding, needs)
    gx = None
    if needs[0]:  # a sample in several groups sums their gradients
        gx = torch.zeros_like(x, memory_format=torch.contiguous_format)
        gx.index_add_(0, it.b, gxs)
    return gx, gw, gb


# ------------------------------------------------------------------ spatial tiles


def _windows(it: Items, g: Geometry):
    """For each item, the input rows and columns its tile reads (with halo), clamped into
    the input, and a mask [n, 1, ph, pw] of the pixels that lie inside it (the rest are
    the convolution's zero padding)."""
    (ph, pw), (th, tw), (sh, sw) = g.patch, g.tile, g.stride
    (pad_h, pad_w), (h, w) = g.padding, g.in_hw
    dev = it.b.device
    r = it.ty[:, None] * (th * sh) - pad_h + torch.arange(ph, device=dev)  # [n, ph]
    c = it.tx[:, None] * (tw * sw) - pad_w + torch.arange(pw, device=dev)  # [n, pw]
    inside = ((r >= 0) & (r < h))[:, :, None] & ((c >= 0) & (c < w))[:, None, :]
    return r.clamp(0, h - 1), c.clamp(0, w - 1), inside[:, None]


def _gather_tiles(x, it: Items, g: Geometry):
    """The tile stack [n, C_in, ph, pw]: one advanced-indexing gather from x itself."""
    r, c, inside = _windows(it, g)
    stack = x[it.b[:, None, None], :, r[:, :, None], c[:, None, :]]  # [n, ph, pw, C_in]
    return stack.permute(0, 3, 1, 2).mul(inside), (r, c, inside)


def _tile_view(t: torch.Tensor, g: Geometry) -> torch.Tensor:
    """t [B, C_out, H_out, W_out] as [B, G, Th, Tw, C_out/G, th, tw], a view of either
    memory layout (NCHW, or channels-last as the forward writes it)."""
    (Th, Tw), (th, tw) = g.grid, g.tile
    if t.is_contiguous(memory_format=torch.channels_last):
        nhwc = t.permute(0, 2, 3, 1).view(g.batch, Th, th, Tw, tw, g.groups, g.group_out)
        return nhwc.permute(0, 5, 1, 3, 6, 2, 4)
    tiles = t.contiguous().view(g.batch, g.groups, g.group_out, Th, th, Tw, tw)
    return tiles.permute(0, 1, 3, 5, 2, 4, 6)


def _spatial_forward(x, weight, bias, route, g: Geometry) -> torch.Tensor:
    """The output is written in channels-last memory: there a tile of one row holds all
    its channels in one run (2 KB for 8 pixels of 64 channels) instead of 8 values per
    channel, and the scatter is several times faster. Its values and shape are the NCHW
    result's."""
    it = items(route, g)
    out = torch.empty(
        g.batch,
        g.c_out,
        *g.out_hw,
        dtype=x.dtype,
        device=x.device,
        memory_format=torch.channels_last,
    ).zero_()
    if not it.j.numel():
        return out
    stack, _ = _gather_tiles(x, it, g)  # [n, C_in, ph, pw]
    ys, start = [], 0
    for j, n in enumerate(it.counts):
        if n:
            _, w, b = _group_slices(weight, bias, g, j)
            ys.append(F.conv2d(stack[start : start + n], w, b, g.stride))  # no padding
            start += n
    y = ys[0] if len(ys) == 1 else torch.cat(ys)  # [n, C_out/G, th, tw]
    _tile_view(out, g).index_put_((it.b, it.j, it.ty, it.tx), y)
    return out


def _spatial_backward(grad_out, x, weight, bias, route, g: Geometry, needs):
    needs = (needs[0], needs[1], needs[2] and bias is not None)
    it = items(route, g)
    if not it.j.numel():
        return (
            torch.zeros_like(x, memory_format=torch.contiguous_format)
            if needs[0]
            else None,
            torch.zeros_like(weight) if needs[1] else None,
            torch.zeros_like(bias) if needs[2] else None,
        )
    stack, (r, c, inside) = _gather_tiles(x, it, g)
    gys = _tile_view(grad_out, g)[it.b, it.j, it.ty, it.tx]  # [n, C_out/G, th, tw]
    gstack, gw, gb = _per_group_backward(gys, stack, weight, bias, it, g, (0, 0), needs)
    gx = None
    if needs[0]:  # halos overlap and border pixels were clamped: sum, masked
        gx = torch.zeros_like(x, memory_format=torch.contiguous_format)
        vals = (gstack * inside).permute(0, 2, 3, 1)  # [n, ph, pw, C_in]
        gx.permute(0, 2, 3, 1).index_put_(  # a view [B, H, W, C_in]
            (it.b[:, None, None], r[:, :, None], c[:, None, :]), vals, accumulate=True
        )
    return gx, gw, gb


# ------------------------------------------------------------------ the two passes


def forward(x, weight, bias, route, in_route, g: Geometry) -> torch.Tensor:
    """y [B, C_out, H_out, W_out]: the convolution where ``route`` is on, zeros
    elsewhere."""
    if all_on(route, in_route):
        return F.conv2d(x, weight, bias, g.stride, g.padding)
    if g.spatial:
        return _spatial_forward(x, weight, bias, route, g)
    return _channel_forward(x, weight, bias, route, g)


def backward(grad_out, x, weight, bias, route, in_route, g: Geometry, needs=(True,) * 3):
    """Gradients (x, weight, bias) of ``forward``, through the active items only."""
    if all_on(route, in_route):
        return dense_backward(grad_out, x, weight, bias, g, needs)
    if g.spatial:
        return _spatial_backward(grad_out, x, weight, bias, route, g, needs)
    return _channel_backward(grad_out, x, weight, bias, route, g, needs)
