"""Network selection (Bolukbasi et al.): a cascade of whole networks, cheap to expensive.

Used by chapter 2. The exit rules, the output type and the ledger of who left where are
those of early exit (:mod:`.exit_rules`, :mod:`.exits`): a cascade is an early-exit
network whose "exits" are complete networks."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from .. import cost
from .exit_rules import ExitRule
from .exits import Exiting, ExitLedger, ExitOutput


class Cascade(Exiting):
    """Network selection (Bolukbasi et al.): whole networks from cheap to expensive. After
    network n the rule decides, per sample, whether to stop with its prediction or to pay
    for network n + 1; only the samples that go on run the next network (compacted, with
    ``cost.sample_index`` so that realized MACs land on the right samples). Returns an
    :class:`ExitOutput`; ``exit_index`` n means "stopped after network n". Used by chapter
    2."""

    def __init__(self, nets: list[nn.Module], rule: ExitRule | None = None):
        super().__init__()
        if len(nets) < 2:
            raise ValueError("a cascade needs at least two networks")
        self.nets = nn.ModuleList(nets)
        self.rule = rule

    @property
    def n_exits(self) -> int:
        return len(self.nets) - 1

    def forward(self, x: torch.Tensor) -> ExitOutput:
        if self._rule is None:
            raise ValueError("set cascade.rule before running it")
        ledger = ExitLedger(len(x), x.device)
        with contextlib.ExitStack() as stack:
            for n, net in enumerate(self.nets[:-1]):
                z = net(x)  # [b, C]
                stay = ledger.settle(n, z, self._rule.exits(n, z))
                if stay is None:
                    continue  # nobody leaves
                if len(stay) == 0:
                    return ledger.result()  # nobody goes on
                x = x.index_select(0, stay)
                stack.enter_context(cost.sample_index(stay))
            return ledger.result(self.nets[-1](x), self.n_exits)
