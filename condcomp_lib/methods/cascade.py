"""Network selection (Bolukbasi et al.): a cascade of whole networks, cheap to expensive.

Used by chapter 2. The exit rules, the output type and the compaction are those of
:mod:`.early_exit`: a cascade is an early-exit network whose "exits" are complete networks.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from .. import cost
from .early_exit import ExitOutput, ExitRule, _assemble, _deployable


class Cascade(nn.Module):
    """Network selection (Bolukbasi et al.): whole networks from cheap to expensive. After
    network n the rule decides, per sample, whether to stop with its prediction or to pay for
    network n + 1; only the samples that go on run the next network (compacted, with
    ``cost.sample_index`` so that realized MACs land on the right samples). Returns an
    :class:`ExitOutput`; ``exit_index`` n means "stopped after network n". Used by chapter 2."""

    def __init__(self, nets: list[nn.Module], rule: ExitRule | None = None):
        super().__init__()
        if len(nets) < 2:
            raise ValueError("a cascade needs at least two networks")
        self.nets = nn.ModuleList(nets)
        self.rule = rule

    @property
    def n_exits(self) -> int:
        return len(self.nets) - 1

    @property
    def rule(self) -> ExitRule | None:
        return self._rule

    @rule.setter
    def rule(self, rule: ExitRule | None) -> None:
        self._rule = _deployable(rule, self.n_exits)

    def forward(self, x: torch.Tensor) -> ExitOutput:
        if self._rule is None:
            raise ValueError("set cascade.rule before running it")
        B = len(x)
        rows = torch.arange(B, device=x.device)
        left = []
        with contextlib.ExitStack() as stack:
            for n, net in enumerate(self.nets):
                z = net(x)                                   # [b, C]
                if n == self.n_exits:
                    left.append((rows, z, n))
                    break
                leave = self._rule.exits(n, z)
                if leave.all():
                    left.append((rows, z, n))
                    break
                if leave.any():
                    left.append((rows[leave], z[leave], n))
                    stay = (~leave).nonzero().squeeze(1)
                    rows, x = rows[stay], x[stay]
                    stack.enter_context(cost.sample_index(stay))
        return _assemble(left, B)
