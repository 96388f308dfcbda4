#!/usr/bin/env bash
# GPU validation of the routed ops' CUDA path. Run from the repository root on a GPU machine,
# with that machine's own python3 (torch with CUDA, cupy-cuda12x):
#
#     bash benchmarks/gpu_check.sh OUTDIR
#
# Every step has its own time limit and writes its own log in OUTDIR; a step that fails or
# times out is recorded in OUTDIR/status.txt and the next one runs, so one failure never
# hides the rest. The limits add up to about six and a half minutes, and a whole-run budget
# skips what would run past it:
#
#   env.txt          nvidia-smi, torch, CuPy and CUDA versions
#   pytest.log       the GPU tests (pytest -m gpu tests/test_ops_gpu.py)
#   memcheck.log     the kernel-path GPU tests under compute-sanitizer memcheck, with PyTorch's
#                    caching allocator off so that a read past a buffer hits unallocated memory
#   racecheck.log    racecheck: shared-memory hazards (no kernel uses shared memory today; the
#                    step stays so that one that does is checked)
#   bench.log        benchmarks/bench_ops.py --gpu-only (JSON beside it)
#   profile.txt      torch.profiler table of one routed forward+backward
#   precision.txt    strict FP32, TF32 and bf16 side by side (times and errors; .json beside)
set -u

OUT=${1:?usage: bash benchmarks/gpu_check.sh OUTDIR}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
STATUS="$OUT/status.txt"
BUDGET=${GPU_CHECK_BUDGET:-400}     # seconds for the whole run
START=$SECONDS
: > "$STATUS"

# step NAME SECONDS LOG COMMAND: run the shell command COMMAND (it may call the functions
# below) with a time limit, its output to LOG.
step() {
    local name=$1 limit=$2 log=$3 command=$4
    local left=$((BUDGET - (SECONDS - START)))
    if [ "$left" -lt 15 ]; then
        echo "$name: skipped (the run's ${BUDGET}s budget is spent)" | tee -a "$STATUS"
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    local t0=$SECONDS
    timeout --kill-after=5 "$limit" bash -c "$command" > "$log" 2>&1
    local rc=$?
    local verdict=ok
    [ "$rc" -ne 0 ] && verdict="FAILED (exit $rc)"
    [ "$rc" -eq 124 ] && verdict="TIMED OUT after ${limit}s"
    echo "$name: $verdict in $((SECONDS - t0))s, log $log" | tee -a "$STATUS"
}

environment() {
    date -u
    nvidia-smi || echo "nvidia-smi failed"
    "$PY" - <<'EOF'
import torch
print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN",
      torch.backends.cudnn.version())
print("GPU", torch.cuda.get_device_name() if torch.cuda.is_available() else "none")
try:
    import cupy
    print("CuPy", cupy.__version__, "CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(),
          "driver", cupy.cuda.runtime.driverGetVersion())
except Exception as e:
    print("CuPy unavailable:", e)
EOF
    git log -1 --format='commit %H %s' 2>/dev/null || true
}

SANITIZER=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer \
            2>/dev/null | head -n 1)
sanitize() {   # sanitize TOOL PYTEST-ARGS...
    local tool=$1
    shift
    if [ -z "$SANITIZER" ]; then
        echo "compute-sanitizer not found (install the CUDA toolkit's sanitizer)"
        return 3
    fi
    PYTORCH_NO_CUDA_MEMORY_CACHING=1 "$SANITIZER" --tool "$tool" --error-exitcode 9 \
        --target-processes all "$PY" -m pytest -m gpu tests/test_ops_gpu.py -q \
        -p no:cacheprovider "$@"
}
export -f environment sanitize
export PY SANITIZER OUT

KERNEL_TESTS="(kernel_matches and not float64) or exact_zeros or partial or stream"
step env 20 "$OUT/env.txt" environment
step pytest 100 "$OUT/pytest.log" \
    '"$PY" -m pytest -m gpu tests/test_ops_gpu.py -q -ra -p no:cacheprovider'
step memcheck 75 "$OUT/memcheck.log" "sanitize memcheck -x -k '$KERNEL_TESTS'"
step racecheck 30 "$OUT/racecheck.log" "sanitize racecheck -x -k 'exact_zeros or partial'"
step bench 90 "$OUT/bench.log" \
    '"$PY" benchmarks/bench_ops.py --gpu-only --quick --results "$OUT"'
step profile 30 "$OUT/profile.log" \
    '"$PY" benchmarks/profile_routed.py --out "$OUT/profile.txt"'
step precision 50 "$OUT/precision.log" \
    '"$PY" benchmarks/precision_modes.py --quick --out "$OUT/precision.txt"'

echo "done in $((SECONDS - START))s; summary in $STATUS"
exit 0
