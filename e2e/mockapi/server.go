// Package mockapi is a scripted mock of the Anthropic Messages API, for
// running the real Claude Code CLI in weave's end-to-end tests without a
// network: `POST /v1/messages` answered from a Script (streamed as
// server-sent events or as one JSON message; text, thinking and tool_use
// blocks, parallel tool calls; HTTP errors in the API's envelope), the
// requests Claude Code makes on its own (compaction, the auto-mode
// classifier, title generation) answered without consuming the script,
// `HEAD /`, count_tokens and models, realistic usage with cache reads and
// writes, and a JSONL log of every request and reply.
package mockapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

const maxBody = 64 << 20

// Server is the mock. Create it with New, serve it with Start (or use it
// as an http.Handler), and after the scenario ask Check whether the
// script went as written.
type Server struct {
	script *Script

	mu       sync.Mutex
	logFile  *os.File
	seq      int
	entries  []Entry
	main     cursor
	agents   []agentState
	owner    map[string]int   // thread mark → index in agents
	cached   map[string]int64 // conversation → tokens cached
	problems []string

	ln   net.Listener
	http *http.Server
}

type agentState struct {
	assigned bool
	cursor
}

// cursor is where a track is in its steps: the next step, and how often
// it was used already (a repeated step stays next until used up).
type cursor struct {
	next, uses int
}

// take returns the index of the step that answers req (-1: the track is
// exhausted) and moves on.
func (c *cursor) take(req *Request, steps []Step) int {
	if c.uses == 0 {
		c.next = skipUnmet(req, steps, c.next)
	}
	if c.next >= len(steps) {
		return -1
	}
	i := c.next
	c.uses++
	if c.uses >= max(1, steps[i].Repeat) {
		c.next, c.uses = c.next+1, 0
	}
	return i
}

// unused is how many required steps the track has left: a repeated step
// used at least once counts as used.
func (c *cursor) unused(steps []Step) int {
	from := c.next
	if c.uses > 0 {
		from++
	}
	return required(steps[min(from, len(steps)):])
}

// Entry is one line of the request log.
type Entry struct {
	Seq     int               `json:"seq"`
	Time    time.Time         `json:"time"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   string            `json:"query,omitempty"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body,omitempty"`
	// Kind and Track say how a messages request was classified and which
	// script track answered it ("main", "subagents[1]", "side").
	Kind  Kind   `json:"kind,omitempty"`
	Track string `json:"track,omitempty"`
	// Step is the script step used (-1: none).
	Step      int   `json:"step"`
	ExpectOK  *bool `json:"expect_ok,omitempty"`
	Exhausted bool  `json:"exhausted,omitempty"`
	Reply     Reply `json:"reply"`
}

// Reply is what the mock answered.
type Reply struct {
	Status       int             `json:"status"`
	Stream       bool            `json:"stream,omitempty"`
	ID           string          `json:"id,omitempty"`
	Content      []Block         `json:"content,omitempty"`
	StopReason   string          `json:"stop_reason,omitempty"`
	StopSequence string          `json:"stop_sequence,omitempty"`
	Usage        *apiUsage       `json:"usage,omitempty"`
	Error        json.RawMessage `json:"error,omitempty"`
	Body         json.RawMessage `json:"body,omitempty"`
}

// New returns a mock answering from script. Requests are appended to
// logPath as JSON lines ("" keeps them in memory only).
func New(script *Script, logPath string) (*Server, error) {
	s := &Server{script: script, agents: make([]agentState, len(script.Subagents)),
		owner: map[string]int{}, cached: map[string]int64{}}
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("mockapi: %w", err)
		}
		s.logFile = f
	}
	return s, nil
}

// Start serves on a free 127.0.0.1 port.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("mockapi: %w", err)
	}
	s.ln = ln
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(ln)
	return nil
}

// URL is the base URL to give Claude Code as ANTHROPIC_BASE_URL.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops serving (requests in flight are cut) and closes the log.
func (s *Server) Close() error {
	var err error
	if s.http != nil {
		err = s.http.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logFile != nil {
		err = errors.Join(err, s.logFile.Close())
		s.logFile = nil
	}
	return err
}

// Entries returns a copy of the request log so far.
func (s *Server) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry(nil), s.entries...)
}

// Check reports what did not go as scripted: required steps left
// unconsumed, expectations not met, requests answered after a track ran
// out, subagent requests no scripted agent matched.
func (s *Server) Check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	problems := append([]string(nil), s.problems...)
	if left := s.main.unused(s.script.Main); left > 0 {
		problems = append(problems, fmt.Sprintf("main: %d required step(s) not used (%d of %d used)", left, s.main.next, len(s.script.Main)))
	}
	for i, a := range s.script.Subagents {
		st := s.agents[i]
		if left := st.unused(a.Steps); left > 0 {
			problems = append(problems, fmt.Sprintf("subagents[%d] (%q): %d required step(s) not used (%d of %d used)",
				i, a.PromptContains, left, st.next, len(a.Steps)))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New("mockapi: " + strings.Join(problems, "; "))
}

func required(steps []Step) int {
	n := 0
	for _, st := range steps {
		if !st.Optional && st.When == nil {
			n++
		}
	}
	return n
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	e := &Entry{Time: time.Now().UTC(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Headers: logHeaders(r.Header), Step: -1}
	s.mu.Lock()
	s.seq++
	e.Seq = s.seq
	s.mu.Unlock()
	if json.Valid(body) {
		e.Body = body
	} else if len(body) > 0 {
		e.Body, _ = json.Marshal(string(body))
	}
	reqID := newID("req_011")
	w.Header().Set("request-id", reqID)
	switch {
	case err != nil || len(body) > maxBody:
		s.sendError(w, e, 413, "request_too_large", "mock: request body too large", reqID, nil)
	case r.URL.Path == "/v1/messages" && r.Method == http.MethodPost:
		s.messages(w, r, e, body, reqID)
	case r.URL.Path == "/v1/messages/count_tokens" && r.Method == http.MethodPost:
		var req Request
		if json.Unmarshal(body, &req) != nil {
			s.sendError(w, e, 400, "invalid_request_error", "mock: body is not a JSON object", reqID, nil)
			return
		}
		s.sendJSON(w, e, map[string]int64{"input_tokens": promptTokens(&req)})
	case r.URL.Path == "/" && (r.Method == http.MethodHead || r.Method == http.MethodGet):
		// Claude Code 2.1.197 probes HEAD / at start.
		e.Reply.Status = 200
		s.record(e)
		w.WriteHeader(200)
	case r.URL.Path == "/v1/models" && r.Method == http.MethodGet:
		s.sendJSON(w, e, map[string]any{"data": models, "has_more": false,
			"first_id": models[0]["id"], "last_id": models[len(models)-1]["id"]})
	case strings.HasPrefix(r.URL.Path, "/v1/models/") && r.Method == http.MethodGet:
		id := strings.TrimPrefix(r.URL.Path, "/v1/models/")
		s.sendJSON(w, e, model(id))
	default:
		s.sendError(w, e, 404, "not_found_error", "mock: no route "+r.Method+" "+r.URL.Path, reqID, nil)
	}
}

var models = []map[string]string{model("claude-opus-4-8"), model("claude-sonnet-4-5"), model("claude-haiku-4-5")}

func model(id string) map[string]string {
	return map[string]string{"type": "model", "id": id, "display_name": id, "created_at": "2026-01-01T00:00:00Z"}
}

func logHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		k = strings.ToLower(k)
		if k == "x-api-key" || k == "authorization" {
			continue
		}
		out[k] = strings.Join(v, ", ")
	}
	return out
}

// messages answers POST /v1/messages.
func (s *Server) messages(w http.ResponseWriter, r *http.Request, e *Entry, body []byte, reqID string) {
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		s.sendError(w, e, 400, "invalid_request_error", "mock: body is not a messages request: "+err.Error(), reqID, nil)
		return
	}
	kind := req.Classify()
	e.Kind = kind
	step := s.take(&req, kind, e)
	if step.Error != nil {
		s.wait(r.Context(), step.DelayMS)
		er := step.Error
		typ, msg := er.Type, er.Message
		if typ == "" {
			typ = defaultErrorType(er.Status)
		}
		if msg == "" {
			msg = "mock: scripted " + typ
		}
		s.sendError(w, e, er.Status, typ, msg, reqID, er)
		return
	}
	m := &message{ID: newID("msg_01"), Type: "message", Role: "assistant", Model: req.Model,
		StopReason: step.StopReason, StopSequence: step.StopSequence}
	if m.Model == "" {
		m.Model = "claude-sonnet-4-5"
	}
	for _, b := range step.Content {
		switch {
		case b.Type == "tool_use" && b.ID == "":
			b.ID = newID("toolu_01")
		case b.Type == "thinking" && b.Signature == "":
			b.Signature = "Eo" + newID("") + newID("")
		}
		m.Content = append(m.Content, b)
		if b.Type == "tool_use" && m.StopReason == "" {
			m.StopReason = "tool_use"
		}
	}
	if m.StopReason == "" {
		m.StopReason = "end_turn"
	}
	m.Usage = s.usage(&req, body, kind, step, e.Track, r.Header.Get("x-claude-code-session-id"), outputTokens(m.Content))
	s.mu.Lock()
	if i, ok := agentIndex(e.Track); ok {
		var marks []string
		for _, b := range m.Content {
			if b.Type == "tool_use" {
				marks = append(marks, b.ID)
			} else if b.Type == "text" {
				marks = append(marks, textMark(b.Text))
			}
		}
		for _, mk := range marks {
			s.owner[mk] = i
		}
	}
	s.mu.Unlock()
	e.Reply = Reply{Status: 200, Stream: req.Stream, ID: m.ID, Content: m.Content, StopReason: m.StopReason,
		StopSequence: m.StopSequence, Usage: &m.Usage}
	s.record(e)
	if !s.wait(r.Context(), step.DelayMS) {
		return
	}
	if req.Stream {
		w.Header().Set("content-type", "text/event-stream; charset=utf-8")
		w.Header().Set("cache-control", "no-cache")
		w.WriteHeader(200)
		m.writeStream(w)
		return
	}
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(200)
	w.Write(m.full())
}

// take picks the step that answers req: the next of its track, or a
// side reply built from the script.
func (s *Server) take(req *Request, kind Kind, e *Entry) Step {
	switch kind {
	case KindMain:
		s.mu.Lock()
		defer s.mu.Unlock()
		e.Track = "main"
		if e.Step = s.main.take(req, s.script.Main); e.Step < 0 {
			return s.exhausted(e, "main: script exhausted")
		}
		return s.checked(req, s.script.Main[e.Step], e)
	case KindSubagent:
		s.mu.Lock()
		defer s.mu.Unlock()
		i, err := s.agentFor(req)
		if err != nil {
			return s.exhausted(e, err.Error())
		}
		e.Track = fmt.Sprintf("subagents[%d]", i)
		a := s.script.Subagents[i]
		if e.Step = s.agents[i].take(req, a.Steps); e.Step < 0 {
			return s.exhausted(e, e.Track+": script exhausted")
		}
		return s.checked(req, a.Steps[e.Step], e)
	}
	e.Track = "side"
	return s.sideStep(req, kind)
}

// skipUnmet returns the first step from next on that req may take: the
// conditional steps it does not match are passed over.
func skipUnmet(req *Request, steps []Step, next int) int {
	for next < len(steps) && steps[next].When != nil && !strings.Contains(req.LastUserText(), steps[next].When.LastUserContains) {
		next++
	}
	return next
}

func (s *Server) checked(req *Request, st Step, e *Entry) Step {
	if st.Expect != nil {
		ok := strings.Contains(req.LastUserText(), st.Expect.LastUserContains)
		e.ExpectOK = &ok
		if !ok {
			s.problems = append(s.problems, fmt.Sprintf("%s step %d (request %d): last user message lacks %q",
				e.Track, e.Step, e.Seq, st.Expect.LastUserContains))
		}
	}
	return st
}

func (s *Server) exhausted(e *Entry, why string) Step {
	e.Exhausted = true
	s.problems = append(s.problems, fmt.Sprintf("request %d: %s", e.Seq, why))
	return Step{Content: []Block{{Type: "text", Text: "(mock: " + why + ")"}}}
}

// agentFor finds the scripted subagent conversation a request belongs
// to, assigning a free one to a request that starts a conversation.
func (s *Server) agentFor(req *Request) (int, error) {
	marks := req.threadMarks()
	for _, mk := range marks {
		if i, ok := s.owner[mk]; ok {
			return i, nil
		}
	}
	if len(marks) > 0 {
		return 0, errors.New("subagent request continues a conversation the mock did not answer")
	}
	prompt := req.FirstUserText()
	for i, a := range s.script.Subagents {
		if !s.agents[i].assigned && strings.Contains(prompt, a.PromptContains) {
			s.agents[i].assigned = true
			return i, nil
		}
	}
	return 0, fmt.Errorf("no scripted subagent left for prompt %q", shorten(prompt, 80))
}

func agentIndex(track string) (int, bool) {
	rest, ok := strings.CutPrefix(track, "subagents[")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	return i, err == nil
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// sideStep answers what Claude Code asks on its own.
func (s *Server) sideStep(req *Request, kind Kind) Step {
	text := func(t string) Step { return Step{Content: []Block{{Type: "text", Text: t}}} }
	switch kind {
	case KindCompaction:
		sum := s.script.CompactSummary
		if sum == "" {
			sum = "<analysis>mock</analysis>\n<summary>\n1. Primary Request and Intent: a scripted test conversation.\n2. Pending Tasks: none.\n</summary>"
		}
		return text(sum)
	case KindClassifier:
		// Stage 1 stops at </block>; stage 2 gives the decision and reason.
		verdict := "yes"
		if s.script.Classifier == "allow" {
			verdict = "no"
		}
		for _, stop := range req.StopSequences {
			if stop == "</block>" {
				return Step{Content: []Block{{Type: "text", Text: "<block>" + verdict}}, StopReason: "stop_sequence", StopSequence: "</block>"}
			}
		}
		if verdict == "no" {
			return text("<block>no</block>")
		}
		reason := s.script.ClassifierReason
		if reason == "" {
			reason = "[Data Exfiltration] the mock classifier blocks this action"
		}
		return text("<block>yes</block><reason>" + reason + "</reason>")
	case KindTitle:
		title := s.script.Title
		if title == "" {
			title = "Scripted test session"
		}
		if req.OutputConfig.Format != nil {
			b, _ := json.Marshal(map[string]string{"title": title})
			return text(string(b))
		}
		return text(title)
	}
	if s.script.SideText != "" {
		return text(s.script.SideText)
	}
	return text("OK")
}

// usage estimates (and applies the step's overrides to) a reply's usage.
func (s *Server) usage(req *Request, body []byte, kind Kind, step Step, track, session string, out int64) apiUsage {
	oneHour := wantsOneHourCache(body)
	conv := ""
	switch kind {
	case KindMain, KindCompaction:
		conv = "main " + session
		if strings.Contains(req.SystemText(), subagentMarker) {
			conv = "subagent " + session + " " + textMark(req.FirstUserText())
		}
	case KindSubagent:
		conv = track + " " + session
	}
	s.mu.Lock()
	u, cached := estimateUsage(promptTokens(req), s.cached[conv], conv != "", oneHour, out)
	if conv != "" {
		s.cached[conv] = cached
	}
	s.mu.Unlock()
	u.override(step.Usage, oneHour)
	return u
}

// wait sleeps ms milliseconds unless the client goes away first.
func (s *Server) wait(ctx context.Context, ms int) bool {
	if ms <= 0 {
		return true
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) sendJSON(w http.ResponseWriter, e *Entry, v any) {
	b, _ := json.Marshal(v)
	e.Reply = Reply{Status: 200, Body: b}
	s.record(e)
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(200)
	w.Write(b)
}

func (s *Server) sendError(w http.ResponseWriter, e *Entry, status int, typ, msg, reqID string, er *APIError) {
	b := errorBody(typ, msg, reqID)
	e.Reply = Reply{Status: status, Error: b}
	s.record(e)
	retry := status == 408 || status == 409 || status == 429 || status >= 500
	if er != nil && er.ShouldRetry != nil {
		retry = *er.ShouldRetry
	}
	w.Header().Set("content-type", "application/json")
	w.Header().Set("x-should-retry", strconv.FormatBool(retry))
	if er != nil && er.RetryAfter != nil {
		w.Header().Set("retry-after", strconv.Itoa(*er.RetryAfter))
	}
	w.WriteHeader(status)
	w.Write(b)
}

// record appends the entry to the log.
func (s *Server) record(e *Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = append(s.entries, *e)
	if s.logFile != nil {
		line, _ := json.Marshal(e)
		s.logFile.Write(append(line, '\n'))
	}
}
