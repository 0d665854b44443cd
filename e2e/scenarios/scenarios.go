// Package scenarios is what weave's end-to-end test makes the real Claude
// Code CLI do: each Scenario is a list of CLI runs (e2e/harness) against
// the mock scripts beside this file (<name>.json, e2e/mockapi's format).
// A scenario checks that things went as scripted (exit codes, every
// script step consumed, the hooks it is about fired); what weave made of
// it is the e2e test's business.
package scenarios

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/weavetrace/weave/e2e/harness"
	"github.com/weavetrace/weave/e2e/mockapi"
)

//go:embed *.json
var scripts embed.FS

// Scenario is one scenario.
type Scenario struct {
	Name  string
	About string
	// Interactive scenarios drive the TUI under tmux; SDK ones run the
	// Agent SDK (node and harness.Config.AgentSDK).
	Interactive, SDK bool
	Run              func(s *harness.Session)
}

// Script is a mock script by name (without .json).
func Script(name string) []byte {
	b, err := scripts.ReadFile(name + ".json")
	if err != nil {
		panic(fmt.Sprintf("scenarios: no script %s", name))
	}
	return b
}

// Get finds a scenario by name.
func Get(name string) (Scenario, bool) {
	for _, sc := range All {
		if sc.Name == name {
			return sc, true
		}
	}
	return Scenario{}, false
}

// Names lists the scenarios.
func Names() []string {
	var out []string
	for _, sc := range All {
		out = append(out, sc.Name)
	}
	return out
}

const notes = "line one of notes\nline two of notes\n"

// serve starts the mock with the script of the same name.
func serve(s *harness.Session, name string) { s.Serve(name, Script(name)) }

// All scenarios, in the order the e2e test runs them.
var All = []Scenario{
	{Name: "simple", About: "one prompt, a text answer", Run: func(s *harness.Session) {
		serve(s, "simple")
		s.Claude(harness.Headless("What is the answer to everything?", "--debug-file", s.Out+"/run-1.debug.txt")...).ExpectExit(0)
		s.ExpectHooks("SessionStart", "UserPromptSubmit", "Stop", "SessionEnd")
	}},
	{Name: "tools", About: "Bash, Read, Write, then thinking + text + two parallel tool calls", Run: func(s *harness.Session) {
		s.WriteFile("notes.txt", notes)
		serve(s, "tools")
		s.Claude(harness.Headless("Run echo hello, read notes.txt, write out.txt")...).ExpectExit(0)
		s.ExpectHooks("PreToolUse", "PostToolUse", "PostToolBatch")
	}},
	{Name: "subagent", About: "the main agent calls Agent; the subagent runs Bash", Run: func(s *harness.Session) {
		s.WriteFile("notes.txt", notes)
		serve(s, "subagent")
		s.Claude(harness.Headless("Use a subagent to find the first line of notes.txt")...).ExpectExit(0)
		s.ExpectHooks("SubagentStart", "SubagentStop")
	}},
	{Name: "resume", About: "a run, --resume, --continue, --resume --fork-session", Run: func(s *harness.Session) {
		serve(s, "resume")
		first := s.Claude(harness.Headless("Store the number 7 in number.txt")...).ExpectExit(0)
		s.Claude(append([]string{"--resume", first.SessionID}, harness.Headless("What number did you store?")...)...).ExpectExit(0)
		s.Claude(append([]string{"--continue"}, harness.Headless("And now?")...)...).ExpectExit(0)
		fork := s.Claude(append([]string{"--resume", first.SessionID, "--fork-session"}, harness.Headless("Fork it")...)...).ExpectExit(0)
		if s.Err() == nil && (fork.SessionID == "" || fork.SessionID == first.SessionID) {
			s.Failf("the fork has session %q, want a new one (the first run's is %q)", fork.SessionID, first.SessionID)
		}
	}},
	{Name: "failure", About: "a failing Bash and Read; Bash denied in default mode (--allowedTools Read); auto mode's classifier blocks a command", Run: func(s *harness.Session) {
		serve(s, "failure")
		s.Claude(harness.Headless("Run a failing command and read a missing file")...).ExpectExit(0)
		s.Claude("-p", "Try to create a file", "--output-format", "stream-json", "--verbose", "--allowedTools", "Read").ExpectExit(0)
		s.Claude("-p", "Try auto mode", "--output-format", "stream-json", "--verbose", "--permission-mode", "auto").ExpectExit(0)
		s.ExpectHooks("PostToolUseFailure", "PermissionDenied")
		expectClassifierDenial(s)
	}},
	{Name: "multiturn", About: "two prompts in one process through --input-format stream-json (the second as content blocks)", Run: func(s *harness.Session) {
		serve(s, "multiturn")
		s.Converse([]any{"First prompt: echo turn-one", []map[string]string{{"type": "text", "text": "This is the second prompt"}}},
			"--permission-mode", "bypassPermissions").ExpectExit(0)
	}},
	{Name: "compact", About: "manual /compact; prompt too long whose auto-compaction fails (StopFailure on 2.1.197); auto-compaction after tool rounds", Run: func(s *harness.Session) {
		serve(s, "compact")
		s.Converse([]any{"First prompt: echo before-compact", "/compact", "Third prompt, after compaction"},
			"--permission-mode", "bypassPermissions").ExpectExit(0)
		serve(s, "compact-fail")
		s.Converse([]any{"Auto-compaction test, turn one", "Auto-compaction test, turn two"},
			"--permission-mode", "bypassPermissions", "--model", "claude-sonnet-4-5")
		serve(s, "compact-auto")
		s.Converse([]any{"Auto-compaction test, turn one", "Auto-compaction test, turn two", "Auto-compaction test, turn three"},
			"--permission-mode", "bypassPermissions", "--model", "claude-sonnet-4-5").ExpectExit(0)
		s.ExpectHooks("PreCompact", "PostCompact")
		s.ExpectRequests(mockapi.KindCompaction, 2)
	}},
	{Name: "extras", About: "--init-only; CLAUDE.md, a custom slash command, TaskCreate/TaskUpdate, a watched file, settings.local.json, cd", Run: func(s *harness.Session) {
		s.WriteFile("CLAUDE.md", "# Project instructions\nThis is a scripted test project.\n")
		s.WriteFile(".claude/commands/greet.md", "---\ndescription: Greet someone\n---\nSay hello to $ARGUMENTS.\n")
		s.WriteFile("watched.txt", "original\n")
		// FileChanged fires only for paths a SessionStart hook asks to watch.
		watch, _ := json.Marshal(map[string]any{"hookSpecificOutput": map[string]any{
			"hookEventName": "SessionStart", "watchPaths": []string{s.Work + "/watched.txt"}}})
		s.AddHook("SessionStart", "echo "+shellQuote(string(watch)))
		serve(s, "extras")
		s.Claude("-p", "--init-only", "--output-format", "stream-json", "--verbose", "--permission-mode", "bypassPermissions").ExpectExit(0)
		s.Claude(harness.Headless("/greet world")...).ExpectExit(0)
		s.ExpectHooks("Setup", "InstructionsLoaded", "UserPromptExpansion", "CwdChanged", "ConfigChange", "FileChanged")
	}},
	{Name: "interactive", Interactive: true, About: "the TUI under tmux: a prompt, Bash behind a permission dialog, /exit", Run: func(s *harness.Session) {
		serve(s, "interactive")
		u := s.TUI()
		u.WaitFor(promptReady, 40*time.Second)
		u.Submit("Please create a file")
		u.WaitFor(`Do you want|Interactive turn done`, 40*time.Second)
		if strings.Contains(u.Screen(), "Do you want") {
			// Left open long enough for the Notification hook (~6 s).
			u.Pause(8 * time.Second).Press("Enter")
		}
		u.WaitFor(`Interactive turn done`, 40*time.Second)
		u.Pause(time.Second).Submit("/exit")
		u.WaitExit(20 * time.Second)
		s.ExpectHooks("UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SessionEnd")
		if s.VersionBefore("2.1.330") { // 2.1.330 asks for no title here
			s.ExpectRequests(mockapi.KindTitle, 1)
		}
	}},
	{Name: "parallel", About: "two identical subagents in parallel", Run: func(s *harness.Session) {
		s.WriteFile("notes.txt", notes)
		serve(s, "parallel")
		s.Claude(harness.Headless("Use subagents on notes.txt")...).ExpectExit(0)
	}},
	{Name: "nested", About: "a subagent that runs a subagent", Run: func(s *harness.Session) {
		s.WriteFile("notes.txt", notes)
		serve(s, "nested")
		s.Claude(harness.Headless("Use subagents on notes.txt")...).ExpectExit(0)
	}},
	{Name: "background", About: "a background subagent and a background command", Run: func(s *harness.Session) {
		s.WriteFile("notes.txt", notes)
		serve(s, "background")
		s.Claude(harness.Headless("Check notes.txt in the background")...).ExpectExit(0)
	}},
	{Name: "apierror", About: "the API refuses the turn's second request (HTTP 400, however often the CLI retries it)", Run: func(s *harness.Session) {
		s.WriteFile("notes.txt", notes)
		serve(s, "apierror")
		s.Claude(harness.Headless("Count the lines of notes.txt")...).ExpectExit(1)
		if s.VersionBefore("2.1.330") { // 2.1.330 in print mode often exits before its StopFailure hook runs
			s.ExpectHooks("StopFailure")
		}
	}},
	{Name: "subfail", About: "a subagent whose model call fails", Run: func(s *harness.Session) {
		serve(s, "subfail")
		s.Claude(harness.Headless("Have a subagent check the build")...).ExpectExit(0)
	}},
	{Name: "bgfork", About: "a turn with a background subagent, then --resume --fork-session with a foreground one", Run: func(s *harness.Session) {
		s.WriteFile("notes.txt", notes)
		serve(s, "bgfork")
		first := s.Claude(harness.Headless("Count the notes in the background")...).ExpectExit(0)
		s.Claude(append([]string{"--resume", first.SessionID, "--fork-session"}, harness.Headless("Now check again in the foreground")...)...).ExpectExit(0)
	}},
	{Name: "forktree", About: "a fork of a fork: run A, --resume A --fork-session = B, --resume B --fork-session = C, and D a second fork of A", Run: func(s *harness.Session) {
		serve(s, "forktree")
		a := s.Claude(harness.Headless("Tree A: store the word pear in fruit.txt")...).ExpectExit(0)
		b := s.Claude(append([]string{"--resume", a.SessionID, "--fork-session"}, harness.Headless("Tree B: what fruit did you store?")...)...).ExpectExit(0)
		c := s.Claude(append([]string{"--resume", b.SessionID, "--fork-session"}, harness.Headless("Tree C: and what is its colour?")...)...).ExpectExit(0)
		d := s.Claude(append([]string{"--resume", a.SessionID, "--fork-session"}, harness.Headless("Tree D: a second fork of A")...)...).ExpectExit(0)
		ids := map[string]bool{a.SessionID: true, b.SessionID: true, c.SessionID: true, d.SessionID: true}
		if s.Err() == nil && (len(ids) != 4 || ids[""]) {
			s.Failf("fork tree sessions A %q, B %q, C %q, D %q, want four", a.SessionID, b.SessionID, c.SessionID, d.SessionID)
		}
	}},
	{Name: "overload", About: "HTTP 529, 429 and 500 answers, retried until the API recovers", Run: func(s *harness.Session) {
		serve(s, "overload")
		s.Claude(harness.Headless("Echo something once the API works")...).ExpectExit(0)
	}},
	{Name: "interrupt", Interactive: true, About: "the TUI: Escape while a Bash command runs, another prompt, /exit", Run: func(s *harness.Session) {
		serve(s, "interrupt")
		u := s.TUI("--permission-mode", "default", "--allowedTools", "Bash") // no dialog: the command runs (2.1.330 starts in auto mode, which sets allow rules aside)
		u.WaitFor(promptReady, 40*time.Second)
		u.Submit("Run the long command")
		u.WaitFor(`Running…|ctrl\+b to run in background`, 30*time.Second)
		u.Pause(2 * time.Second).Press("Escape")
		u.WaitFor(`Interrupted|interrupted`, 20*time.Second)
		u.Pause(time.Second).Submit("Say hi")
		u.WaitFor(`Hi again`, 40*time.Second)
		u.Pause(time.Second).Submit("/exit")
		u.WaitExit(20 * time.Second)
	}},
	{Name: "sdkfork", SDK: true, About: "the Agent SDK: query() A, forkSession(A) = B, query() on B, forkSession(B) = C, query() on C", Run: func(s *harness.Session) {
		serve(s, "sdkfork")
		a := s.SDKQuery("Session A: store the word apple in fruit.txt", nil).ExpectExit(0)
		b := s.SDKFork(a.SessionID).ExpectExit(0)
		s.SDKQuery("Session B: what fruit did you store?", map[string]any{"resume": b.SessionID}).ExpectExit(0)
		c := s.SDKFork(b.SessionID).ExpectExit(0)
		s.SDKQuery("Session C: and what is its colour?", map[string]any{"resume": c.SessionID}).ExpectExit(0)
		if s.Err() == nil && (a.SessionID == b.SessionID || b.SessionID == c.SessionID || c.SessionID == "") {
			s.Failf("fork chain sessions %q → %q → %q, want three", a.SessionID, b.SessionID, c.SessionID)
		}
	}},
}

// promptReady is on the TUI's screen once it takes input (2.1.197 shows
// "? for shortcuts", 2.1.330 starts in auto mode; both "← for agents").
const promptReady = `for shortcuts|for agents`

// expectClassifierDenial checks why auto mode denied the command: 2.1.197
// asks the classifier (the mock blocks, with the script's reason);
// 2.1.330 runs its check on the server side, which the mock does not
// offer, and denies with "Classifier unavailable".
func expectClassifierDenial(s *harness.Session) {
	denied := s.Hooks()["PermissionDenied"]
	if s.Err() != nil || len(denied) == 0 {
		return
	}
	reason, _ := denied[len(denied)-1]["reason"].(string)
	want := "Classifier unavailable"
	if s.Requests(mockapi.KindClassifier) > 0 {
		want = "[Data Exfiltration] the scripted classifier blocks uploads"
	}
	if reason != want {
		s.Failf("PermissionDenied reason %q, want %q (%d classifier requests)", reason, want, s.Requests(mockapi.KindClassifier))
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
