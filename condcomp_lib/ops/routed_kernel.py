"""Routed convolution on a GPU: CuPy kernels route, cuDNN multiplies.

The GPU path of :func:`condcomp_lib.ops.routed_conv2d` (CIGT, chapter 4; block policies;
activity specialization; early exit), switched on by ``use_kernels(True)``. Same contract
as ``routed_conv_reference``, which is its oracle in the tests.

Why the kernels route and cuDNN multiplies, rather than one hand-written routed
convolution: the multiply is an ordinary dense convolution once the active items are
stacked, and cuDNN's convolutions (implicit GEMM on tensor cores, tuned per architecture)
are far beyond what a readable kernel reaches; a fused routed kernel would have to rebuild
that tuning to win. What cuDNN cannot do is the routing, which is pure data movement and
so is cheap and simple to write: gather patches, scatter tiles (``routing.cu``). The cost
is one extra read and write of the active data, and one host synchronisation per forward:
cuDNN needs the item counts on the host to size its batches (``routed_plan``, which
backward reuses).

Forward writes every output element once: off items and items that read no input are
filled, every unit's convolution result is written over its items (or, on the pair path,
added after the bias fill). Backward gathers each unit's output gradient, runs cuDNN's
convolution backward on it, and scatters the patch gradients; with tiles they go to a
buffer of patches that ``F.fold`` sums (a gather: deterministic, no atomics anywhere). The
bias gradient is a masked sum in PyTorch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import cuda, routed_plan
from .checks import Geometry
from .kernel_args import acc_dtype
from .routed_conv_reference import dense_backward, fold_patches

SRC = "routing.cu"


def _k(name, t):
    return cuda.kernel(SRC, name, t.dtype, t.device)


def _patch_geometry(g: Geometry):
    """(patch size, step between tiles, padding the gather applies, padding cuDNN
    applies): tiles carry their halo and padding; channel routing gathers whole images,
    cuDNN pads."""
    (th, tw), (sh, sw) = g.tile, g.stride
    if g.spatial:
        return g.patch, (th * sh, tw * sw), g.padding, (0, 0)
    return g.in_hw, (0, 0), (0, 0), g.padding


def _rows(u: routed_plan.Unit, g: Geometry) -> slice:
    return slice(u.j * g.group_out, (u.j + 1) * g.group_out)


def _unit_weight(weight, u: routed_plan.Unit, g: Geometry):
    w = weight[_rows(u, g)]
    return w[:, u.c0 : u.c0 + u.c_sel] if u.chans is None else w.index_select(1, u.chans)


def _patch_args(u: routed_plan.Unit, ph: int, pw: int) -> tuple:
    """The input channels a unit reads and its patch size, as both patch kernels take
    them: (chans_or_null, c0, c_sel, ph, pw)."""
    return (u.chans, u.c0, u.c_sel, ph, pw)


def _gather_patches(x, u: routed_plan.Unit, g: Geometry) -> torch.Tensor:
    (ph, pw), (step_h, step_w), (pad_h, pad_w), _ = _patch_geometry(g)
    n = len(u.items)
    out = x.new_empty(n, u.c_sel, ph, pw)
    cuda.launch(
        _k("gather_patches", x),
        *cuda.plane_shape(n, u.c_sel, ph, pw),
        x,
        u.items,
        g.c_in,
        *g.in_hw,
        *_patch_args(u, ph, pw),
        step_h,
        step_w,
        pad_h,
        pad_w,
        out,
    )
    return out


def _tile_args(g: Geometry):
    return (g.c_out, g.group_out, *g.tile, *g.out_hw)


def _fill(y, fill: routed_plan.Fill, bias, g: Geometry) -> None:
    cuda.launch(
        _k("fill_tiles", y),
        *cuda.plane_shape(len(fill.items), g.group_out, *g.tile),
        fill.items,
        *_tile_args(g),
        bias if fill.with_bias else None,
        y,
    )


def forward(x, weight, bias, route, in_route, g: Geometry):
    """y [B, C_out, H_out, W_out], and the plan that backward reuses."""
    plan = routed_plan.make(route, in_route, g, x.dtype)
    if plan.all_on:  # nothing to route: the ordinary convolution
        return F.conv2d(x, weight, bias, g.stride, g.padding), plan
    x = x.contiguous()
    bias = bias.contiguous() if bias is not None else None
    y = x.new_empty(g.batch, g.c_out, *g.out_hw)  # every element is written below
    for fill in plan.fills:
        _fill(y, fill, bias, g)
    conv_pad = _patch_geometry(g)[3]
    for u in plan.units:
        b = None if (bias is None or u.accumulate) else bias[_rows(u, g)]
        tiles = F.conv2d(
            _gather_patches(x, u, g), _unit_weight(weight, u, g), b, g.stride, conv_pad
        ).contiguous()
        cuda.launch(
            _k("scatter_tiles", x),
            *cuda.plane_shape(len(u.items), g.group_out, *g.tile),
            tiles,
            u.items,
            *_tile_args(g),
            int(u.accumulate),
            y,
        )
    return y, plan


def _bias_grad(grad_y, route, g: Geometry) -> torch.Tensor:
    """dL/dbias: grad_y summed over the outputs whose route bit is on (a masked sum)."""
    (n_th, n_tw), (th, tw) = g.grid, g.tile
    gy = grad_y.reshape(g.batch, g.groups, g.group_out, n_th, th, n_tw, tw)
    on = route.reshape(g.batch, g.groups, 1, n_th, 1, n_tw, 1)
    return (gy * on).sum((0, 3, 4, 5, 6), dtype=acc_dtype(grad_y.dtype)).flatten()


def _fold(grads, g: Geometry) -> torch.Tensor:
    """dL/dx from the tiles' patch gradients [B * Th * Tw, C_in, ph, pw]."""
    (n_th, n_tw) = g.grid
    cols = grads.view(g.batch, n_th * n_tw, -1).transpose(1, 2)  # [B, C_in*ph*pw, tiles]
    return fold_patches(cols, g)


def backward(
    grad_y, x, weight, bias, route, in_route, g: Geometry, plan, needs=(True,) * 3
):
    """Gradients (x, weight, bias) through the plan's units; no host synchronisation."""
    need_x, need_w, need_b = needs[0], needs[1], needs[2] and bias is not None
    if plan.all_on:
        return dense_backward(grad_y, x, weight, bias, g, needs)
    gb = _bias_grad(grad_y, route, g).to(bias.dtype) if need_b else None
    if not (need_x or need_w):
        return None, None, gb
    x, grad_y = x.contiguous(), grad_y.contiguous()
    acc = acc_dtype(x.dtype)
    gw = torch.zeros(weight.shape, dtype=acc, device=x.device) if need_w else None
    (ph, pw), _, _, conv_pad = _patch_geometry(g)
    slots, (n_th, n_tw) = g.batch * g.grid[0] * g.grid[1], g.grid
    grads = (
        torch.zeros(slots, g.c_in, ph, pw, dtype=acc, device=x.device) if need_x else None
    )
    for u in plan.units:
        n = len(u.items)
        w_u = _unit_weight(weight, u, g)
        tiles = x.new_empty(n, g.group_out, *g.tile)
        cuda.launch(
            _k("gather_tiles", x),
            *cuda.plane_shape(n, g.group_out, *g.tile),
            grad_y,
            u.items,
            *_tile_args(g),
            tiles,
        )
        g_patches, g_w, _ = torch.ops.aten.convolution_backward(
            tiles,
            _gather_patches(x, u, g),
            w_u,
            None,
            list(g.stride),
            list(conv_pad),
            [1, 1],
            False,
            [0, 0],
            1,
            [need_x, need_w, False],
        )
        if need_w and u.chans is None:
            gw[_rows(u, g), u.c0 : u.c0 + u.c_sel] += g_w
        elif need_w:
            gw[_rows(u, g)].index_add_(1, u.chans, g_w.to(acc))
        if need_x:
            cuda.launch(
                _k("scatter_patches", x),
                *cuda.plane_shape(n, u.c_sel, ph, pw),
                g_patches.contiguous(),
                u.items,
                n_th,
                n_tw,
                g.c_in,
                *_patch_args(u, ph, pw),
                grads,
            )
    gx = None
    if need_x:
        gx = _fold(grads, g) if g.spatial else grads
        gx = gx.to(x.dtype).contiguous()
    return gx, (gw.to(weight.dtype) if need_w else None), gb
