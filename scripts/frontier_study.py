"""The static frontier of the LeNet family: ordinary LeNets of several widths, trained
with the baselines' recipe and budget, that every routed method of the LeNet chapters
must beat at its own cost.

    python scripts/frontier_study.py [--models w0.35 w0.5 thin w0.85 thick]
                                     [--seeds 0 1 2] [--threads 2]

A conditional network is worth its machinery only if it beats simply training a smaller
ordinary network of the same cost. This study trains, for each seed, the LeNets whose
multiply-accumulates span the methods' operating points: the thick LeNet's widths times
0.35, 0.5 and 0.85 (13%, 26% and 72% of its MACs), the thin LeNet (one path of the CIGT
trellis, 49%) and the thick LeNet itself, each for the full profile's 15 epochs on
55,000 images with chapter 0's recipe (Adam, cosine decay, dropout 0.3). The thin and
thick LeNets are chapter 0's own networks, found in the cache when chapter 0 has run.

Each run records test and validation accuracy in ``results/00_frontier.json``, as soon
as it ends, and the study stops and resumes run by run (``condcomp_lib.budget_study``).
On two CPU threads the five widths of one seed take about half an hour.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from condcomp_lib import budget_study, cost, frontier_runs, models, train  # noqa: E402

NAME = "00_frontier"
MODELS = frontier_runs.WIDTHS["full"]
EPOCHS = train.get_profile("full").epochs


def train_one(model: str, ds, epochs: int, seed: int):
    """(trained network, info), from the cache if there (chapter 0's keys)."""
    return models.baseline(model, ds, "full", seed=seed, epochs=epochs)


def score(model: str, net, ds, seed: int) -> dict:
    """Test and validation accuracy, and the network's MACs per image."""
    return {
        **budget_study.test_and_val(net, ds),
        "macs": cost.dense_macs(net, (1, 28, 28)),
        "params": cost.count_params(net),
    }


def is_model(name: str) -> bool:
    try:
        models.widths_of(name)
    except ValueError:
        return False
    return True


STUDY = budget_study.Study(
    name=NAME,
    models=MODELS,
    epochs=(EPOCHS,),
    train=train_one,
    score=score,
    methods=lambda runs, device, commit: [],  # the frontier's entries: see its module
    is_model=is_model,
    model_help="thick, thin or w<factor> (the thick LeNet's widths times the factor)",
    no_entries="the frontier's entries are built from these runs by its own module",
)


if __name__ == "__main__":
    sys.exit(budget_study.run(STUDY, description=__doc__.split("\n\n")[0]))
