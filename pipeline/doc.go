// Package pipeline wires the stages into the jobs the CLI runs:
//
//	Sense   capture → decode → bus (publish events)
//	Detect  bus (events) → detect → bus (publish alerts)
//	Store   bus (events, alerts) → sink writers (JSONL, ClickHouse)
//	Run     all three in one process on one bus, the embedded NATS server
//	        by default; with pcap input it returns only when every event and
//	        alert has been delivered to every writer.
//
// Data flows one way through JetStream: a consumer acks a batch only after
// its downstream write (or the publish of the alerts it caused) succeeded,
// so a failure redelivers instead of losing. Every event carries a
// deterministic event_id used as the JetStream message id, so re-publishing
// the same input is deduplicated.
//
// It is the only package besides cmd/mcpwatch that imports every stage.
package pipeline
