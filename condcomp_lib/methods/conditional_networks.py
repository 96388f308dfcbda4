"""Ioannou et al.'s conditional networks at LeNet scale: filter groups and a router.

Used by chapter 8. Ioannou et al. (2016) read a network with block-diagonal weight
matrices (*filter groups*) as a tree: each diagonal block is a branch that sees only its
own group of the layer below. Computing every branch for every image is *implicit
routing*, and already cheaper than the dense layer: with G groups each block is
(C_in/G) x (C_out/G), G of them cost 1/G of the dense layer. An *explicit router* then
picks, per image, which branch runs; trained with soft routing (every branch runs and
the router's probabilities mix their predictions, so gradients reach everything) and
tested with single-best routing (only the most probable branch runs).

:class:`ConditionalLeNet` is the thin LeNet of chapter 0 with this structure: conv1 is the
shared root (every image computes it, and the router reads it); from conv2 on, the
network is G branches, branch g reading channel group g of the root and holding 1/G of
every later layer's width, with its own classifier. ``routing``:

* ``"implicit"``: every branch on every image, the classifiers' logits summed (a dense
  classifier on the concatenated branches is the same sum): the filter-group network;
* ``"explicit"``: a linear router on the root's channel means. In training, the mixture
  p(y|x) = sum_g pi_g(x) softmax(z_g(x)); at test, the branch of the largest pi_g(x)
  alone, run by :class:`~condcomp_lib.ops.Dispatch` (``test_routing = "best"``), or the
  training mixture itself (``test_routing = "soft"``, every branch at every image): the
  gap between the two is what single-best routing costs in accuracy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import cost
from ..models import THIN, LeNetWidths
from ..ops import Dispatch

ROUTINGS = ("implicit", "explicit")
TEST_ROUTINGS = ("best", "soft")
CLASSES = 10


class Branch(nn.Module):
    """One diagonal block of every layer from conv2 on: the thin LeNet's tail at 1/G of
    its widths, reading the root's channel group g, with its own classifier."""

    def __init__(self, w: LeNetWidths, groups: int):
        super().__init__()
        c1, c2, c3 = w.conv1 // groups, w.conv2 // groups, w.conv3 // groups
        f1, f2 = w.fc1 // groups, w.fc2 // groups
        self.conv2 = nn.Conv2d(c1, c2, 5, padding=2)  # 14x14
        self.conv3 = nn.Conv2d(c2, c3, 1)  # 7x7
        self.fc1 = nn.Linear(c3 * 9, f1)
        self.fc2 = nn.Linear(f1, f2)
        self.fc3 = nn.Linear(f2, CLASSES)
        self.dropout = nn.Dropout(0.3)
        self.macs = (
            cost.conv2d_macs(c1, c2, (5, 5), (14, 14))
            + cost.conv2d_macs(c2, c3, (1, 1), (7, 7))
            + cost.linear_macs(c3 * 9, f1)
            + cost.linear_macs(f1, f2)
            + cost.linear_macs(f2, CLASSES)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        cost.report(self.macs)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)  # [B, c2, 7, 7]
        h = F.max_pool2d(F.relu(self.conv3(h)), 2)  # [B, c3, 3, 3]
        h = self.dropout(F.relu(self.fc1(h.flatten(1))))
        h = self.dropout(F.relu(self.fc2(h)))
        return self.fc3(h)  # [B, 10]


class ConditionalLeNet(nn.Module):
    """The thin LeNet as a root and ``groups`` branches; see the module docstring.

    ``forward(x)`` returns logits [B, 10] (implicit routing, or explicit routing at test)
    or, for explicit routing in training, the log of the mixture's class probabilities.
    ``last_route`` holds the branch each image ran at test (explicit routing)."""

    reports_macs = True

    def __init__(self, widths: LeNetWidths = THIN, groups: int = 2, routing="explicit"):
        super().__init__()
        if routing not in ROUTINGS:
            raise ValueError(f"routing must be one of {ROUTINGS}, got {routing!r}")
        sizes = (widths.conv1, widths.conv2, widths.conv3, widths.fc1, widths.fc2)
        if not isinstance(groups, int) or groups < 1 or any(s % groups for s in sizes):
            raise ValueError(f"groups must divide every width {sizes}, got {groups!r}")
        self.groups, self.routing, self.c1 = groups, routing, widths.conv1
        self.widths = widths
        self.conv1 = nn.Conv2d(1, widths.conv1, 5, padding=2)  # the root, 28x28
        self.router = nn.Linear(widths.conv1, groups) if routing == "explicit" else None
        self.branches = nn.ModuleList(Branch(widths, groups) for _ in range(groups))
        self.last_route = None
        self.test_routing = "best"  # explicit routing at test: see the module docstring

    def root(self, x: torch.Tensor) -> torch.Tensor:
        cost.report(cost.conv2d_macs(1, self.c1, (5, 5), (28, 28)))
        return F.max_pool2d(F.relu(self.conv1(x)), 2)  # [B, c1, 14, 14]

    def router_probs(self, h: torch.Tensor) -> torch.Tensor:
        """pi(x) [B, G] from the root's channel means."""
        cost.report(cost.linear_macs(self.c1, self.groups))
        return self.router(h.mean((2, 3))).softmax(1)

    def group(self, h: torch.Tensor, g: int) -> torch.Tensor:
        c = self.c1 // self.groups
        return h[:, g * c : (g + 1) * c]  # [B, c1/G, 14, 14]: branch g's input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.root(x)
        if self.routing == "implicit":  # filter groups: every block, summed
            return sum(b(self.group(h, g)) for g, b in enumerate(self.branches))
        pi = self.router_probs(h)  # [B, G]
        self.last_pi = pi
        if self.test_routing not in TEST_ROUTINGS:
            raise ValueError(
                f"test_routing must be one of {TEST_ROUTINGS}, got {self.test_routing!r}"
            )
        if self.training or self.test_routing == "soft":  # every branch, mixed by pi
            probs = torch.stack(
                [b(self.group(h, g)).softmax(1) for g, b in enumerate(self.branches)], 1
            )  # [B, G, 10]
            return (pi.unsqueeze(2) * probs).sum(1).clamp_min(1e-12).log()
        route = pi.argmax(1)  # single-best routing: one branch per image
        self.last_route = route
        paths = [
            (lambda hs, g=g, b=b: b(self.group(hs, g)))
            for g, b in enumerate(self.branches)
        ]
        return Dispatch(route, self.groups).run(h, paths)


def soft_twin(net: ConditionalLeNet) -> ConditionalLeNet:
    """The same weights in a second network that tests as it trained: every branch run
    and mixed by pi (``test_routing = "soft"``), for the accuracy single-best routing
    gives up."""
    twin = ConditionalLeNet(net.widths, net.groups, net.routing)
    twin.load_state_dict(net.state_dict())
    twin.eval().test_routing = "soft"
    return twin


def soft_routing_loss(balance: float = 0.1):
    """The training objective of explicit routing, for :func:`condcomp_lib.train.fit`:
    the negative log-likelihood of the mixture, plus ``balance`` times G * sum_g
    mean(pi_g)^2 - 1 (zero when the batch is shared evenly among the branches): without
    it the router can send everything to one branch early and never learn otherwise."""

    def loss(model: ConditionalLeNet, x, y):
        out = model(x)
        # the mixture's log-probabilities are already normalized, so cross-entropy is
        # their negative log-likelihood; for implicit routing, the logits' cross-entropy
        value = F.cross_entropy(out, y)
        if model.routing == "explicit" and balance > 0:
            share = model.last_pi.mean(0)  # [G]
            value = value + balance * (model.groups * (share**2).sum() - 1)
        return value, out

    return loss
