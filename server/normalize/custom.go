package normalize

import (
	"encoding/base64"
	"math"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/weavetrace/weave/server/model"
)

// Custom-attribute keys weave-server adds itself.
const (
	// KeyScopeName / KeyScopeVersion carry the instrumentation scope (the
	// names OTel's non-OTLP exporters use), which the raw span lacks.
	KeyScopeName    = "otel.scope.name"
	KeyScopeVersion = "otel.scope.version"
	// KeyDroppedCustomAttrs counts custom attributes left out past the cap.
	KeyDroppedCustomAttrs = "weave.custom_attrs.dropped"
)

// customAttrs routes every attribute no mapping consumed into the four
// typed maps: nested maps are flattened to dotted keys, lists are kept as
// JSON text, bool is told apart from int by the wire type, NaN and
// infinities are dropped, empty strings are dropped. Past the per-span cap
// keys are dropped (never weave.* ones) and counted under
// KeyDroppedCustomAttrs; long strings are cut with TruncationMarker.
func (c *spanCtx) customAttrs(opts *Options) {
	w := customWriter{s: c.out, maxAttrs: opts.MaxCustomAttrs, maxBytes: opts.MaxCustomValueBytes}
	if w.maxAttrs <= 0 {
		w.maxAttrs = DefaultMaxCustomAttrs
	}
	if w.maxBytes <= 0 {
		w.maxBytes = DefaultMaxCustomValueBytes
	}
	if n := c.scope.Name(); n != "" {
		w.put(KeyScopeName, pcommon.NewValueStr(n))
	}
	if v := c.scope.Version(); v != "" {
		w.put(KeyScopeVersion, pcommon.NewValueStr(v))
	}
	for _, k := range c.a.keys {
		if c.a.used[k] {
			continue
		}
		w.walk(k, c.a.vals[k], 0)
	}
	if w.dropped > 0 {
		if w.s.CustomAttrsInt == nil {
			w.s.CustomAttrsInt = map[string]int64{}
		}
		w.s.CustomAttrsInt[KeyDroppedCustomAttrs] = int64(w.dropped)
	}
	if w.dropped > 0 || w.truncated > 0 {
		c.warn(CodeCustomTruncated, "%d custom attributes dropped past the cap of %d, %d values cut at %d bytes", w.dropped, w.maxAttrs, w.truncated, w.maxBytes)
	}
}

// customWriter puts custom attributes into a span's typed maps, within
// the caps, counting what it drops and cuts.
type customWriter struct {
	s                         *model.Span
	maxAttrs, maxBytes        int
	count, dropped, truncated int
}

// walk puts v under prefix, a nested map flattened to dotted keys.
func (w *customWriter) walk(prefix string, v pcommon.Value, depth int) {
	if v.Type() == pcommon.ValueTypeMap && depth < maxDepth {
		for k, e := range v.Map().All() {
			w.walk(prefix+"."+k, e, depth+1)
		}
		return
	}
	w.put(prefix, v)
}

// put puts one value under key in the map of its type, unless it is
// empty or not finite, or the cap is reached (never for weave.* keys).
func (w *customWriter) put(key string, v pcommon.Value) {
	own := strings.HasPrefix(key, "weave.")
	if !own && w.count >= w.maxAttrs {
		w.dropped++
		return
	}
	s := w.s
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if strings.TrimSpace(v.Str()) == "" {
			return
		}
		w.putString(key, v.Str(), own)
	case pcommon.ValueTypeBool:
		if s.CustomAttrsBool == nil {
			s.CustomAttrsBool = map[string]bool{}
		}
		s.CustomAttrsBool[key] = v.Bool()
	case pcommon.ValueTypeInt:
		if s.CustomAttrsInt == nil {
			s.CustomAttrsInt = map[string]int64{}
		}
		s.CustomAttrsInt[key] = v.Int()
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return
		}
		if s.CustomAttrsFloat == nil {
			s.CustomAttrsFloat = map[string]float64{}
		}
		s.CustomAttrsFloat[key] = f
	case pcommon.ValueTypeBytes:
		w.putString(key, base64.StdEncoding.EncodeToString(v.Bytes().AsRaw()), true)
	case pcommon.ValueTypeSlice:
		if v.Slice().Len() == 0 {
			return
		}
		w.putString(key, marshalJSON(rawValue(v)), own)
	default:
		return
	}
	w.count++
}

// putString puts a string value, cut at the byte cap unless whole is set.
func (w *customWriter) putString(key, str string, whole bool) {
	if !whole && len(str) > w.maxBytes {
		str = cutUTF8(str, w.maxBytes) + TruncationMarker
		w.truncated++
	}
	if w.s.CustomAttrsString == nil {
		w.s.CustomAttrsString = map[string]string{}
	}
	w.s.CustomAttrsString[key] = str
}

// cutUTF8 cuts s to at most n bytes without splitting a rune.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
