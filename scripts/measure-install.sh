#!/usr/bin/env bash
# Measure a newcomer's two commands on a fresh clone of this repository (README, "Install"):
# the seconds and bytes from `make demo` until the demo competition's page answers, then from
# `make test` until pytest starts. Usage: scripts/measure-install.sh [CLONE_DIR] [PORT].
# PIP_NO_CACHE_DIR=1 so that pip's cache does not hide downloads.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/tmp/arena-measure}
port=${2:-8765}
rm -rf "$dir" && git clone -q "$src" "$dir" && cd "$dir"
export PIP_NO_CACHE_DIR=1 PORT=$port ARENA_VAR_DIR=$dir/var
start=$(date +%s.%N)
setsid make demo >demo.log 2>&1 &
demo=$!
until curl -sf "http://127.0.0.1:$port/c/digits-demo" >/dev/null 2>&1; do
  kill -0 $demo 2>/dev/null || { echo "make demo stopped:"; tail -20 demo.log; exit 1; }
  sleep 1
done
demo_s=$(echo "$(date +%s.%N) - $start" | bc)
demo_bytes=$(du -sb .venv | cut -f1)
kill -INT -- -$demo 2>/dev/null || true  # Ctrl-C: arena serve stops its worker too
wait $demo 2>/dev/null || true
start=$(date +%s.%N)
make install-dev test-system lint >test.log 2>&1
test_s=$(echo "$(date +%s.%N) - $start" | bc)
test_bytes=$(du -sb .venv | cut -f1)
printf '{"make_demo_until_open_s": %.1f, "venv_bytes_demo": %d, "make_test_until_pytest_s": %.1f, "venv_bytes_test": %d}\n' \
  "$demo_s" "$demo_bytes" "$test_s" "$test_bytes"
