package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

var annotationCols = []string{"project_id", "id", "ref", "kind", "value", "author", "created_at", "updated_at", "version", "is_deleted",
	"name", "data_type", "min", "max", "trace_id", "score", "label"}

func annotationSQL(l layout, project, id string) built {
	var p params
	return built{
		sql: "SELECT toUnixTimestamp64Nano(created_at), version FROM " + l.table("annotations") + " FINAL WHERE project_id = " +
			p.add("String", project) + " AND id = " + p.add("String", id),
		params: p.list,
	}
}

// created reads the creation time of an annotation (found false if
// absent), and moves the version clock past its row's version.
func (s *Store) created(ctx context.Context, project, id string) (at int64, found bool, err error) {
	b := annotationSQL(s.l, project, id)
	err = s.scanAll(ctx, "annotation", b.sql, b.params, func(r driver.Rows) error {
		var v uint64
		if err := r.Scan(&at, &v); err != nil {
			return err
		}
		found = true
		s.clock.observe(v)
		return nil
	})
	return at, found, err
}

// UpsertAnnotation implements store.Annotations.
func (s *Store) UpsertAnnotation(ctx context.Context, a store.Annotation) (store.Annotation, error) {
	if err := checks.Project(a.ProjectID); err != nil {
		return store.Annotation{}, err
	}
	a, value, err := store.PrepareAnnotation(a)
	if err != nil {
		return store.Annotation{}, fmt.Errorf("clickhouse: %w", err)
	}
	if err := s.annMu.LockCtx(ctx); err != nil {
		return store.Annotation{}, fmt.Errorf("clickhouse: upsert annotation: waiting for another: %w", err)
	}
	defer s.annMu.Unlock()
	now := store.ClampNanos(s.now())
	created, found, err := s.created(ctx, a.ProjectID, a.ID)
	if err != nil {
		return store.Annotation{}, err
	}
	if !found {
		created = now
	}
	num, label := store.ScoreColumns(a)
	row := []any{a.ProjectID, a.ID, a.Ref, a.Kind, string(value), a.Author, fromNanos(created), fromNanos(now), s.clock.next(), uint8(0),
		a.Name, a.DataType, a.Min, a.Max, a.TraceID, num, label}
	if err := s.insert(ctx, "annotations", annotationCols, [][]any{row}); err != nil {
		return store.Annotation{}, fmt.Errorf("clickhouse: upsert annotation: %w", err)
	}
	out, err := store.StoredAnnotation(a, value, fromNanos(created), fromNanos(now))
	if err != nil {
		return store.Annotation{}, fmt.Errorf("clickhouse: upsert annotation: %w", err)
	}
	return out, nil
}

// DeleteAnnotation implements store.Annotations.
func (s *Store) DeleteAnnotation(ctx context.Context, projectID, id string) error {
	if err := checks.Project(projectID); err != nil {
		return err
	}
	if err := s.annMu.LockCtx(ctx); err != nil {
		return fmt.Errorf("clickhouse: delete annotation: waiting for another: %w", err)
	}
	defer s.annMu.Unlock()
	created, found, err := s.created(ctx, projectID, id)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("clickhouse: annotation %q: %w", id, store.ErrNotFound)
	}
	row := []any{projectID, id, "", "", "null", "", fromNanos(created), s.now().UTC(), s.clock.next(), uint8(1),
		"", "", (*float64)(nil), (*float64)(nil), "", (*float64)(nil), ""}
	if err := s.insert(ctx, "annotations", annotationCols, [][]any{row}); err != nil {
		return fmt.Errorf("clickhouse: delete annotation: %w", err)
	}
	return nil
}

func queryAnnotationsSQL(l layout, q store.AnnotationQuery, limit int) built {
	var p params
	conds := []string{"project_id = " + p.add("String", q.ProjectID)}
	if len(q.Refs) > 0 {
		conds = append(conds, "ref IN "+p.add("Array(String)", q.Refs))
	}
	if q.Kind != "" {
		conds = append(conds, "kind = "+p.add("String", q.Kind))
	}
	return built{
		sql: "SELECT id, ref, kind, value, author, created_at, updated_at, name, data_type, min, max, trace_id FROM " + l.table("annotations") +
			" FINAL WHERE " + and(conds) + " ORDER BY created_at DESC, id DESC LIMIT " + p.add("UInt64", uint64(limit)) +
			" OFFSET " + p.add("UInt64", uint64(q.Offset)),
		params: p.list,
	}
}

// QueryAnnotations implements store.Annotations.
func (s *Store) QueryAnnotations(ctx context.Context, q store.AnnotationQuery) ([]store.Annotation, error) {
	limit, err := checks.Page(q.ProjectID, q.Limit, q.Offset)
	if err != nil {
		return nil, err
	}
	var out []store.Annotation
	b := queryAnnotationsSQL(s.l, q, limit)
	err = s.scanAll(ctx, "query annotations", b.sql, b.params, func(r driver.Rows) error {
		a := store.Annotation{ProjectID: q.ProjectID}
		var value string
		if err := r.Scan(&a.ID, &a.Ref, &a.Kind, &value, &a.Author, &a.CreatedAt, &a.UpdatedAt,
			&a.Name, &a.DataType, &a.Min, &a.Max, &a.TraceID); err != nil {
			return err
		}
		a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
		if err := decodeJSON(value, &a.Value); err != nil {
			return fmt.Errorf("annotation %s value: %w", a.ID, err)
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

func scoresSQL(l layout, project string) built {
	var p params
	return built{
		sql: "SELECT ref, name, data_type, score, label, trace_id FROM " + l.table("annotations") +
			" FINAL WHERE project_id = " + p.add("String", project) + " AND kind = 'score'",
		params: p.list,
	}
}

func scoredSpansSQL(l layout, project string, traces []string) built {
	var p params
	return built{
		sql: "SELECT trace_id, span_id, conv_key, eff_agent FROM " + l.table("span_state") + " FINAL WHERE project_id = " +
			p.add("String", project) + " AND trace_id IN " + p.add("Array(String)", traces),
		params: p.list,
	}
}

// scoredItems reads the project's scores and what each counts for (see
// store.ScoredItem). nil without scores.
func (s *Store) scoredItems(ctx context.Context, project string) ([]store.ScoredItem, error) {
	var rows []store.ScoreRow
	b := scoresSQL(s.l, project)
	err := s.scanAll(ctx, "scores", b.sql, b.params, func(r driver.Rows) error {
		var x store.ScoreRow
		if err := r.Scan(&x.Ref, &x.Name, &x.DataType, &x.Num, &x.Label, &x.TraceID); err != nil {
			return err
		}
		rows = append(rows, x)
		return nil
	})
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	spans := map[string]map[string]store.SpanPlace{}
	if traces := store.ScoredTraces(rows); len(traces) > 0 {
		b = scoredSpansSQL(s.l, project, traces)
		err = s.scanAll(ctx, "scores", b.sql, b.params, func(r driver.Rows) error {
			var trace, span string
			var p store.SpanPlace
			if err := r.Scan(&trace, &span, &p.Conversation, &p.Agent); err != nil {
				return err
			}
			if spans[trace] == nil {
				spans[trace] = map[string]store.SpanPlace{}
			}
			spans[trace][span] = p
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return store.ResolveScores(rows, spans), nil
}

var pendingCols = []string{"project_id", "trace_id", "span_id", "seq", "events", "created_at", "version", "is_deleted"}

// WritePendingEvents implements store.Writer. Parked events older than
// Config.PendingEventsMaxAge are no longer returned, and the table's TTL
// drops them.
func (s *Store) WritePendingEvents(ctx context.Context, events []store.KeyedEvents) error {
	var rows [][]any
	now := s.now().UTC()
	for i, e := range events {
		if e.Key.ProjectID == "" || e.Key.TraceID == "" || e.Key.SpanID == "" {
			return invalid("pending events %d: incomplete span key %+v", i, e.Key)
		}
		if len(e.Events) == 0 {
			continue
		}
		b, err := json.Marshal(e.Events)
		if err != nil {
			return invalid("pending events %d: %v", i, err)
		}
		v := s.clock.next()
		rows = append(rows, []any{e.Key.ProjectID, e.Key.TraceID, e.Key.SpanID, v, string(b), now, v, uint8(0)})
	}
	if err := s.insert(ctx, "pending_events", pendingCols, rows); err != nil {
		return fmt.Errorf("clickhouse: write pending events: %w", err)
	}
	return nil
}

func pendingSQL(l layout, project string, traces, spans []string, since time.Time) built {
	var p params
	return built{
		sql: "SELECT trace_id, span_id, seq, events FROM " + l.table("pending_events") + " FINAL WHERE project_id = " +
			p.add("String", project) + " AND trace_id IN " + p.add("Array(String)", traces) + " AND span_id IN " +
			p.add("Array(String)", spans) + " AND created_at >= fromUnixTimestamp64Milli(" + p.add("Int64", since.UnixMilli()) +
			", 'UTC') ORDER BY seq",
		params: p.list,
	}
}

// TakePendingEvents implements store.Writer. Concurrent calls share
// lookups: each is a query of its own costing ClickHouse a few ms of CPU
// whatever it finds (README, Ingest throughput), and ingest asks twice
// per chunk of spans. A call waits while another's lookup runs, then the
// next lookup serves every call that queued meanwhile, each getting the
// events of its own keys (a key two calls ask for goes to the one that
// queued first, as if they had run in turn).
func (s *Store) TakePendingEvents(ctx context.Context, keys []store.SpanKey) (map[store.SpanKey][]model.Event, error) {
	var valid []store.SpanKey
	for _, k := range keys {
		if k.ProjectID != "" && k.TraceID != "" && k.SpanID != "" {
			valid = append(valid, k)
		}
	}
	if len(valid) == 0 {
		return map[store.SpanKey][]model.Event{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: take pending events: %w", err)
	}
	t := &pendingTake{keys: valid}
	s.pendQMu.Lock()
	s.pendQ = append(s.pendQ, t)
	s.pendQMu.Unlock()
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	if t.done { // served by the lookup that ran while this call waited
		return t.out, t.err
	}
	s.pendQMu.Lock()
	group := s.pendQ
	s.pendQ = nil
	s.pendQMu.Unlock()
	var all []store.SpanKey
	for _, g := range group {
		all = append(all, g.keys...)
	}
	// The lookup serves other calls too: this call's cancellation must
	// not fail theirs.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	taken, err := s.takePending(lctx, all)
	cancel()
	for _, g := range group {
		g.out, g.err, g.done = map[store.SpanKey][]model.Event{}, err, true
		if err != nil {
			continue
		}
		for _, k := range g.keys {
			if evs, ok := taken[k]; ok {
				g.out[k] = evs
				delete(taken, k)
			}
		}
	}
	return t.out, t.err
}

// pendingTake is one TakePendingEvents call; out, err and done are set
// under Store.pendMu by the call whose lookup served it.
type pendingTake struct {
	keys []store.SpanKey
	out  map[store.SpanKey][]model.Event
	err  error
	done bool
}

// takePending looks up, returns and removes the parked events of keys
// (all valid), under Store.pendMu.
func (s *Store) takePending(ctx context.Context, keys []store.SpanKey) (map[store.SpanKey][]model.Event, error) {
	out := make(map[store.SpanKey][]model.Event)
	byProject := map[string][]store.SpanKey{}
	for _, k := range keys {
		byProject[k.ProjectID] = append(byProject[k.ProjectID], k)
	}
	since := s.now().Add(-s.cfg.PendingEventsMaxAge)
	var tomb [][]any
	for _, project := range sortedKeys(byProject) {
		want := map[store.SpanKey]bool{}
		traces, spans := map[string]bool{}, map[string]bool{}
		for _, k := range byProject[project] {
			want[k], traces[k.TraceID], spans[k.SpanID] = true, true, true
		}
		b := pendingSQL(s.l, project, sortedKeys(traces), sortedKeys(spans), since)
		err := s.scanAll(ctx, "take pending events", b.sql, b.params, func(r driver.Rows) error {
			var k store.SpanKey
			var seq uint64
			var events string
			if err := r.Scan(&k.TraceID, &k.SpanID, &seq, &events); err != nil {
				return err
			}
			k.ProjectID = project
			if !want[k] {
				return nil
			}
			var evs []model.Event
			if err := decodeJSON(events, &evs); err != nil {
				return fmt.Errorf("events of %s/%s: %w", k.TraceID, k.SpanID, err)
			}
			for i := range evs {
				evs[i].Time = evs[i].Time.UTC()
			}
			out[k] = append(out[k], evs...)
			s.clock.observe(seq)
			tomb = append(tomb, []any{project, k.TraceID, k.SpanID, seq, "", s.now().UTC(), s.clock.next(), uint8(1)})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if err := s.insert(ctx, "pending_events", pendingCols, tomb); err != nil {
		return nil, fmt.Errorf("clickhouse: take pending events: %w", err)
	}
	return out, nil
}
