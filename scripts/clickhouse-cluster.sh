#!/usr/bin/env bash
# A ClickHouse cluster of two servers on loopback, for the scale-out test
# (scripts/scaleout.sh) and as the recipe of deploy/README.md: one shard of
# two replicas without ZooKeeper. Each server holds the mcpwatch tables in the
# database mcpwatch_local (the schema of `mcpwatch store --migrate-only`), and
# in the database mcpwatch a Distributed table over them for each, plus the
# views. mcpwatch reads and writes the mcpwatch database on either server:
# an insert there is written to both replicas (internal_replication false),
# queued on disk for a replica that is down and sent when it is back; a
# query reads from a replica that answers. `store --clickhouse A,B` goes on
# with B when A is down.
#
#   scripts/clickhouse-cluster.sh start DIR    # prints host:port,host:port once both answer
#   scripts/clickhouse-cluster.sh schema DIR   # creates the databases (needs MCPWATCH, the binary)
#   scripts/clickhouse-cluster.sh stop DIR
#   scripts/clickhouse-cluster.sh stop-one DIR N | start-one DIR N   # server 1 or 2
#
# CLICKHOUSE_CLUSTER_PORT is server 1's native port (default 9101), server 2's
# the next one; HTTP and interserver ports are 100 and 200 above.
set -euo pipefail

usage() {
	echo "usage: $0 start|schema|stop DIR | stop-one|start-one DIR 1|2" >&2
	exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
here=$(cd "$(dirname "$0")" && pwd)
base=${CLICKHOUSE_CLUSTER_PORT:-9101}
cluster=mcpwatch

port() { echo $((base + $1 - 1)); }

addresses() { echo "127.0.0.1:$(port 1),127.0.0.1:$(port 2)"; }

# configure N writes server N's config: the package's, with the cluster
# added in a config.d file beside it.
configure() {
	local etc=$dir/ch$1/etc
	mkdir -p "$etc/config.d"
	cp /etc/clickhouse-server/config.xml /etc/clickhouse-server/users.xml "$etc/"
	cat >"$etc/config.d/cluster.xml" <<XML
<yandex>
    <remote_servers>
        <$cluster>
            <shard>
                <internal_replication>false</internal_replication>
                <replica><host>127.0.0.1</host><port>$(port 1)</port></replica>
                <replica><host>127.0.0.1</host><port>$(port 2)</port></replica>
            </shard>
        </$cluster>
    </remote_servers>
</yandex>
XML
}

server() {
	local verb=$1 n=$2
	CLICKHOUSE_CONFIG=$dir/ch$n/etc/config.xml CLICKHOUSE_TCP_PORT=$(port "$n") \
		CLICKHOUSE_HTTP_PORT=$(($(port "$n") + 100)) CLICKHOUSE_INTERSERVER_PORT=$(($(port "$n") + 200)) \
		"$here/clickhouse.sh" "$verb" "$dir/ch$n" >/dev/null
}

sql() { clickhouse-client --host 127.0.0.1 --port "$(port "$1")" --query "$2"; }

schema() {
	: "${MCPWATCH:?set MCPWATCH to the mcpwatch binary}"
	for n in 1 2; do
		"$MCPWATCH" store --migrate-only --clickhouse "127.0.0.1:$(port "$n")" --clickhouse-database mcpwatch_local 2>/dev/null
		sql "$n" "CREATE DATABASE IF NOT EXISTS mcpwatch"
		for table in $(sql "$n" "SELECT name FROM system.tables WHERE database = 'mcpwatch_local' AND engine LIKE '%MergeTree' AND name != 'schema_migrations'"); do
			sql "$n" "CREATE TABLE IF NOT EXISTS mcpwatch.$table AS mcpwatch_local.$table ENGINE = Distributed($cluster, mcpwatch_local, $table, rand())"
		done
		# The views, over the Distributed tables; the tables exist already.
		"$MCPWATCH" store --migrate-only --clickhouse "127.0.0.1:$(port "$n")" --clickhouse-database mcpwatch 2>/dev/null
	done
}

case $cmd in
start)
	for n in 1 2; do
		configure "$n"
		server start "$n"
	done
	addresses
	;;
schema) schema ;;
stop) for n in 1 2; do server stop "$n"; done ;;
start-one | stop-one)
	[ $# -eq 3 ] || usage
	server "${cmd%-one}" "$3"
	;;
*) usage ;;
esac
