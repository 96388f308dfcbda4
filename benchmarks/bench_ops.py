"""Time the routed ops and models against the dense ones they replace; print, write JSON.

    python benchmarks/bench_ops.py            # CPU cases (and GPU cases where a GPU and
                                              # CuPy are)
    python benchmarks/bench_ops.py --quick    # fewer repeats, about a third of the time
    python benchmarks/bench_ops.py --gpu-only # only the GPU cases
    (benchmarks/gpu_check.sh)

Contenders of one case are timed interleaved in one run (condcomp_lib.bench.compare) and
the figure that counts is the ratio of their medians. Each case states its target; the
table says whether it was met. Results go to benchmarks/results/<device>.json with the
device, library versions, shapes, medians, interquartile ranges and ratios, in three
sections:

* ``cases``: the routed ops (routed_linear, routed_conv2d by channel groups and by spatial
  tiles, per_sample_conv2d) against dense layers;
* ``models``: CIGT and early exit against the dense networks, with the execution before
  dispatching per block beside the current one (``condcomp_lib.methods.model_cases``);
* ``cost_model``: the machine's numbers behind ``condcomp_lib.ops.cost_model`` and the
  check of its choice over a grid of active fractions and batch sizes
  (``condcomp_lib.cost_grid``)."""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import time

import torch
import torch.nn.functional as F

from condcomp_lib import cache, cost_grid
from condcomp_lib.bench import compare, device_name
from condcomp_lib.methods import model_cases
from condcomp_lib.ops import (
    per_sample_conv2d,
    per_sample_reference,
    routed_conv2d,
    routed_linear,
    use_kernels,
)

RESULTS = pathlib.Path(__file__).parent / "results"


# ------------------------------------------------------------------ inputs


def one_group_each(b, g, frac, device):
    """route [B, G] with round(frac * G) groups on per sample (at least one), chosen at
    random."""
    k = max(1, round(frac * g))
    order = torch.rand(b, g, device=device).argsort(1)
    return order < k


def tiles_on(b, g, th, tw, frac, device):
    return torch.rand(b, g, th, tw, device=device) < frac


def conv_inputs(b, c_in, c_out, hw, k, device, dtype=torch.float32):
    x = torch.randn(b, c_in, hw, hw, device=device, dtype=dtype)
    w = torch.randn(c_out, c_in, k, k, device=device, dtype=dtype) / (c_in * k * k) ** 0.5
    return x, w, torch.randn(c_out, device=device, dtype=dtype)


def fwd_bwd(fn, *leaves):
    """A closure running forward and backward of fn on fresh gradients."""
    leaves = [t.detach().requires_grad_() for t in leaves]

    def run():
        for t in leaves:
            t.grad = None
        y = fn(*leaves)
        y.backward(torch.ones_like(y))

    return run


def repeat(fn, n):
    """n calls per timing sample: batch-1 calls are microseconds, below the clock's
    noise."""

    def run():
        for _ in range(n):
            fn()

    return run


# ------------------------------------------------------------------ cases


def cpu_cases():
    """(name, shapes, contenders, baseline, contender, target) rows; target = (kind,
    value)."""
    dev = "cpu"
    cases = []
    x, w, b = conv_inputs(256, 64, 128, 14, 3, dev)
    quarter = one_group_each(256, 4, 0.25, dev)
    full = torch.ones(256, 4, dtype=torch.bool)
    shapes = dict(x=[256, 64, 14, 14], weight=[128, 64, 3, 3], padding=1, G=4)
    cases.append(
        (
            "routed_conv2d fwd, 25% of groups",
            dict(shapes, active=0.25),
            {
                "dense": lambda: F.conv2d(x, w, b, 1, 1),
                "routed": lambda: routed_conv2d(x, w, b, quarter, padding=1),
            },
            "dense",
            "routed",
            ("speedup>=", 3.0),
        )
    )
    cases.append(
        (
            "routed_conv2d fwd+bwd, 25% of groups",
            dict(shapes, active=0.25),
            {
                "dense": fwd_bwd(lambda x_, w_, b_: F.conv2d(x_, w_, b_, 1, 1), x, w, b),
                "routed": fwd_bwd(
                    lambda x_, w_, b_: routed_conv2d(x_, w_, b_, quarter, padding=1),
                    x,
                    w,
                    b,
                ),
            },
            "dense",
            "routed",
            ("speedup>=", 2.5),
            True,
        )
    )
    cases.append(
        (
            "routed_conv2d fwd, all groups on",
            dict(shapes, active=1.0),
            {
                "dense": lambda: F.conv2d(x, w, b, 1, 1),
                "routed": lambda: routed_conv2d(x, w, b, full, padding=1),
            },
            "dense",
            "routed",
            ("time<=", 1.05),
        )
    )

    xs, ws, bs = conv_inputs(64, 64, 64, 56, 3, dev)
    for frac, target in ((0.25, 2.5), (0.10, 5.0)):
        tiles = tiles_on(64, 1, 7, 7, frac, dev)
        cases.append(
            (
                f"routed_conv2d fwd, 8x8 tiles, {100 * frac:.0f}% on",
                dict(
                    x=[64, 64, 56, 56],
                    weight=[64, 64, 3, 3],
                    padding=1,
                    tile=[8, 8],
                    active=round(float(tiles.float().mean()), 4),
                ),
                {
                    "dense": lambda: F.conv2d(xs, ws, bs, 1, 1),
                    "routed": lambda t=tiles: routed_conv2d(xs, ws, bs, t, padding=1),
                },
                "dense",
                "routed",
                ("speedup>=", target),
            )
        )

    for batch, f, target, calls in ((256, 512, 1.8, 1), (1, 2048, 2.5, 100)):
        xl = torch.randn(batch, f)
        wl, bl = torch.randn(f, f) / f**0.5, torch.randn(f)
        r = one_group_each(batch, 8, 0.25, dev)
        cases.append(
            (
                f"routed_linear fwd, {f}->{f}, batch {batch}, 2 of 8 blocks",
                dict(
                    x=[batch, f], weight=[f, f], G=8, active=0.25, calls_per_sample=calls
                ),
                {
                    # default arguments bind this iteration's tensors (a closure sees the
                    # last)
                    "dense": repeat(
                        lambda xl=xl, wl=wl, bl=bl: F.linear(xl, wl, bl), calls
                    ),
                    "routed": repeat(
                        lambda xl=xl, wl=wl, bl=bl, r=r: routed_linear(xl, wl, bl, r),
                        calls,
                    ),
                },
                "dense",
                "routed",
                ("speedup>=", target),
            )
        )
    xi = torch.randn(256, 512)
    wi, bi = torch.randn(512, 512) / 512**0.5, torch.randn(512)
    r, r_in = one_group_each(256, 8, 0.25, dev), one_group_each(256, 8, 0.25, dev)
    cases.append(
        (
            "routed_linear fwd, batch 256, 25% out x 25% in blocks",
            dict(x=[256, 512], weight=[512, 512], G=8, G_in=8, active=1 / 16),
            {
                "dense": lambda: F.linear(xi, wi, bi),
                "routed": lambda: routed_linear(xi, wi, bi, r, in_route=r_in),
            },
            "dense",
            "routed",
            ("speedup>=", 3.0),
        )
    )

    xp = torch.randn(64, 128, 14, 14)
    wp = torch.randn(64, 128, 128, 3, 3) / (128 * 9) ** 0.5
    contenders = {
        f"form {k}": (lambda f=f: f(xp, wp, None, (1, 1), (1, 1)))
        for k, f in per_sample_reference.FORMS.items()
    }
    contenders["per_sample_conv2d"] = lambda: per_sample_conv2d(xp, wp, padding=1)
    contenders["static conv"] = lambda: F.conv2d(xp, wp[0], None, 1, 1)
    cases.append(
        (
            "per_sample_conv2d fwd vs grouped trick",
            dict(x=[64, 128, 14, 14], weight=[64, 128, 128, 3, 3], padding=1),
            contenders,
            "form grouped",
            "per_sample_conv2d",
            ("speedup>=", 1.0),
        )
    )
    cases.append(
        (
            "per_sample_conv2d fwd vs one static conv",
            {},
            None,
            "static conv",
            "per_sample_conv2d",
            ("report", None),
        )
    )
    return cases


def gpu_cases():
    dev = "cuda"
    cases = []
    for dtype in (torch.float32, torch.bfloat16):
        x, w, b = conv_inputs(1024, 128, 256, 28, 3, dev, dtype)
        quarter = one_group_each(1024, 4, 0.25, dev)
        full = torch.ones(1024, 4, dtype=torch.bool, device=dev)
        shapes = dict(
            x=[1024, 128, 28, 28],
            weight=[256, 128, 3, 3],
            padding=1,
            G=4,
            dtype=str(dtype),
        )
        name = str(dtype).replace("torch.", "")
        cases.append(
            (
                f"GPU {name} routed_conv2d fwd, 25% of groups",
                dict(shapes, active=0.25),
                {
                    "cuDNN dense": lambda x=x, w=w, b=b: F.conv2d(x, w, b, 1, 1),
                    "routed": lambda x=x, w=w, b=b, r=quarter: routed_conv2d(
                        x, w, b, r, padding=1
                    ),
                },
                "cuDNN dense",
                "routed",
                ("report", None),
            )
        )
        cases.append(
            (
                f"GPU {name} routed_conv2d fwd+bwd, 25% of groups",
                dict(shapes, active=0.25),
                {
                    "cuDNN dense": fwd_bwd(
                        lambda a, c, d: F.conv2d(a, c, d, 1, 1), x, w, b
                    ),
                    "routed": fwd_bwd(
                        lambda a, c, d, r=quarter: routed_conv2d(a, c, d, r, padding=1),
                        x,
                        w,
                        b,
                    ),
                },
                "cuDNN dense",
                "routed",
                ("report", None),
                True,
            )
        )
        cases.append(
            (
                f"GPU {name} routed_conv2d fwd, all on",
                dict(shapes, active=1.0),
                {
                    "cuDNN dense": lambda x=x, w=w, b=b: F.conv2d(x, w, b, 1, 1),
                    "routed": lambda x=x, w=w, b=b, r=full: routed_conv2d(
                        x, w, b, r, padding=1
                    ),
                },
                "cuDNN dense",
                "routed",
                ("report", None),
            )
        )
    x, w, b = conv_inputs(1024, 128, 256, 28, 3, dev)
    tiles = tiles_on(1024, 4, 4, 4, 0.10, dev)
    cases.append(
        (
            "GPU float32 routed_conv2d fwd, 7x7 tiles, 10% on",
            dict(x=[1024, 128, 28, 28], weight=[256, 128, 3, 3], tile=[7, 7], active=0.1),
            {
                "cuDNN dense": lambda: F.conv2d(x, w, b, 1, 1),
                "routed": lambda: routed_conv2d(x, w, b, tiles, padding=1),
            },
            "cuDNN dense",
            "routed",
            ("report", None),
        )
    )
    xp = torch.randn(256, 128, 14, 14, device=dev)
    wp = torch.randn(256, 128, 128, 3, 3, device=dev) / (128 * 9) ** 0.5
    cases.append(
        (
            "GPU per_sample_conv2d fwd",
            dict(x=[256, 128, 14, 14], weight=[256, 128, 128, 3, 3]),
            {
                "grouped trick": lambda: per_sample_reference.grouped(
                    xp, wp, None, (1, 1), (1, 1)
                ),
                "static conv": lambda: F.conv2d(xp, wp[0], None, 1, 1),
                "per_sample_conv2d": lambda: per_sample_conv2d(xp, wp, padding=1),
            },
            "grouped trick",
            "per_sample_conv2d",
            ("report", None),
        )
    )
    return cases


# ------------------------------------------------------------------ running and reporting


def verdict(ratio, target):
    kind, value = target
    if kind == "speedup>=":
        return ratio >= value
    if kind == "time<=":
        return 1 / ratio <= value
    return None


def run(cases, device, repeats, warmup):
    rows, last = [], None
    for name, shapes, fns, base, cont, target, *grad in cases:
        if fns is None:  # a second ratio read from the previous case's timings
            timings = last
        else:
            with torch.set_grad_enabled(bool(grad)):  # forward-only cases: inference
                timings = compare(fns, warmup=warmup, repeats=repeats, device=device)
            last = timings
        ratio = timings[base].median / timings[cont].median  # > 1: contender is faster
        rows.append(
            dict(
                case=name,
                device=device or "cpu",
                shapes=shapes or rows[-1]["shapes"],
                baseline=base,
                contender=cont,
                ratio=ratio,
                target=list(target),
                met=verdict(ratio, target),
                timings={
                    k: dict(median_ms=1e3 * t.median, iqr_ms=1e3 * t.iqr)
                    for k, t in timings.items()
                },
            )
        )
        print_row(rows[-1])
    return rows


def print_row(r):
    kind, value = r["target"]
    goal = {
        "speedup>=": f">= {value}x faster",
        "time<=": f"<= {value}x the time",
        "report": "(reported)",
    }[kind]
    met = {True: "met", False: "NOT met", None: ""}[r["met"]]
    times = ", ".join(
        f"{k} {v['median_ms']:.3f} ms (IQR {v['iqr_ms']:.3f})"
        for k, v in r["timings"].items()
    )
    print(
        f"{r['case']:<52} {r['contender']} vs {r['baseline']}: {r['ratio']:6.2f}x "
        f"faster  target {goal:<20} {met}\n    {times}",
        flush=True,
    )


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument(
        "--only",
        choices=["cases", "models", "cost_model"],
        action="append",
        help="run only these sections (repeatable); the JSON keeps the others",
    )
    ap.add_argument("--gpu-only", action="store_true", help="skip the CPU cases")
    ap.add_argument(
        "--results",
        type=pathlib.Path,
        default=RESULTS,
        help=f"folder for the JSON (default {RESULTS})",
    )
    args = ap.parse_args()
    repeats, warmup = (5, 1) if args.quick else (15, 2)
    sections = (
        set() if args.gpu_only else set(args.only or ["cases", "models", "cost_model"])
    )
    torch.set_num_threads(2)
    torch.manual_seed(0)
    name = device_name()
    print(f"CPU: {name}, torch {torch.__version__}")
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"{slug(name)}.json"
    old = json.loads(path.read_text()) if path.is_file() and args.only else {}
    report = dict(
        old,
        date=time.strftime("%Y-%m-%d %H:%M:%S"),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        cpu=name,
        dtype="float32",
        quick=args.quick,
        cases=old.get("cases", []),
    )
    t0 = time.perf_counter()
    if "cases" in sections:
        report["cases"] = run(cpu_cases(), None, repeats, warmup)
    if "models" in sections:
        print("models")
        report["models"] = model_cases.cigt_rows(repeats) + model_cases.early_exit_rows(
            max(3, repeats // 2)
        )
        for row in report["models"]:
            print_row(row)
    if "cost_model" in sections:
        print("cost model")
        report["cost_model"] = dict(
            calibration=cost_grid.calibrate(),
            # cells are short and the choice's margin small (5%): many rounds a cell
            **cost_grid.grid(2 * repeats),
        )
        worst = report["cost_model"]["worst"]
        print(
            f"  worst cell: {worst['family']}, B={worst['batch']}, active "
            f"{worst['active']:.4f}: auto {worst['auto_vs_dense']:.2f}x dense"
        )
    try:
        import cupy

        report["cupy"] = cupy.__version__
        gpu = torch.cuda.is_available() and cupy.cuda.is_available()
    except ImportError:
        gpu = False
    if gpu:
        name = device_name("cuda")
        print(f"GPU: {name}; TF32 off; kernels on")
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        use_kernels(True)
        report["gpu"] = name
        report["cases"] += run(gpu_cases(), "cuda", repeats, warmup)
        path = args.results / f"{slug(name)}.json"
    elif args.gpu_only:
        print("--gpu-only, but no GPU with CuPy here: nothing timed, nothing written")
        return
    report["seconds"] = round(time.perf_counter() - t0)
    cache.write_atomically(path, json.dumps(report, indent=1))
    rows = report.get("cases", []) + report.get("models", [])
    met = [r["met"] for r in rows if r["met"] is not None]
    if "cost_model" in report:
        met.append(report["cost_model"]["met"])
    print(
        f"targets met: {sum(met)} of {len(met)}; written {path} in {report['seconds']} s"
    )


if __name__ == "__main__":
    main()
