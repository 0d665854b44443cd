package service

import (
	"os"
	"path/filepath"
)

// Install writes the launchd agent and, with enable, loads and starts it
// (launchctl bootstrap gui/<uid>).
func Install(s Spec, set Settings, enable bool) (Result, error) {
	return launchd.install(s, defaults(set), enable)
}

// Uninstall unloads and removes the agent.
func Uninstall(set Settings) (Result, error) { return launchd.uninstall(defaults(set)) }

// Render returns the agent Install would write, and its path.
func Render(s Spec, set Settings) ([]byte, string) {
	return launchd.render(s), filepath.Join(defaults(set).Dir, launchd.file)
}

func defaults(set Settings) Settings {
	if set.Dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			set.Dir = filepath.Join(home, "Library", "LaunchAgents")
		}
	}
	if set.UID == 0 {
		set.UID = os.Getuid()
	}
	return set
}
