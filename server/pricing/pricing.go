// Package pricing computes what a model call cost from its token usage: a
// table of list prices per model (USD per million tokens by kind, with the
// dates each price applied), built in (prices.json) and extended or
// overridden by a file of the same form (weave-server --prices).
//
// A file is one JSON object: model pattern → one price, or a list of dated
// prices. A pattern is a model name as canonicalized by Canonical
// ("claude-sonnet-4-5") or a glob where * matches any run of characters
// ("acme-*"). A price holds, per million tokens, input (uncached input),
// output (reasoning included, as providers bill it), cache_read,
// cache_write_5m (alias cache_write) and cache_write_1h; web_search_per_1k
// is USD per 1,000 web searches; long_context prices every token of a call
// whose input (cached input included) is above above_input_tokens; from
// (inclusive) and until (exclusive) are dates (2006-01-02) or RFC 3339
// times bounding when the price applied, compared with the call's start.
// A kind left out costs what input costs (cache_write_1h: what
// cache_write_5m costs), so an entry with input and output alone prices
// cached tokens at the input price. Keys starting with "_" are comments.
//
// Lookup: the entries of the file given first, then the built-in ones;
// within each, an exact name before patterns, longer patterns first. The
// model is tried as sent (lower case, provider prefix removed) and then
// canonicalized (dates, version and context suffixes removed).
package pricing

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

//go:embed prices.json
var builtin []byte

// Price is one price of a model, in USD per million tokens.
type Price struct {
	From           time.Time
	Until          time.Time // zero: still current
	Input          float64
	Output         float64
	CacheRead      float64
	CacheWrite5m   float64
	CacheWrite1h   float64
	WebSearchPer1k float64
	// LongContext, when set, prices every token of a call whose input is
	// above LongContextAbove.
	LongContext      *Price
	LongContextAbove int64
}

// Entry is the dated prices of the models a pattern matches.
type Entry struct {
	Pattern string
	Prices  []Price // by From
	glob    *regexp.Regexp
}

// Table is a price table. The zero value prices nothing. A Table is
// read-only once built and safe for concurrent use.
type Table struct {
	exact map[string]*Entry
	globs []*Entry // longest pattern first
	next  *Table   // consulted when nothing here matches
}

// Default returns the built-in table.
func Default() *Table {
	t, err := Parse(builtin)
	if err != nil {
		panic("pricing: built-in table: " + err.Error()) // a test parses it
	}
	return t
}

// Load reads a price file and returns a table that consults it first and
// then base (nil: nothing else).
func Load(path string, base *Table) (*Table, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pricing: %w", err)
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("pricing: %s: %w", path, err)
	}
	t.next = base
	return t, nil
}

// wirePrice is a price as a file writes it.
type wirePrice struct {
	From           string    `json:"from"`
	Until          string    `json:"until"`
	Input          *float64  `json:"input"`
	Output         *float64  `json:"output"`
	CacheRead      *float64  `json:"cache_read"`
	CacheWrite     *float64  `json:"cache_write"`
	CacheWrite5m   *float64  `json:"cache_write_5m"`
	CacheWrite1h   *float64  `json:"cache_write_1h"`
	WebSearchPer1k *float64  `json:"web_search_per_1k"`
	LongContext    *wireLong `json:"long_context"`
}

type wireLong struct {
	Above int64 `json:"above_input_tokens"`
	wirePrice
}

// Parse reads a table in the file form.
func Parse(b []byte) (*Table, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	t := &Table{exact: map[string]*Entry{}}
	for pattern, v := range raw {
		if strings.HasPrefix(pattern, "_") {
			continue
		}
		key := strings.ToLower(strings.TrimSpace(pattern))
		if key == "" {
			return nil, errors.New("empty model pattern")
		}
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil {
			list = []json.RawMessage{v}
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("%s: no prices", pattern)
		}
		e := &Entry{Pattern: key}
		for i, item := range list {
			p, err := parsePrice(item)
			if err != nil {
				return nil, fmt.Errorf("%s: price %d: %w", pattern, i, err)
			}
			e.Prices = append(e.Prices, p)
		}
		slices.SortFunc(e.Prices, func(a, b Price) int { return a.From.Compare(b.From) })
		for i := 1; i < len(e.Prices); i++ {
			prev := e.Prices[i-1]
			if prev.Until.IsZero() || prev.Until.After(e.Prices[i].From) {
				return nil, fmt.Errorf("%s: prices from %s and %s overlap (give the earlier one an until)",
					pattern, day(prev.From), day(e.Prices[i].From))
			}
		}
		if strings.Contains(key, "*") {
			parts := strings.Split(key, "*")
			for i, p := range parts {
				parts[i] = regexp.QuoteMeta(p)
			}
			e.glob = regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
			t.globs = append(t.globs, e)
		} else {
			t.exact[key] = e
		}
	}
	slices.SortFunc(t.globs, func(a, b *Entry) int {
		if d := len(b.Pattern) - len(a.Pattern); d != 0 {
			return d
		}
		return strings.Compare(a.Pattern, b.Pattern)
	})
	return t, nil
}

func day(t time.Time) string {
	if t.IsZero() {
		return "the beginning"
	}
	return t.Format("2006-01-02")
}

func parsePrice(b []byte) (Price, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var w wireLong
	if err := dec.Decode(&w); err != nil {
		return Price{}, err
	}
	if w.Above != 0 {
		return Price{}, errors.New("above_input_tokens belongs in long_context")
	}
	p, err := w.wirePrice.price()
	if err != nil {
		return Price{}, err
	}
	var errs []error
	for _, s := range []struct {
		name string
		dst  *time.Time
	}{{w.From, &p.From}, {w.Until, &p.Until}} {
		if s.name == "" {
			continue
		}
		t, err := parseTime(s.name)
		if err != nil {
			errs = append(errs, err)
		}
		*s.dst = t
	}
	if !p.Until.IsZero() && !p.Until.After(p.From) {
		errs = append(errs, fmt.Errorf("until %s is not after from %s", w.Until, w.From))
	}
	if l := w.LongContext; l != nil {
		if l.From != "" || l.Until != "" || l.LongContext != nil {
			errs = append(errs, errors.New("long_context takes prices and above_input_tokens only"))
		}
		if l.Above <= 0 {
			errs = append(errs, errors.New("long_context needs above_input_tokens > 0"))
		}
		lp, err := l.wirePrice.price()
		if err != nil {
			errs = append(errs, fmt.Errorf("long_context: %w", err))
		}
		p.LongContext, p.LongContextAbove = &lp, l.Above
	}
	return p, errors.Join(errs...)
}

func (w *wirePrice) price() (Price, error) {
	if w.Input == nil {
		return Price{}, errors.New("input price missing")
	}
	if w.CacheWrite != nil && w.CacheWrite5m != nil {
		return Price{}, errors.New("cache_write and cache_write_5m are the same price; give one")
	}
	val := func(v *float64, def float64) float64 {
		if v == nil {
			return def
		}
		return *v
	}
	p := Price{Input: *w.Input}
	p.Output = val(w.Output, p.Input)
	p.CacheRead = val(w.CacheRead, p.Input)
	p.CacheWrite5m = val(w.CacheWrite5m, val(w.CacheWrite, p.Input))
	p.CacheWrite1h = val(w.CacheWrite1h, p.CacheWrite5m)
	p.WebSearchPer1k = val(w.WebSearchPer1k, 0)
	for _, v := range []float64{p.Input, p.Output, p.CacheRead, p.CacheWrite5m, p.CacheWrite1h, p.WebSearchPer1k} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return Price{}, fmt.Errorf("price %v is not a finite, non-negative number", v)
		}
	}
	return p, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want 2006-01-02 or RFC 3339", s)
	}
	return t.UTC(), nil
}

// Lookup returns the price of model at time at, or false.
func (t *Table) Lookup(model string, at time.Time) (Price, bool) {
	raw, canon := sent(model), Canonical(model)
	if raw == "" {
		return Price{}, false
	}
	for tt := t; tt != nil; tt = tt.next {
		for _, name := range []string{raw, canon} {
			if e, ok := tt.exact[name]; ok {
				return e.at(at)
			}
		}
		for _, e := range tt.globs {
			if e.glob.MatchString(raw) || e.glob.MatchString(canon) {
				return e.at(at)
			}
		}
	}
	return Price{}, false
}

// at is the entry's price at a time; a time before every price gets the
// earliest, one after a price that ended and none following gets none.
func (e *Entry) at(t time.Time) (Price, bool) {
	for i := len(e.Prices) - 1; i >= 0; i-- {
		p := e.Prices[i]
		if !t.Before(p.From) || i == 0 {
			if !p.Until.IsZero() && !t.Before(p.Until) {
				return Price{}, false
			}
			return p, true
		}
	}
	return Price{}, false
}

// Usage is what a call's cost depends on. Input follows the OTel GenAI
// conventions: it includes the cached input (read and written); a producer
// that reported it apart (Input smaller than the cache figures) is taken
// at its word, Input being the uncached part.
type Usage struct {
	Model        string
	At           time.Time // the call's start: which price applied
	Input        int64
	Output       int64
	CacheRead    int64
	CacheWrite   int64 // all cache writes
	CacheWrite1h int64 // of which 1-hour writes (the rest are 5-minute writes)
	WebSearches  int64
}

// Cost returns the call's cost in nano-dollars, or false when the model
// has no price at that time.
func (t *Table) Cost(u Usage) (int64, bool) {
	if t == nil {
		return 0, false
	}
	p, ok := t.Lookup(u.Model, u.At)
	if !ok {
		return 0, false
	}
	return p.Cost(u), true
}

// Cost applies the price to a call's usage, in nano-dollars. 1-hour cache
// writes are capped at the writes reported (Claude Code's rule when the two
// disagree); the rest of the writes are 5-minute writes.
func (p Price) Cost(u Usage) int64 {
	uncached := u.Input - u.CacheRead - u.CacheWrite
	total := u.Input
	if uncached < 0 {
		uncached, total = u.Input, u.Input+u.CacheRead+u.CacheWrite
	}
	if p.LongContext != nil && total > p.LongContextAbove {
		p = *p.LongContext
	}
	h := min(max(u.CacheWrite1h, 0), u.CacheWrite)
	m := u.CacheWrite - h
	usd := float64(uncached)*p.Input + float64(u.Output)*p.Output + float64(u.CacheRead)*p.CacheRead +
		float64(m)*p.CacheWrite5m + float64(h)*p.CacheWrite1h
	// per million tokens → nano-dollars: × 1e9 / 1e6.
	nanos := usd*1e3 + float64(u.WebSearches)*p.WebSearchPer1k*1e6
	return int64(math.Round(nanos))
}

var (
	dateSuffix = regexp.MustCompile(`-(?:\d{8}|\d{4}-\d{2}-\d{2})$`)
	verSuffix  = regexp.MustCompile(`-v\d+(?::\d+)?$`)
	regionPfx  = regexp.MustCompile(`^(?:us|eu|apac|global|jp|au)\.`)
	vendorPfx  = regexp.MustCompile(`^(?:anthropic|openai|google|meta|mistral)\.`)
	// stageSuffix: -latest, -preview, -exp, with a month-day or date.
	stageSuffix = regexp.MustCompile(`-(?:latest|preview|exp)(?:-\d{2}-\d{2}|-\d{4}-\d{2}-\d{2}|-\d{4})?$`)
)

// sent is the model as sent: trimmed, lower case, without a provider path
// ("anthropic/", "models/").
func sent(model string) string {
	m := strings.ToLower(strings.TrimSpace(model))
	return m[strings.LastIndexByte(m, '/')+1:]
}

// Canonical maps a model id as producers write it to the table's key:
// lower case; provider prefixes ("anthropic/", Bedrock's "us.anthropic.",
// Vertex's "@20250929"), version suffixes ("-v1:0"), context markers
// ("[1m]") and dates ("-20250929", "-2025-08-07") removed; -latest and
// -preview names map to their model.
func Canonical(model string) string {
	m := sent(model)
	if i := strings.IndexByte(m, '['); i > 0 && strings.HasSuffix(m, "]") {
		m = m[:i]
	}
	if i := strings.IndexByte(m, '@'); i > 0 {
		m = m[:i]
	}
	m = regionPfx.ReplaceAllString(m, "")
	m = vendorPfx.ReplaceAllString(m, "")
	if v := verSuffix.FindString(m); v != "" && v != "-v2" {
		m = strings.TrimSuffix(m, v)
	}
	if i := strings.LastIndexByte(m, ':'); i > 0 && strings.Trim(m[i+1:], "0123456789") == "" {
		m = m[:i]
	}
	m = dateSuffix.ReplaceAllString(m, "")
	m = stageSuffix.ReplaceAllString(m, "")
	if a, ok := aliases[m]; ok {
		return a
	}
	return m
}

// aliases are the same model under another published name.
var aliases = map[string]string{
	"claude-opus-4-0":      "claude-opus-4",
	"claude-sonnet-4-0":    "claude-sonnet-4",
	"claude-3-5-sonnet-v2": "claude-3-5-sonnet",
	"chatgpt-4o":           "gpt-4o",
	"gpt-5-chat":           "gpt-5",
	"gemini-3-pro-preview": "gemini-3-pro",
}
