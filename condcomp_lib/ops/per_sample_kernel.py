"""Per-sample convolution on a GPU: im2col by a CuPy kernel, the products by cuBLAS.

The GPU path of :func:`condcomp_lib.ops.per_sample_conv2d` (CondConv, chapter 3), switched
on by ``use_kernels(True)``; ``per_sample_reference`` is its oracle in the tests.

With a different kernel per sample, sample b's convolution is the product W_b [C_out,
C_in*k*k] @ cols_b [C_in*k*k, H_out*W_out], and one batched cuBLAS call does all B
products on tensor cores. The kernels only lay out the columns (im2col) and fold their
gradient back (col2im), as a gather so that the sum is deterministic. The price is the
column matrix, k*k times the input: at B=256, 128 channels, 14x14, 3x3 in float32 about
230 MB. The grouped-convolution trick (groups = B) is the alternative the benchmark times
beside it."""

from __future__ import annotations

import torch

from . import cuda
from .checks import Geometry

SRC = "per_sample.cu"


def _geometry_args(g: Geometry):
    return (*g.in_hw, *g.kernel, *g.stride, *g.padding, *g.out_hw)


def _im2col(x, g: Geometry) -> torch.Tensor:
    """cols [B, C_in*k*k, L]: grid (B*C_in planes, kh, kw), the block over the output
    pixels."""
    kh, kw = g.kernel
    cols = x.new_empty(g.batch, g.c_in * kh * kw, g.out_hw[0] * g.out_hw[1])
    _, block = cuda.plane_shape(1, 1, *g.out_hw)
    cuda.launch(
        cuda.kernel(SRC, "im2col", x.dtype, x.device),
        (g.batch * g.c_in, kh, kw),
        block,
        x,
        *_geometry_args(g),
        cols,
    )
    return cols


def forward(x, weight, bias, g: Geometry) -> torch.Tensor:
    cols = _im2col(x.contiguous(), g)
    y = torch.bmm(weight.reshape(g.batch, g.c_out, -1), cols)  # [B, C_out, L]
    if bias is not None:
        y = y + bias[:, :, None]
    return y.view(g.batch, g.c_out, *g.out_hw)


def backward(grad_y, x, weight, bias, g: Geometry, needs=(True,) * 3):
    need_x, need_w, need_b = needs[0], needs[1], needs[2] and bias is not None
    gy = grad_y.contiguous().view(g.batch, g.c_out, -1)  # [B, C_out, L]
    gx = gw = None
    if need_w:
        cols = _im2col(x.contiguous(), g)
        gw = torch.bmm(gy, cols.transpose(1, 2)).view_as(weight)
    if need_x:
        g_cols = torch.bmm(weight.reshape(g.batch, g.c_out, -1).transpose(1, 2), gy)
        gx = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        _, block = cuda.plane_shape(1, 1, *g.in_hw)
        cuda.launch(
            cuda.kernel(SRC, "col2im", x.dtype, x.device),
            (g.batch * g.c_in, 1, 1),
            block,
            g_cols.contiguous(),
            *_geometry_args(g),
            gx,
        )
    gb = gy.sum(2) if need_b else None
    return gx, gw, gb
