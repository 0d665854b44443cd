package storetest

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/textsearch"
)

// oracle is a brute-force model of the store contract: it keeps the
// surviving version of every span and computes every derived figure from
// scratch, the slow and obvious way. Backends are compared against it.
type oracle struct {
	spans map[store.SpanKey]model.Span
	order []store.SpanKey // first-write order
}

func newOracle() *oracle { return &oracle{spans: make(map[store.SpanKey]model.Span)} }

func keyOf(s *model.Span) store.SpanKey {
	return store.SpanKey{ProjectID: s.ProjectID, TraceID: s.TraceID, SpanID: s.SpanID}
}

// write applies the upsert rule in slice order.
func (o *oracle) write(batch []model.Span) {
	for _, s := range batch {
		k := keyOf(&s)
		old, ok := o.spans[k]
		if !ok {
			o.order = append(o.order, k)
		} else if !old.EndedAt.IsZero() && s.EndedAt.IsZero() {
			continue
		}
		o.spans[k] = s
	}
}

// deleteBefore removes the spans that started before t.
func (o *oracle) deleteBefore(t time.Time) int64 {
	return o.deleteWhere("", func(s model.Span, _ oDerived) bool { return s.StartedAt.Before(t) })
}

func (o *oracle) project(p string) []model.Span {
	var out []model.Span
	for _, k := range o.order {
		if k.ProjectID == p {
			out = append(out, o.spans[k])
		}
	}
	return out
}

// oDerived is what the store package doc defines for one span.
type oDerived struct {
	agent, version, conv string
	counted              bool
	turnRoot             bool
}

func (o *oracle) derive(project string) map[store.SpanKey]oDerived {
	byTrace := map[string][]model.Span{}
	for _, s := range o.project(project) {
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
	}
	out := map[store.SpanKey]oDerived{}
	for traceID, spans := range byTrace {
		t := newOTrace(traceID, spans)
		for i := range spans {
			out[keyOf(&spans[i])] = t.derived(&spans[i])
		}
	}
	return out
}

// oTrace is one trace of the model, read as the contract words its rules.
type oTrace struct {
	id                     string
	spans                  []model.Span
	byID                   map[string]*model.Span
	traceConv, traceThread string // of the trace's earliest span that has one
}

func newOTrace(id string, spans []model.Span) *oTrace {
	t := &oTrace{id: id, spans: spans, byID: map[string]*model.Span{}}
	for i := range spans {
		t.byID[spans[i].SpanID] = &spans[i]
	}
	t.traceConv = t.earliest(func(s *model.Span) string { return s.ConversationID })
	t.traceThread = t.earliest(func(s *model.Span) string { return s.ThreadID })
	return t
}

func (t *oTrace) parent(s *model.Span) *model.Span {
	if s.ParentSpanID == "" || s.ParentSpanID == s.SpanID {
		return nil
	}
	return t.byID[s.ParentSpanID]
}

// chain is s's ancestors including s, nearest first, stopping at a cycle.
func (t *oTrace) chain(s *model.Span) []*model.Span {
	seen := map[string]bool{}
	var c []*model.Span
	for x := s; x != nil && !seen[x.SpanID]; x = t.parent(x) {
		seen[x.SpanID] = true
		c = append(c, x)
	}
	return c
}

// earliest is get of the trace's earliest span (then least span_id) where
// it is not empty.
func (t *oTrace) earliest(get func(*model.Span) string) string {
	var best *model.Span
	for i := range t.spans {
		s := &t.spans[i]
		if get(s) == "" {
			continue
		}
		if best == nil || s.StartedAt.Before(best.StartedAt) || (s.StartedAt.Equal(best.StartedAt) && s.SpanID < best.SpanID) {
			best = s
		}
	}
	if best == nil {
		return ""
	}
	return get(best)
}

// derived is the derived columns of the span s.
func (t *oTrace) derived(s *model.Span) oDerived {
	var d oDerived
	c := t.chain(s)
	for _, x := range c {
		if x.AgentName != "" {
			d.agent, d.version = x.AgentName, x.AgentVersion
			break
		}
	}
	nearest := func(get func(*model.Span) string) string {
		for _, x := range c {
			if get(x) != "" {
				return get(x)
			}
		}
		return ""
	}
	for _, conv := range []string{
		nearest(func(x *model.Span) string { return x.ConversationID }), t.traceConv,
		nearest(func(x *model.Span) string { return x.ThreadID }), t.traceThread,
		"trace:" + t.id,
	} {
		if d.conv = conv; d.conv != "" {
			break
		}
	}
	if s.HasUsage() {
		d.counted = true
		for j := range t.spans {
			x := &t.spans[j]
			if x == s || !x.HasUsage() {
				continue
			}
			// is s a strict ancestor of x?
			for _, a := range t.chain(x)[1:] {
				if a == s {
					d.counted = false
				}
			}
		}
	}
	if s.IsTurn {
		d.turnRoot = true
		for _, a := range c[1:] {
			if a.IsTurn {
				d.turnRoot = false
			}
		}
	}
	return d
}

func usageOf(s *model.Span) store.Usage {
	v := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	u := store.Usage{InputTokens: v(s.InputTokens), OutputTokens: v(s.OutputTokens),
		CacheReadInputTokens: v(s.CacheReadInputTokens), CacheCreationInputTokens: v(s.CacheCreationInputTokens),
		ReasoningTokens: v(s.ReasoningTokens)}
	if s.CostUSD != nil {
		u.CostUSD = *s.CostUSD
	} else if s.HasTokens() {
		u.UnpricedCount = 1
	}
	return u
}

func addUsage(a *store.Usage, b store.Usage) {
	a.InputTokens += b.InputTokens
	a.OutputTokens += b.OutputTokens
	a.CacheReadInputTokens += b.CacheReadInputTokens
	a.CacheCreationInputTokens += b.CacheCreationInputTokens
	a.ReasoningTokens += b.ReasoningTokens
	a.CostUSD = addCost(a.CostUSD, b.CostUSD)
	a.UnpricedCount += b.UnpricedCount
}

// addCost adds two costs in whole nano-dollars, as the contract sums them.
func addCost(a, b float64) float64 { return model.USD(model.CostNanos(a) + model.CostNanos(b)) }

func (o *oracle) versions(project string) map[[2]string]*store.AgentVersionSummary {
	der := o.derive(project)
	out := map[[2]string]*store.AgentVersionSummary{}
	for _, s := range o.project(project) {
		d := der[keyOf(&s)]
		if d.agent == "" {
			continue
		}
		k := [2]string{d.agent, d.version}
		v := out[k]
		if v == nil {
			v = &store.AgentVersionSummary{AgentName: d.agent, AgentVersion: d.version, FirstSeen: s.StartedAt.UTC(), LastSeen: s.StartedAt.UTC()}
			out[k] = v
		}
		v.SpanCount++
		if s.StatusCode == model.StatusError {
			v.ErrorCount++
		}
		if s.OperationName == model.OpInvokeAgent {
			v.InvocationCount++
			v.TotalDurationMs += s.DurationMs()
		}
		if s.StartedAt.Before(v.FirstSeen) {
			v.FirstSeen = s.StartedAt.UTC()
		}
		if s.StartedAt.After(v.LastSeen) {
			v.LastSeen = s.StartedAt.UTC()
		}
		if d.counted {
			addUsage(&v.Usage, usageOf(&s))
		}
	}
	return out
}

func (o *oracle) agents(project string) map[string]*store.AgentSummary {
	out := map[string]*store.AgentSummary{}
	for _, v := range o.versions(project) {
		a := out[v.AgentName]
		if a == nil {
			a = &store.AgentSummary{AgentName: v.AgentName, FirstSeen: v.FirstSeen, LastSeen: v.LastSeen}
			out[v.AgentName] = a
		}
		a.InvocationCount += v.InvocationCount
		a.SpanCount += v.SpanCount
		a.ErrorCount += v.ErrorCount
		a.TotalDurationMs += v.TotalDurationMs
		a.VersionCount++
		if v.FirstSeen.Before(a.FirstSeen) {
			a.FirstSeen = v.FirstSeen
		}
		if v.LastSeen.After(a.LastSeen) {
			a.LastSeen = v.LastSeen
		}
		addUsage(&a.Usage, v.Usage)
	}
	return out
}

func (o *oracle) conversations(project string) map[string]*store.ConversationSummary {
	der := o.derive(project)
	convs := map[string]*oConv{}
	for _, s := range o.project(project) {
		d := der[keyOf(&s)]
		c := convs[d.conv]
		if c == nil {
			c = &oConv{c: store.ConversationSummary{ConversationID: d.conv, FirstActivity: s.StartedAt.UTC(), LastActivity: s.StartedAt.UTC()},
				traces: map[string]bool{}, turnTraces: map[string]bool{}, agents: map[string]bool{}, models: map[string]bool{}}
			convs[d.conv] = c
		}
		c.add(s, d)
	}
	out := make(map[string]*store.ConversationSummary, len(convs))
	for k, c := range convs {
		out[k] = c.summary()
	}
	return out
}

// oConv is one conversation of the model while its spans are added.
type oConv struct {
	c                  store.ConversationSummary
	traces, turnTraces map[string]bool // turnTraces: the traces holding a turn span
	turnSpans          int64
	agents, models     map[string]bool
	prompt             *oPrompt
	place              *model.Span // latest span with a working dir or branch
}

// oPrompt is a first-prompt candidate.
type oPrompt struct {
	started time.Time
	rank    int
	spanID  string
	text    string
}

func (c *oConv) add(s model.Span, d oDerived) {
	c.c.SpanCount++
	c.traces[s.TraceID] = true
	if d.turnRoot {
		c.turnSpans++
		c.turnTraces[s.TraceID] = true
	}
	if s.StatusCode == model.StatusError {
		c.c.ErrorCount++
	}
	if s.IsRunning() {
		c.c.RunningCount++
	}
	if s.StartedAt.Before(c.c.FirstActivity) {
		c.c.FirstActivity = s.StartedAt.UTC()
	}
	last := s.StartedAt
	if s.EndedAt.After(last) {
		last = s.EndedAt
	}
	if last.After(c.c.LastActivity) {
		c.c.LastActivity = last.UTC()
	}
	if d.agent != "" {
		c.agents[d.agent] = true
	}
	m := s.ResponseModel
	if m == "" {
		m = s.RequestModel
	}
	if m != "" {
		c.models[m] = true
	}
	if d.counted {
		addUsage(&c.c.Usage, usageOf(&s))
	}
	c.notePrompt(&s)
	if s.CustomAttrsString["weave.claude_code.cwd"] != "" || s.CustomAttrsString["weave.claude_code.git_branch"] != "" {
		if b := c.place; b == nil || s.StartedAt.After(b.StartedAt) || (s.StartedAt.Equal(b.StartedAt) && s.SpanID > b.SpanID) {
			c.place = &s
		}
	}
}

// notePrompt keeps s's prompt if it comes first: earliest start,
// invoke_agent spans first, then span_id.
func (c *oConv) notePrompt(s *model.Span) {
	p := PromptPreview(s.InputMessages)
	if p == "" {
		return
	}
	rank := 1
	if s.OperationName == model.OpInvokeAgent {
		rank = 0
	}
	cd := &oPrompt{s.StartedAt, rank, s.SpanID, p}
	b := c.prompt
	if b == nil || cd.started.Before(b.started) || (cd.started.Equal(b.started) && (cd.rank < b.rank || (cd.rank == b.rank && cd.spanID < b.spanID))) {
		c.prompt = cd
	}
}

// summary is the conversation's summary once every span is added.
func (c *oConv) summary() *store.ConversationSummary {
	out := c.c
	out.TurnCount = int64(len(c.traces))
	if c.turnSpans > 0 {
		out.TurnCount = c.turnSpans
		out.BackgroundCount = int64(len(c.traces) - len(c.turnTraces))
	}
	out.AgentNames = sortedKeys(c.agents)
	out.Models = sortedKeys(c.models)
	if c.prompt != nil {
		out.FirstPrompt = c.prompt.text
	}
	if s := c.place; s != nil {
		out.WorkingDir, out.GitBranch = s.CustomAttrsString["weave.claude_code.cwd"], s.CustomAttrsString["weave.claude_code.git_branch"]
	}
	return &out
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// PromptPreview is the contract's first-prompt preview of one span's
// input messages (store.ConversationSummary).
func PromptPreview(msgs []model.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if !strings.EqualFold(msgs[i].Role, "user") {
			continue
		}
		t := strings.Join(strings.Fields(msgs[i].Text()), " ")
		if t == "" {
			continue
		}
		if r := []rune(t); len(r) > store.FirstPromptMaxRunes {
			t = strings.TrimRight(string(r[:store.FirstPromptMaxRunes-1]), " ") + "…"
		}
		return t
	}
	return ""
}

// oHit is an expected search hit (before snippets).
type oHit struct {
	store.SearchHit
	text string
}

// searchKeys lists a span's searchable (role, text) pairs (the contract
// of store.SearchHit): a response that is a JSON string counts as the
// string, and the output text of an invoke_agent span that answers a tool
// call is that call's result.
func searchKeys(s *model.Span) map[[2]string]bool {
	k := map[[2]string]bool{}
	answers := s.OperationName == model.OpInvokeAgent && s.ToolCallID != ""
	for i, list := range [][]model.Message{s.InputMessages, s.OutputMessages} {
		for _, m := range list {
			for _, p := range m.Parts {
				if (p.Type == model.PartText || p.Type == model.PartReasoning) && p.Content != "" {
					role := m.Role
					if answers && i == 1 && p.Type == model.PartText {
						role = "tool_result"
					}
					k[[2]string{role, p.Content}] = true
				}
				if len(p.Arguments) > 0 {
					k[[2]string{"tool_call", string(p.Arguments)}] = true
				}
				if len(p.Response) > 0 {
					var text string
					if err := json.Unmarshal(p.Response, &text); err != nil {
						text = string(p.Response)
					}
					if text != "" {
						k[[2]string{"tool_result", text}] = true
					}
				}
			}
		}
	}
	for _, si := range s.SystemInstructions {
		if si != "" {
			k[[2]string{"system", si}] = true
		}
	}
	if s.ToolCallArguments != "" {
		k[[2]string{"tool_call", s.ToolCallArguments}] = true
	}
	if s.ToolCallResult != "" {
		k[[2]string{"tool_result", s.ToolCallResult}] = true
	}
	return k
}

// search returns the expected hits of q (all pages), newest first.
func (o *oracle) search(q store.SearchQuery) []oHit {
	parsed, err := textsearch.Parse(q.Query)
	if err != nil {
		return nil
	}
	der := o.derive(q.ProjectID)
	convs := o.conversations(q.ProjectID)
	type gk struct{ conv, role, text string }
	first := map[gk]*oHit{}
	for _, s := range o.project(q.ProjectID) {
		d := der[keyOf(&s)]
		for rt := range searchKeys(&s) {
			k := gk{d.conv, rt[0], rt[1]}
			h := &oHit{SearchHit: store.SearchHit{TraceID: s.TraceID, SpanID: s.SpanID, ConversationID: d.conv, LastActivity: convs[d.conv].LastActivity,
				AgentName: d.agent, OperationName: s.OperationName, Role: rt[0], StartedAt: s.StartedAt.UTC()}, text: rt[1]}
			b := first[k]
			if b == nil || h.StartedAt.Before(b.StartedAt) || (h.StartedAt.Equal(b.StartedAt) &&
				(h.TraceID < b.TraceID || (h.TraceID == b.TraceID && h.SpanID < b.SpanID))) {
				first[k] = h
			}
		}
	}
	var out []oHit
	for _, h := range first {
		if !matches(h.text, parsed) {
			continue
		}
		if len(q.Roles) > 0 && !slices.Contains(q.Roles, h.Role) {
			continue
		}
		if q.AgentName != "" && h.AgentName != q.AgentName {
			continue
		}
		if q.ConversationID != "" && h.ConversationID != q.ConversationID {
			continue
		}
		if !q.Range.From.IsZero() && h.StartedAt.Before(q.Range.From) {
			continue
		}
		if !q.Range.To.IsZero() && !h.StartedAt.Before(q.Range.To) {
			continue
		}
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.StartedAt.Equal(b.StartedAt) {
			return a.StartedAt.After(b.StartedAt)
		}
		if a.TraceID != b.TraceID {
			return a.TraceID < b.TraceID
		}
		if a.SpanID != b.SpanID {
			return a.SpanID < b.SpanID
		}
		return a.Role < b.Role
	})
	return out
}

// matches reports whether every term of q occurs in text.
func matches(text string, q textsearch.Query) bool {
	var toks []string
	for _, t := range textsearch.Tokenize(textsearch.IndexText(text)) {
		toks = append(toks, t.Norm)
	}
	for _, term := range q.Terms {
		found := false
		for i := 0; i+len(term.Tokens) <= len(toks) && !found; i++ {
			found = slices.Equal(toks[i:i+len(term.Tokens)], term.Tokens)
		}
		if !found {
			return false
		}
	}
	return true
}

// metrics computes the expected buckets of width w over [from, to).
func (o *oracle) metrics(project, agent string, from, to time.Time, w time.Duration) []store.MetricBucket {
	der := o.derive(project)
	type key struct {
		start int64
		agent string
	}
	acc := map[key]*store.MetricBucket{}
	dur := map[key][2]int64{}
	for _, s := range o.project(project) {
		d := der[keyOf(&s)]
		if d.agent == "" || (agent != "" && d.agent != agent) {
			continue
		}
		if s.StartedAt.Before(from) || !s.StartedAt.Before(to) {
			continue
		}
		n := s.StartedAt.UnixNano()
		start := n - ((n%int64(w))+int64(w))%int64(w)
		k := key{start, d.agent}
		b := acc[k]
		if b == nil {
			b = &store.MetricBucket{Start: time.Unix(0, start).UTC(), AgentName: d.agent}
			acc[k] = b
		}
		b.SpanCount++
		if s.StatusCode == model.StatusError {
			b.ErrorCount++
		}
		if s.OperationName == model.OpInvokeAgent {
			b.InvocationCount++
			if !s.IsRunning() {
				x := dur[k]
				dur[k] = [2]int64{x[0] + s.DurationMs(), x[1] + 1}
			}
		}
		if d.counted {
			addUsage(&b.Usage, usageOf(&s))
		}
	}
	var out []store.MetricBucket
	for k, b := range acc {
		if x := dur[k]; x[1] > 0 {
			b.AvgDurationMs = float64(x[0]) / float64(x[1])
		}
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].AgentName < out[j].AgentName
	})
	return out
}
