package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/derive"
)

var errClosed = errors.New("clickhouse: store is closed")

// flushTimeout bounds one flush (its reads and inserts).
const flushTimeout = 2 * time.Minute

// request is one WriteSpans call waiting for the writer.
type request struct {
	spans []*prep
	done  chan error // receives the flush result once
}

// queue is the bounded hand-off between WriteSpans callers and the
// writer goroutine. Its bound is in spans: a caller whose spans do not fit
// waits (honouring its context) until a flush frees room; a call larger
// than the whole bound is let in alone.
type queue struct {
	mu     sync.Mutex
	reqs   []*request
	rows   int
	max    int
	space  chan struct{} // closed (and replaced) when room frees up
	wake   chan struct{} // one-slot signal to the writer
	closed bool
}

func newQueue(max int) *queue {
	return &queue{max: max, space: make(chan struct{}), wake: make(chan struct{}, 1)}
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// put queues r, waiting while the queue is full.
func (q *queue) put(ctx context.Context, r *request) error {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return errClosed
		}
		if q.rows == 0 || q.rows+len(r.spans) <= q.max {
			q.reqs = append(q.reqs, r)
			q.rows += len(r.spans)
			q.mu.Unlock()
			q.signal()
			return nil
		}
		space := q.space
		q.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return fmt.Errorf("clickhouse: write spans: waiting for queue room: %w", ctx.Err())
		}
	}
}

// take removes every queued request.
func (q *queue) take() []*request {
	q.mu.Lock()
	defer q.mu.Unlock()
	reqs := q.reqs
	q.reqs = nil
	if q.rows > 0 {
		q.rows = 0
		close(q.space)
		q.space = make(chan struct{})
	}
	return reqs
}

// state reports the queued spans and whether the queue is closed.
func (q *queue) state() (int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.rows, q.closed
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// WriteSpans implements store.Writer. It validates every span, queues them
// for the writer and returns once the insert batch holding them has been
// written (or failed, or ctx ended). A write that finds the writer idle is
// flushed at once, so a client that sends its next request once the last
// one is answered (weave-agentd's ordered exporter) waits only for its own
// inserts. Writes that arrive while a flush runs share the next batch: it
// is flushed when it holds Config.BatchRows spans or when FlushInterval
// has passed since the previous flush began, so that under concurrent load
// a table sees about one insert per interval, and a write waits at most
// one interval for its batch.
//
// A batch is all or nothing for its callers: on any error every call in it
// gets the error, and since every table holds absolute values (replaced,
// never added to) retrying the call converges to the same state.
func (s *Store) WriteSpans(ctx context.Context, spans []model.Span) error {
	if len(spans) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("clickhouse: write spans: %w", err)
	}
	preps := make([]*prep, len(spans))
	for i := range spans {
		if err := store.ValidateSpan(&spans[i]); err != nil {
			return fmt.Errorf("clickhouse: write spans: span %d: %w", i, err)
		}
		p, err := prepare(spans[i])
		if err != nil {
			return fmt.Errorf("clickhouse: write spans: span %d (%s/%s): %w", i, spans[i].TraceID, spans[i].SpanID, err)
		}
		preps[i] = p
	}
	s.bodyTerms(preps)
	s.startOnce.Do(func() {
		s.wg.Add(1)
		go s.run()
	})
	r := &request{spans: preps, done: make(chan error, 1)}
	if err := s.q.put(ctx, r); err != nil {
		return err
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("clickhouse: write spans: %w (the batch may still be written)", ctx.Err())
	}
}

// bodyTerms computes, on the caller's goroutine rather than the writer's,
// the search terms of the bodies the digest cache does not know as stored
// (those the flush will insert), once per body.
func (s *Store) bodyTerms(preps []*prep) {
	done := map[string]string{}
	for _, p := range preps {
		for i := range p.pairs {
			pr := &p.pairs[i]
			if t, ok := done[pr.digest]; ok {
				pr.terms = t
				continue
			}
			if _, ok := s.content.get(p.key.ProjectID, pr.digest); ok {
				continue
			}
			pr.terms = terms(pr.text)
			done[pr.digest] = pr.terms
		}
	}
}

// run is the writer goroutine: it flushes queued requests until the queue
// is closed and drained.
func (s *Store) run() {
	defer s.wg.Done()
	var lastFlush time.Time
	// grouping: requests came in while the last flush ran (concurrent
	// load), so the next batch waits for the flush interval to fill up;
	// otherwise the writer was idle and a request is flushed at once.
	grouping := false
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		rows, closed := s.q.state()
		if rows == 0 {
			if closed {
				return
			}
			<-s.q.wake
			continue
		}
		if !closed && rows < s.cfg.BatchRows && s.cfg.FlushInterval > 0 && grouping {
			if wait := time.Until(lastFlush.Add(s.cfg.FlushInterval)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-s.q.wake:
					if !timer.Stop() {
						<-timer.C
					}
					continue // re-check the size
				}
			}
		}
		reqs := s.q.take()
		lastFlush = time.Now()
		var batch []*prep
		for _, r := range reqs {
			batch = append(batch, r.spans...)
		}
		ctx, cancel := context.WithTimeout(s.ctx, flushTimeout)
		err := s.flush(ctx, batch)
		cancel()
		// Before the callers are answered: what a caller sends once
		// answered is not concurrent load.
		queued, _ := s.q.state()
		grouping = queued > 0
		if err != nil {
			s.log.Warn("clickhouse write batch failed", "spans", len(batch), "requests", len(reqs), "err", err)
			err = fmt.Errorf("clickhouse: write spans: %w", err)
		}
		for _, r := range reqs {
			r.done <- err
		}
	}
}

// winners applies the upsert rule inside one batch, in order: a later
// copy replaces an earlier one unless it is in progress and the earlier
// one finished. The result keeps first-appearance order.
func winners(batch []*prep) []*prep {
	pos := make(map[store.SpanKey]int, len(batch))
	var out []*prep
	for _, p := range batch {
		i, ok := pos[p.key]
		if !ok {
			pos[p.key] = len(out)
			out = append(out, p)
			continue
		}
		if out[i].hasEnd && !p.hasEnd {
			continue
		}
		out[i] = p
	}
	return out
}

// traceKey names a trace of a project.
type traceKey struct{ project, trace string }

// rows are the inserts of one flush, per table.
type rows struct {
	content     [][]any // message_content
	spans       [][]any
	occurrences [][]any
	convTraces  [][]any
	state       [][]any
}

// flush writes one batch: it takes the stored state of the touched
// traces (from the cache of recently written traces, else from
// span_state), applies the upsert rule against it, recomputes the traces'
// derived columns and inserts the changes (bodies, spans, occurrences and
// conversation rows at once, then the state rows that feed the rollups).
func (s *Store) flush(ctx context.Context, batch []*prep) error {
	if err := s.writeMu.LockCtx(ctx); err != nil {
		return fmt.Errorf("waiting for a deletion: %w", err)
	}
	defer s.writeMu.Unlock()
	win := winners(batch)
	var touched []traceKey
	seenTrace := map[traceKey]bool{}
	for _, p := range win {
		k := traceKey{p.key.ProjectID, p.key.TraceID}
		if !seenTrace[k] {
			seenTrace[k] = true
			touched = append(touched, k)
		}
	}
	old, err := s.traceStates(ctx, touched, true)
	if err != nil {
		return err
	}
	plan := s.plan(win, old)
	content, added, at := s.contentRows(plan.content)
	plan.rows.content = content
	// The tables show the batch to this store's readers all at once.
	done, err := s.writing(ctx)
	if err != nil {
		return err
	}
	err = s.insertPlan(ctx, plan.rows)
	done()
	if err != nil {
		// What the failed inserts left in the tables is unknown: read
		// these traces back next time.
		s.states.drop(touched)
		return err
	}
	s.content.putAll(added, at)
	for _, k := range touched {
		if st, ok := plan.after[k]; ok {
			s.states.put(k, st)
		} else {
			s.states.put(k, old[k])
		}
	}
	return nil
}

// traceStates returns the stored state of every span of the traces: from
// the cache of recently written traces when useCache, else (and for the
// traces it lacks) read from span_state, one query per project. It keeps
// the version clock ahead of what it read.
func (s *Store) traceStates(ctx context.Context, keys []traceKey, useCache bool) (map[traceKey]map[string]*stateRow, error) {
	old := make(map[traceKey]map[string]*stateRow, len(keys))
	cold := map[string][]string{}
	for _, k := range keys {
		if useCache {
			if st, ok := s.states.get(k); ok {
				old[k] = st
				continue
			}
		}
		cold[k.project] = append(cold[k.project], k.trace)
	}
	for _, project := range sortedKeys(cold) {
		traces := cold[project]
		slices.Sort(traces)
		states, err := s.loadStates(ctx, project, traces)
		if err != nil {
			return nil, err
		}
		for _, r := range states {
			k := traceKey{project, r.traceID}
			if old[k] == nil {
				old[k] = map[string]*stateRow{}
			}
			old[k][r.spanID] = r
			s.clock.observe(r.version)
		}
		for _, t := range traces {
			if k := (traceKey{project, t}); old[k] == nil {
				old[k] = map[string]*stateRow{} // a new trace
			}
		}
	}
	return old, nil
}

// insertPlan inserts a plan's rows: bodies, spans, occurrences and
// conversation rows concurrently, then span_state (which feeds the
// rollups, and whose span digests tell a retry which span rows are
// written), only once all of those succeeded.
func (s *Store) insertPlan(ctx context.Context, rows rows) error {
	first := []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"spans", insertCols, rows.spans},
		{"message_content", contentCols, rows.content},
		{"message_occurrences", occurrenceCols, rows.occurrences},
		{"conv_traces", convTraceCols, rows.convTraces},
	}
	errs := make([]error, len(first))
	var wg sync.WaitGroup
	for i, t := range first {
		if len(t.rows) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.insert(ctx, t.table, t.cols, t.rows)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.insert(ctx, "span_state", stateInsertCols, rows.state)
}

// writePlan is what one flush inserts.
type writePlan struct {
	rows    rows
	content map[string]map[string]msgPair // project → digest → body, for the bodies of written spans
	// after is the state of every planned trace once the rows are in:
	// what the cache keeps.
	after map[traceKey]map[string]*stateRow
}

// plan computes the inserts of a batch given the stored states of its
// traces. It does no I/O.
func (s *Store) plan(win []*prep, old map[traceKey]map[string]*stateRow) writePlan {
	wp := writePlan{content: map[string]map[string]msgPair{}, after: map[traceKey]map[string]*stateRow{}}
	touched := map[traceKey][]*prep{}
	var order []traceKey
	for _, p := range win {
		k := traceKey{p.key.ProjectID, p.key.TraceID}
		prev := old[k][p.key.SpanID]
		if prev != nil && prev.hasEnd && !p.hasEnd {
			continue // a finished span is never replaced by an in-progress copy
		}
		if _, ok := touched[k]; !ok {
			order = append(order, k)
		}
		touched[k] = append(touched[k], p)
	}
	for _, k := range order {
		s.planTrace(&wp, k, touched[k], old[k], nil)
	}
	return wp
}

// planTrace plans one trace: written spans replace their stored states,
// the spans of drop leave it (DeleteBefore: their states are cancelled),
// every remaining span's derived columns are recomputed, and what changed
// is written.
func (s *Store) planTrace(wp *writePlan, k traceKey, written []*prep, old map[string]*stateRow, drop map[string]bool) {
	states, next, newProps := deriveStates(k, written, old, drop)
	if wp.after != nil {
		wp.after[k] = next
	}
	s.planSpans(wp, k, states, old, newProps, drop)
	var prevStates []*stateRow
	for _, r := range old {
		prevStates = append(prevStates, r)
	}
	s.planGroups(wp, k, prevStates, states)
}

// deriveStates is the trace's states after the write, by span id in
// states (sorted) and next, with their derived columns recomputed;
// newProps are the written spans by id.
func deriveStates(k traceKey, written []*prep, old map[string]*stateRow, drop map[string]bool) (
	states []*stateRow, next map[string]*stateRow, newProps map[string]*prep) {
	cur := make(map[string]*stateRow, len(old)+len(written))
	for id, r := range old {
		if !drop[id] {
			cur[id] = r
		}
	}
	newProps = map[string]*prep{}
	for _, p := range written {
		cur[p.key.SpanID] = stateOf(p)
		newProps[p.key.SpanID] = p
	}
	ids := sortedKeys(cur)
	nodes := make([]derive.Node, len(ids))
	for i, id := range ids {
		nodes[i] = cur[id].node()
	}
	der := derive.Trace(k.trace, nodes)
	states = make([]*stateRow, len(ids))
	next = make(map[string]*stateRow, len(ids))
	for i, id := range ids {
		r := *cur[id]
		r.d = der[i]
		states[i] = &r
		next[id] = &r
	}
	return states, next, newProps
}

// planSpans plans the span and span_state rows of the trace's changed
// spans (each given a new version) and cancels the states of drop.
func (s *Store) planSpans(wp *writePlan, k traceKey, states []*stateRow, old map[string]*stateRow, newProps map[string]*prep, drop map[string]bool) {
	for _, r := range states {
		prev := old[r.spanID]
		p := newProps[r.spanID]
		if prev != nil && prev.d == r.d && (p == nil || prev.hash == r.hash) {
			r.version = prev.version
			continue // untouched, or re-sent unchanged: nothing to write
		}
		v := s.clock.next()
		if r.hasEnd {
			v |= finishedBit
		}
		r.version = v
		if p != nil && (prev == nil || prev.hash != r.hash) {
			wp.planSpan(k, p, prev, r, v)
		}
		if prev != nil {
			staleAgent := prev.d.EffAgent != "" && (prev.d.EffAgent != r.d.EffAgent || prev.started != r.started)
			staleVersion := prev.d.EffAgent != "" && (prev.d.EffAgent != r.d.EffAgent ||
				prev.d.EffVersion != r.d.EffVersion || prev.started != r.started)
			wp.rows.state = append(wp.rows.state, stateValues(k.project, prev, -1, staleAgent, staleVersion))
		}
		wp.rows.state = append(wp.rows.state, stateValues(k.project, r, 1, false, false))
	}
	for _, id := range sortedKeys(drop) {
		if prev := old[id]; prev != nil {
			out := prev.d.EffAgent != "" // the span leaves its agent and version groups
			wp.rows.state = append(wp.rows.state, stateValues(k.project, prev, -1, out, out))
		}
	}
}

// planSpan plans the spans row of a written span at version v (and the
// tombstone of its previous row when its start moved), and its bodies.
func (wp *writePlan) planSpan(k traceKey, p *prep, prev, r *stateRow, v uint64) {
	wp.rows.spans = append(wp.rows.spans, p.versioned(v))
	if prev != nil && prev.started != r.started {
		wp.rows.spans = append(wp.rows.spans, tombstoneValues(p.key, prev.started, v))
	}
	for _, pr := range p.pairs {
		if wp.content[k.project] == nil {
			wp.content[k.project] = map[string]msgPair{}
		}
		wp.content[k.project][pr.digest] = pr
	}
}

// planGroups plans the trace's conversation rows and where each body was
// first said in it (per conversation and role) that changed from the
// states before to those after, all at one new version.
func (s *Store) planGroups(wp *writePlan, k traceKey, prevStates, states []*stateRow) {
	before, after := groups(prevStates), groups(states)
	var gv uint64
	version := func() uint64 {
		if gv == 0 {
			gv = s.clock.next()
		}
		return gv
	}
	for _, key := range sortedKeys(after) {
		g := after[key]
		if b := before[key]; b != nil && b.equal(g) {
			continue
		}
		wp.rows.convTraces = append(wp.rows.convTraces, groupValues(k.project, k.trace, g, version(), false))
	}
	for _, key := range sortedKeys(before) {
		if after[key] == nil {
			// The tombstone carries the row it shadows, last_at included:
			// the TTL expires both together (a tombstone at 1970 went at
			// its part's first TTL merge, and the row came back).
			wp.rows.convTraces = append(wp.rows.convTraces, groupValues(k.project, k.trace, before[key], version(), true))
		}
	}
	oBefore, oAfter := firstOccurrences(prevStates), firstOccurrences(states)
	for _, key := range sortedOccKeys(oAfter) {
		if b, ok := oBefore[key]; ok && b == oAfter[key] {
			continue
		}
		wp.rows.occurrences = append(wp.rows.occurrences, occurrenceValues(k.project, k.trace, key, oAfter[key], version(), false))
	}
	for _, key := range sortedOccKeys(oBefore) {
		if _, ok := oAfter[key]; !ok {
			wp.rows.occurrences = append(wp.rows.occurrences, occurrenceValues(k.project, k.trace, key, oBefore[key], version(), true))
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// versionClock hands out row versions: nanoseconds of the store's clock,
// strictly increasing, and always past every version the store has read
// (so that a restarted server whose clock is behind still outranks what
// it wrote before). The finished bit is kept out of the clock.
type versionClock struct {
	mu   sync.Mutex
	now  func() time.Time
	last uint64
}

func (c *versionClock) next() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := uint64(c.now().UnixNano()) &^ finishedBit
	if n <= c.last {
		n = c.last + 1
	}
	c.last = n
	return n
}

func (c *versionClock) observe(v uint64) {
	v &^= finishedBit
	c.mu.Lock()
	if v > c.last {
		c.last = v
	}
	c.mu.Unlock()
}
