"""The CIGT authors' Fashion-MNIST LeNet recipe, ingredient by ingredient, and the book's.

Used by chapter 4. The authors' PyTorch code (:data:`REPO`, branch
``multipath_inference_with_reinforce_and_ces``, commit :data:`COMMIT`) holds three
Fashion-MNIST LeNet configurations, none marked as the paper's: A, a fixed run of July
2023 without batch normalization; B, searches of August 2023 with no result recorded; C,
searches of February 2024 with batch normalization everywhere. The authors' value below is
config C's best recorded point (93.07%, the best test accuracy over the epochs evaluated:
chosen on the test set), with its place in their code (``path:line``) and config A's value
where it differs; the book's is what :mod:`~condcomp_lib.methods.cigt_runs`,
:data:`condcomp_lib.baselines.RECIPE` and :mod:`condcomp_lib.data` do now."""

from __future__ import annotations

from dataclasses import dataclass

REPO = "ufukcbicici/cigt"
COMMIT = "5997512100eb60605a7d35f6131310dc878ced33"

# the schedule's numbers, as the authors' config computes them (batch 125)
WARMUP_EPOCHS = 25  # configs/fashion_lenet_cigt_configs.py:21
EPOCHS_AFTER_WARMUP = 125  # :22
TOTAL_EPOCHS = WARMUP_EPOCHS + EPOCHS_AFTER_WARMUP  # cigt/cigt_ig_refactored.py:802
LR_BOUNDARIES = (0, 35 + WARMUP_EPOCHS, 70 + WARMUP_EPOCHS, 95 + WARMUP_EPOCHS)  # :74-77
LR_FACTORS = (1.0, 0.5, 0.25, 0.025)

_C = "bayesian_search_vanilla_cigt_entry_points/fashion_cigt_repeated_experiment.py"
_CONFIG = "configs/fashion_lenet_cigt_configs.py"
_FIT = "cigt/cigt_ig_refactored.py"
_ROUTING = "cigt/routing_manager_algorithms/information_gain_routing_manager.py"
_GS = "cigt/cigt_ig_gather_scatter_implementation.py"


@dataclass(frozen=True)
class Ingredient:
    """One ingredient: the authors' value (config C's best recorded point), where it
    stands, config A's value where it differs ("" where it does not) and the book's."""

    name: str
    authors: str
    source: str
    config_a: str
    book: str


RECIPE = (
    Ingredient(
        "network per path",
        "conv 5×5-32, conv 5×5-32, conv 1×1-32, fc 128, fc 64, a classifier per leaf",
        f"{_C}:80-94",
        "",
        "the same",
    ),
    Ingredient(
        "third block's convolution",
        "one 1×1 convolution per path, the same weights whichever path a sample "
        "came from",
        f"{_GS}:80-103",
        "",
        "one 1×1 block per pair of second- and third-block paths (8 blocks)",
    ),
    Ingredient(
        "batch normalization",
        "after every convolution and fully connected layer",
        f"{_C}:80-94",
        "none in the paths",
        "none in the paths (the routers only)",
    ),
    Ingredient(
        "router",
        "average pooling, linear 128, batch normalization, linear K; no non-linearity",
        "cigt/routing_layers/soft_routing_layer.py:45-58",
        "",
        "the same",
    ),
    Ingredient(
        "router pooling strides",
        "2 and 1, very likely (a later search: 14 and 7, a global average)",
        f"{_CONFIG}:61",
        "14 and 7 in the current file (2 and 1 at the run's date)",
        "4 and 2",
    ),
    Ingredient(
        "leaf loss",
        "sum over the 4 leaves of each leaf's mean cross-entropy",
        f"{_GS}:209-228",
        "",
        "the batch's mean cross-entropy, each sample on its own leaf",
    ),
    Ingredient(
        "total loss",
        "leaf loss − decision weight × sum over the 2 routers of IG_β",
        f"{_GS}:332-336",
        "",
        "the same",
    ),
    Ingredient(
        "β (weight of the route entropy)",
        "2.115",
        f"{_C}:28-34",
        "2.5",
        "2.0 or 2.5, chosen on the validation split (the full run: 2.0)",
    ),
    Ingredient(
        "decision weight",
        "0.0634",
        f"{_C}:28-34",
        "0.7",
        "0.05 or 0.7, chosen on the validation split (the full run: 0.05)",
    ),
    Ingredient(
        "dropout", "0.185 after each fc layer", f"{_C}:28-34", "0.3", "0.3, the same"
    ),
    Ingredient(
        "router temperature",
        "25, ×0.999848 a step from step 0, floor 0.01",
        f"{_C}:102-105, {_ROUTING}:102-105",
        "×0.9999 a step, floor 0.1",
        "25, from the end of warm-up at the rate that reaches 0.1 at the last step",
    ),
    Ingredient(
        "warm-up",
        f"{WARMUP_EPOCHS} epochs, every path on for every sample, information gain on",
        f"{_C}:120-122, {_ROUTING}:32-35",
        "a random path for every sample, information gain on",
        "the first 20% of the steps, a random path for every sample, information gain on",
    ),
    Ingredient(
        "random routes after warm-up",
        "49% of each batch's samples (drawn without replacement) at each router",
        f"{_C}:28-34, {_ROUTING}:77-96",
        "50%",
        "each sample with probability 0.5 at each router",
    ),
    Ingredient("optimizer", "SGD, momentum 0.9", f"{_FIT}:395-396", "", "Adam"),
    Ingredient("initial learning rate", "0.0273", f"{_C}:28-34", "0.01", "0.002"),
    Ingredient(
        "learning-rate schedule",
        ", ".join(f"×{f:g} from epoch {e}" for f, e in zip(LR_FACTORS, LR_BOUNDARIES)),
        f"{_CONFIG}:74-77, {_FIT}:623-662",
        "",
        "cosine decay to zero over the steps",
    ),
    Ingredient("weight decay", "none", f"{_C}:114", "", "none"),
    Ingredient("batch size", "125", f"{_CONFIG}:20", "", "128"),
    Ingredient(
        "epochs",
        f"{TOTAL_EPOCHS}: {WARMUP_EPOCHS} of warm-up, then {EPOCHS_AFTER_WARMUP}",
        f"{_CONFIG}:21-22, {_FIT}:802-803",
        "",
        "15 in the full profile (2 in the quick one)",
    ),
    Ingredient(
        "training images",
        "all 60,000; no validation split",
        f"{_C}:147-149",
        "",
        "55,000, with 5,000 held out for validation (the quick profile: 15,000)",
    ),
    Ingredient(
        "inputs",
        "pixels / 255; no augmentation",
        f"{_C}:143-146",
        "",
        "pixels / 255, then standardized; no augmentation",
    ),
    Ingredient("batch order", "no shuffling", f"{_C}:147-149", "", "shuffled each epoch"),
    Ingredient(
        "model selection",
        "the epoch with the best test accuracy (every 5th epoch and the last 10)",
        f"{_FIT}:810-834",
        "",
        "the last epoch; β and the decision weight chosen on the validation split",
    ),
)

COLUMNS = {
    "name": "ingredient",
    "authors": "the authors (config C's best point)",
    "source": f"source ({REPO} at {COMMIT[:7]})",
    "config_a": "config A, where it differs",
    "book": "this book",
}


def table(config_a: bool = False):
    """The recipe as a DataFrame, one row per ingredient, indexed by the ingredient:
    the authors' value, its source and the book's (and config A's with ``config_a``)."""
    import pandas as pd

    keep = [k for k in COLUMNS if config_a or k != "config_a"]
    rows = [{COLUMNS[k]: getattr(i, k) for k in keep} for i in RECIPE]
    return pd.DataFrame(rows).set_index(COLUMNS["name"])
