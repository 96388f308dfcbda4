"""CondConv in the book's LeNet: the model, its hand-counted cost, training and routing
analysis.

Used by chapter 3 (Yang, Bender, Le and Ngiam, 2019). The network is chapter 0's thick
LeNet with its *later* convolutions, conv2 (5x5 at 14x14) and conv3 (1x1 at 7x7), made
CondConv layers of n experts; conv1 and the fully connected layers stay static, as the
paper keeps CondConv out of the early layers and puts it where the feature maps are small.
Every block of this LeNet (convolution, ReLU, pooling) holds one convolution, so each
block's routing function serves one layer: ``route2`` reads conv2's input, ``route3``
conv3's input.

With n = 1 the network is the thick LeNet whose conv2 and conv3 outputs are scaled, per
sample, by a learned gate sigmoid(...) in (0, 1): the control that separates "more
experts" from "a routing function was added"."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

from .. import cache
from ..data import Dataset
from ..baselines import budget_key, fit_recipe
from ..models import THICK, LeNetWidths
from ..nn.condconv import CondConv2d, Routing, condconv_macs, routing_macs

COND_LAYERS = ("conv2", "conv3")  # the layers that hold experts, in depth order


class CondLeNet(nn.Module):
    """The LeNet of chapter 0 with CondConv (``num_experts`` experts) in conv2 and conv3.

    ``forward(x)`` returns the logits; :meth:`run` also returns the routing weights of
    each CondConv layer, a list of [B, n] tensors in the order of ``COND_LAYERS``."""

    def __init__(
        self,
        widths: LeNetWidths = THICK,
        num_experts: int = 8,
        num_classes: int = 10,
        dropout: float = 0.3,
    ):
        super().__init__()
        w, n = widths, num_experts
        self.widths, self.num_experts = widths, num_experts
        self.conv1 = nn.Conv2d(1, w.conv1, 5, padding=2)  # 28x28, static
        self.route2 = Routing(w.conv1, n)  # reads conv2's input
        self.conv2 = CondConv2d(w.conv1, w.conv2, 5, n, padding=2)  # 14x14
        self.route3 = Routing(w.conv2, n)  # reads conv3's input
        self.conv3 = CondConv2d(w.conv2, w.conv3, 1, n)  # 7x7
        self.fc1 = nn.Linear(w.conv3 * 3 * 3, w.fc1)
        self.fc2 = nn.Linear(w.fc1, w.fc2)
        self.fc3 = nn.Linear(w.fc2, num_classes)
        self.dropout = nn.Dropout(dropout)

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, list]:
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)  # [B, c1, 14, 14]
        a2 = self.route2(h)  # [B, n]
        h = F.max_pool2d(F.relu(self.conv2(h, a2)), 2)  # [B, c2, 7, 7]
        a3 = self.route3(h)  # [B, n]
        h = F.max_pool2d(F.relu(self.conv3(h, a3)), 2)  # [B, c3, 3, 3]
        h = self.dropout(F.relu(self.fc1(h.flatten(1))))
        h = self.dropout(F.relu(self.fc2(h)))
        return self.fc3(h), [a2, a3]  # [B, classes], 2 x [B, n]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)[0]


def lenet_macs(
    widths: LeNetWidths = THICK, num_experts: int = 8, num_classes: int = 10
) -> dict:
    """MACs of one 28x28 sample through :class:`CondLeNet`, by hand, layer by layer.

    ``num_experts=0`` gives the static LeNet (no routing, no mixing)."""
    w, n = widths, num_experts
    static = {
        "conv1": w.conv1 * 28 * 28 * 1 * 25,
        "conv2": w.conv2 * 14 * 14 * w.conv1 * 25,
        "conv3": w.conv3 * 7 * 7 * w.conv2,
        "fc1": w.conv3 * 9 * w.fc1,
        "fc2": w.fc1 * w.fc2,
        "fc3": w.fc2 * num_classes,
    }
    if n == 0:
        return static
    r2, r3 = routing_macs(w.conv1, (14, 14), n), routing_macs(w.conv2, (7, 7), n)
    m2 = condconv_macs(w.conv1, w.conv2, 5, (14, 14), n)
    m3 = condconv_macs(w.conv2, w.conv3, 1, (7, 7), n)
    return {
        "conv1": static["conv1"],
        "route2": r2["pool"] + r2["linear"],
        "conv2 mixing": m2["mixing"],
        "conv2": m2["conv"],
        "route3": r3["pool"] + r3["linear"],
        "conv3 mixing": m3["mixing"],
        "conv3": m3["conv"],
        "fc1": static["fc1"],
        "fc2": static["fc2"],
        "fc3": static["fc3"],
    }


# ---------------------------------------------------------------- training, cached


def train_condconv(
    num_experts: int,
    data: Dataset,
    profile: str = "quick",
    seed: int = 0,
    progress: bool = True,
    device: str = "auto",
    epochs: int | None = None,
    checkpoint: Path | None = None,
) -> tuple[CondLeNet, dict]:
    """Train a :class:`CondLeNet` with the baselines' recipe and budget
    (:func:`~condcomp_lib.baselines.fit_recipe`), or for ``epochs``, resuming from
    ``checkpoint`` if a run left one."""
    t0 = time.perf_counter()
    model, run, hist = fit_recipe(
        lambda: CondLeNet(THICK, num_experts),
        data,
        profile,
        seed,
        f"CondConv n={num_experts} ({profile})",
        progress,
        device,
        epochs,
        checkpoint,
    )
    info = {
        "num_experts": num_experts,
        **run,
        # the parts of the run before a resume included
        "train_seconds": time.perf_counter() - t0 + hist["seconds_before_resume"],
        "final_loss": hist["loss"][-1],
    }
    return model.cpu().eval(), info


def trained(
    num_experts: int,
    data: Dataset,
    profile: str = "quick",
    seed: int = 0,
    retrain: bool = False,
    progress: bool = True,
    device: str = "auto",
    epochs: int | None = None,
) -> tuple[CondLeNet, dict]:
    """The trained CondLeNet with ``num_experts`` experts from the cache, trained first if
    missing (as :func:`condcomp_lib.baselines.baseline` does for the static networks, and
    resuming, as it does, a training stopped part-way)."""
    if not isinstance(num_experts, int) or num_experts < 1:
        raise ValueError(f"num_experts must be a positive int, got {num_experts!r}")
    budget = budget_key(profile, epochs)  # "" for the profile's own epochs
    key = f"condconv-lenet-n{num_experts}-{profile}{budget}-seed{seed}"
    return cache.cached(
        key,
        lambda: CondLeNet(THICK, num_experts),
        lambda: train_condconv(
            num_experts,
            data,
            profile,
            seed,
            progress,
            device,
            epochs=epochs,
            checkpoint=cache.checkpoint_path(key),
        ),
        retrain,
    )


# ---------------------------------------------------------------- what the routers
# learned


@torch.no_grad()
def collect_routing(model: CondLeNet, x: torch.Tensor, batch_size: int = 256):
    """Eval-mode logits [N, classes] and routing weights of every sample, one [N, n]
    tensor per CondConv layer: one pass gives both the accuracy and what the routers did.
    """
    model.eval()
    outs = [model.run(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    logits = torch.cat([o[0] for o in outs]).cpu()
    return logits, [
        torch.cat([o[1][l] for o in outs]).cpu() for l in range(len(COND_LAYERS))
    ]


def class_means(
    alpha: torch.Tensor, labels: torch.Tensor, num_classes: int = 10
) -> torch.Tensor:
    """Average routing weights of each class, [num_classes, n]; alpha [N, n], labels
    [N]."""
    if alpha.dim() != 2 or labels.shape != alpha.shape[:1]:
        raise ValueError(
            f"alpha must be [N, n] and labels [N], got {tuple(alpha.shape)} and "
            f"{tuple(labels.shape)}"
        )
    onehot = F.one_hot(labels.long(), num_classes).to(alpha.dtype)  # [N, C]
    return (onehot.T @ alpha) / onehot.sum(0)[:, None]


def class_spread(
    alpha: torch.Tensor, labels: torch.Tensor, num_classes: int = 10
) -> float:
    """How far apart the classes' average routing weights lie: the standard deviation over
    classes of each expert's class means, averaged over experts (in units of routing
    weight; 0 when every class is routed alike on average)."""
    return (
        class_means(alpha.double(), labels, num_classes)
        .std(0, unbiased=False)
        .mean()
        .item()
    )


def class_specificity(
    alpha: torch.Tensor, labels: torch.Tensor, num_classes: int = 10
) -> float:
    """How much of the routing weights' variance the class explains (correlation ratio,
    eta^2), averaged over experts: 0 when every class routes alike, 1 when the class fixes
    the weights."""
    alpha = alpha.double()
    counts = torch.bincount(labels.long(), minlength=num_classes).double()  # [C]
    means = class_means(alpha, labels, num_classes)  # [C, n]
    between = (counts[:, None] * (means - alpha.mean(0)) ** 2).sum(0)  # [n]
    total = ((alpha - alpha.mean(0)) ** 2).sum(0).clamp_min(1e-30)  # [n]
    return (between / total).mean().item()
