"""CondConv against the static LeNet at several training budgets: does the paper's gain
appear with more training?

    python scripts/condconv_budget.py [--epochs 1 5 15 45] [--models static 4 8]
                                      [--seeds 0 1 2] [--threads 2]

Chapter 3 trains the networks for the baselines' budget (15 epochs on 55,000 images) and
finds no gain from the experts; the paper trains on ImageNet for far longer. This study
trains the static thick LeNet and CondConv with n experts (n = 4, 8; n = 1 is the
control) for each budget and seed, with the baselines' recipe, and records test and
validation accuracy in ``results/03_condconv_budget.json``. It stops and resumes run by
run (``condcomp_lib.budget_study``). On two CPU threads one epoch takes about 65 s
(static) and 80 s (CondConv); the default plan (1, 5, 15 and 45 epochs, three seeds of
three models) is about 14 hours.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from condcomp_lib import baselines, budget_study, cost, models  # noqa: E402
from condcomp_lib.methods import condconv  # noqa: E402

NAME = "03_condconv_budget"


def train_one(model: str, ds, epochs: int, seed: int):
    """(trained network, info): the static LeNet or CondConv, from the cache if there."""
    if model == "static":
        return baselines.baseline("thick", ds, "full", seed=seed, epochs=epochs)
    return condconv.trained(int(model), ds, "full", seed=seed, epochs=epochs)


def label(model: str, epochs: int) -> str:
    kind = "static LeNet" if model == "static" else f"CondConv, n = {model}"
    return f"{kind}, {epochs} epoch{'s' if epochs > 1 else ''}"


def methods_of(runs: list[dict], device: str, commit: str) -> list[dict]:
    """The study's entries in the results schema: each model at each budget against the
    static LeNet at the same budget."""

    def n_of(model: str) -> int:
        return 0 if model == "static" else int(model)

    def params(model: str) -> int:
        net = (
            models.LeNet(models.THICK)
            if model == "static"
            else condconv.CondLeNet(models.THICK, int(model))
        )
        return cost.count_params(net)

    return budget_study.entries(
        runs,
        study=NAME,
        baseline="static",
        label=label,
        role=lambda m: "dense" if m == "static" else "control" if m == "1" else "method",
        macs=lambda m: sum(condconv.lenet_macs(models.THICK, n_of(m)).values()),
        params=params,
        order=n_of,
        device=device,
        commit=commit,
    )


STUDY = budget_study.Study(
    name=NAME,
    models=("static", "4", "8"),
    epochs=(1, 5, 15, 45),
    train=train_one,
    score=lambda model, net, ds, seed: budget_study.test_and_val(net, ds),
    methods=methods_of,
    is_model=lambda m: m == "static" or (m.isdigit() and int(m) >= 1),
    model_help="'static' or a number of experts",
)


if __name__ == "__main__":
    sys.exit(budget_study.run(STUDY, description=__doc__.split("\n\n")[0]))
