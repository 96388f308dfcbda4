"""The routed primitives: ``routed_conv2d`` and ``routed_linear``.

"Compute only part of a layer, chosen per sample" is what almost every method in the book
does, so the library gives it one name. Used by CIGT (chapter 4: a route picks one channel
group per block), chapter 5 (routed execution), Bengio et al.'s block policies (blocks of
hidden units), Olah's feature-cluster trees and activity specialization (spatial tiles),
and early exit (an exited sample routes nothing).

Each op is one ``torch.autograd.Function`` that hands forward and backward to an
implementation: the fast PyTorch path (``routed_conv_fast``, ``routed_linear_fast``) where
it applies, else the readable PyTorch reference beside it (``routed_conv_reference``,
``routed_linear_reference``), or, for the convolution, the CuPy kernels
(``routed_kernel``), chosen by :mod:`.backend`. Arguments are checked first
(:mod:`.checks`), so bad input fails before any kernel runs, and under autocast the inputs
are cast once and the body runs in one dtype (:mod:`.autocast`).

Before any of that, ``strategy`` decides between the routed path and the simple one,
"dense, then zero the off outputs", which is faster where little work is saved (small
layers at small batches, high active fractions): ``"auto"`` asks :mod:`.cost_model`,
``"routed"`` and ``"dense"`` force one. The choice changes the time, never the result.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from . import (
    autocast,
    cost_model,
    routed_conv_fast,
    routed_conv_reference,
    routed_linear_fast,
)
from .backend import choose
from .checks import Geometry, check_backend, conv_geometry, linear_groups
from .dense_masked import dense_masked_conv2d, dense_masked_linear

STRATEGIES = ("auto", "routed", "dense")


def _kernel_module():
    from . import routed_kernel  # imports CuPy lazily, only on the kernel path

    return routed_kernel


class _ConvPyTorch:
    """A routed convolution in PyTorch (the fast path or the reference), geometry bound
    in; it keeps nothing from forward for backward."""

    def __init__(self, module, g):
        self.module, self.g = module, g

    def forward(self, x, weight, bias, route, in_route):
        return self.module.forward(x, weight, bias, route, in_route, self.g), None

    def backward(self, grad_out, x, weight, bias, route, in_route, saved, needs):
        return self.module.backward(
            grad_out, x, weight, bias, route, in_route, self.g, needs
        )


class _ConvKernel:
    """The kernel routed convolution; forward's plan is what backward reuses."""

    def __init__(self, g):
        self.g, self.module = g, _kernel_module()

    def forward(self, x, weight, bias, route, in_route):
        return self.module.forward(x, weight, bias, route, in_route, self.g)

    def backward(self, grad_out, x, weight, bias, route, in_route, saved, needs):
        return self.module.backward(
            grad_out, x, weight, bias, route, in_route, self.g, saved, needs
        )


class _Linear:
    """The routed linear layer in PyTorch, whose products are GEMMs on any device."""

    @staticmethod
    def forward(x, weight, bias, route, in_route):
        return routed_linear_fast.forward(x, weight, bias, route, in_route), None

    @staticmethod
    def backward(grad_out, x, weight, bias, route, in_route, saved, needs):
        return routed_linear_fast.backward(
            grad_out, x, weight, bias, route, in_route, needs
        )


class RoutedFunction(torch.autograd.Function):
    """Autograd for both ops: saves the inputs and what the implementation keeps from
    forward (the kernel path's plan), and asks the implementation for the gradients."""

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
        with autocast.disabled(
            grad_out.device.type
        ):  # backward may run inside autocast too
            gx, gw, gb = ctx.impl.backward(
                grad_out.contiguous(),
                x,
                weight,
                bias,
                route,
                in_route,
                ctx.kept,
                ctx.needs_input_grad[:3],
            )
        return gx, gw, gb, None, None, None


def _apply(impl, x, weight, bias, route, in_route):
    """Run ``impl`` with autocast off (the inputs were cast already: see
    :mod:`.autocast`)."""
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, weight, bias)
    )
    with autocast.disabled(x.device.type):
        if (
            not needs_grad
        ):  # inference: skip the autograd bookkeeping (it shows at batch 1)
            return impl.forward(x, weight, bias, route, in_route)[0]
        return RoutedFunction.apply(x, weight, bias, route, in_route, impl)


def check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")


@functools.lru_cache(maxsize=256)
def _conv_model(g: Geometry, item: int, fast: bool):
    """The cost model of one convolution's shapes: a function of (active items, input
    share, groups used) giving (routed, dense) seconds, or None where the shapes alone
    say dense (one item a sample would not pay, or the dense path is too short for
    reading the route to be worth it). Cached: at batch 1 even this arithmetic shows."""
    dense_macs = (
        g.batch * g.c_out * g.c_in * g.kernel[0] * g.kernel[1] * g.out_hw[0] * g.out_hw[1]
    )
    out_bytes = g.batch * g.c_out * g.out_hw[0] * g.out_hw[1] * item
    in_bytes = g.batch * g.c_in * g.in_hw[0] * g.in_hw[1] * item
    patch = g.patch[0] * g.patch[1] if g.spatial else g.in_hw[0] * g.in_hw[1]
    n_items = g.batch * g.groups * g.grid[0] * g.grid[1]

    def model(items, in_share, groups_used):  # items: active (sample, group, tile)
        return cost_model.conv_seconds(
            dense_macs,
            in_bytes,
            out_bytes,
            items / n_items * in_share,
            items * g.c_in * in_share * patch * item,
            groups_used,
            g.spatial,
            fast,
        )

    floor, dense = model(g.batch, 1.0 / g.in_groups, 1)
    if not cost_model.worth_reading(dense) or not cost_model.routed_pays(floor, dense):
        return None
    return model


def _conv_path(strategy, x, route, in_route, g: Geometry) -> str:
    """ "routed", "dense" (then mask) or "plain" (everything on: the ordinary
    convolution), for ``strategy``; "auto" asks the cost model (module docstring)."""
    if strategy != "auto":
        return strategy
    if x.is_cuda:
        return "routed"  # the cost model's numbers are the CPU's
    model = _conv_model(g, x.element_size(), routed_conv_fast.supports(g, in_route))
    if model is None:
        return "dense"
    if g.spatial:
        per_group = route.view(g.batch, g.groups, -1).sum((0, 2)).tolist()
    else:
        per_group = route.sum(0).tolist()  # active samples per group
    items = sum(per_group)
    in_share = 1.0 if in_route is None else float(in_route.float().mean())
    if items == route.numel() and in_share == 1.0:
        return "plain"
    used = sum(1 for n in per_group if n)
    return "routed" if cost_model.routed_pays(*model(items, in_share, used)) else "dense"


def routed_conv2d(
    x,
    weight,
    bias,
    route,
    *,
    in_route=None,
    stride=1,
    padding=0,
    tile=None,
    backend: str = "auto",
    strategy: str = "auto",
) -> torch.Tensor:
    """Convolution computed only where ``route`` says; exact zeros elsewhere.

    Used by CIGT (chapter 4), chapter 5, Bengio et al.'s block policies, Olah's activity
    specialization and early exit.

    x [B, C_in, H, W]; weight [C_out, C_in, k, k]; bias [C_out] or None. route: bool [B,
    G] (output-channel groups, C_out split into G equal groups) or [B, G, Th, Tw] (groups
    and spatial tiles of the output; ``tile=(th, tw)`` output pixels, which must divide
    the output size exactly; inferred from the route's shape when None). in_route:
    optional bool [B, G_in]; input channel groups that are zero for a sample (the previous
    layer did not compute them) are not read. Returns y [B, C_out, H_out, W_out]. On the
    routed path only active (sample, group, tile) items are computed, and gradients flow
    through them only. ``backend``: "auto", "reference" or "kernel"; ``strategy``: "auto",
    "routed" or "dense" (module docstring). Under ``torch.autocast`` it runs in the
    autocast dtype, as ``F.conv2d`` does; float16 has no kernel, so "auto" runs it in
    PyTorch.
    """
    check_backend(backend)
    check_strategy(strategy)
    g = conv_geometry(x, weight, bias, route, in_route, stride, padding, tile)
    x, weight, bias = autocast.cast_inputs(x.device.type, x, weight, bias)
    which = choose(backend, x)
    # the cost model's numbers are those of the PyTorch paths: the kernels always route
    path = "routed" if which == "kernel" else _conv_path(strategy, x, route, in_route, g)
    if path == "plain":  # nothing to route or mask
        return F.conv2d(x, weight, bias, g.stride, g.padding)
    if path == "dense":
        return dense_masked_conv2d(x, weight, bias, route, in_route, g)
    if which == "kernel":
        impl = _ConvKernel(g)
    elif routed_conv_fast.supports(g, in_route):
        impl = _ConvPyTorch(routed_conv_fast, g)
    else:
        impl = _ConvPyTorch(routed_conv_reference, g)
    return _apply(impl, x, weight, bias, route, in_route)


@functools.lru_cache(maxsize=256)
def _linear_model(
    bsz: int, f_in: int, f_out: int, g: int, g_in: int, item: int, pairs: bool
):
    """As :func:`_conv_model` for ``routed_linear``: a function of the active items."""

    def model(on):  # on: active (sample, [input block,] output block) items
        return cost_model.linear_seconds(
            bsz,
            f_in,
            f_out,
            item,
            on / (bsz * g * g_in),
            on,
            on * (f_in // g_in) * item,
            pairs,
        )

    floor, dense = model(bsz)
    if not cost_model.worth_reading(dense) or not cost_model.routed_pays(floor, dense):
        return None
    return model


def _linear_path(strategy, x, weight, route, in_route) -> str:
    """ "routed", "dense" or "plain", as :func:`_conv_path` for ``routed_linear``."""
    if strategy != "auto":
        return strategy
    if x.is_cuda:
        return "routed"
    g_in = 1 if in_route is None else in_route.shape[1]
    model = _linear_model(
        x.shape[0],
        x.shape[1],
        weight.shape[0],
        route.shape[1],
        g_in,
        x.element_size(),
        in_route is not None,
    )
    if model is None:
        return "dense"
    if in_route is None:
        on = int(route.sum())
    else:
        on = int((route.sum(1) * in_route.sum(1)).sum())
    if on == route.numel() * g_in:
        return "plain"
    return "routed" if cost_model.routed_pays(*model(on)) else "dense"


def routed_linear(
    x,
    weight,
    bias,
    route,
    *,
    in_route=None,
    backend: str = "auto",
    strategy: str = "auto",
):
    """Linear layer computed only for the blocks of units ``route`` switches on.

    Used by Bengio et al.'s block policies, chapter 5 and early exit.

    x [B, F_in]; weight [F_out, F_in]; bias [F_out] or None; route bool [B, G] (F_out
    split in G equal blocks); in_route optional bool [B, G_in] (input blocks that are zero
    and not read). Returns y [B, F_out], exact zeros in the blocks that are off.
    ``strategy`` as for :func:`routed_conv2d`.

    On every device this runs on matrix products (``F.linear``, ``torch.bmm``): on a GPU
    those are cuBLAS GEMMs, which routing kernels around 1x1 convolutions could only slow
    down. So ``backend="kernel"`` only checks that the tensors are on a GPU.
    """
    check_backend(backend)
    check_strategy(strategy)
    linear_groups(x, weight, bias, route, in_route)
    x, weight, bias = autocast.cast_inputs(x.device.type, x, weight, bias)
    choose(
        backend, x, kernel_dtypes=None
    )  # validates the request; no CuPy kernel to pick
    path = _linear_path(strategy, x, weight, route, in_route)
    if path == "plain":  # nothing to route or mask
        return F.linear(x, weight, bias)
    if path == "dense":
        return dense_masked_linear(x, weight, bias, route, in_route)
    return _apply(_Linear, x, weight, bias, route, in_route)
