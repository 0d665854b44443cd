package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/backfill"
	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/server/serve"
	"github.com/weavetrace/weave/spans"
)

// Test data: the recorded sessions of the real Claude Code CLI and Agent
// SDK (the repository's testdata/, package fixtures), imported through the
// real import path, and the OTLP corpus of other instrumentations kept in
// server/normalize/testdata.
const corpusDir = "../normalize/testdata/corpus"

// captures is the folder of the Claude Code 2.1.197 recordings, one
// scenario per subfolder: the conversations the pages are checked on.
func captures(t testing.TB) string {
	t.Helper()
	return fixtures.Path(t, fixtures.ClaudeCode2197)
}

// captureProjects lists the projects/ folders of every scenario of Claude
// Code 2.1.197 and 2.1.330 and of the Agent SDK.
func captureProjects(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, set := range []string{fixtures.ClaudeCode2197, fixtures.ClaudeCode2330, fixtures.AgentSDK03197} {
		m, err := filepath.Glob(filepath.Join(fixtures.Path(t, set), "*", "projects"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) < 10 {
		t.Fatalf("found %d capture folders, want every recorded scenario", len(out))
	}
	sort.Strings(out)
	return out
}

// sessionOf returns the session id (the transcript's file name) of a
// 2.1.197 scenario's only or first main transcript.
func sessionOf(t testing.TB, scenario string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(captures(t), scenario, "projects", "*", "*.jsonl"))
	if len(m) == 0 {
		t.Fatalf("no transcript for scenario %s", scenario)
	}
	sort.Strings(m)
	return strings.TrimSuffix(filepath.Base(m[0]), ".jsonl")
}

// weaveServer is a real weave-server (the serve package) on a loopback
// port with its embedded store in a temporary directory.
type weaveServer struct {
	URL  string
	key  string // the API key, when the server has keys
	stop context.CancelFunc
	done chan error
}

// startServer starts a weave-server; apiKey "" leaves it open, else it is
// the one key, for every project.
func startServer(t testing.TB, apiKey string) *weaveServer {
	t.Helper()
	cfg := serve.NewDefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ShutdownTimeout = 10 * time.Second
	if apiKey != "" {
		cfg.APIKeys = apiKey + "=*"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan net.Addr, 1)
	srv, err := serve.New(cfg, serve.Settings{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Version:  "ui-test",
		Listener: ln,
		Ready:    func(a net.Addr) { ready <- a },
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ws := &weaveServer{key: apiKey, stop: cancel, done: make(chan error, 1)}
	go func() { ws.done <- srv.Run(ctx) }()
	select {
	case a := <-ready:
		ws.URL = "http://" + a.String()
	case err := <-ws.done:
		cancel()
		t.Fatalf("weave-server: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-ws.done; err != nil {
			t.Errorf("weave-server shutdown: %v", err)
		}
	})
	return ws
}

// importCaptures runs `weave-agentd import` (backfill.Run with the OTLP
// exporter) on paths into project ("" = the server's default).
func (ws *weaveServer) importCaptures(t testing.TB, project string, paths ...string) backfill.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target := export.Target{Endpoint: ws.URL, Project: project, APIKey: ws.key, ServiceVersion: "ui-test"}
	exp, err := export.NewClient(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	var stderr bytes.Buffer
	rep, err := backfill.Run(ctx, backfill.Config{Paths: paths, Target: target}, exp, io.Discard, &stderr)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, stderr.String())
	}
	if len(rep.Failed) > 0 || rep.Exported != rep.Spans || rep.Spans == 0 {
		t.Fatalf("import: %d of %d spans exported, failed files %v\n%s", rep.Exported, rep.Spans, rep.Failed, stderr.String())
	}
	return rep
}

// export sends hand-made spans (e.g. a turn in progress) as weave-agentd
// does.
func (ws *weaveServer) export(t testing.TB, project string, ss []spans.Span) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	exp, err := export.NewClient(ctx, export.Target{Endpoint: ws.URL, Project: project, APIKey: ws.key, ServiceVersion: "ui-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	if err := exp.ExportSpans(ctx, ss); err != nil {
		t.Fatalf("export %d spans: %v", len(ss), err)
	}
}

// postCorpus sends every OTLP body of the corpus (other vendors'
// instrumentations) to the standard /v1/traces and /v1/logs endpoints, as
// an OTel SDK pointed at the server would.
func (ws *weaveServer) postCorpus(t testing.TB) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*", "*.pb"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no OTLP corpus under %s (%v)", corpusDir, err)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		endpoint := "/v1/traces"
		if strings.HasSuffix(f, ".logs.pb") {
			endpoint = "/v1/logs" // GenAI events sent as OTLP log records
		}
		resp, err := http.Post(ws.URL+endpoint, "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: got %d %s, want 200", f, resp.StatusCode, msg)
		}
	}
	return len(files)
}

// api calls the read API and decodes the answer into out.
func (ws *weaveServer) api(t testing.TB, path string, body, out any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, ws.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if ws.key != "" {
		req.Header.Set("Authorization", "Bearer "+ws.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s %s: got %d %s", path, b, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("POST %s: decode %s: %v", path, raw, err)
	}
}

// conversation is the part of a conversations-list row the tests read.
type conversation struct {
	ConversationID string   `json:"conversation_id"`
	TurnCount      int      `json:"turn_count"`
	ErrorCount     int      `json:"error_count"`
	RunningCount   int      `json:"running_count"`
	FirstPrompt    string   `json:"first_prompt"`
	AgentNames     []string `json:"agent_names"`
}

type conversationsPage struct {
	Conversations []conversation `json:"conversations"`
	Total         int            `json:"total"`
}

func (ws *weaveServer) conversations(t testing.TB, project string, extra map[string]any) conversationsPage {
	t.Helper()
	body := map[string]any{"project_id": project, "limit": 1000}
	for k, v := range extra {
		body[k] = v
	}
	var page conversationsPage
	ws.api(t, "/genai/conversations/query", body, &page)
	return page
}

// turnOf returns the trace id of a conversation's i-th turn.
func (ws *weaveServer) turnOf(t testing.TB, project, conversationID string, i int) string {
	t.Helper()
	var c struct {
		Turns []struct {
			TraceID string `json:"trace_id"`
		} `json:"turns"`
	}
	ws.api(t, "/genai/conversations/chat", map[string]any{"project_id": project, "conversation_id": conversationID}, &c)
	if i >= len(c.Turns) {
		t.Fatalf("conversation %s has %d turns, want turn %d", conversationID, len(c.Turns), i)
	}
	return c.Turns[i].TraceID
}

func fmtList(s []string) string { return fmt.Sprintf("%q", s) }
