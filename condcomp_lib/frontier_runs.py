"""The LeNet family's static frontier: which widths, trained how, timed how.

Used by chapter 0 (which trains, times and records the frontier) and by
``scripts/frontier_study.py`` (which trains the full profile's networks in the background,
resumably, into the cache where chapter 0 finds them). The frontier's reading and its
judgement of a method are in :mod:`condcomp_lib.frontier`.

The widths span the operating points of the LeNet chapters' methods: the thick LeNet's
widths times 0.35, 0.5 and 0.85 (13%, 26% and 72% of its MACs), the thin LeNet (one path
of the CIGT trellis, 49%) and the thick LeNet itself. Every width is trained with the
baselines' recipe and budget (:data:`condcomp_lib.models.RECIPE`, the profile's epochs
and images), so a method trained with that recipe is compared with networks that had
exactly its chance. The quick profile, which CI runs, trains three widths on one seed;
the full profile five widths on three seeds.
"""

from __future__ import annotations

import torch

from . import bench, cost, frontier, models, train
from .data import Dataset

FAMILY = "lenet"
WIDTHS = {
    "quick": ("w0.35", "thin", "thick"),
    "full": ("w0.35", "w0.5", "thin", "w0.85", "thick"),
}
SEEDS = {"quick": (0,), "full": (0, 1, 2)}


def recipe_text() -> str:
    r = models.RECIPE
    return (
        f"Adam, lr {r['lr']:g} with a cosine decay, batch {r['batch_size']}, dropout "
        "0.3 on the fully connected layers (chapter 0's baselines)"
    )


def trained(
    data: Dataset, profile: str, device: str = "auto", progress: bool = True
) -> dict[str, dict[int, tuple[torch.nn.Module, dict]]]:
    """{width: {seed: (network, info)}}: every width and seed of the profile's frontier,
    from the cache where there (chapter 0's own keys), trained first where not."""
    return {
        name: {
            s: models.baseline(
                name, data, profile, seed=s, device=device, progress=progress
            )
            for s in SEEDS[profile]
        }
        for name in WIDTHS[profile]
    }


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


def entries(runs: dict, test_acc: dict, t1, t256, chapter: str) -> list[dict]:
    """The frontier's entries in the results schema: each width's test accuracy over its
    seeds (``test_acc[width][seed]``), MACs, parameters and its time against the thick
    LeNet's (``t1``, ``t256`` from :func:`timed`)."""
    out = []
    thick = runs["thick"][next(iter(runs["thick"]))][0]
    thick_macs = cost.dense_macs(thick, (1, 28, 28))
    for name, by_seed in runs.items():
        net, info = next(iter(by_seed.values()))
        out.append(
            frontier.entry(
                f"frontier {name} LeNet",
                family=FAMILY,
                recipe=recipe_text(),
                epochs=info["epochs"],
                train_images=info["train_samples"],
                chapter=chapter,
                baseline="frontier thick LeNet",
                accuracy=[test_acc[name][s] for s in sorted(by_seed)],
                macs=cost.dense_macs(net, (1, 28, 28)),
                baseline_macs=thick_macs,
                latency_b1_ratio=t1.ratio("thick", name).value,
                throughput_b256_ratio=t256.ratio("thick", name).value,
                params=cost.count_params(net),
                note="timings from a noisy run" if t1.noisy or t256.noisy else None,
            )
        )
    return out
