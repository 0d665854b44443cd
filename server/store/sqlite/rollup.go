package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// The usage figures of a rollup row (tok): the five token counts, then
// the cost in nano-dollars and the number of unpriced spans.
const (
	iCost     = 5
	iUnpriced = 6
	nUsage    = 7
)

// sums are the additive figures of agent rollups.
type sums struct {
	spans, invocations, errors, durMs, endedInv int64
	tok                                         [nUsage]int64
}

func (s *sums) add(o *sums, sign int64) {
	s.spans += sign * o.spans
	s.invocations += sign * o.invocations
	s.errors += sign * o.errors
	s.durMs += sign * o.durMs
	s.endedInv += sign * o.endedInv
	for i := range s.tok {
		s.tok[i] += sign * o.tok[i]
	}
}

// extremes track the min and max of the values added to and removed from
// a rollup key within one batch, to keep first/last times exact: a removed
// extreme is recomputed unless an added value covers it.
type extremes struct {
	hasAdd, hasRem bool
	addMin, addMax int64
	remMin, remMax int64
}

func (e *extremes) note(lo, hi int64, sign int64) {
	if sign > 0 {
		if !e.hasAdd || lo < e.addMin {
			e.addMin = lo
		}
		if !e.hasAdd || hi > e.addMax {
			e.addMax = hi
		}
		e.hasAdd = true
		return
	}
	if !e.hasRem || lo < e.remMin {
		e.remMin = lo
	}
	if !e.hasRem || hi > e.remMax {
		e.remMax = hi
	}
	e.hasRem = true
}

// resolve merges the stored extremes (ok=false: no stored row) with the
// batch's; recompute reports that a removed extreme was not covered.
func (e *extremes) resolve(curMin, curMax int64, ok bool) (lo, hi int64, recompute bool) {
	if !ok {
		return e.addMin, e.addMax, false
	}
	lo, hi = curMin, curMax
	if e.hasRem && e.remMin <= curMin {
		if e.hasAdd && e.addMin <= curMin {
			lo = e.addMin
		} else {
			recompute = true
		}
	} else if e.hasAdd && e.addMin < lo {
		lo = e.addMin
	}
	if e.hasRem && e.remMax >= curMax {
		if e.hasAdd && e.addMax >= curMax {
			hi = e.addMax
		} else {
			recompute = true
		}
	} else if e.hasAdd && e.addMax > hi {
		hi = e.addMax
	}
	return lo, hi, recompute
}

type avKey struct {
	proj           int64
	agent, version string
}
type minuteKey struct {
	proj           int64
	minute         int64
	agent, version string
}
type convItemKey struct {
	conv int64
	item string
}
type avDelta struct {
	sums
	ext extremes // started_at
}

type convDelta struct {
	spans, errors, running int64
	tok                    [nUsage]int64
	ext                    extremes // min started_at, max activity
	promptRemoved          map[int64]bool
	prompt                 *promptCand // best known candidate added
	promptForce            bool        // a candidate of unknown text was added
	placeRemoved           map[int64]bool
	place                  *placeCand // latest known place added
	placeForce             bool       // a place of unknown values was added
}

// place is where a span ran (store.Place).
type place struct{ workingDir, gitBranch string }

// placeKey orders place candidates: the latest started_at, then the
// greatest span_id, wins.
type placeKey struct {
	started int64
	spanID  string
	pk      int64
}

func (a placeKey) less(b placeKey) bool {
	if a.started != b.started {
		return a.started < b.started
	}
	return a.spanID < b.spanID
}

type placeCand struct {
	key placeKey
	place
}

// promptKey orders first-prompt candidates: earliest started_at, then
// invoke_agent spans first, then span_id.
type promptKey struct {
	started int64
	rank    int64
	spanID  string
	pk      int64
}

func (a promptKey) less(b promptKey) bool {
	if a.started != b.started {
		return a.started < b.started
	}
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.spanID < b.spanID
}

func promptKeyOf(r *rowState) promptKey {
	rank := int64(1)
	if r.op == model.OpInvokeAgent {
		rank = 0
	}
	return promptKey{started: r.started, rank: rank, spanID: r.spanID, pk: r.pk}
}

type promptCand struct {
	key   promptKey
	text  string
	known bool
}

// deltas accumulate the rollup changes of one batch.
type deltas struct {
	projects   map[int64]int64
	versions   map[avKey]*avDelta
	minutes    map[minuteKey]*sums
	hours      map[minuteKey]*sums // minute field holds the hour
	convs      map[int64]*convDelta
	convTraces map[convItemKey]int64
	convTurns  map[convItemKey]int64 // turn spans per (conversation, trace)
	convAgents map[convItemKey]int64
	convModels map[convItemKey]int64
}

func newDeltas() *deltas {
	return &deltas{
		projects:   make(map[int64]int64),
		versions:   make(map[avKey]*avDelta),
		minutes:    make(map[minuteKey]*sums),
		hours:      make(map[minuteKey]*sums),
		convs:      make(map[int64]*convDelta),
		convTraces: make(map[convItemKey]int64),
		convTurns:  make(map[convItemKey]int64),
		convAgents: make(map[convItemKey]int64),
		convModels: make(map[convItemKey]int64),
	}
}

const (
	minuteNanos = int64(60e9)
	hourNanos   = 60 * minuteNanos
)

func minuteOf(t int64) int64 {
	m := t / minuteNanos
	if t%minuteNanos < 0 {
		m--
	}
	return m
}

// spanSums is a span's contribution to agent rollups.
func spanSums(r *rowState) sums {
	s := sums{spans: 1}
	if r.status == model.StatusError {
		s.errors = 1
	}
	if r.op == model.OpInvokeAgent {
		s.invocations = 1
		if r.ended != 0 {
			s.endedInv = 1
			if r.ended > r.started {
				s.durMs = (r.ended - r.started) / 1e6
			}
		}
	}
	if r.d.Counted {
		for i, t := range r.tok {
			if t.Valid {
				s.tok[i] = t.Int64
			}
		}
		switch {
		case r.cost.Valid:
			s.tok[iCost] = r.cost.Int64
		case r.hasTokens():
			s.tok[iUnpriced] = 1
		}
	}
	return s
}

func modelOf(r *rowState) string {
	if r.respModel != "" {
		return r.respModel
	}
	return r.reqModel
}

// add records a span version's contribution with sign +1 (the version
// being written) or -1 (the version being replaced).
func (d *deltas) add(r *rowState, prompt *promptCand, sign int64) {
	project := r.proj
	d.projects[project] += sign
	s := spanSums(r)
	if r.d.EffAgent != "" {
		k := avKey{project, r.d.EffAgent, r.d.EffVersion}
		v := d.versions[k]
		if v == nil {
			v = &avDelta{}
			d.versions[k] = v
		}
		v.add(&s, sign)
		v.ext.note(r.started, r.started, sign)
		for _, b := range []struct {
			m   map[minuteKey]*sums
			key int64
		}{{d.minutes, minuteOf(r.started)}, {d.hours, store.FloorDiv(r.started, hourNanos)}} {
			mk := minuteKey{project, b.key, r.d.EffAgent, r.d.EffVersion}
			m := b.m[mk]
			if m == nil {
				m = &sums{}
				b.m[mk] = m
			}
			m.add(&s, sign)
		}
	}
	c := d.convs[r.convID]
	if c == nil {
		c = &convDelta{}
		d.convs[r.convID] = c
	}
	c.spans += sign
	c.errors += sign * s.errors
	if r.ended == 0 {
		c.running += sign
	}
	for i := range c.tok {
		c.tok[i] += sign * s.tok[i]
	}
	activity := max(r.started, r.ended)
	c.ext.note(r.started, activity, sign)
	if sign < 0 && r.hasPrompt {
		if c.promptRemoved == nil {
			c.promptRemoved = make(map[int64]bool)
		}
		c.promptRemoved[r.pk] = true
	}
	if sign > 0 && prompt != nil {
		if !prompt.known {
			c.promptForce = true
		} else if c.prompt == nil || prompt.key.less(c.prompt.key) {
			c.prompt = prompt
		}
	}
	c.notePlace(r, sign)
	d.convTraces[convItemKey{r.convID, r.traceID}] += sign
	if r.d.TurnRoot {
		d.convTurns[convItemKey{r.convID, r.traceID}] += sign
	}
	if r.d.EffAgent != "" {
		d.convAgents[convItemKey{r.convID, r.d.EffAgent}] += sign
	}
	if m := modelOf(r); m != "" {
		d.convModels[convItemKey{r.convID, m}] += sign
	}
}

// notePlace records a span version with a place added to (sign +1) or
// removed from (-1) its conversation.
func (c *convDelta) notePlace(r *rowState, sign int64) {
	switch {
	case !r.hasPlace:
	case sign < 0:
		if c.placeRemoved == nil {
			c.placeRemoved = make(map[int64]bool)
		}
		c.placeRemoved[r.pk] = true
	case r.place == nil:
		c.placeForce = true
	default:
		k := placeKey{started: r.started, spanID: r.spanID, pk: r.pk}
		if c.place == nil || c.place.key.less(k) {
			c.place = &placeCand{key: k, place: *r.place}
		}
	}
}

// applyDeltas writes the batch's rollup changes.
func (w *writeTx) applyDeltas(d *deltas) error {
	for p, n := range d.projects {
		if n == 0 {
			continue
		}
		if _, err := w.exec("UPDATE projects SET span_count = span_count + ? WHERE id = ?", n, p); err != nil {
			return err
		}
	}
	if err := w.applyBuckets("agent_minutes", "minute", d.minutes); err != nil {
		return err
	}
	if err := w.applyBuckets("agent_hours", "hour", d.hours); err != nil {
		return err
	}
	if err := w.applyVersions(d); err != nil {
		return err
	}
	// Turn spans first: their upsert may create the conv_traces row that
	// applyItems then counts as a trace of the conversation.
	turns, err := w.applyTurns(d.convTurns)
	if err != nil {
		return err
	}
	traces, err := w.applyItems("conv_traces", "trace_id", d.convTraces)
	if err != nil {
		return err
	}
	if _, err := w.applyItems("conv_agents", "agent_name", d.convAgents); err != nil {
		return err
	}
	if _, err := w.applyItems("conv_models", "model", d.convModels); err != nil {
		return err
	}
	return w.applyConversations(d, traces, turns)
}

const sumCols = `span_count, invocation_count, error_count, duration_ms, ended_invocations,
	input_tokens, output_tokens, cache_read_tokens, cache_create_tokens, reasoning_tokens, cost_nanos, unpriced`

func sumArgs(s *sums) []any {
	return []any{s.spans, s.invocations, s.errors, s.durMs, s.endedInv, s.tok[0], s.tok[1], s.tok[2], s.tok[3], s.tok[4],
		s.tok[iCost], s.tok[iUnpriced]}
}

// usageDest are the scan destinations of the usage columns, in sumCols
// order.
func usageDest(tok *[nUsage]int64) []any {
	return []any{&tok[0], &tok[1], &tok[2], &tok[3], &tok[4], &tok[iCost], &tok[iUnpriced]}
}

// applyBuckets adds per-minute or per-hour sums (table agent_minutes or
// agent_hours, time column minute or hour) and drops emptied rows.
func (w *writeTx) applyBuckets(table, col string, buckets map[minuteKey]*sums) error {
	for k, s := range buckets {
		if *s == (sums{}) {
			continue
		}
		if _, err := w.exec(`INSERT INTO `+table+` (proj, `+col+`, agent_name, agent_version, `+sumCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (proj, `+col+`, agent_name, agent_version) DO UPDATE SET
			span_count = span_count + excluded.span_count,
			invocation_count = invocation_count + excluded.invocation_count,
			error_count = error_count + excluded.error_count,
			duration_ms = duration_ms + excluded.duration_ms,
			ended_invocations = ended_invocations + excluded.ended_invocations,
			input_tokens = input_tokens + excluded.input_tokens,
			output_tokens = output_tokens + excluded.output_tokens,
			cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
			cache_create_tokens = cache_create_tokens + excluded.cache_create_tokens,
			reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
			cost_nanos = cost_nanos + excluded.cost_nanos,
			unpriced = unpriced + excluded.unpriced`,
			append([]any{k.proj, k.minute, k.agent, k.version}, sumArgs(s)...)...); err != nil {
			return err
		}
		if s.spans < 0 {
			if _, err := w.exec("DELETE FROM "+table+" WHERE proj = ? AND "+col+" = ? AND agent_name = ? AND agent_version = ? AND span_count <= 0",
				k.proj, k.minute, k.agent, k.version); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *writeTx) applyVersions(d *deltas) error {
	for k, v := range d.versions {
		var cur sums
		var first, last int64
		st, err := w.stmt(`SELECT ` + sumCols + `, first_seen, last_seen FROM agent_versions
			WHERE proj = ? AND agent_name = ? AND agent_version = ?`)
		if err != nil {
			return err
		}
		err = st.QueryRowContext(w.ctx, k.proj, k.agent, k.version).Scan(append(append([]any{&cur.spans, &cur.invocations, &cur.errors,
			&cur.durMs, &cur.endedInv}, usageDest(&cur.tok)...), &first, &last)...)
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: read agent version: %w", err)
		}
		cur.add(&v.sums, 1)
		if cur.spans <= 0 {
			if _, err := w.exec("DELETE FROM agent_versions WHERE proj = ? AND agent_name = ? AND agent_version = ?",
				k.proj, k.agent, k.version); err != nil {
				return err
			}
			continue
		}
		lo, hi, recompute := v.ext.resolve(first, last, exists)
		if recompute {
			if lo, hi, err = w.versionSeen(k); err != nil {
				return err
			}
		}
		if _, err := w.exec(`INSERT OR REPLACE INTO agent_versions (proj, agent_name, agent_version, `+sumCols+`, first_seen, last_seen)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			append(append([]any{k.proj, k.agent, k.version}, sumArgs(&cur)...), lo, hi)...); err != nil {
			return err
		}
	}
	return nil
}

// versionSeen recomputes first_seen/last_seen of an agent version from
// agent_minutes (already updated) and the spans of its first and last
// minute.
func (w *writeTx) versionSeen(k avKey) (lo, hi int64, err error) {
	var mlo, mhi sql.NullInt64
	if err := w.tx.QueryRowContext(w.ctx, `SELECT MIN(minute), MAX(minute) FROM agent_minutes
		WHERE proj = ? AND agent_name = ? AND agent_version = ?`, k.proj, k.agent, k.version).Scan(&mlo, &mhi); err != nil {
		return 0, 0, fmt.Errorf("sqlite: recompute agent version: %w", err)
	}
	if !mlo.Valid {
		return 0, 0, fmt.Errorf("sqlite: recompute agent version %q/%q: no activity left", k.agent, k.version)
	}
	q := `SELECT %s(started_at) FROM spans WHERE proj = ? AND started_at >= ? AND started_at < ?
		AND eff_agent = ? AND eff_version = ?`
	var a, b sql.NullInt64
	if err := w.tx.QueryRowContext(w.ctx, fmt.Sprintf(q, "MIN"), k.proj, mlo.Int64*minuteNanos, (mlo.Int64+1)*minuteNanos, k.agent, k.version).Scan(&a); err != nil {
		return 0, 0, fmt.Errorf("sqlite: recompute agent version: %w", err)
	}
	if err := w.tx.QueryRowContext(w.ctx, fmt.Sprintf(q, "MAX"), k.proj, mhi.Int64*minuteNanos, (mhi.Int64+1)*minuteNanos, k.agent, k.version).Scan(&b); err != nil {
		return 0, 0, fmt.Errorf("sqlite: recompute agent version: %w", err)
	}
	if !a.Valid || !b.Valid {
		return 0, 0, fmt.Errorf("sqlite: recompute agent version %q/%q: rollup and spans disagree", k.agent, k.version)
	}
	return a.Int64, b.Int64, nil
}

// applyItems maintains a (conversation, item) → span_count table and
// returns, per conversation, how many items appeared minus disappeared.
func (w *writeTx) applyItems(table, col string, items map[convItemKey]int64) (map[int64]int64, error) {
	diff := make(map[int64]int64)
	for k, n := range items {
		if n == 0 {
			continue
		}
		st, err := w.stmt("INSERT INTO " + table + " (conv_id, " + col + ", span_count) VALUES (?, ?, ?) " +
			"ON CONFLICT (conv_id, " + col + ") DO UPDATE SET span_count = span_count + excluded.span_count RETURNING span_count")
		if err != nil {
			return nil, err
		}
		var next int64
		if err := st.QueryRowContext(w.ctx, k.conv, k.item, n).Scan(&next); err != nil {
			return nil, fmt.Errorf("sqlite: update %s: %w", table, err)
		}
		prev := next - n
		if prev <= 0 && next > 0 {
			diff[k.conv]++
		}
		if next <= 0 {
			if prev > 0 {
				diff[k.conv]--
			}
			if _, err := w.exec("DELETE FROM "+table+" WHERE conv_id = ? AND "+col+" = ?", k.conv, k.item); err != nil {
				return nil, err
			}
		}
	}
	return diff, nil
}

// turnDiff is how a batch changes a conversation's turn spans and the
// number of its traces that hold one.
type turnDiff struct{ spans, traces int64 }

// applyTurns adds the turn-span deltas to conv_traces.turn_spans (creating
// the row with no spans where needed; applyItems adds them next) and
// returns them per conversation.
func (w *writeTx) applyTurns(items map[convItemKey]int64) (map[int64]turnDiff, error) {
	diff := make(map[int64]turnDiff)
	for k, n := range items {
		if n == 0 {
			continue
		}
		st, err := w.stmt("INSERT INTO conv_traces (conv_id, trace_id, span_count, turn_spans) VALUES (?, ?, 0, ?) " +
			"ON CONFLICT (conv_id, trace_id) DO UPDATE SET turn_spans = turn_spans + excluded.turn_spans RETURNING turn_spans")
		if err != nil {
			return nil, err
		}
		var next int64
		if err := st.QueryRowContext(w.ctx, k.conv, k.item, n).Scan(&next); err != nil {
			return nil, fmt.Errorf("sqlite: update conv_traces: %w", err)
		}
		prev := next - n
		td := diff[k.conv]
		td.spans += n
		switch {
		case prev <= 0 && next > 0:
			td.traces++
		case prev > 0 && next <= 0:
			td.traces--
		}
		diff[k.conv] = td
	}
	return diff, nil
}

const convCols = `trace_count, turn_spans, turn_traces, span_count, error_count, running_count, first_activity, last_activity,
	input_tokens, output_tokens, cache_read_tokens, cache_create_tokens, reasoning_tokens, cost_nanos, unpriced,
	prompt, prompt_pk, prompt_at, prompt_rank, prompt_span, working_dir, git_branch, place_pk, place_at, place_span`

type convRow struct {
	traces, turnSpans, turnTraces int64
	spans, errors, running        int64
	first, last                   int64
	tok                           [nUsage]int64
	prompt                        string
	pk                            promptKey
	place                         placeCand
}

// turnCount and backgroundCount apply the turn rule (store package doc).
func (c *convRow) turnCount() int64 {
	if c.turnSpans > 0 {
		return c.turnSpans
	}
	return c.traces
}

func (c *convRow) backgroundCount() int64 {
	if c.turnSpans > 0 {
		return c.traces - c.turnTraces
	}
	return 0
}

func (w *writeTx) applyConversations(d *deltas, traces map[int64]int64, turns map[int64]turnDiff) error {
	counts := make(map[int64]int64) // per project: conversations that appeared minus those that went
	for k, c := range d.convs {
		proj, n, err := w.applyConversation(k, c, traces[k], turns[k])
		if err != nil {
			return err
		}
		counts[proj] += n
	}
	for proj, n := range counts {
		if n == 0 {
			continue
		}
		if _, err := w.exec("UPDATE projects SET conv_count = conv_count + ? WHERE id = ?", n, proj); err != nil {
			return err
		}
	}
	return nil
}

// applyConversation applies one conversation's delta (with its traces
// and turns moved) to its row, and returns its project and how the
// project's conversation count moves (+1 appeared, -1 went, or 0).
func (w *writeTx) applyConversation(k int64, c *convDelta, traces int64, turns turnDiff) (proj, n int64, err error) {
	var cur convRow
	st, err := w.stmt("SELECT proj, " + convCols + " FROM conversations WHERE id = ?")
	if err != nil {
		return 0, 0, err
	}
	err = st.QueryRowContext(w.ctx, k).Scan(append(append([]any{&proj, &cur.traces, &cur.turnSpans, &cur.turnTraces, &cur.spans, &cur.errors, &cur.running,
		&cur.first, &cur.last}, usageDest(&cur.tok)...),
		&cur.prompt, &cur.pk.pk, &cur.pk.started, &cur.pk.rank, &cur.pk.spanID,
		&cur.place.workingDir, &cur.place.gitBranch, &cur.place.key.pk, &cur.place.key.started, &cur.place.key.spanID)...)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: read conversation %d: %w", k, err)
	}
	exists := cur.spans > 0 // rows are created empty by writeTx.conv
	cur.traces += traces
	cur.turnSpans += turns.spans
	cur.turnTraces += turns.traces
	cur.spans += c.spans
	cur.errors += c.errors
	cur.running += c.running
	for i := range cur.tok {
		cur.tok[i] += c.tok[i]
	}
	if cur.spans <= 0 {
		if exists {
			n = -1
		}
		_, err := w.exec("DELETE FROM conversations WHERE id = ?", k)
		return proj, n, err
	}
	if !exists {
		n = 1
	}
	lo, hi, recompute := c.ext.resolve(cur.first, cur.last, exists)
	if recompute {
		var a, b sql.NullInt64
		if err := w.tx.QueryRowContext(w.ctx, `SELECT MIN(started_at), MAX(MAX(started_at, ended_at)) FROM spans
			WHERE conv_id = ?`, k).Scan(&a, &b); err != nil {
			return 0, 0, fmt.Errorf("sqlite: recompute conversation: %w", err)
		}
		lo, hi = a.Int64, b.Int64
	}
	cur.first, cur.last = lo, hi
	if err := w.resolvePrompt(k, c, &cur, exists); err != nil {
		return 0, 0, err
	}
	if err := w.resolvePlace(k, c, &cur, exists); err != nil {
		return 0, 0, err
	}
	if _, err := w.exec(`UPDATE conversations SET turn_count = ?, background_count = ?, trace_count = ?,
		turn_spans = ?, turn_traces = ?, span_count = ?, error_count = ?, running_count = ?,
		first_activity = ?, last_activity = ?, input_tokens = ?, output_tokens = ?, cache_read_tokens = ?,
		cache_create_tokens = ?, reasoning_tokens = ?, cost_nanos = ?, unpriced = ?, prompt = ?, prompt_pk = ?, prompt_at = ?, prompt_rank = ?,
		prompt_span = ?, working_dir = ?, git_branch = ?, place_pk = ?, place_at = ?, place_span = ? WHERE id = ?`,
		cur.turnCount(), cur.backgroundCount(), cur.traces, cur.turnSpans, cur.turnTraces, cur.spans, cur.errors, cur.running, cur.first, cur.last,
		cur.tok[0], cur.tok[1], cur.tok[2], cur.tok[3], cur.tok[4], cur.tok[iCost], cur.tok[iUnpriced],
		cur.prompt, cur.pk.pk, cur.pk.started, cur.pk.rank, cur.pk.spanID,
		cur.place.workingDir, cur.place.gitBranch, cur.place.key.pk, cur.place.key.started, cur.place.key.spanID, k); err != nil {
		return 0, 0, err
	}
	return proj, n, nil
}

// resolvePrompt sets the conversation's first prompt after the delta: a
// removed first prompt is recomputed unless an added one comes first.
func (w *writeTx) resolvePrompt(k int64, c *convDelta, cur *convRow, exists bool) error {
	hadPrompt := exists && cur.pk.pk != 0
	switch {
	case c.promptForce || (hadPrompt && c.promptRemoved[cur.pk.pk] && (c.prompt == nil || cur.pk.less(c.prompt.key))):
		return w.recomputePrompt(k, cur)
	case c.prompt != nil && (!hadPrompt || c.promptRemoved[cur.pk.pk] || !cur.pk.less(c.prompt.key)):
		cur.prompt, cur.pk = c.prompt.text, c.prompt.key
	}
	return nil
}

// resolvePlace sets the conversation's place after the delta: the latest
// span that records one. A removed latest is recomputed unless an added
// one is at least as late.
func (w *writeTx) resolvePlace(k int64, c *convDelta, cur *convRow, exists bool) error {
	hadPlace := exists && cur.place.key.pk != 0
	switch {
	case c.placeForce || (hadPlace && c.placeRemoved[cur.place.key.pk] && (c.place == nil || c.place.key.less(cur.place.key))):
		return w.recomputePlace(k, cur)
	case c.place != nil && (!hadPlace || c.placeRemoved[cur.place.key.pk] || !c.place.key.less(cur.place.key)):
		cur.place = *c.place
	}
	return nil
}

// recomputePrompt finds the conversation's first prompt from its spans.
func (w *writeTx) recomputePrompt(k int64, cur *convRow) error {
	cur.prompt, cur.pk = "", promptKey{}
	rows, err := w.tx.QueryContext(w.ctx, `SELECT pk, started_at, operation_name, span_id FROM spans
		WHERE conv_id = ? AND has_prompt = 1
		ORDER BY started_at, operation_name != 'invoke_agent', span_id LIMIT 8`, k)
	if err != nil {
		return fmt.Errorf("sqlite: recompute prompt: %w", err)
	}
	var cands []promptKey
	for rows.Next() {
		var pk promptKey
		var op string
		if err := rows.Scan(&pk.pk, &pk.started, &op, &pk.spanID); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: recompute prompt: %w", err)
		}
		pk.rank = 1
		if op == model.OpInvokeAgent {
			pk.rank = 0
		}
		cands = append(cands, pk)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("sqlite: recompute prompt: %w", err)
	}
	for _, c := range cands {
		spans, err := loadSpanDetails(w.ctx, w.tx, []int64{c.pk})
		if err != nil {
			return err
		}
		if t := promptPreview(spans[c.pk].InputMessages); t != "" {
			cur.prompt, cur.pk = t, c
			return nil
		}
	}
	if len(cands) > 0 {
		w.s.log.Warn("first prompt not found among flagged spans", "conversation", k)
	}
	return nil
}

// recomputePlace finds where the conversation last ran from its spans.
func (w *writeTx) recomputePlace(k int64, cur *convRow) error {
	cur.place = placeCand{}
	var attrs sql.NullString
	err := w.tx.QueryRowContext(w.ctx, `SELECT s.pk, s.started_at, s.span_id, a.attrs FROM spans s
		LEFT JOIN attrsets a ON a.id = s.attrs_id
		WHERE s.conv_id = ? AND s.has_place = 1 ORDER BY s.started_at DESC, s.span_id DESC LIMIT 1`, k).
		Scan(&cur.place.key.pk, &cur.place.key.started, &cur.place.key.spanID, &attrs)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: recompute place: %w", err)
	}
	var set struct {
		S map[string]string `json:"s"`
	}
	if attrs.Valid {
		if err := json.Unmarshal([]byte(attrs.String), &set); err != nil {
			return fmt.Errorf("sqlite: recompute place: %w", err)
		}
	}
	cur.place.workingDir, cur.place.gitBranch, _ = store.Place(set.S)
	return nil
}
