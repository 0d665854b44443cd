package ingest

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/normalize"
	"github.com/weavetrace/weave/server/store"
)

// reasonNoMetricStore rejects every data point when the store keeps no
// metrics (it does not implement store.MetricStore).
const reasonNoMetricStore = "metrics_not_supported"

// metrics stores the data points of an OTLP metric request, a chunk of
// metrics at a time, like traces and logs: the scan bounds nesting depth,
// a metric that does not decode or nests too deep is rejected alone, and
// each point that cannot be kept (no time, not finite, flagged no recorded
// value) is counted in the partial success.
func (h *Handler) metrics(r *http.Request, enc encoding, body []byte) (result, *httpError) {
	l, herr := h.prepare(r, signalMetrics, enc, body)
	if herr != nil {
		return result{}, herr
	}
	skipped := map[string]int{}
	ms, ok := h.s.Writer.(store.MetricStore)
	if !ok {
		// Nothing to keep them in: a non-retryable partial success, so
		// that senders do not retry a request that can never succeed.
		n := l.itemCount()
		skipped[reasonNoMetricStore] = n
		h.m.pointsRejected.With(reasonNoMetricStore).Add(float64(n))
		_, msg := summarize("metrics", skipped)
		return result{rejected: int64(n), message: msg + " (this server's store does not keep OTLP metrics)"}, nil
	}
	for _, pieces := range l.chunks(h.chunkItems, h.chunkBytes) {
		md := decodeChunk(l, pieces, func(data []byte) (pmetric.Metrics, error) {
			req := pmetricotlp.NewExportRequest()
			return req.Metrics(), unmarshal(req, enc, data)
		})
		if herr := h.metricsChunk(r.Context(), ms, md, skipped); herr != nil {
			return result{}, herr
		}
	}
	for reason, n := range l.problems {
		skipped[reason] += n
		h.m.pointsRejected.With(reason).Add(float64(n))
	}
	rejected, msg := summarize("data points", skipped)
	if l.firstProblem != "" {
		msg += "; " + l.firstProblem
	}
	return result{rejected: rejected, message: msg}, nil
}

// metricsChunk normalizes and writes one chunk's data points.
func (h *Handler) metricsChunk(ctx context.Context, ms store.MetricStore, md pmetric.Metrics, skipped map[string]int) *httpError {
	var points []model.MetricPoint
	for _, rm := range md.ResourceMetrics().All() {
		ps, warns := normalize.Metrics(rm, h.cfg.DefaultProject)
		for _, w := range warns {
			if w.Rejected {
				skipped[w.Code]++
				h.m.pointsRejected.With(w.Code).Inc()
			}
		}
		points = append(points, ps...)
	}
	if len(points) == 0 {
		return nil
	}
	if err := cumulativeDeltas(ctx, ms, points); err != nil {
		return h.storeError(ctx, "PreviousMetricPoints", err)
	}
	if err := ms.WriteMetricPoints(ctx, points); err != nil {
		return h.storeError(ctx, "WriteMetricPoints", err)
	}
	h.m.pointsStored.Add(float64(len(points)))
	return nil
}

// cumulativeDeltas sets what each cumulative point adds (V, N; see
// model.MetricPoint): its difference with the previous point of its
// series — in the same chunk, else the latest stored before it. A series'
// first point, and a point after a reset (a new start time, or a count or
// monotonic sum that went down), adds its whole value. A point sent again
// finds the same predecessor, so a retried request adds the same.
func cumulativeDeltas(ctx context.Context, ms store.MetricStore, points []model.MetricPoint) error {
	type seriesKey struct{ project, series string }
	bySeries := map[seriesKey][]int{}
	var order []seriesKey
	for i := range points {
		p := &points[i]
		if !p.Cumulative || p.Kind == model.MetricGauge {
			continue
		}
		k := seriesKey{p.ProjectID, p.SeriesID}
		if _, ok := bySeries[k]; !ok {
			order = append(order, k)
		}
		bySeries[k] = append(bySeries[k], i)
	}
	if len(order) == 0 {
		return nil
	}
	// The stored predecessor of each series' earliest point, per project.
	firsts := map[string][]store.SeriesAt{}
	for _, k := range order {
		idx := bySeries[k]
		slices.SortStableFunc(idx, func(a, b int) int { return points[a].Time.Compare(points[b].Time) })
		firsts[k.project] = append(firsts[k.project], store.SeriesAt{SeriesID: k.series, Time: points[idx[0]].Time})
	}
	projects := make([]string, 0, len(firsts))
	for p := range firsts {
		projects = append(projects, p)
	}
	slices.SortFunc(projects, strings.Compare)
	prev := map[seriesKey]model.MetricPoint{}
	for _, proj := range projects {
		got, err := ms.PreviousMetricPoints(ctx, proj, firsts[proj])
		if err != nil {
			return err
		}
		for at, p := range got {
			prev[seriesKey{proj, at.SeriesID}] = p
		}
	}
	for _, k := range order {
		before, ok := prev[k]
		for _, i := range bySeries[k] {
			p := &points[i]
			if ok && p.Time.After(before.Time) {
				applyDelta(p, &before)
			}
			before, ok = *p, true
		}
	}
	return nil
}

// applyDelta turns cumulative point p into what it adds since prev, the
// previous point of its series, unless p starts anew.
func applyDelta(p, prev *model.MetricPoint) {
	if !p.StartTime.IsZero() && !prev.StartTime.IsZero() && !p.StartTime.Equal(prev.StartTime) {
		return // a new start: the value is all new
	}
	switch p.Kind {
	case model.MetricSum:
		d := p.Value - prev.Value
		if math.IsInf(d, 0) {
			return // finite values too far apart: not one series' step
		}
		if p.Monotonic {
			if d < 0 {
				return // a reset
			}
			// A counter's increments are what min and max compare.
			p.VMin, p.VMax = d, d
		}
		p.V = d
	default: // histograms and summaries
		if p.Count < prev.Count || math.IsInf(p.Sum-prev.Sum, 0) {
			return
		}
		p.V, p.N = p.Sum-prev.Sum, p.Count-prev.Count
	}
}
