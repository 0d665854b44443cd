package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ValidateATIF checks a trajectory document against ATIF (harbor's RFC
// 0001, v1.0 to v1.4): every field the RFC names and no other (extra
// objects aside), required fields present with their types, step_id
// counting from 1, sources system/user/agent, the agent-only fields on agent
// steps only, ISO 8601 timestamps, observation results naming tool calls of
// their own step, tool arguments that are JSON objects. Subagent
// trajectories embedded under the root's extra (SubagentsKey) are checked
// too, and every subagent reference must name one of them. It returns every
// problem found, joined.
func ValidateATIF(doc []byte) error {
	var root wireTrajectory
	if err := strictDecode(doc, &root); err != nil {
		return fmt.Errorf("atif: %w", err)
	}
	v := &atifValidator{}
	v.trajectory("", &root)
	subs := map[string]bool{}
	if raw, ok := root.Extra[SubagentsKey]; ok {
		b, _ := json.Marshal(raw)
		var list []json.RawMessage
		if err := json.Unmarshal(b, &list); err != nil {
			v.errf("extra.%s: not an array of trajectories", SubagentsKey)
		}
		for i, r := range list {
			path := fmt.Sprintf("extra.%s[%d]", SubagentsKey, i)
			var sub wireTrajectory
			if err := strictDecode(r, &sub); err != nil {
				v.errf("%s: %v", path, err)
				continue
			}
			v.trajectory(path+".", &sub)
			if sub.SessionID != nil {
				subs[*sub.SessionID] = true
				v.pointers["#/extra/"+SubagentsKey+"/"+strconv.Itoa(i)] = *sub.SessionID
			}
		}
	}
	for _, r := range v.refs {
		if !subs[r.session] {
			v.errf("%s: subagent_trajectory_ref names session %q, which is not among the embedded subagent trajectories", r.path, r.session)
		}
		if r.pointer != "" && v.pointers[r.pointer] != r.session {
			v.errf("%s: trajectory_path %q is not the trajectory of session %q", r.path, r.pointer, r.session)
		}
	}
	return errors.Join(v.errs...)
}

type wireTrajectory struct {
	SchemaVersion *string        `json:"schema_version"`
	SessionID     *string        `json:"session_id"`
	Agent         *wireAgent     `json:"agent"`
	Steps         *[]wireStep    `json:"steps"`
	Notes         *string        `json:"notes"`
	FinalMetrics  *wireFinal     `json:"final_metrics"`
	Extra         map[string]any `json:"extra"`
}

type wireAgent struct {
	Name      *string        `json:"name"`
	Version   *string        `json:"version"`
	ModelName *string        `json:"model_name"`
	Extra     map[string]any `json:"extra"`
}

type wireFinal struct {
	TotalPromptTokens     *int64         `json:"total_prompt_tokens"`
	TotalCompletionTokens *int64         `json:"total_completion_tokens"`
	TotalCachedTokens     *int64         `json:"total_cached_tokens"`
	TotalCostUSD          *float64       `json:"total_cost_usd"`
	TotalSteps            *int64         `json:"total_steps"`
	Extra                 map[string]any `json:"extra"`
}

type wireStep struct {
	StepID           *int64          `json:"step_id"`
	Timestamp        *string         `json:"timestamp"`
	Source           *string         `json:"source"`
	ModelName        *string         `json:"model_name"`
	ReasoningEffort  json.RawMessage `json:"reasoning_effort"`
	Message          *string         `json:"message"`
	ReasoningContent *string         `json:"reasoning_content"`
	ToolCalls        *[]wireToolCall `json:"tool_calls"`
	Observation      *struct {
		Results *[]wireResult `json:"results"`
	} `json:"observation"`
	Metrics *wireMetrics   `json:"metrics"`
	Extra   map[string]any `json:"extra"`
}

type wireToolCall struct {
	ToolCallID   *string         `json:"tool_call_id"`
	FunctionName *string         `json:"function_name"`
	Arguments    json.RawMessage `json:"arguments"`
}

type wireResult struct {
	SourceCallID *string `json:"source_call_id"`
	Content      *string `json:"content"`
	Subagents    *[]struct {
		SessionID      *string        `json:"session_id"`
		TrajectoryPath *string        `json:"trajectory_path"`
		Extra          map[string]any `json:"extra"`
	} `json:"subagent_trajectory_ref"`
}

type wireMetrics struct {
	PromptTokens       *int64         `json:"prompt_tokens"`
	CompletionTokens   *int64         `json:"completion_tokens"`
	CachedTokens       *int64         `json:"cached_tokens"`
	CostUSD            *float64       `json:"cost_usd"`
	PromptTokenIDs     []int64        `json:"prompt_token_ids"`
	CompletionTokenIDs []int64        `json:"completion_token_ids"`
	Logprobs           []float64      `json:"logprobs"`
	Extra              map[string]any `json:"extra"`
}

type subagentRef struct{ path, session, pointer string }

type atifValidator struct {
	errs     []error
	refs     []subagentRef
	pointers map[string]string
}

func (v *atifValidator) errf(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("atif: "+format, args...))
}

// strictDecode decodes one JSON value with no unknown fields (inside the
// typed part of the document) and nothing after it.
func strictDecode(b []byte, into any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(into); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the trajectory")
	}
	return nil
}

var atifVersions = map[string]bool{"ATIF-v1.0": true, "ATIF-v1.1": true, "ATIF-v1.2": true, "ATIF-v1.3": true, "ATIF-v1.4": true}

func (v *atifValidator) trajectory(p string, t *wireTrajectory) {
	if v.pointers == nil {
		v.pointers = map[string]string{}
	}
	switch {
	case t.SchemaVersion == nil:
		v.errf("%sschema_version: required", p)
	case !atifVersions[*t.SchemaVersion]:
		v.errf("%sschema_version: %q is not an ATIF version (ATIF-v1.0 to ATIF-v1.4)", p, *t.SchemaVersion)
	}
	if t.SessionID == nil || *t.SessionID == "" {
		v.errf("%ssession_id: required", p)
	}
	if t.Agent == nil {
		v.errf("%sagent: required", p)
	} else {
		if t.Agent.Name == nil || *t.Agent.Name == "" {
			v.errf("%sagent.name: required", p)
		}
		if t.Agent.Version == nil || *t.Agent.Version == "" {
			v.errf("%sagent.version: required", p)
		}
	}
	if t.Steps == nil {
		v.errf("%ssteps: required", p)
		return
	}
	for i := range *t.Steps {
		v.step(fmt.Sprintf("%ssteps[%d]", p, i), i, &(*t.Steps)[i])
	}
	if f := t.FinalMetrics; f != nil {
		for name, n := range map[string]*int64{"total_prompt_tokens": f.TotalPromptTokens, "total_completion_tokens": f.TotalCompletionTokens,
			"total_cached_tokens": f.TotalCachedTokens, "total_steps": f.TotalSteps} {
			if n != nil && *n < 0 {
				v.errf("%sfinal_metrics.%s: negative", p, name)
			}
		}
	}
}

// step checks a step: its head (id, time, source, message, the fields
// only agent steps have), its tool calls, its observation (results
// answer the step's calls) and its metrics.
func (v *atifValidator) step(p string, i int, s *wireStep) {
	v.stepHead(p, i, s)
	calls := v.toolCalls(p, s.ToolCalls)
	if o := s.Observation; o != nil {
		if o.Results == nil {
			v.errf("%s.observation.results: required", p)
			return
		}
		v.results(p, *o.Results, calls)
	}
	v.stepMetrics(p, s.Metrics)
}

// stepHead checks a step's id, time, source and message, and that only
// agent steps carry the fields of a model call.
func (v *atifValidator) stepHead(p string, i int, s *wireStep) {
	if s.StepID == nil {
		v.errf("%s.step_id: required", p)
	} else if *s.StepID != int64(i+1) {
		v.errf("%s.step_id: %d, want %d (sequential from 1)", p, *s.StepID, i+1)
	}
	if s.Timestamp != nil {
		if _, err := time.Parse(time.RFC3339Nano, *s.Timestamp); err != nil {
			v.errf("%s.timestamp: %q is not ISO 8601", p, *s.Timestamp)
		}
	}
	source := ""
	if s.Source != nil {
		source = *s.Source
	}
	switch source {
	case SourceSystem, SourceUser, SourceAgent:
	default:
		v.errf("%s.source: %q, want system, user or agent", p, source)
	}
	if s.Message == nil {
		v.errf("%s.message: required (may be empty)", p)
	}
	if source != SourceAgent {
		for name, set := range map[string]bool{"model_name": s.ModelName != nil, "reasoning_effort": s.ReasoningEffort != nil,
			"reasoning_content": s.ReasoningContent != nil, "tool_calls": s.ToolCalls != nil, "metrics": s.Metrics != nil} {
			if set {
				v.errf("%s.%s: only on agent steps (source %q)", p, name, source)
			}
		}
	}
	if len(s.ReasoningEffort) > 0 {
		var str string
		var f float64
		if json.Unmarshal(s.ReasoningEffort, &str) != nil && json.Unmarshal(s.ReasoningEffort, &f) != nil {
			v.errf("%s.reasoning_effort: want a string or a number", p)
		}
	}
}

// toolCalls checks a step's tool calls and returns their ids.
func (v *atifValidator) toolCalls(p string, tcs *[]wireToolCall) map[string]bool {
	calls := map[string]bool{}
	if tcs == nil {
		return calls
	}
	for j, c := range *tcs {
		cp := fmt.Sprintf("%s.tool_calls[%d]", p, j)
		switch {
		case c.ToolCallID == nil || *c.ToolCallID == "":
			v.errf("%s.tool_call_id: required", cp)
		case calls[*c.ToolCallID]:
			v.errf("%s.tool_call_id: %q twice in the step", cp, *c.ToolCallID)
		default:
			calls[*c.ToolCallID] = true
		}
		if c.FunctionName == nil || *c.FunctionName == "" {
			v.errf("%s.function_name: required", cp)
		}
		if t := strings.TrimSpace(string(c.Arguments)); !strings.HasPrefix(t, "{") {
			v.errf("%s.arguments: want a JSON object, got %.40q", cp, t)
		}
	}
	return calls
}

// results checks an observation's results: each answers a call of the
// step, and names the subagent trajectories it refers to (checked once
// all are read).
func (v *atifValidator) results(p string, results []wireResult, calls map[string]bool) {
	for j, r := range results {
		rp := fmt.Sprintf("%s.observation.results[%d]", p, j)
		if r.SourceCallID != nil && !calls[*r.SourceCallID] {
			v.errf("%s.source_call_id: %q is no tool call of the step", rp, *r.SourceCallID)
		}
		if r.Subagents == nil {
			continue
		}
		for k, ref := range *r.Subagents {
			if ref.SessionID == nil || *ref.SessionID == "" {
				v.errf("%s.subagent_trajectory_ref[%d].session_id: required", rp, k)
				continue
			}
			sr := subagentRef{path: fmt.Sprintf("%s.subagent_trajectory_ref[%d]", rp, k), session: *ref.SessionID}
			if ref.TrajectoryPath != nil && strings.HasPrefix(*ref.TrajectoryPath, "#") {
				sr.pointer = *ref.TrajectoryPath
			}
			v.refs = append(v.refs, sr)
		}
	}
}

// stepMetrics checks a step's token counts.
func (v *atifValidator) stepMetrics(p string, m *wireMetrics) {
	if m == nil {
		return
	}
	for name, n := range map[string]*int64{"prompt_tokens": m.PromptTokens, "completion_tokens": m.CompletionTokens, "cached_tokens": m.CachedTokens} {
		if n != nil && *n < 0 {
			v.errf("%s.metrics.%s: negative", p, name)
		}
	}
	if m.CachedTokens != nil && m.PromptTokens != nil && *m.CachedTokens > *m.PromptTokens {
		v.errf("%s.metrics.cached_tokens: %d, more than prompt_tokens %d (they are a part of it)", p, *m.CachedTokens, *m.PromptTokens)
	}
}
