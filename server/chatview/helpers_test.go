package chatview

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/model"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// t0 is the start of every hand-built trace.
var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// at returns t0 plus ms milliseconds.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func i64(v int64) *int64 { return &v }

func traceID(n int) string { return fmt.Sprintf("%032x", n) }
func spanID(n int) string  { return fmt.Sprintf("%016x", n) }

// sb builds one span.
type sb struct{ s model.Span }

func span(trace, id, parent int, name string) *sb {
	b := &sb{s: model.Span{
		ProjectID:  "local/default",
		TraceID:    traceID(trace),
		SpanID:     spanID(id),
		SpanName:   name,
		SpanKind:   model.KindInternal,
		StatusCode: model.StatusOK,
	}}
	if parent != 0 {
		b.s.ParentSpanID = spanID(parent)
	}
	return b
}

func (b *sb) op(op string) *sb { b.s.OperationName = op; return b }
func (b *sb) times(start, end int) *sb {
	b.s.StartedAt = at(start)
	if end >= 0 {
		b.s.EndedAt = at(end)
	}
	return b
}
func (b *sb) agent(name string) *sb { b.s.AgentName = name; return b }
func (b *sb) model(m string) *sb {
	b.s.RequestModel = m
	b.s.ResponseModel = m
	b.s.ProviderName = "anthropic"
	return b
}
func (b *sb) cost(usd float64) *sb {
	b.s.CostUSD = model.CostPtr(model.CostNanos(usd))
	return b
}

func (b *sb) usage(in, out, cacheRead, cacheCreate int64) *sb {
	b.s.InputTokens = i64(in)
	b.s.OutputTokens = i64(out)
	b.s.CacheReadInputTokens = i64(cacheRead)
	b.s.CacheCreationInputTokens = i64(cacheCreate)
	return b
}
func (b *sb) input(role, text string) *sb {
	b.s.InputMessages = append(b.s.InputMessages, model.Message{Role: role, Parts: []model.Part{{Type: model.PartText, Content: text}}})
	return b
}
func (b *sb) output(parts ...model.Part) *sb {
	b.s.OutputMessages = append(b.s.OutputMessages, model.Message{Role: "assistant", Parts: parts})
	return b
}
func (b *sb) tool(name, callID, args, result string) *sb {
	b.s.OperationName = model.OpExecuteTool
	b.s.ToolName = name
	b.s.ToolType = "function"
	b.s.ToolCallID = callID
	b.s.ToolCallArguments = args
	b.s.ToolCallResult = result
	return b
}
func (b *sb) fail(errType, msg string) *sb {
	b.s.StatusCode = model.StatusError
	b.s.StatusMessage = msg
	b.s.ErrorType = errType
	return b
}
func (b *sb) session(id, parent, conv string) *sb {
	b.s.ConversationID = conv
	if b.s.CustomAttrsString == nil {
		b.s.CustomAttrsString = map[string]string{}
	}
	b.s.CustomAttrsString[semconv.KeySessionID] = id
	if parent != "" {
		b.s.CustomAttrsString[semconv.KeyParentSessionID] = parent
	}
	return b
}
func (b *sb) set(f func(*model.Span)) *sb { f(&b.s); return b }

func text(s string) model.Part      { return model.Part{Type: model.PartText, Content: s} }
func reasoning(s string) model.Part { return model.Part{Type: model.PartReasoning, Content: s} }
func call(id, name, args string) model.Part {
	return model.Part{Type: model.PartToolCall, ID: id, Name: name, Arguments: json.RawMessage(args)}
}

func build(bs ...*sb) []model.Span {
	out := make([]model.Span, len(bs))
	for i, b := range bs {
		out[i] = b.s
	}
	return out
}

// checkGolden compares v's indented JSON with testdata/<name>.golden.json,
// rewriting the file under -update.
func checkGolden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s: got\n%s\nwant\n%s", path, got, want)
	}
}

// kinds returns "type:span_id" for each message, to assert order compactly.
func kinds(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Type + ":" + m.SpanID
	}
	return out
}
