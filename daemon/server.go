package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
)

// handlerFunc is one local API endpoint.
type handlerFunc func(w http.ResponseWriter, r *http.Request)

type route struct {
	method string
	h      handlerFunc
}

// routes is the local API's route table.
type routes map[string]route

// register adds a route; a duplicate path is a programming error.
func (rt routes) register(method, path string, h handlerFunc) {
	if _, dup := rt[path]; dup {
		panic("daemon: duplicate route " + path)
	}
	rt[path] = route{method, h}
}

// handlerCounters count what the socket refused.
type handlerCounters struct {
	received    atomic.Int64 // hook events accepted (journaled or duplicate)
	badRequests atomic.Int64 // 400: not a hook event, bad headers
	tooLarge    atomic.Int64 // 413
	badProto    atomic.Int64 // 426
	browser     atomic.Int64 // 403: Origin/Referer
	unavailable atomic.Int64 // 503 / 500
}

func (d *Daemon) handler() http.Handler {
	rt := routes{}
	rt.register(http.MethodPost, hookproto.PathHook, d.handleHook)
	rt.register(http.MethodGet, hookproto.PathStatus, d.handleStatus)
	rt.register(http.MethodPost, hookproto.PathShutdown, d.handleShutdown)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A browser page must not drive the local API (DNS rebinding,
		// cross-site requests): browsers always send one of these.
		if r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "" {
			d.counters.browser.Add(1)
			http.Error(w, "daemon: requests with Origin or Referer are refused", http.StatusForbidden)
			return
		}
		rr, ok := rt[r.URL.Path]
		if !ok {
			http.Error(w, "daemon: no such endpoint "+r.URL.Path, http.StatusNotFound)
			return
		}
		if r.Method != rr.method {
			w.Header().Set("Allow", rr.method)
			http.Error(w, "daemon: "+r.URL.Path+" takes "+rr.method, http.StatusMethodNotAllowed)
			return
		}
		rr.h(w, r)
	})
}

// handleHook journals one hook event and answers once it is durable.
func (d *Daemon) handleHook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, hookproto.MaxPayload))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			d.counters.tooLarge.Add(1)
			http.Error(w, fmt.Sprintf("daemon: payload over %d bytes", hookproto.MaxPayload), http.StatusRequestEntityTooLarge)
			return
		}
		d.counters.badRequests.Add(1)
		http.Error(w, "daemon: read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	env, err := hookproto.FromHeaders(r.Header.Get, body, time.Now())
	if err != nil {
		if errors.Is(err, hookproto.ErrUnsupportedProto) {
			d.counters.badProto.Add(1)
			http.Error(w, err.Error(), http.StatusUpgradeRequired)
			return
		}
		d.counters.badRequests.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ev, err := hookproto.Decode(env)
	if err != nil {
		d.counters.badRequests.Add(1)
		d.throttled.warn("daemon: refused a payload that is not a hook event", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// Not r.Context(): the hook half-closes its side after the body, which
	// net/http reports as a cancelled request context, yet the hook is
	// still reading the answer. The journaler always answers promptly.
	req := &hookReq{env: env, ev: ev, done: make(chan hookResult, 1)}
	select {
	case d.jr.reqs <- req:
	case <-d.stopping:
		d.counters.unavailable.Add(1)
		http.Error(w, "daemon: shutting down", http.StatusServiceUnavailable)
		return
	}
	var res hookResult
	select {
	case res = <-req.done:
	case <-d.jrDone:
		select {
		case res = <-req.done: // answered just before it stopped
		default:
			// The journaler stopped (shutdown) before it took the request.
			d.counters.unavailable.Add(1)
			http.Error(w, "daemon: shutting down", http.StatusServiceUnavailable)
			return
		}
	}
	if res.err != nil {
		d.counters.unavailable.Add(1)
		http.Error(w, "daemon: journal: "+res.err.Error(), http.StatusInternalServerError)
		return
	}
	d.counters.received.Add(1)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if res.dup {
		_, _ = io.WriteString(w, "ok duplicate\n")
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

// handleStatus answers the status; with ?wait=replay it first waits (as
// long as the client does) for the start-up replay to finish, so a script
// or test sees the figures of a daemon that has caught up.
func (d *Daemon) handleStatus(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("wait") == "replay" {
		select {
		case <-d.core.replayed:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(d.Status())
}

func (d *Daemon) handleShutdown(w http.ResponseWriter, r *http.Request) {
	d.requestStop("stop requested")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, "stopping\n")
}

// throttle logs a warning at most once per interval, counting the rest.
type throttle struct {
	every time.Duration
	log   func(msg string, args ...any)
	last  atomic.Int64 // unix nanos
	quiet atomic.Int64
}

func (t *throttle) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := t.last.Load()
	if now-last < int64(t.every) || !t.last.CompareAndSwap(last, now) {
		t.quiet.Add(1)
		return
	}
	if q := t.quiet.Swap(0); q > 0 {
		args = append(args, "suppressed", q)
	}
	t.log(msg, args...)
}

// Client helpers, for `weave-agentd status` and `stop`.

// socketClient is an HTTP client that dials p.Socket whatever the URL says.
func socketClient(p hookproto.Paths, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", p.Socket)
			},
			DisableKeepAlives: true,
		},
	}
}

// FetchStatus asks the running daemon for its status. An error wrapping
// ErrNotRunning means nobody answers on the socket.
func FetchStatus(ctx context.Context, p hookproto.Paths) (Status, error) {
	return fetchStatus(ctx, p, "")
}

// FetchStatusAfterReplay is FetchStatus once the daemon has replayed its
// journal (it waits, within ctx).
func FetchStatusAfterReplay(ctx context.Context, p hookproto.Paths) (Status, error) {
	return fetchStatus(ctx, p, "?wait=replay")
}

func fetchStatus(ctx context.Context, p hookproto.Paths, query string) (Status, error) {
	var st Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, hookproto.BaseURL+hookproto.PathStatus+query, nil)
	if err != nil {
		return st, err
	}
	resp, err := socketClient(p, 0).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return st, fmt.Errorf("daemon: status: %w", err)
		}
		return st, fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return st, fmt.Errorf("daemon: status: %s: %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("daemon: status: %w", err)
	}
	return st, nil
}

// RequestStop asks the running daemon to shut down gracefully.
func RequestStop(ctx context.Context, p hookproto.Paths) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hookproto.BaseURL+hookproto.PathShutdown, nil)
	if err != nil {
		return err
	}
	resp, err := socketClient(p, 5*time.Second).Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("daemon: stop: %s", resp.Status)
	}
	return nil
}

// ErrNotRunning: no daemon answers on the socket.
var ErrNotRunning = errors.New("daemon: weave-agentd is not running")
