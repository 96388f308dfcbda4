"""The dense baselines every chapter compares against: a LeNet family of adjustable width.

Defined in chapter 0. The shape is the LeNet of the CIGT authors' Fashion-MNIST code
(Bicici, Meral and Akarun, 2024): conv 5x5 -> pool -> conv 5x5 -> pool -> conv 1x1 -> pool
-> fc -> fc -> 10 classes. With widths (32, 64, 128, 512, 256) it is the "thick" network,
the union of all paths of a [1, 2, 4] trellis; with (32, 32, 32, 128, 64) it is the "thin"
network, one path of that trellis.

The networks only: how they are trained, and the cache of trained baselines, are in
:mod:`condcomp_lib.baselines`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F


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
