package frame

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

var testMagic = Magic{'T', 'E', 'S', 'T'}

func frames(payloads ...string) []byte {
	var b []byte
	for _, p := range payloads {
		b = Append(b, testMagic, []byte(p))
	}
	return b
}

func readAll(t *testing.T, b []byte, max int) ([]string, Stats) {
	t.Helper()
	var got []string
	st, err := Read(bytes.NewReader(b), int64(len(b)), testMagic, max, func(_ int64, p []byte) error {
		got = append(got, string(p))
		return nil
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return got, st
}

func TestRead(t *testing.T) {
	good := frames("one", "two", "three")
	second := HeaderSize + 3 // offset of "two"
	for _, tc := range []struct {
		name        string
		b           []byte
		max         int
		want        []string
		wantCorrupt int
	}{
		{"intact", good, 100, []string{"one", "two", "three"}, 0},
		{"empty file", nil, 100, nil, 0},
		{"empty payload", frames(""), 100, []string{""}, 0},
		{"torn tail (header)", append(append([]byte{}, good...), testMagic[:]...), 100, []string{"one", "two", "three"}, 1},
		{"torn tail (payload)", good[:len(good)-2], 100, []string{"one", "two"}, 1},
		{"flipped payload byte", func() []byte {
			b := append([]byte{}, good...)
			b[second+HeaderSize] ^= 0xff
			return b
		}(), 100, []string{"one", "three"}, 1},
		{"garbage in front", append([]byte("xxxxxxxxxxxxxxxxxxxxxxx"), good...), 100, []string{"one", "two", "three"}, 1},
		{"zeroed middle", func() []byte {
			b := append([]byte{}, good...)
			clear(b[second : second+8])
			return b
		}(), 100, []string{"one", "three"}, 1},
		{"two damaged regions", func() []byte {
			b := frames("a", "b", "c", "d", "e")
			b[HeaderSize+1+HeaderSize] ^= 1     // "b" payload
			b[3*(HeaderSize+1)+HeaderSize] ^= 1 // "d" payload
			return b
		}(), 100, []string{"a", "c", "e"}, 2},
		{"length over max", frames("0123456789", "ok"), 5, []string{"ok"}, 1},
		{"other magic is damage", append(Append(nil, Magic{'W', 'V', 'I', 'B'}, []byte("inbox")), good...), 100, []string{"one", "two", "three"}, 1},
		{"magic inside a payload", frames("TESTTEST", "x"), 100, []string{"TESTTEST", "x"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, st := readAll(t, tc.b, tc.max)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || st.Corrupt != tc.wantCorrupt || st.Records != len(tc.want) {
				t.Errorf("got %q (records %d, corrupt %d), want %q (corrupt %d)", got, st.Records, st.Corrupt, tc.want, tc.wantCorrupt)
			}
			if st.End > int64(len(tc.b)) {
				t.Errorf("End=%d beyond size %d", st.End, len(tc.b))
			}
		})
	}
}

func TestReadEndAndStop(t *testing.T) {
	b := frames("one", "two")
	_, st := readAll(t, append(append([]byte{}, b...), 0, 0, 0), 100)
	if st.End != int64(len(b)) || st.SkippedBytes != 3 {
		t.Errorf("End=%d SkippedBytes=%d, want %d, 3", st.End, st.SkippedBytes, len(b))
	}
	n := 0
	st, err := Read(bytes.NewReader(b), int64(len(b)), testMagic, 100, func(int64, []byte) error {
		n++
		return ErrStop
	})
	if err != nil || n != 1 || st.Records != 1 {
		t.Errorf("ErrStop: got n=%d records=%d err=%v, want 1, 1, nil", n, st.Records, err)
	}
	boom := errors.New("boom")
	if _, err := Read(bytes.NewReader(b), int64(len(b)), testMagic, 100, func(int64, []byte) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("callback error: got %v, want boom", err)
	}
}

// A damaged region longer than the scan chunk is skipped in one piece.
func TestReadLongGarbage(t *testing.T) {
	g := bytes.Repeat([]byte{0xAB}, 200<<10)
	b := append(append(frames("first"), g...), frames("last")...)
	got, st := readAll(t, b, 1<<20)
	if fmt.Sprint(got) != "[first last]" || st.Corrupt != 1 || st.SkippedBytes != int64(len(g)) {
		t.Errorf("got %q corrupt %d skipped %d, want [first last], 1, %d", got, st.Corrupt, st.SkippedBytes, len(g))
	}
}

// FuzzRead: damaged record files never panic, every byte is either in an
// intact record or counted as skipped, and intact records pass their CRC.
func FuzzRead(f *testing.F) {
	good := frames("one", "two", "three")
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append([]byte("junk"), good...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var intact int64
		st, err := Read(bytes.NewReader(b), int64(len(b)), testMagic, 1<<16, func(_ int64, p []byte) error {
			intact += int64(HeaderSize + len(p))
			return nil
		})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if intact+st.SkippedBytes != int64(len(b)) {
			t.Fatalf("intact %d + skipped %d != size %d", intact, st.SkippedBytes, len(b))
		}
	})
}
