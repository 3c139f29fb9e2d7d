package logtap

import (
	"bytes"
	"strconv"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
)

// parseSSE splits a complete text/event-stream body into events with the
// same rules as the packet engine's parser (WHATWG event-stream grammar;
// a block with any field is dispatched even without data, so priming
// events are seen; ID is this event's id field). Package capture keeps its
// streaming parser unexported; a log hands over whole bodies, so this one
// needs none of its gap and resume state.
//
// limit caps one event's data; longer data is cut and the event flagged
// Truncated. An event the body ends inside is not dispatched (as on the
// wire: its blank line never came); parseSSE reports it as incomplete.
func parseSSE(b []byte, limit int, t time.Time, emit func(*capture.SSEEvent)) (incomplete bool) {
	var ev capture.SSEEvent
	var data []byte
	hasData, hasFields := false, false
	index := 0
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			return true // the last line never ended
		}
		line := b[:i]
		if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			i++
		}
		b = b[i+1:]
		if len(line) == 0 {
			if hasFields {
				ev.Data = string(data)
				if ev.Event == "" {
					ev.Event = "message"
				}
				ev.Time, ev.Index = t, index
				index++
				emit(&ev)
			}
			ev, data, hasData, hasFields = capture.SSEEvent{}, data[:0], false, false
			continue
		}
		if line[0] == ':' {
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(name) {
		case "data":
			if hasData {
				value = append([]byte{'\n'}, value...)
			}
			if len(data)+len(value) > limit {
				value = value[:max(0, limit-len(data))]
				ev.Truncated = true
			}
			data = append(data, value...)
			hasData = true
		case "event":
			ev.Event = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				ev.ID = string(value)
			}
		case "retry":
			if v, err := strconv.Atoi(string(value)); err == nil && v >= 0 {
				ev.Retry = v
			}
		default:
			continue
		}
		hasFields = true
	}
	return hasFields
}
