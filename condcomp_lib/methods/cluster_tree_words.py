"""Chapter 8's committed full run in words: the Summary's verdict, generated from
``results/08_feature_cluster_trees.json`` so that no sentence can drift from the numbers.

Used by chapter 8 (``ch.verdict(cluster_tree_words.verdict)``). The networks' names are
the chapter's (:func:`condcomp_lib.methods.cluster_tree_arms.names`).
"""

from __future__ import annotations

from .. import words
from .cluster_tree_arms import SOFT, names


def mean_accuracy(full: dict, name: str) -> tuple[float, int]:
    """(mean test accuracy in %, seeds) of a network: over the seeds of ``by_seed``
    where the run measured it there, else its one measured accuracy."""
    per_seed = [r[name] for r in full.get("by_seed", []) if r.get(name) is not None]
    if per_seed:
        return sum(per_seed) / len(per_seed), len(per_seed)
    return 100 * full["accuracy"][name], 1


def accuracy(full: dict, name: str) -> str:
    """ "91.20%", or "91.20% (mean of 3 seeds)" where several seeds were run."""
    a, n = mean_accuracy(full, name)
    return f"{a:.2f}%" + (f" (mean of {n} seeds)" if n > 1 else "")


def verdict(full: dict) -> str:
    """The tree against the base and the control of its size, its time, its parallel
    training, and Ioannou et al.'s two LeNets; then the targets."""
    setup = full["setup"]
    n = names(setup["k_main"])
    tree, base, control = n["tree"], n["base"], n["control"]
    met = words.targets(full)
    soft = (
        f"; {accuracy(full, SOFT)} with every branch mixed at test"
        if SOFT in full["accuracy"]
        else ""
    )
    return (
        f"the tree of {setup['k_main']} specialists reaches {accuracy(full, tree)} at "
        f"{full['macs_ratio']:.2f}x the base's MACs, against {accuracy(full, base)} for "
        f"the base and {accuracy(full, control)} for the control of the same size; "
        f"over {len(setup['seeds'])} seed(s) it gains {full['gain_over_base_pt']:+.2f} "
        f"pt over the base (from {full['spread_over_base_pt'][0]:+.2f} to "
        f"{full['spread_over_base_pt'][1]:+.2f}) and "
        f"{full['gain_over_control_pt']:+.2f} pt over the control (from "
        f"{full['spread_over_control_pt'][0]:+.2f} to "
        f"{full['spread_over_control_pt'][1]:+.2f}). Its batch-256 time is "
        f"{full['time_ratio_b256']:.2f}x the base's and its batch-1 latency "
        f"{full['latency_ratio_b1']:.2f}x the control's; its specialists, trained in "
        f"two worker processes, went at {full['parallel']['speedup']:.2f}x the speed of "
        "one process training them one after the other (above 1: the workers were "
        f"faster). The conditional LeNet reaches {accuracy(full, n['explicit'])} (tested "
        f"on its single best branch, trained on the soft mixture{soft}) and its filter "
        f"groups {accuracy(full, n['implicit'])}, both trained {setup['cond_epochs']} "
        f"epochs (the specialists {setup['epochs']}). Targets: {met}."
    )
