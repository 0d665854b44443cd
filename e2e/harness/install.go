package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// DefaultCLIVersion is the Claude Code version the e2e test pins.
const DefaultCLIVersion = "2.1.197"

const (
	cliPackage = "@anthropic-ai/claude-code"
	sdkPackage = "@anthropic-ai/claude-agent-sdk"
)

// CacheDir is where installs are kept between runs: $WEAVE_CACHE_DIR, else
// the user cache dir's weave/ (~/.cache/weave).
func CacheDir() (string, error) {
	if d := os.Getenv("WEAVE_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("harness: no cache dir (set WEAVE_CACHE_DIR): %w", err)
	}
	return filepath.Join(d, "weave"), nil
}

// InstallCLI makes Claude Code version available in cacheDir/cc-<version>
// (installing it from npm the first time) and returns its binary. The
// binary is native (one per platform package); the main package is
// installed when this node satisfies its engines, else only the platform
// package (2.1.330's main package wants node >= 22, its binary does not
// care). Progress goes to log.
func InstallCLI(ctx context.Context, version, cacheDir string, log io.Writer) (string, error) {
	if !validVersion(version) {
		return "", fmt.Errorf("harness: Claude Code version %q: want N.N.N", version)
	}
	dir := filepath.Join(cacheDir, "cc-"+version)
	platform, err := platformPackage()
	if err != nil {
		return "", err
	}
	candidates := []string{
		filepath.Join(dir, "node_modules", platform, "claude"),
		filepath.Join(dir, "node_modules", cliPackage, "bin", "claude.exe"),
	}
	if bin, ok := findCLI(ctx, candidates, version); ok {
		return bin, nil
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if bin, ok := findCLI(ctx, candidates, version); ok { // installed while we waited
		return bin, nil
	}
	pkg := cliPackage
	if ok, why := nodeSatisfies(ctx, cliPackage+"@"+version); !ok {
		pkg = platform
		fmt.Fprintf(log, "harness: %s@%s %s: installing its platform package %s\n", cliPackage, version, why, platform)
	}
	if err := npmInstall(ctx, dir, log, pkg+"@"+version); err != nil {
		return "", err
	}
	if bin, ok := findCLI(ctx, candidates, version); ok {
		return bin, nil
	}
	return "", fmt.Errorf("harness: installed %s@%s into %s but found no working binary (%s)", pkg, version, dir, strings.Join(candidates, ", "))
}

// AgentSDKVersion is the Agent SDK release that pairs with a CLI version:
// since 0.3.x the SDK tracks the CLI, 0.3.N ↔ 2.1.N (its package.json
// names the CLI as claudeCodeVersion).
func AgentSDKVersion(cliVersion string) (string, error) {
	patch, ok := strings.CutPrefix(cliVersion, "2.1.")
	if !ok || !validVersion(cliVersion) {
		return "", fmt.Errorf("harness: no Agent SDK release is known to pair with Claude Code %s (0.3.N pairs with 2.1.N)", cliVersion)
	}
	return "0.3." + patch, nil
}

// InstallAgentSDK makes the Agent SDK for the CLI version available in
// cacheDir/agent-sdk-<version> and returns its ES module entry (sdk.mjs).
// Optional dependencies (its own copy of the CLI binary) are left out:
// the driver runs the CLI InstallCLI installed.
func InstallAgentSDK(ctx context.Context, cliVersion, cacheDir string, log io.Writer) (string, error) {
	version, err := AgentSDKVersion(cliVersion)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cacheDir, "agent-sdk-"+version)
	pkgDir := filepath.Join(dir, "node_modules", sdkPackage)
	entry := func() (string, bool) {
		var pj struct {
			Version           string `json:"version"`
			Main              string `json:"main"`
			ClaudeCodeVersion string `json:"claudeCodeVersion"`
		}
		b, err := os.ReadFile(filepath.Join(pkgDir, "package.json"))
		if err != nil || json.Unmarshal(b, &pj) != nil || pj.Version != version || pj.Main == "" {
			return "", false
		}
		p := filepath.Join(pkgDir, pj.Main)
		_, err = os.Stat(p)
		return p, err == nil
	}
	if p, ok := entry(); ok {
		return p, nil
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if p, ok := entry(); ok {
		return p, nil
	}
	if err := npmInstall(ctx, dir, log, "--omit=optional", sdkPackage+"@"+version); err != nil {
		return "", err
	}
	if p, ok := entry(); ok {
		return p, nil
	}
	return "", fmt.Errorf("harness: installed %s@%s into %s but its package.json names no entry", sdkPackage, version, dir)
}

func validVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil || p == "" {
			return false
		}
	}
	return true
}

// platformPackage is the npm package holding the native binary here.
func platformPackage() (string, error) {
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	if arch == "" || (runtime.GOOS != "linux" && runtime.GOOS != "darwin") {
		return "", fmt.Errorf("harness: Claude Code ships no binary for %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	suffix := ""
	if runtime.GOOS == "linux" {
		if m, _ := filepath.Glob("/lib/ld-musl-*"); len(m) > 0 {
			suffix = "-musl"
		}
	}
	return fmt.Sprintf("%s-%s-%s%s", cliPackage, runtime.GOOS, arch, suffix), nil
}

// findCLI returns the first candidate that runs and reports version.
func findCLI(ctx context.Context, candidates []string, version string) (string, bool) {
	for _, c := range candidates {
		if v, err := CLIVersion(ctx, c); err == nil && v == version {
			return c, true
		}
	}
	return "", false
}

// CLIVersion runs `claude --version` (with a throwaway HOME, so nothing
// is written to the user's) and returns the version it prints.
func CLIVersion(ctx context.Context, bin string) (string, error) {
	home, err := os.MkdirTemp("", "weave-cc-version-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(home)
	cmd := exec.CommandContext(ctx, bin, "--version")
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"}
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("harness: %s --version: %w", bin, err)
	}
	v, _, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	return v, nil
}

// nodeSatisfies reports whether this node meets the package's engines
// (only the ">=X.Y.Z" form Claude Code uses is understood; anything else
// counts as not met), and if not, why.
func nodeSatisfies(ctx context.Context, spec string) (bool, string) {
	out, err := exec.CommandContext(ctx, "npm", "view", spec, "engines.node").Output()
	want := strings.TrimSpace(string(out))
	if err != nil {
		return false, "has unknown engines (npm view failed)"
	}
	if want == "" {
		return true, ""
	}
	nodeOut, err := exec.CommandContext(ctx, "node", "--version").Output()
	have := strings.TrimPrefix(strings.TrimSpace(string(nodeOut)), "v")
	min, ok := strings.CutPrefix(want, ">=")
	if err != nil || !ok || !validVersion(have) || !validVersion(strings.TrimSpace(min)) {
		return false, fmt.Sprintf("wants node %s (have %q)", want, have)
	}
	if compareVersions(have, strings.TrimSpace(min)) < 0 {
		return false, fmt.Sprintf("wants node %s, this is %s", want, have)
	}
	return true, ""
}

func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range 3 {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// npmInstall installs args into dir with the ordinary npm client.
func npmInstall(ctx context.Context, dir string, log io.Writer, args ...string) error {
	if _, err := exec.LookPath("npm"); err != nil {
		return errors.New("harness: npm not found: the e2e test installs Claude Code from the npm registry (install node and npm)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pj := filepath.Join(dir, "package.json")
	if _, err := os.Stat(pj); err != nil {
		if err := os.WriteFile(pj, []byte(`{"name": "weave-e2e-cache", "private": true}`+"\n"), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(log, "harness: npm install %s (into %s)\n", strings.Join(args, " "), dir)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "npm", append([]string{"install", "--no-audit", "--no-fund", "--no-save"}, args...)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, io.MultiWriter(log, &stderr)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("harness: npm install %s: %w\n%s", strings.Join(args, " "), err, lastLines(stderr.String(), 15))
	}
	return nil
}

// lockDir takes an exclusive lock on dir's lock file (two test runs
// installing the same version wait for each other).
func lockDir(dir string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("harness: lock %s: %w", f.Name(), err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
