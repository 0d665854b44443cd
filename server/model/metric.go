package model

import "time"

// Metric kinds (the OTLP data types).
const (
	MetricSum                  = "sum"
	MetricGauge                = "gauge"
	MetricHistogram            = "histogram"
	MetricExponentialHistogram = "exponential_histogram"
	MetricSummary              = "summary"
)

// MetricPoint is the canonical row of one OTLP metric data point.
//
// A series is one metric name and kind with one set of resource and
// point attributes (SeriesID, a digest of them). V is what the point
// adds to a time bucket, so that a query sums V whatever the temporality
// the producer chose: a sum's increase over its interval (the value as
// sent for delta temporality; for cumulative temporality the difference
// with the series' previous point, the whole value after a reset), a
// gauge's value, the sum of a histogram's or summary's observations over
// its interval (a cumulative one's difference likewise). N is the
// number of observations over the interval for histograms and summaries
// (0 for sums and gauges). VMin and VMax are the smallest and largest
// observation where the producer sent them (histograms), else V.
type MetricPoint struct {
	ProjectID   string `json:"project_id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Unit        string `json:"unit,omitempty"`
	Kind        string `json:"kind"`
	// Monotonic: a sum that only increases (a counter).
	Monotonic bool `json:"monotonic,omitempty"`
	// Cumulative: the producer sent cumulative temporality (V was
	// derived from consecutive points).
	Cumulative bool              `json:"cumulative,omitempty"`
	SeriesID   string            `json:"series_id"`
	Attributes map[string]string `json:"attributes"`
	Resource   map[string]string `json:"resource"`
	StartTime  time.Time         `json:"start_time"` // zero when not sent (gauges)
	Time       time.Time         `json:"time"`

	// As sent: the value of a sum or gauge; the count and sum of a
	// histogram or summary; a histogram's explicit bounds and bucket
	// counts.
	Value        float64   `json:"value"`
	Count        uint64    `json:"count,omitempty"`
	Sum          float64   `json:"sum,omitempty"`
	Bounds       []float64 `json:"bounds,omitempty"`
	BucketCounts []uint64  `json:"bucket_counts,omitempty"`

	// What the point adds (see above).
	V    float64 `json:"v"`
	N    uint64  `json:"n"`
	VMin float64 `json:"v_min"`
	VMax float64 `json:"v_max"`
}
