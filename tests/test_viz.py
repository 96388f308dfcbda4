"""The book's one table style: what a reader sees in every chapter's tables."""

import pandas as pd
import pytest

from condcomp_lib import viz


def test_table_formats_numbers_as_a_reader_reads_them():
    df = pd.DataFrame(
        {
            "seeds": [3.0, 1.0, None],  # floats that are whole: no decimals
            "MACs": [5_740_672.0, 11_787_264.0, 2_910_208.0],
            "accuracy (%)": [91.1234, 92.5, None],
            "target": [True, False, True],
            "name": ["a", "b", "c"],
        }
    )
    html = viz.table(df).to_html()
    assert ">3<" in html and "3.000000" not in html
    assert "5,740,672" in html and "2,910,208.000" not in html
    assert "91.12" in html and "92.50" in html and "–" in html
    assert ">met<" in html and ">not met<" in html and "True" not in html
    assert viz.table(df, digits=1).to_html().count("91.1") == 1


def test_play_returns_nothing_to_print(monkeypatch):
    drawn = []
    monkeypatch.setenv("CONDCOMP_HEADLESS", "1")
    assert viz.play(lambda x: drawn.append(x), x=[2, 3]) is None
    assert drawn == [2]


def test_play_widens_its_sliders_in_jupyter(monkeypatch):
    ipywidgets = pytest.importorskip("ipywidgets")
    monkeypatch.setattr(viz, "headless", lambda: False)
    shown = []
    monkeypatch.setattr(ipywidgets, "interact", lambda f, **c: shown.append(c))
    slider = ipywidgets.FloatSlider(value=0.5, min=0.0, max=1.0)
    assert viz.play(lambda t, k: None, t=slider, k=[1, 2]) is None
    assert slider.layout.width == "420px" and shown[0]["t"] is slider
    assert shown[0]["k"] == [1, 2]  # a list of choices is left to interact
