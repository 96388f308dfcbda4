"""CIGT's router: the small network that picks, for every sample, one path of the next
block.

Used by :class:`condcomp_lib.methods.cigt.LeNetCIGT`, which puts one after block 0 and one
after block 1.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .. import cost


class Router(nn.Module):
    """An H unit: average pooling -> linear 128 -> batch norm -> linear K (the logits).

    As in the authors' PyTorch LeNet scripts (no ReLU or dropout in between). The routing
    distribution is softmax(logits / T); its argmax picks the path.

    At inference (eval mode, no gradients) the four steps are one affine map of the
    input: average pooling, the linear layers and batch norm with its running statistics
    are all linear, so they fold into one matrix [K, C*H*W] (:meth:`folded`, rebuilt
    when a weight changes) and the router costs one matrix-vector product instead of four
    calls, which at batch 1 are most of its time. The logits agree to rounding (1e-6).
    The router reports the MACs of its two linear layers, the cost chapter 4 counts,
    either way."""

    reports_macs = True

    def __init__(
        self, channels: int, in_hw: int, pool: int, n_routes: int, hidden: int = 128
    ):
        super().__init__()
        self.pool = nn.AvgPool2d(pool)
        side = in_hw // pool
        self.fc = nn.Linear(channels * side * side, hidden)
        self.bn = nn.BatchNorm1d(hidden, momentum=0.1)
        self.out = nn.Linear(hidden, n_routes)
        self.macs = self.fc.in_features * hidden + hidden * n_routes
        self.shape = (channels, in_hw, in_hw)
        self._tensors, self._folded = None, (None, None)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        cost.report(self.macs)
        if not self.training and not torch.is_grad_enabled():
            return F.linear(h.flatten(1), *self.folded())  # [B, K]
        x = F.linear(self.pool(h).flatten(1), self.fc.weight, self.fc.bias)  # [B, 128]
        return F.linear(self.bn(x), self.out.weight, self.out.bias)  # [B, K]

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(A [K, C*H*W], c [K]) with logits = A x + c in eval mode."""
        state = self._state()
        # a weight changed in place (training, loading) or moved (.to): fold again
        key = (state[0].data_ptr(), *[t._version for t in state])
        if self._folded[0] != key:
            with torch.no_grad():
                self._folded = (key, self._fold())
        return self._folded[1]

    def _state(self) -> list[torch.Tensor]:
        """The tensors the fold reads, listed once (module attribute look-ups are slow);
        ``.to()`` and friends replace buffers, so :meth:`_apply` lists them again."""
        if self._tensors is None:
            self._tensors = [
                self.fc.weight,
                self.fc.bias,
                self.bn.weight,
                self.bn.bias,
                self.bn.running_mean,
                self.bn.running_var,
                self.out.weight,
                self.out.bias,
            ]
        return self._tensors

    def _apply(self, fn, *args, **kwargs):
        self._tensors, self._folded = None, (None, None)
        return super()._apply(fn, *args, **kwargs)

    def _fold(self):
        bn, k = self.bn, self.out.out_features
        alpha = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # batch norm: scale
        m = self.out.weight @ (alpha[:, None] * self.fc.weight)  # [K, C*s*s]
        c = (
            self.out.weight @ (alpha * (self.fc.bias - bn.running_mean) + bn.bias)
            + self.out.bias
        )  # [K]
        (ch, h, w), p = self.shape, self.pool.kernel_size
        s = h // p  # the pooled side; rows past s*p unread
        a = m.view(k, ch, s, 1, s, 1).expand(k, ch, s, p, s, p)
        a = a.reshape(k, ch, s * p, s * p)
        a = F.pad(a / (p * p), (0, w - s * p, 0, h - s * p))  # [K, C, H, W]
        return a.reshape(k, -1).contiguous(), c
