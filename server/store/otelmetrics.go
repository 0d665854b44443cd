package store

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/weavetrace/weave/server/model"
)

// MetricStore keeps OTLP metric data points (model.MetricPoint). It is an
// optional part of a backend (the server type-asserts it); both backends
// implement it. The general rules of the package doc apply.
type MetricStore interface {
	// WriteMetricPoints upserts points by (project, series, time): a
	// point sent again replaces the stored one, so a retried request is
	// not counted twice. It returns nil only once the points are durable.
	// A point failing ValidateMetricPoint fails the call (ErrInvalid)
	// before anything is written.
	WriteMetricPoints(ctx context.Context, points []model.MetricPoint) error
	// PreviousMetricPoints returns, for each series and time asked, the
	// stored point of that series with the latest time before it (the
	// point a cumulative point is the continuation of); series without
	// one are absent.
	PreviousMetricPoints(ctx context.Context, projectID string, at []SeriesAt) (map[SeriesAt]model.MetricPoint, error)
	// MetricBuckets aggregates the points of q.Name in [from, to) (Unix
	// ns, whole buckets of width ns, from MetricsWindow) per bucket and
	// per the values of q.GroupBy, keeping those that match q.Filters.
	// Rows come in no particular order. q has passed PointQuery.Validate.
	MetricBuckets(ctx context.Context, q PointQuery, from, to, width int64) ([]PointRow, error)
	// MetricNames lists the project's metrics with points in r (open ends
	// unbounded), sorted by name.
	MetricNames(ctx context.Context, projectID string, r TimeRange) ([]MetricInfo, error)
}

// SeriesAt is a series and a time (PreviousMetricPoints).
type SeriesAt struct {
	SeriesID string
	Time     time.Time
}

// MetricInfo describes one metric of a project. Kind, Unit and
// Description are those of its latest point.
type MetricInfo struct {
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	Unit        string    `json:"unit"`
	Description string    `json:"description"`
	Monotonic   bool      `json:"monotonic"`
	Points      int64     `json:"points"`
	Series      int64     `json:"series"`
	First       time.Time `json:"first"`
	Last        time.Time `json:"last"`
}

// PointRow is what a backend aggregates per bucket and group
// (MetricBuckets): Group holds the values of PointQuery.GroupBy in order
// ("" where a point lacks the attribute).
type PointRow struct {
	Start  time.Time
	Group  []string
	Points int64
	V      float64 // Σ V
	N      float64 // Σ N
	VMin   float64 // min VMin
	VMax   float64 // max VMax
}

// Aggregations of a PointQuery.
const (
	AggSum   = "sum"
	AggAvg   = "avg"
	AggMin   = "min"
	AggMax   = "max"
	AggCount = "count"
)

// Bounds of a PointQuery.
const (
	MaxMetricGroupBy = 4
	MaxMetricFilters = 16
	// DefaultSeriesLimit and MaxSeriesLimit bound the series an answer
	// holds (the largest totals first).
	DefaultSeriesLimit = 100
	MaxSeriesLimit     = 1000
)

// ResourcePrefix in a GroupBy or filter key names a resource attribute
// (resource.service.version); other keys are point attributes.
const ResourcePrefix = "resource."

// MetricFilter keeps the points whose attribute Key (ResourcePrefix for
// resource attributes) has one of Values ("" matches a point without it).
type MetricFilter struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
}

// PointQuery asks for one metric over time. Buckets start at multiples
// of Bucket since the Unix epoch (0: AutoBucket over Range, over the
// metric's points for an open Range). Aggregation is how a bucket's
// points combine: sum (the default for sums, histograms and summaries:
// what they add up to over the bucket, whatever their temporality), avg
// (the default for gauges; for histograms and summaries the mean
// observation), min, max, or count (points; observations for histograms
// and summaries).
type PointQuery struct {
	ProjectID   string
	Name        string
	Range       TimeRange
	Bucket      time.Duration
	GroupBy     []string
	Filters     []MetricFilter
	Aggregation string
	Limit       int // series; 0 → DefaultSeriesLimit, capped at MaxSeriesLimit
}

var attrKeyPattern = regexp.MustCompile(`^[\x21-\x7e]{1,256}$`)

// Validate checks q; errors wrap ErrInvalid.
func (q *PointQuery) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case strings.TrimSpace(q.ProjectID) == "":
		return bad("project_id is required")
	case strings.TrimSpace(q.Name) == "" || len(q.Name) > 255:
		return bad("a metric name (1 to 255 bytes) is required")
	case q.Bucket < 0 || q.Bucket%time.Second != 0:
		return bad("bucket %s is not a positive whole number of seconds", q.Bucket)
	case len(q.GroupBy) > MaxMetricGroupBy:
		return bad("group by at most %d keys, got %d", MaxMetricGroupBy, len(q.GroupBy))
	case len(q.Filters) > MaxMetricFilters:
		return bad("at most %d filters, got %d", MaxMetricFilters, len(q.Filters))
	case q.Limit < 0:
		return bad("negative limit")
	case !q.Range.From.IsZero() && !q.Range.To.IsZero() && !q.Range.From.Before(q.Range.To):
		return bad("time range from is not before to")
	}
	for i, k := range q.GroupBy {
		if !attrKeyPattern.MatchString(k) || strings.TrimPrefix(k, ResourcePrefix) == "" {
			return bad("group_by %d: %q is not an attribute key", i, k)
		}
		if slices.Contains(q.GroupBy[:i], k) {
			return bad("group_by %d: %q twice", i, k)
		}
	}
	for i, f := range q.Filters {
		if !attrKeyPattern.MatchString(f.Key) || strings.TrimPrefix(f.Key, ResourcePrefix) == "" {
			return bad("filter %d: %q is not an attribute key", i, f.Key)
		}
		if len(f.Values) == 0 || len(f.Values) > 100 {
			return bad("filter %d: give 1 to 100 values", i)
		}
	}
	switch q.Aggregation {
	case "", AggSum, AggAvg, AggMin, AggMax, AggCount:
	default:
		return bad("aggregation %q: want sum, avg, min, max or count", q.Aggregation)
	}
	return nil
}

// PointSeries is one group's values over time. Group maps each group-by
// key to its value; Total is the aggregation over the whole range.
// Buckets without points are absent.
type PointSeries struct {
	Group   map[string]string `json:"group"`
	Total   float64           `json:"total"`
	Points  int64             `json:"points"`
	Buckets []PointBucket     `json:"buckets"`
}

// PointBucket is one bucket of a series.
type PointBucket struct {
	Start  time.Time `json:"start"`
	Value  float64   `json:"value"`
	Points int64     `json:"points"`
}

// PointResult is the answer to a PointQuery.
type PointResult struct {
	Metric        MetricInfo    `json:"metric"`
	Aggregation   string        `json:"aggregation"`
	BucketSeconds int64         `json:"bucket_seconds"`
	From          time.Time     `json:"from"`
	To            time.Time     `json:"to"`
	Series        []PointSeries `json:"series"`
	TotalSeries   int           `json:"total_series"`
}

// QueryMetricPoints answers q from ms: it validates q, finds the metric
// (an unknown one is ErrNotFound), resolves the window and bucket width
// as AgentMetrics does (MetricsWindow), and folds the backend's rows into
// series. Every backend answers through it, so the arithmetic is the
// same.
func QueryMetricPoints(ctx context.Context, ms MetricStore, q PointQuery) (PointResult, error) {
	if err := q.Validate(); err != nil {
		return PointResult{}, err
	}
	infos, err := ms.MetricNames(ctx, q.ProjectID, TimeRange{})
	if err != nil {
		return PointResult{}, err
	}
	i := slices.IndexFunc(infos, func(m MetricInfo) bool { return m.Name == q.Name })
	if i < 0 {
		return PointResult{}, fmt.Errorf("%w: no metric %q in project %q", ErrNotFound, q.Name, q.ProjectID)
	}
	info := infos[i]
	agg := q.Aggregation
	if agg == "" {
		agg = AggSum
		if info.Kind == model.MetricGauge {
			agg = AggAvg
		}
	}
	res := PointResult{Metric: info, Aggregation: agg, Series: []PointSeries{}}
	from, to, width, ok, err := MetricsWindow(MetricsQuery{Range: q.Range, Bucket: q.Bucket},
		ClampNanos(info.First), ClampNanos(info.Last)+1)
	if err != nil || !ok {
		return res, err
	}
	res.BucketSeconds = width / int64(time.Second)
	res.From, res.To = time.Unix(0, from).UTC(), time.Unix(0, to).UTC()
	rows, err := ms.MetricBuckets(ctx, q, from, to, width)
	if err != nil {
		return PointResult{}, err
	}
	res.Series, res.TotalSeries = foldSeries(q, info.Kind, agg, rows)
	return res, nil
}

// observations reports whether a kind's points carry observation counts.
func observations(kind string) bool {
	return kind == model.MetricHistogram || kind == model.MetricExponentialHistogram || kind == model.MetricSummary
}

// acc accumulates rows (a bucket's, or a series').
type acc struct {
	points     int64
	v, n       float64
	vmin, vmax float64
}

func (a *acc) add(r PointRow) {
	if a.points == 0 {
		a.vmin, a.vmax = r.VMin, r.VMax
	}
	a.points += r.Points
	a.v += r.V
	a.n += r.N
	a.vmin = math.Min(a.vmin, r.VMin)
	a.vmax = math.Max(a.vmax, r.VMax)
}

// value is the aggregation of what a accumulated, within ±MaxFloat64 (a
// sum of finite values can overflow; JSON has no infinities).
func (a *acc) value(kind, agg string) float64 {
	v := a.raw(kind, agg)
	if math.IsNaN(v) {
		return 0
	}
	return max(-math.MaxFloat64, min(math.MaxFloat64, v))
}

func (a *acc) raw(kind, agg string) float64 {
	obs := observations(kind)
	switch agg {
	case AggAvg:
		d := float64(a.points)
		if obs {
			d = a.n
		}
		if d == 0 {
			return 0
		}
		return a.v / d
	case AggMin:
		return a.vmin
	case AggMax:
		return a.vmax
	case AggCount:
		if obs {
			return a.n
		}
		return float64(a.points)
	}
	return a.v
}

func foldSeries(q PointQuery, kind, agg string, rows []PointRow) ([]PointSeries, int) {
	type series struct {
		group   []string
		total   acc
		buckets map[int64]*acc
	}
	byGroup := map[string]*series{}
	for _, r := range rows {
		key := strings.Join(r.Group, "\x00")
		s := byGroup[key]
		if s == nil {
			s = &series{group: r.Group, buckets: map[int64]*acc{}}
			byGroup[key] = s
		}
		s.total.add(r)
		t := r.Start.UnixNano()
		b := s.buckets[t]
		if b == nil {
			b = &acc{}
			s.buckets[t] = b
		}
		b.add(r)
	}
	out := make([]PointSeries, 0, len(byGroup))
	for _, s := range byGroup {
		ps := PointSeries{Group: map[string]string{}, Total: s.total.value(kind, agg), Points: s.total.points}
		for i, k := range q.GroupBy {
			if i < len(s.group) {
				ps.Group[k] = s.group[i]
			}
		}
		starts := make([]int64, 0, len(s.buckets))
		for t := range s.buckets {
			starts = append(starts, t)
		}
		slices.Sort(starts)
		for _, t := range starts {
			b := s.buckets[t]
			ps.Buckets = append(ps.Buckets, PointBucket{Start: time.Unix(0, t).UTC(), Value: b.value(kind, agg), Points: b.points})
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		return groupKey(q.GroupBy, out[i].Group) < groupKey(q.GroupBy, out[j].Group)
	})
	total := len(out)
	limit := q.Limit
	if limit == 0 {
		limit = DefaultSeriesLimit
	}
	limit = min(limit, MaxSeriesLimit)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, total
}

func groupKey(keys []string, g map[string]string) string {
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(g[k])
		b.WriteByte(0)
	}
	return b.String()
}

// ValidateMetricPoint checks what a backend relies on: project, name,
// kind, a series id of 32 hex digits, a time within [MinTime, MaxTime],
// finite values. Errors wrap ErrInvalid.
func ValidateMetricPoint(p *model.MetricPoint) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: metric point %q: %s", ErrInvalid, p.Name, fmt.Sprintf(format, args...))
	}
	switch {
	case strings.TrimSpace(p.ProjectID) == "":
		return bad("no project")
	case strings.TrimSpace(p.Name) == "" || len(p.Name) > 255:
		return bad("no name, or longer than 255 bytes")
	case !slices.Contains([]string{model.MetricSum, model.MetricGauge, model.MetricHistogram, model.MetricExponentialHistogram, model.MetricSummary}, p.Kind):
		return bad("unknown kind %q", p.Kind)
	case len(p.SeriesID) != 32 || strings.Trim(p.SeriesID, "0123456789abcdef") != "":
		return bad("series id %q is not 32 lowercase hex digits", p.SeriesID)
	case p.Time.IsZero() || p.Time.Before(MinTime) || p.Time.After(MaxTime):
		return bad("time %v outside [%v, %v]", p.Time, MinTime, MaxTime)
	case !p.StartTime.IsZero() && (p.StartTime.Before(MinTime) || p.StartTime.After(p.Time)):
		return bad("start time %v not in [%v, time]", p.StartTime, MinTime)
	}
	for _, f := range append([]float64{p.Value, p.Sum, p.V, p.VMin, p.VMax}, p.Bounds...) {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return bad("a value is not a finite number")
		}
	}
	return nil
}
