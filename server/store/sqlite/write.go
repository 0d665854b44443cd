package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/derive"
)

var errClosed = errors.New("sqlite: store is closed")

type spanKey struct{ project, trace, span string }

// prepSpan is one incoming span with everything that can be computed
// before taking the write lock: encodings and content digests.
type prepSpan struct {
	s        *model.Span
	key      spanKey
	started  int64
	ended    int64
	finish   any      // JSON text or nil
	params   any      // model_parameters as JSON text, or nil
	attrs    *blobRef // custom attribute maps, nil if all empty
	res      *blobRef
	in, out  []*msgRef
	sys      []*textRef
	args     *textRef
	result   *textRef
	events   []byte
	raw      []rawPart // raw_span with its long strings chunked, nil if it has none
	hasUsage bool
	prompt   string // preview of the last user message of input_messages
	place    *place // where the span ran, nil if it records no place
	// set in the transaction
	pages               []*blobRef // full pages of input messages
	inShapes, outShapes []shape
}

func (p *prepSpan) hasPrompt() bool { return p.prompt != "" }

func prepare(s *model.Span, memo *chunkMemo) (*prepSpan, error) {
	p := &prepSpan{s: s, key: spanKey{s.ProjectID, s.TraceID, s.SpanID}, started: s.StartedAt.UnixNano(), hasUsage: s.HasUsage()}
	if !s.EndedAt.IsZero() {
		p.ended = s.EndedAt.UnixNano()
		if p.ended == 0 { // an end exactly at the epoch: keep it "ended"
			p.ended = 1
		}
	}
	var err error
	if len(s.FinishReasons) > 0 {
		if p.finish, err = jsonText(s.FinishReasons); err != nil {
			return nil, err
		}
	}
	if len(s.ModelParameters) > 0 {
		if p.params, err = jsonText(s.ModelParameters); err != nil {
			return nil, err
		}
	}
	set := make(map[string]any, 4)
	for i, m := range []any{s.CustomAttrsString, s.CustomAttrsInt, s.CustomAttrsFloat, s.CustomAttrsBool} {
		if reflectLen(m) > 0 {
			set[attrKeys[i]] = m
		}
	}
	if len(set) > 0 {
		b, err := json.Marshal(set) // map keys sorted: the digest is stable
		if err != nil {
			return nil, fmt.Errorf("%w: custom attributes: %v", store.ErrInvalid, err)
		}
		p.attrs = &blobRef{d: sum(kindAttrs, b), data: b}
	}
	if len(s.ResourceAttrs) > 0 {
		b, err := json.Marshal(s.ResourceAttrs)
		if err != nil {
			return nil, fmt.Errorf("%w: resource_attrs: %v", store.ErrInvalid, err)
		}
		p.res = &blobRef{d: sum(kindResource, b), data: b}
	}
	if len(s.Events) > 0 {
		if p.events, err = json.Marshal(s.Events); err != nil {
			return nil, fmt.Errorf("%w: events: %v", store.ErrInvalid, err)
		}
	}
	for i := range s.InputMessages {
		p.in = append(p.in, newMsg(&s.InputMessages[i]))
	}
	for i := range s.OutputMessages {
		p.out = append(p.out, newMsg(&s.OutputMessages[i]))
	}
	for _, si := range s.SystemInstructions {
		if t := newText(si); t != nil {
			p.sys = append(p.sys, t)
		} else {
			p.sys = append(p.sys, &textRef{}) // keep the position of an empty instruction
		}
	}
	p.args = newText(s.ToolCallArguments)
	p.result = newText(s.ToolCallResult)
	p.raw = splitRaw(s.RawSpan, newRawTexts(s.ToolCallResult, s.ToolCallArguments), memo)
	p.prompt = promptPreview(s.InputMessages)
	if wd, branch, ok := store.Place(s.CustomAttrsString); ok {
		p.place = &place{workingDir: wd, gitBranch: branch}
	}
	return p, nil
}

// attrKeys name the custom maps inside an attrsets row: string, int,
// float, bool.
var attrKeys = [4]string{"s", "i", "f", "b"}

func reflectLen(m any) int {
	switch x := m.(type) {
	case map[string]string:
		return len(x)
	case map[string]int64:
		return len(x)
	case map[string]float64:
		return len(x)
	case map[string]bool:
		return len(x)
	}
	return 0
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("%w: %v", store.ErrInvalid, err)
	}
	return string(b), nil
}

// promptPreview is the preview of the last user message with text.
func promptPreview(msgs []model.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if !strings.EqualFold(msgs[i].Role, "user") {
			continue
		}
		if t := preview(msgs[i].Text()); t != "" {
			return t
		}
	}
	return ""
}

// preview collapses whitespace and cuts to store.FirstPromptMaxRunes.
func preview(s string) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
		if n > store.FirstPromptMaxRunes {
			break
		}
	}
	out := b.String()
	if utf8.RuneCountInString(out) > store.FirstPromptMaxRunes {
		r := []rune(out)[:store.FirstPromptMaxRunes-1]
		out = strings.TrimRight(string(r), " ") + "…"
	}
	return out
}

// batchWinners applies the upsert rule inside one batch, in slice order:
// a later copy replaces an earlier one unless it is in progress and the
// earlier one finished. The result keeps first-appearance order.
func batchWinners(preps []*prepSpan) []*prepSpan {
	pos := make(map[spanKey]int, len(preps))
	var out []*prepSpan
	for _, p := range preps {
		i, ok := pos[p.key]
		if !ok {
			pos[p.key] = len(out)
			out = append(out, p)
			continue
		}
		if out[i].ended != 0 && p.ended == 0 {
			continue
		}
		out[i] = p
	}
	return out
}

// WriteSpans implements store.Writer.
func (s *Store) WriteSpans(ctx context.Context, spans []model.Span) error {
	if len(spans) == 0 {
		return nil
	}
	preps := make([]*prepSpan, len(spans))
	for i := range spans {
		if err := store.ValidateSpan(&spans[i]); err != nil {
			return fmt.Errorf("sqlite: write spans: span %d: %w", i, err)
		}
		p, err := prepare(&spans[i], &s.memo)
		if err != nil {
			return fmt.Errorf("sqlite: write spans: span %d (%s/%s): %w", i, spans[i].TraceID, spans[i].SpanID, err)
		}
		preps[i] = p
	}
	if err := s.writeGrouped(ctx, batchWinners(preps)); err != nil {
		return err
	}
	s.relieveBacklog(ctx)
	return nil
}

// writeTx is one write transaction on the writer connection.
type writeTx struct {
	*txn
	s        *Store
	staged   *staging
	convIDs  map[convName]int64
	search   []searchChange // search index changes, logged at the end of the write
	logged   int64          // the search_log seq this write appended, 0 if none
	newTexts []textBody     // texts this write inserted, handed to the indexer
}

// inWriteTx runs fn in a transaction on the writer connection, appends the
// search index changes it made to search_log, commits, and publishes the
// content ids it resolved.
// The wait for the writer ends with ctx: a long transaction (a group
// write, a retention sweep) ahead does not hold up a caller whose request
// was cancelled.
func (s *Store) inWriteTx(ctx context.Context, fn func(*writeTx) error) error {
	if err := s.wmu.LockCtx(ctx); err != nil {
		return fmt.Errorf("sqlite: waiting for the writer: %w", err)
	}
	defer s.wmu.Unlock()
	if s.isClosed.Load() {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	t, err := s.wc.begin(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	w := &writeTx{txn: t, s: s, staged: newStaging(), convIDs: make(map[convName]int64)}
	err = fn(w)
	if err == nil {
		err = w.logSearch()
	}
	if err == nil {
		if err = t.end(true); err != nil {
			err = fmt.Errorf("sqlite: commit: %w", err)
		}
	} else {
		t.end(false)
	}
	if err != nil {
		return err
	}
	s.commits.Add(1)
	s.cache.publish(w.staged)
	for name, id := range w.staged.projects {
		s.rememberProject(name, id)
	}
	for _, t := range w.newTexts {
		s.textMax = max(s.textMax, t.id)
	}
	if w.logged != 0 {
		s.ix.handOff(w.logged, w.newTexts)
		s.logSeq.Store(w.logged)
		s.ix.pending.Add(int64(len(w.search)))
		s.kickIndexer()
	}
	return nil
}

// rowState is the stored state of a span that the rollups depend on.
type rowState struct {
	pk                  int64
	proj                int64
	convID              int64 // conversations.id of d.convKey
	traceID             string
	spanID, parentID    string
	started, ended      int64
	status, op          string
	agent, version      string
	conv, thread        string
	reqModel, respModel string
	tok                 [5]sql.NullInt64
	cost                sql.NullInt64 // nano-dollars
	d                   derive.Derived
	hasPrompt           bool
	isTurn              bool
	hasPlace            bool
	place               *place // nil when unknown (a stored span) or none
}

func (r *rowState) hasUsage() bool { return r.hasTokens() || r.cost.Valid }

func (r *rowState) hasTokens() bool {
	for _, t := range r.tok {
		if t.Valid {
			return true
		}
	}
	return false
}

func (r *rowState) node() derive.Node {
	return derive.Node{SpanID: r.spanID, ParentID: r.parentID, Started: r.started, Agent: r.agent, Version: r.version,
		Conv: r.conv, Thread: r.thread, HasUsage: r.hasUsage(), IsTurn: r.isTurn}
}

func stateOf(p *prepSpan, proj int64) *rowState {
	s := p.s
	r := &rowState{proj: proj, traceID: s.TraceID, spanID: s.SpanID, parentID: s.ParentSpanID, started: p.started, ended: p.ended,
		status: s.StatusCode, op: s.OperationName, agent: s.AgentName, version: s.AgentVersion,
		conv: s.ConversationID, thread: s.ThreadID, reqModel: s.RequestModel, respModel: s.ResponseModel,
		hasPrompt: p.hasPrompt(), isTurn: s.IsTurn, hasPlace: p.place != nil, place: p.place}
	for i, t := range tokens(s) {
		if t != nil {
			r.tok[i] = sql.NullInt64{Int64: *t, Valid: true}
		}
	}
	if s.CostUSD != nil {
		r.cost = sql.NullInt64{Int64: model.CostNanos(*s.CostUSD), Valid: true}
	}
	return r
}

func tokens(s *model.Span) [5]*int64 {
	return [5]*int64{s.InputTokens, s.OutputTokens, s.CacheReadInputTokens, s.CacheCreationInputTokens, s.ReasoningTokens}
}

const traceStateCols = `s.pk, s.span_id, s.parent_span_id, s.started_at, s.ended_at, s.status_code, s.operation_name,
	s.agent_name, s.agent_version, s.conversation_id, s.thread_id, s.request_model, s.response_model,
	s.input_tokens, s.output_tokens, s.cache_read_input_tokens, s.cache_creation_input_tokens, s.reasoning_tokens, s.cost_nanos,
	s.eff_agent, s.eff_version, c.conv_key, s.conv_id, s.counted, s.has_prompt, s.is_turn, s.turn_root, s.has_place`

func scanState(sc interface{ Scan(...any) error }, proj int64, traceID string) (*rowState, error) {
	r := &rowState{proj: proj, traceID: traceID}
	err := sc.Scan(&r.pk, &r.spanID, &r.parentID, &r.started, &r.ended, &r.status, &r.op,
		&r.agent, &r.version, &r.conv, &r.thread, &r.reqModel, &r.respModel,
		&r.tok[0], &r.tok[1], &r.tok[2], &r.tok[3], &r.tok[4], &r.cost,
		&r.d.EffAgent, &r.d.EffVersion, &r.d.ConvKey, &r.convID, &r.d.Counted, &r.hasPrompt, &r.isTurn, &r.d.TurnRoot, &r.hasPlace)
	return r, err
}

func (w *writeTx) loadTrace(proj int64, trace string) ([]*rowState, error) {
	st, err := w.stmt("SELECT " + traceStateCols + " FROM spans s JOIN conversations c ON c.id = s.conv_id WHERE s.proj = ? AND s.trace_id = ?")
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(w.ctx, proj, trace)
	if err != nil {
		return nil, fmt.Errorf("sqlite: load trace: %w", err)
	}
	defer rows.Close()
	var out []*rowState
	for rows.Next() {
		r, err := scanState(rows, proj, trace)
		if err != nil {
			return nil, fmt.Errorf("sqlite: load trace: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: load trace: %w", err)
	}
	return out, nil
}

// project returns the id of a project, creating it.
func (w *writeTx) project(name string) (int64, error) {
	if id, ok := w.staged.projects[name]; ok {
		return id, nil
	}
	w.s.projMu.Lock()
	id, ok := w.s.projIDs[name]
	w.s.projMu.Unlock()
	if ok {
		return id, nil
	}
	st, err := w.stmt(`INSERT INTO projects (project_id, span_count) VALUES (?, 0)
		ON CONFLICT (project_id) DO UPDATE SET project_id = excluded.project_id RETURNING id`)
	if err != nil {
		return 0, err
	}
	if err := st.QueryRowContext(w.ctx, name).Scan(&id); err != nil {
		return 0, fmt.Errorf("sqlite: project: %w", err)
	}
	w.staged.projects[name] = id
	return id, nil
}

// conv returns the id of a conversation row, creating an empty one (the
// rollups fill it; applyConversations deletes it if it stays empty).
func (w *writeTx) conv(proj int64, key string) (int64, error) {
	k := convName{proj, key}
	if id, ok := w.convIDs[k]; ok {
		return id, nil
	}
	st, err := w.stmt(`INSERT INTO conversations (proj, conv_key, turn_count, span_count, error_count, running_count,
		first_activity, last_activity, input_tokens, output_tokens, cache_read_tokens, cache_create_tokens,
		reasoning_tokens, prompt, prompt_pk, prompt_at, prompt_rank, prompt_span)
		VALUES (?, ?, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '', 0, 0, 0, '')
		ON CONFLICT (proj, conv_key) DO UPDATE SET conv_key = excluded.conv_key RETURNING id`)
	if err != nil {
		return 0, err
	}
	var id int64
	if err := st.QueryRowContext(w.ctx, proj, key).Scan(&id); err != nil {
		return 0, fmt.Errorf("sqlite: conversation: %w", err)
	}
	w.convIDs[k] = id
	return id, nil
}

type convName struct {
	proj int64
	key  string
}

const spanCols = `proj, trace_id, span_id, parent_span_id, span_name, span_kind, started_at, ended_at,
	status_code, status_message, operation_name, provider_name, agent_name, agent_id, agent_version,
	conversation_id, request_model, response_model, response_id,
	input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens, reasoning_tokens,
	finish_reasons, tool_name, tool_type, tool_call_id, error_type, compaction_summary,
	compaction_items_before, compaction_items_after, thread_id, is_turn,
	total_tokens, display_name, wb_run_id, wb_run_step, model_parameters, attrs_id, resource_id,
	cache_creation_5m_input_tokens, cache_creation_1h_input_tokens, cost_nanos, cost_source,
	eff_agent, eff_version, conv_id, counted, has_prompt, turn_root, has_place, details`

var (
	insertSpanSQL = "INSERT INTO spans (" + spanCols + ") VALUES (" + placeholders(53) + ")"
	updateSpanSQL = func() string {
		var sets []string
		for _, c := range strings.Split(spanCols, ",") {
			c = strings.TrimSpace(c)
			switch c {
			case "proj", "trace_id", "span_id":
				continue
			}
			sets = append(sets, c+" = ?")
		}
		return "UPDATE spans SET " + strings.Join(sets, ", ") + " WHERE pk = ?"
	}()
)

func spanArgs(p *prepSpan, r *rowState) []any {
	s := p.s
	ref := func(b *blobRef) any {
		if b == nil {
			return nil
		}
		return b.id
	}
	tok := tokens(s)
	nullable := func(v *int64) any {
		if v == nil {
			return nil
		}
		return *v
	}
	x := p.details()
	return []any{r.proj, s.TraceID, s.SpanID, s.ParentSpanID, s.SpanName, s.SpanKind, p.started, p.ended,
		s.StatusCode, s.StatusMessage, s.OperationName, s.ProviderName, s.AgentName, s.AgentID, s.AgentVersion,
		s.ConversationID, s.RequestModel, s.ResponseModel, s.ResponseID,
		nullable(tok[0]), nullable(tok[1]), nullable(tok[2]), nullable(tok[3]), nullable(tok[4]),
		p.finish, s.ToolName, s.ToolType, s.ToolCallID, s.ErrorType, s.CompactionSummary,
		s.CompactionItemsBefore, s.CompactionItemsAfter, s.ThreadID, s.IsTurn,
		nullable(s.TotalTokens), s.DisplayName, s.WBRunID, nullable(s.WBRunStep), p.params, ref(p.attrs), ref(p.res),
		nullable(s.CacheCreation5mInputTokens), nullable(s.CacheCreation1hInputTokens), nullInt(r.cost), s.CostSource,
		r.d.EffAgent, r.d.EffVersion, r.convID, r.d.Counted, p.hasPrompt(), r.d.TurnRoot, p.place != nil, x.encode()}
}

// insertSQL returns the INSERT of a span row with these values and the
// values to bind. Empty strings, zeros and NULLs (most columns of a span
// are empty: a chat span has no tool fields, a tool span no model) are
// written as literals, which spares a bind each; the statement of each
// combination of empty columns is prepared once (at most maxInsertShapes
// of them; further combinations bind every value). Guarded by wmu.
func (s *Store) insertSQL(args []any) (string, []any) {
	var mask uint64
	for i, a := range args {
		if literal(a) != "" {
			mask |= 1 << i
		}
	}
	q, ok := s.insertShapes[mask]
	if !ok {
		if len(s.insertShapes) >= maxInsertShapes {
			return insertSpanSQL, args
		}
		vals := make([]string, len(args))
		for i, a := range args {
			if lit := literal(a); lit != "" {
				vals[i] = lit
			} else {
				vals[i] = "?"
			}
		}
		q = "INSERT INTO spans (" + spanCols + ") VALUES (" + strings.Join(vals, ",") + ")"
		s.insertShapes[mask] = q
	}
	bound := args[:0:0]
	for i, a := range args {
		if mask&(1<<i) == 0 {
			bound = append(bound, a)
		}
	}
	return q, bound
}

const maxInsertShapes = 64

func nullInt(v sql.NullInt64) any {
	if !v.Valid {
		return nil
	}
	return v.Int64
}

// literal is the SQL literal of an empty value, "" for any other.
func literal(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		if x == "" {
			return "''"
		}
	case int64:
		if x == 0 {
			return "0"
		}
	case int:
		if x == 0 {
			return "0"
		}
	case bool:
		if !x {
			return "0"
		}
	}
	return ""
}

// change is one span whose contribution to the rollups changes.
type change struct {
	p        *prepSpan // the incoming version, nil for a stored span whose derived columns changed
	old, new *rowState // old is nil for an insert
}

// movedConv reports a stored span whose effective conversation changed:
// its search groups move with it.
func (c *change) movedConv() bool {
	return c.p == nil && c.old.convID != c.new.convID
}

// traceWork is one trace a write touches: its incoming spans.
type traceWork struct {
	proj     int64
	trace    string
	incoming []*prepSpan
	old      []*rowState // the trace's stored spans
}

// writeSpans writes the batch's winners: every touched trace is derived
// again as it will be after the write, the changed spans written, their
// search keys noted and the rollups moved by the differences.
func (w *writeTx) writeSpans(winners []*prepSpan) error {
	traces, err := w.tracesOf(winners)
	if err != nil {
		return err
	}
	kept, err := w.loadTraces(traces)
	if err != nil || len(kept) == 0 {
		return err
	}
	if err := w.storeContent(kept); err != nil {
		return err
	}
	var changes []*change
	for _, tw := range traces {
		if len(tw.incoming) == 0 {
			continue
		}
		c, err := w.deriveTrace(tw)
		if err != nil {
			return err
		}
		changes = append(changes, c...)
	}
	if err := w.writeChanges(changes); err != nil {
		return err
	}
	return w.applyDeltas(deltasOf(changes))
}

// tracesOf groups the winners by trace, in the order of their first span.
func (w *writeTx) tracesOf(winners []*prepSpan) ([]*traceWork, error) {
	var traces []*traceWork
	byTrace := make(map[[2]string]*traceWork)
	for _, p := range winners {
		k := [2]string{p.key.project, p.key.trace}
		tw := byTrace[k]
		if tw == nil {
			proj, err := w.project(p.key.project)
			if err != nil {
				return nil, err
			}
			tw = &traceWork{proj: proj, trace: k[1]}
			byTrace[k] = tw
			traces = append(traces, tw)
		}
		tw.incoming = append(tw.incoming, p)
	}
	return traces, nil
}

// loadTraces loads the stored spans of each trace and drops the incoming
// in-progress copies of finished spans; it returns the incoming spans
// kept.
func (w *writeTx) loadTraces(traces []*traceWork) ([]*prepSpan, error) {
	var kept []*prepSpan
	for _, tw := range traces {
		old, err := w.loadTrace(tw.proj, tw.trace)
		if err != nil {
			return nil, err
		}
		tw.old = old
		ended := make(map[string]bool, len(old))
		for _, r := range old {
			ended[r.spanID] = r.ended != 0
		}
		k := tw.incoming[:0]
		for _, p := range tw.incoming {
			if ended[p.key.span] && p.ended == 0 {
				continue
			}
			k = append(k, p)
		}
		tw.incoming = k
		kept = append(kept, k...)
	}
	return kept, nil
}

// deriveTrace derives the trace as it will be after the write: a change
// for every incoming span, and for every stored span whose derived
// columns move.
func (w *writeTx) deriveTrace(tw *traceWork) ([]*change, error) {
	oldBy := make(map[string]*rowState, len(tw.old))
	for _, r := range tw.old {
		oldBy[r.spanID] = r
	}
	inBy := make(map[string]*prepSpan, len(tw.incoming))
	for _, p := range tw.incoming {
		inBy[p.key.span] = p
	}
	var states []*rowState
	var origin []*prepSpan // nil for stored spans
	for _, r := range tw.old {
		if inBy[r.spanID] == nil {
			states = append(states, r)
			origin = append(origin, nil)
		}
	}
	for _, p := range tw.incoming {
		states = append(states, stateOf(p, tw.proj))
		origin = append(origin, p)
	}
	nodes := make([]derive.Node, len(states))
	for j, r := range states {
		nodes[j] = r.node()
	}
	ders := derive.Trace(tw.trace, nodes)
	var changes []*change
	for j, r := range states {
		convID, err := w.conv(tw.proj, ders[j].ConvKey)
		if err != nil {
			return nil, err
		}
		if p := origin[j]; p != nil {
			r.d, r.convID = ders[j], convID
			changes = append(changes, &change{p: p, old: oldBy[r.spanID], new: r})
			continue
		}
		if r.d == ders[j] {
			continue
		}
		nr := *r
		nr.d, nr.convID = ders[j], convID
		changes = append(changes, &change{old: r, new: &nr})
	}
	return changes, nil
}

// writeChanges writes the changed spans and notes their search keys (those
// of the versions replaced or moved read before anything is overwritten).
func (w *writeTx) writeChanges(changes []*change) error {
	var need []int64
	for _, c := range changes {
		if (c.p != nil && c.old != nil) || c.movedConv() {
			need = append(need, c.old.pk)
		}
	}
	oldKeys, err := w.spanKeys(need)
	if err != nil {
		return err
	}
	for _, c := range changes {
		if c.p == nil {
			if err := w.updateDerived(c.new); err != nil {
				return err
			}
			if c.movedConv() {
				keys := oldKeys[c.old.pk]
				w.noteSearch(c.old, c.new, keys, keys)
			}
			continue
		}
		if err := w.writeSpan(c.p, c.new, c.old); err != nil {
			return err
		}
		if c.old != nil {
			w.noteSearch(c.old, c.new, oldKeys[c.old.pk], c.p.keys())
		} else {
			w.noteSearch(nil, c.new, nil, c.p.keys())
		}
	}
	return nil
}

// deltasOf is what the changes move in the rollups: each old version
// taken out, each new one put in.
func deltasOf(changes []*change) *deltas {
	d := newDeltas()
	for _, c := range changes {
		if c.old != nil {
			d.add(c.old, nil, -1)
		}
		var pc *promptCand
		if c.new.hasPrompt {
			pc = &promptCand{key: promptKeyOf(c.new)}
			if c.p != nil {
				pc.text, pc.known = c.p.prompt, true
			}
		}
		d.add(c.new, pc, +1)
	}
	return d
}

// updateDerived rewrites a stored span's derived columns.
func (w *writeTx) updateDerived(r *rowState) error {
	_, err := w.exec("UPDATE spans SET eff_agent = ?, eff_version = ?, conv_id = ?, counted = ?, turn_root = ? WHERE pk = ?",
		r.d.EffAgent, r.d.EffVersion, r.convID, r.d.Counted, r.d.TurnRoot, r.pk)
	return err
}

// storeContent resolves or inserts every text, message, page and resource
// the spans reference.
func (w *writeTx) storeContent(spans []*prepSpan) error {
	var texts []*textRef
	var res, attrs []*blobRef
	for _, p := range spans {
		if p.attrs != nil {
			attrs = append(attrs, p.attrs)
		}
		for _, list := range [][]*msgRef{p.in, p.out} {
			for _, m := range list {
				m.texts(func(t *textRef) { texts = append(texts, t) })
			}
		}
		for _, t := range p.sys {
			if t.body != "" {
				texts = append(texts, t)
			}
		}
		for _, t := range []*textRef{p.args, p.result} {
			if t != nil {
				texts = append(texts, t)
			}
		}
		if p.res != nil {
			res = append(res, p.res)
		}
	}
	if err := w.ensureTexts(texts); err != nil {
		return err
	}
	var pages []*blobRef
	for _, p := range spans {
		p.inShapes, p.outShapes, p.pages = make([]shape, len(p.in)), make([]shape, len(p.out)), nil
		for i, m := range p.in {
			p.inShapes[i] = m.shape()
		}
		for i, m := range p.out {
			p.outShapes[i] = m.shape()
		}
		for i := 0; i+pageSize <= len(p.in); i += pageSize {
			b := encodePage(p.inShapes[i : i+pageSize])
			pg := &blobRef{d: sum(kindPage, b), data: b}
			p.pages = append(p.pages, pg)
			pages = append(pages, pg)
		}
	}
	if err := w.ensureBlobs(kindPage, pages); err != nil {
		return err
	}
	if err := w.ensureBlobs(kindAttrs, attrs); err != nil {
		return err
	}
	if err := w.storeRaw(spans); err != nil {
		return err
	}
	return w.ensureBlobs(kindResource, res)
}

// details builds the span_details blob of an incoming span.
func (p *prepSpan) details() details {
	var x details
	for _, pg := range p.pages {
		x.inPages = append(x.inPages, pg.id)
	}
	x.inTail = p.inShapes[len(p.pages)*pageSize:]
	x.out = p.outShapes
	for _, t := range p.sys {
		x.sys = append(x.sys, t.id)
	}
	if p.args != nil {
		x.args = p.args.id
	}
	if p.result != nil {
		x.result = p.result.id
	}
	x.events = p.events
	if x.rawForm = p.rawForm(); x.rawForm == nil {
		x.raw = p.s.RawSpan
	}
	return x
}

// keys lists the searchable texts of an incoming span, sorted and unique.
func (p *prepSpan) keys() []roleText {
	var out []roleText
	for i := range p.inShapes {
		out = append(out, p.inShapes[i].keys(false)...)
	}
	answers := answersToolCall(p.s.OperationName, p.s.ToolCallID)
	for i := range p.outShapes {
		out = append(out, p.outShapes[i].keys(answers)...)
	}
	for _, t := range p.sys {
		if t.id != 0 {
			out = append(out, roleText{roleSystem, t.id})
		}
	}
	if p.args != nil {
		out = append(out, roleText{roleToolCall, p.args.id})
	}
	if p.result != nil {
		out = append(out, roleText{roleToolResult, p.result.id})
	}
	return uniqKeys(out)
}

func uniqKeys(k []roleText) []roleText {
	slices.SortFunc(k, func(a, b roleText) int {
		if c := strings.Compare(a.role, b.role); c != 0 {
			return c
		}
		return int(a.text - b.text)
	})
	return slices.Compact(k)
}

// writeSpan inserts or replaces one span row.
func (w *writeTx) writeSpan(p *prepSpan, r *rowState, old *rowState) error {
	args := spanArgs(p, r)
	if old == nil {
		q, bound := w.s.insertSQL(args)
		res, err := w.exec(q, bound...)
		if err != nil {
			return err
		}
		if r.pk, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("sqlite: insert span: %w", err)
		}
		return nil
	}
	r.pk = old.pk
	_, err := w.exec(updateSpanSQL, append(args[3:], r.pk)...)
	return err
}

// spanKeys reads the searchable texts of stored spans.
func (w *writeTx) spanKeys(pks []int64) (map[int64][]roleText, error) {
	return spanKeysFrom(w.ctx, w.tx, pks)
}

// spanKeysFrom reads the searchable texts of stored spans through q.
func spanKeysFrom(ctx context.Context, q queryer, pks []int64) (map[int64][]roleText, error) {
	out := make(map[int64][]roleText, len(pks))
	if len(pks) == 0 {
		return out, nil
	}
	dets := make(map[int64]details, len(pks))
	answering := make(map[int64]bool)
	if err := loadDetailsRows(ctx, q, pks, func(pk int64, x details, answers bool) {
		dets[pk] = x
		answering[pk] = answers
	}); err != nil {
		return nil, err
	}
	var pageIDs []int64
	for _, x := range dets {
		pageIDs = append(pageIDs, x.inPages...)
	}
	pages, err := loadPages(ctx, q, uniq(pageIDs))
	if err != nil {
		return nil, err
	}
	for pk, x := range dets {
		var k []roleText
		add := func(list []shape, answers bool) {
			for i := range list {
				k = append(k, list[i].keys(answers)...)
			}
		}
		for _, pg := range x.inPages {
			add(pages[pg], false)
		}
		add(x.inTail, false)
		add(x.out, answering[pk])
		for _, t := range x.sys {
			if t != 0 {
				k = append(k, roleText{roleSystem, t})
			}
		}
		if x.args != 0 {
			k = append(k, roleText{roleToolCall, x.args})
		}
		if x.result != 0 {
			k = append(k, roleText{roleToolResult, x.result})
		}
		out[pk] = uniqKeys(k)
	}
	return out, nil
}

// loadDetailsRows reads the details of stored spans, and whether each
// answers a tool call (answersToolCall).
func loadDetailsRows(ctx context.Context, q queryer, pks []int64, fn func(pk int64, x details, answers bool)) error {
	for len(pks) > 0 {
		n := min(len(pks), 500)
		chunk := pks[:n]
		pks = pks[n:]
		args := make([]any, n)
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.QueryContext(ctx, "SELECT pk, details, operation_name = 'invoke_agent' AND tool_call_id <> '' FROM spans WHERE pk IN ("+placeholders(n)+")", args...)
		if err != nil {
			return fmt.Errorf("sqlite: read span details: %w", err)
		}
		for rows.Next() {
			var pk int64
			var b []byte
			var answers bool
			if err := rows.Scan(&pk, &b, &answers); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: read span details: %w", err)
			}
			x, err := decodeDetails(b)
			if err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: span %d details: %w", pk, err)
			}
			fn(pk, x, answers)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("sqlite: read span details: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: read span details: %w", err)
		}
	}
	return nil
}

func loadPages(ctx context.Context, q queryer, ids []int64) (map[int64][]shape, error) {
	out := make(map[int64][]shape, len(ids))
	err := loadByIDs(ctx, q, "pages", "refs", ids, func(id int64, v []byte) error {
		list, err := decodePage(v)
		if err != nil {
			return fmt.Errorf("sqlite: page %d: %w", id, err)
		}
		out[id] = list
		return nil
	})
	return out, err
}
