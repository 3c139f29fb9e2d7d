// Package posture grades each MCP server against what the MCP revisions and
// the OAuth RFCs they cite require of it, from the events the sensor (or
// the active probe) produced: a scorecard of checks, each pass, fail or
// not observed with the event_ids that decided it, and a grade A–F.
// docs/posture.md is the check table and the grading table.
//
// Interface: an Assessor takes events one at a time (Observe) in any order
// and gives the scorecards of the servers seen so far (Scorecards). Every
// check is a union over observations — a fail (or, for the checks where
// one success settles it, a pass) is kept however many events agree — so
// the result does not depend on the order of the events, nor on seeing
// each event once: the same events read from a JSONL file, a pcap or
// ClickHouse (sink.ClickHouse.PostureEvents, which groups events of the
// same shape) give the same scorecards.
//
// Loss: a check whose evidence was lost reads not_observed, never pass;
// "not observed" caps the grade (docs/posture.md), so missing evidence
// never improves a grade. Overload: the subjects (servers, authorization
// server origins, resources named in OAuth requests) are capped by
// Config.MaxSubjects, evidence per outcome by Config.MaxEvidence (the
// earliest by time, then event_id); events about subjects beyond the cap
// are counted in Stats.SubjectsDropped and otherwise ignored.
package posture
