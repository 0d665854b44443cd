package session

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Which transcripts the daemon reads. A hook payload names the transcript
// (transcript_path, agent_transcript_path), and whatever file it names
// would be read and exported. So a path is read only when
//
//   - it is absolute, has no ".." element and names a .jsonl file, and
//   - with every symlink resolved (the file's, or for a file not written
//     yet its nearest existing parent's), it lies inside one of the roots,
//     themselves resolved: Claude Code's projects directories
//     (~/.claude/projects, $CLAUDE_CONFIG_DIR/projects) and the
//     transcript_dirs of config.json.
//
// So ~/.claude/projects/x -> /etc does not escape, nor does
// ~/.claude/projects/../.ssh/id_rsa. A refused path is logged (once per
// path), counted (status: transcripts refused) and the session goes on
// from its hooks alone. The check runs again before every read, so a file
// swapped for a symlink after its session started is refused then.

// ErrTranscriptOutside is wrapped by the refusal of a transcript path.
var ErrTranscriptOutside = errors.New("session: transcript outside the Claude Code projects directories")

// CheckTranscript applies the rule above to path against roots.
func CheckTranscript(path string, roots []string) error {
	refuse := func(why string) error { return fmt.Errorf("%w: %s: %s", ErrTranscriptOutside, path, why) }
	if !filepath.IsAbs(path) {
		return refuse("not an absolute path")
	}
	for _, el := range strings.Split(filepath.ToSlash(path), "/") {
		if el == ".." {
			return refuse(`has a ".." element`)
		}
	}
	if !strings.HasSuffix(path, ".jsonl") {
		return refuse("not a .jsonl file")
	}
	real, err := resolveExisting(path)
	if err != nil {
		return refuse(err.Error())
	}
	for _, root := range roots {
		if root == "" || !filepath.IsAbs(root) {
			continue
		}
		r, err := resolveExisting(filepath.Clean(root))
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(r, real); err == nil && rel != "." && rel != ".." &&
			!strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil
		}
	}
	if real != path {
		return refuse("resolves to " + real + ", outside " + strings.Join(roots, ", "))
	}
	return refuse("outside " + strings.Join(roots, ", "))
}

// resolveExisting evaluates the symlinks of path's longest existing
// prefix and appends the rest (which does not exist, so holds no link).
func resolveExisting(path string) (string, error) {
	rest := ""
	p := filepath.Clean(path)
	for {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if _, lerr := os.Lstat(p); lerr == nil {
			return "", fmt.Errorf("%s is a symlink to nowhere (yet)", p)
		}
		up := filepath.Dir(p)
		if up == p {
			return "", err
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = up
	}
}

// findTranscript looks for <root>/<project>/<sessionID>.jsonl under the
// TranscriptRoots ("" when none has it, or there are no roots).
func (p *Processor) findTranscript(sessionID string) string {
	if sessionID == "" || strings.ContainsAny(sessionID, `/\`) || strings.Contains(sessionID, "..") {
		return ""
	}
	for _, root := range p.set.TranscriptRoots {
		matches, _ := filepath.Glob(filepath.Join(root, "*", sessionID+".jsonl"))
		for _, m := range matches {
			if CheckTranscript(m, p.set.TranscriptRoots) == nil {
				return m
			}
		}
	}
	return ""
}

// maxRefusedPaths bounds the refused paths remembered for logging.
const maxRefusedPaths = 1024

// allowed applies CheckTranscript; a refused path is counted and logged
// the first time it is refused.
func (p *Processor) allowed(path string) bool {
	if p.set.TranscriptRoots == nil {
		return true
	}
	err := CheckTranscript(path, p.set.TranscriptRoots)
	if err == nil {
		return true
	}
	if !p.refused[path] {
		if len(p.refused) >= maxRefusedPaths {
			clear(p.refused)
		}
		p.refused[path] = true
		p.stats.TranscriptsRefused++
		p.stats.LastRefused = path
		p.log.Warn("session: transcript refused, outside the Claude Code projects directories (add its projects directory to transcript_dirs in config.json if it is yours)",
			"path", path, "err", err)
	}
	return false
}
