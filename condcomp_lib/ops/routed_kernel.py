"""Routed convolution on a GPU: CuPy kernels route, cuDNN multiplies.

The GPU path of :func:`condcomp_lib.ops.routed_conv2d` (CIGT, chapter 4; block policies;
activity specialization; early exit), switched on by ``use_kernels(True)``. Same contract as
``routed_conv_reference``, which is its oracle in the tests.

Why the kernels route and cuDNN multiplies, rather than one hand-written routed convolution:
the multiply is an ordinary dense convolution once the active items are stacked, and cuDNN's
convolutions (implicit GEMM on tensor cores, tuned per architecture) are far beyond what a
readable kernel reaches; a fused routed kernel would have to rebuild that tuning to win. What
cuDNN cannot do is the routing, which is pure data movement and so is cheap and simple to
write: compact the route into item lists, gather patches, scatter tiles. The cost is one extra
read and write of the active data and one host synchronisation per call (cuDNN needs the
item counts on the host to size its batches).

The work is cut by (input group i, output group j) pairs; without ``in_route`` there is one
input group. Every pair's items are computed by one cuDNN call and added into an output that
``init_output`` filled with the bias (on) or zeros (off). For a trellis this is exactly the
active work; for a sample with several input groups on, the pairs' products are summed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .checks import Geometry
from .routed_conv_reference import all_on
from .cuda import kernel, launch

SRC = "routing.cu"


def _k(name, t):
    return kernel(SRC, name, t.dtype, t.device)


def _columns(route, in_route, g: Geometry) -> torch.Tensor:
    """Item mask [B, G_in * G, tiles]: column i * G + j holds the items of pair (i, j)."""
    r = route.reshape(g.batch, 1, g.groups, -1)
    if in_route is None:
        return r.reshape(g.batch, g.groups, -1).contiguous()
    return (in_route[:, :, None, None] & r).reshape(g.batch, g.in_groups * g.groups, -1)\
        .contiguous()


def _compact(route, in_route, g: Geometry):
    """Active items of each (i, j) pair: items [P, B*tiles] (int32), counts on the host."""
    mask = _columns(route, in_route, g)
    columns, tiles = mask.shape[1], mask.shape[2]
    items = torch.empty(columns, g.batch * tiles, dtype=torch.int32, device=route.device)
    counts = torch.empty(columns, dtype=torch.int32, device=route.device)
    compact = kernel(SRC, "compact_items", torch.float32, route.device)   # not a template
    launch(compact, 0,
           (mask, g.batch, columns, tiles, items, counts), route.device, blocks=columns)
    return items, counts.tolist()   # the one host synchronisation


def _patch_args(g: Geometry):
    """Where item patches come from: tiles carry halo and padding, channel routing reads the
    whole image and lets cuDNN pad."""
    (th, tw), (sh, sw) = g.tile, g.stride
    if g.spatial:
        return g.patch, (th * sh, tw * sw), g.padding, (0, 0)
    return g.in_hw, (0, 0), (0, 0), g.padding


def _pairs(counts, g: Geometry):
    for p, n in enumerate(counts):
        if n:
            yield p, n, p // g.groups, p % g.groups


def _gather_patches(x, items_p, n, i, g: Geometry):
    (ph, pw), (step_h, step_w), (pad_h, pad_w), _ = _patch_args(g)
    c_sel = g.group_in
    out = x.new_empty(n, c_sel, ph, pw)
    launch(_k("gather_patches", x), out.numel(),
           (x, items_p, n, g.grid[0] * g.grid[1], g.grid[1], g.c_in, *g.in_hw, i * c_sel, c_sel,
            ph, pw, step_h, step_w, pad_h, pad_w, out), x.device)
    return out


def _tile_args(g: Geometry, j):
    return (g.grid[0] * g.grid[1], g.grid[1], g.c_out, j * g.group_out, g.group_out,
            *g.tile, *g.out_hw)


def _weight(weight, i, j, g: Geometry):
    return weight[j * g.group_out:(j + 1) * g.group_out, i * g.group_in:(i + 1) * g.group_in]


def forward(x, weight, bias, route, in_route, g: Geometry) -> torch.Tensor:
    if all_on(route, in_route):        # nothing to route: the ordinary convolution
        return F.conv2d(x, weight, bias, g.stride, g.padding)
    x, route = x.contiguous(), route.contiguous()
    y = x.new_empty(g.batch, g.c_out, *g.out_hw)
    launch(_k("init_output", x), y.numel(),
           (y, route, bias.contiguous() if bias is not None else y, bias is not None, g.batch,
            g.c_out, g.groups, *g.out_hw, *g.tile), x.device)
    items, counts = _compact(route, in_route, g)
    conv_pad = _patch_args(g)[3]
    for p, n, i, j in _pairs(counts, g):
        patches = _gather_patches(x, items[p], n, i, g)
        tiles = F.conv2d(patches, _weight(weight, i, j, g), None, g.stride, conv_pad)
        launch(_k("scatter_tiles_add", x), tiles.numel(),
               (tiles.contiguous(), items[p], n, *_tile_args(g, j), y), x.device)
    return y


def backward(grad_y, x, weight, bias, route, in_route, g: Geometry, needs=(True,) * 3):
    need_x, need_w, need_b = needs[0], needs[1], needs[2] and bias is not None
    if all_on(route, in_route):
        return torch.ops.aten.convolution_backward(
            grad_y, x, weight, [g.c_out] if bias is not None else None, list(g.stride),
            list(g.padding), [1, 1], False, [0, 0], 1, [need_x, need_w, need_b])
    x, route, grad_y = x.contiguous(), route.contiguous(), grad_y.contiguous()
    acc = torch.float32 if x.dtype == torch.bfloat16 else x.dtype   # atomics sum in this type
    gx = torch.zeros(x.shape, dtype=acc, device=x.device) if need_x else None
    gw = torch.zeros_like(weight) if need_w else None
    gb = None
    if need_b:
        gb = torch.empty(g.c_out, dtype=acc, device=x.device)   # one block per channel,
        # THREADS (256) threads: bias_grad's shared array has 256 slots
        launch(_k("bias_grad", x), 0, (grad_y, route, g.batch, g.c_out, g.groups, *g.out_hw,
                                       *g.tile, gb), x.device, blocks=g.c_out)
        gb = gb.to(bias.dtype)
    if not (need_x or need_w):
        return gx, gw, gb
    items, counts = _compact(route, in_route, g)
    (ph, pw), (step_h, step_w), (pad_h, pad_w), conv_pad = _patch_args(g)
    for p, n, i, j in _pairs(counts, g):
        w_ij = _weight(weight, i, j, g)
        patches = _gather_patches(x, items[p], n, i, g)
        tiles = x.new_empty(n, g.group_out, *g.tile)
        launch(_k("gather_tiles", x), tiles.numel(),
               (grad_y, items[p], n, *_tile_args(g, j), tiles), x.device)
        g_patches, g_w, _ = torch.ops.aten.convolution_backward(
            tiles, patches, w_ij, None, list(g.stride), list(conv_pad), [1, 1], False, [0, 0], 1,
            [need_x, need_w, False])
        if need_w:
            gw[j * g.group_out:(j + 1) * g.group_out,
               i * g.group_in:(i + 1) * g.group_in] = g_w
        if need_x:
            launch(_k("scatter_patches_add", x), g_patches.numel(),
                   (g_patches.contiguous(), items[p], n, g.grid[0] * g.grid[1], g.grid[1],
                    g.c_in, *g.in_hw, i * g.group_in, g.group_in, ph, pw, step_h, step_w,
                    pad_h, pad_w, gx), x.device)
    return (gx.to(x.dtype) if need_x else None), gw, gb

