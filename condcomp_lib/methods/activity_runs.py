"""Training and measuring the networks of chapter 7 (activity specialization).

Used by chapter 7. Five networks, compared on the same cluttered canvases:

* (a) ``"generic"``: the generic network alone, at low resolution;
* (b) ``"dense"``: the dense full-resolution network of the specialized layers' widths;
* (c) ``"learned"``: activity specialization, the specialized layers computed where the
  generic features fire;
* (d) ``"random"``: the same specialized network trained and tested with random tiles, as
  many per image and group as (c) computes (does *where* matter?);
* (e) (c)'s network with every tile on, at test time (what the skipped tiles were worth).

Each network is trained with the baselines' recipe (Adam, cosine decay, batch 128) on the
profile's canvases, and cached under a key that names what changes its weights. The
quick profile shrinks the data, the epochs and the widths so that CI runs the chapter in
two minutes; the full profile is the one whose numbers the chapter reports.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from .. import cache, models, train
from ..cluttered import ITEM, load_cluttered
from ..data import Dataset, Split
from . import activity as act

KINDS = ("generic", "dense", "learned", "random")


@dataclass(frozen=True)
class Setup:
    """How much work each profile does."""

    train_samples: int  # training canvases
    test_samples: int | None  # None: the whole test split
    generic_epochs: int  # the generic network is cheap: it trains longer
    epochs: int  # the full-resolution networks
    widths: tuple  # the specialized (and dense) layers' channels
    groups: int = 4
    tau: float = 0.5  # the firing threshold the specialized network trains with

    def tag(self) -> str:
        """What changes the weights, for the cache key."""
        w = ".".join(map(str, self.widths))
        return f"n{self.train_samples}-e{self.generic_epochs},{self.epochs}-w{w}"


SETUPS = {
    "quick": Setup(3000, 1000, 3, 2, (8, 32, 64)),
    "full": Setup(20000, None, 10, 6, (16, 64, 128)),
}


def get_setup(profile: str) -> Setup:
    train.get_profile(profile)  # the same error for an unknown name as elsewhere
    return SETUPS[profile]


def canvases(fashion: Dataset, profile: str) -> tuple[Dataset, dict]:
    """The profile's cluttered canvases and the items' corners (see
    :func:`condcomp_lib.cluttered.load_cluttered`); the quick profile keeps the first
    ``test_samples`` test canvases."""
    s = get_setup(profile)
    data, boxes = load_cluttered(fashion, train_samples=s.train_samples)
    if s.test_samples is not None:
        t = data.test
        data.test = Split(t.x[: s.test_samples], t.y[: s.test_samples])
        boxes["test"] = boxes["test"][: s.test_samples]
    return data, boxes


# ------------------------------------------------------------------ training


def build(
    kind: str,
    s: Setup,
    generic: act.GenericNet | None = None,
    seed: int = 0,
    widths: tuple | None = None,
):
    """An untrained network of ``kind`` (the specialized ones on ``generic``);
    ``widths`` overrides the setup's for the dense network (the static frontier's)."""
    if kind == "generic":
        return act.GenericNet()
    if kind == "dense":
        return act.FullResNet(widths or s.widths)
    if kind in ("learned", "random"):
        return act.ActivityNet(generic, s.widths, s.groups, s.tau, kind, seed)
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def trained(
    kind: str,
    data: Dataset,
    profile: str,
    seed: int = 0,
    generic: act.GenericNet | None = None,
    retrain: bool = False,
    widths: tuple | None = None,
):
    """(network, info) from the cache, trained first if missing. The specialized kinds
    need the trained ``generic`` network, which they keep frozen. ``widths``: the dense
    network's, where not the setup's (the narrower widths of the static frontier)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if widths is not None and kind != "dense":
        raise ValueError(f"only the dense network takes other widths, not {kind!r}")
    if kind in ("learned", "random") and generic is None:
        raise ValueError(f"a {kind!r} network is built on a trained generic network")
    s = get_setup(profile)
    epochs = s.generic_epochs if kind == "generic" else s.epochs
    key = f"activity-{kind}-{profile}-{s.tag()}-seed{seed}"
    if widths is not None and tuple(widths) != tuple(s.widths):
        key += "-dw" + ".".join(map(str, widths))
    if kind in ("learned", "random"):
        key += f"-g{s.groups}-t{s.tau:g}"

    def fresh():
        torch.manual_seed(seed)
        return build(kind, s, generic, seed, widths)

    def fit():
        t0 = time.perf_counter()
        net = fresh()
        if kind in ("learned", "random"):
            # dense-then-masked: the routed layers' values and gradients, and faster to
            # train on a CPU at these widths than gathering tiles (the tests hold the
            # two equal)
            net.set_strategy("dense")
        hist = train.fit(
            net,
            data.train,
            epochs=epochs,
            lr=models.RECIPE["lr"],
            batch_size=models.RECIPE["batch_size"],
            seed=seed,
            device="cpu",
            desc=f"{kind} ({profile})",
            # an interrupted run resumes after its last finished epoch; not the
            # specialized kinds, whose random control draws from a generator of its own
            checkpoint=cache.checkpoint_path(key)
            if kind in ("generic", "dense")
            else None,
        )
        if kind in ("learned", "random"):
            net.set_strategy("auto")
        info = {"kind": kind, "setup": asdict(s), "seed": seed, "epochs": epochs}
        info["train_samples"] = len(data.train)
        info["widths"] = list(widths or s.widths)
        info["final_train_acc"] = hist["train_acc"][-1]
        info["train_seconds"] = time.perf_counter() - t0
        return net, info

    return cache.cached(key, fresh, fit, retrain=retrain)


# ------------------------------------------------------------------ measuring


def object_cells(boxes, grid: int = act.GRID, canvas: int = act.CANVAS) -> torch.Tensor:
    """bool [N, grid, grid]: the cells of the tile grid that the item (28x28 at corner
    ``boxes`` [N, 2]) overlaps."""
    cell = canvas // grid
    b = torch.as_tensor(boxes)
    lo = torch.arange(grid) * cell  # first pixel of each cell
    r = (lo[None] < b[:, :1] + ITEM) & (lo[None] + cell > b[:, :1])  # [N, grid]
    c = (lo[None] < b[:, 1:] + ITEM) & (lo[None] + cell > b[:, 1:])
    return r[:, :, None] & c[:, None, :]


def measure(net, split: Split, batch_size: int = 500) -> dict:
    """:func:`condcomp_lib.train.measure`, and for a specialized network the fraction of
    (group, tile) items computed (its ``routes`` are [N, G, 7, 7])."""
    out = train.measure(net, split, batch_size)
    if "routes" in out:
        out["active_fraction"] = out["routes"].float().mean().item()
    return out


def on_object(routes: torch.Tensor, boxes) -> dict:
    """Where the computed tiles lie: ``precision``, the share of computed (group, tile)
    items on a cell the item overlaps; ``coverage``, the share of the item's cells that
    at least one group computed; ``item_cells``, the share of the grid the item covers."""
    cells = object_cells(boxes)  # [N, 7, 7]
    on = routes & cells[:, None]
    return {
        "precision": (on.sum() / routes.sum().clamp(min=1)).item(),
        "coverage": ((routes.any(1) & cells).sum() / cells.sum()).item(),
        "item_cells": cells.float().mean().item(),
    }


def sweep(learned, random, split: Split, taus, seed: int = 0) -> list[dict]:
    """Accuracy and cost of (c) and of (d) at each threshold in ``taus``; (d) gets as many
    tiles as (c)'s generic features fire on at that threshold. The networks' own
    threshold is restored afterwards."""
    rows, keep = [], (learned.tau, random.tau)
    try:
        for tau in taus:
            learned.tau = random.tau = tau
            random.set_routing("random", seed)
            c, d = measure(learned, split), measure(random, split)
            rows.append(
                {
                    "tau": tau,
                    "active_fraction": c["active_fraction"],
                    "learned_acc": c["accuracy"],
                    "random_acc": d["accuracy"],
                    "macs": c["macs"],
                }
            )
    finally:
        learned.tau, random.tau = keep
    return rows
