package transcript

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weavetrace/weave/internal/fixtures"
)

const (
	userLine = `{"type":"user","uuid":"u1","sessionId":"s1","promptId":"p1","timestamp":"2026-01-01T00:00:00.000Z","message":{"role":"user","content":"hello"}}`
	asstLine = `{"type":"assistant","uuid":"a1","sessionId":"s1","timestamp":"2026-01-01T00:00:01.000Z","message":{"id":"msg_1","role":"assistant","model":"claude-x","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}}`
)

func decodeString(t *testing.T, in string, final bool) ([]*Line, *Decoder) {
	t.Helper()
	d := NewDecoder(strings.NewReader(in), 0)
	d.Final = final
	var out []*Line
	for {
		l, err := d.Next()
		if errors.Is(err, io.EOF) {
			return out, d
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, l)
	}
}

func TestDecoder(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		final      bool
		wantLines  int
		wantOffset int
		wantStats  Stats
	}{
		{"two lines", userLine + "\n" + asstLine + "\n", false, 2, len(userLine) + len(asstLine) + 2, Stats{Lines: 2}},
		{"malformed line skipped", userLine + "\n{not json\n" + asstLine + "\n", false, 2, len(userLine) + len(asstLine) + 12, Stats{Lines: 2, Malformed: 1}},
		{"non-object line", "[1,2]\n\"str\"\n" + userLine + "\n", false, 1, len(userLine) + 13, Stats{Lines: 1, Malformed: 2}},
		{"blank lines", "\n\n" + userLine + "\n  \n", false, 1, len(userLine) + 6, Stats{Lines: 1, Blank: 3}},
		{"partial last line held back", userLine + "\n" + asstLine[:40], false, 1, len(userLine) + 1, Stats{Lines: 1}},
		{"complete last line without newline held back while tailing", userLine + "\n" + asstLine, false, 1, len(userLine) + 1, Stats{Lines: 1}},
		{"final file: last line without newline decoded", userLine + "\n" + asstLine, true, 2, len(userLine) + len(asstLine) + 1, Stats{Lines: 2}},
		{"final file: truncated last line not decoded", userLine + "\n" + asstLine[:40], true, 1, len(userLine) + 1, Stats{Lines: 1, Malformed: 1}},
		{"unknown kinds and fields", `{"type":"api-request-blob","hash":"x","weird":[1,{"a":2}]}` + "\n" + userLine + "\n", false, 2, len(userLine) + 60, Stats{Lines: 2}},
		{"crlf", userLine + "\r\n", false, 1, len(userLine) + 2, Stats{Lines: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines, d := decodeString(t, tc.in, tc.final)
			if len(lines) != tc.wantLines {
				t.Errorf("got %d lines, want %d", len(lines), tc.wantLines)
			}
			if got := d.Offset(); got != int64(tc.wantOffset) {
				t.Errorf("Offset() = %d, want %d", got, tc.wantOffset)
			}
			if got := d.Stats(); got != tc.wantStats {
				t.Errorf("Stats() = %+v, want %+v", got, tc.wantStats)
			}
		})
	}
}

func TestDecoderOffsetsAndResume(t *testing.T) {
	in := userLine + "\n" + "garbage\n" + asstLine + "\n"
	lines, _ := decodeString(t, in, false)
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	for _, l := range lines {
		if got := in[l.Offset:l.End]; !strings.HasSuffix(got, "\n") || !strings.HasPrefix(got, "{") {
			t.Errorf("line [%d,%d) = %q, want a whole line", l.Offset, l.End, got)
		}
	}
	// Resume from the second line's offset as a tailer would.
	d := NewDecoder(strings.NewReader(in[lines[1].Offset:]), lines[1].Offset)
	l, err := d.Next()
	if err != nil || l.UUID != "a1" || l.Offset != lines[1].Offset {
		t.Fatalf("resume: got %+v, %v; want a1 at %d", l, err, lines[1].Offset)
	}
	// Tailing: a partial line completes later.
	partial := userLine + "\n" + asstLine[:30]
	_, d = decodeString(t, partial, false)
	off := d.Offset()
	full := userLine + "\n" + asstLine + "\n"
	d2 := NewDecoder(strings.NewReader(full[off:]), off)
	l, err = d2.Next()
	if err != nil || l.UUID != "a1" {
		t.Fatalf("after the line completed: got %v, %v; want a1", l, err)
	}
}

func TestDecoderLongLines(t *testing.T) {
	big := strings.Repeat("x", 5<<20) // a 5 MiB tool output
	long := `{"type":"user","uuid":"big","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"` + big + `"}]}}`
	in := userLine + "\n" + long + "\n" + asstLine + "\n"
	lines, d := decodeString(t, in, false)
	if len(lines) != 3 || lines[1].UUID != "big" {
		t.Fatalf("got %d lines, want 3 with the long one in the middle", len(lines))
	}
	if got := ContentText(mustBlocks(t, lines[1])[0].Content); len(got) != len(big) {
		t.Errorf("long content: got %d bytes, want %d", len(got), len(big))
	}
	if d.Offset() != int64(len(in)) {
		t.Errorf("Offset() = %d, want %d", d.Offset(), len(in))
	}

	// Past the cap: skipped and counted, neighbours intact.
	d = NewDecoder(strings.NewReader(in), 0)
	d.MaxLine = 1 << 20
	var got []string
	for {
		l, err := d.Next()
		if err != nil {
			break
		}
		got = append(got, l.UUID)
	}
	if strings.Join(got, ",") != "u1,a1" || d.Stats().TooLong != 1 {
		t.Errorf("with a 1 MiB cap: got lines %v stats %+v, want u1,a1 and TooLong=1", got, d.Stats())
	}
	if d.Offset() != int64(len(in)) {
		t.Errorf("Offset() after a too-long line = %d, want %d", d.Offset(), len(in))
	}
}

func mustBlocks(t *testing.T, l *Line) []Block {
	t.Helper()
	b, _ := l.Message.Blocks()
	if len(b) == 0 {
		t.Fatal("no blocks")
	}
	return b
}

func TestOpenRefusesSymlinksAndNonRegular(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.jsonl")
	if err := os.WriteFile(real, []byte(userLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(link); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Open(symlink) = %v, want ErrNotRegular", err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Open(dir) = %v, want ErrNotRegular", err)
	}
	f, err := Open(real)
	if err != nil {
		t.Fatalf("Open(regular) = %v", err)
	}
	f.Close()
}

// FuzzDecoder: arbitrary bytes never crash the decoder, offsets stay within
// the input and increase, and every returned line spans whole bytes of it.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte(userLine + "\n" + asstLine + "\n"))
	f.Add([]byte("{\"type\":\"user\",\"message\":{\"content\":[{\"type\":\"tool_result\",\"content\":[1]}]}}\n{"))
	f.Add([]byte("\n\n\r\n{}\n[]\nnull\n"))
	f.Add([]byte(`{"type":"assistant","message":{"id":"m","content":"str","usage":{"input_tokens":"x"}}}` + "\n"))
	files, _ := filepath.Glob(filepath.Join(fixtures.Path(f, fixtures.ClaudeCode2197), "*", "projects", "*", "*.jsonl"))
	if len(files) < 3 {
		f.Fatalf("got %d recorded transcripts for the seed corpus, want at least 3", len(files))
	}
	for _, p := range files[:3] {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, final := range []bool{false, true} {
			d := NewDecoder(bytes.NewReader(in), 0)
			d.Final = final
			d.MaxLine = 1 << 16
			var last int64
			b := NewBuilder("/x/s.jsonl")
			for {
				l, err := d.Next()
				if err != nil {
					break
				}
				if l.Offset < last || l.End <= l.Offset || l.End > int64(len(in)) {
					t.Fatalf("bad line span [%d,%d) after %d, len %d", l.Offset, l.End, last, len(in))
				}
				last = l.End
				b.Add(l)
			}
			if d.Offset() > int64(len(in)) || d.Offset() < last {
				t.Fatalf("Offset %d out of range (last %d, len %d)", d.Offset(), last, len(in))
			}
			s := b.Finish()
			Link(s)
		}
	})
}
