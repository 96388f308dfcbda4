"""The static frontiers: ordinary networks of several widths, trained with the recipe and
budget of the chapter they serve, that every routed method of that chapter must beat at
its own cost.

    python scripts/frontier_study.py [--family lenet|canvas] [--models ...]
                                     [--seeds 0 1 2] [--threads 2]

A conditional network is worth its machinery only if it beats simply training a smaller
ordinary network of the same cost. For each seed this study trains the widths whose
multiply-accumulates span the methods' operating points:

* ``lenet`` (chapter 0, for chapters 1-4, 8 and 9): the thick LeNet's widths times
  0.35, 0.5 and 0.85 (13%, 26% and 72% of its MACs), the thin LeNet (one path of the
  CIGT trellis, 49%) and the thick LeNet itself, each for the full profile's 15 epochs
  on 55,000 images with chapter 0's recipe (Adam, cosine decay, dropout 0.3). About half
  an hour a seed on two CPU threads; results in ``results/00_frontier.json``.
* ``canvas`` (chapter 7): its dense full-resolution network (b) with every layer's
  channels times 0.125, 0.25, 0.5, 0.75 and 1 (2% to 100% of its MACs), trained as (b)
  is (6 epochs on 20,000 cluttered canvases). About half an hour a seed; results in
  ``results/07_frontier.json``.

Each run records test and validation accuracy as soon as it ends, and the study stops
and resumes run by run (``condcomp_lib.budget_study``); a run stopped part-way resumes
after its last finished epoch. The chapters read the records and time every width
themselves.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from condcomp_lib import baselines, budget_study, cost, frontier_runs, models, train  # noqa: E402
from condcomp_lib.methods import activity_runs, canvas_frontier  # noqa: E402

# ------------------------------------------------------------------ the LeNet family


def lenet_train(model: str, ds, epochs: int, seed: int):
    """(trained network, info), from the cache if there (chapter 0's keys)."""
    return baselines.baseline(model, ds, "full", seed=seed, epochs=epochs)


def scored(net, split_ds, shape) -> dict:
    """Test and validation accuracy, and the network's MACs and parameters."""
    return {
        **budget_study.test_and_val(net, split_ds),
        "macs": cost.dense_macs(net, shape),
        "params": cost.count_params(net),
    }


def accepts(parse):
    """A model-name check from a parser that raises ValueError on a name it refuses."""

    def check(name: str) -> bool:
        try:
            parse(name)
        except ValueError:
            return False
        return True

    return check


def lenet_score(model: str, net, ds, seed: int) -> dict:
    return scored(net, ds, (1, 28, 28))


# ------------------------------------------------------------------ the canvas family


_CANVASES: dict = {}


def canvases(ds):
    """The full profile's cluttered canvases, made once for every run."""
    if id(ds) not in _CANVASES:
        _CANVASES[id(ds)] = activity_runs.canvases(ds, "full")[0]
    return _CANVASES[id(ds)]


CANVAS_EPOCHS = activity_runs.get_setup("full").epochs


def canvas_train(model: str, ds, epochs: int, seed: int):
    if epochs != CANVAS_EPOCHS:
        raise ValueError(
            f"the canvas frontier trains for chapter 7's {CANVAS_EPOCHS} epochs, the "
            f"budget of its network (b), not {epochs}"
        )
    c = canvases(ds)
    net, info = canvas_frontier.train_one(
        c, "full", canvas_frontier.factor_of(model), seed
    )
    return net, {**info, "train_samples": len(c.train)}


def canvas_score(model: str, net, ds, seed: int) -> dict:
    return scored(net, canvases(ds), canvas_frontier.SHAPE)


STUDIES = {
    "lenet": budget_study.Study(
        name=frontier_runs.STUDY,
        models=frontier_runs.WIDTHS["full"],
        epochs=(train.get_profile("full").epochs,),
        train=lenet_train,
        score=lenet_score,
        methods=lambda runs, device, commit: [],  # the entries: see frontier_runs
        is_model=accepts(models.widths_of),
        model_help="thick, thin or w<factor> (the thick LeNet's widths times the factor)",
        no_entries="the frontier's entries are built from these runs by its chapter",
    ),
    "canvas": budget_study.Study(
        name=canvas_frontier.STUDY,
        models=tuple(f"w{f:g}" for f in canvas_frontier.FACTORS["full"]),
        epochs=(CANVAS_EPOCHS,),
        train=canvas_train,
        score=canvas_score,
        methods=lambda runs, device, commit: [],  # the entries: see canvas_frontier
        is_model=accepts(canvas_frontier.factor_of),
        model_help=f"w<factor>, a factor in {canvas_frontier.FACTORS['full']}",
        no_entries="the frontier's entries are built from these runs by its chapter",
    ),
}


if __name__ == "__main__":
    head = argparse.ArgumentParser(add_help=False)
    head.add_argument("--family", choices=sorted(STUDIES), default="lenet")
    known, rest = head.parse_known_args()
    description = __doc__.split("\n\n")[0]
    sys.exit(budget_study.run(STUDIES[known.family], rest, description=description))
