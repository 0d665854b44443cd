package otlpload

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

func decode(t *testing.T, body []byte) ptrace.Traces {
	t.Helper()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	return req.Traces()
}

// TestBuildShape checks what the load promises: requests of batch spans,
// turns of 15 spans (one invoke_agent root sent last, 6 chats, 8 tools,
// children of the root), unique ids, valid JSON bodies, about 2.4 KB of
// protobuf a span, and the ids of the complete traces.
func TestBuildShape(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	l, err := Build(Config{Entity: "e", Project: "p", Seed: 7, Now: func() time.Time { return now }}, 3000, 512)
	if err != nil {
		t.Fatal(err)
	}
	if l.Spans != 3000 || len(l.Bodies) != 6 || l.Counts[5] != 3000-5*512 {
		t.Fatalf("spans %d in %d bodies (%v), want 3000 in 6", l.Spans, len(l.Bodies), l.Counts)
	}
	perSpan := float64(l.Bytes) / float64(l.Spans)
	if perSpan < 2000 || perSpan > 2900 {
		t.Errorf("%.0f bytes of protobuf a span, want about 2,400", perSpan)
	}
	type turn struct {
		spans, chats, tools int
		root                string
		rootLast            bool
	}
	turns := map[string]*turn{}
	spanIDs := map[string]bool{}
	for i, body := range l.Bodies {
		td := decode(t, body)
		if td.SpanCount() != l.Counts[i] {
			t.Fatalf("body %d holds %d spans, Counts says %d", i, td.SpanCount(), l.Counts[i])
		}
		rs := td.ResourceSpans().At(0)
		if v, _ := rs.Resource().Attributes().Get("wandb.project"); v.Str() != "p" {
			t.Errorf("wandb.project = %q", v.Str())
		}
		for _, s := range rs.ScopeSpans().At(0).Spans().All() {
			tid, sid := s.TraceID().String(), s.SpanID().String()
			if spanIDs[sid] {
				t.Fatalf("span id %s twice", sid)
			}
			spanIDs[sid] = true
			tr := turns[tid]
			if tr == nil {
				tr = &turn{}
				turns[tid] = tr
			}
			if tr.rootLast {
				t.Errorf("trace %s: a span after its root", tid)
			}
			tr.spans++
			op, _ := s.Attributes().Get("gen_ai.operation.name")
			switch op.Str() {
			case "invoke_agent":
				tr.root, tr.rootLast = sid, true
				if !s.ParentSpanID().IsEmpty() {
					t.Errorf("root %s has a parent", sid)
				}
			case "chat":
				tr.chats++
				out, _ := s.Attributes().Get("gen_ai.output.messages")
				if !json.Valid([]byte(out.Str())) {
					t.Errorf("chat %s: output messages are not JSON: %.100s", sid, out.Str())
				}
			case "execute_tool":
				tr.tools++
				args, _ := s.Attributes().Get("gen_ai.tool.call.arguments")
				if !json.Valid([]byte(args.Str())) {
					t.Errorf("tool %s: arguments are not JSON: %.100s", sid, args.Str())
				}
			default:
				t.Errorf("span %s: operation %q", sid, op.Str())
			}
			if s.EndTimestamp() < s.StartTimestamp() || s.EndTimestamp().AsTime().After(now) {
				t.Errorf("span %s: %v – %v (now %v)", sid, s.StartTimestamp(), s.EndTimestamp(), now)
			}
		}
	}
	for _, id := range l.Traces {
		tr := turns[id]
		if tr == nil || tr.spans != SpansPerTurn || tr.chats != chatsPerTurn || tr.tools != toolsPerTurn || !tr.rootLast {
			t.Errorf("complete trace %s: %+v", id, tr)
		}
	}
	if want := 3000 / SpansPerTurn; len(l.Traces) != want {
		t.Errorf("%d complete traces, want %d", len(l.Traces), want)
	}
	// Another seed shares no id.
	l2, err := Build(Config{Entity: "e", Project: "p", Seed: 8}, 100, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range decode(t, l2.Bodies[0]).ResourceSpans().At(0).ScopeSpans().At(0).Spans().All() {
		if spanIDs[s.SpanID().String()] || turns[s.TraceID().String()] != nil {
			t.Fatal("two seeds share an id")
		}
	}
}

// TestSend counts accepted, rejected and failed spans and the latencies.
func TestSend(t *testing.T) {
	l, err := Build(Config{Entity: "e", Project: "p", Seed: 1}, 1000, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n++
		switch n {
		case 3:
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		case 5:
			resp := ptraceotlp.NewExportResponse()
			resp.PartialSuccess().SetRejectedSpans(4)
			b, _ := resp.MarshalProto()
			w.Write(b)
			return
		}
		b, _ := ptraceotlp.NewExportResponse().MarshalProto()
		w.Write(b)
	}))
	defer srv.Close()
	res := Send(context.Background(), l, SendOptions{URL: srv.URL, Workers: 1})
	if res.Requests != 10 || res.Failed != 1 || res.Rejected != 4 || res.SpansOK != 1000-100-4 || len(res.Latencies) != 10 {
		t.Fatalf("%+v", res)
	}
	if res.Quantile(0.5) <= 0 || res.Quantile(0.99) < res.Quantile(0.5) || res.FirstError == "" {
		t.Errorf("quantiles %v %v, first error %q", res.Quantile(0.5), res.Quantile(0.99), res.FirstError)
	}
}
