//go:build unix

package serve_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weavetrace/weave/internal/serverproc"
	"github.com/weavetrace/weave/server/store/clickhouse/clickhousetest"
	"github.com/weavetrace/weave/server/store/storetest/ccload"
)

// TestClickHouseEndToEnd runs the weave-server binary twice, on
// ClickHouse (`--store clickhouse --clickhouse-dsn …`, a local node or
// WEAVE_TEST_CLICKHOUSE_DSN) and on the embedded store, sends both the
// same OTLP requests — the Claude Code sessions weave-agentd exports (every
// CLI version the harness captured), in the order the daemon sends them
// live (liveRequests), and the instrumentation corpus's trace and log
// requests — and checks that every read endpoint answers the same on
// both: the embedded store is the reference.
func TestClickHouseEndToEnd(t *testing.T) {
	dsn := clickhousetest.DSN(t)
	root := repoRoot(t)
	bin := filepath.Join(t.TempDir(), "weave-server")
	build := exec.Command("go", "build", "-o", bin, "./cmd/weave-server")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build weave-server: %v\n%s", err, out)
	}
	var b [6]byte
	rand.Read(b[:])
	db := "weave_e2e_" + hex.EncodeToString(b[:])
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	ch := startServer(t, bin, "--store", "clickhouse", "--clickhouse-dsn", u.String(), "--clickhouse-flush-interval", "50ms")
	t.Cleanup(func() { dropDB(t, dsn, db) })
	lite := startServer(t, bin, "--data-dir", t.TempDir())

	// The same requests to both servers.
	load, err := ccload.FromRepo("e2e/claude-code")
	if err != nil {
		t.Fatal(err)
	}
	// Each session as weave-agentd sends it live: running copies first,
	// the finished spans last.
	requests := 0
	for range load.Sessions() {
		body, _ := load.Next()
		for _, b := range append(liveRequests(t, body), body) {
			for _, s := range []*server{ch, lite} {
				s.post(t, "/v1/traces", "application/x-protobuf", b)
			}
			requests++
		}
	}
	corpus, err := filepath.Glob(filepath.Join(root, "server", "normalize", "testdata", "corpus", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(corpus)
	for _, f := range corpus {
		path, ctype := "/v1/traces", ""
		switch {
		case strings.HasSuffix(f, ".logs.pb"):
			path, ctype = "/v1/logs", "application/x-protobuf"
		case strings.HasSuffix(f, ".logs.json"):
			path, ctype = "/v1/logs", "application/json"
		case strings.HasSuffix(f, ".pb"):
			ctype = "application/x-protobuf"
		case strings.HasSuffix(f, ".json"):
			ctype = "application/json"
		default:
			continue
		}
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []*server{ch, lite} {
			s.post(t, path, ctype, body)
		}
		requests++
	}

	// Read back through the API: the same answers.
	var projects struct {
		Projects []string `json:"projects"`
	}
	json.Unmarshal(lite.get(t, "/genai/projects"), &projects)
	if len(projects.Projects) < 2 {
		t.Fatalf("projects after %d requests: got %v, want the Claude Code one and the default", requests, projects.Projects)
	}
	sameJSON(t, "GET /genai/projects", lite.get(t, "/genai/projects"), ch.get(t, "/genai/projects"))
	checked, places := 0, 0
	compare := func(path string, body any) []byte {
		t.Helper()
		want, got := lite.read(t, path, body), ch.read(t, path, body)
		if path == "/genai/messages/search" {
			// Two messages first said in the same span and role tie on
			// the contract's order; each backend keeps its own.
			want, got = sortTies(t, want), sortTies(t, got)
		}
		sameJSON(t, path+" "+string(mustJSON(body)), want, got)
		checked++
		return want
	}
	for _, p := range projects.Projects {
		var agents struct {
			Agents []struct {
				Name string `json:"agent_name"`
			} `json:"agents"`
		}
		json.Unmarshal(compare("/genai/agents/query", map[string]any{"project_id": p}), &agents)
		for _, a := range agents.Agents {
			compare("/genai/agents/versions", map[string]any{"project_id": p, "agent_name": a.Name})
		}
		compare("/genai/agents/metrics", map[string]any{"project_id": p})
		var convs struct {
			Conversations []struct {
				ID string `json:"conversation_id"`
			} `json:"conversations"`
		}
		json.Unmarshal(compare("/genai/conversations/query", map[string]any{"project_id": p, "limit": 1000}), &convs)
		for _, c := range convs.Conversations {
			compare("/genai/conversations/chat", map[string]any{"project_id": p, "conversation_id": c.ID})
		}
		var sp struct {
			Spans []struct {
				TraceID string `json:"trace_id"`
			} `json:"spans"`
		}
		json.Unmarshal(compare("/genai/spans/query", map[string]any{"project_id": p, "limit": 10000, "include_details": true,
			"sort": []map[string]string{{"field": "started_at", "direction": "asc"}}}), &sp)
		traces := map[string]bool{}
		for _, s := range sp.Spans {
			if !traces[s.TraceID] {
				traces[s.TraceID] = true
				compare("/genai/traces/chat", map[string]any{"project_id": p, "trace_id": s.TraceID})
			}
		}
		for _, q := range []string{"file", "weather", "hello", `"read file"`} {
			compare("/genai/messages/search", map[string]any{"project_id": p, "query": q, "limit": 1000})
		}
		// Where the sessions ran: the values the web UI's working directory
		// and branch filters list, and the conversations each one keeps.
		for param, key := range map[string]string{"working_dir": "weave.claude_code.cwd", "git_branch": "weave.claude_code.git_branch"} {
			field := "custom_attrs_string." + key
			var agg struct {
				Groups []struct {
					Key map[string]any `json:"key"`
				} `json:"groups"`
			}
			json.Unmarshal(compare("/genai/spans/aggregate", map[string]any{"project_id": p, "group_by": []string{field},
				"filters": []map[string]any{{"field": field, "op": "exists"}}, "sort": []map[string]string{{"field": "count", "direction": "desc"}}, "limit": 200}), &agg)
			for _, g := range agg.Groups {
				v, _ := g.Key[field].(string)
				compare("/genai/conversations/query", map[string]any{"project_id": p, param: v, "limit": 1000})
				places++
			}
		}
		// Exports: the same lines in every format.
		for _, format := range []string{"jsonl", "otlp", "atif"} {
			body := map[string]any{"project_id": p, "format": format}
			want, got := strings.Split(string(lite.read(t, "/genai/export", body)), "\n"), strings.Split(string(ch.read(t, "/genai/export", body)), "\n")
			if len(want) != len(got) || len(want) < 2 {
				t.Errorf("export %s of %s: %d lines on ClickHouse, %d on the embedded store", format, p, len(got), len(want))
				continue
			}
			for i := range want[:len(want)-1] {
				sameJSON(t, fmt.Sprintf("export %s of %s, line %d", format, p, i+1), []byte(want[i]), []byte(got[i]))
			}
			checked++
		}
	}
	if places == 0 {
		t.Error("no span records a working directory or git branch: the conversations' where filters were not compared")
	}
	t.Logf("%d OTLP requests, %d read answers identical on ClickHouse and the embedded store", requests, checked)
	for _, s := range []*server{ch, lite} {
		s.stop(t)
	}
}

// server is a weave-server process under test.
type server struct {
	base   string
	cmd    *exec.Cmd
	out    *serverproc.LogBuffer
	done   chan error
	client *http.Client
}

func startServer(t *testing.T, bin string, args ...string) *server {
	t.Helper()
	// Port 0: the server logs the port it got. A port found free, closed
	// and passed on could be taken by another process first.
	s := &server{out: &serverproc.LogBuffer{}, done: make(chan error, 1),
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}}
	s.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--grpc-addr", "off"}, args...)...)
	s.cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "WEAVE_API_KEYS=", "WEAVE_CLICKHOUSE_DSN=")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if addr, _, ok := serverproc.Started(s.out.String()); ok && s.base == "" {
			s.base = "http://" + addr
		}
		if s.base != "" {
			resp, err := s.client.Get(s.base + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return s
				}
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("weave-server %v exited at start: %v\n%s", args, err, s.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("weave-server %v not ready after 2 min:\n%s", args, s.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) post(t *testing.T, path, ctype string, body []byte) []byte {
	t.Helper()
	resp, err := s.client.Post(s.base+path, ctype, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s (%s): %s: %.500s\nserver log:\n%s", path, s.base, resp.Status, b, s.out)
	}
	return b
}

func (s *server) read(t *testing.T, path string, body any) []byte {
	t.Helper()
	return s.post(t, path, "application/json", mustJSON(body))
}

func (s *server) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := s.client.Get(s.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %.500s", path, resp.Status, b)
	}
	return b
}

// stop ends the server with SIGTERM and wants a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("weave-server exit: %v\n%s", err, s.out)
		}
	case <-time.After(time.Minute):
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("weave-server did not stop within a minute of SIGTERM")
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// sameJSON compares two JSON answers as values.
func sameJSON(t *testing.T, what string, want, got []byte) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: embedded store's answer: %v", what, err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: ClickHouse's answer: %v", what, err)
	}
	if wj, gj := mustJSON(w), mustJSON(g); !bytes.Equal(wj, gj) {
		t.Errorf("%s: ClickHouse answers differently from the embedded store:\n%s", what, firstDiff(string(wj), string(gj)))
	}
}

// sortTies orders search hits that tie on the contract's order (start,
// trace, span, role) by their snippet.
func sortTies(t *testing.T, answer []byte) []byte {
	t.Helper()
	var a map[string]any
	if err := json.Unmarshal(answer, &a); err != nil {
		t.Fatalf("search answer: %v", err)
	}
	hits, _ := a["hits"].([]any)
	key := func(i int) [5]string {
		h, _ := hits[i].(map[string]any)
		var k [5]string
		for j, f := range []string{"started_at", "trace_id", "span_id", "role", "snippet"} {
			k[j], _ = h[f].(string)
		}
		return k
	}
	for i := 0; i < len(hits); {
		j := i + 1
		for j < len(hits) && tie(key(j), key(i)) {
			j++
		}
		run := hits[i:j]
		sort.SliceStable(run, func(a, b int) bool { return key(i + a)[4] < key(i + b)[4] })
		i = j
	}
	return mustJSON(a)
}

func tie(a, b [5]string) bool { return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] }

// firstDiff shows where two texts part.
func firstDiff(want, got string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	from := max(0, i-300)
	return fmt.Sprintf("at byte %d:\n  embedded   …%.600s\n  clickhouse …%.600s", i, want[from:], got[from:])
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = up
	}
}

// dropDB removes the test database.
func dropDB(t *testing.T, dsn, db string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := clickhousetest.Exec(ctx, dsn, "DROP DATABASE IF EXISTS `"+db+"` SYNC"); err != nil {
		t.Errorf("drop %s: %v", db, err)
	}
}

// liveRequests are the requests weave-agentd sends for a session (body,
// its final spans) while it runs, before the final ones: per turn (trace,
// in order of start), its root running at a start 12 ms late, with the
// previous turn's root finished early (the turns interleave, and a
// finished span is replaced by a finished one later); then the root
// running at its own start (the start moves back, as the daemon back-dates
// a root once the transcript lands) with every other span of the turn
// running.
func liveRequests(t *testing.T, body []byte) [][]byte {
	t.Helper()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatalf("session request: %v", err)
	}
	td := req.Traces()
	type where struct{ rs, ss, sp int }
	var roots []where
	byTrace := map[pcommon.TraceID][]where{}
	span := func(w where) ptrace.Span {
		return td.ResourceSpans().At(w.rs).ScopeSpans().At(w.ss).Spans().At(w.sp)
	}
	for i, rs := range td.ResourceSpans().All() {
		for j, ss := range rs.ScopeSpans().All() {
			for k, sp := range ss.Spans().All() {
				w := where{i, j, k}
				if sp.ParentSpanID().IsEmpty() {
					roots = append(roots, w)
				} else {
					byTrace[sp.TraceID()] = append(byTrace[sp.TraceID()], w)
				}
			}
		}
	}
	sort.SliceStable(roots, func(a, b int) bool { return span(roots[a]).StartTimestamp() < span(roots[b]).StartTimestamp() })

	// copy is one span of the session with its own start and end (0: running).
	type copyOf struct {
		w          where
		start, end pcommon.Timestamp
	}
	request := func(copies []copyOf) []byte {
		out := ptrace.NewTraces()
		scopes := map[[2]int]ptrace.ScopeSpans{}
		for _, c := range copies {
			ss, ok := scopes[[2]int{c.w.rs, c.w.ss}]
			if !ok {
				from := td.ResourceSpans().At(c.w.rs)
				rs := out.ResourceSpans().AppendEmpty()
				from.Resource().CopyTo(rs.Resource())
				ss = rs.ScopeSpans().AppendEmpty()
				from.ScopeSpans().At(c.w.ss).Scope().CopyTo(ss.Scope())
				scopes[[2]int{c.w.rs, c.w.ss}] = ss
			}
			sp := ss.Spans().AppendEmpty()
			span(c.w).CopyTo(sp)
			sp.SetStartTimestamp(c.start)
			sp.SetEndTimestamp(c.end)
			if c.end == 0 {
				sp.Status().SetCode(ptrace.StatusCodeUnset)
				sp.Status().SetMessage("")
			}
		}
		b, err := ptraceotlp.NewExportRequestFromTraces(out).MarshalProto()
		if err != nil {
			t.Fatalf("live request: %v", err)
		}
		return b
	}
	const late = pcommon.Timestamp(12 * time.Millisecond)
	var out [][]byte
	for i, r := range roots {
		root := span(r)
		first := []copyOf{{r, root.StartTimestamp() + late, 0}}
		if i > 0 {
			prev := span(roots[i-1])
			first = append(first, copyOf{roots[i-1], prev.StartTimestamp(), prev.StartTimestamp() + 1})
		}
		out = append(out, request(first))
		turn := []copyOf{{r, root.StartTimestamp(), 0}}
		for _, w := range byTrace[root.TraceID()] {
			turn = append(turn, copyOf{w, span(w).StartTimestamp(), 0})
		}
		out = append(out, request(turn))
	}
	return out
}
