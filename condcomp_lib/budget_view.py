"""A budget study as its chapter shows it: every run beside its baseline of the same
seed, a table of the means per budget, and the accuracy-against-budget panel.

Used by chapters 3 and 4 (their studies: ``scripts/condconv_budget.py`` and
``scripts/cigt_budget.py``, recorded by :mod:`condcomp_lib.budget_study`); the verdict
in words is :mod:`condcomp_lib.budget_words`.
"""

from __future__ import annotations

import math

import pandas as pd

ACC = "test (%)"  # a run's test accuracy, in percent


def gap_column(baseline: str) -> str:
    return f"minus {baseline} (pt)"


def runs_frame(runs: list[dict], baseline: str) -> pd.DataFrame:
    """One row per run on record, with its test accuracy in percent (:data:`ACC`) and
    its gap to the ``baseline`` model of the same budget and seed, in points (NaN where
    that baseline has not run)."""
    frame = pd.DataFrame(runs)
    frame[ACC] = 100 * frame["test_acc"]
    base = frame[frame["model"] == baseline].set_index(["epochs", "seed"])[ACC]
    frame[gap_column(baseline)] = [
        r[ACC] - base.get((r["epochs"], r["seed"]), math.nan) for _, r in frame.iterrows()
    ]
    return frame


def table(frame: pd.DataFrame, rows: dict, budgets: list) -> pd.DataFrame:
    """One column per budget, one row per entry of ``rows`` (row label -> (model,
    column), or (model, (column, column)) for two numbers shown as "a / b"): the mean
    over the seeds run; an accuracy with, in brackets, how many seeds that is; a gap
    with its sign; "not run" where the model has no run at that budget."""
    mean = frame.groupby(["model", "epochs"]).mean(numeric_only=True)
    count = frame.groupby(["model", "epochs"])["seed"].count()

    def number(m, e, col):
        v = mean.loc[(m, e), col]
        text = f"{v:+.2f}" if col.startswith("minus") else f"{v:.2f}"
        return f"{text} ({count[m, e]})" if col == ACC else text

    def cell(m, e, col):
        if (m, e) not in count.index:
            return "not run"
        if isinstance(col, tuple):
            return " / ".join(number(m, e, c) for c in col)
        return number(m, e, col)

    return pd.DataFrame(
        {
            f"{e} epoch{'s' if e > 1 else ''}": [cell(m, e, c) for m, c in rows.values()]
            for e in budgets
        },
        index=list(rows),
    )


def accuracy_panel(ax, frame: pd.DataFrame, labels: dict, colors: dict) -> None:
    """Test accuracy against the budget on a log axis: every seed a dot, the mean of the
    seeds a line, the models of one budget side by side."""
    import matplotlib.ticker

    budgets = sorted(frame["epochs"].unique())
    for i, m in enumerate(labels):
        g = frame[frame["model"] == m]
        shift = 1 + 0.03 * (i - (len(labels) - 1) / 2)  # side by side at one budget
        mean = g.groupby("epochs")[ACC].mean()
        ax.plot(g["epochs"] * shift, g[ACC], "o", color=colors[m], alpha=0.5)
        ax.plot(mean.index * shift, mean.values, "-", color=colors[m], label=labels[m])
    ax.set_xscale("log")
    ax.set_xlim(budgets[0] / 1.5, budgets[-1] * 1.5)
    ax.set_xticks(budgets, [str(e) for e in budgets])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("training epochs on all images (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("accuracy against budget: dots are seeds")
    ax.legend(fontsize=8)
