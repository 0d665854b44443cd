package storetest

import (
	"errors"
	"math"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/normalize"
	"github.com/weavetrace/weave/server/store"
)

// metricPoint is a delta counter point of metric name at T0+min minutes.
func metricPoint(project, name string, min int, attrs map[string]string, v float64) model.MetricPoint {
	p := model.MetricPoint{ProjectID: project, Name: name, Unit: "1", Kind: model.MetricSum, Monotonic: true,
		Attributes: attrs, Resource: map[string]string{"service.name": "claude-code", "host": attrs["host"]},
		Time: T0.Add(time.Duration(min) * time.Minute), Value: v, V: v, VMin: v, VMax: v}
	delete(p.Attributes, "host")
	p.SeriesID = normalize.SeriesID(p)
	return p
}

func (h *harness) metricStore() store.MetricStore {
	h.t.Helper()
	ms, ok := h.s.(store.MetricStore)
	if !ok {
		h.t.Skip("backend does not implement store.MetricStore")
	}
	return ms
}

func (h *harness) pointQuery(q store.PointQuery) store.PointResult {
	h.t.Helper()
	res, err := store.QueryMetricPoints(h.ctx, h.s.(store.MetricStore), q)
	if err != nil {
		h.t.Fatalf("QueryMetricPoints(%+v): %v", q, err)
	}
	return res
}

// testMetricPoints: points are upserted by (project, series, time),
// durable, isolated per project, listed, bucketed, grouped by point and
// resource attributes, filtered, aggregated; PreviousMetricPoints finds
// the latest point before a time; invalid points fail the whole call.
func testMetricPoints(h *harness) {
	ms := h.metricStore()
	const name = "claude_code.token.usage"
	a := func(model_, host string) map[string]string { return map[string]string{"model": model_, "host": host} }
	points := []model.MetricPoint{
		metricPoint(projA, name, 0, a("opus", "h1"), 10),
		metricPoint(projA, name, 1, a("opus", "h1"), 20),
		metricPoint(projA, name, 61, a("opus", "h2"), 5),
		metricPoint(projA, name, 62, a("haiku", "h1"), 1),
		metricPoint(projA, name, 62, map[string]string{"host": "h1"}, 100), // no model
		metricPoint(projB, name, 0, a("opus", "h1"), 1000),
	}
	if err := ms.WriteMetricPoints(h.ctx, points); err != nil {
		h.t.Fatalf("WriteMetricPoints: %v", err)
	}
	// The same point again, with a new value: replaced, not added.
	again := metricPoint(projA, name, 1, a("opus", "h1"), 25)
	if err := ms.WriteMetricPoints(h.ctx, []model.MetricPoint{again}); err != nil {
		h.t.Fatalf("WriteMetricPoints (again): %v", err)
	}
	if !h.caps.NoReopen {
		h.reopen()
		ms = h.s.(store.MetricStore)
	}

	checkMetricNames(h, ms, name)
	checkPointBuckets(h, name)
	checkPointQueries(h, ms, name)
	checkPreviousPoints(h, ms, points[0].SeriesID)
	checkPointRefusalAndRetention(h, ms)
}

// checkMetricNames: the project's one metric, its figures, and none after
// its last point.
func checkMetricNames(h *harness, ms store.MetricStore, name string) {
	infos, err := ms.MetricNames(h.ctx, projA, store.TimeRange{})
	if err != nil {
		h.t.Fatalf("MetricNames: %v", err)
	}
	if len(infos) != 1 || infos[0].Name != name || infos[0].Points != 5 || infos[0].Series != 4 || infos[0].Kind != model.MetricSum ||
		!infos[0].Monotonic || !infos[0].First.Equal(T0) || !infos[0].Last.Equal(T0.Add(62*time.Minute)) {
		h.t.Errorf("MetricNames(projA) = %+v, want one metric of 5 points, 4 series, T0 to T0+62m", infos)
	}
	if infos, _ := ms.MetricNames(h.ctx, projA, store.TimeRange{From: T0.Add(2 * time.Hour)}); len(infos) != 0 {
		h.t.Errorf("MetricNames after the last point = %+v, want none", infos)
	}

}

// checkPointBuckets: sums by model in 1 h buckets, the largest total first.
func checkPointBuckets(h *harness, name string) {
	hour := T0.Truncate(time.Hour)
	res := h.pointQuery(store.PointQuery{ProjectID: projA, Name: name, GroupBy: []string{"model"}, Bucket: time.Hour,
		Range: store.TimeRange{From: hour, To: hour.Add(2 * time.Hour)}})
	type bucket struct {
		start  time.Time
		v      float64
		points int64
	}
	want := map[string][]bucket{
		"opus":  {{hour, 35, 2}, {hour.Add(time.Hour), 5, 1}},
		"haiku": {{hour.Add(time.Hour), 1, 1}},
		"":      {{hour.Add(time.Hour), 100, 1}},
	}
	if res.Aggregation != store.AggSum || res.BucketSeconds != 3600 || res.TotalSeries != 3 || len(res.Series) != 3 {
		h.t.Fatalf("query by model: %+v, want 3 series of sums in 1 h buckets", res)
	}
	if res.Series[0].Group["model"] != "" || res.Series[0].Total != 100 {
		h.t.Errorf("first series %+v, want the largest total (no model, 100) first", res.Series[0])
	}
	for _, s := range res.Series {
		w := want[s.Group["model"]]
		if len(s.Buckets) != len(w) {
			h.t.Errorf("series %v: buckets %+v, want %+v", s.Group, s.Buckets, w)
			continue
		}
		for i, b := range s.Buckets {
			if !b.Start.Equal(w[i].start) || b.Value != w[i].v || b.Points != w[i].points {
				h.t.Errorf("series %v bucket %d: %+v, want %+v", s.Group, i, b, w[i])
			}
		}
	}

}

// checkPointQueries: resource attributes, filters, other aggregations,
// the series limit, projects and unknown metrics.
func checkPointQueries(h *harness, ms store.MetricStore, name string) {
	res := h.pointQuery(store.PointQuery{ProjectID: projA, Name: name, GroupBy: []string{store.ResourcePrefix + "host"},
		Filters: []store.MetricFilter{{Key: "model", Values: []string{"opus", ""}}}, Aggregation: store.AggMax})
	got := map[string]float64{}
	for _, s := range res.Series {
		got[s.Group["resource.host"]] = s.Total
	}
	if len(got) != 2 || got["h1"] != 100 || got["h2"] != 5 {
		h.t.Errorf("max by resource host over opus and no model: %v, want h1 100, h2 5", got)
	}
	for agg, want := range map[string]float64{store.AggAvg: 141.0 / 5, store.AggMin: 1, store.AggCount: 5} {
		res := h.pointQuery(store.PointQuery{ProjectID: projA, Name: name, Aggregation: agg})
		if len(res.Series) != 1 || math.Abs(res.Series[0].Total-want) > 1e-9 {
			h.t.Errorf("%s over everything: %+v, want %v", agg, res.Series, want)
		}
	}
	if res := h.pointQuery(store.PointQuery{ProjectID: projA, Name: name, GroupBy: []string{"model"}, Limit: 1}); len(res.Series) != 1 || res.TotalSeries != 3 {
		h.t.Errorf("limit 1: %d series of %d, want 1 of 3", len(res.Series), res.TotalSeries)
	}
	if res := h.pointQuery(store.PointQuery{ProjectID: projB, Name: name}); len(res.Series) != 1 || res.Series[0].Total != 1000 {
		h.t.Errorf("projB: %+v, want its own point only", res.Series)
	}
	if _, err := store.QueryMetricPoints(h.ctx, ms, store.PointQuery{ProjectID: projA, Name: "nope"}); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("unknown metric: %v, want ErrNotFound", err)
	}

}

// checkPreviousPoints: PreviousMetricPoints gives the latest point of
// series s1 strictly before each time.
func checkPreviousPoints(h *harness, ms store.MetricStore, s1 string) {
	prev, err := ms.PreviousMetricPoints(h.ctx, projA, []store.SeriesAt{
		{SeriesID: s1, Time: T0.Add(time.Minute)}, {SeriesID: s1, Time: T0.Add(time.Hour)}, {SeriesID: s1, Time: T0},
	})
	if err != nil {
		h.t.Fatalf("PreviousMetricPoints: %v", err)
	}
	if p, ok := prev[store.SeriesAt{SeriesID: s1, Time: T0.Add(time.Minute)}]; !ok || p.Value != 10 || !p.Time.Equal(T0) || p.Attributes["model"] != "opus" || p.Resource["host"] != "h1" {
		h.t.Errorf("previous of T0+1m: %+v, want the T0 point", p)
	}
	if p := prev[store.SeriesAt{SeriesID: s1, Time: T0.Add(time.Hour)}]; p.Value != 25 {
		h.t.Errorf("previous of T0+1h: %+v, want the replaced T0+1m point (25)", p)
	}
	if _, ok := prev[store.SeriesAt{SeriesID: s1, Time: T0}]; ok || len(prev) != 2 {
		h.t.Errorf("previous of T0: %+v, want none", prev)
	}

}

// checkPointRefusalAndRetention: an invalid point fails the whole call,
// retention removes the points before the cut, and sums past the float
// range answer the largest finite value.
func checkPointRefusalAndRetention(h *harness, ms store.MetricStore) {
	// An invalid point fails the call before anything is written.
	bad := metricPoint(projA, "other", 0, nil, 1)
	bad.V = math.NaN()
	if err := ms.WriteMetricPoints(h.ctx, []model.MetricPoint{metricPoint(projA, "other", 1, nil, 1), bad}); !errors.Is(err, store.ErrInvalid) {
		h.t.Errorf("WriteMetricPoints with a NaN: %v, want ErrInvalid", err)
	}
	if infos, _ := ms.MetricNames(h.ctx, projA, store.TimeRange{}); len(infos) != 1 {
		h.t.Errorf("after a refused write: %+v, want the one metric", infos)
	}

	// Retention (store.Pruner) removes the points before the cut.
	if pr, ok := h.s.(store.Pruner); ok {
		if _, err := pr.DeleteBefore(h.ctx, T0.Add(time.Hour)); err != nil {
			h.t.Fatalf("DeleteBefore: %v", err)
		}
		if infos, _ := ms.MetricNames(h.ctx, projA, store.TimeRange{}); len(infos) != 1 || infos[0].Points != 3 || !infos[0].First.Equal(T0.Add(61*time.Minute)) {
			h.t.Errorf("after DeleteBefore(T0+1h): %+v, want the 3 points from T0+61m", infos)
		}
	}

	// Sums past the float range answer the largest finite value.
	huge := []model.MetricPoint{metricPoint(projB, "huge", 0, nil, math.MaxFloat64), metricPoint(projB, "huge", 1, nil, math.MaxFloat64)}
	if err := ms.WriteMetricPoints(h.ctx, huge); err != nil {
		h.t.Fatalf("WriteMetricPoints: %v", err)
	}
	if res := h.pointQuery(store.PointQuery{ProjectID: projB, Name: "huge"}); len(res.Series) != 1 || res.Series[0].Total != math.MaxFloat64 {
		h.t.Errorf("overflowing sum: %+v, want MaxFloat64", res.Series)
	}
}
