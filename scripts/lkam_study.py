"""Chapter 9's LKAM arms on the seeds the chapter does not train itself: the thick
LeNet, the LKAM fine-tunings of the full profile's sweep and the static-pruning control.

    python scripts/lkam_study.py [--models thick gain0.2 static4 ...] [--seeds 1 2]
                                 [--threads 2]

A verdict needs three seeds in every arm. Chapter 9's full run trains seed 0's networks
itself; this study trains seeds 1 and 2, run by run and resumably, and records each test
accuracy and cost in ``results/09_arms.json`` as soon as its run ends
(``condcomp_lib.methods.lkam_arms``). The claims' arms come first on every seed (the
thick LeNet, LKAM at gain 0.2 and static pruning), then the rest of the sweep. Naming
``--models`` runs those alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from condcomp_lib import budget_study  # noqa: E402
from condcomp_lib.methods import lkam_arms as arms  # noqa: E402


def train(kind: str, ds, epochs: int, seed: int):
    if epochs != arms.SETUP.epochs:
        raise ValueError(
            f"chapter 9's LKAM networks fine-tune for the full profile's "
            f"{arms.SETUP.epochs} epochs, not {epochs}"
        )
    net, info = arms.trained(kind, ds, seed)
    return net, {**info, "train_samples": len(ds.train)}


STUDY = budget_study.Study(
    name=arms.STUDY,
    models=arms.KINDS,
    # the fine-tuning's epochs; the thick LeNet under them is chapter 0's (15 epochs)
    epochs=(arms.SETUP.epochs,),
    train=train,
    score=lambda kind, net, ds, seed: arms.score(kind, net, ds),
    methods=lambda done, device, commit: [],  # the entries: built by chapter 9
    is_model=lambda kind: kind in arms.KINDS,
    model_help=f"one of {arms.KINDS}",
    seeds=(1, 2),  # seed 0: chapter 9 trains it
    no_entries="the entries are built from these runs by chapter 9",
)


def main(argv: list[str]) -> int:
    description = __doc__.split("\n\n")[0]
    if "--models" not in argv:  # the claims' arms on every seed, then the sweep
        budget_study.run(STUDY, ["--models", *arms.CLAIMS_FIRST, *argv], description)
    return budget_study.run(STUDY, argv, description)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
