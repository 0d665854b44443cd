package serve

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weavetrace/weave/server/metrics"
	"github.com/weavetrace/weave/server/store"
)

// DefaultRetentionInterval is how often the retention pass runs.
const DefaultRetentionInterval = time.Hour

// RetentionFlag parses --retention-project values, "PROJECT=DAYS" (DAYS 0:
// keep that project forever), into a map.
type RetentionFlag map[string]int

func (f RetentionFlag) String() string {
	var parts []string
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for k := range f {
			if !yield(k) {
				return
			}
		}
	}) {
		parts = append(parts, p+"="+strconv.Itoa(f[p]))
	}
	return strings.Join(parts, ",")
}

// Set adds one PROJECT=DAYS.
func (f RetentionFlag) Set(v string) error {
	p, d, ok := strings.Cut(v, "=")
	p = strings.TrimSpace(p)
	n, err := strconv.Atoi(strings.TrimSpace(d))
	if !ok || p == "" || err != nil || n < 0 {
		return fmt.Errorf("want PROJECT=DAYS (days ≥ 0, 0 keeps the project forever), got %q", v)
	}
	f[p] = n
	return nil
}

// retention deletes, on a schedule, the spans older than each project's
// retention: Config.RetentionDays, or the project's own in
// Config.RetentionProjects.
type retention struct {
	st       store.Deleter
	projects func(ctx context.Context) ([]string, error)
	days     int
	per      map[string]int
	now      func() time.Time
	log      *slog.Logger
	m        *deleteMetrics
}

// enabled reports whether any project has a retention.
func (r *retention) enabled() bool {
	if r.days > 0 {
		return true
	}
	for _, d := range r.per {
		if d > 0 {
			return true
		}
	}
	return false
}

// daysOf is a project's retention in days (0: forever).
func (r *retention) daysOf(project string) int {
	if d, ok := r.per[project]; ok {
		return d
	}
	return r.days
}

// start runs the loop in a goroutine of its own and returns the function
// that stops it and waits for it, a round under way included (to call
// before the store closes), up to cutoff: a round that ignores its
// cancellation that long is given up on (logged; stop returns false).
// Calls after the first do not wait again. A nil retention starts nothing.
func (r *retention) start(ctx context.Context, interval time.Duration) (stop func(log *slog.Logger, cutoff time.Duration) bool) {
	if r == nil {
		return func(*slog.Logger, time.Duration) bool { return true }
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(ctx, interval)
	}()
	var once sync.Once
	ended := true
	return func(log *slog.Logger, cutoff time.Duration) bool {
		once.Do(func() {
			cancel()
			cut, cancelCut := cutContext(cutoff)
			defer cancelCut()
			ended = awaitCut(cut, log, "the retention round", done)
		})
		return ended
	}
}

// run prunes every project once, then again every interval, until ctx
// ends.
func (r *retention) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := r.once(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("retention pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// once prunes every project by its retention.
func (r *retention) once(ctx context.Context) error {
	began := time.Now()
	projects, err := r.projects(ctx)
	if err != nil {
		r.m.retentionErrors.Inc()
		return err
	}
	var total store.Deleted
	for _, p := range projects {
		days := r.daysOf(p)
		if days <= 0 {
			continue
		}
		cut := r.now().Add(-time.Duration(days) * 24 * time.Hour)
		d, err := r.st.Delete(ctx, store.Deletion{ProjectID: p, Before: cut})
		r.m.add("retention", d)
		total.Add(d)
		if err != nil {
			r.m.retentionErrors.Inc()
			return fmt.Errorf("serve: retention of %s: %w", p, err)
		}
		if d.Spans > 0 {
			r.log.Info("retention pruned spans", "project", p, "before", cut.UTC().Format(time.RFC3339), "spans", d.Spans,
				"traces", d.Traces, "annotations", d.Annotations)
		}
	}
	r.m.retentionRuns.Inc()
	r.m.retentionLast.Set(time.Since(began).Seconds())
	return nil
}

// deleteMetrics count what was deleted, by reason (retention, request).
type deleteMetrics struct {
	spans, traces, annotations *metrics.CounterVec
	retentionRuns              *metrics.Counter
	retentionErrors            *metrics.Counter
	retentionLast              *metrics.Gauge
}

func newDeleteMetrics(reg *metrics.Registry) *deleteMetrics {
	return &deleteMetrics{
		spans: reg.NewCounterVec("weave_deleted_spans_total",
			"Spans deleted, by reason: retention (the retention pass) or request (a delete through the API).", "reason"),
		traces: reg.NewCounterVec("weave_deleted_traces_total",
			"Traces left without spans by a deletion, by reason.", "reason"),
		annotations: reg.NewCounterVec("weave_deleted_annotations_total",
			"Annotations deleted with what they were on, by reason.", "reason"),
		retentionRuns: reg.NewCounter("weave_retention_runs_total", "Retention passes completed."),
		retentionErrors: reg.NewCounter("weave_retention_errors_total",
			"Retention passes that failed (the server log has the error)."),
		retentionLast: reg.NewGauge("weave_retention_last_run_seconds", "How long the last retention pass took."),
	}
}

func (m *deleteMetrics) add(reason string, d store.Deleted) {
	m.spans.With(reason).Add(float64(d.Spans))
	m.traces.With(reason).Add(float64(d.Traces))
	m.annotations.With(reason).Add(float64(d.Annotations))
}
