package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/weavetrace/weave/daemon/hookproto"
)

// settingsPath is the isolated HOME's ~/.claude/settings.json.
func (s *Session) settingsPath() string { return filepath.Join(s.Home, ".claude", "settings.json") }

// writeSettings registers weave-hook the way a user does (weave-hook
// install, HOME set to the session's), then the hook logger for every
// observe-only event, and writes ~/.claude.json so no first-run dialog
// (onboarding, trust, API key approval) stops the TUI.
func (s *Session) writeSettings() error {
	if s.cfg.WeaveHook != "" {
		args := []string{"install", "--settings", s.settingsPath()}
		if s.cfg.HookCommand != "" {
			args = append(args, "--command", s.cfg.HookCommand)
		}
		cmd := exec.Command(s.cfg.WeaveHook, args...)
		cmd.Env = []string{"HOME=" + s.Home, "PATH=/usr/bin:/bin"}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("harness: weave-hook install: %w\n%s", err, out)
		}
	}
	// One write per line, so hooks running at once do not interleave.
	logger := fmt.Sprintf(`p=$(cat); printf '%%s %%s\n' "$(date +%%s%%N)" "$p" >> %s`, shellQuote(s.HookLog()))
	for _, ev := range hookproto.Events {
		if hookproto.IsObserveOnly(ev) {
			if err := s.addHook(ev, logger); err != nil {
				return err
			}
			if s.cfg.CaptureCommand != "" {
				if err := s.addHook(ev, s.cfg.CaptureCommand); err != nil {
					return err
				}
			}
		}
	}
	claudeJSON, _ := json.MarshalIndent(map[string]any{
		"hasCompletedOnboarding": true, "numStartups": 1, "autoUpdates": false, "theme": "dark",
		"customApiKeyResponses": map[string]any{"approved": []string{"test"}, "rejected": []string{}},
		"projects":              map[string]any{s.Work: map[string]any{"hasTrustDialogAccepted": true, "allowedTools": []string{}}},
	}, "", "  ")
	return os.WriteFile(filepath.Join(s.Home, ".claude.json"), append(claudeJSON, '\n'), 0o644)
}

// AddHook registers one more command hook for event (matcher "*").
func (s *Session) AddHook(event, command string) {
	if s.err == nil {
		s.Fail(s.addHook(event, command))
	}
}

func (s *Session) addHook(event, command string) error {
	settings := map[string]any{}
	if b, err := os.ReadFile(s.settingsPath()); err == nil {
		if err := json.Unmarshal(b, &settings); err != nil {
			return fmt.Errorf("harness: %s: %w", s.settingsPath(), err)
		}
	}
	hooks, _ := settings["hooks"].(map[string]any)
	if hooks == nil {
		hooks = map[string]any{}
		settings["hooks"] = hooks
	}
	groups, _ := hooks[event].([]any)
	hooks[event] = append(groups, map[string]any{"matcher": "*",
		"hooks": []any{map[string]any{"type": "command", "command": command, "timeout": 30}}})
	b, _ := json.MarshalIndent(settings, "", "  ")
	return os.WriteFile(s.settingsPath(), append(b, '\n'), 0o644)
}
