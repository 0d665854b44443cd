package transcript

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// MaxForkDepth caps the walk from a fork to the root of its chain.
const MaxForkDepth = 32

// headScanBytes bounds how much of a sibling transcript is read to find its
// first message line's uuid.
const headScanBytes = 4 << 20

// Resolver places sessions in their fork chains. Two real shapes exist:
//   - the Agent SDK's forkSession() copies the parent's lines with new uuids,
//     each carrying forkedFrom {sessionId, messageUuid} (one step back);
//   - the CLI's --resume X --fork-session (and the SDK's resume+forkSession)
//     copies the parent's lines with the SAME uuids and writes no forkedFrom.
//
// Either way the parent is a sibling file in the same project folder, and the
// conversation is the root of the chain. A missing parent file ends the walk
// (the last known id is the root); cycles and chains deeper than MaxForkDepth
// are cut. A Resolver caches what it read and is safe for concurrent use.
type Resolver struct {
	mu    sync.Mutex
	heads map[string]fileHead // path → head info
	uuids map[string]map[string]bool
}

type fileHead struct {
	sessionID  string
	firstUUID  string // first message line's uuid
	forkedFrom string // first forkedFrom.sessionId seen in the head
	ok         bool
}

// NewResolver returns an empty Resolver.
func NewResolver() *Resolver {
	return &Resolver{heads: map[string]fileHead{}, uuids: map[string]map[string]bool{}}
}

// Forget drops what the Resolver cached about path (the file changed).
func (r *Resolver) Forget(path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.heads, path)
	delete(r.uuids, path)
}

// Resolve sets s.ParentSessionID, s.ConversationID, s.ForkKind and marks the
// turns copied from the parent (which belong to the parent).
func (r *Resolver) Resolve(s *Session) {
	s.ConversationID, s.ParentSessionID, s.ForkKind = s.ID, "", ""
	for _, t := range s.Turns {
		t.Copied, t.CopiedFrom = false, ""
	}
	dir := filepath.Dir(s.Path)
	parent, kind := r.parentOf(s.Path, s.ID, s.forkedFrom, s.lineUUIDs)
	if parent == "" {
		return
	}
	s.ParentSessionID, s.ForkKind = parent, kind
	root, cycle := r.root(dir, s.ID, parent)
	s.ConversationID = root
	if cycle {
		// A chain that leads back to us: nobody else can own the copies.
		return
	}
	parentPath := filepath.Join(dir, parent+".jsonl")
	if _, err := os.Lstat(parentPath); err == nil {
		r.markCopied(s, parentPath, parent, kind)
	}
}

// markCopied flags the turns whose prompt line came from the parent.
func (r *Resolver) markCopied(s *Session, parentPath, parent, kind string) {
	var inParent map[string]bool
	if kind == ForkCLI {
		inParent = r.uuidSet(parentPath)
	}
	for _, t := range s.Turns {
		switch kind {
		case ForkSDK:
			t.Copied = t.copiedLines > 0 && t.copiedLines == t.lines
		case ForkCLI:
			t.Copied = t.PromptUUID != "" && inParent[t.PromptUUID]
		}
		if t.Copied {
			t.CopiedFrom = parent
		}
	}
}

// root walks up the chain from self's parent. cycle reports a chain that
// comes back around; its root is then the smallest id on the loop, so
// every member agrees.
func (r *Resolver) root(dir, self, parent string) (root string, cycle bool) {
	seen := map[string]bool{self: true}
	order := []string{self}
	cur := parent
	for depth := 0; depth < MaxForkDepth; depth++ {
		if seen[cur] {
			min := cur
			for _, id := range order {
				if id < min {
					min = id
				}
			}
			return min, true
		}
		seen[cur] = true
		order = append(order, cur)
		path := filepath.Join(dir, cur+".jsonl")
		h := r.head(path)
		if !h.ok {
			return cur, false // missing parent file: it is the root we know of
		}
		var uuids []string
		if h.forkedFrom == "" {
			uuids = r.uuidList(path)
		}
		p, _ := r.parentOf(path, cur, nonEmpty(h.forkedFrom), uuids)
		if p == "" {
			return cur, false
		}
		cur = p
	}
	return cur, false
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// parentOf finds the direct parent of the session in path.
func (r *Resolver) parentOf(path, id string, forkedFrom, lineUUIDs []string) (string, string) {
	for _, p := range forkedFrom {
		if p != "" && p != id {
			return p, ForkSDK
		}
	}
	if len(lineUUIDs) == 0 {
		return "", ""
	}
	// CLI fork: siblings that start with the same message uuid hold copies
	// of our lines. The parent shares the most lines with us but not all of
	// them (a sibling holding all our lines is our own fork).
	first := lineUUIDs[0]
	dir := filepath.Dir(path)
	siblings, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	sort.Strings(siblings)
	best, bestShared := "", 0
	for _, sp := range siblings {
		if sp == path {
			continue
		}
		h := r.head(sp)
		if !h.ok || h.firstUUID != first || h.sessionID == id {
			continue
		}
		set := r.uuidSet(sp)
		shared := 0
		for _, u := range lineUUIDs {
			if set[u] {
				shared++
			}
		}
		if shared == len(lineUUIDs) && len(set) > len(lineUUIDs) {
			continue // it contains all of us and more: a descendant
		}
		if shared == len(lineUUIDs) && h.sessionID > id {
			continue // identical content: the lexically smaller id is the parent
		}
		if shared > bestShared {
			best, bestShared = h.sessionID, shared
		}
	}
	if best == "" {
		return "", ""
	}
	return best, ForkCLI
}

// head reads a transcript's first message line (and first forkedFrom).
func (r *Resolver) head(path string) fileHead {
	r.mu.Lock()
	h, ok := r.heads[path]
	r.mu.Unlock()
	if ok {
		return h
	}
	h = readHead(path)
	r.mu.Lock()
	r.heads[path] = h
	r.mu.Unlock()
	return h
}

func readHead(path string) fileHead {
	h := fileHead{sessionID: sessionIDFromPath(path)}
	f, err := Open(path)
	if err != nil {
		return h
	}
	defer f.Close()
	h.ok = true
	d := NewDecoder(io.LimitReader(bufio.NewReader(f), headScanBytes), 0)
	for {
		l, err := d.Next()
		if err != nil {
			return h
		}
		if l.SessionID != "" && (l.Type == TypeUser || l.Type == TypeAssistant) {
			h.sessionID = l.SessionID
		}
		if l.ForkedFrom != nil && h.forkedFrom == "" {
			h.forkedFrom = l.ForkedFrom.SessionID
		}
		if h.firstUUID == "" && l.UUID != "" && isMessageLine(l) {
			h.firstUUID = l.UUID
		}
		if h.firstUUID != "" && (h.forkedFrom != "" || l.Type == TypeAssistant) {
			return h
		}
	}
}

func isMessageLine(l *Line) bool {
	switch l.Type {
	case TypeUser, TypeAssistant, TypeAttachment, TypeSystem:
		return true
	}
	return false
}

// uuidList returns a file's message-line uuids in order.
func (r *Resolver) uuidList(path string) []string {
	f, err := Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	d := NewDecoder(f, 0)
	d.Final = true
	for {
		l, err := d.Next()
		if err != nil {
			return out
		}
		if l.UUID != "" && isMessageLine(l) && !l.IsSidechain {
			out = append(out, l.UUID)
		}
	}
}

func (r *Resolver) uuidSet(path string) map[string]bool {
	r.mu.Lock()
	set, ok := r.uuids[path]
	r.mu.Unlock()
	if ok {
		return set
	}
	set = map[string]bool{}
	for _, u := range r.uuidList(path) {
		set[u] = true
	}
	r.mu.Lock()
	r.uuids[path] = set
	r.mu.Unlock()
	return set
}
