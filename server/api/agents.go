package api

import (
	"context"
	"time"

	"github.com/weavetrace/weave/server/store"
)

// AgentsQueryRequest is the body of /genai/agents/query.
type AgentsQueryRequest struct {
	projectPart
	Filters []store.Filter `json:"filters"` // on score summaries: score.<name>
	Sort    []store.Sort   `json:"sort"`
	rangePart
	pagePart
}

func (q *AgentsQueryRequest) validate() error {
	if err := checkScoreFilters(q.Filters); err != nil {
		return err
	}
	if err := checkSorts(q.Sort, agentSortColumns); err != nil {
		return err
	}
	if err := q.rangePart.check(); err != nil {
		return err
	}
	return q.pagePart.check(store.DefaultLimit)
}

// AgentsPage is the answer of /genai/agents/query.
type AgentsPage struct {
	Agents []store.AgentSummary `json:"agents"`
	Total  int64                `json:"total"`
	Limit  int                  `json:"limit"`
	Offset int                  `json:"offset"`
}

func (h *Handler) agentsQuery(ctx context.Context, q *AgentsQueryRequest) (AgentsPage, error) {
	agents, total, err := h.s.Store.QueryAgents(ctx, store.AgentQuery{
		ProjectID:    q.ProjectID,
		Range:        q.r,
		ScoreFilters: q.Filters,
		Sort:         q.Sort,
		Limit:        q.Limit,
		Offset:       q.Offset,
	})
	if err != nil {
		return AgentsPage{}, err
	}
	return AgentsPage{Agents: nonNil(agents), Total: total, Limit: q.Limit, Offset: q.Offset}, nil
}

// AgentVersionsRequest is the body of /genai/agents/versions.
type AgentVersionsRequest struct {
	projectPart
	AgentName string `json:"agent_name"`
}

func (q *AgentVersionsRequest) validate() error {
	return checkText("agent_name", q.AgentName, true)
}

// AgentVersions is the answer of /genai/agents/versions.
type AgentVersions struct {
	AgentName string                      `json:"agent_name"`
	Versions  []store.AgentVersionSummary `json:"versions"`
}

func (h *Handler) agentVersions(ctx context.Context, q *AgentVersionsRequest) (AgentVersions, error) {
	vs, err := h.s.Store.AgentVersions(ctx, q.ProjectID, q.AgentName)
	if err != nil {
		return AgentVersions{}, err
	}
	return AgentVersions{AgentName: q.AgentName, Versions: nonNil(vs)}, nil
}

// AgentMetricsRequest is the body of /genai/agents/metrics. BucketSeconds
// 0 lets the server pick a width giving at most about 60 buckets (1m, 5m,
// 15m, 1h, 3h, 6h, 12h, 1d, 7d, then whole weeks: any range fits); with
// both from and to set, the answer says which.
type AgentMetricsRequest struct {
	projectPart
	AgentName     string `json:"agent_name"`
	BucketSeconds int64  `json:"bucket_seconds"`
	rangePart
}

// maxBucketSeconds is a year: wider buckets are not a time series.
const maxBucketSeconds = 366 * 24 * 3600

func (q *AgentMetricsRequest) validate() error {
	if err := checkText("agent_name", q.AgentName, false); err != nil {
		return err
	}
	if q.BucketSeconds < 0 || q.BucketSeconds > maxBucketSeconds {
		return invalid("bucket_seconds", "bucket_seconds must be between 1 and %d, or 0 to let the server choose; got %d",
			maxBucketSeconds, q.BucketSeconds)
	}
	if err := q.rangePart.check(); err != nil {
		return err
	}
	if q.BucketSeconds > 0 && !q.r.From.IsZero() && !q.r.To.IsZero() {
		// In uint64 nanoseconds: a window may be longer than a
		// time.Duration holds.
		n := (uint64(store.ClampNanos(q.r.To)) - uint64(store.ClampNanos(q.r.From))) / uint64(time.Duration(q.BucketSeconds)*time.Second)
		if n > store.MaxLimit {
			return invalid("bucket_seconds", "%d-second buckets over that range make %d buckets, more than %d; use wider buckets",
				q.BucketSeconds, n, store.MaxLimit)
		}
	}
	return nil
}

// AgentMetrics is the answer of /genai/agents/metrics. BucketSeconds is 0
// when the store chose the width over an open range.
type AgentMetrics struct {
	AgentName     string               `json:"agent_name,omitempty"`
	BucketSeconds int64                `json:"bucket_seconds"`
	Buckets       []store.MetricBucket `json:"buckets"`
}

func (h *Handler) agentMetrics(ctx context.Context, q *AgentMetricsRequest) (AgentMetrics, error) {
	width := q.BucketSeconds
	if width == 0 && !q.r.From.IsZero() && !q.r.To.IsZero() {
		// The width the store will pick, so that the answer can say it.
		width = int64(store.AutoBucket(store.ClampNanos(q.r.From), store.ClampNanos(q.r.To)) / time.Second)
	}
	bs, err := h.s.Store.AgentMetrics(ctx, store.MetricsQuery{
		ProjectID: q.ProjectID,
		AgentName: q.AgentName,
		Range:     q.r,
		Bucket:    time.Duration(width) * time.Second,
	})
	if err != nil {
		return AgentMetrics{}, err
	}
	return AgentMetrics{AgentName: q.AgentName, BucketSeconds: width, Buckets: nonNil(bs)}, nil
}
