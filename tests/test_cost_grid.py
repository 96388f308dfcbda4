"""The cost model's grid (chapter 5, ``make bench``): cells are timed and labelled, and
the crossovers read from them are the smallest fractions where the routed path loses and
where the model goes dense."""

from condcomp_lib import cost_grid


def cell(family, batch, active, routed, chosen):
    return dict(
        family=family,
        batch=batch,
        active=active,
        chosen=chosen,
        routed_vs_dense=routed,
        auto_vs_dense=1.0,
    )


def test_crossovers_are_the_smallest_losing_and_dense_fractions():
    cells = [
        cell("f", 1, 0.0625, 1.5, "routed"),
        cell("f", 1, 0.25, 0.9, "routed"),
        cell("f", 1, 0.5, 0.7, "dense"),
        cell("f", 256, 0.0625, 3.0, "routed"),
        cell("f", 256, 0.5, 1.2, "routed"),
    ]
    out = {(c["family"], c["batch"]): c for c in cost_grid.crossovers(cells)}
    assert out["f", 1]["routed_loses_from"] == 0.25
    assert out["f", 1]["model_goes_dense_from"] == 0.5
    assert out["f", 256]["routed_loses_from"] is None
    assert out["f", 256]["model_goes_dense_from"] is None


def test_a_small_grid_times_every_cell():
    families = ("routed_linear 512->512, G=16", "Dispatch, K paths 256->512/K->256")
    g = cost_grid.grid(
        1, fractions=(0.0, 0.25), batches=(1,), families=families, verbose=False
    )
    assert len(g["cells"]) == 4
    for c in g["cells"]:
        assert c["chosen"] in ("routed", "dense")
        assert c["routed_vs_dense"] > 0 and c["auto_vs_dense"] > 0
        assert set(c["ms"]) == {"dense", "routed", "auto"}
    assert g["worst"]["auto_vs_dense"] == min(c["auto_vs_dense"] for c in g["cells"])
    assert isinstance(g["met"], bool)


def test_large_map_tiles_times_three_contenders_at_each_fraction():
    rows = cost_grid.large_map_tiles(
        repeats=2, fractions=(0.25, 0.5), size=32, channels=4, grid_side=4
    )
    assert [r["active"] for r in rows] == [0.25, 0.5]
    for r in rows:
        assert set(r["ms"]) == {"plain", "dense", "routed"}
        assert r["shape"] == [1, 4, 32, 32] and r["routed_vs_plain"] > 0


def test_the_tile_family_is_also_timed_against_the_plain_convolution():
    family = cost_grid.PLAIN[0]
    g = cost_grid.grid(1, fractions=(0.25,), batches=(1,), families=(family,),
                       verbose=False)  # fmt: skip
    (cell,) = g["cells"]
    assert set(cell["ms"]) == {"dense", "routed", "auto", "plain"}
    assert cell["routed_vs_plain"] > 0
