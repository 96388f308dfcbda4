"""How much a discrete decision says about the class, in bits, counted on a test set.

Used by chapter 4 (how much a CIGT router's path tells of the class), chapter 6 (how much
a block policy's decisions tell) and chapter 8 (how much a feature-cluster tree's branch
tells). Each counts the joint table of (class, decision) over the samples and reads the
mutual information from it:

    I(Y; D) = sum over (y, d) of p(y, d) log2( p(y, d) / (p(y) p(d)) ),

zero when the decision ignores the class, the class entropy when the decision gives the
class away. Counting on a finite sample overestimates it slightly (chapter 6 measures that
bias by shuffling the decisions).
"""

from __future__ import annotations

import torch


def mutual_information_bits(labels: torch.Tensor, decisions: torch.Tensor) -> float:
    """I(Y; D) in bits of integer ``labels`` [N] and integer ``decisions`` [N] (any
    values: a path index, a branch, a pattern of decisions coded as one integer)."""
    if labels.shape != decisions.shape or labels.dim() != 1:
        raise ValueError(
            f"labels and decisions must be two 1-d tensors of one length, got "
            f"{tuple(labels.shape)} and {tuple(decisions.shape)}"
        )
    if not len(labels):
        raise ValueError("no samples to count")
    _, y = torch.unique(labels.cpu(), return_inverse=True)  # values need not be 0..K-1
    _, d = torch.unique(decisions.cpu(), return_inverse=True)
    counts = torch.zeros(int(y.max()) + 1, int(d.max()) + 1, dtype=torch.float64)
    counts.index_put_((y, d), torch.ones(len(y), dtype=torch.float64), accumulate=True)
    p = counts / counts.sum()  # p(y, d)
    independent = p.sum(1, keepdim=True) @ p.sum(0, keepdim=True)  # p(y) p(d)
    seen = p > 0
    return float((p[seen] * torch.log2(p[seen] / independent[seen])).sum())
