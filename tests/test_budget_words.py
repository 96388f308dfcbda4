"""A budget study seen by its chapter: each run beside its baseline of the same seed, the
table of means per budget, and the verdict sentences of chapters 3 and 4."""

import math

import pytest

from condcomp_lib import budget_view, budget_words


def run(model, epochs, seed, acc, **extra):
    return {"model": model, "epochs": epochs, "seed": seed, "test_acc": acc, **extra}


def condconv_runs(gain8_at_15: float, seeds=(0, 1, 2)):
    """Static, n = 4 and n = 8 at 1 and 15 epochs; the static seeds spread by 0.2 pt;
    n = 8 gains ``gain8_at_15`` (a fraction) at 15 epochs on every seed."""
    out = []
    for s in seeds:
        for e, base in ((1, 0.85), (15, 0.92)):
            static = base + 0.001 * s
            out += [run("static", e, s, static), run("4", e, s, static)]
            out.append(run("8", e, s, static + (gain8_at_15 if e == 15 else 0.0)))
    return out


def test_each_run_is_set_beside_its_baseline_of_the_same_seed_and_budget():
    runs = [run("static", 5, 0, 0.9), run("8", 5, 0, 0.905), run("8", 5, 1, 0.91)]
    frame = budget_view.runs_frame(runs, "static")
    gap = frame[budget_view.gap_column("static")].tolist()
    assert gap[:2] == pytest.approx([0.0, 0.5])
    assert math.isnan(gap[2])  # seed 1 has no static run: no pair
    assert frame[budget_view.ACC].tolist() == pytest.approx([90.0, 90.5, 91.0])


def test_the_table_says_seeds_signs_and_what_has_not_run():
    runs = [run("static", 5, s, 0.9) for s in (0, 1)] + [
        run("8", 5, 0, 0.905, t=1.0, u=2.0),
        run("static", 15, 0, 0.91),
    ]
    frame = budget_view.runs_frame(runs, "static")
    rows = {
        "static (%)": ("static", budget_view.ACC),
        "n=8 minus static (pt)": ("8", "minus static (pt)"),
        "n=8: t / u": ("8", ("t", "u")),
    }
    t = budget_view.table(frame, rows, [5, 15])
    assert list(t.columns) == ["5 epochs", "15 epochs"]
    assert t.loc["static (%)", "5 epochs"] == "90.00 (2)"
    assert t.loc["n=8 minus static (pt)", "5 epochs"] == "+0.50"
    assert t.loc["n=8: t / u", "5 epochs"] == "1.00 / 2.00"
    assert t.loc["n=8 minus static (pt)", "15 epochs"] == "not run"


def test_condconv_a_gain_on_every_seed_above_the_spread_is_a_win():
    text = budget_words.condconv(condconv_runs(0.01))
    assert "beats the static LeNet on every seed" in text and "n = 8, 15 epochs" in text
    assert "turns in CondConv's favour: the budget hypothesis fits" in text
    assert "one seed" not in text


def test_condconv_no_gain_fits_the_capacity_hypothesis():
    text = budget_words.condconv(condconv_runs(0.0))
    assert "at no budget run does CondConv beat the static LeNet" in text
    assert "0.20 pt at 15 epochs" in text  # the static seeds' own spread
    assert "the capacity hypothesis fits" in text


def test_condconv_a_gain_inside_the_spread_is_a_hint_and_one_seed_a_direction():
    runs = condconv_runs(0.001) + [run(m, 45, 0, 0.93) for m in ("static", "4", "8")]
    runs[-1]["test_acc"] = 0.931  # n = 8 ahead by 0.1 pt at 45 epochs, one seed
    text = budget_words.condconv(runs)
    assert "inside the static seeds' spread" in text and "not yet evidence" in text
    assert "A budget with one seed so far (45 epochs)" in text


def cigt_runs(gaps: dict, fixed: float | None = None):
    """thin, CIGT and random at each budget of ``gaps`` (epochs -> CIGT minus thin, a
    fraction), seeds 0-2; random 1 pt below thin; the fixed decay ``fixed`` above
    CIGT."""
    out = []
    for e, g in gaps.items():
        for s in (0, 1, 2):
            thin = 0.9 + 0.001 * s
            out += [
                run("thin", e, s, thin),
                run("cigt", e, s, thin + g),
                run("random", e, s, thin - 0.01),
            ]
            if fixed is not None:
                out.append(run("cigt-fixed", e, s, thin + g + fixed))
    return out


def test_cigt_a_narrowing_gap_points_at_data_per_path():
    text = budget_words.cigt(cigt_runs({5: -0.03, 45: -0.004}))
    assert "The gap narrows as training lengthens, from -3.00 pt at 5" in text
    assert "At no budget run is CIGT ahead by the book's target of 0.3 pt." in text
    assert "Learned routes against random" in text  # CIGT below random at 5 epochs


def test_cigt_ahead_and_the_fixed_decay_ahead_on_every_budget():
    text = budget_words.cigt(cigt_runs({5: 0.004, 45: 0.005}, fixed=0.002))
    assert "does not narrow" in text
    assert "ahead by the book's target of 0.3 pt at 5, 45 epochs" in text
    assert "Learned routes stay above random routes" in text
    assert "the fixed decay is ahead" in text and "+0.20 pt at 5 epochs" in text


def test_cigt_a_budget_of_one_seed_shows_a_trend_with_the_seeds_spread():
    runs = cigt_runs({15: -0.01}) + [
        run("thin", 45, 0, 0.91),
        run("cigt", 45, 0, 0.905),
        run("random", 45, 0, 0.9),
    ]
    text = budget_words.cigt(runs)
    assert "On seed 0, run at every budget, it goes -1.00, -0.50 pt at 15, 45" in text
    assert "A budget with one seed (45 epochs) shows a trend" in text


def test_the_accuracy_panel_draws_seeds_and_means_per_model():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = budget_view.runs_frame(condconv_runs(0.0), "static")
    fig, ax = plt.subplots()
    labels = {"static": "static", "8": "n = 8"}
    budget_view.accuracy_panel(ax, frame, labels, {"static": "k", "8": "r"})
    assert len(ax.lines) == 2 * len(labels)  # the seeds' dots and the means' line
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(labels.values())
    plt.close(fig)
