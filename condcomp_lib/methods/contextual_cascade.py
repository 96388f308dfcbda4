"""A two-stage contextual cascade (Viola and Jones; Zeng, Ouyang and Wang; Sun et al.).

Used by chapter 9. A cheap first network decides the samples it is confident about; the
rest go on to a second network that also receives the first network's output as context
(the multi-stage contextual idea of Zeng, Ouyang and Wang, 2013) and that is trained only
on the samples the first network passes on, the hard ones (as each stage of a Viola-Jones
cascade is trained on what the earlier stages let through).

The pieces:

* :class:`ContextualStage`: a LeNet whose classifier reads its own features and the first
  network's class probabilities. With ``context=False`` the probabilities are replaced by
  zeros: the same network at the same cost, without context (the control).
* :class:`EnsembleStage`: the second control. A later stage that has seen the first
  network's output could gain only by averaging two opinions; this stage does exactly
  that, the mean of the first network's and the no-context stage's probabilities, at the
  no-context stage's cost. Context that beats it is more than an ensemble.
* :func:`passed_on`: which samples of a split the first network passes on.
* :func:`context_loss`: the training objective of the second stage.

The cascade itself is :class:`.cascade.Cascade`, which hands each network that takes
context the previous network's logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data import Split
from ..models import LeNet, LeNetWidths
from ..train import predict
from .exit_rules import ExitRule


class ContextualStage(nn.Module):
    """A later stage of a cascade: LeNet features plus the previous stage's probabilities.

    ``forward(x, context)``: images [B, 1, 28, 28] and the previous stage's logits [B, C]
    -> logits [B, C]."""

    takes_context = True

    def __init__(self, widths: LeNetWidths, context: bool = True, num_classes: int = 10):
        super().__init__()
        self.context, self.num_classes = context, num_classes
        self.body = LeNet(widths, num_classes)
        # the first fully connected layer reads the features and the C probabilities
        self.body.fc1 = nn.Linear(widths.conv3 * 3 * 3 + num_classes, widths.fc1)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        if context.shape != (len(x), self.num_classes):
            raise ValueError(
                f"context must be [{len(x)}, {self.num_classes}], "
                f"got {tuple(context.shape)}"
            )
        p = F.softmax(context, dim=1)  # [B, C]
        if not self.context:
            p = torch.zeros_like(p)  # the control: same shape and cost, no information
        b = self.body
        h = torch.cat([b.features(x), p], dim=1)  # [B, F + C]
        h = b.dropout(F.relu(b.fc1(h)))
        h = b.dropout(F.relu(b.fc2(h)))
        return b.fc3(h)  # [B, C]


class EnsembleStage(nn.Module):
    """The first network's and a no-context stage's class probabilities, averaged.

    ``forward(x, context)``: images [B, 1, 28, 28] and the first network's logits [B, C]
    -> log of the mean probabilities [B, C] (logits in the sense a softmax inverts).
    Its MACs are the no-context stage's: the mean of C numbers is not counted."""

    takes_context = True

    def __init__(self, plain: ContextualStage):
        super().__init__()
        if plain.context:
            raise ValueError("the ensemble averages a stage that reads no context")
        self.plain = plain

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        own = F.softmax(self.plain(x, context), dim=1)  # [B, C]
        return ((F.softmax(context, dim=1) + own) / 2).log()


def passed_on(first: nn.Module, split: Split, rule: ExitRule) -> torch.Tensor:
    """Indices (long [n]) of the samples of ``split`` that ``first`` does not decide under
    ``rule`` at its exit 0: the training set of the second stage."""
    logits = predict(first, split)  # [N, C]
    return torch.nonzero(~rule.exits(0, logits)).flatten()


def context_loss(first: nn.Module):
    """Cross-entropy of a :class:`ContextualStage` given the frozen ``first`` network's
    logits as context, for :func:`condcomp_lib.train.fit`."""
    first.eval()

    def loss(model: ContextualStage, x: torch.Tensor, y: torch.Tensor):
        with torch.no_grad():
            context = first.to(x.device)(x)  # [B, C]
        logits = model(x, context)
        return F.cross_entropy(logits, y), logits

    return loss
