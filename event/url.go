package event

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// CanonicalURL folds the case of scheme and host, drops default ports and a
// trailing slash, so equal endpoints compare equal.
func CanonicalURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return strings.TrimSuffix(s, "/")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	switch {
	case port != "":
		u.Host = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"):
		u.Host = "[" + host + "]"
	default:
		u.Host = host
	}
	return strings.TrimSuffix(u.String(), "/")
}

// AudienceNames reports whether a token audience names the server: the
// server_key itself, or a prefix of it ending at a path boundary (RFC 8707
// lets the resource be the origin or any parent path), compared in the
// form canonical gives, which is CanonicalURL or a memo of it.
func AudienceNames(aud []string, serverKey string, canonical func(string) string) bool {
	key := canonical(serverKey)
	for _, a := range aud {
		a = canonical(a)
		if a == key || len(key) > len(a) && key[len(a)] == '/' && strings.HasPrefix(key, a) {
			return true
		}
	}
	return false
}

// IsLoopbackHost reports whether host (a name or an address, brackets
// allowed) is the local machine: localhost, *.localhost, 127/8, ::1.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

// SourceKind is the kind of an event source: "pcap:x.pcap" → "pcap"
// (pcap, iface, tap, probe).
func SourceKind(source string) string {
	kind, _, _ := strings.Cut(source, ":")
	return kind
}

// TLSServerKey names a server seen only as TLS connections (a flow event):
// https://SNI[:port], with the server address when there is no SNI; "" with
// neither.
func TLSServerKey(ev *Event) string {
	host := ev.TLSSNI
	if host == "" {
		host = ev.ServerAddress
	}
	if host == "" {
		return ""
	}
	if ev.ServerPort != 0 && ev.ServerPort != 443 {
		return "https://" + net.JoinHostPort(host, strconv.Itoa(ev.ServerPort))
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "https://" + host
}
