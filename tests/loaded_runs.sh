#!/usr/bin/env bash
# The suite under load: five runs in a row of `CI=true python run_tests.py -q -x` on a fresh clone
# of this repository's HEAD (fresh venv), beside a CPU burner that takes one core throughout;
# stops at the first red run. Logs and the load average (every 30 s) go to $OUT.
#     bash tests/loaded_runs.sh [runs]        # about 13 minutes a run on 2 cores
set -u
RUNS=${1:-5}
OUT=${OUT:-${TMPDIR:-/tmp}/loaded_runs}
REPO=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$OUT" && mkdir -p "$OUT" && git clone -q "$REPO" "$OUT/clone" && cd "$OUT/clone" || exit 2
python3 -m venv .venv && .venv/bin/pip install -q --upgrade pip >/dev/null && .venv/bin/pip install -q -r requirements-dev.txt >/dev/null || exit 2
echo "commit $(git rev-parse --short HEAD)"
python3 -c 'while True: pass' &
BURNER=$!
trap 'kill $BURNER 2>/dev/null' EXIT
( while kill -0 $BURNER 2>/dev/null; do cat /proc/loadavg >> "$OUT/loadavg.log"; sleep 30; done ) &
for i in $(seq 1 "$RUNS"); do
  start=$(date +%s)
  CI=true .venv/bin/python run_tests.py -q -x > "$OUT/run_$i.log" 2>&1
  rc=$?
  echo "run $i: rc=$rc $(( $(date +%s) - start )) s: $(tail -1 "$OUT/run_$i.log")"
  [ $rc -eq 0 ] || exit 1
done
