"""Unit tests of condcomp_lib.methods.cigt_recipe (chapter 4): the authors' recipe table
is sourced, complete, consistent with its own schedule and with the book's code."""

import inspect
import re

from condcomp_lib import baselines, data, train
from condcomp_lib.methods import cigt, cigt_recipe, cigt_runs

R = cigt_recipe
# one or more "path/to/file.py:12" or ":12-34" places, separated by ", "
PLACE = r"[\w./-]+\.py:\d+(?:-\d+)?"
SOURCE = re.compile(rf"{PLACE}(?:, {PLACE})*")


def by_name(name):
    return next(i for i in R.RECIPE if i.name == name)


def test_every_ingredient_has_a_source_in_path_line_form():
    for i in R.RECIPE:
        assert SOURCE.fullmatch(i.source) or i.source == "the book's choice", i
        for place in re.findall(r"(\d+)-(\d+)", i.source):
            first, last = map(int, place)
            assert first < last, i  # a range reads forwards


def test_ingredients_are_unique_and_filled_in():
    names = [i.name for i in R.RECIPE]
    assert len(names) == len(set(names))
    for i in R.RECIPE:
        assert i.name and i.authors and i.book, i
        assert i.config_a != i.authors, f"{i.name}: config A only where it differs"


def test_the_table_has_the_expected_columns_and_rows():
    t = R.table()
    assert t.index.name == "ingredient"
    assert list(t.columns) == [R.COLUMNS[k] for k in ("authors", "source", "book")]
    assert list(t.index) == [i.name for i in R.RECIPE]
    wide = R.table(config_a=True)
    assert R.COLUMNS["config_a"] in wide.columns and len(wide.columns) == 4


def test_epochs_and_learning_rate_schedule_add_up():
    assert R.WARMUP_EPOCHS + R.EPOCHS_AFTER_WARMUP == R.TOTAL_EPOCHS == 150
    assert R.LR_BOUNDARIES == (0, 60, 95, 120)
    assert list(R.LR_BOUNDARIES) == sorted(set(R.LR_BOUNDARIES))
    assert R.LR_BOUNDARIES[-1] < R.TOTAL_EPOCHS
    assert len(R.LR_FACTORS) == len(R.LR_BOUNDARIES) and R.LR_FACTORS[0] == 1
    assert all(a > b for a, b in zip(R.LR_FACTORS, R.LR_FACTORS[1:]))
    assert by_name("epochs").authors.startswith("150")
    assert "from epoch 120" in by_name("learning-rate schedule").authors


def test_the_book_column_matches_the_book_code():
    """The book's values are typed by hand: they must say what the code does."""
    assert by_name("batch size").book == str(baselines.RECIPE["batch_size"])
    assert by_name("initial learning rate").book == f"{baselines.RECIPE['lr']:g}"
    assert baselines.RECIPE["weight_decay"] == 0
    assert by_name("weight decay").book == "none"
    fit = inspect.signature(train.fit).parameters
    assert fit["optimizer"].default == "adam" and by_name("optimizer").book == "Adam"
    assert fit["schedule"].default == "cosine"
    assert str(train.get_profile("full").epochs) in by_name("epochs").book
    assert f"{train.get_profile('quick').epochs} in the quick" in by_name("epochs").book
    net = inspect.signature(cigt.LeNetCIGT).parameters
    assert by_name("dropout").book.startswith(str(net["dropout"].default))
    assert "4 and 2" == by_name("router pooling strides").book
    assert net["pool_strides"].default == (4, 2)
    share = inspect.signature(cigt_runs.train_cigt).parameters["random_share"].default
    assert f"probability {share}" in by_name("random routes after warm-up").book
    assert f"{cigt.Schedule().floor:g} at the last step" in (
        by_name("router temperature").book
    )
    val = inspect.signature(data.load_fashion_mnist).parameters["val_size"].default
    assert f"{60_000 - val:,}" in by_name("training images").book
