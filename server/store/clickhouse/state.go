package clickhouse

import (
	"slices"
	"strings"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/derive"
)

// finishedBit is set in the version of a finished span's rows: any finished
// copy outranks any in-progress copy, whatever the clock says.
const finishedBit = uint64(1) << 63

// stateRow is one span's row of span_state: what the derived figures need,
// and the derived columns.
type stateRow struct {
	traceID, spanID, parentID string
	started                   int64 // ns
	ended                     int64 // ns, meaningful when hasEnd
	hasEnd                    bool
	status, op                string
	agent, agentVersion       string
	conv, thread              string
	isTurn                    bool
	model                     string
	tok                       [5]*int64
	cost                      *int64 // nano-dollars
	prompt                    string
	workingDir, gitBranch     string   // where the span ran (store.Place)
	msgKeys                   []string // sorted msgPair keys
	hash                      string   // digest of the whole span as written
	d                         derive.Derived
	version                   uint64
}

func (r *stateRow) hasUsage() bool { return r.hasTokens() || r.cost != nil }

func (r *stateRow) hasTokens() bool {
	for _, t := range r.tok {
		if t != nil {
			return true
		}
	}
	return false
}

func (r *stateRow) node() derive.Node {
	return derive.Node{SpanID: r.spanID, ParentID: r.parentID, Started: r.started, Agent: r.agent, Version: r.agentVersion,
		Conv: r.conv, Thread: r.thread, HasUsage: r.hasUsage(), IsTurn: r.isTurn}
}

// last is the span's latest activity: its end if later than its start.
func (r *stateRow) last() int64 {
	if r.hasEnd && r.ended > r.started {
		return r.ended
	}
	return r.started
}

// stateOf is the state of an incoming span (derived columns not yet set).
func stateOf(p *prep) *stateRow {
	s := &p.s
	m := s.ResponseModel
	if m == "" {
		m = s.RequestModel
	}
	r := &stateRow{
		traceID: s.TraceID, spanID: s.SpanID, parentID: s.ParentSpanID, started: p.started, ended: p.ended,
		hasEnd: p.hasEnd, status: s.StatusCode, op: s.OperationName, agent: s.AgentName, agentVersion: s.AgentVersion,
		conv: s.ConversationID, thread: s.ThreadID, isTurn: s.IsTurn, model: m,
		tok:    [5]*int64{s.InputTokens, s.OutputTokens, s.CacheReadInputTokens, s.CacheCreationInputTokens, s.ReasoningTokens},
		cost:   costNanos(s.CostUSD),
		prompt: p.prompt, hash: p.hash,
	}
	r.workingDir, r.gitBranch, _ = store.Place(s.CustomAttrsString)
	r.msgKeys = make([]string, len(p.pairs))
	for i, pr := range p.pairs {
		r.msgKeys[i] = pr.key()
	}
	return r
}

// stateCols are the columns of span_state, in append / scan order.
var stateCols = []string{
	"trace_id", "span_id", "parent_span_id", "started_at", "ended_at", "status_code", "operation_name",
	"agent_name", "agent_version", "conversation_id", "thread_id", "model", "input_tokens", "output_tokens",
	"cache_read_input_tokens", "cache_creation_input_tokens", "reasoning_tokens", "prompt", "msg_keys",
	"span_hash", "eff_agent", "eff_version", "conv_key", "counted", "version", "is_turn", "turn_root", "cost_nanos",
	"working_dir", "git_branch",
}

// stateInsertCols adds the columns only inserts carry.
var stateInsertCols = append([]string{"project_id"}, append(append([]string(nil), stateCols...),
	"minute", "day", "stale_agent", "stale_version", "sign")...)

const (
	minuteNanos = int64(time.Minute)
	dayNanos    = int64(24 * time.Hour)
)

// stateValues is one span_state insert row.
func stateValues(project string, r *stateRow, sign int8, staleAgent, staleVersion bool) []any {
	var ended *time.Time
	if r.hasEnd {
		t := fromNanos(r.ended)
		ended = &t
	}
	keys := r.msgKeys
	if keys == nil {
		keys = []string{}
	}
	return []any{
		project, r.traceID, r.spanID, r.parentID, fromNanos(r.started), ended, r.status, r.op,
		r.agent, r.agentVersion, r.conv, r.thread, r.model, r.tok[0], r.tok[1],
		r.tok[2], r.tok[3], r.tok[4], r.prompt, keys, r.hash,
		r.d.EffAgent, r.d.EffVersion, r.d.ConvKey, b2u(r.d.Counted), r.version, b2u(r.isTurn), b2u(r.d.TurnRoot), r.cost,
		r.workingDir, r.gitBranch, store.FloorDiv(r.started, minuteNanos), int32(store.FloorDiv(r.started, dayNanos)), b2u(staleAgent), b2u(staleVersion), sign,
	}
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// stateScan receives one row of stateCols.
type stateScan struct {
	r                         stateRow
	started                   time.Time
	ended                     *time.Time
	counted, isTurn, turnRoot uint8
}

func (x *stateScan) dest() []any {
	r := &x.r
	return []any{
		&r.traceID, &r.spanID, &r.parentID, &x.started, &x.ended, &r.status, &r.op,
		&r.agent, &r.agentVersion, &r.conv, &r.thread, &r.model, &r.tok[0], &r.tok[1],
		&r.tok[2], &r.tok[3], &r.tok[4], &r.prompt, &r.msgKeys, &r.hash,
		&r.d.EffAgent, &r.d.EffVersion, &r.d.ConvKey, &x.counted, &r.version, &x.isTurn, &x.turnRoot, &r.cost,
		&r.workingDir, &r.gitBranch,
	}
}

func (x *stateScan) row() *stateRow {
	r := x.r
	r.started = x.started.UnixNano()
	if x.ended != nil {
		r.hasEnd, r.ended = true, x.ended.UnixNano()
	}
	r.d.Counted = x.counted != 0
	r.isTurn, r.d.TurnRoot = x.isTurn != 0, x.turnRoot != 0
	if len(r.msgKeys) == 0 {
		r.msgKeys = nil
	}
	return &r
}

// group is one (conversation, trace) row of conv_traces.
type group struct {
	convKey                string
	spans, errors, running int64
	turns                  int64 // turn spans (store package doc)
	tok                    [5]int64
	cost, unpriced         int64 // nano-dollars; counted spans with tokens and no cost
	first, last            int64
	agents, models         []string
	prompt                 string
	promptAt               int64
	promptRank             uint8
	promptSpan             string
	// where the group's latest span that records a place ran, its start
	// and span_id (placeSpan "": none)
	workingDir, gitBranch string
	placeAt               int64
	placeSpan             string
}

func (g *group) equal(o *group) bool {
	return g.convKey == o.convKey && g.spans == o.spans && g.turns == o.turns && g.errors == o.errors && g.running == o.running &&
		g.tok == o.tok && g.cost == o.cost && g.unpriced == o.unpriced && g.first == o.first && g.last == o.last && slices.Equal(g.agents, o.agents) &&
		slices.Equal(g.models, o.models) && g.prompt == o.prompt && g.promptAt == o.promptAt &&
		g.promptRank == o.promptRank && g.promptSpan == o.promptSpan && g.workingDir == o.workingDir &&
		g.gitBranch == o.gitBranch && g.placeAt == o.placeAt && g.placeSpan == o.placeSpan
}

// groups folds a trace's states into its conversations' rows.
func groups(states []*stateRow) map[string]*group {
	out := map[string]*group{}
	agents := map[string]map[string]bool{}
	models := map[string]map[string]bool{}
	for _, r := range states {
		g := out[r.d.ConvKey]
		if g == nil {
			g = &group{convKey: r.d.ConvKey, first: r.started, last: r.last()}
			out[r.d.ConvKey] = g
			agents[g.convKey], models[g.convKey] = map[string]bool{}, map[string]bool{}
		}
		g.add(r)
		if r.d.EffAgent != "" {
			agents[g.convKey][r.d.EffAgent] = true
		}
		if r.model != "" {
			models[g.convKey][r.model] = true
		}
		g.notePrompt(r)
		g.notePlace(r)
	}
	for k, g := range out {
		g.agents = sortedSet(agents[k])
		g.models = sortedSet(models[k])
	}
	return out
}

// add counts a span in the group's figures.
func (g *group) add(r *stateRow) {
	g.spans++
	if r.d.TurnRoot {
		g.turns++
	}
	if r.status == model.StatusError {
		g.errors++
	}
	if !r.hasEnd {
		g.running++
	}
	g.first = min(g.first, r.started)
	g.last = max(g.last, r.last())
	if !r.d.Counted {
		return
	}
	for i, t := range r.tok {
		if t != nil {
			g.tok[i] += *t
		}
	}
	switch {
	case r.cost != nil:
		g.cost += *r.cost
	case r.hasTokens():
		g.unpriced++
	}
}

// notePrompt keeps the span's prompt if it comes first: earliest start,
// invoke_agent spans first, then span_id.
func (g *group) notePrompt(r *stateRow) {
	if r.prompt == "" {
		return
	}
	rank := uint8(1)
	if r.op == model.OpInvokeAgent {
		rank = 0
	}
	if g.prompt == "" || r.started < g.promptAt || (r.started == g.promptAt &&
		(rank < g.promptRank || (rank == g.promptRank && r.spanID < g.promptSpan))) {
		g.prompt, g.promptAt, g.promptRank, g.promptSpan = r.prompt, r.started, rank, r.spanID
	}
}

// notePlace keeps the span's place if it records one and is the latest
// (then greatest span_id) that does.
func (g *group) notePlace(r *stateRow) {
	if (r.workingDir != "" || r.gitBranch != "") && (g.placeSpan == "" || r.started > g.placeAt ||
		(r.started == g.placeAt && r.spanID > g.placeSpan)) {
		g.workingDir, g.gitBranch, g.placeAt, g.placeSpan = r.workingDir, r.gitBranch, r.started, r.spanID
	}
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// convTraceCols are the columns of a conv_traces insert.
var convTraceCols = []string{
	"project_id", "conv_key", "trace_id", "span_count", "error_count", "running_count", "input_tokens",
	"output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "reasoning_tokens", "first_ns",
	"last_ns", "last_at", "agents", "models", "prompt", "prompt_ns", "prompt_rank", "prompt_span_id", "version",
	"is_deleted", "turn_spans", "cost_nanos", "unpriced", "working_dir", "git_branch", "place_ns", "place_span_id",
}

func groupValues(project, traceID string, g *group, version uint64, deleted bool) []any {
	agents, models := g.agents, g.models
	if agents == nil {
		agents = []string{}
	}
	if models == nil {
		models = []string{}
	}
	return []any{
		project, g.convKey, traceID, g.spans, g.errors, g.running, g.tok[0],
		g.tok[1], g.tok[2], g.tok[3], g.tok[4], g.first,
		g.last, fromNanos(g.last), agents, models, g.prompt, g.promptAt, g.promptRank, g.promptSpan, version,
		b2u(deleted), g.turns, g.cost, g.unpriced, g.workingDir, g.gitBranch, g.placeAt, g.placeSpan,
	}
}

// occKey is a search group within one trace: a body said in a role in a
// conversation.
type occKey struct{ conv, role, digest string }

// occurrence is the first span of a trace that says a body (earliest
// start, then span_id), with what search filters and shows of it.
type occurrence struct {
	spanID, agent, op string
	started           int64
}

// firstOccurrences folds a trace's states into the first occurrence of
// each of its search groups.
func firstOccurrences(states []*stateRow) map[occKey]occurrence {
	out := map[occKey]occurrence{}
	for _, r := range states {
		for _, mk := range r.msgKeys {
			role, digest, ok := splitKey(mk)
			if !ok {
				continue
			}
			k := occKey{r.d.ConvKey, role, digest}
			o, seen := out[k]
			if !seen || r.started < o.started || (r.started == o.started && r.spanID < o.spanID) {
				out[k] = occurrence{spanID: r.spanID, agent: r.d.EffAgent, op: r.op, started: r.started}
			}
		}
	}
	return out
}

func sortedOccKeys(m map[occKey]occurrence) []occKey {
	out := make([]occKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b occKey) int {
		if c := strings.Compare(a.conv, b.conv); c != 0 {
			return c
		}
		if c := strings.Compare(a.role, b.role); c != 0 {
			return c
		}
		return strings.Compare(a.digest, b.digest)
	})
	return out
}

// occurrenceCols are the columns of a message_occurrences insert.
var occurrenceCols = []string{
	"project_id", "digest", "conv_key", "role", "trace_id", "span_id", "eff_agent", "operation_name", "started_at",
	"version", "is_deleted",
}

func occurrenceValues(project, traceID string, k occKey, o occurrence, version uint64, deleted bool) []any {
	return []any{project, k.digest, k.conv, k.role, traceID, o.spanID, o.agent, o.op, fromNanos(o.started), version, b2u(deleted)}
}

// collapsed gathers span_state rows read without FINAL and keeps what
// VersionedCollapsingMergeTree would: per span and version the net of the
// signs (a state and its cancel row net to nothing), and of each span the
// live state (net above 0) with the newest version.
type collapsed[T any] struct {
	spans map[[2]string]map[uint64]*versionRows[T]
}

type versionRows[T any] struct {
	net int
	row T
	has bool
}

// add counts one row; row builds its value, and is called for a state
// row (sign 1) only.
func (c *collapsed[T]) add(trace, span string, version uint64, sign int8, row func() T) {
	if c.spans == nil {
		c.spans = map[[2]string]map[uint64]*versionRows[T]{}
	}
	k := [2]string{trace, span}
	vs := c.spans[k]
	if vs == nil {
		vs = map[uint64]*versionRows[T]{}
		c.spans[k] = vs
	}
	v := vs[version]
	if v == nil {
		v = &versionRows[T]{}
		vs[version] = v
	}
	v.net += int(sign)
	if sign > 0 && !v.has {
		v.row, v.has = row(), true
	}
}

// live returns the live state of each span, in no order.
func (c *collapsed[T]) live() []T {
	var out []T
	for _, vs := range c.spans {
		var best *versionRows[T]
		var bestV uint64
		for v, x := range vs {
			if x.net > 0 && x.has && (best == nil || v > bestV) {
				best, bestV = x, v
			}
		}
		if best != nil {
			out = append(out, best.row)
		}
	}
	return out
}
