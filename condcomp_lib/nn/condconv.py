"""``CondConv2d`` and its routing function: a convolution whose kernel is mixed per
sample.

Used by CondConv (chapter 3), after Yang, Bender, Le and Ngiam (2019). A CondConv layer
holds n *expert* kernels W_1..W_n, each the shape of an ordinary convolution's kernel. For
every sample x a routing function gives non-negative weights alpha(x) = (alpha_1, ...,
alpha_n), and the layer computes

    y = (alpha_1 W_1 + ... + alpha_n W_n) * x              (one convolution, "mixed
    kernel")
      =  alpha_1 (W_1 * x) + ... + alpha_n (W_n * x)       (n convolutions, "mixed
      outputs")

The two lines are equal because a convolution is linear in its kernel and alpha is one
number per sample and expert, the same at every output position. The layer computes the
first line (:func:`mix_kernels`, through :func:`~condcomp_lib.ops.per_sample_conv2d`); the
second (:func:`mix_outputs`) is kept beside it as the readable reference.

The routing function (:class:`Routing`) is the paper's: global average pooling, a linear
map to n numbers, a sigmoid. It is computed once per block and its weights are passed to
every CondConv layer of that block.

Both modules report what a sample costs to :mod:`condcomp_lib.cost` (``reports_macs``):
routing C_in*H*W (the pooling's additions) + C_in*n (the linear map); the layer
n*(|W| + C_out) (mixing kernels and biases) + the one convolution.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .. import cost
from ..ops import per_sample_conv2d
from .dense_init import dense_init_


# ---------------------------------------------------------------- cost, by hand


def condconv_macs(
    c_in: int,
    c_out: int,
    kernel_size: int,
    out_hw: tuple[int, int],
    num_experts: int,
    bias: bool = True,
) -> dict:
    """MACs of one sample through one CondConv layer (the routing is counted by
    :class:`Routing`).

    ``mixing``: the weighted sum of n kernels, n*|W| (and n*C_out for the biases);
    ``conv``: one ordinary convolution with the mixed kernel, H_out*W_out*|W|."""
    kernel = c_out * c_in * kernel_size**2  # |W|, one expert
    mixing = num_experts * (kernel + (c_out if bias else 0))
    return {"mixing": mixing, "conv": out_hw[0] * out_hw[1] * kernel}


def routing_macs(c_in: int, in_hw: tuple[int, int], num_experts: int) -> dict:
    """MACs of one sample through :class:`Routing`: the pooling's additions (counted as
    MACs, although the book leaves pooling out elsewhere, so that CondConv is not
    flattered) and the linear map C_in -> n."""
    return {"pool": c_in * in_hw[0] * in_hw[1], "linear": c_in * num_experts}


# ---------------------------------------------------------------- the two forms


def check_routing_weights(routing_weights, batch: int, num_experts: int) -> None:
    """routing_weights must be a floating tensor [B, n] matching the batch and the
    experts."""
    if not isinstance(routing_weights, torch.Tensor):
        raise TypeError(
            f"routing_weights must be a torch.Tensor [B, n], "
            f"got {type(routing_weights).__name__}"
        )
    if not routing_weights.is_floating_point():
        raise TypeError(
            f"routing_weights must have a floating dtype, got {routing_weights.dtype}"
        )
    if routing_weights.dim() != 2:
        raise ValueError(
            f"routing_weights must be 2-D [B, n] = [{batch}, {num_experts}], "
            f"got shape {tuple(routing_weights.shape)}"
        )
    if tuple(routing_weights.shape) != (batch, num_experts):
        raise ValueError(
            f"routing_weights must have shape [B, n] = [{batch}, {num_experts}] "
            f"(batch of x, number of experts), got {tuple(routing_weights.shape)}"
        )


def mix_kernels(x, weight, bias, routing_weights, stride=1, padding=0):
    """The CondConv form: one kernel per sample, sum_i alpha_i W_i, then one convolution.

    x [B, C_in, H, W]; weight [n, C_out, C_in, k, k]; bias [n, C_out] or None;
    routing_weights [B, n]. Returns [B, C_out, H_out, W_out]."""
    n = weight.shape[0]
    kernels = (routing_weights @ weight.reshape(n, -1)).view(
        -1, *weight.shape[1:]
    )  # [B, C_out, C_in, k, k]
    biases = None if bias is None else routing_weights @ bias  # [B, C_out]
    return per_sample_conv2d(x, kernels, biases, stride=stride, padding=padding)


def mix_outputs(x, weight, bias, routing_weights, stride=1, padding=0):
    """The reference form: n convolutions shared by the whole batch, then a weighted sum.

    The n convolutions run as one convolution with n*C_out output channels (the experts'
    kernels stacked), which is the same arithmetic in one call. Shapes as
    :func:`mix_kernels`."""
    n, c_out = weight.shape[:2]
    y = F.conv2d(
        x,
        weight.reshape(n * c_out, *weight.shape[2:]),
        None if bias is None else bias.reshape(-1),
        stride,
        padding,
    )  # [B, n*C_out, H', W']
    y = y.view(len(x), n, c_out, *y.shape[2:])  # [B, n, C_out, H', W']
    return torch.einsum("bn,bnchw->bchw", routing_weights, y)


# ---------------------------------------------------------------- the modules


class Routing(nn.Module):
    """r(x) = sigmoid(GlobalAveragePool(x) R + c): n routing weights per sample, each in
    (0, 1).

    A sigmoid, not a softmax: the weights need not sum to one, so several experts can be
    fully on at once. ``forward(x)`` [B, C_in, H, W] -> [B, n]."""

    reports_macs = True

    def __init__(self, in_channels: int, num_experts: int):
        super().__init__()
        if in_channels < 1 or num_experts < 1:
            raise ValueError(
                f"in_channels and num_experts must be at least 1, got "
                f"{in_channels} and {num_experts}"
            )
        self.in_channels, self.num_experts = in_channels, num_experts
        self.fc = nn.Linear(in_channels, num_experts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"x must be [B, {self.in_channels}, H, W] (the block's input), "
                f"got shape {tuple(x.shape)}"
            )
        alpha = torch.sigmoid(self.fc(x.mean((2, 3))))  # [B, n]
        cost.report(
            sum(
                routing_macs(
                    self.in_channels, tuple(x.shape[2:]), self.num_experts
                ).values()
            )
        )
        return alpha


class CondConv2d(nn.Module):
    """A conditionally parameterized convolution with ``num_experts`` expert kernels.

    ``forward(x, routing_weights)``: x [B, C_in, H, W], routing_weights [B, n] (from a
    :class:`Routing`, usually shared by a block's layers). The experts live in one
    parameter, ``weight`` [n, C_out, C_in, k, k] (and ``bias`` [n, C_out]); each expert is
    initialised as ``nn.Conv2d`` initialises its kernel, independently of the others, as
    in the paper's reference code."""

    reports_macs = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_experts: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ):
        super().__init__()
        for name, v in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("kernel_size", kernel_size),
            ("num_experts", num_experts),
        ):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.num_experts = kernel_size, num_experts
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(
            torch.empty(num_experts, out_channels, in_channels, kernel_size, kernel_size)
        )
        self.bias = nn.Parameter(torch.empty(num_experts, out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every expert gets nn.Conv2d's initialisation, drawn on its own."""
        for i in range(self.num_experts):
            dense_init_(self.weight[i], None if self.bias is None else self.bias[i])

    def forward(self, x: torch.Tensor, routing_weights: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise ValueError(
                f"x must be a 4-D tensor [B, C_in, H, W], got "
                f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"x has {x.shape[1]} channels (x.shape[1]) but the layer expects "
                f"in_channels={self.in_channels}"
            )
        check_routing_weights(routing_weights, x.shape[0], self.num_experts)
        if routing_weights.dtype != self.weight.dtype:
            raise TypeError(
                f"routing_weights has dtype {routing_weights.dtype} but the layer's "
                f"weight has {self.weight.dtype}: use one dtype"
            )
        y = mix_kernels(
            x, self.weight, self.bias, routing_weights, self.stride, self.padding
        )
        cost.report(
            sum(
                condconv_macs(
                    self.in_channels,
                    self.out_channels,
                    self.kernel_size,
                    tuple(y.shape[2:]),
                    self.num_experts,
                    self.bias is not None,
                ).values()
            )
        )
        return y

    def reference(self, x: torch.Tensor, routing_weights: torch.Tensor) -> torch.Tensor:
        """The same layer by mixed outputs (n convolutions): the readable reference."""
        check_routing_weights(routing_weights, x.shape[0], self.num_experts)
        return mix_outputs(
            x, self.weight, self.bias, routing_weights, self.stride, self.padding
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"num_experts={self.num_experts}, stride={self.stride}, "
            f"padding={self.padding}, "
            f"bias={self.bias is not None}"
        )
