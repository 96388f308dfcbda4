"""What every chapter does around its own content, in one object.

Used by every chapter. A chapter starts a clock, sets the book's plotting style, its
threads, its seed, its profile and its device; at the end it checks its results entries
in every profile and writes them only in the full profile; it shows the committed
full-profile results beside a quick run, or says that none are committed; it states
targets as met or not met. Those lines were once repeated in every notebook. Here they
are written once and tested, so a chapter shows only what is new in it:

    ch = chapter.start("04_cigt", profile, seed=seed, device=device)
    ...
    ch.save({"objective": ...}, methods)        # checked always, written in "full"
    full = ch.committed()                       # the committed run, or None (said so)
    viz.table(ch.paper_table())                 # the paper's numbers beside this run's
    ch.verdict(lambda full: f"CIGT reaches ...")  # the Summary's verdict, or the fallback

The chapter's id is typed once, in :func:`start`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import bench, cache, claims_view, results_schema, train, viz
from .words import met  # noqa: F401  (chapters call chapter.met)

THREADS = 2  # the book's CPU numbers are measured on two threads
NOT_COMMITTED = "*No full-profile run is committed yet: run `make reproduce`.*"


@dataclass
class Chapter:
    """A running chapter: its id, profile, device and seed, and when it started."""

    id: str
    profile: train.Profile
    device: torch.device
    seed: int
    started: float = field(default_factory=time.perf_counter)
    # the results this run built, as ``save`` would write them (its entries included):
    # what the chapter's paper table reads in every profile
    saved: dict | None = None

    @property
    def full(self) -> bool:
        """Whether this run is the reproduction whose numbers are committed."""
        return self.profile.name == "full"

    def pick(self, quick, full):
        """``quick`` or ``full``, for this run's profile."""
        return full if self.full else quick

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def save(self, results: dict, methods: list[dict] | None) -> Path | None:
        """Check ``methods`` against the results schema now (a quick run thus finds a
        bad entry of its full-profile save); in the full profile write
        ``results/<id>.json`` with ``results``, the entries and the run's wall-clock.
        Returns the path written, or None in the quick profile."""
        if methods is not None:
            results_schema.check(self.id, methods, self.profile.name)
        self.saved = {**results, "methods": methods or []}
        if not self.full:
            return None
        path = cache.save_results(
            self.id,
            results,
            device=bench.device_name(self.device),
            profile=self.profile.name,
            wall_clock_s=self.elapsed(),
            methods=methods,
        )
        print("results written to", path.name)
        return path

    def committed(self, show_stamp: bool = True) -> dict | None:
        """The committed full-profile results of this chapter, or None; a line says
        which run they come from, or that none is committed."""
        results = cache.load_results(self.id)
        if show_stamp:
            print(
                cache.run_stamp(results)
                if results is not None
                else "no full-profile results committed yet: run `make reproduce`"
            )
        return results

    def verdict(self, words: Callable[[dict], str]) -> str:
        """The Summary's full-profile verdict: ``words(committed results)`` after the
        run's stamp, or the fallback line when nothing is committed. Displayed as
        Markdown where IPython runs; returned either way."""
        results = cache.load_results(self.id)
        if results is None:
            text = NOT_COMMITTED
        else:
            text = f"**The full-profile verdict** ({cache.run_stamp(results)}): "
            text += words(results)
        _markdown(text)
        return text

    def paper_table(self):
        """The chapter's claims: the paper's number (from the claims file), this run's
        (from the results :meth:`save` was given) and the committed full run's, with its
        verdict (:func:`condcomp_lib.claims_view.chapter_table`)."""
        if self.saved is None:
            raise RuntimeError("call save() first: the table reads this run's results")
        return claims_view.chapter_table(self.id, self.saved, self.profile.name)

    def done(self) -> None:
        print(f"chapter ran in {self.elapsed():.0f} s")


def show_rows(full: dict, digits: int = 2) -> None:
    """A committed run's ``rows`` (one dict a network, ``"network"`` its name) as two
    readable tables, accuracy and cost first, then the rows named ``"..., time"``, each
    without the columns it leaves empty; then its targets, met or not met."""
    import pandas as pd
    from IPython.display import display

    rows = pd.DataFrame(full["rows"]).set_index("network")
    timed = rows.index.str.endswith(", time")
    for part in (rows[~timed], rows[timed]):
        if len(part):
            display(viz.table(part.dropna(axis=1, how="all"), digits))
    for target, ok in full.get("targets", {}).items():
        print(f"target {target}: {met(bool(ok))}")


def start(
    chapter_id: str, profile: str, *, seed: int = 0, device: str = "auto"
) -> Chapter:
    """Start a chapter: its clock, the book's style, two threads, the seed, the profile
    (an unknown name is an error) and the device. The chapter prints its own first line,
    with what its run will do."""
    prof = train.get_profile(profile)
    viz.use_book_style()
    torch.set_num_threads(THREADS)
    train.seed_everything(seed)
    return Chapter(chapter_id, prof, train.resolve_device(device), seed)


def _markdown(text: str) -> None:
    try:
        from IPython.display import Markdown, display
    except ImportError:  # outside Jupyter: the caller has the text
        return
    display(Markdown(text))
