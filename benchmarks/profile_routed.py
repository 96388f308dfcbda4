"""Profile one routed forward+backward: where the time of the GPU path goes.

    python benchmarks/profile_routed.py [--out FILE] [--tiles] [--dry-run]

On a GPU with CuPy it runs the kernel path at the benchmark's size ([1024, 128, 28, 28] ->
256 channels, 3x3, G = 4, a quarter of the groups on; ``--tiles``: 7x7 tiles, 10% on) in
strict FP32, warms up (compilation, cuDNN's algorithm search), then records one
forward+backward with torch.profiler. The table, sorted by GPU time, shows the split
between the plan (sort, searchsorted, the one copy to the host), the routing kernels
(fill_tiles, gather_patches, scatter_tiles, gather_tiles, scatter_patches), the masked
bias sum and cuDNN's convolutions. ``--dry-run`` profiles a small size on the CPU through
the reference path, so the script can be checked on any machine."""

from __future__ import annotations

import argparse
import pathlib

import torch

from bench_ops import conv_inputs, one_group_each, tiles_on
from condcomp_lib.ops import routed_conv2d


def gpu_ready() -> bool:
    try:
        import cupy

        return torch.cuda.is_available() and cupy.cuda.is_available()
    except Exception:
        return False


def arguments(doc: str) -> argparse.ArgumentParser:
    """The options every GPU-validation script takes: --out and --dry-run."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, help="also write the report here")
    ap.add_argument(
        "--dry-run", action="store_true", help="small sizes, CPU, reference path"
    )
    return ap


def where_to_run(dry_run: bool):
    """(on a GPU?, device, backend): the kernel path on a GPU with CuPy, else the dry
    run."""
    on_gpu = not dry_run and gpu_ready()
    if not on_gpu and not dry_run:
        print("no GPU with CuPy here: running the dry run instead")
    return (on_gpu, "cuda", "kernel") if on_gpu else (on_gpu, "cpu", "reference")


def forward_backward(x, w, b, route, backend):
    """A closure: one routed forward and backward on fresh leaves."""
    leaves = [t.detach().requires_grad_() for t in (x, w, b)]

    def run():
        y = routed_conv2d(*leaves, route, padding=1, backend=backend)
        y.backward(torch.ones_like(y))

    return run


def main():
    ap = arguments(__doc__)
    ap.add_argument("--tiles", action="store_true", help="7x7 tiles, 10%% on")
    args = ap.parse_args()
    on_gpu, dev, backend = where_to_run(args.dry_run)
    batch, c_in, c_out, hw = (1024, 128, 256, 28) if on_gpu else (16, 8, 16, 28)
    torch.manual_seed(0)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    x, w, b = conv_inputs(batch, c_in, c_out, hw, 3, dev)
    route = (
        tiles_on(batch, 4, 4, 4, 0.10, dev)
        if args.tiles
        else one_group_each(batch, 4, 0.25, dev)
    )
    step = forward_backward(x, w, b, route, backend)
    for _ in range(3):  # compile, autotune, warm the caches
        step()
    activities = [torch.profiler.ProfilerActivity.CPU]
    if on_gpu:
        torch.cuda.synchronize()
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        with torch.profiler.record_function("routed forward+backward"):
            step()
            if on_gpu:
                torch.cuda.synchronize()
    sort = "device_time_total" if on_gpu else "cpu_time_total"
    table = prof.key_averages().table(
        sort_by=sort, row_limit=30, max_name_column_width=60
    )
    head = (
        f"routed_conv2d forward+backward, backend={backend}, device={dev}, "
        f"x=[{batch}, {c_in}, {hw}, {hw}] -> {c_out}, "
        f"{'7x7 tiles, 10%' if args.tiles else 'G=4, 25%'} on, strict FP32\n"
    )
    print(head + table)
    if args.out:
        args.out.write_text(head + table + "\n")


if __name__ == "__main__":
    main()
