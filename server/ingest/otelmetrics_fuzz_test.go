package ingest

import (
	"math"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/weavetrace/weave/server/store"
)

// allKindsMetrics is one metric of each kind, cumulative where that
// applies, with exemplars and attributes nested depth levels.
func allKindsMetrics(depth int) pmetric.Metrics {
	md := counterMetrics("acme/fuzz", true, metricT0, 3, 9)
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	ts := pcommon.NewTimestampFromTime(metricT0.Add(time.Minute))
	nest := func(attrs pcommon.Map) {
		v := attrs.PutEmptyMap("nest")
		for range depth {
			v = v.PutEmptyMap("m")
		}
	}
	g := ms.AppendEmpty()
	g.SetName("gauge")
	gp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	gp.SetTimestamp(ts)
	gp.SetDoubleValue(-2.5)
	gp.Exemplars().AppendEmpty().FilteredAttributes().PutStr("k", "v")
	nest(gp.Attributes())
	h := ms.AppendEmpty()
	h.SetName("hist")
	hd := h.SetEmptyHistogram()
	hd.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := hd.DataPoints().AppendEmpty()
	hp.SetTimestamp(ts)
	hp.SetCount(3)
	hp.SetSum(12)
	hp.SetMin(1)
	hp.SetMax(8)
	hp.ExplicitBounds().FromRaw([]float64{1, 5})
	hp.BucketCounts().FromRaw([]uint64{1, 1, 1})
	nest(hp.Exemplars().AppendEmpty().FilteredAttributes())
	e := ms.AppendEmpty()
	e.SetName("exp")
	ep := e.SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
	ep.SetTimestamp(ts)
	ep.SetCount(2)
	ep.SetSum(3)
	nest(ep.Attributes())
	s := ms.AppendEmpty()
	s.SetName("summary")
	sp := s.SetEmptySummary().DataPoints().AppendEmpty()
	sp.SetTimestamp(ts)
	sp.SetCount(4)
	sp.SetSum(10)
	sp.QuantileValues().AppendEmpty().SetValue(2)
	return md
}

// FuzzMetricsHandler posts arbitrary bodies to /v1/metrics in both
// encodings, seeded with every metric kind (nesting at and past
// MaxValueDepth, huge and wrapped values). The handler must answer 200 or
// 400, never panic or fail a store call (a point the store refuses would
// be a 503), and store nothing on a 400.
func FuzzMetricsHandler(f *testing.F) {
	for _, md := range []pmetric.Metrics{
		allKindsMetrics(2), allKindsMetrics(MaxValueDepth - 1), allKindsMetrics(MaxValueDepth + 1),
		counterMetrics("", true, metricT0, math.MaxInt64, math.MinInt64, 0),
		counterMetrics("", false, time.Unix(0, 0), 1),
	} {
		f.Add(metricBody(f, md, ctProto), false)
		f.Add(metricBody(f, md, ctJSON), true)
	}
	w := newMemMetricWriter()
	h, _ := newTestHandler(f, w, nil)
	m := mux(h)
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool) {
		w.mu.Lock()
		clear(w.points)
		w.mu.Unlock()
		ct := ctProto
		if isJSON {
			ct = ctJSON
		}
		rec := post(t, m, "/v1/metrics", ct, "", body)
		switch rec.Code {
		case http.StatusOK:
			decodeMetricResponse(t, rec.Body.Bytes(), ct)
		case http.StatusBadRequest:
			if len(w.points) != 0 {
				t.Fatalf("400 but %d points stored", len(w.points))
			}
		default:
			t.Fatalf("status %d (%s), want 200 or 400", rec.Code, rec.Body.String())
		}
		for _, p := range w.points {
			if err := store.ValidateMetricPoint(&p); err != nil {
				t.Fatalf("stored an invalid point: %v", err)
			}
		}
	})
}
