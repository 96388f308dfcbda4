"""A chapter's paper table: the paper's number from the claims file, this run's read by
the claim's own expression from the results the chapter built, and the committed run's
number with its verdict."""

import json

import pytest

from condcomp_lib import chapter, claims_view

CLAIMS = """
- id: t-1
  chapter: 99_test
  paper: somebody2020
  claim: a gain
  paper_value: +1 pt
  source: Table 1 [V-paper]
  status: verified
  ours: {file: 99_test, expr: "a.b - a.c", unit: pt, scale: 100}
  cost: {expr: "a.m", unit: "×", label: "the base's MACs"}
  rule: {reproduced_if: ">= 0.3", partly_if: "> 0"}
  why: Ours is {ours}.
- id: t-2
  chapter: 99_test
  paper: somebody2020
  claim: a study's number
  paper_value: 2×
  source: Table 2 [V-sec]
  status: unverified
  ours: {file: 99_study, expr: "r", unit: "×"}
  verdict: not comparable
  why: Ours is {ours}.
- id: t-3
  chapter: 99_test
  paper: somebody2020
  claim: words only
  paper_value: a hope
  source: the letter [V-paper]
  status: verified
  verdict: not comparable
  why: none.
- id: u-1
  chapter: 98_other
  paper: somebody2020
  claim: another chapter's
  paper_value: 3
  source: Table 3 [V-paper]
  status: verified
  verdict: not comparable
  why: none.
"""


def table(tmp_path, this_run, committed=None):
    path = tmp_path / "claims.yaml"
    path.write_text(CLAIMS)
    if committed is not None:
        (tmp_path / "99_test.json").write_text(json.dumps(committed))
    return claims_view.chapter_table(
        "99_test", this_run, "quick", results_root=tmp_path, claims_file=path
    )


def test_this_run_and_the_committed_run_sit_beside_the_papers_number(tmp_path):
    now = {"a": {"b": 0.5, "c": 0.49, "m": 2.0}}
    t = table(tmp_path, now, {"a": {"b": 0.925, "c": 0.92, "m": 1.25}})
    assert t.index[0] == "somebody2020"  # a key the bibliography lacks: as it is
    assert list(t["claim"]) == ["a gain", "a study's number", "words only"]
    first = t.iloc[0]
    assert first["paper's number"] == "+1 pt"
    # each with the cost it came at
    assert first["this run (quick)"] == "+1.00 pt at 2.00× the base's MACs"
    assert first["committed full run"] == "+0.50 pt at 1.25× the base's MACs"
    assert first["verdict (full run)"] == "reproduced"
    # a claim read from a study's file has no number of this run
    assert t.iloc[1]["this run (quick)"].startswith("from its study")
    assert t.iloc[1]["paper's number"] == "2× (unverified)"
    assert t.iloc[2]["this run (quick)"] == "not measured by the book"


def test_a_quick_run_that_lacks_a_field_says_so(tmp_path):
    t = table(tmp_path, {"a": {"b": 0.5}})
    assert t.iloc[0]["this run (quick)"] == "not measured in this run"
    assert t.iloc[0]["verdict (full run)"] == "pending"


def test_a_chapter_without_claims_is_an_error(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text(CLAIMS)
    with pytest.raises(ValueError, match="no claim"):
        claims_view.chapter_table("97_none", {}, claims_file=path)


def test_the_chapter_keeps_what_it_saved_for_its_paper_table():
    ch = chapter.start("08_feature_cluster_trees", "quick")
    with pytest.raises(RuntimeError, match="save"):
        ch.paper_table()
    assert ch.save({"x": 1}, None) is None  # quick: checked, not written
    assert ch.saved == {"x": 1, "methods": []}


def test_papers_are_named_as_a_reader_cites_them(tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text(
        "@article{one2020,\n  author = {Ann One},\n  year = {2020}\n}\n\n"
        "@article{two2021,\n  author  = {Ann One and Bob Two},\n  year    = 2021\n}\n\n"
        "@misc{many2019,\n  author = {A. Many and B. Others and C. Third},\n"
        "  year = {2019}\n}\n"
    )
    assert claims_view.short_citations(bib) == {
        "one2020": "One (2020)",
        "two2021": "One and Two (2021)",
        "many2019": "Many et al. (2019)",
    }
    assert claims_view.short_citations(tmp_path / "none.bib") == {}
    # the book's own bibliography names every paper of the claims
    cites = claims_view.short_citations()
    assert cites["olah2013conditional"] == "Olah (2013)"
