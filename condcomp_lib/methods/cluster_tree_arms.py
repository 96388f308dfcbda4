"""The arms of chapter 8's verdict on three seeds: what each is, how it trains, and the
records of ``scripts/cluster_study.py``.

A verdict needs three seeds in every arm, and at the base's budget (15 epochs on every
training image) chapter 8's networks take hours on two CPU threads. So the study trains
the arms of the main comparison on the seeds the chapter does not train itself, run by
run, and records each test accuracy in ``results/08_arms.json`` as soon as the run
ends; chapter 8's full run trains and measures its own seed and reads the others here.

The arms, by the study's names:

* ``base``: chapter 0's thin LeNet, the original network;
* ``control``: the tree of K = 1, one specialist of the same size on all the data;
* ``tree``: the tree of the main comparison (K = ``k_main``, depth 1);
* ``implicit``: Ioannou et al.'s filter-group LeNet;
* ``explicit``: their conditional LeNet, tested with its single best branch (and, in
  the fields ``*_soft``, with every branch mixed as in training).
"""

from __future__ import annotations

from ..data import Dataset
from .. import baselines, cache, frontier_runs, train
from . import cluster_tree_runs as runs
from . import conditional_networks as cn

STUDY = "08_arms"
KINDS = ("base", "control", "tree", "implicit", "explicit")
SOFT = "conditional (explicit), soft routing at test"


def names(k_main: int) -> dict[str, str]:
    """The study's kinds under the names chapter 8's tables give them."""
    return {
        "base": "base",
        "control": "control (K = 1)",
        "tree": f"tree K = {k_main}, depth 1",
        "implicit": "filter groups (implicit)",
        "explicit": "conditional (explicit)",
    }


def trained(kind: str, ds: Dataset, seed: int, profile: str = "full", levels=None):
    """(network, info) of ``kind`` for ``seed``, from the cache or trained first; a tree
    is grown on the seed's base (``levels``: its packed levels, computed if None)."""
    if kind not in KINDS:
        raise ValueError(f"an arm of chapter 8 is one of {KINDS}, got {kind!r}")
    if kind in ("implicit", "explicit"):
        return runs.conditional(ds, profile, kind, seed)
    base, info = baselines.baseline("thin", ds, profile, seed, progress=True)
    if kind == "base":
        return base, info
    if levels is None:
        levels = runs.levels_split(base, runs.train_split(ds, profile, seed))
    k = 1 if kind == "control" else runs.get_setup(profile).k_main
    return runs.tree(base, ds, profile, k, 1, seed, levels)


def score(kind: str, net, ds: Dataset) -> dict:
    """Test and validation accuracy as chapter 8 measures them (``train.measure``) and
    the MACs on the test split; the conditional LeNet also with every branch mixed."""
    out = {}
    for split in ("test", "val"):
        m = train.measure(net, getattr(ds, split))
        out[f"{split}_acc"] = m["accuracy"]
        if split == "test":
            out["macs"] = m["macs"]
        if kind == "explicit":
            out[f"{split}_acc_soft"] = train.measure(
                cn.soft_twin(net), getattr(ds, split)
            )["accuracy"]
    return out


def recorded(k_main: int, study: str = STUDY) -> dict[str, dict[int, float]]:
    """{chapter 8's name: {seed: test accuracy}} for every arm, and the soft-routing
    accuracy of the conditional LeNet under :data:`SOFT`, each with the seeds run so far.
    An error that says how to run the study when an arm has no run yet."""
    how = "run `python scripts/cluster_study.py` (resumable) before chapter 8's full run"
    acc, _ = frontier_runs.read_study(study, KINDS, how)
    out = {names(k_main)[k]: acc[k] for k in KINDS}
    results = cache.load_results(study)
    out[SOFT] = {
        r["seed"]: r["test_acc_soft"] for r in results["runs"] if r["model"] == "explicit"
    }
    return out
