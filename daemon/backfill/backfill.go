// Package backfill imports finished Claude Code transcripts, Codex CLI
// rollout files and Gemini CLI chat files: it builds exactly the spans the
// live daemon would (transcript, rollout, geminichat and spans packages)
// and exports them over OTLP/HTTP
// protobuf, or prints them as JSON lines. `weave-agentd import` is its
// command-line face.
package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/geminichat"
	"github.com/weavetrace/weave/rollout"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// Config is what `weave-agentd import` was asked to do.
type Config struct {
	// Paths are transcript or rollout files, or folders holding them (a
	// project folder, the whole projects folder, ~/.codex/sessions,
	// ~/.gemini/tmp); empty means ~/.claude/projects, ~/.codex/sessions and
	// ~/.gemini/tmp (those that exist).
	Paths  []string
	DryRun bool // build, do not export
	JSON   bool // with DryRun: print every span as one JSON object per line
	Target export.Target
	// Privacy applies to the exported (or printed) content.
	Privacy spans.Privacy
	// Input is how chat spans carry their input history (as the live
	// daemon's chat_input: the same spans either way).
	Input spans.InputMode
	// BatchSize is the number of spans per export request (default 512).
	BatchSize int
	// Progress is how often progress is written to stderr (default 1s);
	// progress is only shown for runs of more than 20 files.
	Progress time.Duration
}

// Exporter sends spans; an export.Client in production, a fake in tests.
type Exporter interface {
	ExportSpans(ctx context.Context, s []spans.Span) error
}

// Report is what a run did.
type Report struct {
	Files      int      `json:"files"`
	Sessions   int      `json:"sessions"`
	Turns      int      `json:"turns"`
	CopiedSkip int      `json:"copied_turns_skipped"`
	Spans      int      `json:"spans"`
	Exported   int      `json:"spans_exported"`
	Malformed  int64    `json:"malformed_lines"`
	Failed     []string `json:"failed_files"`
	Warnings   []string `json:"warnings"`
}

// DefaultProjectsDir is where Claude Code keeps transcripts.
func DefaultProjectsDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".claude", "projects")
}

// DefaultCodexSessionsDir is where Codex CLI keeps rollout files:
// $CODEX_HOME/sessions, else ~/.codex/sessions.
func DefaultCodexSessionsDir() string {
	if d := os.Getenv("CODEX_HOME"); d != "" {
		return filepath.Join(d, "sessions")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".codex", "sessions")
}

// DefaultGeminiTmpDir is where Gemini CLI keeps its projects' chat files
// (<project>/chats/): $GEMINI_CLI_HOME/.gemini/tmp, else ~/.gemini/tmp.
func DefaultGeminiTmpDir() string {
	if d := os.Getenv("GEMINI_CLI_HOME"); d != "" {
		return filepath.Join(d, ".gemini", "tmp")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".gemini", "tmp")
}

// Discover expands paths into main session files, sorted. Folders are
// walked for Claude Code's <session-uuid>.jsonl, Codex's
// rollout-<time>-<uuid>.jsonl and Gemini CLI's chats/session-*.jsonl
// (and the older .json) files; subagent transcripts and subagent threads
// are found through their sessions, not listed on their own (Gemini CLI's
// subagent chats, chats/<parent id>/, are not imported).
func Discover(paths []string) ([]string, error) {
	if len(paths) == 0 {
		paths = defaultPaths()
	}
	seen := map[string]bool{}
	var out []string
	add := func(path string) {
		if !seen[path] {
			seen[path] = true
			out = append(out, path)
		}
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("backfill: %w", err)
		}
		if !fi.IsDir() {
			if err := checkNamedFile(p); err != nil {
				return nil, err
			}
			add(p)
			continue
		}
		if err := walkSessions(p, add); err != nil {
			return nil, fmt.Errorf("backfill: walk %s: %w", p, err)
		}
	}
	sort.Strings(out)
	return out, nil
}

// defaultPaths are Claude Code's projects directory, and Codex's sessions
// and Gemini CLI's tmp directories where they exist.
func defaultPaths() []string {
	paths := []string{DefaultProjectsDir()}
	for _, d := range []string{DefaultCodexSessionsDir(), DefaultGeminiTmpDir()} {
		if fi, err := os.Stat(d); d != "" && err == nil && fi.IsDir() {
			paths = append(paths, d)
		}
	}
	return paths
}

// checkNamedFile accepts a file named on the command line when it is a
// main session file, whatever its name.
func checkNamedFile(p string) error {
	if !strings.HasSuffix(p, ".jsonl") && !isGeminiChat(p) {
		return fmt.Errorf("backfill: %s: not a .jsonl transcript", p)
	}
	if filepath.Base(filepath.Dir(p)) == "subagents" || (isRollout(filepath.Base(p)) && rollout.IsSubagentFile(p)) {
		return fmt.Errorf("backfill: %s is a subagent transcript; import its session's file instead", p)
	}
	return nil
}

// walkSessions calls add with every main session file under root.
func walkSessions(root string, add func(string)) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil // unreadable corners are skipped, not fatal
		case d.IsDir() && skipDir(path, d.Name()):
			return filepath.SkipDir
		case d.IsDir() || !d.Type().IsRegular():
			return nil
		case isRollout(d.Name()) && rollout.IsSubagentFile(path):
			return nil // a Codex subagent thread: loaded with its parent
		case isSessionFile(d.Name()) || isRollout(d.Name()) || isGeminiChat(path):
			add(path)
		}
		return nil
	})
}

// skipDir reports the folders that hold no main session file: Claude
// Code's subagents, tool results and memory, and Gemini CLI's subagent
// chats (chats/<parent id>/<uuid>.jsonl, named like Claude Code
// transcripts: read with their session).
func skipDir(path, name string) bool {
	return name == "subagents" || name == "tool-results" || name == "memory" ||
		filepath.Base(filepath.Dir(path)) == "chats"
}

// sessionName matches Claude Code's transcript names: <session uuid>.jsonl.
var sessionName = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\.jsonl$`)

// isSessionFile reports whether a file found while walking a folder is a
// main transcript (other .jsonl files in a folder are not imported; a file
// named on the command line is imported whatever its name).
func isSessionFile(name string) bool { return sessionName.MatchString(name) }

// rolloutName matches Codex's rollout files: rollout-<time>-<thread uuid>.jsonl.
var rolloutName = regexp.MustCompile(`^rollout-.*[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\.jsonl$`)

func isRollout(name string) bool { return rolloutName.MatchString(name) }

// isGeminiChat reports whether path is a Gemini CLI main chat file:
// chats/session-*.jsonl (or .json).
func isGeminiChat(path string) bool {
	name := filepath.Base(path)
	return strings.HasPrefix(name, "session-") && (strings.HasSuffix(name, ".jsonl") || strings.HasSuffix(name, ".json")) &&
		filepath.Base(filepath.Dir(path)) == "chats"
}

// load reads one session file: a Codex rollout (with its subagent
// threads), a Gemini CLI chat file, or a Claude Code transcript (with its
// subagents and fork chain).
func load(f string, r *transcript.Resolver) (*transcript.Session, []error, error) {
	if isRollout(filepath.Base(f)) {
		s, err := rollout.Load(f)
		return s, nil, err
	}
	if isGeminiChat(f) {
		s, err := geminichat.Load(f)
		return s, nil, err
	}
	return transcript.Load(f, r)
}

// Run imports cfg.Paths. Spans go to exp (nil with DryRun); JSON lines and
// dry-run summaries go to stdout, progress and problems to stderr. A bad
// file is reported and skipped; an export failure stops the run.
func Run(ctx context.Context, cfg Config, exp Exporter, stdout, stderr io.Writer) (Report, error) {
	var rep Report
	files, err := Discover(cfg.Paths)
	if err != nil {
		return rep, err
	}
	rep.Files = len(files)
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 512
	}
	if cfg.Progress <= 0 {
		cfg.Progress = time.Second
	}
	r := transcript.NewResolver()
	var batch []spans.Span
	flush := func() error {
		if len(batch) == 0 || cfg.DryRun {
			batch = batch[:0]
			return nil
		}
		if err := exp.ExportSpans(ctx, batch); err != nil {
			return fmt.Errorf("backfill: export to %s: %w", export.TracesURL(cfg.Target.Endpoint), err)
		}
		rep.Exported += len(batch)
		batch = batch[:0]
		return nil
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	last := time.Now()
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		s, warns, err := load(f, r)
		if err != nil {
			rep.Failed = append(rep.Failed, f)
			fmt.Fprintf(stderr, "weave-agentd import: skipping %s: %v\n", f, err)
			continue
		}
		for _, w := range warns {
			rep.Warnings = append(rep.Warnings, w.Error())
			fmt.Fprintf(stderr, "weave-agentd import: %s: %v\n", f, w)
		}
		rep.Sessions++
		rep.Malformed += s.Stats.Malformed + s.Stats.TooLong
		out := spans.Build(s, spans.Options{Privacy: cfg.Privacy, IntegrationVersion: cfg.Target.ServiceVersion, Input: cfg.Input})
		for _, t := range s.Turns {
			if t.Copied {
				rep.CopiedSkip++
			} else {
				rep.Turns++
			}
		}
		rep.Spans += len(out)
		switch {
		case cfg.DryRun && cfg.JSON:
			for _, sp := range out {
				if err := enc.Encode(sp); err != nil {
					return rep, fmt.Errorf("backfill: write: %w", err)
				}
			}
		case cfg.DryRun:
			fmt.Fprintf(stdout, "%s\tsession %s\tconversation %s\t%d turns\t%d spans\n", f, s.ID, s.ConversationID, len(s.Turns), len(out))
		default:
			for _, sp := range out {
				batch = append(batch, sp)
				if len(batch) >= cfg.BatchSize {
					if err := flush(); err != nil {
						return rep, err
					}
				}
			}
		}
		if len(files) > 20 && time.Since(last) >= cfg.Progress {
			last = time.Now()
			fmt.Fprintf(stderr, "weave-agentd import: %d/%d files, %d spans\n", i+1, len(files), rep.Spans)
		}
	}
	if err := flush(); err != nil {
		return rep, err
	}
	return rep, nil
}

// ErrNothingImported is returned when no file could be read at all.
var ErrNothingImported = errors.New("backfill: no transcript could be read")
