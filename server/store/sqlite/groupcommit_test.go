package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

// groupBatches is a sequence of batches with what makes merging them
// delicate: the same spans sent again, in-progress copies before and after
// the finished ones, and children before their parents.
func groupBatches() [][]model.Span {
	w := storetest.NewWorkload(7, "acme/group", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	w.RawSpans = true
	var spans []model.Span
	for range 6 {
		spans = append(spans, w.Next()...)
	}
	var batches [][]model.Span
	for i := 0; i < len(spans); i += 7 {
		b := append([]model.Span(nil), spans[i:min(i+7, len(spans))]...)
		for j := range b {
			if j%3 == 0 { // an in-progress copy of a span that finishes later
				running := b[j]
				running.EndedAt = time.Time{}
				running.OutputMessages = nil
				b = append([]model.Span{running}, b...)
			}
		}
		batches = append(batches, b)
		if i%2 == 0 && i > 0 {
			// A late in-progress copy (it must not replace the finished
			// one), a re-sent finished copy,
			// and a newer finished copy (it must replace the first).
			late := spans[i-1]
			late.EndedAt = time.Time{}
			newer := spans[i-2]
			newer.EndedAt = newer.EndedAt.Add(1500 * time.Millisecond)
			newer.StatusMessage = "sent again"
			batches = append(batches, []model.Span{late, spans[i-3], newer})
		}
	}
	return batches
}

// stateOfStore is everything the read paths give for a project, as JSON.
func stateOfStore(t *testing.T, s *Store, project string) string {
	t.Helper()
	ctx := context.Background()
	if err := s.syncSearch(ctx); err != nil {
		t.Fatal(err)
	}
	spans, _, err := s.QuerySpans(ctx, store.SpanQuery{ProjectID: project, Limit: 10000, IncludeDetails: true,
		Sort: []store.Sort{{Field: "trace_id"}, {Field: "span_id"}}})
	if err != nil {
		t.Fatal(err)
	}
	agents, _, err := s.QueryAgents(ctx, store.AgentQuery{ProjectID: project})
	if err != nil {
		t.Fatal(err)
	}
	convs, err := s.QueryConversations(ctx, store.ConversationQuery{ProjectID: project, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	hits, err := s.SearchMessages(ctx, store.SearchQuery{ProjectID: project, Query: "mutex", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) == 0 || len(agents) == 0 || len(convs.Conversations) == 0 || len(hits) == 0 {
		t.Fatalf("the comparison would be empty: %d spans, %d agents, %d conversations, %d hits", len(spans), len(agents), len(convs.Conversations), len(hits))
	}
	b, err := json.MarshalIndent(map[string]any{"spans": spans, "agents": agents, "conversations": convs, "hits": hits}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// queueInOrder starts one WriteSpans per batch while the test holds the
// writer's lead, each queued before the next starts, and returns a wait
// for their results (in batch order) once release has been called.
func queueInOrder(t *testing.T, s *Store, ctxs []context.Context, batches [][]model.Span) (release func(), wait func() []error) {
	t.Helper()
	s.group.lead <- struct{}{}
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.WriteSpans(ctxs[i], b)
		}()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.group.mu.Lock()
			n := len(s.group.queue)
			s.group.mu.Unlock()
			if n == i+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("batch %d never queued", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return func() { <-s.group.lead }, func() []error { wg.Wait(); return errs }
}

func backgrounds(n int) []context.Context {
	out := make([]context.Context, n)
	for i := range out {
		out[i] = context.Background()
	}
	return out
}

// TestGroupCommitSameAsOneByOne: batches merged into one transaction give
// exactly the rows, rollups and search results of the same batches written
// one after the other, in one commit.
func TestGroupCommitSameAsOneByOne(t *testing.T) {
	batches := groupBatches()
	ctx := context.Background()

	seq := mustOpen(t, filepath.Join(t.TempDir(), "seq.db"), Settings{})
	for _, b := range batches {
		if err := seq.WriteSpans(ctx, b); err != nil {
			t.Fatal(err)
		}
	}

	grp := mustOpen(t, filepath.Join(t.TempDir(), "grp.db"), Settings{})
	before := grp.commits.Load()
	release, wait := queueInOrder(t, grp, backgrounds(len(batches)), batches)
	release()
	for i, err := range wait() {
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if got := grp.commits.Load() - before; got != 1 {
		t.Errorf("%d batches took %d write transactions, want 1", len(batches), got)
	}
	if st, err := grp.Stats(context.Background()); err != nil || st.WriteTransactions != grp.commits.Load() {
		t.Errorf("Stats: %+v, %v; want %d write transactions", st, err, grp.commits.Load())
	}
	if a, b := stateOfStore(t, seq, "acme/group"), stateOfStore(t, grp, "acme/group"); a != b {
		t.Errorf("grouped writes differ from one-by-one writes:\none by one: %.2000s\ngrouped:    %.2000s", a, b)
	}
}

// TestGroupCommitFailureIsolated: when the group's transaction fails, each
// batch is written again alone, so every caller gets its own result.
func TestGroupCommitFailureIsolated(t *testing.T) {
	batches := groupBatches()[:4]
	s := mustOpen(t, filepath.Join(t.TempDir(), "weave.db"), Settings{})
	s.group.failGroup = func() error { return errors.New("injected group failure") }
	before := s.commits.Load()
	release, wait := queueInOrder(t, s, backgrounds(len(batches)), batches)
	release()
	for i, err := range wait() {
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if got := s.commits.Load() - before; got != int64(len(batches)) {
		t.Errorf("write transactions committed: %d, want %d (one per batch after the group failed)", got, len(batches))
	}
	ref := mustOpen(t, filepath.Join(t.TempDir(), "ref.db"), Settings{})
	for _, b := range batches {
		if err := ref.WriteSpans(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := stateOfStore(t, ref, "acme/group"), stateOfStore(t, s, "acme/group"); a != b {
		t.Errorf("after a failed group the store differs from one-by-one writes")
	}
}

// TestGroupCommitCanceledMember: a caller that gave up before its batch
// was taken gets its context's error and writes nothing; the others are
// written.
func TestGroupCommitCanceledMember(t *testing.T) {
	w := storetest.NewWorkload(9, "acme/cancel", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	batches := [][]model.Span{w.Next(), w.Next(), w.Next()}
	s := mustOpen(t, filepath.Join(t.TempDir(), "weave.db"), Settings{})
	ctxs := backgrounds(3)
	canceled, cancel := context.WithCancel(context.Background())
	ctxs[1] = canceled
	release, wait := queueInOrder(t, s, ctxs, batches)
	cancel()
	release()
	errs := wait()
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("live members failed: %v, %v", errs[0], errs[2])
	}
	if !errors.Is(errs[1], context.Canceled) {
		t.Fatalf("canceled member: err %v, want context.Canceled", errs[1])
	}
	for i, b := range batches {
		got, err := s.GetSpans(context.Background(), []store.SpanKey{{ProjectID: b[0].ProjectID, TraceID: b[0].TraceID, SpanID: b[0].SpanID}})
		if err != nil {
			t.Fatal(err)
		}
		if want := i != 1; (len(got) == 1) != want {
			t.Errorf("batch %d stored: %v, want %v", i, len(got) == 1, want)
		}
	}
}

// TestGroupCommitBounded: a group stops before maxGroupSpans; the rest of
// the queue forms the next one, and a batch larger than the bound is never
// split.
func TestGroupCommitBounded(t *testing.T) {
	g := newWriteGroup()
	mk := func(n int) *groupMember { return &groupMember{winners: make([]*prepSpan, n)} }
	g.queue = []*groupMember{mk(3000), mk(1500), mk(600), mk(7000), mk(10)}
	var sizes [][]int
	for len(g.queue) > 0 {
		var s []int
		for _, m := range g.take() {
			s = append(s, len(m.winners))
		}
		sizes = append(sizes, s)
	}
	want := [][]int{{3000, 1500}, {600}, {7000}, {10}}
	if got, _ := json.Marshal(sizes); string(got) != mustJSON(want) {
		t.Errorf("groups %s, want %s", got, mustJSON(want))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestGroupCommitConcurrent: many writers at once, some sending the same
// spans again (identical copies, so the order between writers does not
// matter), end with the store that one-by-one writes give.
func TestGroupCommitConcurrent(t *testing.T) {
	w := storetest.NewWorkload(21, "acme/group", time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	w.RawSpans = true
	var batches [][]model.Span
	for i := range 24 {
		b := w.Next()
		if i%5 == 4 {
			b = append(b, batches[i-3]...) // re-sent
		}
		batches = append(batches, b)
	}
	ref := mustOpen(t, filepath.Join(t.TempDir(), "ref.db"), Settings{})
	for _, b := range batches {
		if err := ref.WriteSpans(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	s := mustOpen(t, filepath.Join(t.TempDir(), "weave.db"), Settings{})
	before := s.commits.Load()
	work := make(chan []model.Span, len(batches))
	for _, b := range batches {
		work <- b
	}
	close(work)
	var wg sync.WaitGroup
	errs := make(chan error, len(batches))
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				errs <- s.WriteSpans(context.Background(), b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d batches from 12 writers in %d write transactions", len(batches), s.commits.Load()-before)
	if a, b := stateOfStore(t, ref, "acme/group"), stateOfStore(t, s, "acme/group"); a != b {
		t.Errorf("concurrent grouped writes differ from one-by-one writes")
	}
}
