"""Training and measuring the networks of chapter 7 (activity specialization).

Used by chapter 7. Six networks, compared on the same cluttered canvases:

* (a) ``"generic"``: the generic network alone, at low resolution (the letter's
  "original network");
* (b) ``"dense"``: the dense full-resolution network of the specialized layers' widths;
* (c) ``"learned"``: activity specialization, the specialized layers of G = 4 groups of
  contiguous generic features computed where the group fires;
* (c') ``"per_feature"``: the letter's construction as written, one group per generic
  feature (G = 32), with layers wide enough to give each feature its own channels;
* (d) ``"random"``: (c)'s network trained and tested with random tiles, as many per image
  and group as (c) computes (does *where* matter?);
* (e) ``"all"``: (c)'s network trained and tested with every tile on (what the skipped
  tiles are worth to a network that was taught to use them).

Each network is trained with the baselines' recipe (Adam, cosine decay, batch 128) on the
profile's canvases and cached under a key that names what changes its weights. The
chapter trains one seed's networks; the full profile's other seeds come from
``scripts/activity_study.py`` (:func:`recorded`). The quick profile shrinks the data, the
epochs and the widths so that CI runs the chapter in two minutes; the full profile is the
one whose numbers the chapter reports.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from .. import baselines, cache, frontier_runs, results_schema, train
from ..cluttered import ITEM, load_cluttered
from ..data import Dataset, Split
from . import activity as act

KINDS = ("generic", "dense", "learned", "per_feature", "random", "all")
SPECIALIZED = ("learned", "per_feature", "random", "all")  # built on the generic network
STUDY = "07_arms"  # the full profile's networks on every seed, results/07_arms.json
STUDY_KINDS = ("generic", *SPECIALIZED)  # (b) is the canvas frontier's widest network


@dataclass(frozen=True)
class Setup:
    """How much work each profile does."""

    train_samples: int  # training canvases
    test_samples: int | None  # None: the whole test split
    generic_epochs: int  # the generic network is cheap: it trains longer
    epochs: int  # the full-resolution networks
    widths: tuple  # the specialized (and dense) layers' channels
    feature_widths: tuple  # (c')'s: each a multiple of the 32 generic features
    groups: int = 4
    tau: float = 0.5  # the firing threshold the specialized network trains with

    def tag(self) -> str:
        """What changes the weights, for the cache key."""
        w = ".".join(map(str, self.widths))
        return f"n{self.train_samples}-e{self.generic_epochs},{self.epochs}-w{w}"


SETUPS = {
    "quick": Setup(3000, 1000, 3, 2, (8, 32, 64), (32, 32, 64)),
    "full": Setup(20000, None, 10, 6, (16, 64, 128), (32, 64, 128)),
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
    if kind == "per_feature":  # one group per generic feature
        f = generic.n_features
        return act.ActivityNet(generic, s.feature_widths, f, s.tau, "learned", seed)
    if kind in SPECIALIZED:
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
    if kind in SPECIALIZED and generic is None:
        raise ValueError(f"a {kind!r} network is built on a trained generic network")
    s = get_setup(profile)
    epochs = s.generic_epochs if kind == "generic" else s.epochs
    key = f"activity-{kind}-{profile}-{s.tag()}-seed{seed}"
    if widths is not None and tuple(widths) != tuple(s.widths):
        key += "-dw" + ".".join(map(str, widths))
    if kind in ("learned", "random", "all"):
        key += f"-g{s.groups}-t{s.tau:g}"
    if kind == "per_feature":
        w = ".".join(map(str, s.feature_widths))
        key += f"-g{generic.n_features}-t{s.tau:g}-w{w}"

    def fresh():
        torch.manual_seed(seed)
        return build(kind, s, generic, seed, widths)

    def fit():
        t0 = time.perf_counter()
        net = fresh()
        if kind in SPECIALIZED:
            # dense-then-masked: the routed layers' values and gradients, and faster to
            # train on a CPU at these widths than gathering tiles (the tests hold the
            # two equal)
            net.set_strategy("dense")
        hist = train.fit(
            net,
            data.train,
            epochs=epochs,
            lr=baselines.RECIPE["lr"],
            batch_size=baselines.RECIPE["batch_size"],
            seed=seed,
            device="cpu",
            desc=f"{kind} ({profile})",
            # an interrupted run resumes after its last finished epoch; not the random
            # control, whose tiles come from a generator of its own
            checkpoint=cache.checkpoint_path(key) if kind != "random" else None,
        )
        if kind in SPECIALIZED:
            net.set_strategy("auto")
        info = {"kind": kind, "setup": asdict(s), "seed": seed, "epochs": epochs}
        info["train_samples"] = len(data.train)
        info["widths"] = list(
            s.feature_widths if kind == "per_feature" else widths or s.widths
        )
        info["final_train_acc"] = hist["train_acc"][-1]
        info["train_seconds"] = time.perf_counter() - t0
        return net, info

    return cache.cached(key, fresh, fit, retrain=retrain)


def trained_set(data: Dataset, profile: str, seed: int = 0) -> tuple[dict, dict]:
    """Every network of the chapter on one seed, in :data:`KINDS` order: ({kind:
    network}, {kind: info}); the specialized ones on this seed's generic network."""
    nets, infos = {}, {}
    for kind in KINDS:
        generic = nets.get("generic")
        nets[kind], infos[kind] = trained(kind, data, profile, seed, generic)
    return nets, infos


def recorded(study: str = STUDY) -> dict[str, dict[int, float]]:
    """The full profile's networks as ``scripts/activity_study.py`` recorded them: {kind:
    {seed: test accuracy}} for the kinds of :data:`STUDY_KINDS` run so far, each with its
    seeds so far (chapter 7 reads them; its own seed it measures itself, so a kind the
    study has not reached yet is there on that seed alone). An error that says how to run
    the study when it has recorded nothing, or the networks the claims compare are
    missing."""
    how = "run `python scripts/activity_study.py` (resumable) before chapter 7's full run"
    results = cache.load_results(study)
    ran = {r["model"] for r in results["runs"]} if results else set()
    needed = ("generic", "learned", "per_feature")  # the claims' arms
    acc, _ = frontier_runs.read_study(
        study, [k for k in STUDY_KINDS if k in ran or k in needed], how
    )
    return acc


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


# ------------------------------------------------------------------ the results' entries

NAMES = {  # each network's name in the chapter's tables and results entries
    "generic": "(a) generic, 28x28",
    "dense": "(b) dense, full resolution",
    "learned": "(c) specialized",
    "per_feature": "(c') one group per feature",
    "random": "(d) random tiles",
    "all": "(e) every tile, trained",
}
ROLES = {
    "generic": "dense",
    "dense": "dense",
    "learned": "method",
    "per_feature": "method",
}
CHAPTER = "07_activity_specialization"


def entries(
    acc: dict,
    macs: dict,
    union_macs: float,
    union_latency_b1: float | None,
    noisy: bool,
    s: Setup,
) -> list[dict]:
    """The chapter's entries in the results schema: one per network of :data:`KINDS`
    (``acc``: kind -> {seed: test accuracy}; ``macs``: kind -> MACs per image), and (c)
    executed by union, with its batch-1 speed-up over (b), both whole networks timed in
    one run. The (a) and (b) are dense networks, (c) and (c') methods, (d) and (e)
    controls."""
    notes = {
        "generic": "the small network on the 28x28 image",
        "learned": f"{s.groups} groups of contiguous generic features; executed group by "
        "group; only the full-resolution part was timed in this way (speedup_part_b1, "
        "speedup_part_b64)",
        "per_feature": "one group per generic feature, layers of "
        + ", ".join(map(str, s.feature_widths))
        + " channels",
        "all": "(c)'s architecture trained and tested with every (group, tile) item on",
    }
    out = [
        results_schema.entry(
            NAMES[k],
            chapter=CHAPTER,
            role=ROLES.get(k, "control"),
            baseline=NAMES["dense"],
            accuracy=acc[k],
            macs=macs[k],
            baseline_macs=macs["dense"],
            latency_b1_ratio=1.0 if k == "dense" else None,
            note=notes.get(k),
        )
        for k in KINDS
    ]
    out.append(
        results_schema.entry(
            "(c) specialized, executed by union",
            chapter=CHAPTER,
            role="method",
            baseline=NAMES["dense"],
            accuracy=acc["learned"],
            macs=union_macs,
            baseline_macs=macs["dense"],
            latency_b1_ratio=union_latency_b1,
            note="the same network as (c), each layer run on the union of the groups' "
            "tiles; whole networks timed at batch 1 (and 64, not 256)"
            + ("; timings from a noisy run" if noisy else ""),
        )
    )
    return out
