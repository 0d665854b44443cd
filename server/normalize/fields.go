package normalize

import (
	"encoding/json"
	"math"
	"strings"

	"github.com/weavetrace/weave/server/model"
)

// field names one canonical column a mapping can fill.
type field int

const (
	fOperation field = iota
	fProvider
	fAgentName
	fAgentID
	fAgentVersion
	fConversationID
	fRequestModel
	fResponseModel
	fResponseID
	fInputTokens
	fOutputTokens
	fCacheRead
	fCacheCreation
	fReasoning
	fFinishReasons
	fInputMessages
	fOutputMessages
	fSystemInstructions
	fToolName
	fToolType
	fToolCallID
	fToolCallArguments
	fToolCallResult
	fErrorType
	fThreadID
	fIsTurn
	fCompactionSummary
	fCompactionBefore
	fCompactionAfter
	fTotalTokens
	fDisplayName
	fWBRunID
	fWBRunStep
	fModelParameters
	fCacheCreation5m
	fCacheCreation1h
	fCost // a reported cost in USD
)

// rename maps one attribute key onto a canonical column.
type rename struct {
	key string
	to  field
}

// mapping is one producer's contribution: a table of attribute renames and
// a little code. Mappings run in the order of the mappings slice, and a
// column is filled by the first mapping (and, within it, the first row)
// that has a value for it: that order is each column's fallback chain.
type mapping struct {
	name    string
	detect  func(c *spanCtx) bool // nil: always applies
	renames []rename
	extract func(c *spanCtx) // runs after the renames
}

// mappings is the global order of the fallback chains.
var mappings = []mapping{
	weaveMapping,     // weave-agentd's own weave.* keys
	wandbMapping,     // wandb.thread_id / wandb.is_turn
	genAIMapping,     // OTel GenAI, current names then pre-1.37 aliases
	anthropicMapping, // the Anthropic SDK's own span
	openInferenceMapping,
	traceloopMapping,
	aiSDKMapping, // Vercel AI SDK v6 (ai.*); v7 is plain gen_ai
	mlflowMapping,
	adkMapping, // Google ADK / Vertex (gcp.vertex.agent.*)
	openLitMapping,
	langfuseMapping,
	logfireMapping,      // Logfire / pydantic-ai
	openAIAgentsMapping, // OpenAI Agents SDK bridges
	mastraMapping,
	genericMapping, // input / output / inputs / outputs, span-name hints
}

func applyRenames(c *spanCtx, rows []rename) {
	for _, r := range rows {
		c.fill(r.to, r.key)
	}
}

// isSet reports whether the column already has a value.
//
// long: a flat table, one case per field naming the column it fills.
func (c *spanCtx) isSet(f field) bool {
	s := c.out
	switch f {
	case fOperation:
		return s.OperationName != ""
	case fProvider:
		return s.ProviderName != ""
	case fAgentName:
		return s.AgentName != ""
	case fAgentID:
		return s.AgentID != ""
	case fAgentVersion:
		return s.AgentVersion != ""
	case fConversationID:
		return s.ConversationID != ""
	case fRequestModel:
		return s.RequestModel != ""
	case fResponseModel:
		return s.ResponseModel != ""
	case fResponseID:
		return s.ResponseID != ""
	case fInputTokens:
		return s.InputTokens != nil
	case fOutputTokens:
		return s.OutputTokens != nil
	case fCacheRead:
		return s.CacheReadInputTokens != nil
	case fCacheCreation:
		return s.CacheCreationInputTokens != nil
	case fReasoning:
		return s.ReasoningTokens != nil
	case fFinishReasons:
		return len(s.FinishReasons) > 0
	case fInputMessages:
		return len(s.InputMessages) > 0
	case fOutputMessages:
		return len(s.OutputMessages) > 0
	case fSystemInstructions:
		return len(s.SystemInstructions) > 0
	case fToolName:
		return s.ToolName != ""
	case fToolType:
		return s.ToolType != ""
	case fToolCallID:
		return s.ToolCallID != ""
	case fToolCallArguments:
		return s.ToolCallArguments != ""
	case fToolCallResult:
		return s.ToolCallResult != ""
	case fErrorType:
		return s.ErrorType != ""
	case fThreadID:
		return s.ThreadID != ""
	case fIsTurn:
		return c.isTurnSet
	case fCompactionSummary:
		return s.CompactionSummary != ""
	case fCompactionBefore:
		return s.CompactionItemsBefore != 0
	case fCompactionAfter:
		return s.CompactionItemsAfter != 0
	case fTotalTokens:
		return s.TotalTokens != nil
	case fDisplayName:
		return s.DisplayName != ""
	case fWBRunID:
		return s.WBRunID != ""
	case fWBRunStep:
		return s.WBRunStep != nil
	case fModelParameters:
		return len(s.ModelParameters) > 0
	case fCacheCreation5m:
		return s.CacheCreation5mInputTokens != nil
	case fCacheCreation1h:
		return s.CacheCreation1hInputTokens != nil
	case fCost:
		return s.CostUSD != nil
	}
	return true
}

// fill sets column f from attribute key when the column is still empty.
// The key counts as consumed (it is an alias of a column) whether or not
// its value was needed.
func (c *spanCtx) fill(f field, key string) {
	v, ok := c.a.get(key)
	if !ok || c.isSet(f) {
		return
	}
	switch f {
	case fInputTokens, fOutputTokens, fCacheRead, fCacheCreation, fReasoning, fCompactionBefore, fCompactionAfter,
		fTotalTokens, fWBRunStep, fCacheCreation5m, fCacheCreation1h:
		n, ok := valueInt(v)
		if !ok {
			c.warn(CodeBadValue, "%s: not an integer: %q", key, truncate(valueString(v), 64))
			return
		}
		if n < 0 {
			c.warn(CodeBadValue, "%s: negative count %d", key, n)
			return
		}
		c.setInt(f, n)
	case fFinishReasons:
		c.setFinishReasons(valueStrings(v))
	case fInputMessages, fOutputMessages:
		d, ok := valueJSONish(v)
		if !ok {
			return
		}
		dir := dirInput
		if f == fOutputMessages {
			dir = dirOutput
		}
		c.setMessages(f, parseMessages(d, dir))
	case fSystemInstructions:
		d, ok := valueJSONish(v)
		if !ok {
			return
		}
		c.out.SystemInstructions = systemTexts(d)
	case fToolCallArguments, fToolCallResult:
		t := valueText(v)
		if strings.HasPrefix(c.scope.Name(), "mlflow") {
			t = unquoteJSONText(t)
		}
		c.setStr(f, t)
	case fCost:
		f, ok := valueFloat(v)
		if !ok || f < 0 {
			c.warn(CodeBadValue, "%s: not a cost: %q", key, truncate(valueString(v), 64))
			return
		}
		c.setCost(f)
	case fIsTurn:
		if b, ok := c.a.boolean(key); ok {
			c.out.IsTurn, c.isTurnSet = b, true
		}
	case fModelParameters:
		d, ok := valueJSONish(v)
		if !ok {
			return
		}
		c.setParams(asMap(d))
	default:
		c.setStr(f, valueString(v))
	}
}

// valueText renders a value as text: strings as they are, structured
// values as JSON.
func valueText(v interface{ AsString() string }) string {
	return v.AsString()
}

// unquoteJSONText returns the string a value holds when the producer
// JSON-encoded a plain string into it (MLflow's GenAI export sets
// gen_ai.tool.call.result to json.dumps(outputs), so a string result
// arrives quoted, with \u escapes); any other text is returned as is. Only
// for MLflow's spans: elsewhere a tool may really return a quoted string.
func unquoteJSONText(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	var u string
	if json.Unmarshal([]byte(s), &u) != nil {
		return s
	}
	return u
}

func (c *spanCtx) setStr(f field, v string) {
	if v == "" || c.isSet(f) {
		return
	}
	s := c.out
	switch f {
	case fOperation:
		s.OperationName = v
	case fProvider:
		s.ProviderName = v
	case fAgentName:
		s.AgentName = v
	case fAgentID:
		s.AgentID = v
	case fAgentVersion:
		s.AgentVersion = v
	case fConversationID:
		s.ConversationID = v
	case fRequestModel:
		s.RequestModel = v
	case fResponseModel:
		s.ResponseModel = v
	case fResponseID:
		s.ResponseID = v
	case fToolName:
		s.ToolName = v
	case fToolType:
		s.ToolType = v
	case fToolCallID:
		s.ToolCallID = v
	case fToolCallArguments:
		s.ToolCallArguments = v
	case fToolCallResult:
		s.ToolCallResult = v
	case fErrorType:
		s.ErrorType = v
	case fThreadID:
		s.ThreadID = v
	case fCompactionSummary:
		s.CompactionSummary = v
	case fDisplayName:
		s.DisplayName = v
	case fWBRunID:
		s.WBRunID = v
	}
}

func (c *spanCtx) setInt(f field, n int64) {
	if c.isSet(f) {
		return
	}
	s := c.out
	switch f {
	case fInputTokens:
		s.InputTokens = &n
	case fOutputTokens:
		s.OutputTokens = &n
	case fCacheRead:
		s.CacheReadInputTokens = &n
	case fCacheCreation:
		s.CacheCreationInputTokens = &n
	case fReasoning:
		s.ReasoningTokens = &n
	case fCompactionBefore:
		s.CompactionItemsBefore = n
	case fCompactionAfter:
		s.CompactionItemsAfter = n
	case fTotalTokens:
		s.TotalTokens = &n
	case fWBRunStep:
		s.WBRunStep = &n
	case fCacheCreation5m:
		s.CacheCreation5mInputTokens = &n
	case fCacheCreation1h:
		s.CacheCreation1hInputTokens = &n
	}
}

// setCost sets a reported cost (USD), whole nano-dollars.
func (c *spanCtx) setCost(usd float64) {
	if c.isSet(fCost) || math.IsNaN(usd) || math.IsInf(usd, 0) || usd < 0 || usd > 1e9 {
		return
	}
	c.out.CostUSD = model.CostPtr(model.CostNanos(usd))
	c.out.CostSource = model.CostReported
}

// setParams sets the model parameters from a decoded object; the request
// model, which has its own column, is left out.
func (c *spanCtx) setParams(m map[string]any) {
	if len(m) == 0 || c.isSet(fModelParameters) {
		return
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k == "model" || v == nil {
			continue
		}
		if _, err := json.Marshal(v); err != nil {
			c.warn(CodeBadValue, "model parameter %s: %v", truncate(k, 64), err) // NaN or ±Inf
			continue
		}
		out[k] = v
	}
	if len(out) > 0 {
		c.out.ModelParameters = out
	}
}

// setAnyInt sets a token column from a decoded JSON number.
func (c *spanCtx) setAnyInt(f field, v any) {
	if v == nil || c.isSet(f) {
		return
	}
	if n, ok := anyInt(v); ok && n >= 0 {
		c.setInt(f, n)
	}
}

func (c *spanCtx) setMessages(f field, msgs []model.Message) {
	if len(msgs) == 0 || c.isSet(f) {
		return
	}
	if f == fInputMessages {
		c.out.InputMessages = msgs
	} else {
		c.out.OutputMessages = msgs
	}
}

// setMessagesFrom parses a decoded value into the message column.
func (c *spanCtx) setMessagesFrom(f field, v any) {
	if v == nil || c.isSet(f) {
		return
	}
	dir := dirInput
	if f == fOutputMessages {
		dir = dirOutput
	}
	c.setMessages(f, parseMessages(v, dir))
}

func (c *spanCtx) setSystem(texts []string) {
	if len(texts) == 0 || c.isSet(fSystemInstructions) {
		return
	}
	c.out.SystemInstructions = texts
}

func (c *spanCtx) setFinishReasons(rs []string) {
	if len(rs) == 0 || c.isSet(fFinishReasons) {
		return
	}
	c.out.FinishReasons = rs
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
