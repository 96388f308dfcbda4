"""The LeNet family's static frontier: which widths, trained how, timed how.

Used by chapter 0 (which records the frontier and times it) and by
``scripts/frontier_study.py`` (which trains the full profile's networks in the
background). The frontier's reading and its judgement of a method are in
:mod:`condcomp_lib.frontier`.

The widths span the operating points of the LeNet chapters' methods: the thick LeNet's
widths times 0.35, 0.5 and 0.85 (13%, 26% and 72% of its MACs), the thin LeNet (one path
of the CIGT trellis, 49%) and the thick LeNet itself. Every width is trained with the
baselines' recipe and budget (:data:`condcomp_lib.baselines.RECIPE`, the profile's epochs
and images), so a method trained with that recipe is compared with networks that had
exactly its chance. The quick profile, which CI runs, trains three widths on one seed in
the chapter itself (:func:`trained`). The full profile's five widths on three seeds take
hours, so ``scripts/frontier_study.py`` trains them run by run, resumably, and records
each test accuracy in ``results/00_frontier.json``, which chapter 0 reads
(:func:`recorded`). Time does not depend on the weights, so every width is timed as a
freshly built network (:func:`fresh`), all of them interleaved in the chapter's own run.
"""

from __future__ import annotations

import torch

from . import baselines, bench, cache, cost, frontier, models, train
from .data import Dataset

FAMILY = "lenet"
WIDTHS = {
    "quick": ("w0.35", "thin", "thick"),
    "full": ("w0.35", "w0.5", "thin", "w0.85", "thick"),
}
SEEDS = {"quick": (0,), "full": (0, 1, 2)}
STUDY = "00_frontier"  # the study's results file


def recipe_text() -> str:
    r = baselines.RECIPE
    return (
        f"Adam, lr {r['lr']:g} with a cosine decay, batch {r['batch_size']}, dropout "
        "0.3 on the fully connected layers (chapter 0's baselines)"
    )


def trained(
    data: Dataset, profile: str, device: str = "auto", progress: bool = True
) -> tuple[dict, dict]:
    """({width: {seed: test accuracy}}, budget) of every width and seed of the profile's
    frontier, each network from the cache where there (chapter 0's own keys), trained
    first where not; budget is ``{"epochs", "train_images"}``."""
    acc: dict[str, dict[int, float]] = {}
    budget: dict = {}
    for name in WIDTHS[profile]:
        acc[name] = {}
        for s in SEEDS[profile]:
            net, info = baselines.baseline(
                name, data, profile, seed=s, device=device, progress=progress
            )
            acc[name][s] = train.evaluate(net, data.test, device=device)
            budget = {"epochs": info["epochs"], "train_images": info["train_samples"]}
    return acc, budget


def read_study(study: str, names, how: str) -> tuple[dict, dict]:
    """A frontier study's records, for any family: ({model name: {seed: test
    accuracy}}, budget) for every name of ``names``, each with the seeds run so far. An
    error that says ``how`` to run the study where a name has no run yet, or where the
    runs were trained with different budgets."""
    results = cache.load_results(study)
    runs = [] if results is None else results["runs"]
    acc: dict[str, dict[int, float]] = {}
    for r in runs:
        acc.setdefault(r["model"], {})[r["seed"]] = r["test_acc"]
    missing = [w for w in names if w not in acc]
    if missing:
        raise RuntimeError(
            f"the study {study} has no run of {', '.join(missing)} yet: {how}"
        )
    budgets = {(r["epochs"], r["train_images"]) for r in runs}
    if len(budgets) != 1:
        raise RuntimeError(f"the study {study}'s runs have several budgets: {budgets}")
    ((epochs, images),) = budgets
    acc = {w: dict(sorted(acc[w].items())) for w in names}
    return acc, {"epochs": epochs, "train_images": images}


def recorded(study: str = STUDY) -> tuple[dict, dict]:
    """The full profile's LeNet frontier as the study recorded it: ({width: {seed: test
    accuracy}}, budget) for every width of ``WIDTHS["full"]`` (:func:`read_study`)."""
    return read_study(
        study,
        WIDTHS["full"],
        "run `python scripts/frontier_study.py` (resumable) before chapter 0's full "
        "profile",
    )


def fresh(profile: str) -> dict[str, torch.nn.Module]:
    """One untrained network per width of the profile's frontier, for timing."""
    torch.manual_seed(0)
    return {w: models.LeNet(models.widths_of(w)).eval() for w in WIDTHS[profile]}


def timed(nets: dict[str, torch.nn.Module], x: torch.Tensor, profile: str, device):
    """(batch-1 comparison, batch-256 comparison) of ``nets`` (one network per width),
    timed interleaved in one run on the first image and the first 256 of ``x``."""
    prof = train.get_profile(profile)
    x1, x256 = x[:1].to(device), x[:256].to(device)
    with bench.on(device, *nets.values()), torch.no_grad():
        t1 = bench.compare(
            {n: (lambda m=m: m(x1)) for n, m in nets.items()},
            warmup=10,
            repeats=prof.bench_repeats * 4,
            device=device,
        )
        t256 = bench.compare(
            {n: (lambda m=m: m(x256)) for n, m in nets.items()},
            warmup=2,
            repeats=prof.bench_repeats,
            device=device,
        )
    return t1, t256


def family_entries(
    family: str,
    recipe: str,
    chapter: str,
    widest: str,
    test_acc: dict,
    budget: dict,
    macs: dict,
    params: dict,
    time_b1: dict,
    time_b256: dict,
    noisy: bool = False,
) -> list[dict]:
    """The entries of any family's frontier in the results schema. Every argument keyed
    by width name: ``test_acc[width][seed]``, ``macs`` and ``params`` per sample, and
    ``time_b1``/``time_b256``, each width's speed-up over the family's ``widest`` width
    (the entries' ``latency_b1_ratio`` and ``throughput_b256_ratio``). Entry names read
    ``"frontier <width>"``."""
    return [
        frontier.entry(
            f"frontier {name}",
            family=family,
            recipe=recipe,
            epochs=budget["epochs"],
            train_images=budget["train_images"],
            chapter=chapter,
            baseline=f"frontier {widest}",
            accuracy=[by_seed[s] for s in sorted(by_seed)],
            macs=macs[name],
            baseline_macs=macs[widest],
            latency_b1_ratio=time_b1[name],
            throughput_b256_ratio=time_b256[name],
            params=params[name],
            note="timings from a noisy run" if noisy else None,
        )
        for name, by_seed in test_acc.items()
    ]


def entries(test_acc: dict, budget: dict, t1, t256, chapter: str) -> list[dict]:
    """The LeNet frontier's entries: each width's test accuracy over its seeds
    (``test_acc[width][seed]``), its MACs and parameters, the budget it was trained with
    and its time against the thick LeNet's (``t1``, ``t256`` from :func:`timed`)."""
    nets = {w: models.LeNet(models.widths_of(w)) for w in test_acc}
    return family_entries(
        FAMILY,
        recipe_text(),
        chapter,
        "thick LeNet",
        {f"{w} LeNet": a for w, a in test_acc.items()},
        budget,
        {f"{w} LeNet": cost.dense_macs(n, (1, 28, 28)) for w, n in nets.items()},
        {f"{w} LeNet": cost.count_params(n) for w, n in nets.items()},
        {f"{w} LeNet": t1.ratio("thick", w).value for w in nets},
        {f"{w} LeNet": t256.ratio("thick", w).value for w in nets},
        noisy=t1.noisy or t256.noisy,
    )
