#!/usr/bin/env bash
# bench-idle.sh prints what an idle agent and relay cost between polls: CPU
# (user+system, from /proc/PID/stat) as a share of one core over a window,
# the wakeups behind it (context switches), and resident memory. Nothing is
# asserted: rerun it and compare.
#
#   scripts/bench-idle.sh            the issue's measurement: a 10-minute window
#   WINDOW=60 scripts/bench-idle.sh  a short window (CI keeps the script working)
#   RECORDS=N (default 16000) incidents synced before the window; KEEP=1 keeps
#   the work folder; PROFILE=1 also saves 60 s CPU profiles of both (agent:
#   admin socket, relay: admin token) into the work folder.
#
# Setup: a relay (embedded NATS, Badger store), the ServiceNow simulator with
# RECORDS incidents, one `sei-agent run` (interval 1h) enrolled to the relay.
# The window starts once the first poll is acknowledged (buffer empty) and
# SETTLE seconds (default 15) have passed. Figures go to stdout and as JSON
# to bench/out/idle-<time>.json.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

window=${WINDOW:-600}
records=${RECORDS:-16000}
settle=${SETTLE:-15}
hz=$(getconf CLK_TCK)

# cpu_ticks PID prints utime+stime of PID in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# switches PID prints voluntary+involuntary context switches of all PID's threads.
switches() {
	local n=0 f v
	for f in /proc/"$1"/task/*/status; do
		v=$(awk '/^(voluntary|nonvoluntary)_ctxt_switches/ { s += $2 } END { print s + 0 }' "$f" 2>/dev/null || echo 0)
		n=$((n + v))
	done
	echo "$n"
}

# rss PID prints "VmRSS RssAnon RssFile" in KiB.
rss() { awk '/^VmRSS|^RssAnon|^RssFile/ { v[$1] = $2 } END { print v["VmRSS:"], v["RssAnon:"], v["RssFile:"] }' "/proc/$1/status"; }

main() {
	new_work sei-idle
	build_all
	start_relay
	local relay_pid=${pids[-1]}
	start_snowsim -incidents "$records" -changes 1 -users 100 -groups 10 -audit 0 -journal 0
	sei-relay enroll -c "$work/relay.yaml" --tenant idle --integration sn --agent idle >"$work/idle.block" 2>"$work/enroll.err"
	bench_agent_yaml idle agent "interval: 1h" >"$work/agent.yaml"
	cat "$work/idle.block" >>"$work/agent.yaml"
	sei-agent run -c "$work/agent.yaml" >"$work/agent.out" 2>&1 &
	local agent_pid=$!
	pids+=("$agent_pid")
	echo "== idle: $records incidents synced, then a ${window} s window between polls"
	local i
	for i in $(seq 1 3000); do
		if grep -qs '"polled"' "$work/agent.log" &&
			[[ "$(sei-agent status --json -c "$work/agent.yaml" 2>/dev/null || true)" =~ \"pending_batches\":\ *0, ]]; then
			break
		fi
		kill -0 "$agent_pid" 2>/dev/null || { echo "bench-idle: the agent stopped; see $work/agent.out" >&2; KEEP=1; exit 1; }
		sleep 0.2
	done
	sleep "$settle"

	local a0 r0 as0 rs0 a1 r1 as1 rs1
	a0=$(cpu_ticks "$agent_pid") r0=$(cpu_ticks "$relay_pid")
	as0=$(switches "$agent_pid") rs0=$(switches "$relay_pid")
	local profilers=()
	if [ "${PROFILE:-}" = 1 ]; then
		curl -s --unix-socket "$work/agent/sei-agent.sock" 'http://agent/debug/pprof/profile?seconds=60' >"$work/agent-idle.cpu.pb.gz" &
		profilers+=($!)
		curl -s -H "Authorization: Bearer $token" "$http_url/debug/pprof/profile?seconds=60" >"$work/relay-idle.cpu.pb.gz" &
		profilers+=($!)
		KEEP=1
	fi
	sleep "$window"
	a1=$(cpu_ticks "$agent_pid") r1=$(cpu_ticks "$relay_pid")
	as1=$(switches "$agent_pid") rs1=$(switches "$relay_pid")
	if [ ${#profilers[@]} -gt 0 ]; then wait "${profilers[@]}"; fi

	local out
	mkdir -p bench/out
	out="bench/out/idle-$(date -u +%Y%m%dT%H%M%SZ).json"
	awk -v w="$window" -v hz="$hz" -v n="$records" \
		-v ac=$((a1 - a0)) -v rc=$((r1 - r0)) -v aw=$((as1 - as0)) -v rw=$((rs1 - rs0)) \
		-v arss="$(rss "$agent_pid")" -v rrss="$(rss "$relay_pid")" \
		-v commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" '
	BEGIN {
		split(arss, a, " "); split(rrss, r, " ")
		printf "  %-6s %14s %12s %12s %10s %10s %10s\n", "", "CPU % of core", "CPU s", "wakeups/s", "RSS MiB", "anon MiB", "file MiB"
		printf "  %-6s %14.3f %12.2f %12.1f %10.1f %10.1f %10.1f\n", "agent", 100 * ac / hz / w, ac / hz, aw / w, a[1] / 1024, a[2] / 1024, a[3] / 1024
		printf "  %-6s %14.3f %12.2f %12.1f %10.1f %10.1f %10.1f\n", "relay", 100 * rc / hz / w, rc / hz, rw / w, r[1] / 1024, r[2] / 1024, r[3] / 1024
		printf "  (CPU in clock ticks of 1/%d s: the resolution is %.3f%% of a core over this window)\n", hz, 100 / hz / w
		printf "{\"commit\":\"%s\",\"window_s\":%d,\"records\":%d,", commit, w, n > "/dev/stderr"
		printf "\"agent\":{\"cpu_s\":%.2f,\"cpu_pct\":%.4f,\"switches_per_s\":%.2f,\"rss_kb\":%d,\"anon_kb\":%d,\"file_kb\":%d},", ac / hz, 100 * ac / hz / w, aw / w, a[1], a[2], a[3] > "/dev/stderr"
		printf "\"relay\":{\"cpu_s\":%.2f,\"cpu_pct\":%.4f,\"switches_per_s\":%.2f,\"rss_kb\":%d,\"anon_kb\":%d,\"file_kb\":%d}}\n", rc / hz, 100 * rc / hz / w, rw / w, r[1], r[2], r[3] > "/dev/stderr"
	}' 2>"$out"
	echo "== figures written to $out"
	if [ "${PROFILE:-}" = 1 ]; then
		echo "== profiles: go tool pprof -top $work/agent-idle.cpu.pb.gz (and relay-idle.cpu.pb.gz)"
	fi
}

main "$@"
