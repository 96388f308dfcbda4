"""Strict FP32, TF32 and bfloat16 side by side: the routed ops' time against cuDNN in the
same setting, and their error against float64.

    python benchmarks/precision_modes.py [--out FILE] [--quick] [--dry-run]

--out FILE also writes the tables to FILE and the numbers to FILE with the suffix .json.

A speed-up is only honest against the dense layer in the same arithmetic, and the three
settings a GPU user meets give very different baselines:

* strict FP32: float32 tensors, TF32 off: cuDNN and cuBLAS in full float32;
* TF32: float32 tensors, TF32 on (PyTorch's default for cuDNN convolutions): tensor cores
  with 10-bit mantissas;
* bf16: bfloat16 tensors.

For each setting and case it times cuDNN's dense layer, the routed op on the kernel path
and on the reference path (forward and backward, interleaved, medians), and measures the
kernel path's relative error against the float64 reference on a slice of the batch.
``--dry-run`` runs small sizes on the CPU (reference path, TF32 switches without effect),
so the script can be checked on any machine."""

from __future__ import annotations

import json
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from bench_ops import conv_inputs, fwd_bwd, one_group_each, tiles_on
from condcomp_lib.bench import compare, device_name
from condcomp_lib.ops import routed_conv2d
from profile_routed import arguments, where_to_run

MODES = ("strict FP32", "TF32", "bf16")


@contextmanager
def precision(mode: str):
    """Set the TF32 switches for ``mode``; yield the tensors' dtype."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    tf32 = mode == "TF32"
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        yield torch.bfloat16 if mode == "bf16" else torch.float32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def rel_err(a, ref) -> float:
    a, ref = a.double(), ref.double()
    return ((a - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def errors(x, w, b, route, backend, n=64):
    """Relative errors of y and dL/dx against float64, on the first n samples."""
    leaves = [
        t[:n].detach().requires_grad_() if t.dim() == 4 else t.detach().requires_grad_()
        for t in (x, w, b)
    ]
    exact = [t.detach().double().requires_grad_() for t in leaves]
    r = route[:n]
    y = routed_conv2d(*leaves, r, padding=1, backend=backend)
    y64 = routed_conv2d(*exact, r, padding=1, backend="reference")
    go = torch.randn_like(y64)
    gx = torch.autograd.grad(y, leaves[0], go.to(y.dtype))[0]
    gx64 = torch.autograd.grad(y64, exact[0], go)[0]
    return rel_err(y, y64), rel_err(gx, gx64)


def run_case(name, make, backend, dev, repeats, warmup):
    """{mode: row} for one case: medians in ms, speed-up, errors."""
    rows = {}
    for mode in MODES:
        with precision(mode) as dtype:
            x, w, b, route = make(dtype)
            fns = {
                "cuDNN dense": fwd_bwd(lambda a, c, d: F.conv2d(a, c, d, 1, 1), x, w, b),
                "routed, kernel path": fwd_bwd(
                    lambda a, c, d: routed_conv2d(
                        a, c, d, route, padding=1, backend=backend
                    ),
                    x,
                    w,
                    b,
                ),
                "routed, reference path": fwd_bwd(
                    lambda a, c, d: routed_conv2d(
                        a, c, d, route, padding=1, backend="reference"
                    ),
                    x,
                    w,
                    b,
                ),
            }
            t = compare(fns, warmup=warmup, repeats=repeats, device=dev)
            err_y, err_gx = errors(x, w, b, route, backend)
        row = {f"{k} (ms)": 1e3 * v.median for k, v in t.items()}
        row["speed-up of the kernel path"] = (
            t["cuDNN dense"].median / t["routed, kernel path"].median
        )
        row["rel. error y"], row["rel. error dL/dx"] = err_y, err_gx
        rows[mode] = row
        print(f"  {name}, {mode}: done", flush=True)
    return rows


def table(name, rows) -> str:
    lines = [name, f"{'':<32}" + "".join(f"{m:>14}" for m in MODES)]
    for key in rows[MODES[0]]:
        fmt = "{:>14.2e}" if "error" in key else "{:>14.3f}"
        lines.append(f"{key:<32}" + "".join(fmt.format(rows[m][key]) for m in MODES))
    return "\n".join(lines)


def main():
    ap = arguments(__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    args = ap.parse_args()
    repeats, warmup = (5, 2) if (args.quick or args.dry_run) else (20, 3)
    on_gpu, dev, backend = where_to_run(args.dry_run)
    batch, c_in, c_out, hw = (1024, 128, 256, 28) if on_gpu else (8, 8, 16, 14)
    torch.manual_seed(0)

    def channels(dtype):
        x, w, b = conv_inputs(batch, c_in, c_out, hw, 3, dev, dtype)
        return x, w, b, one_group_each(batch, 4, 0.25, dev)

    def tiles(dtype):
        x, w, b = conv_inputs(batch, c_in, c_out, hw, 3, dev, dtype)
        return (
            x,
            w,
            b,
            tiles_on(batch, 4, 4, 4, 0.10, dev)
            if hw % 4 == 0
            else tiles_on(batch, 4, 2, 2, 0.10, dev),
        )

    shape = f"[{batch}, {c_in}, {hw}, {hw}] -> {c_out}, 3x3"
    cases = {
        f"routed_conv2d fwd+bwd, {shape}, G = 4, 25% on": channels,
        f"routed_conv2d fwd+bwd, {shape}, G = 4, tiles, 10% on": tiles,
    }
    report = {
        "device": device_name(dev),
        "torch": torch.__version__,
        "backend": backend,
        "cases": {},
    }
    text = [f"{report['device']}, torch {torch.__version__}, routed path: {backend}"]
    for name, make in cases.items():
        rows = run_case(name, make, backend, dev, repeats, warmup)
        report["cases"][name] = rows
        text.append(table(name, rows))
    print("\n\n".join(text))
    if args.out:
        args.out.write_text("\n\n".join(text) + "\n")
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
