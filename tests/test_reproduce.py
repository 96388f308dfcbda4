"""`make reproduce`: the chapters run in dependency order, and a chapter runs again only
when its results are missing or older than its sources, or when a chapter it needs ran."""

import json

import pytest

import reproduce
from reproduce import decide, needs, order

BOOK = [
    "00_baselines",
    "01_early_exit",
    "02_adaptive_networks",
    "03_condconv",
    "04_cigt",
    "05_routed_execution",
    "06_block_policies",
    "07_activity_specialization",
    "08_feature_cluster_trees",
    "09_gates_and_cascades",
    "10_comparison",
]


def test_every_chapter_comes_after_the_chapters_it_needs():
    got = order(list(reversed(BOOK)))
    assert got[0] == "00_baselines" and got[-1] == "10_comparison"
    for i, stem in enumerate(got):
        assert needs(stem, BOOK) <= set(got[:i]), stem
    assert got.index("01_early_exit") < got.index("02_adaptive_networks")
    assert got.index("04_cigt") < got.index("08_feature_cluster_trees")
    assert needs("10_comparison", BOOK) == set(BOOK) - {"10_comparison"}


def test_a_chapter_comes_after_every_chapter_whose_results_it_reads():
    """Read off the notebooks: chapter 9 sets chapters 1, 2, 4 and 6's committed methods
    beside its own, so it must run after them (it once ran right after chapter 0)."""
    got = order(BOOK)
    ch9 = needs("09_gates_and_cascades", BOOK)
    assert {
        "01_early_exit",
        "02_adaptive_networks",
        "04_cigt",
        "06_block_policies",
    } <= ch9
    for stem in BOOK[:-1]:
        code = reproduce.notebook_code(reproduce.CHAPTERS / f"{stem}.ipynb")
        for other in reproduce.named_chapters(stem, code, BOOK):
            assert got.index(other) < got.index(stem), (stem, other)


def test_named_chapters_are_what_the_code_names():
    code = 'r = cache.load_results("04_cigt")\nSHOWN = [\'01_early_exit\', "99_nothing"]'
    assert reproduce.named_chapters("08_x", code, BOOK) == {"04_cigt", "01_early_exit"}
    assert reproduce.named_chapters("04_cigt", code, BOOK) == {"01_early_exit"}
    assert needs("08_x", ["00_baselines", "04_cigt"], code) == {"04_cigt"}


def test_one_chapter_alone_needs_nothing_absent():
    assert order(["04_cigt"]) == ["04_cigt"]
    assert needs("02_adaptive_networks", ["02_adaptive_networks"]) == set()


def test_a_cycle_is_refused(monkeypatch):
    monkeypatch.setattr(reproduce, "MODEL_NEEDS", {"00_a": {"01_b"}, "01_b": {"00_a"}})
    with pytest.raises(ValueError, match="need each other"):
        order(["00_a", "01_b"])


def plan(**kw):
    args = dict(
        writes_results=True,
        stamp="abc1234",
        changed=[],
        ran=set(),
        needed={"00_baselines"},
        force=False,
    )
    return decide("04_cigt", **{**args, **kw})


def test_current_results_are_skipped():
    run, why = plan()
    assert not run and "current" in why and "abc1234" in why


@pytest.mark.parametrize(
    "kw, reason",
    [
        (dict(force=True), "FORCE=1"),
        (dict(stamp=None), "no results file"),
        (dict(changed=None), "git does not know"),
        (dict(changed=["chapters/04_cigt.ipynb"]), "chapters/04_cigt.ipynb"),
        (dict(ran={"00_baselines"}), "00_baselines"),
        (dict(writes_results=False), "writes no results file"),
    ],
)
def test_a_chapter_runs_when_its_results_are_not_current(kw, reason):
    run, why = plan(**kw)
    assert run and reason in why


def test_a_chapter_that_ran_unneeded_does_not_force_a_rerun():
    run, _ = plan(ran={"05_routed_execution"})
    assert not run


def test_sources_are_the_notebook_and_the_modules_it_imports():
    code = (
        "from condcomp_lib import cache, train\n"
        "from condcomp_lib.methods import cigt, cigt_runs as runs\n"
        "from condcomp_lib.nn import Routing\n"
        "from condcomp_lib.methods.cascade import Cascade\n"
        "import torch\n"
    )
    got = reproduce.sources("04_cigt", code)
    assert got == [
        "chapters/04_cigt.ipynb",
        "condcomp_lib/cache.py",
        "condcomp_lib/methods/cascade.py",
        "condcomp_lib/methods/cigt.py",
        "condcomp_lib/methods/cigt_runs.py",
        "condcomp_lib/nn",
        "condcomp_lib/train.py",
    ]


def test_only_a_change_to_code_counts():
    nb = lambda *cells: json.dumps(
        {"cells": [{"cell_type": kind, "source": [src]} for kind, src in cells]}
    )
    code = reproduce.code_of
    path = "chapters/04_cigt.ipynb"
    base = nb(("markdown", "CIGT routes."), ("code", "x = f(2)  # two"))
    prose = nb(("markdown", "CIGT routes samples."), ("code", "x = f( 2 )"))
    assert code(base, path) == code(prose, path)
    assert code(base, path) != code(nb(("code", "x = f(3)")), path)
    shell = nb(("code", "!ls"))  # not Python: compared as text
    assert code(shell, path) == code(shell, path) != code(nb(("code", "!ls -l")), path)
    mod = 'def f(x):\n    """Twice x."""\n    return 2 * x\n'
    assert code(mod, "m.py") == code("def f(x):\n    # doubled\n    return 2*x\n", "m.py")
    assert code(mod, "m.py") != code(
        'def f(x):\n    """Twice x."""\n    return x\n', "m.py"
    )
    only_doc = 'def g():\n    """Nothing yet."""\n'  # still a function once the doc goes
    assert code(only_doc, "m.py") == code("def g():\n    pass\n", "m.py")


def test_a_chapter_writes_results_only_under_its_own_name():
    code = (
        'cache.load_results("04_cigt")\ncache.save_results(\n    "08_trees", {}, "cpu")'
    )
    assert reproduce.writes_results("08_trees", code)
    assert not reproduce.writes_results("04_cigt", code)
    bound = 'CH = "09_gates"\ncache.save_results(\n    CH, {}, device="cpu")'
    assert reproduce.writes_results("09_gates", bound)
    assert not reproduce.writes_results("09_gates", 'CH = "09_gates"\nprint(CH)')
    started = 'ch = chapter.start("04_cigt", profile)\nch.save({}, methods)'
    assert reproduce.writes_results("04_cigt", started)
    assert not reproduce.writes_results("04_cigt", started.replace("ch.save", "ch.done"))
    assert not reproduce.writes_results("01_early_exit", started)


def test_a_run_is_completed_only_where_the_chapter_did_not(tmp_path):
    path = tmp_path / "05_routed_execution.json"
    results = {
        "chapter": "05_routed_execution",
        "date": "2026-01-01",
        "device": "CPU",
        "commit": "abc1234",
        "torch": "2.0",
        "profile": "full",
        "wall_clock_s": None,
        "methods": [],
        "methods_note": "operations timed, no network trained",
    }
    path.write_text(json.dumps(results))
    assert reproduce.complete(path, 12.34) == ["wall_clock_s"]
    done = json.loads(path.read_text())
    assert done["wall_clock_s"] == 12.3 and done["methods"] == []
    assert reproduce.complete(path, 99.0) == []
    assert json.loads(path.read_text()) == done
