// Package textsearch holds the backend-neutral parts of message search:
// the query syntax of store.SearchQuery (words in any order, "quoted
// phrases"), the word rules (SQLite FTS5 unicode61 with diacritics removed:
// letters and digits form words, everything else separates them, matching
// ignores case and diacritics), the text a stored body contributes to the
// index, and the highlighted excerpt of a hit.
//
// Every backend uses it so that the same query means the same thing and
// yields the same snippet whatever stores the data.
package textsearch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/weavetrace/weave/server/store"
)

// Limits on a query.
const (
	MaxQueryBytes = 1024
	MaxTerms      = 32
	// MaxIndexedBytes bounds the text one body contributes to the index;
	// words past it are not found.
	MaxIndexedBytes = 1 << 20
)

// Query is a parsed search query: every term must match.
type Query struct {
	Terms []Term
}

// Term is one word, or a phrase of consecutive words. Tokens are normalized
// (lower case, no diacritics). A plain word that punctuation splits into
// several tokens ("foo.bar") is a phrase too, as in FTS5.
type Term struct {
	Tokens []string
}

// Parse reads a query. A query with no words, longer than MaxQueryBytes or
// with more than MaxTerms terms is an error wrapping store.ErrInvalid.
func Parse(q string) (Query, error) {
	if len(q) > MaxQueryBytes {
		return Query{}, fmt.Errorf("%w: textsearch: query longer than %d bytes", store.ErrInvalid, MaxQueryBytes)
	}
	var out Query
	add := func(seg string) {
		var toks []string
		for _, t := range Tokenize(seg) {
			toks = append(toks, t.Norm)
		}
		if len(toks) > 0 {
			out.Terms = append(out.Terms, Term{Tokens: toks})
		}
	}
	rest := q
	for rest != "" {
		i := strings.IndexByte(rest, '"')
		if i < 0 {
			for _, w := range strings.Fields(rest) {
				add(w)
			}
			break
		}
		for _, w := range strings.Fields(rest[:i]) {
			add(w)
		}
		rest = rest[i+1:]
		j := strings.IndexByte(rest, '"')
		if j < 0 { // unterminated: the phrase runs to the end
			add(rest)
			break
		}
		add(rest[:j])
		rest = rest[j+1:]
	}
	if len(out.Terms) == 0 {
		return Query{}, fmt.Errorf("%w: textsearch: query %q has no words", store.ErrInvalid, q)
	}
	if len(out.Terms) > MaxTerms {
		return Query{}, fmt.Errorf("%w: textsearch: query has more than %d terms", store.ErrInvalid, MaxTerms)
	}
	return out, nil
}

// Token is one word of a text: its byte range and normalized form.
type Token struct {
	Start, End int
	Norm       string
}

// IsWordRune reports whether r is part of a word (Unicode letters, digits
// and private-use characters, as FTS5 unicode61 by default).
func IsWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Co, r)
}

// Tokenize splits s into words.
func Tokenize(s string) []Token {
	var toks []Token
	start := -1
	for i, r := range s {
		if IsWordRune(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			toks = append(toks, Token{Start: start, End: i, Norm: Normalize(s[start:i])})
			start = -1
		}
	}
	if start >= 0 {
		toks = append(toks, Token{Start: start, End: len(s), Norm: Normalize(s[start:])})
	}
	return toks
}

// AppendWords appends the normalized words of s to dst, each followed by
// sep: what Tokenize yields as Norm, without building tokens. ASCII text
// (most of what agents say and tools print) takes a fast path of its own;
// any other word goes through Normalize.
func AppendWords(dst []byte, s string, sep byte) []byte {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if asciiLower[c] == 0 {
				i++
				continue
			}
		} else if r, n := utf8.DecodeRuneInString(s[i:]); !IsWordRune(r) {
			i += n
			continue
		}
		// A word starts at i: copy it lower-cased while it is ASCII; a
		// word with any other rune goes through Normalize whole.
		start, mark, ascii := i, len(dst), true
		for i < len(s) {
			if c := s[i]; c < utf8.RuneSelf {
				l := asciiLower[c]
				if l == 0 {
					break
				}
				dst = append(dst, l)
				i++
				continue
			}
			r, n := utf8.DecodeRuneInString(s[i:])
			if !IsWordRune(r) {
				break
			}
			ascii = false
			i += n
		}
		if !ascii {
			dst = append(dst[:mark], Normalize(s[start:i])...)
		}
		dst = append(dst, sep)
	}
	return dst
}

// asciiLower maps the ASCII bytes IsWordRune accepts (letters and
// digits) to their lower case, and every other ASCII byte to 0.
var asciiLower = func() (t [utf8.RuneSelf]byte) {
	for c := range t {
		if IsWordRune(rune(c)) {
			t[c] = byte(unicode.ToLower(rune(c)))
		}
	}
	return t
}()

// Normalize lower-cases a word and removes diacritics.
func Normalize(w string) string {
	ascii := true
	for i := 0; i < len(w); i++ {
		if w[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(w)
	}
	var b strings.Builder
	for _, r := range norm.NFD.String(w) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// IndexText is the text a stored body contributes to the search index.
// Bodies that are JSON documents (tool arguments and results usually are)
// contribute their keys and scalar values one per line, with escapes
// decoded, so that "line one\nline two" is found by "two"; any other body
// contributes itself. The result is cut at MaxIndexedBytes.
func IndexText(body string) string {
	if t := strings.TrimLeft(body, " \t\r\n"); t != "" && (t[0] == '{' || t[0] == '[' || t[0] == '"') && json.Valid([]byte(t)) {
		if s, ok := jsonText(t); ok {
			body = s
		}
	}
	if len(body) > MaxIndexedBytes {
		cut := MaxIndexedBytes
		for cut > 0 && !utf8.RuneStart(body[cut]) {
			cut--
		}
		body = body[:cut]
	}
	return body
}

// ResponseText is the text a tool result part's response (JSON, as
// model.Part.Response holds it) stands for in search (store.SearchHit):
// the string it encodes when it is a JSON string — the form the next
// model call's input carries a tool's plain-text output in — else the
// JSON as written. ok is false when the response is not a JSON string.
func ResponseText(resp []byte) (text string, ok bool) {
	t := bytes.Trim(resp, " \t\r\n")
	if len(t) < 2 || t[0] != '"' {
		return string(resp), false
	}
	var s string
	if err := json.Unmarshal(t, &s); err != nil {
		return string(resp), false
	}
	return s, true
}

// jsonText is the text of a JSON document (valid: IndexText checks): its
// strings (object keys included), numbers as written and booleans, one a
// line, empty strings and nulls left out — what encoding/json's
// Decoder.Token gives (with UseNumber), which it replaced as four times
// slower (FuzzJSONText holds it to that). ok is false when a string does
// not decode.
func jsonText(doc string) (text string, ok bool) {
	var b strings.Builder
	// add appends s; false once the text is long enough.
	add := func(s string) bool {
		if s == "" {
			return true
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s)
		return b.Len() <= MaxIndexedBytes
	}
	for i := 0; i < len(doc); {
		var tok string
		switch c := doc[i]; {
		case c == '"':
			j, plain := i+1, true
			for j < len(doc) && doc[j] != '"' {
				if doc[j] == '\\' {
					plain = false
					j++
				}
				j++
			}
			if j >= len(doc) {
				return "", false
			}
			tok = doc[i+1 : j]
			if !plain || !utf8.ValidString(tok) {
				if err := json.Unmarshal([]byte(doc[i:j+1]), &tok); err != nil {
					return "", false
				}
			}
			i = j + 1
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(doc) && strings.IndexByte("0123456789+-.eE", doc[j]) >= 0 {
				j++
			}
			tok, i = doc[i:j], j
		case c == 't':
			tok, i = "true", i+len("true")
		case c == 'f':
			tok, i = "false", i+len("false")
		case c == 'n':
			i += len("null")
		default: // white space, delimiters, commas and colons
			i++
		}
		if !add(tok) {
			break
		}
	}
	return b.String(), true
}

// Snippet marks.
const (
	MarkOpen  = "«"
	MarkClose = "»"
	Ellipsis  = "…"
)

// snippet shape.
const (
	snippetTokens   = 24  // words in the window
	snippetMaxRunes = 320 // hard cap on the excerpt
	longToken       = 48  // runes kept of one very long word
)

// Snippet returns a one-line excerpt of text around the best cluster of
// matches of q: the window of about 24 words covering the most distinct
// terms (earliest on a tie), each match wrapped in « and ». Whitespace runs
// become one space, literal « and » become ‹ and ›, cut ends are marked
// with "…". With no match it returns the beginning of the text.
func Snippet(text string, q Query) string {
	text = IndexText(text)
	toks := Tokenize(text)
	if len(toks) == 0 {
		return clip(oneLine(text))
	}
	m := matchTerms(toks, q)
	best, end := m.window()
	return m.render(text, toks, best, end)
}

// snippetMatches are the matches of a query's terms in a text's tokens:
// hit[i] is the term index + 1 of the match covering token i; starts and
// ends mark each match, so adjacent matches stay separate.
type snippetMatches struct {
	hit          []int
	starts, ends []bool
}

// matchTerms finds the matches of q's terms (phrases of tokens) in toks,
// each token in one match at most.
func matchTerms(toks []Token, q Query) snippetMatches {
	m := snippetMatches{hit: make([]int, len(toks)), starts: make([]bool, len(toks)), ends: make([]bool, len(toks))}
	for ti, term := range q.Terms {
		n := len(term.Tokens)
		for i := 0; i+n <= len(toks); i++ {
			if !m.matchesAt(toks, i, term.Tokens) {
				continue
			}
			for k := 0; k < n; k++ {
				m.hit[i+k] = ti + 1
			}
			m.starts[i], m.ends[i+n-1] = true, true
			i += n - 1
		}
	}
	return m
}

// matchesAt reports whether the phrase matches the tokens from i, none of
// them in a match yet.
func (m snippetMatches) matchesAt(toks []Token, i int, phrase []string) bool {
	for k, norm := range phrase {
		if m.hit[i+k] != 0 || toks[i+k].Norm != norm {
			return false
		}
	}
	return true
}

// window is the best window of tokens [best, end): starting at a match,
// the most distinct terms among the next snippetTokens-context words
// (earliest on a tie); shown with up to context words before it, and
// extended to finish a phrase it cuts.
func (m snippetMatches) window() (best, end int) {
	const context = 4
	bestScore := 0
	for h := range m.hit {
		if !m.starts[h] {
			continue
		}
		seen := make(map[int]bool)
		for i := h; i < len(m.hit) && i < h+snippetTokens-context; i++ {
			if m.hit[i] > 0 {
				seen[m.hit[i]] = true
			}
		}
		if len(seen) > bestScore {
			best, bestScore = max(0, h-context), len(seen)
		}
	}
	end = min(len(m.hit), best+snippetTokens)
	for end < len(m.hit) && m.hit[end-1] > 0 && !m.ends[end-1] {
		end++
	}
	return best, end
}

// render writes the tokens [best, end) of text on one line, the matches
// marked, long words and cut ends shortened with an ellipsis.
func (m snippetMatches) render(text string, toks []Token, best, end int) string {
	var b strings.Builder
	if best > 0 {
		b.WriteString(Ellipsis)
	}
	prev := toks[best].Start
	if best == 0 {
		prev = 0
	}
	for i := best; i < end; i++ {
		t := toks[i]
		b.WriteString(oneLine(text[prev:t.Start]))
		word := text[t.Start:t.End]
		if utf8.RuneCountInString(word) > longToken {
			word = string([]rune(word)[:longToken]) + Ellipsis
		}
		if m.starts[i] || (i == best && m.hit[i] > 0) {
			b.WriteString(MarkOpen)
		}
		b.WriteString(word)
		if m.ends[i] || (i+1 == end && m.hit[i] > 0) {
			b.WriteString(MarkClose)
		}
		prev = t.End
	}
	if end < len(toks) {
		b.WriteString(oneLine(text[prev:toks[end].Start]))
		s := strings.TrimRight(b.String(), " ")
		return clip(s) + Ellipsis
	}
	b.WriteString(oneLine(text[prev:]))
	return clip(strings.TrimSpace(b.String()))
}

// oneLine collapses whitespace runs to one space and neutralizes the marks.
func oneLine(s string) string {
	if s == "" {
		return s
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case r == '«':
			r = '‹'
		case r == '»':
			r = '›'
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	if space {
		b.WriteByte(' ')
	}
	return b.String()
}

// clip enforces the rune cap without splitting a mark pair.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= snippetMaxRunes {
		return s
	}
	r := []rune(s)[:snippetMaxRunes]
	out := string(r)
	if strings.Count(out, MarkOpen) > strings.Count(out, MarkClose) {
		out += MarkClose
	}
	return out + Ellipsis
}

// Equal reports whether two queries have the same terms (for tests and
// caches).
func (q Query) Equal(o Query) bool {
	if len(q.Terms) != len(o.Terms) {
		return false
	}
	for i := range q.Terms {
		if len(q.Terms[i].Tokens) != len(o.Terms[i].Tokens) {
			return false
		}
		for j := range q.Terms[i].Tokens {
			if q.Terms[i].Tokens[j] != o.Terms[i].Tokens[j] {
				return false
			}
		}
	}
	return true
}

// String renders the query in its own syntax (every term quoted).
func (q Query) String() string {
	var b bytes.Buffer
	for i, t := range q.Terms {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		b.WriteString(strings.Join(t.Tokens, " "))
		b.WriteByte('"')
	}
	return b.String()
}
