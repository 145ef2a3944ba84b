#!/usr/bin/env bash
# demo.sh: the whole pipeline on one machine, then cleans up.
#
#   sei-relay (embedded NATS + JetStream + Badger)  <--  sei-agent  <--  ServiceNow simulator
#
# It builds the programs, starts the relay, enrolls an agent, starts the
# simulator with generated data, runs `sei-agent sync`, starts the agent as
# a process, prints `sei-agent status` and how many records the relay holds.
# Set KEEP=1 to keep the work folder; INCIDENTS=N to change the data size.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

incidents="${INCIDENTS:-3000}"
new_work sei-demo
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "building sei-relay, sei-agent and the ServiceNow simulator"
build_all

say "starting sei-relay: embedded NATS with JetStream, Badger store"
start_relay
echo "relay HTTP API at $http_url"

say "enrolling agent demo-edge for tenant demo"
sei-relay enroll -c "$work/relay.yaml" --tenant demo --integration servicenow --agent demo-edge \
	--out "$work/demo-edge.nk" >"$work/relay-block.yaml"
cat "$work/relay-block.yaml"

say "starting the ServiceNow simulator ($incidents incidents)"
start_snowsim -incidents "$incidents" -changes 300 -users 200 -groups 12
echo "simulator at $sn_url"

cat >"$work/agent.yaml" <<YAML
agent:
  id: demo-edge
  data_dir: $work/agent
servicenow:
  url: $sn_url
  auth:
    method: basic
    username: admin
    password: \${DEMO_SN_PASSWORD}
  page_size: 500
  lookback: 365d
  exclude_fields: [description, comments, work_notes]
$(cat "$work/relay-block.yaml")
YAML
export DEMO_SN_PASSWORD=admin

say "sei-agent sync: poll every table once, forward until the relay acknowledged everything"
sei-agent sync -c "$work/agent.yaml" 2>>"$work/agent.log"

say "sei-agent run in the background, then sei-agent status"
sei-agent run -c "$work/agent.yaml" 2>>"$work/agent.log" &
pids+=($!)
wait_for "$work/agent/admin.json"
# Give its first poll a moment to finish and the relay time to confirm what
# it holds (it answers the agent's first heartbeat).
for _ in $(seq 1 100); do
	json=$(sei-agent status --json -c "$work/agent.yaml" || true)
	if ! printf '%s' "$json" | grep -q '"last_result": "running"' &&
		printf '%s' "$json" | grep -q '"change_request": {' && printf '%s' "$json" | grep -q '"sys_user": {'; then
		break
	fi
	sleep 0.2
done
sei-agent status -c "$work/agent.yaml" || true

say "what the relay holds"
# fetch_all prints every record of tenant demo the relay serves, one JSON
# line each, following the Sei-Next-Cursor header from page to page (the
# default demo's ~11000 records take three pages of 5000).
fetch_all() {
	local cursor=""
	while :; do
		curl -sS --fail -D "$work/headers" -o "$work/page" -H "Authorization: Bearer $token" \
			"$http_url/v1/records?tenant=demo&limit=5000${cursor:+&after=$cursor}"
		cat "$work/page"
		cursor=$(tr -d '\r' <"$work/headers" | sed -n 's/^[Ss]ei-[Nn]ext-[Cc]ursor: *//p')
		[ -n "$cursor" ] || return 0
	done
}
# count TABLE prints how many of the fetched records are of TABLE. A
# record's keys come in a fixed order (tenant, integration, table, sys_id,
# ..., deleted, fields), so "table" before "sys_id" is never a field's.
count() { grep -c "\"table\":\"$1\",\"sys_id\":" "$work/records.ndjson" || true; }
tables="incident change_request sys_user sys_user_group sysapproval_approver sys_audit"
# The relay applies batches after JetStream acknowledged them to the agent:
# wait until the total stops moving.
last=-1
for _ in $(seq 1 60); do
	fetch_all >"$work/records.ndjson"
	total=$(wc -l <"$work/records.ndjson")
	[ "$total" -eq "$last" ] && break
	last=$total
	sleep 1
done
for table in $tables; do
	printf '  %-22s %6d records\n' "$table" "$(count "$table")"
done
printf '  %-22s %6d records\n' "total" "$total"
deletions=$(grep '"table":"incident","sys_id":' "$work/records.ndjson" | grep -c '"deleted":true,"fields":' || true)
echo "  ($deletions of the incidents are deletions, kept as tombstones; sys_journal_field is not read:"
echo "   comments and work_notes are excluded)"
if grep -q '"description"' "$work/records.ndjson"; then
	echo "demo: an excluded field reached the relay" >&2
	exit 1
fi
echo "no excluded field (description, comments, work_notes) in the relay's records"
