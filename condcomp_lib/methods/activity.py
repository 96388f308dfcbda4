"""Olah's convolutional activity specialization, coarse to fine.

Used by chapter 7. Olah's letter to Bengio proposes: the high-level features of a trained
convolutional network fire on the regions of an image that are "interesting", and which
features fire says what kind of interesting; so for each high-level feature (or group of
them) add convolutional features, on each layer, that are computed only where that feature
fires, taking as input the lower-level specialized features and the generic features of
the original network. Used coarse to fine, a network that saw a low-resolution image
decides where a high-resolution pass looks.

The pieces, leaves first:

* :class:`GenericNet`, the original network: a small conv net that sees the 84x84 canvas
  at 28x28; its last map, [B, F, 7, 7] after ReLU, holds the generic features.
* :func:`group_activity` and :func:`firing_route`: the F features form G groups of F/G;
  group g fires on a cell of the 7x7 grid where its mean activity is positive and at least
  ``tau`` times its strongest cell in that image. The 7x7 grid is the tile grid of every
  specialized layer (a cell covers 12x12 canvas pixels).
* :func:`random_route`: the control, the same number of tiles per image and group at
  random places.
* :class:`SpecializedConv`: one layer of G groups of specialized features, group g
  computed only on its tiles through :func:`condcomp_lib.ops.routed_conv2d` with a
  [B, G, 7, 7] route (SBNet's gather, convolve, scatter on a CPU).
* :class:`ActivityNet`: the frozen generic network (the letter's "surgery": the original
  network is kept as it is), three specialized layers at full resolution, and a classifier
  on the pooled generic and specialized features.
* :class:`FullResNet`: the dense full-resolution network of the same widths, the accuracy
  ceiling at full cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..nn import RoutedConv2d

CANVAS = 84  # the cluttered canvas's side (condcomp_lib.cluttered)
DOWN = 3  # the generic network sees the canvas average-pooled by 3: 28x28
GRID = 7  # side of the generic network's last map, and of every layer's tile grid
CLASSES = 10
ROUTINGS = ("learned", "random", "all")
EXECUTIONS = ("groups", "union")


class GenericNet(nn.Module):
    """The original network, trained on its own at low resolution.

    ``features(x)``: canvases x [B, 1, 84, 84] -> generic features [B, F, 7, 7] (after
    ReLU); ``forward(x)``: logits [B, 10] from their global maximum."""

    def __init__(self, widths: tuple[int, int] = (16, 32), features: int = 32):
        super().__init__()
        self.c1 = nn.Conv2d(1, widths[0], 3, padding=1)
        self.c2 = nn.Conv2d(widths[0], widths[1], 3, padding=1)
        self.c3 = nn.Conv2d(widths[1], features, 3, padding=1)
        self.fc = nn.Linear(features, CLASSES)
        self.n_features = features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, DOWN)  # [B, 1, 28, 28]: the coarse look
        x = F.max_pool2d(F.relu(self.c1(x)), 2)  # [B, w1, 14, 14]
        x = F.max_pool2d(F.relu(self.c2(x)), 2)  # [B, w2, 7, 7]
        return F.relu(self.c3(x))  # [B, F, 7, 7]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).amax((2, 3)))


# ------------------------------------------------------------------ where groups fire


def group_activity(features: torch.Tensor, groups: int) -> torch.Tensor:
    """Mean activity of each group of features: [B, F, h, w] -> [B, G, h, w]. Group g is
    features g*F/G to (g+1)*F/G - 1."""
    b, f, h, w = features.shape
    if f % groups:
        raise ValueError(f"{groups} groups do not divide {f} features")
    return features.view(b, groups, f // groups, h, w).mean(2)


def firing_route(activity: torch.Tensor, tau: float) -> torch.Tensor:
    """bool [B, G, h, w]: group g fires on a cell where its activity is above zero and at
    least ``tau`` times its strongest cell in the same image. ``tau`` = 0 gives every cell
    with any activity; a group silent in an image computes nothing there."""
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must lie in [0, 1], got {tau}")
    peak = activity.amax((2, 3), keepdim=True)
    return (activity > 0) & (activity >= tau * peak)


def random_route(route: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The control: for each image and group, as many tiles as ``route`` has on, at
    positions drawn uniformly at random (``generator`` lives on the CPU)."""
    b, g, h, w = route.shape
    counts = route.reshape(b, g, -1).sum(2, keepdim=True)  # [B, G, 1]
    # the rank of a random key per cell: the cells of the `count` smallest keys are on
    keys = torch.rand(b, g, h * w, generator=generator).to(route.device)
    ranks = keys.argsort(2).argsort(2)
    return (ranks < counts).view(b, g, h, w)


# ------------------------------------------------------------------ the layers


class SpecializedConv(nn.Module):
    """One layer of specialized features: ``groups`` groups of ``c_out / groups``
    channels, group g computed only on the tiles where group g fires.

    Its inputs are the letter's two: the previous layer x (the lower-level specialized
    features, or the canvas) and the generic features, which enter through a 1x1
    convolution of the generic map upsampled to this layer's size. Upsampling by nearest
    neighbour makes that map constant on each tile, so the 1x1 convolution is computed
    once per tile, at 7x7, and broadcast: the same numbers, 1/(tile area) of the work.

    ``forward(x, generic, route)``: x [B, c_in, H, W], generic [B, F, 7, 7], route bool
    [B, G, 7, 7]; returns ReLU of both terms, exactly zero off the route.

    ``execution`` says how the routed convolution runs. ``"groups"``, the method as
    written: each group gathers and convolves its own tiles. ``"union"``: every group is
    computed on the union of the groups' tiles and what is off is then zeroed. The
    result is the same; union executes more MACs (the tiles one group has and another
    lacks), but gathers each tile once and runs one convolution of all ``c_out``
    channels instead of G narrow ones, which on a CPU is the cheaper of the two when
    the groups fire on the same places."""

    def __init__(self, c_in, c_out, kernel, stride, padding, generic: int, groups: int):
        super().__init__()
        if c_out % groups:
            raise ValueError(f"{groups} groups do not divide {c_out} channels")
        self.conv = RoutedConv2d(c_in, c_out, kernel, stride, padding)
        self.generic = nn.Conv2d(generic, c_out, 1, bias=False)
        self.groups, self.execution = groups, "groups"

    @property
    def strategy(self) -> str:
        """How the routed convolution runs: "auto", "routed" or "dense" (masked); the
        result is the same, only the time differs."""
        return self.conv.strategy

    @strategy.setter
    def strategy(self, value: str) -> None:
        self.conv.strategy = value

    def forward(self, x, generic, route):
        if self.strategy == "dense" and torch.is_grad_enabled():
            # training, dense-then-masked: the ordinary convolution, unmasked. The -inf
            # below zeroes the tiles that are off through the ReLU, with their gradients,
            # so values and gradients are the masked form's, one mask the cheaper (about
            # a tenth of a training step); the tests hold the two equal
            c = self.conv
            y = F.conv2d(x, c.weight, c.bias, c.stride, c.padding)
        else:
            # [B, c_out, H', W']; the tiles that are off are zeros (or, computed on the
            # union of the groups' tiles, values that the mask below discards)
            y = self.conv(
                x, route.any(1, keepdim=True) if self.execution == "union" else route
            )
        b, c, h, w = y.shape
        t = h // GRID  # the tile's side at this layer
        on = route.repeat_interleave(c // self.groups, 1)  # [B, c_out, 7, 7]
        # the generic term where the group is on and -inf where it is off, so that the
        # ReLU returns exact zeros off the route, whatever the convolution left there
        g = torch.where(on, self.generic(generic), float("-inf"))  # [B, c_out, 7, 7]
        # broadcast over the rows of each tile, along whole rows of the map: a copy per
        # tile row, not per pixel (a broadcast over 6-pixel runs is 3x slower on a CPU)
        g = g.repeat_interleave(t, 3).unsqueeze(3)  # [B, c_out, 7, 1, W']
        rows = y.view(b, c, GRID, t, w)
        if torch.is_grad_enabled():
            return F.relu(rows + g).view(b, c, h, w)
        return rows.add_(g).view(b, c, h, w).relu_()  # the same, in place


class ActivityNet(nn.Module):
    """Activity specialization on the frozen generic network.

    Three specialized layers at full resolution (84 -> 42 -> 42 -> 21; tiles of 6, 6
    and 3 pixels), then a classifier on the global maximum of the last specialized
    layer and of the generic features. ``routing``: "learned" (where the groups fire,
    at threshold ``tau``), "random" (:func:`random_route`, the same counts) or "all"
    (every tile). ``last_route`` keeps the route of the last forward, [B, G, 7, 7]."""

    def __init__(
        self,
        generic: GenericNet,
        widths: tuple[int, int, int] = (16, 64, 128),
        groups: int = 4,
        tau: float = 0.5,
        routing: str = "learned",
        seed: int = 0,
    ):
        super().__init__()
        self.generic = generic.requires_grad_(False)  # kept as trained
        f = generic.n_features
        self.s1 = SpecializedConv(1, widths[0], 5, 2, 2, f, groups)  # 84 -> 42
        self.s2 = SpecializedConv(widths[0], widths[1], 3, 1, 1, f, groups)  # 42 -> 42
        self.s3 = SpecializedConv(widths[1], widths[2], 3, 2, 1, f, groups)  # 42 -> 21
        self.fc = nn.Linear(widths[2] + f, CLASSES)
        self.groups, self.tau, self.last_route = groups, tau, None
        self.set_routing(routing, seed)

    def set_routing(self, routing: str, seed: int = 0) -> "ActivityNet":
        """Choose how tiles are picked; reseeds the random control's generator."""
        if routing not in ROUTINGS:
            raise ValueError(f"routing must be one of {ROUTINGS}, got {routing!r}")
        self.routing, self.rng = routing, torch.Generator().manual_seed(seed)
        return self

    def set_strategy(self, strategy: str) -> "ActivityNet":
        """Run the specialized layers routed, dense-then-masked (the same values and
        gradients: training uses it, being faster on a CPU) or as the cost model picks
        ("auto")."""
        for layer in (self.s1, self.s2, self.s3):
            layer.strategy = strategy
        return self

    def set_execution(self, execution: str) -> "ActivityNet":
        """``"groups"`` or ``"union"`` in every specialized layer (see
        :class:`SpecializedConv`)."""
        if execution not in EXECUTIONS:
            raise ValueError(f"execution must be one of {EXECUTIONS}, got {execution!r}")
        for layer in (self.s1, self.s2, self.s3):
            layer.execution = execution
        return self

    def route(self, generic: torch.Tensor) -> torch.Tensor:
        """bool [B, G, 7, 7] for generic features [B, F, 7, 7]."""
        if self.routing == "all":
            b = generic.shape[0]
            return torch.ones(b, self.groups, GRID, GRID, dtype=torch.bool)
        fired = firing_route(group_activity(generic, self.groups), self.tau)
        return fired if self.routing == "learned" else random_route(fired, self.rng)

    def full_resolution(self, x, generic, route) -> torch.Tensor:
        """The specialized pass: pooled features [B, widths[2]]."""
        h = self.s1(x, generic, route)  # [B, w1, 42, 42]
        h = self.s2(h, generic, route)  # [B, w2, 42, 42]
        return self.s3(h, generic, route).amax((2, 3))  # [B, w3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            generic = self.generic.features(x)  # [B, F, 7, 7]
        route = self.route(generic).to(x.device)
        self.last_route = route
        z = torch.cat([self.full_resolution(x, generic, route), generic.amax((2, 3))], 1)
        return self.fc(z)


class FullResNet(nn.Module):
    """The dense full-resolution network of the same widths and shapes as the specialized
    layers, on the canvas alone: every channel on every pixel."""

    def __init__(self, widths: tuple[int, int, int] = (16, 64, 128)):
        super().__init__()
        self.c1 = nn.Conv2d(1, widths[0], 5, stride=2, padding=2)  # 84 -> 42
        self.c2 = nn.Conv2d(widths[0], widths[1], 3, padding=1)  # 42 -> 42
        self.c3 = nn.Conv2d(widths[1], widths[2], 3, stride=2, padding=1)  # 42 -> 21
        self.fc = nn.Linear(widths[2], CLASSES)

    def full_resolution(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.c2(F.relu(self.c1(x))))
        return F.relu(self.c3(h)).amax((2, 3))  # [B, w3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.full_resolution(x))
