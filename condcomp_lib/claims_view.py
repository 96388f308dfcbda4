"""One chapter's "Paper versus this book" table, read from the claims file.

Used by every chapter that examines a paper's claim. The papers' numbers are typed once,
in ``chapters/paper_claims.yaml``; a chapter's table reads them there, beside two
numbers of the book: this run's, read by the claim's own expression from the results
the chapter has just built (:meth:`condcomp_lib.chapter.Chapter.save` keeps them, in
every profile), and the committed full run's, with its verdict as chapter 10 gives it.

    ch.save(results, methods)
    viz.table(ch.paper_table())   # paper, claim, paper's number, this run, full run, ...
"""

from __future__ import annotations

import re
from pathlib import Path

from . import claims
from .claim_rules import evaluate, parse

BIB = Path(__file__).resolve().parent.parent / "book" / "references.bib"


def short_citations(bib: Path = BIB) -> dict[str, str]:
    """{citation key: "Surname et al. (year)"} from the book's bibliography, so that a
    table names a paper as a reader would, not by its key; {} without the file."""
    if not bib.is_file():
        return {}
    out = {}
    for key, body in re.findall(r"@\w+\{([^,\s]+),(.*?)\n\}", bib.read_text(), re.S):
        authors = re.search(r"author\s*=\s*\{(.*?)\},?\n", body, re.S)
        year = re.search(r"year\s*=\s*\{?(\d{4})", body)
        if not (authors and year):
            continue
        names = [a.strip() for a in authors.group(1).split(" and ")]
        first = names[0].split()[-1].strip("{}")
        out[key] = f"{first}{' et al.' if len(names) > 2 else ''}"
        out[key] += f"{' and ' + names[1].split()[-1] if len(names) == 2 else ''}"
        out[key] += f" ({year.group(1)})"
    return out


def this_run_value(claim: dict, results: dict | None, spec: dict | None = None):
    """The claim's number (or, given ``spec``, its cost) read from ``results`` (a
    chapter's results as it built them, with its ``methods`` entries), scaled; None when
    this run's results lack what its expression reads (a quick run measures less)."""
    ours = spec or claim.get("ours")
    if results is None or ours is None:
        return None
    try:
        value = evaluate(parse(ours["expr"]), results)
    except (KeyError, ValueError, ZeroDivisionError, TypeError, IndexError):
        return None
    if isinstance(value, list):
        return None
    return value * float(ours.get("scale", 1))


def chapter_table(
    chapter: str,
    this_run: dict | None = None,
    profile: str = "quick",
    results_root=None,
    claims_file=None,
):
    """The claims of ``chapter`` as a DataFrame indexed by the paper: the claim, the
    paper's number (marked when unverified), this run's number (``this_run``: the
    results the chapter built, in the ``profile`` it ran), the committed full run's
    number and its verdict. A claim that reads another results file (a study) shows its
    committed number only."""
    book = claims.table(results_root, claims_file, details=True)
    book = book[book["chapter"] == chapter]
    if book.empty:
        raise ValueError(f"the claims file holds no claim of chapter {chapter!r}")
    by_id = {c["id"]: c for c in claims.load(claims_file)}
    cite = short_citations()
    rows = []
    for _, row in book.iterrows():
        c = by_id[row["id"]]
        mine = c.get("ours", {}).get("file") == chapter
        value = this_run_value(c, this_run) if mine else None
        if "ours" not in c:
            now = "not measured by the book"
        elif not mine:
            now = "from its study: see the full run"
        elif value is None:
            now = "not measured in this run"
        else:
            now = claims.show(c, value, pending=False)
            cost = this_run_value(c, this_run, c["cost"]) if "cost" in c else None
            if cost is not None:  # the cost the claim allows, as the full run shows it
                label = c["cost"].get("label")
                now += " at " + claims.show(c, cost, False, c["cost"])
                now += f" {label}" if label else ""
        rows.append(
            {
                "paper": cite.get(row["paper"], row["paper"]),
                "claim": row["claim"],
                "paper's number": row["paper's number"],
                f"this run ({profile})": now,
                "committed full run": row["ours"],
                "verdict (full run)": row["verdict"],
            }
        )
    import pandas as pd

    table = pd.DataFrame(rows).set_index("paper")
    table.index.name = None  # the citations name themselves; no header row for them
    return table
