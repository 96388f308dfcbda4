"""The chapters' ``device`` parameter reaches training, evaluation and timing.

Two halves: the library passes the ``device`` it is given down to ``train.fit`` and
``train.evaluate`` (checked by recording what they receive), and every chapter hands its
resolved device, ``dev``, to every call that trains, evaluates or times (checked on the
chapters' code).
"""

import ast
import re

import nbformat
import pytest
import torch

import book  # scripts/book.py
from condcomp_lib import baselines, bench, data, models, train
from condcomp_lib.methods import b_lenet, condconv

MARK = "cpu"  # a device string the library must hand on unchanged


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    """Record the device every fit and evaluate receives; train nothing."""
    monkeypatch.setenv("CONDCOMP_CACHE", str(tmp_path))
    seen = []

    def fake_fit(model, split, **kw):
        seen.append(("fit", kw.get("device")))
        return {"loss": [0.0], "resumed_after": [], "seconds_before_resume": 0.0}

    def fake_evaluate(model, split, *a, device="auto", **kw):
        seen.append(("evaluate", device))
        return 0.5

    for module in (baselines, b_lenet):  # CondConv trains through baselines.fit_recipe
        monkeypatch.setattr(module, "fit", fake_fit)
    monkeypatch.setattr(baselines, "evaluate", fake_evaluate)
    return seen


def test_library_hands_the_device_to_fit_and_evaluate(recorded, digits28):
    ds = digits28
    baselines.baseline("thin", ds, "quick", retrain=True, progress=False, device=MARK)
    b_lenet.trained(
        ds, "quick", backbone_name="thin", retrain=True, progress=False, device=MARK
    )
    condconv.trained(1, ds, "quick", retrain=True, progress=False, device=MARK)
    assert {kind for kind, _ in recorded} == {"fit", "evaluate"}
    assert all(dev == MARK for _, dev in recorded), recorded


def test_predict_returns_the_model_where_it_was():
    m = models.LeNet(models.LeNetWidths(4, 4, 4, 8, 8))
    s = data.Split(torch.randn(3, 1, 28, 28), torch.zeros(3, dtype=torch.long))
    assert train.predict(m, s, device="cpu").shape == (3, 10)
    assert next(m.parameters()).device == torch.device("cpu")


def test_bench_on_moves_modules_and_back():
    m = torch.nn.Linear(2, 2).double()
    with bench.on("cpu", m):
        assert next(m.parameters()).device.type == "cpu"
    assert next(m.parameters()).dtype == torch.float64


# The calls in a chapter that train, evaluate or time, and must say on which device.
NEEDS_DEVICE = {
    ("train", "fit"),
    ("train", "evaluate"),
    ("train", "predict"),
    ("models", "baseline"),
    ("b_lenet", "trained"),
    ("condconv", "trained"),
    ("bench", "compare"),
    ("bench", "time_fn"),
}
# timing helpers that take the device from the model: chapters use bench.compare instead
NOT_IN_CHAPTERS = {("bench", "latency"), ("bench", "throughput")}


def chapter_calls(nb):
    src = "\n".join(
        c.source
        for c in nb.cells
        if c.cell_type == "code" and not c.source.lstrip().startswith(("%", "!"))
    )
    for node in ast.walk(ast.parse(src)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
        ):
            yield (node.func.value.id, node.func.attr), node


@pytest.mark.parametrize("nb", book.chapters(), ids=[p.stem for p in book.chapters()])
def test_every_chapter_uses_its_device(nb):
    notebook = nbformat.read(nb, as_version=4)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    if "import torch" not in code:
        pytest.skip(f"{nb.name} runs no network (it reads committed results)")
    # directly, or through the chapter object that resolves the parameter
    started = re.search(r"\bch = chapter\.start\([^)]*device=device", code)
    takes = "dev = ch.device" in code or "P, dev = ch.profile, ch.device" in code
    resolves = "dev = train.resolve_device(device)" in code or (started and takes)
    assert resolves, f"{nb.name} never resolves `device`"
    missing = []
    for name, call in chapter_calls(notebook):
        assert name not in NOT_IN_CHAPTERS, (
            f"{nb.name}: use bench.compare, not {'.'.join(name)}"
        )
        if name in NEEDS_DEVICE:
            kw = {k.arg: k.value for k in call.keywords}
            if not (isinstance(kw.get("device"), ast.Name) and kw["device"].id == "dev"):
                missing.append(f"line {call.lineno}: {'.'.join(name)}")
    assert not missing, f"{nb.name}: calls without device=dev: {missing}"
