"""CondConv against the static LeNet at several training budgets: does the paper's gain
appear with more training?

    python scripts/condconv_budget.py [--epochs 1 5 15 45] [--models static 4 8]
                                      [--seeds 0 1 2] [--threads 2]

Chapter 3 trains the networks for the baselines' budget (15 epochs on 55,000 images) and
finds no gain from the experts; the paper trains on ImageNet for far longer. This study
trains the static thick LeNet and CondConv with n experts (n = 4, 8) for each budget and
seed, with the baselines' recipe, and records test and validation accuracy.

Every run is kept as soon as it ends, in two places: the trained network in the cache
(``.cache/``) and its numbers in ``results/03_condconv_budget.json``. A run already in the
results file is skipped, so the study can be stopped and resumed, also on another day;
each run records the machine and commit it was made on. The runs go cheapest budget
first, and within a budget seed by seed, so a study cut short still has complete budgets.
On two CPU threads one epoch takes about 65 s (static) and 90 s (CondConv); the default
plan (1, 5, 15 and 45 epochs, three seeds of three models) is about 14 hours.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from condcomp_lib import bench, cache, data, models, results_schema, train  # noqa: E402
from condcomp_lib.methods import condconv  # noqa: E402

STUDY = "03_condconv_budget"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, nargs="+", default=[1, 5, 15, 45])
    p.add_argument("--models", nargs="+", default=["static", "4", "8"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    for m in args.models:
        if m != "static" and not (m.isdigit() and int(m) >= 1):
            p.error(f"a model is 'static' or a number of experts, got {m!r}")
    if min(args.epochs) < 1:
        p.error(f"epochs must be at least 1, got {args.epochs}")
    return args


def train_one(model: str, ds, epochs: int, seed: int):
    """(trained network, info): the static LeNet or CondConv, from the cache if there."""
    if model == "static":
        return models.baseline("thick", ds, "full", seed=seed, epochs=epochs)
    return condconv.trained(int(model), ds, "full", seed=seed, epochs=epochs)


def label(model: str, epochs: int) -> str:
    kind = "static LeNet" if model == "static" else f"CondConv, n = {model}"
    return f"{kind}, {epochs} epoch{'s' if epochs > 1 else ''}"


def methods_of(runs: list[dict], device: str, commit: str) -> list[dict]:
    """The study's entries in the results schema: one per (model, epochs), its accuracy
    over the seeds run so far, against the static LeNet at the same epochs (a budget
    without a static run has no entries yet). Nothing here is timed."""
    accs: dict[tuple[str, int], dict[int, float]] = {}
    for r in runs:
        accs.setdefault((r["model"], r["epochs"]), {})[r["seed"]] = r["test_acc"]

    def n_of(model: str) -> int:
        return 0 if model == "static" else int(model)

    def macs(model: str) -> int:
        return sum(condconv.lenet_macs(models.THICK, n_of(model)).values())

    def params(model: str) -> int:
        net = (
            models.LeNet(models.THICK)
            if model == "static"
            else condconv.CondLeNet(models.THICK, int(model))
        )
        return sum(p.numel() for p in net.parameters())

    out = []
    for m, e in sorted(accs, key=lambda k: (k[1], n_of(k[0]))):
        if ("static", e) not in accs:
            continue
        stamps = {
            (r["device"], r["commit"])
            for r in runs
            if (r["model"], r["epochs"]) == (m, e)
        }
        out.append(
            results_schema.entry(
                label(m, e),
                chapter=STUDY,
                role="dense" if m == "static" else "control" if m == "1" else "method",
                baseline=label("static", e),
                accuracy=[accs[m, e][s] for s in sorted(accs[m, e])],
                macs=macs(m),
                baseline_macs=macs("static"),
                params=params(m),
                note=None
                if stamps <= {(device, commit)}
                else "seeds run on other machines or commits: see each run in runs",
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    device = bench.device_name("cpu")
    done = cache.load_results(STUDY) or {"runs": []}
    have = {(r["model"], r["epochs"], r["seed"]) for r in done["runs"]}
    plan = [
        (m, e, s)
        for e in sorted(args.epochs)
        for s in args.seeds
        for m in args.models
        if (m, e, s) not in have
    ]
    print(f"{len(have)} run(s) on record, {len(plan)} to go")
    ds = data.load_fashion_mnist(seed=0)
    for i, (m, e, s) in enumerate(plan, 1):
        t0 = time.perf_counter()
        commit = cache.current_commit()  # the code the run starts from, not where it ends
        net, info = train_one(m, ds, e, s)
        run = {
            "model": m,
            "epochs": e,
            "seed": s,
            "test_acc": train.evaluate(net, ds.test),
            "val_acc": train.evaluate(net, ds.val),
            "train_images": info["train_samples"],
            "train_seconds": info.get("train_seconds", time.perf_counter() - t0),
            "device": device,
            "threads": args.threads,
            "date": datetime.date.today().isoformat(),
            "commit": commit,
        }
        done["runs"].append(run)
        # rewritten after every run: a study cut short keeps what it finished
        methods = methods_of(done["runs"], device, commit)
        note = {} if methods else {"methods_note": "no budget has its static run yet"}
        cache.save_results(
            STUDY, {"runs": done["runs"], **note}, device=device, methods=methods
        )
        print(
            f"[{i}/{len(plan)}] {m:>6} {e:>3} epoch(s) seed {s}: test "
            f"{100 * run['test_acc']:.2f}% ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
