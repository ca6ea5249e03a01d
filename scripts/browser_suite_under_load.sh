#!/usr/bin/env bash
# The browser suite (tests/e2e) under load, again and again, each run on the newest commit of a
# branch: how issue 16's "passes ten times in a row on a loaded machine" is checked.
#
#   scripts/browser_suite_under_load.sh [RUNS] [WORKDIR]     (defaults: 10, /tmp/parley-loaded)
#
# Each run: a clone in WORKDIR/repo is reset to this repository's HEAD branch, one CPU burner per
# core starts, `pytest tests/e2e` runs with PARLEY_REQUIRE_BROWSER=1, the burners stop. One line per
# run goes to WORKDIR/results.txt (commit, result, minutes, the load average's range); the log and a
# failing test's screenshots stay in WORKDIR. `touch WORKDIR/pause` waits between runs (for a quiet
# benchmark), `touch WORKDIR/stop` ends after the current run. START=N numbers the runs from N;
# TESTS="tests/e2e/test_smoke.py" runs only those.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-10}
work=${2:-/tmp/parley-loaded}
python=${PYTHON:-$here/.venv/bin/python}
branch=$(git -C "$here" rev-parse --abbrev-ref HEAD)
mkdir -p "$work"
[ -d "$work/repo" ] || git clone -q "$here" "$work/repo"
n=${START:-1}
last=$((n + runs - 1))
while [ "$n" -le "$last" ]; do
  [ -f "$work/stop" ] && exit 0
  while [ -f "$work/pause" ]; do sleep 10; [ -f "$work/stop" ] && exit 0; done
  git -C "$work/repo" fetch -q "$here" "$branch" && git -C "$work/repo" reset -q --hard FETCH_HEAD
  head=$(git -C "$work/repo" rev-parse --short HEAD)
  burners=()
  for _ in $(seq "$(nproc)"); do python3 -c "while True: pass" & burners+=($!); done
  ( while sleep 60; do cut -d' ' -f1 /proc/loadavg >> "$work/load-L$n.txt"; done ) & sampler=$!
  started=$(date +%s)
  (cd "$work/repo" && PARLEY_REQUIRE_BROWSER=1 PARLEY_E2E_ARTIFACTS="$work/artifacts-L$n" \
    "$python" -m pytest ${TESTS:-tests/e2e} -q -p no:cacheprovider > "$work/L$n.log" 2>&1)
  rc=$?
  kill "${burners[@]}" "$sampler" 2>/dev/null
  loads=$(sort -n "$work/load-L$n.txt" 2>/dev/null | sed -n '1p;$p' | paste -sd- -)
  echo "L$n $head rc=$rc $(tail -1 "$work/L$n.log") in $(( ($(date +%s) - started) / 60 )) min, load ${loads:-?}" \
    >> "$work/results.txt"
  n=$((n + 1))
done
