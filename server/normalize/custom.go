package normalize

import (
	"encoding/base64"
	"math"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
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
	maxAttrs, maxBytes := opts.MaxCustomAttrs, opts.MaxCustomValueBytes
	if maxAttrs <= 0 {
		maxAttrs = DefaultMaxCustomAttrs
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxCustomValueBytes
	}
	s := c.out
	count, dropped, truncated := 0, 0, 0
	put := func(key string, v pcommon.Value) {
		own := strings.HasPrefix(key, "weave.")
		if !own && count >= maxAttrs {
			dropped++
			return
		}
		switch v.Type() {
		case pcommon.ValueTypeStr:
			str := v.Str()
			if strings.TrimSpace(str) == "" {
				return
			}
			if !own && len(str) > maxBytes {
				str = cutUTF8(str, maxBytes) + TruncationMarker
				truncated++
			}
			if s.CustomAttrsString == nil {
				s.CustomAttrsString = map[string]string{}
			}
			s.CustomAttrsString[key] = str
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
			if s.CustomAttrsString == nil {
				s.CustomAttrsString = map[string]string{}
			}
			s.CustomAttrsString[key] = base64.StdEncoding.EncodeToString(v.Bytes().AsRaw())
		case pcommon.ValueTypeSlice:
			if v.Slice().Len() == 0 {
				return
			}
			str := marshalJSON(rawValue(v))
			if !own && len(str) > maxBytes {
				str = cutUTF8(str, maxBytes) + TruncationMarker
				truncated++
			}
			if s.CustomAttrsString == nil {
				s.CustomAttrsString = map[string]string{}
			}
			s.CustomAttrsString[key] = str
		default:
			return
		}
		count++
	}
	var walk func(prefix string, v pcommon.Value, depth int)
	walk = func(prefix string, v pcommon.Value, depth int) {
		if v.Type() == pcommon.ValueTypeMap && depth < maxDepth {
			for k, e := range v.Map().All() {
				walk(prefix+"."+k, e, depth+1)
			}
			return
		}
		put(prefix, v)
	}
	if n := c.scope.Name(); n != "" {
		put(KeyScopeName, pcommon.NewValueStr(n))
	}
	if v := c.scope.Version(); v != "" {
		put(KeyScopeVersion, pcommon.NewValueStr(v))
	}
	for _, k := range c.a.keys {
		if c.a.used[k] {
			continue
		}
		walk(k, c.a.vals[k], 0)
	}
	if dropped > 0 {
		if s.CustomAttrsInt == nil {
			s.CustomAttrsInt = map[string]int64{}
		}
		s.CustomAttrsInt[KeyDroppedCustomAttrs] = int64(dropped)
	}
	if dropped > 0 || truncated > 0 {
		c.warn(CodeCustomTruncated, "%d custom attributes dropped past the cap of %d, %d values cut at %d bytes", dropped, maxAttrs, truncated, maxBytes)
	}
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
