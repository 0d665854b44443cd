package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMakeUninstall runs what `make uninstall` runs (scripts/stop.sh
// --uninstall) in a home of its own, install/uninstall cycles after a
// first uninstall with no binary built: the script builds weave-hook
// alone when it is missing (make uninstall no longer rebuilds
// everything), leaves the settings as they were with one backup beside
// them, and prints the command that deletes WEAVE_HOME (issue 16 item 11).
func TestMakeUninstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds weave-hook")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	bin := filepath.Join(home, "bin with space")
	weaveHome := filepath.Join(home, "weave's home")
	settings := filepath.Join(home, ".claude", "settings.json")
	const orig = `{"theme":"dark"}`
	if err := os.MkdirAll(filepath.Dir(settings), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(settings, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "WEAVE_HOME=" + weaveHome, "WEAVE_BIN=" + bin, "PATH=" + os.Getenv("PATH"),
		"WEAVE_AGENTD=" + filepath.Join(home, "no-agentd")} // no user service to remove
	for _, k := range []string{"GOCACHE", "GOPATH", "GOMODCACHE", "GOFLAGS", "GOTOOLCHAIN"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if v, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil && os.Getenv("GOCACHE") == "" {
		env = append(env, "GOCACHE="+strings.TrimSpace(string(v)))
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = root, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %q: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	// uninstall runs the script and returns the command it prints to delete WEAVE_HOME.
	uninstall := func(wantBuild bool) string {
		t.Helper()
		out := run("scripts/stop.sh", "--uninstall")
		if built := strings.Contains(out, "building weave-hook"); built != wantBuild {
			t.Errorf("built weave-hook: %v, want %v\n%s", built, wantBuild, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if l := strings.TrimSpace(line); strings.HasPrefix(l, "rm -rf ") {
				return l
			}
		}
		t.Fatalf("uninstall does not print the command deleting WEAVE_HOME:\n%s", out)
		return ""
	}
	purge := uninstall(true) // nothing built yet: weave-hook alone is built
	for range 3 {
		run(filepath.Join(bin, "weave-hook"), "install", "--agent", "claude")
		if b, _ := os.ReadFile(settings); !strings.Contains(string(b), "weave-hook") {
			t.Fatalf("install did not register the hook: %s", b)
		}
		purge = uninstall(false)
	}
	if b, _ := os.ReadFile(settings); !sameJSON(b, []byte(orig)) {
		t.Errorf("settings after uninstalling: got %s, want %s", b, orig)
	}
	ents, _ := os.ReadDir(filepath.Dir(settings))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"settings.json", "settings.json.weave.bak"}) {
		t.Errorf("files beside the settings after 3 install/uninstall cycles: %q, want the settings and one backup", names)
	}
	if b, _ := os.ReadFile(settings + ".weave.bak"); string(b) != orig {
		t.Errorf("backup: got %s, want the original %s", b, orig)
	}
	// The command printed deletes WEAVE_HOME (a name the shell must quote)
	// and nothing else.
	if err := os.MkdirAll(filepath.Join(weaveHome, "spool"), 0o700); err != nil {
		t.Fatal(err)
	}
	run("bash", "-c", purge)
	if _, err := os.Stat(weaveHome); !os.IsNotExist(err) {
		t.Errorf("%s left WEAVE_HOME: %v", purge, err)
	}
	if _, err := os.Stat(settings); err != nil {
		t.Errorf("%s: %v", purge, err)
	}
	// make uninstall runs the script alone, no build first.
	if mk, err := exec.LookPath("make"); err == nil {
		out := run(mk, "-n", "uninstall")
		if strings.Contains(out, "go build") || !strings.Contains(out, "scripts/stop.sh --uninstall") {
			t.Errorf("make -n uninstall:\n%s\nwant scripts/stop.sh --uninstall and no build", out)
		}
	}
}
