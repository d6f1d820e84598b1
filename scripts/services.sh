#!/usr/bin/env bash
# The servers the fleet tests need, started as plain processes in one temporary folder:
# - PostgreSQL 15 (initdb, listening on 127.0.0.1 and a socket in the folder, trust auth),
#   for the results store's tests;
# - a single-node Slurm cluster (munged, slurmctld and slurmd on localhost), for the Slurm
#   recipe in deploy/slurm/, run end to end.
#
#   eval "$(scripts/services.sh start)"   # prints the variables the tests read
#   scripts/services.sh stop              # stops everything it started, removes the folder
#                                         # (the one DETBENCH_SERVICES_DIR names, if set)
#
# `start` prints `export` lines: DETBENCH_SERVICES_DIR (the folder), DETBENCH_TEST_POSTGRES
# (a postgres:// URL) and DETBENCH_TEST_SLURM_CONF (the slurm.conf the cluster runs with).
# A service that cannot start is reported on stderr and its variable is left unset, so its
# tests fail where CI requires them (DETBENCH_REQUIRE_SERVICES=1) and are ignored elsewhere.
# Needs Debian's postgresql, slurm-wlm and munge (scripts/test.sh installs them), and root
# for Slurm (slurmd manages jobs as their users).
set -euo pipefail

cmd="${1:-}"
state_file="${XDG_RUNTIME_DIR:-/tmp}/detbench-services.dir"

pg_bin() {
  local v
  for v in /usr/lib/postgresql/*/bin; do
    [ -x "$v/pg_ctl" ] && { echo "$v"; return 0; }
  done
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the folder's unprivileged owner when we are root (initdb and postgres
# refuse to run as root), as ourselves otherwise.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start_postgres() {
  local dir="$1" bin port
  bin=$(pg_bin) || { echo "services: no PostgreSQL server found (apt-get install postgresql)" >&2; return 1; }
  port=$(free_port)
  mkdir -p "$dir/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/pg"
  as_owner "$bin/initdb" -D "$dir/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/pg/initdb.log" 2>&1 \
    || { echo "services: initdb failed (see $dir/pg/initdb.log)" >&2; return 1; }
  as_owner "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/pg -c fsync=off -c max_connections=50" start >/dev/null \
    || { echo "services: PostgreSQL did not start (see $dir/pg/server.log)" >&2; return 1; }
  echo "export DETBENCH_TEST_POSTGRES=postgres://postgres@127.0.0.1:$port/postgres"
}

stop_postgres() {
  local dir="$1" bin
  [ -d "$dir/pg/data" ] || return 0
  bin=$(pg_bin) || return 0
  as_owner "$bin/pg_ctl" -D "$dir/pg/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
}

start_slurm() {
  local dir="$1" host ctld_port d_port
  if [ "$(id -u)" -ne 0 ]; then
    echo "services: Slurm needs root here (slurmd runs jobs as their users); skipped" >&2
    return 1
  fi
  for b in munged mungekey slurmctld slurmd sbatch; do
    command -v "$b" >/dev/null || { echo "services: $b not found (apt-get install slurm-wlm munge)" >&2; return 1; }
  done
  host=$(hostname -s)
  ctld_port=$(free_port)
  d_port=$(free_port)
  mkdir -p "$dir/slurm/state" "$dir/slurm/spool" "$dir/slurm/log" "$dir/munge"
  chmod 700 "$dir/munge"
  mungekey --create --keyfile="$dir/munge/munge.key" --force >/dev/null
  chmod 400 "$dir/munge/munge.key"
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed" \
    || { echo "services: munged did not start (see $dir/munge/munged.log)" >&2; return 1; }
  local cpus mem
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
  cat >"$dir/slurm/slurm.conf" <<EOF
ClusterName=detbench-ci
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/slurm/state
SlurmdSpoolDir=$dir/slurm/spool
SlurmctldPidFile=$dir/slurm/slurmctld.pid
SlurmdPidFile=$dir/slurm/slurmd.pid
SlurmctldLogFile=$dir/slurm/log/slurmctld.log
SlurmdLogFile=$dir/slurm/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
  SLURM_CONF="$dir/slurm/slurm.conf" slurmctld -f "$dir/slurm/slurm.conf" \
    || { echo "services: slurmctld did not start (see $dir/slurm/log/slurmctld.log)" >&2; return 1; }
  SLURM_CONF="$dir/slurm/slurm.conf" slurmd -f "$dir/slurm/slurm.conf" \
    || { echo "services: slurmd did not start (see $dir/slurm/log/slurmd.log)" >&2; return 1; }
  # The node is up when sinfo reports it idle (or mixed); give it 60 s.
  local i
  for i in $(seq 1 60); do
    if SLURM_CONF="$dir/slurm/slurm.conf" sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix)'; then
      echo "export DETBENCH_TEST_SLURM_CONF=$dir/slurm/slurm.conf"
      return 0
    fi
    sleep 1
  done
  echo "services: the Slurm node did not come up in 60 s (see $dir/slurm/log/)" >&2
  return 1
}

stop_pidfile() {
  local f="$1" pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

stop_slurm() {
  local dir="$1"
  [ -d "$dir/slurm" ] || return 0
  if [ -f "$dir/slurm/slurm.conf" ]; then
    SLURM_CONF="$dir/slurm/slurm.conf" scancel --quiet --user=root 2>/dev/null || true
  fi
  stop_pidfile "$dir/slurm/slurmd.pid"
  stop_pidfile "$dir/slurm/slurmctld.pid"
  stop_pidfile "$dir/munge/munged.pid"
}

case "$cmd" in
  start)
    if [ -f "$state_file" ] && [ -d "$(cat "$state_file")" ]; then
      echo "services: already started in $(cat "$state_file"); run '$0 stop' first" >&2
      exit 2
    fi
    dir=$(mktemp -d "${TMPDIR:-/tmp}/detbench-services.XXXXXX")
    chmod 755 "$dir"
    echo "$dir" >"$state_file"
    echo "export DETBENCH_SERVICES_DIR=$dir"
    start_postgres "$dir" || true
    start_slurm "$dir" || true
    ;;
  stop)
    # The caller's own folder where it has one (the `start` it evaluated exported it):
    # another caller on the machine may have started since, and the state file names
    # only the latest start.
    dir="${DETBENCH_SERVICES_DIR:-}"
    if [ -z "$dir" ]; then
      [ -f "$state_file" ] || exit 0
      dir=$(cat "$state_file")
    fi
    case "$dir" in
      */detbench-services.*) ;;
      *) echo "services: $dir is not a services folder" >&2; exit 2 ;;
    esac
    if [ -d "$dir" ]; then
      stop_slurm "$dir"
      stop_postgres "$dir"
      rm -rf "$dir"
    fi
    if [ -f "$state_file" ] && [ "$(cat "$state_file")" = "$dir" ]; then
      rm -f "$state_file"
    fi
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
