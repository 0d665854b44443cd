package api

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// fakeBackend records the last query each method got and answers with the
// canned values set on it. It checks the API's translation of requests into
// store queries; the behaviour of a real store is covered by the tests that
// run against SQLite.
type fakeBackend struct {
	mu sync.Mutex

	spanQuery   store.SpanQuery
	spans       []model.Span
	total       int64
	traceSpans  map[string][]model.Span // by trace id
	convSpans   map[string][]model.Span // by conversation id
	convRange   store.TimeRange
	activeLimit int
	aggQuery    store.AggregateQuery
	groups      []store.SpanGroup
	traceQuery  store.TraceQuery
	traces      []store.TraceSummary
	convQuery   store.ConversationQuery
	convPage    store.ConversationPage
	agentQuery  store.AgentQuery
	agents      []store.AgentSummary
	versions    []store.AgentVersionSummary
	metricsQ    store.MetricsQuery
	buckets     []store.MetricBucket
	searchQ     store.SearchQuery
	hits        []store.SearchHit
	projects    []string
	annotations map[string]store.Annotation
	annQuery    store.AnnotationQuery
	nextID      int
	deletion    store.Deletion
	scanQuery   store.ScanQuery
	scanned     []model.Span // the project's spans, for ScanSpans
	spanReads   []string     // the trace and conversation span reads made, by method name

	err error // returned by every read when set
}

func newFake() *fakeBackend {
	return &fakeBackend{
		traceSpans:  map[string][]model.Span{},
		convSpans:   map[string][]model.Span{},
		annotations: map[string]store.Annotation{},
	}
}

func (f *fakeBackend) QuerySpans(_ context.Context, q store.SpanQuery) ([]model.Span, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spanQuery = q
	return f.spans, f.total, f.err
}

func (f *fakeBackend) AggregateSpans(_ context.Context, q store.AggregateQuery) ([]store.SpanGroup, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aggQuery = q
	return f.groups, int64(len(f.groups)), f.err
}

func (f *fakeBackend) QueryTraces(_ context.Context, q store.TraceQuery) ([]store.TraceSummary, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.traceQuery = q
	return f.traces, int64(len(f.traces)), f.err
}

func (f *fakeBackend) TraceSpans(_ context.Context, _, traceID string) ([]model.Span, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spanReads = append(f.spanReads, "TraceSpans")
	return f.traceSpans[traceID], f.err
}

func (f *fakeBackend) TraceChatSpans(_ context.Context, _, traceID string) ([]model.Span, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spanReads = append(f.spanReads, "TraceChatSpans")
	return store.ChatSpans(slices.Clone(f.traceSpans[traceID])), f.err
}

func (f *fakeBackend) ActiveSpans(_ context.Context, _ string, _ store.TimeRange, limit int) ([]model.Span, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.activeLimit = limit
	return f.spans, f.err
}

func (f *fakeBackend) ConversationSpans(_ context.Context, _, id string, r store.TimeRange) ([]model.Span, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.convRange = r
	f.spanReads = append(f.spanReads, "ConversationSpans")
	return f.convSpans[id], f.err
}

func (f *fakeBackend) ConversationChatSpans(_ context.Context, _, id string, r store.TimeRange) ([]model.Span, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.convRange = r
	f.spanReads = append(f.spanReads, "ConversationChatSpans")
	return store.ChatSpans(slices.Clone(f.convSpans[id])), f.err
}

func (f *fakeBackend) QueryConversations(_ context.Context, q store.ConversationQuery) (store.ConversationPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.convQuery = q
	return f.convPage, f.err
}

func (f *fakeBackend) QueryAgents(_ context.Context, q store.AgentQuery) ([]store.AgentSummary, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.agentQuery = q
	return f.agents, int64(len(f.agents)), f.err
}

func (f *fakeBackend) AgentVersions(_ context.Context, _, _ string) ([]store.AgentVersionSummary, error) {
	return f.versions, f.err
}

func (f *fakeBackend) AgentMetrics(_ context.Context, q store.MetricsQuery) ([]store.MetricBucket, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.metricsQ = q
	return f.buckets, f.err
}

func (f *fakeBackend) SearchMessages(_ context.Context, q store.SearchQuery) ([]store.SearchHit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.searchQ = q
	return f.hits, f.err
}

func (f *fakeBackend) Projects(context.Context) ([]string, error) { return f.projects, f.err }

func (f *fakeBackend) Stats(context.Context) (store.Stats, error) { return store.Stats{}, f.err }

func (f *fakeBackend) UpsertAnnotation(_ context.Context, a store.Annotation) (store.Annotation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a.ID == "" {
		f.nextID++
		a.ID = "ann" + string(rune('0'+f.nextID))
	}
	f.annotations[a.ProjectID+"\x00"+a.ID] = a
	return a, nil
}

func (f *fakeBackend) DeleteAnnotation(_ context.Context, projectID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := projectID + "\x00" + id
	if _, ok := f.annotations[k]; !ok {
		return store.ErrNotFound
	}
	delete(f.annotations, k)
	return nil
}

func (f *fakeBackend) QueryAnnotations(_ context.Context, q store.AnnotationQuery) ([]store.Annotation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.annQuery = q
	var out []store.Annotation
	for _, a := range f.annotations {
		if a.ProjectID == q.ProjectID {
			out = append(out, a)
		}
	}
	return out, nil
}

func (f *fakeBackend) Delete(_ context.Context, d store.Deletion) (store.Deleted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletion = d
	return store.Deleted{Spans: int64(len(d.TraceIDs) + len(d.ConversationIDs))}, f.err
}

// ScanSpans hands the spans of f.scanned in q's project, one batch per
// store.ScanBatch; f.err fails the scan after its first batch (at once
// when there is none).
func (f *fakeBackend) ScanSpans(_ context.Context, q store.ScanQuery, fn func([]model.Span) error) error {
	f.mu.Lock()
	f.scanQuery = q
	var spans []model.Span
	for _, s := range f.scanned {
		if s.ProjectID == q.ProjectID {
			spans = append(spans, s)
		}
	}
	err := f.err
	f.mu.Unlock()
	for first := true; len(spans) > 0; first = false {
		if err != nil && !first {
			return err
		}
		n := min(len(spans), store.ScanBatch)
		if err := fn(spans[:n]); err != nil {
			return err
		}
		spans = spans[n:]
	}
	return err
}

// The fake keeps one metric, "cost", with no points.

func (f *fakeBackend) WriteMetricPoints(context.Context, []model.MetricPoint) error { return f.err }

func (f *fakeBackend) PreviousMetricPoints(context.Context, string, []store.SeriesAt) (map[store.SeriesAt]model.MetricPoint, error) {
	return nil, f.err
}

func (f *fakeBackend) MetricBuckets(context.Context, store.PointQuery, int64, int64, int64) ([]store.PointRow, error) {
	return nil, f.err
}

func (f *fakeBackend) MetricNames(context.Context, string, store.TimeRange) ([]store.MetricInfo, error) {
	t := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	return []store.MetricInfo{{Name: "cost", Kind: model.MetricSum, Unit: "USD", Points: 1, Series: 1, First: t, Last: t}}, f.err
}
