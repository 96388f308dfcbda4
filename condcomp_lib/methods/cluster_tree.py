"""Olah's feature-cluster decision trees.

Used by chapter 8. Olah's letter to Bengio proposes a surgery on a trained network:
cluster its most abstract representation (the last hidden layer) of the training set;
for each cluster train a new network, a *specialist*, on that cluster's data alone, each
of whose layers reads the specialist's previous layer and also that layer's twin in the
original network (a *lateral connection*); optionally repeat below each specialist. To
classify an image, the original network runs, the nearest centroid picks the branch,
and only that branch runs.

The pieces, leaves first:

* :func:`base_levels`: the frozen base's activations at every level of the LeNet: level 0
  the image [B, 1, 28, 28], levels 1 to 3 the pooled conv maps [B, C, 14, 14], [B, C, 7,
  7], [B, C, 3, 3], levels 4 and 5 the fc layers [B, F]. The base's classifier is not run.
* :func:`pack` and :func:`unpack`: the levels as one flat tensor [B, N] and back, so that
  a whole bundle of lateral inputs moves through :class:`~condcomp_lib.ops.Dispatch` as
  one.
* :func:`kmeans` (scikit-learn) and :func:`nearest`, from :mod:`.clusters`: the clusters,
  and the routing of any sample to its nearest centroid (labels play no part).
* :class:`Specialist`: the new network. Layer l reads [its own level l-1 ; the lateral
  level l-1]; the head reads [its level 5 ; the lateral level 5].
* :class:`Node` and :class:`ClusterTree`: the tree. A node holds a specialist and,
  optionally, centroids over its top representation and one child node per centroid.

A tree with one cluster (k = 1) is the capacity control: the base and one specialist of
the same size trained on all the data.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import cost
from ..models import THIN, LeNet, LeNetWidths
from ..ops import Dispatch
from .clusters import kmeans, nearest  # noqa: F401  (read as cluster_tree.kmeans too)

CLASSES = 10
# spatial size of each level of the LeNet (levels 4 and 5 are vectors)
SIZES = [(28, 28), (14, 14), (7, 7), (3, 3), (), ()]


@dataclass(frozen=True)
class SpecialistWidths:
    """New features per layer of a specialist (the letter: fewer than the base's, fewer
    further down the tree, and more on the higher layers)."""

    conv1: int
    conv2: int
    conv3: int
    fc1: int
    fc2: int

    def __post_init__(self):
        if any(not isinstance(w, int) or w < 1 for w in astuple(self)):
            raise ValueError(f"every specialist width must be an int >= 1, got {self}")


def base_channels(widths: LeNetWidths = THIN) -> tuple[int, ...]:
    """Channels (or units) of the base at levels 0 to 5."""
    return (1, widths.conv1, widths.conv2, widths.conv3, widths.fc1, widths.fc2)


# ------------------------------------------------------------------ the base's levels


@torch.no_grad()
def base_levels(base: LeNet, x: torch.Tensor) -> list[torch.Tensor]:
    """The frozen base's activations at levels 0 to 5 for images x [B, 1, 28, 28]: the
    layers of :meth:`LeNet.forward` one by one, in eval mode (no dropout), without its
    classifier."""
    base.eval()
    h1 = F.max_pool2d(F.relu(base.conv1(x)), 2)  # [B, c1, 14, 14]
    h2 = F.max_pool2d(F.relu(base.conv2(h1)), 2)  # [B, c2, 7, 7]
    h3 = F.max_pool2d(F.relu(base.conv3(h2)), 2)  # [B, c3, 3, 3]
    h4 = F.relu(base.fc1(h3.flatten(1)))  # [B, f1]
    h5 = F.relu(base.fc2(h4))  # [B, f2]: the most abstract representation
    return [x, h1, h2, h3, h4, h5]


def base_macs(base: LeNet) -> int:
    """MACs of one image through the base up to its last hidden layer."""
    w = base.widths
    return (
        cost.conv2d_macs(1, w.conv1, (5, 5), (28, 28))
        + cost.conv2d_macs(w.conv1, w.conv2, (5, 5), (14, 14))
        + cost.conv2d_macs(w.conv2, w.conv3, (1, 1), (7, 7))
        + cost.linear_macs(w.conv3 * 9, w.fc1)
        + cost.linear_macs(w.fc1, w.fc2)
    )


def pack(levels: list[torch.Tensor]) -> torch.Tensor:
    """Levels [B, C_l, ...] as one flat tensor [B, sum of C_l * size_l]."""
    return torch.cat([h.flatten(1) for h in levels], 1)


def unpack(flat: torch.Tensor, channels: tuple[int, ...]) -> list[torch.Tensor]:
    """The inverse of :func:`pack` for levels of ``channels`` channels: views of
    ``flat``."""
    sizes = [c * int(np.prod(s)) for c, s in zip(channels, SIZES)]
    if flat.dim() != 2 or flat.shape[1] != sum(sizes):
        raise ValueError(
            f"a bundle of levels with channels {channels} is [B, {sum(sizes)}], "
            f"got shape {tuple(flat.shape)}"
        )
    parts = flat.split(sizes, 1)
    return [p.view(len(flat), c, *s) for p, c, s in zip(parts, channels, SIZES)]


# ------------------------------------------------------------------ the specialist


class Specialist(nn.Module):
    """A network trained on one cluster, reading the frozen networks above it.

    ``lateral`` holds the channels at levels 0 to 5 of what it reads besides itself (the
    base's levels, then those of every specialist above it in the tree). Layer l reads
    [its own level l-1 ; lateral level l-1], so its new features are computed from
    everything the base's twin layer sees and from the specialist's own lower features;
    the head reads [its level 5 ; lateral level 5]. ``forward(flat)`` takes the lateral
    levels packed ([B, N], see :func:`pack`) and returns logits [B, 10]."""

    reports_macs = True

    def __init__(self, widths: SpecialistWidths, lateral: tuple[int, ...], dropout=0.3):
        super().__init__()
        if len(lateral) != 6 or any(c < 1 for c in lateral):
            raise ValueError(f"lateral needs 6 positive channel counts, got {lateral}")
        s, c = widths, lateral
        self.widths, self.lateral = widths, tuple(lateral)
        self.conv1 = nn.Conv2d(c[0], s.conv1, 5, padding=2)  # 28x28, pooled to 14x14
        self.conv2 = nn.Conv2d(s.conv1 + c[1], s.conv2, 5, padding=2)  # 14 -> 7
        self.conv3 = nn.Conv2d(s.conv2 + c[2], s.conv3, 1)  # 7 -> 3
        self.fc1 = nn.Linear((s.conv3 + c[3]) * 9, s.fc1)
        self.fc2 = nn.Linear(s.fc1 + c[4], s.fc2)
        self.head = nn.Linear(s.fc2 + c[5], CLASSES)
        self.dropout = nn.Dropout(dropout)

    def start_from(self, head: nn.Linear) -> "Specialist":
        """Start the head at the prediction of the network above: the lateral part of the
        head takes ``head``'s weights (which read exactly that lateral level), the new
        features' part starts at zero. Training then begins at the parent's accuracy."""
        new = self.widths.fc2
        if head.in_features != self.lateral[5]:
            raise ValueError(
                f"head reads {head.in_features} units, the lateral level 5 has "
                f"{self.lateral[5]}"
            )
        with torch.no_grad():
            self.head.weight[:, :new] = 0
            self.head.weight[:, new:] = head.weight
            self.head.bias.copy_(head.bias)
        return self

    def levels(self, lateral: list[torch.Tensor]) -> list[torch.Tensor]:
        """Its own levels 1 to 5 from the lateral levels 0 to 5."""
        s1 = F.max_pool2d(F.relu(self.conv1(lateral[0])), 2)  # [B, s1, 14, 14]
        s2 = self.conv2(torch.cat([s1, lateral[1]], 1))
        s2 = F.max_pool2d(F.relu(s2), 2)  # [B, s2, 7, 7]
        s3 = self.conv3(torch.cat([s2, lateral[2]], 1))
        s3 = F.max_pool2d(F.relu(s3), 2)  # [B, s3, 3, 3]
        s4 = F.relu(self.fc1(torch.cat([s3, lateral[3]], 1).flatten(1)))  # [B, s4]
        s4 = self.dropout(s4)
        s5 = F.relu(self.fc2(torch.cat([s4, lateral[4]], 1)))  # [B, s5]
        return [s1, s2, s3, s4, self.dropout(s5)]

    def classify(self, own5: torch.Tensor, lateral5: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([own5, lateral5], 1))  # [B, 10]

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        lateral = unpack(flat, self.lateral)
        cost.report(self.macs())
        return self.classify(self.levels(lateral)[-1], lateral[5])

    def macs(self, head: bool = True) -> int:
        """MACs of one sample through the specialist (with or without its head)."""
        s, c = self.widths, self.lateral
        m = (
            cost.conv2d_macs(c[0], s.conv1, (5, 5), (28, 28))
            + cost.conv2d_macs(s.conv1 + c[1], s.conv2, (5, 5), (14, 14))
            + cost.conv2d_macs(s.conv2 + c[2], s.conv3, (1, 1), (7, 7))
            + cost.linear_macs((s.conv3 + c[3]) * 9, s.fc1)
            + cost.linear_macs(s.fc1 + c[4], s.fc2)
        )
        return m + (cost.linear_macs(s.fc2 + c[5], CLASSES) if head else 0)


def own_channels(widths: SpecialistWidths) -> tuple[int, ...]:
    """What a specialist adds at levels 0 to 5 (nothing at level 0, the image)."""
    return (0, *astuple(widths))


def merge(lateral: list[torch.Tensor], own: list[torch.Tensor]) -> list[torch.Tensor]:
    """The levels a child reads: at each level the specialist's own features beside the
    lateral ones (level 0, the image, has no own part)."""
    return [lateral[0]] + [torch.cat([o, h], 1) for o, h in zip(own, lateral[1:])]


# ------------------------------------------------------------------ the tree


class Node(nn.Module):
    """A specialist and, if ``k`` > 0, ``k`` children chosen by the nearest centroid of
    its top representation (level 5: what its head reads). A leaf classifies; an inner
    node computes its features and passes them, beside its laterals, to one child."""

    reports_macs = True

    def __init__(self, specialist: Specialist, children: list["Node"] | None = None):
        super().__init__()
        self.specialist = specialist
        self.branches = nn.ModuleList(children or [])
        k = len(self.branches)
        top = specialist.widths.fc2 + specialist.lateral[5]
        self.register_buffer("centroids", torch.zeros(k, top))  # [k, D]

    @property
    def child_lateral(self) -> tuple[int, ...]:
        s = self.specialist
        return tuple(a + b for a, b in zip(s.lateral, own_channels(s.widths)))

    def forward(self, flat: torch.Tensor, routed: bool = True) -> torch.Tensor:
        """Logits [B, 10] from packed lateral levels [B, N]. ``routed`` False runs every
        child on every sample and keeps each sample's own (the reference)."""
        if not self.branches:
            return self.specialist(flat)
        lateral = unpack(flat, self.specialist.lateral)
        cost.report(self.specialist.macs(head=False))
        levels = merge(lateral, self.specialist.levels(lateral))
        return route_and_run(levels, self.centroids, self.branches, routed)[0]


def route_and_run(levels, centroids, children, routed: bool = True):
    """Route each sample by the nearest centroid of its level 5, then run its child only,
    through one :class:`~condcomp_lib.ops.Dispatch`: the samples are ordered by route
    once, each child runs on its own samples as one batch, and the order is restored.
    Returns (logits [B, 10], route [B])."""
    if len(centroids) > 1:  # one child needs no choice
        cost.report(centroids.numel())  # the nearest-centroid distances: k * D
    route = nearest(levels[5], centroids)  # [B]
    d = Dispatch(route, len(children))
    flat = pack(levels)
    if routed:
        return d.run(flat, list(children)), route
    every = [lambda f, c=c: c(f, routed=False) for c in children]
    return d.reference(flat, every), route


class ClusterTree(nn.Module):
    """Olah's tree: the frozen base, centroids over its last hidden layer, and one
    :class:`Node` per centroid. ``forward(x)``: images [B, 1, 28, 28] -> logits [B, 10];
    the base runs, each sample goes to one child, and only that branch runs. The cost of
    each sample (base, distances, its branch) is reported to
    :class:`~condcomp_lib.cost.RealizedMacs`."""

    reports_macs = True

    def __init__(self, base: LeNet, children: list[Node]):
        super().__init__()
        self.base = base.requires_grad_(False)  # the surgery keeps the base as trained
        self.branches = nn.ModuleList(children)
        top = base.widths.fc2
        self.register_buffer("centroids", torch.zeros(len(children), top))
        self.last_route = None

    @property
    def k(self) -> int:
        return len(self.branches)

    def route(self, x: torch.Tensor) -> torch.Tensor:
        """The branch of every image, long [B]: the nearest centroid of its base
        features."""
        return nearest(base_levels(self.base, x)[5], self.centroids)

    def forward(self, x: torch.Tensor, routed: bool = True) -> torch.Tensor:
        levels = base_levels(self.base, x)
        cost.report(base_macs(self.base))
        logits, self.last_route = route_and_run(
            levels, self.centroids, self.branches, routed
        )
        return logits


class EveryBranch(nn.Module):
    """The ensemble bound: the base and *every* depth-1 specialist of a tree on every
    image, their class probabilities averaged. Returns log-probabilities [B, 10]; costs
    the base plus all k specialists."""

    reports_macs = True

    def __init__(self, tree: ClusterTree):
        super().__init__()
        self.tree = tree

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = base_levels(self.tree.base, x)
        cost.report(base_macs(self.tree.base))
        flat = pack(levels)
        probs = torch.stack([b(flat).softmax(1) for b in self.tree.branches])
        return probs.mean(0).log()  # [B, 10]


# ------------------------------------------------------------------ building a tree


@dataclass(frozen=True)
class TreeShape:
    """The shape of a tree: ``k`` children of the root and ``k2`` below each of them
    (0: depth 1), with the specialists' widths at depth 1 and depth 2."""

    k: int
    k2: int
    widths1: SpecialistWidths
    widths2: SpecialistWidths

    @property
    def depth(self) -> int:
        return 1 if self.k2 == 0 else 2


def skeleton(base: LeNet, shape: TreeShape) -> ClusterTree:
    """An untrained tree of ``shape`` on ``base`` (the structure a cached state_dict
    loads into)."""
    lateral = base_channels(base.widths)
    children = []
    for _ in range(shape.k):
        spec = Specialist(shape.widths1, lateral)
        below = Node(spec).child_lateral
        grand = [Node(Specialist(shape.widths2, below)) for _ in range(shape.k2)]
        children.append(Node(spec, grand))
    return ClusterTree(base, children)
