package daemon

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/journal"
)

// The journal and the spool are storage: they know CRC framing
// (daemon/frame) but not the hook's wire contract, directly or through
// anything they import.
func TestStorageDoesNotImportHookproto(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./journal", "./spool").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	for _, p := range deps {
		if p == "github.com/weavetrace/weave/daemon/hookproto" {
			t.Errorf("daemon/journal or daemon/spool depends on %s; want only daemon/frame of the hook's packages", p)
		}
	}
	if !strings.Contains(string(out), "github.com/weavetrace/weave/daemon/frame\n") {
		t.Errorf("go list -deps ./journal ./spool does not list daemon/frame: %q", deps)
	}
}

// The largest hook event the socket or the inbox takes (a body of
// hookproto.MaxPayload bytes) fits in one journal record and comes back
// whole.
func TestJournalHoldsLargestEvent(t *testing.T) {
	j, _, err := journal.Open(t.TempDir(), JournalSettings(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const session = "0b9f2b6e-5d0c-4a51-9a34-1c2d3e4f5a6b"
	head := `{"session_id":"` + session + `","hook_event_name":"Stop","x":"`
	body := head + strings.Repeat("a", hookproto.MaxPayload-len(head)-2) + `"}`
	at := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	env := hookproto.Envelope{Proto: hookproto.Version, ID: hookproto.NewEventID(), ReceivedAt: at, TranscriptSize: -1, Body: []byte(body)}
	if err := j.AppendEvent(session, &env); err != nil {
		t.Fatalf("AppendEvent of a %d-byte event: %v", len(body), err)
	}
	n := 0
	st, err := j.Replay(func(r *journal.Record) error {
		ev, ok := journaledEvent(r)
		if !ok || ev.SessionID != session || ev.ID != env.ID || !r.At.Equal(at) || len(ev.Raw) != len(body) {
			t.Errorf("replayed: ok %v, session %q, id %v, at %v, %d bytes; want %q, %v, %v, %d bytes", ok, ev.SessionID, ev.ID, r.At, len(ev.Raw), session, env.ID, at, len(body))
		}
		n++
		return nil
	})
	if err != nil || n != 1 || st.BadRecords != 0 || st.Corrupt != 0 {
		t.Errorf("Replay: %d records (stats %+v, err %v), want 1 intact", n, st, err)
	}
}
