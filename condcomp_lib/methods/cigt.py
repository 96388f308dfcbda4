"""CIGT: the Conditional Information Gain Trellis (Bicici, Meral and Akarun, 2024).

Used by chapter 4 (the method) and chapter 5 (its execution). The network is the LeNet of
chapter 0 cut into three blocks with [1, 2, 4] paths. Block 0 (conv1) is shared. Block 1
(conv2) has 2 paths and block 2 (conv3, fc1, fc2 and the classifier) has 4. As in the
authors' code, the paths of a block are *channel groups of one wide layer*: the union of
all paths is the thick LeNet (32/64/128 conv, 512/256 fc), and one path is the thin one
(32/32/32, 128/64). Because any path of block 1 can feed any path of block 2, the
execution graph is a trellis: a sample on path i of block 1 and path j of block 2 reads
only channel group i into group j.

After blocks 0 and 1 a *router* picks one path of the next block for every sample, and
each block runs through one :class:`~condcomp_lib.ops.Dispatch`: the samples are ordered
by their path once, each path runs as a small dense network on its own weights, and the
results go back in the batch's order once. A sample computes only its path: real savings,
not masking. The wide layers are stored as the blocks their paths use
(:class:`~condcomp_lib.nn.PathConv2d`, :class:`~condcomp_lib.nn.PathLinear`), so the
parameter count is that of the usable parameters; :meth:`LeNetCIGT.run_per_layer` keeps
the execution through the per-layer routed primitives as the reference.

The routers (:mod:`~condcomp_lib.methods.cigt_router`) are trained by the *information
gain* of the minibatch's soft assignments, the classifier by cross-entropy on the sample's
own leaf, and the router temperature decays step by step: the objective and the schedule
are in :mod:`~condcomp_lib.methods.cigt_objective`, whose names this module also offers
(``cigt.Objective``, ``cigt.cigt_loss``). During warm-up routes are random. Afterwards
they are the router's argmax, except for a share of random routes while training.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from .. import cost
from ..models import THICK, LeNetWidths
from ..nn import PathConv2d, PathLinear
from ..ops import BlockCost, Dispatch, routed_conv2d, routed_linear
from .cigt_objective import (  # noqa: F401  (the objective's names, read as cigt.<name>)
    EPS,
    Objective,
    Schedule,
    cigt_loss,
    entropy,
    information_gain,
    information_gain_of_table,
    joint_table,
    temperature,
)
from .cigt_router import Router


# ---------------------------------------------------------------- the network


@dataclass
class CIGTOutput:
    logits: torch.Tensor  # [B, classes], from each sample's own leaf classifier
    probs: list  # softmax(router logits / T) per router, [B, K_l] each
    routes: list  # the path taken in each routed block, long [B] each


def one_hot_route(idx: torch.Tensor, k: int) -> torch.Tensor:
    """bool [B, K] with one path on per sample."""
    return F.one_hot(idx, k).bool()


def path_relu_pool(y: torch.Tensor, route: torch.Tensor, k: int):
    """ReLU and 2x2 max pooling of each sample's own channel group only (the per-layer
    reference, :meth:`LeNetCIGT.run_per_layer`).

    y [B, C, H, W] is a routed layer's output, zero outside group ``route`` [B]. The
    path's non-linearity and pooling are part of the path, so they too run on C/k
    channels, not C. Returns the full-width result [B, C, H/2, W/2] (zeros outside the
    path, as the next routed layer's ``in_route`` expects) and the path's own channels [B,
    C/k, H/2, W/2]."""
    b, c, h, w = y.shape
    rows = torch.arange(b, device=y.device)
    own = F.max_pool2d(F.relu(y.view(b, k, c // k, h, w)[rows, route]), 2)  # gather
    full = own.new_zeros(b, k, c // k, h // 2, w // 2)
    full[rows, route] = own  # scatter back
    return full.view(b, c, h // 2, w // 2), own


class LeNetCIGT(nn.Module):
    """LeNet-CIGT with paths (1, 2, 4), the union of its paths being the LeNet ``widths``.

    ``forward(x)`` returns the logits; :meth:`run` also returns the router probabilities
    and the routes. Routing mode is set by :meth:`set_step` during training: random routes
    during warm-up, then argmax with a share ``random_share`` of random routes; in eval
    mode always the argmax.

    Execution (chapter 5): each routed block runs through one
    :class:`~condcomp_lib.ops.Dispatch`. Block 1 (conv2) dispatches on the route of router
    1; block 2 (conv3, fc1, fc2, classifier) on the pair (path of block 1, path of block
    2), since conv3 reads the channels of the sample's block-1 path. Each bucket runs its
    path as a small dense network on the path's own weights
    (:class:`~condcomp_lib.nn.PathConv2d`, :class:`~condcomp_lib.nn.PathLinear`).
    ``strategy`` ("auto", "buckets" or "dense") is handed to the dispatches;
    :meth:`run_per_layer` is the per-layer routed execution on the wide weights, kept as
    the reference."""

    paths = (1, 2, 4)

    def __init__(
        self,
        widths: LeNetWidths = THICK,
        num_classes: int = 10,
        dropout: float = 0.3,
        schedule: Schedule = Schedule(),
        random_share: float = 0.5,
        pool_strides: tuple = (4, 2),
    ):
        super().__init__()
        w, (_, k1, k2) = widths, self.paths
        self.widths, self.num_classes = widths, num_classes
        self.schedule, self.random_share = schedule, random_share
        self.conv1 = nn.Conv2d(1, w.conv1, 5, padding=2)  # block 0, shared
        self.router1 = Router(w.conv1, 14, pool_strides[0], k1)
        self.conv2 = PathConv2d(w.conv1, w.conv2, 5, k1, padding=2)  # block 1: k1 paths
        self.router2 = Router(w.conv2 // k1, 7, pool_strides[1], k2)
        self.conv3 = PathConv2d(w.conv2, w.conv3, 1, k2, in_paths=k1)  # block 2: pairs
        self.fc1 = PathLinear(w.conv3 * 3 * 3, w.fc1, k2)
        self.fc2 = PathLinear(w.fc1, w.fc2, k2)
        self.leaves = PathLinear(w.fc2, k2 * num_classes, k2)  # a leaf classifier
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.forced_routes = None  # for experiments: two long [B] route tensors
        self.strategy = "auto"
        self.block_costs = self._costs()
        # the paths as the dispatches take them: one callable per route (pair)
        self.block1_paths = [functools.partial(self.block1, i=i) for i in range(k1)]
        self.block2_paths = [
            functools.partial(self.block2, i=i, j=j) for i in range(k1) for j in range(k2)
        ]

    # -- routing ---------------------------------------------------------------------
    @property
    def temperature(self) -> float:
        return temperature(int(self.step), self.schedule)

    @property
    def warming_up(self) -> bool:
        return int(self.step) < self.schedule.warmup_steps

    def set_step(self, step: int) -> None:
        """Tell the model how many optimizer steps have been taken (temperature,
        warm-up)."""
        self.step.fill_(step)

    def choose(self, logits: torch.Tensor, level: int, probs: bool = True):
        """(probs [B, K], route long [B]) of one router. The route is a hard choice and
        carries no gradient: routers learn from the information gain of ``probs`` only.
        The argmax of the logits is that of softmax(logits / T) for any T > 0, so the
        distribution is only computed when asked for (``probs=False`` gives None)."""
        route = logits.argmax(1)  # integers: no gradient reaches them
        p = F.softmax(logits / self.temperature, dim=1) if probs else None
        if self.training:
            share = 1.0 if self.warming_up else self.random_share
            if share > 0:
                rand = torch.randint(0, logits.shape[1], route.shape, device=route.device)
                pick = torch.rand(route.shape, device=route.device) < share
                route = torch.where(pick, rand, route)
        if self.forced_routes is not None:
            route = self.forced_routes[level].to(route.device)
        return p, route

    # -- the blocks, one path at a time ----------------------------------------------
    def block1(self, h0: torch.Tensor, i: int) -> torch.Tensor:
        """Path i of block 1: [n, 32, 14, 14] -> its own channels [n, 32, 7, 7]
        (thick)."""
        return F.max_pool2d(F.relu(self.conv2(h0, i)), 2)

    def block2(self, h1: torch.Tensor, i: int, j: int) -> torch.Tensor:
        """Path j of block 2 fed by path i of block 1: [n, 32, 7, 7] -> logits [n,
        classes]."""
        h = F.max_pool2d(F.relu(self.conv3(h1, j, i)), 2).flatten(1)  # [n, 32 * 3 * 3]
        h = self._dropout(F.relu(self.fc1(h, j)))  # [n, 128]
        h = self._dropout(F.relu(self.fc2(h, j)))  # [n, 64]
        return self.leaves(h, j)  # [n, classes]

    def _dropout(self, h: torch.Tensor) -> torch.Tensor:
        return self.dropout(h) if self.training else h  # no call at all in eval mode

    # -- the same blocks, dense: every path on every sample, each keeps its own ------
    def dense_block1(self, h0: torch.Tensor, r1: torch.Tensor) -> torch.Tensor:
        """Block 1 with the wide conv2 on every sample, then each sample's own path."""
        y = F.conv2d(h0, self.conv2.wide_weight(), self.conv2.wide_bias(), padding=2)
        cost.report(self.paths[1] * self.conv2.path_macs(y.shape[2:]))
        y = F.max_pool2d(F.relu(y), 2)  # [B, 64, 7, 7]
        b, c, h, w = y.shape
        return y.view(b, self.paths[1], c // self.paths[1], h, w)[torch.arange(b), r1]

    def dense_block2(self, h1: torch.Tensor, r1: torch.Tensor, r2: torch.Tensor):
        """Block 2 with the wide conv3 (fed by each sample's own block-1 path, zeros
        elsewhere) and every fully connected path on every sample; each keeps its own
        leaf."""
        (_, k1, k2), b = self.paths, len(h1)
        rows = torch.arange(b, device=h1.device)
        wide = h1.new_zeros(b, k1, *h1.shape[1:])
        wide[rows, r1] = h1  # [B, k1, 32, 7, 7]
        y = F.conv2d(wide.flatten(1, 2), self.conv3.wide_weight(), self.conv3.wide_bias())
        cost.report(k1 * k2 * self.conv3.path_macs(y.shape[2:]))
        h = F.max_pool2d(F.relu(y), 2).flatten(1)  # [B, 128 * 3 * 3]
        h = self.dropout(F.relu(self.fc1.forward_all(h)))  # [B, 512]
        h = self.dropout(F.relu(self.fc2.forward_all(h)))  # [B, 256]
        logits = self.leaves.forward_all(h).view(b, k2, self.num_classes)
        return logits[rows, r2]

    def _costs(self) -> tuple[BlockCost, BlockCost]:
        """What one sample costs in each block, for the dispatch's cost model: MACs and
        calls of one path and of the dense block, bytes a sample moves in and out."""
        (_, k1, k2), w = self.paths, self.widths
        p1, c3 = self.conv2.path_macs((14, 14)), self.conv3.path_macs((7, 7))
        p2 = c3 + sum(m.path_macs() for m in (self.fc1, self.fc2, self.leaves))
        h1 = w.conv2 // k1 * 7 * 7  # one path's output
        return (
            BlockCost(p1, 3, k1 * p1, 6, 4 * (w.conv1 * 14 * 14 + h1)),
            BlockCost(
                p2, 11, k1 * k2 * c3 + k2 * (p2 - c3), 16, 4 * (h1 + self.num_classes)
            ),
        )

    # -- the trellis -----------------------------------------------------------------
    def run(self, x: torch.Tensor, probs: bool = True) -> CIGTOutput:
        """Logits, router distributions (None with ``probs=False``) and routes."""
        _, k1, k2 = self.paths
        cost1, cost2 = self.block_costs
        h0 = F.max_pool2d(F.relu(self.conv1(x)), 2)  # [B, 32, 14, 14]
        p1, r1 = self.choose(self.router1(h0), 0, probs)
        d1 = Dispatch(r1, k1)
        h1 = d1.run(
            h0,
            self.block1_paths,
            dense=lambda h: self.dense_block1(h, r1),
            cost=cost1,
            strategy=self.strategy,
        )  # [B, 32, 7, 7]
        p2, r2 = self.choose(self.router2(h1), 1, probs)  # the router sees its path
        d2 = d1.refine(r2, k2)  # one bucket per pair
        logits = d2.run(
            h1,
            self.block2_paths,
            dense=lambda h: self.dense_block2(h, r1, r2),
            cost=cost2,
            strategy=self.strategy,
        )  # [B, classes]
        return CIGTOutput(logits, [p1, p2], [r1, r2])

    def run_per_layer(self, x: torch.Tensor) -> CIGTOutput:
        """The reference: every routed layer gathers and scatters on its own (the routed
        primitives on the wide weights), as the network ran before dispatching per block.
        Same routes, same logits as :meth:`run`; slower, and it reports no MACs."""
        _, k1, k2 = self.paths
        b = len(x)
        h0 = F.max_pool2d(F.relu(self.conv1(x)), 2)  # [B, 32, 14, 14]
        p1, r1 = self.choose(self.router1(h0), 0)
        m1 = one_hot_route(r1, k1)  # [B, 2]
        y = routed_conv2d(
            h0,
            self.conv2.wide_weight(),
            self.conv2.wide_bias(),
            m1,
            padding=2,
            strategy="routed",
        )
        h1, own1 = path_relu_pool(y, r1, k1)  # [B, 64, 7, 7], [B, 32, 7, 7]
        p2, r2 = self.choose(self.router2(own1), 1)
        m2 = one_hot_route(r2, k2)  # [B, 4]
        y = routed_conv2d(
            h1,
            self.conv3.wide_weight(),
            self.conv3.wide_bias(),
            m2,
            in_route=m1,
            strategy="routed",
        )
        h2, _ = path_relu_pool(y, r2, k2)  # [B, 128, 3, 3]
        # flattening keeps each channel group's 3*3 features together: group j is block j
        h = h2.flatten(1)
        for layer in (self.fc1, self.fc2):
            h = routed_linear(
                h,
                layer.wide_weight(),
                layer.wide_bias(),
                m2,
                in_route=m2,
                strategy="routed",
            )
            h = self.dropout(F.relu(h))  # [B, 512], [B, 256]
        all_leaves = routed_linear(
            h,
            self.leaves.wide_weight(),
            self.leaves.wide_bias(),
            m2,
            in_route=m2,
            strategy="routed",
        )
        all_leaves = all_leaves.view(b, k2, self.num_classes)
        logits = all_leaves[torch.arange(b, device=x.device), r2]  # [B, classes]
        return CIGTOutput(logits, [p1, p2], [r1, r2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x, probs=False).logits


# ---------------------------------------------------------------- analysis


@torch.no_grad()  # evaluation only: no graph for a backward pass that never comes
def collect_routes(model: LeNetCIGT, x: torch.Tensor, batch_size: int = 1000):
    """Eval-mode routes of every sample: (route1 [N], route2 [N], logits [N, C])."""
    model.eval()
    outs = [model.run(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return (
        torch.cat([o.routes[0] for o in outs]).cpu(),
        torch.cat([o.routes[1] for o in outs]).cpu(),
        torch.cat([o.logits for o in outs]).cpu(),
    )


def path_macs(
    widths: LeNetWidths = THICK,
    paths=LeNetCIGT.paths,
    num_classes: int = 10,
    router_hidden: int = 128,
    pool_strides=(4, 2),
) -> dict:
    """The MACs of one sample through one path, by hand, layer by layer, plus the
    routers."""
    w, (_, k1, k2) = widths, paths
    c2, c3, f1, f2 = w.conv2 // k1, w.conv3 // k2, w.fc1 // k2, w.fc2 // k2
    r1_in = w.conv1 * (14 // pool_strides[0]) ** 2
    r2_in = c2 * (7 // pool_strides[1]) ** 2
    return {
        "conv1": w.conv1 * 28 * 28 * 1 * 25,
        "conv2": c2 * 14 * 14 * w.conv1 * 25,  # all of conv1's channels in
        "conv3": c3 * 7 * 7 * c2,  # only its block-1 path's channels in
        "fc1": (c3 * 9) * f1,
        "fc2": f1 * f2,
        "leaf": f2 * num_classes,
        "router1": r1_in * router_hidden + router_hidden * k1,
        "router2": r2_in * router_hidden + router_hidden * k2,
    }
