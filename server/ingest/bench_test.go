package ingest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// nullWriter accepts everything instantly, so the benchmarks measure the
// handler (decode, normalize, encode) and not a store.
type nullWriter struct{}

func (nullWriter) WriteSpans(context.Context, []model.Span) error { return nil }
func (nullWriter) GetSpans(context.Context, []store.SpanKey) ([]model.Span, error) {
	return nil, nil
}
func (nullWriter) WritePendingEvents(context.Context, []store.KeyedEvents) error { return nil }
func (nullWriter) TakePendingEvents(context.Context, []store.SpanKey) (map[store.SpanKey][]model.Event, error) {
	return nil, nil
}

func benchHandler(b *testing.B, bodies [][]byte, spans int, ct string) {
	h, _ := newTestHandler(b, nullWriter{}, nil)
	hh := h.Traces()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, body := range bodies {
			r := httptest.NewRequest(http.MethodPost, "/v1/traces", bytes.NewReader(body))
			r.Header.Set("Content-Type", ct)
			rec := httptest.NewRecorder()
			hh.ServeHTTP(rec, r)
			if rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	}
	b.ReportMetric(float64(spans*b.N)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkTracesHandlerCorpus posts every corpus case (protobuf).
func BenchmarkTracesHandlerCorpus(b *testing.B) {
	var bodies [][]byte
	spans := 0
	for _, c := range corpusCases(b) {
		body := readFile(b, filepath.Join(c.dir, c.name+".pb"))
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, body)
		spans += req.Traces().SpanCount()
	}
	benchHandler(b, bodies, spans, ctProto)
}

// BenchmarkTracesHandlerAgentBatch posts 512-span batches shaped like
// weave-agentd's (turn root, chat spans with messages and usage, tool
// spans), the server's main producer.
func BenchmarkTracesHandlerAgentBatch(b *testing.B) {
	body := traceBody(b, agentBatch(), ctProto)
	benchHandler(b, [][]byte{body}, 512, ctProto)
}

// agentBatch is 512 spans shaped like weave-agentd's.
func agentBatch() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "claude-code")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/weavetrace/weave/spans")
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for i := range 512 {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{byte(i / 16), 1})
		sp.SetSpanID(pcommon.SpanID{byte(i), byte(i >> 8), 1})
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Second)))
		a := sp.Attributes()
		a.PutStr("weave.claude_code.session.id", "5f1c0000-0000-0000-0000-000000000001")
		a.PutStr("gen_ai.conversation.id", "5f1c0000-0000-0000-0000-000000000001")
		switch i % 4 {
		case 0:
			sp.SetName("chat claude-opus-4-1")
			a.PutStr("gen_ai.operation.name", "chat")
			a.PutStr("gen_ai.provider.name", "anthropic")
			a.PutStr("gen_ai.request.model", "claude-opus-4-1")
			a.PutInt("gen_ai.usage.input_tokens", 21000)
			a.PutInt("gen_ai.usage.output_tokens", 300)
			a.PutInt("gen_ai.usage.cache_read.input_tokens", 20000)
			a.PutStr("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"text","content":"I'll run the tests to see what fails, then fix the import cycle in the store package."},{"type":"tool_call","id":"toolu_1","name":"Bash","arguments":{"command":"go test ./..."}}],"finish_reason":"tool_call"}]`)
		case 1, 2:
			sp.SetName("execute_tool Bash")
			a.PutStr("gen_ai.operation.name", "execute_tool")
			a.PutStr("gen_ai.tool.name", "Bash")
			a.PutStr("gen_ai.tool.call.id", "toolu_1")
			a.PutStr("gen_ai.tool.call.arguments", `{"command":"go test ./..."}`)
			a.PutStr("gen_ai.tool.call.result", "ok  \tgithub.com/example/app/store\t0.412s\nok  \tgithub.com/example/app/api\t1.020s")
		default:
			sp.SetName("invoke_agent claude-code")
			a.PutStr("gen_ai.operation.name", "invoke_agent")
			a.PutStr("gen_ai.agent.name", "claude-code")
			a.PutStr("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"The store tests fail after the refactor; find out why and fix it."}]}]`)
			a.PutInt("weave.claude_code.turn.number", int64(i))
		}
	}
	return td
}

// BenchmarkScan is the wire scanners alone (scanProto, scanJSON: the
// layout pass every request makes before decoding) on the corpus and on
// an agent batch, in both encodings.
func BenchmarkScan(b *testing.B) {
	for _, enc := range []encoding{encProto, encJSON} {
		ext, ct := ".pb", ctProto
		if enc == encJSON {
			ext, ct = ".json", ctJSON
		}
		var corpus [][]byte
		for _, c := range corpusCases(b) {
			corpus = append(corpus, readFile(b, filepath.Join(c.dir, c.name+ext)))
		}
		for _, bc := range []struct {
			name   string
			bodies [][]byte
		}{
			{"corpus", corpus},
			{"agentBatch", [][]byte{traceBody(b, agentBatch(), ct)}},
		} {
			size := 0
			for _, body := range bc.bodies {
				size += len(body)
			}
			b.Run(enc.name()+"/"+bc.name, func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					for _, body := range bc.bodies {
						if _, err := scanRequest(signalTraces, enc, body); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
