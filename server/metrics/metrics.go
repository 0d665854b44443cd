package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// MaxSeries is the number of label combinations one vector keeps before it
// folds new ones into the overflow series.
const MaxSeries = 1000

// OverflowValue is the label value of the series that collects label
// combinations past MaxSeries.
const OverflowValue = "_overflow"

// ContentType is the Content-Type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

type kind string

const (
	kindCounter   kind = "counter"
	kindGauge     kind = "gauge"
	kindHistogram kind = "histogram"
)

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Registry holds a set of named metrics. The zero value is not usable; call
// NewRegistry.
type Registry struct {
	mu      sync.Mutex
	metrics map[string]*family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{metrics: make(map[string]*family)}
}

// family is one metric name with its fixed label names and its series.
type family struct {
	name       string
	help       string
	kind       kind
	labelNames []string
	buckets    []float64 // histograms only
	fn         func() float64

	mu     sync.Mutex
	series map[string]*series // key: label values joined by \xff
}

type series struct {
	labelValues []string
	counter     *Counter
	gauge       *Gauge
	histogram   *Histogram
}

// register returns the family of that name, creating it when absent. A
// conflicting earlier definition panics.
func (r *Registry) register(name, help string, k kind, labelNames []string, buckets []float64, fn func() float64) *family {
	if !metricNameRE.MatchString(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	seen := make(map[string]bool, len(labelNames))
	for _, l := range labelNames {
		if !labelNameRE.MatchString(l) || strings.HasPrefix(l, "__") {
			panic(fmt.Sprintf("metrics: %s: invalid label name %q", name, l))
		}
		if k == kindHistogram && l == "le" {
			panic(fmt.Sprintf("metrics: %s: label name \"le\" is reserved for histogram buckets", name))
		}
		if seen[l] {
			panic(fmt.Sprintf("metrics: %s: duplicate label name %q", name, l))
		}
		seen[l] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.metrics[name]; ok {
		if f.kind != k || f.help != help || !slices.Equal(f.labelNames, labelNames) ||
			!slices.Equal(f.buckets, buckets) || fn != nil || f.fn != nil {
			panic(fmt.Sprintf("metrics: %s registered twice with different definitions", name))
		}
		return f
	}
	f := &family{
		name:       name,
		help:       help,
		kind:       k,
		labelNames: slices.Clone(labelNames),
		buckets:    slices.Clone(buckets),
		fn:         fn,
		series:     make(map[string]*series),
	}
	r.metrics[name] = f
	return f
}

// with returns the series for the label values, creating it when absent.
func (f *family) with(values []string) *series {
	if len(values) != len(f.labelNames) {
		panic(fmt.Sprintf("metrics: %s: got %d label values, want %d (%v)",
			f.name, len(values), len(f.labelNames), f.labelNames))
	}
	key := strings.Join(values, "\xff")
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.series[key]; ok {
		return s
	}
	if len(f.series) >= MaxSeries && len(values) > 0 {
		over := make([]string, len(values))
		for i := range over {
			over[i] = OverflowValue
		}
		values = over
		key = strings.Join(values, "\xff")
		if s, ok := f.series[key]; ok {
			return s
		}
	}
	s := &series{labelValues: slices.Clone(values)}
	switch f.kind {
	case kindCounter:
		s.counter = &Counter{}
	case kindGauge:
		s.gauge = &Gauge{}
	case kindHistogram:
		s.histogram = newHistogram(f.buckets)
	}
	f.series[key] = s
	return s
}

// NewCounter registers (or returns the already registered) counter without
// labels.
func (r *Registry) NewCounter(name, help string) *Counter {
	return r.register(name, help, kindCounter, nil, nil, nil).with(nil).counter
}

// NewCounterVec registers (or returns) a counter with the given label names.
func (r *Registry) NewCounterVec(name, help string, labelNames ...string) *CounterVec {
	return &CounterVec{f: r.register(name, help, kindCounter, labelNames, nil, nil)}
}

// NewGauge registers (or returns) a gauge without labels.
func (r *Registry) NewGauge(name, help string) *Gauge {
	return r.register(name, help, kindGauge, nil, nil, nil).with(nil).gauge
}

// NewGaugeVec registers (or returns) a gauge with the given label names.
func (r *Registry) NewGaugeVec(name, help string, labelNames ...string) *GaugeVec {
	return &GaugeVec{f: r.register(name, help, kindGauge, labelNames, nil, nil)}
}

// NewGaugeFunc registers a gauge whose value is fn's result at each write.
// fn is called without any registry lock held, from the goroutine writing
// the exposition; it must be safe for concurrent use and should be quick. A
// NaN result is written as NaN. A gauge func cannot be registered twice.
func (r *Registry) NewGaugeFunc(name, help string, fn func() float64) {
	if fn == nil {
		panic(fmt.Sprintf("metrics: %s: nil gauge func", name))
	}
	r.register(name, help, kindGauge, nil, nil, fn)
}

// NewCounterFunc registers a counter whose value is fn's result at each
// write (a total kept elsewhere, which must only grow), with the rules of
// NewGaugeFunc.
func (r *Registry) NewCounterFunc(name, help string, fn func() float64) {
	if fn == nil {
		panic(fmt.Sprintf("metrics: %s: nil counter func", name))
	}
	r.register(name, help, kindCounter, nil, nil, fn)
}

// NewHistogram registers (or returns) a histogram without labels. buckets are
// the upper bounds, strictly increasing and finite; +Inf is implied.
func (r *Registry) NewHistogram(name, help string, buckets []float64) *Histogram {
	checkBuckets(name, buckets)
	return r.register(name, help, kindHistogram, nil, buckets, nil).with(nil).histogram
}

// NewHistogramVec registers (or returns) a histogram with the given label
// names and buckets.
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labelNames ...string) *HistogramVec {
	checkBuckets(name, buckets)
	return &HistogramVec{f: r.register(name, help, kindHistogram, labelNames, buckets, nil)}
}

func checkBuckets(name string, buckets []float64) {
	if len(buckets) == 0 {
		panic(fmt.Sprintf("metrics: %s: histogram needs at least one bucket", name))
	}
	for i, b := range buckets {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			panic(fmt.Sprintf("metrics: %s: bucket %v is not finite", name, b))
		}
		if i > 0 && b <= buckets[i-1] {
			panic(fmt.Sprintf("metrics: %s: buckets not strictly increasing at %v", name, b))
		}
	}
}

// ExponentialBuckets returns count buckets starting at start, each factor
// times the previous one.
func ExponentialBuckets(start, factor float64, count int) []float64 {
	if start <= 0 || factor <= 1 || count < 1 {
		panic(fmt.Sprintf("metrics: ExponentialBuckets(%v, %v, %d): want start > 0, factor > 1, count ≥ 1", start, factor, count))
	}
	b := make([]float64, count)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

// DefaultLatencyBuckets suit request latencies in seconds (1 ms to ~16 s).
var DefaultLatencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 16}

// Counter is a monotonically increasing value.
type Counter struct{ bits atomic.Uint64 }

// Inc adds 1.
func (c *Counter) Inc() { c.Add(1) }

// Add adds v. Negative, NaN and infinite values are ignored: a counter only
// goes up.
func (c *Counter) Add(v float64) {
	if !(v > 0) || math.IsInf(v, 0) {
		return
	}
	addFloat(&c.bits, v)
}

// Value returns the current value.
func (c *Counter) Value() float64 { return math.Float64frombits(c.bits.Load()) }

// Gauge is a value that goes up and down.
type Gauge struct{ bits atomic.Uint64 }

// Set sets the value.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Add adds v (which may be negative).
func (g *Gauge) Add(v float64) { addFloat(&g.bits, v) }

// Inc adds 1.
func (g *Gauge) Inc() { g.Add(1) }

// Dec subtracts 1.
func (g *Gauge) Dec() { g.Add(-1) }

// Value returns the current value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

func addFloat(bits *atomic.Uint64, v float64) {
	for {
		old := bits.Load()
		n := math.Float64bits(math.Float64frombits(old) + v)
		if bits.CompareAndSwap(old, n) {
			return
		}
	}
}

// Histogram counts observations into fixed buckets.
type Histogram struct {
	upper []float64 // shared with the family; read only

	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; last is +Inf
	sum    float64
	count  uint64
}

func newHistogram(upper []float64) *Histogram {
	return &Histogram{upper: upper, counts: make([]uint64, len(upper)+1)}
}

// Observe records one value. NaN is ignored.
func (h *Histogram) Observe(v float64) {
	if math.IsNaN(v) {
		return
	}
	i := sort.SearchFloat64s(h.upper, v) // first bound ≥ v
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.count++
	h.mu.Unlock()
}

// snapshot returns cumulative bucket counts, the sum and the count, taken
// together so that the +Inf bucket always equals the count.
func (h *Histogram) snapshot() (cum []uint64, sum float64, count uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cum = make([]uint64, len(h.counts))
	var acc uint64
	for i, c := range h.counts {
		acc += c
		cum[i] = acc
	}
	return cum, h.sum, h.count
}

// CounterVec is a counter family with fixed label names.
type CounterVec struct{ f *family }

// With returns the counter for the label values, given in the order of the
// label names. A wrong number of values panics.
func (v *CounterVec) With(labelValues ...string) *Counter { return v.f.with(labelValues).counter }

// GaugeVec is a gauge family with fixed label names.
type GaugeVec struct{ f *family }

// With returns the gauge for the label values.
func (v *GaugeVec) With(labelValues ...string) *Gauge { return v.f.with(labelValues).gauge }

// HistogramVec is a histogram family with fixed label names.
type HistogramVec struct{ f *family }

// With returns the histogram for the label values.
func (v *HistogramVec) With(labelValues ...string) *Histogram {
	return v.f.with(labelValues).histogram
}

// WritePrometheus writes every metric in the text exposition format, metrics
// sorted by name and series by label values, so the output is stable.
func (r *Registry) WritePrometheus(w io.Writer) error {
	r.mu.Lock()
	fams := make([]*family, 0, len(r.metrics))
	for _, f := range r.metrics {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })

	bw := bufio.NewWriter(w)
	for _, f := range fams {
		f.write(bw)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("metrics: write exposition: %w", err)
	}
	return nil
}

func (f *family) write(w *bufio.Writer) {
	if f.help != "" {
		fmt.Fprintf(w, "# HELP %s %s\n", f.name, escapeHelp(f.help))
	}
	fmt.Fprintf(w, "# TYPE %s %s\n", f.name, f.kind)
	if f.fn != nil {
		fmt.Fprintf(w, "%s %s\n", f.name, formatFloat(f.fn()))
		return
	}
	f.mu.Lock()
	all := make([]*series, 0, len(f.series))
	for _, s := range f.series {
		all = append(all, s)
	}
	f.mu.Unlock()
	slices.SortFunc(all, func(a, b *series) int { return slices.Compare(a.labelValues, b.labelValues) })

	for _, s := range all {
		labels := formatLabels(f.labelNames, s.labelValues, "")
		switch f.kind {
		case kindCounter:
			fmt.Fprintf(w, "%s%s %s\n", f.name, labels, formatFloat(s.counter.Value()))
		case kindGauge:
			fmt.Fprintf(w, "%s%s %s\n", f.name, labels, formatFloat(s.gauge.Value()))
		case kindHistogram:
			cum, sum, count := s.histogram.snapshot()
			for i, c := range cum {
				le := "+Inf"
				if i < len(f.buckets) {
					le = formatFloat(f.buckets[i])
				}
				fmt.Fprintf(w, "%s_bucket%s %d\n", f.name, formatLabels(f.labelNames, s.labelValues, le), c)
			}
			fmt.Fprintf(w, "%s_sum%s %s\n", f.name, labels, formatFloat(sum))
			fmt.Fprintf(w, "%s_count%s %d\n", f.name, labels, count)
		}
	}
}

// formatLabels renders {a="x",b="y"} (with le last when set), or "" when
// there are no labels.
func formatLabels(names, values []string, le string) string {
	if len(names) == 0 && le == "" {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(escapeLabelValue(values[i]))
		b.WriteByte('"')
	}
	if le != "" {
		if len(names) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`le="`)
		b.WriteString(le)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var (
	labelValueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	helpEscaper       = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabelValue(s string) string {
	return labelValueEscaper.Replace(strings.ToValidUTF8(s, "\uFFFD"))
}
func escapeHelp(s string) string { return helpEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Handler serves the registry in the text exposition format.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "metrics: method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		if req.Method == http.MethodHead {
			return
		}
		// A write error here means the scraper went away; nothing to do.
		_ = r.WritePrometheus(w)
	})
}
