package clickhouse

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
)

//go:embed schema/*.sql
var schemaFS embed.FS

// layout names the tables of one deployment: the database, and in cluster
// mode the cluster, whose storage tables are <name>_local behind a
// Distributed table <name>: Replicated tables created ON CLUSTER, or, in a
// sharded cluster, plain tables created node by node.
type layout struct {
	db      string // unquoted, validated identifier
	cluster string // "" for a single node
	sharded bool   // cluster without replication or distributed DDL
	// textIndex: message_content has its text index (tune), which searches
	// use through hasAllTokens; else they use hasToken and the token bloom
	// filter.
	textIndex bool
	// pairIndex: message_content also has its index of word pairs (tune),
	// which phrases use through hasAllTokens on pairsExpr.
	pairIndex bool
}

func (l layout) isCluster() bool { return l.cluster != "" }

// replicated reports whether the local tables are Replicated*MergeTree.
func (l layout) replicated() bool { return l.isCluster() && !l.sharded }

// migrationsTable is where applied migrations are read and recorded: the
// node's own table in a sharded cluster (each node is migrated on its
// own), else the table reads use.
func (l layout) migrationsTable() string {
	if l.sharded {
		return l.local("weave_migrations")
	}
	return l.table("weave_migrations")
}

// table is the name reads and writes use: the Distributed table in cluster
// mode, the table itself on a single node.
func (l layout) table(name string) string { return "`" + l.db + "`.`" + name + "`" }

// local is the storage table (and the name materialized views read from
// and write to).
func (l layout) local(name string) string {
	if l.isCluster() {
		return "`" + l.db + "`.`" + name + "_local`"
	}
	return l.table(name)
}

func (l layout) onCluster() string {
	if l.replicated() {
		return " ON CLUSTER `" + l.cluster + "`"
	}
	return ""
}

// migration is one versioned schema file.
type migration struct {
	version    int
	name       string
	statements []string
}

// schemaParams are the values the schema templates see.
type schemaParams struct {
	RetentionDays     int
	PendingTTLSeconds int64
	Cluster           bool
	Replicated        bool
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// migrations renders every schema file for l, in version order.
func migrations(l layout, retentionDays int, pendingMaxAge time.Duration) ([]migration, error) {
	entries, err := fs.ReadDir(schemaFS, "schema")
	if err != nil {
		return nil, fmt.Errorf("clickhouse: schema: %w", err)
	}
	funcs := template.FuncMap{
		"local": l.local,
		"table": l.table,
		"on":    l.onCluster,
		"engine": func(table, engine, args string) string {
			if !l.replicated() {
				return engine + "(" + args + ")"
			}
			rep := "'/clickhouse/tables/{shard}/" + l.db + "/" + table + "_local', '{replica}'"
			if args != "" {
				rep += ", " + args
			}
			return "Replicated" + engine + "(" + rep + ")"
		},
		// settings are a table's SETTINGS clause: the granule sizes its
		// reads by key need (tune.go's granules), so that a new table
		// needs no rebuild.
		"settings": func(table string) (string, error) {
			for _, g := range granules {
				if g.table == table {
					list := make([]string, len(g.settings))
					for i, st := range g.settings {
						list[i] = st[0] + " = " + st[1]
					}
					return "SETTINGS " + strings.Join(list, ", "), nil
				}
			}
			return "", fmt.Errorf("no granule settings for table %s", table)
		},
		"distributed": func(table, shardKey string) string {
			if !l.isCluster() {
				return ""
			}
			return "CREATE TABLE IF NOT EXISTS " + l.table(table) + l.onCluster() + " AS " + l.local(table) +
				"\nENGINE = Distributed('" + l.cluster + "', '" + l.db + "', '" + table + "_local', " + shardKey + ")"
		},
		// addColumns adds columns to a table (and, in cluster mode, to its
		// Distributed table too, which inserts and reads go through).
		"addColumns": func(table string, cols ...string) string {
			alter := func(name string) string {
				parts := make([]string, len(cols))
				for i, c := range cols {
					parts[i] = "ADD COLUMN IF NOT EXISTS " + c
				}
				return "ALTER TABLE " + name + l.onCluster() + "\n    " + strings.Join(parts, ",\n    ")
			}
			out := alter(l.local(table))
			if l.isCluster() {
				out += ";\n" + alter(l.table(table))
			}
			return out
		},
		"ttl": func(expr string) string {
			if retentionDays <= 0 {
				return ""
			}
			return "TTL " + expr + " + INTERVAL " + strconv.Itoa(retentionDays) + " DAY"
		},
	}
	params := schemaParams{RetentionDays: retentionDays, PendingTTLSeconds: int64(pendingMaxAge / time.Second), Cluster: l.isCluster(), Replicated: l.replicated()}
	var out []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("clickhouse: schema file %q: want NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		src, err := fs.ReadFile(schemaFS, path.Join("schema", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("clickhouse: schema: %w", err)
		}
		tmpl, err := template.New(e.Name()).Funcs(funcs).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("clickhouse: schema %s: %w", e.Name(), err)
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, params); err != nil {
			return nil, fmt.Errorf("clickhouse: schema %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: m[2], statements: splitStatements(buf.String())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("clickhouse: two schema files with version %d", out[i].version)
		}
	}
	return out, nil
}

var statementEnd = regexp.MustCompile(`;[ \t]*(\n|$)`)

// splitStatements cuts a rendered file at the semicolons that end a line,
// dropping comment lines and empty statements (a Distributed table
// rendered away on a single node).
func splitStatements(sql string) []string {
	var out []string
	for _, chunk := range statementEnd.Split(sql, -1) {
		var lines []string
		for _, line := range strings.Split(chunk, "\n") {
			line = strings.TrimRight(line, " \t\r")
			if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "--") {
				continue
			}
			lines = append(lines, line)
		}
		if len(lines) > 0 {
			out = append(out, strings.Join(lines, "\n"))
		}
	}
	return out
}

// migrationsTableDDL creates the table that records applied migrations.
func migrationsTableDDL(l layout) []string {
	engine := "ReplacingMergeTree(applied_at)"
	if l.replicated() {
		engine = "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/" + l.db + "/weave_migrations_local', '{replica}', applied_at)"
	}
	out := []string{
		"CREATE DATABASE IF NOT EXISTS `" + l.db + "`" + l.onCluster(),
		"CREATE TABLE IF NOT EXISTS " + l.local("weave_migrations") + l.onCluster() + "\n(\n    version UInt32,\n    name String,\n    applied_at DateTime64(3, 'UTC')\n)\nENGINE = " + engine + "\nORDER BY version",
	}
	if l.replicated() {
		out = append(out, "CREATE TABLE IF NOT EXISTS "+l.table("weave_migrations")+l.onCluster()+" AS "+l.local("weave_migrations")+
			"\nENGINE = Distributed('"+l.cluster+"', '"+l.db+"', 'weave_migrations_local', rand())")
	}
	return out
}
