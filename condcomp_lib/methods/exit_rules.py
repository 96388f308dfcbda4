"""Exit rules: which samples may leave at an exit, judged from that exit's logits.

Used by chapters 1 and 2 through :class:`~.early_exit.ExitNetwork`,
:class:`~.cascade.Cascade` and :func:`~.early_exit.simulate`. :class:`EntropyRule`
(BranchyNet) and :class:`MaxProbRule` see only the exit's logits. :class:`OracleLossRule`
is Distiller's validation rule: it compares the exit's cross-entropy with the *true
label*, which a deployed model never has; :func:`deployable` refuses it, and only
``simulate``, given ``labels=`` explicitly, applies it, as an upper bound for analysis."""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Softmax entropy of each row in nats, [B] (BranchyNet's code uses the natural
    log)."""
    return torch.special.entr(F.softmax(logits, dim=1)).sum(1)  # entr(p) = -p log p


class ExitRule:
    """Decides, at early exit n, which samples leave. ``thresholds`` has one entry per
    early exit; a single number means the same threshold at every exit."""

    needs_labels = False  # a rule that needs the true label cannot be deployed

    def __init__(self, thresholds):
        self.thresholds = thresholds

    def threshold(self, n: int) -> float:
        t = self.thresholds
        return float(t) if isinstance(t, numbers.Real) else float(t[n])

    def check(self, n_exits: int) -> None:
        """A clear error unless this rule fits a network with ``n_exits`` early exits."""
        t = self.thresholds
        if not isinstance(t, numbers.Real) and len(t) != n_exits:
            raise ValueError(
                f"{type(self).__name__} has {len(t)} thresholds but the "
                f"network has {n_exits} early exit(s); give one threshold "
                "per early exit (the final exit takes every sample that is "
                "left)"
            )

    def exits(
        self, n: int, logits: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Boolean [b]: which of these samples leave at early exit ``n``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.thresholds!r})"


class EntropyRule(ExitRule):
    """BranchyNet: leave at exit n when the softmax entropy is below T_n."""

    def exits(self, n, logits, labels=None):
        return entropy(logits) < self.threshold(n)


class MaxProbRule(ExitRule):
    """Leave at exit n when the largest softmax probability is at least T_n."""

    def exits(self, n, logits, labels=None):
        return F.softmax(logits, dim=1).amax(1) >= self.threshold(n)


class OracleLossRule(ExitRule):
    """Distiller's validation rule, an upper bound only: leave at exit n when the
    cross-entropy of the exit's logits *against the true label* is below T_n. It needs the
    answer to decide whether to stop computing the answer, so it cannot be deployed."""

    needs_labels = True

    def exits(self, n, logits, labels=None):
        if labels is None:
            raise ValueError(
                "OracleLossRule compares the loss against the true label; "
                "pass labels= explicitly (analysis only, it cannot be "
                "deployed)"
            )
        return F.cross_entropy(logits, labels, reduction="none") < self.threshold(n)


class ExitAt(ExitRule):
    """Every sample leaves at exit ``at`` (the final exit if ``at`` is the exit count);
    for measuring what each exit costs."""

    def __init__(self, at: int):
        super().__init__(None)
        self.at = at

    def check(self, n_exits):
        pass

    def exits(self, n, logits, labels=None):
        return torch.full(
            (len(logits),), n == self.at, dtype=torch.bool, device=logits.device
        )


def deployable(rule: ExitRule | None, n_exits: int) -> ExitRule | None:
    """``rule`` if it can run in a deployed network with ``n_exits`` early exits, else a
    clear error."""
    if rule is not None:
        if rule.needs_labels:
            raise ValueError(
                f"{type(rule).__name__} looks at the true label, which does "
                "not exist at inference; it cannot run in the network. Use "
                "simulate(exit_logits, rule, labels=...) for an upper "
                "bound."
            )
        rule.check(n_exits)
    return rule
