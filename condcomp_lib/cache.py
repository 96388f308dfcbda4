"""Where trained models and measured results live between chapters.

Used by every chapter that trains. Trained models go to a git-ignored cache, ``.cache/``
in the repository (or ``$CONDCOMP_CACHE``), so that a later chapter can load chapter 0's
baselines instead of training them again. Full-profile measurements go to
``results/<chapter>.json``, stamped with the date, the device and the commit, in the
schema of ``results_schema``; each chapter shows its committed file beside the numbers of
the profile it ran in.

A model is saved with a small JSON of what produced it; a file that fails to load is
treated as missing (and retrained by the caller), never half-used."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

import torch

from condcomp_lib import results_schema

ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    d = Path(os.environ.get("CONDCOMP_CACHE", ROOT / ".cache"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def save_model(key: str, model: torch.nn.Module, info: dict) -> Path:
    """Save ``model``'s weights and ``info`` under ``key``; written atomically."""
    path = cache_dir() / f"{key}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": model.state_dict(), "info": info}, tmp)
    tmp.replace(path)
    return path


def write_atomically(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` so that the file is either the old one or the whole new
    one: written to a temporary file in the same folder, then renamed over ``path`` (a
    rename within one file system is atomic). A stop part-way (Ctrl-C at the end of an
    hour-long run, a full disk) leaves the old file as it was and no temporary file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it the file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def checkpoint_path(key: str) -> Path:
    """Where the training of the model cached under ``key`` keeps its last finished
    epoch, so that a run stopped part-way resumes there (``train.fit``)."""
    return cache_dir() / f"{key}.partial.pt"


def load_model(key: str, build: Callable[[], torch.nn.Module]):
    """(model, info) for ``key`` from the cache, or None if it is missing or
    unreadable."""
    path = cache_dir() / f"{key}.pt"
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        model = build()
        model.load_state_dict(blob["state_dict"])
    except Exception as e:  # a stale or corrupt file: the caller retrains
        print(f"cache: ignoring {path.name} ({type(e).__name__}: {e})")
        return None
    return model.eval(), blob["info"]


def cached(
    key: str,
    build: Callable[[], torch.nn.Module],
    train: Callable[[], tuple[torch.nn.Module, dict]],
    retrain: bool = False,
    usable: Callable[[dict], bool] = lambda info: True,
):
    """(model, info) for ``key`` from the cache; trained with ``train()`` and saved first
    if missing, if ``retrain``, or if ``usable(info)`` rejects what the cache holds (a
    model built on weights that have changed since)."""
    if not retrain:
        hit = load_model(key, build)
        if hit is not None and usable(hit[1]):
            return hit
    model, info = train()
    save_model(key, model, info)
    return model, info


def current_commit() -> str:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def save_results(
    chapter: str,
    results: dict,
    device: str,
    *,
    profile: str = "full",
    wall_clock_s: float | None = None,
    methods: list[dict] | None = None,
) -> Path:
    """Write ``results/<chapter>.json`` stamped with date, device, commit and profile.

    ``methods`` are the chapter's entries (built with ``results_schema.entry``); each gets
    the file's stamp. The file is checked against the schema of ``results_schema`` before
    it is written: a bad entry fails here, naming the field, and nothing is written. A
    chapter that trains no network (a systems chapter) passes ``methods=[]`` and says why
    in ``results["methods_note"]``."""
    if methods is None:
        raise ValueError(
            f"{chapter}: every results file has its entries; pass methods=[] for a "
            "chapter that measures no network"
        )
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    commit = current_commit()
    stamped = {
        "chapter": chapter,
        "date": datetime.date.today().isoformat(),
        "device": device,
        "commit": commit,
        "torch": torch.__version__,
        "profile": profile,
        "wall_clock_s": None if wall_clock_s is None else float(wall_clock_s),
        **results,
    }
    path = out / f"{chapter}.json"
    stamped["methods"] = results_schema.stamped(methods, device, commit, profile)
    results_schema.validate(stamped, f"results/{path.name}")
    return write_atomically(path, json.dumps(stamped, indent=2) + "\n")


def load_results(chapter: str) -> dict | None:
    """The stamped results of a chapter's last full run, or None."""
    path = ROOT / "results" / f"{chapter}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def run_stamp(results: dict) -> str:
    """Where and when a stored run was made, for the line above its numbers."""
    return (
        f"committed full-profile run of {results['date']} at commit {results['commit']}, "
        f"{results['device']}, torch {results['torch']}"
    )


def full_results_to_show(chapter: str, profile: str) -> dict | None:
    """The committed full-profile results to show beside a run in ``profile``, or None.

    None when the run is itself the full profile (its own numbers are the ones to read) or
    when no full run has been committed; either way a line says so, and the stamp is
    printed above the results otherwise."""
    if profile == "full":
        print("this run is the full profile: its numbers are the ones above")
        return None
    results = load_results(chapter)
    print(
        run_stamp(results)
        if results is not None
        else "no full-profile results committed yet: run `make reproduce`"
    )
    return results
