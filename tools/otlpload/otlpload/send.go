package otlpload

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// SendOptions configure Send.
type SendOptions struct {
	// URL is the OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:7433/v1/traces.
	URL string
	// Workers send concurrently, each on its own keep-alive connection,
	// each waiting for an answer before its next request (default 4).
	Workers int
	// Timeout bounds one request (default 60 s).
	Timeout time.Duration
	// Header is added to every request (e.g. an API key).
	Header http.Header
}

// Result is what Send measured.
type Result struct {
	Requests int
	// SpansOK are the spans of 2xx answers, less those a partial success
	// rejected (Rejected).
	SpansOK  int
	Rejected int64
	// Failed requests: non-2xx answers and transport errors; FirstError
	// describes the first.
	Failed     int
	FirstError string
	Wall       time.Duration
	// Latencies are per request, from the send to the answer's last byte,
	// sorted.
	Latencies []time.Duration
}

// SpansPerSecond is the accepted spans over the wall time.
func (r Result) SpansPerSecond() float64 { return float64(r.SpansOK) / r.Wall.Seconds() }

// Quantile is the q-quantile (0..1) of the request latencies.
func (r Result) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.Latencies))+0.5) - 1
	return r.Latencies[min(max(i, 0), len(r.Latencies)-1)]
}

// Send posts every body of l from opts.Workers workers and waits for the
// answers.
func Send(ctx context.Context, l *Load, opts SendOptions) Result {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Minute
	}
	client := &http.Client{Timeout: opts.Timeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: opts.Workers, MaxConnsPerHost: opts.Workers, DisableCompression: true,
	}}
	defer client.CloseIdleConnections()
	next := make(chan int, len(l.Bodies))
	for i := range l.Bodies {
		next <- i
	}
	close(next)
	var mu sync.Mutex
	res := Result{Requests: len(l.Bodies)}
	start := time.Now()
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				rejected, err := post(ctx, client, opts, l.Bodies[i])
				took := time.Since(t0)
				mu.Lock()
				res.Latencies = append(res.Latencies, took)
				if err != nil {
					res.Failed++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
				} else {
					res.SpansOK += l.Counts[i] - int(rejected)
					res.Rejected += rejected
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Wall = time.Since(start)
	slices.Sort(res.Latencies)
	return res
}

// post sends one request and returns the spans its partial success
// rejected.
func post(ctx context.Context, client *http.Client, opts SendOptions, body []byte) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, opts.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	for k, vs := range opts.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, answer)
	}
	r := ptraceotlp.NewExportResponse()
	if err := r.UnmarshalProto(answer); err != nil {
		return 0, fmt.Errorf("undecodable answer: %w", err)
	}
	return r.PartialSuccess().RejectedSpans(), nil
}
