"""The routed primitives of the book (section "one primitive: routed convolution").

* :func:`routed_conv2d`: a convolution computed only for the (sample, channel group, tile)
  items a route switches on; CIGT (chapter 4), block policies, activity specialization,
  exits.
* :func:`routed_linear`: the same for blocks of units of a linear layer.
* :func:`per_sample_conv2d`: a kernel per sample; CondConv (chapter 3).
* :class:`Dispatch`: a whole routed block run once per route (samples ordered by route
  once, each route's samples through that route's dense sub-network); CIGT, early exit,
  chapter 5.

Each runs as plain PyTorch (the reference, and the CPU path) or as CuPy kernels on a GPU
when switched on with :func:`use_kernels` or ``CONDCOMP_KERNELS=1``."""

from .backend import kernels_enabled, use_kernels
from .cost_model import BlockCost
from .dispatch import Dispatch
from .per_sample import per_sample_conv2d
from .routed import routed_conv2d, routed_linear

__all__ = [
    "routed_conv2d",
    "routed_linear",
    "per_sample_conv2d",
    "Dispatch",
    "BlockCost",
    "use_kernels",
    "kernels_enabled",
]
