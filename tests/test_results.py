"""The committed full-profile results: every chapter's file loads, carries its stamp, and
states its targets as yes-or-no answers, since the chapters show these files in the book.
"""

import pytest

from condcomp_lib import cache

FILES = sorted((cache.ROOT / "results").glob("*.json"))


def test_a_chapter_without_a_full_run_has_no_results():
    assert cache.load_results("no-such-chapter") is None


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_committed_results_are_stamped(path):
    results = cache.load_results(path.stem)
    assert results["chapter"] == path.stem
    stamp = cache.run_stamp(results)
    for key in ("date", "commit", "device", "torch"):
        assert results[key] and results[key] in stamp, key
    targets = results.get("targets", results.get("targets_met"))
    if targets is not None:  # chapter 0 sets no targets, it measures the baselines
        assert targets and all(isinstance(met, bool) for met in targets.values()), targets


def test_a_chapter_shows_committed_results_only_beside_another_profile(capsys):
    assert cache.full_results_to_show(FILES[0].stem, "full") is None
    assert "this run is the full profile" in capsys.readouterr().out
    assert cache.full_results_to_show("no-such-chapter", "quick") is None
    assert "make reproduce" in capsys.readouterr().out
    shown = cache.full_results_to_show(FILES[0].stem, "quick")
    assert shown == cache.load_results(FILES[0].stem)
    assert shown["commit"] in capsys.readouterr().out
