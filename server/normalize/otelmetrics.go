package normalize

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// Bounds of a metric point's attributes: more are dropped (the first ones
// in key order kept), longer values cut.
const (
	MaxMetricAttrs          = 128
	MaxMetricAttrValueBytes = 1024
)

// Metric warning codes (rejections name the data point).
const (
	CodeMetricNoTime     = "missing_time"
	CodeMetricNotFinite  = "not_finite"
	CodeMetricNoName     = "no_metric_name"
	CodeMetricNoValue    = "no_recorded_value"
	CodeMetricAttrsLimit = "metric_attrs_truncated"
)

// Metrics converts the data points of one ResourceMetrics into canonical
// rows (model.MetricPoint). V, N, VMin and VMax are set for what a point
// says alone: a cumulative sum, histogram or summary gets its difference
// with the series' previous point from the caller (ingest), which holds
// that state. A point without a time, past store.MaxTime, with a value
// that is not finite or flagged "no recorded value" is dropped with a
// rejecting warning; the others are kept.
func Metrics(rm pmetric.ResourceMetrics, defaultProject string) ([]model.MetricPoint, []Warning) {
	var c metricsConverter
	project := projectID(rm.Resource().Attributes(), defaultProject)
	resource, rtrunc := flatAttrs(rm.Resource().Attributes())
	if rtrunc {
		c.warns = append(c.warns, Warning{Code: CodeMetricAttrsLimit, Message: "resource attributes cut to their bounds"})
	}
	for _, sm := range rm.ScopeMetrics().All() {
		for _, m := range sm.Metrics().All() {
			name := strings.TrimSpace(m.Name())
			if name == "" {
				c.reject("(unnamed)", CodeMetricNoName, "a metric without a name")
				continue
			}
			c.metric(model.MetricPoint{ProjectID: project, Name: name, Description: m.Description(), Unit: m.Unit(), Resource: resource}, m)
		}
	}
	return c.out, c.warns
}

// metricsConverter collects the rows and warnings of Metrics.
type metricsConverter struct {
	out   []model.MetricPoint
	warns []Warning
}

func (c *metricsConverter) reject(name, code, format string, args ...any) {
	c.warns = append(c.warns, Warning{Code: code, Message: name + ": " + fmt.Sprintf(format, args...), Rejected: true})
}

// metric adds the data points of metric m, each from base (the metric's
// common fields).
func (c *metricsConverter) metric(base model.MetricPoint, m pmetric.Metric) {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		s := m.Sum()
		for _, dp := range s.DataPoints().All() {
			p := base
			p.Kind, p.Monotonic = model.MetricSum, s.IsMonotonic()
			p.Cumulative = s.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
			p.Value = numberValue(dp)
			p.V, p.VMin, p.VMax = p.Value, p.Value, p.Value
			c.point(p, dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(), dp.Flags(), p.Value)
		}
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			p := base
			p.Kind = model.MetricGauge
			p.Value = numberValue(dp)
			p.V, p.VMin, p.VMax = p.Value, p.Value, p.Value
			c.point(p, dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(), dp.Flags(), p.Value)
		}
	case pmetric.MetricTypeHistogram:
		h := m.Histogram()
		for _, dp := range h.DataPoints().All() {
			p := base
			p.Kind = model.MetricHistogram
			p.Cumulative = h.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
			p.Count, p.Sum = dp.Count(), dp.Sum()
			p.Bounds, p.BucketCounts = dp.ExplicitBounds().AsRaw(), dp.BucketCounts().AsRaw()
			p.V, p.N = p.Sum, p.Count
			p.VMin, p.VMax = spread(p.Sum, p.Count, dp.HasMin(), dp.Min(), dp.HasMax(), dp.Max())
			c.point(p, dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(), dp.Flags(), append([]float64{p.Sum, p.VMin, p.VMax}, p.Bounds...)...)
		}
	case pmetric.MetricTypeExponentialHistogram:
		h := m.ExponentialHistogram()
		for _, dp := range h.DataPoints().All() {
			p := base
			p.Kind = model.MetricExponentialHistogram
			p.Cumulative = h.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
			p.Count, p.Sum = dp.Count(), dp.Sum()
			p.V, p.N = p.Sum, p.Count
			p.VMin, p.VMax = spread(p.Sum, p.Count, dp.HasMin(), dp.Min(), dp.HasMax(), dp.Max())
			c.point(p, dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(), dp.Flags(), p.Sum, p.VMin, p.VMax)
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			p := base
			p.Kind = model.MetricSummary
			p.Cumulative = true // OTLP summaries are cumulative
			p.Count, p.Sum = dp.Count(), dp.Sum()
			p.V, p.N = p.Sum, p.Count
			p.VMin, p.VMax = spread(p.Sum, p.Count, false, 0, false, 0)
			c.point(p, dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(), dp.Flags(), p.Sum)
		}
	default:
		c.reject(base.Name, CodeMetricNoValue, "a metric with no data")
	}
}

// point adds one data point's common fields, or rejects it.
func (c *metricsConverter) point(p model.MetricPoint, attrs pcommon.Map, start, ts pcommon.Timestamp, flags pmetric.DataPointFlags, values ...float64) {
	if flags.NoRecordedValue() {
		c.reject(p.Name, CodeMetricNoValue, "a data point flagged no recorded value")
		return
	}
	if ts == 0 || uint64(ts) > uint64(store.MaxTime.UnixNano()) {
		c.reject(p.Name, CodeMetricNoTime, "a data point without a storable time (%d)", uint64(ts))
		return
	}
	for _, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			c.reject(p.Name, CodeMetricNotFinite, "a data point whose value is not a finite number")
			return
		}
	}
	var trunc bool
	p.Attributes, trunc = flatAttrs(attrs)
	if trunc {
		c.warns = append(c.warns, Warning{Code: CodeMetricAttrsLimit, Message: p.Name + ": attributes cut to their bounds"})
	}
	p.Time = time.Unix(0, int64(ts)).UTC()
	if start != 0 && uint64(start) <= uint64(ts) {
		p.StartTime = time.Unix(0, int64(start)).UTC()
	}
	p.SeriesID = SeriesID(p)
	c.out = append(c.out, p)
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// spread is a distribution's smallest and largest observation: as sent,
// else the mean over the interval (0 without observations).
func spread(sum float64, count uint64, hasMin bool, minV float64, hasMax bool, maxV float64) (float64, float64) {
	mean := 0.0
	if count > 0 {
		mean = sum / float64(count)
	}
	if !hasMin {
		minV = mean
	}
	if !hasMax {
		maxV = mean
	}
	return minV, maxV
}

// flatAttrs renders attributes as text (strings as they are, other values
// as pdata renders them: numbers, booleans, JSON for lists and maps),
// within MaxMetricAttrs and MaxMetricAttrValueBytes; truncated says
// something was cut.
func flatAttrs(m pcommon.Map) (out map[string]string, truncated bool) {
	if m.Len() == 0 {
		return nil, false
	}
	keys := make([]string, 0, m.Len())
	for k := range m.All() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > MaxMetricAttrs {
		keys, truncated = keys[:MaxMetricAttrs], true
	}
	out = make(map[string]string, len(keys))
	for _, k := range keys {
		v, _ := m.Get(k)
		s := v.AsString()
		if len(s) > MaxMetricAttrValueBytes {
			s, truncated = strings.ToValidUTF8(s[:MaxMetricAttrValueBytes], ""), true
		}
		out[k] = s
	}
	return out, truncated
}

// SeriesID identifies a point's series: a digest of its metric name,
// kind and unit, its resource and its attributes (32 hex digits). The
// project is not part of it (it is a column of its own).
func SeriesID(p model.MetricPoint) string {
	h := sha256.New()
	write := func(s string) {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	write("weave/v1/metric-series")
	write(p.Name)
	write(p.Kind)
	write(p.Unit)
	for _, m := range []map[string]string{p.Resource, p.Attributes} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		write(fmt.Sprint(len(keys)))
		for _, k := range keys {
			write(k)
			write(m[k])
		}
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}
