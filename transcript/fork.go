package transcript

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
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
//
// A CLI fork's parent is told by content: the sibling that shares the most
// of its lines and started before it. Every session of a fork tree shares
// the root's lines, so ties are common (a second fork of A shares with A
// exactly what the first fork B copied from A): the session that started
// first wins, the one where the shared lines were first written. A session
// starts at its file's first timestamped line (the fork's own queue
// operations; copied lines keep their original times but come after).
type Resolver struct {
	mu    sync.Mutex
	heads map[string]fileHead // path → head info
	lines map[string]fileLines
}

type fileHead struct {
	sessionID  string
	firstUUID  string    // first message line's uuid
	forkedFrom string    // first forkedFrom.sessionId seen in the head
	start      time.Time // the first timestamp in the file (zero: none seen)
	ok         bool
}

// fileLines is what the Resolver knows of a transcript's message lines:
// their uuids, and for each line an Agent-SDK fork copied, the uuid of the
// line it copies (forkedFrom.messageUuid).
type fileLines struct {
	set    map[string]bool
	origin map[string]string
}

// NewResolver returns an empty Resolver.
func NewResolver() *Resolver {
	return &Resolver{heads: map[string]fileHead{}, lines: map[string]fileLines{}}
}

// Forget drops what the Resolver cached about path (the file changed).
func (r *Resolver) Forget(path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.heads, path)
	delete(r.lines, path)
}

// Resolve sets s.ParentSessionID, s.ConversationID, s.ForkKind and marks the
// turns copied from the parent (which belong to the parent). CopiedFrom is
// the session where the turn was first written: the walk goes up every
// ancestor that holds the same line, so a fork of a fork names the root for
// a turn the root wrote, and the middle fork for the middle fork's own.
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
	chain, cycle := r.chain(dir, s.ID, link{id: parent, kind: kind})
	s.ConversationID = chain[len(chain)-1].id
	if cycle {
		// A chain that leads back to us: nobody else can own the copies.
		return
	}
	if _, err := os.Lstat(chain[0].path); err == nil {
		r.markCopied(s, chain)
	}
}

// link is one step up a fork chain: the session id, its transcript, and
// how the session below it was forked from it.
type link struct {
	id, path, kind string
	missing        bool // no transcript: the walk ended here
}

// markCopied flags the turns whose prompt line came from the parent
// (chain[0]) and names the ancestor where each was first written.
func (r *Resolver) markCopied(s *Session, chain []link) {
	parent := chain[0]
	var inParent map[string]bool
	if parent.kind == ForkCLI {
		inParent = r.fileLines(parent.path).set
	}
	for _, t := range s.Turns {
		switch parent.kind {
		case ForkSDK:
			t.Copied = t.copiedLines > 0 && t.copiedLines == t.lines
		case ForkCLI:
			t.Copied = t.PromptUUID != "" && inParent[t.PromptUUID]
		}
		if t.Copied {
			t.CopiedFrom = r.firstWriter(chain, t)
		}
	}
}

// firstWriter follows a copied turn's prompt line up the chain while each
// ancestor holds it as a copy of its own parent's line, and returns the
// last ancestor reached: the session that wrote it.
func (r *Resolver) firstWriter(chain []link, t *Turn) string {
	// The line's uuid in chain[0]'s file: the same for a CLI copy, the
	// copied line's (forkedFrom.messageUuid) for an SDK copy.
	u := t.PromptUUID
	if chain[0].kind == ForkSDK {
		u = t.origUUID
	}
	owner := chain[0].id
	for i := 0; i+1 < len(chain) && !chain[i+1].missing; i++ {
		lines := r.fileLines(chain[i].path)
		switch chain[i+1].kind {
		case ForkSDK:
			u = lines.origin[u]
		case ForkCLI:
			if !r.fileLines(chain[i+1].path).set[u] {
				u = ""
			}
		}
		if u == "" {
			break
		}
		owner = chain[i+1].id
	}
	return owner
}

// chain walks up from self's parent: every ancestor in order, the last
// being the root. cycle reports a chain that comes back around; its root
// is then the smallest id on the loop, so every member agrees.
func (r *Resolver) chain(dir, self string, parent link) (out []link, cycle bool) {
	seen := map[string]bool{self: true}
	order := []string{self}
	cur := parent
	for depth := 0; depth < MaxForkDepth; depth++ {
		if seen[cur.id] {
			min := cur.id
			for _, id := range order {
				if id < min {
					min = id
				}
			}
			return append(out, link{id: min, missing: true}), true
		}
		seen[cur.id] = true
		order = append(order, cur.id)
		cur.path = filepath.Join(dir, cur.id+".jsonl")
		h := r.head(cur.path)
		if !h.ok {
			cur.missing = true
			return append(out, cur), false // missing parent file: it is the root we know of
		}
		out = append(out, cur)
		var uuids []string
		if h.forkedFrom == "" {
			uuids = r.uuidList(cur.path)
		}
		p, kind := r.parentOf(cur.path, cur.id, nonEmpty(h.forkedFrom), uuids)
		if p == "" {
			return out, false
		}
		cur = link{id: p, kind: kind}
	}
	return out, false
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
	if parent := r.cliParent(path, id, lineUUIDs); parent != "" {
		return parent, ForkCLI
	}
	return "", ""
}

// cliParent finds the parent of a CLI fork: siblings that start with the
// same message uuid hold copies of our lines. The parent started before us
// and shares the most lines with us; of those sharing as many, the one that
// started first (the lines were written there, the others copied them).
func (r *Resolver) cliParent(path, id string, lineUUIDs []string) string {
	first := lineUUIDs[0]
	var start time.Time
	startRead := false // our own head is read only when a sibling needs it
	siblings, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.jsonl"))
	sort.Strings(siblings)
	var best fileHead
	bestShared := 0
	for _, sp := range siblings {
		if sp == path {
			continue
		}
		h := r.head(sp)
		if !h.ok || h.firstUUID != first || h.sessionID == id {
			continue
		}
		if !startRead {
			start, startRead = r.head(path).start, true
		}
		// Start times decide only when they differ: a fork that wrote no
		// line of its own before the copies starts when its parent did.
		known := !start.IsZero() && !h.start.IsZero() && !h.start.Equal(start)
		if known && h.start.After(start) {
			continue // started after us: not where we were copied from
		}
		shared, ok := r.sharedLines(sp, h, id, lineUUIDs, known)
		if ok && betterParent(h, shared, best, bestShared, known) {
			best, bestShared = h, shared
		}
	}
	if bestShared == 0 {
		return ""
	}
	return best.sessionID
}

// sharedLines counts the lines of ours (lineUUIDs) the sibling sp holds;
// ok is false when, start times unknown (known false), its content alone
// rules it out as our parent.
func (r *Resolver) sharedLines(sp string, h fileHead, id string, lineUUIDs []string, known bool) (shared int, ok bool) {
	set := r.fileLines(sp).set
	for _, u := range lineUUIDs {
		if set[u] {
			shared++
		}
	}
	if !known && shared == len(lineUUIDs) {
		// Without start times, content alone decides.
		if len(set) > len(lineUUIDs) {
			return shared, false // it contains all of us and more: a descendant
		}
		if h.sessionID > id {
			return shared, false // identical content: the lexically smaller id is the parent
		}
	}
	return shared, true
}

// betterParent reports whether sibling h, sharing shared of our lines, is
// a likelier parent than best: more shared lines, or as many written
// earlier (the older session).
func betterParent(h fileHead, shared int, best fileHead, bestShared int, known bool) bool {
	if shared > bestShared {
		return true
	}
	return shared == bestShared && shared > 0 && known && !best.start.IsZero() && h.start.Before(best.start)
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
		if h.start.IsZero() && !l.Timestamp.IsZero() {
			h.start = l.Timestamp
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
	var out []string
	readLines(path, func(l *Line) { out = append(out, l.UUID) })
	return out
}

// readLines hands fn each main-chain message line of a file that has a uuid.
func readLines(path string, fn func(*Line)) {
	f, err := Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	d := NewDecoder(f, 0)
	d.Final = true
	for {
		l, err := d.Next()
		if err != nil {
			return
		}
		if l.UUID != "" && isMessageLine(l) && !l.IsSidechain {
			fn(l)
		}
	}
}

// fileLines returns (and caches) what a file's message lines say.
func (r *Resolver) fileLines(path string) fileLines {
	r.mu.Lock()
	fl, ok := r.lines[path]
	r.mu.Unlock()
	if ok {
		return fl
	}
	fl = fileLines{set: map[string]bool{}, origin: map[string]string{}}
	readLines(path, func(l *Line) {
		fl.set[l.UUID] = true
		if l.ForkedFrom != nil && l.ForkedFrom.MessageUUID != "" {
			fl.origin[l.UUID] = l.ForkedFrom.MessageUUID
		}
	})
	r.mu.Lock()
	r.lines[path] = fl
	r.mu.Unlock()
	return fl
}
