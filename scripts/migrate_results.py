"""Bring results files written before the results schema into it.

    python scripts/migrate_results.py [results/04_cigt.json ...]

With no argument, every ``results/*.json``. To each file that has no ``methods`` yet this
adds ``profile`` ("full": the committed files are full-profile runs), ``wall_clock_s``
(null: the older runs did not record it) and ``methods``, the entries of
``condcomp_lib.results_schema``, read from the fields the chapter's save cell wrote, one
reader per chapter below. Every field already there is kept as it is. A ratio of times is
only filled in where the file holds both times (or their ratio) from the same run; it is
null otherwise. A file already in the schema is checked and left alone, so running this
twice changes nothing.

Accuracies the chapters saved in percent (chapters 1, 2, 6 and 8) are divided by 100.
Three files lack a count that does not depend on the run: the CondConv budget study's
MACs and parameters, and chapter 9's MACs of the thick LeNet and of LKAM beyond its
convolutions; these are counted from the networks' definitions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from condcomp_lib import cache, cost, models, results_schema  # noqa: E402
from condcomp_lib.results_schema import entry  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOISY = "timings from a noisy run"
READERS = {}


def reads(chapter: str):
    """Register the function that reads ``chapter``'s entries."""

    def register(fn):
        READERS[chapter] = fn
        return fn

    return register


def _note(*parts) -> str | None:
    return "; ".join(p for p in parts if p) or None


def _pair(base: dict | None, this: dict | None, key: str) -> tuple | None:
    """(baseline's value, this entry's) of one timing field, when the run has both."""
    if base is None or this is None or key not in base or key not in this:
        return None
    return base[key], this[key]


@reads("00_baselines")
def _baselines(r: dict) -> list[dict]:
    b = r["baselines"]
    thick = b["thick"]
    return [
        entry(
            f"{n} LeNet",
            chapter=r["chapter"],
            role="dense",
            baseline="thick LeNet",
            accuracy=v["test_acc"],
            macs=v["macs"],
            baseline_macs=thick["macs"],
            latency_b1=_pair(thick, v, "latency_b1_ms"),
            throughput_b256=_pair(thick, v, "throughput_b256"),
            params=v["params"],
            note=NOISY if r.get("timing_noisy") else None,
        )
        for n, v in b.items()
    ]


@reads("01_early_exit")
def _early_exit(r: dict) -> list[dict]:
    op, acc, exits = r["operating_point"], r["accuracy"], r["exit_macs"]
    dense, ch = op["dense_macs"], r["chapter"]
    noisy = NOISY if op.get("timing_noisy") else None
    dense_time = {"ms": op["dense_latency_ms"], "thr": op["dense_throughput"]}
    op_time = {"ms": op["latency_ms"], "thr": op["throughput"]}
    return [
        entry(
            "thick LeNet",
            chapter=ch,
            role="dense",
            baseline="thick LeNet",
            accuracy=acc["baseline"] / 100,
            macs=dense,
            baseline_macs=dense,
            latency_b1=_pair(dense_time, dense_time, "ms"),
            throughput_b256=_pair(dense_time, dense_time, "thr"),
            note=noisy,
        ),
        entry(
            f"B-LeNet, entropy T = {op['T']:g}",
            chapter=ch,
            role="method",
            baseline="thick LeNet",
            accuracy=op["accuracy"] / 100,
            macs=op["mean_macs"],
            baseline_macs=dense,
            latency_b1=_pair(dense_time, op_time, "ms"),
            throughput_b256=_pair(dense_time, op_time, "thr"),
            note=_note(f"operating point T = {op['T']:g}", noisy),
        ),
        entry(
            "B-LeNet, first exit only",
            chapter=ch,
            role="control",
            baseline="thick LeNet",
            accuracy=acc["early_exit_alone"] / 100,
            macs=exits[0],
            baseline_macs=dense,
        ),
        entry(
            "B-LeNet, final exit only",
            chapter=ch,
            role="control",
            baseline="thick LeNet",
            accuracy=acc["final_exit_alone"] / 100,
            macs=exits[-1],
            baseline_macs=dense,
        ),
    ]


@reads("02_adaptive_networks")
def _adaptive(r: dict) -> list[dict]:
    ex, sel, timing, ch = r["exit_policy"], r["selection"], r["timing"], r["chapter"]
    dense = sel["thick_macs"]

    def timed(prefix: str) -> dict:
        key = next((k for k in timing if k.startswith(prefix)), None)
        if key is None:
            return {}
        return {
            "latency_b1_ratio": timing[key]["batch-1 speed-up"],
            "throughput_b256_ratio": timing[key]["batch-256 speed-up"],
        }

    def point(name, role, accuracy_pct, macs, prefix=None, note=None):
        return entry(
            name,
            chapter=ch,
            role=role,
            baseline="thick LeNet",
            accuracy=accuracy_pct / 100,
            macs=macs,
            baseline_macs=dense,
            note=note,
            **(timed(prefix) if prefix else {}),
        )

    lam, lam_sel, T = ex["lambda"], sel["lambda"], ex["T_entropy"]
    return [
        point("thick LeNet", "dense", sel["thick_accuracy"], dense, "thick LeNet"),
        point("thin LeNet", "dense", sel["thin_accuracy"], sel["thin_macs"]),
        point(
            f"B-LeNet, entropy T = {T:g}",
            "method",
            ex["entropy"]["accuracy (%)"],
            ex["entropy"]["mean MACs"],
            "B-LeNet, entropy",
            f"operating point T = {T:g}",
        ),
        point(
            f"B-LeNet, policy λ = {lam:g}",
            "method",
            ex["policy"]["accuracy (%)"],
            ex["policy"]["mean MACs"],
            "B-LeNet, policy",
            f"cost weight λ = {lam:g}, chosen on the validation split",
        ),
        point(
            f"thin -> thick, policy λ = {lam_sel:g}",
            "method",
            sel["policy"]["accuracy (%)"],
            sel["policy"]["mean MACs"],
            "thin -> thick",
            f"cost weight λ = {lam_sel:g}",
        ),
    ]


@reads("03_condconv")
def _condconv(r: dict) -> list[dict]:
    ms = r["models"]
    static = ms["static"]
    roles = {"static": "dense", "1": "control"}
    notes = {"1": "one expert: a per-sample gate and nothing to mix"}
    return [
        entry(
            "static LeNet" if k == "static" else f"CondConv, n = {k}",
            chapter=r["chapter"],
            role=roles.get(k, "method"),
            baseline="static LeNet",
            accuracy=v["test_acc_per_seed"],
            macs=v["macs"],
            baseline_macs=static["macs"],
            latency_b1=_pair(static, v, "latency_b1_ms"),
            throughput_b256=_pair(static, v, "throughput_b256"),
            params=v["params"],
            note=notes.get(k),
        )
        for k, v in ms.items()
    ]


@reads("03_condconv_budget")
def _condconv_budget(r: dict) -> list[dict]:
    import condconv_budget

    return condconv_budget.methods_of(r["runs"], r["device"], r["commit"])


@reads("04_cigt")
def _cigt(r: dict) -> list[dict]:
    ms = r["models"]
    thick = ms["thick"]
    roles = {"thick": "dense", "thin": "dense", "random routing": "control"}
    names = {"thick": "thick LeNet", "thin": "thin LeNet"}
    notes = {"random routing": "CIGT's trellis with random routes"}
    return [
        entry(
            names.get(k, k),
            chapter=r["chapter"],
            role=roles.get(k, "method"),
            baseline="thick LeNet",
            accuracy=v["test_acc_per_seed"],
            macs=v["macs"],
            baseline_macs=thick["macs"],
            latency_b1=_pair(thick, v, "latency_b1_ms"),
            throughput_b256=_pair(thick, v, "throughput_b256"),
            params=v.get("params"),
            note=notes.get(k),
        )
        for k, v in ms.items()
    ]


ROUTED_EXECUTION_NOTE = (
    "a systems chapter: it times routed operators and the other chapters' networks on "
    "fixed inputs and trains nothing, so it measures no accuracy"
)


@reads("06_block_policies")
def _block_policies(r: dict) -> list[dict]:
    rows, per_seed, ch = r["rows"], r["accuracy_per_seed"], r["chapter"]
    times = {
        row["network"].removesuffix(", time"): row
        for row in rows
        if row["network"].endswith(", time")
    }
    measured = [row for row in rows if not row["network"].endswith(", time")]
    dense = next(row for row in measured if row["network"] == "dense MLP")
    main_random = next((n for n in times if n.startswith("random tau=")), None)
    tau = main_random.removeprefix("random tau=") if main_random else None
    # the rows measured on every seed (the target rate tau_main), and their timing rows
    main = {
        "dense MLP": ("dense", "dense MLP"),
        f"random tau={tau}": ("random", f"random tau={tau}"),
        f"learned tau={tau} (sampled)": ("learned (sampled)", "learned (sampled)"),
        f"learned tau={tau} (thresholded)": (
            "learned (thresholded)",
            "learned (thresholded)",
        ),
    }
    noisy = NOISY if r.get("timing_noisy") else None
    out = []
    for row in measured:
        n = row["network"]
        seeds_key, time_key = main.get(n, (None, None))
        this, base = times.get(time_key), times.get("dense MLP")
        timing = {
            "latency_b1": _pair(base, this, "batch-1 latency (ms)"),
            "throughput_b256": _pair(base, this, "batch-256 throughput (img/s)"),
        }
        if time_key == "learned (sampled)" and "speedup_b1" in r:  # interleaved ratios
            timing = {
                "latency_b1_ratio": r["speedup_b1"],
                "throughput_b256_ratio": r["speedup_b256"],
            }
        out.append(
            entry(
                n,
                chapter=ch,
                role="dense"
                if n == "dense MLP"
                else "control"
                if "random" in n
                else "method",
                baseline="dense MLP",
                accuracy=per_seed[seeds_key]
                if seeds_key in per_seed
                else row["test accuracy (%)"] / 100,
                macs=row["MACs per sample"],
                baseline_macs=dense["MACs per sample"],
                note=noisy if this is not None else None,
                **timing,
            )
        )
    return out


@reads("07_activity_specialization")
def _activity(r: dict) -> list[dict]:
    keys = {"(a)": "generic", "(b)": "dense", "(c)": "learned", "(d)": "random"}
    keys["(e)"] = "every"
    roles = {"generic": "dense", "dense": "dense", "learned": "method"}
    rows, ch = r["rows"], r["chapter"]
    measured = [row for row in rows if "test accuracy (%)" in row]
    dense = next(
        row["network"] for row in measured if keys[row["network"][:3]] == "dense"
    )
    times = {row["network"]: row for row in rows if "batch-1 time (ms)" in row}
    dense_whole = next(
        (t for n, t in times.items() if n.startswith("(b) dense, whole")), None
    )
    union_whole = next(
        (t for n, t in times.items() if n.startswith("(c) by union, whole")), None
    )
    out = []
    for row in measured:
        key = keys[row["network"][:3]]
        out.append(
            entry(
                row["network"],
                chapter=ch,
                role=roles.get(key, "control"),
                baseline=dense,
                accuracy=r["accuracy"][key],
                macs=r["macs"][key],
                baseline_macs=r["macs"]["dense"],
                latency_b1=_pair(dense_whole, dense_whole, "batch-1 time (ms)")
                if key == "dense"
                else None,
                note={
                    "generic": "the small network on the 28x28 image",
                    "learned": "executed group by group; only the full-resolution part "
                    "was timed in this way (speedup_part_b1, speedup_part_b64)",
                    "every": "every (group, tile) item on",
                }.get(key),
            )
        )
    out.append(
        entry(
            "(c) specialized, executed by union",
            chapter=ch,
            role="method",
            baseline=dense,
            accuracy=r["accuracy"]["learned"],
            macs=r["macs_union"],
            baseline_macs=r["macs"]["dense"],
            latency_b1=_pair(dense_whole, union_whole, "batch-1 time (ms)"),
            note=_note(
                "the same network as (c), each layer run on the union of the groups' "
                "tiles; whole networks timed at batch 1 (and 64, not 256)",
                NOISY if r.get("timing_noisy") else None,
            ),
        )
    )
    return out


@reads("08_feature_cluster_trees")
def _cluster_trees(r: dict) -> list[dict]:
    acc, macs, ch = r["accuracy"], r["macs"], r["chapter"]
    by_seed = r["by_seed"]
    per_seed = {c: [rec[c] / 100 for rec in by_seed] for c in by_seed[0] if c != "seed"}
    times = {
        row["network"].removesuffix(", time"): row
        for row in r["rows"]
        if row["network"].endswith(", time")
    }
    noisy = NOISY if r.get("timing_noisy") else None

    def role(n: str) -> str:
        if n == "base" or n.startswith("every specialist"):
            return "dense"
        return "control" if n.startswith("control") else "method"

    out = []
    for n in acc:
        this, base = times.get(n), times.get("base")
        out.append(
            entry(
                n,
                chapter=ch,
                role=role(n),
                baseline="base",
                accuracy=per_seed.get(n, acc[n]),
                macs=macs[n],
                baseline_macs=macs["base"],
                latency_b1=_pair(base, this, "batch-1 latency (ms)"),
                throughput_b256=_pair(base, this, "batch-256 throughput (img/s)"),
                note=noisy if this is not None else None,
            )
        )
    return out


@reads("09_gates_and_cascades")
def _gates(r: dict) -> list[dict]:
    rows = cost.dense_costs(models.LeNet(models.THICK), (1, 28, 28))
    conv = sum(row.macs for row in rows if row.kind == "Conv2d")
    fc = sum(row.macs for row in rows if row.kind == "Linear")
    thick, ch = conv + fc, r["chapter"]
    lk = r["lkam"]
    best = max(lk, key=lambda g: -lk[g]["conv_fraction"])  # the gain the chapter timed

    def gated(name, role, m, timed=False, note=None):
        return entry(
            name,
            chapter=ch,
            role=role,
            baseline="thick LeNet",
            accuracy=m["acc"],
            macs=m["conv_fraction"] * conv + fc,
            baseline_macs=thick,
            latency_b1_ratio=r["speedup_b1"] if timed else None,
            throughput_b256_ratio=r["speedup_b256"] if timed else None,
            note=note,
        )

    out = [
        entry(
            "thick LeNet",
            chapter=ch,
            role="dense",
            baseline="thick LeNet",
            accuracy=r["thick_acc"],
            macs=thick,
            baseline_macs=thick,
            latency_b1_ratio=1.0,
            throughput_b256_ratio=1.0,
        )
    ]
    out += [gated(f"LKAM, gain {g}", "method", m, g == best) for g, m in lk.items()]
    out.append(gated("static pruning", "control", r["static"], note="half the groups"))
    for name, points in r["cascade"].items():
        for p in points:
            out.append(
                entry(
                    f"cascade, {name}, threshold {p['threshold']:g}",
                    chapter=ch,
                    role="method" if name == "with context" else "control",
                    baseline="thick LeNet",
                    accuracy=p["acc"],
                    macs=p["macs"],
                    baseline_macs=thick,
                )
            )
    return out


def migrate(results: dict) -> dict | None:
    """``results`` with the schema's fields added, or None if it has them already."""
    if "methods" in results:
        return None
    chapter = results["chapter"]
    if chapter == "05_routed_execution":
        methods, extra = [], {"methods_note": ROUTED_EXECUTION_NOTE}
    elif chapter in READERS:
        methods, extra = READERS[chapter](results), {}
    else:
        raise SystemExit(f"no reader for {chapter}: add one to {Path(__file__).name}")
    profile = results.get("profile", "full")
    out = {}
    for key, value in results.items():
        out[key] = value
        if key == "torch":  # where save_results puts them
            out.setdefault("profile", profile)
            out.setdefault("wall_clock_s", results.get("wall_clock_s"))
    out.setdefault("profile", profile)
    out.setdefault("wall_clock_s", None)
    out.update(extra)
    out["methods"] = results_schema.stamped(
        methods, results["device"], results["commit"], profile
    )
    return out


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "results").glob("*.json"))
    for path in paths:
        results = json.loads(path.read_text())
        migrated = migrate(results)
        if migrated is None:
            results_schema.validate_file(path)
            print(f"{path.name}: already in the schema")
            continue
        results_schema.validate(migrated, f"results/{path.name}")
        cache.write_atomically(path, json.dumps(migrated, indent=2) + "\n")
        print(f"{path.name}: {len(migrated['methods'])} entries added")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
