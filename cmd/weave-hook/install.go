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
	"slices"
	"strings"

	"github.com/weavetrace/weave/daemon/hookproto"
)

// hookTimeout is the per-hook timeout (seconds) we register. weave-hook
// returns within HookDeadline; this only bounds a pathological stall.
const hookTimeout = 10

// install implements `weave-hook install`. It returns the exit code.
func install(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("weave-hook install", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var agents agentList
	fs.Var(&agents, "agent", "agent to register with: claude, codex or gemini (repeat or comma-separate; default every one "+
		"where found: the config directory exists or the command is on PATH; Claude Code when neither is)")
	settings := fs.String("settings", "", "Claude Code settings file (default $CLAUDE_CONFIG_DIR/settings.json or ~/.claude/settings.json)")
	command := fs.String("command", "", "hook command to register (default: this binary's absolute path)")
	uninstall := fs.Bool("uninstall", false, "remove weave-hook's entries (and only those), and the user service if installed")
	withService := fs.Bool("service", false, "also install and start the user service that keeps weave-agentd running "+
		"(systemd --user, launchd: weave-agentd service install)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: weave-hook install [--agent claude|codex|gemini] [--settings PATH] [--command CMD] [--service] [--uninstall]\n\n"+
			"Registers weave-hook as a hook of each agent, keeping your own hooks and a\n"+
			"backup of every file it changes. Running it again changes nothing.\n"+
			"  claude  ~/.claude/settings.json, every event a silent hook cannot disturb\n"+
			"          (all but WorktreeCreate/WorktreeRemove)\n"+
			"  codex   $CODEX_HOME/hooks.json (~/.codex), every event, and the hooks'\n"+
			"          trust in config.toml (Codex runs no untrusted hook; review them\n"+
			"          with /hooks in Codex)\n"+
			"  gemini  ~/.gemini/settings.json ($GEMINI_CLI_HOME/.gemini), every event\n"+
			"          but the per-chunk model ones\n\n"+
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
	home, herr := os.UserHomeDir()
	if len(agents) == 0 {
		agents = foundAgents(home)
	}
	if herr != nil && (len(agents) > 1 || agents[0] != hookproto.AgentClaudeCode || *settings == "") {
		fmt.Fprintf(stderr, "weave-hook: no home directory: %v (use --settings with --agent claude)\n", herr)
		return 1
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
	anyChanged := false
	for _, agent := range agents {
		changed, err := installAgent(agent, home, *settings, cmd, *uninstall, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return 1
		}
		anyChanged = anyChanged || changed
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
	case anyChanged:
		fmt.Fprintf(stdout, "To keep weave-agentd running (spooled spans then never wait for a hook): weave-hook install --service\n")
	}
	return 0
}

// agentList is the --agent flag: agents named once or comma-separated.
type agentList []string

func (l *agentList) String() string { return strings.Join(*l, ",") }

func (l *agentList) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		a, ok := hookproto.ParseAgent(strings.TrimSpace(name))
		if !ok {
			return fmt.Errorf("unknown agent %q (want claude, codex or gemini)", name)
		}
		if !slices.Contains(*l, a) {
			*l = append(*l, a)
		}
	}
	return nil
}

// foundAgents lists the agents installed for this user: whose config
// directory exists or whose command is on PATH. Claude Code when none is
// (what install did before it knew other agents).
func foundAgents(home string) []string {
	claudeDir := os.Getenv("CLAUDE_CONFIG_DIR")
	if claudeDir == "" {
		claudeDir = filepath.Join(home, ".claude")
	}
	var out []string
	for _, c := range []struct {
		agent, dir, bin string
	}{
		{hookproto.AgentClaudeCode, claudeDir, "claude"},
		{hookproto.AgentCodex, codexHome(home), "codex"},
		{hookproto.AgentGemini, geminiDir(home), "gemini"},
	} {
		if fi, err := os.Stat(c.dir); (err == nil && fi.IsDir()) || onPath(c.bin) {
			out = append(out, c.agent)
		}
	}
	if len(out) == 0 {
		out = []string{hookproto.AgentClaudeCode}
	}
	return out
}

// onPath reports whether an executable file named name is in a $PATH
// directory (weave-hook links no os/exec).
func onPath(name string) bool {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return true
		}
	}
	return false
}

// installAgent registers (or removes) weave-hook in one agent's files and
// says what it did.
func installAgent(agent, home, settings, cmd string, uninstall bool, stdout io.Writer) (bool, error) {
	var path string
	var f hookFile
	acmd := agentCommand(cmd, agent)
	switch agent {
	case hookproto.AgentCodex:
		path = filepath.Join(codexHome(home), "hooks.json")
		f = hookFile{events: codexEvents, all: codexEvents, group: func(ev string) json.RawMessage { return codexGroup(acmd, ev) }}
	case hookproto.AgentGemini:
		path = filepath.Join(geminiDir(home), "settings.json")
		f = hookFile{events: geminiEvents, all: geminiAll, group: func(string) json.RawMessage { return geminiGroup(acmd) }}
	default:
		path = settings
		if path == "" {
			dir := os.Getenv("CLAUDE_CONFIG_DIR")
			if dir == "" {
				dir = filepath.Join(home, ".claude")
			}
			path = filepath.Join(dir, "settings.json")
		}
		res, err := editSettings(path, acmd, uninstall)
		report(stdout, path, acmd, uninstall, res)
		return res.changed, err
	}
	res, err := editHookFile(path, f, uninstall)
	if err != nil {
		return false, err
	}
	report(stdout, path, acmd, uninstall, res)
	if agent != hookproto.AgentCodex {
		return res.changed, nil
	}
	config := filepath.Join(codexHome(home), "config.toml")
	changed, backup, err := editCodexTrust(config, path)
	if err != nil {
		return res.changed, err
	}
	switch {
	case changed && uninstall:
		fmt.Fprintf(stdout, "%s: removed the trust of weave-hook's hooks (backup: %s)\n", config, orNone(backup))
	case changed:
		fmt.Fprintf(stdout, "%s: trusted weave-hook's hooks (review them with /hooks in Codex; backup: %s)\n", config, orNone(backup))
	}
	return res.changed || changed, nil
}

func report(stdout io.Writer, path, cmd string, uninstall bool, res editResult) {
	switch {
	case !res.changed:
		fmt.Fprintf(stdout, "%s: already up to date (%d events)\n", path, res.events)
	case uninstall:
		fmt.Fprintf(stdout, "%s: removed weave-hook from %d events (backup: %s)\n", path, res.events, res.backup)
	default:
		fmt.Fprintf(stdout, "%s: registered %s for %d events (backup: %s)\n", path, cmd, res.events, orNone(res.backup))
	}
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

// editSettings registers cmd in Claude Code's settings file at path for
// every observe-only event (or, with uninstall, removes every weave-hook
// entry), keeping everything else, in order. See editHookFile.
func editSettings(path, cmd string, uninstall bool) (editResult, error) {
	var events []string
	for _, ev := range hookproto.Events {
		if hookproto.IsObserveOnly(ev) {
			events = append(events, ev)
		}
	}
	return editHookFile(path, hookFile{events: events, all: hookproto.Events, group: func(string) json.RawMessage { return ourGroup(cmd) }}, uninstall)
}

// hookFile describes one agent's JSON hook configuration: events gets our
// group, all is every event whose groups are cleaned of weave-hook (so an
// event we no longer register loses its old entry).
type hookFile struct {
	events []string
	all    []string
	group  func(event string) json.RawMessage
}

// editHookFile registers our group for each of f.events in the JSON file at
// path ({"hooks": {event: [matcher groups]}}, the layout Claude Code's and
// Gemini CLI's settings.json and Codex's hooks.json share) after removing
// every earlier weave-hook entry, or with uninstall only removes them,
// keeping everything else, in order. A changed file is replaced atomically
// (temp file, fsync, rename) with its mode kept, after a backup of it as it
// was before weave-hook first changed it (replaceFile).
func editHookFile(path string, f hookFile, uninstall bool) (editResult, error) {
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
	register := map[string]bool{}
	for _, ev := range f.events {
		register[ev] = true
	}
	for _, ev := range f.all {
		groups, err := eventGroups(hooks, ev)
		if err != nil {
			return res, fmt.Errorf("weave-hook: %s: hooks.%s: %w", path, ev, err)
		}
		kept, removed := withoutOurs(groups)
		if uninstall {
			if removed > 0 {
				res.events++
			}
		} else if register[ev] {
			kept = append(kept, f.group(ev))
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
	res.backup, err = replaceFile(path, orig, exists, out)
	return res, err
}

// replaceFile writes out to path atomically; a new file is made 0600 in a
// directory made 0700 if needed. Before it changes an existing file it
// makes sure the one backup weave-hook keeps of it exists (backupOf), and
// returns its path.
func replaceFile(path string, orig []byte, exists bool, out []byte) (backup string, err error) {
	mode := os.FileMode(0o600)
	if exists {
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
		}
		if backup, err = backupOf(path, orig, mode); err != nil {
			return "", err
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("weave-hook: %w", err)
	}
	return backup, writeAtomic(path, out, mode)
}

// backupOf keeps one backup of a file weave-hook edits, path.weave.bak:
// the file as it was before weave-hook first changed it (what a user wants
// back), written once and never overwritten, so installing and
// uninstalling again and again leaves one backup. Earlier versions left a
// path.weave-<time>.bak per change: the oldest of those is the original and
// becomes the backup, the others are removed.
func backupOf(path string, orig []byte, mode os.FileMode) (string, error) {
	backup := path + ".weave.bak"
	old, _ := filepath.Glob(globEscape(path) + ".weave-*.bak")
	slices.Sort(old) // the names carry a sortable UTC time
	if _, err := os.Lstat(backup); errors.Is(err, fs.ErrNotExist) {
		if len(old) > 0 {
			if err := os.Rename(old[0], backup); err != nil {
				return "", fmt.Errorf("weave-hook: %w", err)
			}
			old = old[1:]
		} else if err := writeAtomic(backup, orig, mode); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", fmt.Errorf("weave-hook: %w", err)
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("weave-hook: %w", err)
		}
	}
	return backup, nil
}

// globEscape quotes the pattern characters of a path for filepath.Glob.
func globEscape(path string) string {
	var b strings.Builder
	for _, r := range path {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
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
