"""Chapter 8's arms on the seeds the chapter does not train itself: the base, the control
of K = 1, the tree of the main comparison and Ioannou et al.'s two LeNets, each at the
base's budget (15 epochs on every training image).

    python scripts/cluster_study.py [--models base control tree ...] [--seeds 1 2]
                                    [--threads 2]

A verdict needs three seeds in every arm, and the arms of one seed take most of an hour
on two CPU threads, so they are trained here, run by run and resumably, and each test
accuracy (and, for the conditional LeNet, the accuracy with every branch mixed) is
recorded in ``results/08_arms.json`` as soon as its run ends. Chapter 8's full run
trains and measures seed 0 itself, every tree and figure included, and reads seeds 1 and
2 from these records (``condcomp_lib.methods.cluster_tree_arms``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from condcomp_lib import budget_study  # noqa: E402
from condcomp_lib.methods import cluster_tree_arms as arms  # noqa: E402
from condcomp_lib.methods import cluster_tree_runs as runs  # noqa: E402

SETUP = runs.get_setup("full")
_LEVELS: dict = {}


def train(kind: str, ds, epochs: int, seed: int):
    if epochs != SETUP.epochs:
        raise ValueError(
            f"chapter 8's arms train for the base's {SETUP.epochs} epochs, not {epochs}"
        )
    if kind in ("control", "tree") and seed not in _LEVELS:  # the base's levels, once
        base, _ = arms.trained("base", ds, seed)
        _LEVELS[seed] = runs.levels_split(base, runs.train_split(ds, "full", seed))
    net, info = arms.trained(kind, ds, seed, levels=_LEVELS.get(seed))
    return net, {**info, "train_samples": len(ds.train)}


STUDY = budget_study.Study(
    name=arms.STUDY,
    models=arms.KINDS,
    epochs=(SETUP.epochs,),
    train=train,
    score=lambda kind, net, ds, seed: arms.score(kind, net, ds),
    methods=lambda done, device, commit: [],  # the entries: built by chapter 8
    is_model=lambda kind: kind in arms.KINDS,
    model_help=f"one of {arms.KINDS}",
    seeds=tuple(s for s in SETUP.seeds if s != 0),  # seed 0: chapter 8 trains it
    no_entries="the entries are built from these runs by chapter 8",
)


if __name__ == "__main__":
    sys.exit(budget_study.run(STUDY, sys.argv[1:], __doc__.split("\n\n")[0]))
