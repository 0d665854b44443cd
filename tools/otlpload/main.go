// Command otlpload sends Claude Code-shaped OTLP/HTTP trace load (package
// otlpload) to any endpoint and prints what it measured: spans/s, request
// latency, errors. tools/ingestbench uses the same load to compare weave's
// stores.
//
//	go run ./tools/otlpload -url http://127.0.0.1:7433/v1/traces -spans 100000
//	go run ./tools/otlpload -spans 20000 -json     # one JSON line
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/weavetrace/weave/tools/otlpload/otlpload"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:7433/v1/traces", "OTLP/HTTP traces endpoint")
	spans := flag.Int("spans", 100_000, "spans to send")
	batch := flag.Int("batch", 512, "spans per request")
	workers := flag.Int("workers", 4, "concurrent senders")
	entity := flag.String("entity", "bench", "wandb.entity resource attribute")
	project := flag.String("project", "otlpload", "wandb.project resource attribute")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "seed of ids and texts (default: the clock, so runs share no id)")
	traceIDs := flag.String("trace-ids", "", "write the hex id of every complete trace to this file")
	header := flag.String("H", "", "extra header 'Name: value' (e.g. an API key)")
	asJSON := flag.Bool("json", false, "print the figures as one JSON line")
	flag.Parse()

	l, err := otlpload.Build(otlpload.Config{Entity: *entity, Project: *project, Seed: *seed}, *spans, *batch)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if *traceIDs != "" {
		if err := os.WriteFile(*traceIDs, []byte(strings.Join(l.Traces, "\n")+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	opts := otlpload.SendOptions{URL: *url, Workers: *workers}
	if name, value, ok := strings.Cut(*header, ":"); ok {
		opts.Header = map[string][]string{strings.TrimSpace(name): {strings.TrimSpace(value)}}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res := otlpload.Send(ctx, l, opts)
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(map[string]any{
			"url": *url, "workers": *workers, "batch": *batch, "requests": res.Requests, "spans_sent": l.Spans,
			"spans_ok": res.SpansOK, "rejected_spans": res.Rejected, "failed_requests": res.Failed, "first_error": res.FirstError,
			"wall_s": res.Wall.Seconds(), "spans_per_s": res.SpansPerSecond(), "mb_sent": float64(l.Bytes) / 1e6,
			"p50_ms": ms(res.Quantile(0.5)), "p90_ms": ms(res.Quantile(0.9)), "p99_ms": ms(res.Quantile(0.99)), "max_ms": ms(res.Quantile(1)),
		})
	} else {
		fmt.Printf("target      %s (workers %d, batch %d)\n", *url, *workers, *batch)
		fmt.Printf("spans       %d sent in %d requests (%.0f bytes a span), %d accepted, %d rejected, %d requests failed %s\n",
			l.Spans, res.Requests, float64(l.Bytes)/float64(l.Spans), res.SpansOK, res.Rejected, res.Failed, res.FirstError)
		fmt.Printf("throughput  %.0f spans/s in %s\n", res.SpansPerSecond(), res.Wall.Round(time.Millisecond))
		fmt.Printf("latency     p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms\n",
			ms(res.Quantile(0.5)), ms(res.Quantile(0.9)), ms(res.Quantile(0.99)), ms(res.Quantile(1)))
	}
	if res.Failed > 0 {
		os.Exit(1)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
