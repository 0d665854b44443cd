package clickhouse

import (
	"context"
	"fmt"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/store"
)

// pruneTraces is how many traces one DeleteBefore round handles; the
// writer waits for a round, not for the whole prune.
const pruneTraces = 1000

var _ store.Pruner = (*Store)(nil)

// DeleteBefore implements store.Pruner. It works trace by trace, like
// the writer and under the same lock: the traces that hold spans started
// before t are read, those spans' states are cancelled (the rollups lose
// them exactly), the rest of each trace is re-derived (a child whose
// parent went becomes a root) and its conversation and search rows
// replaced; their span rows are removed with a lightweight DELETE, and
// the bodies that no remaining occurrence names are deleted, and at the
// end the rows of message_occurrences_by_time before the cut.
//
// TTLs (Config.RetentionDays) are the way to expire data continuously;
// DeleteBefore is for a one-off cut. Another weave-server writing to the
// same database keeps its cache of stored bodies: a body it believes
// stored and that was deleted as unreferenced is not written again by it
// until it restarts, so run DeleteBefore with one writer.
func (s *Store) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	cut := store.ClampNanos(t)
	start := s.now().UTC()
	if err := s.pruneMetricPoints(ctx, cut); err != nil {
		return 0, err
	}
	var total int64
	for {
		traces, err := s.tracesBefore(ctx, cut)
		if err != nil {
			return total, err
		}
		if len(traces) == 0 {
			// No span before the cut is left, so no occurrence either:
			// the search's time-sorted copies of them go too.
			err := s.deleteRows(ctx, "message_occurrences_by_time", "started_at < fromUnixTimestamp64Nano({cut:Int64}, 'UTC')", named("cut", cut))
			return total, err
		}
		n, err := s.pruneRound(ctx, traces, cut, start)
		total += n
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, fmt.Errorf("clickhouse: delete before %s: %d traces still hold spans before the cut after a round", fromNanos(cut), len(traces))
		}
	}
}

// tracesBefore lists up to pruneTraces traces (by project) with stored
// spans started before cut: the sum of state signs of the rows before the
// cut, per span, is 1 for a stored span and 0 for one that moved or went.
func (s *Store) tracesBefore(ctx context.Context, cut int64) (map[string][]string, error) {
	q := "SELECT project_id, trace_id FROM (SELECT project_id, trace_id, span_id FROM " + s.l.table("span_state") +
		" WHERE started_at < fromUnixTimestamp64Nano({cut:Int64}, 'UTC') GROUP BY project_id, trace_id, span_id HAVING sum(sign) > 0)" +
		" GROUP BY project_id, trace_id ORDER BY project_id, trace_id LIMIT " + fmt.Sprint(pruneTraces)
	out := map[string][]string{}
	err := s.scanAll(ctx, "delete before: find traces", q, []driver.NamedValue{named("cut", cut)}, func(r driver.Rows) error {
		var project, trace string
		if err := r.Scan(&project, &trace); err != nil {
			return err
		}
		out[project] = append(out[project], trace)
		return nil
	})
	return out, err
}

// pruneRound deletes the spans before cut of the traces, and returns how
// many it deleted.
func (s *Store) pruneRound(ctx context.Context, traces map[string][]string, cut int64, start time.Time) (int64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var keys []traceKey
	for _, project := range sortedKeys(traces) {
		for _, trace := range traces[project] {
			keys = append(keys, traceKey{project, trace})
		}
	}
	// The states are read (not taken from the writer's cache), and the
	// traces leave the cache whatever happens.
	defer s.states.drop(keys)
	old, err := s.traceStates(ctx, keys, false)
	if err != nil {
		return 0, err
	}
	wp := writePlan{}
	var n int64
	gone := map[string][]string{}          // project → span ids
	bodies := map[string]map[string]bool{} // project → digests the deleted spans said
	for _, project := range sortedKeys(traces) {
		for _, trace := range traces[project] {
			k := traceKey{project, trace}
			drop := map[string]bool{}
			for id, r := range old[k] {
				if r.started < cut {
					drop[id] = true
					gone[project] = append(gone[project], id)
					for _, mk := range r.msgKeys {
						if _, d, ok := splitKey(mk); ok {
							if bodies[project] == nil {
								bodies[project] = map[string]bool{}
							}
							bodies[project][d] = true
						}
					}
				}
			}
			if len(drop) == 0 {
				continue
			}
			n += int64(len(drop))
			s.planTrace(&wp, k, nil, old[k], drop)
		}
	}
	if n == 0 {
		return 0, nil
	}
	// Span rows first: a prune that fails after this point leaves the
	// states, which the next DeleteBefore finds and finishes.
	if err := s.applyPrune(ctx, traces, gone, cut, wp.rows); err != nil {
		return 0, err
	}
	return n, s.freeBodies(ctx, bodies, start)
}

// applyPrune removes the span rows of a round and inserts its plan, seen
// by readers all at once.
func (s *Store) applyPrune(ctx context.Context, traces, gone map[string][]string, cut int64, rows rows) error {
	done, err := s.writing(ctx)
	if err != nil {
		return err
	}
	defer done()
	for _, project := range sortedKeys(gone) {
		err := s.deleteRows(ctx, "spans", "project_id = {project:String} AND trace_id IN {traces:Array(String)} AND span_id IN {spans:Array(String)}"+
			" AND started_at < fromUnixTimestamp64Nano({cut:Int64}, 'UTC')",
			named("project", project), named("traces", traces[project]), named("spans", gone[project]), named("cut", cut))
		if err != nil {
			return err
		}
	}
	return s.insertPlan(ctx, rows)
}

// freeBodies deletes the bodies (by project) that no occurrence names any
// more, unless refreshed since the prune started (a writer stored them
// again meanwhile).
func (s *Store) freeBodies(ctx context.Context, bodies map[string]map[string]bool, start time.Time) error {
	for _, project := range sortedKeys(bodies) {
		digests := sortedKeys(bodies[project])
		used := map[string]bool{}
		q := "SELECT DISTINCT digest FROM " + s.l.table("message_occurrences") +
			" FINAL WHERE project_id = {project:String} AND digest IN {digests:Array(String)}"
		err := s.scanAll(ctx, "delete before: bodies in use", q, []driver.NamedValue{named("project", project), named("digests", digests)},
			func(r driver.Rows) error {
				var d string
				if err := r.Scan(&d); err != nil {
					return err
				}
				used[d] = true
				return nil
			})
		if err != nil {
			return err
		}
		var free []string
		for _, d := range digests {
			if !used[d] {
				free = append(free, d)
			}
		}
		if len(free) == 0 {
			continue
		}
		s.content.forget(project, free)
		err = s.deleteRows(ctx, "message_content", "project_id = {project:String} AND digest IN {digests:Array(String)} AND refreshed_at < {start:DateTime64(3, 'UTC')}",
			named("project", project), named("digests", free), named("start", start))
		if err != nil {
			return err
		}
	}
	return nil
}

// deleteRows runs a lightweight DELETE on a table's storage, waiting until
// it applies: on the table itself, ON CLUSTER on the local tables of a
// replicated cluster, and node by node in a sharded one.
func (s *Store) deleteRows(ctx context.Context, table, where string, params ...driver.NamedValue) error {
	ctx = ch.Context(ctx, ch.WithSettings(ch.Settings{"lightweight_deletes_sync": 2}))
	args := make([]any, len(params))
	for i, p := range params {
		args[i] = p
	}
	q := "DELETE FROM " + s.l.local(table) + s.l.onCluster() + " WHERE " + where
	run := func(conn driver.Conn) error {
		if err := conn.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("clickhouse: delete before: delete from %s: %w", table, err)
		}
		return nil
	}
	if !s.l.sharded {
		return run(s.conn)
	}
	return s.eachNode(ctx, func(_ string, conn driver.Conn) error { return run(conn) })
}
