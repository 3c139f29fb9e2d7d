package logtap

import (
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Proxies leave fields out by default: Envoy's tap records no time
// without record_headers_received_time and no connection without
// record_downstream_connection; HAR has no client address; an access-log
// mapping may leave any of them out. Such an exchange is still read, with
// the field taken from the next best source, and each stand-in is counted
// in Stats.Fallbacks.

// Fallbacks counts exchanges by the field their record lacked and what
// stood in for it.
type Fallbacks struct {
	// TimePrevious: no time of its own; the latest time an earlier record
	// of the same file carried.
	TimePrevious int64 `json:"time_previous,omitempty"`
	// TimeFile: no time, and no earlier record of its file with one: the
	// file's modification time, read once when the file was opened (for a
	// followed file, when the record was read).
	TimeFile int64 `json:"time_file,omitempty"`
	// TimeClock: no time and no file to date it (a pipe): the wall-clock
	// time the reading began. Such times differ from run to run.
	TimeClock int64 `json:"time_clock,omitempty"`
	// ClientForwardedFor: no client address: the last address of
	// X-Forwarded-For, the hop nearest the proxy (Envoy appends its
	// downstream peer there with use_remote_address).
	ClientForwardedFor int64 `json:"client_forwarded_for,omitempty"`
	// ServerAuthority: no server address: the IP of an :authority (Host,
	// HAR URL) that is an IP literal, with its port or the scheme's.
	ServerAuthority int64 `json:"server_authority,omitempty"`
}

// Add sums two counts.
func (a Fallbacks) Add(b Fallbacks) Fallbacks {
	return Fallbacks{
		TimePrevious: a.TimePrevious + b.TimePrevious, TimeFile: a.TimeFile + b.TimeFile, TimeClock: a.TimeClock + b.TimeClock,
		ClientForwardedFor: a.ClientForwardedFor + b.ClientForwardedFor, ServerAuthority: a.ServerAuthority + b.ServerAuthority,
	}
}

// logClock is where the records of one file get a time when they carry
// none.
type logClock struct {
	// fileTime returns the current file's modification time; ok is false
	// for an input that is no regular file.
	fileTime func() (time.Time, bool)
	// latest is the latest time a record of the current file carried.
	latest time.Time
	// started is when reading began, for inputs without a file time.
	started time.Time
}

// newFile starts the clock on a file whose time fileTime gives.
func (c *logClock) newFile(fileTime func() (time.Time, bool)) {
	c.fileTime, c.latest = fileTime, time.Time{}
}

// statTime is a fileTime of what was read once: a regular file's
// modification time, so that records of a file still being written all
// get the time the file had when reading began.
func statTime(src any) func() (time.Time, bool) {
	if t, ok := modTime(src); ok {
		return func() (time.Time, bool) { return t, true }
	}
	return noFileTime
}

func noFileTime() (time.Time, bool) { return time.Time{}, false }

// modTime is the modification time of src when it is a regular file.
func modTime(src any) (time.Time, bool) {
	f, ok := src.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		return time.Time{}, false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return time.Time{}, false
	}
	return fi.ModTime().UTC(), true
}

// stampUntimed gives an exchange without a time of its own one: the
// latest of its file's earlier records, else the file's modification
// time, else when reading began — never earlier than the log clock, so
// log time does not go backwards for idle sweeps. The caller has handed
// on everything held before it, so the exchange keeps its place in the
// input.
func (st *state) stampUntimed(ex *exchange) {
	c := &st.clock
	t := c.latest
	switch {
	case !t.IsZero():
		st.stats.timePrevious.Add(1)
	default:
		var ok bool
		if t, ok = c.fileTime(); ok {
			st.stats.timeFile.Add(1)
		} else {
			t = c.started
			st.stats.timeClock.Add(1)
		}
	}
	if t.Before(st.now) {
		t = st.now
	}
	ex.req.Time = t
}

// fillTimes fills the times a record left out from those it has: a
// request's end from its start, a response's from the request's end.
func fillTimes(ex *exchange) {
	fill := func(t *time.Time, from time.Time) {
		if t.IsZero() || t.Before(from) {
			*t = from
		}
	}
	fill(&ex.req.End, ex.req.Time)
	if ex.resp != nil {
		fill(&ex.resp.Time, ex.req.End)
		fill(&ex.resp.End, ex.resp.Time)
	}
}

// fillAddresses gives an exchange whose record names no client or server
// address what its headers say of them.
func (st *state) fillAddresses(ex *exchange) {
	if !ex.client.IsValid() {
		if ip, ok := forwardedFor(ex.req.Header); ok {
			ex.client = netip.AddrPortFrom(ip, 0)
			st.stats.clientForwardedFor.Add(1)
		}
	}
	if !ex.server.IsValid() {
		if ap, ok := authorityAddr(ex.req.Host, ex.scheme); ok {
			ex.server = ap
			st.stats.serverAuthority.Add(1)
		}
	}
}

// forwardedFor is the last valid address of the last X-Forwarded-For
// header: the peer the nearest proxy saw. Entries may carry a port
// ("192.0.2.1:5000", "[2001:db8::1]:5000"); "unknown" and junk are
// skipped.
func forwardedFor(h http.Header) (netip.Addr, bool) {
	values := h.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		parts := strings.Split(values[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			p := strings.TrimSpace(parts[j])
			if ap, err := netip.ParseAddrPort(p); err == nil {
				return ap.Addr().Unmap(), true
			}
			if ip, err := netip.ParseAddr(strings.Trim(p, "[]")); err == nil {
				return ip.Unmap(), true
			}
		}
	}
	return netip.Addr{}, false
}

// authorityAddr reads an authority that is an IP literal ("10.0.0.9:3000",
// "[2001:db8::1]", "192.0.2.7"); a name is not resolved — a sensor does no
// lookups, and the answer would depend on when it ran. Without a port the
// scheme's default is used, or none when the scheme is unknown.
func authorityAddr(authority, scheme string) (netip.AddrPort, bool) {
	if ap, err := netip.ParseAddrPort(authority); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	ip, err := netip.ParseAddr(strings.Trim(authority, "[]"))
	if err != nil {
		return netip.AddrPort{}, false
	}
	port, _ := strconv.ParseUint(defaultPort(scheme), 10, 16)
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), true
}
