"""Building the entries of a results file from plain numbers.

Used by every chapter (through :mod:`condcomp_lib.results_schema`, which offers these
names and checks what they build) and by the studies. An entry describes one network at
one operating point; its fields are listed in :mod:`condcomp_lib.results_schema`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def entry(
    name: str,
    *,
    chapter: str,
    role: str,
    baseline: str,
    accuracy: float | Sequence[float] | Mapping[object, float],
    macs: float,
    baseline_macs: float,
    latency_b1: tuple[float, float] | None = None,
    throughput_b256: tuple[float, float] | None = None,
    latency_b1_ratio: float | None = None,
    throughput_b256_ratio: float | None = None,
    params: int | None = None,
    note: str | None = None,
    budget: tuple[int, int] | None = None,
) -> dict:
    """One entry from plain numbers; the stamp is added when the file is saved.

    ``accuracy`` is a fraction, or the fractions of several seeds (a list, or a dict
    seed -> fraction): their mean, spread and count are stored. ``latency_b1`` is the
    pair (baseline's batch-1 time, this entry's), ``throughput_b256`` the pair
    (baseline's batch-256 throughput, this entry's), both from the same run; a chapter
    that measured the ratio itself (interleaved rounds) passes ``latency_b1_ratio`` or
    ``throughput_b256_ratio`` instead. ``budget`` is (epochs, training images), for
    the claims that compare entries to check that their arms trained alike."""
    if isinstance(accuracy, Mapping):
        accuracy = list(accuracy.values())
    one = isinstance(accuracy, (int, float)) or getattr(accuracy, "ndim", None) == 0
    accs = [float(accuracy)] if one else [float(a) for a in accuracy]
    if latency_b1 is not None:
        if latency_b1_ratio is not None:
            raise ValueError(f"{name}: give latency_b1 or latency_b1_ratio, not both")
        latency_b1_ratio = latency_b1[0] / latency_b1[1]
    if throughput_b256 is not None:
        if throughput_b256_ratio is not None:
            raise ValueError(f"{name}: give throughput_b256 or its ratio, not both")
        throughput_b256_ratio = throughput_b256[1] / throughput_b256[0]
    out = {
        "name": name,
        "chapter": chapter,
        "role": role,
        "baseline": baseline,
        "accuracy": {
            "mean": float(sum(accs) / len(accs)) if accs else math.nan,
            "spread": float(max(accs) - min(accs)) if len(accs) > 1 else None,
            "seeds": len(accs),
        },
        "macs": {"mean": float(macs), "relative": float(macs) / float(baseline_macs)},
        "latency_b1_ratio": _float_or_none(latency_b1_ratio),
        "throughput_b256_ratio": _float_or_none(throughput_b256_ratio),
        "params": None if params is None else int(params),
    }
    if note:
        out["note"] = note
    if budget is not None:
        out["budget"] = {"epochs": int(budget[0]), "train_images": int(budget[1])}
    return out


def stamped(methods: list[dict], device: str, commit: str, profile: str) -> list[dict]:
    """The entries with the file's stamp copied into each."""
    stamp = {"device": device, "commit": commit, "profile": profile}
    return [{**m, **stamp} for m in methods]


def _float_or_none(x) -> float | None:
    return None if x is None else float(x)
