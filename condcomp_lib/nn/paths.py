"""``PathConv2d`` and ``PathLinear``: wide layers stored as the blocks their paths use.

Used by CIGT (chapter 4) and chapter 5 (routed execution). In a routed network a path of a
block uses one channel group of each wide layer. Stored as one wide weight, a path's
weights are strided slices of it, and a block-diagonal layer keeps parameters no path can
ever use. Stored per path, each path's weight is one contiguous tensor (a view, no copy,
handed straight to ``F.conv2d`` / ``F.linear``), and the parameter count is the count of
usable parameters:

* ``PathConv2d(C_in, C_out, k, paths=K, in_paths=K_in)``: every (input path i, output path
  j) pair of a trellis; weight [K, K_in, C_out/K, C_in/K_in, k, k], bias [K, C_out/K].
  With ``in_paths=1`` every path reads all input channels (CIGT's conv2).
* ``PathLinear(F_in, F_out, paths=K)``: block diagonal, path j reads input block j only;
  weight [K, F_out/K, F_in/K], bias [K, F_out/K] (CIGT's fc1, fc2 and the leaf
  classifiers).

Both are initialised by drawing the wide layer exactly as ``nn.Conv2d`` / ``nn.Linear``
(and the routed layers) would, then keeping the blocks, so a network built with them
starts from the same numbers as one built on wide routed layers. :meth:`wide_weight`
rebuilds the wide weight (zeros where no path reads) for the per-layer reference
execution, and a checkpoint saved with the wide weight loads into the blocks.

Each reports its MACs per sample to :mod:`condcomp_lib.cost` when it runs; inside a
:class:`~condcomp_lib.ops.Dispatch` bucket they land on that bucket's samples.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .. import cost
from .dense_init import dense_init_


def _check_split(total: int, parts: int, what: str) -> None:
    if parts < 1 or total % parts:
        raise ValueError(f"{what}={total} must split into {parts} equal paths")


class _Views:
    """Views of a parameter's blocks, made once: at batch 1 making a view per call costs
    as much as the small layer it feeds. Only used without gradients (a view made there
    carries no graph); rebuilt when the parameter's storage changes (``.to()``)."""

    def __init__(self):
        self.ptr, self.views = None, {}

    def get(self, weight: torch.Tensor, bias: torch.Tensor, key):
        if torch.is_grad_enabled():
            return weight[key], bias[key[0]]
        if self.ptr != (weight.data_ptr(), bias.data_ptr()):
            self.ptr, self.views = (weight.data_ptr(), bias.data_ptr()), {}
        hit = self.views.get(key)
        if hit is None:
            hit = self.views[key] = (weight[key], bias[key[0]])
        return hit


def _wide_to_blocks(
    state_dict: dict, prefix: str, wide_dim: int, to_blocks, paths: int
) -> None:
    """Convert, in ``state_dict``, a weight saved in the wide layout (``wide_dim`` dims)
    and its bias [C_out] to the per-path layout, so older checkpoints still load."""
    w, b = state_dict.get(prefix + "weight"), state_dict.get(prefix + "bias")
    if w is not None and w.dim() == wide_dim:
        state_dict[prefix + "weight"] = to_blocks(w).contiguous()
    if b is not None and b.dim() == 1:
        state_dict[prefix + "bias"] = b.reshape(paths, -1)


class PathConv2d(nn.Module):
    """A convolution whose (output path, input path) blocks are stored apart; see the
    module docstring. ``forward(x, path, in_path=0)`` runs one block on x [n, C_in/K_in,
    H, W]."""

    reports_macs = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        paths: int,
        in_paths: int = 1,
        stride: int = 1,
        padding: int = 0,
    ):
        super().__init__()
        _check_split(out_channels, paths, "out_channels")
        _check_split(in_channels, in_paths, "in_channels")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.paths, self.in_paths = paths, in_paths
        co, ci = out_channels // paths, in_channels // in_paths
        k = kernel_size
        # weight [K, K_in, C_out/K, C_in/K_in, k, k], bias [K, C_out/K]
        self.weight = nn.Parameter(torch.empty(paths, in_paths, co, ci, k, k))
        self.bias = nn.Parameter(torch.empty(paths, co))
        self._views = _Views()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the wide weight as nn.Conv2d does, then keep it as blocks."""
        k = self.kernel_size
        wide = torch.empty(self.out_channels, self.in_channels, k, k)
        dense_init_(wide, self.bias)
        with torch.no_grad():
            self.weight.copy_(self._blocks(wide))

    def _blocks(self, wide: torch.Tensor) -> torch.Tensor:
        """[C_out, C_in, k, k] -> [K, K_in, C_out/K, C_in/K_in, k, k]."""
        k = self.kernel_size
        return wide.reshape(
            self.paths,
            self.out_channels // self.paths,
            self.in_paths,
            self.in_channels // self.in_paths,
            k,
            k,
        ).transpose(1, 2)

    def wide_weight(self) -> torch.Tensor:
        """The wide weight [C_out, C_in, k, k] (differentiable), for the reference."""
        k = self.kernel_size
        wide = self.weight.transpose(1, 2)  # [K, co, K_in, ci, k, k]
        return wide.reshape(self.out_channels, self.in_channels, k, k)

    def wide_bias(self) -> torch.Tensor:
        return self.bias.reshape(-1)

    def path_macs(self, out_hw: tuple[int, int]) -> int:
        """MACs of one sample through one block, for an output of ``out_hw`` pixels."""
        co, ci = self.out_channels // self.paths, self.in_channels // self.in_paths
        return co * ci * self.kernel_size**2 * out_hw[0] * out_hw[1]

    def forward(self, x: torch.Tensor, path: int, in_path: int = 0) -> torch.Tensor:
        w, b = self._views.get(self.weight, self.bias, (path, in_path))
        y = F.conv2d(x, w, b, self.stride, self.padding)  # [n, C_out/K, H', W']
        if cost.counting():
            cost.report(self.path_macs(y.shape[2:]))
        return y

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a checkpoint of the wide layout ([C_out, C_in, k, k], [C_out]) loads as blocks
        _wide_to_blocks(state_dict, prefix, 4, self._blocks, self.paths)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, "
            f"kernel_size={self.kernel_size}, "
            f"paths={self.paths}, in_paths={self.in_paths}, stride={self.stride}, "
            f"padding={self.padding}"
        )


class PathLinear(nn.Module):
    """A block-diagonal linear layer stored as its K diagonal blocks; see the module
    docstring. ``forward(x, path)`` runs block ``path`` on x [n, F_in/K]."""

    reports_macs = True

    def __init__(self, in_features: int, out_features: int, paths: int):
        super().__init__()
        _check_split(out_features, paths, "out_features")
        _check_split(in_features, paths, "in_features")
        self.in_features, self.out_features, self.paths = in_features, out_features, paths
        fo, fi = out_features // paths, in_features // paths
        self.weight = nn.Parameter(torch.empty(paths, fo, fi))  # [K, F_out/K, F_in/K]
        self.bias = nn.Parameter(torch.empty(paths, fo))  # [K, F_out/K]
        self._views = _Views()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the wide weight as nn.Linear does, then keep its diagonal blocks."""
        wide = torch.empty(self.out_features, self.in_features)
        dense_init_(wide, self.bias)
        with torch.no_grad():
            self.weight.copy_(self._diagonal(wide))

    def _diagonal(self, wide: torch.Tensor) -> torch.Tensor:
        """[F_out, F_in] -> its diagonal blocks [K, F_out/K, F_in/K]."""
        k = self.paths
        blocks = wide.reshape(k, self.out_features // k, k, self.in_features // k)
        return blocks[torch.arange(k), :, torch.arange(k)]

    def wide_weight(self) -> torch.Tensor:
        """The block-diagonal wide weight [F_out, F_in] (differentiable), for the
        reference."""
        return torch.block_diag(*self.weight)

    def wide_bias(self) -> torch.Tensor:
        return self.bias.reshape(-1)

    def path_macs(self) -> int:
        return (self.out_features // self.paths) * (self.in_features // self.paths)

    def forward(self, x: torch.Tensor, path: int) -> torch.Tensor:
        w, b = self._views.get(self.weight, self.bias, (path,))
        y = F.linear(x, w, b)  # [n, F_out/K]
        if cost.counting():
            cost.report(self.path_macs())
        return y

    def forward_all(self, x: torch.Tensor) -> torch.Tensor:
        """Every path on every sample, each on its own input block: x [B, F_in] ->
        [B, F_out]. The dense form of the layer (one batched product, no zero blocks)."""
        b = len(x)
        xs = x.reshape(b, self.paths, -1).transpose(0, 1)  # [K, B, F_in/K]
        y = torch.baddbmm(self.bias[:, None, :], xs, self.weight.transpose(1, 2))
        cost.report(self.paths * self.path_macs())
        return y.transpose(0, 1).reshape(b, self.out_features)  # [B, F_out]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a checkpoint of the wide layout loads as its diagonal blocks; the other blocks
        # were never read by the routed network, so nothing that mattered is dropped
        _wide_to_blocks(state_dict, prefix, 2, self._diagonal, self.paths)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"paths={self.paths}"
        )
