package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func exposition(t *testing.T, r *Registry) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WritePrometheus(&b); err != nil {
		t.Fatalf("WritePrometheus: %v", err)
	}
	return b.String()
}

func TestWritePrometheus(t *testing.T) {
	tests := []struct {
		name  string
		build func(r *Registry)
		want  string
	}{
		{
			name:  "empty registry",
			build: func(*Registry) {},
			want:  "",
		},
		{
			name: "counter without labels",
			build: func(r *Registry) {
				c := r.NewCounter("weave_spans_received_total", "Spans received.")
				c.Inc()
				c.Add(2.5)
			},
			want: "# HELP weave_spans_received_total Spans received.\n" +
				"# TYPE weave_spans_received_total counter\n" +
				"weave_spans_received_total 3.5\n",
		},
		{
			name: "counter ignores negative NaN and Inf",
			build: func(r *Registry) {
				c := r.NewCounter("c_total", "")
				c.Add(-1)
				c.Add(math.NaN())
				c.Add(math.Inf(1))
				c.Add(1)
			},
			want: "# TYPE c_total counter\nc_total 1\n",
		},
		{
			name: "counter vec sorted by label values with escaping",
			build: func(r *Registry) {
				v := r.NewCounterVec("rejected_total", "Rejected spans by reason.", "reason", "path")
				v.With("zeta", "/v1/traces").Add(1)
				v.With("alpha", "/v1/traces").Add(2)
				v.With("quote\"back\\slash\nnewline", "/x").Inc()
				v.With("bad\xffutf8", "/x").Inc()
			},
			want: "# HELP rejected_total Rejected spans by reason.\n" +
				"# TYPE rejected_total counter\n" +
				"rejected_total{reason=\"alpha\",path=\"/v1/traces\"} 2\n" +
				"rejected_total{reason=\"bad\uFFFDutf8\",path=\"/x\"} 1\n" +
				"rejected_total{reason=\"quote\\\"back\\\\slash\\nnewline\",path=\"/x\"} 1\n" +
				"rejected_total{reason=\"zeta\",path=\"/v1/traces\"} 1\n",
		},
		{
			name: "gauge set add dec",
			build: func(r *Registry) {
				g := r.NewGauge("in_flight", "Requests in flight.\nSecond line with \\.")
				g.Set(10)
				g.Add(-2.5)
				g.Dec()
				g.Inc()
				g.Inc()
			},
			want: "# HELP in_flight Requests in flight.\\nSecond line with \\\\.\n" +
				"# TYPE in_flight gauge\n" +
				"in_flight 8.5\n",
		},
		{
			name: "gauge vec and special floats",
			build: func(r *Registry) {
				v := r.NewGaugeVec("g", "", "k")
				v.With("inf").Set(math.Inf(1))
				v.With("neginf").Set(math.Inf(-1))
				v.With("nan").Set(math.NaN())
				v.With("small").Set(1e-9)
				v.With("big").Set(123456789012)
			},
			want: "# TYPE g gauge\n" +
				"g{k=\"big\"} 1.23456789012e+11\n" +
				"g{k=\"inf\"} +Inf\n" +
				"g{k=\"nan\"} NaN\n" +
				"g{k=\"neginf\"} -Inf\n" +
				"g{k=\"small\"} 1e-09\n",
		},
		{
			name: "gauge func evaluated at write",
			build: func(r *Registry) {
				n := 41.0
				r.NewGaugeFunc("store_spans", "Spans stored.", func() float64 { n++; return n })
			},
			want: "# HELP store_spans Spans stored.\n# TYPE store_spans gauge\nstore_spans 42\n",
		},
		{
			name: "histogram cumulative buckets sum count",
			build: func(r *Registry) {
				h := r.NewHistogram("batch_seconds", "Batch latency.", []float64{0.1, 0.5, 1})
				h.Observe(0.05)
				h.Observe(0.1) // on a bound: counts in that bucket (le is ≤)
				h.Observe(0.3)
				h.Observe(2)
				h.Observe(math.NaN())
			},
			want: "# HELP batch_seconds Batch latency.\n" +
				"# TYPE batch_seconds histogram\n" +
				"batch_seconds_bucket{le=\"0.1\"} 2\n" +
				"batch_seconds_bucket{le=\"0.5\"} 3\n" +
				"batch_seconds_bucket{le=\"1\"} 3\n" +
				"batch_seconds_bucket{le=\"+Inf\"} 4\n" +
				"batch_seconds_sum 2.45\n" +
				"batch_seconds_count 4\n",
		},
		{
			name: "histogram vec with labels puts le last",
			build: func(r *Registry) {
				v := r.NewHistogramVec("lat", "", []float64{1}, "route")
				v.With("/b").Observe(3)
				v.With("/a").Observe(0.5)
			},
			want: "# TYPE lat histogram\n" +
				"lat_bucket{route=\"/a\",le=\"1\"} 1\n" +
				"lat_bucket{route=\"/a\",le=\"+Inf\"} 1\n" +
				"lat_sum{route=\"/a\"} 0.5\n" +
				"lat_count{route=\"/a\"} 1\n" +
				"lat_bucket{route=\"/b\",le=\"1\"} 0\n" +
				"lat_bucket{route=\"/b\",le=\"+Inf\"} 1\n" +
				"lat_sum{route=\"/b\"} 3\n" +
				"lat_count{route=\"/b\"} 1\n",
		},
		{
			name: "families sorted by name; vec without series writes only headers",
			build: func(r *Registry) {
				r.NewCounter("b_total", "").Inc()
				r.NewCounterVec("a_total", "", "x")
			},
			want: "# TYPE a_total counter\n# TYPE b_total counter\nb_total 1\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			tt.build(r)
			if got := exposition(t, r); got != tt.want {
				t.Errorf("exposition:\ngot:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestRegisterSameDefinitionReturnsSameMetric(t *testing.T) {
	r := NewRegistry()
	a := r.NewCounterVec("x_total", "help", "reason")
	b := r.NewCounterVec("x_total", "help", "reason")
	a.With("r").Inc()
	b.With("r").Inc()
	if got := a.With("r").Value(); got != 2 {
		t.Errorf("shared counter value = %v, want 2", got)
	}
	h1 := r.NewHistogram("h", "", []float64{1, 2})
	h2 := r.NewHistogram("h", "", []float64{1, 2})
	if h1 != h2 {
		t.Errorf("NewHistogram twice returned different histograms, want the same")
	}
	g1, g2 := r.NewGauge("g", ""), r.NewGauge("g", "")
	if g1 != g2 {
		t.Errorf("NewGauge twice returned different gauges, want the same")
	}
}

func TestRegisterPanics(t *testing.T) {
	tests := []struct {
		name string
		fn   func(r *Registry)
	}{
		{"invalid metric name", func(r *Registry) { r.NewCounter("1bad", "") }},
		{"metric name with dash", func(r *Registry) { r.NewCounter("bad-name", "") }},
		{"invalid label name", func(r *Registry) { r.NewCounterVec("c", "", "bad-label") }},
		{"reserved label prefix", func(r *Registry) { r.NewCounterVec("c", "", "__x") }},
		{"duplicate label name", func(r *Registry) { r.NewCounterVec("c", "", "a", "a") }},
		{"le on histogram", func(r *Registry) { r.NewHistogramVec("h", "", []float64{1}, "le") }},
		{"kind conflict", func(r *Registry) { r.NewCounter("m", ""); r.NewGauge("m", "") }},
		{"help conflict", func(r *Registry) { r.NewCounter("m", "a"); r.NewCounter("m", "b") }},
		{"labels conflict", func(r *Registry) { r.NewCounterVec("m", "", "a"); r.NewCounterVec("m", "", "b") }},
		{"bucket conflict", func(r *Registry) {
			r.NewHistogram("m", "", []float64{1})
			r.NewHistogram("m", "", []float64{2})
		}},
		{"gauge func twice", func(r *Registry) {
			r.NewGaugeFunc("m", "", func() float64 { return 0 })
			r.NewGaugeFunc("m", "", func() float64 { return 0 })
		}},
		{"nil gauge func", func(r *Registry) { r.NewGaugeFunc("m", "", nil) }},
		{"no buckets", func(r *Registry) { r.NewHistogram("h", "", nil) }},
		{"unsorted buckets", func(r *Registry) { r.NewHistogram("h", "", []float64{2, 1}) }},
		{"infinite bucket", func(r *Registry) { r.NewHistogram("h", "", []float64{1, math.Inf(1)}) }},
		{"wrong label value count", func(r *Registry) { r.NewCounterVec("c", "", "a", "b").With("x") }},
		{"bad exponential buckets", func(r *Registry) { ExponentialBuckets(0, 2, 3) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				rec := recover()
				if rec == nil {
					t.Fatalf("got no panic, want one")
				}
				if msg := fmt.Sprint(rec); !strings.HasPrefix(msg, "metrics: ") {
					t.Errorf("panic message %q, want prefix %q", msg, "metrics: ")
				}
			}()
			tt.fn(NewRegistry())
		})
	}
}

func TestSeriesCapFoldsIntoOverflow(t *testing.T) {
	r := NewRegistry()
	v := r.NewCounterVec("c_total", "", "id", "kind")
	for i := range MaxSeries + 10 {
		v.With(fmt.Sprint(i), "k").Inc()
	}
	out := exposition(t, r)
	if got := strings.Count(out, "\nc_total{"); got != MaxSeries+1 {
		t.Errorf("series written = %d, want %d (cap + overflow)", got, MaxSeries+1)
	}
	want := `c_total{id="_overflow",kind="_overflow"} 10` + "\n"
	if !strings.Contains(out, want) {
		t.Errorf("exposition lacks %q", want)
	}
	// An existing series keeps counting after the cap is reached.
	v.With("0", "k").Inc()
	if got := v.With("0", "k").Value(); got != 2 {
		t.Errorf("existing series after cap = %v, want 2", got)
	}
}

func TestExponentialBuckets(t *testing.T) {
	got := ExponentialBuckets(0.001, 10, 4)
	want := []float64{0.001, 0.01, 0.1, 1}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("bucket %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	r := NewRegistry()
	const goroutines, perG = 8, 1000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := r.NewCounterVec("c_total", "", "g")
			h := r.NewHistogram("h", "", []float64{0.5})
			gauge := r.NewGauge("gauge", "")
			for range perG {
				c.With(fmt.Sprint(g % 2)).Inc()
				h.Observe(1)
				gauge.Inc()
			}
			_ = r.WritePrometheus(&bytes.Buffer{})
		}()
	}
	wg.Wait()
	out := exposition(t, r)
	for _, want := range []string{
		`c_total{g="0"} 4000`,
		`c_total{g="1"} 4000`,
		`h_count 8000`,
		`h_bucket{le="+Inf"} 8000`,
		`gauge 8000`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("exposition lacks %q:\n%s", want, out)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("boom") }

func TestWritePrometheusError(t *testing.T) {
	r := NewRegistry()
	r.NewCounter("c_total", "").Inc()
	err := r.WritePrometheus(failWriter{})
	if err == nil || !strings.HasPrefix(err.Error(), "metrics: ") {
		t.Errorf("got error %v, want a metrics: error", err)
	}
}

func TestHandler(t *testing.T) {
	r := NewRegistry()
	r.NewCounter("c_total", "C.").Inc()
	tests := []struct {
		name       string
		method     string
		wantStatus int
		wantBody   string
	}{
		{"get", http.MethodGet, 200, "# HELP c_total C.\n# TYPE c_total counter\nc_total 1\n"},
		{"head", http.MethodHead, 200, ""},
		{"post refused", http.MethodPost, 405, "metrics: method not allowed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r.Handler().ServeHTTP(rec, httptest.NewRequest(tt.method, "/metrics", nil))
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Body.String(); got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			if tt.wantStatus == 200 {
				if got := rec.Header().Get("Content-Type"); got != ContentType {
					t.Errorf("Content-Type = %q, want %q", got, ContentType)
				}
			}
		})
	}
}

func BenchmarkCounterVecWith(b *testing.B) {
	v := NewRegistry().NewCounterVec("c_total", "", "reason")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			v.With("bad_span").Inc()
		}
	})
}
