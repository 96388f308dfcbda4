"""The initialisation of ``nn.Conv2d`` and ``nn.Linear``, for layers that store their
weights another way.

The routed and per-path layers draw what their dense twins would, so that a network built
on them starts from the same numbers as the dense one; each CondConv expert draws what one
``nn.Conv2d`` would, as in the paper's reference code."""

from __future__ import annotations

import math

import torch
from torch import nn


def dense_init_(weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    """Draw ``weight`` [out, in, ...] and then ``bias`` [out] (if given) in place, as
    ``nn.Conv2d`` / ``nn.Linear`` draw theirs: Kaiming-uniform with a = sqrt(5), and the
    bias uniform in +-1/sqrt(fan_in)."""
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1 / math.sqrt(math.prod(weight.shape[1:]))  # fan_in: in * kernel area
        nn.init.uniform_(bias, -bound, bound)
