"""The introduction's findings are computed from the committed results."""

import pandas as pd

from condcomp_lib import claims, findings


def test_the_claims_sentence_counts_every_verdict():
    v = pd.DataFrame({"verdict": ["reproduced"] * 3 + ["inconclusive", "not comparable"]})
    text = findings.claims_sentence(v)
    assert text.startswith("Of the 5 claims")
    assert "3 reproduce" in text and "0 partly" in text and "1 are inconclusive" in text
    assert "pending" not in text


def test_the_promise_kept_is_the_speed_up_times_the_macs_share():
    rel = pd.DataFrame(
        {
            "role": ["method", "method", "control"],
            "macs_share": [0.5, 0.25, 0.5],
            "speedup_b1": [1.0, float("nan"), 2.0],
            "speedup_b256": [1.5, 2.0, 2.0],
        }
    )
    kept = findings.promise_kept(rel)
    assert kept == {1: [0.5], 256: [0.75, 0.5]}  # the control is not counted
    text = findings.time_sentence(kept)
    assert "50% at batch 1 (median of 1 timed methods)" in text
    assert "62% at batch 256" in text
    assert findings.time_sentence({1: [], 256: []}) is None


def test_the_headline_reads_the_committed_results():
    text = findings.headline()
    assert text.startswith(f"Of the {len(claims.load())} claims")
    assert "static frontier" in text and "LeNet methods" in text
