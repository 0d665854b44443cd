package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weavetrace/weave/daemon/hookproto"
)

const ourCmd = "/opt/weave/bin/weave-hook"

// hookCommands returns event → the commands registered for it.
func hookCommands(t *testing.T, b []byte) map[string][]string {
	t.Helper()
	var s struct {
		Hooks map[string][]struct {
			Matcher string `json:"matcher"`
			Hooks   []struct {
				Type    string `json:"type"`
				Command string `json:"command"`
				Timeout int    `json:"timeout"`
			} `json:"hooks"`
		} `json:"hooks"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("settings %s: %v", b, err)
	}
	out := map[string][]string{}
	for ev, groups := range s.Hooks {
		for _, g := range groups {
			for _, h := range g.Hooks {
				out[ev] = append(out[ev], h.Command)
			}
		}
	}
	return out
}

func TestInstallFresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "claude", "settings.json")
	res, err := editSettings(path, ourCmd, false)
	if err != nil {
		t.Fatal(err)
	}
	if !res.changed || res.events != 28 || res.backup != "" {
		t.Errorf("got %+v, want changed, 28 events, no backup (no file before)", res)
	}
	b, _ := os.ReadFile(path)
	cmds := hookCommands(t, b)
	for _, ev := range hookproto.Events {
		want := hookproto.IsObserveOnly(ev)
		if got := len(cmds[ev]) == 1 && cmds[ev][0] == ourCmd; got != want {
			t.Errorf("%s: got commands %q, want registered=%v", ev, cmds[ev], want)
		}
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("new settings mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestInstallKeepsUserSettings(t *testing.T) {
	orig := `{
  "model": "opus",
  "hooks": {
    "PreToolUse": [
      {"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/local/bin/audit.sh", "timeout": 5}]},
      {"matcher": "*", "hooks": [
        {"type": "command", "command": "/old/place/weave-hook"},
        {"type": "command", "command": "my-linter"}
      ]}
    ],
    "WorktreeCreate": [{"hooks": [{"type": "command", "command": "make-worktree.sh"}]}],
    "Stop": [{"matcher": "*", "hooks": [{"type": "command", "command": "WEAVE_HOME=/x '/old dir/weave-hook'"}]}]
  },
  "permissions": {"allow": ["Bash(ls)"]},
  "zzz": [1, 2]
}
`
	dir := t.TempDir()
	path := filepath.Join(dir, "settings.json")
	if err := os.WriteFile(path, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := editSettings(path, ourCmd, false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	cmds := hookCommands(t, b)
	for _, tc := range []struct {
		event string
		want  string
	}{
		{"PreToolUse", "/usr/local/bin/audit.sh my-linter " + ourCmd},
		{"Stop", ourCmd},
		{"WorktreeCreate", "make-worktree.sh"},
		{"SessionStart", ourCmd},
	} {
		if got := strings.Join(cmds[tc.event], " "); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.event, got, tc.want)
		}
	}
	// Top-level keys keep their order and values.
	s := string(b)
	if !(strings.Index(s, `"model"`) < strings.Index(s, `"hooks"`) && strings.Index(s, `"hooks"`) < strings.Index(s, `"permissions"`) &&
		strings.Index(s, `"permissions"`) < strings.Index(s, `"zzz"`)) || !strings.Contains(s, `"Bash(ls)"`) {
		t.Errorf("top-level order or values changed:\n%s", s)
	}
	// The user's Bash group is untouched, timeout included.
	if !strings.Contains(s, `"matcher": "Bash"`) || !strings.Contains(s, `"timeout": 5`) {
		t.Errorf("user's PreToolUse Bash group changed:\n%s", s)
	}
	bak, err := os.ReadFile(res.backup)
	if err != nil || string(bak) != orig {
		t.Errorf("backup %s: got %q (%v), want the original file", res.backup, bak, err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode: got %v, want the original 0644", fi.Mode().Perm())
	}

	// Idempotent: a second install changes nothing and makes no backup.
	res2, err := editSettings(path, ourCmd, false)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := os.ReadFile(path)
	if res2.changed || !bytes.Equal(b, b2) {
		t.Errorf("second install: changed=%v, file changed=%v, want neither", res2.changed, !bytes.Equal(b, b2))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("files after two installs: got %d, want settings + one backup", len(ents))
	}

	// Uninstall removes ours only; the user's hooks stay, empty groups go.
	res3, err := editSettings(path, "", true)
	if err != nil {
		t.Fatal(err)
	}
	b3, _ := os.ReadFile(path)
	cmds = hookCommands(t, b3)
	if !res3.changed || res3.events != 28 || strings.Contains(string(b3), "weave-hook") {
		t.Errorf("uninstall: got %+v, file:\n%s\nwant every weave-hook entry gone", res3, b3)
	}
	if got := strings.Join(cmds["PreToolUse"], " "); got != "/usr/local/bin/audit.sh my-linter" {
		t.Errorf("PreToolUse after uninstall: got %q, want the user's two", got)
	}
	if _, ok := cmds["Stop"]; ok {
		t.Errorf("Stop after uninstall: got %q, want the event removed (only ours was there)", cmds["Stop"])
	}
	if got := strings.Join(cmds["WorktreeCreate"], " "); got != "make-worktree.sh" {
		t.Errorf("WorktreeCreate after uninstall: got %q, want the user's", got)
	}
}

func TestInstallUninstallRoundTrip(t *testing.T) {
	for _, orig := range []string{`{}`, `{"hooks":{}}`, `{"theme":"dark"}`} {
		path := filepath.Join(t.TempDir(), "settings.json")
		os.WriteFile(path, []byte(orig), 0o600)
		if _, err := editSettings(path, ourCmd, false); err != nil {
			t.Fatal(err)
		}
		if _, err := editSettings(path, "", true); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		want := orig
		if orig == `{"hooks":{}}` {
			want = `{}`
		}
		if !sameJSON(b, []byte(want)) {
			t.Errorf("install+uninstall of %s: got %s, want %s", orig, b, want)
		}
	}
}

// TestInstallKeepsOneBackup: installing and uninstalling again and again
// leaves one backup, the settings as they were before weave-hook first
// changed them; the timestamped backups of earlier versions are folded
// into it (the oldest is the original).
func TestInstallKeepsOneBackup(t *testing.T) {
	const orig = `{"theme":"dark"}`
	files := func(dir string) []string {
		ents, _ := os.ReadDir(dir)
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	t.Run("cycles", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "settings.json")
		os.WriteFile(path, []byte(orig), 0o600)
		for i := range 3 {
			if _, err := editSettings(path, ourCmd, false); err != nil {
				t.Fatal(err)
			}
			res, err := editSettings(path, "", true)
			if err != nil {
				t.Fatal(err)
			}
			if res.backup != path+".weave.bak" {
				t.Errorf("cycle %d: backup %q, want %s", i, res.backup, path+".weave.bak")
			}
		}
		if got := files(dir); !slices.Equal(got, []string{"settings.json", "settings.json.weave.bak"}) {
			t.Errorf("files after 3 install/uninstall cycles: got %q, want the settings and one backup", got)
		}
		if b, _ := os.ReadFile(path + ".weave.bak"); string(b) != orig {
			t.Errorf("backup: got %s, want the original %s", b, orig)
		}
	})
	t.Run("earlier versions' backups", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "settings.json")
		os.WriteFile(path, []byte(`{"theme":"dark","hooks":{}}`), 0o600)
		for i, name := range []string{"20261122T100000.000000000", "20261121T090000.000000000", "20261123T080000.000000000"} {
			content := orig
			if i != 1 {
				content = `{"later":true}`
			}
			os.WriteFile(path+".weave-"+name+".bak", []byte(content), 0o600)
		}
		res, err := editSettings(path, ourCmd, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := files(dir); !slices.Equal(got, []string{"settings.json", "settings.json.weave.bak"}) || res.backup != path+".weave.bak" {
			t.Errorf("files: got %q (backup %q), want the settings and one backup", got, res.backup)
		}
		if b, _ := os.ReadFile(path + ".weave.bak"); string(b) != orig {
			t.Errorf("backup: got %s, want the oldest earlier backup %s", b, orig)
		}
	})
}

func TestInstallRejectsBadSettings(t *testing.T) {
	for _, tc := range []struct{ name, content, wantErr string }{
		{"not json", `{"hooks": `, "not a JSON object"},
		{"array", `[]`, "not a JSON object"},
		{"hooks not an object", `{"hooks": [1]}`, `"hooks" is not an object`},
		{"event not an array", `{"hooks": {"Stop": {"x": 1}}}`, "hooks.Stop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "settings.json")
			os.WriteFile(path, []byte(tc.content), 0o600)
			_, err := editSettings(path, ourCmd, false)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.content {
				t.Errorf("file changed to %q, want it untouched", b)
			}
		})
	}
}

func TestInstallCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "settings.json")
	var out, errb bytes.Buffer
	if code := install([]string{"--settings", path, "--command", "WEAVE_HOME=/w " + ourCmd}, &out, &errb); code != 0 {
		t.Fatalf("install: exit %d, stderr %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "registered") || !strings.Contains(out.String(), "28 events") {
		t.Errorf("install output: got %q, want a summary", out.String())
	}
	out.Reset()
	if code := install([]string{"--settings", path, "--command", "WEAVE_HOME=/w " + ourCmd}, &out, &errb); code != 0 || !strings.Contains(out.String(), "already up to date") {
		t.Errorf("second install: exit %d, output %q, want 0 and 'already up to date'", code, out.String())
	}
	if code := install([]string{"--bogus"}, &out, &errb); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
	os.WriteFile(path, []byte("{"), 0o600)
	errb.Reset()
	if code := install([]string{"--settings", path}, &out, &errb); code != 1 || errb.Len() == 0 {
		t.Errorf("broken settings: exit %d stderr %q, want 1 and a message", code, errb.String())
	}
}

// --service hands over to `weave-agentd service install` (its output
// shown); --uninstall also removes the service; a plain install says how
// to get one.
func TestInstallService(t *testing.T) {
	t.Setenv(hookproto.EnvAgentd, fakeAgentd)
	path := filepath.Join(t.TempDir(), "settings.json")
	var out, errb bytes.Buffer
	if code := install([]string{"--settings", path, "--command", ourCmd}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "weave-hook install --service") {
		t.Errorf("install: exit %d, output %q, want 0 and the hint about --service", code, out.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--service"}, "fake service: install\n"},
		{[]string{"--uninstall"}, "fake service: uninstall --if-installed\n"},
	} {
		out.Reset()
		errb.Reset()
		code := install(append([]string{"--settings", path, "--command", ourCmd}, tc.args...), &out, &errb)
		if code != 0 || !strings.HasSuffix(out.String(), tc.want) || errb.String() != "fake service stderr\n" {
			t.Errorf("install %v: exit %d, stdout %q, stderr %q; want 0, ending %q", tc.args, code, out.String(), errb.String(), tc.want)
		}
	}
	t.Setenv(hookproto.EnvAgentd, filepath.Join(t.TempDir(), "missing"))
	if code := install([]string{"--settings", path, "--command", ourCmd, "--service"}, &out, &errb); code == 0 {
		t.Errorf("install --service without weave-agentd: exit 0, want a failure")
	}
}

func TestIsOurCommand(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		want bool
	}{
		{"/usr/local/bin/weave-hook", true},
		{"weave-hook", true},
		{"WEAVE_HOME=/x WEAVE_HOOK_DEBUG=1 /p/weave-hook", true},
		{"'/dir with space/weave-hook'", true},
		{`"/q/weave-hook"`, true},
		{"/usr/bin/weave-hook-other", false},
		{"node capture.js weave-hook", false},
		{"", false},
		{"sh -c weave-hook", false},
	} {
		if got := isOurCommand(tc.cmd); got != tc.want {
			t.Errorf("isOurCommand(%q)=%v, want %v", tc.cmd, got, tc.want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/usr/bin/weave-hook", "/usr/bin/weave-hook"},
		{"/my dir/weave-hook", "'/my dir/weave-hook'"},
		{"/it's/weave-hook", `'/it'\''s/weave-hook'`},
		{"/a$b/weave-hook", "'/a$b/weave-hook'"},
	} {
		if got := shellQuote(tc.in); got != tc.want {
			t.Errorf("shellQuote(%q)=%q, want %q", tc.in, got, tc.want)
		}
	}
}

// hooks/hooks.json (the plugin) registers the same events as install, each
// running bin/weave-hook from the plugin root; plugin.json names the plugin.
func TestPluginFiles(t *testing.T) {
	b, err := os.ReadFile("../../hooks/hooks.json")
	if err != nil {
		t.Fatal(err)
	}
	cmds := hookCommands(t, b)
	for _, ev := range hookproto.Events {
		reg := len(cmds[ev]) == 1 && strings.Contains(cmds[ev][0], `"${CLAUDE_PLUGIN_ROOT}/bin/weave-hook"`)
		if reg != hookproto.IsObserveOnly(ev) {
			t.Errorf("hooks.json %s: got %q, want registered=%v", ev, cmds[ev], hookproto.IsObserveOnly(ev))
		}
	}
	if len(cmds) != 28 {
		t.Errorf("hooks.json: got %d events, want 28", len(cmds))
	}
	var p struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	b, err = os.ReadFile("../../.claude-plugin/plugin.json")
	if err != nil || json.Unmarshal(b, &p) != nil || p.Name != "weave" || p.Version == "" {
		t.Errorf("plugin.json: got %+v (%v), want name weave and a version", p, err)
	}
}

func TestShellWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a b  c", []string{"a", "b", "c"}},
		{`'x y'z "q\"r" \ s`, []string{"x yz", `q"r`, " s"}},
		{`''`, []string{""}},
		{`'unterminated`, []string{"unterminated"}},
		{"", nil},
	} {
		got := shellWords(tc.in)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("shellWords(%q)=%q, want %q", tc.in, got, tc.want)
		}
	}
	// Round trip with shellQuote.
	for _, p := range []string{"/a b/c", "/it's", `/x"y`, "/$HOME"} {
		if got := shellWords(shellQuote(p)); len(got) != 1 || got[0] != p {
			t.Errorf("shellWords(shellQuote(%q))=%q, want [%q]", p, got, p)
		}
	}
}

// TestCodexTrustHash pins the trusted_hash of a Codex hook to the value the
// real Codex 0.169.0 accepted (make e2e-codex runs hooks trusted this way,
// without --dangerously-bypass-hook-trust; a wrong hash makes Codex skip
// the hook silently).
func TestCodexTrustHash(t *testing.T) {
	// Recorded with `weave-hook install --agent codex --command
	// /tmp/rec/bin/weave-hook` and verified firing in codex exec.
	for _, tc := range []struct{ ev, want string }{
		{"SessionStart", "sha256:b7175b1dea47d0a88d9c6bf545c5f6f2c6b0edf7975c6914aba02a237831c880"},
		{"UserPromptSubmit", "sha256:1c9fa6b414e4c00acd192b43cb523155a99467cc0df3fd8a479b6b9f325ce7ea"},
		{"Stop", "sha256:3cabdc426739b4af113564837e18b5e20002ac2a3657ac6ba1cf56ececb641cc"},
	} {
		if got := codexTrustHash(tc.ev, "/tmp/rec/bin/weave-hook --agent codex", codexTimeout(tc.ev)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.ev, got, tc.want)
		}
	}
	if got := codexLabel("PermissionRequest"); got != "permission_request" {
		t.Errorf("codexLabel = %q", got)
	}
}

// TestInstallCodex: hooks.json gets our group for every Codex event after
// the user's own, config.toml a trust block keyed by the group's index that
// keeps the user's settings; again changes nothing; --uninstall removes
// both and leaves the user's hooks and settings as they were.
func TestInstallCodex(t *testing.T) {
	home := t.TempDir()
	t.Setenv("CODEX_HOME", filepath.Join(home, ".codex"))
	dir := filepath.Join(home, ".codex")
	os.MkdirAll(dir, 0o700)
	userHooks := `{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]}}`
	userConfig := "model = \"gpt-5.4\"\n\n[features]\nhooks = true\n"
	os.WriteFile(filepath.Join(dir, "hooks.json"), []byte(userHooks), 0o600)
	os.WriteFile(filepath.Join(dir, "config.toml"), []byte(userConfig), 0o600)
	var out bytes.Buffer
	if _, err := installAgent(hookproto.AgentCodex, home, "", ourCmd, false, &out); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "hooks.json"))
	cmds := hookCommands(t, b)
	for _, ev := range codexEvents {
		want := []string{ourCmd + " --agent codex"}
		if ev == "Stop" {
			want = []string{"notify-send done", ourCmd + " --agent codex"}
		}
		if strings.Join(cmds[ev], "|") != strings.Join(want, "|") {
			t.Errorf("%s: %q, want %q", ev, cmds[ev], want)
		}
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "config.toml"))
	if !strings.HasPrefix(string(cfg), userConfig) {
		t.Errorf("config.toml lost the user's settings:\n%s", cfg)
	}
	hooksPath := filepath.Join(dir, "hooks.json")
	for _, key := range []string{hooksPath + ":stop:1:0", hooksPath + ":session_start:0:0", hooksPath + ":session_end:0:0"} {
		if !strings.Contains(string(cfg), `[hooks.state."`+key+`"]`) {
			t.Errorf("config.toml has no trust for %s:\n%s", key, cfg)
		}
	}
	if strings.Contains(string(cfg), ":stop:0:0") {
		t.Error("the user's own Stop hook was trusted")
	}
	if !strings.Contains(string(cfg), codexTrustHash("SessionEnd", ourCmd+" --agent codex", 3)) {
		t.Error("SessionEnd is not trusted with its clamped 3 s timeout")
	}
	out.Reset()
	if changed, err := installAgent(hookproto.AgentCodex, home, "", ourCmd, false, &out); err != nil || changed {
		t.Errorf("second install: changed=%v err=%v\n%s", changed, err, out.String())
	}
	if _, err := installAgent(hookproto.AgentCodex, home, "", ourCmd, true, &out); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "hooks.json"))
	if got := hookCommands(t, b); len(got) != 1 || strings.Join(got["Stop"], "|") != "notify-send done" {
		t.Errorf("after uninstall hooks.json holds %q", got)
	}
	cfg, _ = os.ReadFile(filepath.Join(dir, "config.toml"))
	if string(cfg) != userConfig {
		t.Errorf("after uninstall config.toml is\n%q\nwant\n%q", cfg, userConfig)
	}
}

// TestInstallGemini registers the hook in Gemini CLI's settings.json for
// its observe-only events (not the per-chunk model events), keeping the
// user's settings.
func TestInstallGemini(t *testing.T) {
	home := t.TempDir()
	t.Setenv("GEMINI_CLI_HOME", "")
	os.MkdirAll(filepath.Join(home, ".gemini"), 0o700)
	os.WriteFile(filepath.Join(home, ".gemini", "settings.json"), []byte(`{"theme": "Dracula"}`), 0o600)
	var out bytes.Buffer
	if _, err := installAgent(hookproto.AgentGemini, home, "", ourCmd, false, &out); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(home, ".gemini", "settings.json"))
	cmds := hookCommands(t, b)
	if len(cmds) != len(geminiEvents) || cmds["BeforeTool"][0] != ourCmd+" --agent gemini-cli" || cmds["AfterModel"] != nil {
		t.Errorf("gemini hooks: %q", cmds)
	}
	if !strings.Contains(string(b), `"theme": "Dracula"`) {
		t.Errorf("user setting lost: %s", b)
	}
}

// TestFoundAgents: an agent counts as installed when its config directory
// exists or its command is on PATH; with none, Claude Code.
func TestFoundAgents(t *testing.T) {
	home := t.TempDir()
	t.Setenv("CLAUDE_CONFIG_DIR", "")
	t.Setenv("CODEX_HOME", "")
	t.Setenv("GEMINI_CLI_HOME", "")
	bin := t.TempDir()
	t.Setenv("PATH", bin)
	if got := foundAgents(home); strings.Join(got, ",") != "claude-code" {
		t.Errorf("nothing installed: %v", got)
	}
	os.MkdirAll(filepath.Join(home, ".codex"), 0o700)
	os.WriteFile(filepath.Join(bin, "gemini"), []byte("#!/bin/sh\n"), 0o755)
	if got := foundAgents(home); strings.Join(got, ",") != "codex,gemini-cli" {
		t.Errorf("codex dir and gemini on PATH: %v, want codex,gemini-cli", got)
	}
	os.WriteFile(filepath.Join(bin, "claude"), []byte("#!/bin/sh\n"), 0o755)
	if got := foundAgents(home); strings.Join(got, ",") != "claude-code,codex,gemini-cli" {
		t.Errorf("claude on PATH too: %v", got)
	}
}
