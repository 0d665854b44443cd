package ingest

import "github.com/weavetrace/weave/server/metrics"

// ingestMetrics are the ingest series on the shared registry.
type ingestMetrics struct {
	requests       *metrics.CounterVec   // signal, code
	grpcRequests   *metrics.CounterVec   // signal, gRPC code
	batchSeconds   *metrics.HistogramVec // signal
	spansReceived  *metrics.Counter
	spansStored    *metrics.Counter
	spansRejected  *metrics.CounterVec // reason
	spanWarnings   *metrics.CounterVec // code
	logsReceived   *metrics.Counter
	logsAttached   *metrics.Counter
	logsParked     *metrics.Counter
	logsRejected   *metrics.CounterVec // reason
	pointsStored   *metrics.Counter
	pointsRejected *metrics.CounterVec // reason
	inFlightBytes  *metrics.Gauge
	throttled      *metrics.Counter
}

func newIngestMetrics(r *metrics.Registry) *ingestMetrics {
	return &ingestMetrics{
		requests: r.NewCounterVec("weave_ingest_requests_total",
			"OTLP export requests by signal and HTTP status code.", "signal", "code"),
		grpcRequests: r.NewCounterVec("weave_ingest_grpc_requests_total",
			"OTLP/gRPC export requests by signal and gRPC status code.", "signal", "code"),
		batchSeconds: r.NewHistogramVec("weave_ingest_batch_duration_seconds",
			"Time to handle one OTLP export request, from the first byte read to the answer.",
			metrics.DefaultLatencyBuckets, "signal"),
		spansReceived: r.NewCounter("weave_ingest_spans_received_total",
			"Spans received in decodable trace requests."),
		spansStored: r.NewCounter("weave_ingest_spans_stored_total",
			"Spans written to the store (including spans written again with late log events)."),
		spansRejected: r.NewCounterVec("weave_ingest_spans_rejected_total",
			"Spans not stored, by reason.", "reason"),
		spanWarnings: r.NewCounterVec("weave_ingest_span_warnings_total",
			"Stored spans that lost some data in normalization, by warning code.", "code"),
		logsReceived: r.NewCounter("weave_ingest_log_records_received_total",
			"Log records received in decodable log requests."),
		logsAttached: r.NewCounter("weave_ingest_log_records_attached_total",
			"GenAI event records applied to a stored span."),
		logsParked: r.NewCounter("weave_ingest_log_records_parked_total",
			"GenAI event records parked until their span arrives."),
		logsRejected: r.NewCounterVec("weave_ingest_log_records_rejected_total",
			"Log records not kept, by reason.", "reason"),
		pointsStored: r.NewCounter("weave_ingest_metric_points_stored_total",
			"OTLP metric data points written to the store."),
		pointsRejected: r.NewCounterVec("weave_ingest_metric_points_rejected_total",
			"OTLP metric data points not stored, by reason (a metric rejected whole counts once).", "reason"),
		inFlightBytes: r.NewGauge("weave_ingest_in_flight_bytes",
			"Memory the requests being handled hold in the ingest budget (body buffers plus a chunk's working set each, estimated)."),
		throttled: r.NewCounter("weave_ingest_requests_throttled_total",
			"Requests answered 503 because the ingest memory budget stayed full for the admission wait."),
	}
}
