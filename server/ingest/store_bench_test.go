package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
	"github.com/weavetrace/weave/server/store/storetest/ccload"
)

// BenchmarkTracesServerSQLite measures the whole ingest path: OTLP/HTTP
// protobuf requests from concurrent clients over loopback TCP, decoded,
// normalized and written into the embedded SQLite store, until the search
// index has caught up. Each iteration posts about 5,000 fresh spans: of
// storetest.Workload (what OTel GenAI instrumentations send, whole input
// history included) in a few large batches (SDK batch exporters) or many
// small ones, and weave-agentd's own requests for the real Claude Code
// sessions of the harness captures (ccload).
func BenchmarkTracesServerSQLite(b *testing.B) {
	for _, c := range []struct{ clients, batch int }{{2, 500}, {8, 20}} {
		b.Run(fmt.Sprintf("synthetic/clients=%d/batch=%d", c.clients, c.batch), func(b *testing.B) {
			w := storetest.NewWorkload(11, testProject, time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC))
			w.RawSpans = true
			benchServerSQLite(b, c.clients, func() ([][]byte, int) {
				return otlpBodies(b, w, perIteration, c.batch), perIteration
			})
		})
	}
	// weave-agentd's own requests: one per session of the real captures
	// (7 spans on average), replayed under fresh ids, from 8 clients.
	b.Run("claude-code/clients=8/batch=session", func(b *testing.B) {
		l, err := ccload.FromRepo("")
		if err != nil {
			b.Fatal(err)
		}
		benchServerSQLite(b, 8, func() ([][]byte, int) {
			var bodies [][]byte
			n := 0
			for n < perIteration {
				body, k := l.Next()
				bodies = append(bodies, body)
				n += k
			}
			return bodies, n
		})
	})
}

// perIteration is about how many spans one iteration posts.
const perIteration = 5000

func benchServerSQLite(b *testing.B, clients int, next func() ([][]byte, int)) {
	ctx := context.Background()
	st := openSQLite(b)
	h, _ := newTestHandler(b, st, nil)
	srv := httptest.NewServer(h.Traces())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	spans := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		bodies, n := next()
		b.StartTimer()
		work := make(chan []byte, len(bodies))
		for _, body := range bodies {
			work <- body
		}
		close(work)
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for body := range work {
					resp, err := client.Post(srv.URL+"/v1/traces", ctProto, bytes.NewReader(body))
					if err != nil {
						errs <- err
						return
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						errs <- fmt.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		spans += n
	}
	// A search applies every logged change first: the index catches up
	// inside the measured time.
	if _, err := st.SearchMessages(ctx, store.SearchQuery{ProjectID: testProject, Query: "mutex", Limit: 1}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
}

// otlpBodies renders the workload's next n spans as OTLP protobuf trace
// requests of batch spans each, from the raw spans the workload gives them.
func otlpBodies(tb testing.TB, w *storetest.Workload, n, batch int) [][]byte {
	var raws []string
	for len(raws) < n {
		for _, s := range w.Next() {
			raws = append(raws, string(s.RawSpan))
		}
	}
	raws = raws[:n]
	var bodies [][]byte
	for i := 0; i < len(raws); i += batch {
		js := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"bench-agent"}}]},` +
			`"scopeSpans":[{"scope":{"name":"bench"},"spans":[` + strings.Join(raws[i:min(i+batch, len(raws))], ",") + `]}]}]}`
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalJSON([]byte(js)); err != nil {
			tb.Fatalf("workload as OTLP/JSON: %v", err)
		}
		body, err := req.MarshalProto()
		if err != nil {
			tb.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	return bodies
}
