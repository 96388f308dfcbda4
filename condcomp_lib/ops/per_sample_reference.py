"""Convolution with a different kernel for every sample, in plain PyTorch.

Used through :func:`condcomp_lib.ops.per_sample_conv2d` by CondConv (chapter 3), where
each sample's kernel is the mixture of experts weighted by that sample's routing weights.

Three ways to write it on a CPU, all kept here because the readable one is the oracle:

* ``loop``: one ordinary convolution per sample. The simplest, and the documentation.
* ``grouped``: the grouped-convolution trick (fold the batch into channels, groups = B),
  as in timm's CondConv. One call, but the CPU convolution handles many small groups
  poorly.
* ``unfold``: im2col by ``F.unfold`` and one batched matrix product.

Which is fastest depends on the machine. On a quiet 2-core CPU (B=64, 128 -> 128 channels,
14x14, 3x3) the loop and the grouped trick were close (about 61 and 68 ms, static conv 21
ms) and unfold + bmm last (its column matrix is 9x the input); on a busy one the grouped
trick was 2 to 5x faster than the loop, whose 64 small calls each wait for the CPU
threads. So the CPU path is the grouped trick (``FASTEST``): one call, steady.
benchmarks/bench_ops.py times all three forms side by side, so the choice can be
re-checked on any machine."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def loop(x, weight, bias, stride, padding):
    """y[b] = conv2d(x[b], weight[b]) + bias[b]: one ordinary convolution per sample."""
    return torch.cat(
        [
            F.conv2d(
                x[b : b + 1],
                weight[b],
                None if bias is None else bias[b],
                stride,
                padding,
            )
            for b in range(x.shape[0])
        ]
    )


def grouped(x, weight, bias, stride, padding):
    """The batch folded into channels: [1, B*C_in, H, W] convolved with groups=B."""
    bsz, c_in, h, w = x.shape
    c_out = weight.shape[1]
    y = F.conv2d(
        x.reshape(1, bsz * c_in, h, w),
        weight.reshape(bsz * c_out, *weight.shape[2:]),
        None if bias is None else bias.reshape(-1),
        stride,
        padding,
        groups=bsz,
    )
    return y.view(bsz, c_out, *y.shape[2:])


def unfold(x, weight, bias, stride, padding):
    """im2col then one batched product: [B, C_out, C_in*k*k] @ [B, C_in*k*k, L]."""
    bsz, c_out = x.shape[0], weight.shape[1]
    kh, kw = weight.shape[-2:]
    h_out = (x.shape[2] + 2 * padding[0] - kh) // stride[0] + 1
    w_out = (x.shape[3] + 2 * padding[1] - kw) // stride[1] + 1
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # [B, C_in*k*k, L]
    y = torch.bmm(weight.reshape(bsz, c_out, -1), cols)  # [B, C_out, L]
    if bias is not None:
        y = y + bias[:, :, None]
    return y.view(bsz, c_out, h_out, w_out)


FORMS = {"loop": loop, "grouped": grouped, "unfold": unfold}
FASTEST = "grouped"


def forward(x, weight, bias, g) -> torch.Tensor:
    """y [B, C_out, H_out, W_out] by the fastest CPU form."""
    return FORMS[FASTEST](x, weight, bias, g.stride, g.padding)


def backward(grad_out, x, weight, bias, g, needs=(True,) * 3):
    """Gradients (x, weight, bias) of the grouped form: one convolution backward,
    groups=B."""
    need_x, need_w, need_b = needs[0], needs[1], needs[2] and bias is not None
    bsz, c_out = x.shape[0], weight.shape[1]
    gb = grad_out.sum((2, 3)) if need_b else None  # [B, C_out]
    if not (need_x or need_w):
        return None, None, gb
    gx, gw, _ = torch.ops.aten.convolution_backward(
        grad_out.reshape(1, bsz * c_out, *grad_out.shape[2:]),
        x.reshape(1, bsz * x.shape[1], *x.shape[2:]),
        weight.reshape(bsz * c_out, *weight.shape[2:]),
        None,
        list(g.stride),
        list(g.padding),
        [1, 1],
        False,
        [0, 0],
        bsz,
        [need_x, need_w, False],
    )
    return (
        (gx.view(x.shape) if need_x else None),
        (gw.view(weight.shape) if need_w else None),
        gb,
    )
