#!/usr/bin/env bash
# A private single-node Slurm cluster on localhost, for atb's sweep test and for trying the
# Slurm route without a cluster: munged, slurmctld and slurmd with their own configuration,
# key, sockets, spool and logs under DIR, on free ports. Root only (slurmd runs jobs as the
# submitting user). Needs Debian's slurm-wlm and munge (scripts/setup.sh installs them).
#
#   scripts/slurm-single-node.sh start DIR   # prints `export SLURM_CONF=DIR/slurm.conf`
#   scripts/slurm-single-node.sh stop DIR
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

stop() {
  for name in slurmd slurmctld munged; do
    if [ -f "$dir/$name.pid" ]; then
      kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
    fi
  done
  # Wait for them to go, so a following start finds the ports free.
  for _ in $(seq 50); do
    alive=0
    for name in slurmd slurmctld munged; do
      [ -f "$dir/$name.pid" ] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null && alive=1
    done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  rm -f "$dir"/*.pid
}

if [ "$cmd" = stop ]; then
  stop
  exit 0
fi
if [ "$cmd" != start ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "slurm-single-node: slurmd must run as root; rerun as root (or use a real cluster)" >&2
  exit 1
fi
for tool in munged slurmctld slurmd sbatch squeue; do
  command -v "$tool" >/dev/null || { echo "slurm-single-node: $tool missing; run scripts/setup.sh" >&2; exit 1; }
done

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
mkdir -p "$dir/spool/ctld" "$dir/spool/d" "$dir/munge"
chmod 700 "$dir/munge"

# Two free TCP ports, asked of the kernel.
read -r ctld_port d_port < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)

head -c 1024 /dev/urandom > "$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/seed"

host="$(hostname -s)"
cpus="$(nproc)"
mem_mb="$(awk '/MemTotal/ { print int($2 / 1024 * 0.8) }' /proc/meminfo)"
cat > "$dir/slurm.conf" <<CONF
ClusterName=atb-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/spool/ctld
SlurmdSpoolDir=$dir/spool/d
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=atb Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF" -i
slurmd -f "$SLURM_CONF"
# Ready when the node is idle.
for _ in $(seq 100); do
  if sinfo -h -o "%T" 2>/dev/null | grep -qx idle; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.2
done
echo "slurm-single-node: the node did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
sinfo >&2 || true
exit 1
