package daemon

import (
	"os"
	"time"

	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/daemon/watch"
)

// Status is what `weave-agentd status` shows: the answer to "why don't I
// see my traces?".
type Status struct {
	PID       int       `json:"pid"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	Uptime    string    `json:"uptime"`
	Home      string    `json:"home"`
	Socket    string    `json:"socket"`
	Project   string    `json:"project,omitempty"`
	// IdleExitAfter is the configured idle timeout ("0s": never).
	IdleExitAfter string `json:"idle_exit_after"`

	// Hook events over the socket.
	EventsReceived int64 `json:"events_received"`
	BadRequests    int64 `json:"bad_requests"`    // 400
	TooLarge       int64 `json:"too_large"`       // 413
	BadProto       int64 `json:"bad_proto"`       // 426
	Browser        int64 `json:"browser_refused"` // 403
	Unavailable    int64 `json:"unavailable"`     // 500/503

	LiveSessions int          `json:"live_sessions"`
	Core         CoreStats    `json:"core"`
	Journal      JournalStats `json:"journal"`
	Export       export.Stats `json:"export"`
	Watch        watch.Stats  `json:"watch"`
}

// Status returns the daemon's current figures. Safe from any goroutine.
func (d *Daemon) Status() Status {
	cs := d.core.stats()
	return Status{
		PID:            os.Getpid(),
		Version:        d.set.Version,
		StartedAt:      d.started,
		Uptime:         time.Since(d.started).Round(time.Second).String(),
		Home:           d.set.Paths.Home,
		Socket:         d.set.Paths.Socket,
		Project:        d.set.Config.Project,
		IdleExitAfter:  d.set.Config.IdleTimeout.D().String(),
		EventsReceived: d.counters.received.Load(),
		BadRequests:    d.counters.badRequests.Load(),
		TooLarge:       d.counters.tooLarge.Load(),
		BadProto:       d.counters.badProto.Load(),
		Browser:        d.counters.browser.Load(),
		Unavailable:    d.counters.unavailable.Load(),
		LiveSessions:   cs.Processor.LiveSessions,
		Core:           cs,
		Journal:        d.jr.stats(),
		Export:         d.exp.Stats(),
		Watch:          d.w.Stats(),
	}
}
