#!/bin/bash
# Submits detbench as a Slurm array of N shards plus a dependent merge(-and-store) job, and
# prints the two job ids (array, merge).
#
#   DETBENCH_OUT=/shared/detbench/$(date +%F) DETBENCH_ARGS="--op all --backend cuda" \
#     deploy/slurm/submit.sh 8
#
# Environment: DETBENCH (the binary, default `detbench` on PATH), DETBENCH_OUT (a folder
# every node sees), DETBENCH_ARGS (run's matrix flags), DETBENCH_STORE (optional: a store
# URL for `detbench store add`), DETBENCH_GRES (default gpu:1; empty on CPU-only
# partitions), and SBATCH_* variables (partition, account, time) as sbatch reads them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
N=${1:?usage: submit.sh N [extra sbatch options]}
shift
case $N in '' | *[!0-9]* | 0) echo "submit.sh: N must be a positive number" >&2; exit 2 ;; esac
: "${DETBENCH_OUT:?set DETBENCH_OUT to a folder every node can write}"
mkdir -p "$DETBENCH_OUT"
export DETBENCH_OUT DETBENCH_SHARDS=$N
gres=()
[ -n "${DETBENCH_GRES-gpu:1}" ] && gres=(--gres="${DETBENCH_GRES-gpu:1}")
array=$(sbatch --parsable --array="1-$N" "${gres[@]}" \
  --output="$DETBENCH_OUT/slurm-shard-%A_%a.out" "$@" "$here/shard.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable --dependency="afterany:$array" \
  --output="$DETBENCH_OUT/slurm-merge-%j.out" "$@" "$here/merge.sbatch")
echo "$array ${merge%%;*}"
