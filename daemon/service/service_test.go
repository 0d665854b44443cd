package service

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

var spec = Spec{
	Binary:  "/home/u/weave/bin/weave-agentd",
	Version: "1.2.3",
	Env:     map[string]string{"WEAVE_HOME": "/home/u/.weave", "CLAUDE_CONFIG_DIR": "/home/u/.claude-work"},
}

// A path with spaces, %, $ and & (specifiers in systemd, entities in
// XML) still names the same file.
var odd = Spec{
	Binary:  `/home/u/my weave 100%/$bin & co/weave-agentd`,
	Version: "dev",
	Env:     map[string]string{"WEAVE_HOME": "/home/u/weave & co/<home>"},
}

func TestSystemdUnit(t *testing.T) {
	golden(t, Name, SystemdUnit(spec))
	golden(t, "odd.service", SystemdUnit(odd))
}

func TestLaunchdPlist(t *testing.T) {
	golden(t, Label+".plist", LaunchdPlist(spec))
	golden(t, "odd.plist", LaunchdPlist(odd))
	// Well-formed XML whose program path and environment read back as
	// given, even with a "--" in the version (not allowed in a comment).
	weird := odd
	weird.Version = "1.0--dirty"
	dec := xml.NewDecoder(bytes.NewReader(LaunchdPlist(weird)))
	var texts []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("plist is not well-formed XML: %v", err)
		}
		if c, ok := tok.(xml.CharData); ok && strings.TrimSpace(string(c)) != "" {
			texts = append(texts, string(c))
		}
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{odd.Binary, odd.Env["WEAVE_HOME"], "--keep-alive"} {
		if !strings.Contains(all, want) {
			t.Errorf("plist text lacks %q:\n%s", want, all)
		}
	}
}

func TestSystemdQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/usr/bin/weave-agentd", "/usr/bin/weave-agentd"},
		{"/a b/x", `"/a b/x"`},
		{"/a/100%", `"/a/100%%"`},
		{"/a/$HOME", `/a/$HOME`},
		{`K=say "hi"`, `"K=say \"hi\""`},
		{`K=a\b`, `"K=a\\b"`},
	} {
		if got := systemdQuote(tc.in); got != tc.want {
			t.Errorf("systemdQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// systemd refuses to run a path with a quote or a backslash: install
// says so instead of writing a unit that never starts.
func TestSystemdRefusesUnrunnablePath(t *testing.T) {
	for _, bin := range []string{`/home/u/my "w"/weave-agentd`, `/home/u/a\b/weave-agentd`, "/home/u/a\nb/weave-agentd"} {
		s := spec
		s.Binary = bin
		r := &recorder{}
		if _, err := systemd.install(s, Settings{Run: r.run, Dir: t.TempDir()}, true); err == nil || len(r.calls) != 0 {
			t.Errorf("install with %q: %v, calls %v; want a refusal, nothing run", bin, err, r.calls)
		}
	}
}

// recorder plays systemctl / launchctl, failing the command fail names.
type recorder struct {
	calls []string
	fail  string
}

func (r *recorder) run(name string, args ...string) ([]byte, error) {
	c := strings.Join(append([]string{name}, args...), " ")
	r.calls = append(r.calls, c)
	if r.fail != "" && strings.Contains(c, r.fail) {
		return []byte("Failed to connect to bus: No medium found"), errors.New("exit status 1")
	}
	return nil, nil
}

func TestInstallUninstall(t *testing.T) {
	for _, tc := range []struct {
		name      string
		m         manager
		install   []string
		uninstall []string
	}{
		{"systemd", systemd,
			[]string{"systemctl --user daemon-reload", "systemctl --user enable " + Name, "systemctl --user restart " + Name},
			[]string{"systemctl --user disable --now " + Name, "systemctl --user daemon-reload"}},
		{"launchd", launchd,
			[]string{"launchctl bootstrap gui/501 DIR/" + Label + ".plist"},
			[]string{"launchctl bootout gui/501/" + Label}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "units")
			r := &recorder{}
			set := Settings{Run: r.run, Dir: dir, UID: 501}
			sub := func(l []string) string { return strings.ReplaceAll(strings.Join(l, "; "), dir, "DIR") }

			res, err := tc.m.install(spec, set, false) // written, not enabled
			if err != nil || len(r.calls) != 0 || sub(res.Manual) != strings.Join(tc.install, "; ") {
				t.Errorf("install without enabling: %+v, %v, calls %v; want the file only and the commands to enable it", res, err, r.calls)
			}
			b, err := os.ReadFile(res.Path)
			fi, _ := os.Stat(res.Path)
			if err != nil || string(b) != string(tc.m.render(spec)) || fi.Mode().Perm() != 0o600 {
				t.Fatalf("unit file %s: %v, mode %v", res.Path, err, fi.Mode().Perm())
			}
			r.calls = nil
			res, err = tc.m.install(spec, set, true)
			calls := r.calls
			if tc.name == "launchd" { // loaded before: booted out first
				calls = calls[1:]
			}
			if err != nil || sub(calls) != strings.Join(tc.install, "; ") {
				t.Errorf("install: %v, calls %v, want %v", err, r.calls, tc.install)
			}
			r.calls = nil
			if _, err := tc.m.uninstall(set); err != nil || sub(r.calls) != strings.Join(tc.uninstall, "; ") {
				t.Errorf("uninstall: %v, calls %v, want %v", err, r.calls, tc.uninstall)
			}
			if _, err := os.Stat(res.Path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("unit file after uninstall: %v", err)
			}
			r.calls = nil
			if _, err := tc.m.uninstall(set); err != nil || len(r.calls) != 0 {
				t.Errorf("uninstall again: %v, calls %v; want nothing to do", err, r.calls)
			}
		})
	}
}

// No user manager (a container, an SSH session without lingering): the
// unit is written, the error says why and what to run by hand.
func TestInstallWithoutUserManager(t *testing.T) {
	dir := t.TempDir()
	r := &recorder{fail: "daemon-reload"}
	res, err := systemd.install(spec, Settings{Run: r.run, Dir: dir}, true)
	if err == nil || !strings.Contains(err.Error(), "No medium found") || !strings.Contains(err.Error(), "enable-linger") {
		t.Errorf("error: %v, want systemctl's output and the lingering hint", err)
	}
	if want := fmt.Sprintf("[systemctl --user daemon-reload systemctl --user enable %s systemctl --user restart %s]", Name, Name); fmt.Sprint(res.Manual) != want {
		t.Errorf("manual: %v, want %s", res.Manual, want)
	}
	if _, err := os.Stat(res.Path); err != nil {
		t.Errorf("the unit was not written: %v", err)
	}
}

// Where systemd-analyze exists, the unit passes `systemd-analyze verify
// --user`, odd path included (the golden files pin the text; this checks
// systemd reads it as meant).
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: the unit is checked against its golden file only")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "my weave 100%", "$bin & co", "weave-agentd")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := spec
	s.Binary = bin
	unit := filepath.Join(dir, Name)
	os.WriteFile(unit, SystemdUnit(s), 0o600)
	runtime := filepath.Join(dir, "run")
	os.Mkdir(runtime, 0o700)
	cmd := exec.Command(analyze, "verify", "--user", unit)
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtime)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
