package ingest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/store/sqlite"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// BenchmarkInputHistoryBytes measures what a 200-call session costs on the
// wire and on disk, chat inputs sent as references (weave-agentd's
// default) and whole (chat_input full): one turn of 199 tool calls, each
// returning 2 KB, then a final answer; one OTLP request per span, as the
// live daemon sends them one by one, into the embedded SQLite store.
// Reported per session: wire-B (protobuf request bodies), stored-B (the
// database files after Close, search index included) and the largest chat input.
func BenchmarkInputHistoryBytes(b *testing.B) {
	s := longToolSession(b, 200, 2000)
	for _, mode := range []spans.InputMode{spans.InputReference, spans.InputFull} {
		b.Run(mode.String(), func(b *testing.B) {
			out := spans.Build(s, spans.Options{IntegrationVersion: "bench", Input: mode})
			var wire, stored, maxIn int64
			for _, sp := range out {
				maxIn = max(maxIn, int64(len(sp.StringAttr(semconv.KeyInputMessages))))
			}
			for range b.N {
				dir := b.TempDir()
				st, err := sqlite.Open(context.Background(), filepath.Join(dir, "weave.db"), sqlite.Settings{})
				if err != nil {
					b.Fatal(err)
				}
				h, _ := newTestHandler(b, st, nil)
				var n atomic.Int64
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					n.Add(int64(len(body)))
					r.Body = io.NopCloser(strings.NewReader(string(body)))
					h.Traces().ServeHTTP(w, r)
				}))
				ctx := context.Background()
				exp, err := export.NewClient(ctx, export.Target{Endpoint: srv.URL, Project: testProject, ServiceVersion: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				for i := range out {
					if err := exp.ExportSpans(ctx, out[i:i+1]); err != nil {
						b.Fatal(err)
					}
				}
				exp.Shutdown(ctx)
				srv.Close()
				if err := st.Close(); err != nil { // checkpoints the WAL
					b.Fatal(err)
				}
				wire, stored = n.Load(), dirBytes(b, dir)
			}
			b.ReportMetric(float64(wire), "wire-B")
			b.ReportMetric(float64(stored), "stored-B")
			b.ReportMetric(float64(maxIn), "max-input-B")
		})
	}
}

// dirBytes is the size of the files in dir.
func dirBytes(tb testing.TB, dir string) int64 {
	tb.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, e := range es {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}

// longToolSession is a one-turn session of calls model calls: calls-1
// tool calls, each returning resultBytes of text, then an answer.
func longToolSession(tb testing.TB, calls, resultBytes int) *transcript.Session {
	tb.Helper()
	base := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ts := func(i int) string { return base.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano) }
	var lines []string
	lines = append(lines, fmt.Sprintf(`{"type":"user","uuid":"u0","sessionId":"s-long","promptId":"p1","timestamp":%q,"message":{"role":"user","content":"Read every file of the repository"}}`, ts(0)))
	for i := range calls - 1 {
		result := strings.Repeat(fmt.Sprintf("line %d of file %d\n", i, i), resultBytes/20)
		lines = append(lines,
			fmt.Sprintf(`{"type":"assistant","uuid":"a%d","sessionId":"s-long","timestamp":%q,"message":{"id":"msg_%d","role":"assistant","model":"claude-opus-4-8","content":[{"type":"tool_use","id":"toolu_%d","name":"Read","input":{"file_path":"/src/f%d.go"}}],"stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":20}}}`, i, ts(2*i+1), i, i, i),
			fmt.Sprintf(`{"type":"user","uuid":"r%d","sessionId":"s-long","promptId":"p1","timestamp":%q,"message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_%d","content":%q}]}}`, i, ts(2*i+2), i, result))
	}
	lines = append(lines, fmt.Sprintf(`{"type":"assistant","uuid":"end","sessionId":"s-long","timestamp":%q,"message":{"id":"msg_end","role":"assistant","model":"claude-opus-4-8","content":[{"type":"text","text":"Read them all."}],"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":5}}}`, ts(2*calls)))
	ls, _, err := transcript.DecodeAll(strings.NewReader(strings.Join(lines, "\n") + "\n"))
	if err != nil {
		tb.Fatal(err)
	}
	bl := transcript.NewBuilder("/p/s-long.jsonl")
	for _, l := range ls {
		bl.Add(l)
	}
	s := bl.Session()
	if n := len(s.Turns[0].Calls); n != calls {
		tb.Fatalf("%d calls, want %d", n, calls)
	}
	return s
}
