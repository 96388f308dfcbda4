"""The arms of chapter 9's LKAM verdict on three seeds: what each is, how it trains, and
the records of ``scripts/lkam_study.py``.

Chapter 9's full run trains its own seed's thick LeNet and the whole LKAM sweep; a
verdict needs three seeds in every arm, so the study trains the same networks on the
other seeds, run by run and resumably, and records each test accuracy and cost in
``results/09_arms.json`` as soon as the run ends. Chapter 9 reads them there.

The arms, by the study's names: ``thick`` (chapter 0's thick LeNet, the dense network),
``gain<g>`` (the thick LeNet fine-tuned with an LKAM of L1 gain g, one per gain of the
full profile's sweep) and ``static<k>`` (the control: the first k of the G kernel
groups always on, fine-tuned the same way).
"""

from __future__ import annotations

from .. import baselines, cache, frontier_runs, train
from ..data import Dataset
from . import gates_runs as runs

STUDY = "09_arms"
SETUP = runs.get_setup("full")
STATIC = SETUP.groups // 2  # the control's groups: half of them, as chapter 9's
OPERATING_GAIN = 0.2  # the gain the claims compare (chapter 9's operating point)


def gain_name(gain: float) -> str:
    return f"gain{gain:g}"


# the claims' arms first, then the rest of the sweep
KINDS = (
    "thick",
    gain_name(OPERATING_GAIN),
    f"static{STATIC}",
    *(gain_name(g) for g in SETUP.gains if g != OPERATING_GAIN),
)
CLAIMS_FIRST = KINDS[:3]


def entry_name(kind: str) -> str:
    """The study's kind under the name of chapter 9's results entries."""
    if kind == "thick":
        return "thick LeNet"
    if kind.startswith("static"):
        return f"static pruning, {kind[len('static') :]} of {SETUP.groups} groups"
    return f"LKAM, gain {float(kind[len('gain') :]):g}"


def trained(kind: str, ds: Dataset, seed: int, profile: str = "full"):
    """(network, info) of ``kind`` for ``seed``, from the cache or trained first."""
    if kind not in KINDS:
        raise ValueError(
            f"an arm of chapter 9's LKAM study is one of {KINDS}, got {kind!r}"
        )
    if kind == "thick":
        return baselines.baseline("thick", ds, profile, seed)
    if kind.startswith("static"):
        return runs.train_lkam(
            ds, profile, seed, static_groups=int(kind[len("static") :])
        )
    return runs.train_lkam(ds, profile, seed, gain=float(kind[len("gain") :]))


def score(kind: str, net, ds: Dataset) -> dict:
    """Test and validation accuracy, and on the test split the MACs per image; for an
    LKAM network also the share of the thick LeNet's conv MACs and of the groups on."""
    out = {}
    for split in ("test", "val"):
        data = getattr(ds, split)
        if kind == "thick":
            m = train.measure(net, data)
            out[f"{split}_acc"] = m["accuracy"]
            if split == "test":
                out["macs"] = m["macs"]
            continue
        m = runs.measure_lkam(net, data)
        out[f"{split}_acc"] = m["acc"]
        if split == "test":
            out |= {k: m[k] for k in ("macs", "conv_fraction", "groups_on")}
    return out


def recorded(study: str = STUDY) -> dict[str, dict[int, float]]:
    """{chapter 9's entry name: {seed: test accuracy}} for every kind the study has run,
    each with the seeds run so far; an error that says how to run the study when the
    claims' arms have no run yet."""
    how = "run `python scripts/lkam_study.py` (resumable) before chapter 9's full run"
    results = cache.load_results(study)
    ran = {r["model"] for r in results["runs"]} if results else set()
    names = [k for k in KINDS if k in ran or k in CLAIMS_FIRST]
    acc, _ = frontier_runs.read_study(study, names, how)
    return {entry_name(k): acc[k] for k in names}
