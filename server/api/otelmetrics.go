package api

import (
	"context"
	"time"

	"github.com/weavetrace/weave/server/store"
)

// OTLP metrics (/genai/metrics/...): the data points senders export to
// /v1/metrics, read back per metric over time. The store keeps them only
// when it implements store.MetricStore; otherwise these endpoints answer
// 501 unimplemented.

// MetricsListRequest is the body of /genai/metrics/list.
type MetricsListRequest struct {
	projectPart
	rangePart
}

func (q *MetricsListRequest) validate() error { return q.rangePart.check() }

// MetricsList is the answer of /genai/metrics/list.
type MetricsList struct {
	Metrics []store.MetricInfo `json:"metrics"`
}

func (h *Handler) metricStore() (store.MetricStore, error) {
	ms, ok := h.s.Store.(store.MetricStore)
	if !ok {
		return nil, &Error{Code: CodeUnimplemented, Message: "this server's store does not keep OTLP metrics (the SQLite and ClickHouse stores do)"}
	}
	return ms, nil
}

func (h *Handler) metricsList(ctx context.Context, q *MetricsListRequest) (MetricsList, error) {
	ms, err := h.metricStore()
	if err != nil {
		return MetricsList{}, err
	}
	infos, err := ms.MetricNames(ctx, q.ProjectID, q.r)
	if err != nil {
		return MetricsList{}, err
	}
	return MetricsList{Metrics: nonNil(infos)}, nil
}

// MetricsQueryRequest is the body of /genai/metrics/query: one metric over
// time, in buckets of BucketSeconds (0: the server picks, as for
// /genai/agents/metrics), grouped by up to four attributes ("resource."
// before a resource attribute's key), filtered by attribute values.
type MetricsQueryRequest struct {
	projectPart
	Name          string               `json:"name"`
	BucketSeconds int64                `json:"bucket_seconds"`
	GroupBy       []string             `json:"group_by"`
	Filters       []store.MetricFilter `json:"filters"`
	Aggregation   string               `json:"aggregation"`
	Limit         int                  `json:"limit"`
	rangePart

	q store.PointQuery
}

func (q *MetricsQueryRequest) validate() error {
	if err := checkText("name", q.Name, true); err != nil {
		return err
	}
	if q.BucketSeconds < 0 || q.BucketSeconds > maxBucketSeconds {
		return invalid("bucket_seconds", "bucket_seconds must be between 1 and %d, or 0 to let the server choose; got %d",
			maxBucketSeconds, q.BucketSeconds)
	}
	if q.Limit < 0 || q.Limit > store.MaxSeriesLimit {
		return invalid("limit", "limit must be between 1 and %d, or 0 for %d; got %d", store.MaxSeriesLimit, store.DefaultSeriesLimit, q.Limit)
	}
	if err := q.rangePart.check(); err != nil {
		return err
	}
	q.q = store.PointQuery{ProjectID: q.ProjectID, Name: q.Name, Range: q.r, Bucket: time.Duration(q.BucketSeconds) * time.Second,
		GroupBy: q.GroupBy, Filters: q.Filters, Aggregation: q.Aggregation, Limit: q.Limit}
	return q.q.Validate() // ErrInvalid: a 400

}

func (h *Handler) metricsQuery(ctx context.Context, q *MetricsQueryRequest) (store.PointResult, error) {
	ms, err := h.metricStore()
	if err != nil {
		return store.PointResult{}, err
	}
	return store.QueryMetricPoints(ctx, ms, q.q)
}
