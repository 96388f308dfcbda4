"""The phrases the chapters' generated sentences share."""

from condcomp_lib import chapter, words


def test_targets_read_as_met_or_not_met_in_order():
    run = {"targets": {"a_b": True, "c": False}, "other": {"d": True}}
    assert words.targets(run) == "a_b met, c not met"
    assert words.targets(run, "other", sep=": ") == "d: met"
    assert words.targets(run, name=lambda k: k.replace("_", " ")) == "a b met, c not met"
    assert chapter.met(False) == "not met"  # the chapters' name for the same phrase
