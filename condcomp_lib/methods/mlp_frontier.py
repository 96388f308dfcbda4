"""The MLP family's static frontier: dense MLPs of several widths, for chapter 6.

A block policy at target rate tau runs a few percent to a third of the dense MLP's
multiply-accumulates. The question a reader asks of it is whether an ordinary MLP that
narrow from the start would do as well. The frontier answers it: dense MLPs with three
hidden layers of 64, 128, 256, 512 and 1024 units (2%, 5%, 11%, 32% and 100% of the
chapter's dense MLP's MACs), each trained exactly as the chapter's dense MLP is (the
same recipe, epochs, images and seeds: :func:`.block_policy_runs.block_run` with kind
"dense"), so the widest width *is* that dense MLP. The quick profile trains three widths
on one seed. Every width is timed as a freshly built network: time does not depend on
the weights.
"""

from __future__ import annotations

from .. import baselines, frontier_runs
from ..data import Dataset
from . import block_policies as bp
from . import block_policy_runs as runs

FAMILY = "mlp"
WIDTHS = {"quick": (64, 256, runs.WIDTH), "full": (64, 128, 256, 512, runs.WIDTH)}


def name(width: int) -> str:
    """A width's name in the results: three hidden layers of ``width`` units."""
    return f"3x{width} MLP"


def recipe_text() -> str:
    r = baselines.RECIPE
    return (
        f"Adam, lr {r['lr']:g} with a cosine decay, batch {r['batch_size']}, ReLU, every "
        "block on (chapter 6's dense MLP)"
    )


def fresh(profile: str) -> dict[int, bp.BlockPolicyMLP]:
    """One untrained dense MLP per width of the profile, in dense mode, for timing."""
    return {
        w: bp.BlockPolicyMLP((w,) * 3, policy=False).set_mode("dense").eval()
        for w in WIDTHS[profile]
    }


def trained(
    data: Dataset, profile: str, seeds, epochs: int, device: str = "auto"
) -> tuple[dict, dict]:
    """({width: {seed: test accuracy}}, budget) of the profile's widths on ``seeds``,
    each network from the cache where there, trained first where not."""
    acc: dict[int, dict[int, float]] = {}
    budget: dict = {}
    for w in WIDTHS[profile]:
        acc[w] = {}
        for s in seeds:
            net, info = runs.block_run(
                data, profile, "dense", seed=s, epochs=epochs, device=device, width=w
            )
            acc[w][s] = runs.run(net, data.test, "dense").accuracy
            budget = {"epochs": info["epochs"], "train_images": info["train_samples"]}
    return acc, budget


def entries(
    acc: dict, budget: dict, time_b1: dict, time_b256: dict, noisy: bool
) -> list[dict]:
    """The frontier's entries in the results schema; ``time_b1`` and ``time_b256`` hold
    each width's speed-up over the widest, measured in the chapter's timing run."""
    nets = {w: bp.BlockPolicyMLP((w,) * 3, policy=False) for w in acc}
    return frontier_runs.family_entries(
        FAMILY,
        recipe_text(),
        "06_block_policies",
        name(runs.WIDTH),
        {name(w): a for w, a in acc.items()},
        budget,
        {name(w): nets[w].macs_of([None] * 3).item() for w in acc},
        {name(w): sum(p.numel() for p in nets[w].parameters()) for w in acc},
        {name(w): time_b1[w] for w in acc},
        {name(w): time_b256[w] for w in acc},
        noisy=noisy,
    )
