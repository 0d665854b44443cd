package hookproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzDecode: any payload, whole or cut, decodes or fails with ErrNotEvent;
// a decoded event always names its hook event, and a whole payload that is
// a JSON object with a string hook_event_name always decodes.
func FuzzDecode(f *testing.F) {
	for _, c := range realPayloads(f) {
		f.Add([]byte(c.Payload), 0)
		f.Add([]byte(c.Payload), len(c.Payload)/2)
	}
	f.Add([]byte(`{"hook_event_name":"Stop","is_interrupt":"yes","duration_ms":-1e999}`), 0)
	f.Add([]byte(`{"hook_event_name":"\ud800","effort":"x"}`), 0)
	f.Fuzz(func(t *testing.T, body []byte, cut int) {
		env := envelopeOf(body)
		if cut > 0 && cut < len(body) {
			env.OriginalSize = int64(len(body))
			env.Body = body[:cut]
		}
		ev, err := Decode(env)
		if err != nil {
			if !errors.Is(err, ErrNotEvent) {
				t.Fatalf("Decode: got %v, want nil or ErrNotEvent", err)
			}
			return
		}
		if ev.HookEventName == "" {
			t.Fatalf("Decode succeeded with an empty hook_event_name")
		}
		_ = ev.Field("background_tasks")
		if !env.Truncated() {
			var m map[string]json.RawMessage
			if json.Unmarshal(body, &m) != nil {
				t.Fatalf("Decode accepted %q, which is not a JSON object", body)
			}
		}
	})
}

// FuzzTranscriptPath: the bounded scan never panics and, when it finds a
// path, that is the value a full parse finds for a well-formed payload.
func FuzzTranscriptPath(f *testing.F) {
	for _, c := range realPayloads(f) {
		f.Add([]byte(c.Payload))
	}
	f.Add([]byte(`{"a":[{"transcript_path":"/x"}],"transcript_path":"/y"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := TranscriptPath(b)
		if !ok {
			return
		}
		var m struct {
			TranscriptPath string `json:"transcript_path"`
		}
		if len(b) <= ScanWindow && json.Unmarshal(b, &m) == nil && bytes.Count(b, []byte("transcript")) == 1 && m.TranscriptPath != p {
			t.Fatalf("TranscriptPath=%q, full parse %q", p, m.TranscriptPath)
		}
	})
}

// FuzzReadFrames: damaged record files never panic, every byte is either in
// an intact record or counted as skipped, and intact records pass their CRC.
func FuzzReadFrames(f *testing.F) {
	good := frames("one", "two", "three")
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append([]byte("junk"), good...))
	e := sampleEnvelope()
	f.Add(AppendFrame(nil, testMagic, e.AppendBinary(nil)))
	f.Fuzz(func(t *testing.T, b []byte) {
		var intact int64
		st, err := ReadFrames(bytes.NewReader(b), int64(len(b)), testMagic, 1<<16, func(_ int64, p []byte) error {
			intact += int64(FrameHeaderSize + len(p))
			var env Envelope
			_ = env.UnmarshalBinary(p) // the inbox's payload decoder must not panic either
			return nil
		})
		if err != nil {
			t.Fatalf("ReadFrames: %v", err)
		}
		if intact+st.SkippedBytes != int64(len(b)) {
			t.Fatalf("intact %d + skipped %d != size %d", intact, st.SkippedBytes, len(b))
		}
	})
}
