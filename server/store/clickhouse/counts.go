package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// counter is a rollup that counts span_state's rows by a key (the signed
// sum of their signs), fed by a materialized view: what reconcile can set
// right from span_state itself.
type counter struct {
	table string
	key   string // the key columns, as both tables name them
	// last is the rollup's max column of the latest activity ("": none),
	// and lastExpr what the view puts in it from a state row.
	last, lastExpr string
}

// counters are the rollups reconcile rebuilds (the agent rollups sum more
// than a count, and their first/last seen are corrected on read).
var counters = []counter{
	{table: "conversations", key: "project_id, conv_key, day", last: "last_ns",
		lastExpr: "if(sign > 0, greatest(toUnixTimestamp64Nano(started_at), ifNull(toUnixTimestamp64Nano(ended_at), 0)), toInt64(-9223372036854775807))"},
	{table: "span_counts", key: "project_id, day, operation_name, status_code"},
}

// counterByTable returns the counter of a rollup table.
func counterByTable(table string) counter {
	for _, c := range counters {
		if c.table == table {
			return c
		}
	}
	panic("clickhouse: no counter " + table)
}

// reconcileSQL sets a counting rollup to what span_state sums, in one
// statement that adds to each key the difference between the two (the
// days from fromDay on, all of them when fromDay is nil): run again, it
// adds nothing. Rows where both are equal are left alone, so it can run
// beside the writer; a state inserted in the instant between the two
// reads (its rollup row not yet written) is counted twice, which the
// next run undoes. In a replicated cluster it reads and writes through
// the Distributed tables, elsewhere the node's own (in a sharded cluster
// every node holds its traces' states and the rollup rows of them).
func reconcileSQL(l layout, c counter, fromDay *int32) string {
	name := l.local
	if l.replicated() {
		name = l.table
	}
	where := ""
	if fromDay != nil {
		where = " WHERE day >= " + strconv.Itoa(int(*fromDay))
	}
	last, lastNeutral, lastCol := "", "", ""
	if c.last != "" {
		last = ", " + c.lastExpr + " AS l"
		lastNeutral = ", toInt64(-9223372036854775807)"
		lastCol = ", max(l)"
	}
	return "INSERT INTO " + name(c.table) + " (" + c.key + ", span_count" + prefixed(c.last) + ")" +
		" SELECT " + c.key + ", toInt64(sum(n)) AS d" + lastCol + " FROM (" +
		"SELECT " + c.key + ", toInt64(sign) AS n" + last + " FROM " + name("span_state") + where +
		" UNION ALL SELECT " + c.key + ", -span_count" + lastNeutral + " FROM " + name(c.table) + where +
		") GROUP BY " + c.key + " HAVING d != 0"
}

func prefixed(col string) string {
	if col == "" {
		return ""
	}
	return ", " + col
}

// codeQueryRunning is ClickHouse's QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING.
const codeQueryRunning = 216

// reconcile runs reconcileSQL for c on conn under a query id of its own,
// which the server lets only one query hold at a time: two servers
// migrating at once, or a repair beside a migration, run it one after the
// other (the second then finds nothing to add) instead of adding the
// same difference twice. It returns the number of keys it corrected.
func (s *Store) reconcile(ctx context.Context, conn driver.Conn, c counter) (uint64, error) {
	var fromDay *int32
	ttl, err := s.tableTTL(ctx, conn, c.table)
	if err != nil {
		return 0, err
	}
	days, err := ttlRetention(c.table, ttl)
	if err != nil {
		return 0, err
	}
	if days > 0 {
		// The days whose rollup rows have not expired: those from the
		// day of the retention's cutoff on.
		d := int32(s.now().Add(-time.Duration(days)*24*time.Hour).Unix() / 86400)
		fromDay = &d
	}
	q := reconcileSQL(s.l, c, fromDay)
	var wrote uint64
	settings := ch.Settings{}
	if s.l.replicated() {
		settings["distributed_foreground_insert"] = 1 // written when it returns, for the next run to see
	}
	qctx := ch.Context(ctx, ch.WithQueryID("weave_reconcile_"+s.l.db+"_"+c.table), ch.WithSettings(settings),
		ch.WithProgress(func(p *ch.Progress) { wrote += p.WroteRows }))
	for {
		err := conn.Exec(qctx, q)
		var ex *ch.Exception
		if !errors.As(err, &ex) || ex.Code != codeQueryRunning {
			if err != nil {
				return 0, fmt.Errorf("clickhouse: reconcile %s with span_state: %w", c.table, err)
			}
			return wrote, nil
		}
		// Another server reconciles this rollup: wait for it to end.
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// RebuildCounts sets the counting rollups (span_counts: the spans page's
// totals, Stats and Projects; conversations: the conversations page's
// candidates and total) to what span_state holds, for the days their rows
// have not expired, and returns the number of keys it corrected (0 when
// nothing had drifted). It is safe beside running writers, and two runs
// at once take turns (reconcile); `weave-server migrate
// --clickhouse-rebuild-counts` runs it. On every node of a sharded
// cluster, through the Distributed tables of a replicated one.
func (s *Store) RebuildCounts(ctx context.Context) (uint64, error) {
	var total uint64
	run := func(conn driver.Conn) error {
		for _, c := range counters {
			n, err := s.reconcile(ctx, conn, c)
			total += n
			if err != nil {
				return err
			}
		}
		return nil
	}
	if !s.l.sharded {
		return total, run(s.conn)
	}
	err := s.eachNode(ctx, func(addr string, conn driver.Conn) error {
		if err := run(conn); err != nil {
			return fmt.Errorf("%w (node %s)", err, addr)
		}
		return nil
	})
	return total, err
}

// reconciledAt are the migrations that create a counting rollup (by
// version): their Go step backfills it with reconcile, which sets it to
// span_state's sums instead of adding them once more (a migration
// interrupted after its backfill and run again, or run by two servers at
// once, would otherwise count every state twice).
var reconciledAt = map[int]string{10: "conversations", 12: "span_counts"}

// migrationSteps are the parts of migrations that are Go, run on the
// node's connection after the version's statements.
var migrationSteps = map[int]func(s *Store, ctx context.Context, conn driver.Conn) error{
	16: (*Store).retimeTTL,
}

func init() {
	for v, table := range reconciledAt {
		c := counterByTable(table)
		migrationSteps[v] = func(s *Store, ctx context.Context, conn driver.Conn) error {
			_, err := s.reconcile(ctx, conn, c)
			return err
		}
	}
}
