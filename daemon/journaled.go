package daemon

import (
	"log/slog"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/journal"
)

// JournalSettings are the settings weave-agentd opens its journal with:
// the journal's events are hook envelopes (hookproto.Envelope's binary
// form), received when the envelope says.
func JournalSettings(log *slog.Logger) journal.Settings {
	return journal.Settings{Logger: log, EventTime: envelopeTime}
}

func envelopeTime(b []byte) (time.Time, error) {
	var env hookproto.Envelope
	err := env.UnmarshalBinary(b)
	return env.ReceivedAt, err
}

// journaledEvent decodes the hook event an event record holds, its body
// copied (a record's bytes are only valid during the replay callback).
// ok is false for a marker, and for an event journaled by a daemon whose
// decoder accepted what this one does not.
func journaledEvent(r *journal.Record) (ev hookproto.Event, ok bool) {
	if r.Kind != journal.KindEvent {
		return ev, false
	}
	var env hookproto.Envelope
	if env.UnmarshalBinary(r.Event) != nil {
		return ev, false
	}
	env.Body = append([]byte(nil), env.Body...)
	ev, err := hookproto.Decode(env)
	return ev, err == nil
}
