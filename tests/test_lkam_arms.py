"""Chapter 9's LKAM arms on three seeds: the study's names, its records as the chapter
reads them, and the study script's refusals."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from condcomp_lib import cache
from condcomp_lib.methods import lkam_arms as arms

ROOT = Path(__file__).resolve().parent.parent


def test_the_kinds_carry_the_chapters_entry_names_claims_arms_first():
    assert arms.CLAIMS_FIRST == ("thick", "gain0.2", "static4")
    assert [arms.entry_name(k) for k in arms.CLAIMS_FIRST] == [
        "thick LeNet",
        "LKAM, gain 0.2",
        "static pruning, 4 of 8 groups",
    ]
    assert arms.entry_name("gain1") == "LKAM, gain 1"  # as chapter 9 prints 1.0
    assert len(set(arms.KINDS)) == len(arms.SETUP.gains) + 2
    with pytest.raises(ValueError, match="one of"):
        arms.trained("gain0.3", None, 1)


def test_the_records_say_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    (tmp_path / "results").mkdir()
    with pytest.raises(RuntimeError, match="lkam_study.py"):
        arms.recorded()
    path = tmp_path / "results" / f"{arms.STUDY}.json"
    records = [
        {"model": k, "seed": s, "test_acc": 0.9 + s / 100, "epochs": 2,
         "train_images": 55_000}
        for k in ("thick", "gain0.2") for s in (1, 2)
    ]  # fmt: skip
    path.write_text(json.dumps({"runs": records}))
    with pytest.raises(RuntimeError, match="static4"):
        arms.recorded()  # an arm of the claims is missing
    records.append({**records[0], "model": "static4"})
    path.write_text(json.dumps({"runs": records}))
    acc = arms.recorded()  # the rest of the sweep not reached yet: absent
    assert list(acc) == ["thick LeNet", "LKAM, gain 0.2", "static pruning, 4 of 8 groups"]
    assert acc["LKAM, gain 0.2"] == {1: 0.91, 2: 0.92}
    records.append({**records[0], "model": "gain0.5", "seed": 2})
    path.write_text(json.dumps({"runs": records}))
    assert arms.recorded()["LKAM, gain 0.5"] == {2: 0.91}


def test_the_study_script_refuses_an_unknown_network_or_budget():
    script = [sys.executable, str(ROOT / "scripts" / "lkam_study.py")]
    bad = subprocess.run([*script, "--models", "thin"], capture_output=True, text=True)
    assert bad.returncode != 0 and "one of" in bad.stderr
    sys.path.insert(0, str(ROOT / "scripts"))
    import lkam_study

    assert 0 not in lkam_study.STUDY.seeds  # chapter 9 trains seed 0 itself
    with pytest.raises(ValueError, match="2 epochs"):
        lkam_study.train("gain0.2", None, 15, 1)
