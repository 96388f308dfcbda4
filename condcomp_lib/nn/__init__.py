"""Layers built on the routed primitives of ``condcomp_lib.ops``."""

from .condconv import CondConv2d, Routing
from .paths import PathConv2d, PathLinear
from .routed import RoutedConv2d, RoutedLinear

__all__ = [
    "RoutedConv2d",
    "RoutedLinear",
    "PathConv2d",
    "PathLinear",
    "CondConv2d",
    "Routing",
]
