package clickhouse

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// mergeSelectorBase is the MergeTree merge_selector_base of the two tables
// that hold most bytes (spans, message_content). ClickHouse's default (5)
// merges few parts at a time, so a row is rewritten about log5(rows /
// rows per insert) times over its life; at 20 each merge takes more
// parts and a row is rewritten less than half as often, for a few more
// parts per partition (about 20 per level instead of 5). Measured on
// 170,000 spans inserted 1,000 at a time: merges cost 81 µs of CPU a span
// at 5, 32 µs at 20 (README, Sizing).
const mergeSelectorBase = 20

// stateMerge are span_state's merge settings: a month none of whose
// parts changed for a day is merged into one part, whatever the sizes of
// its parts. Every chat view reads a trace's states by key (ORDER BY
// trace_id: a trace id says nothing of its time), one granule in each
// part of every month, so what it costs follows the number of parts: at
// 1M spans in 2 months, 10 parts (2,560 rows read) before, 2 after (512
// rows; Reads: measured). Only a whole partition is merged so: parts
// merged whenever they are an hour old would rewrite the month being
// written every hour (merges cost ~4.5 µs of CPU a state row: ~1.6 ms a
// span over a month of hourly rewrites), where this rewrites a month once after its
// last write, and again after a pause of a day in its writes: a few µs a
// span. The month being written keeps the parts the usual merges leave.
const stateMerge = "min_age_to_force_merge_seconds = 86400, min_age_to_force_merge_on_partition_only = 1"

// textIndexName is message_content's full-text index (ClickHouse 26.2+):
// an inverted index over the terms column, whose words are separated by
// single spaces.
const textIndexName = "idx_terms_text"

// pairIndexName is message_content's index of word pairs: a text index on
// pairsExpr, the body's consecutive words joined two by two ("retry
// timeout" is the token retry_timeout; words hold letters and digits
// only, so no two pairs join alike). A phrase of two words is one token of
// it, answered from its posting lists as a word is; a longer phrase is
// narrowed to the bodies that have each of its pairs before its words are
// checked in order (matchConds). Without it, a phrase of common words
// checked position() on every body that had its words: at 1M spans
// "retry timeout" (words in 12 % of the bodies, the phrase in 0.6 %)
// counted its matches in 723 ms of CPU; with it, 26 ms. It costs 142 MB
// at 1M spans (9 % of the store, 2 bytes a pair) and 24 s of CPU to build
// for 1.3M bodies.
const pairIndexName = "idx_terms_pairs"

// pairsExpr is the expression pairIndexName indexes (split on spaces): the
// pairs that start at odd words, then those that start at even ones (a
// body's last word is left alone once, a token no query names). A query
// names it exactly, else the index is not used. Parts without the index
// (an ADD INDEX whose MATERIALIZE has not reached them) compute it from
// the terms: correct, and slower. It has no lambda: with arrayMap((a, b)
// -> …) ClickHouse 26.7 failed such a part's read ("First argument for
// function arrayMap must be a function", TestPairIndexUnbuiltPartsLive).
const pairsExpr = `concat(replaceRegexpAll(terms, ' ([^ ]+) ([^ ]+)', ' \\1_\\2'), ` +
	`replaceRegexpAll(replaceRegexpOne(terms, '^ [^ ]+', ''), ' ([^ ]+) ([^ ]+)', ' \\1_\\2'))`

// granules are the granule sizes reads by key need, fixed when a table
// is created (index_granularity and index_granularity_bytes cannot be
// altered): tune rebuilds a table created with other ones. A span read by
// key decompresses its whole granule: with ClickHouse's default (up to
// 8,192 rows or 10 MiB) one turn of 12 spans read 1,200 span rows and
// 10 MiB, 20-30 ms of CPU; with granules of 1 MiB it reads about a
// tenth. span_state is read by trace (the writer's probe of a new trace,
// every chat view): 256 rows a granule instead of 8,192. message_content
// is read by digest for the snippets of a search page, conv_traces by
// conversation for a page's details and a conversation's chat view,
// message_occurrences by digest for the groups of a search.
var granules = []struct {
	table    string
	settings [][2]string // name, value
}{
	{"spans", [][2]string{{"index_granularity", "8192"}, {"index_granularity_bytes", "1048576"}}},
	{"span_state", [][2]string{{"index_granularity", "256"}}},
	{"message_content", [][2]string{{"index_granularity", "256"}}},
	{"conv_traces", [][2]string{{"index_granularity", "256"}}},
	{"message_occurrences", [][2]string{{"index_granularity", "256"}}},
}

// rebuildSuffix names the copy a rebuild fills before it takes the
// table's place.
const rebuildSuffix = "__rebuild"

// serverFeatures are what the connected ClickHouse offers beyond version
// 24, read from its system tables.
type serverFeatures struct {
	textIndex     bool // CREATE INDEX … TYPE text and hasAllTokens (GA in 26.2)
	mergeSelector bool // the merge_selector_base table setting
	forceMerge    bool // the min_age_to_force_merge_on_partition_only table setting
}

func (s *Store) features(ctx context.Context, conn driver.Conn) (serverFeatures, error) {
	var f serverFeatures
	var version string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		return f, fmt.Errorf("clickhouse: server version: %w", err)
	}
	major, minor := parseVersion(version)
	var fn, selector, force uint64
	if err := conn.QueryRow(ctx, "SELECT (SELECT count() FROM system.functions WHERE name = 'hasAllTokens'), "+
		"(SELECT count() FROM system.merge_tree_settings WHERE name = 'merge_selector_base'), "+
		"(SELECT count() FROM system.merge_tree_settings WHERE name = 'min_age_to_force_merge_on_partition_only')").Scan(&fn, &selector, &force); err != nil {
		return f, fmt.Errorf("clickhouse: server features: %w", err)
	}
	f.textIndex = fn > 0 && (major > 26 || major == 26 && minor >= 2)
	f.mergeSelector = selector > 0
	f.forceMerge = force > 0
	return f, nil
}

// parseVersion reads the major and minor of "26.7.2.1".
func parseVersion(v string) (major, minor int) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) >= 2 {
		major, _ = strconv.Atoi(parts[0])
		minor, _ = strconv.Atoi(parts[1])
	}
	return major, minor
}

// tune applies, on one node (or ON CLUSTER), the table options that depend
// on what the server offers, so that a server upgraded later gets them at
// the next start: the text index of message_content (built for the parts
// already there by an asynchronous mutation; searches stay correct, only
// slower, until it is done), which replaces the token bloom filter, the
// index of word pairs when Config.PhraseIndex asks for it (dropped when
// it does not), the merge selector base of the large tables, and
// span_state's merge of whole months (stateMerge). Every step is
// idempotent.
func (s *Store) tune(ctx context.Context, conn driver.Conn, addr string) error {
	f, err := s.features(ctx, conn)
	if err != nil {
		return err
	}
	if err := s.ensureGranules(ctx, conn, addr); err != nil {
		return err
	}
	var stmts []string
	if f.mergeSelector {
		for _, t := range []string{"spans", "message_content"} {
			set, err := s.tableHas(ctx, conn, t, "engine_full", "merge_selector_base = "+strconv.Itoa(mergeSelectorBase))
			if err != nil {
				return err
			}
			if !set {
				stmts = append(stmts, "ALTER TABLE "+s.l.local(t)+s.l.onCluster()+" MODIFY SETTING merge_selector_base = "+strconv.Itoa(mergeSelectorBase))
			}
		}
	}
	if f.forceMerge {
		set, err := s.tableHas(ctx, conn, "span_state", "engine_full", stateMerge)
		if err != nil {
			return err
		}
		if !set {
			stmts = append(stmts, "ALTER TABLE "+s.l.local("span_state")+s.l.onCluster()+" MODIFY SETTING "+stateMerge)
		}
	}
	if f.textIndex {
		t := s.l.local("message_content") + s.l.onCluster()
		for _, ix := range []struct {
			name, expr, tokenizer, after string
			want                         bool
		}{
			{textIndexName, "terms", "splitByString([' '])", "DROP INDEX IF EXISTS idx_terms", true},
			{pairIndexName, pairsExpr, "splitByString([' '])", "", s.cfg.PhraseIndex},
		} {
			has, err := s.hasIndex(ctx, conn, ix.name)
			if err != nil {
				return err
			}
			if has && !ix.want {
				stmts = append(stmts, "ALTER TABLE "+t+" DROP INDEX IF EXISTS "+ix.name)
			}
			if has || !ix.want {
				continue
			}
			stmts = append(stmts,
				"ALTER TABLE "+t+" ADD INDEX IF NOT EXISTS "+ix.name+" "+ix.expr+" TYPE text(tokenizer = "+ix.tokenizer+")",
				"ALTER TABLE "+t+" MATERIALIZE INDEX "+ix.name)
			if ix.after != "" {
				stmts = append(stmts, "ALTER TABLE "+t+" "+ix.after)
			}
		}
	}
	for _, q := range stmts {
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("clickhouse: tune: %s: %w", q, err)
		}
		s.log.Info("clickhouse table tuned", "statement", q)
	}
	return nil
}

// ensureGranules rebuilds, on one node, each table whose granule sizes are
// not those of granules: the rows are copied into a new table with the
// same definition and those settings, which then takes the table's place
// (EXCHANGE TABLES, atomic; materialized views follow the name, so the
// rollups neither miss nor double an insert). A rebuild interrupted
// before the exchange starts again from scratch; after it, the table
// has its settings and only the leftover copy is dropped. Rows written
// to the table while it is copied would be lost, so a table that has rows
// is copied only when Config.RebuildTables asks (`weave-server migrate
// --clickhouse-rebuild-tables`, with the servers stopped); otherwise a
// notice says it keeps its granules. An empty table (a new database) is
// rebuilt at once. Replicated tables are left as they are (their
// replicas would each need the copy): a notice says so.
func (s *Store) ensureGranules(ctx context.Context, conn driver.Conn, addr string) error {
	for _, g := range granules {
		name := "`" + s.l.db + "`.`" + s.localName(g.table) + "`"
		tmp := "`" + s.l.db + "`.`" + s.localName(g.table) + rebuildSuffix + "`"
		var ddl string
		if err := conn.QueryRow(ctx, "SHOW CREATE TABLE "+name).Scan(&ddl); err != nil {
			return fmt.Errorf("clickhouse: rebuild %s: %w", g.table, err)
		}
		want, ok := withSettings(ddl, g.settings)
		if !ok {
			return fmt.Errorf("clickhouse: rebuild %s: no SETTINGS clause in its definition", g.table)
		}
		if want == ddl {
			// Done, maybe by a run interrupted before it dropped the copy.
			var left uint8
			if err := conn.QueryRow(ctx, "EXISTS TABLE "+tmp).Scan(&left); err != nil {
				return fmt.Errorf("clickhouse: rebuild %s: %w", g.table, err)
			}
			if left == 1 {
				if err := conn.Exec(ctx, "DROP TABLE "+tmp); err != nil {
					return fmt.Errorf("clickhouse: rebuild %s: %w", g.table, err)
				}
			}
			continue
		}
		if s.l.replicated() {
			s.log.Warn("clickhouse table keeps its granule size (replicated tables are not rebuilt)", "table", g.table,
				"settings", fmt.Sprint(g.settings))
			continue
		}
		var rows uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+name).Scan(&rows); err != nil {
			return fmt.Errorf("clickhouse: rebuild %s: %w", g.table, err)
		}
		if rows > 0 && !s.cfg.RebuildTables {
			// Rows another weave-server writes while the copy runs would
			// be lost, and a large copy would hold up this start: only
			// `weave-server migrate --clickhouse-rebuild-tables` (with the
			// servers stopped) copies a table that has rows.
			s.log.Warn("clickhouse table keeps its granule size until weave-server migrate --clickhouse-rebuild-tables runs (with no weave-server writing)",
				"table", g.table, "rows", rows, "settings", fmt.Sprint(g.settings))
			continue
		}
		s.log.Info("clickhouse table rebuild: copying it once with smaller granules", "table", g.table, "rows", rows)
		create, ok := renameCreate(want, s.l.db, s.localName(g.table), s.localName(g.table)+rebuildSuffix)
		if !ok {
			return fmt.Errorf("clickhouse: rebuild %s: unexpected definition %q", g.table, firstLine(want))
		}
		copyConn := conn
		if s.dialCopy != nil {
			c, err := s.dialCopy(ctx, addr)
			if err != nil {
				return fmt.Errorf("clickhouse: rebuild %s: connect: %w", g.table, err)
			}
			defer c.Close()
			copyConn = c
		}
		for _, q := range []string{
			"DROP TABLE IF EXISTS " + tmp,
			create,
			"INSERT INTO " + tmp + " SELECT * FROM " + name,
			"EXCHANGE TABLES " + name + " AND " + tmp,
			"DROP TABLE " + tmp,
		} {
			if err := copyConn.Exec(ctx, q); err != nil {
				return fmt.Errorf("clickhouse: rebuild %s: %s: %w", g.table, firstLine(q), err)
			}
		}
		s.log.Info("clickhouse table rebuilt", "table", g.table, "rows", rows)
	}
	return nil
}

var settingRE = regexp.MustCompile(`(?m)^SETTINGS (.*)$`)

// withSettings returns a table definition (SHOW CREATE TABLE) with the
// settings set: a setting it has is given the value, one it lacks is
// appended. ok is false without a SETTINGS line.
func withSettings(ddl string, settings [][2]string) (string, bool) {
	m := settingRE.FindStringSubmatchIndex(ddl)
	if m == nil {
		return ddl, false
	}
	list := strings.Split(ddl[m[2]:m[3]], ", ")
	for _, st := range settings {
		found := false
		for i, kv := range list {
			if k, _, _ := strings.Cut(kv, " = "); k == st[0] {
				list[i], found = st[0]+" = "+st[1], true
			}
		}
		if !found {
			list = append(list, st[0]+" = "+st[1])
		}
	}
	return ddl[:m[2]] + strings.Join(list, ", ") + ddl[m[3]:], true
}

// renameCreate turns the CREATE TABLE of db.from into that of db.to.
func renameCreate(ddl, db, from, to string) (string, bool) {
	for _, prefix := range []string{"CREATE TABLE " + db + "." + from + "\n", "CREATE TABLE `" + db + "`.`" + from + "`\n"} {
		if rest, ok := strings.CutPrefix(ddl, prefix); ok {
			return "CREATE TABLE `" + db + "`.`" + to + "`\n" + rest, true
		}
	}
	return "", false
}

// tableHas reports whether a column of system.tables (engine_full,
// create_table_query) of one of weave's storage tables holds text.
func (s *Store) tableHas(ctx context.Context, conn driver.Conn, table, column, text string) (bool, error) {
	var n uint64
	err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String} AND position("+column+", {text:String}) > 0",
		named("db", s.l.db), named("t", s.localName(table)), named("text", text)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("clickhouse: read the definition of %s: %w", table, err)
	}
	return n > 0, nil
}

// hasIndex reports whether message_content has the index name on the
// node conn talks to.
func (s *Store) hasIndex(ctx context.Context, conn driver.Conn, name string) (bool, error) {
	var n uint64
	err := conn.QueryRow(ctx, "SELECT count() FROM system.data_skipping_indices WHERE database = {db:String} AND table = {t:String} AND name = {i:String}",
		named("db", s.l.db), named("t", s.localName("message_content")), named("i", name)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("clickhouse: read the indexes of message_content: %w", err)
	}
	return n > 0, nil
}

// localName is the unquoted name of a storage table.
func (s *Store) localName(table string) string {
	if s.l.isCluster() {
		return table + "_local"
	}
	return table
}

// detectSearch decides how searches match words: with hasAllTokens, which
// message_content's text index answers, when the connected node has the
// index and the function; else with hasToken (the token bloom filter).
// Phrases use the index of word pairs when the node has it too.
func (s *Store) detectSearch(ctx context.Context) error {
	f, err := s.features(ctx, s.conn)
	if err != nil {
		return err
	}
	words, pairs := false, false
	if f.textIndex {
		if words, err = s.hasIndex(ctx, s.conn, textIndexName); err != nil {
			return err
		}
		if pairs, err = s.hasIndex(ctx, s.conn, pairIndexName); err != nil {
			return err
		}
	}
	s.l.textIndex, s.l.pairIndex = words, words && pairs
	return nil
}
