"""Chapter 7's networks on three seeds: the generic network (a) and the specialized
networks built on it, (c), (c'), (d) and (e), trained with the full profile's recipe.

    python scripts/activity_study.py [--models generic learned ...] [--seeds 0 1 2]
                                     [--threads 2]

A verdict needs three seeds in every arm, and a specialized network takes most of an
hour to train on two CPU threads (dense-then-masked, it does the dense network's work
and the masking besides), so the full profile's networks are trained here, run by run and
resumably, and each test accuracy is recorded in
``results/07_arms.json`` as soon as its run ends; chapter 7 reads the records for the
seeds it does not measure itself. Network (b) is the widest network of the canvas
frontier (``scripts/frontier_study.py --family canvas``), trained with the same key, so
it is not trained twice.

The networks the claims compare come first, on every seed: the generic network (a), on
which a seed's specialized networks are built, then (c) and (c'); the controls (d) and
(e) follow. Naming ``--models`` runs those alone. The recorded budget (``epochs``) is
that of the full-resolution networks, 6 epochs on 20,000 canvases; the generic network,
much cheaper, trains for its own 10 (``condcomp_lib.methods.activity_runs.SETUPS``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from condcomp_lib import budget_study  # noqa: E402
from condcomp_lib.methods import activity_runs as runs  # noqa: E402

SETUP = runs.get_setup("full")
_CANVASES: dict = {}


def canvases(ds):
    """The full profile's cluttered canvases, made once for every run."""
    if id(ds) not in _CANVASES:
        _CANVASES[id(ds)] = runs.canvases(ds, "full")[0]
    return _CANVASES[id(ds)]


def train(kind: str, ds, epochs: int, seed: int):
    if epochs != SETUP.epochs:
        raise ValueError(
            f"chapter 7's networks train for the full profile's {SETUP.epochs} epochs "
            f"(the budget of network (b) and of the canvas frontier), not {epochs}"
        )
    c = canvases(ds)
    generic = None
    if kind != "generic":  # this seed's generic network, from the cache once trained
        generic, _ = runs.trained("generic", c, "full", seed)
    net, info = runs.trained(kind, c, "full", seed, generic)
    return net, {**info, "train_samples": len(c.train)}


def score(kind: str, net, ds, seed: int) -> dict:
    """Test and validation accuracy as chapter 7 measures them (the random control's
    tiles drawn from the seed's generator), with the MACs and the share of (group, tile)
    items computed on the test canvases."""
    c = canvases(ds)
    out = {}
    for split in ("test", "val"):
        if kind == "random":
            net.set_routing("random", seed)
        m = runs.measure(net, getattr(c, split))
        out[f"{split}_acc"] = m["accuracy"]
        if split == "test":
            out["macs"] = m["macs"]
            out["active_fraction"] = m.get("active_fraction")
    return out


STUDY = budget_study.Study(
    name=runs.STUDY,
    models=runs.STUDY_KINDS,
    epochs=(SETUP.epochs,),
    train=train,
    score=score,
    methods=lambda done, device, commit: [],  # the entries: built by chapter 7
    is_model=lambda kind: kind in runs.STUDY_KINDS,
    model_help=f"one of {runs.STUDY_KINDS}",
    no_entries="the entries are built from these runs by chapter 7",
)


CLAIMS_FIRST = ("generic", "learned", "per_feature")  # the arms of chapter 7's claims


def main(argv: list[str]) -> int:
    description = __doc__.split("\n\n")[0]
    if "--models" not in argv:  # the claims' arms on every seed, then the controls
        budget_study.run(STUDY, ["--models", *CLAIMS_FIRST, *argv], description)
    return budget_study.run(STUDY, argv, description)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
