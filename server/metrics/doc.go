// Package metrics is a tiny, dependency-free Prometheus registry: counters,
// gauges and histograms with label names fixed when they are registered,
// written in the Prometheus text exposition format (version 0.0.4) by
// [Registry.WritePrometheus] or served by [Registry.Handler].
//
// Every type is safe for concurrent use. Registering the same name twice
// with the same kind, help text, label names (and buckets) returns the
// metric already registered, so two components sharing a registry can both
// ask for it; a conflicting definition or an invalid name is a programming
// error and panics, like http.ServeMux.Handle does on a duplicate pattern.
//
// Label values are free text (escaped on output) but must come from a small,
// bounded set: each vector holds at most [MaxSeries] label combinations and
// folds any further one into a single series whose label values are all
// [OverflowValue], so a caller passing unbounded values cannot grow memory
// without limit.
package metrics
