package agentharness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Suite is what an agent's e2e test sets up once (its TestMain): the
// agent's pinned CLI and weave's binaries built for the run.
type Suite struct {
	Name      string // the agent: "codex", "gemini" (weave-hook install --agent)
	AgentName string // gen_ai.agent.name of its turns
	Bin       string // the installed CLI
	BinDir    string // weave-hook, weave-agentd, weave-server
	Isolated  bool   // in a private network namespace
}

// Main is an agent e2e test's TestMain: into a private network namespace
// where it can, install the CLI, build weave, run the tests; it returns
// the exit code.
func (s *Suite) Main(m *testing.M, install func() (string, error)) int {
	fail := func(what string, err error) int {
		fmt.Fprintf(os.Stderr, "e2e-%s: %s%v\n", s.Name, what, err)
		return 1
	}
	var err error
	if s.Isolated, err = InPrivateNetwork(); err != nil {
		return fail("", err)
	}
	if s.Bin, err = install(); err != nil {
		return fail("install the CLI: ", err)
	}
	if s.BinDir, err = os.MkdirTemp("", "weave-e2e-"+s.Name+"-bin-"); err != nil {
		return fail("", err)
	}
	defer os.RemoveAll(s.BinDir)
	if err := BuildWeave(s.BinDir); err != nil {
		return fail("build failed: ", err)
	}
	return m.Run()
}

// Case is one scenario of a suite run live: its project on the live
// server, an isolated HOME, weave-agentd's home, and the hook command that
// reports there.
type Case struct {
	Project   string
	Home      string
	WeaveHome string
	Hook      string // the command weave-hook install registers
}

// Case prepares scenario name against live; weave-agentd is stopped when
// the test ends.
func (s *Suite) Case(t *testing.T, live *Server, name string) Case {
	t.Helper()
	c := Case{Project: "e2e-" + s.Name + "/" + name, Home: t.TempDir(), WeaveHome: filepath.Join(t.TempDir(), "weave")}
	c.Hook = fmt.Sprintf("WEAVE_HOME=%s WEAVE_ENDPOINT=%s WEAVE_PROJECT=%s %s", c.WeaveHome, live.URL, c.Project, filepath.Join(s.BinDir, "weave-hook"))
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(s.BinDir, "weave-agentd"), "stop")
		cmd.Env = append(os.Environ(), "WEAVE_HOME="+c.WeaveHome)
		cmd.Run()
	})
	return c
}

// Env is where the case's scenario runs, with the real weave-hook
// registered.
func (s *Suite) Env(c Case) Env {
	return Env{Bin: s.Bin, Home: c.Home, Work: filepath.Join(c.Home, "work"), Install: InstallHook(filepath.Join(s.BinDir, "weave-hook"), s.Name, c.Hook)}
}

// Import runs `weave-agentd import` of path into server under the case's
// project.
func (s *Suite) Import(t *testing.T, server *Server, c Case, path string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(s.BinDir, "weave-agentd"), "import", "--endpoint", server.URL, "--project", c.Project, path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
}

// InstallHook returns an Env.Install that runs `hookBin install --agent
// agent --command command` with HOME (and CODEX_HOME) in the given home.
func InstallHook(hookBin, agent, command string) func(home string) error {
	return func(home string) error {
		cmd := exec.Command(hookBin, "install", "--agent", agent, "--command", command)
		cmd.Env = append(os.Environ(), "HOME="+home, "CODEX_HOME="+filepath.Join(home, ".codex"))
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("weave-hook install: %v\n%s", err, b)
		}
		return nil
	}
}

// Keys names each span (Key), with its times when withTimes, sorted: two
// servers holding the same spans give the same text.
func Keys(got []APISpan, withTimes bool) string {
	var out []string
	for _, sp := range got {
		k := sp.Key()
		if withTimes {
			end := "open"
			if sp.EndedAt != nil {
				end = *sp.EndedAt
			}
			k += " " + sp.StartedAt + ".." + end
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// CheckConversation: every span is in the conversation id (the agent's
// session: its resumes are the same conversation).
func CheckConversation(t *testing.T, what string, got []APISpan, id string) {
	t.Helper()
	for _, sp := range got {
		if sp.Conversation != id {
			t.Errorf("%s: %s in conversation %q, want the session %q", what, sp.SpanName, sp.Conversation, id)
		}
	}
}

// Truth is what an agent's own files say about a scenario run, for
// checking what weave made of it.
type Truth struct {
	Spans       int // the spans `weave-agentd import` builds of the files
	Turns       int
	Compactions int
	// Check compares the spans a server holds (what: "live", "import")
	// with the files.
	Check func(t *testing.T, what string, got []APISpan)
	// Continued names the chat spans whose input refers to an earlier
	// call's (Continued of the import's spans): stored whole.
	Continued map[string]bool
	// Import is the path `weave-agentd import` reads.
	Import string
	// SameTimes: live and import must agree on every span's times too.
	SameTimes bool
}

// Run runs one scenario live through the real weave-hook → weave-agentd →
// live, checks live's spans and views against truth (the agent's files
// read after the run), imports the files into imported, checks those
// spans the same, and requires both servers to hold the same spans. It
// returns how many spans were checked.
func (s *Suite) Run(t *testing.T, live, imported *Server, name string, run func(Env) (*Result, error), truth func(*testing.T, *Result) Truth) int {
	t.Helper()
	c := s.Case(t, live, name)
	res, err := run(s.Env(c))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Unused) > 0 {
		t.Fatalf("script steps %v never asked for", res.Unused)
	}
	tr := truth(t, res)
	got := live.Settle(t, c.Project, tr.Spans)
	tr.Check(t, "live", got)
	CheckConversation(t, "live", got, res.SessionID)
	live.CheckInputs(t, "live", c.Project, tr.Continued)
	live.CheckViews(t, c.Project, s.AgentName, tr.Turns, tr.Compactions, got)

	s.Import(t, imported, c, tr.Import)
	igot := imported.Settle(t, c.Project, tr.Spans)
	tr.Check(t, "import", igot)
	CheckConversation(t, "import", igot, res.SessionID)
	imported.CheckInputs(t, "import", c.Project, tr.Continued)
	if a, b := Keys(got, tr.SameTimes), Keys(igot, tr.SameTimes); a != b {
		t.Errorf("live and import differ:\nlive:\n%s\nimport:\n%s", a, b)
	}
	return len(got)
}
