"""Chapter 7's verdict and discussion in words: each sentence follows the numbers it is
generated from, including the direction of every gap."""

import pytest

from condcomp_lib.methods import activity_words as words


def results(**acc):
    """A results file of the present design: mean accuracies from ``acc`` (fractions),
    three seeds each at the mean, and the fields the words read."""
    base = dict(generic=0.714, dense=0.80, learned=0.72, per_feature=0.73, random=0.70,
                all=0.74)  # fmt: skip
    base.update(acc)
    return {
        "seeds": [0, 1, 2],
        "accuracy": base,
        "accuracy_seeds": {k: {"0": v, "1": v, "2": v} for k, v in base.items()},
        "macs": {"generic": 1.0e6, "dense": 40e6, "learned": 5.0e6, "per_feature": 4e6},
        "on_object": {"learned": {"precision": 0.81}, "random": {"precision": 0.21}},
        "rows": [
            {
                "network": "(c) specialized",
                "(group, tile) items on (%)": 11.1,
                "item's tiles computed (%)": 66.0,
            }
        ],  # fmt: skip
        "setup": {"tau": 0.5},
        "speedup_part_b64": 1.88,
        "speedup_part_b1": 0.46,
        "targets": {"t1": True, "t2": False},
    }


def test_an_earlier_design_is_told_apart():
    assert words.current(results())
    assert not words.current({"accuracy": {"learned": 0.7}})


@pytest.mark.parametrize(
    "a, b, said",
    [(0.725, 0.714, "1.10 pt above"), (0.700, 0.714, "1.40 pt below"),
     (0.714, 0.714, "0.00 pt above")],
)  # fmt: skip
def test_a_gap_says_its_direction(a, b, said):
    assert words.gap(results(learned=a, generic=b), "learned", "generic") == said


def test_seeds_above_count_only_shared_seeds():
    r = results()
    r["accuracy_seeds"]["learned"] = {"0": 0.9, "1": 0.1, "2": 0.9}
    r["accuracy_seeds"]["generic"] = {"0": 0.5, "1": 0.5}  # seed 2 not measured
    assert words.seeds_above(r, "learned", "generic") == (1, 2)


def test_the_discussion_reads_the_numbers():
    text = words.discussion(results())
    assert "means of 3 seeds" in text
    assert "81% of (c)'s computed" in text and "against 21% for random" in text
    assert "(c) reaches 72.00%, 0.60 pt above the generic network alone" in text
    assert "(c′) reaches 73.00%, 1.60 pt above it, above on 3 of 3 seeds" in text
    assert "(e) reaches 74.00%, 2.00 pt above (c)" in text
    assert "80.00%, 6.00 pt above (e)" in text


def test_the_pieces_sentence_only_where_skipping_cost_something():
    assert "in pieces" in words.discussion(results(all=0.74, learned=0.72))
    assert "in pieces" not in words.discussion(results(all=0.71, learned=0.72))


def test_the_verdict_gives_costs_and_targets():
    text = words.verdict(results())
    assert text.startswith("over 3 seeds (accuracies are their means), activity ")
    assert "(c) reaches 72.00% at 12.5% of the dense network's MACs and 5.0x" in text
    assert "(c′) 73.00% at 4.0x" in text and "1.88x" in text and "0.46x" in text
    assert "70.00% for random tiles" in text and "74.00% for (c)'s network" in text
    assert text.endswith("Targets: t1 met, t2 not met.")


def test_a_network_with_fewer_seeds_says_so():
    r = results()
    r["accuracy_seeds"]["all"] = {"0": 0.74}
    assert words.accuracy(r, "all") == "74.00% (1 seed)"
    assert words.accuracy(r, "learned") == "72.00%"
    assert "(e) reaches 74.00% (1 seed)" in words.discussion(r)
    assert "74.00% (1 seed) for (c)'s network trained" in words.verdict(r)
