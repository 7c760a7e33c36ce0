#!/usr/bin/env bash
# `ganlab sweep --slurm` against a real one-node Slurm cluster on this machine:
# installs Debian's slurmctld + slurmd + munge, starts them on localhost with a
# minimal configuration, submits the 2-task job array of a quick sweep, waits, and
# checks that both members completed. Needs root and Debian's packages.
#
#   GANLAB_DATA=../shared/data/mnist bash .ci/slurm_test.sh [path/to/ganlab]
#
# (See ../shared/notes/slurm-local.md for the measured facts this follows.)
set -euo pipefail
cd "$(dirname "$0")/.."
GANLAB="$(realpath "${1:-target/release/ganlab}")"
: "${GANLAB_DATA:?set GANLAB_DATA to the MNIST directory}"
DATA="$(realpath "$GANLAB_DATA")"

if ! command -v slurmctld >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
fi

BASE="$(mktemp -d /tmp/ganlab-slurm.XXXXXX)"
chmod 755 "$BASE"
mkdir -p "$BASE/munge" "$BASE/state" "$BASE/spool" "$BASE/log"
chmod 711 "$BASE/munge"
PIDS=()
cleanup() {
  set +e
  if [ -n "${SLURM_CONF:-}" ]; then
    scancel --quiet --user root 2>/dev/null
    for _ in $(seq 1 20); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  # Leftover job processes carry this SLURM_CONF in their environment: kill by PID.
  for e in /proc/[0-9]*/environ; do
    if (tr "\0" "\n" <"$e") 2>/dev/null | grep -qx "SLURM_CONF=$BASE/slurm.conf"; then
      p="${e#/proc/}"; kill "${p%/environ}" 2>/dev/null
    fi
  done
  sleep 1
  rm -rf "$BASE"
}
trap cleanup EXIT

mungekey -c -k "$BASE/munge/munge.key" >/dev/null 2>&1 || mungekey -c -f -k "$BASE/munge/munge.key"
chmod 400 "$BASE/munge/munge.key"
munged --key-file="$BASE/munge/munge.key" --socket="$BASE/munge/munge.socket" \
  --pid-file="$BASE/munge/munged.pid" --log-file="$BASE/log/munged.log" \
  --seed-file="$BASE/munge/munge.seed" </dev/null
sleep 0.5
PIDS+=("$(cat "$BASE/munge/munged.pid")")

NODE="$(slurmd -C | head -1 | sed 's/ UpTime=.*//')"
NAME="$(echo "$NODE" | sed 's/NodeName=\([^ ]*\).*/\1/')"
cat >"$BASE/slurm.conf" <<EOF
ClusterName=ganlab
SlurmctldHost=$NAME(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$BASE/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/slurmctld.pid
SlurmdPidFile=$BASE/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000
DependencyParameters=kill_invalid_depend
MinJobAge=300
MailProg=/bin/true
ReturnToService=2
$NODE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$NAME Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$BASE/slurm.conf"
slurmctld -D -f "$SLURM_CONF" </dev/null >"$BASE/log/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" </dev/null >"$BASE/log/slurmd.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 60); do
  [ "$(sinfo -h -o %T 2>/dev/null | head -1)" = "idle" ] && break
  sleep 0.5
done
[ "$(sinfo -h -o %T | head -1)" = "idle" ] || { echo "slurm did not come up"; cat "$BASE"/log/*; exit 1; }

OUT="$BASE/runs"
SCRIPT="$("$GANLAB" sweep experiments/mlp_pytorch.yaml --profile quick \
  --set 'sweep.seeds=[1,2]' --set train.epochs=1 --set train.iters_per_epoch=20 \
  --out "$OUT" --data-dir "$DATA" --slurm --cpus 1 --time 00:10:00)"
grep -q -- '--array=0-1' "$SCRIPT"
JOB="$(sbatch --parsable "$SCRIPT")"
echo "submitted job array $JOB ($SCRIPT)"
for _ in $(seq 1 240); do
  [ -z "$(squeue -h -j "$JOB" 2>/dev/null)" ] && break
  sleep 1
done
[ -z "$(squeue -h -j "$JOB")" ] || { echo "job array $JOB did not finish"; exit 1; }
SWEEP="$(dirname "$SCRIPT")"
for m in seed-1 seed-2; do
  if ! grep -q '"status": "completed"' "$SWEEP/$m/manifest.json"; then
    echo "member $m did not complete"; cat "$SWEEP"/slurm/*.out || true; exit 1
  fi
done
"$GANLAB" report "$SWEEP" -o "$BASE/sweep.html" >/dev/null
grep -q 'Seeds of one experiment' "$BASE/sweep.html"
echo "slurm sweep test: both array tasks completed ($(scontrol -o show job "$JOB" | grep -o 'JobState=[A-Z]*' | sort -u | tr '\n' ' '))"
