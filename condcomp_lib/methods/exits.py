"""What every network with exits shares: its rule, and the ledger of who left where.

Used by :class:`~.early_exit.ExitNetwork` (chapter 1: exit heads on one backbone) and
:class:`~.cascade.Cascade` (chapter 2: whole networks from cheap to expensive). Both run a
batch through stages; after stage n a rule says which samples may leave, those keep stage
n's logits, and the next stage runs on the others only.

* :class:`Exiting`: the ``rule`` slot (only a deployable rule, with one threshold per
  early exit, is accepted) and ``n_exits``.
* :class:`ExitLedger`: the bookkeeping of one batch. :meth:`ExitLedger.settle` splits the
  rows still running with a :class:`~condcomp_lib.ops.Dispatch` on "leave or go on" (one
  stable sort, no loop over samples), keeps the logits of those that leave, and returns
  the rows that go on; :meth:`ExitLedger.result` puts every sample's logits back in the
  batch's order.

At batch 1 neither is used: the one sample's decision is a Python bool and, when it
leaves, nothing after the exit runs (see :meth:`~.early_exit.ExitNetwork.early_exit`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..ops import Dispatch
from .exit_rules import ExitRule, deployable

GO_ON, LEAVE = 0, 1  # the two routes of a settling dispatch


@dataclass
class ExitOutput:
    logits: torch.Tensor  # [B, C] logits of the exit each sample took
    exit_index: torch.Tensor  # [B] long: 0..N-1 the early exits, N the final exit


class Exiting(nn.Module):
    """A module with ``n_exits`` early exits and a deployable exit ``rule`` (or None)."""

    _rule: ExitRule | None = None

    @property
    def n_exits(self) -> int:
        raise NotImplementedError

    @property
    def rule(self) -> ExitRule | None:
        return self._rule

    @rule.setter
    def rule(self, rule: ExitRule | None) -> None:
        self._rule = deployable(rule, self.n_exits)


class ExitLedger:
    """Who of a batch of ``batch`` samples left at which exit, with which logits."""

    def __init__(self, batch: int, device: torch.device):
        self.batch, self.device = batch, device
        self.rows = None  # original row of each row still running (None: all)
        self.left = []  # (original rows or None for all, their logits, exit n)

    def settle(self, n: int, logits: torch.Tensor, leave: torch.Tensor):
        """At exit n the rows of ``leave`` (bool [b]) leave with their ``logits`` [b, C].
        Returns None when nobody leaves (the batch goes on unchanged), else the rows of
        this batch that go on (long [b'], empty when everybody left)."""
        d = Dispatch(leave.long(), 2)
        if d.used == [GO_ON]:
            return None
        if d.used == [LEAVE]:
            self.left.append((self.rows, logits, n))
            return torch.zeros(0, dtype=torch.long, device=self.device)
        stay, leaving = d.bucket_rows[GO_ON], d.bucket_rows[LEAVE]
        rows = self.rows
        if rows is None:
            rows = torch.arange(self.batch, device=self.device)
        self.left.append((rows[leaving], logits[leaving], n))
        self.rows = rows[stay]
        return stay

    def result(
        self, logits: torch.Tensor | None = None, n: int | None = None
    ) -> ExitOutput:
        """Every sample's logits and exit, in the batch's order; ``logits`` [b', C] are
        those of the rows still running, which all take exit ``n`` (the last stage)."""
        if logits is not None:
            self.left.append((self.rows, logits, n))
        if len(self.left) == 1:  # the whole batch left at one exit
            _, z, n = self.left[0]
            return ExitOutput(
                z, torch.full((self.batch,), n, dtype=torch.long, device=z.device)
            )
        z0 = self.left[0][1]
        out = z0.new_empty(self.batch, z0.shape[1])  # [B, C]
        exit_index = torch.empty(self.batch, dtype=torch.long, device=z0.device)
        for rows, z, n in self.left:
            out.index_copy_(0, rows, z)
            exit_index.index_fill_(0, rows, n)
        return ExitOutput(out, exit_index)
