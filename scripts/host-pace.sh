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
echo "== one variant against five (2^26 f32 normal, --runs 1), three times each"
for _ in 1 2 3; do
  t "${sum[@]}" --precision f32 --size 2^26 --runs 1 --variant tree 2>&1 | grep wall | sed 's/^/  one:  /'
  t "${sum[@]}" --precision f32 --size 2^26 --runs 1 \
    --variant tree,kahan,reproducible,fixed_point,block_atomic 2>&1 | grep wall | sed 's/^/  five: /'
done
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
