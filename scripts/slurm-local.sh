#!/usr/bin/env bash
# A single-node Slurm cluster in a folder of its own, to run docs/scale/slurm/ for real on one
# machine (the Slurm integration test does; so can anyone trying the templates):
#   bash scripts/slurm-local.sh start /tmp/cluster   # prints: export SLURM_CONF=/tmp/cluster/slurm.conf
#   SLURM_CONF=/tmp/cluster/slurm.conf bash docs/scale/slurm/submit.sh …
#   bash scripts/slurm-local.sh stop /tmp/cluster
# Debian's slurm-wlm and munge (scripts/install-slurm.sh), run as root (slurmd starts jobs as
# their user). munged gets a new key and its own socket, slurmctld and slurmd their own ports,
# state, spool, pid and log files, all in the folder: nothing of a system Slurm or munge is used
# or touched. No cgroups: ProctrackType=proctrack/linuxproc, TaskPlugin=task/none. One node with
# the machine's CPUs and memory (slurmd -C), one partition.
# SLURM_LOCAL_WATCH_PID=<pid>: stop the cluster when that process ends (a test killed midway).
set -euo pipefail

usage() {
  echo "usage: $0 start|stop <folder>" >&2
  exit 2
}
[ $# = 2 ] || usage
action=$1
dir=$2
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
conf="$dir/slurm.conf"
# Given to each command that needs it, never exported: a process carrying it is the cluster's.
unset SLURM_CONF
log() { printf '[slurm-local] %s\n' "$*" >&2; }

# The cluster's processes: the daemons started here (pid files) and whatever carries this
# cluster's SLURM_CONF (slurmstepd and the jobs inherit it from slurmd), except the process
# given ($1: the one stopping) and the processes above it.
cluster_pids() {
  local f pid keep=" " p=$1
  while [ -n "$p" ] && [ "$p" != 0 ]; do
    keep+="$p "
    p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null || true)
  done
  for f in "$dir"/pids/*; do
    [ -f "$f" ] && pid=$(<"$f") && [ -d "/proc/$pid" ] && [[ "$keep" != *" $pid "* ]] && echo "$pid"
  done
  for f in $(grep -lzxF "SLURM_CONF=$conf" /proc/[0-9]*/environ 2>/dev/null); do
    pid=${f#/proc/}
    pid=${pid%/environ}
    [[ "$keep" == *" $pid "* ]] || echo "$pid"
  done
  return 0
}

stop() {
  local self=$BASHPID
  [ -d "$dir/pids" ] || return 0
  if [ -f "$dir/pids/slurmctld" ] && [ -d "/proc/$(<"$dir/pids/slurmctld")" ]; then
    # Jobs first, so that no slurmstepd outlives its slurmd.
    SLURM_CONF=$conf scancel --full --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 30); do
      [ -z "$(SLURM_CONF=$conf squeue -h -t running,completing 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  local pids
  for signal in TERM KILL; do
    pids=$(cluster_pids "$self" | sort -u)
    [ -z "$pids" ] && break
    # shellcheck disable=SC2086 # one pid a word
    kill -s "$signal" $pids 2>/dev/null || true
    for _ in $(seq 20); do
      [ -z "$(cluster_pids "$self")" ] && break
      sleep 0.5
    done
  done
  pids=$(cluster_pids "$self" | sort -u)
  rm -rf "$dir/pids"
  if [ -n "$pids" ]; then
    log "processes of the cluster still there after SIGKILL: $pids"
    return 1
  fi
  log "stopped (logs in $dir/log)"
}

start() {
  for cmd in munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol; do
    command -v "$cmd" >/dev/null || {
      log "$cmd not found: install Debian's slurm-wlm and munge (bash scripts/install-slurm.sh)"
      exit 3
    }
  done
  [ "$(id -u)" = 0 ] || {
    log "run as root: slurmd starts each job as its user"
    exit 3
  }
  [ ! -e "$dir/pids" ] || {
    log "$dir already holds a cluster: stop it first ($0 stop $dir)"
    exit 2
  }
  mkdir -p "$dir"/{munge,state,spool,log,pids}
  chmod 711 "$dir" "$dir/munge"

  # munge: a new key, and a socket in the folder (slurm.conf's AuthInfo names it).
  mungekey --create --keyfile="$dir/munge/munge.key" 2>/dev/null ||
    { dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none && chmod 600 "$dir/munge/munge.key"; }
  munged --foreground --force --socket="$dir/munge/munge.sock" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" \
    --log-file="$dir/log/munged.log" >"$dir/log/munged.out" 2>&1 &
  echo $! >"$dir/pids/munged"
  for _ in $(seq 50); do [ -S "$dir/munge/munge.sock" ] && break; sleep 0.1; done

  # Free TCP ports for slurmctld and slurmd (nothing answers on them), unless given.
  free_port() {
    local p
    for _ in $(seq 100); do
      p=$((20000 + RANDOM % 40000))
      (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    log "no free port found"
    exit 1
  }
  local ctld_port=${SLURMCTLD_PORT:-$(free_port)} slurmd_port=${SLURMD_PORT:-$(free_port)}
  local host node
  host=$(hostname -s)
  # This machine as slurmd sees it: NodeName=<host> CPUs=… Boards=… RealMemory=…
  node=$(slurmd -C | head -1)
  [[ "$node" == NodeName=* ]] || {
    log "slurmd -C printed no node line: $node"
    exit 1
  }
  cat >"$conf" <<EOF
# Written by scripts/slurm-local.sh: a single-node cluster in $dir.
ClusterName=exitlens
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# Ended jobs stay visible to scontrol show job for 10 minutes (no accounting database here).
MinJobAge=600
KillWait=5
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  SLURM_CONF=$conf slurmctld -D -i >"$dir/log/slurmctld.out" 2>&1 &
  echo $! >"$dir/pids/slurmctld"
  SLURM_CONF=$conf slurmd -D -N "$host" >"$dir/log/slurmd.out" 2>&1 &
  echo $! >"$dir/pids/slurmd"

  local state=""
  for _ in $(seq 60); do
    state=$(SLURM_CONF=$conf sinfo -h -o '%T' 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
  done
  if [ "$state" != idle ]; then
    log "the node did not come up (state: ${state:-none}); logs:"
    tail -n 20 "$dir"/log/*.out "$dir"/log/*.log >&2 || true
    stop || true
    exit 1
  fi
  if [ -n "${SLURM_LOCAL_WATCH_PID:-}" ]; then
    # Detached from the caller's pipes, so that a caller reading them sees them close.
    (
      while [ -d "/proc/$SLURM_LOCAL_WATCH_PID" ] && [ -d "$dir/pids" ]; do sleep 2; done
      stop
    ) </dev/null >>"$dir/log/watch.log" 2>&1 &
    echo $! >"$dir/pids/watch"
  fi
  log "up: $(SLURM_CONF=$conf sinfo -h -o '%N %c CPUs %m MB %T'), slurmctld on port $ctld_port"
  echo "export SLURM_CONF=$conf"
}

case "$action" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
