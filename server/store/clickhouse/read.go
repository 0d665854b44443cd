package clickhouse

import (
	"cmp"
	"context"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
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
	defer s.reading(ctx)()
	limit, err := checks.Page(q.ProjectID, q.Limit, q.Offset)
	if err != nil {
		return nil, 0, err
	}
	page, count, err := querySpansSQL(s.l, q, limit)
	if err != nil {
		return nil, 0, err
	}
	total, err := s.countSpans(ctx, q, count)
	if err != nil {
		return nil, 0, err
	}
	if latestOrder(q) {
		return s.latestSpans(ctx, q, limit, total)
	}
	if int64(q.Offset) >= total {
		return nil, total, nil
	}
	if len(q.Filters) > 0 && rolledUp(q.Filters) && newestFirst(q.Sort, "started_at") {
		spans, ok, err := s.boundedPage(ctx, q, limit, total)
		if err != nil || ok {
			return spans, total, err
		}
	}
	spans, err := s.readSpans(ctx, "query spans", page, q.IncludeDetails)
	return spans, total, err
}

// boundedPage reads a newest-first page of total spans whose filters
// span_counts holds without sorting every match: the newest whole days
// whose counts hold the page bound the read by start (no span before
// them can be on it), so it reads those days of spans, not the project.
// Not ok when the days do not hold the page, or the page comes back short
// (a count ahead of the spans: a rollup row counted twice): the caller
// reads it unbounded.
func (s *Store) boundedPage(ctx context.Context, q store.SpanQuery, limit int, total int64) ([]model.Span, bool, error) {
	bounded, ok, err := s.newestDays(ctx, q, int64(q.Offset+limit))
	if err != nil || !ok {
		return nil, false, err
	}
	page, _, err := querySpansSQL(s.l, bounded, limit)
	if err != nil {
		return nil, false, err
	}
	spans, err := s.readSpans(ctx, "query spans", page, q.IncludeDetails)
	if err != nil || int64(len(spans)) != min(int64(limit), total-int64(q.Offset)) {
		return nil, false, err
	}
	return spans, true, nil
}

// newestDays returns q bounded to start on the newest whole day from
// which span_counts counts at least need of its spans (q's filters
// rolledUp): no span before that day can be among the need newest. Not
// ok when the days do not hold need spans. The counts may run ahead of
// the spans (a rollup row counted twice): a caller that reads fewer than
// need reads again unbounded.
func (s *Store) newestDays(ctx context.Context, q store.SpanQuery, need int64) (store.SpanQuery, bool, error) {
	d, err := spanDaysSQL(s.l, q, s.liveFrom())
	if err != nil {
		return q, false, err
	}
	seen, from := int64(0), int64(math.MinInt64)
	err = s.scanAll(ctx, "query spans", d.sql, d.params, func(r driver.Rows) error {
		var day int32
		var n int64
		if err := r.Scan(&day, &n); err != nil || seen >= need {
			return err
		}
		if seen += n; seen >= need {
			from = int64(day) * dayNanos
		}
		return nil
	})
	if err != nil || from == math.MinInt64 {
		return q, false, err
	}
	bounded := q
	if t := time.Unix(0, from).UTC(); t.After(q.Range.From) {
		bounded.Range.From = t
	}
	return bounded, true, nil
}

// latestOrder reports whether q is the spans page as it opens: no
// filters, newest first.
func latestOrder(q store.SpanQuery) bool {
	return len(q.Filters) == 0 && newestFirst(q.Sort, "started_at")
}

// newestFirst reports whether sort is a page's default order: none, or
// field descending alone.
func newestFirst(sort []store.Sort, field string) bool {
	switch len(sort) {
	case 0:
		return true
	case 1:
		dir, err := direction(sort[0].Direction)
		return err == nil && sort[0].Field == field && dir == "DESC"
	}
	return false
}

// countedFields are the span fields the span_counts rollup keeps: a
// query whose filters are all on them is counted from it.
var countedFields = map[string]bool{"operation_name": true, "status_code": true}

// rolledUp reports whether spanCountSQL can count the spans filters
// select (none, or every one on countedFields).
func rolledUp(filters []store.Filter) bool {
	for _, f := range filters {
		if !countedFields[f.Field] {
			return false
		}
	}
	return true
}

// rollupConds are the conditions on project and filters that both
// span_counts and spans take (the filters rolledUp).
func rollupConds(p *params, q store.SpanQuery) (project string, filters []string, err error) {
	project = "project_id = " + p.add("String", q.ProjectID)
	for _, f := range q.Filters {
		c, err := filterSQL(f, p)
		if err != nil {
			return "", nil, err
		}
		filters = append(filters, c)
	}
	return project, filters, nil
}

// wholeDays are the days [dlo, dhi) wholly inside [lo, hi) and after
// live: the first starting at or after both, the last ending at or before
// hi; nil where the range is open.
func wholeDays(lo, hi, live int64) (dlo, dhi *int64) {
	if from := max(lo, live); from != math.MinInt64 {
		d := -store.FloorDiv(-from, dayNanos)
		dlo = &d
	}
	if hi != math.MaxInt64 {
		d := store.FloorDiv(hi, dayNanos)
		dhi = &d
	}
	return dlo, dhi
}

// dayConds are the conditions on span_counts' day of the days [dlo, dhi).
func dayConds(p *params, dlo, dhi *int64) []string {
	var out []string
	if dlo != nil {
		out = append(out, "day >= "+p.add("Int32", int32(*dlo)))
	}
	if dhi != nil {
		out = append(out, "day < "+p.add("Int32", int32(*dhi)))
	}
	return out
}

// spanDaysSQL reads the span counts of q's whole days (its filters
// rolledUp), newest first.
func spanDaysSQL(l layout, q store.SpanQuery, live int64) (built, error) {
	var p params
	project, filters, err := rollupConds(&p, q)
	if err != nil {
		return built{}, err
	}
	lo, hi := store.NanosRange(q.Range)
	dlo, dhi := wholeDays(lo, hi, live)
	conds := append(append([]string{project}, filters...), dayConds(&p, dlo, dhi)...)
	return built{sql: "SELECT day, toInt64(sum(span_count)) AS n FROM " + l.table("span_counts") + " WHERE " + and(conds) +
		" GROUP BY day HAVING n != 0 ORDER BY day DESC", params: p.list}, nil
}

// spanCountSQL counts the spans of q (its filters rolledUp) without
// reading each: the whole days of q's range from span_counts, the partial
// days at its ends from spans FINAL (by start: the primary key's range);
// not ok when the range holds no whole day (count it all from spans).
// live is the start of the first day no row of which has expired (the
// store's retention: the day before it loses spans one by one while its
// rollup row stays, so it is counted from spans too); MinInt64 without
// retention.
func spanCountSQL(l layout, q store.SpanQuery, live int64) (b built, ok bool, err error) {
	var p params
	project, filters, err := rollupConds(&p, q)
	if err != nil {
		return built{}, false, err
	}
	lo, hi := store.NanosRange(q.Range)
	dlo, dhi := wholeDays(lo, hi, live)
	nanos := func(n int64) string { return "fromUnixTimestamp64Nano(" + p.add("Int64", n) + ", 'UTC')" }
	exact := func(edges ...string) string {
		return "(SELECT toInt64(count()) FROM " + l.table("spans") + " FINAL WHERE " +
			and(append(append([]string{project}, filters...), "("+strings.Join(edges, " OR ")+")")) + ")"
	}
	if dlo != nil && dhi != nil && *dlo >= *dhi {
		return built{}, false, nil // no whole day: count the range
	}
	days := append(append([]string{project}, filters...), dayConds(&p, dlo, dhi)...)
	var edges []string
	if dlo != nil {
		edge := "started_at < " + nanos(*dlo*dayNanos)
		if lo != math.MinInt64 {
			edge = "started_at >= " + nanos(lo) + " AND " + edge
		}
		edges = append(edges, "("+edge+")")
	}
	if dhi != nil {
		edges = append(edges, "(started_at >= "+nanos(*dhi*dayNanos)+" AND started_at < "+nanos(hi)+")")
	}
	sql := "SELECT (SELECT toInt64(sum(span_count)) FROM " + l.table("span_counts") + " WHERE " + and(days) + ")"
	if len(edges) > 0 {
		sql += " + " + exact(edges...)
	}
	return built{sql: sql, params: p.list}, true, nil
}

// liveFrom is spanCountSQL's live: the start of the day after the one
// the retention's cutoff falls in (the TTL the tables carry: readRetention).
func (s *Store) liveFrom() int64 {
	days := s.retention.Load()
	if days <= 0 {
		return math.MinInt64
	}
	cutoff := s.now().Add(-time.Duration(days) * 24 * time.Hour).UnixNano()
	return (store.FloorDiv(cutoff, dayNanos) + 1) * dayNanos
}

// countSpans is the total of a spans query: spanCountSQL's where the
// rollup holds the filters' fields, else count (spans FINAL).
func (s *Store) countSpans(ctx context.Context, q store.SpanQuery, count built) (int64, error) {
	if rolledUp(q.Filters) {
		b, ok, err := spanCountSQL(s.l, q, s.liveFrom())
		if err != nil {
			return 0, err
		}
		if ok {
			count = b
		}
	}
	var total int64
	err := s.scanAll(ctx, "query spans", count.sql, count.params, func(r driver.Rows) error { return r.Scan(&total) })
	return total, err
}

// latestSQL reads the newest n rows of spans (every version, tombstones
// included). The table is sorted by start: ClickHouse reads it backwards
// from the newest part and stops there.
func latestSQL(l layout, project string, r store.TimeRange, details bool, n int) built {
	var p params
	conds := append([]string{"project_id = " + p.add("String", project)}, rangeConds("started_at", r, &p)...)
	return built{
		sql: "SELECT " + selectList(details) + ", version, is_deleted FROM " + l.table("spans") + " WHERE " + and(conds) +
			" ORDER BY started_at DESC LIMIT " + p.add("UInt64", uint64(n)),
		params: p.list,
	}
}

// latestSlack is how many rows past the page latestSpans reads at first
// (old versions and tombstones take room).
var latestSlack = 16

// latestSpans answers the default spans page (of total spans: countSpans)
// without FINAL: the page from the newest rows of spans, collapsed here
// as ReplacingMergeTree would (per sort key the highest version, dropped
// if it is a tombstone), reading further back until the page is full.
// Every row of a span has the span's start (the sort key's), so the spans
// read are read whole, except maybe those at the start of the oldest row
// read, which are left out unless every row was read. (WITH TIES would
// read them whole, but stops ClickHouse from reading in order.)
//
// The newest days that hold the page (span_counts, newestDays) bound the
// first read by start, so ClickHouse opens only the parts and granules of
// those days (at 10M spans the unbounded read took 66,817 rows for a page
// of 141); a bounded read that comes back short is read again unbounded.
func (s *Store) latestSpans(ctx context.Context, q store.SpanQuery, limit int, total int64) ([]model.Span, int64, error) {
	if int64(q.Offset) >= total {
		return nil, total, nil
	}
	need := q.Offset + limit
	bounded, ok, err := s.newestDays(ctx, q, int64(need))
	if err != nil {
		return nil, 0, err
	}
	if ok {
		live, err := s.latestLive(ctx, bounded, need)
		if err != nil || len(live) >= need {
			return spansPage(live, q.Offset, need), total, err
		}
	}
	live, err := s.latestLive(ctx, q, need)
	return spansPage(live, q.Offset, need), total, err
}

// spansPage is live[offset:need], or nothing when offset is past it.
func spansPage(live []model.Span, offset, need int) []model.Span {
	if offset >= len(live) {
		return nil
	}
	return live[offset:min(need, len(live))]
}

// latestLive reads the newest rows of spans in q's range until need live
// spans are whole, or the range is read, and returns them newest first.
func (s *Store) latestLive(ctx context.Context, q store.SpanQuery, need int) ([]model.Span, error) {
	for n := need + need/4 + latestSlack; ; n *= 4 {
		type versioned struct {
			span    model.Span
			version uint64
			deleted uint8
		}
		type key struct {
			started     int64
			span, trace string
		}
		byKey := map[key]*versioned{}
		rows, oldest := 0, int64(0)
		b := latestSQL(s.l, q.ProjectID, q.Range, q.IncludeDetails, n)
		err := s.scanAll(ctx, "query spans", b.sql, b.params, func(r driver.Rows) error {
			var x spanScan
			var v versioned
			if err := r.Scan(append(x.dest(q.IncludeDetails), &v.version, &v.deleted)...); err != nil {
				return err
			}
			rows++
			oldest = x.s.StartedAt.UnixNano()
			k := key{oldest, x.s.SpanID, x.s.TraceID}
			if old := byKey[k]; old != nil && old.version >= v.version {
				return nil
			}
			sp, err := x.span(q.IncludeDetails)
			if err != nil {
				return err
			}
			v.span = sp
			byKey[k] = &v
			return nil
		})
		if err != nil {
			return nil, err
		}
		exhausted := rows < n
		var live []model.Span
		for k, v := range byKey {
			if v.deleted == 0 && (exhausted || k.started != oldest) {
				live = append(live, v.span)
			}
		}
		if len(live) < need && !exhausted {
			continue // rows were all old versions or tombstones: read further back
		}
		sortLatest(live)
		return live, nil
	}
}

// readSpans runs a query selecting selectList(details).
func (s *Store) readSpans(ctx context.Context, what string, b built, details bool) ([]model.Span, error) {
	return s.readCols(ctx, what, b, colsFor(details))
}

// readCols runs a query selecting c.list().
func (s *Store) readCols(ctx context.Context, what string, b built, c spanCols) ([]model.Span, error) {
	var out []model.Span
	err := s.scanAll(ctx, what, b.sql, b.params, func(r driver.Rows) error {
		var x spanScan
		if err := r.Scan(x.destOf(c)...); err != nil {
			return err
		}
		if c == chatRead {
			if err := x.decodeChatRow(); err != nil {
				return err
			}
		}
		sp, err := x.span(c != lightRead)
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

// refsSelect reads state rows for refs: what refs collapses.
const refsSelect = "SELECT trace_id, span_id, toUnixTimestamp64Nano(started_at), version, sign FROM "

// refsSQL finds the current state rows (and so the started_at) of the
// given spans, or of whole traces when spans is nil.
func refsSQL(l layout, project string, traces, spans []string) built {
	var p params
	conds := []string{"project_id = " + p.add("String", project), "trace_id IN " + p.add("Array(String)", traces)}
	if spans != nil {
		conds = append(conds, "span_id IN "+p.add("Array(String)", spans))
	}
	return built{sql: refsSelect + l.table("span_state") + " WHERE " + and(conds), params: p.list}
}

// spansByRefSQL reads the spans of refs (all in one project) from the
// spans table, bounded by their start times so that only the partitions
// and granules holding them are read. It has no ORDER BY: sorting by
// start made ClickHouse read in order, which read half as many rows
// again and cost twice the CPU for a turn's spans (Reads: measured);
// spansOf puts the rows in the refs' order.
func spansByRefSQL(l layout, project string, refs []spanRef, c spanCols) built {
	var p params
	lo, hi := refs[0].started, refs[0].started
	keys := make(ch.ArraySet, len(refs))
	for i, r := range refs {
		lo, hi = min(lo, r.started), max(hi, r.started)
		keys[i] = ch.GroupSet{Value: []any{r.started, r.span, r.trace}}
	}
	conds := []string{
		"project_id = " + p.add("String", project),
		"started_at >= fromUnixTimestamp64Nano(" + p.add("Int64", lo) + ", 'UTC')",
		"started_at <= fromUnixTimestamp64Nano(" + p.add("Int64", hi) + ", 'UTC')",
		// The exact sort keys: the primary index picks the granules that
		// hold them, not every granule between the first and the last.
		"(toUnixTimestamp64Nano(started_at), span_id, trace_id) IN " + p.add("Array(Tuple(Int64, String, String))", keys),
	}
	return built{sql: "SELECT " + c.list() + " FROM " + l.table("spans") + " FINAL WHERE " + and(conds), params: p.list}
}

// refs runs a query of refsSelect and collapses its state rows as
// VersionedCollapsingMergeTree would (no FINAL): a state with its cancel
// row is gone; of what remains of a span, the newest version. A condition
// on the state (its conversation, its start) holds for a state and its
// cancel row alike, so a state that no longer meets it nets to nothing.
func (s *Store) refs(ctx context.Context, what string, b built) ([]spanRef, error) {
	var refs collapsed[spanRef]
	err := s.scanAll(ctx, what, b.sql, b.params, func(r driver.Rows) error {
		var x spanRef
		var v uint64
		var sign int8
		if err := r.Scan(&x.trace, &x.span, &x.started, &v, &sign); err != nil {
			return err
		}
		refs.add(x.trace, x.span, v, sign, func() spanRef { return x })
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := refs.live()
	slices.SortFunc(out, func(a, b spanRef) int {
		return cmp.Or(cmp.Compare(a.started, b.started), strings.Compare(a.span, b.span), strings.Compare(a.trace, b.trace))
	})
	return out, nil
}

// spansOf reads the spans of refs, keeping only the exact (trace, span)
// pairs asked for, in the order of refs (refs sorts by start, span id,
// trace id).
func (s *Store) spansOf(ctx context.Context, what, project string, refs []spanRef, c spanCols) ([]model.Span, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	at := make(map[[2]string]int, len(refs))
	for i, r := range refs {
		at[[2]string{r.trace, r.span}] = i
	}
	spans, err := s.readCols(ctx, what, spansByRefSQL(s.l, project, refs, c), c)
	if err != nil {
		return nil, err
	}
	placed := make([]*model.Span, len(refs))
	for i := range spans {
		if j, ok := at[[2]string{spans[i].TraceID, spans[i].SpanID}]; ok {
			placed[j] = &spans[i]
		}
	}
	out := make([]model.Span, 0, len(spans))
	for _, sp := range placed {
		if sp != nil {
			out = append(out, *sp)
		}
	}
	return out, nil
}

// GetSpans implements store.Writer.
func (s *Store) GetSpans(ctx context.Context, keys []store.SpanKey) ([]model.Span, error) {
	defer s.reading(ctx)()
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
		spans, err := s.spansOf(ctx, "get spans", project, exact, fullRead)
		if err != nil {
			return nil, err
		}
		out = append(out, spans...)
	}
	return out, nil
}

// TraceSpans implements store.Reader.
func (s *Store) TraceSpans(ctx context.Context, projectID, traceID string) ([]model.Span, error) {
	return s.traceSpans(ctx, projectID, traceID, fullRead)
}

// TraceChatSpans implements store.Reader.
func (s *Store) TraceChatSpans(ctx context.Context, projectID, traceID string) ([]model.Span, error) {
	return s.traceSpans(ctx, projectID, traceID, chatRead)
}

// traceSpans reads the columns c of a trace's spans: the trace's states
// (one granule of span_state in each part), then its spans by their exact
// sort keys (one granule of spans, usually).
func (s *Store) traceSpans(ctx context.Context, projectID, traceID string, c spanCols) ([]model.Span, error) {
	defer s.reading(ctx)()
	if err := checks.Project(projectID); err != nil {
		return nil, err
	}
	refs, err := s.refs(ctx, "trace spans", refsSQL(s.l, projectID, []string{traceID}, nil))
	if err != nil {
		return nil, err
	}
	return s.spansOf(ctx, "trace spans", projectID, refs, c)
}

// runningCandidatesSQL lists the traces with a state row of a running span
// (in the range), current or not: the running spans are among their
// spans. No FINAL: a state that was replaced is only a candidate too many.
func runningCandidatesSQL(l layout, project string, r store.TimeRange) built {
	var p params
	conds := append([]string{"project_id = " + p.add("String", project), "ended_at IS NULL", "sign = 1"}, rangeConds("started_at", r, &p)...)
	return built{
		sql:    "SELECT DISTINCT trace_id FROM " + l.table("span_state") + " WHERE " + and(conds),
		params: p.list,
	}
}

// ActiveSpans implements store.Reader: the running spans among the
// current states of the traces that have a running state row.
func (s *Store) ActiveSpans(ctx context.Context, projectID string, r store.TimeRange, limit int) ([]model.Span, error) {
	defer s.reading(ctx)()
	if err := checks.Project(projectID); err != nil {
		return nil, err
	}
	if err := checkRange(r); err != nil {
		return nil, err
	}
	n, err := checks.Limit(limit)
	if err != nil {
		return nil, err
	}
	var traces []string
	c := runningCandidatesSQL(s.l, projectID, r)
	err = s.scanAll(ctx, "active spans", c.sql, c.params, func(rows driver.Rows) error {
		var t string
		if err := rows.Scan(&t); err != nil {
			return err
		}
		traces = append(traces, t)
		return nil
	})
	if err != nil || len(traces) == 0 {
		return nil, err
	}
	sort.Strings(traces)
	states, err := s.loadStates(ctx, projectID, traces)
	if err != nil {
		return nil, err
	}
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if !r.From.IsZero() {
		from = store.ClampNanos(r.From)
	}
	if !r.To.IsZero() {
		to = store.ClampNanos(r.To)
	}
	var refs []spanRef
	for _, st := range states {
		if !st.hasEnd && st.started >= from && st.started < to {
			refs = append(refs, spanRef{trace: st.traceID, span: st.spanID, started: st.started})
		}
	}
	sort.Slice(refs, func(i, j int) bool {
		a, b := refs[i], refs[j]
		if a.started != b.started {
			return a.started > b.started
		}
		if a.span != b.span {
			return a.span < b.span
		}
		return a.trace < b.trace
	})
	refs = refs[:min(n, len(refs))]
	spans, err := s.spansOf(ctx, "active spans", projectID, refs, lightRead)
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
	sortLatest(out)
	return out, nil
}

// sortLatest puts spans in the spans page's order: newest first, then by
// span and trace id.
func sortLatest(spans []model.Span) {
	sort.Slice(spans, func(i, j int) bool {
		a, b := spans[i], spans[j]
		if !a.StartedAt.Equal(b.StartedAt) {
			return a.StartedAt.After(b.StartedAt)
		}
		if a.SpanID != b.SpanID {
			return a.SpanID < b.SpanID
		}
		return a.TraceID < b.TraceID
	})
}

// conversationBoundsSQL finds a conversation's traces and time bounds
// (first and last activity) in conv_traces.
func conversationBoundsSQL(l layout, project, conv string) built {
	var p params
	return built{
		sql: "SELECT trace_id, first_ns, last_ns FROM " + l.table("conv_traces") +
			" FINAL PREWHERE project_id = " + p.add("String", project) + " AND conv_key = " + p.add("String", conv),
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
	return built{sql: refsSelect + l.table("span_state") + " WHERE " + and(conds), params: p.list}
}

// ConversationSpans implements store.Reader.
func (s *Store) ConversationSpans(ctx context.Context, projectID, conversationID string, r store.TimeRange) ([]model.Span, error) {
	return s.conversationSpans(ctx, projectID, conversationID, r, fullRead)
}

// ConversationChatSpans implements store.Reader.
func (s *Store) ConversationChatSpans(ctx context.Context, projectID, conversationID string, r store.TimeRange) ([]model.Span, error) {
	return s.conversationSpans(ctx, projectID, conversationID, r, chatRead)
}

// conversationSpans reads the columns c of a conversation's spans. Every
// query is bounded by the conversation's first and last activity
// (intersected with r), as kept in conv_traces.
func (s *Store) conversationSpans(ctx context.Context, projectID, conversationID string, r store.TimeRange, c spanCols) ([]model.Span, error) {
	defer s.reading(ctx)()
	if err := checks.Project(projectID); err != nil {
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
	return s.spansOf(ctx, "conversation spans", projectID, refs, c)
}

// Projects implements store.Reader: the projects span_counts counts
// spans of (one row per project, day, operation and status, where
// span_state has one per span; under a retention a project whose last
// span expired is listed until the end of that span's day).
func (s *Store) Projects(ctx context.Context) ([]string, error) {
	defer s.reading(ctx)()
	var out []string
	q := "SELECT project_id FROM " + s.l.table("span_counts") + " GROUP BY project_id HAVING sum(span_count) > 0 ORDER BY project_id"
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
// span_state's signs, exact without a FINAL scan, as span_counts keeps
// it: /readyz and every metrics scrape read it, in a few rows a day) and
// the bytes on disk of weave's tables.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	defer s.reading(ctx)()
	var st store.Stats
	q := "SELECT toInt64(sum(span_count)) FROM " + s.l.table("span_counts")
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
