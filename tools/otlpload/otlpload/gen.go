// Package otlpload generates and sends OTLP/HTTP trace load shaped like
// Claude Code's: turns of one invoke_agent root, six chat calls and eight
// tool executions, about 2.4 KB of protobuf a span. It is the load of
// weave's ingest benchmark (tools/ingestbench) and of the otlpload
// command, which points it at any OTLP/HTTP endpoint.
//
// Requests are built ahead (Build) so that the timed phase only sends
// (Send). Ids come from a seed: two runs with different seeds share no
// trace or span id, so nothing is deduplicated between them.
package otlpload

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// The shape of one turn.
const (
	chatsPerTurn = 6
	toolsPerTurn = 8
	// SpansPerTurn is how many spans one trace (turn) has.
	SpansPerTurn = 1 + chatsPerTurn + toolsPerTurn

	modelName = "claude-opus-4-8"
	provider  = "anthropic"
)

// callsAfterChat[i] is how many tools the i-th chat of a turn calls; the
// last chat ends the turn.
var callsAfterChat = [chatsPerTurn]int{1, 2, 1, 2, 2, 0}

// Config is what the generated traffic looks like.
type Config struct {
	// Entity and Project are the wandb.entity / wandb.project resource
	// attributes: weave stores the spans in project "Entity/Project".
	Entity, Project string
	// Seed picks every id and text; runs with different seeds share no id.
	Seed uint64
	// Now is the clock the turns end at (default time.Now).
	Now func() time.Time
}

// ProjectID is the weave project the spans land in.
func (c Config) ProjectID() string { return c.Entity + "/" + c.Project }

// Load is a set of requests built ahead.
type Load struct {
	// Bodies are ExportTraceServiceRequest protobuf bodies.
	Bodies [][]byte
	// Counts are the spans of each body.
	Counts []int
	// Spans is the number of spans in Bodies.
	Spans int
	// Traces are the hex ids of the traces whose every span is in Bodies.
	Traces []string
	// Bytes is the total size of Bodies.
	Bytes int
}

// Build renders n spans as requests of batch spans each. A turn may
// straddle two requests, as with a batching exporter; the spans of a turn
// go out in end order (tools, chats, the root last).
func Build(cfg Config, n, batch int) (*Load, error) {
	if n <= 0 || batch <= 0 {
		return nil, fmt.Errorf("otlpload: want spans > 0 and batch > 0, got %d and %d", n, batch)
	}
	g := newGenerator(cfg)
	l := &Load{}
	for l.Spans < n {
		k := min(batch, n-l.Spans)
		body, complete, err := g.request(k)
		if err != nil {
			return nil, err
		}
		l.Bodies = append(l.Bodies, body)
		l.Counts = append(l.Counts, k)
		l.Spans += k
		l.Bytes += len(body)
		l.Traces = append(l.Traces, complete...)
	}
	return l, nil
}

// generator produces turns one after another. Not safe for concurrent use.
type generator struct {
	cfg     Config
	rng     *rand.Rand
	text    string // the pseudo-text corpus bodies are cut from
	pending []span // spans of the current turn not yet sent

	conv     string // gen_ai.conversation.id, kept for a few turns
	convLeft int
	cacheRd  int64 // cache-read tokens, growing through a conversation
}

// span is one generated span before encoding.
type span struct {
	trace, id, parent []byte
	name              string
	kind              ptrace.SpanKind
	start, end        int64 // ns since the turn began, shifted at the end
	attrs             []attr
	root              bool
}

type attr struct {
	key  string
	str  string
	num  int64
	list []string
	kind byte // 's' string, 'i' int, 'l' string list
}

func newGenerator(cfg Config) *generator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x07e1)), text: corpus()}
}

// request encodes the next n spans; it returns the body and the ids of
// the traces it completes (their root is in it).
func (g *generator) request(n int) ([]byte, []string, error) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.37.0")
	ra := rs.Resource().Attributes()
	for _, kv := range [][2]string{
		{"service.name", "claude-code"}, {"service.version", "2.1.330"},
		{"wandb.entity", g.cfg.Entity}, {"wandb.project", g.cfg.Project},
		{"os.type", "linux"}, {"host.arch", "amd64"},
		{"telemetry.sdk.language", "nodejs"}, {"telemetry.sdk.name", "opentelemetry"}, {"telemetry.sdk.version", "2.0.1"},
	} {
		ra.PutStr(kv[0], kv[1])
	}
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("com.anthropic.claude_code")
	ss.Scope().SetVersion("2.1.330")
	var complete []string
	for range n {
		if len(g.pending) == 0 {
			g.pending = g.turn()
		}
		s := g.pending[0]
		g.pending = g.pending[1:]
		encode(ss.Spans().AppendEmpty(), s)
		if s.root {
			complete = append(complete, hex.EncodeToString(s.trace))
		}
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return nil, nil, fmt.Errorf("otlpload: encode request: %w", err)
	}
	return body, complete, nil
}

func encode(dst ptrace.Span, s span) {
	dst.SetTraceID(pcommon.TraceID(s.trace))
	dst.SetSpanID(pcommon.SpanID(s.id))
	if s.parent != nil {
		dst.SetParentSpanID(pcommon.SpanID(s.parent))
	}
	dst.SetName(s.name)
	dst.SetKind(s.kind)
	dst.SetStartTimestamp(pcommon.Timestamp(s.start))
	dst.SetEndTimestamp(pcommon.Timestamp(s.end))
	dst.Status().SetCode(ptrace.StatusCodeOk)
	a := dst.Attributes()
	a.EnsureCapacity(len(s.attrs))
	for _, x := range s.attrs {
		switch x.kind {
		case 'i':
			a.PutInt(x.key, x.num)
		case 'l':
			l := a.PutEmptySlice(x.key)
			for _, v := range x.list {
				l.AppendEmpty().SetStr(v)
			}
		default:
			a.PutStr(x.key, x.str)
		}
	}
}

func str(k, v string) attr       { return attr{key: k, str: v, kind: 's'} }
func num(k string, v int64) attr { return attr{key: k, num: v, kind: 'i'} }

// toolCall is one tool a chat asks for.
type toolCall struct{ id, name, args, result string }

// turn lays out one turn on a timeline, ending a moment before now, and
// returns its spans in the order an exporter sends them (end order: the
// root last).
func (g *generator) turn() []span {
	if g.convLeft == 0 {
		g.conv = g.uuid()
		g.convLeft = 3 + g.rng.IntN(15)
		g.cacheRd = 8000 + g.rng.Int64N(6000)
	}
	g.convLeft--
	trace, root := g.bytes(16), g.bytes(8)
	out := make([]span, 0, SpansPerTurn)
	t := ms(20 + g.rng.IntN(200))
	for i, k := range callsAfterChat {
		calls := make([]toolCall, k)
		for j := range calls {
			calls[j] = g.toolCall()
		}
		start := t
		t += ms(1500 + g.rng.IntN(9000))
		out = append(out, g.chat(trace, root, start, t, calls, i == chatsPerTurn-1))
		for _, c := range calls {
			t += ms(2 + g.rng.IntN(30))
			start := t
			if c.name == "Bash" {
				t += ms(80 + g.rng.IntN(4000))
			} else {
				t += ms(3 + g.rng.IntN(60))
			}
			out = append(out, g.tool(trace, root, start, t, c))
		}
		t += ms(5 + g.rng.IntN(40))
	}
	t += ms(10 + g.rng.IntN(100))
	out = append(out, span{
		trace: trace, id: root, name: "invoke_agent claude-code", kind: ptrace.SpanKindInternal, start: 0, end: t, root: true,
		attrs: []attr{
			str("gen_ai.operation.name", "invoke_agent"), str("gen_ai.agent.name", "claude-code"),
			str("gen_ai.provider.name", provider), str("gen_ai.request.model", modelName),
			str("gen_ai.conversation.id", g.conv),
			str("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":`+quote(g.cut(120, 400))+`}]}]`),
		},
	})
	base := g.cfg.Now().UnixNano() - t - ms(g.rng.IntN(2000))
	for i := range out {
		out[i].start += base
		out[i].end += base
	}
	return out
}

// chat is a model call: ~1.5 KB of assistant text and the tool calls it
// asks for, with usage whose cache reads grow through the conversation.
func (g *generator) chat(trace, parent []byte, start, end int64, calls []toolCall, last bool) span {
	finish := "tool_use"
	if last {
		finish = "end_turn"
	}
	room := 1400
	for _, c := range calls {
		room -= 60 + len(c.args)
	}
	room = max(room, 200)
	var b strings.Builder
	b.WriteString(`[{"role":"assistant","parts":[{"type":"text","content":`)
	b.WriteString(quote(g.cut(room*8/10, room*12/10)))
	b.WriteString(`}`)
	for _, c := range calls {
		fmt.Fprintf(&b, `,{"type":"tool_call","id":%q,"name":%q,"arguments":%s}`, c.id, c.name, c.args)
	}
	fmt.Fprintf(&b, `],"finish_reason":%q}]`, finish)
	created := int64(200 + g.rng.IntN(4000))
	read := g.cacheRd
	g.cacheRd += created
	return span{
		trace: trace, id: g.bytes(8), parent: parent, name: "chat " + modelName, kind: ptrace.SpanKindClient, start: start, end: end,
		attrs: []attr{
			str("gen_ai.operation.name", "chat"), str("gen_ai.provider.name", provider),
			str("gen_ai.request.model", modelName), num("gen_ai.request.max_tokens", 32000),
			str("gen_ai.response.model", modelName), str("gen_ai.response.id", "msg_01"+g.base62(22)),
			{key: "gen_ai.response.finish_reasons", list: []string{finish}, kind: 'l'},
			num("gen_ai.usage.input_tokens", int64(1+g.rng.IntN(12))+read+created),
			num("gen_ai.usage.output_tokens", int64(40+g.rng.IntN(1500))),
			num("gen_ai.usage.cache_read.input_tokens", read),
			num("gen_ai.usage.cache_creation.input_tokens", created),
			str("gen_ai.conversation.id", g.conv), str("gen_ai.output.type", "text"),
			str("server.address", "api.anthropic.com"), str("gen_ai.output.messages", b.String()),
		},
	}
}

func (g *generator) tool(trace, parent []byte, start, end int64, c toolCall) span {
	return span{
		trace: trace, id: g.bytes(8), parent: parent, name: "execute_tool " + c.name, kind: ptrace.SpanKindInternal,
		start: start, end: end,
		attrs: []attr{
			str("gen_ai.operation.name", "execute_tool"), str("gen_ai.tool.name", c.name),
			str("gen_ai.tool.type", "function"), str("gen_ai.tool.call.id", c.id),
			str("gen_ai.tool.call.arguments", c.args), str("gen_ai.tool.call.result", c.result),
			str("gen_ai.conversation.id", g.conv),
		},
	}
}

// toolCall picks Bash (half the time), Read or Write, with ~300 B of JSON
// arguments and ~2 KB of result.
func (g *generator) toolCall() toolCall {
	c := toolCall{id: "toolu_01" + g.base62(22)}
	file := "/home/dev/src/app/" + g.word() + "/" + g.word() + "_" + g.word() + ".go"
	switch r := g.rng.IntN(4); {
	case r < 2:
		c.name = "Bash"
		c.args = `{"command":` + quote("cd /home/dev/src/app && go test ./"+g.word()+"/... -run "+g.cut(60, 140)) +
			`,"description":` + quote(g.cut(60, 120)) + `,"timeout":120000}`
		c.result = g.cut(1600, 2600)
	case r == 2:
		c.name = "Read"
		c.args = `{"file_path":` + quote(file) + `,"offset":` + strconv.Itoa(1+g.rng.IntN(400)) +
			`,"limit":200,"description":` + quote(g.cut(120, 220)) + `}`
		c.result = g.cut(1600, 2600)
	default:
		c.name = "Write"
		c.args = `{"file_path":` + quote(file) + `,"content":` + quote(g.cut(180, 300)) + `}`
		c.result = "File created successfully at: " + file + "\n" + g.cut(1400, 2200)
	}
	return c
}

// cut is a slice of the corpus of a length in [lo, hi).
func (g *generator) cut(lo, hi int) string {
	n := lo + g.rng.IntN(hi-lo)
	off := g.rng.IntN(len(g.text) - n)
	return g.text[off : off+n]
}

func (g *generator) word() string { return vocabulary[g.rng.IntN(len(vocabulary))] }

func (g *generator) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return b
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func (g *generator) base62(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = base62[g.rng.IntN(len(base62))]
	}
	return string(b)
}

func (g *generator) uuid() string {
	h := hex.EncodeToString(g.bytes(16))
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

func ms(n int) int64 { return int64(n) * int64(time.Millisecond) }

// quote makes s a JSON string; the corpus holds no quote, backslash or
// control character but newline and tab.
func quote(s string) string { return `"` + escaper.Replace(s) + `"` }

var escaper = strings.NewReplacer("\n", `\n`, "\t", `\t`)
