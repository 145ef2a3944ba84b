#!/usr/bin/env bash
# bench.sh prints the project's throughput and memory figures side by side
# with the floor of the same work, and writes them as JSON to bench/out/.
# Nothing here asserts a number: rerun it and compare.
#
#   scripts/bench.sh [SCALE...]   SCALE: small (20,000 incidents, the CI run),
#                                 100k, 300k, 1m; default small
#   scripts/bench.sh micro        only the go test micro-benchmarks
#   scripts/bench.sh relay        only the relay and pg figures below (500
#                                 batches; RELAY_BATCHES=N sets them)
#   KEEP=1 keeps the work folder; DRAIN=N sets the outage backlog (default
#   200000, 20000 when only small runs).
#
# For each scale point the ServiceNow simulator serves N incidents (92
# fields) and two readers backfill the incident table from it:
#   floor  keysetfloor: the agent's paging rule and JSON decode, nothing else
#   agent  sei-agent sync into a running sei-relay (exclusions, records,
#          Badger buffer, zstd batches, JetStream publish)
# with records/s, CPU (user+sys) per 1,000 records and its ratio to the
# floor, and peak RSS (GNU time). Once per run:
#   wire   bytes per record in the agent's batches against the raw JSON
#          bytes per record the floor read
#   drain  DRAIN records polled while the relay is unreachable, then the
#          time until a sync has them all acknowledged
#   relay  ingest into Badger of batches of 200 incident-like records (92
#          fields) against two floors reading the same messages (go test
#          benchmarks in relay/ingest): the raw JetStream consume the target
#          names (fetch and ack, no inflate, no decode) and a consume that
#          also inflates and decodes every record, work the relay cannot
#          skip. Each with records/s and the test process's CPU per 1,000
#          records, steadier than records/s on a shared machine.
#   pg     PostgreSQL upsert against a plain COPY of the same rows into an
#          unindexed table (when SEI_TEST_POSTGRES_URL is set or
#          scripts/ci-postgres.sh can start PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

# need_time installs GNU time when it is missing.
need_time() {
	[ -x /usr/bin/time ] && return 0
	echo "bench: installing GNU time" >&2
	if [ "$(id -u)" -eq 0 ]; then apt-get install -y -q time >/dev/null; else sudo -n apt-get install -y -q time >/dev/null; fi
}

# timed NAME CMD...: runs CMD under GNU time; stdout to $work/NAME.out,
# stderr to NAME.err, "elapsed user sys maxrss_kb" to NAME.time.
timed() {
	local name=$1
	shift
	/usr/bin/time -f '%e %U %S %M' -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err"
}

# field FILE N prints the Nth figure of a .time file.
field() { tail -1 "$1" | awk -v n="$2" '{ print $n }'; }

# agent_yaml NAME RELAY_URL writes $work/NAME.yaml: only the incident table,
# every field, the relay block of enrollment NAME with its URL replaced by
# RELAY_URL when given.
agent_yaml() {
	local block="$work/$1.block"
	[ -s "$block" ] || sei-relay enroll -c "$work/relay.yaml" --tenant bench --integration sn --agent "$1" >"$block" 2>>"$work/enroll.err"
	{
		bench_agent_yaml "$1" "$1" "page_size: 1000"
		if [ -n "${2:-}" ]; then
			sed "s|^\(  *url: *\).*|\1$2|" "$block"
		else
			cat "$block"
		fi
	} >"$work/$1${2:+-down}.yaml"
}

# simulate N starts the simulator with N incidents and little else, and
# sets sim_pid and gen_s (seconds until it served).
simulate() {
	local t0
	t0=$(date +%s.%N)
	start_snowsim -incidents "$1" -changes 1 -users 1000 -groups 10 -audit 0 -journal 0
	sim_pid=${pids[-1]}
	gen_s=$(echo "$(date +%s.%N) - $t0" | bc)
}

stop_sim() {
	kill "$sim_pid" 2>/dev/null || true
	wait "$sim_pid" 2>/dev/null || true
}

# scale_point LABEL N runs the floor and the agent on N incidents.
scale_point() {
	local label=$1 n=$2
	echo "== scale $label: $n incidents"
	simulate "$n"
	timed "floor-$label" keysetfloor -url "$sn_url" -table incident -page 1000
	agent_yaml "agent-$label"
	timed "agent-$label" sei-agent sync -c "$work/agent-$label.yaml"
	stop_sim
	relay_rss
	local frec fbytes arec
	frec=$(sed -n 's/.*"records":\([0-9]*\).*/\1/p' "$work/floor-$label.out")
	fbytes=$(sed -n 's/.*"bytes":\([0-9]*\).*/\1/p' "$work/floor-$label.out")
	arec=$(sed -n 's/.*: \([0-9]*\) records fetched.*/\1/p' "$work/agent-$label.out")
	raw_per_record=$((fbytes / frec))
	awk -v label="$label" -v n="$n" -v gen="$gen_s" -v frec="$frec" -v arec="$arec" \
		-v fe="$(field "$work/floor-$label.time" 1)" -v fu="$(field "$work/floor-$label.time" 2)" \
		-v fs="$(field "$work/floor-$label.time" 3)" -v fm="$(field "$work/floor-$label.time" 4)" \
		-v ae="$(field "$work/agent-$label.time" 1)" -v au="$(field "$work/agent-$label.time" 2)" \
		-v as="$(field "$work/agent-$label.time" 3)" -v am="$(field "$work/agent-$label.time" 4)" '
	BEGIN {
		fc = (fu + fs) * 1e6 / frec; ac = (au + as) * 1e6 / arec
		printf "  simulator generated %d incidents in %.1f s\n", n, gen
		printf "  %-8s %10s %9s %14s %12s %12s\n", "", "records", "records/s", "CPU ms/1000", "CPU ratio", "peak RSS MiB"
		printf "  %-8s %10d %9.0f %14.1f %12.2f %12.0f\n", "floor", frec, frec / fe, fc, 1, fm / 1024
		printf "  %-8s %10d %9.0f %14.1f %12.2f %12.0f\n", "agent", arec, arec / ae, ac, ac / fc, am / 1024
		printf "{\"label\":\"%s\",\"incidents\":%d,\"generate_s\":%.2f,", label, n, gen > "/dev/stderr"
		printf "\"floor\":{\"records\":%d,\"seconds\":%.2f,\"records_per_s\":%.0f,\"cpu_ms_per_1000\":%.2f,\"peak_rss_kb\":%d},", frec, fe, frec / fe, fc, fm > "/dev/stderr"
		printf "\"agent\":{\"records\":%d,\"seconds\":%.2f,\"records_per_s\":%.0f,\"cpu_ms_per_1000\":%.2f,\"cpu_ratio\":%.3f,\"peak_rss_kb\":%d}}\n", arec, ae, arec / ae, ac, ac / fc, am > "/dev/stderr"
	}' 2>>"$work/scale.jsonl"
}

# relay_rss prints the relay's resident memory now and its peak so far
# (/proc VmRSS, VmHWM): the relay runs for the whole bench, so the peak
# after a scale point covers every point before it.
relay_rss() {
	awk '/^VmRSS|^VmHWM|^RssAnon|^RssFile/ { kb[$1] = $2 } END {
		printf "  relay    RSS %.0f MiB now (%.0f anonymous, %.0f file-backed: mapped Badger files), %.0f MiB peak so far\n",
			kb["VmRSS:"] / 1024, kb["RssAnon:"] / 1024, kb["RssFile:"] / 1024, kb["VmHWM:"] / 1024 }' "/proc/$relay_pid/status" || true
}

# drain D polls D incidents with the relay unreachable, reads the buffered
# figures, then times a sync against the relay until the buffer is empty.
drain() {
	local d=$1
	echo "== drain: $d records buffered during an outage"
	simulate "$d"
	agent_yaml drain
	agent_yaml drain nats://127.0.0.1:1 # nothing listens on port 1
	sei-agent sync -c "$work/drain-down.yaml" -timeout 24h >"$work/drain-down.out" 2>"$work/drain-down.err" &
	local apid=$!
	local i
	for i in $(seq 1 36000); do
		grep -qs '"polled"' "$work/drain.log" && break
		kill -0 "$apid" 2>/dev/null || break
		sleep 0.1
	done
	kill -INT "$apid" 2>/dev/null || true
	wait "$apid" 2>/dev/null || true
	sei-agent status --json -c "$work/drain.yaml" >"$work/drain-status.json" || true
	pending_records=$(grep -o '"pending_records": *[0-9]*' "$work/drain-status.json" | grep -o '[0-9]*$')
	pending_bytes=$(grep -o '"pending_bytes": *[0-9]*' "$work/drain-status.json" | grep -o '[0-9]*$')
	if [ "${pending_records:-0}" -eq 0 ]; then
		echo "bench: nothing was buffered during the outage; see $work/drain.log and drain-status.json" >&2
		KEEP=1
		exit 1
	fi
	# The buffer empties on JetStream's acks; the relay stores the records
	# after that. Time both from the start of the sync.
	local stored0 t0 stored
	stored0=$(relay_stored_idle)
	t0=$(date +%s.%N)
	timed drain sei-agent sync -c "$work/drain.yaml"
	stop_sim
	drain_s=$(field "$work/drain.time" 1)
	for _ in $(seq 1 3000); do
		stored=$(relay_stored)
		[ $((stored - stored0)) -ge "$pending_records" ] && break
		sleep 0.1
	done
	stored_s=$(echo "$(date +%s.%N) - $t0" | bc)
	awk -v r="$pending_records" -v b="$pending_bytes" -v s="$drain_s" -v raw="$raw_per_record" -v st="$stored_s" -v n="$((stored - stored0))" 'BEGIN {
		printf "  %d records (%.1f MiB in the buffer) drained in %.1f s = %.0f records/s (buffer empty: JetStream acknowledged them)\n", r, b / 1048576, s, r / s
		printf "  %d of them stored by the relay (applied or ignored) %.1f s after the sync began = %.0f records/s\n", n, st, n / st
		printf "== wire: %.0f bytes per record in the agent'"'"'s batches vs %d bytes of raw JSON (%.1f%%)\n", b / r, raw, 100 * b / r / raw
	}'
}

# relay_stored prints how many records the relay's consumer applied or
# ignored so far (its counters on /metrics, read with the admin token).
relay_stored() {
	{ curl -fsS -H "Authorization: Bearer $token" "$http_url/metrics" || true; } |
		awk '/^sei_relay_ingest_records_(applied|ignored)_total / { n += $2 } END { printf "%.0f\n", n }'
}

# relay_stored_idle prints relay_stored once two readings a second apart
# agree (at most a minute): the records of an earlier sync are in.
relay_stored_idle() {
	local a b
	a=$(relay_stored)
	for _ in $(seq 1 60); do
		sleep 1
		b=$(relay_stored)
		[ "$a" = "$b" ] && break
		a=$b
	done
	echo "$b"
}

# bench_metric FILE BENCH UNIT prints the figure UNIT of benchmark BENCH
# in go test output FILE.
bench_metric() {
	awk -v b="$2" -v u="$3" '$1 ~ "^Benchmark" b "(-[0-9]+)?$" { for (i = 1; i < NF; i++) if ($(i+1) == u) print $i }' "$1"
}

# relay_floor BATCHES prints relay ingest into Badger against a raw
# JetStream consume of the same BATCHES batches of 200 records, and
# against a consume that also decodes them.
relay_floor() {
	echo "== relay: ingest into Badger vs two floors on the same messages ($(($1 * 200)) records, 92 fields each)"
	go test -run '^$' -bench 'ConsumerIntoBadger|RawConsume|DecodeConsume' -benchtime "${1}x" ./relay/ingest/ >"$work/relay-bench.out"
	local f="$work/relay-bench.out"
	relay_rps=$(bench_metric "$f" ConsumerIntoBadger records/s) relay_cpu=$(bench_metric "$f" ConsumerIntoBadger cpu-ms/1000rec)
	raw_rps=$(bench_metric "$f" RawConsume records/s) raw_cpu=$(bench_metric "$f" RawConsume cpu-ms/1000rec)
	dec_rps=$(bench_metric "$f" DecodeConsume records/s) dec_cpu=$(bench_metric "$f" DecodeConsume cpu-ms/1000rec)
	awk -v a="$relay_rps" -v ac="$relay_cpu" -v r="$raw_rps" -v rc="$raw_cpu" -v d="$dec_rps" -v dc="$dec_cpu" 'BEGIN {
		printf "  %-34s %10s %12s %24s\n", "", "records/s", "CPU ms/1000", "relay vs it (rate, CPU)"
		printf "  %-34s %10.0f %12.1f\n", "relay: consume, decode, Badger, ack", a, ac
		printf "  %-34s %10.0f %12.1f %11.1f%% %11.1f%%\n", "floor: raw consume (fetch, ack)", r, rc, 100 * a / r, 100 * rc / ac
		printf "  %-34s %10.0f %12.1f %11.1f%% %11.1f%%\n", "floor: consume and decode", d, dc, 100 * a / d, 100 * dc / ac
	}'
}

# pg_floor BATCHES prints PostgreSQL upserts against a plain COPY of the
# same rows, BATCHES batches of 1000, when PostgreSQL is available.
pg_floor() {
	local url="${SEI_TEST_POSTGRES_URL:-}"
	if [ -z "$url" ] && ! url=$(scripts/ci-postgres.sh 2>"$work/pg.err"); then
		echo "== pg: skipped (no SEI_TEST_POSTGRES_URL and scripts/ci-postgres.sh failed: $(tail -1 "$work/pg.err"))"
		pg_rps=null copy_rps=null
		return 0
	fi
	echo "== pg: upsert vs a plain COPY into an unindexed table ($(($1 * 1000)) records)"
	SEI_TEST_POSTGRES_URL="$url" go test -run '^$' -bench 'Apply/batch=1000$|CopyFloor' -benchtime "${1}x" \
		./relay/store/pgstore/ >"$work/pg-bench.out"
	pg_rps=$(awk '/^BenchmarkApply\/batch=1000-/ { for (i = 1; i < NF; i++) if ($(i+1) == "records/s") print $i }' "$work/pg-bench.out")
	copy_rps=$(awk '/^BenchmarkCopyFloor/ { for (i = 1; i < NF; i++) if ($(i+1) == "records/s") print $i }' "$work/pg-bench.out")
	awk -v a="$pg_rps" -v b="$copy_rps" 'BEGIN { printf "  upsert %.0f records/s, COPY %.0f records/s (%.1f%%)\n", a, b, 100 * a / b }'
}

micro() {
	echo "== micro-benchmarks (go test -bench)"
	go test -run '^$' -bench 'AppendLeaseAck' -benchtime 300x ./buffer/ | grep -E '^Benchmark'
	go test -run '^$' -bench 'Apply' -benchtime 50x ./relay/store/badgerstore/ | grep -E '^Benchmark'
	go test -run '^$' -bench 'Scan' -benchtime 3x ./agent/servicenow/ | grep -E '^Benchmark'
	go test -run '^$' -bench '.' -benchtime 3x ./agent/servicenow/snowtest/ | grep -E '^Benchmark'
}

main() {
	local scales=() only_small=1 s
	for s in "${@:-small}"; do
		case "$s" in
		small) scales+=("small:20000") ;;
		100k) scales+=("100k:100000") only_small= ;;
		300k) scales+=("300k:300000") only_small= ;;
		1m | 1M) scales+=("1m:1000000") only_small= ;;
		*) echo "usage: scripts/bench.sh [small|100k|300k|1m]... | micro | relay" >&2; exit 2 ;;
		esac
	done
	local d="${DRAIN:-200000}" batches=500 pgbatches=100
	if [ -n "$only_small" ]; then d="${DRAIN:-20000}" batches=100 pgbatches=20; fi
	need_time
	new_work sei-bench
	build_all
	go build -o "$work/bin/" ./agent/servicenow/cmd/keysetfloor
	start_relay
	relay_pid=${pids[-1]}
	: >"$work/scale.jsonl"
	for s in "${scales[@]}"; do scale_point "${s%%:*}" "${s##*:}"; done
	drain "$d"
	relay_floor "$batches"
	pg_floor "$pgbatches"
	mkdir -p bench/out
	local out
	out="bench/out/bench-$(date -u +%Y%m%dT%H%M%SZ).json"
	{
		printf '{"commit":"%s","cpus":%d,"scales":[' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$(nproc)"
		paste -sd, "$work/scale.jsonl" | tr -d '\n'
		printf '],"wire":{"bytes_per_record":%s,"raw_json_bytes_per_record":%s},' \
			"$((pending_bytes / pending_records))" "$raw_per_record"
		printf '"drain":{"records":%s,"seconds":%s,"stored_seconds":%s},' "$pending_records" "$drain_s" "$stored_s"
		relay_json
	} >"$out"
	echo "== figures written to $out"
}

# relay_json prints the relay and pg figures as the JSON object's last
# members.
relay_json() {
	printf '"relay_badger":{"records_per_s":%s,"cpu_ms_per_1000":%s,"raw_consume_records_per_s":%s,"raw_consume_cpu_ms_per_1000":%s,' \
		"$relay_rps" "$relay_cpu" "$raw_rps" "$raw_cpu"
	printf '"decode_consume_records_per_s":%s,"decode_consume_cpu_ms_per_1000":%s},' "$dec_rps" "$dec_cpu"
	printf '"postgres":{"records_per_s":%s,"copy_records_per_s":%s}}\n' "$pg_rps" "$copy_rps"
}

# relay_only runs only the relay and pg figures.
relay_only() {
	local batches="${RELAY_BATCHES:-500}"
	new_work sei-bench
	relay_floor "$batches"
	pg_floor 100
	mkdir -p bench/out
	local out
	out="bench/out/bench-relay-$(date -u +%Y%m%dT%H%M%SZ).json"
	{
		printf '{"commit":"%s","cpus":%d,' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$(nproc)"
		relay_json
	} >"$out"
	echo "== figures written to $out"
}

case "${1:-}" in
micro) micro ;;
relay) relay_only ;;
*) main "$@" ;;
esac
