package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/derive"
	"github.com/weavetrace/weave/server/store/storetest"
	"github.com/weavetrace/weave/server/store/textsearch"
)

// brute is a slow, obvious model of the contract (store package doc),
// written independently of the writer: it keeps the surviving version of
// every span and derives everything from scratch.
type brute struct {
	spans map[store.SpanKey]model.Span
}

func newBrute() *brute { return &brute{spans: map[store.SpanKey]model.Span{}} }

func (b *brute) write(batch []model.Span) {
	for _, s := range batch {
		k := store.SpanKey{ProjectID: s.ProjectID, TraceID: s.TraceID, SpanID: s.SpanID}
		if old, ok := b.spans[k]; ok && !old.EndedAt.IsZero() && s.EndedAt.IsZero() {
			continue
		}
		b.spans[k] = s
	}
}

func (b *brute) derive() map[store.SpanKey]derive.Derived {
	byTrace := map[[2]string][]model.Span{}
	for _, s := range b.spans {
		k := [2]string{s.ProjectID, s.TraceID}
		byTrace[k] = append(byTrace[k], s)
	}
	out := map[store.SpanKey]derive.Derived{}
	for tk, spans := range byTrace {
		byID := map[string]*model.Span{}
		for i := range spans {
			byID[spans[i].SpanID] = &spans[i]
		}
		chain := func(s *model.Span) []*model.Span {
			seen := map[string]bool{}
			var c []*model.Span
			for x := s; x != nil && !seen[x.SpanID]; {
				seen[x.SpanID] = true
				c = append(c, x)
				if x.ParentSpanID == "" || x.ParentSpanID == x.SpanID {
					break
				}
				x = byID[x.ParentSpanID]
			}
			return c
		}
		earliest := func(get func(*model.Span) string) string {
			var best *model.Span
			for i := range spans {
				s := &spans[i]
				if get(s) != "" && (best == nil || s.StartedAt.Before(best.StartedAt) ||
					(s.StartedAt.Equal(best.StartedAt) && s.SpanID < best.SpanID)) {
					best = s
				}
			}
			if best == nil {
				return ""
			}
			return get(best)
		}
		conv := func(s *model.Span) string { return s.ConversationID }
		thread := func(s *model.Span) string { return s.ThreadID }
		for i := range spans {
			s := &spans[i]
			var d derive.Derived
			c := chain(s)
			for _, x := range c {
				if x.AgentName != "" {
					d.EffAgent, d.EffVersion = x.AgentName, x.AgentVersion
					break
				}
			}
			first := func(get func(*model.Span) string) string {
				for _, x := range c {
					if get(x) != "" {
						return get(x)
					}
				}
				return ""
			}
			for _, v := range []string{first(conv), earliest(conv), first(thread), earliest(thread), "trace:" + tk[1]} {
				if v != "" {
					d.ConvKey = v
					break
				}
			}
			if s.HasUsage() {
				d.Counted = true
				for j := range spans {
					x := &spans[j]
					if x == s || !x.HasUsage() {
						continue
					}
					for _, a := range chain(x)[1:] {
						if a == s {
							d.Counted = false
						}
					}
				}
			}
			if s.IsTurn {
				d.TurnRoot = true
				for _, a := range c[1:] {
					if a.IsTurn {
						d.TurnRoot = false
					}
				}
			}
			out[store.SpanKey{ProjectID: s.ProjectID, TraceID: s.TraceID, SpanID: s.SpanID}] = d
		}
	}
	return out
}

// randomStream builds several conversations and odd traces (cycles,
// missing parents, thread-only, ungrouped, parents reporting their
// children's usage), then a shuffled stream of them with duplicates, stale
// in-progress copies and re-written versions (new content, usage removed,
// conversation or agent changed, start moved).
func randomStream(r *rand.Rand, project string) []model.Span {
	var all []model.Span
	for c := 0; c < 3; c++ {
		turns := storetest.BuildConversation(storetest.ConversationSpec{ProjectID: project, ConversationID: fmt.Sprint("rc-", c),
			Start: storetest.T0.Add(time.Duration(c) * 7 * time.Minute), Turns: 2 + r.IntN(2), CallsPerTurn: 1 + r.IntN(3),
			Subagent: c != 1, FullHistory: c == 0, Rand: r, ContentScale: 0.2})
		all = append(all, storetest.Flatten(turns)...)
	}
	for i, thread := range []string{"thread-x", ""} {
		t := storetest.BuildTurn(storetest.TurnSpec{ProjectID: project, Turn: 50 + i, Start: storetest.T0.Add(time.Duration(i) * time.Hour),
			Prompt: fmt.Sprint("loose ", i), Calls: 2, Rand: r, ContentScale: 0.2})
		for j := range t.Spans {
			t.Spans[j].ThreadID = thread
			t.Spans[j].ConversationID = ""
			t.Spans[j].IsTurn = r.IntN(3) == 0 // turn spans, nested ones, background traces
		}
		all = append(all, t.Spans...)
	}
	odd := func(trace, id, parent, agent, conv string, in int64, off time.Duration) model.Span {
		s := model.Span{ProjectID: project, TraceID: storetest.TraceID(trace), SpanID: storetest.SpanID(trace, id), SpanName: id,
			StartedAt: storetest.T0.Add(off), EndedAt: storetest.T0.Add(off + time.Second), OperationName: model.OpChat,
			AgentName: agent, ConversationID: conv, StatusCode: model.StatusOK}
		if agent != "" {
			s.OperationName = model.OpInvokeAgent
		}
		if parent != "" {
			s.ParentSpanID = storetest.SpanID(trace, parent)
		}
		if in > 0 {
			s.InputTokens = &in
		}
		return s
	}
	all = append(all,
		odd("cyc", "p", "q", "", "", 5, 0), odd("cyc", "q", "p", "looper", "", 0, time.Second),
		odd("orph", "x", "gone", "", "", 3, 2*time.Second), odd("orph", "y", "x", "", "C-orph", 2, 3*time.Second),
		odd("usage", "R", "", "orchestrator", "C-usage", 100, 0), odd("usage", "A", "R", "", "", 60, time.Millisecond),
		odd("usage", "S", "R", "worker", "", 40, 2*time.Millisecond), odd("usage", "B", "S", "", "", 40, 3*time.Millisecond),
	)
	var stream []model.Span
	for _, s := range all {
		stream = append(stream, s)
		switch r.IntN(8) {
		case 0:
			stream = append(stream, s)
		case 1:
			run := s
			run.EndedAt, run.OutputMessages, run.OutputTokens = time.Time{}, nil, nil
			stream = append(stream, run)
		case 2:
			v := s
			v.InputTokens, v.OutputTokens = nil, nil
			stream = append(stream, v)
		case 3:
			v := s
			v.ConversationID = "moved-" + s.ConversationID
			stream = append(stream, v)
		case 4:
			v := s
			v.StartedAt = v.StartedAt.Add(-250 * time.Millisecond)
			v.OutputMessages = []model.Message{{Role: "assistant", Parts: []model.Part{{Type: model.PartText, Content: "rewritten answer"}}}}
			stream = append(stream, v)
		case 5:
			v := s
			v.AgentName, v.AgentVersion = "renamed", "9"
			stream = append(stream, v)
		case 6:
			v := s
			v.IsTurn = !v.IsTurn
			stream = append(stream, v)
		}
	}
	r.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
	return stream
}

// TestWriterMatchesContract writes random streams through the writer into
// the emulated tables and compares what the read path would see (FINAL
// views, rollup sums with the stale correction, conversation rows, first
// occurrences) with the brute-force model: with the writer's cache of
// trace states, without it (every batch reads span_state back), with a
// cache so small that traces keep leaving it, and with inserts that fail
// (before or after they land: a lost acknowledgement) and are retried.
func TestWriterMatchesContract(t *testing.T) {
	for _, mode := range []struct {
		name  string
		cache int64
		flaky bool
	}{{"cache", 0, false}, {"no cache", -1, false}, {"tiny cache", 3000, false}, {"failing inserts", 0, true}} {
		for seed := uint64(1); seed <= 6; seed++ {
			t.Run(fmt.Sprint(mode.name, " seed ", seed), func(t *testing.T) {
				f := &fakeConn{}
				var conn driver.Conn = f
				r := rand.New(rand.NewPCG(seed, 42))
				var flaky *flakyConn
				if mode.flaky {
					flaky = &flakyConn{fakeConn: f, r: rand.New(rand.NewPCG(seed, 7))}
					conn = flaky
				}
				s := newStoreOn(t, conn, Config{StateCacheBytes: mode.cache})
				emu := newEmulator()
				f.respond = emu.respond
				b := newBrute()
				const project = "acme/random"
				stream := randomStream(r, project)
				failures := 0
				for len(stream) > 0 {
					n := min(len(stream), 1+r.IntN(25))
					for {
						err := s.WriteSpans(context.Background(), stream[:n])
						emu.apply(t, f.take())
						if err == nil {
							break
						}
						if flaky == nil || failures > 1000 {
							t.Fatalf("WriteSpans: %v", err)
						}
						failures++ // a client retries a failed request
					}
					b.write(stream[:n])
					stream = stream[n:]
				}
				if flaky != nil && failures == 0 {
					t.Fatal("no insert failed")
				}
				checkEmulated(t, emu, b, project)
			})
		}
	}
}

// flakyConn fails one insert in five: half of them before the rows land,
// half after (the server wrote them, the answer was lost).
type flakyConn struct {
	*fakeConn
	mu sync.Mutex
	r  *rand.Rand
}

func (c *flakyConn) PrepareBatch(ctx context.Context, sql string, opts ...driver.PrepareBatchOption) (driver.Batch, error) {
	b, err := c.fakeConn.PrepareBatch(ctx, sql, opts...)
	return &flakyBatch{Batch: b, c: c}, err
}

type flakyBatch struct {
	driver.Batch
	c *flakyConn
}

func (b *flakyBatch) Send() error {
	b.c.mu.Lock()
	k := b.c.r.IntN(10)
	b.c.mu.Unlock()
	switch k {
	case 0:
		return errors.New("code: 210, connection reset before the insert")
	case 1:
		b.Batch.Send()
		return errors.New("code: 210, connection reset after the insert")
	}
	return b.Batch.Send()
}

func checkEmulated(t *testing.T, emu *emulator, b *brute, project string) {
	t.Helper()
	der := b.derive()

	// spans FINAL holds exactly the surviving version of every span.
	got := map[store.SpanKey]erow{}
	for _, r := range live(emu.spans) {
		k := store.SpanKey{ProjectID: r["project_id"].(string), TraceID: r["trace_id"].(string), SpanID: r["span_id"].(string)}
		if _, dup := got[k]; dup {
			t.Errorf("spans FINAL: span %v twice (an old copy at another start was not removed)", k)
		}
		got[k] = r
	}
	if len(got) != len(b.spans) {
		t.Errorf("spans FINAL: got %d spans, want %d", len(got), len(b.spans))
	}
	for k, want := range b.spans {
		r, ok := got[k]
		if !ok {
			t.Errorf("spans FINAL: span %v missing", k)
			continue
		}
		if !r["started_at"].(time.Time).Equal(want.StartedAt) || (r["ended_at"].(*time.Time) == nil) != want.IsRunning() ||
			r["conversation_id"] != want.ConversationID || r["agent_name"] != want.AgentName {
			t.Errorf("spans FINAL: span %v: got started %v ended %v conv %q agent %q, want %v %v %q %q", k, r["started_at"], fmtValue(r["ended_at"]),
				r["conversation_id"], r["agent_name"], want.StartedAt, want.EndedAt, want.ConversationID, want.AgentName)
		}
	}

	// span_state FINAL: one state per span, with the contract's derived columns.
	states := map[store.SpanKey]erow{}
	for _, r := range emu.liveStates() {
		k := store.SpanKey{ProjectID: r["project_id"].(string), TraceID: r["trace_id"].(string), SpanID: r["span_id"].(string)}
		if _, dup := states[k]; dup {
			t.Errorf("span_state FINAL: span %v twice", k)
		}
		states[k] = r
	}
	for k, d := range der {
		r, ok := states[k]
		if !ok {
			t.Errorf("span_state: span %v missing", k)
			continue
		}
		gotD := derive.Derived{EffAgent: r["eff_agent"].(string), EffVersion: r["eff_version"].(string), ConvKey: r["conv_key"].(string),
			Counted: r["counted"].(uint8) == 1, TurnRoot: r["turn_root"].(uint8) == 1}
		if gotD != d {
			t.Errorf("span_state: span %v derived: got %+v, want %+v", k, gotD, d)
		}
	}

	// Agents: the rollup sums, first/last corrected where stale, as
	// QueryAgents reads them.
	type agg struct {
		spans, invocations, errors, durationMs int64
		tok                                    [5]int64
		first, last                            int64
	}
	wantAgents := map[string]*agg{}
	wantMinutes := map[string]*agg{}
	for k, s := range b.spans {
		d := der[k]
		if d.EffAgent == "" {
			continue
		}
		for _, m := range []struct {
			m   map[string]*agg
			key string
		}{{wantAgents, d.EffAgent}, {wantAgents, d.EffAgent + "|" + d.EffVersion}, {wantMinutes, d.EffAgent + "|" + fmt.Sprint(store.FloorDiv(s.StartedAt.UnixNano(), minuteNanos))}} {
			a := m.m[m.key]
			if a == nil {
				a = &agg{first: s.StartedAt.UnixNano(), last: s.StartedAt.UnixNano()}
				m.m[m.key] = a
			}
			a.spans++
			if s.OperationName == model.OpInvokeAgent {
				a.invocations++
				a.durationMs += s.DurationMs()
			}
			if s.StatusCode == model.StatusError {
				a.errors++
			}
			if d.Counted {
				for i, p := range []*int64{s.InputTokens, s.OutputTokens, s.CacheReadInputTokens, s.CacheCreationInputTokens, s.ReasoningTokens} {
					if p != nil {
						a.tok[i] += *p
					}
				}
			}
			a.first, a.last = min(a.first, s.StartedAt.UnixNano()), max(a.last, s.StartedAt.UnixNano())
		}
	}
	gotAgents := map[string]*agg{}
	collect := func(m map[string]*rollup, prefix string, byKey func(k string) string, dst map[string]*agg, correct bool) {
		for k, x := range m {
			if x.spans == 0 {
				continue
			}
			name := byKey(k[len(prefix):])
			a := &agg{spans: x.spans, invocations: x.invocations, errors: x.errors, durationMs: x.durationMs, tok: x.tok, first: x.first, last: x.last}
			if correct && x.stale > 0 {
				a.first, a.last = 1<<62, -1<<62
				for sk, r := range states {
					if sk.ProjectID != project {
						continue
					}
					if key := r["eff_agent"].(string); key == name || key+"|"+r["eff_version"].(string) == name {
						n := r["started_at"].(time.Time).UnixNano()
						a.first, a.last = min(a.first, n), max(a.last, n)
					}
				}
			}
			dst[name] = a
		}
	}
	same := func(k string) string { return k }
	collect(emu.agents(), project+"|", same, gotAgents, true)
	collect(emu.versions, project+"|", same, gotAgents, true)
	if !reflect.DeepEqual(gotAgents, wantAgents) {
		for k, w := range wantAgents {
			if g := gotAgents[k]; g == nil || *g != *w {
				t.Errorf("agent rollup %q: got %+v, want %+v", k, g, w)
			}
		}
		for k := range gotAgents {
			if wantAgents[k] == nil {
				t.Errorf("agent rollup %q: got %+v, want none", k, gotAgents[k])
			}
		}
	}
	gotMinutes := map[string]*agg{}
	collect(emu.minutes, project+"|", same, gotMinutes, false)
	for k, w := range wantMinutes {
		g := gotMinutes[k]
		if g == nil || g.spans != w.spans || g.invocations != w.invocations || g.durationMs != w.durationMs || g.tok != w.tok || g.errors != w.errors {
			t.Errorf("agent_minutes %q: got %+v, want %+v", k, g, w)
		}
	}
	if len(gotMinutes) != len(wantMinutes) {
		t.Errorf("agent_minutes: got %d groups, want %d", len(gotMinutes), len(wantMinutes))
	}

	// Conversations: conv_traces FINAL grouped by conversation.
	type conv struct {
		turns, background      int64
		spans, errors, running int64
		tok                    [5]int64
		first, last            int64
		agents, models         []string
		prompt                 string
	}
	wantConv := map[string]*conv{}
	traces := map[string]map[string]bool{}
	turnSpans, turnTraces := map[string]int64{}, map[string]map[string]bool{}
	type cand struct {
		at     int64
		rank   int
		span   string
		prompt string
	}
	prompts := map[string]*cand{}
	agentSets, modelSets := map[string]map[string]bool{}, map[string]map[string]bool{}
	for k, s := range b.spans {
		d := der[k]
		c := wantConv[d.ConvKey]
		if c == nil {
			c = &conv{first: s.StartedAt.UnixNano(), last: s.StartedAt.UnixNano()}
			wantConv[d.ConvKey] = c
			traces[d.ConvKey], agentSets[d.ConvKey], modelSets[d.ConvKey] = map[string]bool{}, map[string]bool{}, map[string]bool{}
			turnTraces[d.ConvKey] = map[string]bool{}
		}
		c.spans++
		traces[d.ConvKey][s.TraceID] = true
		if d.TurnRoot {
			turnSpans[d.ConvKey]++
			turnTraces[d.ConvKey][s.TraceID] = true
		}
		if s.StatusCode == model.StatusError {
			c.errors++
		}
		if s.IsRunning() {
			c.running++
		}
		last := s.StartedAt
		if s.EndedAt.After(last) {
			last = s.EndedAt
		}
		c.first, c.last = min(c.first, s.StartedAt.UnixNano()), max(c.last, last.UnixNano())
		if d.Counted {
			for i, p := range []*int64{s.InputTokens, s.OutputTokens, s.CacheReadInputTokens, s.CacheCreationInputTokens, s.ReasoningTokens} {
				if p != nil {
					c.tok[i] += *p
				}
			}
		}
		if d.EffAgent != "" {
			agentSets[d.ConvKey][d.EffAgent] = true
		}
		m := s.ResponseModel
		if m == "" {
			m = s.RequestModel
		}
		if m != "" {
			modelSets[d.ConvKey][m] = true
		}
		if p := storetest.PromptPreview(s.InputMessages); p != "" {
			rank := 1
			if s.OperationName == model.OpInvokeAgent {
				rank = 0
			}
			x := &cand{s.StartedAt.UnixNano(), rank, s.SpanID, p}
			best := prompts[d.ConvKey]
			if best == nil || x.at < best.at || (x.at == best.at && (x.rank < best.rank || (x.rank == best.rank && x.span < best.span))) {
				prompts[d.ConvKey] = x
			}
		}
	}
	for k, c := range wantConv {
		c.turns = int64(len(traces[k]))
		if n := turnSpans[k]; n > 0 {
			c.turns, c.background = n, int64(len(traces[k])-len(turnTraces[k]))
		}
		c.agents, c.models = sortedSet(agentSets[k]), sortedSet(modelSets[k])
		if p := prompts[k]; p != nil {
			c.prompt = p.prompt
		}
	}
	gotConv := map[string]*conv{}
	gotTraces, gotTurnSpans, gotBackground := map[string]int64{}, map[string]int64{}, map[string]int64{}
	bestPrompt := map[string][3]any{}
	for _, r := range live(emu.convTraces) {
		k := r["conv_key"].(string)
		c := gotConv[k]
		if c == nil {
			c = &conv{first: r["first_ns"].(int64), last: r["last_ns"].(int64), agents: []string{}, models: []string{}}
			gotConv[k] = c
		}
		gotTraces[k]++
		gotTurnSpans[k] += r["turn_spans"].(int64)
		if r["turn_spans"].(int64) == 0 {
			gotBackground[k]++
		}
		c.spans += r["span_count"].(int64)
		c.errors += r["error_count"].(int64)
		c.running += r["running_count"].(int64)
		for i, col := range []string{"input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "reasoning_tokens"} {
			c.tok[i] += r[col].(int64)
		}
		c.first, c.last = min(c.first, r["first_ns"].(int64)), max(c.last, r["last_ns"].(int64))
		c.agents = mergeSorted(c.agents, r["agents"].([]string))
		c.models = mergeSorted(c.models, r["models"].([]string))
		if p := r["prompt"].(string); p != "" {
			x := [3]any{r["prompt_ns"].(int64), r["prompt_rank"].(uint8), r["prompt_span_id"].(string)}
			best, ok := bestPrompt[k]
			if !ok || x[0].(int64) < best[0].(int64) || (x[0] == best[0] && (x[1].(uint8) < best[1].(uint8) ||
				(x[1] == best[1] && x[2].(string) < best[2].(string)))) {
				bestPrompt[k] = x
				c.prompt = p
			}
		}
	}
	for k, c := range gotConv {
		// As convAggs computes them.
		c.turns = gotTraces[k]
		if gotTurnSpans[k] > 0 {
			c.turns, c.background = gotTurnSpans[k], gotBackground[k]
		}
		c.agents, c.models = nilIfNone(c.agents), nilIfNone(c.models)
		if w := wantConv[k]; w != nil {
			w.agents, w.models = nilIfNone(w.agents), nilIfNone(w.models)
		}
	}
	for k, w := range wantConv {
		if g := gotConv[k]; g == nil || !reflect.DeepEqual(*g, *w) {
			t.Errorf("conversation %q: got %+v, want %+v", k, g, w)
		}
	}
	for k, g := range gotConv {
		if wantConv[k] == nil {
			t.Errorf("conversation %q: got %+v, want none", k, g)
		}
	}
	// The conversations rollup (what the page as it opens reads first):
	// every conversation with its span count and an upper bound of its
	// last activity, and no other.
	for k, w := range wantConv {
		if r := emu.convs[project+"|"+k]; r == nil || r.spans != w.spans || r.last < w.last {
			t.Errorf("conversations rollup %q: got %+v, want %d spans and a last activity ≥ %d", k, r, w.spans, w.last)
		}
	}
	for k, r := range emu.convs {
		if key := strings.TrimPrefix(k, project+"|"); r.spans != 0 && wantConv[key] == nil {
			t.Errorf("conversations rollup %q: %d spans, want none", key, r.spans)
		}
	}

	// Search: the first occurrence of every (conversation, role, body).
	type hit struct {
		trace, span, agent, op string
		at                     int64
	}
	wantHits := map[string]hit{}
	for k, s := range b.spans {
		d := der[k]
		for _, p := range searchPairs(&s) {
			hk := d.ConvKey + "|" + p.role + "|" + p.digest
			h := hit{s.TraceID, s.SpanID, d.EffAgent, s.OperationName, s.StartedAt.UnixNano()}
			if best, ok := wantHits[hk]; !ok || earlierHit(h.at, h.trace, h.span, best.at, best.trace, best.span) {
				wantHits[hk] = h
			}
		}
	}
	gotHits := map[string]hit{}
	for _, r := range live(emu.occurrences) {
		hk := r["conv_key"].(string) + "|" + r["role"].(string) + "|" + r["digest"].(string)
		h := hit{r["trace_id"].(string), r["span_id"].(string), r["eff_agent"].(string), r["operation_name"].(string), r["started_at"].(time.Time).UnixNano()}
		if best, ok := gotHits[hk]; !ok || earlierHit(h.at, h.trace, h.span, best.at, best.trace, best.span) {
			gotHits[hk] = h
		}
	}
	if !reflect.DeepEqual(gotHits, wantHits) {
		keys := map[string]bool{}
		for k := range gotHits {
			keys[k] = true
		}
		for k := range wantHits {
			keys[k] = true
		}
		n := 0
		for _, k := range sortedKeys(keys) {
			if gotHits[k] != wantHits[k] && n < 5 {
				n++
				t.Errorf("search group %s: got %+v, want %+v", k, gotHits[k], wantHits[k])
			}
		}
	}
	// Every occurring body is stored.
	for _, r := range live(emu.occurrences) {
		if _, ok := emu.content[key(r["project_id"], r["digest"])]; !ok {
			t.Errorf("message body %s of %s/%s is not stored", r["digest"], r["trace_id"], r["span_id"])
		}
	}
}

func earlierHit(at int64, trace, span string, bAt int64, bTrace, bSpan string) bool {
	if at != bAt {
		return at < bAt
	}
	if trace != bTrace {
		return trace < bTrace
	}
	return span < bSpan
}

func mergeSorted(a, b []string) []string {
	set := map[string]bool{}
	for _, x := range a {
		set[x] = true
	}
	for _, x := range b {
		set[x] = true
	}
	out := make([]string, 0, len(set))
	for x := range set {
		out = append(out, x)
	}
	sort.Strings(out)
	return out
}

// TestLoadStatesCollapses reads span_state rows without FINAL and
// collapses them as VersionedCollapsingMergeTree does: a state cancelled
// by a row of its version is gone (a span DeleteBefore removed leaves
// nothing), and of the rest the highest version wins.
func TestLoadStatesCollapses(t *testing.T) {
	s, f := newFakeStore(t, Config{})
	row := func(span string, version uint64, sign int8) []any {
		x := stateValues("p", &stateRow{traceID: "t1", spanID: span, version: version}, sign, false, false)
		// stateValues is in insert order (project first, then stateCols,
		// then five insert-only columns); a read returns stateCols, sign.
		out := append([]any(nil), x[1:1+len(stateCols)]...)
		for i, c := range stateCols {
			switch c {
			case "started_at":
				out[i] = fromNanos(0)
			case "ended_at":
				out[i] = (*time.Time)(nil)
			}
		}
		return append(out, sign)
	}
	f.respond = func(string, map[string]any) [][]any {
		return [][]any{
			row("a", 1, 1), row("a", 2, 1), row("a", 1, -1), // a: v1 replaced by v2
			row("b", 5, -1), row("b", 5, 1), // b: removed
			row("c", 9, 1), row("c", 3, 1), row("c", 3, -1), // c: v9
		}
	}
	got, err := s.loadStates(context.Background(), "p", []string{"t1"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, fmt.Sprint(r.spanID, "@", r.version))
	}
	if want := []string{"a@2", "c@9"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("states %v, want %v", ids, want)
	}
}

// TestSearchRecentThreshold checks the plans of common words on a case
// where reading only the newest rows would be wrong: body A was first said
// long ago and repeated lately, so its newest row comes first while its
// group belongs at the end; C's only row is older than the first round
// read. The page of two must be B then C, whether the plan reads the rows
// of matching bodies or every row (D's, which does not match, among them).
func TestSearchRecentThreshold(t *testing.T) {
	for _, common := range []bool{false, true} {
		plan := &searchPlan{directMax: 0, commonPercent: 200, recentRows: 2, perHit: 0, recentMax: 1 << 20}
		if common {
			plan.commonPercent = 0
		}
		s, f := newFakeStore(t, Config{searchPlan: plan})
		s.l.textIndex = true
		type row struct {
			digest string
			at     int64
		}
		rows := []row{{"A", 100}, {"B", 90}, {"D", 70}, {"C", 50}, {"A", 10}} // newest first
		first := map[string]int64{"A": 10, "B": 90, "C": 50}                  // the matching bodies
		f.respond = func(sql string, p map[string]any) [][]any {
			var n uint64
			var digests []string
			for _, v := range p {
				switch x := v.(type) {
				case uint64:
					n = x
				case []string:
					if !slices.Equal(x, []string{"word"}) { // not the query's words
						digests = x
					}
				case ch.ArraySet: // (digest, conv_key, role) of the groups asked
					for _, g := range x {
						digests = append(digests, g.(ch.GroupSet).Value[0].(string))
					}
				}
			}
			switch {
			case strings.HasPrefix(sql, "SELECT (SELECT toInt64(count())"):
				return [][]any{{int64(len(first)), int64(4)}}
			case strings.Contains(sql, "message_occurrences_by_time"):
				var out [][]any
				for _, r := range rows {
					if _, match := first[r.digest]; (match || common) && len(out) < int(n) {
						out = append(out, []any{"c", "user", r.digest, r.at})
					}
				}
				return out
			case strings.HasPrefix(sql, "SELECT DISTINCT digest"):
				var out [][]any
				for _, d := range digests {
					if _, ok := first[d]; ok {
						out = append(out, []any{d})
					}
				}
				return out
			case strings.Contains(sql, "GROUP BY conv_key, role, digest"):
				// Groups of whatever bodies are asked: D too, were it asked.
				var out [][]any
				for _, d := range digests {
					at, ok := first[d]
					if d == "D" {
						at, ok = 70, true
					}
					if ok {
						out = append(out, []any{"c", "user", d, at, "t" + d, "s" + d, "", "chat"})
					}
				}
				return out
			}
			return nil
		}
		hits, err := s.searchHits(context.Background(), store.SearchQuery{ProjectID: "p", Query: "word", Limit: 2}, textsearch.Query{Terms: []textsearch.Term{{Tokens: []string{"word"}}}}, 2)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range hits {
			got = append(got, h.digest)
		}
		if want := []string{"B", "C"}; !reflect.DeepEqual(got, want) {
			t.Errorf("common %v: page %v, want %v", common, got, want)
		}
	}
}

// TestLatestSpansCollapses reads the newest rows of spans without FINAL a
// few at a time: per span the newest version wins, a tombstone (the old
// start of a span whose start moved) hides its copy, and a span whose
// rows may not all have been read (at the oldest start read) waits for
// the next, longer read.
func TestLatestSpansCollapses(t *testing.T) {
	defer func(v int) { latestSlack = v }(latestSlack)
	latestSlack = 0
	s, f := newFakeStore(t, Config{})
	at := func(sec int) time.Time { return storetest.T0.Add(time.Duration(sec) * time.Second) }
	row := func(id string, sec int, version uint64, deleted bool) []any {
		sp := model.Span{ProjectID: "p", TraceID: storetest.TraceID("t"), SpanID: storetest.SpanID(id), SpanName: id + fmt.Sprint("@", version), StartedAt: at(sec)}
		p, err := prepare(sp)
		if err != nil {
			t.Fatal(err)
		}
		v := spanValues(p, version, deleted)
		return append(append([]any(nil), v[:len(lightCols)]...), version, b2u(deleted))
	}
	// Newest first, as ClickHouse returns them; B's two versions and C's
	// tombstone sit at the same starts as their copies.
	rows := [][]any{
		row("a", 100, 1, false),
		row("b", 90, 1, false), row("b", 90, 3, false),
		row("c", 80, 2, true), row("c", 80, 1, false), // c moved to 50
		row("d", 70, 1, false),
		row("c", 50, 2, false),
	}
	f.respond = func(sql string, p map[string]any) [][]any {
		if strings.HasPrefix(sql, "SELECT (SELECT toInt64(sum(span_count))") {
			return [][]any{{int64(4)}}
		}
		var n uint64
		for _, v := range p {
			if x, ok := v.(uint64); ok {
				n = x
			}
		}
		return rows[:min(int(n), len(rows))]
	}
	for _, tc := range []struct {
		offset, limit int
		want          []string
	}{
		{0, 2, []string{"a@1", "b@3"}},
		{1, 2, []string{"b@3", "d@1"}},
		{3, 2, []string{"c@2"}},
	} {
		spans, total, err := s.QuerySpans(context.Background(), store.SpanQuery{ProjectID: "p", Offset: tc.offset, Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sp := range spans {
			got = append(got, sp.SpanName)
		}
		if total != 4 || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("offset %d limit %d: got %v (total %d), want %v (total 4)", tc.offset, tc.limit, got, total, tc.want)
		}
	}
}

// TestLatestSpansNewestDays: the spans page as it opens reads only the
// newest days span_counts says hold the page, and reads again unbounded
// when those days come back short (a rollup row counted twice).
func TestLatestSpansNewestDays(t *testing.T) {
	defer func(v int) { latestSlack = v }(latestSlack)
	latestSlack = 0
	s, f := newFakeStore(t, Config{})
	day0 := storetest.T0.Truncate(24 * time.Hour)
	at := func(day, sec int) time.Time {
		return day0.Add(time.Duration(day)*24*time.Hour + time.Duration(sec)*time.Second)
	}
	type stored struct {
		start time.Time
		row   []any
	}
	span := func(id string, start time.Time) stored {
		p, err := prepare(model.Span{ProjectID: "p", TraceID: storetest.TraceID("t"), SpanID: storetest.SpanID(id), SpanName: id, StartedAt: start})
		if err != nil {
			t.Fatal(err)
		}
		v := spanValues(p, 1, false)
		return stored{start, append(append([]any(nil), v[:len(lightCols)]...), uint64(1), uint8(0))}
	}
	// Newest first: two spans on day 1, two on day 0.
	rows := []stored{span("a", at(1, 20)), span("b", at(1, 10)), span("c", at(0, 20)), span("d", at(0, 10))}
	dayNumber := func(d int) int32 { return int32(at(d, 0).Unix() / 86400) }
	var counts [][]any
	var reads []string
	f.respond = func(sql string, p map[string]any) [][]any {
		switch {
		case strings.HasPrefix(sql, "SELECT (SELECT toInt64(sum(span_count))"):
			return [][]any{{int64(len(rows))}}
		case strings.HasPrefix(sql, "SELECT day, toInt64(sum(span_count))"):
			return counts
		case !strings.Contains(sql, "ORDER BY started_at DESC LIMIT"):
			return nil
		}
		var n uint64
		from := int64(math.MinInt64)
		for _, v := range p {
			switch x := v.(type) {
			case uint64:
				n = x
			case int64:
				from = x
			}
		}
		read := "unbounded"
		if from != math.MinInt64 {
			read = "from " + time.Unix(0, from).UTC().Format(time.DateOnly)
		}
		if len(reads) == 0 || reads[len(reads)-1] != read {
			reads = append(reads, read) // a longer read of the same range is the same read
		}
		var out [][]any
		for _, r := range rows {
			if r.start.UnixNano() >= from && uint64(len(out)) < n {
				out = append(out, r.row)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		counts    [][]any
		limit     int
		want      []string
		wantReads []string
	}{
		{"the newest day holds the page", [][]any{{dayNumber(1), int64(2)}, {dayNumber(0), int64(2)}}, 2,
			[]string{"a", "b"}, []string{"from " + at(1, 0).Format(time.DateOnly)}},
		{"two days hold it", [][]any{{dayNumber(1), int64(2)}, {dayNumber(0), int64(2)}}, 3,
			[]string{"a", "b", "c"}, []string{"from " + at(0, 0).Format(time.DateOnly)}},
		{"the counts run ahead: read again unbounded", [][]any{{dayNumber(1), int64(3)}, {dayNumber(0), int64(2)}}, 3,
			[]string{"a", "b", "c"}, []string{"from " + at(1, 0).Format(time.DateOnly), "unbounded"}},
		{"no rollup rows: unbounded", nil, 2, []string{"a", "b"}, []string{"unbounded"}},
	} {
		counts, reads = tc.counts, nil
		spans, total, err := s.QuerySpans(context.Background(), store.SpanQuery{ProjectID: "p", Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sp := range spans {
			got = append(got, sp.SpanName)
		}
		if total != 4 || !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(reads, tc.wantReads) {
			t.Errorf("%s: got %v (total %d) reading %v, want %v (total 4) reading %v", tc.name, got, total, reads, tc.want, tc.wantReads)
		}
	}
}

// TestTakePendingEventsShared checks that concurrent TakePendingEvents
// calls share lookups: while one call's lookup runs, three more queue and
// are then served by a single second lookup, each with the events of its
// own keys; a key two of them ask for goes to one of them only.
func TestTakePendingEventsShared(t *testing.T) {
	s, f := newFakeStore(t, Config{})
	key := func(i int) store.SpanKey {
		return store.SpanKey{ProjectID: "p", TraceID: storetest.TraceID("t", i), SpanID: storetest.SpanID("s", i)}
	}
	events := func(i int) string { return fmt.Sprintf(`[{"name":"e%d","time":"2026-05-04T09:30:00Z"}]`, i) }
	started, release := make(chan struct{}), make(chan struct{})
	var lookups int
	var mu sync.Mutex
	f.respond = func(sql string, p map[string]any) [][]any {
		if !strings.Contains(sql, "`pending_events` FINAL") {
			return nil
		}
		mu.Lock()
		lookups++
		first := lookups == 1
		mu.Unlock()
		if first {
			close(started)
			<-release
		}
		var traces, spans []string
		for _, v := range p {
			if ids, ok := v.([]string); ok && len(ids) > 0 && len(ids[0]) == 32 {
				traces = ids
			} else if ok {
				spans = ids
			}
		}
		var rows [][]any
		for i := range 5 {
			k := key(i)
			if slices.Contains(traces, k.TraceID) && slices.Contains(spans, k.SpanID) {
				rows = append(rows, []any{k.TraceID, k.SpanID, uint64(100 + i), events(i)})
			}
		}
		return rows
	}
	ctx := context.Background()
	type result struct {
		got map[store.SpanKey][]model.Event
		err error
	}
	asks := [][]int{{0}, {1, 4}, {2, 4}, {3}}
	results := make([]chan result, len(asks))
	take := func(i int) {
		var keys []store.SpanKey
		for _, k := range asks[i] {
			keys = append(keys, key(k))
		}
		got, err := s.TakePendingEvents(ctx, keys)
		results[i] <- result{got, err}
	}
	for i := range results {
		results[i] = make(chan result, 1)
	}
	go take(0)
	<-started
	for i := 1; i < len(asks); i++ {
		go take(i)
	}
	for { // the three others wait behind the first lookup
		s.pendQMu.Lock()
		n := len(s.pendQ)
		s.pendQMu.Unlock()
		if n == len(asks)-1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	owners := 0
	for i, ask := range asks {
		r := <-results[i]
		if r.err != nil {
			t.Fatalf("call %d: %v", i, r.err)
		}
		for _, k := range ask {
			evs := r.got[key(k)]
			if k == 4 {
				if len(evs) > 0 {
					owners++
				}
				continue
			}
			if len(evs) != 1 || evs[0].Name != fmt.Sprint("e", k) {
				t.Errorf("call %d, key %d: got %+v, want its one event", i, k, evs)
			}
		}
		if len(r.got) > len(ask) {
			t.Errorf("call %d got events of keys it did not ask for: %v", i, r.got)
		}
	}
	if owners != 1 {
		t.Errorf("the key two calls asked for went to %d of them, want 1", owners)
	}
	if lookups != 2 {
		t.Errorf("%d lookups for 4 calls, 3 of them concurrent: want 2", lookups)
	}
}
