// Command ingestmem measures weave-server's peak memory under concurrent
// maximum-size OTLP requests: it builds weave-server, starts it on a free
// loopback port with the embedded store in a temporary directory, and has
// several clients each post OTLP/protobuf trace requests of realistic spans
// (storetest.Workload, whole input histories included) just under the
// server's body limit, for a few rounds. A client answered 429 or 503
// waits for Retry-After and sends the same request again, so nothing is
// lost. It samples the server's RSS while it runs and prints the peak
// (VmHWM from /proc/PID/status), then checks that the store holds every
// span sent. Linux only. Run it with `make bench-ingest-memory`.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weavetrace/weave/internal/serverproc"
	"github.com/weavetrace/weave/server/store/storetest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ingestmem:", err)
		os.Exit(1)
	}
}

type options struct {
	clients int
	rounds  int
	size    int
	shape   string
	keep    bool
	log     bool
	extra   string
	env     string
}

func run() error {
	var o options
	flag.IntVar(&o.clients, "clients", 4, "concurrent clients")
	flag.IntVar(&o.rounds, "rounds", 3, "requests per client")
	flag.IntVar(&o.size, "size", 32<<20, "request body size in bytes (the server's --max-body is set to this)")
	flag.StringVar(&o.shape, "spans", "genai", "genai: realistic GenAI spans with whole input histories (about 4 KB each); small: about 250-byte spans (100k in 27 MB, as the issue's request)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory")
	flag.StringVar(&o.extra, "server-flags", "", "extra weave-server flags, space separated")
	flag.BoolVar(&o.log, "log", false, "print the server's log at the end")
	flag.StringVar(&o.env, "server-env", "", "extra environment of weave-server, KEY=VALUE space separated (e.g. GODEBUG=gctrace=1 with -log)")
	flag.Parse()

	dir, err := os.MkdirTemp("", "ingestmem-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	bin, err := serverproc.Build(dir)
	if err != nil {
		return err
	}

	fmt.Printf("building %d requests of %.1f MiB (%d clients x %d rounds)...\n", o.clients*o.rounds, float64(o.size)/(1<<20), o.clients, o.rounds)
	build := buildBodies
	switch o.shape {
	case "genai":
	case "small":
		build = smallBodies
	default:
		return fmt.Errorf("-spans %q: want genai or small", o.shape)
	}
	bodies, spans, err := build(o.clients*o.rounds, o.size)
	if err != nil {
		return err
	}
	total := 0
	for _, n := range spans {
		total += n
	}

	srv, err := serverproc.Start(bin, filepath.Join(dir, "data"), append([]string{"--max-body", strconv.Itoa(o.size)}, strings.Fields(o.extra)...), strings.Fields(o.env))
	if err != nil {
		return err
	}
	defer func() {
		_ = srv.Stop()
		if o.log {
			fmt.Print(srv.Logs.String())
		}
	}()
	idle, _ := srv.Status("VmRSS")

	// Sample RSS while the clients run, for the curve; VmHWM is the peak.
	stop := make(chan struct{})
	var samples []int64
	var sampled sync.WaitGroup
	sampled.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v, err := srv.Status("VmRSS"); err == nil {
					samples = append(samples, v)
				}
			}
		}
	})

	start := time.Now()
	var refused atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, o.clients)
	client := &http.Client{Timeout: 10 * time.Minute}
	for c := range o.clients {
		wg.Go(func() {
			for r := range o.rounds {
				rejected, err := serverproc.Send(client, srv.Base+"/v1/traces", bodies[c*o.rounds+r], &refused)
				if err == nil && rejected > 0 {
					err = fmt.Errorf("%d spans rejected", rejected)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	sampled.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	peak, err := srv.Status("VmHWM")
	if err != nil {
		return err
	}
	stored, err := srv.StoredSpans(client)
	if err != nil {
		return err
	}
	var maxSample int64
	for _, s := range samples {
		maxSample = max(maxSample, s)
	}
	fmt.Printf("server RSS idle:          %6.1f MiB\n", float64(idle)/1024)
	fmt.Printf("server peak RSS (VmHWM):  %6.1f MiB   (%d clients x %d requests of %.1f MiB, OTLP/protobuf, %s spans)\n",
		float64(peak)/1024, o.clients, o.rounds, float64(o.size)/(1<<20), o.shape)
	fmt.Printf("highest RSS sampled:      %6.1f MiB\n", float64(maxSample)/1024)
	fmt.Printf("spans sent:               %d in %s (%.0f spans/s)\n", total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
	fmt.Printf("answers 429/503 (retried): %d\n", refused.Load())
	fmt.Printf("spans stored:             %d\n", stored)
	if stored != int64(total) {
		return fmt.Errorf("stored %d spans, sent %d", stored, total)
	}
	return nil
}

// buildBodies renders n OTLP/protobuf trace requests of at most size bytes
// (and at least 98% of it) each from a realistic workload, every span
// under a fresh id.
func buildBodies(n, size int) ([][]byte, []int, error) {
	w := storetest.NewWorkload(42, "local/default", time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC))
	w.RawSpans = true
	var raws []string
	jsonBytes := 0
	more := func(until int) {
		for jsonBytes < until {
			for _, s := range w.Next() {
				raws = append(raws, string(s.RawSpan))
				jsonBytes += len(s.RawSpan)
			}
		}
	}
	var bodies [][]byte
	var counts []int
	for len(bodies) < n {
		more(size * 3 / 2)
		k := len(raws)
		var body []byte
		for range 20 { // scale the span count until the body fits snugly
			b, err := protoBody(raws[:k])
			if err != nil {
				return nil, nil, err
			}
			if len(b) <= size && (len(b) >= size*98/100 || k == len(raws)) {
				body = b
				break
			}
			k = max(1, min(len(raws), int(float64(k)*float64(size)*0.99/float64(len(b)))))
		}
		if body == nil {
			return nil, nil, errors.New("cannot fill a request to the size asked")
		}
		bodies = append(bodies, body)
		counts = append(counts, k)
		for _, r := range raws[:k] {
			jsonBytes -= len(r)
		}
		raws = raws[k:]
	}
	return bodies, counts, nil
}

// smallBodies renders n requests of at most size bytes of small spans:
// a chat span with provider, model, token counts and a short prompt.
func smallBodies(n, size int) ([][]byte, []int, error) {
	var bodies [][]byte
	var counts []int
	next := 0
	base := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	render := func(k int) ([]byte, error) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "ingestmem")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("ingestmem")
		spans := ss.Spans()
		spans.EnsureCapacity(k)
		for i := range k {
			id := uint64(next + i + 1)
			sp := spans.AppendEmpty()
			var tid [16]byte
			var sid [8]byte
			binary.BigEndian.PutUint64(tid[8:], id/4+1)
			binary.BigEndian.PutUint64(sid[:], id)
			sp.SetTraceID(tid)
			sp.SetSpanID(sid)
			sp.SetName("chat claude-sonnet-4-5")
			sp.SetKind(ptrace.SpanKindClient)
			start := base.Add(time.Duration(id) * time.Millisecond)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(800 * time.Millisecond)))
			a := sp.Attributes()
			a.PutStr("gen_ai.operation.name", "chat")
			a.PutStr("gen_ai.provider.name", "anthropic")
			a.PutStr("gen_ai.request.model", "claude-sonnet-4-5")
			a.PutInt("gen_ai.usage.input_tokens", int64(100+id%900))
			a.PutInt("gen_ai.usage.output_tokens", int64(10+id%90))
			a.PutStr("gen_ai.prompt", fmt.Sprintf("summarize item %d", id))
		}
		return ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	}
	for len(bodies) < n {
		sample, err := render(1000)
		if err != nil {
			return nil, nil, err
		}
		k := int(float64(size) * 0.99 * 1000 / float64(len(sample)))
		for {
			b, err := render(k)
			if err != nil {
				return nil, nil, err
			}
			if len(b) <= size {
				bodies = append(bodies, b)
				counts = append(counts, k)
				next += k
				break
			}
			k = k * 99 / 100
		}
	}
	return bodies, counts, nil
}

func protoBody(raws []string) ([]byte, error) {
	js := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"ingestmem"}}]},` +
		`"scopeSpans":[{"scope":{"name":"ingestmem"},"spans":[` + strings.Join(raws, ",") + `]}]}]}`
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalJSON([]byte(js)); err != nil {
		return nil, fmt.Errorf("workload as OTLP/JSON: %w", err)
	}
	return req.MarshalProto()
}
