package harness

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/e2e/mockapi"
)

// fakeCLI is a stand-in for claude: it prints an init line, then answers
// each stream-json message on stdin with a result line (or, without
// stdin messages, one result); it logs its argv and stdin to $HOME.
const fakeCLI = `#!/bin/bash
echo "$@" > "$HOME/argv.txt"
env | sort > "$HOME/env.txt"
case "$1" in
  --version) echo "2.1.250 (Claude Code)"; exit 0 ;;
  sleep) sleep 30 ;;
  fail) echo "something broke" >&2; exit 3 ;;
esac
echo '{"type":"system","subtype":"init","session_id":"sess-1"}'
if [ "$2" = "--input-format" ]; then
  n=0
  while IFS= read -r line; do
    n=$((n+1)); echo "$line" >> "$HOME/stdin.txt"
    echo '{"type":"result","session_id":"sess-1","n":'$n'}'
  done
else
  echo '{"type":"result","session_id":"sess-1"}'
fi
`

func newSession(t *testing.T, cfg Config) *Session {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "claude")
	if err := os.WriteFile(bin, []byte(fakeCLI), 0o755); err != nil {
		t.Fatal(err)
	}
	if cfg.Claude == "" {
		cfg.Claude = bin
	}
	cfg.Dir = filepath.Join(t.TempDir(), "s")
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Serve("simple", []byte(`{"main": [{"content": [{"type": "text", "text": "hi"}]}]}`))
	t.Cleanup(func() { s.Close() })
	return s
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSettings(t *testing.T) {
	hookBin := filepath.Join(t.TempDir(), "weave-hook")
	if out, err := exec.Command("go", "build", "-o", hookBin, "../../cmd/weave-hook").CombinedOutput(); err != nil {
		t.Fatalf("build weave-hook: %v\n%s", err, out)
	}
	s := newSession(t, Config{WeaveHook: hookBin, HookCommand: "WEAVE_HOME=/w " + hookBin})
	s.AddHook("SessionStart", "echo extra")
	hooks := readJSON(t, filepath.Join(s.Home, ".claude", "settings.json"))["hooks"].(map[string]any)
	for _, ev := range hookproto.Events {
		var cmds []string
		groups, _ := hooks[ev].([]any)
		for _, g := range groups {
			for _, h := range g.(map[string]any)["hooks"].([]any) {
				cmds = append(cmds, h.(map[string]any)["command"].(string))
			}
		}
		if !hookproto.IsObserveOnly(ev) {
			if len(cmds) != 0 {
				t.Errorf("%s: hooks %v, want none (it replaces Claude Code's own behaviour)", ev, cmds)
			}
			continue
		}
		want := 2 // weave-hook and the logger
		if ev == "SessionStart" {
			want = 3
		}
		if len(cmds) != want || cmds[0] != "WEAVE_HOME=/w "+hookBin || !strings.Contains(cmds[1], s.HookLog()) {
			t.Errorf("%s: hooks %q, want weave-hook (as installed) then the logger", ev, cmds)
		}
	}
	cj := readJSON(t, filepath.Join(s.Home, ".claude.json"))
	trusted := cj["projects"].(map[string]any)[s.Work].(map[string]any)["hasTrustDialogAccepted"]
	if cj["hasCompletedOnboarding"] != true || trusted != true {
		t.Errorf(".claude.json %v: want onboarding done and the work dir trusted", cj)
	}
}

func TestHookLogger(t *testing.T) {
	s := newSession(t, Config{})
	groups := readJSON(t, filepath.Join(s.Home, ".claude", "settings.json"))["hooks"].(map[string]any)["Stop"].([]any)
	logger := groups[0].(map[string]any)["hooks"].([]any)[0].(map[string]any)["command"].(string)
	payload := `{"hook_event_name":"Stop","prompt_id":"p 1","text":"it's \"quoted\" %s"}`
	for range 2 {
		cmd := exec.Command("sh", "-c", logger)
		cmd.Stdin = strings.NewReader(payload + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("logger: %v %s", err, out)
		}
	}
	got := s.Hooks()["Stop"]
	if len(got) != 2 || got[0]["text"] != `it's "quoted" %s` {
		t.Fatalf("Hooks() = %v", got)
	}
	line, _ := os.ReadFile(s.HookLog())
	ns, _, _ := strings.Cut(string(line), " ")
	if len(ns) < 19 {
		t.Errorf("log line %q: want the receipt time in ns first", line)
	}
	s.ExpectHooks("Stop")
	if s.Err() != nil {
		t.Error(s.Err())
	}
	s.ExpectHooks("Stop", "SessionEnd")
	if s.Err() == nil || !strings.Contains(s.Err().Error(), "SessionEnd never fired") {
		t.Errorf("ExpectHooks: %v", s.Err())
	}
}

func TestCleanEnvironment(t *testing.T) {
	t.Setenv("WEAVE_TEST_CANARY", "secret")
	t.Setenv("ANTHROPIC_AUTH_TOKEN", "real-credential")
	s := newSession(t, Config{})
	s.Claude("-p", "x").ExpectExit(0)
	env, _ := os.ReadFile(filepath.Join(s.Home, "env.txt"))
	for _, bad := range []string{"WEAVE_TEST_CANARY", "real-credential"} {
		if strings.Contains(string(env), bad) {
			t.Errorf("the host's %s reached the CLI", bad)
		}
	}
	for _, want := range []string{"HOME=" + s.Home, "ANTHROPIC_API_KEY=test", "ANTHROPIC_BASE_URL=http://127.0.0.1:", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "TMPDIR=" + s.Tmp} {
		if !strings.Contains(string(env), want) {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
}

func TestConverse(t *testing.T) {
	s := newSession(t, Config{})
	r := s.Converse([]any{"first", []map[string]string{{"type": "text", "text": "second"}}}, "--model", "m")
	r.ExpectExit(0)
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if r.SessionID != "sess-1" || r.Result["n"] != 2.0 {
		t.Errorf("run %+v: want the session and the second result", r)
	}
	argv, _ := os.ReadFile(filepath.Join(s.Home, "argv.txt"))
	if got := strings.TrimSpace(string(argv)); got != "-p --input-format stream-json --output-format stream-json --verbose --model m" {
		t.Errorf("argv %q", got)
	}
	stdin, _ := os.ReadFile(filepath.Join(s.Home, "stdin.txt"))
	lines := strings.Split(strings.TrimSpace(string(stdin)), "\n")
	var msgs []map[string]any
	for _, l := range lines {
		var m map[string]any
		json.Unmarshal([]byte(l), &m)
		msgs = append(msgs, m)
	}
	if len(msgs) != 2 || msgs[0]["type"] != "user" || !reflect.DeepEqual(msgs[0]["message"], map[string]any{"role": "user", "content": "first"}) ||
		msgs[1]["message"].(map[string]any)["content"].([]any)[0].(map[string]any)["text"] != "second" {
		t.Errorf("stdin messages %v", msgs)
	}
	out, _ := os.ReadFile(filepath.Join(s.Out, "run-1.stdout.jsonl"))
	if strings.Count(string(out), "\n") != 3 {
		t.Errorf("stdout kept %q, want the init line and two results", out)
	}
}

func TestRunFailures(t *testing.T) {
	t.Run("exit code", func(t *testing.T) {
		s := newSession(t, Config{})
		s.Claude("fail").ExpectExit(0)
		if err := s.Err(); err == nil || !strings.Contains(err.Error(), "exited 3, want 0") || !strings.Contains(err.Error(), "something broke") {
			t.Errorf("Err() = %v, want the exit code and stderr", err)
		}
		// After the first error nothing more runs.
		if r := s.Claude("-p", "x"); r.ExitCode != -1 {
			t.Errorf("a run after an error ran: %+v", r)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		s := newSession(t, Config{RunTimeout: 500 * time.Millisecond})
		start := time.Now()
		s.Claude("sleep")
		if err := s.Err(); err == nil || !strings.Contains(err.Error(), "did not finish within") {
			t.Errorf("Err() = %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("the timeout took %v", d)
		}
	})
	t.Run("no mock", func(t *testing.T) {
		s, err := New(Config{Claude: "/bin/true", Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		s.Claude("-p", "x")
		if err := s.Err(); err == nil || !strings.Contains(err.Error(), "without a mock") {
			t.Errorf("Err() = %v", err)
		}
	})
	t.Run("script not followed", func(t *testing.T) {
		s := newSession(t, Config{}) // the fake CLI never calls the mock
		if err := s.Close(); err == nil || !strings.Contains(err.Error(), "main: 1 required step(s) not used") {
			t.Errorf("Close() = %v, want the unused step reported", err)
		}
	})
	t.Run("bad script", func(t *testing.T) {
		s, err := New(Config{Claude: "/bin/true", Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		s.Serve("broken", []byte(`{"main": [{}]}`))
		if err := s.Err(); err == nil || !strings.Contains(err.Error(), "script broken") {
			t.Errorf("Err() = %v", err)
		}
	})
}

func TestRequestsAndVersion(t *testing.T) {
	s := newSession(t, Config{})
	if got := s.Requests(mockapi.KindMain); got != 0 {
		t.Errorf("Requests before any: %d", got)
	}
	s.ExpectRequests(mockapi.KindClassifier, 1)
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "0 classifier request(s), want at least 1") {
		t.Errorf("Err() = %v", err)
	}
	if v := s.Version(); v != "2.1.250" {
		t.Errorf("Version() = %q", v)
	}
	if !s.VersionBefore("2.1.330") || s.VersionBefore("2.1.197") || s.VersionBefore("2.1.250") {
		t.Error("VersionBefore compares wrongly")
	}
}

func TestVersions(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{{"2.1.197", true}, {"10.0.1", true}, {"2.1", false}, {"2.1.x", false}, {"2.1.1.1", false}, {"", false}, {"2..1", false}} {
		if got := validVersion(tc.v); got != tc.ok {
			t.Errorf("validVersion(%q) = %v, want %v", tc.v, got, tc.ok)
		}
	}
	if compareVersions("20.20.2", "22.0.0") >= 0 || compareVersions("22.0.0", "22.0.0") != 0 || compareVersions("2.1.330", "2.1.197") <= 0 {
		t.Error("compareVersions")
	}
	for cli, want := range map[string]string{"2.1.197": "0.3.197", "2.1.330": "0.3.330"} {
		if got, err := AgentSDKVersion(cli); err != nil || got != want {
			t.Errorf("AgentSDKVersion(%s) = %q, %v; want %s", cli, got, err, want)
		}
	}
	if _, err := AgentSDKVersion("3.0.1"); err == nil {
		t.Error("AgentSDKVersion(3.0.1): want an error")
	}
	if _, err := InstallCLI(t.Context(), "latest", t.TempDir(), nil); err == nil {
		t.Error("InstallCLI(latest): want an error (versions are pinned)")
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"plain/path-1.txt": "plain/path-1.txt", "a b": "'a b'", "it's": `'it'\''s'`, "": "''"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
		if out, err := exec.Command("sh", "-c", "printf %s "+shellQuote(in)).Output(); err != nil || string(out) != in {
			t.Errorf("sh reads %s as %q, want %q", shellQuote(in), out, in)
		}
	}
}

// TestIsolateNetwork runs a helper that isolates itself: inside, only
// loopback exists and works.
func TestIsolateNetwork(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a private network namespace needs root; without it the harness uses the host network and says so")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNetnsHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "WEAVE_TEST_NETNS_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	for _, want := range []string{"network: private network namespace (loopback only)", "interfaces: lo", "loopback: echo"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("helper output lacks %q:\n%s", want, out)
		}
	}
}

func TestNetnsHelper(t *testing.T) {
	if os.Getenv("WEAVE_TEST_NETNS_HELPER") != "1" {
		t.Skip("run by TestIsolateNetwork")
	}
	network, err := IsolateNetwork() // the outer helper exits inside this call
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("network:", network)
	ifs, _ := net.Interfaces()
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	fmt.Println("interfaces:", strings.Join(names, ","))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("echo"))
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	n, _ := c.Read(b)
	fmt.Println("loopback:", string(b[:n]))
}

// TestCaptureHook: the recording hook appends the fixtures' hooks.jsonl
// line, with the sizes of the transcript and of the subagent's transcript
// (named, or found from agent_id) when the hook ran.
func TestCaptureHook(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "projects", "w", "s1.jsonl")
	sub := filepath.Join(dir, "projects", "w", "s1", "subagents", "agent-a1.jsonl")
	os.MkdirAll(filepath.Dir(sub), 0o755)
	os.WriteFile(main, []byte("{}\n{}\n"), 0o644)
	os.WriteFile(sub, []byte("{}\n"), 0o644)
	out := filepath.Join(dir, "hooks.jsonl")
	at := time.Date(2026, 12, 5, 7, 49, 16, 241e6, time.UTC)
	payloads := []string{
		fmt.Sprintf(`{"hook_event_name":"PreToolUse","session_id":"s1","transcript_path":%q,"agent_id":"a1"}`, main),
		fmt.Sprintf(`{"hook_event_name":"SessionStart","session_id":"s2","transcript_path":%q}`, filepath.Join(dir, "projects", "w", "s2.jsonl")),
	}
	for _, p := range payloads {
		if err := CaptureHook(strings.NewReader(p), out, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := CaptureHook(strings.NewReader("not json"), out, at); err == nil {
		t.Error("CaptureHook(not JSON) succeeded")
	}
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), b)
	}
	var got []CaptureRecord
	for _, l := range lines {
		var r CaptureRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	want := []CaptureRecord{
		{TS: "2026-12-05T07:49:16.241Z", Event: "PreToolUse", Transcript: &FileState{main, true, 6}, Agent: &FileState{sub, true, 3}},
		{TS: "2026-12-05T07:49:16.241Z", Event: "SessionStart", Transcript: &FileState{filepath.Join(dir, "projects", "w", "s2.jsonl"), false, 0}},
	}
	for i := range want {
		g := got[i]
		if string(g.Payload) != payloads[i] {
			t.Errorf("line %d: payload %s, want it as read", i, g.Payload)
		}
		g.Payload = nil
		if !reflect.DeepEqual(g, want[i]) {
			t.Errorf("line %d: %+v %+v %+v, want %+v %+v %+v", i, g, g.Transcript, g.Agent, want[i], want[i].Transcript, want[i].Agent)
		}
	}
}
