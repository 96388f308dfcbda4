"""Layers built on the routed primitives of ``condcomp_lib.ops``."""
from .condconv import CondConv2d, Routing
from .routed import RoutedConv2d, RoutedLinear

__all__ = ["RoutedConv2d", "RoutedLinear", "CondConv2d", "Routing"]
