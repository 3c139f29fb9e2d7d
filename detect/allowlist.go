package detect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mcpwatch/mcpwatch/event"
)

// Allowlist is the set of approved MCP servers. A nil *Allowlist means no
// allowlist is configured: rules see has_allowlist() == false.
type Allowlist struct {
	entries []allowEntry
}

// Pin is what an allowlist entry approves beyond the server itself.
type Pin struct {
	// Manifest is the approved manifest_hash; empty approves any.
	Manifest string
	// Tools are the approved tool names; empty approves any.
	Tools []string
}

type entryKind int

const (
	entryServerKey entryKind = iota
	entryHostPort
	entryHost
	entryCIDR
	entryGlob
)

type allowEntry struct {
	kind entryKind
	text string // canonical form: URL, host:port, host or glob, lower case
	// hostPort of a server_key entry, to match TLS flows by SNI and port.
	hostPort string
	prefix   netip.Prefix
	pin      Pin
	where    string // file:line, for error messages
}

// allowlistFile is the YAML layout; entries are decoded by hand because an
// entry is either a string or an object.
type allowlistFile struct {
	Servers []yaml.Node `yaml:"servers"`
}

type allowObject struct {
	Server   string   `yaml:"server"`
	Manifest string   `yaml:"manifest"`
	Tools    []string `yaml:"tools"`
}

// LoadAllowlist reads an allowlist file:
//
//	servers:
//	  - http://files.corp.example:8080/mcp     # server_key
//	  - 10.0.0.5:8080                          # host:port (address or name)
//	  - 10.1.0.0/16                            # CIDR of server addresses
//	  - "*.corp.example:443"                   # glob over host:port, host, or URL
//	  - server: https://tools.corp.example/mcp # pinned manifest and tools
//	    manifest: 3f1c…                        # sha256, the manifest_hash
//	    tools: [search_docs, read_file]
func LoadAllowlist(path string) (*Allowlist, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read allowlist: %w", err)
	}
	return ParseAllowlist(path, data)
}

// ParseAllowlist parses allowlist YAML; name is used in error messages.
func ParseAllowlist(name string, data []byte) (*Allowlist, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&doc)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("allowlist %s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("allowlist %s: empty file, want a servers: list", name)
	}
	return allowlistFromNode(name, doc.Content[0])
}

func allowlistFromNode(name string, node *yaml.Node) (*Allowlist, error) {
	if err := checkKeys(name, node, allowlistFile{}); err != nil {
		return nil, fmt.Errorf("allowlist %w", err)
	}
	var f allowlistFile
	if err := node.Decode(&f); err != nil {
		return nil, fmt.Errorf("allowlist %s: %w", name, err)
	}
	a := &Allowlist{}
	var errs []error
	for i := range f.Servers {
		n := &f.Servers[i]
		where := fmt.Sprintf("%s:%d", name, n.Line)
		var obj allowObject
		switch n.Kind {
		case yaml.ScalarNode:
			obj.Server = n.Value
		case yaml.MappingNode:
			if err := checkKeys(name, n, obj); err != nil {
				errs = append(errs, fmt.Errorf("allowlist %w", err))
				continue
			}
			if err := n.Decode(&obj); err != nil {
				errs = append(errs, fmt.Errorf("allowlist %s: %w", where, err))
				continue
			}
		default:
			errs = append(errs, fmt.Errorf("allowlist %s: entry must be a string or an object with server:", where))
			continue
		}
		e, err := parseAllowEntry(obj)
		if err != nil {
			errs = append(errs, fmt.Errorf("allowlist %s: %w", where, err))
			continue
		}
		e.where = where
		a.entries = append(a.entries, e)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

func parseAllowEntry(obj allowObject) (allowEntry, error) {
	s := strings.ToLower(strings.TrimSpace(obj.Server))
	e := allowEntry{pin: Pin{Manifest: strings.ToLower(obj.Manifest), Tools: obj.Tools}}
	if s == "" {
		return e, fmt.Errorf("entry without a server")
	}
	if e.pin.Manifest != "" && !isSHA256Hex(e.pin.Manifest) {
		return e, fmt.Errorf("server %q: manifest %q is not a hex SHA-256", obj.Server, obj.Manifest)
	}
	switch {
	case strings.ContainsAny(s, "*?["):
		if _, err := path.Match(s, ""); err != nil {
			return e, fmt.Errorf("bad glob %q: %w", obj.Server, err)
		}
		e.kind, e.text = entryGlob, s
	case strings.Contains(s, "://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return e, fmt.Errorf("bad server_key %q: want scheme://host[:port]/path", obj.Server)
		}
		e.kind, e.text = entryServerKey, event.CanonicalURL(s)
		if port := u.Port(); port != "" {
			e.hostPort = joinHostPort(u.Hostname(), port)
		} else {
			e.hostPort = joinHostPort(u.Hostname(), defaultPort(u.Scheme))
		}
	case strings.Contains(s, "/"):
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return e, fmt.Errorf("bad CIDR %q: %w", obj.Server, err)
		}
		e.kind, e.prefix = entryCIDR, p.Masked()
	default:
		if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
			e.kind, e.prefix = entryCIDR, netip.PrefixFrom(ip, ip.BitLen())
			break
		}
		if host, port, err := net.SplitHostPort(s); err == nil {
			if _, err := strconv.ParseUint(port, 10, 16); err != nil {
				return e, fmt.Errorf("bad port in %q", obj.Server)
			}
			e.kind, e.text = entryHostPort, joinHostPort(host, port)
			break
		}
		e.kind, e.text = entryHost, s
	}
	return e, nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// subject is a server as the allowlist matches it: every name under which
// an event or a server_key shows it.
type subject struct {
	key       string
	hosts     []string
	hostPorts []string
	addrs     []netip.Addr
}

func (s *subject) addHost(host, port string) {
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "" {
		return
	}
	s.hosts = append(s.hosts, host)
	if port != "" {
		s.hostPorts = append(s.hostPorts, joinHostPort(host, port))
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		s.addrs = append(s.addrs, ip.Unmap())
	}
}

func subjectOfKey(serverKey string) subject {
	s := subject{key: event.CanonicalURL(serverKey)}
	if u, err := url.Parse(serverKey); err == nil && u.Host != "" {
		port := u.Port()
		if port == "" {
			port = defaultPort(u.Scheme)
		}
		s.addHost(u.Hostname(), port)
	}
	return s
}

func subjectOfEvent(ev *event.Event) subject {
	s := subjectOfKey(ev.ServerKey)
	port := ""
	if ev.ServerPort != 0 {
		port = strconv.Itoa(ev.ServerPort)
	}
	s.addHost(ev.ServerAddress, port)
	if ev.TLSSNI != "" {
		s.addHost(ev.TLSSNI, port)
	}
	return s
}

// serverID is what subjectOfEvent reads of an event.
type serverID struct {
	key, address, sni string
	port              int
}

// verdict is what an allowlist says about one server.
type verdict struct {
	allowed bool
	pin     Pin
}

// verdicts remembers an allowlist's verdicts by server: parsing the
// server_key and matching globs for every event cost more than the rules
// that ask. They hold for one allowlist; a full cache starts over.
type verdicts struct {
	allow    *Allowlist
	byServer map[serverID]verdict
}

// maxVerdicts bounds the servers remembered; a network has far fewer.
const maxVerdicts = 10_000

func (v *verdicts) of(a *Allowlist, ev *event.Event) verdict {
	if a != v.allow {
		v.allow = a
		clear(v.byServer)
	}
	id := serverID{key: ev.ServerKey, address: ev.ServerAddress, sni: ev.TLSSNI, port: ev.ServerPort}
	if vd, ok := v.byServer[id]; ok {
		return vd
	}
	s := subjectOfEvent(ev)
	pin, _ := a.pinOf(&s)
	vd := verdict{allowed: a.match(&s) != nil, pin: pin}
	if len(v.byServer) >= maxVerdicts {
		clear(v.byServer)
	}
	v.byServer[id] = vd
	return vd
}

func defaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

// joinHostPort is net.JoinHostPort for a host that may already carry
// brackets.
func joinHostPort(host, port string) string {
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

func (e *allowEntry) matches(s *subject) bool {
	switch e.kind {
	case entryServerKey:
		if s.key == "" {
			// A TLS flow shows no URL, only SNI and port: the endpoint
			// is approved if its host and port are.
			return slices.Contains(s.hostPorts, e.hostPort)
		}
		return s.key == e.text
	case entryHostPort:
		return slices.Contains(s.hostPorts, e.text)
	case entryHost:
		return slices.Contains(s.hosts, e.text)
	case entryCIDR:
		for _, a := range s.addrs {
			if e.prefix.Contains(a) {
				return true
			}
		}
		return false
	case entryGlob:
		var names []string
		switch {
		case strings.Contains(e.text, "://"):
			names = []string{s.key}
		case strings.Contains(e.text, ":"):
			names = s.hostPorts
		default:
			names = s.hosts
		}
		for _, n := range names {
			if ok, _ := path.Match(e.text, n); ok {
				return true
			}
		}
	}
	return false
}

func (a *Allowlist) match(s *subject) *allowEntry {
	if a == nil {
		return nil
	}
	for i := range a.entries {
		if a.entries[i].matches(s) {
			return &a.entries[i]
		}
	}
	return nil
}

// Allowed reports whether the event's server is on the allowlist, matched
// by server_key, server_address:server_port, the host of server_key, or the
// server address. A nil allowlist allows nothing.
func (a *Allowlist) Allowed(ev *event.Event) bool {
	s := subjectOfEvent(ev)
	return a.match(&s) != nil
}

// Pin returns what the first entry matching serverKey pins, and whether an
// entry matched at all.
func (a *Allowlist) Pin(serverKey string) (Pin, bool) {
	s := subjectOfKey(serverKey)
	return a.pinOf(&s)
}

// pinOf prefers an entry that pins something: a server may be approved by a
// broad CIDR entry and pinned by a later entry of its own.
func (a *Allowlist) pinOf(s *subject) (Pin, bool) {
	if a == nil {
		return Pin{}, false
	}
	matched := false
	for i := range a.entries {
		e := &a.entries[i]
		if !e.matches(s) {
			continue
		}
		if e.pin.Manifest != "" || len(e.pin.Tools) > 0 {
			return e.pin, true
		}
		matched = true
	}
	return Pin{}, matched
}
