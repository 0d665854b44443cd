package serve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/weavetrace/weave/server/api"
	"github.com/weavetrace/weave/server/auth"
	"github.com/weavetrace/weave/server/metrics"
	"github.com/weavetrace/weave/server/store"
)

// httpMetrics count every request by route pattern (a bounded set) and
// status code.
type httpMetrics struct {
	requests *metrics.CounterVec
	latency  *metrics.HistogramVec
	inFlight *metrics.Gauge
}

func newHTTPMetrics(reg *metrics.Registry) *httpMetrics {
	return &httpMetrics{
		requests: reg.NewCounterVec("weave_http_requests_total",
			"HTTP requests answered, by route and status code.", "route", "code"),
		latency: reg.NewHistogramVec("weave_http_request_duration_seconds",
			"Time to answer an HTTP request, by route.", metrics.DefaultLatencyBuckets, "route"),
		inFlight: reg.NewGauge("weave_http_requests_in_flight", "HTTP requests being answered."),
	}
}

// statusWriter records the status code a handler wrote. It passes Flush and
// Hijack through (server-sent events need Flush) and unwraps for
// http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("serve: connection cannot be hijacked")
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument wraps the mux: it refuses, on an open server, requests
// addressed to a host name that is not a loopback one, and counts every
// request by the mux's route pattern.
func instrument(mux *http.ServeMux, m *httpMetrics, open bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		sw := &statusWriter{ResponseWriter: w}
		route := "host_check"
		func() {
			defer m.inFlight.Dec()
			if open && !auth.RequestHostIsLoopback(r) {
				sw.Header().Set("Connection", "close")
				api.WriteError(sw, api.CodePermissionDenied, fmt.Sprintf(
					"this weave-server runs without API keys and answers only requests addressed to localhost "+
						"or a loopback address, not %q; configure API keys to serve other host names", r.Host))
				return
			}
			mux.ServeHTTP(sw, r)
			route = r.Pattern
			if route == "" {
				route = "unmatched"
			}
		}()
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		m.requests.With(route, strconv.Itoa(status)).Inc()
		m.latency.With(route).Observe(time.Since(start).Seconds())
	})
}

// healthz answers 200 while the process serves.
func healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}

// readyz answers 200 when the store answers a query within two seconds, 503
// otherwise.
func readyz(st store.Reader) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if _, err := st.Stats(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "store unreachable:", err)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}
