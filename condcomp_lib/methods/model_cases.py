"""CIGT and early exit, timed against the dense networks they replace.

Used by ``benchmarks/bench_ops.py`` (section "models" of its JSON) and chapter 5. Each
case is timed interleaved with its baselines in one run, and the "before" contender (the
per-layer routed execution of CIGT; early exit with its batch machinery at batch 1)
beside the current one, so that the chapter on routed execution (chapter 5) can show both
from one measurement.

* CIGT at thick widths (chapter 4), routes balanced over the paths at batch 256 and the
  routers' own choice at batch 1, against the thick LeNet (the union of the paths) and the
  thin one (a single path: the ceiling).
* Early exit: chapter 1's B-LeNet at T = 0.5 on a stream of test images at batch 1 against
  its backbone. The full-profile model is used when the cache has it (it exits about 60%
  of the images at T = 0.5), else the quick one (trained if missing, which exits
  fewer)."""

from __future__ import annotations

import torch

from .. import cache, data
from ..bench import compare
from ..models import THICK, THIN, LeNet
from . import b_lenet, cigt
from . import early_exit as ee


def _row(case, shapes, timings, per, baseline, contender, target, kind, note=None):
    """One result row in bench_ops' format; ``per`` divides the timings (calls per
    sample)."""
    ms = {k: 1e3 * t.median / per for k, t in timings.items()}
    ratio = ms[baseline] / ms[contender]  # > 1: the contender is faster
    met = None
    if kind == "speedup>=":
        met = ratio >= target
    elif kind == "time<=":
        met = 1 / ratio <= target
    return dict(
        case=case,
        shapes=shapes,
        baseline=baseline,
        contender=contender,
        ratio=ratio,
        target=[kind, target],
        met=met,
        note=note,
        timings={
            k: dict(median_ms=v, iqr_ms=1e3 * timings[k].iqr / per) for k, v in ms.items()
        },
    )


def cigt_rows(repeats: int) -> list[dict]:
    torch.manual_seed(0)
    thick, thin = LeNet(THICK).eval(), LeNet(THIN).eval()
    net = cigt.LeNetCIGT().eval()
    x256 = torch.randn(256, 1, 28, 28)
    balanced = [torch.arange(256) % 2, (torch.arange(256) // 2) % 4]  # 32 per pair

    def cigt_run(x, routes, per_layer=False):  # forward, as chapter 4 times it
        net.forced_routes = routes
        return net.run_per_layer(x).logits if per_layer else net(x)

    with torch.no_grad():
        t256 = compare(
            {
                "thick": lambda: thick(x256),
                "thin": lambda: thin(x256),
                "CIGT": lambda: cigt_run(x256, balanced),
                "CIGT per layer (before)": lambda: cigt_run(x256, balanced, True),
            },
            warmup=2,
            repeats=repeats,
        )
        x1 = x256[:1]
        calls = 20  # short samples, many of them: batch 1 is the noisiest
        loop = lambda f: lambda: [f() for _ in range(calls)]
        net.forced_routes = None
        t1 = compare(
            {
                "thick": loop(lambda: thick(x1)),
                "thin": loop(lambda: thin(x1)),
                "CIGT": loop(lambda: net(x1)),
                "CIGT per layer (before)": loop(lambda: net.run_per_layer(x1)),
            },
            warmup=2,
            repeats=6 * repeats,
        )
    net.forced_routes = None
    s256 = dict(x=[256, 1, 28, 28], routes="balanced: 32 samples on each of the 8 pairs")
    s1 = dict(x=[1, 1, 28, 28], calls_per_sample=calls)
    return [
        _row(
            "CIGT batch 256 vs thin (throughput)",
            s256,
            t256,
            1,
            "thin",
            "CIGT",
            0.9,
            "speedup>=",
        ),
        _row(
            "CIGT batch 256 vs thick (throughput)",
            s256,
            t256,
            1,
            "thick",
            "CIGT",
            1.0,
            "speedup>=",
        ),
        _row(
            "CIGT per layer (before) batch 256 vs thin",
            s256,
            t256,
            1,
            "thin",
            "CIGT per layer (before)",
            None,
            "report",
        ),
        _row(
            "CIGT batch 1 vs thin (latency)", s1, t1, calls, "thin", "CIGT", 1.3, "time<="
        ),
        _row(
            "CIGT batch 1 vs thick (latency)",
            s1,
            t1,
            calls,
            "thick",
            "CIGT",
            1.0,
            "speedup>=",
        ),
        _row(
            "CIGT per layer (before) batch 1 vs thin",
            s1,
            t1,
            calls,
            "thin",
            "CIGT per layer (before)",
            None,
            "report",
        ),
    ]


def exit_network():
    """Chapter 1's B-LeNet: the full-profile one if cached, else the quick one."""
    hit = cache.load_model("b-lenet-thick-full-seed0", lambda: b_lenet.build("thick"))
    if hit is not None:
        return hit[0], "full"
    net, _ = b_lenet.trained(data.load_fashion_mnist(), "quick", 0, progress=False)
    return net, "quick"


def early_exit_rows(repeats: int, n_images: int = 200) -> list[dict]:
    net, profile = exit_network()
    net.eval()
    ds = data.load_fashion_mnist()
    xs = ds.test.x[:n_images]
    rule = ee.EntropyRule(0.5)
    net.rule = rule
    with torch.no_grad():
        exits = ee.exit_fractions(torch.cat([net(x[None]).exit_index for x in xs]), 1)
        rows = [x[None] for x in xs]
        stream = lambda f: lambda: [f(x) for x in rows]
        t1 = compare(
            {
                "backbone": stream(net.backbone),
                "early exit": stream(net),
                "early exit, batch machinery (before)": stream(net._early_exit_batch),
            },
            warmup=1,
            repeats=3 * repeats,
        )
        x256 = ds.test.x[:256]
        t256 = compare(
            {"backbone": lambda: net.backbone(x256), "early exit": lambda: net(x256)},
            warmup=1,
            repeats=repeats,
        )
    shapes = dict(
        model=f"B-LeNet ({profile} profile), EntropyRule(0.5)",
        stream=f"first {n_images} test images, one at a time",
        exit_fractions=[round(float(f), 4) for f in exits],
    )
    return [
        _row(
            "early exit batch 1 vs backbone (latency)",
            shapes,
            t1,
            n_images,
            "backbone",
            "early exit",
            1.5,
            "speedup>=",
        ),
        _row(
            "early exit with batch machinery (before) batch 1 vs backbone",
            shapes,
            t1,
            n_images,
            "backbone",
            "early exit, batch machinery (before)",
            None,
            "report",
        ),
        _row(
            "early exit batch 256 vs backbone (throughput)",
            dict(shapes, stream="256"),
            t256,
            1,
            "backbone",
            "early exit",
            None,
            "report",
        ),
    ]
