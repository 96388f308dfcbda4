"""The dense baselines every chapter compares against: a LeNet family of adjustable width.

Defined in chapter 0. The shape is the LeNet of the CIGT authors' Fashion-MNIST code
(Bicici, Meral and Akarun, 2024): conv 5x5 -> pool -> conv 5x5 -> pool -> conv 1x1 -> pool
-> fc -> fc -> 10 classes. With widths (32, 64, 128, 512, 256) it is the "thick" network,
the union of all paths of a [1, 2, 4] trellis; with (32, 32, 32, 128, 64) it is the "thin"
network, one path of that trellis.

``baseline(name, profile)`` loads a trained baseline from the cache, training (and saving)
it first if the cache does not have it, so that any chapter can run on its own."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

from . import cache
from .data import Dataset
from .train import evaluate, fit, get_profile


@dataclass(frozen=True)
class LeNetWidths:
    conv1: int = 32
    conv2: int = 64
    conv3: int = 128
    fc1: int = 512
    fc2: int = 256

    def scaled(self, factor: float) -> "LeNetWidths":
        """Every width times ``factor`` (at least one unit each)."""
        return LeNetWidths(*(max(1, round(w * factor)) for w in asdict(self).values()))


THICK = LeNetWidths(32, 64, 128, 512, 256)
THIN = LeNetWidths(32, 32, 32, 128, 64)


class LeNet(nn.Module):
    """LeNet-style CNN for 28x28 grey images; ``widths`` sets every layer's width."""

    def __init__(
        self, widths: LeNetWidths = THICK, num_classes: int = 10, dropout: float = 0.3
    ):
        super().__init__()
        w = widths
        self.widths = widths
        self.conv1 = nn.Conv2d(1, w.conv1, 5, padding=2)  # 28x28
        self.conv2 = nn.Conv2d(w.conv1, w.conv2, 5, padding=2)  # 14x14
        self.conv3 = nn.Conv2d(w.conv2, w.conv3, 1)  # 7x7
        self.fc1 = nn.Linear(w.conv3 * 3 * 3, w.fc1)  # after the third pool: 3x3
        self.fc2 = nn.Linear(w.fc1, w.fc2)
        self.fc3 = nn.Linear(w.fc2, num_classes)
        self.dropout = nn.Dropout(dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # [B, c1, 14, 14]
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # [B, c2, 7, 7]
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)  # [B, c3, 3, 3]
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.dropout(F.relu(self.fc1(x)))
        x = self.dropout(F.relu(self.fc2(x)))
        return self.fc3(x)  # [B, num_classes]


BASELINES = {"thick": THICK, "thin": THIN}


def widths_of(name: str) -> LeNetWidths:
    """The widths a baseline's name stands for: "thick", "thin", or "w<factor>", the thick
    LeNet with every width times the factor ("w0.5"), the static frontier's widths."""
    if name in BASELINES:
        return BASELINES[name]
    factor = None
    if name.startswith("w"):
        try:
            factor = float(name[1:])
        except ValueError:
            pass
    if factor is None or not 0 < factor <= 4:
        raise ValueError(
            f"a baseline is {' or '.join(sorted(BASELINES))} or w<factor> with a factor "
            f"in (0, 4] (the thick LeNet's widths times it, e.g. w0.5), got {name!r}"
        )
    return THICK.scaled(factor)


# The training recipe of every baseline: Adam with a cosine schedule, dropout 0.3 on the
# fully connected layers. The profile sets the epochs and the amount of training data.
RECIPE = dict(lr=2e-3, batch_size=128, weight_decay=0.0)


def fit_recipe(
    build,
    data: Dataset,
    profile: str,
    seed: int,
    desc: str,
    progress: bool,
    device: str,
    epochs: int | None = None,
    checkpoint: Path | None = None,
) -> tuple[nn.Module, dict, dict]:
    """Build a model under ``seed`` and train it on ``device`` with :data:`RECIPE`, the
    profile's epochs (or ``epochs``, for a study of the budget) and its training images
    (the same subset for the same seed), so that models trained this way differ only in
    what ``build`` makes. Returns (model, info, the training history); info records the
    profile, seed, epochs and training images, and after which epochs a run stopped
    part-way was resumed from ``checkpoint`` (see :func:`~condcomp_lib.train.fit`)."""
    prof = get_profile(profile)
    epochs = prof.epochs if epochs is None else epochs
    torch.manual_seed(seed)
    model = build()
    train = data.train.subset(prof.train_samples, seed)
    hist = fit(
        model,
        train,
        epochs=epochs,
        seed=seed,
        progress=progress,
        desc=desc,
        device=device,
        checkpoint=checkpoint,
        **RECIPE,
    )
    info = {
        "profile": profile,
        "seed": seed,
        "epochs": epochs,
        "train_samples": len(train),
    }
    if hist["resumed_after"]:
        info["resumed_after_epochs"] = hist["resumed_after"]
    return model, info, hist


def train_baseline(
    name: str,
    data: Dataset,
    profile: str = "quick",
    seed: int = 0,
    progress: bool = True,
    device: str = "auto",
    epochs: int | None = None,
    checkpoint: Path | None = None,
) -> tuple[LeNet, dict]:
    """Train baseline ``name`` ("thick", "thin" or "w<factor>": :func:`widths_of`) from
    scratch on ``device`` for the profile's epochs (or ``epochs``), resuming from
    ``checkpoint`` if a run left one; returns (model on the CPU, info)."""
    widths = widths_of(name)
    t0 = time.perf_counter()
    model, run, hist = fit_recipe(
        lambda: LeNet(widths),
        data,
        profile,
        seed,
        f"{name} ({profile})",
        progress,
        device,
        epochs,
        checkpoint,
    )
    info = {
        "name": name,
        **run,
        "val_acc": evaluate(model, data.val, device=device),
        "final_loss": hist["loss"][-1],
        # validation included, and the parts of the run before a resume
        "train_seconds": time.perf_counter() - t0 + hist["seconds_before_resume"],
    }
    return model.cpu(), info


def baseline(
    name: str,
    data: Dataset,
    profile: str = "quick",
    seed: int = 0,
    retrain: bool = False,
    progress: bool = True,
    device: str = "auto",
    epochs: int | None = None,
) -> tuple[LeNet, dict]:
    """The trained baseline ``name`` from the cache, trained on ``device`` and saved first
    if missing; returned on the CPU. ``epochs`` other than the profile's (a study of the
    budget) are cached under their own key. A training stopped part-way resumes after
    its last finished epoch."""
    widths = widths_of(name)  # an unknown name fails here, before any training
    key = f"lenet-{name}-{profile}{budget_key(profile, epochs)}-seed{seed}"
    return cache.cached(
        key,
        lambda: LeNet(widths),
        lambda: train_baseline(
            name,
            data,
            profile,
            seed,
            progress,
            device,
            epochs,
            cache.checkpoint_path(key),
        ),
        retrain,
    )


def budget_key(profile: str, epochs: int | None) -> str:
    """The part of a cache key that names a budget other than the profile's: "" for
    the profile's own epochs (the keys the chapters have always used), "-e45" for 45."""
    if epochs is None or epochs == get_profile(profile).epochs:
        return ""
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    return f"-e{epochs}"
