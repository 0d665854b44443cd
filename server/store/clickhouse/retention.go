package clickhouse

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ttlTables are the tables whose rows expire with the retention (the
// {{ttl}} of schema/*.sql) and the time each expires by.
var ttlTables = []struct{ table, expr string }{
	{"spans", "toDateTime(started_at)"},
	{"span_state", "toDateTime(started_at)"},
	{"agent_versions", "toDateTime((toInt64(day) + 1) * 86400)"},
	{"agent_minutes", "toDateTime((minute + 1) * 60)"},
	{"conv_traces", "toDateTime(last_at)"},
	{"message_content", "toDateTime(refreshed_at) + 86400"},
	{"message_occurrences", "toDateTime(started_at)"},
	{"message_occurrences_by_time", "toDateTime(started_at)"},
	{"metric_points", "toDateTime(intDiv(time_ns, 1000000000))"},
	{"agent_costs", "toDateTime((toInt64(day) + 1) * 86400)"},
	{"agent_minute_costs", "toDateTime((minute + 1) * 60)"},
	{"conversations", "toDateTime((toInt64(day) + 1) * 86400)"},
	{"span_counts", "toDateTime((toInt64(day) + 1) * 86400)"},
}

// SetRetention changes the TTL of the existing tables to days (0 removes
// it: data is kept forever), as Config.RetentionDays sets it when the
// tables are created: on the storage tables, ON CLUSTER in a replicated
// cluster, node by node in a sharded one. ClickHouse then drops the rows
// past the new TTL in the background (materialize_ttl_after_modify).
func (s *Store) SetRetention(ctx context.Context, days int) error {
	if days < 0 {
		return fmt.Errorf("clickhouse: retention %d days: want ≥ 0", days)
	}
	run := func(conn driver.Conn) error {
		for _, t := range ttlTables {
			q := "ALTER TABLE " + s.l.local(t.table) + s.l.onCluster()
			if days > 0 {
				q = s.modifyTTL(t.table, t.expr, days)
			} else {
				ttl, err := s.tableTTL(ctx, conn, t.table)
				if err != nil {
					return err
				}
				if ttl == "" {
					continue // nothing to remove
				}
				q += " REMOVE TTL"
			}
			if err := conn.Exec(ctx, q); err != nil {
				return fmt.Errorf("clickhouse: set retention on %s: %w", t.table, err)
			}
		}
		return nil
	}
	var err error
	if !s.l.sharded {
		err = run(s.conn)
	} else {
		err = s.eachNode(ctx, func(addr string, conn driver.Conn) error {
			if err := run(conn); err != nil {
				return fmt.Errorf("%w (node %s)", err, addr)
			}
			return nil
		})
	}
	if err == nil {
		s.retention.Store(int64(days))
	}
	return err
}

// modifyTTL is the statement that sets table's TTL to expr plus days.
func (s *Store) modifyTTL(table, expr string, days int) string {
	return "ALTER TABLE " + s.l.local(table) + s.l.onCluster() + " MODIFY TTL " + expr + " + INTERVAL " + strconv.Itoa(days) + " DAY"
}

// retimedTTL are the tables whose TTL version 16 moved later: the agent
// rollups' from the start of a row's day (minute) to its end, the bodies'
// by a day (bodyRefreshEvery).
var retimedTTL = []string{"agent_versions", "agent_minutes", "agent_costs", "agent_minute_costs", "message_content"}

// retimeTTL is version 16's step on one node (or ON CLUSTER): the tables
// of retimedTTL that have a TTL get ttlTables' expression with the
// retention their TTL carries.
func (s *Store) retimeTTL(ctx context.Context, conn driver.Conn) error {
	for _, t := range ttlTables {
		if !slices.Contains(retimedTTL, t.table) {
			continue
		}
		ttl, err := s.tableTTL(ctx, conn, t.table)
		if err != nil {
			return err
		}
		if ttl == "" {
			continue // kept forever
		}
		days, err := ttlRetention(t.table, ttl)
		if err != nil {
			return err
		}
		if days == 0 {
			return fmt.Errorf("clickhouse: the TTL of %s %q: no retention in days", t.table, ttl)
		}
		if err := conn.Exec(ctx, s.modifyTTL(t.table, t.expr, days)); err != nil {
			return fmt.Errorf("clickhouse: the TTL of %s at the end of its day: %w", t.table, err)
		}
	}
	return nil
}

// tableTTL returns the TTL clause of table's DDL (its local table in a
// cluster), "" without one.
func (s *Store) tableTTL(ctx context.Context, conn driver.Conn, table string) (string, error) {
	name := table
	if s.l.isCluster() {
		name += "_local"
	}
	rows, err := conn.Query(ctx, "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {name:String}",
		named("db", s.l.db), named("name", name))
	if err != nil {
		return "", fmt.Errorf("clickhouse: read the TTL of %s: %w", table, err)
	}
	defer rows.Close()
	var ddl string
	for rows.Next() {
		if err := rows.Scan(&ddl); err != nil {
			return "", fmt.Errorf("clickhouse: read the TTL of %s: %w", table, err)
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("clickhouse: read the TTL of %s: %w", table, err)
	}
	if i := strings.Index(ddl, " TTL "); i >= 0 {
		return ddl[i:], nil
	}
	return "", nil
}

// ttlDays matches the retention in a TTL clause as ClickHouse shows it.
var ttlDays = regexp.MustCompile(`toIntervalDay\((\d+)\)`)

// readRetention sets the retention the counts assume (liveFrom) from the
// TTL span_state really carries: `weave-server migrate
// --clickhouse-retention-days` changes it after the tables were created,
// and a server started without the flag must still count the day the
// cutoff falls in from the spans, not from its whole-day rollup row.
func (s *Store) readRetention(ctx context.Context) error {
	days, err := s.carriedRetention(ctx, s.conn)
	if err != nil {
		return err
	}
	s.retention.Store(int64(days))
	return nil
}

// carriedRetention is the retention in days of span_state's TTL on conn's
// node (0: none, or no table yet).
func (s *Store) carriedRetention(ctx context.Context, conn driver.Conn) (int, error) {
	ttl, err := s.tableTTL(ctx, conn, "span_state")
	if err != nil {
		return 0, err
	}
	return ttlRetention("span_state", ttl)
}

// ttlRetention is the retention in days of a table's TTL clause (0: none).
func ttlRetention(table, ttl string) (int, error) {
	m := ttlDays.FindStringSubmatch(ttl)
	if m == nil {
		return 0, nil
	}
	days, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, fmt.Errorf("clickhouse: the TTL of %s %q: %w", table, ttl, err)
	}
	return days, nil
}
