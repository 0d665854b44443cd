package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/weavetrace/weave/daemon/hookproto"
)

// Codex CLI hook events (0.169.0), in its own order. Every one is
// observe-only for a hook that prints nothing and exits 0.
var codexEvents = []string{
	"SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse",
	"PreCompact", "PostCompact", "SubagentStart", "SubagentStop", "Stop", "SessionEnd",
}

// Gemini CLI hook events weave-hook registers. BeforeModel, AfterModel
// (fired for every streamed chunk) and BeforeToolSelection are left out:
// a process per chunk costs the user time and the chat file holds what
// they would tell.
var geminiEvents = []string{
	"SessionStart", "SessionEnd", "BeforeAgent", "AfterAgent", "BeforeTool", "AfterTool",
	"PreCompress", "Notification",
}

// geminiAll is every Gemini CLI hook event (cleaned on install/uninstall).
var geminiAll = append(append([]string{}, geminiEvents...), "BeforeModel", "AfterModel", "BeforeToolSelection")

// agentCommand is cmd with the --agent argument for agent (none for Claude
// Code, whose hooks predate it).
func agentCommand(cmd, agent string) string {
	if agent == hookproto.AgentClaudeCode {
		return cmd
	}
	return cmd + " --agent " + agent
}

// codexHome is $CODEX_HOME, else ~/.codex.
func codexHome(home string) string {
	if d := os.Getenv("CODEX_HOME"); d != "" {
		return d
	}
	return filepath.Join(home, ".codex")
}

// geminiDir is ~/.gemini (Gemini CLI reads $GEMINI_CLI_HOME/.gemini when set).
func geminiDir(home string) string {
	if d := os.Getenv("GEMINI_CLI_HOME"); d != "" {
		return filepath.Join(d, ".gemini")
	}
	return filepath.Join(home, ".gemini")
}

// codexTimeout is the timeout we register for a Codex event: Codex clamps
// SessionEnd's to 1..3 s (and hashes the clamped value for trust).
func codexTimeout(ev string) int {
	if ev == "SessionEnd" {
		return 3
	}
	return hookTimeout
}

func codexGroup(cmd, ev string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"hooks": []map[string]any{{"type": "command", "command": cmd, "timeout": codexTimeout(ev)}},
	})
	return b
}

func geminiGroup(cmd string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"hooks": []map[string]any{{"type": "command", "name": "weave-hook", "command": cmd, "timeout": hookTimeout * 1000}},
	})
	return b
}

// codexLabel is Codex's snake_case key for a hook event (SessionStart →
// session_start), used in hook trust keys.
func codexLabel(ev string) string {
	var b strings.Builder
	for i, r := range ev {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// codexTrustHash is the hash Codex records as a command hook's trusted_hash
// (codex-rs hooks discovery: the event's snake_case label and the matcher
// group holding only this handler, normalized as Codex does — timeout
// always present, async false, unset fields absent — as JSON with sorted
// keys and no spaces, sha256). A hook whose recorded hash differs is
// silently skipped, so the e2e runs the real CLI against it.
func codexTrustHash(ev, cmd string, timeout int) string {
	identity := map[string]any{
		"event_name": codexLabel(ev),
		"hooks":      []map[string]any{{"type": "command", "command": cmd, "timeout": timeout, "async": false}},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(identity) // maps encode with sorted keys
	sum := sha256.Sum256(bytes.TrimRight(buf.Bytes(), "\n"))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Markers of the block weave-hook keeps in Codex's config.toml.
const (
	codexTrustBegin = "# BEGIN weave-hook: trust for weave-hook's own entries in hooks.json (weave-hook install --uninstall removes this block)"
	codexTrustEnd   = "# END weave-hook"
)

// codexTrustBlock returns the config.toml tables that trust our entries of
// the hooks.json at hooksPath ("" when it holds none). Codex keys a hook's
// trust by "<hooks.json path>:<event label>:<group index>:<hook index>".
func codexTrustBlock(hooksPath string) (string, error) {
	b, err := os.ReadFile(hooksPath)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var f struct {
		Hooks map[string][]struct {
			Hooks []struct {
				Type    string `json:"type"`
				Command string `json:"command"`
				Timeout *int   `json:"timeout"`
			} `json:"hooks"`
		} `json:"hooks"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return "", fmt.Errorf("%s: %w", hooksPath, err)
	}
	var out strings.Builder
	for _, ev := range codexEvents {
		for gi, g := range f.Hooks[ev] {
			for hi, h := range g.Hooks {
				if h.Type != "command" || !isOurCommand(h.Command) {
					continue
				}
				timeout := 600
				if h.Timeout != nil {
					timeout = max(*h.Timeout, 1)
				}
				if ev == "SessionEnd" {
					timeout = min(timeout, 3)
				}
				key := fmt.Sprintf("%s:%s:%d:%d", hooksPath, codexLabel(ev), gi, hi)
				fmt.Fprintf(&out, "[hooks.state.%s]\ntrusted_hash = %s\n", strconv.Quote(key), strconv.Quote(codexTrustHash(ev, h.Command, timeout)))
			}
		}
	}
	if out.Len() == 0 {
		return "", nil
	}
	return codexTrustBegin + "\n" + out.String() + codexTrustEnd + "\n", nil
}

// withoutTrustBlock removes our marked block from a config.toml's text.
func withoutTrustBlock(s string) string {
	for {
		i := strings.Index(s, codexTrustBegin)
		if i < 0 {
			return s
		}
		j := strings.Index(s[i:], codexTrustEnd)
		if j < 0 {
			return s[:i] // an unterminated block of ours runs to the end
		}
		end := i + j + len(codexTrustEnd)
		if end < len(s) && s[end] == '\n' {
			end++
		}
		s = s[:i] + s[end:]
	}
}

// editCodexTrust rewrites our trust block in config.toml to match the
// hooks.json beside it (removing it when hooks.json holds none of ours).
func editCodexTrust(configPath, hooksPath string) (changed bool, backup string, err error) {
	block, err := codexTrustBlock(hooksPath)
	if err != nil {
		return false, "", fmt.Errorf("weave-hook: %w", err)
	}
	orig, err := os.ReadFile(configPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, "", fmt.Errorf("weave-hook: read %s: %w", configPath, err)
	}
	exists := err == nil
	rest := withoutTrustBlock(string(orig))
	out := rest
	if block != "" {
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		if out != "" && !strings.HasSuffix(out, "\n\n") {
			out += "\n"
		}
		out += block
	} else {
		out = strings.TrimRight(out, "\n")
		if out != "" {
			out += "\n"
		}
	}
	if out == string(orig) || (!exists && out == "") {
		return false, "", nil
	}
	backup, err = replaceFile(configPath, orig, exists, []byte(out))
	return true, backup, err
}
