package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchQueries are the searches the read benchmarks time: words of the
// workload's vocabulary (common and less so), a phrase, a word split by
// punctuation, and a word no body has.
func BenchQueries() []string {
	return []string{"goroutine deadline", `"retry timeout"`, "migration rollback commit", "module.go", "mutex", "xylophone"}
}

// Measure runs fn (with the run's index) up to 60 times, stopping after
// 20 seconds once it has run 5 times, and prints the p50 and p95 latency
// against a p50 goal. It fails t on an error.
func Measure(t testing.TB, name string, goal time.Duration, fn func(i int) error) time.Duration {
	t.Helper()
	const maxRuns, minRuns, budget = 60, 5, 20 * time.Second
	var ds []time.Duration
	start := time.Now()
	for i := 0; i < maxRuns && (i < minRuns || time.Since(start) < budget); i++ {
		t0 := time.Now()
		if err := fn(i); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	p50, p95 := ds[len(ds)/2], ds[len(ds)*95/100]
	verdict := "ok"
	if p50 > goal {
		verdict = "OVER GOAL"
	}
	fmt.Printf("%-42s p50 %9s  p95 %9s  (%2d runs; goal p50 ≤ %s: %s)\n", name, p50.Round(10*time.Microsecond),
		p95.Round(10*time.Microsecond), len(ds), goal, verdict)
	return p50
}
