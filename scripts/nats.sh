#!/usr/bin/env bash
# Start or stop a throw-away NATS server with JetStream for tests, built from
# the module cache (github.com/nats-io/nats-server/v2 at the version in go.mod)
# into bin/, with its store, log, pid and ports files under one directory.
#
#   scripts/nats.sh start DIR   # prints the client URL once the server answers
#   scripts/nats.sh stop DIR
#
# NATS_BIN runs another nats-server binary instead, e.g. Debian's
# /usr/sbin/nats-server (2.9), the oldest release mcpwatch supports.
# NATS_PORT picks the client port (default: a free one, chosen by the server).
# NATS_NAME is the server name (default mcpwatch-test; unique within a cluster).
# NATS_ARGS are more nats-server arguments, e.g. a cluster's
#   "--cluster_name c --cluster nats://127.0.0.1:6222 --routes nats://127.0.0.1:6223 --http_port 8222"
# (scripts/scaleout.sh starts a three-node JetStream cluster so).
# NATS_START_TIMEOUT is how long to wait for the server to answer, seconds (default 30).
#
# Typical test run:
#   export MCPWATCH_TEST_NATS_URL=$(scripts/nats.sh start "$(mktemp -d)")
set -euo pipefail

usage() {
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${NATS_BIN:-$root/bin/nats-server}
port=${NATS_PORT:--1}
timeout=${NATS_START_TIMEOUT:-30}
pidfile=$dir/nats.pid

# shellcheck source=scripts/service.sh
. "$(dirname "$0")/service.sh"

# url prints the client URL from the server's ports file, if it wrote one.
url() {
	local pid
	pid=$(cat "$pidfile" 2>/dev/null) || return 1
	grep -o 'nats://[^"]*' "$dir/ports/nats-server_$pid.ports" 2>/dev/null | head -n 1
}

# answers reports whether the server accepts TCP connections at $1.
answers() {
	local hostport=${1#nats://}
	(exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null
}

start() {
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	pidfile=$dir/nats.pid
	if running; then
		local u
		u=$(url) && answers "$u" && { echo "$u"; return; }
		echo "nats-server in $dir runs (pid $(cat "$pidfile")) but does not answer" >&2
		exit 1
	fi
	# go build is a no-op when bin/nats-server is up to date with go.mod.
	if [ -z "${NATS_BIN:-}" ]; then
		(cd "$root" && go build -o "$bin" github.com/nats-io/nats-server/v2) || {
			echo "building nats-server from the module cache failed" >&2
			exit 1
		}
	fi
	mkdir -p "$dir/jetstream" "$dir/ports"
	rm -f "$dir"/ports/*.ports
	# setsid: the server must outlive this script and not get the terminal's signals.
	# shellcheck disable=SC2086 # NATS_ARGS is a list of arguments
	setsid "$bin" --addr 127.0.0.1 --port "$port" --jetstream --store_dir "$dir/jetstream" \
		--ports_file_dir "$dir/ports" --log "$dir/nats.log" --server_name "${NATS_NAME:-mcpwatch-test}" \
		${NATS_ARGS:-} </dev/null >"$dir/stdout.log" 2>&1 &
	echo $! >"$pidfile"
	wait_started nats-server "$dir/nats.log" up
	url
}

# up reports whether the server wrote its ports file and accepts
# connections there.
up() {
	local u
	u=$(url) && answers "$u"
}

case $cmd in
start) start ;;
stop) stop ;;
*) usage ;;
esac
