#!/usr/bin/env bash
# Abuse cases of issue 13, with figures. Plays scenario.RunHostile against a
# real go-sdk server (a server quoting the client's token in a JSON-RPC
# error, a resources/read URI with ?access_token=, a 401 whose
# error_description quotes the token, terminal escapes in a server name and
# a Host header, a tools/call behind 200 KiB of headers), runs
# `mcpwatch run` on the capture with the embedded JetStream store on disk —
# and ClickHouse when MCPWATCH_TEST_CLICKHOUSE (host:port) is set — and
# counts:
#   tokens on disk           occurrences of the token in events, alerts,
#                            the JetStream store (and ClickHouse)      want 0
#   raw control characters   in the run summary and the servers/alerts
#                            tables (C0 but LF, DEL, C1)                want 0
#   padded tools/call        decoded with header_bytes                  want 1
#   padded tools/call alerts oversized-request-headers                  want 1
# Exits 1 when a figure is off. The same checks run in CI as Go tests:
# TestScenarioHostileTraffic (pipeline), TestHostileTrafficCLI (cmd/mcpwatch).
set -euo pipefail
cd "$(dirname "$0")/../.."

work=$(mktemp -d -t mcpwatch-security-XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/mcpwatch" ./cmd/mcpwatch
go run ./internal/gentestdata -hostile "$work/hostile.pcap"
token=$(sed -n 's/^\tHostileToken = "\(.*\)"$/\1/p' internal/scenario/hostile.go)
[ -n "$token" ] || { echo "security: token not found in internal/scenario/hostile.go" >&2; exit 2; }

ch=()
if [ -n "${MCPWATCH_TEST_CLICKHOUSE:-}" ]; then
	db="mcpwatch_security_$$"
	ch=(--clickhouse "$MCPWATCH_TEST_CLICKHOUSE" --clickhouse-database "$db")
fi
export MCPWATCH_TOKEN_KEY_FILE="$work/token.key"
"$work/mcpwatch" run --pcap "$work/hostile.pcap" --events-out "$work/events.jsonl" --alerts-out "$work/alerts.jsonl" \
	--data-dir "$work/jetstream" "${ch[@]}" >"$work/stdout.txt" 2>"$work/summary.txt" ||
	{ echo "security: mcpwatch run failed:" >&2; cat "$work/summary.txt" >&2; exit 2; }
printed=("$work/summary.txt")
if [ ${#ch[@]} -gt 0 ]; then
	"$work/mcpwatch" servers "${ch[@]}" >"$work/servers.txt"
	"$work/mcpwatch" alerts "${ch[@]}" >"$work/alerts-table.txt"
	printed+=("$work/servers.txt" "$work/alerts-table.txt")
fi

tokens=$(grep -rao -- "$token" "$work/events.jsonl" "$work/alerts.jsonl" "$work/stdout.txt" "$work/jetstream" "${printed[@]}" | wc -l || true)
if [ ${#ch[@]} -gt 0 ] && command -v clickhouse-client >/dev/null; then
	host=${MCPWATCH_TEST_CLICKHOUSE%:*} port=${MCPWATCH_TEST_CLICKHOUSE##*:}
	for t in messages sessions auth manifests flows alerts; do
		n=$(clickhouse-client --host "$host" --port "$port" --query "SELECT * FROM $db.$t FORMAT TSV" | grep -ao -- "$token" | wc -l || true)
		tokens=$((tokens + n))
	done
	clickhouse-client --host "$host" --port "$port" --query "DROP DATABASE IF EXISTS $db" || true
fi
controls=$(cat "${printed[@]}" | LC_ALL=C grep -aoP '[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' | wc -l || true)
calls=$(grep '"method":"tools/call"' "$work/events.jsonl" | grep '"direction":"c2s"' | grep -c '"header_bytes"' || true)
alerts=$(grep '"rule_id":"oversized-request-headers"' "$work/alerts.jsonl" | grep -c '"method":"tools/call"' || true)

printf '%-44s %s\n' "tokens on disk (want 0):" "$tokens" \
	"raw control characters printed (want 0):" "$controls" \
	"200 KiB-header tools/call decoded (want 1):" "$calls" \
	"200 KiB-header tools/call alerted (want 1):" "$alerts" \
	"outputs checked:" "events, alerts, JetStream store, ${#printed[@]} printed outputs${ch:+, ClickHouse}"
[ "$tokens" -eq 0 ] && [ "$controls" -eq 0 ] && [ "$calls" -eq 1 ] && [ "$alerts" -eq 1 ]
