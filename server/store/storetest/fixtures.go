package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/weavetrace/weave/server/model"
)

// ID derives a deterministic lowercase-hex id of n bytes from parts, the
// way weave-agentd derives trace and span ids from stable inputs.
func ID(n int, parts ...any) string {
	h := sha256.Sum256([]byte(fmt.Sprint(parts...)))
	return hex.EncodeToString(h[:n])
}

// TraceID and SpanID derive 32- and 16-digit ids.
func TraceID(parts ...any) string { return ID(16, parts...) }
func SpanID(parts ...any) string  { return ID(8, parts...) }

func i64(v int64) *int64 { return &v }

// TurnSpec describes one Claude Code-like turn (ARCHITECTURE §4): an
// invoke_agent root, a chat span per model call with usage, an execute_tool
// span per tool call, and optionally a nested subagent with its own chat
// and tool spans.
type TurnSpec struct {
	ProjectID      string
	ConversationID string // "" → no conversation_id on any span
	Turn           int    // ordinal within the conversation, from 1
	Start          time.Time
	Prompt         string
	// Calls is the number of chat calls of the main agent (≥ 1); every
	// call but the last requests one tool.
	Calls int
	// Subagent adds an "Explore" subagent after the first call.
	Subagent bool
	// History is the conversation so far (previous turns' messages); each
	// chat span's input_messages is History followed by this turn's
	// messages up to that call, as OTel instrumentations that send the full
	// context do.
	History []model.Message
	// SystemPrompt goes into every chat span's system_instructions.
	SystemPrompt string
	// Rand drives sizes and words; nil uses a fixed seed derived from the
	// turn so fixtures are deterministic.
	Rand *rand.Rand
	// ContentScale multiplies text sizes (1 if 0).
	ContentScale float64
}

// Turn is a built turn: its spans (root first, then in start order) and
// the messages it adds to the conversation history.
type Turn struct {
	TraceID string
	Root    *model.Span
	Spans   []model.Span
	// Added are the user prompt and the final assistant answer, to append
	// to the next turn's History.
	Added []model.Message
	// Usage is the sum of the usage of the spans that count (every chat
	// span; the root and the subagent span report none).
	InputTokens, OutputTokens, CacheRead, CacheCreation int64
}

var vocabulary = strings.Fields(`the a to of and in is for that this with on it as be file function
	return error value test build server client request response token model agent tool call result
	message user assistant config path line code change fix bug handler query index cache write read
	parse decode encode struct field method package import module module.go main.go store span trace
	conversation retry timeout context deadline goroutine channel mutex lock slice map string int
	refactor rename update delete insert select where order limit offset commit rollback migration`)

func words(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			if r.IntN(12) == 0 {
				b.WriteString(".\n")
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(vocabulary[r.IntN(len(vocabulary))])
	}
	return b.String()
}

// sized draws a word count: mostly around mean, with a long tail.
func sized(r *rand.Rand, mean int, scale float64) int {
	if scale == 0 {
		scale = 1
	}
	n := float64(mean) * (0.5 + r.ExpFloat64()*0.5) * scale
	return max(3, int(n))
}

var toolNames = []string{"Read", "Bash", "Grep", "Edit", "Glob", "Write"}

// BuildTurn builds the spans of one turn.
func BuildTurn(spec TurnSpec) Turn {
	r := spec.Rand
	if r == nil {
		r = rand.New(rand.NewPCG(uint64(spec.Turn), uint64(len(spec.ConversationID)+len(spec.Prompt))))
	}
	calls := max(spec.Calls, 1)
	traceID := TraceID(spec.ProjectID, spec.ConversationID, spec.Turn, spec.Prompt)
	rootID := SpanID(traceID, "root")
	const modelName = "claude-sonnet-4-5"
	t := spec.Start
	tick := func(d time.Duration) time.Time { t = t.Add(d); return t }

	user := model.Message{Role: "user", Parts: []model.Part{{Type: model.PartText, Content: spec.Prompt}}}
	root := model.Span{
		ProjectID: spec.ProjectID, TraceID: traceID, SpanID: rootID,
		SpanName: "invoke_agent claude-code", SpanKind: model.KindInternal, StartedAt: spec.Start,
		StatusCode: model.StatusOK, OperationName: model.OpInvokeAgent, AgentName: "claude-code",
		AgentVersion: "2.1.0", ConversationID: spec.ConversationID, RequestModel: modelName,
		InputMessages: []model.Message{user},
		CustomAttrsString: map[string]string{
			"weave.claude_code.session.id": spec.ConversationID,
			"weave.claude_code.cwd":        "/home/dev/project",
		},
		CustomAttrsInt: map[string]int64{"weave.claude_code.turn.number": int64(spec.Turn)},
		ResourceAttrs:  map[string]any{"service.name": "claude-code", "service.version": "2.1.0"},
	}
	out := Turn{TraceID: traceID}
	history := append(append([]model.Message(nil), spec.History...), user)
	var spans []model.Span
	var final string
	for c := 0; c < calls; c++ {
		callStart := tick(time.Duration(200+r.IntN(800)) * time.Millisecond)
		last := c == calls-1
		text := words(r, sized(r, 40, spec.ContentScale))
		parts := []model.Part{{Type: model.PartText, Content: text}}
		finish := "end_turn"
		var toolName, callID, args string
		if !last {
			finish = "tool_use"
			toolName = toolNames[r.IntN(len(toolNames))]
			callID = "toolu_" + ID(12, traceID, c)
			a, _ := json.Marshal(map[string]any{"file_path": "/home/dev/project/" + vocabulary[r.IntN(len(vocabulary))] + ".go", "description": words(r, 6)})
			args = string(a)
			parts = append(parts, model.Part{Type: model.PartToolCall, ID: callID, Name: toolName, Arguments: json.RawMessage(args)})
		} else {
			final = text
		}
		in, outTok := int64(1000+r.IntN(30000)), int64(50+r.IntN(1500))
		// input_tokens includes the cached input (the conventions' rule),
		// so the cache figures never exceed it.
		cacheRead := in * 6 / 10
		cacheCreate := int64(r.IntN(int(min(2000, in-cacheRead))))
		assistant := model.Message{Role: "assistant", Parts: parts, FinishReason: finish}
		chat := model.Span{
			ProjectID: spec.ProjectID, TraceID: traceID, SpanID: SpanID(traceID, "chat", c), ParentSpanID: rootID,
			SpanName: "chat " + modelName, SpanKind: model.KindClient, StartedAt: callStart,
			EndedAt: tick(time.Duration(500+r.IntN(4000)) * time.Millisecond), StatusCode: model.StatusOK,
			OperationName: model.OpChat, ProviderName: "anthropic", ConversationID: spec.ConversationID,
			RequestModel: modelName, ResponseModel: modelName, ResponseID: "msg_" + ID(12, traceID, "msg", c),
			InputTokens: i64(in), OutputTokens: i64(outTok), TotalTokens: i64(in + outTok), CacheReadInputTokens: i64(cacheRead),
			CacheCreationInputTokens: i64(cacheCreate), FinishReasons: []string{finish},
			// Claude Code writes its cache for an hour; the call is priced.
			CacheCreation5mInputTokens: i64(0), CacheCreation1hInputTokens: i64(cacheCreate),
			CostUSD: model.CostPtr(in*5000 + outTok*25000 + cacheCreate*5000 - cacheRead*4500), CostSource: model.CostPriceTable,
			InputMessages:  append([]model.Message(nil), history...),
			OutputMessages: []model.Message{assistant},
			ResourceAttrs:  root.ResourceAttrs,
		}
		if spec.SystemPrompt != "" {
			chat.SystemInstructions = []string{spec.SystemPrompt}
		}
		out.InputTokens += in
		out.OutputTokens += outTok
		out.CacheRead += cacheRead
		out.CacheCreation += cacheCreate
		spans = append(spans, chat)
		history = append(history, assistant)
		if last {
			break
		}
		tool, result := toolSpan(spec, r, tick, traceID, rootID, c, toolName, callID, args, root.ResourceAttrs)
		spans = append(spans, tool)
		history = append(history, model.Message{Role: "tool", Parts: []model.Part{{Type: model.PartToolCallResponse, ID: callID, Response: result}}})

		if c == 0 && spec.Subagent {
			sub, subChat := subagentSpans(spec, r, tick, traceID, rootID, callID, root.ResourceAttrs)
			out.InputTokens += *subChat.InputTokens
			out.OutputTokens += *subChat.OutputTokens
			spans = append(spans, sub, subChat)
		}
	}
	root.EndedAt = tick(20 * time.Millisecond)
	root.OutputMessages = []model.Message{{Role: "assistant", Parts: []model.Part{{Type: model.PartText, Content: final}}}}
	root.FinishReasons = []string{"end_turn"}
	out.Spans = append([]model.Span{root}, spans...)
	out.Root = &out.Spans[0]
	out.Added = []model.Message{user, {Role: "assistant", Parts: []model.Part{{Type: model.PartText, Content: final}}}}
	return out
}

// toolSpan is the execute_tool span of the turn's call c, and the result
// it returns.
func toolSpan(spec TurnSpec, r *rand.Rand, tick func(time.Duration) time.Time, traceID, rootID string, c int,
	toolName, callID, args string, resource map[string]any) (tool model.Span, result []byte) {
	toolStart := tick(10 * time.Millisecond)
	result, _ = json.Marshal(map[string]any{"stdout": words(r, sized(r, 120, spec.ContentScale)), "exit_code": 0})
	tool = model.Span{
		ProjectID: spec.ProjectID, TraceID: traceID, SpanID: SpanID(traceID, "tool", c), ParentSpanID: rootID,
		SpanName: "execute_tool " + toolName, SpanKind: model.KindInternal, StartedAt: toolStart,
		EndedAt: tick(time.Duration(20+r.IntN(2000)) * time.Millisecond), StatusCode: model.StatusOK,
		OperationName: model.OpExecuteTool, ConversationID: spec.ConversationID, ToolName: toolName,
		ToolType: "function", ToolCallID: callID, ToolCallArguments: args, ToolCallResult: string(result),
		CustomAttrsString: map[string]string{"weave.claude_code.display_name": toolName + ": " + vocabulary[r.IntN(len(vocabulary))]},
		ResourceAttrs:     resource,
	}
	return tool, result
}

// subagentSpans are the spans of an Explore subagent the turn's first tool
// call spawns (callID): its invoke_agent span and its one chat call.
func subagentSpans(spec TurnSpec, r *rand.Rand, tick func(time.Duration) time.Time, traceID, rootID, callID string,
	resource map[string]any) (sub, subChat model.Span) {
	subID := SpanID(traceID, "subagent")
	task := "Explore: " + words(r, 12)
	subStart := tick(5 * time.Millisecond)
	subUser := model.Message{Role: "user", Parts: []model.Part{{Type: model.PartText, Content: task}}}
	subChatStart := tick(300 * time.Millisecond)
	subText := words(r, sized(r, 60, spec.ContentScale))
	in2, out2 := int64(2000+r.IntN(8000)), int64(100+r.IntN(800))
	subChat = model.Span{
		ProjectID: spec.ProjectID, TraceID: traceID, SpanID: SpanID(traceID, "subchat"), ParentSpanID: subID,
		SpanName: "chat claude-haiku-4-5", SpanKind: model.KindClient, StartedAt: subChatStart,
		EndedAt: tick(2 * time.Second), StatusCode: model.StatusOK, OperationName: model.OpChat,
		ProviderName: "anthropic", ConversationID: spec.ConversationID, RequestModel: "claude-haiku-4-5",
		ResponseModel: "claude-haiku-4-5", InputTokens: i64(in2), OutputTokens: i64(out2), TotalTokens: i64(in2 + out2),
		FinishReasons:  []string{"end_turn"},
		InputMessages:  []model.Message{subUser},
		OutputMessages: []model.Message{{Role: "assistant", Parts: []model.Part{{Type: model.PartText, Content: subText}}, FinishReason: "end_turn"}},
		ResourceAttrs:  resource,
	}
	if spec.Turn%4 != 3 {
		// Priced, but for turns 3, 7, …, where the model had no
		// price (the call is unpriced).
		subChat.CostUSD, subChat.CostSource = model.CostPtr(in2*1000+out2*5000), model.CostPriceTable
	}
	sub = model.Span{
		ProjectID: spec.ProjectID, TraceID: traceID, SpanID: subID, ParentSpanID: rootID,
		SpanName: "invoke_agent Explore", SpanKind: model.KindInternal, StartedAt: subStart,
		EndedAt: tick(50 * time.Millisecond), StatusCode: model.StatusOK, OperationName: model.OpInvokeAgent,
		AgentName: "Explore", AgentVersion: "2.1.0", ConversationID: spec.ConversationID,
		InputMessages:  []model.Message{subUser},
		OutputMessages: []model.Message{{Role: "assistant", Parts: []model.Part{{Type: model.PartText, Content: subText}}}},
		CustomAttrsString: map[string]string{
			"weave.claude_code.subagent.spawning_tool_call_id": callID,
		},
		ResourceAttrs: resource,
	}
	return sub, subChat
}

// ConversationSpec describes a conversation of several turns.
type ConversationSpec struct {
	ProjectID      string
	ConversationID string
	Start          time.Time
	Turns          int
	CallsPerTurn   int
	Subagent       bool // a subagent in every other turn
	SystemPrompt   string
	Rand           *rand.Rand
	ContentScale   float64
	// FullHistory sends every previous turn's messages in each chat span's
	// input, as instrumentations that export the whole context do.
	FullHistory bool
}

// BuildConversation builds a conversation turn by turn.
func BuildConversation(spec ConversationSpec) []Turn {
	r := spec.Rand
	if r == nil {
		r = rand.New(rand.NewPCG(uint64(len(spec.ConversationID)), uint64(spec.Turns)))
	}
	var turns []Turn
	var history []model.Message
	t := spec.Start
	for i := 1; i <= spec.Turns; i++ {
		prompt := fmt.Sprintf("Turn %d: please %s", i, words(r, sized(r, 25, spec.ContentScale)))
		turn := BuildTurn(TurnSpec{
			ProjectID: spec.ProjectID, ConversationID: spec.ConversationID, Turn: i, Start: t, Prompt: prompt,
			Calls: spec.CallsPerTurn, Subagent: spec.Subagent && i%2 == 1, History: history,
			SystemPrompt: spec.SystemPrompt, Rand: r, ContentScale: spec.ContentScale,
		})
		turns = append(turns, turn)
		if spec.FullHistory {
			history = append(history, turn.Added...)
		}
		t = turn.Root.EndedAt.Add(time.Duration(5+r.IntN(120)) * time.Second)
	}
	return turns
}

// Flatten concatenates the spans of turns.
func Flatten(turns []Turn) []model.Span {
	var out []model.Span
	for _, t := range turns {
		out = append(out, t.Spans...)
	}
	return out
}

// SystemPrompt is a realistic, long system prompt (about 3 KB).
func SystemPrompt() string {
	r := rand.New(rand.NewPCG(7, 7))
	return "You are Claude Code, an interactive CLI tool that helps users with software engineering tasks.\n" + words(r, 480)
}

// Workload generates realistic conversations one after another, under
// fresh ids, for benchmarks: 1–10 turns of 1–6 model calls, a subagent in
// some turns, a shared 3 KB system prompt, and the full history in every
// chat span's input for half of the conversations. Each call returns the
// spans of the next conversation, starting where the previous one ended.
type Workload struct {
	ProjectID string
	// RawSpans gives every span a raw_span: the OTLP/JSON span an
	// instrumentation would have sent (RawSpan), gen_ai.input.messages with
	// the whole input included, as weave-server's normalizer keeps it.
	RawSpans bool
	r        *rand.Rand
	next     int
	t        time.Time
	system   string
	scale    float64
}

// NewWorkload starts a workload at start.
func NewWorkload(seed uint64, projectID string, start time.Time) *Workload {
	return &Workload{ProjectID: projectID, r: rand.New(rand.NewPCG(seed, 0x5eed)), t: start, system: SystemPrompt(), scale: 1}
}

// Next returns the spans of the next conversation.
func (w *Workload) Next() []model.Span {
	w.next++
	turns := BuildConversation(ConversationSpec{
		ProjectID:      w.ProjectID,
		ConversationID: fmt.Sprintf("%s-%08d", ID(4, w.ProjectID, w.r.Uint64()), w.next),
		Start:          w.t,
		Turns:          1 + w.r.IntN(10),
		CallsPerTurn:   1 + w.r.IntN(6),
		Subagent:       w.r.IntN(3) == 0,
		SystemPrompt:   w.system,
		Rand:           w.r,
		ContentScale:   w.scale,
		FullHistory:    w.r.IntN(2) == 0,
	})
	spans := Flatten(turns)
	if w.RawSpans {
		for i := range spans {
			spans[i].RawSpan = RawSpan(&spans[i])
		}
	}
	// Conversations overlap in time, as concurrent sessions do.
	w.t = w.t.Add(time.Duration(30+w.r.IntN(300)) * time.Second)
	return spans
}
