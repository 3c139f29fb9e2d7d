// Package bus carries events and alerts between the mcpwatch stages over NATS
// JetStream: decode publishes events, detect consumes events and publishes
// alerts, the store and the alert feed consume both. It is the only package
// that speaks NATS; the stages see event.Event and event.Alert values, and a
// producing stage needs only the Publisher interface.
//
// # Streams and subjects
//
// Connect ensures two streams (file storage, limits retention, the
// replicas, age and size limits and the duplicate window of Config):
//
//	MCPWATCH_EVENTS  mcpwatch.events.<kind>.<partition>
//	MCPWATCH_ALERTS  mcpwatch.alerts.<severity>
//
// The partition of an event is FNV-1a 32 of its server_key modulo
// Config.Partitions (Partition, Subject).
//
// # Messages of several events
//
// The cost of JetStream is per message (the server stores, indexes,
// delivers and tracks acks of each), so consecutive events of one subject
// share a message: up to Config.EventsPerMessage (default 32), one JSON
// object per line, at most MaxMessageBytes. A message is sent when the next
// event has another subject or does not fit, when full,
// Config.PublishLinger (default 20 ms) after its first event, or by Flush.
// Only consecutive events share, so the stream holds them in the order they
// were published, across subjects: a consumer of every subject (detect in
// `mcpwatch run`) sees a sensor's events in the order the sensor made them.
// A message of one event is that event's JSON; consumers read both
// (DecodeMessage for tools). Alerts travel one per message.
//
// Every message carries the header Nats-Msg-Id: the event or alert id of a
// single one, a hash of the event ids otherwise, so a message sent twice
// within the duplicate window (a retry after a lost ack) is stored once. A
// replay that groups the events differently (a log tap restarted after its
// checkpoint, a pcap read again) is not caught by the stream: delivery is at
// least once per event, and consumers deduplicate by event_id.
//
// # Publishing, back-pressure and loss
//
// PublishEvent and PublishAlert are asynchronous: they return once the event
// is in a message (and the message, if that filled it, is handed to the
// connection), and the stream's ack arrives later. At most
// Config.PublishAsyncMax messages are in flight; when that many are unacked,
// Publish blocks until one is acked or its ctx ends. That block is the
// back-pressure the capture stage sees: a live sensor then drops packets and
// counts them, it never buffers without bound (open messages are bounded
// too: one per subject). A message that cannot be sent because ctx ended
// loses its events, the caller's and those that joined it before: they are
// counted in Stats.PublishFailed and reported by Flush.
//
// A publish whose ack is an error, times out (Config.PublishTimeout) or is lost
// to a disconnect is published again, with the same Nats-Msg-Id, after an
// exponential backoff (30 ms doubling to 5 s), without limit unless
// Config.PublishRetries is set; when nothing has been acked for
// Config.OutageLimit while messages wait, the Bus fails (Failed, ErrOutage):
// what waits is counted as failed (Stats.PublishFailed) and Flush and
// Publish return at once. Retries can reorder messages: consumers must not rely
// on arrival order (event time is in the event). Flush sends the open
// messages and waits until every publish made before it is acked or has
// failed for good; call it before exiting.
//
// If NATS goes away the connection reconnects forever (every 2 s). Publishes
// made meanwhile are buffered by the client (up to 8 MiB), retried as above,
// and Publish blocks once PublishAsyncMax are outstanding. Consumers keep
// fetching with backoff and resume where their durable consumer left off; the
// server redelivers whatever was delivered but not acked.
//
// The streams are ring buffers: a consumer that falls more than MaxAge or
// MaxBytes behind loses the oldest events it has not read. Size them for the
// longest outage of a consumer you want to survive.
//
// # Consuming
//
// ConsumeEvents and ConsumeAlerts run a durable pull consumer: they fetch
// batches of messages holding about BatchSize events (whatever is waiting,
// at once; when nothing is, the first message to arrive within MaxWait),
// decode them, and call the handler once per batch. Every message of the batch is
// acked only after the handler returned nil; on error all of them are nacked
// with a backoff that grows with the delivery count (30 ms doubling to 5 s),
// so the batch comes back, and the loop itself pauses as long before the next
// fetch, so a dead downstream is not handed every later batch at once.
// While the handler runs, the messages are kept alive (in progress) so a slow
// downstream write does not trigger a redelivery to another process. An event
// that does not decode or validate is logged, counted (Stats.Malformed) and
// skipped, and a message with nothing else is terminated: it never blocks the
// stream. Delivery is at least once; handlers
// deduplicate by event_id / alert_id. MaxDeliver defaults to unlimited, so a
// downstream outage delays events but never drops them. A new durable starts
// at the oldest message the stream holds, or at ConsumerConfig.StartAt.
//
// Several processes using the same durable name share its messages: the server
// hands each fetched message to one of them, and messages a process fetched but
// never acked (it was killed) are redelivered to the others after AckWait. All
// processes sharing a durable must pass the same ConsumerConfig, because the
// last one to start rewrites the consumer's configuration.
//
// # Partition ownership for detect replicas
//
// A shared durable spreads every server's events over every process, which is
// fine for stateless work (the store) but splits per-server rule state. For
// detect, run R replicas and give replica i its own durable (e.g. "detect-<i>-of-<R>")
// filtered to the partitions it owns, p mod R == i (OwnedPartitions,
// EventSubjects). All events of a server_key then reach one replica, in
// stream order apart from retries. For failover, run a standby process with
// the same replica index: it shares that durable, and takes over the
// partitions' unacked and future messages when the active one dies (while both
// run, they split the partitions' messages, so run the standby only as a
// standby or accept split state). The partition count is part of the subject
// scheme: changing Config.Partitions moves servers between partitions.
//
// # Draining
//
// WaitDrained blocks until named durable consumers have acked everything in
// their stream that matches their filter. `mcpwatch run --pcap` flushes its
// publishes, then waits for the detect and store consumers to drain, before it
// exits. Backlog reports the same numbers (pending and unacked messages) for
// a consume-lag metric. The server acks a publish before it tells the
// consumers, so their own pending count can lag: for a consumer of the whole
// stream, everything between its ack floor and the stream's last sequence
// counts. A filtered consumer has only the server's count to go by.
//
// # Embedded server
//
// StartEmbedded runs nats-server in-process with JetStream storing files under
// a data directory and no network listener (server.Options.DontListen): the
// all-in-one mode connects through nats.InProcessServer (Embedded.Configure),
// so no other local process can read its events or publish a forged alert
// into it. StartEmbeddedListener adds an unauthenticated 127.0.0.1 listener,
// for tests only.
package bus
