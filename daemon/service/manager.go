package service

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/weavetrace/weave/daemon/atomicfile"
)

// manager is one service manager: where its file goes and the commands
// that load and unload it.
type manager struct {
	file    string // the unit file's name in Dir
	render  func(Spec) []byte
	enable  func(set Settings, path string) [][]string
	disable func(set Settings, path string) [][]string
	// check refuses a Spec the file cannot express (nil: none).
	check func(Spec) error
	// hint is added to an error from the manager's commands.
	hint string
}

var systemd = manager{
	file:   Name,
	render: SystemdUnit,
	check:  checkSystemd,
	enable: func(Settings, string) [][]string {
		// restart: starts it, or restarts one running an older binary.
		return [][]string{{"systemctl", "--user", "daemon-reload"}, {"systemctl", "--user", "enable", Name}, {"systemctl", "--user", "restart", Name}}
	},
	disable: func(Settings, string) [][]string {
		return [][]string{{"systemctl", "--user", "disable", "--now", Name}, {"systemctl", "--user", "daemon-reload"}}
	},
	hint: "systemctl --user needs a running user manager (a login session; `loginctl enable-linger $USER` keeps one without)",
}

var launchd = manager{
	file:   Label + ".plist",
	render: LaunchdPlist,
	enable: func(set Settings, path string) [][]string {
		return [][]string{{"launchctl", "bootstrap", fmt.Sprintf("gui/%d", set.UID), path}}
	},
	disable: func(set Settings, _ string) [][]string {
		return [][]string{{"launchctl", "bootout", fmt.Sprintf("gui/%d/%s", set.UID, Label)}}
	},
	hint: "launchctl needs the user's GUI session (gui/<uid>)",
}

// install writes the file (replacing an older one, unloading it first)
// and, with enable, loads and starts it.
func (m manager) install(s Spec, set Settings, enable bool) (Result, error) {
	res := Result{Path: filepath.Join(set.Dir, m.file)}
	if set.Dir == "" {
		return res, errors.New("service: no directory for the unit file")
	}
	if m.check != nil {
		if err := m.check(s); err != nil {
			return res, err
		}
	}
	if err := os.MkdirAll(set.Dir, 0o755); err != nil {
		return res, fmt.Errorf("service: %w", err)
	}
	_, existed := os.Stat(res.Path)
	if existed == nil && m.file == launchd.file && enable {
		// A loaded agent must be booted out before it is bootstrapped again.
		_ = m.run(set, &res, m.disable(set, res.Path))
		res.Manual = nil
	}
	if err := writeFile(res.Path, m.render(s)); err != nil {
		return res, err
	}
	if !enable {
		res.Manual = cmdLines(m.enable(set, res.Path))
		return res, nil
	}
	return res, m.run(set, &res, m.enable(set, res.Path))
}

// uninstall unloads and removes the file; a missing file is nothing to do.
func (m manager) uninstall(set Settings) (Result, error) {
	res := Result{Path: filepath.Join(set.Dir, m.file)}
	if _, err := os.Stat(res.Path); errors.Is(err, fs.ErrNotExist) {
		return res, nil
	}
	err := m.run(set, &res, m.disable(set, res.Path))
	if rerr := os.Remove(res.Path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return res, errors.Join(err, fmt.Errorf("service: %w", rerr))
	}
	return res, err
}

// run runs cmds in order, stopping at the first failure, whose error
// names the commands left to run by hand.
func (m manager) run(set Settings, res *Result, cmds [][]string) error {
	for i, c := range cmds {
		res.Commands = append(res.Commands, strings.Join(c, " "))
		if out, err := set.Run(c[0], c[1:]...); err != nil {
			res.Manual = cmdLines(cmds[i:])
			return fmt.Errorf("service: %s: %v: %s (%s)", strings.Join(c, " "), err, strings.TrimSpace(string(out)), m.hint)
		}
	}
	return nil
}

func cmdLines(cmds [][]string) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, strings.Join(c, " "))
	}
	return out
}

// writeFile replaces path with b, mode 0600: the unit names the user's
// paths, for the user's service manager only.
func writeFile(path string, b []byte) error {
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("service: %w", err)
	}
	return nil
}
