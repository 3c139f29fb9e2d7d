package sink

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/posture"
)

// postureShape is an event table and the columns of it the posture
// assessment reads (posture.Assessor.Observe): events equal in all of them
// are one shape, and the assessment of a shape's events needs only its
// earliest and its latest.
type postureShape struct {
	kind    event.Kind
	where   string
	columns []string
}

var postureShapes = []postureShape{
	{event.KindMessage, "server_key != ''", []string{"server_key", "source", "server_address", "transport", "protocol_version",
		"session_id", "direction", "msg_type", "http_status", "auth_scheme", "token_aud", "origin"}},
	{event.KindSession, "server_key != ''", []string{"server_key", "source", "server_address", "transport", "protocol_version", "session_id"}},
	{event.KindManifest, "server_key != ''", []string{"server_key", "source", "server_address", "transport", "protocol_version", "session_id", "manifest_hash"}},
	{event.KindAuth, "server_key != ''", []string{"server_key", "source", "auth_event", "http_status", "resource_metadata",
		"prm_resource", "prm_authorization_servers", "resource", "pkce_method", "code_challenge_methods"}},
	{event.KindFlow, "app_protocol = 'tls' AND mcp_hint != ''", []string{"source", "server_address", "server_port", "app_protocol", "tls_sni", "mcp_hint"}},
}

// postureField is where a column of postureShapes is scanned to, and how
// it is put into an event.
func postureField(name string) (dest any, set func(*event.Event)) {
	str := func(field func(*event.Event) *string) (any, func(*event.Event)) {
		var s string
		return &s, func(ev *event.Event) { *field(ev) = s }
	}
	list := func(field func(*event.Event) *[]string) (any, func(*event.Event)) {
		var l []string
		return &l, func(ev *event.Event) {
			if len(l) > 0 {
				*field(ev) = l
			}
		}
	}
	u16 := func(field func(*event.Event) *int) (any, func(*event.Event)) {
		var n uint16
		return &n, func(ev *event.Event) { *field(ev) = int(n) }
	}
	switch name {
	case "http_status":
		return u16(func(ev *event.Event) *int { return &ev.HTTPStatus })
	case "server_port":
		return u16(func(ev *event.Event) *int { return &ev.ServerPort })
	case "token_aud":
		return list(func(ev *event.Event) *[]string { return &ev.TokenAud })
	case "prm_authorization_servers":
		return list(func(ev *event.Event) *[]string { return &ev.PRMAuthorizationServers })
	case "code_challenge_methods":
		return list(func(ev *event.Event) *[]string { return &ev.CodeChallengeMethods })
	}
	strings := map[string]func(*event.Event) *string{
		"server_key": func(ev *event.Event) *string { return &ev.ServerKey }, "source": func(ev *event.Event) *string { return &ev.Source },
		"server_address": func(ev *event.Event) *string { return &ev.ServerAddress }, "transport": func(ev *event.Event) *string { return &ev.Transport },
		"protocol_version": func(ev *event.Event) *string { return &ev.ProtocolVersion }, "session_id": func(ev *event.Event) *string { return &ev.SessionID },
		"direction": func(ev *event.Event) *string { return &ev.Direction }, "msg_type": func(ev *event.Event) *string { return &ev.MsgType },
		"auth_scheme": func(ev *event.Event) *string { return &ev.AuthScheme }, "origin": func(ev *event.Event) *string { return &ev.Origin },
		"manifest_hash": func(ev *event.Event) *string { return &ev.ManifestHash }, "auth_event": func(ev *event.Event) *string { return &ev.AuthEvent },
		"resource_metadata": func(ev *event.Event) *string { return &ev.ResourceMetadata }, "prm_resource": func(ev *event.Event) *string { return &ev.PRMResource },
		"resource": func(ev *event.Event) *string { return &ev.Resource }, "pkce_method": func(ev *event.Event) *string { return &ev.PKCEMethod },
		"app_protocol": func(ev *event.Event) *string { return &ev.AppProtocol }, "tls_sni": func(ev *event.Event) *string { return &ev.TLSSNI },
		"mcp_hint": func(ev *event.Event) *string { return &ev.MCPHint },
	}
	return str(strings[name])
}

// PostureEvents feeds a posture assessment with what the stored events
// say: for every shape of event (postureShapes), its earliest maxEvidence
// events and its latest (redelivered rows counted once), each with the
// columns the assessment reads. An
// Assessor fed so gives the scorecards it gives fed every stored event
// (posture's checks are unions over observations, and evidence is the
// earliest events), at the cost of one grouped scan per table.
func (c *ClickHouse) PostureEvents(ctx context.Context, maxEvidence int, observe func(*event.Event)) error {
	for _, shape := range postureShapes {
		if err := c.postureShape(ctx, shape, maxEvidence, observe); err != nil {
			return err
		}
	}
	return nil
}

func (c *ClickHouse) postureShape(ctx context.Context, shape postureShape, maxEvidence int, observe func(*event.Event)) error {
	table := c.events[shape.kind].name
	cols := strings.Join(shape.columns, ", ")
	q := fmt.Sprintf(`SELECT %[1]s, arrayMap(x -> tupleElement(x, 1), e), arrayMap(x -> tupleElement(x, 2), e), last_ns, last_id FROM (
		SELECT %[1]s, arraySlice(arraySort(groupUniqArray((ts_ns, event_id))), 1, %[2]d) AS e,
			max(ts_ns) AS last_ns, argMax(event_id, (ts_ns, event_id)) AS last_id
		FROM %[3]s.%[4]s WHERE %[5]s GROUP BY %[1]s)`, cols, maxEvidence, quoteIdent(c.cfg.Database), quoteIdent(table), shape.where)
	rows, err := c.conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("query %s for posture in %s at %s: %w", table, c.cfg.Database, c.cfg.Addr, err)
	}
	defer rows.Close()
	dest := make([]any, len(shape.columns))
	sets := make([]func(*event.Event), len(shape.columns))
	for i, name := range shape.columns {
		dest[i], sets[i] = postureField(name)
	}
	var earliestNS []uint64
	var earliestIDs []string
	var lastNS uint64
	var lastID string
	dest = append(dest, &earliestNS, &earliestIDs, &lastNS, &lastID)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("read %s for posture in %s at %s: %w", table, c.cfg.Database, c.cfg.Addr, err)
		}
		emit := func(ns uint64, id string) {
			ev := &event.Event{Schema: event.SchemaVersion, Kind: shape.kind, EventID: id, TS: fromUnixNano(ns)}
			for _, set := range sets {
				set(ev)
			}
			observe(ev)
		}
		for i, id := range earliestIDs {
			emit(earliestNS[i], id)
		}
		emit(lastNS, lastID)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s for posture in %s at %s: %w", table, c.cfg.Database, c.cfg.Addr, err)
	}
	return nil
}

// postureRow is a scorecard with the time of its assessment.
type postureRow struct {
	at time.Time
	sc *posture.Scorecard
}

// postureCheckRow is one check of a postureRow.
type postureCheckRow struct {
	at     time.Time
	server string
	r      *posture.Result
}

var (
	postureTable = table[postureRow]{name: "posture", columns: []column[postureRow]{
		col("assessed_at", func(r postureRow) time.Time { return r.at }),
		col("assessed_ns", func(r postureRow) uint64 { return unixNano(r.at) }),
		col("server_key", func(r postureRow) string { return r.sc.ServerKey }),
		col("grade", func(r postureRow) string { return r.sc.Grade }),
		col("grade_reasons", func(r postureRow) []string { return r.sc.GradeReasons }),
		col("first_seen", func(r postureRow) time.Time { return r.sc.FirstSeen }),
		col("last_seen", func(r postureRow) time.Time { return r.sc.LastSeen }),
		col("tls_only", func(r postureRow) uint8 { return boolU8(r.sc.TLSOnly) }),
		col("sources", func(r postureRow) []string { return r.sc.Sources }),
		col("failed", func(r postureRow) []string { return checksWith(r.sc, posture.Fail) }),
		col("not_observed", func(r postureRow) []string { return checksWith(r.sc, posture.NotObserved) }),
	}}
	postureCheckTable = table[postureCheckRow]{name: "posture_checks", columns: []column[postureCheckRow]{
		col("assessed_at", func(r postureCheckRow) time.Time { return r.at }),
		col("assessed_ns", func(r postureCheckRow) uint64 { return unixNano(r.at) }),
		col("server_key", func(r postureCheckRow) string { return r.server }),
		col("check_id", func(r postureCheckRow) string { return r.r.ID }),
		col("status", func(r postureCheckRow) string { return string(r.r.Status) }),
		col("evidence", func(r postureCheckRow) []string { return r.r.Evidence }),
		col("sources", func(r postureCheckRow) []string { return r.r.Sources }),
		col("spec", func(r postureCheckRow) string { return r.r.Spec }),
	}}
)

func checksWith(sc *posture.Scorecard, st posture.Status) []string {
	out := []string{}
	for _, c := range sc.Checks {
		if c.Status == st {
			out = append(out, c.ID)
		}
	}
	return out
}

// AssessPosture grades every server from the stored events (the posture
// package over PostureEvents).
func (c *ClickHouse) AssessPosture(ctx context.Context) ([]posture.Scorecard, error) {
	a := posture.NewAssessor(posture.Config{})
	if err := c.PostureEvents(ctx, posture.DefaultMaxEvidence, a.Observe); err != nil {
		return nil, err
	}
	return a.Scorecards(), nil
}

// SavePosture stores scorecards assessed at the given time in the posture
// and posture_checks tables (migrations/007_posture.sql), replacing the
// servers' earlier ones once ClickHouse merges (read with FINAL).
func (c *ClickHouse) SavePosture(ctx context.Context, at time.Time, cards []posture.Scorecard) error {
	var rows []postureRow
	var checks []postureCheckRow
	for i := range cards {
		rows = append(rows, postureRow{at, &cards[i]})
		for j := range cards[i].Checks {
			checks = append(checks, postureCheckRow{at, cards[i].ServerKey, &cards[i].Checks[j]})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	if err := insert(ctx, c, postureTable, rows); err != nil {
		return err
	}
	return insert(ctx, c, postureCheckTable, checks)
}

// Posture reads the stored scorecards, by server_key; server, when not
// empty, selects one.
func (c *ClickHouse) Posture(ctx context.Context, server string) ([]posture.Scorecard, error) {
	db := quoteIdent(c.cfg.Database)
	where, args := "", []any{}
	if server != "" {
		where, args = " WHERE server_key = ?", append(args, server)
	}
	rows, err := c.conn.Query(ctx, fmt.Sprintf(`SELECT server_key, grade, grade_reasons, first_seen, last_seen, tls_only, sources
		FROM %s.posture FINAL%s ORDER BY server_key`, db, where), args...)
	if err != nil {
		return nil, fmt.Errorf("query posture in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	defer rows.Close()
	var out []posture.Scorecard
	index := map[string]int{}
	for rows.Next() {
		var sc posture.Scorecard
		var tlsOnly uint8
		if err := rows.Scan(&sc.ServerKey, &sc.Grade, &sc.GradeReasons, &sc.FirstSeen, &sc.LastSeen, &tlsOnly, &sc.Sources); err != nil {
			return nil, fmt.Errorf("read posture in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
		}
		sc.TLSOnly = tlsOnly == 1
		if len(sc.GradeReasons) == 0 {
			sc.GradeReasons = nil
		}
		index[sc.ServerKey] = len(out)
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read posture in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	checks, err := c.conn.Query(ctx, fmt.Sprintf(`SELECT server_key, check_id, status, evidence, sources, spec
		FROM %s.posture_checks FINAL%s`, db, where), args...)
	if err != nil {
		return nil, fmt.Errorf("query posture_checks in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	defer checks.Close()
	for checks.Next() {
		var server string
		var r posture.Result
		var status string
		if err := checks.Scan(&server, &r.ID, &status, &r.Evidence, &r.Sources, &r.Spec); err != nil {
			return nil, fmt.Errorf("read posture_checks in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
		}
		r.Status = posture.Status(status)
		if len(r.Sources) == 0 {
			r.Sources = nil
		}
		if i, ok := index[server]; ok {
			out[i].Checks = append(out[i].Checks, r)
		}
	}
	if err := checks.Err(); err != nil {
		return nil, fmt.Errorf("read posture_checks in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	for i := range out {
		posture.SortChecks(out[i].Checks)
	}
	return out, nil
}
