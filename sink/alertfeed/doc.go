// Package alertfeed delivers alerts to a SOC: an HTTP webhook (JSON POST
// signed with HMAC-SHA256), syslog (RFC 5424 over UDP or TCP), and the OCSF
// 1.x Detection Finding encoding, which either transport can carry.
//
// Every output implements Output, the alert half of sink.Writer, so the JSONL
// and ClickHouse writers of package sink are outputs too. Outputs are
// synchronous: WriteAlerts returns once the alerts are delivered or delivery
// failed. Queue makes any of them asynchronous with a bounded buffer, so a
// slow or dead SIEM delays nothing upstream; what does not fit is dropped and
// counted. That is acceptable for a feed: alerts stay in JetStream and
// ClickHouse, which are the system of record.
package alertfeed
