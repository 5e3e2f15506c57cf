#!/usr/bin/env bash
# Side-by-side benchmark of the cluster route on this machine (docs/benchmarks.md, "Sweeps"):
# the same four trainings run by a Slurm job array on a private single-node cluster
# (scripts/slurm-single-node.sh, root only) and by the local executor (one after another in one
# process), then the import time per bundle. Each arm is run ROUNDS times (default 2) to show
# the spread.
#
#   sudo scripts/sweep_bench.sh [ATB_BINARY] [ROUNDS]
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
ATB="${1:-${CARGO_TARGET_DIR:-$HOME/.cache/atb-target}/debug/atb}"
ROUNDS="${2:-2}"
[ -x "$ATB" ] || { echo "sweep_bench: no atb binary at $ATB; build it first (cargo build --workspace --tests)" >&2; exit 1; }
WORK="$(mktemp -d)"
trap '"$REPO/scripts/slurm-single-node.sh" stop "$WORK/slurm" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
export ATB_HOME="$WORK/home" ATB_BINANCE_URL=http://127.0.0.1:9

cat > "$WORK/sweep.toml" <<'TOML'
name = "bench four"
[series]
symbols = ["BTCUSDT"]
timeframe = "1h"
source = "sample"
days = 365
[models]
architectures = ["tcn"]
variants = ["default"]
seeds = [1, 2, 3, 4]
[spec]
epochs = 3
sequence_length = 48
device = "cpu"
[resources]
cpus = 1
memory_gb = 2
parallel = 2
TOML

eval "$("$REPO/scripts/slurm-single-node.sh" start "$WORK/slurm")"
now() { date +%s.%N; }
echo "round  arm    wall_s  import_s_per_bundle"
for round in $(seq "$ROUNDS"); do
  for arm in local slurm; do
    dir="$WORK/$arm-$round"
    "$ATB" sweep plan "$WORK/sweep.toml" --out "$dir" >/dev/null
    start=$(now)
    if [ "$arm" = local ]; then
      "$ATB" sweep submit "$dir" --executor local >/dev/null 2>&1
    else
      "$ATB" sweep submit "$dir" --executor slurm --atb "$ATB" >/dev/null
      until [ "$("$ATB" sweep status "$dir" | tail -1 | grep -c '4 done')" = 1 ]; do
        if "$ATB" sweep status "$dir" | tail -1 | grep -qv ' 0 failed'; then
          echo "sweep_bench: a Slurm job failed:" >&2; "$ATB" sweep status "$dir" >&2; exit 1
        fi
        sleep 0.5
      done
    fi
    wall=$(awk -v a="$(now)" -v b="$start" 'BEGIN { print a - b }')
    home="$WORK/import-$arm-$round"
    start=$(now)
    ATB_HOME="$home" "$ATB" models import "$dir/results" >/dev/null
    per=$(awk -v a="$(now)" -v b="$start" 'BEGIN { print (a - b) / 4 }')
    printf "%5s  %-5s  %6.1f  %.3f\n" "$round" "$arm" "$wall" "$per"
  done
done
