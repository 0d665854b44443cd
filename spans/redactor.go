package spans

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Redactor finds secrets in text and masks them as [REDACTED:<kind>]. It
// holds the built-in rules (secrets.go, assignments.go), the user's extra
// patterns and allow-list (RedactConfig), and remembers the redaction of
// long texts. A Redactor is safe for concurrent use.
type Redactor struct {
	rules []rule
	need  needles
	// allowLit and allowRe: values never masked (exact, or matched whole).
	allowLit map[string]bool
	allowRe  []*regexp.Regexp
	memo     *memo
}

// RedactConfig is the user's redaction settings ("redact" in
// $WEAVE_HOME/config.json).
type RedactConfig struct {
	// Patterns are extra secret shapes, masked as [REDACTED:<name>].
	Patterns []Pattern `json:"patterns,omitempty"`
	// Allow lists values that are never masked, however they look: each
	// entry is a literal (the value equals it) or, written /like this/, a
	// regular expression that must match the whole value.
	Allow []string `json:"allow,omitempty"`
}

// Pattern is one user-defined secret shape.
type Pattern struct {
	// Name is the kind shown in the mark: letters, digits, '_', '.', '-'.
	Name string `json:"name"`
	// Regex is a Go (RE2) regular expression. With a capturing group, only
	// the first group that matched is masked (the text around it stays);
	// without, the whole match.
	Regex string `json:"regex"`
}

var patternName = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,64}$`)

// NewRedactor compiles c on top of the built-in rules. The error names the
// offending entry (redact.patterns[i], redact.allow[i]).
func NewRedactor(c RedactConfig) (*Redactor, error) {
	x := &Redactor{memo: newMemo()}
	for i, p := range c.Patterns {
		where := fmt.Sprintf("redact.patterns[%d]", i)
		if !patternName.MatchString(p.Name) {
			return nil, fmt.Errorf("%s: name %q: want 1 to 64 letters, digits, '_', '.' or '-'", where, p.Name)
		}
		if p.Regex == "" {
			return nil, fmt.Errorf("%s (%s): regex is empty", where, p.Name)
		}
		re, err := regexp.Compile(p.Regex)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): regex %q: %w", where, p.Name, p.Regex, err)
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("%s (%s): regex %q matches the empty string", where, p.Name, p.Regex)
		}
		r := rule{kind: p.Name, re: re}
		if re.NumSubexp() > 0 {
			for g := 1; g <= re.NumSubexp(); g++ {
				r.val = append(r.val, g)
			}
		}
		x.rules = append(x.rules, r) // before the built-ins: the user's name wins
	}
	for i, a := range c.Allow {
		if len(a) >= 2 && a[0] == '/' && a[len(a)-1] == '/' {
			re, err := regexp.Compile(`^(?:` + a[1:len(a)-1] + `)$`)
			if err != nil {
				return nil, fmt.Errorf("redact.allow[%d]: regex %s: %w", i, a, err)
			}
			x.allowRe = append(x.allowRe, re)
			continue
		}
		if a == "" {
			return nil, fmt.Errorf("redact.allow[%d]: empty entry", i)
		}
		if x.allowLit == nil {
			x.allowLit = map[string]bool{}
		}
		x.allowLit[a] = true
	}
	x.rules = append(x.rules, builtinRules...)
	x.need = newNeedles(x.rules)
	return x, nil
}

var defaultRedactor = sync.OnceValue(func() *Redactor {
	x, err := NewRedactor(RedactConfig{})
	if err != nil {
		panic(err) // the built-in rules are static
	}
	return x
})

// DefaultRedactor is the built-in rules alone.
func DefaultRedactor() *Redactor { return defaultRedactor() }

// Redact masks the secrets in s.
func (x *Redactor) Redact(s string) string {
	r := redactor{p: Privacy{Redactor: x}}
	return r.text(s)
}

// allowed reports a value the user's allow-list keeps.
func (x *Redactor) allowed(v string) bool {
	if x.allowLit[v] {
		return true
	}
	for _, re := range x.allowRe {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

// rule is one kind of secret and how to find it: a regular expression
// (re), or a function that finds the secrets itself (fn).
type rule struct {
	kind string
	re   *regexp.Regexp
	// lower: re runs on the ASCII-lower-cased text (its literals are lower
	// case): case-insensitive, and unlike (?i) it keeps the literal prefix
	// the regexp package uses to skip ahead.
	lower bool
	// val lists submatches: the first that matched is the secret, the rest
	// of the match stays. Empty: the whole match is the secret.
	val []int
	// left, when set, must hold for the byte before a match (not checked at
	// the start of the text). A \b in the regular expression would cost
	// the literal prefix.
	left func(c byte) bool
	// line: run re on each line that holds one of need, not on the whole
	// text (for expressions with no literal prefix; never across lines).
	line bool
	// fn finds the secrets itself: it calls emit with each one's byte range,
	// in order and not overlapping.
	fn func(s, low string, emit func(start, end int))
	// skip reports values that only look like secrets.
	skip func(value string) bool
	// need lists lower-case literals one of which every match holds (in the
	// lower-cased text): a text holding none cannot match, and the rule is
	// not run. Most text holds none. No need: the rule always runs.
	need []string
	// needIDs index need in the Redactor's needles.
	needIDs []int
}

func notWord(c byte) bool { return !isWordByte(c) }

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// needles finds which rule literals a text holds in one pass, whatever
// their number: a bitmap of their first two bytes, then a comparison with
// the literals that start with those two bytes.
type needles struct {
	list   []string
	pair   [1024]uint64 // 65,536 bits, one per two-byte prefix
	bucket *[1 << 16]uint8
	byPair [][]uint16 // needle ids by bucket
}

func newNeedles(rules []rule) needles {
	n := needles{bucket: new([1 << 16]uint8)}
	ids := map[string]int{}
	for i := range rules {
		r := &rules[i]
		r.needIDs = nil
		for _, lit := range r.need {
			if len(lit) < 2 || strings.ToLower(lit) != lit {
				panic("spans: rule " + r.kind + ": need " + lit + ": want two or more lower-case bytes")
			}
			id, ok := ids[lit]
			if !ok {
				id = len(n.list)
				ids[lit] = id
				n.list = append(n.list, lit)
				p := uint16(lit[0])<<8 | uint16(lit[1])
				n.pair[p>>6] |= 1 << (p & 63)
				if n.bucket[p] == 0 {
					if len(n.byPair) == 255 {
						panic("spans: more than 255 two-byte needle prefixes")
					}
					n.byPair = append(n.byPair, nil)
					n.bucket[p] = uint8(len(n.byPair))
				}
				b := n.bucket[p] - 1
				n.byPair[b] = append(n.byPair[b], uint16(id))
			}
			r.needIDs = append(r.needIDs, id)
		}
	}
	return n
}

// find marks in found (one bit per needle) the needles low holds.
func (n *needles) find(low string, found []uint64) {
	clear(found)
	if len(low) < 2 {
		return
	}
	p := uint16(low[0])
	for i := 1; i < len(low); i++ {
		p = p<<8 | uint16(low[i])
		if n.pair[p>>6]&(1<<(p&63)) == 0 {
			continue
		}
		for _, id := range n.byPair[n.bucket[p]-1] {
			if found[id>>6]&(1<<(id&63)) == 0 && strings.HasPrefix(low[i-1:], n.list[id]) {
				found[id>>6] |= 1 << (id & 63)
			}
		}
	}
}

// may reports whether r can match a text holding the needles found.
func (r *rule) may(found []uint64) bool {
	if len(r.needIDs) == 0 {
		return true
	}
	for _, id := range r.needIDs {
		if found[id>>6]&(1<<(id&63)) != 0 {
			return true
		}
	}
	return false
}

// asciiLower lower-cases the ASCII letters of s and nothing else, so byte
// offsets into it are offsets into s.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// scan masks every secret in s, counting them in r. With all, every rule
// runs (the reference the tests hold the prefilter to).
func (x *Redactor) scan(r *redactor, s string, all bool) string {
	low := asciiLower(s)
	found := make([]uint64, (len(x.need.list)+63)/64)
	if !all {
		x.need.find(low, found)
	}
	for i := range x.rules {
		rule := &x.rules[i]
		if !all && !rule.may(found) {
			continue
		}
		if out := x.apply(r, rule, s, low); out != s {
			// The marks change the text: later rules and the prefilter
			// look at the new one.
			s = out
			low = asciiLower(s)
			if !all {
				x.need.find(low, found)
			}
		}
	}
	return s
}

// apply masks what one rule finds in s (low: s lower-cased).
func (x *Redactor) apply(r *redactor, rule *rule, s, low string) string {
	var b strings.Builder
	last := 0
	marks := strings.Contains(s, redactedMark)
	emit := func(start, end int) {
		if start < last || start >= end {
			return
		}
		v := s[start:end]
		if strings.HasPrefix(v, redactedMark) || (rule.skip != nil && rule.skip(v)) || x.allowed(v) {
			return
		}
		if marks && inMark(s, start, end) {
			return // a user pattern matching the marks themselves
		}
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:start])
		b.WriteString(redactedMark)
		b.WriteString(rule.kind)
		b.WriteByte(']')
		last = end
		r.count++
	}
	in := s
	if rule.lower {
		in = low
	}
	switch {
	case rule.fn != nil:
		rule.fn(s, low, emit)
	case rule.line:
		for _, ln := range linesWith(low, rule.need) {
			rule.find(in[ln[0]:ln[1]], ln[0], emit)
		}
	default:
		rule.find(in, 0, emit)
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// inMark reports whether s[start:end] overlaps a [REDACTED:kind] mark
// (kind names are at most 64 bytes).
func inMark(s string, start, end int) bool {
	from := max(0, start-len(redactedMark)-65)
	to := min(len(s), end+len(redactedMark))
	for off := from; ; {
		i := strings.Index(s[off:to], redactedMark)
		if i < 0 {
			return false
		}
		p := off + i
		q := strings.IndexByte(s[p:], ']')
		if q < 0 {
			q = len(s) - p
		}
		if p < end && p+q >= start {
			return true
		}
		off = p + len(redactedMark)
	}
}

// find emits the secrets re finds in in (which starts at offset off of
// the text).
func (r *rule) find(in string, off int, emit func(start, end int)) {
	for _, m := range r.re.FindAllStringSubmatchIndex(in, -1) {
		if r.left != nil && m[0] > 0 && !r.left(in[m[0]-1]) {
			continue
		}
		start, end := m[0], m[1]
		if len(r.val) > 0 {
			start = -1
			for _, g := range r.val {
				if m[2*g] >= 0 && m[2*g] < m[2*g+1] {
					start, end = m[2*g], m[2*g+1]
					break
				}
			}
			if start < 0 {
				continue
			}
		}
		emit(off+start, off+end)
	}
}

// linesWith returns the [start, end) of each line of low holding one of
// need, in order.
func linesWith(low string, need []string) [][2]int {
	var starts []int
	for _, n := range need {
		for off := 0; ; {
			i := strings.Index(low[off:], n)
			if i < 0 {
				break
			}
			i += off
			ls := strings.LastIndexByte(low[:i], '\n') + 1
			starts = append(starts, ls)
			le := strings.IndexByte(low[i:], '\n')
			if le < 0 {
				break
			}
			off = i + le + 1
		}
	}
	slices.Sort(starts)
	starts = slices.Compact(starts)
	lines := make([][2]int, len(starts))
	for k, ls := range starts {
		le := strings.IndexByte(low[ls:], '\n')
		if le < 0 {
			le = len(low) - ls
		}
		lines[k] = [2]int{ls, ls + le}
	}
	return lines
}

// memoMin is the length from which redaction results are remembered: the
// live daemon rebuilds a session's spans at every hook event, and long
// texts (system prompts, tool results, history) come back every time.
const memoMin = 512

// memoMaxBytes bounds the input remembered per Redactor; when full, the
// memo starts over.
const memoMaxBytes = 32 << 20

type memoEntry struct {
	out string
	n   int64 // replacements made
}

type memo struct {
	mu    sync.Mutex
	m     map[string]memoEntry
	bytes int
}

func newMemo() *memo { return &memo{m: map[string]memoEntry{}} }

func (m *memo) get(s string) (memoEntry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[s]
	return e, ok
}

func (m *memo) put(s string, e memoEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bytes+len(s) > memoMaxBytes {
		m.m, m.bytes = map[string]memoEntry{}, 0
	}
	if _, ok := m.m[s]; !ok {
		m.m[s] = e
		m.bytes += len(s)
	}
}
