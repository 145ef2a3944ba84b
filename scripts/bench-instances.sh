#!/usr/bin/env bash
# bench-instances.sh: the memory one more ServiceNow instance costs an idle
# agent. For N in INSTANCES (default "1 3") it runs sei-agent with N
# instances (all against one simulator, each its own integration, buffer
# and poller), syncs once, starts `sei-agent run`, lets it idle for IDLE
# seconds (default 20) after its first poll, and prints its RSS (VmRSS,
# then VmHWM, the peak). Linux only (/proc). INCIDENTS=N sizes the data.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

incidents="${INCIDENTS:-2000}"
idle="${IDLE:-20}"
new_work sei-bench-instances
build_all
start_relay
start_snowsim -incidents "$incidents" -changes 200 -users 200 -groups 12
max=0
for n in ${INSTANCES:-1 3}; do [ "$n" -gt "$max" ] && max=$n; done
flags=()
for i in $(seq 1 "$max"); do flags+=(--integration "snow-$i"); done
sei-relay enroll -c "$work/relay.yaml" --tenant bench --agent bench-edge "${flags[@]}" \
	--out "$work/bench-edge.creds" | grep -v '^#' >"$work/relay-block.yaml"
export BENCH_SN_PASSWORD=admin

printf '%-10s %12s %12s\n' instances "idle RSS MiB" "peak RSS MiB"
for n in ${INSTANCES:-1 3}; do
	cfg="$work/agent-$n.yaml"
	{
		printf 'agent: {id: bench-edge, data_dir: %s/agent-%s}\ninstances:\n' "$work" "$n"
		for i in $(seq 1 "$n"); do
			printf '  - integration: snow-%s\n    servicenow: {url: %s, auth: {method: basic, username: admin, password: "${BENCH_SN_PASSWORD}"}, lookback: 365d}\n' "$i" "$sn_url"
		done
		cat "$work/relay-block.yaml"
	} >"$cfg"
	sei-agent sync -c "$cfg" >/dev/null 2>>"$work/agent-$n.log"
	sei-agent run -c "$cfg" 2>>"$work/agent-$n.log" &
	pid=$!
	pids+=("$pid")
	wait_for "$work/agent-$n/admin.json"
	for _ in $(seq 1 300); do
		if ! sei-agent status --json -c "$cfg" | grep -q '"last_result": "running"'; then break; fi
		sleep 0.2
	done
	sleep "$idle"
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
	printf '%-10s %12.1f %12.1f\n' "$n" "$(echo "$rss / 1024" | bc -l)" "$(echo "$hwm / 1024" | bc -l)"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
done
