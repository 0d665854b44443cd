package store

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// KindScore is the annotation kind of a named score (see Annotation).
const KindScore = "score"

// Score data types (Annotation.DataType).
const (
	ScoreNumeric     = "numeric"
	ScoreBoolean     = "boolean"
	ScoreCategorical = "categorical"
)

// Bounds of a score.
const (
	MaxScoreNameLen  = 128
	MaxScoreLabelLen = 256
)

// ScoreID is the id of the score of name by author on ref: one current
// value per (ref, name, author), so writing it again replaces it.
func ScoreID(ref, name, author string) string {
	h := sha256.Sum256([]byte(ref + "\x00" + name + "\x00" + author))
	return "score-" + hex.EncodeToString(h[:12])
}

// AnnotationError is what CheckAnnotation refuses: the field at fault and
// why. It wraps ErrInvalid.
type AnnotationError struct {
	Field, Msg string
}

func (e *AnnotationError) Error() string {
	return ErrInvalid.Error() + ": annotation " + e.Field + ": " + e.Msg
}
func (e *AnnotationError) Unwrap() error { return ErrInvalid }

// CheckAnnotation applies the contract's rules for UpsertAnnotation (see
// Annotations) and returns the annotation as it is to be stored: a
// score's id derived (ScoreID) and its value typed (float64, bool or
// string). Errors are *AnnotationError.
func CheckAnnotation(a Annotation) (Annotation, error) {
	if err := checkAnnotationHead(a); err != nil {
		return Annotation{}, err
	}
	if a.Kind != KindScore {
		if a.Name != "" || a.DataType != "" || a.Min != nil || a.Max != nil {
			return Annotation{}, annotationErr("kind", "name, data_type, min and max belong to a score (kind %q)", KindScore)
		}
		return a, nil
	}
	if err := checkScore(&a); err != nil {
		return Annotation{}, err
	}
	v, err := scoreValue(a)
	if err != nil {
		return Annotation{}, err
	}
	a.Value = v
	return a, nil
}

func annotationErr(field, format string, args ...any) error {
	return &AnnotationError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// checkAnnotationHead checks what every annotation has: ref, kind, id,
// trace_id and a value JSON can encode.
func checkAnnotationHead(a Annotation) error {
	switch {
	case !ValidRef(a.Ref):
		return annotationErr("ref", "ref %q is not agent_span/<id>, agent_turn/<id>, agent_conversation/<id> or agent/<name>", a.Ref)
	case a.Kind == "":
		return annotationErr("kind", "kind is empty")
	case len(a.ID) > MaxIDLen:
		return annotationErr("id", "id longer than %d bytes", MaxIDLen)
	case a.TraceID != "" && !isHex(a.TraceID, 32):
		return annotationErr("trace_id", "trace_id %q is not 32 hexadecimal digits", a.TraceID)
	}
	if _, err := json.Marshal(a.Value); err != nil {
		return annotationErr("value", "value: %v", err)
	}
	return nil
}

// checkScore checks a score's name, trace_id, id (deriving it when empty)
// and that only a numeric score has bounds.
func checkScore(a *Annotation) error {
	if strings.TrimSpace(a.Name) == "" || len(a.Name) > MaxScoreNameLen || !utf8.ValidString(a.Name) || strings.ContainsAny(a.Name, "\x00\n\r\t") {
		return annotationErr("name", "a score needs a name of 1 to %d bytes of UTF-8 on one line", MaxScoreNameLen)
	}
	if strings.HasPrefix(a.Ref, RefSpanPrefix) && a.TraceID == "" {
		return annotationErr("trace_id", "a score on a span needs the span's trace_id (its conversation and agent are found through it)")
	}
	if id := ScoreID(a.Ref, a.Name, a.Author); a.ID == "" {
		a.ID = id
	} else if a.ID != id {
		return annotationErr("id", "a score's id is derived from its ref, name and author (%s), got %q", id, a.ID)
	}
	if (a.Min != nil || a.Max != nil) && a.DataType != ScoreNumeric {
		return annotationErr("min", "min and max bound a numeric score only")
	}
	return nil
}

// scoreValue checks a score's value against its data_type and returns it
// typed.
func scoreValue(a Annotation) (any, error) {
	switch a.DataType {
	case ScoreNumeric:
		return numericScore(a)
	case ScoreBoolean:
		if _, ok := a.Value.(bool); !ok {
			return nil, annotationErr("value", "a boolean score's value is true or false")
		}
	case ScoreCategorical:
		s, ok := a.Value.(string)
		if !ok || strings.TrimSpace(s) == "" || len(s) > MaxScoreLabelLen || !utf8.ValidString(s) {
			return nil, annotationErr("value", "a categorical score's value is a category name of 1 to %d bytes", MaxScoreLabelLen)
		}
	default:
		return nil, annotationErr("data_type", "a score's data_type is %s, %s or %s, got %q", ScoreNumeric, ScoreBoolean, ScoreCategorical, a.DataType)
	}
	return a.Value, nil
}

// numericScore checks a numeric score's value and bounds and returns the
// value as a float64.
func numericScore(a Annotation) (any, error) {
	f, ok := finiteNumber(a.Value)
	if !ok {
		return nil, annotationErr("value", "a numeric score's value is a finite number")
	}
	for _, b := range []*float64{a.Min, a.Max} {
		if b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0)) {
			return nil, annotationErr("min", "min and max are finite numbers")
		}
	}
	if a.Min != nil && a.Max != nil && *a.Min > *a.Max {
		return nil, annotationErr("min", "min %v is above max %v", *a.Min, *a.Max)
	}
	if (a.Min != nil && f < *a.Min) || (a.Max != nil && f > *a.Max) {
		return nil, annotationErr("value", "value %v is outside [%v, %v]", f, deref(a.Min, math.Inf(-1)), deref(a.Max, math.Inf(1)))
	}
	return f, nil
}

func deref(p *float64, def float64) float64 {
	if p == nil {
		return def
	}
	return *p
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// finiteNumber reads a finite number: a float64, an int or a json.Number (as a
// decoded score value or filter value holds it).
func finiteNumber(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

// ScoreColumns are the columns a backend keeps of a score to aggregate
// it: the number (a numeric value, or 1 / 0 for a boolean; nil for a
// category) and the category (a categorical value; "" otherwise).
func ScoreColumns(a Annotation) (num *float64, label string) {
	if a.Kind != KindScore {
		return nil, ""
	}
	switch v := a.Value.(type) {
	case bool:
		f := 0.0
		if v {
			f = 1
		}
		return &f, ""
	case string:
		return nil, v
	}
	if f, ok := finiteNumber(a.Value); ok {
		return &f, ""
	}
	return nil, ""
}

// RefTarget splits a canonical ref into its kind prefix (RefSpanPrefix,
// …) and its id: a span or trace id, or a conversation id or agent name
// unescaped. ok is false for a malformed ref.
func RefTarget(ref string) (prefix, id string, ok bool) {
	for _, p := range []string{RefSpanPrefix, RefTurnPrefix, RefConversationPrefix, RefAgentPrefix} {
		rest, found := strings.CutPrefix(ref, p)
		if !found || rest == "" {
			continue
		}
		if p == RefConversationPrefix || p == RefAgentPrefix {
			u, err := url.PathUnescape(rest)
			if err != nil {
				return "", "", false
			}
			rest = u
		}
		return p, rest, true
	}
	return "", "", false
}

// ScoreSummary aggregates the scores of one name: their count, and the
// mean (numeric), the share of true (boolean) or the count per category
// (categorical). Scores of one name but several data types (a name reused)
// are summarized by the type most of them have, ties by name.
type ScoreSummary struct {
	DataType   string           `json:"data_type"`
	Count      int64            `json:"count"`
	Mean       *float64         `json:"mean,omitempty"`
	Min        *float64         `json:"min,omitempty"`
	Max        *float64         `json:"max,omitempty"`
	Share      *float64         `json:"share,omitempty"`
	Categories map[string]int64 `json:"categories,omitempty"`
}

// ScoreValue is one stored score as aggregates see it.
type ScoreValue struct {
	Name     string
	DataType string
	Num      *float64 // numeric value, or 1 / 0 for a boolean
	Label    string   // category
}

// SummarizeScores aggregates scores by name. Sums run in a fixed order (by
// value), so every backend gets the same bits.
func SummarizeScores(scores []ScoreValue) map[string]ScoreSummary {
	if len(scores) == 0 {
		return nil
	}
	byName := map[string][]ScoreValue{}
	for _, s := range scores {
		byName[s.Name] = append(byName[s.Name], s)
	}
	out := make(map[string]ScoreSummary, len(byName))
	for name, list := range byName {
		types := map[string]int{}
		for _, s := range list {
			types[s.DataType]++
		}
		var dt string
		for t, n := range types {
			if n > types[dt] || (n == types[dt] && t < dt) {
				dt = t
			}
		}
		sum := ScoreSummary{DataType: dt}
		var nums []float64
		for _, s := range list {
			if s.DataType != dt {
				continue
			}
			sum.Count++
			if dt == ScoreCategorical {
				if sum.Categories == nil {
					sum.Categories = map[string]int64{}
				}
				sum.Categories[s.Label]++
			} else if s.Num != nil {
				nums = append(nums, *s.Num)
			}
		}
		if len(nums) > 0 {
			slices.Sort(nums)
			var total float64
			for _, f := range nums {
				total += f
			}
			mean := total / float64(len(nums))
			if dt == ScoreBoolean {
				sum.Share = &mean
			} else {
				lo, hi := nums[0], nums[len(nums)-1]
				sum.Mean, sum.Min, sum.Max = &mean, &lo, &hi
			}
		}
		out[name] = sum
	}
	return out
}

// ScoreFilterPrefix starts the field of a filter on score aggregates
// ("score.<name>"), in ConversationQuery.ScoreFilters and
// AgentQuery.ScoreFilters.
const ScoreFilterPrefix = "score."

// ScoreFilter is a parsed filter on score aggregates.
type ScoreFilter struct {
	Name  string
	Op    string
	Num   float64
	Label string
}

// ParseScoreFilters checks filters on score aggregates: the field is
// "score.<name>"; ops gt, gte, lt, lte, eq, neq compare the mean of a
// numeric score or the share of true of a boolean one (a value true or
// false stands for 1 or 0), or, with a string value, ask for a
// categorical score with (eq) or without (neq) that category; exists and
// not_exists ask whether the item has a score of the name at all.
func ParseScoreFilters(fs []Filter) ([]ScoreFilter, error) {
	var out []ScoreFilter
	for _, f := range fs {
		name, ok := strings.CutPrefix(f.Field, ScoreFilterPrefix)
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: filter field %q: want score.<name>", ErrInvalid, f.Field)
		}
		sf := ScoreFilter{Name: name, Op: strings.ToLower(f.Op)}
		switch sf.Op {
		case "exists", "not_exists":
			if f.Value != nil {
				return nil, fmt.Errorf("%w: filter on %q: op %s takes no value", ErrInvalid, f.Field, sf.Op)
			}
		case "eq", "neq", "gt", "gte", "lt", "lte":
			switch v := f.Value.(type) {
			case bool:
				if v {
					sf.Num = 1
				}
			case string:
				if sf.Op != "eq" && sf.Op != "neq" {
					return nil, fmt.Errorf("%w: filter on %q: a category is compared with eq or neq", ErrInvalid, f.Field)
				}
				sf.Label = v
			default:
				n, ok := finiteNumber(f.Value)
				if !ok {
					return nil, fmt.Errorf("%w: filter on %q: want a number, true/false or a category", ErrInvalid, f.Field)
				}
				sf.Num = n
			}
		default:
			return nil, fmt.Errorf("%w: filter on %q: op %q (gt, gte, lt, lte, eq, neq, exists, not_exists)", ErrInvalid, f.Field, f.Op)
		}
		out = append(out, sf)
	}
	return out, nil
}

// Match reports whether an item with these score summaries passes f.
func (f ScoreFilter) Match(scores map[string]ScoreSummary) bool {
	s, ok := scores[f.Name]
	switch f.Op {
	case "exists":
		return ok
	case "not_exists":
		return !ok
	}
	if !ok {
		return f.Op == "neq"
	}
	if f.Label != "" {
		has := s.Categories[f.Label] > 0
		return has == (f.Op == "eq")
	}
	v := s.Mean
	if s.DataType == ScoreBoolean {
		v = s.Share
	}
	if v == nil {
		return f.Op == "neq"
	}
	c := cmp.Compare(*v, f.Num)
	switch f.Op {
	case "eq":
		return c == 0
	case "neq":
		return c != 0
	case "gt":
		return c > 0
	case "gte":
		return c >= 0
	case "lt":
		return c < 0
	}
	return c <= 0
}

// MatchScores reports whether scores pass every filter.
func MatchScores(fs []ScoreFilter, scores map[string]ScoreSummary) bool {
	for _, f := range fs {
		if !f.Match(scores) {
			return false
		}
	}
	return true
}

// ScoredItem is one stored score with what it counts for: the
// conversations of its target (a conversation, the conversations of a
// turn's trace, the conversation of a span) and the agent (an agent ref,
// or a span's effective agent).
type ScoredItem struct {
	ScoreValue
	Conversations []string
	Agent         string
}

// GroupScores summarizes scored items per conversation and per agent.
func GroupScores(items []ScoredItem) (byConv, byAgent map[string]map[string]ScoreSummary) {
	convs, agents := map[string][]ScoreValue{}, map[string][]ScoreValue{}
	for _, it := range items {
		for _, c := range it.Conversations {
			convs[c] = append(convs[c], it.ScoreValue)
		}
		if it.Agent != "" {
			agents[it.Agent] = append(agents[it.Agent], it.ScoreValue)
		}
	}
	byConv, byAgent = map[string]map[string]ScoreSummary{}, map[string]map[string]ScoreSummary{}
	for k, v := range convs {
		byConv[k] = SummarizeScores(v)
	}
	for k, v := range agents {
		byAgent[k] = SummarizeScores(v)
	}
	return byConv, byAgent
}

// ScoreKeys reduces score filters to a set of item keys (conversations or
// agents): the items to keep are the keys when in is true, every item but
// the keys when in is false. Only scored items are listed: those that
// pass, or, when an item without scores passes (not_exists, neq), those
// that fail. Keys are sorted.
func ScoreKeys(fs []ScoreFilter, scored map[string]map[string]ScoreSummary) (keys []string, in bool) {
	in = !MatchScores(fs, nil)
	for k, sc := range scored {
		if MatchScores(fs, sc) == in {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, in
}

// ScoreRow is a stored score as aggregates read it: its ref, value and the
// trace a span ref named.
type ScoreRow struct {
	Ref     string
	TraceID string
	ScoreValue
}

// SpanPlace is what a span counts for: its effective conversation and
// agent.
type SpanPlace struct{ Conversation, Agent string }

// ScoredTraces lists, sorted, the traces whose spans ResolveScores needs:
// those of turn refs and of span refs.
func ScoredTraces(rows []ScoreRow) []string {
	set := map[string]bool{}
	for _, r := range rows {
		switch prefix, id, ok := RefTarget(r.Ref); {
		case !ok:
		case prefix == RefTurnPrefix:
			set[id] = true
		case prefix == RefSpanPrefix && r.TraceID != "":
			set[r.TraceID] = true
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// ResolveScores finds what each score counts for (ScoredItem), given the
// spans of ScoredTraces (trace → span id → place). A score whose target is
// not stored counts for nothing yet.
func ResolveScores(rows []ScoreRow, spans map[string]map[string]SpanPlace) []ScoredItem {
	out := make([]ScoredItem, 0, len(rows))
	for _, r := range rows {
		prefix, id, ok := RefTarget(r.Ref)
		if !ok {
			continue
		}
		it := ScoredItem{ScoreValue: r.ScoreValue}
		switch prefix {
		case RefConversationPrefix:
			it.Conversations = []string{id}
		case RefAgentPrefix:
			it.Agent = id
		case RefTurnPrefix:
			seen := map[string]bool{}
			for _, p := range spans[id] {
				if !seen[p.Conversation] {
					seen[p.Conversation] = true
					it.Conversations = append(it.Conversations, p.Conversation)
				}
			}
			slices.Sort(it.Conversations)
		case RefSpanPrefix:
			if p, ok := spans[r.TraceID][id]; ok {
				it.Conversations, it.Agent = []string{p.Conversation}, p.Agent
			}
		}
		out = append(out, it)
	}
	return out
}

// SpanRef, TurnRef and ConversationRef build the canonical annotation refs
// of a span, a trace and a conversation (the read API's forms).
func SpanRef(spanID string) string  { return RefSpanPrefix + strings.ToLower(spanID) }
func TurnRef(traceID string) string { return RefTurnPrefix + strings.ToLower(traceID) }
func ConversationRef(id string) string {
	return RefConversationPrefix + EscapeRefID(id)
}

// EscapeRefID escapes a conversation id or an agent name for its ref
// exactly as JavaScript's encodeURIComponent does (UTF-8 percent-encoding
// of every byte except A–Z a–z 0–9 - _ . ! ~ * ' ( )), so refs built by the
// web UI and by the server are the same string.
func EscapeRefID(id string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
