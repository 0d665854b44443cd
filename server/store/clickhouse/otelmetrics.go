package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

var _ store.MetricStore = (*Store)(nil)

var metricPointCols = []string{"project_id", "name", "series_id", "time_ns", "kind", "unit", "description", "monotonic", "cumulative",
	"start_ns", "attrs", "resource", "value", "count", "sum", "bounds", "bucket_counts", "v", "n", "v_min", "v_max", "version"}

// WriteMetricPoints implements store.MetricStore: one insert; a point
// written again replaces the stored one (ReplacingMergeTree by version,
// read with FINAL).
func (s *Store) WriteMetricPoints(ctx context.Context, points []model.MetricPoint) error {
	rows := make([][]any, 0, len(points))
	for i := range points {
		p := &points[i]
		if err := store.ValidateMetricPoint(p); err != nil {
			return err
		}
		var start int64
		if !p.StartTime.IsZero() {
			start = p.StartTime.UnixNano()
		}
		rows = append(rows, []any{p.ProjectID, p.Name, p.SeriesID, p.Time.UnixNano(), p.Kind, p.Unit, p.Description, b2u(p.Monotonic), b2u(p.Cumulative),
			start, orEmptyMap(p.Attributes), orEmptyMap(p.Resource), p.Value, p.Count, p.Sum, orEmptyF(p.Bounds), orEmptyU(p.BucketCounts),
			p.V, float64(p.N), p.VMin, p.VMax, s.clock.next()})
	}
	if err := s.insert(ctx, "metric_points", metricPointCols, rows); err != nil {
		return fmt.Errorf("clickhouse: write metric points: %w", err)
	}
	return nil
}

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func orEmptyF(v []float64) []float64 {
	if v == nil {
		return []float64{}
	}
	return v
}

func orEmptyU(v []uint64) []uint64 {
	if v == nil {
		return []uint64{}
	}
	return v
}

// PreviousMetricPoints implements store.MetricStore.
func (s *Store) PreviousMetricPoints(ctx context.Context, projectID string, at []store.SeriesAt) (map[store.SeriesAt]model.MetricPoint, error) {
	if err := checks.Project(projectID); err != nil {
		return nil, err
	}
	out := make(map[store.SeriesAt]model.MetricPoint)
	for _, a := range at {
		var p params
		q := "SELECT " + strings.Join(metricPointCols[:len(metricPointCols)-1], ", ") + " FROM " + s.l.table("metric_points") +
			" FINAL WHERE project_id = " + p.add("String", projectID) + " AND series_id = " + p.add("String", a.SeriesID) +
			" AND time_ns < " + p.add("Int64", store.ClampNanos(a.Time)) + " ORDER BY time_ns DESC LIMIT 1"
		err := s.scanAll(ctx, "previous metric points", q, p.list, func(r driver.Rows) error {
			mp, err := scanMetricPoint(r)
			out[a] = mp
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func scanMetricPoint(r driver.Rows) (model.MetricPoint, error) {
	var p model.MetricPoint
	var t, start int64
	var mono, cum uint8
	var n float64
	err := r.Scan(&p.ProjectID, &p.Name, &p.SeriesID, &t, &p.Kind, &p.Unit, &p.Description, &mono, &cum, &start,
		&p.Attributes, &p.Resource, &p.Value, &p.Count, &p.Sum, &p.Bounds, &p.BucketCounts, &p.V, &n, &p.VMin, &p.VMax)
	p.N = uint64(n)
	p.Time = time.Unix(0, t).UTC()
	if start != 0 {
		p.StartTime = time.Unix(0, start).UTC()
	}
	p.Monotonic, p.Cumulative = mono == 1, cum == 1
	if len(p.Bounds) == 0 {
		p.Bounds = nil
	}
	if len(p.BucketCounts) == 0 {
		p.BucketCounts = nil
	}
	if len(p.Attributes) == 0 {
		p.Attributes = nil
	}
	if len(p.Resource) == 0 {
		p.Resource = nil
	}
	return p, err
}

// attrExpr reads a group-by or filter key from a row ("" without it).
func attrExpr(p *params, key string) string {
	col := "attrs"
	if k, ok := strings.CutPrefix(key, store.ResourcePrefix); ok {
		col, key = "resource", k
	}
	return col + "[" + p.add("String", key) + "]"
}

// MetricBuckets implements store.MetricStore.
func (s *Store) MetricBuckets(ctx context.Context, q store.PointQuery, from, to, width int64) ([]store.PointRow, error) {
	var p params
	fromP, widthP := p.add("Int64", from), p.add("Int64", width)
	sel := []string{"intDiv(time_ns - " + fromP + ", " + widthP + ") AS b"}
	group := []string{"b"}
	for i, k := range q.GroupBy {
		sel = append(sel, attrExpr(&p, k)+fmt.Sprintf(" AS g%d", i))
		group = append(group, fmt.Sprintf("g%d", i))
	}
	where := []string{"project_id = " + p.add("String", q.ProjectID), "name = " + p.add("String", q.Name),
		"time_ns >= " + p.add("Int64", from), "time_ns < " + p.add("Int64", to)}
	for _, f := range q.Filters {
		where = append(where, attrExpr(&p, f.Key)+" IN "+p.add("Array(String)", f.Values))
	}
	sql := "SELECT " + strings.Join(sel, ", ") + ", count(), sum(v), sum(n), min(v_min), max(v_max) FROM " + s.l.table("metric_points") +
		" FINAL WHERE " + strings.Join(where, " AND ") + " GROUP BY " + strings.Join(group, ", ")
	var out []store.PointRow
	err := s.scanAll(ctx, "metric buckets", sql, p.list, func(r driver.Rows) error {
		var b int64
		var n uint64
		row := store.PointRow{Group: make([]string, len(q.GroupBy))}
		dest := []any{&b}
		for i := range row.Group {
			dest = append(dest, &row.Group[i])
		}
		dest = append(dest, &n, &row.V, &row.N, &row.VMin, &row.VMax)
		if err := r.Scan(dest...); err != nil {
			return err
		}
		row.Points = int64(n)
		row.Start = time.Unix(0, from+b*width).UTC()
		out = append(out, row)
		return nil
	})
	return out, err
}

// MetricNames implements store.MetricStore.
func (s *Store) MetricNames(ctx context.Context, projectID string, r store.TimeRange) ([]store.MetricInfo, error) {
	if err := checks.Project(projectID); err != nil {
		return nil, err
	}
	lo, hi := store.NanosRange(r)
	var p params
	sql := "SELECT name, count(), uniqExact(series_id), min(time_ns), max(time_ns), argMax(kind, time_ns), argMax(unit, time_ns), " +
		"argMax(description, time_ns), argMax(monotonic, time_ns) FROM " + s.l.table("metric_points") + " FINAL WHERE project_id = " +
		p.add("String", projectID) + " AND time_ns >= " + p.add("Int64", lo) + " AND time_ns < " + p.add("Int64", hi) +
		" GROUP BY name ORDER BY name"
	var out []store.MetricInfo
	err := s.scanAll(ctx, "metric names", sql, p.list, func(rows driver.Rows) error {
		var m store.MetricInfo
		var points, series uint64
		var first, last int64
		var mono uint8
		if err := rows.Scan(&m.Name, &points, &series, &first, &last, &m.Kind, &m.Unit, &m.Description, &mono); err != nil {
			return err
		}
		m.Points, m.Series, m.Monotonic = int64(points), int64(series), mono == 1
		m.First, m.Last = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
		out = append(out, m)
		return nil
	})
	return out, err
}

// pruneMetricPoints deletes the metric points before cut.
func (s *Store) pruneMetricPoints(ctx context.Context, cut int64) error {
	return s.deleteRows(ctx, "metric_points", "time_ns < {cut:Int64}", named("cut", cut))
}
