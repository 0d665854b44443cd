package transcript

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// ErrNotRegular is returned for a transcript path that is a symlink, a
// directory, a device or anything else but a regular file.
var ErrNotRegular = errors.New("transcript: not a regular file")

// Open opens a transcript file for reading: O_NOFOLLOW (a symlink is
// refused) and regular files only.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%w: %s is a symlink", ErrNotRegular, path)
		}
		return nil, fmt.Errorf("transcript: open: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("transcript: stat: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s", ErrNotRegular, path)
	}
	return f, nil
}

// ReadFile decodes every line of a finished transcript file into b.
func ReadFile(path string, b *Builder) (Stats, error) {
	f, err := Open(path)
	if err != nil {
		return Stats{}, err
	}
	defer f.Close()
	return ReadFrom(f, 0, true, b)
}

// ReadFrom decodes lines from r (positioned at byte offset off) into b and
// returns the decoder's counts. With final unset a trailing partial line is
// held back; the offset to resume at is off plus what was consumed, which a
// caller tracks through the lines' End offsets.
func ReadFrom(r io.Reader, off int64, final bool, b *Builder) (Stats, error) {
	d := NewDecoder(r, off)
	d.Final = final
	for {
		l, err := d.Next()
		if errors.Is(err, io.EOF) {
			return d.Stats(), nil
		}
		if err != nil {
			return d.Stats(), fmt.Errorf("transcript: read: %w", err)
		}
		b.Add(l)
	}
}

// Meta is a subagent's agent-<id>.meta.json.
type Meta struct {
	AgentType   string `json:"agentType"`
	Description string `json:"description"`
	ToolUseID   string `json:"toolUseId"`
	SpawnDepth  int    `json:"spawnDepth"`
}

// SubagentDir is where a session's subagent transcripts live.
func SubagentDir(mainPath string) string {
	return filepath.Join(strings.TrimSuffix(mainPath, ".jsonl"), "subagents")
}

// SubagentPaths lists agent-*.jsonl under a session's subagents dir, sorted.
func SubagentPaths(mainPath string) []string {
	paths, _ := filepath.Glob(filepath.Join(SubagentDir(mainPath), "agent-*.jsonl"))
	sort.Strings(paths)
	return paths
}

// AgentIDFromPath extracts <id> from .../agent-<id>.jsonl.
func AgentIDFromPath(path string) string {
	base := filepath.Base(path)
	return strings.TrimSuffix(strings.TrimPrefix(base, "agent-"), ".jsonl")
}

// ReadMeta reads a subagent's meta file; a missing or bad file yields a
// zero Meta and the error.
func ReadMeta(subagentPath string) (Meta, error) {
	var m Meta
	p := strings.TrimSuffix(subagentPath, ".jsonl") + ".meta.json"
	f, err := Open(p)
	if err != nil {
		return m, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return m, fmt.Errorf("transcript: read meta: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("transcript: meta %s: %w", p, err)
	}
	return m, nil
}

// SubagentBuilder builds one subagent transcript (all sidechain lines).
func SubagentBuilder(path string) *Builder { return newBuilder(path, true) }

// SubagentFrom turns a finished subagent Builder into a Subagent.
func SubagentFrom(path string, b *Builder, meta Meta) *Subagent {
	s := b.Session()
	a := &Subagent{
		AgentID:     AgentIDFromPath(path),
		AgentType:   meta.AgentType,
		Description: meta.Description,
		ToolUseID:   meta.ToolUseID,
		SpawnDepth:  meta.SpawnDepth,
		Path:        path,
		rev:         b.Rev(),
	}
	for _, t := range s.Turns {
		if a.Prompt == "" && t.Prompt != "" {
			a.Prompt = t.Prompt
		}
		if a.PromptID == "" {
			a.PromptID = t.PromptID
		}
		if a.Start.IsZero() || (!t.Start.IsZero() && t.Start.Before(a.Start)) {
			a.Start = t.Start
		}
		if t.End.After(a.End) {
			a.End = t.End
		}
		a.Calls = append(a.Calls, t.Calls...)
		a.Tools = append(a.Tools, t.Tools...)
	}
	return a
}

// LoadSubagent reads one subagent file and its meta.
func LoadSubagent(path string) (*Subagent, Stats, error) {
	b := SubagentBuilder(path)
	st, err := ReadFile(path, b)
	if err != nil {
		return nil, st, err
	}
	meta, _ := ReadMeta(path) // a missing meta falls back to prompt matching
	b.Finish()
	return SubagentFrom(path, b, meta), st, nil
}

// Load reads a finished session: the main transcript, its subagent files
// (linked to their spawning Agent calls), and its fork chain (resolved
// against sibling transcripts in the same folder). Problems with a subagent
// or a sibling file are reported in Warnings, never fatal.
func Load(path string, r *Resolver) (*Session, []error, error) {
	b := NewBuilder(path)
	st, err := ReadFile(path, b)
	if err != nil {
		return nil, nil, err
	}
	s := b.Finish()
	s.Stats = st
	var warns []error
	for _, p := range SubagentPaths(path) {
		a, ast, err := LoadSubagent(p)
		s.Stats.Add(ast)
		if err != nil {
			warns = append(warns, err)
			continue
		}
		s.Subagents = append(s.Subagents, a)
	}
	Link(s)
	if r == nil {
		r = NewResolver()
	}
	r.Resolve(s)
	return s, warns, nil
}
