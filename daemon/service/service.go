// Package service writes and enables the per-user service that keeps
// weave-agentd running: a systemd --user unit on Linux, a launchd agent on
// macOS. Without it the daemon runs only once a Claude Code hook starts it
// and exits after its idle timeout, so spans spooled while the trace server
// was down wait for the next hook if the daemon died meanwhile.
//
// The service runs `weave-agentd run --keep-alive`: it never idle-exits,
// and if a daemon a hook started holds the lock, it asks that one to stop
// and takes over. It is restarted when it fails or is killed, not after a
// clean stop (`weave-agentd stop`, `make stop`). Settings come from
// config.json; the unit carries only WEAVE_HOME and, when set at install,
// CLAUDE_CONFIG_DIR, WEAVE_ENDPOINT and WEAVE_PROJECT (never an API key:
// the unit file is not a place for secrets).
//
// Rendering (SystemdUnit, LaunchdPlist) is pure and tested against golden
// files; installing (install_linux.go, install_darwin.go) writes the file
// and runs systemctl or launchctl through Settings.Run.
package service

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Name is the systemd unit's name; Label the launchd agent's.
const (
	Name  = "weave-agentd.service"
	Label = "com.weavetrace.weave-agentd"
)

// Env lists the variables an install carries into the service when they
// are set (WEAVE_HOME always is: the service must use the same home).
var Env = []string{"WEAVE_HOME", "CLAUDE_CONFIG_DIR", "WEAVE_ENDPOINT", "WEAVE_PROJECT"}

// Spec is what the service runs.
type Spec struct {
	// Binary is weave-agentd's absolute path.
	Binary string
	// Env holds the environment variables the service gets.
	Env map[string]string
	// Version is weave's version, noted in the file.
	Version string
}

// ErrUnsupported is returned where there is no service manager we know.
var ErrUnsupported = errors.New("service: no user service manager supported on this system (systemd --user on Linux, launchd on macOS)")

// Args are the daemon's arguments under the service.
var Args = []string{"run", "--keep-alive"}

func (s Spec) envKeys() []string {
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SystemdUnit renders the systemd --user unit.
func SystemdUnit(s Spec) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by `weave-agentd service install` (weave %s); remove it with `weave-agentd service uninstall`.\n", s.Version)
	b.WriteString("# Keeps weave-agentd running, so spans spooled while the trace server was down\n")
	b.WriteString("# are delivered when it is back, without waiting for a Claude Code hook.\n")
	b.WriteString("[Unit]\n")
	b.WriteString("Description=weave-agentd: Claude Code sessions as OpenTelemetry GenAI spans\n")
	b.WriteString("\n[Service]\n")
	b.WriteString("Type=simple\n")
	cmd := []string{systemdQuote(s.Binary)}
	for _, a := range Args {
		cmd = append(cmd, a)
	}
	fmt.Fprintf(&b, "ExecStart=%s\n", strings.Join(cmd, " "))
	for _, k := range s.envKeys() {
		fmt.Fprintf(&b, "Environment=%s\n", systemdQuote(k+"="+s.Env[k]))
	}
	b.WriteString("# Restarted when it fails or is killed; `weave-agentd stop` stops it for good.\n")
	b.WriteString("Restart=on-failure\n")
	b.WriteString("RestartSec=5\n")
	b.WriteString("# SIGTERM runs the daemon's ordered shutdown (the spool is closed cleanly).\n")
	b.WriteString("KillSignal=SIGTERM\n")
	b.WriteString("TimeoutStopSec=30\n")
	b.WriteString("\n[Install]\n")
	b.WriteString("WantedBy=default.target\n")
	return b.Bytes()
}

// systemdQuote quotes v for a unit file: double quotes, backslash and
// quote escaped, % (specifiers) doubled. systemd expands no $ in the
// executable's path nor in Environment= (checkSystemd refuses a path
// systemd cannot run at all).
func systemdQuote(v string) string {
	q := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%").Replace(v)
	if q == v && v != "" && !strings.ContainsAny(v, " \t'") {
		return v
	}
	return `"` + q + `"`
}

// checkSystemd refuses what a unit cannot say: systemd will not run an
// executable whose path holds a double quote, a backslash or a control
// character.
func checkSystemd(s Spec) error {
	if strings.ContainsAny(s.Binary, "\"\\") || strings.IndexFunc(s.Binary, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return fmt.Errorf("service: systemd cannot run %q (a quote, backslash or control character in the path); move weave-agentd", s.Binary)
	}
	for k, v := range s.Env {
		if strings.IndexFunc(k+v, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			return fmt.Errorf("service: %s holds a control character", k)
		}
	}
	return nil
}

// LaunchdPlist renders the launchd agent.
func LaunchdPlist(s Spec) []byte {
	var b bytes.Buffer
	esc := func(v string) string {
		var e bytes.Buffer
		_ = xml.EscapeText(&e, []byte(v))
		return e.String()
	}
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	fmt.Fprintf(&b, "<!-- Written by `weave-agentd service install` (weave %s); remove it with `weave-agentd service uninstall`.\n",
		strings.ReplaceAll(esc(s.Version), "--", "- -")) // no "--" inside an XML comment
	b.WriteString("     Keeps weave-agentd running, so spans spooled while the trace server was down\n")
	b.WriteString("     are delivered when it is back, without waiting for a Claude Code hook. -->\n")
	b.WriteString(`<plist version="1.0">` + "\n<dict>\n")
	fmt.Fprintf(&b, "  <key>Label</key>\n  <string>%s</string>\n", Label)
	b.WriteString("  <key>ProgramArguments</key>\n  <array>\n")
	fmt.Fprintf(&b, "    <string>%s</string>\n", esc(s.Binary))
	for _, a := range Args {
		fmt.Fprintf(&b, "    <string>%s</string>\n", a)
	}
	b.WriteString("  </array>\n")
	if len(s.Env) > 0 {
		b.WriteString("  <key>EnvironmentVariables</key>\n  <dict>\n")
		for _, k := range s.envKeys() {
			fmt.Fprintf(&b, "    <key>%s</key>\n    <string>%s</string>\n", esc(k), esc(s.Env[k]))
		}
		b.WriteString("  </dict>\n")
	}
	b.WriteString("  <key>RunAtLoad</key>\n  <true/>\n")
	b.WriteString("  <!-- Restarted when it fails or is killed; `weave-agentd stop` stops it until the next login. -->\n")
	b.WriteString("  <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n")
	b.WriteString("  <key>ThrottleInterval</key>\n  <integer>5</integer>\n")
	b.WriteString("  <key>ProcessType</key>\n  <string>Background</string>\n")
	b.WriteString("</dict>\n</plist>\n")
	return b.Bytes()
}

// Settings are an install's dependencies.
type Settings struct {
	// Run runs a command (systemctl, launchctl) and returns its combined
	// output. Tests record calls instead.
	Run func(name string, args ...string) ([]byte, error)
	// Dir is where the unit file goes (default: ~/.config/systemd/user,
	// or $XDG_CONFIG_HOME/systemd/user; ~/Library/LaunchAgents on macOS).
	Dir string
	// UID is the user's id (launchctl's gui/<uid> domain).
	UID int
}

// Result says what an install or uninstall did.
type Result struct {
	Path     string   // the unit file
	Commands []string // the commands run, as typed
	// Manual, after a failure: the commands that would finish the job.
	Manual []string
}
