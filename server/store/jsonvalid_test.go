package store

import (
	"encoding/json"
	"strings"
	"testing"
)

var validJSONSeeds = []string{
	`{}`, `[]`, ` {"a":1} `, `{"a":[1,2,{"b":null}],"c":"x\"y\\z\u00e9\n"}`, `"s"`, `0`, `-0.5e+10`, `1E5`, `true`, `false`, `null`,
	`{"a":1,}`, `[1,]`, `{"a" 1}`, `{a:1}`, `01`, `1.`, `.5`, `-`, `1e`, `"\x"`, `"\u12G4"`, "\"tab\there\"", `[1 2]`, `{"a":1}{}`,
	`tru`, `nul`, `[`, `{"a":`, `"unterminated`, ``, ` `, `{"a":{"b":{"c":[[[]]]}}}`, "[\"\xff\xfe\"]", `{"":""}`, `[{},[]]`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
}

func TestValidJSON(t *testing.T) {
	for _, s := range validJSONSeeds {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%.60q) = %v, json.Valid %v", s, got, want)
		}
	}
}

// FuzzValidJSON: validJSON agrees with encoding/json.Valid on every input.
func FuzzValidJSON(f *testing.F) {
	for _, s := range validJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid %v", b, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	raw := []byte(`{"name":"chat gpt-4o","attributes":{"gen_ai.input.messages":"` + strings.Repeat(`[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"fix the bug in the parser please\"}]}]`, 40) + `","n":12345,"ok":true}}`)
	b.Run("validJSON", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			validJSON(raw)
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			json.Valid(raw)
		}
	})
}
