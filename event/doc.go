// Package event defines the contract every mcpwatch stage speaks: the Event and
// Alert types of schema v1 (docs/events.md), their JSON encoding and their ids.
//
// An Event is one flat struct for all kinds (message, session, auth, manifest,
// flow): fields that do not apply to a kind stay at their zero value and are
// omitted from JSON. A flat struct keeps JSONL, NATS payloads and ClickHouse
// columns one-to-one with the schema, and lets rule expressions address any
// field by its schema name.
//
// Ids are deterministic: the same input (sensor, source, connection, position)
// always yields the same event_id, so replaying a pcap twice produces the same
// ids and JetStream / ClickHouse deduplicate redeliveries end to end.
//
// This package imports only the standard library.
package event
