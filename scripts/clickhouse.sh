#!/usr/bin/env bash
# Start or stop a throw-away ClickHouse server for tests, with every writable
# path under one directory so it needs none of the package's default paths.
#
#   scripts/clickhouse.sh start DIR   # prints host:port once the server answers
#   scripts/clickhouse.sh stop DIR
#
# Ports (so several servers can run side by side on one machine):
#   CLICKHOUSE_TCP_PORT          native protocol, default 9000
#   CLICKHOUSE_HTTP_PORT         default 8123
#   CLICKHOUSE_INTERSERVER_PORT  default 9009
# A default port something else already listens on (another ClickHouse) is
# replaced by the next free one; the ports a server was started with are kept
# in DIR/ports for later starts.
# CLICKHOUSE_CONFIG overrides the config file (default /etc/clickhouse-server/config.xml).
# CLICKHOUSE_START_TIMEOUT is how long to wait for the server to answer, seconds (default 60).
#
# Typical test run:
#   export MCPWATCH_TEST_CLICKHOUSE=$(scripts/clickhouse.sh start "$(mktemp -d)")
set -euo pipefail

usage() {
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2

# in_use reports whether something listens on 127.0.0.1:$1.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port prints $1 if it is free, else the next free port after it.
free_port() {
	local p=$1
	while in_use "$p"; do p=$((p + 1)); done
	echo "$p"
}

if [ -f "$dir/ports" ]; then
	# shellcheck source=/dev/null
	. "$dir/ports"
else
	tcp_port=${CLICKHOUSE_TCP_PORT:-$(free_port 9000)}
	http_port=${CLICKHOUSE_HTTP_PORT:-$(free_port 8123)}
	interserver_port=${CLICKHOUSE_INTERSERVER_PORT:-$(free_port 9009)}
fi
config=${CLICKHOUSE_CONFIG:-/etc/clickhouse-server/config.xml}
timeout=${CLICKHOUSE_START_TIMEOUT:-60}
pidfile=$dir/clickhouse.pid

# shellcheck source=scripts/service.sh
. "$(dirname "$0")/service.sh"

answers() {
	clickhouse-client --host 127.0.0.1 --port "$tcp_port" --query "SELECT 1" >/dev/null 2>&1
}

start() {
	# The client is a separate Debian package; start-up is checked with it.
	for bin in clickhouse-server clickhouse-client; do
		command -v "$bin" >/dev/null || {
			echo "$bin not found: apt-get install clickhouse-server clickhouse-client" >&2
			exit 1
		}
	done
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	pidfile=$dir/clickhouse.pid
	if running; then
		answers && { echo "127.0.0.1:$tcp_port"; return; }
		echo "clickhouse in $dir runs (pid $(cat "$pidfile")) but does not answer on 127.0.0.1:$tcp_port" >&2
		exit 1
	fi
	if answers; then
		echo "something already answers on 127.0.0.1:$tcp_port; set CLICKHOUSE_TCP_PORT, CLICKHOUSE_HTTP_PORT and CLICKHOUSE_INTERSERVER_PORT to free ports" >&2
		exit 1
	fi
	mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
	printf 'tcp_port=%s\nhttp_port=%s\ninterserver_port=%s\n' "$tcp_port" "$http_port" "$interserver_port" >"$dir/ports"
	# setsid: the server must outlive this script and not get the terminal's signals.
	setsid clickhouse-server --config-file="$config" -- \
		--path="$dir/data/" \
		--tmp_path="$dir/tmp/" \
		--user_files_path="$dir/user_files/" \
		--format_schema_path="$dir/format_schemas/" \
		--logger.log="$dir/clickhouse.log" \
		--logger.errorlog="$dir/clickhouse.err.log" \
		--tcp_port="$tcp_port" \
		--http_port="$http_port" \
		--interserver_http_port="$interserver_port" \
		</dev/null >"$dir/stdout.log" 2>&1 &
	echo $! >"$pidfile"
	wait_started "clickhouse-server on 127.0.0.1:$tcp_port" "$dir/clickhouse.err.log" answers
	echo "127.0.0.1:$tcp_port"
}

case $cmd in
start) start ;;
stop) stop ;;
*) usage ;;
esac
