// Package sink stores events and alerts: into ClickHouse for dashboards and
// hunting, and as JSONL for files, pipes and stdout.
//
// Every destination implements Writer (WriteEvents, WriteAlerts, Close). A call
// returns nil only when its whole batch is stored; the caller acknowledges its
// input (a JetStream message) only after that. So when ClickHouse is down or slow
// the caller's consumer simply does not ack, JetStream keeps the data, and it is
// delivered again once the write succeeds: nothing is lost and the stream, not
// this process, is the buffer.
//
// Redelivery must then be harmless. Ids are deterministic (package event), and
// every ClickHouse table is a ReplacingMergeTree whose sorting key ends in the
// event_id (alert_id for alerts), so a batch written twice collapses into one
// row per id when parts merge. Until they do, queries count with FINAL or
// uniqExact(event_id).
//
// ClickHouse (ClickHouse, OpenClickHouse) talks the native protocol and names
// the columns of every INSERT, which is what lets the same code run against the
// 18.16 server of TESTING.md and against current releases. The schema is a set
// of embedded SQL migrations (migrations/NNN_name.sql), rendered for the
// server's version and applied once each, in order, recorded in
// schema_migrations. The baseline runs on 18.16: DateTime plus a UInt64 ts_ns
// column instead of DateTime64, Nested or parallel arrays instead of Map, and
// retention by dropping daily partitions. Newer servers also get
// LowCardinality, column codecs and TTL.
//
// BatchWriter sits in front of a Writer when rows arrive one by one: it
// batches by size or deadline, retries failed writes with exponential backoff
// (30 ms to 5 s), and splits a batch the server rejects as bad data until the
// offending rows are isolated and moved to the dead_letters table, so one
// poison event cannot block the stream.
//
// The schema also holds the dead_letters table and inventory views (servers
// with their auth posture, clients, server_tools) that Servers and Alerts
// query for the CLI. On servers without TTL, DropExpiredPartitions enforces
// retention.
//
// JSONL writes one JSON object per line, the schema's own encoding (read back
// with event.DecodeEvent), to a file or stdout.
//
// Package sink/alertfeed delivers alerts to a SOC: webhook, syslog, OCSF.
package sink
