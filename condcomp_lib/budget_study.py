"""A budget study: the same networks trained for several budgets and seeds, to see whether
a method's gain (or loss) against its baseline moves with training.

Used by ``scripts/condconv_budget.py`` (chapter 3) and ``scripts/cigt_budget.py``
(chapter 4). A chapter trains for the baselines' budget; a paper usually trains far
longer, and some claims (CondConv's gain, CIGT's routers hardening) may need that budget
to show. A study answers with a curve of accuracy against epochs, as far as the machine
allows.

Every run is kept as soon as it ends, in two places: the trained network in the cache
(``.cache/``, where a chapter run at the same budget finds it) and its numbers in
``results/<study>.json``. A run already in the results file is skipped, so a study can be
stopped and resumed, also on another day; each run records the machine and the commit it
started from. The runs go cheapest budget first, and within a budget seed by seed, so a
study cut short still has complete budgets. A static or CondConv LeNet whose training is
stopped part-way also keeps its last finished epoch in the cache
(:func:`~condcomp_lib.cache.checkpoint_path`) and resumes after it, ending with the
weights an unbroken run would have; CIGT's trellises start their run again.
"""

from __future__ import annotations

import argparse
import datetime
import time
from dataclasses import dataclass
from typing import Callable

import torch

from condcomp_lib import bench, cache, data, results_schema, train


@dataclass(frozen=True)
class Study:
    """What a study trains and how it scores it.

    ``train(model, ds, epochs, seed) -> (net, info)`` trains (or loads from the cache)
    one network, ``info["train_seconds"]`` its training time if known; ``score(model,
    net, ds, seed) -> dict`` measures it (``test_acc`` and ``val_acc`` at least; more
    fields are kept);
    ``methods(runs, device, commit) -> list`` builds the results schema's entries from
    the runs on record."""

    name: str  # the results file, results/<name>.json
    models: tuple[str, ...]  # the default models, in the order they run
    epochs: tuple[int, ...]  # the default budgets
    train: Callable
    score: Callable
    methods: Callable
    is_model: Callable[[str], bool]  # which model names the study can train
    model_help: str  # how to name one, for the error message
    seeds: tuple[int, ...] = (0, 1, 2)
    # said in the results file while ``methods`` gives no entries
    no_entries: str = "no budget has its baseline run yet"


def parse(
    study: Study, argv: list[str] | None, description: str = ""
) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, nargs="+", default=list(study.epochs))
    p.add_argument("--models", nargs="+", default=list(study.models))
    p.add_argument("--seeds", type=int, nargs="+", default=list(study.seeds))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    for m in args.models:
        if not study.is_model(m):
            p.error(f"a model is {study.model_help}, got {m!r}")
    if min(args.epochs) < 1:
        p.error(f"epochs must be at least 1, got {args.epochs}")
    return args


def test_and_val(net, ds) -> dict:
    """The two accuracies every run records: on the test and on the validation split."""
    return {
        "test_acc": train.evaluate(net, ds.test),
        "val_acc": train.evaluate(net, ds.val),
    }


def plan(
    runs: list[dict], models: list[str], epochs: list[int], seeds: list[int]
) -> list[tuple[str, int, int]]:
    """The (model, epochs, seed) runs not yet on record: cheapest budget first, then seed
    by seed, the models of one seed together."""
    have = {(r["model"], r["epochs"], r["seed"]) for r in runs}
    return [
        (m, e, s)
        for e in sorted(set(epochs))
        for s in seeds
        for m in models
        if (m, e, s) not in have
    ]


def gaps(
    runs: list[dict], model: str, baseline: str, field: str = "test_acc"
) -> dict[int, tuple[float, int]]:
    """For each budget where both ran on a common seed: the mean over those seeds of
    ``model``'s ``field`` minus ``baseline``'s on the same seed, in points, and how many
    seeds that is. Pairing by seed keeps a budget whose seeds are not all run yet from
    comparing one seed's luck with another's."""
    by = {(r["model"], r["epochs"], r["seed"]): r[field] for r in runs}
    out = {}
    for e in sorted({r["epochs"] for r in runs}):
        seeds = sorted(
            s for m, e2, s in by if m == model and e2 == e and (baseline, e, s) in by
        )
        if seeds:
            diffs = [100 * (by[model, e, s] - by[baseline, e, s]) for s in seeds]
            out[e] = (sum(diffs) / len(diffs), len(seeds))
    return out


def run(study: Study, argv: list[str] | None = None, description: str = "") -> int:
    """Train and record every planned run of ``study``; the command line's entry."""
    args = parse(study, argv, description)
    torch.set_num_threads(args.threads)
    device = bench.device_name("cpu")
    done = cache.load_results(study.name) or {"runs": []}
    todo = plan(done["runs"], args.models, args.epochs, args.seeds)
    print(f"{len(done['runs'])} run(s) on record, {len(todo)} to go", flush=True)
    ds = data.load_fashion_mnist(seed=0)
    for i, (m, e, s) in enumerate(todo, 1):
        t0 = time.perf_counter()
        commit = cache.current_commit()  # the code the run starts from, not where it ends
        net, info = study.train(m, ds, e, s)
        record = {
            "model": m,
            "epochs": e,
            "seed": s,
            **study.score(m, net, ds, s),
            "train_images": info["train_samples"],
            # None for a network an older run cached without its time
            "train_seconds": info.get("train_seconds"),
            "device": device,
            "threads": args.threads,
            "date": datetime.date.today().isoformat(),
            "commit": commit,
        }
        done["runs"].append(record)
        # rewritten after every run: a study cut short keeps what it finished
        methods = study.methods(done["runs"], device, commit)
        note = {} if methods else {"methods_note": study.no_entries}
        cache.save_results(
            study.name, {"runs": done["runs"], **note}, device=device, methods=methods
        )
        print(
            f"[{i}/{len(todo)}] {m:>16} {e:>3} epoch(s) seed {s}: test "
            f"{100 * record['test_acc']:.2f}% ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    return 0


def entries(
    runs: list[dict],
    *,
    study: str,
    baseline: str,
    label: Callable[[str, int], str],
    role: Callable[[str], str],
    macs: Callable[[str], float],
    params: Callable[[str], int],
    order: Callable[[str], object],
    device: str,
    commit: str,
) -> list[dict]:
    """A study's entries in the results schema: one per (model, epochs) on record, its
    accuracy over the seeds run so far, against the ``baseline`` model at the same
    epochs (a budget without a baseline run has no entries yet). ``label(model,
    epochs)`` names an entry, ``role``, ``macs`` and ``params`` describe a model and
    ``order`` sorts the models of a budget. Nothing in a study is timed."""
    accs: dict[tuple[str, int], dict[int, float]] = {}
    for r in runs:
        accs.setdefault((r["model"], r["epochs"]), {})[r["seed"]] = r["test_acc"]
    out = []
    for m, e in sorted(accs, key=lambda k: (k[1], order(k[0]))):
        if (baseline, e) not in accs:
            continue
        stamps = {
            (r["device"], r["commit"])
            for r in runs
            if (r["model"], r["epochs"]) == (m, e)
        }
        out.append(
            results_schema.entry(
                label(m, e),
                chapter=study,
                role=role(m),
                baseline=label(baseline, e),
                accuracy=[accs[m, e][s] for s in sorted(accs[m, e])],
                macs=macs(m),
                baseline_macs=macs(baseline),
                params=params(m),
                note=None
                if stamps <= {(device, commit)}
                else "seeds run on other machines or commits: see each run in runs",
            )
        )
    return out
