"""Training, measuring and timing the networks of chapter 9 (LKAM and cascades).

Used by chapter 9.

* LKAM: the thick LeNet of chapter 0, fine-tuned with an LKAM on conv2 for each gain of
  the profile's sweep; the control is the same network with the first k kernel groups
  always on (static pruning), fine-tuned the same way.
* Cascades: a small first network, and two second networks trained on the samples the
  first one passes on: one given the first network's output as context, one not.

Every network is cached under a key that names what changes its weights."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import baselines, bench, cache, cost, models, train
from ..data import Dataset, Split
from . import contextual_cascade as cc
from . import lkam
from .cascade import Cascade
from .exit_rules import MaxProbRule

SHAPE = (1, 28, 28)
SMALL = models.LeNetWidths(8, 8, 16, 64, 32)  # the cascade's cheap first network
MIDDLE = models.THIN  # the cascade's second network


@dataclass(frozen=True)
class Setup:
    """How much work each profile does."""

    train_samples: int | None  # None: the whole training split
    test_samples: int | None
    epochs: int  # LKAM fine-tuning of the (already trained) thick LeNet
    cascade_epochs: int  # each cascade network, trained from scratch
    gains: tuple  # the L1 gains of the LKAM sweep
    groups: int = 8  # kernel groups of conv2
    pass_on: float = 0.5  # the share of training samples, the least confident ones,
    # that the first network passes on to train the second
    cascade_samples: int | None = None  # images the cascade networks train on (None:
    # all); the cheap first network needs more than the quick LKAM fine-tuning

    def tag(self, cascade: bool = False) -> str:
        """What changes the weights of an LKAM network (or a cascade's), for its key."""
        if cascade:
            return f"n{self.cascade_samples}-e{self.cascade_epochs}"
        return f"n{self.train_samples}-e{self.epochs}"


SETUPS = {
    "quick": Setup(1500, 1000, 1, 5, (0.1, 0.5), cascade_samples=3000),
    "full": Setup(None, None, 2, 6, (0.05, 0.1, 0.2, 0.5, 1.0)),
}


def get_setup(profile: str) -> Setup:
    train.get_profile(profile)  # the same error for an unknown name as elsewhere
    return SETUPS[profile]


def test_split(data: Dataset, profile: str) -> Split:
    n = get_setup(profile).test_samples
    t = data.test
    return t if n is None else Split(t.x[:n], t.y[:n])


def _fit(model, split: Split, epochs: int, seed: int, loss, desc: str, progress: bool):
    return train.fit(
        model,
        split,
        epochs=epochs,
        seed=seed,
        loss=loss,
        desc=desc,
        progress=progress,
        device="cpu",
        **baselines.RECIPE,
    )


# ------------------------------------------------------------------ LKAM


def train_lkam(
    data: Dataset,
    profile: str,
    seed: int,
    gain: float | None = None,
    static_groups: int | None = None,
    progress: bool = True,
):
    """The thick LeNet fine-tuned with an LKAM of ``gain``, or, with ``static_groups``
    = k, with its first k kernel groups of conv2 always on. Returns (model, info)."""
    if (gain is None) == (static_groups is None):
        raise ValueError("give either a gain or static_groups")
    s = get_setup(profile)
    thick, _ = baselines.baseline("thick", data, profile, seed, progress=progress)
    what = f"gain{gain}" if gain is not None else f"static{static_groups}"
    key = f"lkam-{profile}-{s.tag()}-g{s.groups}-{what}-seed{seed}"

    def build():
        return lkam.LKAMLeNet(models.THICK, s.groups, static_groups=static_groups)

    def fit():
        model = lkam.LKAMLeNet.from_lenet(
            thick, groups=s.groups, static_groups=static_groups
        )
        split = data.train.subset(s.train_samples, seed)
        hist = _fit(
            model, split, s.epochs, seed, lkam.lkam_loss(gain or 0.0), what, progress
        )
        return model, {"gain": gain, "static_groups": static_groups, "loss": hist["loss"]}

    return cache.cached(key, build, fit)


def conv_macs(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """MACs per sample [B] of the conv layers (the gate's included), i.e. every MAC but
    those of the three fully connected layers, which no method here changes."""
    fc = sum(
        r.macs for r in cost.dense_costs(models.LeNet(), SHAPE) if r.kind == "Linear"
    )
    return cost.realized_macs(model.eval(), x) - fc


def thick_conv_macs() -> int:
    rows = cost.dense_costs(models.LeNet(models.THICK), SHAPE)
    return sum(r.macs for r in rows if r.kind == "Conv2d")


def measure_lkam(model: lkam.LKAMLeNet, split: Split) -> dict:
    """Accuracy, the fraction of the thick LeNet's conv MACs spent, the fraction of
    kernel groups on, and which groups each class uses ([10][G] fractions)."""
    model.eval()
    with torch.no_grad():
        logits = model(split.x)  # [N, 10]
    route = model.route.float()  # [N, G]
    per_class = torch.stack([route[split.y == c].mean(0) for c in range(10)])
    return {
        "acc": (logits.argmax(1) == split.y).float().mean().item(),
        "conv_fraction": (conv_macs(model, split.x).mean() / thick_conv_macs()).item(),
        "groups_on": route.mean().item(),
        "macs": cost.realized_macs(model, split.x).mean().item(),  # all layers
        "per_class": per_class.tolist(),
    }


def time_lkam(model: lkam.LKAMLeNet, thick: models.LeNet, x: torch.Tensor, repeats: int):
    """Thick time / LKAM time at the batch of ``x`` (above 1: LKAM is faster)."""
    model.eval(), thick.eval()
    with torch.no_grad():
        c = bench.compare(
            {"thick": lambda: thick(x), "lkam": lambda: model(x)}, repeats=repeats
        )
    return c.ratio("thick", "lkam")


# ------------------------------------------------------------------ cascades


def train_first(data: Dataset, profile: str, seed: int, progress: bool = True):
    """The cascade's cheap first network, a small LeNet. Returns (model, info)."""
    s = get_setup(profile)

    def fit():
        torch.manual_seed(seed)
        model = models.LeNet(SMALL)
        split = data.train.subset(s.cascade_samples, seed)
        hist = _fit(
            model,
            split,
            s.cascade_epochs,
            seed,
            train.cross_entropy_loss,
            "first",
            progress,
        )
        return model, {"loss": hist["loss"]}

    key = f"cascade-first-{profile}-{s.tag(cascade=True)}-seed{seed}"
    return cache.cached(key, lambda: models.LeNet(SMALL), fit)


def train_second(
    data: Dataset,
    profile: str,
    seed: int,
    first: torch.nn.Module,
    context: bool,
    progress: bool = True,
):
    """The second network, trained on the samples ``first`` passes on, with or without
    its output as context. Returns (model, info)."""
    s = get_setup(profile)

    def fit():
        split = data.train.subset(s.cascade_samples, seed)
        top = torch.softmax(train.predict(first, split), 1).amax(1)  # [N]
        cut = top.quantile(s.pass_on).item()  # below it: passed on
        hard = cc.passed_on(first, split, MaxProbRule(cut))  # [n]
        if len(hard) < 2 * baselines.RECIPE["batch_size"]:
            raise ValueError(f"the first network passes on only {len(hard)} samples")
        hard_split = Split(split.x[hard], split.y[hard])
        torch.manual_seed(seed)
        model = cc.ContextualStage(MIDDLE, context=context)
        what = "context" if context else "no context"
        hist = _fit(
            model,
            hard_split,
            s.cascade_epochs,
            seed,
            cc.context_loss(first),
            what,
            progress,
        )
        info = {"hard_samples": len(hard), "cut": cut, "loss": hist["loss"]}
        return model, info

    name = "context" if context else "plain"
    key = f"cascade-{name}-{profile}-{s.tag(cascade=True)}-p{s.pass_on}-seed{seed}"
    return cache.cached(key, lambda: cc.ContextualStage(MIDDLE, context=context), fit)


def contextual(first, second, threshold: float) -> Cascade:
    """The cascade (first, second): a sample stops after ``first`` when its top
    probability reaches ``threshold``, else ``second`` runs on it (with the first's
    logits as context when ``second`` takes them)."""
    return Cascade([first, second], MaxProbRule(threshold)).eval()


def measure_cascade(first, second, split: Split, threshold: float) -> dict:
    """Accuracy, mean MACs per sample and the share decided by the first network, for
    the cascade (first, second) under a top-probability ``threshold``."""
    cascade = contextual(first, second, threshold)
    with torch.no_grad():
        out = cascade(split.x)
    return {
        "threshold": threshold,
        "acc": (out.logits.argmax(1) == split.y).float().mean().item(),
        "macs": cost.realized_macs(cascade, split.x).mean().item(),
        "first_share": (out.exit_index == 0).float().mean().item(),
    }


def time_cascade(cascade: Cascade, refs: dict, x: torch.Tensor, repeats: int) -> dict:
    """The cascade and the reference networks ``refs`` (name -> network) timed
    interleaved, at batch 256 (the first 256 images of ``x``) and at batch 1 (its first 32
    images one at a time, so that both easy and hard images are timed). Returns
    {"batch 256" | "batch 1": :class:`~condcomp_lib.bench.Comparison`}; read
    ``c.ratio(name, "cascade")`` (above 1: the cascade is faster)."""
    x256, singles = x[:256], [x[i : i + 1] for i in range(32)]
    nets = {**refs, "cascade": cascade}
    out = {}
    with torch.no_grad():
        for batch, run in (
            ("batch 256", lambda net: net(x256)),
            ("batch 1", lambda net: [net(xi) for xi in singles]),
        ):
            out[batch] = bench.compare(
                {name: (lambda n=net: run(n)) for name, net in nets.items()},
                repeats=repeats,
            )
    return out
