package textsearch

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/weavetrace/weave/server/store"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, q string
		want    string // Query.String(), "" for an error
	}{
		{"words", "payment handler", `"payment" "handler"`},
		{"case and diacritics folded", "PÄYMENT Héllo", `"payment" "hello"`},
		{"phrase", `"payment handler" retry`, `"payment handler" "retry"`},
		{"unterminated phrase runs to the end", `retry "payment handler`, `"retry" "payment handler"`},
		{"punctuation splits a word into a phrase", "module.go foo_bar", `"module go" "foo bar"`},
		{"operators are words", "NOT payment AND x OR y", `"not" "payment" "and" "x" "or" "y"`},
		{"syntax characters are separators", `hand* -x col:y (z) ^w`, `"hand" "x" "col y" "z" "w"`},
		{"empty phrase dropped", `"" payment`, `"payment"`},
		{"digits", "error 404", `"error" "404"`},
		{"cjk", "日本語 テスト", `"日本語" "テスト"`},
		{"empty", "", ""},
		{"blank", "  \t\n", ""},
		{"only punctuation", "!!! ... ***", ""},
		{"too many terms", strings.Repeat("a ", MaxTerms+1), ""},
		{"too long", strings.Repeat("x", MaxQueryBytes+1), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Parse(tc.q)
			if tc.want == "" {
				if !errors.Is(err, store.ErrInvalid) {
					t.Errorf("Parse(%q): got %v, %v, want an error wrapping store.ErrInvalid", tc.q, q, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): got error %v, want %s", tc.q, err, tc.want)
			}
			if got := q.String(); got != tc.want {
				t.Errorf("Parse(%q) = %s, want %s", tc.q, got, tc.want)
			}
		})
	}
}

func TestIndexText(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"plain text unchanged", "hello \"world\"\nbye", "hello \"world\"\nbye"},
		{"json object: keys and values, escapes decoded", `{"stdout":"line one\nPAYMENT ok","exit_code":0,"ok":true,"n":null}`,
			"stdout\nline one\nPAYMENT ok\nexit_code\n0\nok\ntrue\nn"},
		{"json string", `"a\tb"`, "a\tb"},
		{"json array", `[1, "x", {"k": "v"}]`, "1\nx\nk\nv"},
		{"invalid json kept", `{"a":`, `{"a":`},
		{"text that starts like json", `{not json} at all`, `{not json} at all`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := IndexText(tc.in); got != tc.want {
				t.Errorf("IndexText(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	long := strings.Repeat("é", MaxIndexedBytes) // 2 bytes each
	got := IndexText(long)
	if len(got) > MaxIndexedBytes || !utf8.ValidString(got) {
		t.Errorf("IndexText(long): got %d bytes (valid UTF-8: %v), want ≤ %d and valid", len(got), utf8.ValidString(got), MaxIndexedBytes)
	}
}

func TestTokenize(t *testing.T) {
	got := Tokenize("Héllo, wörld_42 — x")
	want := []Token{{0, 6, "hello"}, {8, 14, "world"}, {15, 17, "42"}, {22, 23, "x"}}
	if len(got) != len(want) {
		t.Fatalf("Tokenize: got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("Tokenize token %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestSnippet(t *testing.T) {
	long := strings.Repeat("filler words here ", 30)
	cases := []struct {
		name, text, q, want string
	}{
		{"short text, both words", "Please refactor the payment processor to use retries.", "processor payment",
			"Please refactor the «payment» «processor» to use retries."},
		{"adjacent matches stay separate", "cache cache token", "token cache", "«cache» «cache» «token»"},
		{"phrase marked as one", "the payment processor failed", `"payment processor"`, "the «payment processor» failed"},
		{"case-insensitive, original case kept", "PAYMENT Gateway", "payment", "«PAYMENT» Gateway"},
		{"whitespace collapsed", "line one\n\n\tPAYMENT  ok", "ok", "line one PAYMENT «ok»"},
		{"marks in the text neutralized", "a «quoted» word", "word", "a ‹quoted› «word»"},
		{"cut on both sides", long + "the needle is here " + long, "needle",
			"…filler words here the «needle» is here filler words here filler words here filler words here filler words here filler words here filler words…"},
		{"no match: the beginning", "nothing relevant in this text", "zebra", "nothing relevant in this text"},
		{"json body", `{"stdout":"line one\nPAYMENT ok"}`, "payment", "stdout line one «PAYMENT» ok"},
		{"best cluster wins", "alpha " + long + " alpha beta gamma", "alpha beta gamma", "…here filler words here «alpha» «beta» «gamma»"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Parse(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := Snippet(tc.text, q); got != tc.want {
				t.Errorf("Snippet(%.40q, %q) =\n%q\nwant\n%q", tc.text, tc.q, got, tc.want)
			}
		})
	}
}

func TestSnippetBounded(t *testing.T) {
	q, _ := Parse("x")
	huge := strings.Repeat("y", 5000) + " x " + strings.Repeat("z", 5000)
	got := Snippet(huge, q)
	if n := utf8.RuneCountInString(got); n > snippetMaxRunes+2 || !strings.Contains(got, "«x»") {
		t.Errorf("Snippet(huge words): got %d runes %q, want ≤ %d with «x»", n, got, snippetMaxRunes+2)
	}
}

// FuzzSnippet checks that any text and query give a bounded, valid UTF-8
// excerpt with balanced marks, and never panic.
func FuzzSnippet(f *testing.F) {
	f.Add("Please refactor the payment processor to use retries.", "payment processor")
	f.Add(`{"stdout":"line one\nPAYMENT ok","exit_code":0}`, `"line one" ok`)
	f.Add("«» « » »«", "x")
	f.Add("日本語のテキスト テスト", "テスト")
	f.Add("a a a a a", `"a a"`)
	f.Fuzz(func(t *testing.T, text, query string) {
		q, err := Parse(query)
		if err != nil {
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrInvalid", query, err)
			}
			return
		}
		s := Snippet(text, q)
		if utf8.ValidString(text) && !utf8.ValidString(s) {
			t.Fatalf("Snippet gave invalid UTF-8 %q", s)
		}
		if utf8.RuneCountInString(s) > snippetMaxRunes+2 {
			t.Fatalf("Snippet gave %d runes", utf8.RuneCountInString(s))
		}
		if strings.Count(s, MarkOpen) != strings.Count(s, MarkClose) {
			t.Fatalf("Snippet %q: unbalanced marks", s)
		}
	})
}

// FuzzParse checks that Parse never panics, that its terms are made of
// normalized word tokens, and that String round-trips.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"payment handler", `"a b" c`, `"unterminated`, "NOT x", "***", "é日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := Parse(query)
		if err != nil {
			return
		}
		for _, term := range q.Terms {
			if len(term.Tokens) == 0 {
				t.Fatalf("Parse(%q): empty term", query)
			}
			for _, tok := range term.Tokens {
				for _, r := range tok {
					if !IsWordRune(r) {
						t.Fatalf("Parse(%q): token %q has a separator %q", query, tok, r)
					}
				}
			}
		}
		again, err := Parse(q.String())
		if err != nil || !again.Equal(q) {
			t.Fatalf("Parse(String()) of %q: got %v, %v, want %v", query, again, err, q)
		}
	})
}

// wordsByTokenize is AppendWords's reference: Tokenize's normalized words.
func wordsByTokenize(s string) string {
	var b strings.Builder
	for _, t := range Tokenize(s) {
		b.WriteString(t.Norm)
		b.WriteByte(' ')
	}
	return b.String()
}

func TestAppendWordsMatchesTokenize(t *testing.T) {
	for _, s := range []string{
		"", "   ", "Hello, World!", "go test ./server/... -run TestX_y2",
		"Crème Brûlée à la CAFÉ", "naïve façade — ÉLAN vital", "日本語のテキスト and ASCII",
		"mixedÜmlautWord", "tab\tnew\nline", "emoji 🙂 between", "bad \xff\xfe utf8 ok", "ǅungla Σίσυφος ΣΊΣΥΦΟΣ",
		"priv\ue000ate use", "digits ١٢٣ and 123", "end with word",
	} {
		if got, want := string(AppendWords(nil, s, ' ')), wordsByTokenize(s); got != want {
			t.Errorf("AppendWords(%q) = %q, want %q", s, got, want)
		}
	}
}

func FuzzAppendWords(f *testing.F) {
	for _, s := range []string{"Hello, World!", "Crème Brûlée", "bad \xff utf8", "日本語 text", "a_b.c-d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(AppendWords(nil, s, ' ')), wordsByTokenize(s); got != want {
			t.Errorf("AppendWords(%q) = %q, want %q", s, got, want)
		}
	})
}

func BenchmarkWords(b *testing.B) {
	text := strings.Repeat("The quick brown fox, jumps over: the_lazy dog 42 times.\n\tfunc main() { fmt.Println(\"hi\") } ", 20)
	b.Run("Tokenize", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			wordsByTokenize(text)
		}
	})
	b.Run("AppendWords", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		var buf []byte
		for b.Loop() {
			buf = AppendWords(buf[:0], text, ' ')
		}
	})
}
