package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// The load: Claude Code turns as its OTel exporter sends them, 15 spans a
// turn (an invoke_agent root, 6 model calls whose output messages carry
// the tool calls, 8 tool executions with JSON arguments and ~2 KB
// results), about 2.4 KB of protobuf a span, every id fresh. Text is
// drawn from a vocabulary of prose, code and shell words.

var vocabulary = strings.Fields(`
the a of to in and or for with on at by from into this that it is are was be
will should can may not no if then else when while return func type struct
package import var const map range nil true false err error string int byte
context span trace server handler request response store sqlite query insert
update delete table index schema test tests failed passed ok build run file
path dir read write open close sync flush commit tool model token cache usage
input output message assistant user system agent turn session conversation id
value key attribute otlp http json proto batch queue worker retry timeout
latency memory cpu disk bytes rows column filter sort limit offset page next
first last count total let me check look see now fix change add remove rename
function method field call line diff patch git branch main weave client hook`)

// request is one OTLP request body and what the probes need of it.
type request struct {
	body  []byte
	spans int
	// probe: a tool span of the request whose result holds the unique
	// word token.
	trace, span, token string
}

type generator struct {
	rng     *rand.Rand
	corpus  string
	now     time.Time
	next    uint64 // id counter
	pending []ptrace.Span
	conv    string
	left    int // turns left in the conversation
}

func newGenerator(seed uint64) *generator {
	g := &generator{rng: rand.New(rand.NewPCG(seed, 7)), now: time.Now().Add(-time.Hour)}
	var b strings.Builder
	for b.Len() < 1<<20 {
		w := vocabulary[g.rng.IntN(len(vocabulary))]
		switch r := g.rng.IntN(20); {
		case r == 0:
			fmt.Fprintf(&b, "%s(%s)", w, vocabulary[g.rng.IntN(len(vocabulary))])
		case r == 1:
			fmt.Fprintf(&b, "%s:%d", w, g.rng.IntN(5000))
		default:
			b.WriteString(w)
		}
		if g.rng.IntN(12) == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	g.corpus = b.String()
	return g
}

func (g *generator) text(lo, hi int) string {
	n := lo + g.rng.IntN(hi-lo)
	off := g.rng.IntN(len(g.corpus) - n)
	return g.corpus[off : off+n]
}

func (g *generator) id(n int) []byte {
	g.next++
	b := make([]byte, n)
	binary.BigEndian.PutUint64(b[n-8:], g.next)
	binary.BigEndian.PutUint32(b[:4], g.rng.Uint32())
	return b
}

// requests renders spans spans as requests of batch spans, every probeEvery-th
// carrying a probe token.
func (g *generator) requests(spans, batch, probeEvery int) ([]request, error) {
	var out []request
	for n := 0; n < spans; n += batch {
		k := min(batch, spans-n)
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		for _, kv := range [][2]string{{"service.name", "claude-code"}, {"service.version", "2.1.330"},
			{"wandb.entity", "bench"}, {"wandb.project", "sqlite"}, {"os.type", "linux"}, {"host.arch", "amd64"}} {
			rs.Resource().Attributes().PutStr(kv[0], kv[1])
		}
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("com.anthropic.claude_code")
		var r request
		for i := range k {
			if len(g.pending) == 0 {
				g.turn()
			}
			sp := ss.Spans().AppendEmpty()
			g.pending[0].MoveTo(sp)
			g.pending = g.pending[1:]
			if res, ok := sp.Attributes().Get("gen_ai.tool.call.result"); ok && len(out)%probeEvery == 0 && (r.token == "" || i > k/2) {
				r.token = fmt.Sprintf("probe%dx%d", g.rng.Uint32(), len(out))
				res.SetStr(r.token + " " + res.Str())
				r.trace, r.span = sp.TraceID().String(), sp.SpanID().String()
			}
		}
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			return nil, err
		}
		r.body, r.spans = body, k
		out = append(out, r)
	}
	return out, nil
}

// turn queues the spans of one turn in the order an exporter sends them:
// by end, the root last.
func (g *generator) turn() {
	if g.left == 0 {
		u := g.id(16)
		g.conv = fmt.Sprintf("%x-%x-%x-%x-%x", u[:4], u[4:6], u[6:8], u[8:10], u[10:])
		g.left = 3 + g.rng.IntN(15)
	}
	g.left--
	trace := pcommon.TraceID(g.id(16))
	root := pcommon.SpanID(g.id(8))
	start := g.now
	t := start
	built := ptrace.NewSpanSlice()
	span := func(name string, kind ptrace.SpanKind, d time.Duration) ptrace.Span {
		s := built.AppendEmpty()
		s.SetTraceID(trace)
		s.SetSpanID(pcommon.SpanID(g.id(8)))
		s.SetParentSpanID(root)
		s.SetName(name)
		s.SetKind(kind)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(t))
		t = t.Add(d)
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(t))
		s.Status().SetCode(ptrace.StatusCodeOk)
		return s
	}
	const modelName = "claude-opus-4-8"
	for c, tools := range []int{1, 2, 1, 2, 2, 0} {
		chat := span("chat "+modelName, ptrace.SpanKindClient, time.Duration(1500+g.rng.IntN(9000))*time.Millisecond)
		type call struct{ id, name, args, result string }
		calls := make([]call, tools)
		var msg strings.Builder
		msg.WriteString(`[{"role":"assistant","parts":[{"type":"text","content":`)
		msg.WriteString(jsonString(g.text(600, 1400)))
		msg.WriteString(`}`)
		for i := range calls {
			cl := &calls[i]
			cl.id = fmt.Sprintf("toolu_01%x", g.id(8))
			cl.name = []string{"Bash", "Bash", "Read", "Write"}[g.rng.IntN(4)]
			cl.args = `{"command":` + jsonString(g.text(60, 140)) + `,"description":` + jsonString(g.text(40, 120)) + `,"timeout":120000}`
			cl.result = g.text(1600, 2600)
			fmt.Fprintf(&msg, `,{"type":"tool_call","id":%q,"name":%q,"arguments":%s}`, cl.id, cl.name, cl.args)
		}
		finish := "tool_use"
		if tools == 0 {
			finish = "end_turn"
		}
		fmt.Fprintf(&msg, `],"finish_reason":%q}]`, finish)
		a := chat.Attributes()
		a.PutStr("gen_ai.operation.name", "chat")
		a.PutStr("gen_ai.provider.name", "anthropic")
		a.PutStr("gen_ai.request.model", modelName)
		a.PutStr("gen_ai.response.model", modelName)
		a.PutStr("gen_ai.response.id", fmt.Sprintf("msg_01%x", g.id(8)))
		a.PutEmptySlice("gen_ai.response.finish_reasons").AppendEmpty().SetStr(finish)
		a.PutInt("gen_ai.usage.input_tokens", int64(2000+g.rng.IntN(50000)))
		a.PutInt("gen_ai.usage.output_tokens", int64(40+g.rng.IntN(1500)))
		a.PutInt("gen_ai.usage.cache_read.input_tokens", int64(1000*c+g.rng.IntN(1000)))
		a.PutInt("gen_ai.usage.cache_creation.input_tokens", int64(200+g.rng.IntN(4000)))
		a.PutStr("gen_ai.conversation.id", g.conv)
		a.PutStr("gen_ai.output.messages", msg.String())
		g.pending = append(g.pending, chat)
		for _, cl := range calls {
			tool := span("execute_tool "+cl.name, ptrace.SpanKindInternal, time.Duration(5+g.rng.IntN(3000))*time.Millisecond)
			a := tool.Attributes()
			a.PutStr("gen_ai.operation.name", "execute_tool")
			a.PutStr("gen_ai.tool.name", cl.name)
			a.PutStr("gen_ai.tool.type", "function")
			a.PutStr("gen_ai.tool.call.id", cl.id)
			a.PutStr("gen_ai.tool.call.arguments", cl.args)
			a.PutStr("gen_ai.tool.call.result", cl.result)
			a.PutStr("gen_ai.conversation.id", g.conv)
			g.pending = append(g.pending, tool)
		}
	}
	r := built.AppendEmpty()
	r.SetTraceID(trace)
	r.SetSpanID(root)
	r.SetName("invoke_agent claude-code")
	r.SetKind(ptrace.SpanKindInternal)
	r.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	r.SetEndTimestamp(pcommon.NewTimestampFromTime(t.Add(time.Millisecond)))
	r.Status().SetCode(ptrace.StatusCodeOk)
	a := r.Attributes()
	a.PutStr("gen_ai.operation.name", "invoke_agent")
	a.PutStr("gen_ai.agent.name", "claude-code")
	a.PutStr("gen_ai.provider.name", "anthropic")
	a.PutStr("gen_ai.request.model", modelName)
	a.PutStr("gen_ai.conversation.id", g.conv)
	a.PutStr("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":`+jsonString(g.text(40, 300))+`}]}]`)
	g.pending = append(g.pending, r)
	g.now = t.Add(2 * time.Second)
}

// jsonString quotes s as a JSON string (the corpus holds only newlines
// among the characters JSON escapes).
func jsonString(s string) string {
	return `"` + strings.ReplaceAll(s, "\n", `\n`) + `"`
}
