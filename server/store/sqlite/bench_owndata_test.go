package sqlite

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/store/storetest/ownbench"
)

// TestBenchOwnData is the embedded store's half of `make bench-owndata`:
// on a store of WEAVE_BENCH_SPANS realistic spans (filled as bench-store
// fills it, or kept in WEAVE_BENCH_DIR with WEAVE_BENCH_REUSE=1) it times
// the exports, deleting a conversation and 100 traces, and pruning the
// oldest tenth (ownbench). WEAVE_BENCH_OWNDATA=fill stops after filling,
// =delete leaves the exports out. It deletes data: measure a copy of a
// store you want to keep.
func TestBenchOwnData(t *testing.T) {
	s, traces := benchStoreSetup(t)
	mode := os.Getenv("WEAVE_BENCH_OWNDATA")
	if mode == "fill" {
		return
	}
	gcObserve = func(g gcStats) {
		fmt.Printf("  content collection: mark %s (%d spans read, the writer free), sweep %s in %d write transactions (the longest %s), %d spans written meanwhile; freed",
			g.mark.Round(time.Millisecond), g.spans, g.sweep.Round(time.Millisecond), g.rounds, g.longest.Round(time.Millisecond), g.dirty)
		for i, t := range gcTables {
			fmt.Printf(" %d %s", g.freed[i], t)
		}
		fmt.Println()
	}
	t.Cleanup(func() { gcObserve = nil })
	ownbench.Run(t, s, ownbench.Options{
		Project: benchProject,
		Traces:  traces,
		Span: func() (time.Time, time.Time, error) {
			var lo, hi int64
			err := s.r.QueryRow("SELECT MIN(started_at), MAX(started_at) FROM spans").Scan(&lo, &hi)
			return time.Unix(0, lo), time.Unix(0, hi), err
		},
		Settle: func() error {
			s.gcDone.Wait()
			return nil
		},
		SkipExport: mode == "delete",
	})
}
