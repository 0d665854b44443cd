package api

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/sqlite"
	"github.com/weavetrace/weave/server/store/storetest"
)

// benchAPI is a SQLite store filled once per process with realistic
// conversations (storetest.Workload; WEAVE_BENCH_SPANS spans, default
// 20,000) behind the API handler.
type benchAPI struct {
	st     *sqlite.Store
	dir    string
	h      *Handler
	traces []string
	convs  []string
}

var sharedAPI *benchAPI

const benchProjectID = "bench/claude-code"

func getBenchAPI(b *testing.B) *benchAPI {
	b.Helper()
	if sharedAPI != nil {
		return sharedAPI
	}
	n := 20_000
	if v, err := strconv.Atoi(os.Getenv("WEAVE_BENCH_SPANS")); err == nil && v > 0 {
		n = v
	}
	dir, err := os.MkdirTemp("", "weave-api-bench-")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "bench.db"), sqlite.Settings{})
	if err != nil {
		b.Fatal(err)
	}
	w := newWorkload(3, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	var pending []model.Span
	var traces []string
	written := 0
	began := time.Now()
	for written < n {
		for _, s := range w.Next() {
			if s.ParentSpanID == "" {
				traces = append(traces, s.TraceID)
			}
			pending = append(pending, s)
		}
		for len(pending) >= 500 || (len(pending) > 0 && written+len(pending) >= n) {
			k := min(500, len(pending))
			if err := st.WriteSpans(ctx, pending[:k]); err != nil {
				b.Fatal(err)
			}
			written += k
			pending = pending[k:]
		}
	}
	page, err := st.QueryConversations(ctx, store.ConversationQuery{ProjectID: benchProjectID, Limit: 200})
	if err != nil {
		b.Fatal(err)
	}
	a := &benchAPI{st: st, dir: dir, h: New(Settings{Store: st}), traces: traces}
	for _, c := range page.Conversations {
		a.convs = append(a.convs, c.ConversationID)
	}
	fmt.Fprintf(os.Stderr, "bench: %d spans, %d turns, filled in %s\n", written, len(traces), time.Since(began).Round(time.Millisecond))
	sharedAPI = a
	return a
}

// workload generates realistic conversations under fresh ids, one after
// another (the same shape as the store benchmarks use): 1–10 turns of 1–6
// model calls, a subagent in some, a 3 KB system prompt, the full history
// in every chat input for half of the conversations.
type workload struct {
	r      *rand.Rand
	t      time.Time
	n      int
	system string
}

func newWorkload(seed uint64, start time.Time) *workload {
	return &workload{r: rand.New(rand.NewPCG(seed, 0x5eed)), t: start, system: storetest.SystemPrompt()}
}

func (w *workload) Next() []model.Span {
	w.n++
	turns := storetest.BuildConversation(storetest.ConversationSpec{
		ProjectID:      benchProjectID,
		ConversationID: fmt.Sprintf("%s-%08d", storetest.ID(4, benchProjectID, w.r.Uint64()), w.n),
		Start:          w.t,
		Turns:          1 + w.r.IntN(10),
		CallsPerTurn:   1 + w.r.IntN(6),
		Subagent:       w.r.IntN(3) == 0,
		SystemPrompt:   w.system,
		Rand:           w.r,
		ContentScale:   1,
		FullHistory:    w.r.IntN(2) == 0,
	})
	w.t = w.t.Add(time.Duration(30+w.r.IntN(300)) * time.Second)
	return storetest.Flatten(turns)
}

// BenchmarkAPI measures read endpoints through the HTTP handler (decode,
// validate, store, chat view, encode) and reports the median and 99th
// percentile latency of the calls. conversations_page_fresh asks for the
// page of a handler that has served nothing yet, each call.
func BenchmarkAPI(b *testing.B) {
	a := getBenchAPI(b)
	queries := []string{"goroutine deadline", `"retry timeout"`, "migration rollback commit", "mutex"}
	cases := []struct {
		name  string
		path  string
		body  func(i int) string
		fresh bool // a new handler for each call
	}{
		{"agents_list", "/genai/agents/query", func(int) string { return `{"project_id":"` + benchProjectID + `"}` }, false},
		{"conversations_page", "/genai/conversations/query", func(int) string {
			return `{"project_id":"` + benchProjectID + `","limit":50}`
		}, false},
		{"conversations_page_fresh", "/genai/conversations/query", func(int) string {
			return `{"project_id":"` + benchProjectID + `","limit":50}`
		}, true},
		{"turn_chat_view", "/genai/traces/chat", func(i int) string {
			return `{"project_id":"` + benchProjectID + `","trace_id":"` + a.traces[(i*7919)%len(a.traces)] + `"}`
		}, false},
		{"conversation_chat_view", "/genai/conversations/chat", func(i int) string {
			return `{"project_id":"` + benchProjectID + `","conversation_id":"` + a.convs[i%len(a.convs)] + `"}`
		}, false},
		{"search", "/genai/messages/search", func(i int) string {
			return `{"project_id":"` + benchProjectID + `","query":"` + strings.ReplaceAll(queries[i%len(queries)], `"`, `\"`) + `","limit":20}`
		}, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			i := 0
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, c.path, strings.NewReader(c.body(i)))
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h := a.h
				if c.fresh {
					h = New(Settings{Store: a.st})
				}
				t := time.Now()
				h.ServeHTTP(w, r)
				lat = append(lat, time.Since(t))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", c.path, w.Code, w.Body)
				}
				i++
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
