package storetest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// LiveSession is the sequence of requests weave-agentd sends for a
// conversation of two turns as they happen (captured from the daemon
// behind Claude Code, `--input-format stream-json`, two prompts in one
// process), 1 to 5 spans each: each turn's root goes out running as soon
// as its prompt hook fires, at the hook's clock, then again back-dated to
// the transcript's time (its start moves earlier, twice); a tool span goes
// out running at its hook's time, then moved to the transcript's; finished
// copies follow with an end that moves later as the transcript grows (a
// root is finished at its first Stop, and again when the last line
// lands); turn 2's running root arrives before turn 1's last copy, and
// turn 2 then comes whole in one request with its root four times
// (running, back-dated, finished at its start, finished). It returns the
// requests and the two turns as they end up.
func LiveSession(project, conv string, start time.Time) (requests [][]model.Span, turns [2]Turn) {
	t1 := BuildTurn(TurnSpec{ProjectID: project, ConversationID: conv, Turn: 1, Start: start, Prompt: "First prompt: echo turn-one", Calls: 2})
	t2 := BuildTurn(TurnSpec{ProjectID: project, ConversationID: conv, Turn: 2, Start: t1.Root.EndedAt.Add(30 * time.Millisecond),
		Prompt: "This is the second prompt", Calls: 1, History: t1.Added})
	at := func(s model.Span, start, end time.Time) model.Span {
		if end.IsZero() {
			s = running(s)
		}
		s.StartedAt, s.EndedAt = start, end
		return s
	}
	ms := time.Millisecond
	r1, chat0, tool0, chat1 := *t1.Root, t1.Spans[1], t1.Spans[2], t1.Spans[3]
	r2, chat2 := *t2.Root, t2.Spans[1]
	none := time.Time{}
	return [][]model.Span{
		{at(r1, r1.StartedAt.Add(12*ms), none)},
		{at(r1, r1.StartedAt.Add(4*ms), none)},
		{at(r1, r1.StartedAt.Add(4*ms), none), at(tool0, tool0.StartedAt.Add(400*ms), none),
			at(r1, r1.StartedAt, none), chat0, at(tool0, tool0.StartedAt, none)},
		{at(tool0, tool0.StartedAt, tool0.EndedAt.Add(-10*ms)), tool0},
		{at(r1, r1.StartedAt, tool0.EndedAt)},
		{at(r1, r1.StartedAt, chat1.EndedAt), chat1},
		{at(r2, r2.StartedAt.Add(60*ms), none)},
		{r1, at(r2, r2.StartedAt, none), at(r2, r2.StartedAt, r2.StartedAt), r2, chat2},
	}, [2]Turn{t1, t2}
}

// testLiveArrival writes conversations the way weave-agentd delivers a
// live session (LiveSession): request by request, checking every read
// against the model after each; the same requests from two sessions at
// once (a backend that merges concurrent calls into one write sees them
// interleaved); and every request of a session in one call.
func testLiveArrival(h *harness) {
	o := newOracle()
	requests, turns := LiveSession(projA, "live-1", T0)
	for i, b := range requests {
		h.writeBoth(o, b...)
		// What a live view reads after each request; every figure at the
		// end.
		h.checkConversations(o, projA)
		h.checkSpanReads(o, projA, fmt.Sprintf("after request %d", i+1))
	}
	h.checkLive(o, "after the session")
	h.checkTurns(projA, "live-1", turns[:]...)

	// Two sessions at once, request by request.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	var sessions [][][]model.Span
	for i := 0; i < 2; i++ {
		requests, _ := LiveSession(projA, fmt.Sprint("live-concurrent-", i), T0.Add(time.Duration(i+1)*time.Minute))
		sessions = append(sessions, requests)
		wg.Add(1)
		go func(batches [][]model.Span) {
			defer wg.Done()
			for _, b := range batches {
				if err := h.s.WriteSpans(h.ctx, b); err != nil {
					errs <- err
					return
				}
			}
		}(sessions[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		h.t.Fatalf("WriteSpans: %v", err)
	}
	for _, batches := range sessions {
		for _, b := range batches {
			o.write(b)
		}
	}
	h.checkLive(o, "after two concurrent sessions")

	// A whole session in one call.
	requests, turns = LiveSession(projA, "live-one-call", T0.Add(5*time.Minute))
	var all []model.Span
	for _, batch := range requests {
		all = append(all, batch...)
	}
	h.writeBoth(o, all...)
	h.checkLive(o, "after a session in one call")
	h.checkTurns(projA, "live-one-call", turns[:]...)
}

// checkLive compares the reads a live view makes with the model: every
// derived figure, every conversation's and trace's spans, the running
// spans.
func (h *harness) checkLive(o *oracle, when string) {
	h.t.Helper()
	h.checkModel(o, projA)
	h.checkSpanReads(o, projA, when)
}

// checkTurns checks that conversation conv lists turns, one per trace,
// each with all its spans.
func (h *harness) checkTurns(project, conv string, turns ...Turn) {
	h.t.Helper()
	page := h.conversations(store.ConversationQuery{ProjectID: project})
	for _, c := range page.Conversations {
		if c.ConversationID == conv && c.TurnCount != int64(len(turns)) {
			h.t.Errorf("conversation %s: got %d turns, want %d", conv, c.TurnCount, len(turns))
		}
	}
	spans, err := h.s.ConversationSpans(h.ctx, project, conv, store.TimeRange{})
	if err != nil {
		h.t.Fatalf("ConversationSpans(%s): %v", conv, err)
	}
	byTrace := map[string]int{}
	for _, s := range spans {
		byTrace[s.TraceID]++
	}
	for i, t := range turns {
		if byTrace[t.TraceID] != len(t.Spans) {
			h.t.Errorf("conversation %s turn %d: ConversationSpans has %d of its %d spans", conv, i+1, byTrace[t.TraceID], len(t.Spans))
		}
	}
}

// checkSpanReads compares ConversationSpans of every conversation,
// TraceSpans of every trace and ActiveSpans with the model.
func (h *harness) checkSpanReads(o *oracle, project, when string) {
	h.t.Helper()
	der := o.derive(project)
	byConv, byTrace := map[string][]model.Span{}, map[string][]model.Span{}
	var running []model.Span
	for _, s := range o.project(project) {
		byConv[der[keyOf(&s)].conv] = append(byConv[der[keyOf(&s)].conv], s)
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
		if s.IsRunning() {
			running = append(running, light(s))
		}
	}
	inOrder := func(spans []model.Span) []model.Span {
		slices.SortFunc(spans, func(a, b model.Span) int {
			return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.SpanID, b.SpanID), cmp.Compare(a.TraceID, b.TraceID))
		})
		return spans
	}
	for _, conv := range sortedMapKeys(byConv) {
		got, err := h.s.ConversationSpans(h.ctx, project, conv, store.TimeRange{})
		if err != nil {
			h.t.Fatalf("ConversationSpans(%s): %v", conv, err)
		}
		h.equalSpans(fmt.Sprintf("%s: ConversationSpans(%s)", when, conv), got, inOrder(byConv[conv]))
		chat, err := h.s.ConversationChatSpans(h.ctx, project, conv, store.TimeRange{})
		if err != nil {
			h.t.Fatalf("ConversationChatSpans(%s): %v", conv, err)
		}
		h.equalSpans(fmt.Sprintf("%s: ConversationChatSpans(%s)", when, conv), chat, chatSpans(inOrder(byConv[conv])))
	}
	for _, trace := range sortedMapKeys(byTrace) {
		h.equalSpans(fmt.Sprintf("%s: TraceSpans(%s)", when, trace), h.trace(project, trace), inOrder(byTrace[trace]))
		h.equalSpans(fmt.Sprintf("%s: TraceChatSpans(%s)", when, trace), h.chatTrace(project, trace), chatSpans(inOrder(byTrace[trace])))
	}
	active, err := h.s.ActiveSpans(h.ctx, project, store.TimeRange{}, store.MaxLimit)
	if err != nil {
		h.t.Fatalf("ActiveSpans: %v", err)
	}
	slices.SortFunc(running, func(a, b model.Span) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(a.SpanID, b.SpanID), cmp.Compare(a.TraceID, b.TraceID))
	})
	h.equalSpans(when+": ActiveSpans", active, running)
}

func sortedMapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// testReadsSeeWholeBatches checks that a batch is applied atomically for
// readers too: while one caller writes the turns of a conversation, a
// whole finished turn per WriteSpans, readers never see part of a batch,
// and a read never sees less than a read that finished before it began
// (a client that saw a turn's spans counted finds them in the
// conversation). This is what a live view relies on: it polls the span
// count, then reads the conversation.
func testReadsSeeWholeBatches(h *harness) {
	const turns = 30
	conv := "whole-batches"
	var batches [][]model.Span
	var history []model.Message
	start := T0
	for i := 1; i <= turns; i++ {
		t := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: conv, Turn: i, Start: start, Prompt: fmt.Sprint("turn ", i), Calls: 2, History: history})
		history = append(history, t.Added...)
		start = t.Root.EndedAt.Add(time.Second)
		batches = append(batches, t.Spans)
	}
	per := len(batches[0])

	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(problems) < 10 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	reads := 0
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := 0 // spans some earlier read of this reader saw
			for {
				select {
				case <-done:
					return
				default:
				}
				if !readRound(h, conv, per, &seen, report) {
					return
				}
				mu.Lock()
				reads++
				mu.Unlock()
			}
		}()
	}
	o := newOracle()
	for _, b := range batches {
		h.writeBoth(o, b...)
	}
	close(done)
	wg.Wait()
	for _, p := range problems {
		h.t.Error(p)
	}
	h.t.Logf("%d rounds of reads during %d writes", reads, turns)
	h.checkModel(o, projA)
	h.checkSpanReads(o, projA, "after the writes")
}

// readRound is one round of a reader of testReadsSeeWholeBatches: every
// read must see whole batches of per spans, never fewer than an earlier
// read saw (seen). False after a read failed.
func readRound(h *harness, conv string, per int, seen *int, report func(string, ...any)) bool {
	_, total, err := h.s.QuerySpans(h.ctx, store.SpanQuery{ProjectID: projA, Limit: 1})
	if err != nil {
		report("QuerySpans: %v", err)
		return false
	}
	if total%int64(per) != 0 || int(total) < *seen {
		report("QuerySpans: %d spans after a read saw %d (batches of %d)", total, *seen, per)
	}
	*seen = max(*seen, int(total))
	spans, err := h.s.ConversationSpans(h.ctx, projA, conv, store.TimeRange{})
	if err != nil {
		report("ConversationSpans: %v", err)
		return false
	}
	traces := map[string]int{}
	for _, s := range spans {
		traces[s.TraceID]++
	}
	for trace, n := range traces {
		if n != per {
			report("ConversationSpans: trace %s has %d of its %d spans", trace, n, per)
		}
	}
	if len(spans) < *seen {
		report("ConversationSpans: %d spans (%d turns) after QuerySpans counted %d", len(spans), len(traces), *seen)
	}
	*seen = max(*seen, len(spans))
	page, err := h.s.QueryConversations(h.ctx, store.ConversationQuery{ProjectID: projA})
	if err != nil {
		report("QueryConversations: %v", err)
		return false
	}
	var c store.ConversationSummary
	if len(page.Conversations) > 0 {
		c = page.Conversations[0]
	}
	if c.SpanCount != c.TurnCount*int64(per) || int(c.SpanCount) < *seen {
		report("QueryConversations: %d turns, %d spans after a read saw %d spans", c.TurnCount, c.SpanCount, *seen)
	}
	*seen = max(*seen, int(c.SpanCount))
	active, err := h.s.ActiveSpans(h.ctx, projA, store.TimeRange{}, store.MaxLimit)
	if err != nil {
		report("ActiveSpans: %v", err)
		return false
	}
	if len(active) != 0 {
		report("ActiveSpans: %d running spans, none was written running", len(active))
	}
	return true
}

// BenchLiveRequests measures how long w takes to acknowledge weave-agentd's
// small requests: b.N conversations of LiveSession (1–5 spans a request,
// 8 requests a conversation) written request by request, each only after
// the previous one returned, as the daemon's ordered exporter sends them;
// one conversation first, unmeasured. It reports the median, 95th
// percentile and maximum in milliseconds per request.
func BenchLiveRequests(b *testing.B, w store.Writer) {
	b.Helper()
	ctx := context.Background()
	write := func(tag string, n int) []time.Duration {
		var out []time.Duration
		for i := 0; i < n; i++ {
			requests, _ := LiveSession("bench/live", fmt.Sprint("latency-", tag, "-", i), T0.Add(time.Duration(i)*time.Minute))
			for _, r := range requests {
				t0 := time.Now()
				if err := w.WriteSpans(ctx, r); err != nil {
					b.Fatal(err)
				}
				out = append(out, time.Since(t0))
			}
		}
		return out
	}
	write("warm", 1)
	b.ResetTimer()
	d := write("run", b.N)
	b.StopTimer()
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	b.ReportMetric(ms(d[len(d)/2]), "p50-ms/req")
	b.ReportMetric(ms(d[min(len(d)-1, len(d)*95/100)]), "p95-ms/req")
	b.ReportMetric(ms(d[len(d)-1]), "max-ms/req")
}
