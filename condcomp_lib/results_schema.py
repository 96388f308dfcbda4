"""One schema for every committed ``results/<chapter>.json``, so that the chapters'
numbers can be read side by side.

Beside its own fields, which stay as the chapter wrote them, every results file has at
its top level the stamp ``chapter``, ``date``, ``device``, ``commit`` and ``torch``, and:

``profile``
    the profile the numbers come from ("full" for committed runs);
``wall_clock_s``
    seconds the chapter's run took, or null where it was not recorded (files from runs
    older than the schema);
``methods``
    a list of entries, one per network the chapter measured (below); a chapter that
    measures no accuracy (a systems chapter) has an empty list and says why in
    ``methods_note``.

An entry describes one network at one operating point:

``name``
    unique within the file;
``chapter``
    the file's chapter;
``role``
    "dense" (an ordinary network that computes everything), "method" (conditional
    computation), "control" (a non-learned or ablation control: random routing,
    static pruning, every branch on) or "frontier" (an ordinary network of one width
    of its family's static frontier, :mod:`condcomp_lib.frontier`);
``baseline``
    the name of the dense entry of the same file that ``macs.relative`` and the ratios
    refer to (a dense entry may name itself);
``accuracy``
    ``{"mean": fraction in [0, 1], "spread": max minus min over seeds (null with one
    seed), "seeds": how many}``;
``macs``
    ``{"mean": multiply-accumulates per sample as executed, "relative": mean over the
    baseline's mean}``;
``latency_b1_ratio``
    the baseline's batch-1 time over this entry's, both measured in the same run (above
    1: faster than the baseline), or null where the chapter did not time it;
``throughput_b256_ratio``
    this entry's batch-256 throughput over the baseline's, same run, or null;
``params``
    the number of parameters, or null;
``device``, ``commit``, ``profile``
    copies of the file's stamp;
``note`` (optional)
    a short remark: the operating point, a noisy timing;
``budget`` (optional for a method, dense network or control)
    how long it was trained, ``{"epochs": n, "train_images": n}``: a claim comparing
    two entries whose budgets differ is inconclusive (:mod:`condcomp_lib.claims`);
``family``, ``recipe``, ``budget`` (frontier entries, and only they)
    the network family's name ("lenet"), how it was trained (a short text) and for how
    long (``{"epochs": n, "train_images": n}``). Every entry of a family has the same
    recipe and budget, and a family has at least three widths: a frontier is a curve.

:func:`entry` builds an entry from plain numbers; :func:`validate` checks a file's
contents (``cache.save_results`` calls it before writing; :func:`check` checks a
chapter's entries in any profile); :func:`load_methods` reads every file's entries into
one table."""

from __future__ import annotations

import json
import math
from pathlib import Path

# the entries are built in results_entries and offered here, beside the checks
from .results_entries import entry, stamped  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("dense", "method", "control", "frontier")
STAMP = ("device", "commit", "profile")
ENTRY_FIELDS = (
    "name",
    "chapter",
    "role",
    "baseline",
    "accuracy",
    "macs",
    "latency_b1_ratio",
    "throughput_b256_ratio",
    "params",
    *STAMP,
)
OPTIONAL_FIELDS = ("note", "budget")
FRONTIER_FIELDS = ("family", "recipe", "budget")  # frontier entries' own, all required
MIN_WIDTHS = 3  # a frontier of fewer widths is not a curve to read a cost off


class ResultsSchemaError(ValueError):
    """A results file that does not follow the schema; the message names the file and
    the field."""


# ---------------------------------------------------------------- building entries


def check(chapter: str, methods: list[dict], profile: str = "full") -> list[dict]:
    """``methods`` checked now as ``cache.save_results`` will check them, stamp aside: a
    chapter run in the quick profile thus finds a bad entry of its full-profile save.
    Returns ``methods``."""
    stub = {"chapter": chapter, "device": "-", "commit": "-", "profile": profile}
    validate(
        {
            **stub,
            "wall_clock_s": None,
            "methods": stamped(methods, "-", "-", profile),
            "methods_note": "-",
        },
        f"results/{chapter}.json",
    )
    return methods


# ---------------------------------------------------------------- checking a file


def validate(results: dict, source: str) -> None:
    """Raise :class:`ResultsSchemaError` ("<source>: <field path>: <what is wrong>") at
    the first field of ``results`` that breaks the schema."""

    def fail(path: str, what: str):
        raise ResultsSchemaError(f"{source}: {path}: {what}")

    if not isinstance(results, dict):
        fail("(top level)", f"expected an object, got {type(results).__name__}")
    for key in ("chapter", "device", "commit", "profile"):
        if not isinstance(results.get(key), str) or not results[key]:
            fail(key, f"expected a non-empty string, got {results.get(key)!r}")
    if "wall_clock_s" not in results:
        fail("wall_clock_s", "missing (null when not recorded)")
    wall = results["wall_clock_s"]
    if wall is not None and not (_number(wall) and wall >= 0):
        fail("wall_clock_s", f"expected seconds (a number >= 0) or null, got {wall!r}")
    methods = results.get("methods")
    if not isinstance(methods, list):
        fail("methods", f"expected a list of entries, got {methods!r}")
    if not methods:
        note = results.get("methods_note")
        if not isinstance(note, str) or not note:
            fail("methods_note", "an empty methods list needs a note saying why")
    names = {}
    for i, m in enumerate(methods):
        p = f"methods[{i}]"
        if not isinstance(m, dict):
            fail(p, f"expected an object, got {m!r}")
        for key in ENTRY_FIELDS:
            if key not in m:
                fail(f"{p}.{key}", "missing")
        own = FRONTIER_FIELDS if m.get("role") == "frontier" else ()
        for key in own:
            if key not in m:
                fail(f"{p}.{key}", "missing (a frontier entry names its family)")
        for key in m:
            if key not in ENTRY_FIELDS + OPTIONAL_FIELDS + own:
                fail(f"{p}.{key}", "not a field of the schema")
        if not isinstance(m["name"], str) or not m["name"]:
            fail(f"{p}.name", f"expected a non-empty string, got {m['name']!r}")
        if m["name"] in names:
            fail(f"{p}.name", f"{m['name']!r} already names methods[{names[m['name']]}]")
        names[m["name"]] = i
    by_name = {m["name"]: m for m in methods}
    for i, m in enumerate(methods):
        _check_entry(m, f"methods[{i}]", results, by_name, fail)
        if "budget" in m and m["role"] != "frontier":
            _check_budget(m, f"methods[{i}]", fail)
    _check_families(methods, fail)


def _check_families(methods: list[dict], fail) -> None:
    """Every frontier family has at least :data:`MIN_WIDTHS` widths (distinct MACs), and
    all its entries share one recipe and one budget."""
    families: dict[str, list[tuple[int, dict]]] = {}
    for i, m in enumerate(methods):
        if m["role"] == "frontier":
            if not isinstance(m["family"], str) or not m["family"]:
                fail(f"methods[{i}].family", f"expected a name, got {m['family']!r}")
            if not isinstance(m["recipe"], str) or not m["recipe"]:
                fail(f"methods[{i}].recipe", f"expected a text, got {m['recipe']!r}")
            _check_budget(m, f"methods[{i}]", fail)
            families.setdefault(m["family"], []).append((i, m))
    for family, members in families.items():
        i0, first = members[0]
        for i, m in members[1:]:
            for key in ("recipe", "budget"):
                if m[key] != first[key]:
                    fail(
                        f"methods[{i}].{key}",
                        f"family {family!r} was trained with methods[{i0}]'s {key} "
                        f"{first[key]!r}, this entry with {m[key]!r}",
                    )
        widths = {m["macs"]["mean"] for _, m in members}
        if len(widths) < MIN_WIDTHS:
            fail(
                f"methods[{i0}].family",
                f"family {family!r} has {len(widths)} width(s); a frontier needs at "
                f"least {MIN_WIDTHS}",
            )


def _check_entry(m: dict, p: str, results: dict, by_name: dict, fail) -> None:
    for key in ("chapter", *STAMP):
        if m[key] != results[key]:
            fail(f"{p}.{key}", f"expected the file's {results[key]!r}, got {m[key]!r}")
    if m["role"] not in ROLES:
        fail(f"{p}.role", f"expected one of {', '.join(ROLES)}, got {m['role']!r}")
    base = by_name.get(m["baseline"])
    if base is None:
        fail(f"{p}.baseline", f"names no entry of the file: {m['baseline']!r}")
    if base["role"] not in ("dense", "frontier"):  # both are ordinary networks
        fail(f"{p}.baseline", f"{m['baseline']!r} is not a dense entry")
    acc = _object(m, "accuracy", ("mean", "spread", "seeds"), p, fail)
    if not (_number(acc["mean"]) and 0 <= acc["mean"] <= 1):
        fail(f"{p}.accuracy.mean", f"expected a number in [0, 1], got {acc['mean']!r}")
    seeds = acc["seeds"]
    if not (isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1):
        fail(f"{p}.accuracy.seeds", f"expected an integer >= 1, got {seeds!r}")
    spread = acc["spread"]
    if seeds == 1 and spread is not None:
        fail(f"{p}.accuracy.spread", f"expected null with one seed, got {spread!r}")
    if seeds > 1 and not (_number(spread) and 0 <= spread <= 1):
        fail(f"{p}.accuracy.spread", f"expected a number in [0, 1], got {spread!r}")
    macs = _object(m, "macs", ("mean", "relative"), p, fail)
    for key in ("mean", "relative"):
        if not (_number(macs[key]) and macs[key] > 0):
            fail(f"{p}.macs.{key}", f"expected a number > 0, got {macs[key]!r}")
    for key in ("latency_b1_ratio", "throughput_b256_ratio"):
        if m[key] is not None and not (_number(m[key]) and m[key] > 0):
            fail(f"{p}.{key}", f"expected a number > 0 or null, got {m[key]!r}")
    params = m["params"]
    if params is not None and not (
        isinstance(params, int) and not isinstance(params, bool) and params >= 0
    ):
        fail(f"{p}.params", f"expected an integer >= 0 or null, got {params!r}")
    if "note" in m and not (isinstance(m["note"], str) and m["note"]):
        fail(f"{p}.note", f"expected a non-empty string, got {m['note']!r}")
    base_macs = base["macs"].get("mean") if isinstance(base["macs"], dict) else None
    if not (_number(base_macs) and base_macs > 0):
        return  # the baseline's own entry is checked on its own
    expected = macs["mean"] / base_macs
    if not math.isclose(macs["relative"], expected, rel_tol=1e-6):
        fail(
            f"{p}.macs.relative",
            f"expected mean / {m['baseline']!r}'s mean = {expected:.6g}, "
            f"got {macs['relative']!r}",
        )


def _check_budget(m: dict, p: str, fail) -> None:
    """An entry's budget: epochs and training images, each an integer >= 1."""
    budget = _object(m, "budget", ("epochs", "train_images"), p, fail)
    for key, v in budget.items():
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            fail(f"{p}.budget.{key}", f"expected an integer >= 1, got {v!r}")


def _object(m: dict, key: str, fields: tuple, p: str, fail) -> dict:
    obj = m[key]
    if not isinstance(obj, dict):
        fail(f"{p}.{key}", f"expected an object, got {obj!r}")
    for f in fields:
        if f not in obj:
            fail(f"{p}.{key}.{f}", "missing")
    for f in obj:
        if f not in fields:
            fail(f"{p}.{key}.{f}", "not a field of the schema")
    return obj


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _source(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def validate_file(path: str | Path) -> dict:
    """The contents of a results file, checked against the schema."""
    try:
        results = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ResultsSchemaError(f"{_source(path)}: (file): not JSON ({e})") from e
    validate(results, _source(path))
    if results["chapter"] != Path(path).stem:
        raise ResultsSchemaError(
            f"{_source(path)}: chapter: expected the file's name "
            f"{Path(path).stem!r}, got {results['chapter']!r}"
        )
    return results


# ---------------------------------------------------------------- reading every file


def load_methods(root: str | Path | None = None):
    """Every entry of every results file in ``root`` (default: the book's ``results/``),
    one row each, checked against the schema first. The nested fields become columns:
    ``accuracy_mean``, ``accuracy_spread``, ``accuracy_seeds``, ``macs_mean``,
    ``macs_relative``; ``file`` names the file the row comes from."""
    import pandas as pd

    folder = Path(root) if root is not None else ROOT / "results"
    rows = []
    for path in sorted(folder.glob("*.json")):
        for m in validate_file(path)["methods"]:
            row = {k: v for k, v in m.items() if k not in ("accuracy", "macs")}
            row.update({f"accuracy_{k}": v for k, v in m["accuracy"].items()})
            row.update({f"macs_{k}": v for k, v in m["macs"].items()})
            row.setdefault("note", None)
            rows.append({"file": path.stem, **row})
    columns = [
        "file",
        "name",
        "chapter",
        "role",
        "baseline",
        "accuracy_mean",
        "accuracy_spread",
        "accuracy_seeds",
        "macs_mean",
        "macs_relative",
        "latency_b1_ratio",
        "throughput_b256_ratio",
        "params",
        "device",
        "commit",
        "profile",
        "note",
    ]
    table = pd.DataFrame(rows, columns=columns)
    table["params"] = table["params"].astype("Int64")  # null where not recorded
    return table
