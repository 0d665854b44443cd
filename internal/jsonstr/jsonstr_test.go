package jsonstr

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzAppend checks that Append writes what encoding/json writes with
// HTML escaping off (what the embedded store compared stored responses
// with before Append), and that it decodes back to the string (invalid
// UTF-8 aside, which becomes U+FFFD as in encoding/json).
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c\nd\re\tf\bg\fh\x00i\x1fj\x7f", "<>&", "é ü 日本", "\u2028\u2029", "\xff\xfe", "a\xe2\x80", strings.Repeat("x\n", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSuffix(b.String(), "\n")
		if got := string(Append(nil, s)); got != want {
			t.Fatalf("Append(%q) = %s, encoding/json writes %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(want), &back); err != nil || (utf8.ValidString(s) && back != s) {
			t.Fatalf("%s decodes to %q, %v; want %q", want, back, err, s)
		}
	})
}
