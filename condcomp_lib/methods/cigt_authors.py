"""CIGT as its authors train it: their PyTorch LeNet-CIGT [1, 2, 4] and the recipe of
their best recorded Fashion-MNIST point, read from their code.

Used by chapter 4, beside the book's own CIGT (:mod:`~condcomp_lib.methods.cigt`), and
trained by :mod:`~condcomp_lib.methods.cigt_authors_runs`. The source is
``ufukcbicici/cigt`` (branch ``multipath_inference_with_reinforce_and_ces``, commit
5997512); the recipe is "config C's best recorded point" (93.07%, their best test epoch),
``bayesian_search_vanilla_cigt_entry_points/fashion_cigt_repeated_experiment.py:28-34``.

It differs from the book's trellis in how a path is built, not in what CIGT is:

* every path is its own small network with batch normalization after each layer; a
  path of block 2 has one 1x1 convolution, the same whichever block-1 path a sample came
  from (``cigt_ig_gather_scatter_implementation.py:80-103``);
* the routers pool with strides 2 and 1 (1,568 inputs each) and have no non-linearity;
* rows, not samples, flow through the trellis. During warm-up every row goes through
  every path of the next block ("FullRouting"): a sample is 1 row in block 0, 2 rows in
  block 1 and 8 rows at the leaves, and each router's information gain counts every
  row that reaches it;
* the leaf loss is the *sum* over the 4 leaves of each leaf's mean cross-entropy.

Four arms share the code: ``"cigt"`` (the recipe), ``"random"`` (the same trellis,
every route drawn at random after warm-up and at test, no routers, so no information
gain), ``"all-paths"`` (every path on, in training and at test, the prediction being the
mean of the leaves' softmax over a sample's 8 rows) and ``"one-path"`` (one path per
block: the authors' thick baseline, the book's thin LeNet with batch normalization)."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from . import cigt

ARMS = ("one-path", "cigt", "random", "all-paths")


# ---------------------------------------------------------------- the recipe


@dataclass(frozen=True)
class Recipe:
    """Config C's best recorded point, with where each value stands in the authors' code
    (paths relative to the repository; ``repeated`` is the file named above, ``config``
    ``configs/fashion_lenet_cigt_configs.py``). Values at full precision, as recorded."""

    epochs: int = 150  # 25 warm-up + 125 (cigt/cigt_ig_refactored.py:802-803)
    warmup_epochs: int = 25  # config:21, every path on, IG on (repeated:120-122)
    lr: float = 0.02725776687100737  # repeated:28-34
    lr_boundaries: tuple = (0, 60, 95, 120)  # epochs, 35/70/95 + warm-up (config:74-77)
    lr_factors: tuple = (1.0, 0.5, 0.25, 0.025)
    momentum: float = 0.9  # SGD, no Nesterov (cigt_ig_refactored.py:395-396)
    weight_decay: float = 0.0  # repeated:114
    batch_size: int = 125  # config:20
    dropout: float = 0.1850670091728706  # after both fc layers of a block-2 path
    beta: float = 2.115279595280901  # weight of H(n) in each router's IG
    decision_weight: float = 0.06343540020100785
    t0: float = 25.0  # router temperature, decayed every step from step 1 (repeated:102)
    decay: float = 0.9998483349123012
    floor: float = 0.01  # repeated:105
    random_share: float = 0.49130603489023317  # of each router's rows, after warm-up
    eval_every: int = 5  # the test set every 5th epoch and each of the last 10
    eval_last: int = 10  # (cigt_ig_refactored.py:810-834)
    router_pools: tuple = (2, 1)  # average-pooling strides (config:61)

    def scaled(self, epochs: int) -> Recipe:
        """The recipe for a run of ``epochs`` instead of 150: warm-up and learning-rate
        boundaries at the same fractions of the run (at least one warm-up epoch and one
        after it, when there are two). The temperature keeps its rate per step."""
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        if epochs == self.epochs:
            return self
        at = lambda e: math.floor(e * epochs / self.epochs + 0.5)  # noqa: E731
        warmup = min(max(at(self.warmup_epochs), 1), epochs - 1)
        bounds = tuple(at(b) for b in self.lr_boundaries)
        return replace(self, epochs=epochs, warmup_epochs=warmup, lr_boundaries=bounds)

    def lr_at(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (0-based), set when the epoch starts."""
        i = bisect.bisect_right(self.lr_boundaries, epoch) - 1  # the last boundary passed
        return self.lr * self.lr_factors[i]

    def temperature(self, step: int) -> float:
        """T at optimizer step ``step``, counted from 1: the authors' controller updates
        before the forward, so the first step already runs at 25 * decay."""
        return max(self.t0 * self.decay**step, self.floor)

    def evaluated(self, epoch: int) -> bool:
        """Whether the test set is evaluated after epoch ``epoch`` (0-based)."""
        return epoch % self.eval_every == 0 or epoch >= self.epochs - self.eval_last


RECIPE = Recipe()


# ---------------------------------------------------------------- the network


class BatchNorm1d(nn.BatchNorm1d):
    """PyTorch's, except that a single row in training is normalized with the running
    statistics (and leaves them alone): one row has no batch variance, and with
    125-row batches split over 4 paths a path can get one row (PyTorch would raise)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and len(x) == 1:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False
            )
        return super().forward(x)


def conv_path(c_in: int, kernel: int) -> list[nn.Module]:
    """Conv (same padding) -> BN -> ReLU -> 2x2 max pool, as lenet_config_interpreter.py
    builds a conv layer (:66-80)."""
    return [
        nn.Conv2d(c_in, 32, kernel, padding="same"),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
    ]


def last_path(dropout: float) -> nn.Sequential:
    """A path of block 2: [n, 32, 7, 7] -> 1x1 conv, pool to 3x3 -> fc 128 -> fc 64."""
    fc = lambda i, o: [nn.Linear(i, o), BatchNorm1d(o), nn.ReLU(), nn.Dropout(dropout)]  # noqa: E731
    return nn.Sequential(*conv_path(32, 1), nn.Flatten(), *fc(288, 128), *fc(128, 64))


class Router(nn.Module):
    """After a block: average pooling -> linear 128 -> BN -> linear K, no non-linearity
    (cigt/routing_layers/soft_routing_layer.py:45-58). Returns the logits."""

    def __init__(self, pool: int, k: int):
        super().__init__()
        self.pool = nn.AvgPool2d(pool, stride=pool)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)  # 14x14 pooled by 2 and 7x7 by 1: 1,568
        self.bn = BatchNorm1d(128)
        self.fc2 = nn.Linear(128, k)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.bn(self.fc1(self.pool(h).flatten(1))))


@dataclass
class Output:
    """What a forward produces. Rows are numbered by the sample they come from (an index
    into the batch): a sample has one row per path it took."""

    leaf_logits: list  # per leaf, [rows, classes] (0 rows for an empty leaf)
    leaf_rows: list  # per leaf, the sample of each row, long [rows]
    probs: list  # per router, softmax(logits / T) of the rows that reach it [R, K]
    router_rows: list  # per router, the sample of each of those rows, long [R]
    routes: list  # after blocks 0 and 1, the hard routing matrix, bool [R, K]


def random_paths(n: int, k: int, generator: torch.Generator | None = None):
    """n paths drawn uniformly from k, long [n] (the authors: argmax of torch.rand)."""
    return torch.randint(0, k, (n,), generator=generator)


class AuthorsCIGT(nn.Module):
    """LeNet-CIGT [1, 2, 4] (or [1, 1, 1] for ``arm="one-path"``) built as the authors'
    code builds it. The training loop sets ``warming_up`` and ``temperature``; in eval
    mode routes are the argmax (``"cigt"``), random (``"random"``, drawn from
    ``route_generator`` when one is set) or all paths (``"all-paths"``)."""

    def __init__(self, arm: str = "cigt", recipe: Recipe = RECIPE, num_classes: int = 10):
        super().__init__()
        if arm not in ARMS:
            raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
        self.arm, self.num_classes = arm, num_classes
        self.paths = (1, 1, 1) if arm == "one-path" else (1, 2, 4)
        self.random_share = recipe.random_share
        self.blocks = nn.ModuleList(
            [
                nn.ModuleList([nn.Sequential(*conv_path(1, 5))]),
                nn.ModuleList(
                    [nn.Sequential(*conv_path(32, 5)) for _ in range(self.paths[1])]
                ),
                nn.ModuleList([last_path(recipe.dropout) for _ in range(self.paths[2])]),
            ]
        )
        self.leaves = nn.ModuleList(
            [nn.Linear(64, num_classes) for _ in range(self.paths[2])]
        )
        # only CIGT routes by a learned choice; the controls need no router
        self.routers = nn.ModuleList(
            [Router(p, k) for p, k in zip(recipe.router_pools, self.paths[1:])]
            if arm == "cigt"
            else []
        )
        self.warming_up, self.temperature = False, recipe.t0
        self.route_generator: torch.Generator | None = None

    def route(self, level: int, h: torch.Tensor):
        """(soft p(n|x) [R, K] or None, hard routing matrix bool [R, K]) after block
        ``level``, for the R rows ``h`` that left it (cigt/routing_manager_algorithms/
        information_gain_routing_manager.py:25-97). Evaluation always takes the
        argmax, even during warm-up."""
        k, n = self.paths[level + 1], len(h)
        p = None
        if self.routers:
            p = F.softmax(self.routers[level](h) / self.temperature, dim=1)
        if k == 1 or self.arm == "all-paths" or (self.training and self.warming_up):
            return p, torch.ones(n, k, dtype=torch.bool, device=h.device)
        if self.arm == "random":
            gen = None if self.training else self.route_generator
            route = random_paths(n, k, gen).to(h.device)
        else:
            route = p.argmax(1)
            if self.training:  # exactly int(n * share) rows, without replacement, get
                m = int(n * self.random_share)  # a uniform path, maybe their argmax's
                pick = torch.randperm(n)[:m].to(h.device)
                route[pick] = random_paths(m, k).to(h.device)
        return p, F.one_hot(route, k).bool()

    def run(self, x: torch.Tensor) -> Output:
        """Every row through the paths its routing matrix names, block by block: each
        path runs on its own rows only, and their outputs are stacked path by path."""
        h, rows = x, torch.arange(len(x), device=x.device)
        mask = torch.ones(len(x), 1, dtype=torch.bool, device=x.device)
        probs, router_rows, routes = [], [], []
        for level, paths in enumerate(self.blocks):
            outs, out_rows = [], []
            for k, path in enumerate(paths):
                sel = mask[:, k].nonzero().squeeze(1)
                if len(sel) == 0:  # an empty route: nothing runs (BN could not)
                    outs.append(h.new_zeros(0, *self._out_shape(level)))
                    out_rows.append(rows[:0])
                    continue
                part = h if len(sel) == len(h) else h[sel]
                outs.append(path(part))
                out_rows.append(rows if len(sel) == len(h) else rows[sel])
            if level == len(self.blocks) - 1:
                logits = [
                    leaf(o) if len(o) else o.new_zeros(0, self.num_classes)
                    for leaf, o in zip(self.leaves, outs)
                ]
                return Output(logits, out_rows, probs, router_rows, routes)
            h, rows = torch.cat(outs), torch.cat(out_rows)
            p, mask = self.route(level, h)
            routes.append(mask)
            if p is not None:  # a router ran: its rows count in its information gain
                probs.append(p)
                router_rows.append(rows)

    @staticmethod
    def _out_shape(level: int) -> tuple:
        return ((32, 14, 14), (32, 7, 7), (64,))[level]

    def predict_proba(self, x: torch.Tensor, out: Output | None = None) -> torch.Tensor:
        """[B, classes]: the mean over each sample's rows of the leaves' softmax (one row
        per sample except with all paths on)."""
        out = self.run(x) if out is None else out
        total = x.new_zeros(len(x), self.num_classes)
        count = x.new_zeros(len(x), 1)
        for logits, rows in zip(out.leaf_logits, out.leaf_rows):
            total.index_add_(0, rows, F.softmax(logits, dim=1))
            count.index_add_(0, rows, torch.ones_like(logits[:, :1]))
        return total / count

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probabilities [B, classes] (their argmax is the prediction)."""
        return self.predict_proba(x).log()


# ---------------------------------------------------------------- the objective


def authors_loss(
    out: Output, y: torch.Tensor, beta: float, decision_weight: float, n_classes=10
):
    """(loss, terms): sum over the leaves of each leaf's mean cross-entropy (empty leaves
    skipped) minus ``decision_weight`` times the sum over routers of IG_beta of the
    soft routes of every row at that router, each row with its sample's label
    (cigt_ig_gather_scatter_implementation.py:209-228, :230-270, :325-336)."""
    ce = sum(
        F.cross_entropy(logits, y[rows])
        for logits, rows in zip(out.leaf_logits, out.leaf_rows)
        if len(rows)
    )
    gains = [
        cigt.information_gain(p, y[rows], n_classes, beta)
        for p, rows in zip(out.probs, out.router_rows)
    ]
    loss = ce - decision_weight * sum(gains) if gains else ce
    terms = {"ce": ce.item(), **{f"ig{i + 1}": g.item() for i, g in enumerate(gains)}}
    return loss, terms
