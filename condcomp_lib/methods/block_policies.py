"""Block policies: an MLP whose blocks of hidden units a learned policy turns on or off.

Used by chapter 6, which reproduces Bengio, Bacon, Pineau and Precup, "Conditional
Computation in Neural Networks for faster models" (2015). The formulas follow the authors'
code (``policyDropout.py`` in ``bengioe/condnet``); where the book departs from it, the
docstring says so.

* Every hidden layer l of the MLP is cut into k blocks of units. Before the layer runs, a
  policy reads the previous layer's activations (the image, for the first layer) and
  gives one probability per block, sigma = sigmoid(Z h + d), clipped as the authors' code
  does (sigma * 0.98 + 0.01). A 0/1 decision u_j ~ Bernoulli(sigma_j) switches block j on
  or off for that example.
* The network learns by backpropagation through the sampled, masked network (the mask is
  a constant); the policy by REINFORCE, with the example's negative log-likelihood as its
  cost (:func:`reinforce_loss`), and by the regularizers of :func:`regularizer`.
* A layer runs through :func:`condcomp_lib.ops.routed_linear`: its route is the layer's
  block mask, its input route the previous layer's, so an example computes only the
  (active input block) x (active output block) products. ``execution="masked"`` runs the
  readable reference instead: the dense product, then the off blocks zeroed.

The hidden units are ReLUs, as in every other network of the book (the authors' code uses
tanh): an off block is zero either way, and ReLU networks train quickly with Adam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import cost
from ..ops import routed_linear

CLIP = 0.01  # sigma is kept in [0.01, 0.99], as the authors' code does
MODES = ("sample", "threshold", "random", "dense")
EXECUTIONS = ("routed", "masked")
BASELINES = ("min", "mean", "none")


# ---------------------------------------------------------------- the policy


def block_probs(logits: torch.Tensor) -> torch.Tensor:
    """sigma = sigmoid(logits) * 0.98 + 0.01: one probability per block, never 0 or 1."""
    return torch.sigmoid(logits) * (1 - 2 * CLIP) + CLIP


def log_prob(sigma: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """log pi(u | x) = sum_j u_j log sigma_j + (1 - u_j) log(1 - sigma_j), per example
    [B], for probabilities ``sigma`` and decisions ``u`` (bool or 0/1), both [B, k]."""
    u = u.to(sigma.dtype)
    return (u * sigma.log() + (1 - u) * (1 - sigma).log()).sum(1)


def score(sigma: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """d log pi(u | x) / d logits, [B, k]: what REINFORCE multiplies by the cost. Through
    the clip, (u / sigma - (1 - u) / (1 - sigma)) * 0.98 * s (1 - s), s the sigmoid."""
    u = u.to(sigma.dtype)
    s = (sigma - CLIP) / (1 - 2 * CLIP)
    return (u / sigma - (1 - u) / (1 - sigma)) * (1 - 2 * CLIP) * s * (1 - s)


def entropy_bits(sigma: torch.Tensor) -> torch.Tensor:
    """Entropy of each block's decision in bits, [B, k] (1 bit at sigma = 0.5)."""
    return -(sigma * sigma.log2() + (1 - sigma) * (1 - sigma).log2())


def baseline_of(cost_: torch.Tensor, baseline: str) -> torch.Tensor:
    """The number subtracted from every example's cost: the batch's minimum (the authors'
    code), its mean, or nothing."""
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
    if baseline == "min":
        return cost_.min()
    if baseline == "mean":
        return cost_.mean()
    return cost_.new_zeros(())


def reinforce_loss(
    sigmas: list[torch.Tensor],
    masks: list[torch.Tensor],
    cost_: torch.Tensor,
    baseline: str = "min",
) -> torch.Tensor:
    """The surrogate whose gradient is REINFORCE's estimate of grad E[C]:
    mean_x (C(x) - b) * log pi(u_x | x), with C the per-example cost [B] (held constant),
    b from :func:`baseline_of`, and log pi summed over all layers' blocks."""
    if len(sigmas) != len(masks):
        raise ValueError(f"{len(sigmas)} layers of probabilities, {len(masks)} of masks")
    c = cost_.detach()
    advantage = c - baseline_of(c, baseline)
    logp = sum(log_prob(s, u) for s, u in zip(sigmas, masks))
    return (advantage * logp).mean()


# ---------------------------------------------------------------- regularizers


def batchwise(sigma: torch.Tensor, tau: float) -> torch.Tensor:
    """L_b = sum_j (mean_x sigma_j - tau)^2: each block on about tau of the time."""
    return ((sigma.mean(0) - tau) ** 2).sum()


def examplewise(sigma: torch.Tensor, tau: float) -> torch.Tensor:
    """L_e = sum_x (mean_j sigma_j - tau)^2: each example uses about tau * k blocks."""
    return ((sigma.mean(1) - tau) ** 2).sum()


def variance(sigma: torch.Tensor) -> torch.Tensor:
    """L_v = sum_j Var_x sigma_j + 0.1 sum_x Var_j sigma_j (population variances): how
    much the decisions vary across examples (and, a tenth as much, across blocks). It is
    subtracted, so that the policy depends on the input."""
    return sigma.var(0, unbiased=False).sum() + 0.1 * sigma.var(1, unbiased=False).sum()


def regularizer(
    sigma: torch.Tensor, tau: float, lambda_b: float, lambda_v: float
) -> torch.Tensor:
    """The authors' code form for one layer:
    lambda_b L_b + 0.001 lambda_b L_e - lambda_v L_v."""
    if not 0 < tau < 1:
        raise ValueError(f"tau must be in (0, 1), got {tau}")
    return (
        lambda_b * batchwise(sigma, tau)
        + 0.001 * lambda_b * examplewise(sigma, tau)
        - lambda_v * variance(sigma)
    )


# ---------------------------------------------------------------- the network


def masked_linear(h, layer: nn.Linear, mask: torch.Tensor) -> torch.Tensor:
    """The readable reference: the dense product, then the output blocks that are off
    zeroed (the input's off blocks are zero already)."""
    per_block = layer.out_features // mask.shape[1]
    return layer(h) * mask.repeat_interleave(per_block, 1).to(h.dtype)


@dataclass
class Trace:
    """What the last forward pass decided: per hidden layer, the policy's probabilities
    [B, k] (None without a policy) and the block masks, bool [B, k] (None when dense)."""

    probs: list
    masks: list


class BlockPolicyMLP(nn.Module):
    """An MLP (784 -> widths -> classes) whose hidden layers are cut into ``blocks``
    blocks, each switched per example.

    ``mode``: "sample" (decisions drawn from the policy, as in training), "threshold"
    (a block is on where sigma > 0.5), "random" (every block on with probability ``tau``,
    whatever the input: block dropout) or "dense" (every block on). ``policy=False``
    builds the network without policies (the random-mask control, the dense MLP).
    ``execution``: "routed" or "masked" (module docstring); both give the same numbers.
    """

    reports_macs = True

    def __init__(
        self,
        widths: tuple[int, ...] = (1024, 1024, 1024),
        blocks: int = 16,
        tau: float = 0.25,
        policy: bool = True,
        in_features: int = 784,
        classes: int = 10,
    ):
        super().__init__()
        if any(w % blocks for w in widths):
            raise ValueError(f"every width {widths} must split into {blocks} blocks")
        if not 0 < tau < 1:
            raise ValueError(f"tau must be in (0, 1), got {tau}")
        self.widths, self.blocks, self.tau = tuple(widths), blocks, tau
        ins = (in_features, *widths[:-1])
        self.hidden = nn.ModuleList(nn.Linear(i, o) for i, o in zip(ins, widths))
        self.out = nn.Linear(widths[-1], classes)
        self.policies = None
        if policy:
            self.policies = nn.ModuleList(nn.Linear(i, blocks) for i in ins)
            start = math.log((tau - CLIP) / (1 - tau - CLIP))  # sigma = tau at d
            for p in self.policies:
                nn.init.constant_(p.bias, start)
        self.mode = "sample" if policy else "dense"
        self.execution = "routed"
        self.strategy = "auto"  # routed_linear's choice of path (same numbers)
        self.generator: torch.Generator | None = None  # for the decisions
        self.trace = Trace([], [])

    def set_mode(self, mode: str) -> "BlockPolicyMLP":
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode in ("sample", "threshold") and self.policies is None:
            raise ValueError(f"mode {mode!r} needs a network built with a policy")
        self.mode = mode
        return self

    def _decide(self, sigma, batch: int, device) -> torch.Tensor | None:
        if self.mode == "dense":
            return None
        if self.mode == "random":
            u = torch.rand(batch, self.blocks, generator=self.generator)
            return (u < self.tau).to(device)
        if self.mode == "threshold":
            return sigma.detach() > 0.5
        u = torch.rand(sigma.shape, generator=self.generator).to(device)
        return u < sigma.detach()

    def _linear(self, h, layer: nn.Linear, mask, in_mask):
        if mask is None:  # dense: every block on
            return layer(h)
        if self.execution == "masked":
            return masked_linear(h, layer, mask)
        if self.execution != "routed":
            raise ValueError(f"execution must be one of {EXECUTIONS}")
        return routed_linear(
            h, layer.weight, layer.bias, mask, in_route=in_mask, strategy=self.strategy
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        h = x.flatten(1)
        if h.shape[1] != self.hidden[0].in_features:
            raise ValueError(
                f"expected {self.hidden[0].in_features} features a sample, got "
                f"{h.shape[1]} (input shape {tuple(x.shape)})"
            )
        batch, probs, masks = len(h), [], []
        in_mask = None  # input blocks that are on (None: all of them)
        all_on = torch.ones(batch, 1, dtype=torch.bool, device=h.device)
        for l, layer in enumerate(self.hidden):
            sigma = None
            if self.policies is not None and self.mode in ("sample", "threshold"):
                # the policy reads the activations as constants: it learns from its
                # own loss, the network from the classification loss only
                p = self.policies[l]
                read = h.detach()
                logits = (
                    p(read)
                    if in_mask is None
                    else routed_linear(read, p.weight, p.bias, all_on, in_route=in_mask)
                )
                sigma = block_probs(logits)
            mask = self._decide(sigma, batch, h.device)
            h = F.relu(self._linear(h, layer, mask, in_mask))
            probs.append(sigma)
            masks.append(mask)
            in_mask = mask
        logits = (
            self.out(h)
            if in_mask is None or self.execution == "masked"
            else routed_linear(
                h, self.out.weight, self.out.bias, all_on, in_route=in_mask
            )
        )
        self.trace = Trace(probs, masks)
        if cost.counting():
            cost.report(self.macs_of(masks))
        return logits

    def macs_of(self, masks: list) -> torch.Tensor:
        """MACs each example executes, float64 [B] ([1] when dense), given its block
        masks (None: every block on). Per hidden layer, the policy reads the active input
        units (k MACs each) and the layer multiplies active inputs by active outputs; the
        classifier reads the last layer's active units."""
        batch = next((len(m) for m in masks if m is not None), 1)
        units = torch.full(
            (batch,), float(self.hidden[0].in_features), dtype=torch.float64
        )
        total = torch.zeros(batch, dtype=torch.float64)
        policy_runs = self.policies is not None and self.mode in ("sample", "threshold")
        for layer, mask in zip(self.hidden, masks):
            if mask is None:
                out_units = torch.full_like(units, float(layer.out_features))
            else:
                per_block = layer.out_features // self.blocks
                out_units = mask.sum(1).to("cpu", torch.float64) * per_block
            if policy_runs:
                total += units * self.blocks
            total += units * out_units
            units = out_units
        return total + units * self.out.out_features

    def active_fraction(self) -> list[float]:
        """Share of blocks on in each hidden layer in the last forward pass."""
        return [1.0 if m is None else m.float().mean().item() for m in self.trace.masks]
