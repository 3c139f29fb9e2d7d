#!/usr/bin/env bash
# Fault injection for the alert feeds (issue 13): mcpwatch run --pcap against
# a real webhook receiver on loopback that answers 500, answers 400, or
# hangs, then the Go fault tests with real receivers (httptest, UDP and TCP
# syslog listeners). For each webhook case it prints the time run took, its
# exit status, and the alerts delivered / dead-lettered / lost.
#
#   scripts/faults/feeds.sh            # all cases, --feed-wait 5s
#   FEED_WAIT=30s scripts/faults/feeds.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

feed_wait=${FEED_WAIT:-5s}
work=$(mktemp -d -t mcpwatch-feeds-XXXXXX)
receiver=""
cleanup() {
	[ -n "$receiver" ] && kill "$receiver" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/mcpwatch" ./cmd/mcpwatch

# A real HTTP receiver: MODE 500 answers 500, 400 answers 400, hang reads
# the request and never answers.
cat >"$work/receiver.py" <<'PY'
import http.server, socketserver, sys, threading
mode = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if mode == "hang":
            threading.Event().wait()
        self.send_response(int(mode)); self.end_headers(); self.wfile.write(b"fault injected")
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY

printf '%-6s %-9s %-5s %-7s %-10s %-14s %-5s\n' webhook feed-wait exit run_s alerts delivered/dead/lost
for mode in 500 400 hang; do
	python3 "$work/receiver.py" "$mode" >"$work/port" &
	receiver=$!
	for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
	port=$(cat "$work/port")
	dl="$work/dl-$mode"
	start=$(date +%s.%N)
	set +e
	"$work/mcpwatch" run --pcap testdata/demo.pcap --allowlist testdata/demo-allowlist.yaml \
		--alert-webhook "http://127.0.0.1:$port/hook" --alert-webhook-secret s3cret \
		--feed-wait "$feed_wait" --dead-letter-dir "$dl" \
		--alerts-out "$work/alerts-$mode.jsonl" --token-key-file "$work/token.key" >/dev/null 2>"$work/stderr-$mode"
	code=$?
	set -e
	end=$(date +%s.%N)
	kill "$receiver" 2>/dev/null || true
	wait "$receiver" 2>/dev/null || true
	receiver=""
	alerts=$(wc -l <"$work/alerts-$mode.jsonl")
	line=$(grep -o 'alert feed webhook: delivered [0-9]*  dead-lettered [0-9]*.*lost [0-9]*' "$work/stderr-$mode" || true)
	delivered=$(sed -E 's/.*webhook: delivered ([0-9]+).*/\1/' <<<"$line")
	dead=$(sed -E 's/.*dead-lettered ([0-9]+).*/\1/' <<<"$line")
	lost=$(sed -E 's/.*lost ([0-9]+).*/\1/' <<<"$line")
	dead_file=$(cat "$dl"/alerts-webhook.jsonl 2>/dev/null | wc -l)
	printf '%-6s %-9s %-5s %-7.2f %-10s %s/%s/%s (dead-letter file: %s lines)\n' \
		"$mode" "$feed_wait" "$code" "$(echo "$end - $start" | bc)" "$alerts" "$delivered" "$dead" "$lost" "$dead_file"
	if [ "$code" -ne 5 ] || [ "$lost" != 0 ] || [ "$dead" != "$alerts" ]; then
		echo "FAIL: want exit 5, every alert dead-lettered, none lost" >&2
		cat "$work/stderr-$mode" >&2
		exit 1
	fi
done

echo "== Go fault tests with real receivers"
go test ./sink/alertfeed/ -run 'Feed|Syslog|Webhook|EscapeSD' -count=1
go test ./pipeline/ -run 'TestRunWithFailingWebhook|TestRunReportsRuleErrors|TestRunFeedsAlertsToWebhookAndSyslog' -count=1 -v 2>&1 |
	grep -E 'FIGURES|^(--- |ok|FAIL)'
go test ./detect/ -run 'TestRuleErrors|TestEvalErrors' -count=1
