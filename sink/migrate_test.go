package sink

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseServerVersion(t *testing.T) {
	for _, tc := range []struct {
		in           string
		major, minor int
		feat         features
	}{
		{"18.16.1", 18, 16, features{}},
		{"19.3.4", 19, 3, features{lowCardinality: true, codecs: true}},
		{"19.6.2.11", 19, 6, features{lowCardinality: true, codecs: true, ttl: true}},
		{"24.8.4.13", 24, 8, features{lowCardinality: true, codecs: true, ttl: true}},
	} {
		v, err := parseServerVersion(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if v.major != tc.major || v.minor != tc.minor {
			t.Errorf("%s parsed as %d.%d", tc.in, v.major, v.minor)
		}
		if got := featuresOf(v); got != tc.feat {
			t.Errorf("%s: features %+v, want %+v", tc.in, got, tc.feat)
		}
	}
	for _, bad := range []string{"", "24", "x.1", "24.y"} {
		if _, err := parseServerVersion(bad); err == nil {
			t.Errorf("parseServerVersion(%q) succeeded", bad)
		}
	}
}

// Modern options appear only for servers that have them: 18.16 rejects
// every one of them with a syntax or "experimental" error.
func TestRenderMigrationsPerServerVersion(t *testing.T) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	render := func(version string, retention int) string {
		v, err := parseServerVersion(version)
		if err != nil {
			t.Fatal(err)
		}
		p := schemaParams{database: "mcpwatch", features: featuresOf(v), retentionDays: retention}
		var all []string
		for _, m := range ms {
			stmts, err := p.render(migrationFiles, m.file)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, stmts...)
		}
		return strings.Join(all, "\n;\n")
	}
	old := render("18.16.1", 30)
	for _, modern := range []string{"LowCardinality", "CODEC(", "TTL "} {
		if strings.Contains(old, modern) {
			t.Errorf("schema for 18.16 uses %s", modern)
		}
	}
	current := render("24.8.4.13", 30)
	for _, want := range []string{"LowCardinality(String)", "CODEC(ZSTD(3))", "TTL ts + INTERVAL 30 DAY"} {
		if !strings.Contains(current, want) {
			t.Errorf("schema for 24.8 lacks %s", want)
		}
	}
	if strings.Contains(render("24.8.4.13", 0), "TTL ") {
		t.Error("TTL without retention")
	}
	if !strings.Contains(old, "CREATE TABLE IF NOT EXISTS `mcpwatch`.messages") {
		t.Error("tables are not qualified with the quoted database")
	}
}

func TestSplitStatements(t *testing.T) {
	sql := "-- a comment; not a statement\nCREATE TABLE a (\n  x String DEFAULT 'a;b'\n);\n\n-- another\nCREATE VIEW v AS SELECT 1;\n"
	got := splitStatements(sql)
	want := []string{"CREATE TABLE a (\n  x String DEFAULT 'a;b'\n)", "CREATE VIEW v AS SELECT 1"}
	if !slices.Equal(got, want) {
		t.Errorf("splitStatements = %q, want %q", got, want)
	}
}

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	for name, files := range map[string]fstest.MapFS{
		"unnumbered":        {"migrations/events.sql": {}},
		"duplicate version": {"migrations/001_a.sql": {}, "migrations/001_b.sql": {}},
	} {
		if _, err := loadMigrations(files); err == nil {
			t.Errorf("%s: loadMigrations succeeded", name)
		}
	}
	ms, err := loadMigrations(fstest.MapFS{
		"migrations/010_later.sql":         {},
		"migrations/002_early.sql":         {},
		"migrations/schema_migrations.sql": {},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].version != 2 || ms[1].version != 10 {
		t.Errorf("loadMigrations = %+v, want versions 2 then 10", ms)
	}
}

// TestMigrateAgainAfterLostRecord: a run that added columns but did not
// record its migrations (stopped in between, or raced by another process)
// is completed by the next run: ADD COLUMN meeting its column is done.
func TestMigrateAgainAfterLostRecord(t *testing.T) {
	c := openTestClickHouse(t)
	ctx := context.Background()
	if err := c.conn.Exec(ctx, "DROP TABLE "+quoteIdent(c.Database())+".schema_migrations"); err != nil {
		t.Fatal(err)
	}
	if err := c.Migrate(ctx); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	pending, err := c.pendingMigrations(ctx)
	if err != nil || len(pending) != 0 {
		t.Errorf("pending after the second run: %v, %v", pending, err)
	}
}
