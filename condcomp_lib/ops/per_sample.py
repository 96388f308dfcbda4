"""``per_sample_conv2d``: every sample convolved with its own kernel.

Used by CondConv (chapter 3): a sample's kernel is the sum of the experts' kernels
weighted by that sample's routing weights, so each sample has a different kernel but costs
one convolution. One ``torch.autograd.Function`` dispatches to the PyTorch reference
(``per_sample_reference``) or to the CuPy kernel path (``per_sample_kernel``), chosen by
:mod:`.backend`."""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from . import autocast, per_sample_reference
from .backend import choose
from .checks import check_backend, per_sample_geometry


class PerSampleConv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, g, impl):
        ctx.g, ctx.impl = g, impl
        ctx.save_for_backward(x, weight, bias)
        return impl.forward(x, weight, bias, g)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, weight, bias = ctx.saved_tensors
        with autocast.disabled(
            grad_out.device.type
        ):  # backward may run inside autocast too
            gx, gw, gb = ctx.impl.backward(
                grad_out.contiguous(), x, weight, bias, ctx.g, ctx.needs_input_grad[:3]
            )
        return gx, gw, gb, None, None


def per_sample_conv2d(
    x, weight, bias=None, *, stride=1, padding=0, backend: str = "auto"
):
    """y[b] = conv2d(x[b], weight[b]) + bias[b] for every sample b.

    Used by CondConv (chapter 3). x [B, C_in, H, W]; weight [B, C_out, C_in, k, k] (a
    kernel per sample); bias [B, C_out] or None. Returns [B, C_out, H_out, W_out].
    ``backend``: "auto", "reference" or "kernel". Under ``torch.autocast`` it runs in the
    autocast dtype, as ``F.conv2d`` does (float16 has no kernel: "auto" takes the
    reference)."""
    check_backend(backend)
    g = per_sample_geometry(x, weight, bias, stride, padding)
    x, weight, bias = autocast.cast_inputs(x.device.type, x, weight, bias)
    if choose(backend, x) == "reference":
        impl = per_sample_reference
    else:
        from . import per_sample_kernel  # imports CuPy lazily, only on the kernel path

        impl = per_sample_kernel
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, weight, bias)
    )
    with autocast.disabled(x.device.type):  # one dtype inside: see .autocast
        if not needs_grad:
            return impl.forward(x, weight, bias, g)
        return PerSampleConv2dFunction.apply(x, weight, bias, g, impl)
