#!/usr/bin/env bash
# Host pace (issue 27; docs/performance.md, "The host's own work"): times detbench's own
# host work around the cpu backend's reduction kernels, with a release binary, in a
# temporary folder. Run it on an idle machine: the figures are wall times.
#
#   cargo build --release && scripts/host-pace.sh [path/to/detbench]
set -euo pipefail
B=$(realpath "${1:-target/release/detbench}")
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
cd "$D"
t() { /usr/bin/time -f "%e s wall, %U s user, %S s sys, %M KB peak" "$@"; }
# The cpu backend's sums (an array, not a function: /usr/bin/time runs programs).
sum=("$B" run --op sum --backend cpu --no-copy-baseline)
echo "== one variant against five (2^26 f32 normal, --runs 1), nine times each, alternating"
# Wall times in milliseconds (bash's own timer: /usr/bin/time rounds to 10 ms, a third of
# the difference measured here).
five=tree,kahan,reproducible,fixed_point,block_atomic
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
for _ in 1 2 3 4 5 6 7 8 9; do
  echo "  one:  $(ms "${sum[@]}" --precision f32 --size 2^26 --runs 1 --variant tree) ms"
  echo "  five: $(ms "${sum[@]}" --precision f32 --size 2^26 --runs 1 --variant "$five") ms"
done | tee pairs.txt
med() { grep "$1:" pairs.txt | awk '{print $2}' | sort -n | sed -n 5p; }
awk -v a="$(med one)" -v b="$(med five)" 'BEGIN { printf "  medians: one %s ms, five %s ms, ratio %.2f\n", a, b, b / a }'
echo "== one variant, 10 runs"
t "${sum[@]}" --precision f32 --size 2^26 --runs 10 --variant tree 2>&1 | grep wall
echo "== peak RSS"
for p in f32 bf16; do
  for s in 24 26; do
    t "${sum[@]}" --precision "$p" --size "2^$s" --runs 1 --variant tree 2>&1 | grep wall | sed "s/^/  $p 2^$s: /"
  done
done
echo "== a new input's preparation at 2^26, by input kind"
for inp in uniform normal wide; do
  "${sum[@]}" --precision f32 --size 2^26 --runs 1 --variant tree --input "$inp" --verbose 2>&1 |
    grep '^\[' | sed "s/^/  $inp: /"
done
echo "== 2^30 f32, tree and reproducible, 2 runs"
t "${sum[@]}" --precision f32 --size 2^30 --runs 2 --variant tree,reproducible 2>&1 | grep wall
echo "== the default run (cpu and lavapipe) in an empty folder"
mkdir default && cd default && t "$B" run 2>&1 | tail -1
