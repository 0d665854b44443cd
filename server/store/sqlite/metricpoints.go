package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

var _ store.MetricStore = (*Store)(nil)

const metricPointCols = "project_id, series_id, time_ns, name, kind, unit, description, monotonic, cumulative, start_ns, attrs, resource, value, count, sum, bounds, bucket_counts, v, n, v_min, v_max"

// WriteMetricPoints implements store.MetricStore.
func (s *Store) WriteMetricPoints(ctx context.Context, points []model.MetricPoint) error {
	if len(points) == 0 {
		return nil
	}
	rows := make([][]any, len(points))
	for i := range points {
		p := &points[i]
		if err := store.ValidateMetricPoint(p); err != nil {
			return err
		}
		attrs, _ := json.Marshal(orEmpty(p.Attributes))
		res, _ := json.Marshal(orEmpty(p.Resource))
		var bounds, buckets []byte
		if len(p.Bounds) > 0 || len(p.BucketCounts) > 0 {
			bounds, _ = json.Marshal(p.Bounds)
			buckets, _ = json.Marshal(p.BucketCounts)
		}
		var start int64
		if !p.StartTime.IsZero() {
			start = p.StartTime.UnixNano()
		}
		rows[i] = []any{p.ProjectID, p.SeriesID, p.Time.UnixNano(), p.Name, p.Kind, p.Unit, p.Description, p.Monotonic, p.Cumulative,
			start, string(attrs), string(res), p.Value, int64(min(p.Count, math.MaxInt64)), p.Sum, string(bounds), string(buckets),
			p.V, float64(p.N), p.VMin, p.VMax}
	}
	q := "INSERT OR REPLACE INTO metric_points (" + metricPointCols + ") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", 21), ", ") + ")"
	return s.inWriteTx(ctx, func(w *writeTx) error {
		for _, r := range rows {
			if _, err := w.exec(q, r...); err != nil {
				return fmt.Errorf("sqlite: write metric points: %w", err)
			}
		}
		return nil
	})
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// PreviousMetricPoints implements store.MetricStore.
func (s *Store) PreviousMetricPoints(ctx context.Context, projectID string, at []store.SeriesAt) (map[store.SeriesAt]model.MetricPoint, error) {
	if err := checks.Project(projectID); err != nil {
		return nil, err
	}
	out := make(map[store.SeriesAt]model.MetricPoint)
	for _, a := range at {
		row := s.r.QueryRowContext(ctx, "SELECT "+metricPointCols+" FROM metric_points WHERE project_id = ? AND series_id = ? AND time_ns < ? ORDER BY time_ns DESC LIMIT 1",
			projectID, a.SeriesID, store.ClampNanos(a.Time))
		p, err := scanMetricPoint(row)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: previous metric points: %w", err)
		}
		out[a] = p
	}
	return out, nil
}

func scanMetricPoint(row interface{ Scan(...any) error }) (model.MetricPoint, error) {
	var p model.MetricPoint
	var t, start, count int64
	var attrs, res, bounds, buckets string
	if err := row.Scan(&p.ProjectID, &p.SeriesID, &t, &p.Name, &p.Kind, &p.Unit, &p.Description, &p.Monotonic, &p.Cumulative,
		&start, &attrs, &res, &p.Value, &count, &p.Sum, &bounds, &buckets, &p.V, &p.N, &p.VMin, &p.VMax); err != nil {
		return p, err
	}
	p.Time = time.Unix(0, t).UTC()
	if start != 0 {
		p.StartTime = time.Unix(0, start).UTC()
	}
	p.Count = uint64(count)
	err := errors.Join(unmarshalIf(attrs, &p.Attributes), unmarshalIf(res, &p.Resource), unmarshalIf(bounds, &p.Bounds), unmarshalIf(buckets, &p.BucketCounts))
	return p, err
}

func unmarshalIf(s string, v any) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), v)
}

// attrExpr is the SQL reading a group-by or filter key from a row.
func attrExpr(key string) (string, string) {
	col := "attrs"
	if k, ok := strings.CutPrefix(key, store.ResourcePrefix); ok {
		col, key = "resource", k
	}
	// json_extract paths need the key quoted: keys hold dots.
	return "COALESCE(json_extract(" + col + ", ?), '')", `$."` + strings.ReplaceAll(key, `"`, `\"`) + `"`
}

// MetricBuckets implements store.MetricStore.
func (s *Store) MetricBuckets(ctx context.Context, q store.PointQuery, from, to, width int64) ([]store.PointRow, error) {
	sel := []string{"(time_ns - ?) / ? AS b"}
	args := []any{from, width}
	group := []string{"b"}
	for i, k := range q.GroupBy {
		expr, path := attrExpr(k)
		sel = append(sel, expr+fmt.Sprintf(" AS g%d", i))
		args = append(args, path)
		group = append(group, fmt.Sprintf("g%d", i))
	}
	where := []string{"project_id = ?", "name = ?", "time_ns >= ?", "time_ns < ?"}
	args = append(args, q.ProjectID, q.Name, from, to)
	for _, f := range q.Filters {
		expr, path := attrExpr(f.Key)
		where = append(where, expr+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.Values)), ", ")+")")
		args = append(args, path)
		for _, v := range f.Values {
			args = append(args, v)
		}
	}
	query := "SELECT " + strings.Join(sel, ", ") + ", COUNT(*), SUM(v), SUM(n), MIN(v_min), MAX(v_max) FROM metric_points WHERE " +
		strings.Join(where, " AND ") + " GROUP BY " + strings.Join(group, ", ")
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: metric buckets: %w", err)
	}
	defer rows.Close()
	var out []store.PointRow
	for rows.Next() {
		var b int64
		r := store.PointRow{Group: make([]string, len(q.GroupBy))}
		dest := []any{&b}
		for i := range r.Group {
			dest = append(dest, &r.Group[i])
		}
		dest = append(dest, &r.Points, &r.V, &r.N, &r.VMin, &r.VMax)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("sqlite: metric buckets: %w", err)
		}
		r.Start = time.Unix(0, from+b*width).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: metric buckets: %w", err)
	}
	return out, nil
}

// MetricNames implements store.MetricStore.
func (s *Store) MetricNames(ctx context.Context, projectID string, r store.TimeRange) ([]store.MetricInfo, error) {
	if err := checks.Project(projectID); err != nil {
		return nil, err
	}
	lo, hi := store.NanosRange(r)
	rows, err := s.r.QueryContext(ctx, `SELECT m.name, COUNT(*), COUNT(DISTINCT m.series_id), MIN(m.time_ns), MAX(m.time_ns),
		(SELECT kind || char(0) || unit || char(0) || description || char(0) || monotonic FROM metric_points l
		 WHERE l.project_id = m.project_id AND l.name = m.name ORDER BY l.time_ns DESC LIMIT 1)
		FROM metric_points m WHERE m.project_id = ? AND m.time_ns >= ? AND m.time_ns < ? GROUP BY m.name ORDER BY m.name`, projectID, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("sqlite: metric names: %w", err)
	}
	defer rows.Close()
	var out []store.MetricInfo
	for rows.Next() {
		var m store.MetricInfo
		var first, last int64
		var latest string
		if err := rows.Scan(&m.Name, &m.Points, &m.Series, &first, &last, &latest); err != nil {
			return nil, fmt.Errorf("sqlite: metric names: %w", err)
		}
		parts := strings.SplitN(latest, "\x00", 4)
		if len(parts) == 4 {
			m.Kind, m.Unit, m.Description, m.Monotonic = parts[0], parts[1], parts[2], parts[3] == "1"
		}
		m.First, m.Last = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}
