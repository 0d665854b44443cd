package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
// end the rows of message_occurrences_by_time before the cut (and the
// metric points before it).
//
// TTLs (Config.RetentionDays) are the way to expire data continuously;
// DeleteBefore is for a one-off cut. Another weave-server writing to the
// same database keeps its cache of stored bodies: a body it believes
// stored and that was deleted as unreferenced is not written again by it
// until it restarts, so run DeleteBefore with one writer.
func (s *Store) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	d, err := s.deleteBefore(ctx, "", store.ClampNanos(t))
	return d.Spans, err
}

var _ store.Deleter = (*Store)(nil)

// Delete implements store.Deleter, in rounds of pruneTraces traces under
// the writer's lock as DeleteBefore, and frees the bodies no remaining
// span says before it returns.
func (s *Store) Delete(ctx context.Context, d store.Deletion) (out store.Deleted, err error) {
	if err := d.Check(); err != nil {
		return store.Deleted{}, fmt.Errorf("clickhouse: %w", err)
	}
	if !d.Before.IsZero() {
		return s.deleteBefore(ctx, d.ProjectID, store.ClampNanos(d.Before))
	}
	start := s.now().UTC()
	ts := &tombstones{}
	defer func() { err = errors.Join(err, s.purge(ctx, ts, true)) }()
	if len(d.TraceIDs) > 0 {
		ids := slices.Clone(d.TraceIDs)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		for len(ids) > 0 {
			n := min(len(ids), pruneTraces)
			res, err := s.deleteRound(ctx, map[string][]string{d.ProjectID: ids[:n]}, func(*stateRow) bool { return true }, nil, start, ts)
			out.Add(res)
			if err != nil {
				return out, err
			}
			ids = ids[n:]
		}
		return out, nil
	}
	convs := map[string]bool{}
	for _, c := range d.ConversationIDs {
		convs[c] = true
	}
	for {
		traces, err := s.convTraces(ctx, d.ProjectID, sortedKeys(convs))
		if err != nil || len(traces) == 0 {
			return out, err
		}
		res, err := s.deleteRound(ctx, map[string][]string{d.ProjectID: traces}, func(r *stateRow) bool { return convs[r.d.ConvKey] }, nil, start, ts)
		out.Add(res)
		if err != nil {
			return out, err
		}
		if res.Spans == 0 {
			return out, fmt.Errorf("clickhouse: delete: %d traces of the conversations still hold their spans after a round", len(traces))
		}
	}
}

// deleteBefore deletes the spans started before cut, in one project or
// ("") in every project.
//
// It leaves its tombstones (purge): at 1M spans, their lightweight DELETE
// on message_occurrences took about 40 s a round of pruneTraces traces,
// and at the end of a prune of the oldest tenth ran past the client's
// read timeout. Under a TTL they expire with the rows they shadow.
func (s *Store) deleteBefore(ctx context.Context, project string, cut int64) (store.Deleted, error) {
	start := s.now().UTC()
	var total store.Deleted
	if project == "" {
		if err := s.pruneMetricPoints(ctx, cut); err != nil {
			return total, err
		}
	}
	for {
		traces, err := s.tracesBefore(ctx, project, cut)
		if err != nil {
			return total, err
		}
		if len(traces) == 0 {
			// No span before the cut is left, so no occurrence either:
			// the search's time-sorted copies of them go too.
			where := "started_at < fromUnixTimestamp64Nano({cut:Int64}, 'UTC')"
			params := []driver.NamedValue{named("cut", cut)}
			if project != "" {
				where += " AND project_id = {project:String}"
				params = append(params, named("project", project))
			}
			return total, s.deleteRows(ctx, "message_occurrences_by_time", where, params...)
		}
		d, err := s.deleteRound(ctx, traces, func(r *stateRow) bool { return r.started < cut }, &cut, start, nil)
		total.Add(d)
		if err != nil {
			return total, err
		}
		if d.Spans == 0 {
			return total, fmt.Errorf("clickhouse: delete before %s: %d traces still hold spans before the cut after a round", fromNanos(cut), len(traces))
		}
	}
}

// tracesBefore lists up to pruneTraces traces (by project; of one project
// unless it is "") with stored spans started before cut: the sum of state
// signs of the rows before the cut, per span, is 1 for a stored span and 0
// for one that moved or went.
func (s *Store) tracesBefore(ctx context.Context, project string, cut int64) (map[string][]string, error) {
	where := "started_at < fromUnixTimestamp64Nano({cut:Int64}, 'UTC')"
	params := []driver.NamedValue{named("cut", cut)}
	if project != "" {
		where += " AND project_id = {project:String}"
		params = append(params, named("project", project))
	}
	q := "SELECT project_id, trace_id FROM (SELECT project_id, trace_id, span_id FROM " + s.l.table("span_state") +
		" WHERE " + where + " GROUP BY project_id, trace_id, span_id HAVING sum(sign) > 0)" +
		" GROUP BY project_id, trace_id ORDER BY project_id, trace_id LIMIT " + fmt.Sprint(pruneTraces)
	out := map[string][]string{}
	err := s.scanAll(ctx, "delete before: find traces", q, params, func(r driver.Rows) error {
		var project, trace string
		if err := r.Scan(&project, &trace); err != nil {
			return err
		}
		out[project] = append(out[project], trace)
		return nil
	})
	return out, err
}

// convTraces lists up to pruneTraces traces with spans in the
// conversations.
func (s *Store) convTraces(ctx context.Context, project string, convs []string) ([]string, error) {
	q := "SELECT DISTINCT trace_id FROM " + s.l.table("conv_traces") + " FINAL WHERE project_id = {project:String} AND conv_key IN {convs:Array(String)}" +
		" ORDER BY trace_id LIMIT " + fmt.Sprint(pruneTraces)
	var out []string
	err := s.scanAll(ctx, "delete: find traces", q, []driver.NamedValue{named("project", project), named("convs", convs)}, func(r driver.Rows) error {
		var t string
		if err := r.Scan(&t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

// deleteRound deletes the spans gone selects in the traces (by project):
// their states cancelled, the rest of each trace re-derived, their span
// rows removed (those started before *cut only, when cut is set: a span
// re-sent with a later start keeps its new row), the bodies nothing says
// any more freed, and the annotations on what no longer exists deleted.
func (s *Store) deleteRound(ctx context.Context, traces map[string][]string, gone func(*stateRow) bool, cut *int64, start time.Time,
	ts *tombstones) (store.Deleted, error) {
	if err := s.writeMu.LockCtx(ctx); err != nil {
		return store.Deleted{}, fmt.Errorf("clickhouse: delete: waiting for the writer: %w", err)
	}
	defer s.writeMu.Unlock()
	var res store.Deleted
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
		return res, err
	}
	wp := writePlan{}
	goneSpans := map[string][]string{}     // project → span ids
	bodies := map[string]map[string]bool{} // project → digests the deleted spans said
	orphans := map[string]*orphanRefs{}    // project → what annotations may name
	for _, project := range sortedKeys(traces) {
		o := &orphanRefs{convs: map[string]bool{}}
		orphans[project] = o
		for _, trace := range traces[project] {
			k := traceKey{project, trace}
			drop := map[string]bool{}
			for id, r := range old[k] {
				if !gone(r) {
					continue
				}
				drop[id] = true
				goneSpans[project] = append(goneSpans[project], id)
				o.spans = append(o.spans, [2]string{trace, id})
				o.convs[r.d.ConvKey] = true
				for _, mk := range r.msgKeys {
					if _, d, ok := splitKey(mk); ok {
						if bodies[project] == nil {
							bodies[project] = map[string]bool{}
						}
						bodies[project][d] = true
					}
				}
			}
			if len(drop) == 0 {
				continue
			}
			res.Spans += int64(len(drop))
			if len(drop) == len(old[k]) {
				res.Traces++
				o.traces = append(o.traces, trace)
			}
			s.planTrace(&wp, k, nil, old[k], drop)
		}
	}
	if res.Spans == 0 {
		return res, nil
	}
	// Span rows first: a deletion that fails after this point leaves the
	// states, which the next one finds and finishes.
	if err := s.applyDelete(ctx, traces, goneSpans, cut, wp.rows); err != nil {
		return res, err
	}
	if ts != nil {
		ts.add(wp.rows)
		if err := s.purge(ctx, ts, false); err != nil {
			return res, err
		}
	}
	if err := s.freeBodies(ctx, bodies, start); err != nil {
		return res, err
	}
	for _, project := range sortedKeys(orphans) {
		n, err := s.deleteOrphanAnnotations(ctx, project, orphans[project])
		res.Annotations += n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// applyDelete removes the span rows of a round (those started before
// *cut only, when cut is set) and inserts its plan, seen by readers all
// at once.
func (s *Store) applyDelete(ctx context.Context, traces, gone map[string][]string, cut *int64, rows rows) error {
	done, err := s.writing(ctx)
	if err != nil {
		return err
	}
	defer done()
	for _, project := range sortedKeys(gone) {
		where := "project_id = {project:String} AND trace_id IN {traces:Array(String)} AND span_id IN {spans:Array(String)}"
		params := []driver.NamedValue{named("project", project), named("traces", traces[project]), named("spans", gone[project])}
		if cut != nil {
			where += " AND started_at < fromUnixTimestamp64Nano({cut:Int64}, 'UTC')"
			params = append(params, named("cut", *cut))
		}
		if err := s.deleteRows(ctx, "spans", where, params...); err != nil {
			return err
		}
	}
	return s.insertPlan(ctx, rows)
}

// tombstones are the is_deleted rows a deletion's rounds wrote to
// message_occurrences and conv_traces, purged together (purge).
type tombstones struct{ occ, conv [][]any }

// purgeAt is how many tombstones a deletion gathers before it purges
// them: a DELETE of many more took minutes at 1M spans.
const purgeAt = 10_000

func (t *tombstones) add(r rows) {
	t.occ = appendDeleted(t.occ, occurrenceCols, r.occurrences)
	t.conv = appendDeleted(t.conv, convTraceCols, r.convTraces)
}

func appendDeleted(dst [][]any, cols []string, rows [][]any) [][]any {
	i := slices.Index(cols, "is_deleted")
	for _, r := range rows {
		if r[i] == uint8(1) {
			dst = append(dst, r)
		}
	}
	return dst
}

// purge deletes every row of the keys the gathered tombstones took out,
// the tombstone with the rows it shadows, once there are purgeAt of them
// or when all is true (the deletion's end): left behind, a tombstone
// stays for good without a TTL, and an occurrence's marks its
// conversation as touched for every search of the conversations page
// (conversations_search.go), which gives up its fast path past
// touchedMax such conversations. Until the DELETE applies the tombstone
// hides the rows, as before; rows of a key written since at a later
// version (by another server) stay.
func (s *Store) purge(ctx context.Context, t *tombstones, all bool) error {
	if len(t.occ)+len(t.conv) == 0 || !all && len(t.occ)+len(t.conv) < purgeAt {
		return nil
	}
	occ, conv := t.occ, t.conv
	*t = tombstones{}
	if err := s.purgeKeys(ctx, "message_occurrences", occurrenceCols, []string{"digest", "conv_key", "role", "trace_id"}, occ); err != nil {
		return err
	}
	if err := s.purgeByTime(ctx, occ); err != nil {
		return err
	}
	return s.purgeKeys(ctx, "conv_traces", convTraceCols, []string{"conv_key", "trace_id"}, conv)
}

// purgeByTime deletes the message_occurrences_by_time rows of the
// occurrences the tombstones took out (same body, conversation, role and
// start). Once the tombstones are gone their conversation no longer looks
// touched, and the conversations page's walk trusts the rows it finds
// there without checking them against message_occurrences: a row left
// behind made a deleted message match again.
func (s *Store) purgeByTime(ctx context.Context, tombstones [][]any) error {
	at := func(name string) int { return slices.Index(occurrenceCols, name) }
	type keys struct{ convs, keys []string }
	byProject := map[string]*keys{}
	for _, row := range tombstones {
		project := row[at("project_id")].(string)
		k := byProject[project]
		if k == nil {
			k = &keys{}
			byProject[project] = k
		}
		conv := row[at("conv_key")].(string)
		k.convs = append(k.convs, conv)
		k.keys = append(k.keys, strings.Join([]string{row[at("digest")].(string), conv, row[at("role")].(string),
			strconv.FormatInt(row[at("started_at")].(time.Time).UnixNano(), 10)}, "\x00"))
	}
	for _, project := range sortedKeys(byProject) {
		k := byProject[project]
		where := "project_id = {project:String} AND conv_key IN {convs:Array(String)} AND " +
			"concat(digest, '\\0', conv_key, '\\0', role, '\\0', toString(toUnixTimestamp64Nano(started_at))) IN {keys:Array(String)}"
		if err := s.deleteRows(ctx, "message_occurrences_by_time", where, named("project", project),
			named("convs", slices.Compact(slices.Sorted(slices.Values(k.convs)))), named("keys", k.keys)); err != nil {
			return err
		}
	}
	return nil
}

// purgeKeys deletes from table the rows of the keys (keyCols, the first
// of which follows project_id in the table's order) that the inserted
// rows (of cols) have a tombstone for, up to the latest tombstone's
// version.
func (s *Store) purgeKeys(ctx context.Context, table string, cols, keyCols []string, inserted [][]any) error {
	at := func(name string) int { return slices.Index(cols, name) }
	type keys struct {
		first []string // the first key column's values
		keys  []string // each tombstone's key, its columns joined by NULs
		v     uint64   // the latest tombstone's version
	}
	byProject := map[string]*keys{}
	for _, row := range inserted {
		if row[at("is_deleted")] != uint8(1) {
			continue
		}
		project := row[at("project_id")].(string)
		k := byProject[project]
		if k == nil {
			k = &keys{}
			byProject[project] = k
		}
		vals := make([]string, len(keyCols))
		for i, c := range keyCols {
			vals[i] = row[at(c)].(string)
		}
		k.first = append(k.first, vals[0])
		k.keys = append(k.keys, strings.Join(vals, "\x00"))
		k.v = max(k.v, row[at("version")].(uint64))
	}
	key := "concat(" + strings.Join(keyCols, ", '\\0', ") + ")"
	for _, project := range sortedKeys(byProject) {
		k := byProject[project]
		// The keys' set is a hash lookup; each key's own tombstone
		// version looked up (indexOf) was linear in the keys for every
		// row, and a prune's purge ran past the client's read timeout.
		where := "project_id = {project:String} AND " + keyCols[0] + " IN {first:Array(String)} AND " + key + " IN {keys:Array(String)}" +
			" AND version <= {v:UInt64}"
		err := s.deleteRows(ctx, table, where, named("project", project), named("first", slices.Compact(slices.Sorted(slices.Values(k.first)))),
			named("keys", k.keys), named("v", k.v))
		if err != nil {
			return err
		}
	}
	return nil
}

// orphanRefs are what a deletion may have left annotations on: deleted
// spans (trace, span), traces left without spans, and the conversations
// of deleted spans (those left without spans are orphans).
type orphanRefs struct {
	spans  [][2]string
	traces []string
	convs  map[string]bool
}

// deleteOrphanAnnotations deletes the annotations on what a deletion
// removed (store.Deleter).
func (s *Store) deleteOrphanAnnotations(ctx context.Context, project string, o *orphanRefs) (int64, error) {
	left := map[string]bool{}
	if len(o.convs) > 0 {
		q := "SELECT DISTINCT conv_key FROM " + s.l.table("conv_traces") + " FINAL WHERE project_id = {project:String} AND conv_key IN {convs:Array(String)}"
		err := s.scanAll(ctx, "delete: conversations left", q, []driver.NamedValue{named("project", project), named("convs", sortedKeys(o.convs))},
			func(r driver.Rows) error {
				var c string
				if err := r.Scan(&c); err != nil {
					return err
				}
				left[c] = true
				return nil
			})
		if err != nil {
			return 0, err
		}
	}
	refs := map[string]bool{}
	spanTraces := map[string]map[string]bool{} // span ref → traces whose span of that id went
	for _, st := range o.spans {
		ref := store.SpanRef(st[1])
		refs[ref] = true
		if spanTraces[ref] == nil {
			spanTraces[ref] = map[string]bool{"": true}
		}
		spanTraces[ref][st[0]] = true
	}
	for _, t := range o.traces {
		refs[store.TurnRef(t)] = true
	}
	for c := range o.convs {
		if !left[c] {
			refs[store.ConversationRef(c)] = true
		}
	}
	if err := s.annMu.LockCtx(ctx); err != nil {
		return 0, fmt.Errorf("clickhouse: delete: annotations: %w", err)
	}
	defer s.annMu.Unlock()
	var tomb [][]any
	q := "SELECT id, ref, trace_id, created_at FROM " + s.l.table("annotations") + " FINAL WHERE project_id = {project:String} AND ref IN {refs:Array(String)}"
	err := s.scanAll(ctx, "delete: annotations", q, []driver.NamedValue{named("project", project), named("refs", sortedKeys(refs))}, func(r driver.Rows) error {
		var id, ref, trace string
		var created time.Time
		if err := r.Scan(&id, &ref, &trace, &created); err != nil {
			return err
		}
		if ts, isSpan := spanTraces[ref]; isSpan && !ts[trace] {
			return nil // a span of that id in another trace
		}
		tomb = append(tomb, []any{project, id, "", "", "null", "", created.UTC(), s.now().UTC(), s.clock.next(), uint8(1),
			"", "", (*float64)(nil), (*float64)(nil), "", (*float64)(nil), ""})
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := s.insert(ctx, "annotations", annotationCols, tomb); err != nil {
		return 0, fmt.Errorf("clickhouse: delete annotations: %w", err)
	}
	return int64(len(tomb)), nil
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
