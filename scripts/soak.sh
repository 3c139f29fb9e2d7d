#!/usr/bin/env bash
# scripts/soak.sh [DURATION] — soak test of live capture (not run in CI).
#
# Runs `mcpwatch run --iface lo` (AF_PACKET on loopback; needs root or
# CAP_NET_RAW) against bench/soak for DURATION (default 10m, Go syntax: 90s,
# 10m, 1h): real go-sdk servers (stateful and stateless, SSE and JSON
# responses) and a mark3labs/mcp-go server on 127.0.0.1, go-sdk clients that
# connect, initialize, list and call tools (large results, progress streamed
# over SSE), disconnect and start again on new TCP connections, and non-MCP
# HTTP / JSON-RPC noise. The sensor captures only the workload's ports.
#
# Every SOAK_EVERY seconds (default 10) it samples the sensor's RSS
# (/proc/PID/status VmRSS) and, from its Prometheus endpoint, go_goroutines,
# mcpwatch_kernel_drops_total, mcpwatch_capture_faults_total and
# mcpwatch_decode_faults_total; at the end it prints a table (markdown) and
# a verdict.
#
# Verdict: the samples taken while the workload ran are cut in thirds (the
# first third is warm-up). RSS is GROWING when the mean of the last third
# exceeds the mean of the middle third by more than SOAK_RSS_PCT percent
# (default 10) and by more than SOAK_RSS_MIB MiB (default 16); goroutines
# are GROWING when the last third's mean exceeds the middle's by more than
# SOAK_GR_PCT percent (default 10) and by more than 10. Otherwise FLAT.
#
# The sensor STALLED when a sample interval passed without a message
# decoded while the workload ran (its kernel counters are read on the
# capture goroutine, so a stalled capture also stops updating them).
#
# Exit status: 0 when FLAT, not stalled, with no panic, no contained fault, no kernel
# drop and the sensor alive to the end; 1 otherwise; 2 when the soak could
# not run. Messages seen by the sensor that differ from what the workload's
# clients wrote and read are reported (MISMATCH) but do not fail the run.
#
#   scripts/soak.sh             # 10 minutes
#   scripts/soak.sh 1m          # a quick trial
#   scripts/soak.sh --report bench/out/soak-TIMESTAMP   # the table again
#   SOAK_ARGS="-clients 3 -pause 200ms -noise-rate 10" scripts/soak.sh 30m
#
# SOAK_MCPWATCH=BINARY soaks that binary instead of building ./cmd/mcpwatch;
# SOAK_DUMP_FAILURES=1 adds --dump-failures (whose packet store keeps up to
# 256 MiB of recent connections by design, so RSS then reflects that store).
#
# Everything it wrote stays in bench/out/soak-TIMESTAMP/ (samples.tsv, the
# sensor's stderr and summary, the workload's counts, alerts, fault dumps).
set -uo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10m}
every=${SOAK_EVERY:-10}
rss_pct=${SOAK_RSS_PCT:-10}
rss_mib=${SOAK_RSS_MIB:-16}
gr_pct=${SOAK_GR_PCT:-10}
out=bench/out/soak-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"

report() {
	sent=$(grep -o '"messages":[0-9]*' "$out/workload.json" | cut -d: -f2)
	sessions=$(grep -o '"sessions":[0-9]*' "$out/workload.json" | cut -d: -f2)
	conns=$(grep -o '"mcp_tcp_conns":[0-9]*' "$out/workload.json" | cut -d: -f2)
	werrs=$(grep -o '"errors":[0-9]*' "$out/workload.json" | cut -d: -f2)
	seen=$(grep -o 'message=[0-9]*' "$out/sensor.err" | head -1 | cut -d= -f2)
	seen_from=summary
	[ -z "$seen" ] && seen=$(tail -1 "$out/samples.tsv" | cut -f10) seen_from="metrics (no summary: the sensor did not finish)"
	panics=$(grep -c -E '^panic:|^fatal error:' "$out/sensor.err")
	contained=$(grep -o 'faults contained: [0-9]*' "$out/sensor.err" | head -1 | grep -o '[0-9]*$')

	awk -F'\t' -v secs="$secs" -v sent="${sent:-0}" -v seen_from="$seen_from" -v seen="${seen:-0}" -v sessions="${sessions:-0}" \
		-v conns="${conns:-0}" -v werrs="${werrs:-0}" -v panics="$panics" -v contained="${contained:-0}" \
		-v alive="$alive" -v src="$src" -v wrc="$wrc" -v rss_pct="$rss_pct" -v rss_mib="$rss_mib" -v gr_pct="$gr_pct" \
		-v machine="$(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(go env GOVERSION)" '
	NR == 1 { next }
	{
		if ($2 == "run") {
			n++; rss[n] = $3; gr[n] = $4; heap[n] = $5
			if (n > 1 && $10 == prevmsg) stalls++ # no message decoded in a whole interval
			prevmsg = $10
		}
		last = $0; split($0, f, "\t")
		drops = f[7]; faults = f[8] + f[9]; kpk = f[6]; cpu = f[12]
	}
	function mean(a, from, to,   i, s) { s = 0; for (i = from; i <= to; i++) s += a[i]; return s / (to - from + 1) }
	function stat(a,   i, mx) { mx = a[1]; for (i = 2; i <= n; i++) if (a[i] > mx) mx = a[i]; return mx }
	END {
		if (n < 3) { print "soak: fewer than 3 samples; run longer" > "/dev/stderr"; exit 1 }
		k = int(n / 3)
		mr = mean(rss, k + 1, 2 * k); lr = mean(rss, 2 * k + 1, n)
		mg = mean(gr, k + 1, 2 * k); lg = mean(gr, 2 * k + 1, n)
		mh = mean(heap, k + 1, 2 * k); lh = mean(heap, 2 * k + 1, n)
		rssgrow = (lr - mr) / mr * 100; grgrow = (lg - mg) / mg * 100; heapgrow = (lh - mh) / mh * 100
		grows_rss = rssgrow > rss_pct && (lr - mr) / 1024 > rss_mib
		grows_gr = grgrow > gr_pct && lg - mg > 10
		printf "\n| soak | |\n|---|---|\n"
		printf "| machine | %s |\n", machine
		printf "| duration | %.0f s of workload, %d samples |\n", secs, n
		printf "| workload | %d sessions, %d MCP TCP connections, %d errors |\n", sessions, conns, werrs
		printf "| MCP messages seen / sent | %d / %d (%s; seen from the %s) |\n", seen, sent, (seen == sent ? "equal" : sprintf("MISMATCH: %+d", seen - sent)), seen_from
		printf "| intervals with no message decoded (stalls) | %d of %d |\n", stalls, n - 1
		printf "| RSS first / max / last | %.1f / %.1f / %.1f MiB |\n", rss[1] / 1024, stat(rss) / 1024, rss[n] / 1024
		printf "| RSS mean, middle → last third | %.1f → %.1f MiB (%+.1f %%) |\n", mr / 1024, lr / 1024, rssgrow
		printf "| Go heap in use first / max / last | %.1f / %.1f / %.1f MiB (middle → last third %+.1f %%) |\n", heap[1] / 1024, stat(heap) / 1024, heap[n] / 1024, heapgrow
		printf "| goroutines first / max / last | %d / %d / %d |\n", gr[1], stat(gr), gr[n]
		printf "| goroutines mean, middle → last third | %.1f → %.1f (%+.1f %%) |\n", mg, lg, grgrow
		printf "| packets on lo (kernel) / sensor CPU | %d / %.0f s |\n", kpk, cpu
		printf "| kernel drops | %d |\n", drops
		printf "| faults contained (metrics / summary) / panics | %d / %d / %d |\n", faults, contained, panics
		printf "| sensor | %s, exit status %d |\n", (alive == "yes" ? "alive to the end" : alive == "hung" ? "HUNG: did not stop within 60 s of SIGINT, killed" : "DIED or its metrics stopped answering"), src
		fail = stalls > 0 || grows_rss || grows_gr || drops > 0 || faults > 0 || contained > 0 || panics > 0 || alive != "yes" || src != 0 || wrc != 0
		printf "\nverdict: %s%s (RSS %+.1f %%, goroutines %+.1f %%, last third vs middle third; thresholds RSS > %d %% and > %d MiB, goroutines > %d %% and > 10)%s\n",
			(grows_rss || grows_gr ? "GROWING" : "FLAT"), (stalls > 0 ? ", STALLED" : ""), rssgrow, grgrow, rss_pct, rss_mib, gr_pct,
			(fail ? " — FAIL" : "")
		exit (fail ? 1 : 0)
	}' "$out/samples.tsv"
}

if [ "${1:-}" = --report ]; then # print the table of an earlier run again
	out=${2:?--report DIR}
	# shellcheck disable=SC1091
	. "$out/run.env"
	report
	exit $?
fi

die() {
	echo "soak: $*" >&2
	exit 2
}
mcpwatch=${SOAK_MCPWATCH:-}
if [ -z "$mcpwatch" ]; then
	mcpwatch=bench/out/mcpwatch
	go build -o "$mcpwatch" ./cmd/mcpwatch || die "build mcpwatch"
fi
dump=()
[ -n "${SOAK_DUMP_FAILURES:-}" ] && dump=(--dump-failures "$out/faults")
go build -o bench/out/soak ./bench/soak || die "build bench/soak"

wpid="" spid=""
cleanup() {
	[ -n "$wpid" ] && kill "$wpid" 2>/dev/null
	[ -n "$spid" ] && kill "$spid" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# shellcheck disable=SC2086 # SOAK_ARGS is a list of flags
bench/out/soak -duration "$duration" -ports "$out/ports" ${SOAK_ARGS:-} >"$out/workload.json" 2>"$out/workload.err" &
wpid=$!
for _ in $(seq 100); do
	[ -s "$out/ports" ] && break
	kill -0 "$wpid" 2>/dev/null || die "workload exited: $(cat "$out/workload.err")"
	sleep 0.2
done
[ -s "$out/ports" ] || die "workload wrote no ports"
ports=$(sed -n 1p "$out/ports")
maddr=127.0.0.1:$(sed -n 2p "$out/ports")
metrics=http://$maddr/metrics

"$mcpwatch" run --iface lo --port "$ports" --metrics-addr "$maddr" \
	--alerts-out "$out/alerts.jsonl" --token-key-file "$out/token.key" "${dump[@]}" \
	--log-level warn >"$out/sensor.out" 2>"$out/sensor.err" &
spid=$!
for _ in $(seq 150); do
	curl -sf --max-time 2 "$metrics" >/dev/null && break
	kill -0 "$spid" 2>/dev/null || die "sensor exited: $(tail -5 "$out/sensor.err")"
	sleep 0.2
done
curl -sf --max-time 2 "$metrics" >/dev/null || die "no metrics at $metrics"
sleep 1 # the capture socket is open before the first connection
kill -USR1 "$wpid"
start=$(date +%s.%N)
since() { awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN {printf "%.0f", n - s}'; }

# metric NAME FILE: the value of an unlabelled metric (0 when absent).
metric() { awk -v n="$1" '$1 == n {v = $2} END {printf "%.0f", v + 0}' "$2"; }

# sample PHASE: one row of samples.tsv.
printf 'secs\tphase\trss_kib\tgoroutines\theap_inuse_kib\tkernel_packets\tkernel_drops\tcapture_faults\tdecode_faults\tmessages\tflows_active\tcpu_secs\n' >"$out/samples.tsv"
sample() {
	local m=$out/metrics.last
	kill -0 "$spid" 2>/dev/null || return 1
	curl -sf --max-time 5 "$metrics" >"$m" || return 1
	local rss
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$spid/status" 2>/dev/null) || return 1
	printf '%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$(since)" "$1" "$rss" \
		"$(metric go_goroutines "$m")" "$(($(metric go_memstats_heap_inuse_bytes "$m") / 1024))" \
		"$(metric mcpwatch_kernel_packets_total "$m")" "$(metric mcpwatch_kernel_drops_total "$m")" \
		"$(metric mcpwatch_capture_faults_total "$m")" "$(metric mcpwatch_decode_faults_total "$m")" \
		"$(metric mcpwatch_decode_messages_total "$m")" "$(metric mcpwatch_capture_flows_active "$m")" \
		"$(metric process_cpu_seconds_total "$m")" >>"$out/samples.tsv"
}

alive=yes
while kill -0 "$wpid" 2>/dev/null; do
	for _ in $(seq "$every"); do
		kill -0 "$wpid" 2>/dev/null || break
		sleep 1
	done
	kill -0 "$wpid" 2>/dev/null || break
	sample run || { alive=no; break; }
	tail -1 "$out/samples.tsv" | awk -F'\t' '{printf "soak: %4ds  rss %6.1f MiB  goroutines %4d  messages %8d  drops %d  faults %d\n", $1, $3/1024, $4, $10, $7, $8+$9}' >&2
done
wait "$wpid"
wrc=$?
wpid=""
secs=$(since)
sleep 5 # the sensor reads and decodes the last packets
[ "$alive" = yes ] && { sample end || alive=no; }
kill -INT "$spid" 2>/dev/null
for _ in $(seq 120); do kill -0 "$spid" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$spid" 2>/dev/null; then
	echo "soak: sensor did not stop within 60 s of SIGINT" >&2
	kill -KILL "$spid"
	[ "$alive" = yes ] && alive=hung
fi
wait "$spid"
src=$?
spid=""
printf 'secs=%s\nalive=%s\nsrc=%s\nwrc=%s\n' "$secs" "$alive" "$src" "$wrc" >"$out/run.env"

report
rc=$?
echo "soak: files in $out" >&2
exit $rc
