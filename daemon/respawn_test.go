package daemon

import (
	"log/slog"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
)

func TestRespawnForInbox(t *testing.T) {
	for _, tc := range []struct {
		name      string
		idle      bool
		inbox     bool
		wantSpawn bool
	}{
		{"idle exit, inbox pending", true, true, true},
		{"idle exit, inbox empty", true, false, false},
		{"stop, inbox pending", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := hookproto.NewPaths(t.TempDir())
			if tc.inbox {
				env := &hookproto.Envelope{Proto: 1, ID: hookproto.NewEventID(), ReceivedAt: time.Now(), TranscriptSize: -1, Body: []byte(`{}`)}
				if err := hookproto.AppendInbox(p, env, time.Now().Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			spawned := false
			respawnForInbox(p, tc.idle, func(hookproto.Paths) error { spawned = true; return nil }, slog.New(slog.DiscardHandler))
			if spawned != tc.wantSpawn {
				t.Errorf("respawned: got %v, want %v", spawned, tc.wantSpawn)
			}
		})
	}
}
