#!/usr/bin/env bash
# bench-accounts.sh measures the NATS account model at scale: it starts
# sei-relay (embedded NATS, Badger store), then relay/benchaccounts enrolls
# TENANTS tenants x AGENTS agents (default 5000 x 2), connects every agent
# from one process (real connections, each with its own .creds), heartbeats
# every HEARTBEAT (default 30s) with PUBLISHERS (default 0.05) of them also
# publishing a batch per interval, and prints:
#   - the time to enroll every agent, and the per-tenant time of the first
#     and last hundred tenants (an enroll must not grow with the tenants);
#   - the relay's RSS and CPU at rest under that load (WINDOW, default 60s,
#     after SETTLE, default 40s);
#   - a heartbeat's delay to GET /v1/agents;
#   - the time of one more `sei-relay enroll` and `sei-relay revoke`.
# Nothing here asserts a number. KEEP=1 keeps the work folder.
#
#   scripts/bench-accounts.sh
#   TENANTS=1000 scripts/bench-accounts.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

tenants="${TENANTS:-5000}"
new_work sei-bench-accounts
go build -o "$work/bin/sei-relay" ./relay
go build -o "$work/bin/benchaccounts" ./relay/benchaccounts
export PATH="$work/bin:$PATH"
start_relay
relay_pid=${pids[-1]}
echo "== accounts: $tenants tenants x ${AGENTS:-2} agents, heartbeat ${HEARTBEAT:-30s}"
benchaccounts -config "$work/relay.yaml" -data "$work/relay" -relay "$work/bin/sei-relay" \
	-token "$token" -pid "$relay_pid" -tenants "$tenants" -agents "${AGENTS:-2}" \
	-heartbeat "${HEARTBEAT:-30s}" -publishers "${PUBLISHERS:-0.05}" \
	-settle "${SETTLE:-40s}" -window "${WINDOW:-60s}"
