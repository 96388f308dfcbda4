"""The routed primitives: ``routed_conv2d`` and ``routed_linear``.

"Compute only part of a layer, chosen per sample" is what almost every method in the book does,
so the library gives it one name. Used by CIGT (chapter 4: a route picks one channel group per
block), Bengio et al.'s block policies (blocks of hidden units), Olah's feature-cluster trees and
activity specialization (spatial tiles), and early exit (an exited sample routes nothing).

Each op is one ``torch.autograd.Function`` that hands forward and backward to an
implementation: the PyTorch reference (``routed_conv_reference``, ``routed_linear_reference``)
or, for the convolution, the CuPy kernels (``routed_kernel``), chosen by :mod:`.backend`.
Arguments are checked first (:mod:`.checks`), so bad input fails before any kernel runs, and
under autocast the inputs are cast once and the body runs in one dtype (:mod:`.autocast`).
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from . import autocast, routed_conv_reference, routed_linear_reference
from .backend import choose
from .checks import check_backend, conv_geometry, linear_groups


def _kernel_module():
    from . import routed_kernel   # imports CuPy lazily, only on the kernel path
    return routed_kernel


class _ConvReference:
    """The reference routed convolution, geometry bound in; it saves nothing for backward."""

    def __init__(self, g):
        self.g = g

    def forward(self, x, weight, bias, route, in_route):
        return routed_conv_reference.forward(x, weight, bias, route, in_route, self.g), None

    def backward(self, grad_out, x, weight, bias, route, in_route, saved, needs):
        return routed_conv_reference.backward(grad_out, x, weight, bias, route, in_route,
                                              self.g, needs)


class _ConvKernel:
    """The kernel routed convolution; forward's plan is what backward reuses."""

    def __init__(self, g):
        self.g, self.module = g, _kernel_module()

    def forward(self, x, weight, bias, route, in_route):
        return self.module.forward(x, weight, bias, route, in_route, self.g)

    def backward(self, grad_out, x, weight, bias, route, in_route, saved, needs):
        return self.module.backward(grad_out, x, weight, bias, route, in_route, self.g, saved,
                                    needs)


class _Linear:
    """The routed linear layer: the reference, whose products are GEMMs on any device."""

    @staticmethod
    def forward(x, weight, bias, route, in_route):
        return routed_linear_reference.forward(x, weight, bias, route, in_route), None

    @staticmethod
    def backward(grad_out, x, weight, bias, route, in_route, saved, needs):
        return routed_linear_reference.backward(grad_out, x, weight, bias, route, in_route,
                                                needs)


class RoutedFunction(torch.autograd.Function):
    """Autograd for both ops: saves the inputs and what the implementation keeps from forward
    (the kernel path's plan), and asks the implementation for the gradients."""

    @staticmethod
    def forward(ctx, x, weight, bias, route, in_route, impl):
        ctx.impl = impl
        ctx.save_for_backward(x, weight, bias, route, in_route)
        y, ctx.kept = impl.forward(x, weight, bias, route, in_route)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, weight, bias, route, in_route = ctx.saved_tensors
        with autocast.disabled(grad_out.device.type):   # backward may run inside autocast too
            gx, gw, gb = ctx.impl.backward(grad_out.contiguous(), x, weight, bias, route,
                                           in_route, ctx.kept, ctx.needs_input_grad[:3])
        return gx, gw, gb, None, None, None


def _apply(impl, x, weight, bias, route, in_route):
    """Run ``impl`` with autocast off (the inputs were cast already: see :mod:`.autocast`)."""
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, weight, bias))
    with autocast.disabled(x.device.type):
        if not needs_grad:   # inference: skip the autograd bookkeeping (it shows at batch 1)
            return impl.forward(x, weight, bias, route, in_route)[0]
        return RoutedFunction.apply(x, weight, bias, route, in_route, impl)


def routed_conv2d(x, weight, bias, route, *, in_route=None, stride=1, padding=0, tile=None,
                  backend: str = "auto") -> torch.Tensor:
    """Convolution computed only where ``route`` says; exact zeros elsewhere.

    Used by CIGT (chapter 4), Bengio et al.'s block policies, Olah's activity specialization
    and early exit.

    x [B, C_in, H, W]; weight [C_out, C_in, k, k]; bias [C_out] or None.
    route: bool [B, G] (output-channel groups, C_out split into G equal groups) or
    [B, G, Th, Tw] (groups and spatial tiles of the output; ``tile=(th, tw)`` output pixels,
    which must divide the output size exactly; inferred from the route's shape when None).
    in_route: optional bool [B, G_in]; input channel groups that are zero for a sample (the
    previous layer did not compute them) are not read.
    Returns y [B, C_out, H_out, W_out]. Only active (sample, group, tile) items are computed,
    and gradients flow through them only. ``backend``: "auto", "reference" or "kernel".
    Under ``torch.autocast`` it runs in the autocast dtype, as ``F.conv2d`` does; float16 has
    no kernel, so "auto" runs it on the reference.
    """
    check_backend(backend)
    g = conv_geometry(x, weight, bias, route, in_route, stride, padding, tile)
    x, weight, bias = autocast.cast_inputs(x.device.type, x, weight, bias)
    impl = _ConvReference(g) if choose(backend, x) == "reference" else _ConvKernel(g)
    return _apply(impl, x, weight, bias, route, in_route)


def routed_linear(x, weight, bias, route, *, in_route=None, backend: str = "auto"):
    """Linear layer computed only for the blocks of units ``route`` switches on.

    Used by Bengio et al.'s block policies, CIGT's routed fully connected layers (chapter 4)
    and early exit.

    x [B, F_in]; weight [F_out, F_in]; bias [F_out] or None; route bool [B, G] (F_out split in
    G equal blocks); in_route optional bool [B, G_in] (input blocks that are zero and not read).
    Returns y [B, F_out], exact zeros in the blocks that are off.

    On every device this runs on matrix products (``F.linear``, ``torch.bmm``): on a GPU those
    are cuBLAS GEMMs, which routing kernels around 1x1 convolutions could only slow down. So
    ``backend="kernel"`` only checks that the tensors are on a GPU.
    """
    check_backend(backend)
    linear_groups(x, weight, bias, route, in_route)
    x, weight, bias = autocast.cast_inputs(x.device.type, x, weight, bias)
    choose(backend, x, kernel_dtypes=None)   # validates the request; no CuPy kernel to pick
    return _apply(_Linear, x, weight, bias, route, in_route)
