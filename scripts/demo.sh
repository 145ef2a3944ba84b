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

incidents="${INCIDENTS:-3000}"
work=$(mktemp -d "${TMPDIR:-/tmp}/sei-demo.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "${KEEP:-}" = 1 ]; then echo "demo: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# wait_for FILE: up to 60 s for a file to appear.
wait_for() {
	for _ in $(seq 1 600); do [ -s "$1" ] && return 0; sleep 0.1; done
	echo "demo: $1 did not appear; logs in $work" >&2; KEEP=1; exit 1
}

say "building sei-relay, sei-agent and the ServiceNow simulator"
go build -o "$work/bin/" ./relay ./agent ./agent/servicenow/snowtest/cmd/snowsim
mv "$work/bin/relay" "$work/bin/sei-relay"
mv "$work/bin/agent" "$work/bin/sei-agent"
export PATH="$work/bin:$PATH"

say "starting sei-relay: embedded NATS with JetStream, Badger store"
cat >"$work/relay.yaml" <<YAML
data_dir: $work/relay
http: {listen: "127.0.0.1:0"}
nats: {listen: "127.0.0.1:0"}
YAML
sei-relay run -c "$work/relay.yaml" >"$work/relay.log" 2>&1 &
pids+=($!)
wait_for "$work/relay/relay.json"
http_url=$(sed -n 's/.*"http_url": *"\([^"]*\)".*/\1/p' "$work/relay/relay.json")
token=$(cat "$work/relay/http.token")
echo "relay HTTP API at $http_url"

say "enrolling agent demo-edge for tenant demo"
sei-relay enroll -c "$work/relay.yaml" --tenant demo --integration servicenow --agent demo-edge \
	--out "$work/demo-edge.nk" >"$work/relay-block.yaml"
cat "$work/relay-block.yaml"

say "starting the ServiceNow simulator ($incidents incidents)"
snowsim -listen 127.0.0.1:0 -incidents "$incidents" -changes 300 -users 200 -groups 12 >"$work/snowsim.out" 2>"$work/snowsim.log" &
pids+=($!)
wait_for "$work/snowsim.out"
sn_url=$(grep -o 'http://[0-9.:]*' "$work/snowsim.out" | head -1)
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
# count TABLE prints how many records of TABLE the relay serves (paging with
# the Sei-Next-Cursor header).
count() {
	local n=0 cursor="" body
	while :; do
		body=$(curl -sS -D "$work/headers" -H "Authorization: Bearer $token" \
			"$http_url/v1/records?tenant=demo&table=$1&limit=10000${cursor:+&after=$cursor}")
		n=$((n + $(printf '%s' "$body" | grep -c '"sys_id"' || true)))
		cursor=$(tr -d '\r' <"$work/headers" | sed -n 's/^[Ss]ei-[Nn]ext-[Cc]ursor: *//p')
		[ -n "$cursor" ] || break
	done
	echo "$n"
}
tables="incident change_request sys_user sys_user_group sysapproval_approver sys_audit"
# The relay applies batches after JetStream acknowledged them to the agent:
# wait until the counts stop moving.
last=-1
for _ in $(seq 1 60); do
	total=0
	for table in $tables; do total=$((total + $(count "$table"))); done
	[ "$total" -eq "$last" ] && break
	last=$total
	sleep 1
done
for table in $tables; do
	printf '  %-22s %6d records\n' "$table" "$(count "$table")"
done
printf '  %-22s %6d records\n' "total" "$total"
deletions=$(curl -sS -H "Authorization: Bearer $token" "$http_url/v1/records?tenant=demo&table=incident&limit=10000" | grep -c '"deleted":true' || true)
echo "  ($deletions of the incidents are deletions, kept as tombstones; sys_journal_field is not read:"
echo "   comments and work_notes are excluded)"
if curl -sS -H "Authorization: Bearer $token" "$http_url/v1/records?tenant=demo&limit=10000" | grep -q '"description"'; then
	echo "demo: an excluded field reached the relay" >&2
	exit 1
fi
echo "no excluded field (description, comments, work_notes) in the relay's records"
