#!/usr/bin/env bash
# The performance reports of issue 16 on wgpu (lavapipe here; any wgpu adapter works):
# one `detbench run` per family, each report with its determinism-cost table.
#
#   scripts/perf-lavapipe.sh [path/to/detbench] [out dir]   (defaults: target/release/detbench,
#                                                            reports/lavapipe)
#
# - perf-sum: f32 sum of 2^24 elements, plus the copy baseline (2^24 f32);
# - perf-scatter: f32 scatter_add of 2^22 elements into 1024 bins, with uniform, Zipf and
#   single-bin indices (all into one bin: the most contended case).
# Every variant but atomic_cas, whose contended compare-exchange loops would take minutes
# here (scripts/gpu-check.sh runs it at 2^16).
# Lavapipe runs on the CPU: close other work first, its times move with the machine's load.
# 15 timed runs per case: on a shared VM lavapipe's times move in phases of a fraction of a
# second, which a median of 5 runs of a 15 ms kernel could not outlast.

set -eu
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${1:-$ROOT/target/release/detbench}"
OUT="${2:-$ROOT/reports/lavapipe}"
if [ ! -x "$BIN" ]; then
    echo "perf-lavapipe: no executable detbench at $BIN (cargo build --release)" >&2
    exit 2
fi
mkdir -p "$OUT"
# Mesa complains on stderr without it.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

"$BIN" run --op sum --backend wgpu --precision f32 --variant atomic,block_atomic,tree,kahan,fixed_point,reproducible --size 16777216 \
    --runs 15 --quiet --json "$OUT/perf-sum.json"
"$BIN" report "$OUT/perf-sum.json" --md "$OUT/perf-sum.md" --html "$OUT/perf-sum.html"

"$BIN" run --op scatter_add --backend wgpu --precision f32 --variant atomic,privatized,sort_segmented,fixed_point,reproducible --size 4194304 \
    --bins 1024 --index-dist uniform,zipf,single --runs 15 --quiet --no-copy-baseline \
    --json "$OUT/perf-scatter.json"
"$BIN" report "$OUT/perf-scatter.json" --md "$OUT/perf-scatter.md" --html "$OUT/perf-scatter.html"
