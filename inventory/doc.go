// Package inventory lists what the events say exists: MCP servers (with
// their authorization posture as the wire shows it), clients, tools and
// tool manifests. It is the Go definition of the ClickHouse inventory
// views (sink/migrations/008_inventory_v2.sql), for the read-only
// commands reading an events file or a capture instead of ClickHouse; a
// test stores the same events in ClickHouse and checks both give the same
// rows (sink.TestInventoryMatchesViews).
//
// Interface: a Builder takes events in any order (Observe) and gives the
// rows (Servers, Clients, Tools, Manifests). Like the views, it counts an
// event_id once however often it is delivered.
//
// Loss and overload: it holds the distinct values it counts (clients,
// sessions, event ids of requests), so its memory grows with its input:
// it is meant for one file, read once; the sensor and the store never use
// it. Missing events only make counts smaller: a server whose events were
// lost is missing or shows less.
package inventory
