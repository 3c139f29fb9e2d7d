package sink

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// bootstrapFile creates schema_migrations; it runs before every pass because
// the pass reads that table.
const bootstrapFile = "migrations/schema_migrations.sql"

var migrationName = regexp.MustCompile(`^(\d{3})_([a-z0-9_]+)\.sql$`)

// migration is one numbered file of migrations/.
type migration struct {
	version int
	name    string
	file    string
}

// loadMigrations lists the numbered migrations in version order.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	files, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, f := range files {
		if f == bootstrapFile {
			continue
		}
		m := migrationName.FindStringSubmatch(path.Base(f))
		if m == nil {
			return nil, fmt.Errorf("migration %s: name must be NNN_name.sql", f)
		}
		v, _ := strconv.Atoi(m[1]) // three digits by the pattern
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, f, v)
		}
		seen[v] = f
		ms = append(ms, migration{version: v, name: m[2], file: f})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// schemaParams are what a migration template may depend on.
type schemaParams struct {
	database      string
	features      features
	retentionDays int
}

// render executes a migration template and splits it into statements (the
// native protocol runs one statement per query).
//
// Templates see {{.DB}}, the quoted database name, and three functions that
// add modern storage options only where the server has them:
//
//	{{lc "String"}}            LowCardinality(String), else String
//	{{codec "ZSTD(3)"}}        " CODEC(ZSTD(3))", else nothing
//	{{ttl "ts"}}               " TTL ts + INTERVAL N DAY" when retention is set, else nothing
func (p schemaParams) render(fsys fs.FS, file string) ([]string, error) {
	src, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("read migration %s: %w", file, err)
	}
	tmpl, err := template.New(file).Option("missingkey=error").Funcs(template.FuncMap{
		"lc": func(typ string) string {
			if p.features.lowCardinality {
				return "LowCardinality(" + typ + ")"
			}
			return typ
		},
		"codec": func(spec string) string {
			if p.features.codecs {
				return " CODEC(" + spec + ")"
			}
			return ""
		},
		"ttl": func(col string) string {
			if p.features.ttl && p.retentionDays > 0 {
				return fmt.Sprintf("\nTTL %s + INTERVAL %d DAY", col, p.retentionDays)
			}
			return ""
		},
	}).Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("parse migration %s: %w", file, err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, struct{ DB string }{quoteIdent(p.database)}); err != nil {
		return nil, fmt.Errorf("render migration %s: %w", file, err)
	}
	return splitStatements(out.String()), nil
}

// splitStatements cuts SQL into statements at lines ending in ";", dropping
// whole-line "--" comments. Migrations are written one clause per line, so
// this simple rule is enough and keeps semicolons inside strings safe.
func splitStatements(sql string) []string {
	var stmts []string
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			stmts = append(stmts, s)
		}
		cur.Reset()
	}
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			continue
		}
		if strings.HasSuffix(trimmed, ";") {
			cur.WriteString(strings.TrimSuffix(strings.TrimRight(line, " \t\r"), ";"))
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return stmts
}

// Migrate creates the database if it is missing and applies, in order, every
// migration not yet recorded in schema_migrations. It is safe to run at every
// start and from several processes at once: tables are created IF NOT EXISTS
// and the record is a ReplacingMergeTree keyed by version. A migration that
// fails part-way is not recorded, so the next run retries it; statements that
// cannot say IF NOT EXISTS on 18.16 (ALTER ... ADD COLUMN) therefore belong in
// a migration of their own, and an ADD COLUMN that meets its column counts as
// done (columnAlreadyAdded).
func (c *ClickHouse) Migrate(ctx context.Context) error {
	p := c.schemaParams()
	if err := c.conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(p.database)); err != nil {
		return fmt.Errorf("create database %s on %s: %w", p.database, c.cfg.Addr, err)
	}
	boot, err := p.render(migrationFiles, bootstrapFile)
	if err != nil {
		return err
	}
	if err := c.execAll(ctx, bootstrapFile, boot); err != nil {
		return err
	}
	pending, err := c.pendingMigrations(ctx)
	if err != nil {
		return err
	}
	for _, m := range pending {
		stmts, err := p.render(migrationFiles, m.file)
		if err != nil {
			return err
		}
		if err := c.execAll(ctx, m.file, stmts); err != nil {
			return err
		}
		if err := c.recordMigration(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (c *ClickHouse) execAll(ctx context.Context, file string, stmts []string) error {
	for i, s := range stmts {
		if err := c.conn.Exec(ctx, s); err != nil && !columnAlreadyAdded(s, err) {
			return fmt.Errorf("apply migration %s (statement %d) on %s: %w", file, i+1, c.cfg.Addr, err)
		}
	}
	return nil
}

// codeDuplicateColumn is ClickHouse's DUPLICATE_COLUMN error.
const codeDuplicateColumn = 44

// columnAlreadyAdded reports whether err is an ADD COLUMN meeting the
// column it adds: 18.16 has no ADD COLUMN IF NOT EXISTS, and another
// process migrating at the same time, or a run that stopped between the
// ALTER and its record, has added it already.
func columnAlreadyAdded(stmt string, err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && ex.Code == codeDuplicateColumn && strings.Contains(strings.ToUpper(stmt), "ADD COLUMN")
}

func (c *ClickHouse) appliedMigrations(ctx context.Context) (map[int]bool, error) {
	rows, err := c.conn.Query(ctx, fmt.Sprintf("SELECT DISTINCT version FROM %s.schema_migrations", quoteIdent(c.cfg.Database)))
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations on %s: %w", c.cfg.Addr, err)
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations on %s: %w", c.cfg.Addr, err)
		}
		applied[int(v)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations on %s: %w", c.cfg.Addr, err)
	}
	return applied, nil
}

// recordMigration inserts through a batch: over the native protocol 18.16
// expects a data block after INSERT even when the statement carries VALUES.
func (c *ClickHouse) recordMigration(ctx context.Context, m migration) error {
	b, err := c.conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name, applied_at)", quoteIdent(c.cfg.Database)))
	if err == nil {
		if err = b.Append(uint32(m.version), m.name, time.Now().UTC()); err == nil {
			err = b.Send()
		} else {
			_ = b.Abort()
		}
	}
	if err != nil {
		return fmt.Errorf("record migration %s on %s: %w", m.file, c.cfg.Addr, err)
	}
	return nil
}

// pendingMigrations lists, in order, the migrations not recorded in
// schema_migrations.
func (c *ClickHouse) pendingMigrations(ctx context.Context) ([]migration, error) {
	applied, err := c.appliedMigrations(ctx)
	if err != nil {
		return nil, err
	}
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return nil, err
	}
	var pending []migration
	for _, m := range ms {
		if !applied[m.version] {
			pending = append(pending, m)
		}
	}
	return pending, nil
}
