"""``RoutedConv2d`` and ``RoutedLinear``: layers whose route is chosen per sample.

Used by CIGT (chapter 4), Bengio et al.'s block policies, Olah's activity specialization
and early exit. They hold a weight and a bias initialised like ``nn.Conv2d`` /
``nn.Linear`` and take the route (and optionally the input route) in ``forward``; the work
is done by :func:`condcomp_lib.ops.routed_conv2d` /
:func:`~condcomp_lib.ops.routed_linear`.

Both report what each sample actually computed to :mod:`condcomp_lib.cost`
(``reports_macs``): (active input channels) x (active output channels) x (active output
pixels) x k*k."""

from __future__ import annotations

import torch
from torch import nn

from .. import cost
from ..ops import routed_conv2d, routed_linear
from .dense_init import dense_init_


def realized_macs(
    route: torch.Tensor,
    in_route: torch.Tensor | None,
    c_in: int,
    c_out: int,
    out_pixels: int,
    kernel_area: int,
) -> torch.Tensor:
    """MACs each sample executed, [B]: a trellis sample with input group i and output
    group j costs (C_in/G_in) * (C_out/G) of the dense layer. ``route`` [B, G] or [B, G,
    Th, Tw]."""
    b, g = route.shape[:2]
    tiles = route[0, 0].numel()  # Th*Tw, or 1 for channel routing
    out_items = route.reshape(b, -1).sum(1).double()  # active (group, tile) items
    in_channels = (
        torch.full((b,), float(c_in), dtype=torch.float64, device=route.device)
        if in_route is None
        else in_route.sum(1).double() * (c_in // in_route.shape[1])
    )
    per_item = (c_out // g) * (out_pixels // tiles) * kernel_area
    return (in_channels * out_items * per_item).cpu()


class RoutedConv2d(nn.Module):
    """A convolution that computes, per sample, only the channel groups (and tiles) routed
    on.

    ``forward(x, route, in_route=None)``; route bool [B, G] or [B, G, Th, Tw] with G
    dividing ``out_channels``. ``backend`` and ``strategy`` (an attribute a caller may
    change between training and timing) are passed on to
    :func:`condcomp_lib.ops.routed_conv2d`."""

    reports_macs = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        tile=None,
        backend: str = "auto",
        strategy: str = "auto",
    ):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.tile, self.backend, self.strategy = tile, backend, strategy
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, kernel_size, kernel_size)
        )
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The initialisation of nn.Conv2d, so routed and dense twins start alike."""
        dense_init_(self.weight, self.bias)

    def forward(self, x, route, in_route=None):
        y = routed_conv2d(
            x,
            self.weight,
            self.bias,
            route,
            in_route=in_route,
            stride=self.stride,
            padding=self.padding,
            tile=self.tile,
            backend=self.backend,
            strategy=self.strategy,
        )
        cost.report(
            realized_macs(
                route,
                in_route,
                self.in_channels,
                self.out_channels,
                y.shape[2] * y.shape[3],
                self.kernel_size**2,
            )
        )
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"
        )


class RoutedLinear(nn.Module):
    """A linear layer that computes, per sample, only the blocks of units routed on.

    ``forward(x, route, in_route=None)``; route bool [B, G] with G dividing
    ``out_features`` (see :func:`condcomp_lib.ops.routed_linear`)."""

    reports_macs = True

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        backend: str = "auto",
    ):
        super().__init__()
        self.in_features, self.out_features, self.backend = (
            in_features,
            out_features,
            backend,
        )
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The initialisation of nn.Linear."""
        dense_init_(self.weight, self.bias)

    def forward(self, x, route, in_route=None):
        y = routed_linear(
            x, self.weight, self.bias, route, in_route=in_route, backend=self.backend
        )
        cost.report(
            realized_macs(route, in_route, self.in_features, self.out_features, 1, 1)
        )
        return y

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )
