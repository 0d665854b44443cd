package service

import (
	"os"
	"path/filepath"
)

// Install writes the systemd --user unit and, with enable, enables and
// (re)starts it (systemctl --user enable, restart).
func Install(s Spec, set Settings, enable bool) (Result, error) {
	return systemd.install(s, defaults(set), enable)
}

// Uninstall disables, stops and removes the unit.
func Uninstall(set Settings) (Result, error) { return systemd.uninstall(defaults(set)) }

// Render returns the unit Install would write, and its path.
func Render(s Spec, set Settings) ([]byte, string) {
	return systemd.render(s), filepath.Join(defaults(set).Dir, systemd.file)
}

func defaults(set Settings) Settings {
	if set.Dir == "" {
		base := os.Getenv("XDG_CONFIG_HOME")
		if base == "" {
			if home, err := os.UserHomeDir(); err == nil {
				base = filepath.Join(home, ".config")
			}
		}
		if base != "" {
			set.Dir = filepath.Join(base, "systemd", "user")
		}
	}
	return set
}
