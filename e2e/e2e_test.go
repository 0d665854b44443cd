//go:build e2e

// Package e2e runs the real Claude Code CLI through weave's scenarios
// (e2e/scenarios, run by e2e/harness against the scripted mock API of
// e2e/mockapi) with the real weave-hook → weave-agentd → weave-server,
// and checks what the read API says against the transcripts Claude Code
// wrote. As root the whole test (mock, CLI, daemon, servers) runs in a
// private network namespace with only loopback. Run it with `make e2e`;
// `go test -tags e2e ./e2e` works too (it installs the CLI itself).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weavetrace/weave/e2e/harness"
	"github.com/weavetrace/weave/e2e/scenarios"
	"github.com/weavetrace/weave/internal/serverproc"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/tools/chlocal/chlocal"
	"github.com/weavetrace/weave/transcript"
)

var (
	binDir    string // weave-hook, weave-agentd, weave-server
	claudeBin string
	agentSDK  string // the Agent SDK's entry module
	summary   struct {
		sync.Mutex
		scenarios, sessions, turns, spans, liveTurns int
		waitedTurns                                  int // roots in the request right after the server's answer (rootInTime)
	}
)

// TestMain does what needs the network first (installing the CLI and the
// Agent SDK from npm unless CLAUDE_BIN / WEAVE_AGENT_SDK name them,
// building the binaries), then goes on in a private network namespace
// when root (harness.IsolateNetwork re-executes the test binary there).
func TestMain(m *testing.M) {
	if os.Getenv("WEAVE_E2E_BIN") == "" {
		prepare()
	}
	network, err := harness.IsolateNetwork()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binDir, claudeBin, agentSDK = os.Getenv("WEAVE_E2E_BIN"), os.Getenv("CLAUDE_BIN"), os.Getenv("WEAVE_AGENT_SDK")
	version, _ := harness.CLIVersion(context.Background(), claudeBin)
	fmt.Printf("e2e: Claude Code %s, %s\n", version, network)
	if os.Getenv(envStore) == "clickhouse" {
		stop, err := startClickHouse()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			os.Exit(1)
		}
		defer stop()
		fmt.Printf("e2e: weave-server on ClickHouse (%s)\n", clickhouseDSN)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	if died := clickhouseDied(); died != "" {
		fmt.Printf("e2e: the ClickHouse node died during the run: %s\n", died)
		code = 1
	}
	summary.Lock()
	fmt.Printf("e2e: %d scenarios with the real Claude Code CLI, %d sessions, %d turns (%d seen running before their Stop, %d in the daemon's first request after the server answered the one in flight at Stop), %d spans checked through the read API (live == import)\n",
		summary.scenarios, summary.sessions, summary.turns, summary.liveTurns, summary.waitedTurns, summary.spans)
	summary.Unlock()
	if code != 0 {
		os.Exit(code)
	}
}

// prepare installs what is missing and builds the binaries, passing the
// paths on in the environment (to the re-executed test binary too).
func prepare() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	ctx := context.Background()
	version := os.Getenv("CC_VERSION")
	if version == "" {
		version = harness.DefaultCLIVersion
	}
	cache, err := harness.CacheDir()
	if err != nil {
		fail(err)
	}
	if os.Getenv("CLAUDE_BIN") == "" {
		bin, err := harness.InstallCLI(ctx, version, cache, os.Stderr)
		if err != nil {
			fail(err)
		}
		os.Setenv("CLAUDE_BIN", bin)
	} else if v, err := harness.CLIVersion(ctx, os.Getenv("CLAUDE_BIN")); err != nil {
		fail(err)
	} else {
		version = v
	}
	if os.Getenv("WEAVE_AGENT_SDK") == "" {
		entry, err := harness.InstallAgentSDK(ctx, version, cache, os.Stderr)
		if err != nil {
			fail(err)
		}
		os.Setenv("WEAVE_AGENT_SDK", entry)
	}
	if os.Getenv(envStore) == "clickhouse" && os.Getenv(chlocal.EnvLib) == "" {
		lib, err := chlocal.Install(ctx, os.Stderr) // npm: before the private network namespace
		if err != nil {
			fail(err)
		}
		os.Setenv(chlocal.EnvLib, lib)
	}
	dir, err := os.MkdirTemp("", "weave-e2e-bin-")
	if err != nil {
		fail(err)
	}
	build := exec.Command("go", "build", "-o", dir+"/", "../cmd/weave-hook", "../cmd/weave-agentd", "../cmd/weave-server")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fail(fmt.Errorf("build: %w", err))
	}
	os.Setenv("WEAVE_E2E_BIN", dir)
}

// envStore = "clickhouse" runs every weave-server of the test on
// ClickHouse (one local node from tools/chlocal, a database per server)
// instead of the embedded store.
const envStore = "WEAVE_E2E_STORE"

var (
	clickhouseDSN  string           // the node's DSN, set when envStore is "clickhouse"
	clickhouseNode *chlocal.Cluster // the node, to tell whether it died
	clickhouseDBs  atomic.Int64     // databases handed out
)

// startClickHouse starts the local node every server of the run uses; it
// dies with the test binary should the test crash.
func startClickHouse() (stop func(), err error) {
	dir, err := os.MkdirTemp("", "weave-e2e-clickhouse-")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := chlocal.Start(ctx, chlocal.Options{Dir: dir, Log: os.Stderr})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start ClickHouse: %w", err)
	}
	clickhouseDSN, clickhouseNode = c.DSNs()[0], c
	return func() { c.Stop(); os.RemoveAll(dir) }, nil
}

// clickhouseDied says, when the run's ClickHouse node is gone, how it
// ended and what it logged of its end (chlocal's known abort on a client's
// connection reset, the package comment): a failure that follows is the
// engine's, not the store's. Empty while the node runs.
func clickhouseDied() string {
	if clickhouseNode == nil {
		return ""
	}
	if err := errors.Join(clickhouseNode.Dead()...); err != nil {
		return err.Error()
	}
	return ""
}

// clickhouseDB is the DSN of a database no other server of the run uses.
func clickhouseDB() string {
	return fmt.Sprintf("%s/weave_e2e_%d", clickhouseDSN, clickhouseDBs.Add(1))
}

// server is a weave-server process on free loopback ports (HTTP, and
// OTLP/gRPC at grpcURL).
type server struct {
	url, grpcURL string
	cmd          *exec.Cmd
	logs         serverproc.LogBuffer
}

// startServer starts weave-server on ports it picks itself (port 0), read
// back from its log: a port found free, closed and passed on could be
// taken by another process first.
func startServer(t *testing.T) *server {
	t.Helper()
	s := &server{}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--data-dir", t.TempDir()}
	if clickhouseDSN != "" {
		args = append(args, "--store", "clickhouse", "--clickhouse-dsn", clickhouseDB(), "--clickhouse-flush-interval", "50ms")
	}
	s.cmd = exec.Command(filepath.Join(binDir, "weave-server"), args...)
	s.cmd.Stdout, s.cmd.Stderr = &s.logs, &s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Signal(os.Interrupt)
		s.cmd.Wait()
		if t.Failed() {
			t.Logf("weave-server log:\n%s", s.logs.String())
			if died := clickhouseDied(); died != "" {
				t.Logf("the ClickHouse node died: %s", died)
			}
		}
	})
	// A hang guard: on ClickHouse (WEAVE_E2E_STORE=clickhouse) the server
	// creates its database and runs every migration before it is ready,
	// which a loaded CI machine can stretch past 20 s.
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if addr, grpcAddr, ok := serverproc.Started(s.logs.String()); ok && s.url == "" {
			s.url, s.grpcURL = "http://"+addr, "http://"+grpcAddr
		}
		if s.url != "" {
			if resp, err := http.Get(s.url + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return s
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("weave-server did not become ready:\n%s", s.logs.String())
	return nil
}

func (s *server) post(t *testing.T, path string, body, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(s.url+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("POST %s: decode: %v: %s", path, err, data)
		}
	}
	if resp.StatusCode != 200 && resp.StatusCode != 404 {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, data)
	}
	return resp.StatusCode
}

// API response shapes (docs/API.md), only the fields the checks read.
type usage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

type chatMessage struct {
	Type          string `json:"type"`
	Text          string `json:"text"`
	Depth         int    `json:"depth"`
	Status        string `json:"status"`
	Running       bool   `json:"running"`
	ToolName      string `json:"tool_name"`
	ToolCallID    string `json:"tool_call_id"`
	ToolArguments string `json:"tool_arguments"`
	ToolResult    string `json:"tool_result"`
	AgentName     string `json:"agent_name"`
}

type turnView struct {
	Index           int           `json:"index"`
	TraceID         string        `json:"trace_id"`
	SessionID       string        `json:"session_id"`
	ParentSessionID string        `json:"parent_session_id"`
	Running         bool          `json:"running"`
	Usage           usage         `json:"usage"`
	Messages        []chatMessage `json:"messages"`
}

type conversationView struct {
	ConversationID string     `json:"conversation_id"`
	TurnCount      int        `json:"turn_count"`
	Running        bool       `json:"running"`
	Turns          []turnView `json:"turns"`
	Sessions       []struct {
		SessionID       string `json:"session_id"`
		ParentSessionID string `json:"parent_session_id"`
		TurnCount       int    `json:"turn_count"`
	} `json:"sessions"`
}

type conversationList struct {
	Conversations []struct {
		ConversationID string `json:"conversation_id"`
		TurnCount      int    `json:"turn_count"`
		SpanCount      int    `json:"span_count"`
		RunningCount   int    `json:"running_count"`
		InputTokens    int64  `json:"input_tokens"`
		OutputTokens   int64  `json:"output_tokens"`
	} `json:"conversations"`
	Total int `json:"total"`
}

type spanList struct {
	Spans []struct {
		TraceID  string `json:"trace_id"`
		SpanID   string `json:"span_id"`
		SpanName string `json:"span_name"`
	} `json:"spans"`
	Total int `json:"total"`
}

// snapshot is what the read API says about one project.
type snapshot struct {
	conversations conversationList
	views         map[string]conversationView
	spans         int
	running       int
}

func (s *server) snapshot(t *testing.T, project string) snapshot {
	t.Helper()
	var snap snapshot
	s.post(t, "/genai/conversations/query", map[string]any{"project_id": project, "limit": 1000}, &snap.conversations)
	snap.views = map[string]conversationView{}
	for _, c := range snap.conversations.Conversations {
		var v conversationView
		s.post(t, "/genai/conversations/chat", map[string]any{"project_id": project, "conversation_id": c.ConversationID}, &v)
		snap.views[c.ConversationID] = v
	}
	var sl spanList
	s.post(t, "/genai/spans/query", map[string]any{"project_id": project, "limit": 1}, &sl)
	snap.spans = sl.Total
	var active spanList
	s.post(t, "/genai/spans/active", map[string]any{"project_id": project, "limit": 1000}, &active)
	snap.running = len(active.Spans)
	return snap
}

// settle waits until the project has the expected number of spans and none
// is running (the daemon exports the last transcript lines after Claude
// Code exits).
func (s *server) settle(t *testing.T, project string, wantSpans int) snapshot {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var snap snapshot
	for {
		var sl, active spanList
		s.post(t, "/genai/spans/query", map[string]any{"project_id": project, "limit": 1}, &sl)
		s.post(t, "/genai/spans/active", map[string]any{"project_id": project, "limit": 1000}, &active)
		if sl.Total >= wantSpans && len(active.Spans) == 0 {
			return s.snapshot(t, project)
		}
		if time.Now().After(deadline) {
			snap = s.snapshot(t, project)
			var all spanList
			s.post(t, "/genai/spans/query", map[string]any{"project_id": project, "limit": 1000}, &all)
			var list strings.Builder
			for _, sp := range all.Spans {
				fmt.Fprintf(&list, "\n  %s %s %s", sp.TraceID, sp.SpanID, sp.SpanName)
			}
			for _, sp := range active.Spans {
				fmt.Fprintf(&list, "\n  running: %s %s %s", sp.TraceID, sp.SpanID, sp.SpanName)
			}
			t.Fatalf("project %s did not settle: %d spans (want %d), %d running:%s", project, sl.Total, wantSpans, len(active.Spans), list.String())
			return snap
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// truth is what the transcripts say.
type truth struct {
	sessions      []*transcript.Session
	conversations map[string][]*transcript.Turn // conversation id → own turns in order
	turnSession   map[*transcript.Turn]*transcript.Session
	usage         map[string][2]int64 // message.id → {input incl. cache, output}
	spans         int                 // what import builds
}

func readTruth(t *testing.T, projectsDir string) truth {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(projectsDir, "*", "*.jsonl"))
	if len(files) == 0 {
		t.Fatalf("no transcripts under %s", projectsDir)
	}
	tr := truth{conversations: map[string][]*transcript.Turn{}, turnSession: map[*transcript.Turn]*transcript.Session{}, usage: map[string][2]int64{}}
	r := transcript.NewResolver()
	for _, f := range files {
		s, warns, err := transcript.Load(f, r)
		if err != nil || len(warns) > 0 {
			t.Fatalf("load %s: %v %v", f, err, warns)
		}
		tr.sessions = append(tr.sessions, s)
		for _, turn := range s.Turns {
			if !turn.Copied {
				tr.conversations[s.ConversationID] = append(tr.conversations[s.ConversationID], turn)
				tr.turnSession[turn] = s
			}
		}
		paths := append([]string{f}, transcript.SubagentPaths(f)...)
		for _, p := range paths {
			rawUsage(t, p, tr.usage)
		}
	}
	return tr
}

// rawUsage reads each assistant message's usage straight from the JSON,
// independently of the transcript package.
func rawUsage(t *testing.T, path string, out map[string][2]int64) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		var l struct {
			Message struct {
				ID    string `json:"id"`
				Model string `json:"model"`
			} `json:"message"`
		}
		var raw map[string]any
		if json.Unmarshal(sc.Bytes(), &raw) != nil || raw["type"] != "assistant" {
			continue
		}
		json.Unmarshal(sc.Bytes(), &l)
		u, _ := raw["message"].(map[string]any)["usage"].(map[string]any)
		n := func(k string) int64 { v, _ := u[k].(float64); return int64(v) }
		if l.Message.Model == "<synthetic>" {
			out[l.Message.ID] = [2]int64{}
			continue
		}
		out[l.Message.ID] = [2]int64{n("input_tokens") + n("cache_read_input_tokens") + n("cache_creation_input_tokens"), n("output_tokens")}
	}
}

// recorder is an OTLP proxy between weave-agentd and the live server: it
// notes when each turn's root first arrived while still running, then
// forwards the request unchanged, keeping every request it forwarded (its
// body, when it arrived and how long the server took to answer).
type recorder struct {
	*httptest.Server
	down        atomic.Bool // answer 503 to everything (the server is "down")
	refused     atomic.Int64
	mu          sync.Mutex
	runningRoot map[string]time.Time // trace id → first in-progress root arrival
	requests    []*forwarded         // in order of arrival
}

// forwarded is one request the recorder passed on.
type forwarded struct {
	at     time.Time
	took   time.Duration
	status int
	path   string
	body   []byte
}

func newRecorder(t *testing.T, upstream string) *recorder {
	r := &recorder{runningRoot: map[string]time.Time{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(req.Body)
		if r.down.Load() {
			r.refused.Add(1)
			http.Error(w, "down for the test", http.StatusServiceUnavailable)
			return
		}
		r.mu.Lock()
		f := &forwarded{at: at, path: req.URL.Path, body: body}
		r.requests = append(r.requests, f)
		r.mu.Unlock()
		er := ptraceotlp.NewExportRequest()
		if err := er.UnmarshalProto(body); err == nil {
			rss := er.Traces().ResourceSpans()
			for i := 0; i < rss.Len(); i++ {
				sss := rss.At(i).ScopeSpans()
				for j := 0; j < sss.Len(); j++ {
					ss := sss.At(j).Spans()
					for k := 0; k < ss.Len(); k++ {
						sp := ss.At(k)
						if sp.ParentSpanID().IsEmpty() && sp.EndTimestamp() == 0 {
							r.mu.Lock()
							if _, ok := r.runningRoot[sp.TraceID().String()]; !ok {
								r.runningRoot[sp.TraceID().String()] = at
							}
							r.mu.Unlock()
						}
					}
				}
			}
		}
		up, err := http.NewRequest(req.Method, upstream+req.URL.Path, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		up.Header = req.Header.Clone()
		resp, err := http.DefaultClient.Do(up)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		reply, _ := io.ReadAll(resp.Body)
		r.mu.Lock()
		f.took, f.status = time.Since(at), resp.StatusCode
		r.mu.Unlock()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(reply)
	}))
	t.Cleanup(r.Close)
	return r
}

// nextAfterWait: if a request was in flight at time at (the server had
// not answered it yet), the arrival of the next request — weave-agentd's
// exporter sends one request at a time, so a root queued while the server
// was answering goes out in it at the earliest. r.mu is held.
func (r *recorder) nextAfterWait(at time.Time) (next time.Time, waited bool) {
	for i, f := range r.requests {
		if f.at.After(at) || !f.at.Add(f.took).After(at) {
			continue
		}
		if i+1 < len(r.requests) {
			return r.requests[i+1].at, true
		}
		return time.Time{}, true
	}
	return time.Time{}, false
}

// take returns the requests forwarded since the last take.
func (r *recorder) take() []*forwarded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.requests
	r.requests = nil
	return out
}

// keepRequests writes requests into dir/otlp: each body as NNNN.pb and an
// index (index.tsv: number, arrival in ns, milliseconds the server took,
// status, path), so a failed scenario's live arrival order can be
// replayed.
func keepRequests(t *testing.T, dir string, requests []*forwarded) {
	t.Helper()
	dir = filepath.Join(dir, "otlp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Log(err)
		return
	}
	var index strings.Builder
	for i, f := range requests {
		name := fmt.Sprintf("%04d.pb", i+1)
		if err := os.WriteFile(filepath.Join(dir, name), f.body, 0o644); err != nil {
			t.Log(err)
			return
		}
		fmt.Fprintf(&index, "%s\t%d\t%.1f\t%d\t%s\n", name, f.at.UnixNano(), float64(f.took.Microseconds())/1000, f.status, f.path)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.tsv"), []byte(index.String()), 0o644); err != nil {
		t.Log(err)
	}
}

// stopTimes reads when each turn's Stop or StopFailure hook ran (the
// harness's hook log), by prompt_id.
func stopTimes(t *testing.T, hookLog string) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	data, err := os.ReadFile(hookLog)
	if err != nil {
		t.Fatalf("hook log: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		ns, payload, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		var p struct {
			Event    string `json:"hook_event_name"`
			PromptID string `json:"prompt_id"`
		}
		var n int64
		fmt.Sscan(ns, &n)
		if json.Unmarshal([]byte(payload), &p) != nil || p.PromptID == "" || (p.Event != "Stop" && p.Event != "StopFailure") {
			continue
		}
		if at := time.Unix(0, n); out[p.PromptID].IsZero() || at.Before(out[p.PromptID]) {
			out[p.PromptID] = at
		}
	}
	return out
}

// run is one scenario's run with weave-hook registered.
type run struct {
	session *harness.Session
	home    string // WEAVE_HOME
	log     bytes.Buffer
}

// runScenario runs a scenario with weave-hook registered (weave-hook
// install, as a user does) to export to endpoint under project; before
// runs first, with the session set up (e.g. to add a hook).
func runScenario(t *testing.T, name, endpoint, project string, before func(*run)) *run {
	t.Helper()
	sc, ok := scenarios.Get(name)
	if !ok {
		t.Fatalf("no scenario %s", name)
	}
	hook := filepath.Join(binDir, "weave-hook")
	// Kept when the test fails: transcripts, hook and request logs, and
	// weave-agentd's home (its log, journal, spool) in weave/.
	dir, err := os.MkdirTemp("", "weave-e2e-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	r := &run{home: filepath.Join(dir, "weave")}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scenario %s: its files are kept in %s", name, dir)
		} else {
			os.RemoveAll(dir)
		}
	})
	s, err := harness.New(harness.Config{Claude: claudeBin, Dir: dir, AgentSDK: agentSDK, Log: &r.log,
		WeaveHook:   hook,
		HookCommand: fmt.Sprintf("WEAVE_HOME=%s WEAVE_ENDPOINT=%s WEAVE_PROJECT=%s %s", r.home, endpoint, project, hook)})
	if err != nil {
		t.Fatal(err)
	}
	r.session = s
	t.Cleanup(func() { stopDaemon(t, r.home) })
	if before != nil {
		before(r)
	}
	start := time.Now()
	sc.Run(s)
	if err := s.Close(); err != nil {
		t.Fatalf("scenario %s: %v\n%s", name, err, r.log.String())
	}
	t.Logf("scenario %s (%s): %v", name, sc.About, time.Since(start).Round(100*time.Millisecond))
	return r
}

func stopDaemon(t *testing.T, home string) {
	cmd := exec.Command(filepath.Join(binDir, "weave-agentd"), "stop")
	cmd.Env = append(os.Environ(), "WEAVE_HOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("weave-agentd stop: %v %s", err, out)
	}
}

func TestClaudeCodeScenarios(t *testing.T) {
	live := startServer(t)
	rec := newRecorder(t, live.url)
	imported := startServer(t)
	for _, sc := range scenarios.Names() {
		t.Run(sc, func(t *testing.T) {
			project := "e2e/" + sc
			rec.take()
			r := runScenario(t, sc, rec.URL, project, nil)
			t.Cleanup(func() {
				if t.Failed() {
					keepRequests(t, filepath.Dir(r.home), rec.take())
				}
			})
			projects := r.session.ProjectsDir()
			tr := readTruth(t, projects)
			want := importSpans(t, projects)
			snap := live.settle(t, project, want)
			checkAgainstTranscripts(t, "live", snap, tr, want)
			// Live: each turn's root reached the server while the turn was
			// still running, before its Stop hook fired — or, when the
			// daemon was waiting for the server's answer at Stop, in the
			// first request it sent once answered.
			rec.mu.Lock()
			for prompt, stop := range stopTimes(t, r.session.HookLog()) {
				trace := spanid.TurnTraceID(prompt).String()
				at, ok := rec.runningRoot[trace]
				next, waited := rec.nextAfterWait(stop)
				switch {
				case !ok:
					t.Errorf("turn %s (trace %s): no in-progress root was exported", prompt, trace)
				case at.Before(stop):
					summary.Lock()
					summary.liveTurns++
					summary.Unlock()
				case waited && at.Equal(next):
					t.Logf("turn %s: in-progress root arrived %v after its Stop hook, in the first request the daemon sent once the server answered the one in flight at Stop", prompt, at.Sub(stop))
					summary.Lock()
					summary.waitedTurns++
					summary.Unlock()
				case waited:
					t.Errorf("turn %s: in-progress root arrived %v after its Stop hook, not in the daemon's first request once the server answered the one in flight at Stop (%v after Stop)", prompt, at.Sub(stop), next.Sub(stop))
				default:
					t.Errorf("turn %s: in-progress root arrived %v after its Stop hook", prompt, at.Sub(stop))
				}
			}
			rec.mu.Unlock()

			// The same transcripts imported into a fresh server give the same
			// conversations and counts.
			cmd := exec.Command(filepath.Join(binDir, "weave-agentd"), "import", "--endpoint", imported.url, "--project", project, projects)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("import: %v\n%s", err, out)
			}
			isnap := imported.settle(t, project, want)
			checkAgainstTranscripts(t, "import", isnap, tr, want)
			compareSnapshots(t, snap, isnap)

			summary.Lock()
			summary.scenarios++
			summary.sessions += len(tr.sessions)
			for _, turns := range tr.conversations {
				summary.turns += len(turns)
			}
			summary.spans += snap.spans
			summary.Unlock()
		})
	}
}

// importSpans counts the spans `weave-agentd import --dry-run --json` builds.
func importSpans(t *testing.T, projects string) int {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "weave-agentd"), "import", "--dry-run", "--json", projects)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("import --dry-run: %v", err)
	}
	return bytes.Count(out, []byte("\n"))
}

func checkAgainstTranscripts(t *testing.T, path string, snap snapshot, tr truth, wantSpans int) {
	t.Helper()
	if snap.spans != wantSpans {
		t.Errorf("%s: %d spans stored, want %d (what import builds): nothing missing, nothing duplicated", path, snap.spans, wantSpans)
	}
	if snap.running != 0 {
		t.Errorf("%s: %d spans still running after the session ended", path, snap.running)
	}
	if got, want := len(snap.conversations.Conversations), len(tr.conversations); got != want {
		t.Errorf("%s: %d conversations, want %d", path, got, want)
	}
	for conv, turns := range tr.conversations {
		v, ok := snap.views[conv]
		if !ok {
			t.Errorf("%s: conversation %s missing", path, conv)
			continue
		}
		if v.TurnCount != len(turns) || len(v.Turns) != len(turns) {
			t.Errorf("%s: conversation %s has %d turns (%d listed), want %d", path, conv, v.TurnCount, len(v.Turns), len(turns))
			continue
		}
		// The chat view orders turns by start, then trace id: so must the
		// truth, or two turns starting in the same instant compare crossed.
		sort.SliceStable(turns, func(i, j int) bool {
			if !turns[i].Start.Equal(turns[j].Start) {
				return turns[i].Start.Before(turns[j].Start)
			}
			return spanid.TurnTraceID(turns[i].Key).String() < spanid.TurnTraceID(turns[j].Key).String()
		})
		for i, want := range turns {
			checkTurn(t, fmt.Sprintf("%s: conversation %s turn %d", path, conv, i+1), v.Turns[i], want, tr)
		}
		// Forks are marked with their own session and their parent.
		for _, s := range tr.sessions {
			if s.ConversationID != conv || s.ParentSessionID == "" {
				continue
			}
			found := false
			for _, vs := range v.Sessions {
				if vs.SessionID == s.ID && vs.ParentSessionID == s.ParentSessionID {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: fork session %s (parent %s) not shown in conversation %s: %+v", path, s.ID, s.ParentSessionID, conv, v.Sessions)
			}
		}
	}
}

func checkTurn(t *testing.T, where string, got turnView, want *transcript.Turn, tr truth) {
	t.Helper()
	s := tr.turnSession[want]
	if got.SessionID != s.ID {
		t.Errorf("%s: session %q, want %q", where, got.SessionID, s.ID)
	}
	if got.Running {
		t.Errorf("%s: still running", where)
	}
	count := map[string]int{}
	var userText string
	for _, m := range got.Messages {
		count[m.Type]++
		if m.Type == "user_message" {
			userText = m.Text
		}
		if m.Running {
			t.Errorf("%s: message %s %q running", where, m.Type, m.ToolName)
		}
	}
	if count["user_message"] != 1 || userText != want.Prompt {
		t.Errorf("%s: user message %q (count %d), want %q", where, userText, count["user_message"], want.Prompt)
	}
	calls := append([]*transcript.LLMCall(nil), want.Calls...)
	tools := map[string]*transcript.ToolCall{}
	agentCalls := 0
	for _, tc := range want.Tools {
		if tc.IsAgentCall() {
			agentCalls++
		} else {
			tools[tc.ID] = tc
		}
	}
	orphans := 0
	for _, a := range want.Subagents {
		calls = append(calls, a.Calls...)
		if a.Parent == nil {
			orphans++
		}
		for _, tc := range a.Tools {
			if tc.IsAgentCall() {
				agentCalls++
			} else {
				tools[tc.ID] = tc
			}
		}
	}
	if count["assistant_message"] != len(calls) {
		t.Errorf("%s: %d assistant messages, want %d (one per LLM call)", where, count["assistant_message"], len(calls))
	}
	if count["tool_call"] != len(tools) {
		t.Errorf("%s: %d tool calls, want %d", where, count["tool_call"], len(tools))
	}
	subagentStarts := 0
	for _, m := range got.Messages {
		if m.Type == "agent_start" && m.Depth > 0 {
			subagentStarts++
		}
		if m.Type != "tool_call" {
			continue
		}
		tc := tools[m.ToolCallID]
		if tc == nil {
			t.Errorf("%s: tool call %s not in the transcript", where, m.ToolCallID)
			continue
		}
		if m.ToolName != tc.Name || m.ToolArguments == "" {
			t.Errorf("%s: tool %s: name %q args %q, want %q with arguments", where, tc.ID, m.ToolName, m.ToolArguments, tc.Name)
		}
		if tc.HasResult && m.ToolResult != tc.Result {
			t.Errorf("%s: tool %s result %q, want %q", where, tc.ID, m.ToolResult, tc.Result)
		}
		if wantErr := tc.IsError; (m.Status == "ERROR") != wantErr {
			t.Errorf("%s: tool %s status %s, want error=%v", where, tc.ID, m.Status, wantErr)
		}
	}
	if subagentStarts != agentCalls+orphans {
		t.Errorf("%s: %d subagent sections, want %d", where, subagentStarts, agentCalls+orphans)
	}
	if count["context_compacted"] != len(want.Compactions) {
		t.Errorf("%s: %d compaction markers, want %d", where, count["context_compacted"], len(want.Compactions))
	}
	var in, out int64
	for _, c := range calls {
		u := tr.usage[c.MessageID]
		in += u[0]
		out += u[1]
	}
	if got.Usage.InputTokens != in || got.Usage.OutputTokens != out {
		t.Errorf("%s: tokens in=%d out=%d, want in=%d out=%d (the transcript's)", where, got.Usage.InputTokens, got.Usage.OutputTokens, in, out)
	}
}

func compareSnapshots(t *testing.T, live, imp snapshot) {
	t.Helper()
	if live.spans != imp.spans {
		t.Errorf("live %d spans, import %d", live.spans, imp.spans)
	}
	for id, lv := range live.views {
		iv, ok := imp.views[id]
		if !ok {
			t.Errorf("conversation %s live but not imported", id)
			continue
		}
		if lv.TurnCount != iv.TurnCount {
			t.Errorf("conversation %s: live %d turns, import %d", id, lv.TurnCount, iv.TurnCount)
		}
		for i := range lv.Turns {
			if i >= len(iv.Turns) {
				break
			}
			if lv.Turns[i].TraceID != iv.Turns[i].TraceID || lv.Turns[i].Usage != iv.Turns[i].Usage || len(lv.Turns[i].Messages) != len(iv.Turns[i].Messages) {
				t.Errorf("conversation %s turn %d: live %s %+v %d messages, import %s %+v %d messages", id, i,
					lv.Turns[i].TraceID, lv.Turns[i].Usage, len(lv.Turns[i].Messages), iv.Turns[i].TraceID, iv.Turns[i].Usage, len(iv.Turns[i].Messages))
			}
		}
	}
}

// TestFaults runs real Claude Code sessions while things break:
//   - weave-agentd is SIGKILLed in the middle of a turn (after the first
//     tool ran): the next hook restarts it, it replays its journal and
//     re-reads the transcripts, and the final trees are complete with
//     nothing duplicated;
//   - the trace server is down for the whole session and comes back after
//     Claude Code exited: every span waits in the spool and is delivered.
func TestFaults(t *testing.T) {
	live := startServer(t)
	t.Run("daemon SIGKILLed mid-turn", func(t *testing.T) {
		rec := newRecorder(t, live.url)
		project, flag := "faults/kill", filepath.Join(t.TempDir(), "killed")
		r := runScenario(t, "tools", rec.URL, project, func(r *run) {
			// After the first PostToolUse: kill -9 the daemon (its pid is in
			// its lock file).
			r.session.AddHook("PostToolUse", fmt.Sprintf(`[ -e %[1]s ] || { touch %[1]s; kill -9 "$(cat %[2]s/agentd.lock)"; }`, flag, r.home))
		})
		if _, err := os.Stat(flag); err != nil {
			t.Fatalf("the kill hook did not run: %v", err)
		}
		if log, _ := os.ReadFile(filepath.Join(r.home, "logs", "agentd.log")); bytes.Count(log, []byte("daemon: starting")) < 2 {
			t.Errorf("the daemon was not restarted after the kill:\n%s", log)
		}
		projects := r.session.ProjectsDir()
		want := importSpans(t, projects)
		checkAgainstTranscripts(t, "after SIGKILL", live.settle(t, project, want), readTruth(t, projects), want)
	})
	t.Run("server down during the session", func(t *testing.T) {
		rec := newRecorder(t, live.url)
		rec.down.Store(true)
		project := "faults/down"
		r := runScenario(t, "subagent", rec.URL, project, nil)
		if rec.refused.Load() == 0 {
			t.Fatal("no export was attempted while the server was down")
		}
		rec.down.Store(false)
		projects := r.session.ProjectsDir()
		want := importSpans(t, projects)
		checkAgainstTranscripts(t, "after the outage", live.settle(t, project, want), readTruth(t, projects), want)
		t.Logf("%d export requests refused during the outage, all spans delivered after", rec.refused.Load())
	})
}
