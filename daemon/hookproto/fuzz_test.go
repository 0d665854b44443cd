package hookproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/weavetrace/weave/daemon/frame"
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

// FuzzInboxRecord: any inbox file, damaged or not, is read without a
// panic, and every intact record's payload goes through the envelope
// decoder without one either; an envelope it accepts encodes back to a form
// that decodes to the same envelope.
func FuzzInboxRecord(f *testing.F) {
	e := sampleEnvelope()
	good := frame.Append(nil, MagicInbox, e.AppendBinary(nil))
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append([]byte("junk"), good...))
	f.Add(e.AppendBinary(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(_ int64, p []byte) error {
			var env Envelope
			if env.UnmarshalBinary(p) != nil {
				return nil
			}
			var again Envelope
			if err := again.UnmarshalBinary(env.AppendBinary(nil)); err != nil {
				t.Fatalf("re-encoded envelope: %v", err)
			}
			if again.Proto != env.Proto || again.ID != env.ID || !again.ReceivedAt.Equal(env.ReceivedAt) || again.AgentName() != env.AgentName() ||
				again.TranscriptSize != env.TranscriptSize || again.OriginalSize != env.OriginalSize || !bytes.Equal(again.Body, env.Body) {
				t.Fatalf("re-encoded envelope %+v, want %+v", again, env)
			}
			return nil
		}
		if _, err := frame.Read(bytes.NewReader(b), int64(len(b)), MagicInbox, 1<<16, check); err != nil {
			t.Fatalf("frame.Read: %v", err)
		}
		_ = check(0, b) // the payload alone
	})
}
