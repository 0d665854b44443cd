package transcript

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/internal/fixtures"
)

// The revision contract (Turn.Rev, ToolCall.Rev, Subagent.Rev) is what the
// live daemon trusts to rebuild only the turns that changed: a turn whose
// revision did not change must hold exactly what it held before, down to
// the last byte of every value it reaches. These tests check it line by
// line over every recorded transcript and over fuzzed input, with a digest
// that walks every field by reflection (unexported ones too), so a field
// added later is covered without anyone remembering to.

var revSeed = maphash.MakeSeed()

var timeType = reflect.TypeFor[time.Time]()

// deepDigest hashes everything reachable from v. Pointers are followed
// once (a second visit hashes the first visit's number, so cycles end and
// sharing counts).
func deepDigest(v any) uint64 {
	var h maphash.Hash
	h.SetSeed(revSeed)
	d := digester{h: &h, seen: map[uintptr]int{}}
	d.value(reflect.ValueOf(v))
	return h.Sum64()
}

type digester struct {
	h    *maphash.Hash
	seen map[uintptr]int
}

func (d *digester) num(v uint64) {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	d.h.Write(b[:])
}

func (d *digester) str(s string) {
	d.num(uint64(len(s)))
	d.h.WriteString(s)
}

func (d *digester) value(v reflect.Value) {
	d.num(uint64(v.Kind()))
	switch v.Kind() {
	case reflect.Invalid:
	case reflect.Pointer:
		if v.IsNil() {
			d.num(0)
			return
		}
		if n, ok := d.seen[v.Pointer()]; ok {
			d.num(uint64(n) + 1)
			return
		}
		d.seen[v.Pointer()] = len(d.seen) + 1
		d.num(math.MaxUint64)
		d.value(v.Elem())
	case reflect.Interface:
		if v.IsNil() {
			d.num(0)
			return
		}
		d.str(v.Elem().Type().String())
		d.value(v.Elem())
	case reflect.Struct:
		if v.Type() == timeType && v.CanInterface() {
			t := v.Interface().(time.Time)
			d.str(t.Format(time.RFC3339Nano))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			d.str(v.Type().Field(i).Name)
			d.value(v.Field(i))
		}
	case reflect.Slice:
		if v.IsNil() {
			d.num(0)
			return
		}
		d.num(uint64(v.Len()) + 1)
		if v.Type().Elem().Kind() == reflect.Uint8 {
			d.h.Write(v.Bytes())
			return
		}
		for i := 0; i < v.Len(); i++ {
			d.value(v.Index(i))
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			d.value(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() {
			d.num(0)
			return
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		d.num(uint64(len(keys)) + 1)
		for _, k := range keys {
			d.value(k)
			d.value(v.MapIndex(k))
		}
	case reflect.String:
		d.str(v.String())
	case reflect.Bool:
		if v.Bool() {
			d.num(1)
		} else {
			d.num(0)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.num(uint64(v.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		d.num(v.Uint())
	case reflect.Float32, reflect.Float64:
		d.num(math.Float64bits(v.Float()))
	default:
		panic(fmt.Sprintf("deepDigest: %s not handled", v.Kind()))
	}
}

// revWatch remembers, for every turn and tool call of a Builder, its
// revision and digest, and reports what changed without a new revision.
type revWatch struct {
	turns map[*Turn][2]uint64
	tools map[*ToolCall][2]uint64
	last  uint64 // the Builder's Rev when last seen
}

func (w *revWatch) snap(b *Builder) {
	w.turns, w.tools = map[*Turn][2]uint64{}, map[*ToolCall][2]uint64{}
	for _, t := range b.Session().Turns {
		w.turns[t] = [2]uint64{t.Rev(), deepDigest(t)}
		for _, tc := range t.Tools {
			w.tools[tc] = [2]uint64{tc.Rev(), deepDigest(tc)}
		}
	}
	w.last = b.Rev()
}

// check compares b with the last snapshot: every turn or tool whose
// revision stayed must be unchanged; a new revision must be newer than
// any before, and the Builder's Rev must follow.
func (w *revWatch) check(b *Builder) error {
	var newest uint64
	for _, t := range b.Session().Turns {
		if t.Rev() == 0 {
			return fmt.Errorf("turn %q has revision 0", t.Key)
		}
		newest = max(newest, t.Rev())
		if was, ok := w.turns[t]; ok {
			if was[0] == t.Rev() && was[1] != deepDigest(t) {
				return fmt.Errorf("turn %q changed but kept revision %d", t.Key, t.Rev())
			}
			if t.Rev() < was[0] {
				return fmt.Errorf("turn %q revision went back from %d to %d", t.Key, was[0], t.Rev())
			}
		} else if t.Rev() <= w.last {
			return fmt.Errorf("new turn %q has revision %d, not newer than %d", t.Key, t.Rev(), w.last)
		}
		for _, tc := range t.Tools {
			if tc.Rev() == 0 || tc.Rev() > t.Rev() {
				return fmt.Errorf("tool %s revision %d, its turn's %d", tc.ID, tc.Rev(), t.Rev())
			}
			if was, ok := w.tools[tc]; ok && was[0] == tc.Rev() && was[1] != deepDigest(tc) {
				return fmt.Errorf("tool %s changed but kept revision %d", tc.ID, tc.Rev())
			}
		}
	}
	if b.Rev() < newest {
		return fmt.Errorf("builder revision %d, behind its newest turn's %d", b.Rev(), newest)
	}
	return nil
}

// feedChecked adds lines one by one, checking the revision contract after
// each, and returns the first violation.
func feedChecked(b *Builder, lines []*Line, finish bool) error {
	var w revWatch
	w.snap(b)
	for i, l := range lines {
		b.Add(l)
		if err := w.check(b); err != nil {
			return fmt.Errorf("after line %d (%s %s): %w", i+1, l.Type, l.Subtype, err)
		}
		w.snap(b)
	}
	if finish {
		b.Finish()
		if err := w.check(b); err != nil {
			return fmt.Errorf("after Finish: %w", err)
		}
	}
	return nil
}

// decodeFile decodes every line of the transcript at path.
func decodeFile(t testing.TB, path string) []*Line {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines, _, err := DecodeAll(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func recordedTranscripts(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, set := range fixtures.Sets {
		root := fixtures.Path(t, set)
		main, _ := filepath.Glob(filepath.Join(root, "*", "projects", "*", "*.jsonl"))
		subs, _ := filepath.Glob(filepath.Join(root, "*", "projects", "*", "*", "subagents", "*.jsonl"))
		files = append(files, main...)
		files = append(files, subs...)
	}
	if len(files) < 50 {
		t.Fatalf("found %d recorded transcripts, want the whole testdata tree", len(files))
	}
	return files
}

// TestRevisionsCoverEveryChange: over every recorded transcript (main
// files and subagents), after every line, a turn or tool call whose
// revision did not change is unchanged — a tool result landing in an
// earlier turn, streamed blocks of an earlier call, a compaction summary
// for another turn included.
func TestRevisionsCoverEveryChange(t *testing.T) {
	for _, path := range recordedTranscripts(t) {
		t.Run(fixtures.Rel(t, path), func(t *testing.T) {
			lines := decodeFile(t, path)
			b := NewBuilder(path)
			if filepath.Base(filepath.Dir(path)) == "subagents" {
				b = SubagentBuilder(path)
			}
			if err := feedChecked(b, lines, true); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRevisionOfLateToolResult: a tool result that lands after later
// turns began changes the turn that holds the call, and no other.
func TestRevisionOfLateToolResult(t *testing.T) {
	b := newLB("s")
	b.user("start a background job", "p1")
	b.assistant("m1", toolUse("bg", "Bash", map[string]any{"command": "sleep 60", "run_in_background": true}))
	b.assistant("m2", text("started"))
	b.user("something else", "p2")
	b.assistant("m3", text("ok"))
	b.user(toolResult("bg", "done after 60s", false), "p2")
	lines, _, err := DecodeAll(strings.NewReader(strings.Join(b.lines, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	bu := NewBuilder("/p/s.jsonl")
	for _, l := range lines[:len(lines)-1] {
		bu.Add(l)
	}
	t1, t2 := bu.Session().Turns[0], bu.Session().Turns[1]
	r1, r2 := t1.Rev(), t2.Rev()
	bu.Add(lines[len(lines)-1])
	if t1.Rev() == r1 || !t1.Tools[0].HasResult || t1.Tools[0].Rev() != t1.Rev() {
		t.Errorf("turn 1 revision %d → %d (tool result %v, tool revision %d): want a new revision with the result", r1, t1.Rev(), t1.Tools[0].HasResult, t1.Tools[0].Rev())
	}
	_ = r2 // the line also counts as turn 2's (touch): it may change; the contract is only that turn 1 does
}

// FuzzBuilderRevisions: whatever lines arrive, the revision contract holds
// after each of them.
func FuzzBuilderRevisions(f *testing.F) {
	b := newLB("s")
	b.user("p", "p1")
	b.assistant("m1", toolUse("t1", "Bash", map[string]any{"command": "ls"}), text("x"))
	b.add(map[string]any{"type": "system", "subtype": "compact_boundary", "compactMetadata": map[string]any{"trigger": "manual"}})
	b.user("This session is being continued from a previous conversation", "p2", "isCompactSummary", true)
	b.user("q", "p2")
	b.user(toolResult("t1", "late", false), "p2")
	b.assistant("m1", text("more of m1"))
	b.add(map[string]any{"type": "system", "subtype": "stop_hook_summary"})
	f.Add([]byte(strings.Join(b.lines, "\n") + "\n"))
	for _, p := range append(recordedTranscripts(f)[:4], reorderedPath, rewrittenPath) {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bytes.NewReader(in), 0)
		d.MaxLine = 1 << 16
		var lines []*Line
		// The check digests every turn after every line (quadratic): a
		// bounded number of lines keeps each run short.
		for len(lines) < 80 {
			l, err := d.Next()
			if err != nil {
				break
			}
			lines = append(lines, l)
		}
		for _, side := range []bool{false, true} {
			if err := feedChecked(newBuilder("/x/s.jsonl", side), lines, true); err != nil {
				t.Fatal(err)
			}
		}
	})
}
