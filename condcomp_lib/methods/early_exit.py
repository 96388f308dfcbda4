"""Early exit: side branches on an unmodified backbone, and inference that stops.

Used by chapter 1 (BranchyNet, Distiller) and chapter 2 (Bolukbasi et al.).

Attaching exits (Distiller's idea). ``ExitNetwork(backbone, {"conv1": head})`` leaves the
backbone and its ``forward`` untouched. Only while the ExitNetwork runs does a forward
hook sit on each named module; the hook hands that module's output to the exit's head.
Outside that call the backbone is exactly the network it was, hooks and all.

Two ways to run:

* all exits (training mode, or no ``rule`` set): every sample goes through every head and
  the whole backbone; ``forward`` returns ``[logits_exit_1, ..., logits_final]``, each
  [B, C]. The training objective is BranchyNet's weighted sum of the exits'
  cross-entropies (:func:`weighted_exit_loss`).
* early exit (eval mode with ``net.rule = EntropyRule(...)``): at exit n the hook asks the
  rule which samples may leave, keeps their logits, and *returns only the other rows* as
  the module's output (an :class:`~.exits.ExitLedger` settles who leaves with one
  :class:`~condcomp_lib.ops.Dispatch`). The rest of the backbone's own forward runs on
  that smaller batch (compaction), so time falls with the exits. When no sample is left
  the hook raises ``_AllExited``, which ``forward`` catches. ``forward`` returns an
  :class:`ExitOutput`.
* batch 1 pays none of that machinery: the sample's decision is one Python bool, and a
  sample that leaves stops the backbone at once (nothing after the exit runs).

The one requirement on the backbone: after an exit point, every operation treats samples
independently (convolution, pooling, ReLU, linear layers, ``flatten(1)``, batch norm in
eval mode), so that dropping rows changes nothing for the rows that stay. Each exit point
must be a module that runs once per forward and returns a tensor; exits are listed in the
order the backbone reaches them (both are checked).

Cost. When it compacts, the hook opens ``cost.sample_index(rows)``, so that a
``cost.RealizedMacs`` counter charges each later layer to the samples that really ran it.
:func:`exit_macs` measures what leaving at each exit costs one sample.

Beside this file: :mod:`.exit_rules` (the rules, re-exported here), :mod:`.exits` (what
exiting networks share), :mod:`.cascade` (network selection: whole networks from cheap to
expensive, with the same rules and the same ledger) and :mod:`.b_lenet`, the book's
B-LeNet.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
import torch.nn.functional as F

from .. import cost
from .exit_rules import (
    ExitAt,
    ExitRule,
    EntropyRule,
    MaxProbRule,
    OracleLossRule,
    entropy,
)
from .exits import Exiting, ExitLedger, ExitOutput

__all__ = [
    "ExitNetwork",
    "ExitOutput",
    "ExitRule",
    "EntropyRule",
    "MaxProbRule",
    "OracleLossRule",
    "entropy",
    "weighted_exit_loss",
    "all_exit_logits",
    "simulate",
    "exit_fractions",
    "exit_macs",
    "run_early_exit",
    "batch1_stream",
]


# ---------------------------------------------------------------- the network


class _AllExited(Exception):
    """Raised inside the backbone's forward when every sample of the batch has left."""


class _Left(Exception):
    """Raised inside the backbone's forward when the one sample of a batch of 1 leaves."""

    def __init__(self, logits: torch.Tensor, n: int):
        super().__init__()
        self.logits, self.n = logits, n


class ExitNetwork(Exiting):
    """A backbone with exit heads attached at named modules; see the module docstring."""

    def __init__(self, backbone: nn.Module, exits: dict[str, nn.Module]):
        super().__init__()
        if not exits:
            raise ValueError("give at least one exit: {module name: head}")
        modules = dict(backbone.named_modules())
        for name in exits:
            if name == "" or name not in modules:
                known = ", ".join(n for n in modules if n)
                raise ValueError(
                    f"the backbone has no module named {name!r}; its modules are: {known}"
                )
        self.backbone = backbone
        self.exit_points = list(exits)
        self.exits = nn.ModuleList(exits.values())
        self._points = [modules[n] for n in exits]  # a plain list: not registered twice

    @property
    def n_exits(self) -> int:
        """The number of early exits (the final exit is not counted)."""
        return len(self.exits)

    @contextlib.contextmanager
    def _hooks(self, make_hook):
        handles = [
            m.register_forward_hook(make_hook(n)) for n, m in enumerate(self._points)
        ]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def _reached(self, n: int, expected: int) -> None:
        if n != expected:
            raise RuntimeError(
                f"exit {n} ({self.exit_points[n]!r}) was reached when "
                f"exit {expected} was due: list the exits in the order "
                "the backbone reaches them, at modules that run once per "
                "forward"
            )

    def forward(self, x: torch.Tensor):
        if self.training or self._rule is None:
            return self.all_exits(x)
        return self.early_exit(x)

    def all_exits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every exit on every sample: [logits_exit_1, ..., logits_final], each [B, C]."""
        outs = []

        def make_hook(n):
            def hook(module, args, out):
                self._reached(n, len(outs))
                outs.append(self.exits[n](out))

            return hook

        with self._hooks(make_hook):
            final = self.backbone(x)
        self._reached(len(outs), self.n_exits)
        return outs + [final]

    def early_exit(self, x: torch.Tensor) -> ExitOutput:
        """Run with ``self.rule``: samples leave at the first exit that lets them go, and
        the backbone continues on the rest only."""
        if len(x) == 1:
            return self._early_exit_one(x)
        return self._early_exit_batch(x)

    def _early_exit_batch(self, x: torch.Tensor) -> ExitOutput:
        """A batch: the ledger settles who leaves at each exit, the rest go on
        compacted."""
        ledger = ExitLedger(len(x), x.device)
        reached = [0]

        def make_hook(n):
            def hook(module, args, out):
                self._reached(n, reached[0])
                reached[0] += 1
                z = self.exits[n](out)  # [b, C]
                stay = ledger.settle(n, z, self._rule.exits(n, z))
                if stay is None:
                    return None  # nobody leaves
                if len(stay) == 0:
                    raise _AllExited  # nobody goes on
                stack.enter_context(cost.sample_index(stay))  # later costs land here
                return out.index_select(0, stay)  # the rest goes on, [b']

            return hook

        try:
            with contextlib.ExitStack() as stack, self._hooks(make_hook):
                final = self.backbone(x)  # [b', C]
            self._reached(reached[0], self.n_exits)
        except _AllExited:
            return ledger.result()
        return ledger.result(final, self.n_exits)

    def _early_exit_one(self, x: torch.Tensor) -> ExitOutput:
        """Batch 1: no ledger, no masks, no compaction. At each exit the rule's answer is
        one bool; when it says leave, ``_Left`` stops the backbone where it is."""
        reached = [0]

        def make_hook(n):
            def hook(module, args, out):
                self._reached(n, reached[0])
                reached[0] += 1
                z = self.exits[n](out)  # [1, C]
                if self._rule.exits(n, z).item():
                    raise _Left(z, n)

            return hook

        try:
            with self._hooks(make_hook):
                z, n = self.backbone(x), self.n_exits
            self._reached(reached[0], self.n_exits)
        except _Left as left:
            z, n = left.logits, left.n
        return ExitOutput(z, torch.tensor([n], device=z.device))


# ---------------------------------------------------------------- training


def weighted_exit_loss(weights):
    """BranchyNet's objective, a ``loss`` for ``train.fit``: sum_n w_n * CE(exit_n, y)
    over the early exits and the final exit (``weights`` has one entry per exit, final
    last). Distiller's form, sum_i w_i CE_i + (1 - sum_i w_i) CE_final, is the case where
    the weights sum to 1."""
    weights = [float(w) for w in weights]

    def loss(model, x, y):
        outs = model(x)
        if len(outs) != len(weights):
            raise ValueError(
                f"{len(weights)} loss weights for {len(outs)} exits (final included)"
            )
        value = sum(w * F.cross_entropy(z, y) for w, z in zip(weights, outs))
        return value, outs[-1]

    return loss


# ---------------------------------------------------------------- analysis


@torch.no_grad()
def all_exit_logits(
    net: ExitNetwork, x: torch.Tensor, batch_size: int = 1000
) -> list[torch.Tensor]:
    """Every exit's logits on every sample of ``x``, on the CPU: one [N, C] per exit,
    final last."""
    net.eval()
    dev = next(net.parameters()).device
    parts = [
        net.all_exits(x[i : i + batch_size].to(dev)) for i in range(0, len(x), batch_size)
    ]
    return [torch.cat([p[n].cpu() for p in parts]) for n in range(net.n_exits + 1)]


def simulate(
    exit_logits: list[torch.Tensor], rule: ExitRule, labels: torch.Tensor | None = None
):
    """Apply ``rule`` offline to precomputed ``exit_logits`` (from
    :func:`all_exit_logits`).

    Returns (exit_index [N], logits [N, C] of the exit taken). ``labels`` are handed to
    the rule; the deployable rules ignore them, :class:`OracleLossRule` requires them."""
    n_exits = len(exit_logits) - 1
    rule.check(n_exits)
    if rule.needs_labels and labels is None:
        raise ValueError(
            f"{type(rule).__name__} needs the true labels: pass labels= explicitly "
            "(an upper bound for analysis, not a deployable rule)"
        )
    N = len(exit_logits[0])
    exit_index = torch.full((N,), n_exits, dtype=torch.long)
    open_ = torch.ones(N, dtype=torch.bool)  # not exited yet
    for n in range(n_exits):
        leave = rule.exits(n, exit_logits[n], labels) & open_
        exit_index[leave] = n
        open_ &= ~leave
    logits = torch.stack(exit_logits)[exit_index, torch.arange(N)]  # [N, C]
    return exit_index, logits


def exit_fractions(exit_index: torch.Tensor, n_exits: int) -> torch.Tensor:
    """Fraction of samples that took each exit, final last: [n_exits + 1], sums to 1."""
    return torch.bincount(exit_index, minlength=n_exits + 1).double() / len(exit_index)


@torch.no_grad()
def exit_macs(net: ExitNetwork, input_shape: tuple[int, ...]) -> list[float]:
    """MACs one sample executes when it leaves at exit n (final last), measured with
    ``cost.RealizedMacs``: the backbone up to the exit point plus every head on the
    way."""
    saved, was_training = net._rule, net.training
    dev = next(net.parameters()).device
    x = torch.zeros((1, *input_shape), device=dev)
    out = []
    try:
        net.eval()
        for n in range(net.n_exits + 1):
            net._rule = ExitAt(n)
            out.append(cost.realized_macs(net, x)[0].item())
    finally:
        net._rule = saved
        net.train(was_training)
    return out


@torch.no_grad()
def run_early_exit(
    net: ExitNetwork, rule: ExitRule, x: torch.Tensor, batch_size: int = 1000
):
    """Run ``net`` with ``rule`` (compacted, as deployed) over ``x`` in batches, counting
    the MACs each sample executed. Returns (exit_index [N], logits [N, C], macs [N]
    float64) and leaves ``net.rule`` set to ``rule``."""
    net.eval()
    net.rule = rule
    dev = next(net.parameters()).device
    idx, logits, macs = [], [], []
    for xb in x.split(batch_size):
        with cost.RealizedMacs(net, len(xb)) as counter:
            out = net(xb.to(dev))
        idx.append(out.exit_index.cpu())
        logits.append(out.logits.cpu())
        macs.append(counter.per_sample)
    return torch.cat(idx), torch.cat(logits), torch.cat(macs)


def batch1_stream(model: nn.Module, xs: torch.Tensor):
    """A function that runs ``model`` on each sample of ``xs`` [n, ...] at batch 1, in
    order. Time it with ``bench.compare`` and divide by n: the mean latency per sample
    over a real mix of easy and hard samples."""
    rows = [x.unsqueeze(0) for x in xs]

    @torch.no_grad()
    def run():
        for x in rows:
            model(x)

    return run
