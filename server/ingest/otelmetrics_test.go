package ingest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	otelmetric "go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/weavetrace/weave/server/store"
)

var metricT0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

// counterMetrics is one resource with a counter (sum) of the given
// temporality: a point per value, a minute apart, by model.
func counterMetrics(project string, cumulative bool, start time.Time, values ...int64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "claude-code")
	if project != "" {
		rm.Resource().Attributes().PutStr("wandb.project", project)
	}
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("claude_code.token.usage")
	m.SetUnit("tokens")
	s := m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	if cumulative {
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	}
	for i, v := range values {
		dp := s.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("model", "claude-sonnet-4-5")
		dp.Attributes().PutStr("type", "input")
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i+1) * time.Minute)))
		dp.SetIntValue(v)
	}
	return md
}

func metricBody(t testing.TB, md pmetric.Metrics, ct string) []byte {
	t.Helper()
	req := pmetricotlp.NewExportRequestFromMetrics(md)
	var b []byte
	var err error
	if ct == ctJSON {
		b, err = req.MarshalJSON()
	} else {
		b, err = req.MarshalProto()
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeMetricResponse(t testing.TB, body []byte, ct string) (int64, string) {
	t.Helper()
	resp := pmetricotlp.NewExportResponse()
	var err error
	if ct == ctJSON {
		err = resp.UnmarshalJSON(body)
	} else {
		err = resp.UnmarshalProto(body)
	}
	if err != nil {
		t.Fatalf("response does not decode as ExportMetricsServiceResponse: %v (%q)", err, body)
	}
	return resp.PartialSuccess().RejectedDataPoints(), resp.PartialSuccess().ErrorMessage()
}

// total sums a metric over everything stored, per group.
func total(t testing.TB, ms store.MetricStore, project, name string, groupBy ...string) map[string]float64 {
	t.Helper()
	res, err := store.QueryMetricPoints(context.Background(), ms, store.PointQuery{ProjectID: project, Name: name, GroupBy: groupBy})
	if err != nil {
		t.Fatalf("QueryMetricPoints(%s): %v", name, err)
	}
	out := map[string]float64{}
	for _, s := range res.Series {
		var key []string
		for _, k := range groupBy {
			key = append(key, s.Group[k])
		}
		out[strings.Join(key, ",")] = s.Total
	}
	return out
}

// TestMetricsHTTP: /v1/metrics takes protobuf and JSON, stores the points
// (SQLite), and a delta counter and a cumulative one sent again (a retry)
// add up to what was counted, not more.
func TestMetricsHTTP(t *testing.T) {
	for _, ct := range []string{ctProto, ctJSON} {
		t.Run(ct, func(t *testing.T) {
			st := openSQLite(t)
			h, reg := newTestHandler(t, st, nil)
			m := mux(h)
			send := func(md pmetric.Metrics) {
				t.Helper()
				rec := post(t, m, "/v1/metrics", ct, "", metricBody(t, md, ct))
				if rec.Code != http.StatusOK {
					t.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				if n, msg := decodeMetricResponse(t, rec.Body.Bytes(), ct); n != 0 || msg != "" {
					t.Fatalf("partial success %d %q, want none", n, msg)
				}
			}
			send(counterMetrics("acme/delta", false, metricT0, 5, 7))
			// Cumulative 10, 25, 40: adds 40 in all. The second request
			// repeats the first point (a retry) and brings the last.
			send(counterMetrics("acme/cumul", true, metricT0, 10, 25))
			cum := counterMetrics("acme/cumul", true, metricT0, 10, 25, 40)
			send(cum)
			if got := total(t, st, "acme/delta", "claude_code.token.usage")[""]; got != 12 {
				t.Errorf("delta counter total %v, want 12", got)
			}
			if got := total(t, st, "acme/cumul", "claude_code.token.usage")[""]; got != 40 {
				t.Errorf("cumulative counter total %v, want 40", got)
			}
			if got := counterValue(t, reg, `weave_ingest_metric_points_stored_total`); got != 7 {
				t.Errorf("points stored counted %v, want 7", got)
			}
		})
	}
}

// TestMetricsCumulativeReset: a counter that restarts (a new start time,
// or a value that went down) adds its whole value after the reset.
func TestMetricsCumulativeReset(t *testing.T) {
	st := openSQLite(t)
	h, _ := newTestHandler(t, st, nil)
	m := mux(h)
	for _, md := range []pmetric.Metrics{
		counterMetrics("p/reset", true, metricT0, 10, 30),                       // +30
		counterMetrics("p/reset", true, metricT0.Add(10*time.Minute), 4),        // new start: +4
		counterMetrics("p/down", true, metricT0, 100),                           // +100
		counterMetrics("p/down", true, metricT0.Add(-time.Minute), 150, 20, 25), // (earlier start: reset) +150, then 20 (down: reset) +20, +5
	} {
		if rec := post(t, m, "/v1/metrics", ctProto, "", metricBody(t, md, ctProto)); rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	if got := total(t, st, "p/reset", "claude_code.token.usage")[""]; got != 34 {
		t.Errorf("reset by start time: total %v, want 34", got)
	}
	if got := total(t, st, "p/down", "claude_code.token.usage")[""]; got != 175 {
		t.Errorf("reset by a lower value: total %v, want 175", got)
	}
}

// TestMetricsBadPointsPartialSuccess: points without a time or with a
// value that is not finite are rejected alone and counted; the others
// are stored.
func TestMetricsBadPointsPartialSuccess(t *testing.T) {
	st := openSQLite(t)
	h, _ := newTestHandler(t, st, nil)
	md := counterMetrics("", false, metricT0, 1, 2, 3)
	dps := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints()
	dps.At(1).SetTimestamp(0)
	g := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
	g.SetName("temperature")
	gp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	gp.SetTimestamp(pcommon.NewTimestampFromTime(metricT0))
	gp.SetDoubleValue(posInf())
	rec := post(t, mux(h), "/v1/metrics", ctProto, "", metricBody(t, md, ctProto))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	n, msg := decodeMetricResponse(t, rec.Body.Bytes(), ctProto)
	if n != 2 || !strings.Contains(msg, "missing_time (1)") || !strings.Contains(msg, "not_finite (1)") {
		t.Errorf("partial success %d %q, want 2 rejected: missing_time, not_finite", n, msg)
	}
	if got := total(t, st, testProject, "claude_code.token.usage")[""]; got != 4 {
		t.Errorf("stored total %v, want 4 (points 1 and 3)", got)
	}
}

func posInf() float64 { var z float64; return 1 / z }

// TestMetricsTooDeepRejectedAlone: a metric whose point attribute nests
// past MaxValueDepth is rejected alone, in protobuf and JSON, before pdata
// decodes it.
func TestMetricsTooDeepRejectedAlone(t *testing.T) {
	for _, ct := range []string{ctProto, ctJSON} {
		t.Run(ct, func(t *testing.T) {
			st := openSQLite(t)
			h, _ := newTestHandler(t, st, nil)
			md := counterMetrics("", false, metricT0, 1)
			bad := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
			bad.SetName("deep")
			dp := bad.SetEmptyHistogram().DataPoints().AppendEmpty()
			dp.SetTimestamp(pcommon.NewTimestampFromTime(metricT0))
			v := dp.Attributes().PutEmptySlice("nest")
			for range MaxValueDepth + 1 {
				v = v.AppendEmpty().SetEmptySlice()
			}
			rec := post(t, mux(h), "/v1/metrics", ct, "", metricBody(t, md, ct))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			n, msg := decodeMetricResponse(t, rec.Body.Bytes(), ct)
			if n != 1 || !strings.Contains(msg, `metric "deep"`) || !strings.Contains(msg, reasonTooDeep) {
				t.Errorf("partial success %d %q, want the deep metric rejected by name", n, msg)
			}
			if got := total(t, st, testProject, "claude_code.token.usage")[""]; got != 1 {
				t.Errorf("stored total %v, want 1", got)
			}
		})
	}
}

// TestMetricsNoMetricStore: a store without metrics rejects every point
// in a partial success that says so (not a retryable error).
func TestMetricsNoMetricStore(t *testing.T) {
	h, _ := newTestHandler(t, newMemWriter(), nil)
	rec := post(t, mux(h), "/v1/metrics", ctJSON, "", metricBody(t, counterMetrics("", false, metricT0, 1, 2), ctJSON))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if n, msg := decodeMetricResponse(t, rec.Body.Bytes(), ctJSON); n != 1 || !strings.Contains(msg, "does not keep OTLP metrics") {
		t.Errorf("partial success %d %q, want the metric rejected as not supported", n, msg)
	}
}

// TestGRPCMetricsSDKExporter: the OTel Go SDK's gRPC metric exporter
// (cumulative by default, gzip) reaches the store; a counter and a
// histogram read back as recorded.
func TestGRPCMetricsSDKExporter(t *testing.T) {
	st := openSQLite(t)
	h, reg := newTestHandler(t, st, nil)
	addr := grpcServer(t, h)
	ctx := context.Background()
	exp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(addr), otlpmetricgrpc.WithInsecure(), otlpmetricgrpc.WithCompressor("gzip"))
	if err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader),
		sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", "sdk-test"))))
	meter := mp.Meter("test")
	cost, _ := meter.Float64Counter("claude_code.cost.usage", otelmetric.WithUnit("USD"))
	dur, _ := meter.Float64Histogram("request.duration", otelmetric.WithUnit("ms"))
	export := func() {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			t.Fatal(err)
		}
		if err := exp.Export(ctx, &rm); err != nil {
			t.Fatalf("export: %v", err)
		}
	}
	opus := otelmetric.WithAttributes(attribute.String("model", "opus"))
	cost.Add(ctx, 0.25, opus)
	cost.Add(ctx, 0.5, otelmetric.WithAttributes(attribute.String("model", "haiku")))
	dur.Record(ctx, 100)
	export()
	cost.Add(ctx, 1, opus)
	dur.Record(ctx, 300)
	export()
	export() // nothing new: cumulative points equal to the last add nothing
	if err := exp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := total(t, st, testProject, "claude_code.cost.usage", "model")
	if got["opus"] != 1.25 || got["haiku"] != 0.5 || len(got) != 2 {
		t.Errorf("cost by model %v, want opus 1.25, haiku 0.5", got)
	}
	res, err := store.QueryMetricPoints(ctx, st, store.PointQuery{ProjectID: testProject, Name: "request.duration", Aggregation: store.AggAvg})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Series) != 1 || res.Series[0].Total != 200 || res.Metric.Kind != "histogram" || res.Metric.Unit != "ms" {
		t.Errorf("duration: %+v, want one histogram series averaging 200 ms", res)
	}
	if got := counterValue(t, reg, `weave_ingest_grpc_requests_total{signal="metrics",code="OK"}`); got != 3 {
		t.Errorf("gRPC metric requests counted %v, want 3", got)
	}
}

// TestMetricsCumulativeHugeStep: two finite cumulative values whose
// difference is not finite (±1e308) are stored, the second as a reset,
// rather than failing the store's validation (a 503 forever retried).
func TestMetricsCumulativeHugeStep(t *testing.T) {
	st := openSQLite(t)
	h, _ := newTestHandler(t, st, nil)
	md := counterMetrics("", true, metricT0, 0, 0)
	s := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum()
	s.SetIsMonotonic(false)
	s.DataPoints().At(0).SetDoubleValue(1e308)
	s.DataPoints().At(1).SetDoubleValue(-1e308)
	rec := post(t, mux(h), "/v1/metrics", ctProto, "", metricBody(t, md, ctProto))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if n, msg := decodeMetricResponse(t, rec.Body.Bytes(), ctProto); n != 0 {
		t.Errorf("partial success %d %q, want both points stored", n, msg)
	}
}
