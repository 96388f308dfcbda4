"""Chapter 8's arms on three seeds: the study's records as the chapter reads them, the
study script's refusals, and the soft-routing twin of a conditional LeNet."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from condcomp_lib import cache
from condcomp_lib.methods import cluster_tree_arms as arms
from condcomp_lib.methods import conditional_networks as cn
from condcomp_lib.models import THIN

ROOT = Path(__file__).resolve().parent.parent


def test_the_recorded_arms_carry_the_chapters_names_and_say_what_is_missing(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    (tmp_path / "results").mkdir()
    with pytest.raises(RuntimeError, match="cluster_study.py"):
        arms.recorded(4)  # nothing recorded yet
    path = tmp_path / "results" / f"{arms.STUDY}.json"
    records = [
        {"model": k, "seed": s, "test_acc": 0.9 + s / 100, "epochs": 15,
         "train_images": 55_000}
        for k in arms.KINDS[:-1] for s in (1, 2)
    ]  # fmt: skip
    path.write_text(json.dumps({"runs": records}))
    with pytest.raises(RuntimeError, match="explicit"):
        arms.recorded(4)  # an arm is missing
    records.append({**records[0], "model": "explicit", "test_acc_soft": 0.95})
    path.write_text(json.dumps({"runs": records}))
    acc = arms.recorded(4)
    assert list(acc) == [*arms.names(4).values(), arms.SOFT]
    assert acc["tree K = 4, depth 1"] == {1: 0.91, 2: 0.92}
    assert acc["conditional (explicit)"] == {1: 0.91} and acc[arms.SOFT] == {1: 0.95}
    # runs of another budget cannot sit in one verdict
    path.write_text(json.dumps({"runs": [*records, {**records[0], "epochs": 3}]}))
    with pytest.raises(RuntimeError, match="budgets"):
        arms.recorded(4)


def test_an_unknown_arm_is_refused():
    with pytest.raises(ValueError, match="one of"):
        arms.trained("ensemble", None, 0)


def test_the_study_script_refuses_an_unknown_arm_or_budget():
    script = [sys.executable, str(ROOT / "scripts" / "cluster_study.py")]
    bad = subprocess.run([*script, "--models", "thick"], capture_output=True, text=True)
    assert bad.returncode != 0 and "one of" in bad.stderr
    sys.path.insert(0, str(ROOT / "scripts"))
    import cluster_study

    assert 0 not in cluster_study.STUDY.seeds  # chapter 8 trains seed 0 itself
    with pytest.raises(ValueError, match="15 epochs"):
        cluster_study.train("tree", None, 3, 1)


def test_the_soft_twin_mixes_every_branch_with_the_same_weights():
    torch.manual_seed(0)
    net = cn.ConditionalLeNet(THIN, groups=2, routing="explicit").eval()
    twin = cn.soft_twin(net)
    x = torch.randn(8, 1, 28, 28)
    assert net.test_routing == "best" and twin.test_routing == "soft"
    assert not twin.training
    net.test_routing = "soft"
    with torch.no_grad():
        torch.testing.assert_close(twin(x), net(x))
