"""The canvas family's static frontier: dense full-resolution networks of several widths,
for chapter 7.

Activity specialization computes its fine features on about a sixth of the canvas, and
so runs a few percent to a quarter of the multiply-accumulates of the dense
full-resolution network (b). Would that network, made narrow from the start, do as well
at that cost? The frontier answers: network (b) with its three layers' channels times
0.125, 0.25, 0.5, 0.75 and 1 (about 2%, 7%, 25%, 57% and 100% of its MACs), each
trained exactly as (b) is (:func:`.activity_runs.trained` with kind "dense": the same
recipe, epochs and canvases), on seeds 0, 1 and 2. The widest width *is* (b).

The full profile's fifteen networks take hours on two cores, so
``scripts/frontier_study.py --family canvas`` trains them run by run, resumably, and
records each accuracy in ``results/07_frontier.json``, which chapter 7 reads
(:func:`recorded`); the quick profile trains three widths on one seed in the chapter.
Time does not depend on the weights: every width is timed as a fresh network.
"""

from __future__ import annotations

from .. import baselines, cost, frontier_runs, train
from ..data import Dataset
from . import activity as act
from . import activity_runs as runs

FAMILY = "canvas"
FACTORS = {"quick": (0.25, 0.5, 1.0), "full": (0.125, 0.25, 0.5, 0.75, 1.0)}
SEEDS = {"quick": (0,), "full": (0, 1, 2)}
STUDY = "07_frontier"  # the full profile's study, results/07_frontier.json
SHAPE = (1, act.CANVAS, act.CANVAS)


def name(factor: float) -> str:
    """A width's name in the results: network (b)'s channels times ``factor``."""
    return f"w{factor:g} full-resolution network"


def widths(factor: float, profile: str) -> tuple[int, int, int]:
    """Network (b)'s channels in the profile's setup, times ``factor``."""
    return tuple(max(1, round(c * factor)) for c in runs.get_setup(profile).widths)


def factor_of(model: str) -> float:
    """The factor a study's model name ("w0.25") stands for; an error for another name."""
    try:
        f = float(model[1:]) if model.startswith("w") else -1.0
    except ValueError:
        f = -1.0
    if f not in FACTORS["full"]:
        raise ValueError(f"a canvas width is one of w{FACTORS['full']}, got {model!r}")
    return f


def recipe_text() -> str:
    r = baselines.RECIPE
    return (
        f"Adam, lr {r['lr']:g} with a cosine decay, batch {r['batch_size']}, on the "
        "cluttered canvases (chapter 7's network (b))"
    )


def train_one(canvases: Dataset, profile: str, factor: float, seed: int):
    """(network, info) of one width and seed, from the cache where there."""
    w = widths(factor, profile)
    return runs.trained("dense", canvases, profile, seed=seed, widths=w)


def trained(canvases: Dataset, profile: str) -> tuple[dict, dict]:
    """({factor: {seed: test accuracy}}, budget) of the profile's widths and seeds,
    each network from the cache where there, trained first where not."""
    acc: dict[float, dict[int, float]] = {}
    budget: dict = {}
    for f in FACTORS[profile]:
        acc[f] = {}
        for s in SEEDS[profile]:
            net, info = train_one(canvases, profile, f, s)
            acc[f][s] = train.evaluate(net, canvases.test)
            budget = {"epochs": info["epochs"], "train_images": len(canvases.train)}
    return acc, budget


def recorded(study: str = STUDY) -> tuple[dict, dict]:
    """The full profile's frontier as its study recorded it: ({factor: {seed: test
    accuracy}}, budget) (:func:`condcomp_lib.frontier_runs.read_study`)."""
    names = [f"w{f:g}" for f in FACTORS["full"]]
    acc, budget = frontier_runs.read_study(
        study,
        names,
        "run `python scripts/frontier_study.py --family canvas` (resumable) before "
        "chapter 7's full profile",
    )
    return {factor_of(w): a for w, a in acc.items()}, budget


def fresh(profile: str) -> dict[float, act.FullResNet]:
    """One untrained network per width of the profile, for timing."""
    return {f: act.FullResNet(widths(f, profile)).eval() for f in FACTORS[profile]}


def entries(
    acc: dict, budget: dict, profile: str, time_b1: dict, time_b256: dict, noisy: bool
) -> list[dict]:
    """The frontier's entries in the results schema; ``time_b1`` and ``time_b256`` hold
    each width's speed-up over the widest (network (b)), keyed by factor."""
    nets = fresh(profile)
    return frontier_runs.family_entries(
        FAMILY,
        recipe_text(),
        "07_activity_specialization",
        name(1.0),
        {name(f): a for f, a in acc.items()},
        budget,
        {name(f): cost.dense_macs(nets[f], SHAPE) for f in acc},
        {name(f): cost.count_params(nets[f]) for f in acc},
        {name(f): time_b1[f] for f in acc},
        {name(f): time_b256[f] for f in acc},
        noisy=noisy,
    )
