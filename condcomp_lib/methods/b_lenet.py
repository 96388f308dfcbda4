"""B-LeNet, the book's early-exit network: chapter 0's thick LeNet with BranchyNet's side
branch after ``conv1``, fine-tuned on both exits and cached like the baselines.

Used by chapters 1 and 2.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import cache
from ..data import Dataset
from ..baselines import baseline
from ..models import BASELINES, LeNet
from ..train import fit, get_profile
from .early_exit import ExitNetwork, weighted_exit_loss


def lenet_branch(c_in: int, width: int = 16, num_classes: int = 10) -> nn.Sequential:
    """The B-LeNet side branch for a 28x28 LeNet's conv1 output [B, c_in, 28, 28], after
    BranchyNet's (one conv, one FC). BranchyNet pools, convolves and pools again; here one
    4x4 convolution of stride 4 does the reduction, because at batch 1 on a CPU every
    extra layer call (a max-pool over 32x28x28 above all) costs more time than its MACs
    suggest."""
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(c_in, width, 4, stride=4),
        nn.ReLU(),  # [B, width, 7, 7]
        nn.Flatten(),
        nn.Linear(width * 7 * 7, num_classes),
    )  # [B, num_classes]


# Fine-tuning recipe: BranchyNet initialises from the trained baseline and trains all
# exits jointly with Adam at lr 1e-3; the early exit weighs 1.0 and the final exit 1.0
# here (the final exit must keep the baseline's accuracy, since it is what the early exit
# is judged by). One epoch over the profile's training images in both profiles: the
# backbone is trained already, and the small head converges within one pass.
WEIGHTS = (1.0, 1.0)
RECIPE = dict(lr=1e-3, batch_size=128)
EPOCHS = 1


def build(backbone_name: str = "thick") -> ExitNetwork:
    """An untrained B-LeNet: a LeNet baseline with one exit after conv1."""
    backbone = LeNet(BASELINES[backbone_name])
    return ExitNetwork(backbone, {"conv1": lenet_branch(backbone.widths.conv1)})


def trained(
    data: Dataset,
    profile: str = "quick",
    seed: int = 0,
    backbone_name: str = "thick",
    retrain: bool = False,
    progress: bool = True,
    device: str = "auto",
) -> tuple[ExitNetwork, dict]:
    """The B-LeNet of chapter 1 from the cache, built and fine-tuned first if missing: the
    chapter 0 baseline with a branch after conv1, trained jointly on the exits' weighted
    loss."""
    base, base_info = baseline(
        backbone_name, data, profile, seed, progress=progress, device=device
    )

    def fine_tune() -> tuple[ExitNetwork, dict]:
        torch.manual_seed(seed)
        net = build(backbone_name)
        net.backbone.load_state_dict(base.state_dict())  # initialised from the baseline
        train = data.train.subset(get_profile(profile).train_samples, seed)
        hist = fit(
            net,
            train,
            epochs=EPOCHS,
            seed=seed,
            progress=progress,
            loss=weighted_exit_loss(WEIGHTS),
            desc=f"B-LeNet ({profile})",
            device=device,
            **RECIPE,
        )
        net.cpu().eval()
        info = {
            "backbone": backbone_name,
            "profile": profile,
            "seed": seed,
            "epochs": EPOCHS,
            "weights": list(WEIGHTS),
            "train_samples": len(train),
            "final_loss": hist["loss"][-1],
            "baseline": base_info,
        }
        return net, info

    return cache.cached(
        f"b-lenet-{backbone_name}-{profile}-seed{seed}",
        lambda: build(backbone_name),
        fine_tune,
        retrain,
        usable=lambda info: info.get("baseline") == base_info,  # same chapter 0 weights
    )
