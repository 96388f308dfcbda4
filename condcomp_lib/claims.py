"""The papers' claims set beside the book's own numbers, for the comparison chapter.

``chapters/paper_claims.yaml`` holds, for every claim that a chapter's *Paper versus this
book* section examines, the paper's own number (the only numbers typed by hand) and where
the book's number lives in the committed ``results/<chapter>.json``. This module reads our
number, turns the two into a verdict and builds the table:

    from condcomp_lib import claims
    claims.table()  # chapter, paper, claim, paper's number, ours, verdict, why

Our number is an expression over paths into one results file, and a rule is one or two
conditions on it (:mod:`condcomp_lib.claim_rules` reads both): ``reproduced_if`` and
optionally ``partly_if``, such as ``">= 0.3"`` or ``"> 0 and < 10"``. The verdict is
*reproduced* when the first holds, *partly* when the second does, *not reproduced*
otherwise, and *pending* while the results file is not committed. A claim that cannot be
compared carries ``verdict: not comparable`` instead.

A verdict is only as fair as the experiment behind it, so a claim names its *arms*: the
entries of its results file (their ``name`` in ``methods``) whose numbers it compares,
method, baseline and control. A rule's verdict becomes *inconclusive* when an arm has
fewer than :data:`MIN_SEEDS` seeds, when the arms record different training budgets, or
when a gap in points lies inside the largest spread of the arms' seeds. A claim about a
quantity the architecture fixes (a network's MACs by construction) says
``by_construction: true``: seeds cannot move it, so only the budgets are checked. A claim
whose arms are known to be unfair in a way the entries do not record (different budgets,
before the entries recorded budgets) carries ``verdict: inconclusive`` with the reason in
its ``why``.

Many claims are about accuracy *at a cost* ("the same accuracy with a fraction of the
compute"). Such a claim carries the cost beside its number, ``cost: {expr, unit, label,
within}`` (an expression over the same file, what it counts, such as "of the base's MACs",
and a condition on it): the table shows both, ``why``
may say ``{cost}``, and a rule's verdict falls one step (reproduced to partly, partly to
not reproduced) when the cost is not ``within`` the claim. A cost without ``within`` is
only shown. The cost is a count the architecture fixes or a share the routes give, so it
is not a verdict of its own.

A wrong path in a results file that exists, a malformed rule or expression, and a repeated
id raise :class:`ClaimError`, which names the claim."""

from __future__ import annotations

import json
import string
from pathlib import Path

from .cache import ROOT  # the book's root, where results/ lives
from .claim_rules import evaluate, holds, parse, parse_condition

CLAIMS_FILE = ROOT / "chapters" / "paper_claims.yaml"
RESULTS_ROOT = ROOT / "results"
FIXED_VERDICTS = ("not comparable", "inconclusive")
VERDICTS = ("reproduced", "partly", "not reproduced", *FIXED_VERDICTS, "pending")
MIN_SEEDS = 3  # a verdict needs at least three seeds in every arm
STATUSES = ("verified", "unverified")
REQUIRED = ("id", "chapter", "paper", "claim", "paper_value", "source", "status", "why")
PENDING_WHY = "Not yet measured: the chapter's full-profile run is not committed yet."


class ClaimError(ValueError):
    """A claim that cannot be read: its message names the claim's id."""


# ---------------------------------------------------------------------------------------
# the claims file
# ---------------------------------------------------------------------------------------


def _check(c: dict) -> None:
    """Raise ClaimError when one entry is incomplete or malformed."""
    cid = c.get("id", "<no id>")

    def fail(msg):
        raise ClaimError(f"claim {cid!r}: {msg}")

    missing = [k for k in REQUIRED if k not in c]
    if missing:
        fail(f"missing {', '.join(missing)}")
    if c["status"] not in STATUSES:
        fail(f"status {c['status']!r} is not one of {STATUSES}")
    if ("rule" in c) == ("verdict" in c):
        fail("needs exactly one of 'rule' and 'verdict'")
    if "verdict" in c and c["verdict"] not in FIXED_VERDICTS:
        fail(f"verdict {c['verdict']!r} is not one of {FIXED_VERDICTS}")
    if "rule" in c:
        rule = c["rule"]
        if not isinstance(rule, dict) or "reproduced_if" not in rule:
            fail("rule needs 'reproduced_if'")
        extra = set(rule) - {"reproduced_if", "partly_if"}
        if extra:
            fail(f"rule has unknown keys {sorted(extra)}")
        for k, text in rule.items():
            try:
                parse_condition(text)
            except ValueError as e:
                fail(f"rule.{k}: {e}")
        if "ours" not in c:
            fail("a rule needs 'ours'")
    if "ours" in c:
        ours = c["ours"]
        if not isinstance(ours, dict) or not {"file", "expr"} <= set(ours):
            fail("ours needs 'file' and 'expr'")
        extra = set(ours) - {"file", "expr", "unit", "scale", "digits"}
        if extra:
            fail(f"ours has unknown keys {sorted(extra)}")
        try:
            parse(ours["expr"])
        except ValueError as e:
            fail(f"ours.expr: {e}")
    if "cost" in c:
        cost = c["cost"]
        if not isinstance(cost, dict) or "expr" not in cost:
            fail("cost needs 'expr'")
        extra = set(cost) - {"expr", "unit", "scale", "digits", "label", "within"}
        if extra:
            fail(f"cost has unknown keys {sorted(extra)}")
        if "ours" not in c:
            fail("a cost is read from the file in 'ours'")
        try:
            parse(cost["expr"])
            if "within" in cost:
                parse_condition(cost["within"])
        except ValueError as e:
            fail(f"cost: {e}")
    if not isinstance(c.get("by_construction", False), bool):
        fail("by_construction is true or false")
    arms = c.get("arms")
    if arms is not None and (
        not isinstance(arms, list)
        or not arms
        or not all(isinstance(a, str) and a for a in arms)
    ):
        fail("arms must be a list of entry names of the claim's results file")
    if arms is not None and "ours" not in c:
        fail("arms name entries of the file in 'ours'")
    names = {f for _, f, _, _ in string.Formatter().parse(c["why"]) if f is not None}
    allowed = {"ours", "paper"} | ({"cost"} if "cost" in c else set())
    if names - allowed:
        fail(f"why may use {sorted(allowed)} only, not {sorted(names)}")


def load(path=None) -> list[dict]:
    """The claims, checked: ids unique, rules and expressions readable."""
    import yaml

    path = Path(path or CLAIMS_FILE)
    entries = yaml.safe_load(path.read_text())
    if not isinstance(entries, list):
        raise ClaimError(f"{path.name}: expected a list of claims")
    seen = set()
    for c in entries:
        if not isinstance(c, dict):
            raise ClaimError(f"{path.name}: every claim is a mapping, not {c!r}")
        _check(c)
        if c["id"] in seen:
            raise ClaimError(f"claim {c['id']!r}: the id is used twice")
        seen.add(c["id"])
    return entries


def _results(file: str, results_root, cache: dict | None = None):
    path = Path(results_root or RESULTS_ROOT) / f"{file}.json"
    if cache is not None and path in cache:
        return cache[path]
    data = json.loads(path.read_text()) if path.is_file() else None
    if cache is not None:
        cache[path] = data
    return data


def our_value(claim: dict, results_root=None, _cache: dict | None = None) -> float | None:
    """Our number for a claim, scaled; None when the claim has no ``ours`` or its results
    file is not committed (pending). ClaimError when the file exists but the path does
    not lead to a number."""
    return _read(claim, claim.get("ours"), results_root, _cache)


def cost_value(claim: dict, results_root=None, _cache=None) -> float | None:
    """The claim's cost (its ``cost`` expression over the file in ``ours``), scaled;
    None when it has no cost or the file is not committed."""
    cost = claim.get("cost")
    spec = None if cost is None else {**cost, "file": claim["ours"]["file"]}
    return _read(claim, spec, results_root, _cache)


def _read(claim: dict, ours: dict | None, results_root, _cache) -> float | None:
    """One scaled number of a claim; ``ours`` (or a cost) names file and expression."""
    if ours is None:
        return None
    data = _results(ours["file"], results_root, _cache)
    if data is None:
        return None
    try:
        value = evaluate(parse(ours["expr"]), data)
    except (KeyError, ValueError, ZeroDivisionError) as e:
        msg = e.args[0] if e.args else type(e).__name__
        raise ClaimError(f"claim {claim['id']!r}: {ours['file']}.json, {msg}") from None
    if isinstance(value, list):
        raise ClaimError(f"claim {claim['id']!r}: {ours['expr']!r} gives a list")
    return value * float(ours.get("scale", 1))


def arms(claim: dict, results_root=None, _cache: dict | None = None) -> list[dict]:
    """The claim's arms as its results file records them: for each, the entry's name,
    its seeds, the spread of its seeds (accuracy, a fraction, or None) and its budget
    (``{"epochs", "train_images"}``, or None where the entry does not record one). Empty
    when the claim names no arms or its file is not committed; ClaimError when an arm
    names no entry of the file."""
    names = claim.get("arms") or []
    data = _results(claim["ours"]["file"], results_root, _cache) if names else None
    if data is None:
        return []
    by_name = {m["name"]: m for m in data.get("methods", [])}
    out = []
    for name in names:
        if name not in by_name:
            raise ClaimError(
                f"claim {claim['id']!r}: arm {name!r} is no entry of "
                f"{claim['ours']['file']}.json"
            )
        m = by_name[name]
        out.append(
            {
                "name": name,
                "seeds": m["accuracy"]["seeds"],
                "spread": m["accuracy"]["spread"],
                "budget": m.get("budget"),
            }
        )
    return out


def unfair(claim: dict, value: float | None, arms_: list[dict]) -> str | None:
    """Why a rule's verdict on these arms would be unfair (then it is inconclusive), or
    None: an arm with fewer than three seeds, budgets that differ, a gap in points
    inside the largest spread of the arms' seeds."""
    budgets = {json.dumps(a["budget"], sort_keys=True) for a in arms_ if a["budget"]}
    if len(budgets) > 1:
        return "the arms were trained with different budgets"
    if claim.get(
        "by_construction"
    ):  # a count the architecture fixes: seeds cannot move it
        return None
    few = [f"{a['name']} ({a['seeds']})" for a in arms_ if a["seeds"] < MIN_SEEDS]
    if few:
        return f"fewer than {MIN_SEEDS} seeds in an arm: " + ", ".join(few)
    ours = claim.get("ours", {})
    spreads = [a["spread"] for a in arms_ if a["spread"] is not None]
    if ours.get("unit") == "pt" and value is not None and spreads:
        # our number in points; an accuracy spread (a fraction) in points too
        spread = 100 * max(spreads)
        if abs(value) <= spread:
            return (
                f"the gap, {value:+.2f} pt, lies inside the seeds' spread of "
                f"{spread:.2f} pt"
            )
    return None


def verdict(
    claim: dict,
    value: float | None,
    arms_: list[dict] | None = None,
    cost: float | None = None,
) -> str:
    """reproduced, partly, not reproduced, inconclusive, not comparable or pending;
    ``arms_`` (from :func:`arms`) turn a rule's verdict inconclusive where the
    experiment cannot support it (:func:`unfair`), and a ``cost`` outside the claim's
    ``within`` lowers it one step."""
    if "verdict" in claim:
        return claim["verdict"]
    if value is None:
        return "pending"
    if arms_ and unfair(claim, value, arms_):
        return "inconclusive"
    rule = claim["rule"]
    steps = ["reproduced", "partly", "not reproduced"]
    if holds(parse_condition(rule["reproduced_if"]), value):
        step = 0
    elif "partly_if" in rule and holds(parse_condition(rule["partly_if"]), value):
        step = 1
    else:
        step = 2
    within = claim.get("cost", {}).get("within")
    if (
        within is not None
        and cost is not None
        and not holds(parse_condition(within), cost)
    ):
        step = min(step + 1, 2)  # the accuracy at a higher cost than the claim's
    return steps[step]


def show(
    claim: dict, value: float | None, pending: bool, spec: dict | None = None
) -> str:
    """Our number as the table prints it, with its unit (``spec``: the claim's ``ours``
    unless given, such as its cost)."""
    if value is None:
        return "not yet measured" if pending else "not measured by the book"
    ours = spec or claim["ours"]
    unit, digits = ours.get("unit", ""), int(ours.get("digits", 2))
    text = f"{value:+.{digits}f}" if unit == "pt" else f"{value:.{digits}f}"
    return text + {"": "", "%": "%", "×": "×"}.get(unit, " " + unit)


def table(results_root=None, claims_file=None, details: bool = False):
    """Every claim with the paper's number, ours and the verdict, as a DataFrame.

    Columns: chapter, paper, claim, paper's number (marked when unverified), ours,
    verdict, why; ``details=True`` adds the id, the source and its status."""
    import pandas as pd

    cache, rows = {}, []
    for c in load(claims_file):
        value = our_value(c, results_root, cache)
        pending = "ours" in c and value is None
        ours = show(c, value, pending)
        cost = cost_value(c, results_root, cache)
        cost_text = None
        if "cost" in c:
            label = c["cost"].get("label")
            cost_text = show(c, cost, pending, c["cost"]) + (f" {label}" if label else "")
        if cost is not None:
            ours += f" at {cost_text}"
        arms_ = arms(c, results_root, cache)
        v = verdict(c, value, arms_, cost)
        paper = str(c["paper_value"])
        why = (
            PENDING_WHY
            if v == "pending"
            else c["why"].strip().format(ours=ours, paper=paper, cost=cost_text)
        )
        reason = unfair(c, value, arms_) if "rule" in c and value is not None else None
        if reason:
            why = f"Inconclusive: {reason}. " + why
        row = {
            "chapter": c["chapter"],
            "paper": c["paper"],
            "claim": c["claim"],
            "paper's number": paper
            + (" (unverified)" if c["status"] != "verified" else ""),
            "ours": ours,
            "verdict": v,
            "why": " ".join(why.split()),
        }
        if details:
            row.update(id=c["id"], source=c["source"], status=c["status"])
        rows.append(row)
    return pd.DataFrame(rows)
