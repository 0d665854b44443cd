package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
)

// hookTimeout is the per-hook timeout (seconds) we register. weave-hook
// returns within HookDeadline; this only bounds a pathological stall.
const hookTimeout = 10

// install implements `weave-hook install`. It returns the exit code.
func install(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("weave-hook install", flag.ContinueOnError)
	fs.SetOutput(stderr)
	settings := fs.String("settings", "", "Claude Code settings file (default $CLAUDE_CONFIG_DIR/settings.json or ~/.claude/settings.json)")
	command := fs.String("command", "", "hook command to register (default: this binary's absolute path)")
	uninstall := fs.Bool("uninstall", false, "remove weave-hook's entries (and only those), and the user service if installed")
	withService := fs.Bool("service", false, "also install and start the user service that keeps weave-agentd running "+
		"(systemd --user, launchd: weave-agentd service install)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: weave-hook install [--settings PATH] [--command CMD] [--service] [--uninstall]\n\n"+
			"Registers weave-hook in Claude Code's settings.json for every hook event that a\n"+
			"silent hook cannot disturb (all but WorktreeCreate/WorktreeRemove), keeping your\n"+
			"own hooks and a backup of the file. Running it again changes nothing.\n\n"+
			"weave-agentd is started by the first hook and exits after 30 idle minutes; with\n"+
			"--service it runs as a user service instead, so spans spooled while the trace\n"+
			"server was down go out as soon as it is back, without waiting for a hook.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	path := *settings
	if path == "" {
		dir := os.Getenv("CLAUDE_CONFIG_DIR")
		if dir == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				fmt.Fprintf(stderr, "weave-hook: no home directory: %v (use --settings)\n", err)
				return 1
			}
			dir = filepath.Join(home, ".claude")
		}
		path = filepath.Join(dir, "settings.json")
	}
	cmd := *command
	if cmd == "" {
		exe, err := os.Executable()
		if err == nil {
			exe, err = filepath.EvalSymlinks(exe)
		}
		if err != nil {
			fmt.Fprintf(stderr, "weave-hook: cannot find my own path: %v (use --command)\n", err)
			return 1
		}
		cmd = shellQuote(exe)
	}
	res, err := editSettings(path, cmd, *uninstall, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	switch {
	case !res.changed:
		fmt.Fprintf(stdout, "%s: already up to date (%d events)\n", path, res.events)
	case *uninstall:
		fmt.Fprintf(stdout, "%s: removed weave-hook from %d events (backup: %s)\n", path, res.events, res.backup)
	default:
		fmt.Fprintf(stdout, "%s: registered %s for %d events (backup: %s)\n", path, cmd, res.events, orNone(res.backup))
	}
	switch {
	case *uninstall:
		if bin, err := hookproto.FindAgentd(); err != nil {
			return 0 // no weave-agentd, so no service of its to remove
		} else if _, err := os.Stat(bin); err != nil {
			return 0
		}
		return runAgentd([]string{"service", "uninstall", "--if-installed"}, stdout, stderr)
	case *withService:
		return runAgentd([]string{"service", "install"}, stdout, stderr)
	case res.changed:
		fmt.Fprintf(stdout, "To keep weave-agentd running (spooled spans then never wait for a hook): weave-hook install --service\n")
	}
	return 0
}

// runAgentd runs weave-agentd (beside this binary, else on PATH) with
// args, its output going to stdout and stderr, and returns its exit code.
// (os.StartProcess: weave-hook links no os/exec.)
func runAgentd(args []string, stdout, stderr io.Writer) int {
	bin, err := hookproto.FindAgentd()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		fmt.Fprintln(stderr, err)
		return 1
	}
	proc, err := os.StartProcess(bin, append([]string{bin}, args...), &os.ProcAttr{Files: []*os.File{nil, outW, errW}})
	outW.Close()
	errW.Close()
	copied := make(chan struct{}, 2)
	for _, c := range []struct {
		w io.Writer
		r *os.File
	}{{stdout, outR}, {stderr, errR}} {
		go func() { _, _ = io.Copy(c.w, c.r); c.r.Close(); copied <- struct{}{} }()
	}
	<-copied
	<-copied
	if err != nil {
		fmt.Fprintf(stderr, "weave-hook: run %s: %v\n", bin, err)
		return 1
	}
	st, err := proc.Wait()
	if err != nil {
		fmt.Fprintf(stderr, "weave-hook: %s: %v\n", bin, err)
		return 1
	}
	return st.ExitCode()
}

func orNone(s string) string {
	if s == "" {
		return "none, the file is new"
	}
	return s
}

type editResult struct {
	changed bool
	events  int // events registered (install) or cleaned (uninstall)
	backup  string
}

// editSettings registers cmd (or, with uninstall, removes every weave-hook
// entry) in the settings file at path, keeping everything else, in order.
// A changed file is first copied to path.weave-<time>.bak, then replaced
// atomically (temp file, fsync, rename) with its mode kept.
func editSettings(path, cmd string, uninstall bool, now time.Time) (editResult, error) {
	var res editResult
	orig, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("weave-hook: read %s: %w", path, err)
	}
	exists := err == nil
	root := &object{}
	if len(bytes.TrimSpace(orig)) > 0 {
		if err := json.Unmarshal(orig, root); err != nil {
			return res, fmt.Errorf("weave-hook: %s is not a JSON object (%v); fix it or pass --settings", path, err)
		}
	}
	hooks := &object{}
	if raw, ok := root.get("hooks"); ok && !isNull(raw) {
		if err := json.Unmarshal(raw, hooks); err != nil {
			return res, fmt.Errorf("weave-hook: %s: \"hooks\" is not an object: %v", path, err)
		}
	}
	for _, ev := range hookproto.Events {
		groups, err := eventGroups(hooks, ev)
		if err != nil {
			return res, fmt.Errorf("weave-hook: %s: hooks.%s: %w", path, ev, err)
		}
		kept, removed := withoutOurs(groups)
		if uninstall {
			if removed > 0 {
				res.events++
			}
		} else if hookproto.IsObserveOnly(ev) {
			kept = append(kept, ourGroup(cmd))
			res.events++
		}
		if len(kept) == 0 {
			hooks.del(ev)
			continue
		}
		b, err := json.Marshal(kept)
		if err != nil {
			return res, err
		}
		hooks.set(ev, b)
	}
	if len(hooks.keys) == 0 {
		root.del("hooks")
	} else {
		b, err := json.Marshal(hooks)
		if err != nil {
			return res, err
		}
		root.set("hooks", b)
	}
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return res, fmt.Errorf("weave-hook: encode settings: %w", err)
	}
	out = append(out, '\n')
	if exists && sameJSON(orig, out) {
		return res, nil
	}
	if !exists && uninstall {
		return res, nil
	}
	res.changed = true
	mode := os.FileMode(0o600)
	if exists {
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
		}
		res.backup = fmt.Sprintf("%s.weave-%s.bak", path, now.UTC().Format("20060102T150405.000000000"))
		if err := writeAtomic(res.backup, orig, mode); err != nil {
			return res, err
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return res, fmt.Errorf("weave-hook: %w", err)
	}
	return res, writeAtomic(path, out, mode)
}

func sameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}

func isNull(b []byte) bool { return bytes.Equal(bytes.TrimSpace(b), []byte("null")) }

// eventGroups returns hooks[ev] as raw matcher groups.
func eventGroups(hooks *object, ev string) ([]json.RawMessage, error) {
	raw, ok := hooks.get(ev)
	if !ok || isNull(raw) {
		return nil, nil
	}
	var groups []json.RawMessage
	if err := json.Unmarshal(raw, &groups); err != nil {
		return nil, fmt.Errorf("not an array of matcher groups: %v", err)
	}
	return groups, nil
}

// withoutOurs drops weave-hook commands from every group (and groups left
// with no hooks), leaving everything else byte for byte.
func withoutOurs(groups []json.RawMessage) (kept []json.RawMessage, removed int) {
	for _, g := range groups {
		var grp object
		if json.Unmarshal(g, &grp) != nil {
			kept = append(kept, g) // not ours to judge
			continue
		}
		raw, ok := grp.get("hooks")
		var hs []json.RawMessage
		if !ok || json.Unmarshal(raw, &hs) != nil {
			kept = append(kept, g)
			continue
		}
		var keep []json.RawMessage
		for _, h := range hs {
			var e struct {
				Type    string `json:"type"`
				Command string `json:"command"`
			}
			if json.Unmarshal(h, &e) == nil && e.Type == "command" && isOurCommand(e.Command) {
				removed++
				continue
			}
			keep = append(keep, h)
		}
		if len(keep) == len(hs) {
			kept = append(kept, g)
			continue
		}
		if len(keep) == 0 {
			continue
		}
		b, _ := json.Marshal(keep)
		grp.set("hooks", b)
		nb, _ := json.Marshal(&grp)
		kept = append(kept, nb)
	}
	return kept, removed
}

// isOurCommand: the command runs a program named weave-hook (after any
// leading VAR=value assignments), from any directory.
func isOurCommand(cmd string) bool {
	for _, w := range shellWords(cmd) {
		if isAssignment(w) {
			continue
		}
		return filepath.Base(w) == "weave-hook"
	}
	return false
}

func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	if !ok || name == "" {
		return false
	}
	for i, c := range name {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// shellWords splits cmd into words the way sh does for plain words, single
// and double quotes and backslashes (no expansion). It is enough to find
// the program a hook command runs.
func shellWords(cmd string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			inWord = true
			j := strings.IndexByte(cmd[i+1:], '\'')
			if j < 0 {
				cur.WriteString(cmd[i+1:])
				i = len(cmd)
				break
			}
			cur.WriteString(cmd[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			for i++; i < len(cmd) && cmd[i] != '"'; i++ {
				if cmd[i] == '\\' && i+1 < len(cmd) && strings.IndexByte("\"\\$`", cmd[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(cmd[i])
			}
		case c == '\\' && i+1 < len(cmd):
			inWord = true
			i++
			cur.WriteByte(cmd[i])
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

func ourGroup(cmd string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"matcher": "*",
		"hooks":   []map[string]any{{"type": "command", "command": cmd, "timeout": hookTimeout}},
	})
	return b
}

// shellQuote quotes p for the shell Claude Code runs hook commands with.
func shellQuote(p string) string {
	if p != "" && !strings.ContainsAny(p, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}

func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("weave-hook: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err == nil {
		err = tmp.Chmod(mode)
		if err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("weave-hook: write %s: %w", path, err)
	}
	return nil
}

// object is a JSON object that keeps its members' order and raw values, so
// a rewritten settings file differs from the user's only where we changed it.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

func (o *object) get(k string) (json.RawMessage, bool) { v, ok := o.vals[k]; return v, ok }

func (o *object) set(k string, v json.RawMessage) {
	if o.vals == nil {
		o.vals = map[string]json.RawMessage{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) del(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, key := range o.keys {
		if key == k {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			break
		}
	}
}

func (o *object) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("want a JSON object, got %v", t)
	}
	*o = object{vals: map[string]json.RawMessage{}}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		o.set(k, v)
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the object")
	}
	return nil
}

func (o *object) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, k := range o.keys {
		if i > 0 {
			b = append(b, ',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		b = append(append(b, kb...), ':')
		b = append(b, o.vals[k]...)
	}
	return append(b, '}'), nil
}
