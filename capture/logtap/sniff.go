package logtap

import (
	"bytes"
	"encoding/json"
	"io"
)

// sniffBytes is how much of a log Sniff looks at.
const sniffBytes = 1 << 20

// Sniff tells a log's format from its first JSON record: an object with
// "log": {"entries": …} is a HAR file; one with an http_buffered_trace or
// http_streamed_trace_segment (Envoy's TraceWrapper) an Envoy tap trace;
// any other object an access log line. known is false when the start is
// not a JSON object; strong is set for HAR and Envoy taps, which nothing
// else looks like (an access log line is only "some other object").
func Sniff(r io.Reader) (f Format, strong, known bool) {
	dec := json.NewDecoder(io.LimitReader(r, sniffBytes))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false, false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			break
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			break
		}
		switch key {
		case "http_buffered_trace", "http_streamed_trace_segment":
			return FormatEnvoyTap, true, true
		case "log":
			var har struct{ Entries json.RawMessage }
			if json.Unmarshal(value, &har) == nil && len(bytes.TrimSpace(har.Entries)) > 0 {
				return FormatHAR, true, true
			}
		}
	}
	return FormatAccessLog, false, true
}
