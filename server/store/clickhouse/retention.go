package clickhouse

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ttlTables are the tables whose rows expire with the retention (the
// {{ttl}} of schema/*.sql) and the time each expires by.
var ttlTables = []struct{ table, expr string }{
	{"spans", "toDateTime(started_at)"},
	{"span_state", "toDateTime(started_at)"},
	{"agent_versions", "toDateTime(toInt64(day) * 86400)"},
	{"agent_minutes", "toDateTime(minute * 60)"},
	{"conv_traces", "toDateTime(last_at)"},
	{"message_content", "toDateTime(refreshed_at)"},
	{"message_occurrences", "toDateTime(started_at)"},
	{"message_occurrences_by_time", "toDateTime(started_at)"},
	{"metric_points", "toDateTime(intDiv(time_ns, 1000000000))"},
	{"agent_costs", "toDateTime(toInt64(day) * 86400)"},
	{"agent_minute_costs", "toDateTime(minute * 60)"},
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
				q += " MODIFY TTL " + t.expr + " + INTERVAL " + strconv.Itoa(days) + " DAY"
			} else {
				has, err := s.hasTTL(ctx, conn, t.table)
				if err != nil {
					return err
				}
				if !has {
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
	if !s.l.sharded {
		return run(s.conn)
	}
	return s.eachNode(ctx, func(addr string, conn driver.Conn) error {
		if err := run(conn); err != nil {
			return fmt.Errorf("%w (node %s)", err, addr)
		}
		return nil
	})
}

// hasTTL reports whether a storage table has a table TTL.
func (s *Store) hasTTL(ctx context.Context, conn driver.Conn, table string) (bool, error) {
	name := table
	if s.l.isCluster() {
		name += "_local"
	}
	rows, err := conn.Query(ctx, "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {name:String}",
		named("db", s.l.db), named("name", name))
	if err != nil {
		return false, fmt.Errorf("clickhouse: set retention: read %s: %w", table, err)
	}
	defer rows.Close()
	var ddl string
	for rows.Next() {
		if err := rows.Scan(&ddl); err != nil {
			return false, fmt.Errorf("clickhouse: set retention: read %s: %w", table, err)
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("clickhouse: set retention: read %s: %w", table, err)
	}
	return strings.Contains(ddl, " TTL "), nil
}
