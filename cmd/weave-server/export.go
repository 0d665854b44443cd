package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/weavetrace/weave/server/export"
	"github.com/weavetrace/weave/server/serve"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// timeFlag is an RFC 3339 time flag.
type timeFlag struct{ t *time.Time }

func (f timeFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339Nano)
}

func (f timeFlag) Set(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("want an RFC 3339 time (2026-11-01T00:00:00Z): %w", err)
	}
	*f.t = t
	return nil
}

// exportJob is what `weave-server export` was asked.
type exportJob struct {
	sel    export.Selection
	format string
	out    string // file, "" or "-" for stdout
	server string // a running weave-server's URL, "" to read the store
	key    string
}

// runExport writes a project's spans (or some of its conversations or
// traces) as JSON lines, OTLP/JSON lines or ATIF trajectories: read from
// a running weave-server (--server, through /genai/export) or straight
// from the store (which the embedded store allows only while no server
// holds it). A progress line goes to stderr; a file that could not be
// written whole is removed.
func runExport(args []string, stdout, stderr io.Writer) int {
	cfg := serve.NewDefaultConfig()
	var job exportJob
	var convs, traces listFlag
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	fs.StringVar(&job.sel.ProjectID, "project", "", "")
	fs.StringVar(&job.format, "format", export.FormatJSONL, "")
	fs.Var(&convs, "conversation", "")
	fs.Var(&traces, "trace", "")
	fs.Var(timeFlag{&job.sel.Range.From}, "from", "")
	fs.Var(timeFlag{&job.sel.Range.To}, "to", "")
	fs.StringVar(&job.out, "o", "", "")
	fs.StringVar(&job.server, "server", "", "")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "")
	fs.StringVar(&cfg.Store, "store", cfg.Store, "")
	clickHouseFlags(fs, &cfg.ClickHouse)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	job.sel.ConversationIDs, job.sel.TraceIDs = convs, traces
	job.key = os.Getenv("WEAVE_API_KEY")
	if err := job.check(fs); err != nil {
		fmt.Fprintf(stderr, "weave-server: export: %v\n", err)
		return 2
	}
	clickHouseEnv(&cfg.ClickHouse)
	cfg.ClickHouse.SkipMigrate = true

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	out, finish, err := openOutput(job.out, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "weave-server: export: %v\n", err)
		return 1
	}
	p := newProgress(stderr, job.format)
	if job.server != "" {
		err = job.fromServer(ctx, out, p)
	} else {
		err = job.fromStore(ctx, cfg, out, p, stderr)
	}
	p.done(err)
	if err := finish(err); err != nil {
		fmt.Fprintf(stderr, "weave-server: export: %v\n", err)
		return 1
	}
	return 0
}

// check validates the flags.
func (j *exportJob) check(fs *flag.FlagSet) error {
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case j.sel.ProjectID == "":
		return errors.New("--project is required (entity/project)")
	case len(j.sel.ConversationIDs) > 0 && len(j.sel.TraceIDs) > 0:
		return errors.New("give --conversation or --trace, not both")
	case j.format == export.FormatATIF && len(j.sel.TraceIDs) > 0:
		return errors.New("--format atif exports conversations: give --conversation, or neither for the whole project")
	case !j.sel.Range.From.IsZero() && !j.sel.Range.To.IsZero() && !j.sel.Range.From.Before(j.sel.Range.To):
		return errors.New("--from must be before --to")
	}
	switch j.format {
	case export.FormatJSONL, export.FormatOTLP, export.FormatATIF:
	default:
		return fmt.Errorf("--format %q: want jsonl, otlp or atif", j.format)
	}
	for i, id := range j.sel.TraceIDs {
		id = strings.ToLower(id)
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			return fmt.Errorf("--trace %q: want 32 hex digits", id)
		}
		j.sel.TraceIDs[i] = id
	}
	return nil
}

// fromStore exports straight from the configured store.
func (j *exportJob) fromStore(ctx context.Context, cfg serve.Config, out io.Writer, p *progress, stderr io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, _, err := serve.OpenStore(ctx, cfg, logger)
	if err != nil {
		if strings.Contains(err.Error(), "in use by another process") {
			return fmt.Errorf("%w (a weave-server runs on it: export through it with --server http://127.0.0.1:7433)", err)
		}
		return err
	}
	defer st.Close()
	x, err := export.NewWriter(out, j.format)
	if err != nil {
		return err
	}
	x.Progress = p.items
	return x.Run(ctx, st, j.sel)
}

// fromServer streams /genai/export of a running weave-server.
func (j *exportJob) fromServer(ctx context.Context, out io.Writer, p *progress) error {
	body := map[string]any{"project_id": j.sel.ProjectID, "format": j.format}
	if len(j.sel.ConversationIDs) > 0 {
		body["conversation_ids"] = j.sel.ConversationIDs
	}
	if len(j.sel.TraceIDs) > 0 {
		body["trace_ids"] = j.sel.TraceIDs
	}
	if !j.sel.Range.From.IsZero() {
		body["from"] = j.sel.Range.From
	}
	if !j.sel.Range.To.IsZero() {
		body["to"] = j.sel.Range.To
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(j.server, "/")+"/genai/export", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if j.key != "" {
		req.Header.Set("Authorization", "Bearer "+j.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s answered %s: %s", j.server, resp.Status, bytes.TrimSpace(msg))
	}
	r := bufio.NewReaderSize(resp.Body, 1<<20)
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 {
			if _, werr := out.Write(line); werr != nil {
				return werr
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if len(line) > 0 && line[len(line)-1] == '\n' {
			p.line()
		}
		if err == io.EOF {
			if len(line) > 0 && line[len(line)-1] != '\n' {
				return errors.New("the export ended mid-line")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("the export was cut: %w", err)
		}
	}
}

// openOutput opens where the export goes; finish closes it and, when the
// export failed, removes the file.
func openOutput(path string, stdout io.Writer) (io.Writer, func(error) error, error) {
	if path == "" || path == "-" {
		w := bufio.NewWriterSize(stdout, 64<<10)
		return w, func(err error) error {
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			return err
		}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, nil, err
	}
	w := bufio.NewWriterSize(f, 64<<10)
	return w, func(err error) error {
		if err == nil {
			err = w.Flush()
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), path)
		}
		if err != nil {
			os.Remove(f.Name())
		}
		return err
	}, nil
}

// progress shows how far an export is on stderr: one line rewritten in
// place on a terminal, a line every 10 s otherwise, and a last line with
// the totals.
type progress struct {
	w        io.Writer
	unit     string
	tty      bool
	start    time.Time
	last     time.Time
	n, lines int64
}

func newProgress(w io.Writer, format string) *progress {
	p := &progress{w: w, unit: "spans", start: time.Now()}
	if format == export.FormatATIF {
		p.unit = "trajectories"
	}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// items records the store export's counts.
func (p *progress) items(n, lines int64) {
	p.n, p.lines = n, lines
	p.show(false)
}

// line records one line read from a server (whose spans per line the
// client does not count).
func (p *progress) line() {
	p.lines++
	p.show(false)
}

func (p *progress) text() string {
	el := time.Since(p.start).Round(100 * time.Millisecond)
	if p.n > 0 {
		return fmt.Sprintf("exported %d %s in %d lines (%s)", p.n, p.unit, p.lines, el)
	}
	return fmt.Sprintf("exported %d lines (%s)", p.lines, el)
}

func (p *progress) show(final bool) {
	now := time.Now()
	every := 10 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	if !final && now.Sub(p.last) < every {
		return
	}
	p.last = now
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", p.text())
		if final {
			fmt.Fprintln(p.w)
		}
		return
	}
	fmt.Fprintln(p.w, p.text())
}

func (p *progress) done(err error) {
	p.show(true)
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(p.w, "export interrupted")
	}
}
