"""CIGT trained with its authors' own recipe, against the controls their code allows:
does the authors' recipe give their trellis the lead over one path that the book's
recipe does not?

    python scripts/cigt_authors.py [--models one-path cigt random all-paths]
                                   [--epochs 150] [--seeds 0 1 2] [--threads 1]

Chapter 4 trains LeNet-CIGT with the book's recipe (Adam, 15 epochs). This study trains
the authors' PyTorch LeNet-CIGT with config C's best recorded point, read from their
code (:mod:`condcomp_lib.methods.cigt_authors`): SGD with momentum, learning rate
0.0273 stepped down at epochs 60, 95 and 120, 150 epochs of which 25 of warm-up with
every path on, batch 125, all 60,000 training images unshuffled and unstandardized. For
each seed it trains:

* ``one-path``: block 0, one path of blocks 1 and 2, one leaf: the authors' thick
  baseline (the book's thin LeNet with batch normalization), the baseline here;
* ``cigt``: the recipe;
* ``random``: the same trellis with every route random after warm-up and at test;
* ``all-paths``: every path on in training and at test, the prediction being the mean
  of a sample's 8 leaf softmaxes (8 times block 2's cost, twice block 1's).

Each run records in ``results/04_cigt_authors.json`` the test accuracy after the last
epoch (the book's rule, the one the schema's entries use), the best test accuracy over
the evaluated epochs (``best_test_acc_selected_on_test``: the authors' rule, which
chooses an epoch on the test set), the test accuracy of every evaluated epoch, for CIGT
the mutual information of each router's test routes with the class (bits), the final
temperature, the training time and the recipe. It stops and resumes run by run
(:mod:`condcomp_lib.budget_study`) and, inside a run, epoch by epoch.

Run time, extrapolated (not measured end to end) from 50 timed training steps of each arm
at batch 125 and one evaluation of the 10,000 test images, on a 2-core machine shared
with another training job: a run is 72,000 steps (12,000 of warm-up, where the trellis
arms run block 1 twice and block 2 eight times) and 38 evaluations. With ``--threads 1``
(4 to 8 steps/s) a 150-epoch run of ``one-path`` takes about 2.7 h, ``cigt`` and
``random`` 3.6 h each and ``all-paths`` 4.7 h: about 15 h a seed, 44 h for the study.
With two threads on that busy machine the steps were five times slower (0.5 to 1.9
steps/s, 14 to 25 h a run) as the two threads wait for each other; on an idle machine
two threads should beat one.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from condcomp_lib import budget_study, cost, information  # noqa: E402
from condcomp_lib.methods import cigt_authors, cigt_authors_runs  # noqa: E402

NAME = "04_cigt_authors"
MODELS = ("one-path", "cigt", "random", "all-paths")
LABELS = {
    "one-path": "one path, the authors' recipe",
    "cigt": "CIGT, the authors' recipe",
    "random": "random routing, the authors' recipe",
    "all-paths": "all paths, the authors' recipe",
}


def train_one(model: str, ds, epochs: int, seed: int):
    """(trained network, info), from the cache if there. ``ds`` (the book's
    standardized split) is not used: the recipe reads the raw files
    (:func:`cigt_authors_runs.fashion_mnist_raw`)."""
    net, info = cigt_authors_runs.authors_run(model, seed, epochs)
    net.train_info = info  # what the run measured while training, for score()
    return net, info


def score(model: str, net, ds, seed: int) -> dict:
    """What the run measured on the test set while training, and for CIGT I(Y;R) of
    each router's test routes (bits)."""
    info = net.train_info
    out = {
        "test_acc": info["test_acc_last_epoch"],
        "best_test_acc_selected_on_test": info["best_test_acc_selected_on_test"],
        "best_test_epoch": info["best_test_epoch"],
        "test_acc_by_epoch": info["history"]["test"],
        "final_temperature": info["final_temperature"],
        "steps": info["steps"],
        "test_images": info["test_samples"],
        "shuffle": info["shuffle"],
        "resumed_after": info["history"]["resumed_after"],
        "recipe": info["recipe"],
        "recipe_requested": info["recipe_requested"],
    }
    if model == "cigt":
        test = cigt_authors_runs.fashion_mnist_raw()[1]
        for i, (routes, k) in enumerate(
            zip(cigt_authors_runs.test_routes(net, test), net.paths[1:])
        ):
            out[f"mi_router{i + 1}_bits"] = information.mutual_information_bits(
                test.y, routes
            )
    return out


def label(model: str, epochs: int) -> str:
    return f"{LABELS[model]}, {epochs} epoch{'s' if epochs > 1 else ''}"


def methods_of(runs: list[dict], device: str, commit: str) -> list[dict]:
    """The study's entries in the results schema: each arm against the one-path network
    at the same budget, at the last epoch's test accuracy."""
    params = {m: cost.count_params(cigt_authors.AuthorsCIGT(m)) for m in MODELS}
    return budget_study.entries(
        runs,
        study=NAME,
        baseline="one-path",
        label=label,
        role=lambda m: {"one-path": "dense", "cigt": "method"}.get(m, "control"),
        macs=lambda m: sum(cigt_authors_runs.macs_per_sample(m).values()),
        params=params.__getitem__,
        order=MODELS.index,
        device=device,
        commit=commit,
    )


STUDY = budget_study.Study(
    name=NAME,
    models=MODELS,
    epochs=(cigt_authors.RECIPE.epochs,),
    train=train_one,
    score=score,
    methods=methods_of,
    is_model=lambda m: m in MODELS,
    model_help=f"one of {', '.join(MODELS)}",
)


if __name__ == "__main__":
    sys.exit(budget_study.run(STUDY, description=__doc__.split("\n\n")[0]))
