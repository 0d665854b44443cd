package textsearch

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzJSONText holds jsonText to what it replaced, encoding/json's
// Decoder tokens (jsonTextDecoder), on every valid JSON document.
func FuzzJSONText(f *testing.F) {
	for _, s := range []string{`{"command":"ls -la\n","timeout":120000,"ok":true,"x":null}`, `["a","",1.5e-3,-0,false,{"k":[]}]`,
		`"just a string"`, `{"é":"ü日本","esc":"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t","bad":"\ud800"}`, "[\"\xff\xfe\"]", ` { "a" : [ 1 , 2 ] } `, `{"":""}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		if !json.Valid([]byte(doc)) {
			return // IndexText decodes only valid documents
		}
		got, gotOK := jsonText(doc)
		want, wantOK := jsonTextDecoder(doc)
		if got != want || gotOK != wantOK {
			t.Fatalf("jsonText(%q) = %q, %v; the decoder's tokens give %q, %v", doc, got, gotOK, want, wantOK)
		}
	})
}

// BenchmarkJSONText: a tool call's arguments, as search indexes them.
func BenchmarkJSONText(b *testing.B) {
	doc := `{"command":"go test -run TestStore ./server/store/... 2>&1 | tail -20","description":"Run the store tests\nand show the end","timeout":120000}`
	for _, bc := range []struct {
		name string
		f    func(string) (string, bool)
	}{{"jsonText", jsonText}, {"decoder", jsonTextDecoder}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				bc.f(doc)
			}
		})
	}
}

// jsonTextDecoder is jsonText as it was, through encoding/json's
// Decoder: the reference FuzzJSONText compares with.
func jsonTextDecoder(doc string) (string, bool) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var b strings.Builder
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", false
		}
		var s string
		switch v := tok.(type) {
		case string:
			s = v
		case json.Number:
			s = v.String()
		case bool:
			if v {
				s = "true"
			} else {
				s = "false"
			}
		default: // delimiters and null
			continue
		}
		if s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s)
		if b.Len() > MaxIndexedBytes {
			break
		}
	}
	return b.String(), true
}
