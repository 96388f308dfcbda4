"""The committed full-profile results: every chapter's file loads, carries its stamp, and
states its targets as yes-or-no answers, since the chapters show these files in the book."""
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
    if targets is not None:   # chapter 0 sets no targets, it measures the baselines
        assert targets and all(isinstance(met, bool) for met in targets.values()), targets
