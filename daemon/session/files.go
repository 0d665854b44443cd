package session

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// fileState is one transcript file being followed: its builder, and how
// far it has been read.
type fileState struct {
	path string
	b    *transcript.Builder
	off  int64
	meta transcript.Meta
	// hasMeta: the subagent's .meta.json was read.
	hasMeta bool
}

// session returns the session with id, creating it (and reading its
// transcript from the start) the first time any event names it: an unknown
// id is never dropped (a fork's first hooks, a daemon restart).
func (p *Processor) session(id, path string) *session {
	if path != "" && !p.allowed(path) {
		path = "" // the session goes on from its hooks alone
	}
	if s := p.sessions[id]; s != nil {
		if s.path == "" && path != "" {
			s.path = path
			s.main = &fileState{path: path, b: transcript.NewBuilder(path)}
			p.byFile[path] = s
		}
		return s
	}
	s := &session{id: id, path: path, subs: map[string]*fileState{}, pending: map[string]*pendingTool{},
		exported: map[spanid.SpanID]uint64{}, built: map[string]uint64{}, running: map[string]map[spanid.SpanID]spans.Span{}, agentTurn: map[string]string{},
		live: spans.Live{Turns: map[string]*spans.LiveTurn{}, Tools: map[string]*spans.LiveTool{}, Agents: map[string]*spans.LiveAgent{}}}
	if path != "" {
		s.main = &fileState{path: path, b: transcript.NewBuilder(path)}
		// A transcript path naming another session (SessionStart of a
		// --fork-session in 2.1.197 carries the parent's): keep the file
		// mapped to the session it belongs to.
		if p.byFile[path] == nil || sessionOf(path) == id {
			p.byFile[path] = s
		}
		for _, sp := range transcript.SubagentPaths(path) {
			p.trackSubagent(s, sp)
		}
	}
	p.sessions[id] = s
	return s
}

func sessionOf(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".jsonl")
}

func (p *Processor) trackSubagent(s *session, path string) {
	if s.subs[path] != nil || !strings.HasSuffix(path, ".jsonl") || !p.allowed(path) {
		return
	}
	s.subs[path] = &fileState{path: path, b: transcript.SubagentBuilder(path)}
	p.byFile[path] = s
}

// read feeds every tracked file's new complete lines to its builder.
func (p *Processor) read(s *session) {
	if s.main != nil {
		p.readFile(s.main)
	}
	for _, fs := range s.subs {
		p.readFile(fs)
		if !fs.hasMeta {
			if m, err := transcript.ReadMeta(fs.path); err == nil {
				fs.meta, fs.hasMeta = m, true
			}
		}
	}
}

func (p *Processor) readFile(fs *fileState) {
	if !p.allowed(fs.path) { // again: it may have been swapped for a symlink
		return
	}
	f, err := transcript.Open(fs.path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			p.stats.ReadErrors++
			p.log.Warn("transcript unreadable", "path", fs.path, "err", err)
		}
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < fs.off {
		// The file shrank (rewritten): start over.
		fs.b, fs.off = rebuilder(fs), 0
	}
	if _, err := f.Seek(fs.off, io.SeekStart); err != nil {
		p.stats.ReadErrors++
		return
	}
	d := transcript.NewDecoder(f, fs.off)
	for {
		l, err := d.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.stats.ReadErrors++
			}
			break
		}
		fs.b.Add(l)
	}
	st := d.Stats()
	p.stats.MalformedLines += st.Malformed + st.TooLong
	fs.off = d.Offset()
}

func rebuilder(fs *fileState) *transcript.Builder {
	if filepath.Base(filepath.Dir(fs.path)) == "subagents" {
		return transcript.SubagentBuilder(fs.path)
	}
	return transcript.NewBuilder(fs.path)
}
