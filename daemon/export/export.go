// Package export delivers weave-agentd's spans to the trace server over
// OTLP/HTTP protobuf (<endpoint>/agents/otel/v1/traces, wandb-api-key) and
// keeps what cannot be delivered in the durable spool, retrying with
// exponential backoff (1 s doubling to 30 s, jittered) until it is
// delivered.
//
// Order is kept: while anything is spooled or a retry is pending, new
// batches go behind it into the spool, so a span's ended copy never
// overtakes its running copy. A batch the server rejects as malformed
// (400) is dropped and counted; one too large (413) is split in halves.
// Every other failure (network, 401/403/404, 429, 5xx) is retried.
//
// An Exporter runs in one goroutine (Run); Enqueue and Stats are safe from
// any goroutine. Its requests go through a Client (otlp.go), the one OTLP
// client of weave-agentd: a Target, one request per call, no retry of its
// own; `weave-agentd import` and the tests use it directly.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weavetrace/weave/daemon/spool"
	"github.com/weavetrace/weave/spans"
)

// Config is the Exporter's tuning: where the spans go (weave-agentd's
// config.json) and how it batches, queues and retries.
type Config struct {
	Target Target
	// MinBackoff and MaxBackoff bound the retry delay (defaults 1 s, 30 s:
	// spans spooled during an outage go out at most 30 s after the server
	// is back, whoever is waiting for them).
	MinBackoff, MaxBackoff time.Duration
	// MaxBatchSpans caps the spans in one request (default 512).
	MaxBatchSpans int
	// QueueLen bounds the batches waiting in memory (default 256). Enqueue
	// blocks when it is full.
	QueueLen int
	// DrainTimeout bounds the final delivery attempt at shutdown (default
	// 3 s); what is not delivered by then is spooled.
	DrainTimeout time.Duration
}

// Settings are the Exporter's dependencies, injected by its owner.
type Settings struct {
	Logger *slog.Logger
	// Spool holds undeliverable batches (required). The Exporter is its
	// only writer and reader while it runs.
	Spool *spool.Queue
	// Transport carries the HTTP requests (default: a clone of
	// http.DefaultTransport). Tests pass an in-memory one.
	Transport http.RoundTripper
	// LossesPath is the file that keeps the Losses across restarts
	// (hookproto.Paths.Losses); empty: kept in memory only.
	LossesPath string
}

// DefaultMaxBackoff is the longest wait between delivery attempts.
const DefaultMaxBackoff = 30 * time.Second

// Stats are the exporter's counters, for `weave-agentd status`.
type Stats struct {
	Endpoint      string    `json:"endpoint"`
	SpansSent     int64     `json:"spans_sent"`
	RequestsSent  int64     `json:"requests_sent"`
	SpansSpooled  int64     `json:"spans_spooled"`  // ever written to the spool
	SpansRejected int64     `json:"spans_rejected"` // refused by the server (400, partial success), not retried
	SpansDropped  int64     `json:"spans_dropped"`  // could not be spooled (too big, spool error)
	Queued        int       `json:"queued_batches"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
	LastSuccessAt time.Time `json:"last_success_at,omitzero"`
	// OutageSince is the first failed delivery (network error, 5xx, 429,
	// 401/403/404: anything retried) of an outage still going on; zero
	// while the server takes batches.
	OutageSince time.Time `json:"outage_since,omitzero"`
	// ResolvedAt ends the last outage, which began at LastOutageStart:
	// the first batch the server settled (took, or refused for good)
	// after it.
	ResolvedAt      time.Time `json:"resolved_at,omitzero"`
	LastOutageStart time.Time `json:"last_outage_start,omitzero"`
	RetryIn         string    `json:"retry_in,omitempty"`
	SpoolRecords    int64     `json:"spool_records"`
	SpoolBytes      int64     `json:"spool_bytes"`
	SpoolDropped    int64     `json:"spool_dropped_batches"` // oldest batches dropped by the spool's byte cap
	SpoolCorrupt    int64     `json:"spool_corrupt"`
	SpoolUnclean    bool      `json:"spool_unclean_start"`
	UndecodableBad  int64     `json:"spool_undecodable"` // spooled records that no longer decode
	// Losses is what was lost for good, since the losses file was made
	// (its Pending list left out: see PendingRebuild).
	Losses Losses `json:"losses"`
	// PendingRebuild counts spans of damaged records waiting to be rebuilt.
	PendingRebuild int `json:"pending_rebuild"`
}

// Exporter is the delivery loop.
type Exporter struct {
	cfg   Config
	set   Settings
	log   *slog.Logger
	exp   *Client
	in    chan []spans.Span
	sp    *spool.Queue
	retry time.Time // zero: no retry pending

	mu sync.Mutex
	st Stats
	// losses is kept in LossesPath; toRebuild are the refs of
	// losses.Pending not yet handed to TakeRebuild in this process.
	losses      Losses
	toRebuild   []Damaged
	lastDropped int64 // the spool's DroppedRecords already counted
	// inflight counts spans Enqueue took that are neither delivered nor
	// spooled yet (Idle is false meanwhile).
	inflight atomic.Int64

	warnEvery time.Duration
	lastWarn  map[string]time.Time // per message
	quiet     map[string]int
}

// warn logs msg at most once per minute, reporting how many were
// suppressed in between (per-batch problems must not flood the log).
func (e *Exporter) warn(level slog.Level, msg string, args ...any) {
	e.mu.Lock()
	now := time.Now()
	if last, ok := e.lastWarn[msg]; ok && now.Sub(last) < e.warnEvery {
		e.quiet[msg]++
		e.mu.Unlock()
		return
	}
	e.lastWarn[msg] = now
	if q := e.quiet[msg]; q > 0 {
		args = append(args, "suppressed", q)
		e.quiet[msg] = 0
	}
	e.mu.Unlock()
	e.log.Log(context.Background(), level, msg, args...)
}

type statusKey struct{}

// statusTransport records the HTTP status of each export request in the
// *int its context carries: the OTLP client does not expose it, and the
// retry decision depends on it.
type statusTransport struct{ base http.RoundTripper }

func (t statusTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if p, ok := r.Context().Value(statusKey{}).(*int); ok && resp != nil {
		*p = resp.StatusCode
	}
	return resp, err
}

// New builds an Exporter; Run starts it.
func New(ctx context.Context, cfg Config, s Settings) (*Exporter, error) {
	if s.Spool == nil {
		return nil, errors.New("export: no spool")
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Transport == nil {
		s.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.MaxBatchSpans <= 0 {
		cfg.MaxBatchSpans = 512
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 256
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 3 * time.Second
	}
	// The OTLP client's own retry is off: the Exporter retries through the
	// spool, reading each request's HTTP status through statusTransport.
	exp, err := newClient(ctx, cfg.Target, statusTransport{s.Transport})
	if err != nil {
		return nil, err
	}
	e := &Exporter{
		cfg: cfg,
		set: s,
		log: s.Logger,
		exp: exp,
		in:  make(chan []spans.Span, cfg.QueueLen),
		sp:  s.Spool,

		warnEvery: time.Minute,
		lastWarn:  map[string]time.Time{},
		quiet:     map[string]int{},
	}
	e.st.Endpoint = TracesURL(cfg.Target.Endpoint)
	if s.LossesPath != "" {
		l, err := ReadLosses(s.LossesPath)
		if err != nil {
			// A damaged ledger must not stop delivery: start a new one.
			e.log.Error("export: unreadable losses file, starting a new one", "path", s.LossesPath, "err", err)
		}
		e.losses = l
		e.toRebuild = append([]Damaged(nil), l.Pending...) // a previous run's, not rebuilt yet
	}
	e.lastDropped = s.Spool.Stats().DroppedRecords
	e.noteDamage() // a torn tail cut when the spool was opened
	return e, nil
}

// Enqueue hands a batch to the exporter. It blocks while QueueLen batches
// wait, until ctx ends (then the batch is not taken and ctx's error is
// returned). An empty batch is ignored.
func (e *Exporter) Enqueue(ctx context.Context, batch []spans.Span) error {
	if len(batch) == 0 {
		return nil
	}
	e.inflight.Add(int64(len(batch)))
	select {
	case e.in <- batch:
		return nil
	case <-ctx.Done():
		e.inflight.Add(-int64(len(batch)))
		return fmt.Errorf("export: enqueue: %w", ctx.Err())
	}
}

// settled: batch, taken from the queue, is delivered, spooled or dropped.
func (e *Exporter) settled(batch []spans.Span) { e.inflight.Add(-int64(len(batch))) }

// Stats returns the counters.
func (e *Exporter) Stats() Stats {
	e.mu.Lock()
	st := e.st
	retry := e.retry
	e.mu.Unlock()
	st.Queued = len(e.in)
	if !retry.IsZero() {
		st.RetryIn = time.Until(retry).Round(time.Millisecond).String()
	}
	ss := e.sp.Stats()
	st.SpoolRecords, st.SpoolBytes, st.SpoolDropped, st.SpoolCorrupt, st.SpoolUnclean = ss.Records, ss.Bytes, ss.DroppedRecords, ss.Corrupt, ss.Unclean
	e.mu.Lock()
	st.Losses = e.losses
	st.Losses.ByReason = maps.Clone(e.losses.ByReason)
	for _, d := range e.losses.Pending {
		st.PendingRebuild += d.Spans()
	}
	st.Losses.Pending = nil
	e.mu.Unlock()
	return st
}

// Idle reports whether nothing waits: no span queued or in flight, none
// spooled, none of a damaged record waiting to be rebuilt.
func (e *Exporter) Idle() bool {
	e.mu.Lock()
	rebuilding := len(e.losses.Pending) > 0
	e.mu.Unlock()
	return len(e.in) == 0 && e.inflight.Load() == 0 && e.sp.Len() == 0 && !rebuilding
}

// noteDamage takes the spool's damaged regions and records what they
// held for TakeRebuild (Losses.Pending); a region in which no span can be
// recognised counts as one lost batch.
func (e *Exporter) noteDamage() {
	dmg := e.sp.TakeDamage()
	if len(dmg) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range dmg {
		e.losses.DamagedRegions++
		e.losses.DamagedBytes += d.Size
		n := e.damaged(d.Bytes)
		e.log.Warn("export: a damaged spool region was skipped; rebuilding its spans", "segment", d.Segment, "offset", d.Offset,
			"bytes", d.Size, "torn_tail", d.TornTail, "spans", n)
	}
	e.saveLosses()
}

// damaged queues the spans recognised in b for rebuilding and returns
// how many there were (e.mu held; the caller saves the losses).
func (e *Exporter) damaged(b []byte) int {
	refs := ScanDamaged(b)
	d := Damaged{Refs: refs, Unnamed: max(0, CountSpans(b)-len(refs))}
	now := time.Now()
	switch {
	case d.Spans() == 0:
		e.losses.add(now, LossDamaged, Count{Batches: 1})
	case len(refs) == 0 || len(e.losses.Pending) >= maxPending:
		e.losses.add(now, LossDamaged, Count{Spans: int64(d.Spans())}) // nothing to rebuild from
	default:
		e.losses.NextID++
		d.ID = e.losses.NextID
		e.losses.Pending = append(e.losses.Pending, d)
		e.toRebuild = append(e.toRebuild, d)
	}
	return d.Spans()
}

// TakeRebuild returns the damaged regions whose spans to rebuild, each
// once per process: the daemon rebuilds their sessions and reports back
// with Rebuilt.
func (e *Exporter) TakeRebuild() []Damaged {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.toRebuild
	e.toRebuild = nil
	return r
}

// Rebuilt settles a damaged region TakeRebuild returned: of its spans,
// rebuilt were sent again (Enqueue'd by the caller), the others are lost
// for good (their session's journal and transcript are gone, or no
// longer produce them).
func (e *Exporter) Rebuilt(d Damaged, rebuilt int) {
	rebuilt = min(rebuilt, d.Spans())
	e.mu.Lock()
	defer e.mu.Unlock()
	e.losses.Pending = slices.DeleteFunc(e.losses.Pending, func(p Damaged) bool { return p.ID == d.ID })
	e.losses.Rebuilt += int64(rebuilt)
	if lost := d.Spans() - rebuilt; lost > 0 {
		e.losses.add(time.Now(), LossDamaged, Count{Spans: int64(lost)})
		e.log.Error("export: spans of a damaged spool record could not be rebuilt, lost", "spans", lost, "rebuilt", rebuilt)
	}
	e.saveLosses()
}

// lose counts a loss (e.mu not held).
func (e *Exporter) lose(reason string, c Count) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.losses.add(time.Now(), reason, c)
	e.saveLosses()
}

// saveLosses writes the losses file (e.mu held).
func (e *Exporter) saveLosses() {
	if e.set.LossesPath == "" {
		return
	}
	if err := e.losses.write(e.set.LossesPath); err != nil {
		e.log.Error("export: could not keep the losses file", "err", err)
	}
}

// Run delivers until ctx ends, then makes a last bounded attempt to
// deliver what is queued (DrainTimeout) and spools the rest. The caller
// stops calling Enqueue before cancelling ctx, and closes the spool after
// Run returns.
func (e *Exporter) Run(ctx context.Context) error {
	// Requests run under sendCtx, which outlives ctx by DrainTimeout: a
	// request in flight at shutdown may finish (and its batch be
	// acknowledged) instead of being cut off and sent again next time.
	sendCtx, sendCancel := context.WithCancel(context.Background())
	defer sendCancel()
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(e.cfg.DrainTimeout, sendCancel) })
	defer stopAfter()
	backoff := time.Duration(0)
	var timer *time.Timer
	var retryC <-chan time.Time
	stopTimer := func() {
		if timer != nil {
			timer.Stop()
		}
		timer, retryC = nil, nil
		e.setRetry(time.Time{})
	}
	defer stopTimer()
	fail := func() {
		if backoff == 0 {
			backoff = e.cfg.MinBackoff
		} else {
			backoff = min(2*backoff, e.cfg.MaxBackoff)
		}
		d := backoff/2 + rand.N(backoff/2+1) // jitter: [b/2, b]
		timer = time.NewTimer(d)
		retryC = timer.C
		e.setRetry(time.Now().Add(d))
	}
	for {
		// Deliver spooled batches first, one per turn, unless waiting out a
		// backoff. New batches are appended behind them to keep order.
		if retryC == nil && e.sp.Len() > 0 {
			select {
			case <-ctx.Done():
				return e.finish()
			default:
			}
			e.spillQueued()
			switch ok, err := e.deliverSpooled(sendCtx); {
			case err != nil:
				return err
			case ok:
				backoff = 0
			default:
				fail()
			}
			continue
		}
		select {
		case <-ctx.Done():
			return e.finish()
		case <-retryC:
			timer, retryC = nil, nil
			e.setRetry(time.Time{})
		case b := <-e.in:
			batch := e.collect(b)
			if retryC != nil || e.sp.Len() > 0 {
				e.spoolBatch(batch)
				e.settled(batch)
				continue
			}
			if !e.send(sendCtx, batch) {
				e.spoolBatch(batch)
				fail()
			} else {
				backoff = 0
			}
			e.settled(batch)
		}
	}
}

func (e *Exporter) setRetry(t time.Time) {
	e.mu.Lock()
	e.retry = t
	e.mu.Unlock()
}

// collect merges batches already waiting into b, up to MaxBatchSpans.
func (e *Exporter) collect(b []spans.Span) []spans.Span {
	for len(b) < e.cfg.MaxBatchSpans {
		select {
		case more := <-e.in:
			b = append(b, more...)
		default:
			return b
		}
	}
	return b
}

// spillQueued moves every waiting batch into the spool (behind what is
// there).
func (e *Exporter) spillQueued() {
	for {
		select {
		case b := <-e.in:
			batch := e.collect(b)
			e.spoolBatch(batch)
			e.settled(batch)
		default:
			return
		}
	}
}

// spoolBatch writes batch to the spool in records of at most MaxBatchSpans.
func (e *Exporter) spoolBatch(batch []spans.Span) {
	for len(batch) > 0 {
		n := min(len(batch), e.cfg.MaxBatchSpans)
		part := batch[:n]
		batch = batch[n:]
		b, err := json.Marshal(part)
		if err == nil {
			err = e.sp.Put(b)
		}
		e.mu.Lock()
		if err != nil {
			e.st.SpansDropped += int64(len(part))
		} else {
			e.st.SpansSpooled += int64(len(part))
		}
		e.mu.Unlock()
		if err != nil {
			e.lose(LossNotSpooled, Count{Spans: int64(len(part))})
			e.warn(slog.LevelError, "export: could not spool a batch, spans lost", "spans", len(part), "err", err)
		}
	}
	if d := e.sp.Stats().DroppedRecords; d > e.lastDropped {
		e.lose(LossSpoolFull, Count{Batches: d - e.lastDropped})
		e.lastDropped = d
	}
}

// deliverSpooled sends the oldest spooled batch. ok=false: not delivered
// (retry later). err: the spool failed.
func (e *Exporter) deliverSpooled(ctx context.Context) (ok bool, err error) {
	rec, err := e.sp.Peek()
	e.noteDamage()
	if errors.Is(err, spool.ErrEmpty) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("export: %w", err)
	}
	var batch []spans.Span
	if err := json.Unmarshal(rec, &batch); err != nil {
		e.mu.Lock()
		e.st.UndecodableBad++
		n := e.damaged(rec) // an intact frame with bad content: rebuild what it held
		e.saveLosses()
		e.mu.Unlock()
		e.warn(slog.LevelError, "export: dropped a spooled batch that does not decode; rebuilding its spans", "bytes", len(rec), "spans", n, "err", err)
		return true, e.ack()
	}
	if !e.send(ctx, batch) {
		return false, nil
	}
	return true, e.ack()
}

func (e *Exporter) ack() error {
	if err := e.sp.Ack(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// send exports batch once. It returns true when the batch is settled
// (delivered, or permanently rejected and counted) and false when it
// should be retried.
func (e *Exporter) send(ctx context.Context, batch []spans.Span) bool {
	status := 0
	err := e.exp.ExportSpans(context.WithValue(ctx, statusKey{}, &status), batch)
	now := time.Now()
	switch {
	case err == nil || (status >= 200 && status < 300):
		e.mu.Lock()
		e.st.SpansSent += int64(len(batch))
		e.st.RequestsSent++
		e.st.LastSuccessAt = now
		e.resolveOutage(now)
		e.mu.Unlock()
		if err != nil { // partial success: the server refused some spans
			e.recordError(now, err)
			e.warn(slog.LevelWarn, "export: server accepted a batch in part", "spans", len(batch), "err", err)
		}
		return true
	case status == http.StatusRequestEntityTooLarge && len(batch) > 1:
		half := len(batch) / 2
		a := e.send(ctx, batch[:half])
		if !a {
			return false
		}
		if !e.send(ctx, batch[half:]) {
			// The first half is delivered; re-queueing the whole batch
			// re-sends it, which the store's upsert makes harmless.
			return false
		}
		return true
	case status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge:
		e.recordError(now, err)
		e.mu.Lock()
		e.st.SpansRejected += int64(len(batch))
		e.resolveOutage(now) // the server answers again
		e.mu.Unlock()
		e.warn(slog.LevelError, "export: server rejected a batch, dropped", "spans", len(batch), "status", status, "err", err)
		return true
	default:
		e.recordError(now, err)
		e.mu.Lock()
		if e.st.OutageSince.IsZero() {
			e.st.OutageSince = now
		}
		e.mu.Unlock()
		e.warn(slog.LevelWarn, "export: delivery failed, will retry", "spans", len(batch), "status", status, "err", err)
		return false
	}
}

// resolveOutage ends an outage going on (e.mu held).
func (e *Exporter) resolveOutage(now time.Time) {
	if e.st.OutageSince.IsZero() {
		return
	}
	e.st.LastOutageStart, e.st.ResolvedAt = e.st.OutageSince, now
	e.st.OutageSince = time.Time{}
	e.log.Info("export: delivering again", "outage", now.Sub(e.st.LastOutageStart).Round(time.Second))
}

func (e *Exporter) recordError(now time.Time, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st.LastError, e.st.LastErrorAt = err.Error(), now
}

// finish runs at shutdown: a last bounded attempt to deliver what is
// queued when nothing is spooled, else everything queued is spooled.
func (e *Exporter) finish() error {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.DrainTimeout)
	defer cancel()
	for {
		select {
		case b := <-e.in:
			batch := e.collect(b)
			if e.sp.Len() > 0 || ctx.Err() != nil || !e.send(ctx, batch) {
				e.spoolBatch(batch)
			}
			e.settled(batch)
		default:
			if err := e.exp.Shutdown(ctx); err != nil {
				e.log.Warn("export: exporter shutdown", "err", err)
			}
			return nil
		}
	}
}
