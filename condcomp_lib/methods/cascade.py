"""Network selection (Bolukbasi et al.): a cascade of whole networks, cheap to expensive.

Used by chapter 2. The exit rules, the output type and the ledger of who left where are
those of early exit (:mod:`.exit_rules`, :mod:`.exits`): a cascade is an early-exit
network whose "exits" are complete networks.

Used by chapter 9 too: a network with ``takes_context = True`` is called as ``net(x,
context)``, where context [b, C] are the logits of the network before it on the same
samples (the multi-stage contextual cascade of Zeng, Ouyang and Wang; its stages are in
:mod:`.contextual_cascade`)."""

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
        z = None  # the logits of the previous network, the context of the next
        with contextlib.ExitStack() as stack:
            for n, net in enumerate(self.nets[:-1]):
                z = run_stage(net, x, z)  # [b, C]
                stay = ledger.settle(n, z, self._rule.exits(n, z))
                if stay is None:
                    continue  # nobody leaves
                if len(stay) == 0:
                    return ledger.result()  # nobody goes on
                x, z = x.index_select(0, stay), z.index_select(0, stay)
                stack.enter_context(cost.sample_index(stay))
            return ledger.result(run_stage(self.nets[-1], x, z), self.n_exits)


def run_stage(net: nn.Module, x: torch.Tensor, context: torch.Tensor | None):
    """``net(x)``, or ``net(x, context)`` for a network that takes the previous network's
    logits as context; logits [b, C]."""
    if getattr(net, "takes_context", False):
        if context is None:
            raise ValueError("the first network of a cascade has no context to take")
        return net(x, context)
    return net(x)
