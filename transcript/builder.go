package transcript

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Builder folds transcript lines into a Session, in file order except for
// a user or assistant line whose parent (parentUuid) comes later in the
// file: that line waits for its parent (see Add). It is incremental: a
// tailer feeds it lines as they land and reads Session() at any point. It
// does no I/O.
type Builder struct {
	s         *Session
	sidechain bool // a subagent file: its lines are all sidechain lines

	cur        *Turn
	turnsByKey map[string]*Turn
	calls      map[string]*LLMCall
	callTurn   map[string]*Turn
	tools      map[string]*ToolCall
	toolTurn   map[string]*Turn // the turn holding each tool call
	rev        uint64           // the latest revision given to a turn
	lastTS     time.Time
	pending    []InputMessage // inputs since the last call

	// The model's context as the transcript shows it, since the last
	// compaction: each input message and each call's answer, with the
	// uuids of their lines (a compaction names what it preserved by uuid).
	ctx      []ctxItem
	ctxCall  map[string]int // message id → its answer's index in ctx
	lastCall string         // message id of the latest call since the last compaction
	preserve []string       // a compact_boundary's preserved uuids, until its summary

	boundary      *Compaction   // compact_boundary awaiting its summary
	parked        []*Compaction // compactions whose turn is not seen yet
	sinceBoundary int64         // message lines since the last boundary

	shapes   map[string][]string // api-request-shape hash → system texts
	requests map[string]string   // api-request id → shape hash
	seenFork map[string]bool

	// seen holds the uuid of every line folded so far; held, the lines
	// waiting for their parent, in file order.
	seen map[string]bool
	held []*Line
}

// maxHeld bounds the lines held for a parent that has not come: past it
// they are all folded where they stand (a parent that never comes must not
// stall the live session).
const maxHeld = 64

// NewBuilder starts a Session for the main transcript at path.
func NewBuilder(path string) *Builder {
	return newBuilder(path, false)
}

func newBuilder(path string, sidechain bool) *Builder {
	return &Builder{
		s:          &Session{Path: path, ID: sessionIDFromPath(path)},
		sidechain:  sidechain,
		turnsByKey: map[string]*Turn{},
		calls:      map[string]*LLMCall{},
		callTurn:   map[string]*Turn{},
		tools:      map[string]*ToolCall{},
		toolTurn:   map[string]*Turn{},
		ctxCall:    map[string]int{},
		shapes:     map[string][]string{},
		requests:   map[string]string{},
		seenFork:   map[string]bool{},
		seen:       map[string]bool{},
	}
}

// revs numbers the changes every Builder of the process makes, so that a
// revision is never given twice (see Turn.Rev).
var revs atomic.Uint64

// changed gives t a new revision: the Builder changed t or something t
// holds. Every change a Builder makes to a turn, its calls, tools or
// compactions goes with a call of changed (tests check it, rev_test.go).
func (b *Builder) changed(t *Turn) {
	r := revs.Add(1)
	t.rev, b.rev = r, r
}

// changedTool gives tc, held by t, a new revision, and t with it.
func (b *Builder) changedTool(t *Turn, tc *ToolCall) {
	b.changed(t)
	tc.rev = t.rev
}

// Rev is the revision of the Builder's latest change to any of its turns
// (0 before the first).
func (b *Builder) Rev() uint64 { return b.rev }

// Session returns the session built so far. The Builder keeps ownership:
// later Add calls update the same values.
func (b *Builder) Session() *Session { return b.s }

// Finish marks the end of the file: a compaction still waiting for its
// summary or its turn is kept on the current turn rather than lost. Add may
// not be called after Finish.
func (b *Builder) Finish() *Session {
	b.release()
	if b.cur != nil {
		// A boundary whose summary never came, or a summary whose turn never
		// came: keep them on the current turn rather than lose them.
		if b.boundary != nil {
			b.cur.Compactions = append(b.cur.Compactions, b.boundary)
			b.boundary = nil
		}
		b.cur.Compactions = append(b.cur.Compactions, b.parked...)
		b.parked = nil
		b.changed(b.cur)
	}
	return b.s
}

// ToolCall returns the tool call with the given tool_use id, or nil.
func (b *Builder) ToolCall(id string) *ToolCall { return b.tools[id] }

// Turn returns the turn with the given key (promptId), or nil.
func (b *Builder) Turn(key string) *Turn { return b.turnsByKey[key] }

// Add folds one line. Lines are placed by their parent chain: Claude
// Code's TUI (2.1.197) sometimes writes a turn's first assistant lines
// before its prompt and attachments, the assistant line's parentUuid
// naming the attachment written after it. Folded in file order, the call
// and its tools would open a turn of their own with no prompt (and a tool
// a PreToolUse hook placed in the prompt's turn would move trace). So a
// user or assistant line whose parent is not folded yet is held, and
// folded right after its parent. Held lines are folded where they stand
// when a turn-end line comes (Claude Code writes it after the turn's
// lines), when more than maxHeld wait, and at Finish. A recorded
// transcript never names a parent that is absent from its file.
//
// A line whose uuid was folded already is a re-write: Claude Code 2.1.197
// sometimes writes a turn's stop_hook_summary and the next prompt line a
// second time (with the session's slug added) around an auto-compaction.
// The first copy stands; the second is dropped (folded, it made a second
// turn with the same prompt and start, and the server, ordering equal
// starts by trace id, showed the turns swapped half the time).
func (b *Builder) Add(l *Line) {
	if b.rewritten(l) {
		return
	}
	if b.waits(l) {
		b.held = append(b.held, l)
		if len(b.held) > maxHeld {
			b.release()
		}
		return
	}
	if l.Type == TypeSystem && (l.Subtype == SubtypeStopHookSumm || l.Subtype == SubtypeTurnDuration) {
		b.release()
	}
	b.fold(l)
	b.unblock(l.UUID)
}

// waits reports whether l must wait for its parent.
func (b *Builder) waits(l *Line) bool {
	return l.ParentUUID != "" && !b.seen[l.ParentUUID] &&
		(l.Type == TypeUser || l.Type == TypeAssistant) && l.IsSidechain == b.sidechain
}

// unblock folds the held lines whose parent is uuid, then theirs, and so on.
func (b *Builder) unblock(uuid string) {
	queue := []string{uuid}
	for len(queue) > 0 && len(b.held) > 0 {
		u := queue[0]
		queue = queue[1:]
		if u == "" {
			continue
		}
		var ready []*Line
		kept := b.held[:0]
		for _, h := range b.held {
			if h.ParentUUID == u {
				ready = append(ready, h)
			} else {
				kept = append(kept, h)
			}
		}
		clear(b.held[len(kept):])
		b.held = kept
		for _, h := range ready {
			b.fold(h)
			queue = append(queue, h.UUID)
		}
	}
}

// release folds every held line in file order.
func (b *Builder) release() {
	held := b.held
	b.held = nil
	for _, h := range held {
		b.fold(h)
	}
}

// rewritten reports whether a line with l's uuid was folded already.
func (b *Builder) rewritten(l *Line) bool {
	return l.UUID != "" && b.seen[l.UUID]
}

// fold folds one line where it stands, unless it is a re-write of one
// folded already (both copies were held).
func (b *Builder) fold(l *Line) {
	if b.rewritten(l) {
		return
	}
	if l.UUID != "" {
		b.seen[l.UUID] = true
	}
	prevTS := b.lastTS
	if !l.Timestamp.IsZero() {
		defer func() { b.lastTS = l.Timestamp }()
	}
	b.noteSession(l)
	if l.IsSidechain != b.sidechain && (l.Type == TypeUser || l.Type == TypeAssistant) {
		return // old versions wrote subagent lines into the main file
	}
	switch l.Type {
	case TypeUser:
		b.addUser(l)
	case TypeAssistant:
		b.addAssistant(l, prevTS)
	case TypeSystem:
		switch l.Subtype {
		case SubtypeCompactBound:
			b.addBoundary(l)
		case SubtypeStopHookSumm, SubtypeTurnDuration:
			b.finishTurn(l)
		}
	case TypeAPIRequestShape:
		if l.Shape != nil && l.ShapeHash != "" {
			var sys []string
			for _, bl := range l.Shape.System {
				if bl.Type == BlockText && bl.Text != "" {
					sys = append(sys, bl.Text)
				}
			}
			b.shapes[l.ShapeHash] = sys
		}
	case TypeAPIRequest:
		if l.ID != "" && l.ShapeHash != "" {
			b.requests[l.ID] = l.ShapeHash
		}
	}
}

func (b *Builder) noteSession(l *Line) {
	s := b.s
	if l.SessionID != "" && (l.Type == TypeUser || l.Type == TypeAssistant || s.ID == "") {
		s.ID = l.SessionID
	}
	if l.Cwd != "" {
		s.Cwd = l.Cwd
	}
	if l.Version != "" {
		s.Version = l.Version
	}
	if l.GitBranch != "" {
		s.GitBranch = l.GitBranch
	}
	if l.Entrypoint != "" {
		s.Entrypoint = l.Entrypoint
	}
	if l.UUID != "" && !l.IsSidechain && (l.Type == TypeUser || l.Type == TypeAssistant || l.Type == TypeAttachment || l.Type == TypeSystem) {
		s.lineUUIDs = append(s.lineUUIDs, l.UUID)
	}
	if l.ForkedFrom != nil && l.ForkedFrom.SessionID != "" && !b.seenFork[l.ForkedFrom.SessionID] {
		b.seenFork[l.ForkedFrom.SessionID] = true
		s.forkedFrom = append(s.forkedFrom, l.ForkedFrom.SessionID)
	}
}

func (b *Builder) addUser(l *Line) {
	if l.Message == nil {
		return
	}
	b.sinceBoundary++
	if l.IsCompactSummary {
		text, _ := promptText(l.Message)
		c := b.boundary
		if c == nil {
			c = &Compaction{Time: l.Timestamp}
		}
		b.boundary = nil
		c.Summary = text
		c.promptID = l.PromptID
		b.attachCompaction(c, l.PromptID)
		b.compacted(l, text)
		return
	}
	text, isPrompt := promptText(l.Message)
	if isPrompt && !l.IsMeta && !isLocalCommandEcho(text) {
		b.startTurn(l, text)
		b.input(l, InputMessage{Role: "user", Blocks: userBlocks(l.Message)})
		b.touch(l)
		return
	}
	if b.cur == nil {
		b.startTurn(l, "")
	}
	// Tool results and injected context stay in the current turn.
	blocks, _ := l.Message.Blocks()
	var results, others []Block
	for _, bl := range blocks {
		if bl.Type == BlockToolResult {
			results = append(results, bl)
			if tc := b.tools[bl.ToolUseID]; tc != nil {
				// The result may land long after its turn (a background
				// tool): the turn holding the call changes, not the current.
				tc.HasResult = true
				tc.IsError = bl.IsError
				tc.Result = ContentText(bl.Content)
				tc.End = l.Timestamp
				tc.ToolUseResult = l.ToolUseResult
				b.changedTool(b.toolTurn[bl.ToolUseID], tc)
			}
			continue
		}
		others = append(others, bl)
	}
	if len(results) > 0 {
		b.input(l, InputMessage{Role: "tool", Blocks: results})
	}
	if len(others) > 0 {
		b.input(l, InputMessage{Role: "user", Blocks: others})
	}
	b.touch(l)
}

// input adds a message sent to the model with the next call.
func (b *Builder) input(l *Line, m InputMessage) {
	b.pending = append(b.pending, m)
	b.ctx = append(b.ctx, ctxItem{uuids: []string{l.UUID}, msg: m})
}

// ctxItem is one message of the model's context: an input message, or a
// call's answer (call set; its blocks are read when needed, as they may
// still be streaming in).
type ctxItem struct {
	uuids []string
	msg   InputMessage
	call  *LLMCall
}

// compacted starts the context over at a compaction summary: the model
// then sees the summary, the messages the compaction preserved (its
// boundary lists their line uuids: the newest turns, or none) and what
// follows. The next call continues no earlier call.
func (b *Builder) compacted(l *Line, summary string) {
	keep := make(map[string]bool, len(b.preserve))
	for _, u := range b.preserve {
		keep[u] = true
	}
	old := b.ctx
	b.ctx, b.pending = nil, nil
	clear(b.ctxCall)
	b.input(l, InputMessage{Role: "user", Blocks: []Block{{Type: BlockText, Text: summary}}})
	for _, it := range old {
		if !slices.ContainsFunc(it.uuids, func(u string) bool { return keep[u] }) {
			continue
		}
		m := it.msg
		if it.call != nil {
			m = InputMessage{Role: "assistant", Blocks: slices.Clone(it.call.Blocks)}
		}
		b.pending = append(b.pending, m)
		b.ctx = append(b.ctx, ctxItem{uuids: it.uuids, msg: m})
	}
	b.preserve, b.lastCall = nil, ""
}

// userBlocks returns the prompt's blocks (text and images) for the input.
func userBlocks(m *Message) []Block {
	blocks, _ := m.Blocks()
	return blocks
}

func (b *Builder) startTurn(l *Line, text string) {
	orig := l.UUID
	if l.ForkedFrom != nil && l.ForkedFrom.MessageUUID != "" {
		orig = l.ForkedFrom.MessageUUID
	}
	key := l.PromptID
	if key == "" {
		key = "uuid:" + orig
	}
	if prev := b.turnsByKey[key]; prev != nil && l.PromptID != "" {
		// Several prompt lines carry the same promptId: Claude Code 2.1.330
		// rewrites the promptId of the lines a --fork-session copies to the
		// new prompt's. The newest prompt keeps the promptId (the hooks
		// carry it); earlier ones are keyed by their line uuid.
		prev.Key = "uuid:" + prev.origUUID
		b.turnsByKey[prev.Key] = prev
		b.changed(prev)
	}
	t := &Turn{
		Key:            key,
		PromptID:       l.PromptID,
		Number:         len(b.s.Turns) + 1,
		Prompt:         CleanPrompt(text),
		PromptUUID:     l.UUID,
		PermissionMode: l.PermissionMode,
		Origin:         turnOrigin(l),
		Start:          l.Timestamp,
		End:            l.Timestamp,
		origUUID:       orig,
	}
	b.s.Turns = append(b.s.Turns, t)
	b.turnsByKey[key] = t
	b.cur = t
	b.changed(t)
	if l.PromptID == "" {
		return
	}
	kept := b.parked[:0]
	for _, c := range b.parked {
		if c.promptID == l.PromptID {
			t.Compactions = append(t.Compactions, c)
		} else {
			kept = append(kept, c)
		}
	}
	b.parked = kept
}

// touch extends the current turn's time span with l.
func (b *Builder) touch(l *Line) {
	t := b.cur
	if t == nil {
		return
	}
	if l.PromptID != "" && t.PromptID != "" && l.PromptID != t.PromptID && l.Type == TypeUser {
		return // injected context of a turn that has not started yet
	}
	t.lines++
	if l.ForkedFrom != nil {
		t.copiedLines++
	}
	b.changed(t)
	ts := l.Timestamp
	if ts.IsZero() {
		return
	}
	if t.Start.IsZero() || ts.Before(t.Start) {
		t.Start = ts
	}
	if ts.After(t.End) {
		t.End = ts
	}
}

func (b *Builder) addAssistant(l *Line, prevTS time.Time) {
	m := l.Message
	if m == nil {
		return
	}
	b.sinceBoundary++
	if b.cur == nil {
		b.startTurn(l, "")
	}
	id := m.ID
	if id == "" {
		id = l.UUID
	}
	call := b.calls[id]
	if call == nil {
		start := prevTS
		if start.IsZero() || start.After(l.Timestamp) {
			start = l.Timestamp
		}
		call = &LLMCall{MessageID: id, Start: start, Input: b.pending, Prev: b.lastCall}
		b.pending = nil
		b.lastCall = id
		b.ctxCall[id] = len(b.ctx)
		b.ctx = append(b.ctx, ctxItem{call: call})
		b.calls[id] = call
		b.callTurn[id] = b.cur
		b.cur.Calls = append(b.cur.Calls, call)
		b.changed(b.cur)
		if sys := b.shapes[b.requests[l.RequestRef]]; len(sys) > 0 {
			call.System = sys
		}
	}
	t := b.callTurn[id]
	if i, ok := b.ctxCall[id]; ok && l.UUID != "" {
		b.ctx[i].uuids = append(b.ctx[i].uuids, l.UUID)
	}
	if l.RequestID != "" {
		call.RequestID = l.RequestID
	}
	if m.Model != "" && m.Model != syntheticModel {
		call.Model = m.Model
	}
	if m.StopReason != "" {
		call.StopReason = m.StopReason
	}
	if !l.Timestamp.IsZero() && l.Timestamp.After(call.End) {
		call.End = l.Timestamp
	}
	blocks, _ := m.Blocks()
	if l.IsAPIErrorMessage || m.Model == syntheticModel {
		var text []string
		for _, bl := range blocks {
			if bl.Type == BlockText {
				text = append(text, bl.Text)
			}
		}
		call.APIError = NewAPIError(l.Error, l.ErrorDetails, l.APIErrorStatus, strings.Join(text, "\n"))
	} else if m.Usage != nil {
		call.Usage, call.HasUsage = *m.Usage, true
	}
	b.changed(t) // the call, whichever turn holds it
	for _, bl := range blocks {
		call.Blocks = append(call.Blocks, bl)
		if bl.Type == BlockToolUse && bl.ID != "" && b.tools[bl.ID] == nil {
			tc := &ToolCall{ID: bl.ID, Name: bl.Name, Input: bl.Input, CallMessageID: id, Start: l.Timestamp}
			b.tools[bl.ID] = tc
			b.toolTurn[bl.ID] = t
			t.Tools = append(t.Tools, tc)
			b.changedTool(t, tc)
		}
	}
	saved := b.cur
	b.cur = t
	b.touch(l)
	b.cur = saved
}

// finishTurn extends the current turn to a line Claude Code writes as it
// finishes the turn: stop_hook_summary once its Stop hooks have run,
// turn_duration (interactive). The turn ends there, not at its final answer:
// a Stop hook may still make Claude Code go on. These lines are not counted
// as the turn's lines (a fork's copied turns are told apart by those).
func (b *Builder) finishTurn(l *Line) {
	t := b.cur
	if t == nil || l.IsSidechain != b.sidechain || l.Timestamp.IsZero() {
		return
	}
	if l.Timestamp.After(t.End) {
		t.End = l.Timestamp
		b.changed(t)
	}
}

func (b *Builder) addBoundary(l *Line) {
	c := &Compaction{Time: l.Timestamp, ItemsBefore: b.sinceBoundary}
	if md := l.CompactMetadata; md != nil {
		c.Trigger, c.PreTokens, c.PostTokens = md.Trigger, md.PreTokens, md.PostTokens
		c.ItemsAfter = 1 // the summary
		if md.PreservedMessages != nil {
			c.ItemsAfter += int64(len(md.PreservedMessages.UUIDs))
		}
	}
	b.sinceBoundary = 0
	b.preserve, b.lastCall = nil, ""
	if md := l.CompactMetadata; md != nil && md.PreservedMessages != nil {
		b.preserve = md.PreservedMessages.UUIDs
	}
	if b.boundary != nil && b.cur != nil {
		b.cur.Compactions = append(b.cur.Compactions, b.boundary)
		b.changed(b.cur)
	}
	b.boundary = c
}

func (b *Builder) attachCompaction(c *Compaction, promptID string) {
	if promptID != "" {
		if t := b.turnsByKey[promptID]; t != nil {
			t.Compactions = append(t.Compactions, c)
			b.changed(t)
			return
		}
		b.parked = append(b.parked, c)
		return
	}
	if b.cur != nil {
		b.cur.Compactions = append(b.cur.Compactions, c)
		b.changed(b.cur)
	}
}

// sessionIDFromPath returns the file name without .jsonl.
func sessionIDFromPath(path string) string {
	i := strings.LastIndexByte(path, '/')
	name := path[i+1:]
	return strings.TrimSuffix(name, ".jsonl")
}

// turnOrigin names who prompted a turn: turnOrigin (2.1.330+), else the
// origin object's kind (2.1.197 writes only that), else promptSource.
// Claude Code's "human" is "user" here, and kinds are spelled with
// underscores in both versions ("task-notification" → "task_notification").
func turnOrigin(l *Line) string {
	o := l.TurnOrigin
	if o == "" && l.Origin != nil {
		o = strings.ReplaceAll(l.Origin.Kind, "-", "_")
	}
	switch {
	case o == "human":
		return "user"
	case o != "":
		return o
	case l.PromptSource == "system":
		return "system"
	}
	return "user"
}
