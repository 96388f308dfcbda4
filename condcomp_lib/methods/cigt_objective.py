"""CIGT's training objective: the routers' information gain, their temperature schedule
and the loss that joins them to the classifier's cross-entropy.

Used by :mod:`condcomp_lib.methods.cigt` (the network reads its temperature from the
schedule) and by chapter 4. A router is trained by the information gain of the
minibatch's soft assignments: with p(c, n) the joint table of class c and path n,

    IG_beta = beta H(n) + H(c) - H(c, n),

the mutual information I(C; N) when beta = 1; a beta above 1 rewards an even use of the
paths. The routing softmax is divided by a temperature that decays step by step after
warm-up, as in the authors' code. The loss is the leaf's cross-entropy minus a weight
times the sum of the routers' gains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:  # the loss reads a network's output; the network imports this module
    from .cigt import LeNetCIGT

EPS = 1e-30  # inside the logs, as in the authors' code


# ---------------------------------------------------------------- information gain


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats of a distribution given as any-shaped tensor of
    probabilities."""
    return -(p * torch.log(p + EPS)).sum()


def information_gain_of_table(joint: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """IG = beta H(n) + H(c) - H(c, n) in nats, for a joint table p(c, n) [C, K] summing
    to 1.

    With beta = 1 this is the mutual information I(C; N). A beta above 1 rewards an even
    route marginal p(n), that is, balanced load across paths."""
    p_n, p_c = joint.sum(0), joint.sum(1)
    return beta * entropy(p_n) + entropy(p_c) - entropy(joint)


def joint_table(
    p_route: torch.Tensor, labels: torch.Tensor, n_classes: int
) -> torch.Tensor:
    """p(c, n) [C, K] of a minibatch: (1/B) sum_x 1[y_x = c] p(n | x). p_route [B, K]."""
    onehot = F.one_hot(labels, n_classes).to(p_route.dtype)  # [B, C]
    return onehot.T @ p_route / len(labels)  # [C, K]


def information_gain(
    p_route: torch.Tensor, labels: torch.Tensor, n_classes: int, beta: float = 1.0
) -> torch.Tensor:
    """The router's objective on a minibatch (differentiable in ``p_route`` [B, K])."""
    return information_gain_of_table(joint_table(p_route, labels, n_classes), beta)


# ---------------------------------------------------------------- temperature


@dataclass(frozen=True)
class Schedule:
    """Router temperature and warm-up. T = max(t0 * decay**(step - warmup), floor) after
    warm-up (the decay starts when warm-up ends, as in the authors' TensorFlow code)."""

    t0: float = 25.0
    decay: float = 0.9999
    floor: float = 0.1
    warmup_steps: int = 0

    @classmethod
    def reaching_floor(cls, steps: int, warmup_steps: int, t0: float = 25.0, floor=0.1):
        """The decay scaled to a budget of ``steps`` optimizer steps, so that T reaches
        ``floor`` at the last one (step ``steps - 1``): decay = (floor / t0) ** (1 /
        (steps - 1 - warmup_steps)).
        The authors' 0.9999 a step fits their budget of 60,000 to 72,000 steps; a budget
        of a few thousand would end with T far above 1, the routers still near uniform."""
        if not 0 <= warmup_steps < steps - 1:
            raise ValueError(
                f"warmup_steps must lie in [0, steps - 1), got {warmup_steps} of {steps}"
            )
        decay = (floor / t0) ** (1 / (steps - 1 - warmup_steps))
        return cls(t0=t0, decay=decay, floor=floor, warmup_steps=warmup_steps)


def temperature(step: int, s: Schedule = Schedule()) -> float:
    """The router temperature at optimizer step ``step`` (0-based)."""
    return max(s.t0 * s.decay ** max(0, step - s.warmup_steps), s.floor)


# ---------------------------------------------------------------- the objective


@dataclass(frozen=True)
class Objective:
    """L = CE(leaf logits) - lambda_dec * sum over routers of IG_beta (the authors' fixed
    PyTorch LeNet run: beta = 2.5, lambda_dec = 0.7; their best searched point:
    :mod:`~condcomp_lib.methods.cigt_recipe`)."""

    beta: float = 2.5
    decision_weight: float = 0.7


def cigt_loss(
    model: LeNetCIGT,
    x: torch.Tensor,
    y: torch.Tensor,
    obj: Objective = Objective(),
    log: list | None = None,
):
    """The training objective, in the form :func:`condcomp_lib.train.fit` takes.

    Returns (loss, logits). When ``log`` is a list, appends the loss terms of this step:
    cross-entropy, the information gain (beta-weighted, nats) and the plain mutual
    information (bits) of each router's soft assignments, and the temperature."""
    out = model.run(x)
    ce = F.cross_entropy(out.logits, y)
    gains = [information_gain(p, y, model.num_classes, obj.beta) for p in out.probs]
    loss = ce - obj.decision_weight * sum(gains)
    if log is not None:
        with torch.no_grad():
            mi = [
                information_gain(p, y, model.num_classes).item() / math.log(2)
                for p in out.probs
            ]
        log.append(
            {
                "step": int(model.step),
                "loss": loss.item(),
                "ce": ce.item(),
                **{f"ig{i + 1}": g.item() for i, g in enumerate(gains)},
                **{f"soft_mi{i + 1}": m for i, m in enumerate(mi)},
                "temperature": model.temperature,
            }
        )
    return loss, out.logits
