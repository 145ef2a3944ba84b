# lib.sh: the local setup demo.sh and bench.sh share (sourced, not run):
# a work folder cleaned up on exit, the programs built into it, a relay
# and the ServiceNow simulator on random local ports.

# new_work NAME creates the work folder $work and arranges that on exit the
# processes in pids stop and $work is removed (kept when KEEP=1).
new_work() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	pids=()
	trap stop_work EXIT
}

stop_work() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "${KEEP:-}" = 1 ]; then echo "${0##*/}: kept $work"; else rm -rf "$work"; fi
}

# wait_for FILE [SECONDS] waits up to SECONDS (default 60) for FILE to
# appear, else exits keeping $work.
wait_for() {
	for _ in $(seq 1 $((${2:-60} * 10))); do [ -s "$1" ] && return 0; sleep 0.1; done
	echo "${0##*/}: $1 did not appear; logs in $work" >&2
	KEEP=1
	exit 1
}

# build_all builds sei-relay, sei-agent and snowsim into $work/bin and puts
# them on PATH.
build_all() {
	go build -o "$work/bin/" ./relay ./agent ./agent/servicenow/snowtest/cmd/snowsim
	mv "$work/bin/relay" "$work/bin/sei-relay"
	mv "$work/bin/agent" "$work/bin/sei-agent"
	export PATH="$work/bin:$PATH"
}

# start_relay runs sei-relay (embedded NATS with JetStream, Badger store in
# $work/relay, config $work/relay.yaml) and sets http_url and token.
start_relay() {
	printf 'data_dir: %s/relay\nhttp: {listen: "127.0.0.1:0"}\nnats: {listen: "127.0.0.1:0"}\n' "$work" >"$work/relay.yaml"
	sei-relay run -c "$work/relay.yaml" >"$work/relay.log" 2>&1 &
	pids+=($!)
	wait_for "$work/relay/relay.json"
	http_url=$(sed -n 's/.*"http_url": *"\([^"]*\)".*/\1/p' "$work/relay/relay.json")
	token=$(cat "$work/relay/http.token")
}

# start_snowsim ARGS... runs the ServiceNow simulator with ARGS (its data
# sizes) and sets sn_url.
start_snowsim() {
	snowsim -listen 127.0.0.1:0 "$@" >"$work/snowsim.out" 2>"$work/snowsim.log" &
	pids+=($!)
	wait_for "$work/snowsim.out" 900 # a million rows take a while to generate
	sn_url=$(grep -o 'http://[0-9.:]*' "$work/snowsim.out" | head -1)
}

# bench_agent_yaml ID NAME SETTING prints the benchmarks' agent
# configuration, relay block aside: agent ID with its data in $work/NAME and
# its log in $work/NAME.log, the simulator at $sn_url, incident the only
# table, and SETTING (one "key: value" line) added to servicenow.
bench_agent_yaml() {
	cat <<YAML
agent: {id: $1, data_dir: $work/$2}
log: {level: info, file: $work/$2.log}
servicenow:
  url: $sn_url
  auth: {method: basic, username: admin, password: admin}
  lookback: 3650d
  $3
  tables:
    change_request: {enabled: false}
    sys_user: {enabled: false}
    sys_user_group: {enabled: false}
    sysapproval_approver: {enabled: false}
    sys_audit: {enabled: false}
    sys_journal_field: {enabled: false}
    sys_audit_delete: {enabled: false}
YAML
}
