package sqlite

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

func TestPreview(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"trimmed and collapsed", "  a \n\n b\tc  ", "a b c"},
		{"empty", " \n ", ""},
		{"exactly the limit", strings.Repeat("x", store.FirstPromptMaxRunes), strings.Repeat("x", store.FirstPromptMaxRunes)},
		{"cut with an ellipsis", strings.Repeat("é", store.FirstPromptMaxRunes+1), strings.Repeat("é", store.FirstPromptMaxRunes-1) + "…"},
		{"no space before the ellipsis", strings.Repeat("ab ", 200), strings.TrimRight(strings.Repeat("ab ", 200)[:store.FirstPromptMaxRunes-1], " ") + "…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := preview(tc.in)
			if got != tc.want {
				t.Errorf("preview(%.30q) = %q, want %q", tc.in, got, tc.want)
			}
			if utf8.RuneCountInString(got) > store.FirstPromptMaxRunes {
				t.Errorf("preview: %d runes, want ≤ %d", utf8.RuneCountInString(got), store.FirstPromptMaxRunes)
			}
		})
	}
	msgs := []model.Message{
		{Role: "user", Parts: []model.Part{{Type: model.PartText, Content: "first"}}},
		{Role: "assistant", Parts: []model.Part{{Type: model.PartText, Content: "answer"}}},
		{Role: "USER", Parts: []model.Part{{Type: model.PartToolCallResponse, ID: "x"}}},
		{Role: "user", Parts: []model.Part{{Type: model.PartText, Content: "second"}}},
		{Role: "tool", Parts: []model.Part{{Type: model.PartText, Content: "tool text"}}},
	}
	if got := promptPreview(msgs); got != "second" {
		t.Errorf("promptPreview: got %q, want the last user message with text, second", got)
	}
}

func TestBatchWinners(t *testing.T) {
	mk := func(id string, ended int64, tag string) *prepSpan {
		return &prepSpan{key: spanKey{"p", "t", id}, ended: ended, prompt: tag}
	}
	cases := []struct {
		name string
		in   []*prepSpan
		want string
	}{
		{"newest wins", []*prepSpan{mk("a", 1, "v1"), mk("a", 2, "v2")}, "a:v2"},
		{"finished not replaced by running", []*prepSpan{mk("a", 1, "fin"), mk("a", 0, "run")}, "a:fin"},
		{"running replaced by finished", []*prepSpan{mk("a", 0, "run"), mk("a", 1, "fin")}, "a:fin"},
		{"running replaced by running", []*prepSpan{mk("a", 0, "r1"), mk("a", 0, "r2")}, "a:r2"},
		{"first-appearance order kept", []*prepSpan{mk("b", 1, "b1"), mk("a", 1, "a1"), mk("b", 1, "b2")}, "b:b2 a:a1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range batchWinners(tc.in) {
				got = append(got, p.key.span+":"+p.prompt)
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("batchWinners: got %s, want %s", g, tc.want)
			}
		})
	}
}

func TestGid(t *testing.T) {
	k := groupKey{conv: 7, role: "user", text: 42}
	cases := []struct {
		name string
		at   int64
	}{
		{"epoch", 0},
		{"now-ish", 1_780_000_000_123_456_789},
		{"before 1970", -1_500},
		{"far future clamped", store.MaxTime.UnixNano()},
		{"far past clamped", store.MinTime.UnixNano()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for probe := int64(0); probe < 3; probe++ {
				g := gidFor(tc.at, k, probe)
				if g>>gidShift != gidMS(tc.at) {
					t.Errorf("gidFor(%d, probe %d) = %d: millisecond %d, want %d", tc.at, probe, g, g>>gidShift, gidMS(tc.at))
				}
			}
		})
	}
	// Later milliseconds sort after earlier ones whatever the hash bits.
	if a, b := gidFor(1_000_000, k, gidMask), gidFor(2_000_000, groupKey{conv: 1}, 0); a >= b {
		t.Errorf("gid order: %d (1 ms) ≥ %d (2 ms)", a, b)
	}
}
