#!/usr/bin/env bash
# Runs every mcpwatch test against real services: installs Debian's
# clickhouse-server, nats-server (2.9, the oldest NATS release supported),
# libpcap-dev, chromium and npm when they are missing, starts ClickHouse and a
# current NATS server (built from the Go module cache) on temporary
# directories, runs go vet, checks that the release targets compile, runs the
# tests (fuzz seed corpora included; the report's in headless Chromium), the
# libpcap build's tests, the Grafana plugin's jest tests (scripts/plugin.sh
# test) and every benchmark once, then stops what it started. Needs root (or
# sudo) only to install the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d -t mcpwatch-test-XXXXXX)
cleanup() {
	scripts/clickhouse.sh stop "$work/clickhouse" >/dev/null 2>&1 || true
	scripts/nats.sh stop "$work/nats" >/dev/null 2>&1 || true
	scripts/clickhouse-cluster.sh stop "$work/cluster" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

# Debian packages the tests need: ClickHouse, nats-server 2.9 (the oldest
# release supported; tests start it on their own), and libpcap for the
# -tags libpcap build (BPF filters).
missing=""
command -v clickhouse-server >/dev/null || missing="clickhouse-server clickhouse-client"
[ -x /usr/sbin/nats-server ] || missing="$missing nats-server"
command -v npm >/dev/null || missing="$missing nodejs npm"
command -v chromium >/dev/null || missing="$missing chromium"
[ -f /usr/include/pcap/pcap.h ] || missing="$missing libpcap-dev"
if [ -n "$missing" ]; then
	echo "== installing $missing (Debian packages)"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

echo "== starting ClickHouse and NATS"
MCPWATCH_TEST_CLICKHOUSE=$(scripts/clickhouse.sh start "$work/clickhouse")
MCPWATCH_TEST_NATS_URL=$(scripts/nats.sh start "$work/nats")
MCPWATCH_TEST_NATS_OLDEST_BIN=/usr/sbin/nats-server
# Screenshots of the report tests (headless Chromium) are kept here.
MCPWATCH_TEST_ARTEFACTS=${MCPWATCH_TEST_ARTEFACTS:-$PWD/artefacts}
export MCPWATCH_TEST_CLICKHOUSE MCPWATCH_TEST_NATS_URL MCPWATCH_TEST_NATS_OLDEST_BIN MCPWATCH_TEST_ARTEFACTS
echo "ClickHouse at $MCPWATCH_TEST_CLICKHOUSE, NATS at $MCPWATCH_TEST_NATS_URL, oldest NATS $($MCPWATCH_TEST_NATS_OLDEST_BIN --version)"

echo "== go vet"
go vet ./...

# The release targets (scripts/release.sh) compile without cgo; vet the
# packages with per-OS files for the other targets too.
echo "== cross-compilation: linux/amd64, linux/arm64, darwin/arm64 (CGO_ENABLED=0)"
CGO_ENABLED=0 go build -o /dev/null ./cmd/mcpwatch
for target in linux/arm64 darwin/arm64; do
	CGO_ENABLED=0 GOOS=${target%/*} GOARCH=${target#*/} go build -o /dev/null ./cmd/mcpwatch
	CGO_ENABLED=0 GOOS=${target%/*} GOARCH=${target#*/} go vet ./capture/... ./pipeline/...
done

echo "== go test"
# TestPanelsOnCluster runs below, on a cluster it needs filled.
go test -count=1 -timeout 20m -skip '^TestPanelsOnCluster$' ./... 2>&1 | tee "$work/test.txt"

echo "== the dashboards' SQL on a ClickHouse cluster of two servers (Distributed tables)"
go build -o "$work/mcpwatch" ./cmd/mcpwatch
cluster=$(scripts/clickhouse-cluster.sh start "$work/cluster")
MCPWATCH="$work/mcpwatch" scripts/clickhouse-cluster.sh schema "$work/cluster" >/dev/null
"$work/mcpwatch" run testdata/demo.pcap --alerts-out "" --clickhouse "$cluster" --token-key-file "$work/token.key" 2>/dev/null
MCPWATCH_TEST_CLICKHOUSE_CLUSTER=$cluster go test -count=1 -run '^TestPanelsOnCluster$' ./dashboards/ 2>&1 | tee -a "$work/test.txt"
scripts/clickhouse-cluster.sh stop "$work/cluster" >/dev/null

echo "== go test -tags libpcap (BPF filters through libpcap)"
go test -count=1 -tags libpcap -run 'Libpcap|BPF' ./capture/ ./pipeline/ 2>&1 | tee -a "$work/test.txt"

echo "== Grafana plugin frontend: jest (npm packages from the lock file, cache first)"
scripts/plugin.sh test 2>&1 | tee -a "$work/test.txt"

echo "== benchmarks (one iteration each, so they cannot rot)"
if ! go test -count=1 -run '^$' -bench . -benchtime 1x -timeout 20m ./... >"$work/bench.txt" 2>&1; then
	cat "$work/bench.txt"
	exit 1
fi
grep -E '^Benchmark' "$work/bench.txt" || echo "(no benchmarks)"

# One closing line for whoever reads the log: test packages passed and
# failed (a failure has already stopped the script, so failed is 0 here).
printf 'packages: %d passed, %d failed\n' "$(grep -c '^ok ' "$work/test.txt")" "$(grep -c '^FAIL' "$work/test.txt")"
