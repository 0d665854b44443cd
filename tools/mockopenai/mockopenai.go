// Package mockopenai is a scripted stand-in for the OpenAI Responses API
// (POST /v1/responses, streamed as server-sent events) on loopback, for
// running the real Codex CLI in tests without a network. A script is a list
// of steps; each request is answered by the first unused step whose Match
// occurs in the request's newest input item (a step without Match fits any
// request), so the answers of parallel subagents do not depend on their
// order. Every request is logged as one JSON line.
package mockopenai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/weavetrace/weave/tools/mockscript"
)

// Step is one scripted model response.
type Step struct {
	// Match is a substring of the request's newest input item (its JSON
	// form); empty fits any request.
	Match string `json:"match,omitempty"`
	// Reasoning is a reasoning summary sent before the output.
	Reasoning string `json:"reasoning,omitempty"`
	// Text is the assistant message.
	Text string `json:"text,omitempty"`
	// Calls are function calls, sent in order after Text.
	Calls []Call `json:"calls,omitempty"`
	// Status, when not 0 or 200, answers with that HTTP status and an error body.
	Status int `json:"status,omitempty"`
	// Delay holds the answer back (a slow model, to see a turn running).
	Delay Duration `json:"delay,omitempty"`
}

// Call is one function call the model makes.
type Call struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
	// Custom sends a custom tool call (freeform input, e.g. apply_patch)
	// with Input instead of a function call.
	Custom bool   `json:"custom,omitempty"`
	Input  string `json:"input,omitempty"`
	// Namespace is the tool's namespace (Codex's multi_agent_v1 tools).
	Namespace string `json:"namespace,omitempty"`
}

// Duration is a time.Duration that reads "1.5s" from JSON.
type Duration = mockscript.Duration

// Server answers Responses API requests from a script.
type Server struct {
	steps  []Step
	script *mockscript.Script
	// Fallback answers a request no step fits (default: a short text).
	Fallback string
}

// New returns a server for the script; log (may be nil) gets one JSON line
// per request.
func New(steps []Step, log io.Writer) *Server {
	matches := make([]string, len(steps))
	for i, st := range steps {
		matches[i] = st.Match
	}
	return &Server{steps: steps, script: mockscript.New(matches, log), Fallback: "OK."}
}

// Unused returns the indexes of the steps no request has taken.
func (s *Server) Unused() []int { return s.script.Unused() }

type request struct {
	Model  string            `json:"model"`
	Input  []json.RawMessage `json:"input"`
	Stream bool              `json:"stream"`
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	seq := s.script.Record(r, body, "Content-Type", "Accept", "Openai-Beta", "Session_id", "Originator", "User-Agent", "Version", "X-Codex-Turn-Metadata")
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models"):
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[],"models":[]}`)
		return
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/responses"):
	default:
		http.Error(w, `{"error":{"message":"not mocked","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	last := ""
	if n := len(req.Input); n > 0 {
		last = string(req.Input[n-1])
	}
	step := s.take(last)
	if step.Delay > 0 {
		time.Sleep(time.Duration(step.Delay))
	}
	if step.Status != 0 && step.Status != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(step.Status)
		fmt.Fprintf(w, `{"error":{"message":"mock error %d","type":"server_error","code":"mock_%d"}}`, step.Status, step.Status)
		return
	}
	s.stream(w, seq, req, len(body), step)
}

func (s *Server) take(last string) Step {
	if i := s.script.Take(last); i >= 0 {
		return s.steps[i]
	}
	return Step{Text: s.Fallback}
}

// Usage figures are derived from sizes, so a replay of the same script
// gives the same numbers: about four bytes a token; from the second call of
// a conversation on, three quarters of the input count as cached.
func usage(reqBytes, outBytes, reasoningBytes int, hasHistory bool) map[string]any {
	in := reqBytes/4 + 1
	cached := 0
	if hasHistory {
		cached = in * 3 / 4
	}
	reasoning := reasoningBytes / 4
	out := outBytes/4 + 1 + reasoning
	return map[string]any{
		"input_tokens":          in,
		"input_tokens_details":  map[string]any{"cached_tokens": cached},
		"output_tokens":         out,
		"output_tokens_details": map[string]any{"reasoning_tokens": reasoning},
		"total_tokens":          in + out,
	}
}

func (s *Server) stream(w http.ResponseWriter, seq int, req request, reqBytes int, st Step) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl, _ := w.(http.Flusher)
	var buf bytes.Buffer
	emit := func(v map[string]any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(&buf, "event: %s\ndata: %s\n\n", v["type"], b)
		w.Write(buf.Bytes())
		buf.Reset()
		if fl != nil {
			fl.Flush()
		}
	}
	respID := fmt.Sprintf("resp_mock%04d", seq)
	base := map[string]any{"id": respID, "object": "response", "model": req.Model, "status": "in_progress", "created_at": time.Now().Unix()}
	emit(map[string]any{"type": "response.created", "response": base})
	idx := 0
	outBytes := 0
	if st.Reasoning != "" {
		item := map[string]any{"type": "reasoning", "id": fmt.Sprintf("rs_mock%04d_%d", seq, idx), "summary": []any{map[string]any{"type": "summary_text", "text": st.Reasoning}}}
		emit(map[string]any{"type": "response.output_item.added", "output_index": idx, "item": item})
		emit(map[string]any{"type": "response.output_item.done", "output_index": idx, "item": item})
		idx++
	}
	if st.Text != "" {
		id := fmt.Sprintf("msg_mock%04d_%d", seq, idx)
		emit(map[string]any{"type": "response.output_item.added", "output_index": idx, "item": map[string]any{"type": "message", "id": id, "role": "assistant", "status": "in_progress", "content": []any{}}})
		for _, chunk := range mockscript.SplitWords(st.Text) {
			emit(map[string]any{"type": "response.output_text.delta", "item_id": id, "output_index": idx, "content_index": 0, "delta": chunk})
		}
		item := map[string]any{"type": "message", "id": id, "role": "assistant", "status": "completed", "content": []any{map[string]any{"type": "output_text", "text": st.Text, "annotations": []any{}}}}
		emit(map[string]any{"type": "response.output_item.done", "output_index": idx, "item": item})
		outBytes += len(st.Text)
		idx++
	}
	for i, c := range st.Calls {
		callID := fmt.Sprintf("call_mock%04d_%d", seq, i)
		var item map[string]any
		if c.Custom {
			item = map[string]any{"type": "custom_tool_call", "id": fmt.Sprintf("ctc_mock%04d_%d", seq, i), "call_id": callID, "name": c.Name, "input": c.Input, "status": "completed"}
			outBytes += len(c.Input)
		} else {
			args := string(c.Args)
			if args == "" {
				args = "{}"
			}
			item = map[string]any{"type": "function_call", "id": fmt.Sprintf("fc_mock%04d_%d", seq, i), "call_id": callID, "name": c.Name, "arguments": substitute(args, req.Input), "status": "completed"}
			if c.Namespace != "" {
				item["namespace"] = c.Namespace
			}
			outBytes += len(args)
		}
		emit(map[string]any{"type": "response.output_item.added", "output_index": idx, "item": item})
		emit(map[string]any{"type": "response.output_item.done", "output_index": idx, "item": item})
		idx++
	}
	done := map[string]any{}
	for k, v := range base {
		done[k] = v
	}
	done["status"] = "completed"
	done["usage"] = usage(reqBytes, outBytes, len(st.Reasoning), len(req.Input) > 1)
	emit(map[string]any{"type": "response.completed", "response": done})
}

// substitute replaces "$OUTPUT.<key>" in a call's arguments with the string
// value of <key> in the newest function_call_output of the request whose
// output is a JSON object holding it (an id a tool returned, e.g. the
// agent id spawn_agent answers with, which a script cannot know).
func substitute(args string, input []json.RawMessage) string {
	for strings.Contains(args, "$OUTPUT.") {
		i := strings.Index(args, "$OUTPUT.")
		j := i + len("$OUTPUT.")
		for j < len(args) && (args[j] == '_' || args[j] >= 'a' && args[j] <= 'z' || args[j] >= 'A' && args[j] <= 'Z' || args[j] >= '0' && args[j] <= '9') {
			j++
		}
		key, val := args[i+len("$OUTPUT."):j], ""
		for k := len(input) - 1; k >= 0 && val == ""; k-- {
			var item struct {
				Type   string `json:"type"`
				Output string `json:"output"`
			}
			if json.Unmarshal(input[k], &item) != nil || item.Type != "function_call_output" {
				continue
			}
			var m map[string]any
			if json.Unmarshal([]byte(item.Output), &m) == nil {
				val, _ = m[key].(string)
			}
		}
		args = args[:i] + val + args[j:]
	}
	return args
}
