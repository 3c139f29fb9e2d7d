package main

import (
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/mcpwatch/mcpwatch/capture/logtap"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/pipeline"
	"github.com/mcpwatch/mcpwatch/sink/alertfeed"
)

// The flag groups below are shared by the subcommands that run a stage, so
// a flag means the same thing, with the same name, everywhere.

// inputFlags are the inputs; the log tap field mapping and the capture
// filters are parsed by apply.
type inputFlags struct {
	tapFields string
	ports     []uint
	nets      []string
}

func addInputFlags(f *pflag.FlagSet, cfg *pipeline.Config) *inputFlags {
	var in inputFlags
	f.StringSliceVar(&cfg.Pcaps, "pcap", nil, "pcap or pcapng file to analyse, plain or gzip- or zstd-compressed (repeatable; capture files may also be given as arguments)")
	f.StringSliceVar(&cfg.Ifaces, "iface", nil, "network interface to capture live with AF_PACKET (repeatable; needs CAP_NET_RAW); runs until interrupted")
	f.IntVar(&cfg.Live.RingSize, "ring-size", 0, "AF_PACKET ring buffer per interface in bytes (default 64 MiB)")
	f.StringSliceVar(&cfg.Taps, "tap", nil, "proxy log to read, FORMAT:FILE with FORMAT envoy-tap, har or access-log, FILE - for stdin (repeatable)")
	f.BoolVar(&cfg.TapFollow, "tap-follow", false, "follow the --tap files like tail -F (rotation, truncation), resuming from a checkpoint after a restart")
	f.StringVar(&cfg.TapCheckpointDir, "tap-checkpoint-dir", defaultStateDir("checkpoints"), "where --tap-follow keeps how far each file was read")
	f.StringVar(&in.tapFields, "tap-fields", "envoy", "access-log field mapping: envoy, nginx, or a YAML file (see deploy/logtap/mcpwatch-fields.yaml)")
	f.StringVar(&cfg.BPF, "bpf", "", "BPF filter expression (tcpdump syntax) for --pcap and --iface, read through libpcap; needs a build with -tags libpcap")
	f.UintSliceVar(&in.ports, "port", nil, "capture only TCP connections with this port on either side (repeatable)")
	f.StringSliceVar(&in.nets, "net", nil, "capture only TCP connections with an address in this CIDR (repeatable)")
	f.IntVar(&cfg.Capture.MaxFlows, "max-flows", cfg.Capture.MaxFlows, "most TCP connections tracked at once per input, split among --capture-shards; beyond it the least recently active are ended (counted)")
	f.IntVar(&cfg.CaptureShards, "capture-shards", cfg.CaptureShards, "goroutines that reassemble and decode each --pcap/--iface input, packets dealt by client-server IP address pair; --max-flows and the session cap are split among them. "+
		"Up to one per core speeds up capture when many address pairs share the traffic (a single pair, e.g. behind a proxy, stays on one). "+
		"Events are put back into the input's order before they are published, so alerts do not depend on it; but a session used from two client addresses counts as two")
	f.StringVar(&cfg.FailureDumps.Dir, "dump-failures", "", "write reproducers of contained faults into `DIR`. A connection whose decoding panics is dropped, logged and counted, and the run goes on; "+
		"with this flag its packets are also written as DIR/fault-TIME-CLIENT-SERVER.pcap, the panic and its stack in a .txt beside it: attach both to a bug report (mcpwatch run --pcap on the pcap replays the fault). "+
		"A proxy-log record whose reading panics is written as DIR/record-FILE-LINE.log, and a logged exchange whose decoding panics as DIR/fault-TIME-exchange.har (mcpwatch tap --format har replays it). "+
		"Costs a copy of the first and latest packets of each connection --port/--net keep, while it is open and 30 s after its FIN or RST: at most 4 MiB per connection and 256 MiB in all (least recently active connections go first), and 100 dumps per input")
	f.IntVar(&cfg.Capture.MaxBodyBytes, "max-body-bytes", cfg.Capture.MaxBodyBytes, "longest HTTP body kept; longer ones are cut and flagged truncated (counted)")
	f.StringVar(&cfg.Sensor, "sensor", "", "sensor name carried in every event (default: hostname)")
	f.StringVar(&cfg.TokenKeyFile, "token-key-file", defaultStateDir("token.key"), "HMAC key for bearer-token fingerprints (created if missing)")
	return &in
}

// apply puts the capture filters and the access-log field mapping into cfg.
func (in *inputFlags) apply(cfg *pipeline.Config) error {
	for _, p := range in.ports {
		if p == 0 || p > 65535 {
			return fmt.Errorf("--port %d: want 1-65535", p)
		}
		cfg.Capture.Ports = append(cfg.Capture.Ports, uint16(p))
	}
	for _, n := range in.nets {
		prefix, err := netip.ParsePrefix(n)
		if err != nil {
			return fmt.Errorf("--net %q: want a CIDR such as 10.1.0.0/16", n)
		}
		cfg.Capture.Nets = append(cfg.Capture.Nets, prefix)
	}
	switch in.tapFields {
	case "envoy", "":
		cfg.Tap.AccessLogFields = logtap.EnvoyAccessLogFields()
	case "nginx":
		cfg.Tap.AccessLogFields = logtap.NginxAccessLogFields()
	default:
		data, err := os.ReadFile(in.tapFields)
		if err != nil {
			return fmt.Errorf("--tap-fields: %w", err)
		}
		if err := yaml.Unmarshal(data, &cfg.Tap.AccessLogFields); err != nil {
			return fmt.Errorf("--tap-fields %s: %w", in.tapFields, err)
		}
	}
	return nil
}

func addBusFlags(f *pflag.FlagSet, cfg *pipeline.Config, embedded bool) {
	help := "NATS URL of the shared JetStream (required)"
	if embedded {
		help = "external NATS URL (default: an embedded server, reachable only from this process)"
		f.StringVar(&cfg.DataDir, "data-dir", "", "JetStream store of the embedded NATS server (default: a temporary directory). "+
			"Locked by one run at a time; a run that resumes one killed before it delivered everything replays its capture files, delivers the stored backlog of its live input, and every output skips what it already has (exit status 4)")
		f.Var(byteSize{&cfg.DataDirReserve}, "data-dir-reserve", "free space to keep on the data dir's file system: below it reading pauses until space is freed (default 64MiB; 0 = default, -1 = none)")
		f.IntVar(&cfg.DedupWindow, "dedup-window", 0, "event and alert ids each output remembers to skip what it already wrote (default 2000000)")
	}
	f.StringVar(&cfg.Bus.URL, "nats", "", help)
	f.DurationVar(&cfg.Bus.OutageLimit, "bus-outage-limit", 0, "how long publishing may wait for NATS to acknowledge anything (NATS down, its store full) before the job fails with a non-zero exit; reading pauses meanwhile (default 2m)")
	f.StringVar(&cfg.Bus.Auth.CAFile, "nats-ca", "", "PEM CA bundle to verify an external NATS server's certificate (requires TLS)")
	f.StringVar(&cfg.Bus.Auth.CertFile, "nats-cert", "", "PEM client certificate for an external NATS server (with --nats-key)")
	f.StringVar(&cfg.Bus.Auth.KeyFile, "nats-key", "", "PEM key of --nats-cert")
	f.StringVar(&cfg.Bus.Auth.CredsFile, "nats-creds", "", "NATS .creds file (user JWT and nkey seed)")
	f.StringVar(&cfg.Bus.Auth.NKeyFile, "nats-nkey", "", "file holding a NATS user nkey seed")
	f.StringVar(&cfg.Bus.Auth.User, "nats-user", "", "NATS user name (with --nats-password-file)")
	f.StringVar(&cfg.Bus.Auth.PasswordFile, "nats-password-file", "", "file whose first line is the password of --nats-user")
	f.StringVar(&cfg.Bus.Auth.TokenFile, "nats-token-file", "", "file whose first line is a NATS authorization token")
	f.IntVar(&cfg.Bus.Partitions, "partitions", 0, "event subject partitions, hash(server_key) mod N (default 16; must match across processes)")
	f.IntVar(&cfg.Bus.EventsPerMessage, "events-per-message", 0, "events of one subject that share a NATS message, at most (default 32; 1 sends each alone: more NATS work per event)")
	f.DurationVar(&cfg.Bus.PublishLinger, "publish-linger", 0, "how long an event waits for others to share its message, at most (default 20ms; adds that much packet-to-alert latency when traffic is light)")
}

func addRuleFlags(f *pflag.FlagSet, cfg *pipeline.Config) {
	f.StringVar(&cfg.AllowlistPath, "allowlist", "", "YAML allowlist of approved servers (servers: server_key, host:port, CIDR or glob); reloaded on change and on SIGHUP")
	f.StringVar(&cfg.RulesDir, "rules", "", "directory of rule files replacing the built-in rule pack (mcpwatch rules export DIR writes it out to start from)")
	f.StringSliceVar(&cfg.RulesExtra, "rules-extra", nil, "directory of rule files loaded on top of the rule pack (repeatable): its rules add to the pack or replace those of the same id, and a file's disable: [id, …] list turns pack rules off")
	f.IntVar(&cfg.Detect.MaxGroupsPerRule, "max-groups-per-rule", cfg.Detect.MaxGroupsPerRule, "state kept per rule, in groups (a threshold window, a seen value, a session's last value); beyond it the least recently active group is dropped (counted per rule). Rule state grows with the sessions and servers seen until it reaches this")
}

// outputFlags are the destinations; alert feed flags are parsed after the
// command line into cfg by apply.
type outputFlags struct {
	syslog string
	format string
	// failOn is --fail-on (run, tap): a severity, empty for none.
	failOn string
	// summaryJSON is --summary-json (run, tap): a file, empty for none.
	summaryJSON string
}

func addOutputFlags(f *pflag.FlagSet, cfg *pipeline.Config, alertsDefault string) *outputFlags {
	var o outputFlags
	f.StringVar(&cfg.EventsOut, "events-out", "", "append events as JSONL to this file (- = stdout)")
	f.StringVar(&cfg.AlertsOut, "alerts-out", alertsDefault, "append alerts as JSONL to this file (- = stdout, empty = none)")
	f.StringVar(&cfg.ClickHouse.Addr, "clickhouse", "", "ClickHouse native address host:port to store events and alerts in")
	f.StringVar(&cfg.ClickHouse.Database, "clickhouse-database", "mcpwatch", "ClickHouse database (created if missing)")
	f.StringVar(&cfg.ClickHouse.Username, "clickhouse-user", "default", "ClickHouse user")
	f.StringVar(&cfg.ClickHouse.Password, "clickhouse-password", "", "ClickHouse password")
	f.DurationVar(&cfg.PostureEvery, "posture-every", 15*time.Minute, "with --clickhouse: re-grade every server from the stored events into the posture tables this often (mcpwatch posture; 0 never); a run over files also grades once at its end")
	f.StringVar(&cfg.Webhook.URL, "alert-webhook", "", "POST every alert as JSON to this URL (retried with backoff)")
	f.StringVar(&cfg.Webhook.Secret, "alert-webhook-secret", "", "sign webhook requests: X-Mcpwatch-Timestamp: UNIX-SECONDS, X-Mcpwatch-Signature-256: sha256=HMAC-SHA256(secret, timestamp + \".\" + body) (see sink/alertfeed/README.md)")
	f.StringVar(&o.syslog, "alert-syslog", "", "send every alert as RFC 5424 syslog to udp://host:port or tcp://host:port")
	f.IntVar(&cfg.Syslog.MaxMessage, "alert-syslog-max", 0, "cut syslog messages to this many bytes, marked …[truncated] (default 2048 for udp, 8192 for tcp)")
	f.StringVar(&cfg.DeadLetterDir, "dead-letter-dir", "", "where alert feeds write alerts-<feed>.jsonl with the alerts a receiver refused for good or that were not delivered in time (default DATA-DIR/dead-letters, else mcpwatch/dead-letters in the user config directory)")
	f.StringVar(&o.format, "alert-format", "json", "alert feed body: json (schema v1) or ocsf (OCSF 1.x Detection Finding)")
	return &o
}

// apply puts the alert feed settings into cfg.
func (o *outputFlags) apply(cfg *pipeline.Config) error {
	if o.failOn != "" && !slices.Contains(event.Severities, o.failOn) {
		return fmt.Errorf("--fail-on %q: want one of %s", o.failOn, strings.Join(event.Severities, ", "))
	}
	cfg.Webhook.Format = alertFormat(o.format)
	cfg.Syslog.Format = alertFormat(o.format)
	if o.syslog == "" {
		return nil
	}
	u, err := url.Parse(o.syslog)
	if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" {
		return fmt.Errorf("--alert-syslog %q: want udp://host:port or tcp://host:port", o.syslog)
	}
	cfg.Syslog.Network, cfg.Syslog.Addr = u.Scheme, u.Host
	return nil
}

func addConsumerFlags(f *pflag.FlagSet, cfg *pipeline.Config, job string) {
	f.StringVar(&cfg.ConsumerName, "consumer", job, "durable consumer name: processes with the same name share the work, different names each get everything")
	f.IntVar(&cfg.BatchSize, "batch-size", 0, "events per consumer batch, about (default 256; the store job 10000: each batch is one ClickHouse INSERT per event kind, and larger ones insert faster but hold more in memory: 50000 ≈ 730 MiB)")
	f.DurationVar(&cfg.AckWait, "ack-wait", 0, "how long an unacknowledged batch of a stopped process waits before another process gets it (default 30s)")
}

func addMetricsFlag(f *pflag.FlagSet, cfg *pipeline.Config) {
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address, e.g. 127.0.0.1:9108 (default off)")
	f.StringVar(&cfg.StatsOut, "stats-out", "", `append every metric as one JSON line ({"kind":"stats","metrics":{…}}) to this file each --stats-every and at the end, as Suricata's stats records (- = stdout)`)
	f.DurationVar(&cfg.StatsEvery, "stats-every", pipeline.DefaultStatsEvery, "how often --stats-out gets a record")
	f.BoolVar(&cfg.Pprof, "pprof", false, "also serve Go's runtime profiles at /debug/pprof/ on --metrics-addr (go tool pprof http://ADDR/debug/pprof/heap): for finding where memory or CPU goes; keep the address private")
}

// defaultStateDir places what must outlive a run — the token fingerprint
// key, so token_ids stay comparable, and log tap checkpoints — in the
// user's config directory.
func defaultStateDir(name string) string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "mcpwatch", name)
}

// byteSize is a flag of bytes with an optional KiB/MiB/GiB suffix.
type byteSize struct{ p *int64 }

func (b byteSize) String() string {
	if b.p == nil {
		return "0"
	}
	return strconv.FormatInt(*b.p, 10)
}

func (b byteSize) Type() string { return "bytes" }

func (b byteSize) Set(v string) error {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return fmt.Errorf("want a number of bytes, e.g. 64MiB")
	}
	*b.p = n * mult
	return nil
}

func alertFormat(s string) alertfeed.Format { return alertfeed.Format(strings.ToLower(s)) }
