# Shared by clickhouse.sh and nats.sh (sourced, not run): a test server in
# the background with its pid file, logs and data under one directory. The
# caller sets dir, pidfile and timeout (seconds).

running() {
	[ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# wait_started NAME LOG CHECK…: wait until the command CHECK… succeeds;
# exit with the last lines of LOG when the server dies or has not answered
# within $timeout seconds.
wait_started() {
	local name=$1 log=$2 waited=0
	shift 2
	until "$@"; do
		if ! running; then
			echo "$name exited during start-up; last lines of $log:" >&2
			tail -n 20 "$log" "$dir/stdout.log" >&2 2>/dev/null || true
			rm -f "$pidfile"
			exit 1
		fi
		if [ "$waited" -ge $((timeout * 10)) ]; then
			echo "$name did not answer within ${timeout}s; see $log" >&2
			stop
			exit 1
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
}

# stop ends the server with SIGTERM, so it closes its store cleanly, and
# forces it after 30 s.
stop() {
	running || { rm -f "$pidfile"; return 0; }
	local pid waited=0
	pid=$(cat "$pidfile")
	kill "$pid"
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$waited" -ge 300 ]; then
			kill -9 "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	rm -f "$pidfile"
}
