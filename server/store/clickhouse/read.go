package clickhouse

import (
	"context"
	"sort"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// querySpansSQL builds the page query and the count query of QuerySpans.
func querySpansSQL(l layout, q store.SpanQuery, limit int) (page, count built, err error) {
	var p params
	conds := []string{"project_id = " + p.add("String", q.ProjectID)}
	if err := checkRange(q.Range); err != nil {
		return page, count, err
	}
	conds = append(conds, rangeConds("started_at", q.Range, &p)...)
	for _, f := range q.Filters {
		c, err := filterSQL(f, &p)
		if err != nil {
			return page, count, err
		}
		conds = append(conds, c)
	}
	var order []string
	for _, so := range q.Sort {
		dir, err := direction(so.Direction)
		if err != nil {
			return page, count, err
		}
		expr, ok := sortExpr(so.Field, dir)
		if !ok {
			return page, count, invalid("cannot sort on %q", so.Field)
		}
		order = append(order, expr)
	}
	if len(order) == 0 {
		order = []string{"started_at DESC"}
	}
	order = append(order, "span_id ASC", "trace_id ASC")
	where := and(conds)
	count = built{sql: "SELECT toInt64(count()) FROM " + l.table("spans") + " FINAL WHERE " + where, params: p.list}
	pp := p
	pp.list = append([]driver.NamedValue(nil), p.list...)
	lim := pp.add("UInt64", uint64(limit))
	off := pp.add("UInt64", uint64(q.Offset))
	page = built{
		sql: "SELECT " + selectList(q.IncludeDetails) + " FROM " + l.table("spans") + " FINAL WHERE " + where +
			" ORDER BY " + strings.Join(order, ", ") + " LIMIT " + lim + " OFFSET " + off,
		params: pp.list,
	}
	return page, count, nil
}

// QuerySpans implements store.Reader.
func (s *Store) QuerySpans(ctx context.Context, q store.SpanQuery) ([]model.Span, int64, error) {
	if err := needProject(q.ProjectID); err != nil {
		return nil, 0, err
	}
	limit, err := clampLimit(q.Limit)
	if err != nil {
		return nil, 0, err
	}
	if err := checkOffset(q.Offset); err != nil {
		return nil, 0, err
	}
	page, count, err := querySpansSQL(s.l, q, limit)
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.scanAll(ctx, "query spans", count.sql, count.params, func(r driver.Rows) error { return r.Scan(&total) }); err != nil {
		return nil, 0, err
	}
	if int64(q.Offset) >= total {
		return nil, total, nil
	}
	spans, err := s.readSpans(ctx, "query spans", page, q.IncludeDetails)
	return spans, total, err
}

// readSpans runs a query selecting selectList(details).
func (s *Store) readSpans(ctx context.Context, what string, b built, details bool) ([]model.Span, error) {
	var out []model.Span
	err := s.scanAll(ctx, what, b.sql, b.params, func(r driver.Rows) error {
		var x spanScan
		if err := r.Scan(x.dest(details)...); err != nil {
			return err
		}
		sp, err := x.span(details)
		if err != nil {
			return err
		}
		out = append(out, sp)
		return nil
	})
	return out, err
}

// spanRef is where a span's current copy lives in the spans table.
type spanRef struct {
	trace, span string
	started     int64
}

// refsSQL finds the current state rows (and so the started_at) of the
// given spans, or of whole traces when spans is nil.
func refsSQL(l layout, project string, traces, spans []string) built {
	var p params
	conds := []string{"project_id = " + p.add("String", project), "trace_id IN " + p.add("Array(String)", traces)}
	if spans != nil {
		conds = append(conds, "span_id IN "+p.add("Array(String)", spans))
	}
	return built{
		sql: "SELECT trace_id, span_id, toUnixTimestamp64Nano(started_at) FROM " + l.table("span_state") +
			" FINAL WHERE " + and(conds),
		params: p.list,
	}
}

// spansByRefSQL reads the spans of refs (all in one project) from the
// spans table, bounded by their start times so that only the partitions
// and granules holding them are read.
func spansByRefSQL(l layout, project string, refs []spanRef, details bool, order string) built {
	var p params
	lo, hi := refs[0].started, refs[0].started
	traceSet, spanSet := map[string]bool{}, map[string]bool{}
	for _, r := range refs {
		lo, hi = min(lo, r.started), max(hi, r.started)
		traceSet[r.trace], spanSet[r.span] = true, true
	}
	conds := []string{
		"project_id = " + p.add("String", project),
		"started_at >= fromUnixTimestamp64Nano(" + p.add("Int64", lo) + ", 'UTC')",
		"started_at <= fromUnixTimestamp64Nano(" + p.add("Int64", hi) + ", 'UTC')",
		"trace_id IN " + p.add("Array(String)", sortedKeys(traceSet)),
		"span_id IN " + p.add("Array(String)", sortedKeys(spanSet)),
	}
	sql := "SELECT " + selectList(details) + " FROM " + l.table("spans") + " FINAL WHERE " + and(conds)
	if order != "" {
		sql += " ORDER BY " + order
	}
	return built{sql: sql, params: p.list}
}

// refs runs a refsSQL query.
func (s *Store) refs(ctx context.Context, what string, b built) ([]spanRef, error) {
	var out []spanRef
	err := s.scanAll(ctx, what, b.sql, b.params, func(r driver.Rows) error {
		var x spanRef
		if err := r.Scan(&x.trace, &x.span, &x.started); err != nil {
			return err
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

// spansOf reads the spans of refs, keeping only the exact (trace, span)
// pairs asked for.
func (s *Store) spansOf(ctx context.Context, what, project string, refs []spanRef, details bool, order string) ([]model.Span, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	want := make(map[[2]string]bool, len(refs))
	for _, r := range refs {
		want[[2]string{r.trace, r.span}] = true
	}
	spans, err := s.readSpans(ctx, what, spansByRefSQL(s.l, project, refs, details, order), details)
	if err != nil {
		return nil, err
	}
	out := spans[:0]
	for _, sp := range spans {
		if want[[2]string{sp.TraceID, sp.SpanID}] {
			out = append(out, sp)
		}
	}
	return out, nil
}

// GetSpans implements store.Writer.
func (s *Store) GetSpans(ctx context.Context, keys []store.SpanKey) ([]model.Span, error) {
	byProject := map[string][]store.SpanKey{}
	for _, k := range keys {
		if k.ProjectID == "" || k.TraceID == "" || k.SpanID == "" {
			continue
		}
		byProject[k.ProjectID] = append(byProject[k.ProjectID], k)
	}
	var out []model.Span
	for _, project := range sortedKeys(byProject) {
		ks := byProject[project]
		traceSet, spanSet := map[string]bool{}, map[string]bool{}
		want := map[[2]string]bool{}
		for _, k := range ks {
			traceSet[k.TraceID], spanSet[k.SpanID] = true, true
			want[[2]string{k.TraceID, k.SpanID}] = true
		}
		refs, err := s.refs(ctx, "get spans", refsSQL(s.l, project, sortedKeys(traceSet), sortedKeys(spanSet)))
		if err != nil {
			return nil, err
		}
		exact := refs[:0]
		for _, r := range refs {
			if want[[2]string{r.trace, r.span}] {
				exact = append(exact, r)
			}
		}
		spans, err := s.spansOf(ctx, "get spans", project, exact, true, "")
		if err != nil {
			return nil, err
		}
		out = append(out, spans...)
	}
	return out, nil
}

// TraceSpans implements store.Reader.
func (s *Store) TraceSpans(ctx context.Context, projectID, traceID string) ([]model.Span, error) {
	if err := needProject(projectID); err != nil {
		return nil, err
	}
	refs, err := s.refs(ctx, "trace spans", refsSQL(s.l, projectID, []string{traceID}, nil))
	if err != nil {
		return nil, err
	}
	return s.spansOf(ctx, "trace spans", projectID, refs, true, "started_at ASC, span_id ASC")
}

// activeSQL lists the running spans of a project, newest first, from the
// narrow state table.
func activeSQL(l layout, project string, r store.TimeRange, limit int) built {
	var p params
	conds := append([]string{"project_id = " + p.add("String", project), "ended_at IS NULL"}, rangeConds("started_at", r, &p)...)
	return built{
		sql: "SELECT trace_id, span_id, toUnixTimestamp64Nano(started_at) FROM " + l.table("span_state") +
			" FINAL WHERE " + and(conds) + " ORDER BY started_at DESC, span_id ASC, trace_id ASC LIMIT " + p.add("UInt64", uint64(limit)),
		params: p.list,
	}
}

// ActiveSpans implements store.Reader.
func (s *Store) ActiveSpans(ctx context.Context, projectID string, r store.TimeRange, limit int) ([]model.Span, error) {
	if err := needProject(projectID); err != nil {
		return nil, err
	}
	if err := checkRange(r); err != nil {
		return nil, err
	}
	n, err := clampLimit(limit)
	if err != nil {
		return nil, err
	}
	refs, err := s.refs(ctx, "active spans", activeSQL(s.l, projectID, r, n))
	if err != nil {
		return nil, err
	}
	spans, err := s.spansOf(ctx, "active spans", projectID, refs, false, "")
	if err != nil {
		return nil, err
	}
	// The state said running; keep what the spans table agrees on.
	out := spans[:0]
	for _, sp := range spans {
		if sp.IsRunning() {
			out = append(out, sp)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.StartedAt.Equal(b.StartedAt) {
			return a.StartedAt.After(b.StartedAt)
		}
		if a.SpanID != b.SpanID {
			return a.SpanID < b.SpanID
		}
		return a.TraceID < b.TraceID
	})
	return out, nil
}

// conversationBoundsSQL finds a conversation's traces and time bounds
// (first and last activity) in conv_traces.
func conversationBoundsSQL(l layout, project, conv string) built {
	var p params
	return built{
		sql: "SELECT trace_id, first_ns, last_ns FROM " + l.table("conv_traces") +
			" FINAL WHERE project_id = " + p.add("String", project) + " AND conv_key = " + p.add("String", conv),
		params: p.list,
	}
}

// conversationRefsSQL lists the spans of one conversation within its
// traces, bounded in time.
func conversationRefsSQL(l layout, project, conv string, traces []string, lo, hi int64) built {
	var p params
	conds := []string{
		"project_id = " + p.add("String", project),
		"trace_id IN " + p.add("Array(String)", traces),
		"conv_key = " + p.add("String", conv),
		"started_at >= fromUnixTimestamp64Nano(" + p.add("Int64", lo) + ", 'UTC')",
		"started_at <= fromUnixTimestamp64Nano(" + p.add("Int64", hi) + ", 'UTC')",
	}
	return built{
		sql: "SELECT trace_id, span_id, toUnixTimestamp64Nano(started_at) FROM " + l.table("span_state") +
			" FINAL WHERE " + and(conds),
		params: p.list,
	}
}

// ConversationSpans implements store.Reader. Every query is bounded by the
// conversation's first and last activity (intersected with r), as kept in
// conv_traces.
func (s *Store) ConversationSpans(ctx context.Context, projectID, conversationID string, r store.TimeRange) ([]model.Span, error) {
	if err := needProject(projectID); err != nil {
		return nil, err
	}
	if err := checkRange(r); err != nil {
		return nil, err
	}
	var traces []string
	lo, hi := int64(0), int64(0)
	b := conversationBoundsSQL(s.l, projectID, conversationID)
	err := s.scanAll(ctx, "conversation spans", b.sql, b.params, func(rows driver.Rows) error {
		var t string
		var first, last int64
		if err := rows.Scan(&t, &first, &last); err != nil {
			return err
		}
		if len(traces) == 0 {
			lo, hi = first, last
		}
		traces = append(traces, t)
		lo, hi = min(lo, first), max(hi, last)
		return nil
	})
	if err != nil || len(traces) == 0 {
		return nil, err
	}
	if !r.From.IsZero() {
		lo = max(lo, store.ClampNanos(r.From))
	}
	if !r.To.IsZero() {
		// started_at < To: the last nanosecond before it.
		hi = min(hi, store.ClampNanos(r.To)-1)
	}
	if lo > hi {
		return nil, nil
	}
	sort.Strings(traces)
	refs, err := s.refs(ctx, "conversation spans", conversationRefsSQL(s.l, projectID, conversationID, traces, lo, hi))
	if err != nil {
		return nil, err
	}
	return s.spansOf(ctx, "conversation spans", projectID, refs, true, "started_at ASC, span_id ASC, trace_id ASC")
}

// Projects implements store.Reader.
func (s *Store) Projects(ctx context.Context) ([]string, error) {
	var out []string
	q := "SELECT project_id FROM " + s.l.table("span_state") + " GROUP BY project_id HAVING sum(sign) > 0 ORDER BY project_id"
	err := s.scanAll(ctx, "projects", q, nil, func(r driver.Rows) error {
		var p string
		if err := r.Scan(&p); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// Stats implements store.Reader: the number of stored spans (the sum of
// span_state's signs, exact without a FINAL scan) and the bytes on disk of
// weave's tables.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	var st store.Stats
	q := "SELECT toInt64(sum(sign)) FROM " + s.l.table("span_state")
	if err := s.scanAll(ctx, "stats", q, nil, func(r driver.Rows) error { return r.Scan(&st.Spans) }); err != nil {
		return st, err
	}
	parts := "system.parts"
	if s.l.isCluster() {
		parts = "cluster('" + s.l.cluster + "', system.parts)"
	}
	q = "SELECT toInt64(sum(bytes_on_disk)) FROM " + parts + " WHERE database = {db:String} AND active"
	if err := s.scanAll(ctx, "stats", q, []driver.NamedValue{named("db", s.l.db)}, func(r driver.Rows) error { return r.Scan(&st.Bytes) }); err != nil {
		// Sizes are a nicety: a user without access to system.parts still
		// gets the span count.
		s.log.Debug("clickhouse stats: no table sizes", "err", err)
		st.Bytes = 0
	}
	return st, nil
}
