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

// BenchmarkAppend: prose of a tool's output, a newline every 70 bytes or
// so, some non-ASCII.
func BenchmarkAppend(b *testing.B) {
	s := strings.Repeat("the build failed: expected 3 rows, got 2 (see tests/store_test.go:41).\n", 30) + "é ü 日本"
	b.SetBytes(int64(len(s)))
	buf := make([]byte, 0, 2*len(s))
	for b.Loop() {
		buf = Append(buf[:0], s)
	}
}
