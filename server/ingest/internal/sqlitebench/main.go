// Command sqlitebench measures weave-server's whole ingest path into the
// embedded store, as a process: it builds weave-server, starts it on a
// free loopback port with a fresh data directory, and sends Claude
// Code-shaped OTLP/HTTP protobuf requests (load.go; 100,000 spans of about
// 2.4 KB in 512-span requests from 4 workers by default, built before the
// clock starts). It prints spans/s, the server's CPU per span (user +
// system from /proc, from the first request until every span is stored
// and searchable), p50/p99 request latency, peak RSS (VmHWM), lost spans
// (answered as accepted but not stored), and how long after its answer a
// span could be read (its trace through the read API) and found (a word
// only it holds, through search), sampled every -probe-every requests.
// Linux only. Run it with `make bench-ingest-sqlite` (ARGS='-spans 30000').
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weavetrace/weave/internal/serverproc"
)

const project = "bench/sqlite"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sqlitebench:", err)
		os.Exit(1)
	}
}

type options struct {
	spans, workers, batch, probeEvery int
	bin, flags, env, profile          string
	keep, asJSON, log                 bool
}

func run() error {
	o := parseOptions()
	dir, err := os.MkdirTemp("", "sqlitebench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "data directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if o.bin == "" {
		if o.bin, err = serverproc.Build(dir); err != nil {
			return err
		}
	}
	reqs, err := newGenerator(1).requests(o.spans, o.batch, o.probeEvery)
	if err != nil {
		return err
	}
	payload := 0
	for _, r := range reqs {
		payload += len(r.body)
	}
	var flags []string
	if o.profile != "" {
		abs, err := filepath.Abs(o.profile)
		if err != nil {
			return err
		}
		flags = append(flags, "--cpuprofile", abs)
	}
	srv, err := serverproc.Start(o.bin, filepath.Join(dir, "data"), append(flags, strings.Fields(o.flags)...), strings.Fields(o.env))
	if err != nil {
		return err
	}
	defer func() {
		_ = srv.Stop()
		if o.log {
			fmt.Fprint(os.Stderr, srv.Logs.String())
		}
	}()
	load, _ := uptimeLoad()

	cpu0, err := srv.CPU()
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.workers + 4}}
	st, err := sendAll(client, srv.Base, reqs, o.workers)
	if err != nil {
		return err
	}
	// Everything stored and searchable: a search applies the backlog.
	stored, err := waitStored(client, srv, st.accepted)
	if err != nil {
		return err
	}
	if err := search(client, srv.Base, "zzzznothing", nil); err != nil {
		return err
	}
	cpu1, err := srv.CPU()
	if err != nil {
		return err
	}
	peak, _ := srv.Status("VmHWM")

	res := result{
		Spans: o.spans, Workers: o.workers, Batch: o.batch, Requests: len(reqs), PayloadMB: float64(payload) / 1e6,
		WallS: st.wall.Seconds(), SpansPerS: float64(st.accepted) / st.wall.Seconds(),
		CPUS: cpu1 - cpu0, CPUUsPerSpan: (cpu1 - cpu0) * 1e6 / float64(max(st.accepted, 1)),
		P50MS: ms(pct(st.latencies, 0.50)), P99MS: ms(pct(st.latencies, 0.99)), MaxMS: ms(pct(st.latencies, 1)),
		PeakRSSMiB: float64(peak) / 1024, Accepted: st.accepted, Rejected: st.rejected, Lost: st.accepted - int(stored),
		Probes: len(st.readLags), ProbesMissing: st.missing,
		ReadLagP50MS: ms(pct(st.readLags, 0.5)), ReadLagP99MS: ms(pct(st.readLags, 0.99)), ReadLagMaxMS: ms(pct(st.readLags, 1)),
		SearchLagP50MS: ms(pct(st.searchLags, 0.5)), SearchLagP99MS: ms(pct(st.searchLags, 0.99)), SearchLagMaxMS: ms(pct(st.searchLags, 1)),
		Load1: load, Refused: st.refused,
	}
	if o.asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	res.print()
	if res.Lost != 0 || st.missing != 0 {
		return fmt.Errorf("%d spans lost, %d probed spans never readable", res.Lost, st.missing)
	}
	return nil
}

func parseOptions() options {
	var o options
	flag.IntVar(&o.spans, "spans", 100_000, "spans to send")
	flag.IntVar(&o.workers, "workers", 4, "concurrent clients")
	flag.IntVar(&o.batch, "batch", 512, "spans per request")
	flag.IntVar(&o.probeEvery, "probe-every", 4, "probe the read and search lag of every n-th request")
	flag.StringVar(&o.bin, "bin", "", "weave-server binary to run (default: build ./cmd/weave-server)")
	flag.StringVar(&o.flags, "server-flags", "", "extra weave-server flags, space separated")
	flag.StringVar(&o.env, "server-env", "", "extra environment of weave-server, KEY=VALUE space separated")
	flag.StringVar(&o.profile, "cpuprofile", "", "have weave-server write a CPU profile of the run to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the data directory")
	flag.BoolVar(&o.asJSON, "json", false, "print the figures as one JSON line")
	flag.BoolVar(&o.log, "log", false, "print the server's log at the end")
	flag.Parse()
	return o
}

// sendStats are the figures of sending the requests.
type sendStats struct {
	wall                 time.Duration // until the last answer
	latencies            []time.Duration
	accepted, rejected   int // spans
	refused              int // 503s retried
	readLags, searchLags []time.Duration
	missing              int // probed spans never readable
}

// sendAll posts reqs from workers concurrent clients and probes, after
// its answer, how long a probed request's span takes to be read and
// found. Each probe starts polling as soon as its request is answered (a
// probe queued behind others would count the queueing as lag).
func sendAll(client *http.Client, base string, reqs []request, workers int) (sendStats, error) {
	var st sendStats
	start := time.Now()
	work := make(chan int, len(reqs))
	for i := range reqs {
		work <- i
	}
	close(work)
	var mu sync.Mutex
	var refused atomic.Int64
	var wg, pwg sync.WaitGroup
	errs := make(chan error, workers)
	startProbe := func(p probe) {
		pwg.Go(func() {
			read, found, ok := p.wait(client, base)
			mu.Lock()
			if ok {
				st.readLags, st.searchLags = append(st.readLags, read), append(st.searchLags, found)
			} else {
				st.missing++
			}
			mu.Unlock()
		})
	}
	for range workers {
		wg.Go(func() {
			for i := range work {
				r := reqs[i]
				t0 := time.Now()
				n, err := serverproc.Send(client, base+"/v1/traces", r.body, &refused)
				if err != nil {
					errs <- err
					return
				}
				done := time.Now()
				if r.token != "" {
					startProbe(probe{r: r, answered: done})
				}
				mu.Lock()
				st.latencies = append(st.latencies, done.Sub(t0))
				st.accepted += r.spans - n
				st.rejected += n
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	st.wall = time.Since(start)
	close(errs)
	for err := range errs {
		return st, err
	}
	pwg.Wait()
	st.refused = int(refused.Load())
	return st, nil
}

type result struct {
	Spans          int     `json:"spans"`
	Workers        int     `json:"workers"`
	Batch          int     `json:"batch"`
	Requests       int     `json:"requests"`
	PayloadMB      float64 `json:"payload_mb"`
	WallS          float64 `json:"wall_s"`
	SpansPerS      float64 `json:"spans_per_s"`
	CPUS           float64 `json:"server_cpu_s"`
	CPUUsPerSpan   float64 `json:"server_cpu_us_per_span"`
	P50MS          float64 `json:"p50_ms"`
	P99MS          float64 `json:"p99_ms"`
	MaxMS          float64 `json:"max_ms"`
	PeakRSSMiB     float64 `json:"peak_rss_mib"`
	Accepted       int     `json:"accepted"`
	Rejected       int     `json:"rejected"`
	Lost           int     `json:"lost"`
	Probes         int     `json:"probes"`
	ProbesMissing  int     `json:"probes_missing"`
	ReadLagP50MS   float64 `json:"read_lag_p50_ms"`
	ReadLagP99MS   float64 `json:"read_lag_p99_ms"`
	ReadLagMaxMS   float64 `json:"read_lag_max_ms"`
	SearchLagP50MS float64 `json:"search_lag_p50_ms"`
	SearchLagP99MS float64 `json:"search_lag_p99_ms"`
	SearchLagMaxMS float64 `json:"search_lag_max_ms"`
	Load1          float64 `json:"load1"`
	Refused        int     `json:"refused"`
}

func (r result) print() {
	fmt.Printf("load              %d spans in %d requests of %d from %d workers, %.0f MB of OTLP/protobuf (machine load %.1f at start)\n",
		r.Spans, r.Requests, r.Batch, r.Workers, r.PayloadMB, r.Load1)
	fmt.Printf("throughput        %.0f spans/s (%d accepted in %.1f s, %d rejected, %d answers 429/503 retried)\n", r.SpansPerS, r.Accepted, r.WallS, r.Rejected, r.Refused)
	fmt.Printf("server CPU        %.1f s, %.0f µs/span (until stored and searchable)\n", r.CPUS, r.CPUUsPerSpan)
	fmt.Printf("request latency   p50 %.0f ms, p99 %.0f ms, max %.0f ms\n", r.P50MS, r.P99MS, r.MaxMS)
	fmt.Printf("peak RSS          %.0f MiB\n", r.PeakRSSMiB)
	fmt.Printf("lost spans        %d\n", r.Lost)
	fmt.Printf("after the answer  read p50 %.0f / p99 %.0f / max %.0f ms; search p50 %.0f / p99 %.0f / max %.0f ms (%d probes, %d never readable)\n",
		r.ReadLagP50MS, r.ReadLagP99MS, r.ReadLagMaxMS, r.SearchLagP50MS, r.SearchLagP99MS, r.SearchLagMaxMS, r.Probes, r.ProbesMissing)
}

type probe struct {
	r        request
	answered time.Time
}

// wait polls until the probed span is in its trace and its word is found,
// and returns how long after the answer each happened; false after a
// minute.
func (p probe) wait(client *http.Client, base string) (read, found time.Duration, ok bool) {
	deadline := p.answered.Add(time.Minute)
	for {
		var tr struct {
			Spans []struct {
				SpanID string `json:"span_id"`
			} `json:"spans"`
		}
		_ = post(client, base+"/genai/spans/trace", map[string]any{"project_id": project, "trace_id": p.r.trace}, &tr)
		if slices.ContainsFunc(tr.Spans, func(s struct {
			SpanID string `json:"span_id"`
		}) bool {
			return s.SpanID == p.r.span
		}) {
			read = time.Since(p.answered)
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, false
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		var hits []string
		if err := search(client, base, p.r.token, &hits); err == nil && slices.Contains(hits, p.r.span) {
			return read, time.Since(p.answered), true
		}
		if time.Now().After(deadline) {
			return 0, 0, false
		}
		// A search applies the index backlog first, so the first one
		// finds the span unless the index is being rebuilt; polling
		// faster would only force extra small index passes.
		time.Sleep(100 * time.Millisecond)
	}
}

// search runs a search and returns the span ids of its hits.
func search(client *http.Client, base, query string, spans *[]string) error {
	var res struct {
		Hits []struct {
			SpanID string `json:"span_id"`
		} `json:"hits"`
	}
	if err := post(client, base+"/genai/messages/search", map[string]any{"project_id": project, "query": query}, &res); err != nil {
		return err
	}
	if spans != nil {
		for _, h := range res.Hits {
			*spans = append(*spans, h.SpanID)
		}
	}
	return nil
}

func post(client *http.Client, url string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, msg)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// waitStored waits until the store counts want spans, or until the count
// stops growing for 30 s, and returns the count.
func waitStored(client *http.Client, srv *serverproc.Server, want int) (int64, error) {
	var last int64 = -1
	changed := time.Now()
	for {
		n, err := srv.StoredSpans(client)
		if err != nil {
			return 0, err
		}
		if n >= int64(want) || time.Since(changed) > 30*time.Second {
			return n, nil
		}
		if n != last {
			last, changed = n, time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func uptimeLoad() (float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, errors.New("/proc/loadavg: empty")
	}
	return strconv.ParseFloat(f[0], 64)
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
