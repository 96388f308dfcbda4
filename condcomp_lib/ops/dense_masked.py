"""The simple path of the routed primitives: the dense layer, then the outputs that are
off zeroed.

Used by :mod:`.routed` where little work is saved (its ``strategy``), and as the ground
truth the routed paths are tested against: plain PyTorch, plain autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .checks import Geometry


def _group_mask(route: torch.Tensor, per_group: int) -> torch.Tensor:
    """bool route [B, G] -> [B, G * per_group] (each group's bit repeated)."""
    return route.repeat_interleave(per_group, 1)


def dense_masked_conv2d(x, weight, bias, route, in_route, g: Geometry) -> torch.Tensor:
    """The simple path: the ordinary convolution (input groups that are off zeroed first),
    then the outputs that are off zeroed. Plain autograd; the routed ops' ground truth."""
    if in_route is not None:
        x = torch.where(_group_mask(in_route, g.group_in)[:, :, None, None], x, 0)
    y = F.conv2d(x, weight, bias, g.stride, g.padding)  # [B, C_out, H', W']
    # the mask is built in y's shape rather than y viewed in the route's: y may be
    # channels-last (F.conv2d keeps its input's layout, and the routed path writes tiles
    # channels-last), and such a tensor has no view with the channels split in groups
    (Th, Tw), (th, tw) = g.grid, g.tile
    if Th == Tw == 1:  # channel groups only: a mask that broadcasts over the pixels
        keep = _group_mask(route.view(g.batch, g.groups), g.group_out)[:, :, None, None]
    else:  # [B, G, Th, Tw] -> [B, C_out, H', W'], each bit over its group and tile
        keep = (
            route.view(g.batch, g.groups, 1, Th, 1, Tw, 1)
            .expand(g.batch, g.groups, g.group_out, Th, th, Tw, tw)
            .reshape(g.batch, g.c_out, *g.out_hw)
        )
    return torch.where(keep, y, 0)


def dense_masked_linear(x, weight, bias, route, in_route) -> torch.Tensor:
    """The simple path of ``routed_linear``: the dense layer, then the off blocks
    zeroed."""
    if in_route is not None:
        x = torch.where(_group_mask(in_route, x.shape[1] // in_route.shape[1]), x, 0)
    y = F.linear(x, weight, bias)  # [B, F_out]
    return torch.where(_group_mask(route, weight.shape[0] // route.shape[1]), y, 0)
