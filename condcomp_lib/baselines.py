"""The baselines trained with the book's one recipe, and kept in the cache.

Defined in chapter 0. ``baseline(name, profile)`` loads a trained baseline (a LeNet of
:mod:`condcomp_lib.models`) from the cache, training and saving it first if the cache
does not have it, so that any chapter can run on its own; :func:`fit_recipe` trains any
network with the same recipe and budget (CondConv's, the B-LeNet's), so that networks
compared in a chapter differ only in what they are.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from . import cache
from .data import Dataset
from .models import LeNet, widths_of
from .train import evaluate, fit, get_profile

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
