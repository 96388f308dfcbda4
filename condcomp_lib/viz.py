"""One plotting style for the whole book, and the plots chapters share.

Used by every chapter: ``use_book_style()`` once at the top, then ``accuracy_vs_cost`` for
the trade-off every method in the book is judged by, and ``image_grid`` to show samples
with their class names."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from .headless import headless  # noqa: F401  (viz.headless, as the chapters read it)

# A colour-blind-safe cycle (Okabe and Ito), used in the same order in every chapter.
COLORS = [
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
]


def use_book_style() -> None:
    """Set the book's matplotlib style (sizes for the HTML page, readable fonts, light
    grid)."""
    matplotlib.rcParams.update(
        {
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 110,
            "savefig.dpi": 110,
            "savefig.bbox": "tight",
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": matplotlib.cycler(color=COLORS),
            "legend.frameon": False,
            "image.cmap": "viridis",
        }
    )


def accuracy_vs_cost(
    points: dict,
    *,
    xlabel: str = "MACs per sample",
    ylabel: str = "test accuracy (%)",
    ax=None,
    logx: bool = False,
    title: str | None = None,
):
    """Plot named operating points or curves: ``points[name] = (costs, accuracies)``, each
    a number or a sequence. Curves are drawn as lines with markers, single points as
    markers. Better is up and to the left."""
    if ax is None:
        _, ax = plt.subplots()
    for i, (name, (cost, acc)) in enumerate(points.items()):
        cost, acc = np.atleast_1d(cost), np.atleast_1d(acc)
        style = "o-" if len(cost) > 1 else "o"
        ax.plot(cost, acc, style, label=name, color=COLORS[i % len(COLORS)], ms=5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def image_grid(
    images,
    labels=None,
    class_names=None,
    *,
    ncols: int = 10,
    titles=None,
    size: float = 1.0,
    cmap: str = "gray_r",
):
    """A grid of grey images [N, 1, H, W] or [N, H, W] with class names (or ``titles``)
    above."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0]
    n = len(images)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * 1.2 * nrows), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], cmap=cmap)
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
        elif labels is not None:
            lab = int(labels[i])
            ax.set_title(class_names[lab] if class_names else str(lab), fontsize=7)
    fig.tight_layout()
    return fig


def play(draw, **controls):
    """Something to play with: ``draw(**values)`` redraws a figure from the controls'
    values.

    ``controls`` maps a parameter name to an ipywidgets control (e.g. a ``FloatSlider``)
    or to a list of choices. Headless, or without ipywidgets, ``draw`` runs once with each
    control's initial value and leaves a static figure; in Jupyter the controls appear
    above the figure."""

    def initial(c):
        return c[0] if isinstance(c, (list, tuple)) else c.value

    if headless():
        draw(**{name: initial(c) for name, c in controls.items()})
        return None
    try:
        import ipywidgets
    except ImportError:
        draw(**{name: initial(c) for name, c in controls.items()})
        return None
    sliders = (ipywidgets.IntSlider, ipywidgets.FloatSlider, ipywidgets.SelectionSlider)
    for c in controls.values():  # wide enough for twenty stops, the name unclipped
        if isinstance(c, sliders):
            c.layout.width = c.layout.width or "420px"
            c.style.description_width = "initial"
    # interact shows the controls and the figure itself; what it returns (the function)
    # would print as a stray line under the cell, stuck at the starting values
    ipywidgets.interact(draw, **controls)
    return None


MET = {True: "met", False: "not met"}


def table(df, digits: int = 2, booleans: dict = MET):
    """``df`` styled for reading (every chapter's tables): counts, whole numbers and large
    numbers with thousands separators and no decimals (seeds read 3, not 3.000000), the
    rest with ``digits`` decimals, never scientific notation; a missing value is a dash;
    a true/false column (a target) reads as ``booleans`` says, "met" / "not met"."""
    import pandas as pd

    kind = pd.api.types
    fmt = {}
    for col in df.columns:
        values = df[col]
        if kind.is_bool_dtype(values) or (
            values.dtype == object and values.dropna().map(type).eq(bool).all()
            and values.notna().any()
        ):  # fmt: skip
            fmt[col] = lambda v: "–" if v is None else booleans[bool(v)]
            continue
        if not kind.is_numeric_dtype(values):
            continue
        present = values.dropna()
        whole = kind.is_integer_dtype(values) or (
            len(present) > 0 and (present == present.round()).all()
        )
        large = len(present) > 0 and present.abs().max() >= 1000
        fmt[col] = "{:,.0f}" if whole or large else f"{{:.{digits}f}}"
    return df.style.format(fmt, na_rep="–")
