#!/usr/bin/env bash
# bench-reconcile.sh measures a reconciliation sweep over a table of unchanged
# rows (default 1,000,000; SEI_BENCH_ROWS=N to change): its requests (one
# Aggregate API count per month of sys_created_on, nothing else), its time,
# its allocations, and the index's size on disk. The instance is a small
# HTTP server answering the Aggregate API from the same rows; the index is a
# real Badger buffer in a temp dir. It runs at low priority (the machine may
# be shared):
#
#   scripts/bench-reconcile.sh            # 1,000,000 rows, 3 sweeps
#   SEI_BENCH_ROWS=100000 scripts/bench-reconcile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export SEI_BENCH_ROWS="${SEI_BENCH_ROWS:-1000000}"
exec nice -n 10 go test ./agent/reconcile/ -run '^$' -bench 'SweepUnchanged' -benchtime "${BENCH_TIMES:-3}x" -timeout 30m
