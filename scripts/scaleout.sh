#!/usr/bin/env bash
# Scale-out on real clusters, on loopback: a three-node NATS JetStream
# cluster (R3 streams), a ClickHouse cluster of two servers
# (scripts/clickhouse-cluster.sh), two sensors on two captures, two detect
# replicas plus a hot standby of replica 1, and store. While the sensors
# publish, it kills (SIGKILL) the NATS node leading the events stream and the
# first process of detect replica 1, stops the ClickHouse server store writes
# to first, and brings each back. Then it prints the figures, as FIGURE lines:
#
#   events lost      reference event ids (a single-process run per capture)
#                    missing from ClickHouse, on each server: must be 0
#   alerts repeated  alert_ids stored in more than one row, on each server
#                    before merges (and after, FINAL): must be 0
#   alerts lost/extra  the rules whose alerts do not hang on lost state (match,
#                    new_value): reference ids missing, and ids raised anew
#   fail-over        NATS: kill → the events stream stored a message again
#                    and had a new leader; detect: kill → replica 1's ack floor
#                    moved past the killed process's messages; ClickHouse:
#                    stop → store's next insert (on the other server), and
#                    start → the restarted server holding every row again
#
#   scripts/scaleout.sh           # the long run: 60 MB per capture
#   scripts/scaleout.sh --short   # 4 MB per capture (what CI runs)
#
# SCALEOUT_SIZE overrides the capture size per sensor. Needs Debian's
# clickhouse-server (scripts/test.sh installs it); builds nats-server from the
# module cache (scripts/nats.sh). Exits 1 when an event was lost or an alert
# repeated. Ports: NATS 4301-4303 (routes 6301-6303, monitoring 8301-8303),
# ClickHouse 9101-9102 (HTTP 9201-9202, interserver 9301-9302).
set -euo pipefail
cd "$(dirname "$0")/.."

size=${SCALEOUT_SIZE:-60MB}
[ "${1:-}" = --short ] && size=${SCALEOUT_SIZE:-4MB}

work=$(mktemp -d -t mcpwatch-scaleout-XXXXXX)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for n in 1 2 3; do scripts/nats.sh stop "$work/nats$n" >/dev/null 2>&1 || true; done
	scripts/clickhouse-cluster.sh stop "$work/clickhouse" >/dev/null 2>&1 || true
	[ -n "${SCALEOUT_KEEP:-}" ] && echo "kept $work" >&2 && return
	rm -rf "$work"
}
trap cleanup EXIT

say() { echo "== $(date -u +%T.%3N) $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# await SECONDS CMD…: until CMD succeeds, at most SECONDS; says so when the
# time ran out (the fault is then injected anyway, later in the stream).
await() {
	local limit=$1 start
	start=$(now)
	shift
	until "$@" 2>/dev/null; do
		if [ "$(elapsed "$start" "$(now)" | cut -d. -f1)" -ge "$limit" ]; then
			say "waited ${limit}s in vain for: $*"
			return 0
		fi
		sleep 0.05
	done
}
# above N CMD…: CMD prints a number greater than N.
above() { [ "$("${@:2}")" -gt "$1" ]; }

say "building mcpwatch, generating two $size captures"
export MCPWATCH=$work/mcpwatch
go build -o "$MCPWATCH" ./cmd/mcpwatch
tokenkey=--token-key-file=$work/token.key
printf 'servers:\n  - http://docs.corp.example:8080/mcp\n' >"$work/allow.yaml"
for s in 1 2; do
	go run ./bench/gen -size "$size" -seed $((6 + s)) -out "$work/s$s.pcap" -templates bench/templates.json.gz >/dev/null
done

say "reference: one single-process run per capture"
for s in 1 2; do
	"$MCPWATCH" run --pcap "$work/s$s.pcap" --sensor "s$s" "$tokenkey" --allowlist "$work/allow.yaml" \
		--events-out "$work/ref-events-$s.jsonl" --alerts-out "$work/ref-alerts-$s.jsonl" 2>/dev/null
done
jq -r .event_id "$work"/ref-events-*.jsonl | sort -u >"$work/ref-events.ids"
# The rules whose alerts survive a crash exactly: match alerts are tied to
# their event, new_value alerts to their value.
safe_rules=$(awk '/^  - id:/ { id = $3 } /^    type: (match|new_value)$/ { print id }' rules/*.yaml | paste -sd'|')
jq -r "select(.rule_id | test(\"^($safe_rules)\$\")) | .alert_id" "$work"/ref-alerts-*.jsonl | sort -u >"$work/ref-alerts.ids"
say "reference: $(wc -l <"$work/ref-events.ids") events, $(wc -l <"$work/ref-alerts.ids") alerts of match and new_value rules"

say "starting a three-node NATS JetStream cluster"
routes=nats://127.0.0.1:6301,nats://127.0.0.1:6302,nats://127.0.0.1:6303
start_nats() {
	NATS_PORT=$((4300 + $1)) NATS_NAME=n$1 \
		NATS_ARGS="--cluster_name mcpwatch --cluster nats://127.0.0.1:$((6300 + $1)) --routes $routes --http_port $((8300 + $1))" \
		scripts/nats.sh start "$work/nats$1" >/dev/null &
}
for n in 1 2 3; do start_nats "$n"; done
wait
nats=nats://127.0.0.1:4301,nats://127.0.0.1:4302,nats://127.0.0.1:4303
# jsz N asks node N's monitoring endpoint for the streams and consumers.
jsz() { curl -sf "http://127.0.0.1:$((8300 + $1))/jsz?accounts=true&streams=true&consumers=true" || echo '{}'; }
healthy() { curl -sf "http://127.0.0.1:$((8300 + $1))/healthz" >/dev/null; }
for n in 1 2 3; do until healthy "$n"; do sleep 0.2; done; done

say "starting a ClickHouse cluster of two servers"
clickhouse=$(scripts/clickhouse-cluster.sh start "$work/clickhouse")
scripts/clickhouse-cluster.sh schema "$work/clickhouse"
ch() { clickhouse-client --host 127.0.0.1 --port "$((9100 + $1))" --query "$2"; }

# run NAME ARGS… starts an mcpwatch job in the background, its log in
# $work/NAME.log, its pid in $work/NAME.pid.
run() {
	local name=$1
	shift
	"$MCPWATCH" "$@" >"$work/$name.log" 2>&1 &
	echo $! >"$work/$name.pid"
	pids+=($!)
}
bus=(--nats "$nats" --stream-replicas 3)
# Small batches: more round trips, so a kill finds batches in flight.
detect=(detect "${bus[@]}" --allowlist "$work/allow.yaml" --replicas 2 --ack-wait 5s --batch-size 8)

# stream N NAME FIELD: a number (or name) of a stream from node N's view,
# empty when N does not answer. consumer STREAM DURABLE FIELD: the same of a
# consumer, from the node leading it (followers' counts lag).
stream() { jsz "$1" | jq -r --arg s "$2" "[.account_details[]?.stream_detail[]? | select(.name == \$s)][0] | $3 // empty"; }
consumer() {
	local n
	for n in 1 2 3; do
		jsz "$n" | jq -r --arg s "$1" --arg c "$2" --arg n "n$n" "[.account_details[]?.stream_detail[]? | select(.name == \$s) | .consumer_detail[]? | select(.name == \$c and .cluster.leader == \$n)][0] | $3 // empty"
	done | head -n 1
}

# started JOB waits until JOB's consumers run; a job that exits meanwhile
# ends the scenario with its last words.
started() {
	until grep -q 'msg=\(storing\|detecting\)' "$work/$1.log"; do
		if ! kill -0 "$(cat "$work/$1.pid")" 2>/dev/null; then
			say "$1 exited:"
			tail -n 5 "$work/$1.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}
# Detect replica 0 consumes live from the start, through the NATS node's
# loss; it creates the R3 streams. So that the other faults fall in the
# middle of a stream however fast the machine is, replica 1 (with its
# standby) and store start once the sensors are done, on a backlog.
say "starting detect replica 0"
run detect0 "${detect[@]}" --replica 0
started detect0

say "starting sensors s1 and s2"
t_sensors=$(now)
for s in 1 2; do
	run "sensor$s" sensor --pcap "$work/s$s.pcap" --sensor "s$s" "$tokenkey" "${bus[@]}"
done
sensors_alive() { for s in 1 2; do kill -0 "$(cat "$work/sensor$s.pid")" 2>/dev/null && echo "s$s" || true; done | paste -sd,; }

# 1. The NATS node leading the events stream dies while the sensors publish.
ask=1 # a live node to ask
await 60 above 20 stream "$ask" MCPWATCH_EVENTS .state.last_seq
leader=$(stream 1 MCPWATCH_EVENTS .cluster.leader)
victim=${leader#n}
ask=$(((victim % 3) + 1))
publishing=$(sensors_alive)
say "killing NATS node $leader, leader of MCPWATCH_EVENTS (sensors publishing: ${publishing:-none})"
t_nats_kill=$(now)
kill -9 "$(cat "$work/nats$victim/nats.pid")"
new_leader() { l=$(stream "$ask" MCPWATCH_EVENTS .cluster.leader) && [ -n "$l" ] && [ "$l" != "$leader" ]; }
await 120 new_leader
t_leader=$(now)
seq_at_leader=$(stream "$ask" MCPWATCH_EVENTS .state.last_seq)
stored_again() { above "$seq_at_leader" stream "$ask" MCPWATCH_EVENTS .state.last_seq || [ -z "$(sensors_alive)" ]; }
await 120 stored_again
t_stored=$(now)
[ -n "$(sensors_alive)" ] || t_stored=""
sleep 2
say "restarting NATS node $leader"
start_nats "$victim"
wait "$!"

# 2. Detect replica 1's first process dies holding a batch; the standby
# takes over. The sensors are done by then, or nearly.
for s in 1 2; do
	if ! wait "$(cat "$work/sensor$s.pid")"; then
		say "sensor s$s failed:"
		tail -n 5 "$work/sensor$s.log" >&2
		exit 1
	fi
done
# A sensor's log is last written when it exits.
t_sensors_done=$(for s in 1 2; do date -r "$work/sensor$s.log" +%s.%N; done | sort -n | tail -n 1)
say "starting detect replica 1 and its hot standby on the backlog"
run detect1 "${detect[@]}" --replica 1
run detect1-standby "${detect[@]}" --replica 1
await 60 above 0 consumer MCPWATCH_EVENTS detect-1-of-2 .num_ack_pending
delivered_at_kill=$(consumer MCPWATCH_EVENTS detect-1-of-2 .delivered.stream_seq)
say "killing detect replica 1's first process; the consumer holds $(consumer MCPWATCH_EVENTS detect-1-of-2 .num_ack_pending) messages, $(consumer MCPWATCH_EVENTS detect-1-of-2 .num_pending) more pending"
t_detect_kill=$(now)
kill -9 "$(cat "$work/detect1.pid")"
await 120 above "$((delivered_at_kill - 1))" consumer MCPWATCH_EVENTS detect-1-of-2 .ack_floor.stream_seq
t_detect_floor=$(now)
say "restarting detect replica 1's first process"
run detect1 "${detect[@]}" --replica 1

# 3. ClickHouse server 1, the first of store's addresses, is down when
# store resumes: store goes on with server 2; server 1 catches up when back.
say "stopping ClickHouse server 1; starting store on the backlog"
scripts/clickhouse-cluster.sh stop-one "$work/clickhouse" 1
rows_before=$(ch 2 "SELECT count() FROM mcpwatch_local.messages")
t_ch_stop=$(now)
run store store "${bus[@]}" --clickhouse "$clickhouse" --ack-wait 5s
await 120 above "$rows_before" ch 2 "SELECT count() FROM mcpwatch_local.messages"
t_ch_insert=$(now)
sleep 3
say "starting ClickHouse server 1 again"
scripts/clickhouse-cluster.sh start-one "$work/clickhouse" 1
t_ch_start=$(now)

say "waiting for every consumer to drain"
drained() {
	for n in 1 2 3; do
		jsz "$n" | jq -c --arg n "n$n" '.account_details[]?.stream_detail[]?.consumer_detail[]? | select(.cluster.leader == $n) | .num_pending + .num_ack_pending'
	done | jq -se 'length >= 4 and add == 0' >/dev/null
}
await 600 drained
tables=$(ch 2 "SELECT name FROM system.tables WHERE database = 'mcpwatch_local' AND engine LIKE '%MergeTree' AND name NOT IN ('schema_migrations', 'dead_letters')")
rows() { for t in $tables; do ch "$1" "SELECT '$t', count() FROM mcpwatch_local.$t"; done; }
until [ "$(rows 1)" = "$(rows 2)" ]; do sleep 0.5; done
t_ch_caught_up=$(now)
t_done=$(now)

event_ids() {
	for t in $tables; do
		[ "$t" = alerts ] || ch "$1" "SELECT event_id FROM mcpwatch_local.$t"
	done | sort -u
}
status=0
figure() { echo "FIGURE $*"; }
for n in 1 2; do
	event_ids "$n" >"$work/stored-events-$n.ids"
	lost=$(comm -23 "$work/ref-events.ids" "$work/stored-events-$n.ids" | wc -l)
	extra=$(comm -13 "$work/ref-events.ids" "$work/stored-events-$n.ids" | wc -l)
	repeated=$(ch "$n" "SELECT count() FROM (SELECT alert_id FROM mcpwatch_local.alerts GROUP BY alert_id HAVING count() > 1)")
	repeated_final=$(ch "$n" "SELECT count() FROM (SELECT alert_id FROM mcpwatch_local.alerts FINAL GROUP BY alert_id HAVING count() > 1)")
	figure "clickhouse server $n: events lost $lost of $(wc -l <"$work/ref-events.ids"), events not in the reference $extra, alert_ids repeated $repeated (after merge $repeated_final)"
	[ "$lost" -eq 0 ] && [ "$repeated_final" -eq 0 ] || status=1
done
ch 1 "SELECT DISTINCT alert_id FROM mcpwatch.alerts WHERE rule_id IN ('$(echo "$safe_rules" | sed "s/|/','/g")')" | sort -u >"$work/stored-alerts.ids"
figure "alerts of match and new_value rules: reference $(wc -l <"$work/ref-alerts.ids"), lost $(comm -23 "$work/ref-alerts.ids" "$work/stored-alerts.ids" | wc -l), raised anew under another id $(comm -13 "$work/ref-alerts.ids" "$work/stored-alerts.ids" | wc -l); all alerts stored: $(ch 1 "SELECT uniqExact(alert_id) FROM mcpwatch.alerts")"
stored_again="(none: the sensors had finished)"
[ -z "$t_stored" ] || stored_again="$(elapsed "$t_nats_kill" "$t_stored") s"
figure "NATS node $leader killed $(elapsed "$t_sensors" "$t_nats_kill") s after the sensors started (sensors publishing: ${publishing:-none}): new stream leader after ${t_leader:+$(elapsed "$t_nats_kill" "$t_leader")} s, events stored again after $stored_again"
figure "detect replica 1 process killed: replica 1's ack floor past the killed process's messages after ${t_detect_floor:+$(elapsed "$t_detect_kill" "$t_detect_floor")} s (--ack-wait 5s)"
figure "ClickHouse server 1 stopped: next row stored (on server 2) after ${t_ch_insert:+$(elapsed "$t_ch_stop" "$t_ch_insert")} s; server 1 restarted, holding every row again after $(elapsed "$t_ch_start" "$t_ch_caught_up") s"
figure "sensors done after $(elapsed "$t_sensors" "$t_sensors_done") s, everything delivered after $(elapsed "$t_sensors" "$t_done") s"

say "queries on the cluster: servers, alerts, every dashboard panel"
"$MCPWATCH" servers --clickhouse "$clickhouse" >"$work/servers.txt"
figure "servers on the cluster: $(($(wc -l <"$work/servers.txt") - 1)) MCP servers listed"
MCPWATCH_TEST_CLICKHOUSE_CLUSTER=$clickhouse go test -count=1 -run TestPanelsOnCluster ./dashboards/ >&2 || status=1
exit $status
