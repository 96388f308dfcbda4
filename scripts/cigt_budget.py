"""CIGT against its controls at several training budgets: does the gap to the one-path
network close when the routers train longer?

    python scripts/cigt_budget.py [--epochs 5 15 45] [--models thin cigt random
                                  cigt-fixed] [--seeds 0 1 2] [--threads 2]

Chapter 4 trains LeNet-CIGT for the baselines' budget (15 epochs on 55,000 images) and
finds it below the one-path (thin) LeNet trained with the same recipe; the authors train
for 150 epochs. This study trains, for each budget and seed:

* ``thin``: the one-path LeNet, the authors' baseline, with the baselines' recipe;
* ``cigt``: LeNet-CIGT with the objective chapter 4's sweep chose on the validation split
  (read from ``results/04_cigt.json``), its temperature decay scaled so that it reaches
  the floor of 0.1 at the last step;
* ``random``: the same trellis trained and tested with random routes;
* ``cigt-fixed``: CIGT with the authors' fixed decay of 0.9999 a step, which on these
  budgets ends far above the floor: the temperature's share of the trend.

Each run records test and validation accuracy and, for the trellises, the mutual
information of each router's test routes with the class and the temperature at the last
step, in ``results/04_cigt_budget.json``. It stops and resumes run by run
(``condcomp_lib.budget_study``). On two CPU threads one epoch of a trellis takes about
30 s and of the thin LeNet about 25 s, so one seed of the 45-epoch budget takes about
an hour and a half; the 15-epoch runs are chapter 4's own, found in the cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from condcomp_lib import baselines, budget_study, cache, cost, information, models  # noqa: E402
from condcomp_lib.methods import cigt, cigt_runs  # noqa: E402

NAME = "04_cigt_budget"
MODELS = ("thin", "cigt", "random", "cigt-fixed")
LABELS = {
    "thin": "thin LeNet (one path)",
    "cigt": "CIGT",
    "random": "random routing",
    "cigt-fixed": "CIGT, the authors' fixed decay",
}


def objective() -> cigt.Objective:
    """The objective chapter 4's full-profile sweep chose on the validation split."""
    full = cache.load_results("04_cigt")
    if full is None or "objective" not in full:
        raise SystemExit(
            "the study trains CIGT with the objective chapter 4's full profile chose: "
            "run chapter 4's full profile first (make reproduce CHAPTER=04_cigt)"
        )
    return cigt.Objective(full["objective"]["beta"], full["objective"]["decision_weight"])


def train_one(model: str, ds, epochs: int, seed: int):
    """(trained network, info), from the cache if there."""
    if model == "thin":
        return baselines.baseline("thin", ds, "full", seed=seed, epochs=epochs)
    if model == "random":  # the control's key has no objective: it has no IG term
        return cigt_runs.cigt_run(ds, "full", seed, routing="random", epochs=epochs)
    temperature = "fixed" if model == "cigt-fixed" else "scaled"
    return cigt_runs.cigt_run(
        ds, "full", seed, objective(), epochs=epochs, temperature=temperature
    )


def score(model: str, net, ds, seed: int) -> dict:
    """Test and validation accuracy; for a trellis also I(Y;R) of each router's test
    routes (bits) and the temperature at the last training step."""
    if model == "thin":
        return budget_study.test_and_val(net, ds)
    routing = "random" if model == "random" else "learned"
    out = {
        # random routes drawn from the seed, as chapter 4 draws them
        "test_acc": cigt_runs.accuracy(net, ds.test, routing, seed=seed),
        "val_acc": cigt_runs.accuracy(net, ds.val, routing, seed=seed),
        "final_temperature": net.temperature,
    }
    if model != "random":  # the control's own routers are never trained
        r1, r2, _ = cigt.collect_routes(net, ds.test.x)
        out["mi_router1_bits"] = information.mutual_information_bits(ds.test.y, r1)
        out["mi_router2_bits"] = information.mutual_information_bits(ds.test.y, r2)
    return out


def label(model: str, epochs: int) -> str:
    return f"{LABELS[model]}, {epochs} epoch{'s' if epochs > 1 else ''}"


def methods_of(runs: list[dict], device: str, commit: str) -> list[dict]:
    """The study's entries in the results schema: each model at each budget against the
    one-path LeNet at the same budget."""
    thin = models.LeNet(models.THIN)
    trellis = cigt.LeNetCIGT()
    return budget_study.entries(
        runs,
        study=NAME,
        baseline="thin",
        label=label,
        role=lambda m: {"thin": "dense", "random": "control"}.get(m, "method"),
        # a routed sample runs one path of each block, plus the routers
        macs=lambda m: (
            cost.dense_macs(thin, (1, 28, 28))
            if m == "thin"
            else sum(cigt.path_macs().values())
        ),
        params=lambda m: cost.count_params(thin if m == "thin" else trellis),
        order=MODELS.index,
        device=device,
        commit=commit,
    )


STUDY = budget_study.Study(
    name=NAME,
    models=MODELS,
    epochs=(5, 15, 45),
    train=train_one,
    score=score,
    methods=methods_of,
    is_model=lambda m: m in MODELS,
    model_help=f"one of {', '.join(MODELS)}",
)


if __name__ == "__main__":
    sys.exit(budget_study.run(STUDY, description=__doc__.split("\n\n")[0]))
