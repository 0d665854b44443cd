package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"reflect"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/weavetrace/weave/server/api"
	"github.com/weavetrace/weave/server/auth"
	"github.com/weavetrace/weave/server/ingest"
	"github.com/weavetrace/weave/server/metrics"
	"github.com/weavetrace/weave/server/normalize"
	"github.com/weavetrace/weave/server/pricing"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/ui"
)

// Settings are the server's injected dependencies.
type Settings struct {
	Logger  *slog.Logger
	Version string
	// Listener, when set, is served instead of listening on Config.Addr;
	// OTLP/gRPC is then served only on GRPCListener (tests).
	Listener net.Listener
	// GRPCListener, when set, serves OTLP/gRPC instead of listening on
	// Config.GRPCAddr.
	GRPCListener net.Listener
	// OpenStore, when set, replaces the store factory (tests).
	OpenStore func(ctx context.Context, c Config, logger *slog.Logger) (store.Store, string, error)
	// Ready, when set, is called with the listening address once the
	// server accepts connections.
	Ready func(addr net.Addr)
	// CutoffWait bounds the shutdown's wait for the requests and the
	// retention round it cancelled (0: DefaultCutoffWait).
	CutoffWait time.Duration
}

// DefaultCutoffWait bounds how long the shutdown waits, once it has
// cancelled the requests still running (past Config.ShutdownTimeout) and
// the retention loop, for them to return. Store calls honour their
// context (a transaction or round trip under way finishes first), so they
// return soon; one that does not is given up on, with an error logged,
// instead of hanging the shutdown.
const DefaultCutoffWait = 15 * time.Second

// ErrShutdownAbandoned is returned by Run when the shutdown gave up
// waiting for a request or a retention round that ignored its
// cancellation (after Settings.CutoffWait). The store was left open:
// closing it under a call still running could hang too, or corrupt what
// the call writes.
var ErrShutdownAbandoned = errors.New("serve: shutdown gave up on work that ignored its cancellation; the store was left open")

// Server is weave-server: the HTTP server in front of ingest, the read API,
// health, metrics and the UI, over one store.
type Server struct {
	cfg    Config
	s      Settings
	log    *slog.Logger
	keys   *auth.Keys
	prices *pricing.Table
}

// New checks the configuration and the API keys and returns the server. It
// opens nothing and starts nothing; Run does.
func New(cfg Config, s Settings) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys, err := auth.Load(cfg.APIKeysFile, cfg.APIKeys)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if s.Listener == nil {
		if err := keys.CheckListen(cfg.Addr); err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		if cfg.GRPCEnabled() && s.GRPCListener == nil {
			if err := keys.CheckListen(cfg.GRPCAddr); err != nil {
				return nil, fmt.Errorf("serve: --grpc-addr: %w", err)
			}
		}
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.OpenStore == nil {
		s.OpenStore = OpenStore
	}
	if s.Version == "" {
		s.Version = "dev"
	}
	prices := pricing.Default()
	if cfg.PricesFile != "" {
		if prices, err = pricing.Load(cfg.PricesFile, prices); err != nil {
			return nil, fmt.Errorf("serve: --prices: %w", err)
		}
	}
	return &Server{cfg: cfg, s: s, log: s.Logger, keys: keys, prices: prices}, nil
}

// Keys returns the loaded API keys (nil or empty: open).
func (srv *Server) Keys() *auth.Keys { return srv.keys }

// Run opens the store, serves until ctx is done, then shuts down in order:
// stop accepting and let in-flight requests (ingest batches included)
// finish, within Config.ShutdownTimeout (past it their contexts are
// cancelled and Run waits for their handlers to return); stop the
// retention loop, waiting for a round under way; then close the store, which
// nothing uses any more. It returns nil after a clean shutdown. A request or
// round still running Settings.CutoffWait after its cancellation is given
// up on (logged): Run returns ErrShutdownAbandoned, leaving the store open.
// When a listener cannot be opened, those opened before it are closed.
func (srv *Server) Run(ctx context.Context) (err error) {
	began := time.Now()
	cfg := srv.cfg
	st, where, err := srv.s.OpenStore(ctx, cfg, srv.log.With("component", "store"))
	if err != nil {
		return err
	}
	storeOpen := true
	defer func() {
		if storeOpen {
			if cerr := st.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("serve: close store: %w", cerr)
			}
		}
	}()

	reg := metrics.NewRegistry()
	reg.NewGaugeVec("weave_build_info", "weave-server build; the value is 1.", "version").With(srv.s.Version).Set(1)
	registerStoreMetrics(reg, st)
	dm := newDeleteMetrics(reg)
	mux, ing, err := srv.routes(st, reg, dm)
	if err != nil {
		return err
	}
	ret, retentionState, err := srv.newRetention(st, dm)
	if err != nil {
		return err
	}
	lns, err := srv.listen()
	if err != nil {
		return err
	}
	cutoff := srv.cutoffWait()
	stopRetention := ret.start(ctx, cfg.RetentionInterval)
	defer func() { // on the way out by an error: before the store closes
		if !stopRetention(srv.log, cutoff) {
			storeOpen = false
			if !errors.Is(err, ErrShutdownAbandoned) {
				err = errors.Join(err, ErrShutdownAbandoned)
			}
		}
	}()
	rs := srv.serveHTTP(ctx, instrument(mux, newHTTPMetrics(reg), !srv.keys.Enabled()), lns.http)
	defer servePprof(lns.pprof, srv.log)()
	grpcAddr := rs.serveGRPC(ing, lns.grpc)
	srv.logStarted(lns.http.Addr(), grpcAddr, where, retentionState, began)
	if srv.s.Ready != nil {
		srv.s.Ready(lns.http.Addr())
	}
	if err := rs.wait(ctx, srv.log, cutoff); err != nil {
		if errors.Is(err, ErrShutdownAbandoned) {
			storeOpen = false
		}
		return err
	}
	if !rs.shutdown(srv.log, cfg.ShutdownTimeout, cutoff) {
		storeOpen = false
		return ErrShutdownAbandoned
	}
	if ret != nil {
		t := time.Now()
		srv.log.Info("retention stopping") // a round under way finishes first
		if !stopRetention(srv.log, cutoff) {
			return nil // the deferred stop, which gave up too, returns ErrShutdownAbandoned
		}
		srv.log.Info("retention stopped", "duration_ms", time.Since(t).Milliseconds())
	}

	t := time.Now()
	storeOpen = false
	if err := st.Close(); err != nil {
		return fmt.Errorf("serve: close store: %w", err)
	}
	srv.log.Info("store closed", "duration_ms", time.Since(t).Milliseconds())
	return nil
}

// cutoffWait is Settings.CutoffWait, else DefaultCutoffWait.
func (srv *Server) cutoffWait() time.Duration {
	if srv.s.CutoffWait > 0 {
		return srv.s.CutoffWait
	}
	return DefaultCutoffWait
}

// awaitCut waits for done, the end of work that was cancelled, until cut
// ends; past it, it logs what it gave up on and returns false.
func awaitCut(cut context.Context, log *slog.Logger, what string, done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
	}
	select {
	case <-done:
		return true
	case <-cut.Done():
		log.Error("shutdown: gave up waiting for "+what+", which ignored its cancellation; the store is left open",
			"cutoff_wait", context.Cause(cut).Error())
		return false
	}
}

// cutContext is the bound of awaitCut: d from now.
func cutContext(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(context.Background(), d, errors.New(d.String()))
}

// doneOf runs f in a goroutine and returns a channel closed when it
// returned.
func doneOf(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	return done
}

// newRetention is the retention loop when it is configured (nil when
// not), and how retention runs, for the start-up log.
func (srv *Server) newRetention(st store.Store, dm *deleteMetrics) (*retention, string, error) {
	cfg := srv.cfg
	ret := &retention{projects: st.Projects, days: cfg.RetentionDays, per: cfg.RetentionProjects, now: time.Now,
		log: srv.log.With("component", "retention"), m: dm}
	if !ret.enabled() {
		return nil, "off", nil
	}
	d, ok := st.(store.Deleter)
	if !ok {
		return nil, "", fmt.Errorf("serve: --retention-days: the %s store cannot delete", cfg.Store)
	}
	ret.st = d
	return ret, fmt.Sprintf("%d days (%d project overrides), every %s", cfg.RetentionDays, len(cfg.RetentionProjects), cfg.RetentionInterval), nil
}

// listeners are what Run serves on: HTTP, OTLP/gRPC and pprof (nil when
// off).
type listeners struct{ http, grpc, pprof net.Listener }

// close closes the listeners opened.
func (l listeners) close() {
	for _, ln := range []net.Listener{l.http, l.grpc, l.pprof} {
		if ln != nil {
			ln.Close()
		}
	}
}

// listen opens every listener, or none: when one fails (an address in
// use), it closes those opened before it. The HTTP and OTLP/gRPC ones are
// checked against the API keys (no open server off loopback).
func (srv *Server) listen() (lns listeners, err error) {
	defer func() {
		if err != nil {
			lns.close()
			lns = listeners{}
		}
	}()
	if lns.http, err = srv.httpListener(); err != nil {
		return lns, err
	}
	if lns.grpc, err = srv.grpcListener(); err != nil {
		return lns, err
	}
	if addr := srv.cfg.PprofAddr; addr != "" {
		if lns.pprof, err = net.Listen("tcp", addr); err != nil {
			return lns, fmt.Errorf("serve: pprof: listen on %s: %w", addr, err)
		}
	}
	return lns, nil
}

// httpListener is the HTTP listener: Settings.Listener, else one on
// Config.Addr.
func (srv *Server) httpListener() (ln net.Listener, err error) {
	ln = srv.s.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", srv.cfg.Addr); err != nil {
			return nil, fmt.Errorf("serve: listen on %s: %w", srv.cfg.Addr, err)
		}
	}
	if err := srv.keys.CheckListener(ln); err != nil {
		ln.Close()
		return nil, fmt.Errorf("serve: %w", err)
	}
	return ln, nil
}

// servers are the HTTP server, and the OTLP/gRPC one when on, while they
// serve.
type servers struct {
	hs         *http.Server
	served     chan error
	cancelBase context.CancelFunc // cancels the requests' base context
	handlers   *handlers          // the HTTP handlers running
	gs         *grpc.Server       // nil when gRPC is off
	grpcServed chan error
}

// handlers tracks the HTTP handlers running, so that the shutdown waits for
// the last one (http.Server.Close does not) before the store closes. A
// request that still reaches a handler afterwards — its connection read it
// just before the close — is answered 503 without touching the store.
type handlers struct {
	mu     sync.RWMutex // held for reading by each handler while it runs
	closed bool
}

// wrap runs h unless the handlers were closed.
func (hd *handlers) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd.mu.RLock()
		defer hd.mu.RUnlock()
		if hd.closed {
			http.Error(w, "weave-server is shutting down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// close waits for the handlers running to return and turns away those
// that come later.
func (hd *handlers) close() {
	hd.mu.Lock()
	hd.closed = true
	hd.mu.Unlock()
}

// serveHTTP starts serving h on ln.
func (srv *Server) serveHTTP(ctx context.Context, h http.Handler, ln net.Listener) *servers {
	// Requests run on their own base context, cancelled only after the
	// graceful shutdown gave up, so a signal does not abort in-flight
	// batches.
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	running := &handlers{}
	hs := &http.Server{
		Handler:           running.wrap(h),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(srv.log.Handler(), slog.LevelWarn),
	}
	rs := &servers{hs: hs, served: make(chan error, 1), cancelBase: cancelBase, handlers: running, grpcServed: make(chan error, 1)}
	go func() { rs.served <- hs.Serve(ln) }()
	return rs
}

// serveGRPC starts serving OTLP/gRPC on gln, unless gln is nil, and
// returns the address served (GRPCOff for none). Its Stop, like its
// GracefulStop, returns only once every handler has.
func (rs *servers) serveGRPC(ing *ingest.Handler, gln net.Listener) string {
	if gln == nil {
		return GRPCOff
	}
	gs := grpc.NewServer(append(ing.GRPCServerOptions(), grpc.ConnectionTimeout(10*time.Second), grpc.WaitForHandlers(true))...)
	ing.RegisterGRPC(gs)
	rs.gs = gs
	go func() { rs.grpcServed <- gs.Serve(gln) }()
	return gln.Addr().String()
}

// logStarted logs the configuration the server runs with.
func (srv *Server) logStarted(addr net.Addr, grpcAddr, where, retentionState string, began time.Time) {
	cfg := srv.cfg
	authMode := "open (loopback only)"
	if srv.keys.Enabled() {
		authMode = "api keys"
	}
	srv.log.Info("weave-server started",
		"addr", addr.String(),
		"url", "http://"+addr.String()+"/",
		"grpc_addr", grpcAddr,
		"store", cfg.Store,
		"store_path", where,
		"default_project", cfg.DefaultProject,
		"auth", authMode,
		"api_keys", srv.keys.Len(),
		"max_body_bytes", cfg.MaxBodyBytes,
		"ingest_memory_bytes", cfg.IngestMemoryBytes,
		"sqlite_cache_mb", cfg.SQLiteCacheMB,
		"prices", pricesSource(cfg.PricesFile),
		"retention", retentionState,
		"zero_config", isZeroConfig(cfg),
		"version", srv.s.Version,
		"startup_ms", time.Since(began).Milliseconds(),
	)
}

// wait returns nil once ctx is done, or an error when a server stopped by
// itself (having stopped both and waited, up to cutoff, for their
// handlers: past it the error wraps ErrShutdownAbandoned too).
func (rs *servers) wait(ctx context.Context, log *slog.Logger, cutoff time.Duration) error {
	var err error
	select {
	case <-ctx.Done():
		return nil
	case err = <-rs.served:
		err = fmt.Errorf("serve: http server stopped: %w", err)
	case err = <-rs.grpcServed:
		err = fmt.Errorf("serve: grpc server stopped: %w", err)
	}
	rs.cancelBase()
	rs.hs.Close()
	cut, cancel := cutContext(cutoff)
	defer cancel()
	if rs.gs != nil && !awaitCut(cut, log, "the OTLP/gRPC exports", doneOf(rs.gs.Stop)) {
		return errors.Join(err, ErrShutdownAbandoned)
	}
	if !awaitCut(cut, log, "the HTTP requests", doneOf(rs.handlers.close)) {
		return errors.Join(err, ErrShutdownAbandoned)
	}
	return err
}

// shutdown is the shutdown script: both servers drain at once (stop
// accepting, let in-flight requests finish); what is left when the timeout
// passes is cancelled and cut, and it returns once every handler has — or,
// when one ignores its cancellation for cutoff, false.
func (rs *servers) shutdown(log *slog.Logger, timeout, cutoff time.Duration) bool {
	t := time.Now()
	log.Info("shutdown started", "timeout", timeout.String())
	shCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	grpcStopped := rs.drainGRPC(shCtx)
	httpErr := rs.hs.Shutdown(shCtx)
	var grpcErr error
	select {
	case <-grpcStopped:
	default:
		select {
		case <-grpcStopped:
		case <-shCtx.Done(): // drainGRPC cancels the exports still running
			grpcErr = fmt.Errorf("otlp/grpc exports: %w", shCtx.Err())
		}
	}
	if httpErr != nil || grpcErr != nil {
		log.Warn("in-flight requests did not finish in time; closing connections",
			"err", errors.Join(httpErr, grpcErr), "duration_ms", time.Since(t).Milliseconds())
		rs.cancelBase()
		rs.hs.Close()
		log.Warn("waiting for the requests cut off to return", "cutoff_wait", cutoff.String())
	}
	if err := <-rs.served; !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http server stopped with an error", "err", err)
	}
	cut, cancelCut := cutContext(cutoff)
	defer cancelCut()
	if !awaitCut(cut, log, "the HTTP requests cut off", doneOf(rs.handlers.close)) {
		return false
	}
	log.Info("http server stopped", "duration_ms", time.Since(t).Milliseconds())
	if !awaitCut(cut, log, "the OTLP/gRPC exports cut off", grpcStopped) {
		return false
	}
	if rs.gs != nil {
		if err := <-rs.grpcServed; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			log.Warn("grpc server stopped with an error", "err", err)
		}
		log.Info("grpc server stopped", "duration_ms", time.Since(t).Milliseconds())
	}
	rs.cancelBase()
	return true
}

// drainGRPC stops the gRPC server gracefully (in-flight exports finish;
// their writes are durable when answered), or at once when ctx is done
// (which cancels the exports' contexts), and closes the channel it returns
// when the server stopped: when every export handler returned.
func (rs *servers) drainGRPC(ctx context.Context) <-chan struct{} {
	stopped := make(chan struct{})
	if rs.gs == nil {
		close(stopped)
		return stopped
	}
	go func() {
		defer close(stopped)
		done := doneOf(rs.gs.GracefulStop)
		select {
		case <-done:
		case <-ctx.Done():
			rs.gs.Stop()
			<-done
		}
	}()
	return stopped
}

func pricesSource(file string) string {
	if file == "" {
		return "built-in"
	}
	return file + " + built-in"
}

// isZeroConfig reports a configuration with nothing set by the user.
func isZeroConfig(c Config) bool {
	if len(c.RetentionProjects) > 0 {
		return false
	}
	c.RetentionProjects = nil
	return reflect.DeepEqual(c, NewDefaultConfig())
}

// routes builds the server's mux: OTLP ingest, the read API (its paths
// registered one by one so the metrics see each as its own route),
// operations, and the UI at /.
func (srv *Server) routes(st store.Store, reg *metrics.Registry, dm *deleteMetrics) (*http.ServeMux, *ingest.Handler, error) {
	mux := http.NewServeMux()
	var authenticate func(*http.Request) error
	var authorize func(*http.Request, string) error
	if srv.keys.Enabled() {
		// The key is in the headers: check it before the body is read.
		authenticate = func(r *http.Request) error {
			_, err := srv.keys.Authenticate(r)
			return err
		}
		authorize = srv.keys.Authorize
	}
	ing, err := ingest.New(ingest.Config{
		DefaultProject:   srv.cfg.DefaultProject,
		MaxBodyBytes:     srv.cfg.MaxBodyBytes,
		MaxInFlightBytes: srv.cfg.IngestMemoryBytes,
		Normalize:        normalize.Options{Prices: srv.prices},
	}, ingest.Settings{
		Writer:       st,
		Logger:       srv.log.With("component", "ingest"),
		Metrics:      reg,
		Authenticate: authenticate,
		Authorize:    authorize,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("serve: %w", err)
	}
	ing.Register(mux)
	apiH := api.New(api.Settings{
		Store:          st,
		Keys:           srv.keys,
		DefaultProject: srv.cfg.DefaultProject,
		Logger:         srv.log.With("component", "api"),
		OnDelete:       func(d store.Deleted) { dm.add("request", d) },
	})
	for _, p := range apiH.Paths() {
		mux.Handle(p, apiH)
	}
	mux.Handle("/genai/", apiH) // unknown API paths get the API's 404 envelope
	mux.HandleFunc("/healthz", healthz)
	mux.HandleFunc("/readyz", readyz(st))
	mux.Handle("/metrics", reg.Handler())
	mux.Handle("/", ui.Handler()) // index.html at /, assets under /assets/
	return mux, ing, nil
}

// grpcListener is the OTLP/gRPC listener: Settings.GRPCListener, else one
// on Config.GRPCAddr (nil when gRPC is off, or when Settings.Listener
// stands in for the HTTP address and no gRPC listener was given).
func (srv *Server) grpcListener() (net.Listener, error) {
	ln := srv.s.GRPCListener
	if ln == nil {
		if srv.s.Listener != nil || !srv.cfg.GRPCEnabled() {
			return nil, nil
		}
		var err error
		if ln, err = net.Listen("tcp", srv.cfg.GRPCAddr); err != nil {
			return nil, fmt.Errorf("serve: listen on %s (--grpc-addr; %s turns OTLP/gRPC off): %w", srv.cfg.GRPCAddr, GRPCOff, err)
		}
	}
	if err := srv.keys.CheckListener(ln); err != nil {
		ln.Close()
		return nil, fmt.Errorf("serve: --grpc-addr: %w", err)
	}
	return ln, nil
}

// registerStoreMetrics exposes the store's size, read at scrape time.
func registerStoreMetrics(reg *metrics.Registry, st store.Reader) {
	stat := func(pick func(store.Stats) int64) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			s, err := st.Stats(ctx)
			if err != nil {
				return math.NaN()
			}
			return float64(pick(s))
		}
	}
	reg.NewGaugeFunc("weave_store_spans", "Spans in the store (all projects).",
		stat(func(s store.Stats) int64 { return s.Spans }))
	reg.NewGaugeFunc("weave_store_bytes", "On-disk size of the store in bytes, where known.",
		stat(func(s store.Stats) int64 { return s.Bytes }))
	reg.NewCounterFunc("weave_store_write_transactions_total", "Write transactions the store committed since it was opened (concurrent batches may share one), where counted.",
		stat(func(s store.Stats) int64 { return s.WriteTransactions }))
	reg.NewGaugeFunc("weave_store_search_backlog", "Span changes written but not yet searchable (a search applies them first), for a store that indexes off the write path.",
		stat(func(s store.Stats) int64 { return s.SearchBacklog }))
}
