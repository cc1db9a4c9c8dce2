#!/usr/bin/env bash
# The services of the integration tests (docs/cluster.md), on one host: a one-node SLURM cluster
# (munged, slurmctld, slurmd) and a PostgreSQL server that holds shared tuning studies.
#
#   cluster/services.sh install   # apt-get the packages that are missing
#   cluster/services.sh start     # start what is not running (each step is skipped when done)
#   cluster/services.sh status    # one line per service; exit 0 when all run, 3 otherwise
#   cluster/services.sh env       # the variables a client needs: eval "$(cluster/services.sh env)"
#   cluster/services.sh stop      # cancel leftover jobs, stop what runs
#
# Everything runs as root and lives under $PMTIQA_CLUSTER_DIR (default /var/lib/pmtiqa-cluster):
# the munge key and socket, slurm.conf, SLURM's state and logs, the database files. One link
# leaves it: /etc/slurm/slurm.conf, where SLURM's commands look when SLURM_CONF is not set (as
# inside a job, whose srun Snakemake runs without the SLURM_* variables); start refuses to replace
# a slurm.conf of another cluster, and stop removes the link. Ports: PMTIQA_SLURMCTLD_PORT (16817),
# PMTIQA_SLURMD_PORT (16818), PMTIQA_POSTGRES_PORT (55432); they differ from the defaults so that
# a SLURM or PostgreSQL the host already runs is left alone.
set -euo pipefail

DIR=${PMTIQA_CLUSTER_DIR:-/var/lib/pmtiqa-cluster}
CTLD_PORT=${PMTIQA_SLURMCTLD_PORT:-16817}
SLURMD_PORT=${PMTIQA_SLURMD_PORT:-16818}
PG_PORT=${PMTIQA_POSTGRES_PORT:-55432}
PACKAGES=(munge slurmctld slurmd slurm-client postgresql)

MUNGE=$DIR/munge
SLURM=$DIR/slurm
PG=$DIR/postgres
export SLURM_CONF=$SLURM/slurm.conf
ETC_CONF=/etc/slurm/slurm.conf
PG_URL="postgresql://pmtiqa@127.0.0.1:$PG_PORT/pmtiqa"

say() { echo "cluster/services.sh: $*"; }
die() { echo "cluster/services.sh: $*" >&2; exit 2; }

need_root() {
  [[ $EUID -eq 0 ]] && return
  command -v sudo >/dev/null && sudo -n true 2>/dev/null && exec sudo -n -E "$0" "$@"
  die "$1 needs root (or password-less sudo): it starts daemons and writes $DIR"
}

running() {  # running PIDFILE: the pid in the file names a live process (asked of /proc: no root needed)
  [[ -s $1 ]] && [[ -d /proc/$(cat "$1") ]]
}

poll() {  # poll SECONDS COMMAND...: until the command succeeds; status 1 if it never did
  local seconds=$1
  shift
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...: poll, and stop where the service never came up
  local seconds=$1 what=$2
  shift 2
  poll "$seconds" "$@" || die "$what did not come up within ${seconds}s (logs in $DIR)"
}

pg_installed() {  # the newest installed PostgreSQL's programs, or nothing
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

pg_bin() {
  local bin
  bin=$(pg_installed)
  [[ -n $bin ]] || die "PostgreSQL is not installed: run cluster/services.sh install"
  echo "$bin"
}

# --- install ---------------------------------------------------------------------------------

install_packages() {
  need_root install
  local missing=()
  for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
  done
  if ((${#missing[@]} == 0)); then
    say "installed: ${PACKAGES[*]}"
    return
  fi
  say "installing ${missing[*]}"
  # Debian starts a package's service on install; these are started here, with their own files,
  # so a policy-rc.d that refuses (where none exists) keeps apt from starting the system's copies.
  local policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  say "installed ${missing[*]}"
}

# --- munge: the authentication SLURM's daemons and commands share ------------------------------

start_munge() {
  if running "$MUNGE/munged.pid"; then return; fi
  # munged checks that the key is private and that the socket's folder is reachable by every user
  install -d -m 755 "$MUNGE"
  if [[ ! -s $MUNGE/munge.key ]]; then
    dd if=/dev/urandom of="$MUNGE/munge.key" bs=1024 count=1 status=none
  fi
  chmod 400 "$MUNGE/munge.key"
  # --force: a socket left by a killed munged is taken over rather than refused
  munged --force --socket="$MUNGE/munge.socket" --key-file="$MUNGE/munge.key" \
    --pid-file="$MUNGE/munged.pid" --log-file="$MUNGE/munged.log" --seed-file="$MUNGE/munged.seed"
  wait_for 10 munged munge --socket="$MUNGE/munge.socket" --no-input
}

stop_munge() {
  running "$MUNGE/munged.pid" && munged --socket="$MUNGE/munge.socket" --stop >/dev/null
  return 0
}

# --- SLURM: one node, this host's cores and memory ----------------------------------------------

write_slurm_conf() {
  # slurmd -C prints the node as slurmd will find it (cores, sockets, memory): a node described
  # otherwise would be drained for its mismatch.
  local node
  node=$(slurmd -C | head -n 1)
  [[ $node == NodeName=* ]] || die "slurmd -C did not describe the node: $node"
  local name=${node%% *}
  name=${name#NodeName=}
  install -d -m 755 "$SLURM" "$SLURM/state" "$SLURM/spool"
  cat >"$SLURM_CONF" <<EOF
# Written by cluster/services.sh start; the next start rewrites it.
ClusterName=pmtiqa
SlurmctldHost=$name(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE/munge.socket
CredType=cred/munge
StateSaveLocation=$SLURM/state
SlurmdSpoolDir=$SLURM/spool
SlurmctldPidFile=$SLURM/slurmctld.pid
SlurmdPidFile=$SLURM/slurmd.pid
SlurmctldLogFile=$SLURM/slurmctld.log
SlurmdLogFile=$SLURM/slurmd.log
# Processes are tracked without cgroups (containers rarely delegate them); a job step is pinned
# to the cores SLURM gave it, as on a real cluster.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
# No accounting database: Snakemake's SLURM executor then asks squeue for job states, which
# lists a finished job for MinJobAge seconds, far longer than its longest wait between queries
# (180 s). Every finished job is also written, one line each, to the job completion log.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$SLURM/jobcomp.log
MinJobAge=3600
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

link_slurm_conf() {
  if [[ -e $ETC_CONF || -L $ETC_CONF ]] && [[ $(readlink "$ETC_CONF") != "$SLURM_CONF" ]]; then
    die "$ETC_CONF belongs to another SLURM cluster; stop it and move the file away first"
  fi
  install -d -m 755 "$(dirname "$ETC_CONF")"
  ln -sfn "$SLURM_CONF" "$ETC_CONF"
}

unlink_slurm_conf() {
  if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$SLURM_CONF" ]]; then rm -f "$ETC_CONF"; fi
}

node_ready() {
  local state
  state=$(sinfo -h -N -o %t 2>/dev/null | head -n 1)
  [[ $state == idle || $state == mix || $state == alloc ]]
}

start_slurm() {
  link_slurm_conf
  if ! running "$SLURM/slurmctld.pid"; then
    write_slurm_conf
    slurmctld
    wait_for 30 slurmctld scontrol ping
  fi
  if ! running "$SLURM/slurmd.pid"; then
    slurmd
  fi
  if ! poll 30 node_ready; then  # a node drained by an earlier, unclean stop
    scontrol update nodename="$(sinfo -h -N -o %N | head -n 1)" state=resume 2>/dev/null || true
    wait_for 30 "the SLURM node" node_ready
  fi
}

stop_pidfile() {  # stop_pidfile FILE: TERM the process, wait for it to end
  running "$1" || return 0
  local pid
  pid=$(cat "$1")
  kill "$pid"
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  die "process $pid ($1) did not stop"
}

stop_slurm() {
  if running "$SLURM/slurmctld.pid"; then
    squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true
  fi
  stop_pidfile "$SLURM/slurmd.pid"
  stop_pidfile "$SLURM/slurmctld.pid"
  unlink_slurm_conf
}

# --- PostgreSQL: the shared study storage ------------------------------------------------------

pg() {  # pg PROGRAM ARGS...: a PostgreSQL program as the postgres user, which owns the files
  local program=$1
  shift
  runuser -u postgres -- "$(pg_bin)/$program" "$@"
}

start_postgres() {
  install -d -m 755 "$PG"
  install -d -m 700 -o postgres -g postgres "$PG/data"
  install -d -m 755 -o postgres -g postgres "$PG/run"
  if [[ ! -s $PG/data/PG_VERSION ]]; then
    # trust on 127.0.0.1 only: a test server that nothing outside the host can reach
    pg initdb --pgdata="$PG/data" --username=postgres --auth=trust --encoding=UTF8 >/dev/null
  fi
  if ! pg pg_ctl status --pgdata="$PG/data" >/dev/null 2>&1; then
    touch "$PG/postgres.log" && chown postgres:postgres "$PG/postgres.log"
    pg pg_ctl start --wait --pgdata="$PG/data" --log="$PG/postgres.log" \
      -o "-p $PG_PORT -k $PG/run -c listen_addresses=127.0.0.1" >/dev/null
  fi
  local psql=(pg psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAq)
  [[ $("${psql[@]}" -c "select 1 from pg_roles where rolname = 'pmtiqa'") == 1 ]] \
    || "${psql[@]}" -c "create role pmtiqa"
  "${psql[@]}" -c "alter role pmtiqa login createdb"  # createdb: each test makes a database of its own
  [[ $("${psql[@]}" -c "select 1 from pg_database where datname = 'pmtiqa'") == 1 ]] \
    || "${psql[@]}" -c "create database pmtiqa owner pmtiqa"
}

stop_postgres() {
  [[ -s $PG/data/PG_VERSION ]] || return 0
  pg pg_ctl status --pgdata="$PG/data" >/dev/null 2>&1 || return 0
  pg pg_ctl stop --wait --mode=fast --pgdata="$PG/data" >/dev/null
}

# --- commands ----------------------------------------------------------------------------------

start() {
  need_root start
  for program in munged slurmctld slurmd sbatch runuser; do
    command -v "$program" >/dev/null || die "$program is missing: run cluster/services.sh install"
  done
  pg_bin >/dev/null
  install -d -m 755 "$DIR"
  start_munge
  start_slurm
  start_postgres
  status
}

stop() {
  need_root stop
  stop_postgres
  stop_slurm
  stop_munge
  say "stopped"
}

status() {
  local up=0
  if running "$MUNGE/munged.pid"; then echo "munge:      running"; else echo "munge:      stopped"; up=3; fi
  if running "$SLURM/slurmctld.pid" && running "$SLURM/slurmd.pid" && node_ready; then
    echo "slurm:      running, $(sinfo -h -N -o '%N %c CPUs %m MB %t')   SLURM_CONF=$SLURM_CONF"
  else
    echo "slurm:      stopped"
    up=3
  fi
  local bin
  bin=$(pg_installed)
  if [[ -n $bin ]] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
    echo "postgresql: running, $PG_URL"
  else
    echo "postgresql: stopped"
    up=3
  fi
  return $up
}

env_lines() {
  echo "export SLURM_CONF=$SLURM_CONF"
  echo "export PMTIQA_CLUSTER_POSTGRES=$PG_URL"
}

case ${1:-} in
  install) install_packages ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) env_lines ;;
  *) die "usage: cluster/services.sh install|start|stop|status|env (got '${1:-}')" ;;
esac
