package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/weavetrace/weave/server/model"
)

// sums are the additive figures of agent rollups.
type sums struct {
	spans, invocations, errors, durMs, endedInv int64
	tok                                         [5]int64
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

type avKey struct{ project, agent, version string }
type minuteKey struct {
	project        string
	minute         int64
	agent, version string
}
type convKey struct{ project, conv string }
type convItemKey struct{ project, conv, item string }
type groupKey struct {
	project, conv, role string
	text                int64
}

type avDelta struct {
	sums
	ext extremes // started_at
}

type convDelta struct {
	spans, errors, running int64
	tok                    [5]int64
	ext                    extremes // min started_at, max activity
	promptRemoved          map[int64]bool
	prompt                 *promptCand // best known candidate added
	promptForce            bool        // a candidate of unknown text was added
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

// groupCand is a first-occurrence candidate of a search group.
type groupCand struct {
	started       int64
	trace, spanID string
	pk            int64
	op, agent     string
}

func (a *groupCand) less(b *groupCand) bool {
	if a.started != b.started {
		return a.started < b.started
	}
	if a.trace != b.trace {
		return a.trace < b.trace
	}
	return a.spanID < b.spanID
}

type groupDelta struct {
	count   int64
	removed map[int64]bool
	best    *groupCand
}

// deltas accumulate the rollup changes of one batch.
type deltas struct {
	projects   map[string]int64
	versions   map[avKey]*avDelta
	minutes    map[minuteKey]*sums
	convs      map[convKey]*convDelta
	convTraces map[convItemKey]int64
	convAgents map[convItemKey]int64
	convModels map[convItemKey]int64
	groups     map[groupKey]*groupDelta
}

func newDeltas() *deltas {
	return &deltas{
		projects:   make(map[string]int64),
		versions:   make(map[avKey]*avDelta),
		minutes:    make(map[minuteKey]*sums),
		convs:      make(map[convKey]*convDelta),
		convTraces: make(map[convItemKey]int64),
		convAgents: make(map[convItemKey]int64),
		convModels: make(map[convItemKey]int64),
		groups:     make(map[groupKey]*groupDelta),
	}
}

const minuteNanos = int64(60e9)

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
	if r.d.counted {
		for i, t := range r.tok {
			if t.Valid {
				s.tok[i] = t.Int64
			}
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
func (d *deltas) add(r *rowState, keys []roleText, prompt *promptCand, sign int64) {
	project := r.project
	d.projects[project] += sign
	s := spanSums(r)
	if r.d.effAgent != "" {
		k := avKey{project, r.d.effAgent, r.d.effVersion}
		v := d.versions[k]
		if v == nil {
			v = &avDelta{}
			d.versions[k] = v
		}
		v.add(&s, sign)
		v.ext.note(r.started, r.started, sign)
		mk := minuteKey{project, minuteOf(r.started), r.d.effAgent, r.d.effVersion}
		m := d.minutes[mk]
		if m == nil {
			m = &sums{}
			d.minutes[mk] = m
		}
		m.add(&s, sign)
	}
	ck := convKey{project, r.d.convKey}
	c := d.convs[ck]
	if c == nil {
		c = &convDelta{}
		d.convs[ck] = c
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
	d.convTraces[convItemKey{project, r.d.convKey, r.traceID}] += sign
	if r.d.effAgent != "" {
		d.convAgents[convItemKey{project, r.d.convKey, r.d.effAgent}] += sign
	}
	if m := modelOf(r); m != "" {
		d.convModels[convItemKey{project, r.d.convKey, m}] += sign
	}
	for _, k := range keys {
		gk := groupKey{project, r.d.convKey, k.role, k.text}
		g := d.groups[gk]
		if g == nil {
			g = &groupDelta{}
			d.groups[gk] = g
		}
		g.count += sign
		if sign < 0 {
			if g.removed == nil {
				g.removed = make(map[int64]bool)
			}
			g.removed[r.pk] = true
			continue
		}
		cand := &groupCand{started: r.started, trace: r.traceID, spanID: r.spanID, pk: r.pk, op: r.op, agent: r.d.effAgent}
		if g.best == nil || cand.less(g.best) {
			g.best = cand
		}
	}
}

// applyDeltas writes the batch's rollup changes.
func (w *writeTx) applyDeltas(d *deltas) error {
	for p, n := range d.projects {
		if n == 0 {
			continue
		}
		if _, err := w.exec(`INSERT INTO projects (project_id, span_count) VALUES (?, ?)
			ON CONFLICT (project_id) DO UPDATE SET span_count = span_count + excluded.span_count`, p, n); err != nil {
			return err
		}
	}
	if err := w.applyMinutes(d); err != nil {
		return err
	}
	if err := w.applyVersions(d); err != nil {
		return err
	}
	turns, err := w.applyItems("conv_traces", "trace_id", d.convTraces)
	if err != nil {
		return err
	}
	if _, err := w.applyItems("conv_agents", "agent_name", d.convAgents); err != nil {
		return err
	}
	if _, err := w.applyItems("conv_models", "model", d.convModels); err != nil {
		return err
	}
	if err := w.applyConversations(d, turns); err != nil {
		return err
	}
	return w.applyGroups(d)
}

const sumCols = `span_count, invocation_count, error_count, duration_ms, ended_invocations,
	input_tokens, output_tokens, cache_read_tokens, cache_create_tokens, reasoning_tokens`

func sumArgs(s *sums) []any {
	return []any{s.spans, s.invocations, s.errors, s.durMs, s.endedInv, s.tok[0], s.tok[1], s.tok[2], s.tok[3], s.tok[4]}
}

func (w *writeTx) applyMinutes(d *deltas) error {
	for k, s := range d.minutes {
		if *s == (sums{}) {
			continue
		}
		if _, err := w.exec(`INSERT INTO agent_minutes (project_id, minute, agent_name, agent_version, `+sumCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (project_id, minute, agent_name, agent_version) DO UPDATE SET
			span_count = span_count + excluded.span_count,
			invocation_count = invocation_count + excluded.invocation_count,
			error_count = error_count + excluded.error_count,
			duration_ms = duration_ms + excluded.duration_ms,
			ended_invocations = ended_invocations + excluded.ended_invocations,
			input_tokens = input_tokens + excluded.input_tokens,
			output_tokens = output_tokens + excluded.output_tokens,
			cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
			cache_create_tokens = cache_create_tokens + excluded.cache_create_tokens,
			reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens`,
			append([]any{k.project, k.minute, k.agent, k.version}, sumArgs(s)...)...); err != nil {
			return err
		}
		if s.spans < 0 {
			if _, err := w.exec("DELETE FROM agent_minutes WHERE project_id = ? AND minute = ? AND agent_name = ? AND agent_version = ? AND span_count <= 0",
				k.project, k.minute, k.agent, k.version); err != nil {
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
			WHERE project_id = ? AND agent_name = ? AND agent_version = ?`)
		if err != nil {
			return err
		}
		err = st.QueryRowContext(w.ctx, k.project, k.agent, k.version).Scan(&cur.spans, &cur.invocations, &cur.errors,
			&cur.durMs, &cur.endedInv, &cur.tok[0], &cur.tok[1], &cur.tok[2], &cur.tok[3], &cur.tok[4], &first, &last)
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: read agent version: %w", err)
		}
		cur.add(&v.sums, 1)
		if cur.spans <= 0 {
			if _, err := w.exec("DELETE FROM agent_versions WHERE project_id = ? AND agent_name = ? AND agent_version = ?",
				k.project, k.agent, k.version); err != nil {
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
		if _, err := w.exec(`INSERT OR REPLACE INTO agent_versions (project_id, agent_name, agent_version, `+sumCols+`, first_seen, last_seen)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			append(append([]any{k.project, k.agent, k.version}, sumArgs(&cur)...), lo, hi)...); err != nil {
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
		WHERE project_id = ? AND agent_name = ? AND agent_version = ?`, k.project, k.agent, k.version).Scan(&mlo, &mhi); err != nil {
		return 0, 0, fmt.Errorf("sqlite: recompute agent version: %w", err)
	}
	if !mlo.Valid {
		return 0, 0, fmt.Errorf("sqlite: recompute agent version %q/%q: no activity left", k.agent, k.version)
	}
	q := `SELECT %s(started_at) FROM spans WHERE project_id = ? AND started_at >= ? AND started_at < ?
		AND eff_agent = ? AND eff_version = ?`
	var a, b sql.NullInt64
	if err := w.tx.QueryRowContext(w.ctx, fmt.Sprintf(q, "MIN"), k.project, mlo.Int64*minuteNanos, (mlo.Int64+1)*minuteNanos, k.agent, k.version).Scan(&a); err != nil {
		return 0, 0, fmt.Errorf("sqlite: recompute agent version: %w", err)
	}
	if err := w.tx.QueryRowContext(w.ctx, fmt.Sprintf(q, "MAX"), k.project, mhi.Int64*minuteNanos, (mhi.Int64+1)*minuteNanos, k.agent, k.version).Scan(&b); err != nil {
		return 0, 0, fmt.Errorf("sqlite: recompute agent version: %w", err)
	}
	if !a.Valid || !b.Valid {
		return 0, 0, fmt.Errorf("sqlite: recompute agent version %q/%q: rollup and spans disagree", k.agent, k.version)
	}
	return a.Int64, b.Int64, nil
}

// applyItems maintains a (project, conv, item) → span_count table and
// returns, per conversation, how many items appeared minus disappeared.
func (w *writeTx) applyItems(table, col string, items map[convItemKey]int64) (map[convKey]int64, error) {
	diff := make(map[convKey]int64)
	for k, n := range items {
		if n == 0 {
			continue
		}
		var cur int64
		st, err := w.stmt("SELECT span_count FROM " + table + " WHERE project_id = ? AND conv_key = ? AND " + col + " = ?")
		if err != nil {
			return nil, err
		}
		err = st.QueryRowContext(w.ctx, k.project, k.conv, k.item).Scan(&cur)
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlite: read %s: %w", table, err)
		}
		next := cur + n
		switch {
		case next <= 0:
			if exists {
				if _, err := w.exec("DELETE FROM "+table+" WHERE project_id = ? AND conv_key = ? AND "+col+" = ?", k.project, k.conv, k.item); err != nil {
					return nil, err
				}
				diff[convKey{k.project, k.conv}]--
			}
		case exists:
			if _, err := w.exec("UPDATE "+table+" SET span_count = ? WHERE project_id = ? AND conv_key = ? AND "+col+" = ?", next, k.project, k.conv, k.item); err != nil {
				return nil, err
			}
		default:
			if _, err := w.exec("INSERT INTO "+table+" (project_id, conv_key, "+col+", span_count) VALUES (?, ?, ?, ?)", k.project, k.conv, k.item, next); err != nil {
				return nil, err
			}
			diff[convKey{k.project, k.conv}]++
		}
	}
	return diff, nil
}

const convCols = `turn_count, span_count, error_count, running_count, first_activity, last_activity,
	input_tokens, output_tokens, cache_read_tokens, cache_create_tokens, reasoning_tokens,
	prompt, prompt_pk, prompt_at, prompt_rank, prompt_span`

type convRow struct {
	turns, spans, errors, running int64
	first, last                   int64
	tok                           [5]int64
	prompt                        string
	pk                            promptKey
}

func (w *writeTx) applyConversations(d *deltas, turns map[convKey]int64) error {
	for k, c := range d.convs {
		var cur convRow
		st, err := w.stmt("SELECT " + convCols + " FROM conversations WHERE project_id = ? AND conv_key = ?")
		if err != nil {
			return err
		}
		err = st.QueryRowContext(w.ctx, k.project, k.conv).Scan(&cur.turns, &cur.spans, &cur.errors, &cur.running,
			&cur.first, &cur.last, &cur.tok[0], &cur.tok[1], &cur.tok[2], &cur.tok[3], &cur.tok[4],
			&cur.prompt, &cur.pk.pk, &cur.pk.started, &cur.pk.rank, &cur.pk.spanID)
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: read conversation: %w", err)
		}
		cur.turns += turns[k]
		cur.spans += c.spans
		cur.errors += c.errors
		cur.running += c.running
		for i := range cur.tok {
			cur.tok[i] += c.tok[i]
		}
		if cur.spans <= 0 {
			if exists {
				if _, err := w.exec("DELETE FROM conversations WHERE project_id = ? AND conv_key = ?", k.project, k.conv); err != nil {
					return err
				}
			}
			continue
		}
		lo, hi, recompute := c.ext.resolve(cur.first, cur.last, exists)
		if recompute {
			var a, b sql.NullInt64
			if err := w.tx.QueryRowContext(w.ctx, `SELECT MIN(started_at), MAX(MAX(started_at, ended_at)) FROM spans
				WHERE project_id = ? AND conv_key = ?`, k.project, k.conv).Scan(&a, &b); err != nil {
				return fmt.Errorf("sqlite: recompute conversation: %w", err)
			}
			lo, hi = a.Int64, b.Int64
		}
		cur.first, cur.last = lo, hi

		// First prompt.
		hadPrompt := exists && cur.pk.pk != 0
		switch {
		case c.promptForce || (hadPrompt && c.promptRemoved[cur.pk.pk] && (c.prompt == nil || cur.pk.less(c.prompt.key))):
			if err := w.recomputePrompt(k, &cur); err != nil {
				return err
			}
		case c.prompt != nil && (!hadPrompt || c.promptRemoved[cur.pk.pk] || !cur.pk.less(c.prompt.key)):
			cur.prompt, cur.pk = c.prompt.text, c.prompt.key
		}
		if _, err := w.exec(`INSERT OR REPLACE INTO conversations (project_id, conv_key, `+convCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.project, k.conv, cur.turns, cur.spans, cur.errors, cur.running, cur.first, cur.last,
			cur.tok[0], cur.tok[1], cur.tok[2], cur.tok[3], cur.tok[4],
			cur.prompt, cur.pk.pk, cur.pk.started, cur.pk.rank, cur.pk.spanID); err != nil {
			return err
		}
	}
	return nil
}

// recomputePrompt finds the conversation's first prompt from its spans.
func (w *writeTx) recomputePrompt(k convKey, cur *convRow) error {
	cur.prompt, cur.pk = "", promptKey{}
	rows, err := w.tx.QueryContext(w.ctx, `SELECT pk, started_at, operation_name, span_id FROM spans
		WHERE project_id = ? AND conv_key = ? AND has_prompt = 1
		ORDER BY started_at, operation_name != 'invoke_agent', span_id LIMIT 8`, k.project, k.conv)
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
		spans, err := loadDetails(w.ctx, w.tx, []int64{c.pk})
		if err != nil {
			return err
		}
		if t := promptPreview(spans[c.pk].InputMessages); t != "" {
			cur.prompt, cur.pk = t, c
			return nil
		}
	}
	if len(cands) > 0 {
		w.s.log.Warn("first prompt not found among flagged spans", "project_id", k.project, "conversation_id", k.conv)
	}
	return nil
}

func (w *writeTx) applyGroups(d *deltas) error {
	recompute := make(map[convKey][]groupKey)
	for k, g := range d.groups {
		var count int64
		var first groupCand
		st, err := w.stmt(`SELECT span_count, first_at, first_trace, first_span, first_pk, first_op, agent_name
			FROM msg_groups WHERE project_id = ? AND conv_key = ? AND role = ? AND text_id = ?`)
		if err != nil {
			return err
		}
		err = st.QueryRowContext(w.ctx, k.project, k.conv, k.role, k.text).Scan(&count, &first.started, &first.trace,
			&first.spanID, &first.pk, &first.op, &first.agent)
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: read msg group: %w", err)
		}
		count += g.count
		if count <= 0 {
			if exists {
				if _, err := w.exec("DELETE FROM msg_groups WHERE project_id = ? AND conv_key = ? AND role = ? AND text_id = ?",
					k.project, k.conv, k.role, k.text); err != nil {
					return err
				}
			}
			continue
		}
		switch {
		case !exists:
			if g.best == nil {
				return fmt.Errorf("sqlite: msg group %v has spans but no occurrence", k)
			}
			first = *g.best
		case g.removed[first.pk]:
			if g.best != nil && !first.less(g.best) {
				first = *g.best
			} else {
				recompute[convKey{k.project, k.conv}] = append(recompute[convKey{k.project, k.conv}], k)
			}
		case g.best != nil && g.best.less(&first):
			first = *g.best
		}
		if _, err := w.exec(`INSERT OR REPLACE INTO msg_groups (project_id, conv_key, role, text_id, span_count,
			first_at, first_trace, first_span, first_pk, first_op, agent_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.project, k.conv, k.role, k.text, count, first.started, first.trace, first.spanID, first.pk, first.op, first.agent); err != nil {
			return err
		}
	}
	for ck, keys := range recompute {
		if err := w.recomputeGroups(ck, keys); err != nil {
			return err
		}
	}
	return nil
}

// recomputeGroups finds the first occurrence of groups whose first span
// was replaced or moved, scanning the conversation in order.
func (w *writeTx) recomputeGroups(ck convKey, keys []groupKey) error {
	want := make(map[roleText]groupKey, len(keys))
	for _, k := range keys {
		want[roleText{k.role, k.text}] = k
	}
	const chunk = 256
	var after struct {
		started       int64
		trace, spanID string
		set           bool
	}
	for len(want) > 0 {
		q := `SELECT pk, trace_id, span_id, started_at, operation_name, eff_agent FROM spans
			WHERE project_id = ? AND conv_key = ?`
		args := []any{ck.project, ck.conv}
		if after.set {
			q += ` AND (started_at, trace_id, span_id) > (?, ?, ?)`
			args = append(args, after.started, after.trace, after.spanID)
		}
		q += ` ORDER BY started_at, trace_id, span_id LIMIT ` + fmt.Sprint(chunk)
		rows, err := w.tx.QueryContext(w.ctx, q, args...)
		if err != nil {
			return fmt.Errorf("sqlite: recompute search groups: %w", err)
		}
		var cands []groupCand
		for rows.Next() {
			var c groupCand
			if err := rows.Scan(&c.pk, &c.trace, &c.spanID, &c.started, &c.op, &c.agent); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: recompute search groups: %w", err)
			}
			cands = append(cands, c)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("sqlite: recompute search groups: %w", err)
		}
		if len(cands) == 0 {
			break
		}
		pks := make([]int64, len(cands))
		for i, c := range cands {
			pks[i] = c.pk
		}
		keysBy, err := w.spanKeys(pks)
		if err != nil {
			return err
		}
		for _, c := range cands {
			for _, rt := range keysBy[c.pk] {
				gk, ok := want[rt]
				if !ok {
					continue
				}
				delete(want, rt)
				if _, err := w.exec(`UPDATE msg_groups SET first_at = ?, first_trace = ?, first_span = ?, first_pk = ?,
					first_op = ?, agent_name = ? WHERE project_id = ? AND conv_key = ? AND role = ? AND text_id = ?`,
					c.started, c.trace, c.spanID, c.pk, c.op, c.agent, gk.project, gk.conv, gk.role, gk.text); err != nil {
					return err
				}
			}
		}
		last := cands[len(cands)-1]
		after.started, after.trace, after.spanID, after.set = last.started, last.trace, last.spanID, true
	}
	if len(want) > 0 {
		var names []string
		for rt := range want {
			names = append(names, fmt.Sprintf("%s/%d", rt.role, rt.text))
		}
		return fmt.Errorf("sqlite: search groups %s of %q have no span left", strings.Join(names, ","), ck.conv)
	}
	return nil
}
