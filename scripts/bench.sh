#!/usr/bin/env bash
# bench.sh prints the project's speed and memory figures. Nothing here
# asserts a number: rerun it and compare (benchstat works on the go test
# lines).
#
#   scripts/bench.sh            micro-benchmarks + the whole pipeline
#   scripts/bench.sh pipeline   only the pipeline (INCIDENTS=N, default 20000;
#                               KEEP=1 keeps its work folder)
#
# The pipeline figure: sei-relay (embedded NATS + Badger) and the ServiceNow
# simulator run locally; `sei-agent sync` backfills every default table.
# It prints the sync's wall time, records per second and the agent's peak
# resident memory (GNU time's "Maximum resident set size").
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

micro() {
	echo "== micro-benchmarks (go test -bench)"
	go test -run '^$' -bench 'AppendLeaseAck' -benchtime 300x ./buffer/ | grep -E '^Benchmark'
	go test -run '^$' -bench 'Apply' -benchtime 50x ./relay/store/badgerstore/ | grep -E '^Benchmark'
	if [ -n "${SEI_TEST_POSTGRES_URL:-}" ] || url=$(scripts/ci-postgres.sh 2>/dev/null); then
		SEI_TEST_POSTGRES_URL="${SEI_TEST_POSTGRES_URL:-$url}" \
			go test -run '^$' -bench 'Apply' -benchtime 50x ./relay/store/pgstore/ | grep -E '^Benchmark'
	fi
	go test -run '^$' -bench 'ConsumerIntoBadger' -benchtime 2000x ./relay/ingest/ | grep -E '^Benchmark'
	go test -run '^$' -bench 'Scan' -benchtime 3x ./agent/servicenow/ | grep -E '^Benchmark'
}

pipeline() {
	local incidents="${INCIDENTS:-20000}"
	new_work sei-bench
	echo "== pipeline: $incidents incidents (+ changes, users, approvals, audit), sync from scratch"
	build_all
	start_relay
	sei-relay enroll -c "$work/relay.yaml" --tenant bench --integration sn --agent bench >"$work/block.yaml"
	start_snowsim -incidents "$incidents" -changes $((incidents / 10)) -users 1000
	cat >"$work/agent.yaml" <<YAML
agent: {id: bench, data_dir: $work/agent}
servicenow:
  url: $sn_url
  auth: {method: basic, username: admin, password: admin}
  lookback: 365d
  page_size: 1000
  exclude_fields: [description, comments, work_notes]
$(cat "$work/block.yaml")
YAML
	/usr/bin/time -v sei-agent sync -c "$work/agent.yaml" >"$work/sync.out" 2>"$work/sync.err"
	local secs rss recs
	recs=$(sed -n 's/.*: \([0-9]*\) records fetched.*/\1/p' "$work/sync.out")
	secs=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/sync.err" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/sync.err")
	cat "$work/sync.out"
	awk -v r="$recs" -v s="$secs" -v m="$rss" 'BEGIN {
		printf "pipeline: %d records in %.1f s = %.0f records/s; agent peak RSS %.0f MiB\n", r, s, r / s, m / 1024 }'
}

case "${1:-all}" in
micro) micro ;;
pipeline) pipeline ;;
all) micro; pipeline ;;
*) echo "usage: scripts/bench.sh [micro|pipeline]" >&2; exit 2 ;;
esac
