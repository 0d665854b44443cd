package sqlite

import (
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/textsearch"
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
type groupKey struct {
	conv int64
	role string
	text int64
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
	proj    int64
	count   int64
	removed map[int64]bool
	best    *groupCand
}

// deltas accumulate the rollup changes of one batch.
type deltas struct {
	projects   map[int64]int64
	versions   map[avKey]*avDelta
	minutes    map[minuteKey]*sums
	hours      map[minuteKey]*sums // minute field holds the hour
	convs      map[int64]*convDelta
	convTraces map[convItemKey]int64
	convAgents map[convItemKey]int64
	convModels map[convItemKey]int64
	groups     map[groupKey]*groupDelta
}

func newDeltas() *deltas {
	return &deltas{
		projects:   make(map[int64]int64),
		versions:   make(map[avKey]*avDelta),
		minutes:    make(map[minuteKey]*sums),
		hours:      make(map[minuteKey]*sums),
		convs:      make(map[int64]*convDelta),
		convTraces: make(map[convItemKey]int64),
		convAgents: make(map[convItemKey]int64),
		convModels: make(map[convItemKey]int64),
		groups:     make(map[groupKey]*groupDelta),
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
	project := r.proj
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
		for _, b := range []struct {
			m   map[minuteKey]*sums
			key int64
		}{{d.minutes, minuteOf(r.started)}, {d.hours, store.FloorDiv(r.started, hourNanos)}} {
			mk := minuteKey{project, b.key, r.d.effAgent, r.d.effVersion}
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
	d.convTraces[convItemKey{r.convID, r.traceID}] += sign
	if r.d.effAgent != "" {
		d.convAgents[convItemKey{r.convID, r.d.effAgent}] += sign
	}
	if m := modelOf(r); m != "" {
		d.convModels[convItemKey{r.convID, m}] += sign
	}
	for _, k := range keys {
		gk := groupKey{r.convID, k.role, k.text}
		g := d.groups[gk]
		if g == nil {
			g = &groupDelta{proj: project}
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
		cand := &groupCand{started: r.started, trace: r.traceID, spanID: r.spanID, pk: r.pk}
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
	if err := w.applyGroups(d); err != nil {
		return err
	}
	return w.applyFTS()
}

const sumCols = `span_count, invocation_count, error_count, duration_ms, ended_invocations,
	input_tokens, output_tokens, cache_read_tokens, cache_create_tokens, reasoning_tokens`

func sumArgs(s *sums) []any {
	return []any{s.spans, s.invocations, s.errors, s.durMs, s.endedInv, s.tok[0], s.tok[1], s.tok[2], s.tok[3], s.tok[4]}
}

// applyBuckets adds per-minute or per-hour sums (table agent_minutes or
// agent_hours, time column minute or hour) and drops emptied rows.
func (w *writeTx) applyBuckets(table, col string, buckets map[minuteKey]*sums) error {
	for k, s := range buckets {
		if *s == (sums{}) {
			continue
		}
		if _, err := w.exec(`INSERT INTO `+table+` (proj, `+col+`, agent_name, agent_version, `+sumCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
			reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens`,
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
		err = st.QueryRowContext(w.ctx, k.proj, k.agent, k.version).Scan(&cur.spans, &cur.invocations, &cur.errors,
			&cur.durMs, &cur.endedInv, &cur.tok[0], &cur.tok[1], &cur.tok[2], &cur.tok[3], &cur.tok[4], &first, &last)
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
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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

func (w *writeTx) applyConversations(d *deltas, turns map[int64]int64) error {
	for k, c := range d.convs {
		var cur convRow
		st, err := w.stmt("SELECT " + convCols + " FROM conversations WHERE id = ?")
		if err != nil {
			return err
		}
		err = st.QueryRowContext(w.ctx, k).Scan(&cur.turns, &cur.spans, &cur.errors, &cur.running,
			&cur.first, &cur.last, &cur.tok[0], &cur.tok[1], &cur.tok[2], &cur.tok[3], &cur.tok[4],
			&cur.prompt, &cur.pk.pk, &cur.pk.started, &cur.pk.rank, &cur.pk.spanID)
		if err != nil {
			return fmt.Errorf("sqlite: read conversation %d: %w", k, err)
		}
		exists := cur.spans > 0 // rows are created empty by writeTx.conv
		cur.turns += turns[k]
		cur.spans += c.spans
		cur.errors += c.errors
		cur.running += c.running
		for i := range cur.tok {
			cur.tok[i] += c.tok[i]
		}
		if cur.spans <= 0 {
			if _, err := w.exec("DELETE FROM conversations WHERE id = ?", k); err != nil {
				return err
			}
			continue
		}
		lo, hi, recompute := c.ext.resolve(cur.first, cur.last, exists)
		if recompute {
			var a, b sql.NullInt64
			if err := w.tx.QueryRowContext(w.ctx, `SELECT MIN(started_at), MAX(MAX(started_at, ended_at)) FROM spans
				WHERE conv_id = ?`, k).Scan(&a, &b); err != nil {
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
		if _, err := w.exec(`UPDATE conversations SET turn_count = ?, span_count = ?, error_count = ?, running_count = ?,
			first_activity = ?, last_activity = ?, input_tokens = ?, output_tokens = ?, cache_read_tokens = ?,
			cache_create_tokens = ?, reasoning_tokens = ?, prompt = ?, prompt_pk = ?, prompt_at = ?, prompt_rank = ?,
			prompt_span = ? WHERE id = ?`,
			cur.turns, cur.spans, cur.errors, cur.running, cur.first, cur.last,
			cur.tok[0], cur.tok[1], cur.tok[2], cur.tok[3], cur.tok[4],
			cur.prompt, cur.pk.pk, cur.pk.started, cur.pk.rank, cur.pk.spanID, k); err != nil {
			return err
		}
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

func (w *writeTx) applyGroups(d *deltas) error {
	recompute := make(map[int64][]groupKey)
	for k, g := range d.groups {
		if len(g.removed) == 0 && g.best != nil {
			if err := w.addGroup(k, g); err != nil {
				return err
			}
			continue
		}
		var count, firstAt, firstPK, gid int64
		st, err := w.stmt("SELECT span_count, first_at, first_pk, gid FROM msg_groups WHERE conv_id = ? AND role = ? AND text_id = ?")
		if err != nil {
			return err
		}
		err = st.QueryRowContext(w.ctx, k.conv, k.role, k.text).Scan(&count, &firstAt, &firstPK, &gid)
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: read msg group: %w", err)
		}
		count += g.count
		if count <= 0 {
			if exists {
				if _, err := w.exec("DELETE FROM msg_groups WHERE conv_id = ? AND role = ? AND text_id = ?", k.conv, k.role, k.text); err != nil {
					return err
				}
				if err := w.ftsDelete(gid); err != nil {
					return err
				}
			}
			continue
		}
		if !exists {
			if g.best == nil {
				return fmt.Errorf("sqlite: msg group %v has spans but no occurrence", k)
			}
			if err := w.insertGroup(k, g.proj, count, g.best); err != nil {
				return err
			}
			continue
		}
		switch {
		case g.removed[firstPK]:
			// The first span was replaced or moved: a candidate strictly
			// earlier, or the same span at the same time, is still first.
			if g.best != nil && (g.best.started < firstAt || (g.best.pk == firstPK && g.best.started == firstAt)) {
				firstAt, firstPK = g.best.started, g.best.pk
			} else {
				recompute[k.conv] = append(recompute[k.conv], k)
			}
		case g.best != nil:
			earlier, err := w.candidateEarlier(g.best, firstAt, firstPK)
			if err != nil {
				return err
			}
			if earlier {
				firstAt, firstPK = g.best.started, g.best.pk
			}
		}
		if _, err := w.exec("UPDATE msg_groups SET span_count = ?, first_at = ?, first_pk = ? WHERE conv_id = ? AND role = ? AND text_id = ?",
			count, firstAt, firstPK, k.conv, k.role, k.text); err != nil {
			return err
		}
		if err := w.moveGroup(k, g.proj, gid, firstAt); err != nil {
			return err
		}
	}
	for conv, keys := range recompute {
		if err := w.recomputeGroups(conv, keys); err != nil {
			return err
		}
	}
	return nil
}

// Search group ids: the millisecond of first_at above gidShift bits, a
// hash of the group key (probed on collision) below.
const (
	gidShift = 20
	gidMask  = 1<<gidShift - 1
	gidMaxMS = 1 << 42 // ± about 139 years around 1970; beyond, times are clamped
)

func gidMS(firstAt int64) int64 {
	ms := store.FloorDiv(firstAt, 1e6)
	return max(-gidMaxMS, min(gidMaxMS, ms))
}

func gidFor(firstAt int64, k groupKey, probe int64) int64 {
	h := uint64(k.conv)*0x9E3779B97F4A7C15 ^ uint64(k.text)*0xC2B2AE3D27D4EB4F
	for i := 0; i < len(k.role); i++ {
		h = (h ^ uint64(k.role[i])) * 0x100000001B3
	}
	h ^= h >> 29
	return gidMS(firstAt)<<gidShift + (int64(h&gidMask)+probe)&gidMask
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// ftsOp is a pending change to groups_fts. FTS5 flushes its in-memory
// index at every statement savepoint, and the rollup upserts open one each,
// so the changes are queued and applied together at the end of the write
// (applyFTS), where they cost one flush.
type ftsOp struct {
	del  bool
	gid  int64
	key  groupKey
	proj int64
}

// ftsInsert queues indexing a group's text under gid.
func (w *writeTx) ftsInsert(gid int64, k groupKey, proj int64) error {
	w.fts = append(w.fts, ftsOp{gid: gid, key: k, proj: proj})
	return nil
}

// ftsDelete queues removing a group's document.
func (w *writeTx) ftsDelete(gid int64) error {
	w.fts = append(w.fts, ftsOp{del: true, gid: gid})
	return nil
}

// applyFTS runs the queued index changes: their net effect per gid,
// deletions then insertions, each in ascending rowid order (FTS5 also
// flushes when rowids of pending writes go backwards).
func (w *writeTx) applyFTS() error {
	type net struct {
		del bool   // a document stored before this write goes
		ins *ftsOp // the document to store
	}
	state := make(map[int64]*net, len(w.fts))
	for i := range w.fts {
		op := &w.fts[i]
		st := state[op.gid]
		if st == nil {
			st = &net{}
			state[op.gid] = st
		}
		switch {
		case !op.del:
			st.ins = op
		case st.ins != nil: // inserted by this write, removed again
			st.ins = nil
		default:
			st.del = true
		}
	}
	gids := make([]int64, 0, len(state))
	for gid := range state {
		gids = append(gids, gid)
	}
	slices.Sort(gids)
	for _, gid := range gids {
		if state[gid].del {
			if _, err := w.exec("DELETE FROM groups_fts WHERE rowid = ?", gid); err != nil {
				return err
			}
		}
	}
	for _, gid := range gids {
		op := state[gid].ins
		if op == nil {
			continue
		}
		body, err := w.textBody(op.key.text)
		if err != nil {
			return err
		}
		if _, err := w.exec("INSERT INTO groups_fts (rowid, meta, body) VALUES (?, ?, ?)",
			gid, groupMeta(op.proj, op.key.conv, op.key.role), textsearch.IndexText(body)); err != nil {
			return err
		}
	}
	w.fts = w.fts[:0]
	return nil
}

// groupMeta is the filter tokens of a group's search document.
func groupMeta(proj, conv int64, role string) string {
	return fmt.Sprintf("p%d c%d %s", proj, conv, roleToken(role))
}

func roleToken(role string) string { return "r" + hex.EncodeToString([]byte(role)) }

// insertGroup creates a group row and its search document.
func (w *writeTx) insertGroup(k groupKey, proj, count int64, first *groupCand) error {
	for probe := int64(0); ; probe++ {
		gid := gidFor(first.started, k, probe)
		_, err := w.exec(`INSERT INTO msg_groups (conv_id, role, text_id, proj, span_count, first_at, first_pk, gid)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, k.conv, k.role, k.text, proj, count, first.started, first.pk, gid)
		if isUniqueViolation(err) && probe < gidMask {
			continue
		}
		if err != nil {
			return err
		}
		return w.ftsInsert(gid, k, proj)
	}
}

// moveGroup gives a group whose first_at changed millisecond a new gid.
func (w *writeTx) moveGroup(k groupKey, proj, oldGid, firstAt int64) error {
	if oldGid>>gidShift == gidMS(firstAt) {
		return nil
	}
	for probe := int64(0); ; probe++ {
		gid := gidFor(firstAt, k, probe)
		_, err := w.exec("UPDATE msg_groups SET gid = ? WHERE conv_id = ? AND role = ? AND text_id = ?", gid, k.conv, k.role, k.text)
		if isUniqueViolation(err) && probe < gidMask {
			continue
		}
		if err != nil {
			return err
		}
		if err := w.ftsDelete(oldGid); err != nil {
			return err
		}
		return w.ftsInsert(gid, k, proj)
	}
}

// addGroup applies an add-only delta in one statement (plus the search
// document of a new group); a tie on first_at with another span is settled
// by trace and span id.
func (w *writeTx) addGroup(k groupKey, g *groupDelta) error {
	for probe := int64(0); ; probe++ {
		st, err := w.stmt(`INSERT INTO msg_groups (conv_id, role, text_id, proj, span_count, first_at, first_pk, gid)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (conv_id, role, text_id) DO UPDATE SET
				span_count = span_count + excluded.span_count,
				first_pk = CASE WHEN excluded.first_at < first_at THEN excluded.first_pk ELSE first_pk END,
				first_at = MIN(first_at, excluded.first_at)
			RETURNING span_count, first_at, first_pk, gid`)
		if err != nil {
			return err
		}
		var count, at, pk, gid int64
		err = st.QueryRowContext(w.ctx, k.conv, k.role, k.text, g.proj, g.count, g.best.started, g.best.pk,
			gidFor(g.best.started, k, probe)).Scan(&count, &at, &pk, &gid)
		if isUniqueViolation(err) && probe < gidMask {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: update msg group: %w", err)
		}
		if count == g.count { // new group
			return w.ftsInsert(gid, k, g.proj)
		}
		if at == g.best.started && pk != g.best.pk {
			earlier, err := w.candidateEarlier(g.best, at, pk)
			if err != nil {
				return err
			}
			if earlier {
				if _, err := w.exec("UPDATE msg_groups SET first_pk = ? WHERE conv_id = ? AND role = ? AND text_id = ?", g.best.pk, k.conv, k.role, k.text); err != nil {
					return err
				}
			}
		}
		return w.moveGroup(k, g.proj, gid, at)
	}
}

// candidateEarlier reports whether c comes before the stored first
// occurrence (firstAt, firstPK) in (started_at, trace_id, span_id) order.
func (w *writeTx) candidateEarlier(c *groupCand, firstAt, firstPK int64) (bool, error) {
	if c.started != firstAt || c.pk == firstPK {
		return c.started < firstAt, nil
	}
	var trace, span string
	if err := w.tx.QueryRowContext(w.ctx, "SELECT trace_id, span_id FROM spans WHERE pk = ?", firstPK).Scan(&trace, &span); err != nil {
		return false, fmt.Errorf("sqlite: msg group first span: %w", err)
	}
	return c.less(&groupCand{started: firstAt, trace: trace, spanID: span}), nil
}

// recomputeGroups finds the first occurrence of groups whose first span
// was replaced or moved, scanning the conversation in order.
func (w *writeTx) recomputeGroups(conv int64, keys []groupKey) error {
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
		q := `SELECT pk, trace_id, span_id, started_at FROM spans WHERE conv_id = ?`
		args := []any{conv}
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
			if err := rows.Scan(&c.pk, &c.trace, &c.spanID, &c.started); err != nil {
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
				var gid, proj int64
				if err := w.tx.QueryRowContext(w.ctx, "SELECT gid, proj FROM msg_groups WHERE conv_id = ? AND role = ? AND text_id = ?",
					gk.conv, gk.role, gk.text).Scan(&gid, &proj); err != nil {
					return fmt.Errorf("sqlite: recompute search groups: %w", err)
				}
				if _, err := w.exec("UPDATE msg_groups SET first_at = ?, first_pk = ? WHERE conv_id = ? AND role = ? AND text_id = ?",
					c.started, c.pk, gk.conv, gk.role, gk.text); err != nil {
					return err
				}
				if err := w.moveGroup(gk, proj, gid, c.started); err != nil {
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
		return fmt.Errorf("sqlite: search groups %s of conversation %d have no span left", strings.Join(names, ","), conv)
	}
	return nil
}
