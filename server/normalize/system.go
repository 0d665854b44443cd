package normalize

import (
	"strings"

	"github.com/weavetrace/weave/server/model"
)

// This file reads system instructions.

// systemTexts reads system instructions: a parts list, a plain string, a
// JSON string of either, an Anthropic system-block list or a Gemini
// Content.
func systemTexts(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if d, ok := decodeMaybeJSON(x); ok {
			if s, isStr := d.(string); !isStr || s != x {
				return systemTexts(d)
			}
		}
		if strings.TrimSpace(x) == "" {
			return nil
		}
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			switch y := e.(type) {
			case string:
				if y != "" {
					out = append(out, y)
				}
			case map[string]any:
				if p, ok := parsePart(y, 0); ok && p.Type == model.PartText && p.Content != "" {
					out = append(out, p.Content)
				} else if inner := systemTexts(y["parts"]); len(inner) > 0 {
					out = append(out, inner...)
				}
			}
		}
		return out
	case map[string]any:
		if parts, ok := x["parts"]; ok {
			return systemTexts(parts)
		}
		if t := firstRawStr(x, "content", "text"); t != "" {
			return []string{t}
		}
	}
	return nil
}

// systemFromMessages returns the text of system-role messages.
func systemFromMessages(msgs []model.Message) []string {
	var out []string
	for _, m := range msgs {
		if m.Role != "system" {
			continue
		}
		if t := m.Text(); t != "" {
			out = append(out, t)
		}
	}
	return out
}
