package sqlite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// history is the JSON of n chat messages, as instrumentations put into
// gen_ai.input.messages.
func history(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	var msgs []map[string]any
	for i := range n {
		var words []string
		for range 20 + r.IntN(60) {
			words = append(words, fmt.Sprintf("w%d", r.IntN(500)))
		}
		msgs = append(msgs, map[string]any{"role": []string{"user", "assistant"}[i%2],
			"parts": []map[string]any{{"type": "text", "content": strings.Join(words, " ") + "\n\"quoted\" \\ é"}}})
	}
	b, _ := json.Marshal(msgs)
	return string(b)
}

// rawSpan is an OTLP/JSON span carrying value as gen_ai.input.messages.
func rawSpan(id int, value string) []byte {
	v, _ := json.Marshal(value)
	return []byte(fmt.Sprintf(`{"traceId":"%032x","spanId":"%016x","name":"chat m","attributes":[{"key":"gen_ai.input.messages","value":{"stringValue":%s}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"%d"}}]}`, id, id, v, id))
}

func TestChunkEnds(t *testing.T) {
	cases := []struct {
		name string
		n    int
	}{
		{"empty", 0},
		{"shorter than the minimum", chunkMin - 1},
		{"one maximum", chunkMax},
		{"long", 200_000},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, tc.n)
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
			ends := chunkEnds(b)
			start := 0
			for i, end := range ends {
				size := end - start
				if size > chunkMax || size <= 0 || (size < chunkMin && i < len(ends)-1) {
					t.Errorf("chunk %d: got %d bytes, want %d to %d (or a shorter last one)", i, size, chunkMin, chunkMax)
				}
				start = end
			}
			if start != tc.n {
				t.Errorf("chunks cover %d bytes, want %d", start, tc.n)
			}
		})
	}
}

// TestChunksShared checks what raw_span storage relies on: a string that
// extends another is cut the same way over their common prefix, so it
// shares every chunk but the last ones.
func TestChunksShared(t *testing.T) {
	short := []byte(history(40))
	long := []byte(history(60)) // the same 40 messages and 20 more
	if !bytes.HasPrefix(long, short[:len(short)-1]) {
		t.Fatal("test data: the longer history does not extend the shorter")
	}
	a, b := chunkEnds(short), chunkEnds(long)
	shared := 0
	for shared < len(a) && shared < len(b) && a[shared] == b[shared] {
		shared++
	}
	if shared < len(a)-1 {
		t.Errorf("shared chunks: got %d of %d, want all but the last", shared, len(a))
	}
	if avg := len(long) / len(b); avg < chunkMin || avg > 4*(int(chunkMask)+1) {
		t.Errorf("average chunk: got %d bytes, want about %d", avg, chunkMin+int(chunkMask)+1)
	}
}

// TestChunkMemo checks that chunking with the memo of earlier strings cuts
// and hashes exactly as chunking from scratch, whatever the earlier
// strings were.
func TestChunkMemo(t *testing.T) {
	h := func(n int) []byte { return []byte(history(n)) }
	edited := h(50)
	edited[3000] ^= 1 // same first chunk, differs later
	cases := []struct {
		name string
		seq  [][]byte // chunked in order with one memo; each checked
	}{
		{"growing history", [][]byte{h(10), h(11), h(12), h(30), h(31)}},
		{"shrinking history", [][]byte{h(40), h(20), h(5)}},
		{"same first chunk, different later", [][]byte{h(50), edited, h(60)}},
		{"the same string twice", [][]byte{h(25), h(25)}},
		{"one chunk only", [][]byte{[]byte(strings.Repeat("x", heavyMin)), []byte(strings.Repeat("x", heavyMin+3))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m chunkMemo
			for i, body := range tc.seq {
				got, want := m.chunk(body), (*chunkMemo)(nil).chunk(body)
				if len(got) != len(want) {
					t.Fatalf("string %d: got %d chunks, want %d", i, len(got), len(want))
				}
				for j := range got {
					if got[j].d != want[j].d || !bytes.Equal(got[j].data, want[j].data) {
						t.Fatalf("string %d chunk %d: got %d bytes %x, want %d bytes %x", i, j, len(got[j].data), got[j].d[:4], len(want[j].data), want[j].d[:4])
					}
				}
			}
		})
	}
}

// assembleWithIDs stores parts' chunks under made-up ids (as the store
// would) and assembles them again, with the span's tool-call result and
// arguments.
func assembleWithIDs(t *testing.T, parts []rawPart, result, args string) []byte {
	t.Helper()
	f := &rawForm{}
	chunks := map[int64][]byte{}
	pages := map[int64][]int64{}
	next := int64(1)
	for _, p := range parts {
		if p.field != rawNoField {
			f.parts = append(f.parts, storedPart{field: p.field})
			continue
		}
		if p.chunks == nil {
			f.parts = append(f.parts, storedPart{lit: p.lit})
			continue
		}
		sp := storedPart{chunk: true}
		var ids []int64
		for _, c := range p.chunks {
			chunks[next] = c.data
			ids = append(ids, next)
			next++
		}
		for len(ids) >= chunkPageSize {
			pages[next] = ids[:chunkPageSize]
			sp.pages = append(sp.pages, next)
			next++
			ids = ids[chunkPageSize:]
		}
		sp.tail = ids
		f.parts = append(f.parts, sp)
	}
	// Through the details encoding, as stored.
	x, err := decodeDetails(details{rawForm: f}.encode())
	if err != nil {
		t.Fatalf("decodeDetails: %v", err)
	}
	got, err := x.rawForm.assemble(pages, chunks, result, args)
	if err != nil {
		t.Fatalf("assemble: %v", err)
	}
	return got
}

// toolSpan is the raw span of an execute_tool span with these arguments
// and result.
func toolSpan(args, result string) []byte {
	a, _ := json.Marshal(args)
	r, _ := json.Marshal(result)
	return []byte(fmt.Sprintf(`{"name":"execute_tool Bash","attributes":[{"key":"gen_ai.tool.call.arguments","value":{"stringValue":%s}},{"key":"gen_ai.tool.call.result","value":{"stringValue":%s}}]}`, a, r))
}

func TestSplitRaw(t *testing.T) {
	long := history(30)
	// A tool's output, with what JSON escapes (newlines, quotes,
	// backslashes, non-ASCII), and arguments as long.
	output := strings.Repeat("total 12\n-rw-r--r-- \"x\" ü\\ ", 80)
	argsJSON := `{"command":"` + strings.Repeat("ls -la ", 200) + `"}`
	cases := []struct {
		name         string
		raw          []byte
		result, args string // the span's tool-call texts
		chunked      int    // long strings chunked; 0: stored verbatim
		fields       int    // long strings that are the span's texts
	}{
		{"short span", []byte(`{"traceId":"ab","name":"chat"}`), "", "", 0, 0},
		{"long span, short strings", []byte(`{"a":[` + strings.Repeat(`"0123456789",`, 200) + `"x"]}`), "", "", 0, 0},
		{"one long attribute", rawSpan(1, long), "", "", 1, 0},
		{"a long key and a long value", []byte(`{"` + strings.Repeat("k", heavyMin) + `":"` + strings.Repeat("v", 3*heavyMin) + `"}`), "", "", 2, 0},
		{"escapes at the limit", []byte(`{"a":"` + strings.Repeat(`\"`, heavyMin/2) + `"}`), "", "", 1, 0},
		{"a string one short of the limit", []byte(`{"a":"` + strings.Repeat("x", heavyMin-1) + `"}`), "", "", 0, 0},
		{"many pages of chunks", rawSpan(2, history(3000)), "", "", 1, 0},
		{"the tool result", toolSpan(`{"command":"ls"}`, output), output, `{"command":"ls"}`, 0, 1},
		{"the tool result and arguments", toolSpan(argsJSON, output), output, argsJSON, 0, 2},
		{"a long string that is not the span's text", toolSpan(argsJSON, output), output + " ", argsJSON + " ", 2, 0},
		// normalize writes U+2028 as \u2028, as encodeJSONString does; a
		// client may have written it as is, or \b as \u0008: chunked.
		{"the result written otherwise", []byte(`{"r":"` + strings.Repeat(`a\u0008`, heavyMin) + `"}`), strings.Repeat("a\b", heavyMin), "", 1, 0},
		{"a result too short to be a long string", toolSpan("", strings.Repeat("y", heavyMin-1)), strings.Repeat("y", heavyMin-1), "", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !json.Valid(tc.raw) {
				t.Fatal("test data: not JSON")
			}
			parts := splitRaw(tc.raw, newRawTexts(tc.result, tc.args), nil)
			chunked, fields := 0, 0
			for _, p := range parts {
				if p.chunks != nil {
					chunked++
				}
				if p.field != rawNoField {
					fields++
				}
			}
			if chunked != tc.chunked || fields != tc.fields || (chunked+fields == 0) != (parts == nil) {
				t.Fatalf("splitRaw: got %d chunked strings and %d texts in %d parts, want %d and %d", chunked, fields, len(parts), tc.chunked, tc.fields)
			}
			if parts == nil {
				return
			}
			if got := assembleWithIDs(t, parts, tc.result, tc.args); !bytes.Equal(got, tc.raw) {
				t.Errorf("round trip: got %d bytes, want the %d written", len(got), len(tc.raw))
			}
		})
	}
}

// FuzzSplitRaw checks that any JSON raw span comes back byte for byte.
// The chunking parameters are scaled down 32 times: inputs of a few
// hundred bytes reach every path (long strings, several chunks, cuts at
// the maximum, the memo), so a fuzzing run does thousands of inputs a
// second instead of spending minutes minimizing multi-KiB ones.
func FuzzSplitRaw(f *testing.F) {
	h, cmin, cmax, mask := heavyMin, chunkMin, chunkMax, chunkMask
	heavyMin, chunkMin, chunkMax, chunkMask = 32, 8, 256, 1<<5-1
	f.Cleanup(func() { heavyMin, chunkMin, chunkMax, chunkMask = h, cmin, cmax, mask })
	f.Add(rawSpan(1, history(1)))
	f.Add([]byte(`{"a":"` + strings.Repeat(`\\\"x`, heavyMin) + `"}`))
	f.Add([]byte(`["` + strings.Repeat("é", heavyMin) + `",1,{"b":"` + strings.Repeat("\\u2028", heavyMin/3) + `"}]`))
	var memo chunkMemo // shared by the inputs, as by a store's writes
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // ValidateSpan refuses it before it gets here
		}
		// The span's texts: what the first long enough string decodes to
		// (it is then stored as that text when encodeJSONString gives its
		// bytes back), and the input as a string.
		var texts [2]string
		if i := bytes.IndexByte(raw, '"'); i >= 0 {
			if j := bytes.IndexByte(raw[i+1:], '"'); j >= 0 {
				_ = json.Unmarshal(raw[i:i+j+2], &texts[0])
			}
		}
		texts[1] = string(raw)
		rt := newRawTexts(texts[0], texts[1])
		parts := splitRaw(raw, rt, &memo)
		if parts == nil {
			return
		}
		if got := assembleWithIDs(t, parts, texts[0], texts[1]); !bytes.Equal(got, raw) {
			t.Fatalf("round trip: got %q, want %q", got, raw)
		}
		fresh := splitRaw(raw, rt, nil)
		for i := range parts {
			if len(parts[i].chunks) != len(fresh[i].chunks) {
				t.Fatalf("part %d: got %d chunks with the memo, %d without", i, len(parts[i].chunks), len(fresh[i].chunks))
			}
			for j, c := range parts[i].chunks {
				if c.d != fresh[i].chunks[j].d {
					t.Fatalf("part %d chunk %d: digests differ with and without the memo", i, j)
				}
			}
		}
	})
}
