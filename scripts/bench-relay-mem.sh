#!/usr/bin/env bash
# bench-relay-mem.sh prints the relay's memory while it ingests into Badger
# and its CPU at rest afterwards: it starts sei-relay (embedded NATS, Badger
# store), enrolls AGENTS agents (default 1; 50 for the issue's "50 agents at
# once", one tenant each), and relay/benchaccounts -ingest publishes
# RECORDS synthetic incidents (default 1,000,000; 92 fields, batches of
# 200) straight into the stream from all of them at once. After each
# checkpoint (100k, 300k, RECORDS) it prints the relay's RSS from
# /proc/PID/status: total, anonymous (Go heap, memtables, caches) and
# file-backed (mapped Badger files), the peak sampled while ingesting, and
# the store's value log and table sizes. Then the agents stay connected,
# heartbeating every HEARTBEAT (default 30s), and it prints the relay's CPU
# over IDLE (default 60s; the issue's measurement is IDLE=600s).
# PROFILE=1 also saves a CPU profile of the window at rest (admin token).
# Nothing is asserted; the machine may be shared, so figures are noisy:
# rerun and compare. KEEP=1 keeps the work folder.
#
#   scripts/bench-relay-mem.sh
#   AGENTS=50 scripts/bench-relay-mem.sh
#   RECORDS=20000 IDLE=10s scripts/bench-relay-mem.sh   (a quick run)
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

new_work sei-bench-relay-mem
go build -o "$work/bin/sei-relay" ./relay
go build -o "$work/bin/benchaccounts" ./relay/benchaccounts
export PATH="$work/bin:$PATH"
start_relay
relay_pid=${pids[-1]}
echo "== relay memory: ${RECORDS:-1000000} records from ${AGENTS:-1} agents, then ${IDLE:-60s} at rest"
benchaccounts -config "$work/relay.yaml" -data "$work/relay" -relay "$work/bin/sei-relay" \
	-token "$token" -pid "$relay_pid" -tenants "${AGENTS:-1}" -agents 1 \
	-heartbeat "${HEARTBEAT:-30s}" -settle "${SETTLE:-10s}" \
	-ingest "${RECORDS:-1000000}" -idle "${IDLE:-60s}" ${PROFILE:+-profile "$work/relay-rest.cpu.pb.gz"}
if [ -n "${PROFILE:-}" ]; then
	KEEP=1
	echo "== profile at rest: go tool pprof -top $work/bin/sei-relay $work/relay-rest.cpu.pb.gz"
fi
