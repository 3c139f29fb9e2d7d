// Package logtap reads the logs of TLS-terminating proxies — Envoy HTTP tap
// traces, HAR 1.2 files and header-only JSON access logs — and hands every
// logged HTTP exchange to a capture.Handler exactly as the packet engine
// hands a reassembled one. Package decode is therefore shared: MCP traffic
// that a span port only sees as TLS produces the same events from the log
// of the proxy that terminated it (only `source` and the addresses a log
// does not record differ).
//
// Interface:
//
//	Config   — Format ("envoy-tap", "har", "access-log"), caps, and for
//	           access logs the FieldMap naming which JSON key holds what.
//	Reader   — NewReader(cfg, name, r).Run(ctx, h) reads one input to its
//	           end; for each exchange: h.Request, h.Response, h.SSEEvent
//	           for each event of an event-stream body, h.ResponseEnd.
//	           Connections get h.ConnEnd when they idle out (log time),
//	           are evicted at the cap, or when the input ends.
//	ReadFiles — several files as one log (Envoy's file_per_tap writes a
//	           file per exchange).
//	Follow   — tail -F a file: appended records, rotation (rename + new
//	           file) and truncation, with a checkpoint so a restart
//	           resumes without loss or duplicates.
//
// Connections: a log has no TCP, so capture.Conn is synthetic. Records that
// name their connection (Envoy's downstream_connection, HAR's connection,
// an access-log connection-id field, or a client ip:port) share one Conn per
// connection; records that name none share one Conn per client address and
// server. A Conn per record would be simpler but wrong: decode ends a
// stateful MCP session when its last connection closes, so closing a Conn
// after every record would cut every session after its first exchange.
// Conn IDs are derived from the byte offset of the record that opened the
// Conn (and, when following, the generation of the file), so they are
// deterministic for an input and never repeat across rotations or restarts —
// decode folds them into event ids, which the bus deduplicates on.
//
// Order: proxies log an exchange when it completes, the wire carries it
// when it starts. Exchanges are held for Config.ReorderWindow of log time
// and handed on in start order (reorder.go), so decode sees an initialize
// before the notifications/initialized whose short exchange ended first.
//
// Times are the proxy's: Envoy's headers_received_time, HAR's
// startedDateTime plus timings, the access log's mapped time and duration.
// Logs as proxies write them by default often have none — Envoy records
// times only with record_headers_received_time, and its streamed segments
// never carry one — and such a record is read all the same (fallback.go):
// it gets the latest time of the records before it in its file, else the
// file's modification time (read once, when the file is opened; for a
// followed file, when the record is read), else the time reading began
// (a pipe). It never gets a time earlier than the log clock, and it is
// handed on in log order, after everything read before it: without a time
// it cannot be reordered, so a proxy that logged a short exchange before
// a longer one that started first (an initialize and its event stream)
// shows them in that order. Give Envoy's file_per_tap files oldest first
// (ls -tr): their names are random stream ids.
//
// Deterministic means: the same files with the same modification times,
// read in the same order, give the same events, ids and times alike.
// Event ids derive from positions in the input (Conn IDs, sequence
// numbers), never from times, so a copy with new modification times gives
// the same ids with the ts moved — unless the new times open or close a
// gap longer than an idle timeout between files, which splits or joins
// sessions as a gap on the wire would. Copy with times kept (cp -p,
// rsync -a, tar) to keep order and times.
//
// Addresses: without downstream_connection (or a mapped client address)
// the client is the last X-Forwarded-For hop — the peer the nearest proxy
// saw — without a port; without a server address, an :authority (Host,
// HAR URL) that is an IP literal gives one, with its port or the scheme's.
// Names are not resolved. Every stand-in is counted in Stats.Fallbacks by
// kind (metric mcpwatch_logtap_fallbacks_total{reason}).
//
// Bad records — unparsable or torn JSON, a field of the wrong JSON type, a
// missing method, path or status, a time that does not parse, a bad base64
// body, a record past MaxRecordBytes — are counted in Stats.BadRecords and
// reported through Config.OnBadRecord with name:line; a panic while a
// record is read or its exchange handed on is recovered and counted the
// same way (and in Stats.Panics). None stops the reader: it goes on with
// the next record. A record torn inside a string is found by its raw line
// break (JSON has none), so the record after it, at column 0, is read.
// Exit status (cmd/mcpwatch): a log read to its end with bad records ends
// the run with status 3 once everything else has been delivered, the
// summary naming the first bad record; followed logs count and log them
// but do not change the exit status (alert on the metric).
//
// A record larger than Config.MaxRecordBytes is skipped whole — its JSON
// is not buffered, only scanned to its end — and counted; a body larger than Config.MaxBodyBytes
// is cut to the cap and flagged Truncated with BodyLen still the full size.
// Envoy's own truncated flags (max_buffered_rx/tx_bytes, 1 KiB by default)
// also set Truncated (TruncatedBy TruncProxyCap). Header-only access-log
// records carry no body: Body is empty, BodyLen is the logged byte count
// and Truncated is set (TruncNotLogged) when that count is non-zero;
// FieldMap's comment says what decode can and cannot derive from them.
// Event-stream bodies are split into events here (sse.go): capture keeps
// its streaming SSE parser unexported.
//
// Rotation and restarts (follow.go): the checkpoint is written only after
// the records before it were handed on and Config.Flush returned, so a
// Follower stopped through its context loses and repeats nothing, and a
// killed one repeats at most what it handed on since its last checkpoint.
// A HAR file is one document, rewritten whole: it is read, not followed.
// Envoy streamed traces have no end marker: one completes at its trailers,
// its Content-Length, or the end of its file.
package logtap
