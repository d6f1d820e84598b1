#!/usr/bin/env bash
# GPU check: runs a prebuilt detbench release binary on a Linux machine with an NVIDIA GPU
# (no Rust toolchain needed) and writes JSON reports under reports/<date>_<gpu>/, plus a copy
# under $OUT when that variable is set.
#
#   scripts/gpu-check.sh [path/to/detbench]     (default: target/release/detbench)
#
# Steps: `devices --json`; the reduction suite on cpu,cuda,wgpu (sum and dot; f32, f16, bf16,
# f64; every variant; 2^20 and 1000003 elements, atomic_cas at 2^16 and 65537 because each of
# its elements is a contended compare-exchange loop); performance cases (f32 sum, 20
# device-timed runs: tree and reproducible at 2^28, atomic and block_atomic at 2^24; and
# the copy baseline reports divide throughput by: 2^28 f32 elements, 8 runs, every copy
# read back and checked bit for bit); then, on CUDA, scatter_add, the convolution layer,
# Adam and the training workload at the issues' sizes; then the wgpu performance cases.
# Every step runs under its own time limit, so the script ends in under 5 minutes even if
# a contended kernel is slow; a step that hits its limit is reported, not fatal.

set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${1:-$ROOT/target/release/detbench}"
case "$BIN" in
/*) ;;
*) BIN="$PWD/$BIN" ;;
esac
if [ ! -x "$BIN" ]; then
    echo "gpu-check: no executable detbench at $BIN (build it with cargo build --release, or pass its path)" >&2
    exit 2
fi

START=$(date +%s)
# Whole-script budget in seconds (the limit is 5 minutes; keep a margin).
BUDGET="${GPU_CHECK_BUDGET:-285}"

# NVRTC and the CUDA runtime libraries live in the toolkit, not in the driver.
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# On a GPU machine the CUDA tests must run, never skip: with this set, a `cargo test` here
# fails them when no CUDA device is found (tests/it/common/mod.rs, build.rs).
export DETBENCH_REQUIRE_CUDA=1

# Vulkan loader and NVIDIA ICD for the wgpu backend: unpack the bundled .debs when the
# machine has no libvulkan.
if ! ldconfig -p 2>/dev/null | grep -q libvulkan; then
    for gl in "$ROOT/.gl" "$ROOT/../.gl"; do
        if [ -d "$gl" ] && ls "$gl"/*.deb >/dev/null 2>&1; then
            echo "gpu-check: unpacking Vulkan packages from $gl"
            for f in "$gl"/*.deb; do
                dpkg -x "$f" / || echo "gpu-check: could not unpack $f" >&2
            done
            ldconfig || true
            break
        fi
    done
fi
ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$ICD" ] &&
    ! ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json >/dev/null 2>&1; then
    export VK_DRIVER_FILES="$ICD"
fi

GPU_NAME="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"
GPU_SLUG="$(printf '%s' "${GPU_NAME:-unknown-gpu}" | tr -c 'A-Za-z0-9.' '_' | sed 's/_*$//')"
DIR="$ROOT/reports/$(date -u +%Y-%m-%dT%H%M%SZ)_${GPU_SLUG}"
mkdir -p "$DIR"
SUMMARY="$DIR/summary.txt"
echo "gpu-check: reports in $DIR"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "binary: $BIN"
    echo "gpu: ${GPU_NAME:-none found by nvidia-smi}"
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
} >"$SUMMARY"
nvidia-smi >"$DIR/nvidia-smi.txt" 2>&1 || true

FAILED=0

# step NAME LIMIT_SECONDS ARGS...: runs detbench with a time limit (never past the budget).
step() {
    local name="$1" limit="$2"
    shift 2
    local left=$((BUDGET - ($(date +%s) - START)))
    if [ "$left" -lt 5 ]; then
        echo "$name: skipped (time budget spent)" | tee -a "$SUMMARY"
        FAILED=1
        return
    fi
    if [ "$limit" -gt "$left" ]; then
        limit=$left
    fi
    local t0 rc
    t0=$(date +%s)
    timeout --signal=INT --kill-after=10 "$limit" "$BIN" "$@" >"$DIR/$name.out" 2>"$DIR/$name.err"
    rc=$?
    local took=$(($(date +%s) - t0))
    case $rc in
    0) echo "$name: ok (${took}s)" | tee -a "$SUMMARY" ;;
    124 | 130 | 137) echo "$name: stopped at its ${limit}s limit" | tee -a "$SUMMARY"; FAILED=1 ;;
    *) echo "$name: exit $rc (${took}s): $(tail -n 1 "$DIR/$name.err")" | tee -a "$SUMMARY"; FAILED=1 ;;
    esac
}

step devices 30 devices --json
cp "$DIR/devices.out" "$DIR/devices.json" 2>/dev/null || true

COMMON=(--op "sum,dot" --backend "cpu,cuda,wgpu" --precision "f32,f16,bf16,f64" --runs 5 --quiet)
step suite 120 run "${COMMON[@]}" \
    --variant atomic,block_atomic,tree,kahan,fixed_point,reproducible \
    --size 1048576,1000003 --json "$DIR/suite.json"
step suite_atomic_cas 35 run "${COMMON[@]}" --variant atomic_cas \
    --size 65536,65537 --json "$DIR/suite_atomic_cas.json"
# Performance cases, one backend per step: a size one device cannot hold is bad input (exit
# 2) and would otherwise cost the other device's figures. CUDA first: it is what the
# issues' targets are about.
perf_reduce() {
    local be="$1"
    step "perf_tree_repro_$be" 70 run --op sum --backend "$be" --precision f32 \
        --variant tree,reproducible --size 268435456 --runs 20 --no-copy-baseline --quiet \
        --json "$DIR/perf_tree_reproducible_$be.json"
    # The copy baseline (16-byte vector loads and stores; GB/s counts bytes read + written).
    # Uniform input: the values do not matter to a copy, and they are the cheapest to draw.
    step "perf_copy_$be" 45 run --op copy --backend "$be" --precision f32 \
        --size 268435456 --input uniform --runs 8 --quiet \
        --json "$DIR/perf_copy_$be.json"
    step "perf_atomic_$be" 30 run --op sum --backend "$be" --precision f32 \
        --variant atomic,block_atomic --size 16777216 --runs 20 --no-copy-baseline --quiet \
        --json "$DIR/perf_atomic_$be.json"
}

# The other families on CUDA, at the sizes the issues quote: scatter 2^24 f32 into 1024
# uniform bins and into 1 bin; the N=64, C=K=64, 56x56, 3x3, pad 1 layer (f32, and f16 for
# tensor_core); Adam on 2^26 f32 parameters; and the training workload.
perf_families() {
    local be="$1"
    step "perf_scatter_$be" 60 run --op scatter_add --backend "$be" --precision f32 \
        --bins 1024,1 --index-dist uniform --size 16777216 --runs 10 \
        --variant atomic,privatized,sort_segmented,fixed_point,reproducible --quiet \
        --json "$DIR/perf_scatter_$be.json"
    step "perf_conv_$be" 60 run --op conv2d_fwd,conv2d_bwd_data,conv2d_bwd_weight \
        --backend "$be" --precision f32,f16 --accumulator f32 \
        --conv-shape 64,64,56,56,64,3,3,1,1,1 --runs 5 --no-copy-baseline --quiet \
        --json "$DIR/perf_conv_$be.json"
    step "perf_adam_$be" 40 run --op adam --backend "$be" --precision f32 \
        --size 67108864 --steps 3 --runs 5 --no-copy-baseline --quiet \
        --json "$DIR/perf_adam_$be.json"
    step "train_$be" 40 train --backend "$be" --steps 30 --replicas 3 \
        --json "$DIR/train_$be.json"
}

perf_reduce cuda
perf_families cuda
perf_reduce wgpu

echo "total: $(($(date +%s) - START))s" | tee -a "$SUMMARY"

if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT/reports"
    cp -r "$DIR" "$OUT/reports/"
    echo "gpu-check: copied to $OUT/reports/$(basename "$DIR")"
fi
exit "$FAILED"
