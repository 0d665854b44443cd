package ingest

import (
	"context"
	"errors"
	"sync"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// memWriter is an in-memory store.Writer with the contract's upsert rule,
// used instead of a real backend. Hooks inject failures and interleavings.
type memWriter struct {
	mu       sync.Mutex
	spans    map[store.SpanKey]model.Span
	pending  map[store.SpanKey][]model.Event
	writes   int // WriteSpans calls
	failNext map[string]error

	// afterWrite runs after a successful WriteSpans (outside the lock).
	afterWrite func(spans []model.Span)
	// pendingWait, when set, makes WritePendingEvents wait until its
	// context is done, then fail with its error (a store that does not
	// answer, honouring its cancellation).
	pendingWait bool
}

func newMemWriter() *memWriter {
	return &memWriter{
		spans:    map[store.SpanKey]model.Span{},
		pending:  map[store.SpanKey][]model.Event{},
		failNext: map[string]error{},
	}
}

func keyOf(s *model.Span) store.SpanKey {
	return store.SpanKey{ProjectID: s.ProjectID, TraceID: s.TraceID, SpanID: s.SpanID}
}

func (m *memWriter) fail(op string) error {
	if err := m.failNext[op]; err != nil {
		delete(m.failNext, op)
		return err
	}
	return nil
}

func (m *memWriter) WriteSpans(ctx context.Context, spans []model.Span) error {
	m.mu.Lock()
	if err := m.fail("WriteSpans"); err != nil {
		m.mu.Unlock()
		return err
	}
	for i := range spans {
		if err := store.ValidateSpan(&spans[i]); err != nil {
			m.mu.Unlock()
			return err
		}
	}
	m.writes++
	for _, s := range spans {
		k := keyOf(&s)
		if old, ok := m.spans[k]; ok && !old.IsRunning() && s.IsRunning() {
			continue // a finished span is never replaced by an in-progress copy
		}
		m.spans[k] = s
	}
	hook := m.afterWrite
	m.mu.Unlock()
	if hook != nil {
		hook(spans)
	}
	return nil
}

func (m *memWriter) GetSpans(ctx context.Context, keys []store.SpanKey) ([]model.Span, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail("GetSpans"); err != nil {
		return nil, err
	}
	var out []model.Span
	seen := map[store.SpanKey]bool{}
	for _, k := range keys {
		if s, ok := m.spans[k]; ok && !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out, nil
}

func (m *memWriter) WritePendingEvents(ctx context.Context, events []store.KeyedEvents) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pendingWait {
		<-ctx.Done()
		return ctx.Err()
	}
	if err := m.fail("WritePendingEvents"); err != nil {
		return err
	}
	for _, ke := range events {
		m.pending[ke.Key] = append(m.pending[ke.Key], ke.Events...)
	}
	return nil
}

func (m *memWriter) TakePendingEvents(ctx context.Context, keys []store.SpanKey) (map[store.SpanKey][]model.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail("TakePendingEvents"); err != nil {
		return nil, err
	}
	out := map[store.SpanKey][]model.Event{}
	for _, k := range keys {
		if evs, ok := m.pending[k]; ok {
			out[k] = evs
			delete(m.pending, k)
		}
	}
	return out, nil
}

func (m *memWriter) get(k store.SpanKey) (model.Span, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.spans[k]
	return s, ok
}

func (m *memWriter) all() []model.Span {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]model.Span, 0, len(m.spans))
	for _, s := range m.spans {
		out = append(out, s)
	}
	return out
}

func (m *memWriter) pendingCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, evs := range m.pending {
		n += len(evs)
	}
	return n
}

var errDown = errors.New("memstore: down")

// memMetricWriter is a memWriter that keeps metric points too
// (store.MetricStore), validating them as a backend does.
type memMetricWriter struct {
	*memWriter
	points map[store.SeriesAt]model.MetricPoint // by series and time (projects apart in tests)
}

func newMemMetricWriter() *memMetricWriter {
	return &memMetricWriter{memWriter: newMemWriter(), points: map[store.SeriesAt]model.MetricPoint{}}
}

func (m *memMetricWriter) WriteMetricPoints(_ context.Context, points []model.MetricPoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range points {
		if err := store.ValidateMetricPoint(&points[i]); err != nil {
			return err
		}
	}
	for _, p := range points {
		m.points[store.SeriesAt{SeriesID: p.ProjectID + "/" + p.SeriesID, Time: p.Time}] = p
	}
	return nil
}

func (m *memMetricWriter) PreviousMetricPoints(_ context.Context, project string, at []store.SeriesAt) (map[store.SeriesAt]model.MetricPoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[store.SeriesAt]model.MetricPoint{}
	for _, a := range at {
		for k, p := range m.points {
			if k.SeriesID == project+"/"+a.SeriesID && p.Time.Before(a.Time) {
				if old, ok := out[a]; !ok || p.Time.After(old.Time) {
					out[a] = p
				}
			}
		}
	}
	return out, nil
}

func (m *memMetricWriter) MetricBuckets(context.Context, store.PointQuery, int64, int64, int64) ([]store.PointRow, error) {
	return nil, errors.New("memMetricWriter: no queries")
}

func (m *memMetricWriter) MetricNames(context.Context, string, store.TimeRange) ([]store.MetricInfo, error) {
	return nil, errors.New("memMetricWriter: no queries")
}
