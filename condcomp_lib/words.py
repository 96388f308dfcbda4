"""Phrases every chapter's generated sentences share.

Used by the ``*_words`` modules (the Summaries' verdicts) and :mod:`condcomp_lib.chapter`.
"""

from __future__ import annotations


def met(ok: bool) -> str:
    """How a target reads in the book's tables and sentences."""
    return "met" if ok else "not met"


def targets(results: dict, key: str = "targets", sep: str = " ", name=str) -> str:
    """A committed run's targets as a list: "target 1 met, target 2 not met";
    ``name`` rewrites a target's key, ``sep`` goes between it and its verdict."""
    return ", ".join(f"{name(k)}{sep}{met(v)}" for k, v in results[key].items())
