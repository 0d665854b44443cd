package normalize

import (
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// BenchmarkNormalize normalizes the whole corpus (every library, every
// case) per iteration and reports spans per second.
func BenchmarkNormalize(b *testing.B) {
	var all []ptrace.ResourceSpans
	spans := 0
	for _, c := range corpusCases(b) {
		td := readTraces(b, filepath.Join(c.dir, c.name+".pb"))
		for _, rs := range td.ResourceSpans().All() {
			all = append(all, rs)
		}
		spans += td.SpanCount()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, rs := range all {
			Normalize(rs, Options{DefaultProject: testProject})
		}
	}
	b.ReportMetric(float64(spans*b.N)/b.Elapsed().Seconds(), "spans/s")
}
