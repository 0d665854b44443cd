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
	// values is a span with many short values (ids, numbers, flags,
	// nested attribute lists) rather than one long string.
	values := []byte(`{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","kind":1,"attributes":[` +
		strings.Repeat(`{"key":"gen_ai.usage.input_tokens","value":{"intValue":"21000"}},{"key":"ok","value":{"boolValue":true}},{"key":"x","value":{"doubleValue":-1.5e3,"n":null}},`, 30) +
		`{"key":"k","value":{"arrayValue":{"values":[]}}}],"status":{}}`)
	for _, in := range []struct {
		name string
		raw  []byte
	}{{"", raw}, {"values/", values}} {
		if !json.Valid(in.raw) || !validJSON(in.raw) {
			b.Fatalf("benchmark input %q is not valid JSON", in.name)
		}
		b.Run(in.name+"validJSON", func(b *testing.B) {
			b.SetBytes(int64(len(in.raw)))
			for b.Loop() {
				validJSON(in.raw)
			}
		})
		b.Run(in.name+"json.Valid", func(b *testing.B) {
			b.SetBytes(int64(len(in.raw)))
			for b.Loop() {
				json.Valid(in.raw)
			}
		})
	}
}
