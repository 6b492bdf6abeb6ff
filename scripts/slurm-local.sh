#!/usr/bin/env bash
# A one-node Slurm cluster on this host, for running the README's job array
# (examples/slurm/batch.sbatch) without a real cluster; the test suite uses it.
#
#   scripts/slurm-local.sh start   # install what is missing, start munged, slurmctld, slurmd
#   scripts/slurm-local.sh stop    # cancel its jobs, end exactly its daemons, remove its state
#   scripts/slurm-local.sh status
#
# Everything lives under $GRADTRUST_SLURM_DIR (default ${TMPDIR:-/tmp}/gradtrust-slurm): the
# munge key and socket, slurm.conf, the controller's and node's state, logs and pid files.
# Client commands need `export SLURM_CONF=$GRADTRUST_SLURM_DIR/slurm.conf` (start prints it).
# Needs root (apt-get, and slurmd runs jobs as their submitter). `start` first stops what a
# previous, perhaps killed, start left behind, so it is always safe to run again.
set -euo pipefail

STATE=${GRADTRUST_SLURM_DIR:-${TMPDIR:-/tmp}/gradtrust-slurm}
CONF=$STATE/slurm.conf
SOCKET=$STATE/munge/munge.socket
# In the daemons' environment (only theirs), which every slurmstepd they start inherits: a
# leftover one is told apart from another cluster's on the same host.
MARK="GRADTRUST_SLURM_DAEMONS=$STATE"

log() { echo "slurm-local: $*" >&2; }
die() { log "$*"; exit 1; }

# The Debian 12 packages (Slurm 22.05). Installed only when missing.
install_packages() {
  local debs=(munge slurmctld slurmd slurm-client) missing=() p
  for p in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "cannot install ${missing[*]}: no apt-get (Debian 12 expected); install Slurm 22.05 and munge by hand"
  local sudo=
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "cannot install ${missing[*]}: not root and no sudo"
    sudo=sudo
  fi
  log "installing ${missing[*]}"
  # The packages' scripts must not start the system-wide munged, slurmctld and slurmd: a
  # policy-rc.d that denies every start, for the install only, where the host has none.
  local policy=/usr/sbin/policy-rc.d added= ok=1
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy" && added=1
  fi
  $sudo apt-get update -q >&2 \
    && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || ok=
  [ -n "$added" ] && $sudo rm -f "$policy"
  [ -n "$ok" ] || die "apt-get could not install ${missing[*]} (see above)"
}

# The pid in pid file $1, if that process is alive and its command line names $STATE (a
# recycled pid belongs to someone else and is left alone).
ours() {
  local file=$1 pid
  [ -s "$file" ] || return 1
  pid=$(tr -dc 0-9 <"$file")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$STATE/" || return 1
  echo "$pid"
}

# Processes whose environment carries $MARK: this cluster's daemons and slurmstepds.
marked() {
  local env pid
  for env in /proc/[0-9]*/environ; do
    pid=${env#/proc/}; pid=${pid%/environ}
    { tr '\0' '\n' <"$env"; } 2>/dev/null | grep -qxF "$MARK" && echo "$pid"
  done
  return 0
}

# Children (recursively) of pids $@, by /proc/<pid>/stat's parent field.
descendants() {
  local -A parent=()
  local stat pid rest
  for stat in /proc/[0-9]*/stat; do
    rest=$({ cat "$stat"; } 2>/dev/null) || continue
    pid=${rest%% *}
    rest=${rest##*) }       # after the command name, which may hold spaces
    rest=${rest#* }         # after the state
    parent[$pid]=${rest%% *}
  done
  local -a todo=("$@") found=()
  while [ ${#todo[@]} -gt 0 ]; do
    local p=${todo[0]} c
    todo=("${todo[@]:1}")
    for c in "${!parent[@]}"; do
      if [ "${parent[$c]}" = "$p" ]; then found+=("$c"); todo+=("$c"); fi
    done
  done
  [ ${#found[@]} -gt 0 ] && printf '%s\n' "${found[@]}"
  return 0
}

# SIGTERM to pids $@, SIGKILL to whichever is still there after 10 s.
end_pids() {
  [ $# -eq 0 ] && return 0
  kill -TERM "$@" 2>/dev/null || true
  local i p left
  for i in $(seq 100); do
    left=()
    for p in "$@"; do kill -0 "$p" 2>/dev/null && left+=("$p"); done
    [ ${#left[@]} -eq 0 ] && return 0
    sleep 0.1
  done
  log "still running after SIGTERM, sending SIGKILL: ${left[*]}"
  kill -KILL "${left[@]}" 2>/dev/null || true
}

stop() {
  [ -d "$STATE" ] || return 0
  local ctld slurmd munged
  ctld=$(ours "$STATE/slurmctld.pid" || true)
  slurmd=$(ours "$STATE/slurmd.pid" || true)
  munged=$(ours "$STATE/munge/munged.pid" || true)
  # Jobs first, through the controller, so their processes end the way Slurm ends them.
  if [ -n "$ctld" ] && [ -n "$munged" ] && [ -f "$CONF" ]; then
    local ids i
    ids=$(SLURM_CONF=$CONF timeout 10 squeue -h -o %A 2>/dev/null | sort -u || true)
    # shellcheck disable=SC2086  # job ids, one word each
    [ -n "$ids" ] && { SLURM_CONF=$CONF timeout 10 scancel --full $ids >/dev/null 2>&1 || true; }
    for i in $(seq 50); do
      [ -z "$(SLURM_CONF=$CONF timeout 5 squeue -h -o %i 2>/dev/null || echo x)" ] && break
      sleep 0.2
    done
  fi
  local daemons=() pid
  for pid in $slurmd $ctld $munged; do daemons+=("$pid"); done
  end_pids "${daemons[@]}"
  # What outlived its slurmd (a slurmstepd, and the job it ran): killed with its children.
  local left=() all=()
  mapfile -t left < <(marked)
  if [ ${#left[@]} -gt 0 ]; then
    mapfile -t all < <(descendants "${left[@]}")
    log "ending leftover processes of this cluster: ${left[*]} ${all[*]}"
    kill -KILL "${left[@]}" "${all[@]}" 2>/dev/null || true
  fi
  rm -rf "$STATE"
}

# A free TCP port pair (controller, node) from 16817 on.
free_port() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ports() {
  local p
  for p in $(seq 16817 2 16899); do
    free_port "$p" && free_port $((p + 1)) && { echo "$p $((p + 1))"; return 0; }
  done
  die "no free port pair in 16817-16900"
}

write_conf() {
  local host=$1 ctld_port=$2 slurmd_port=$3 cpus mem
  cpus=$(nproc)
  # RealMemory a little under MemTotal: slurmd marks a node that has less than it claims invalid.
  mem=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  cat >"$CONF" <<EOF
# Written by scripts/slurm-local.sh: a one-node cluster with all state under $STATE.
ClusterName=gradtrust-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$SOCKET,cred_expire=5
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
PlugStackConfig=$STATE/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# Pending jobs (a requeued task once eligible, the next tasks of an array) start within seconds.
SchedulerParameters=sched_interval=2,bf_interval=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
JobRequeue=1
ReturnToService=2
KillWait=5
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  : >"$STATE/plugstack.conf"
}

# The node's state word (idle, mixed, down*, ...), or nothing when the controller does not answer.
node_state() { SLURM_CONF=$CONF timeout 5 sinfo -h -N -o %t 2>/dev/null | head -n1; }

start() {
  local t0=$SECONDS
  install_packages
  for b in munged slurmctld slurmd sbatch scontrol squeue sinfo scancel; do
    command -v "$b" >/dev/null || die "$b not found after installing munge, slurmctld, slurmd, slurm-client"
  done
  [ "$(id -u)" -eq 0 ] || die "must run as root (slurmd starts jobs as their submitting user)"
  stop
  mkdir -p "$STATE/munge" "$STATE/ctld" "$STATE/slurmd"
  chmod 700 "$STATE/munge"
  # A fresh key per cluster: this cluster trusts only itself.
  (umask 077; head -c 1024 /dev/urandom >"$STATE/munge/munge.key")
  local host
  host=$(hostname -s)
  read -r ctld_port slurmd_port < <(ports)
  write_conf "$host" "$ctld_port" "$slurmd_port"
  export SLURM_CONF="$CONF"
  # --force: munged as root, its files under /tmp, are fine for a cluster of one host.
  env "$MARK" munged --force --key-file="$STATE/munge/munge.key" --socket="$SOCKET" \
    --pid-file="$STATE/munge/munged.pid" --seed-file="$STATE/munge/munged.seed" \
    --log-file="$STATE/munge/munged.log" \
    || die "munged did not start: $(tail -n 5 "$STATE/munge/munged.log" 2>/dev/null)"
  env "$MARK" slurmctld -f "$CONF" || die "slurmctld did not start: $(tail -n 20 "$STATE/slurmctld.log" 2>/dev/null)"
  env "$MARK" slurmd -f "$CONF" -N "$host" || die "slurmd did not start: $(tail -n 20 "$STATE/slurmd.log" 2>/dev/null)"
  local state=
  for _ in $(seq 300); do
    state=$(node_state)
    [ "$state" = idle ] && break
    sleep 0.2
  done
  if [ "$state" != idle ]; then
    log "node $host not idle after 60 s (state: ${state:-no answer}); logs:"
    tail -n 20 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2 2>/dev/null || true
    stop
    exit 1
  fi
  log "cluster up in $((SECONDS - t0)) s: node $host ($(nproc) CPUs) idle, ports $ctld_port/$slurmd_port"
  echo "export SLURM_CONF=$CONF"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    [ -f "$CONF" ] || { echo "not running"; exit 1; }
    SLURM_CONF=$CONF sinfo -N ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
