// Package mockgemini is a scripted stand-in for the Gemini API
// (generativelanguage v1beta: models/<model>:generateContent,
// :streamGenerateContent?alt=sse and :countTokens) on loopback, for running
// the real Gemini CLI in tests without a network. A script is a list of
// steps; each generate request is answered by the first unused step whose
// Match occurs in the request's newest content (its JSON form), else by the
// first unused step without a Match, else by Fallback. Every request is
// logged as one JSON line.
package mockgemini

import (
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
	// Match is a substring of the request's newest content (its JSON
	// form); empty fits any request.
	Match string `json:"match,omitempty"`
	// Thought is a thought summary sent before the text (a part with
	// "thought": true).
	Thought string `json:"thought,omitempty"`
	// Text is the model's answer.
	Text string `json:"text,omitempty"`
	// Calls are function calls, sent in one chunk after Text.
	Calls []Call `json:"calls,omitempty"`
	// Status, when not 0 or 200, answers with that HTTP status and an error
	// body in the API's envelope.
	Status int `json:"status,omitempty"`
	// Delay holds the answer back (a slow model, to see a turn running).
	Delay mockscript.Duration `json:"delay,omitempty"`
}

// Call is one function call the model makes.
type Call struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

// Server answers Gemini API requests from a script.
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
	Contents []json.RawMessage `json:"contents"`
}

// method splits ".../models/<model>:<method>" into model and method.
func method(path string) (model, m string) {
	i := strings.LastIndex(path, "/models/")
	if i < 0 {
		return "", ""
	}
	model, m, _ = strings.Cut(path[i+len("/models/"):], ":")
	return model, m
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	seq := s.script.Record(r, body, "Content-Type", "Accept", "User-Agent", "X-Goog-Api-Client")
	model, m := method(r.URL.Path)
	if r.Method != http.MethodPost || model == "" {
		apiError(w, http.StatusNotFound, "not mocked: "+r.Method+" "+r.URL.Path)
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		apiError(w, http.StatusBadRequest, "Invalid JSON payload received.")
		return
	}
	switch m {
	case "countTokens":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"totalTokens":%d}`, len(body)/4+1)
		return
	case "generateContent", "streamGenerateContent":
	default:
		apiError(w, http.StatusNotFound, "not mocked: method "+m)
		return
	}
	last := ""
	if n := len(req.Contents); n > 0 {
		last = string(req.Contents[n-1])
	}
	step := s.take(last)
	if step.Delay > 0 {
		time.Sleep(time.Duration(step.Delay))
	}
	if step.Status != 0 && step.Status != http.StatusOK {
		apiError(w, step.Status, fmt.Sprintf("mock error %d", step.Status))
		return
	}
	chunks := response(seq, model, len(body), len(req.Contents) > 1, step)
	if m == "generateContent" {
		w.Header().Set("Content-Type", "application/json")
		b, _ := json.Marshal(merge(chunks))
		w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	for _, c := range chunks {
		b, _ := json.Marshal(c)
		fmt.Fprintf(w, "data: %s\r\n\r\n", b)
		if fl != nil {
			fl.Flush()
		}
	}
}

// apiError writes an error in the Gemini API's envelope.
func apiError(w http.ResponseWriter, code int, msg string) {
	status := map[int]string{400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}[code]
	if status == "" {
		status = "UNKNOWN"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
	w.Write(b)
}

func (s *Server) take(last string) Step {
	if i := s.script.Take(last); i >= 0 {
		return s.steps[i]
	}
	return Step{Text: s.Fallback}
}

// usage figures are derived from sizes, so a replay of the same script
// gives the same numbers: about four bytes a token; from the second
// request of a conversation on, three quarters of the prompt count as
// cached.
func usage(reqBytes, outBytes, thoughtBytes int, hasHistory bool) map[string]any {
	in := reqBytes/4 + 1
	out := outBytes/4 + 1
	thoughts := thoughtBytes / 4
	u := map[string]any{"promptTokenCount": in, "candidatesTokenCount": out, "totalTokenCount": in + out + thoughts}
	if hasHistory {
		u["cachedContentTokenCount"] = in * 3 / 4
	}
	if thoughts > 0 {
		u["thoughtsTokenCount"] = thoughts
	}
	return u
}

// response is the stream of chunks answering a request with st: the
// thought, the text word by word, the function calls, and the usage and
// finish reason on the last chunk.
func response(seq int, model string, reqBytes int, hasHistory bool, st Step) []map[string]any {
	respID := fmt.Sprintf("mockresp%04d", seq)
	chunk := func(parts []any) map[string]any {
		return map[string]any{
			"candidates":   []any{map[string]any{"content": map[string]any{"role": "model", "parts": parts}, "index": 0}},
			"modelVersion": model, "responseId": respID,
		}
	}
	var out []map[string]any
	outBytes := 0
	if st.Thought != "" {
		out = append(out, chunk([]any{map[string]any{"text": st.Thought, "thought": true}}))
	}
	for _, w := range mockscript.SplitWords(st.Text) {
		out = append(out, chunk([]any{map[string]any{"text": w}}))
		outBytes += len(w)
	}
	if len(st.Calls) > 0 {
		var parts []any
		for _, c := range st.Calls {
			args := c.Args
			if len(args) == 0 {
				args = json.RawMessage("{}")
			}
			parts = append(parts, map[string]any{"functionCall": map[string]any{"name": c.Name, "args": args}})
			outBytes += len(c.Name) + len(args)
		}
		out = append(out, chunk(parts))
	}
	if len(out) == 0 {
		out = append(out, chunk([]any{map[string]any{"text": ""}}))
	}
	last := out[len(out)-1]
	last["candidates"].([]any)[0].(map[string]any)["finishReason"] = "STOP"
	last["usageMetadata"] = usage(reqBytes, outBytes, len(st.Thought), hasHistory)
	return out
}

// merge folds a stream's chunks into one generateContent response.
func merge(chunks []map[string]any) map[string]any {
	var parts []any
	for _, c := range chunks {
		parts = append(parts, c["candidates"].([]any)[0].(map[string]any)["content"].(map[string]any)["parts"].([]any)...)
	}
	last := chunks[len(chunks)-1]
	return map[string]any{
		"candidates":    []any{map[string]any{"content": map[string]any{"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}},
		"usageMetadata": last["usageMetadata"], "modelVersion": last["modelVersion"], "responseId": last["responseId"],
	}
}
