package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/weavetrace/weave/daemon/backfill"
	"github.com/weavetrace/weave/daemon/config"
	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/spans"
)

const importUsage = `usage: weave-agentd import [--dry-run] [--json] [--endpoint URL] [--project ENTITY/PROJECT] [--omit-content] [--no-redact] [PATH...]

Imports finished Claude Code sessions: builds exactly the spans the live
daemon would and exports them over OTLP/HTTP protobuf. PATH is a transcript
file, a project folder or the whole projects folder (default
~/.claude/projects). Re-importing yields identical span ids, so a server that
upserts keeps one copy.

  --endpoint URL   trace server base URL (…/agents/otel/v1/traces is appended),
                   or a full OTLP URL ending in /v1/traces
                   (default $WEAVE_ENDPOINT, else ` + config.DefaultEndpoint + `)
  --project E/P    wandb.entity/wandb.project resource (default $WEAVE_PROJECT)
  --dry-run        build the spans, do not export
  --json           with --dry-run: print each span as one JSON object per line
  --omit-content   leave message and tool content out entirely
  --no-redact      do not redact secrets (redaction is on by default)
  --chat-input M   reference (default) or full: how a chat span carries
                   the history of what the model saw (full: the whole
                   input in every span, for backends that do not resolve
                   weave's references); default config.json's chat_input

Content is redacted as the live daemon does it: $WEAVE_HOME/config.json's
omit_content, no_redact and redact (extra patterns, allow-list) apply, and
the two flags above can only add to them.
`

// runImport is the `import` subcommand.
func runImport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, importUsage) }
	dry := fs.Bool("dry-run", false, "")
	asJSON := fs.Bool("json", false, "")
	endpoint := fs.String("endpoint", envOr("WEAVE_ENDPOINT", config.DefaultEndpoint), "")
	project := fs.String("project", os.Getenv("WEAVE_PROJECT"), "")
	omit := fs.Bool("omit-content", false, "")
	noRedact := fs.Bool("no-redact", false, "")
	chatInput := fs.String("chat-input", "", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *asJSON && !*dry {
		fmt.Fprintln(stderr, "weave-agentd import: --json needs --dry-run")
		return 2
	}
	conf, err := userConfig()
	var privacy spans.Privacy
	var input spans.InputMode
	if err == nil {
		privacy, err = conf.Privacy()
	}
	if err == nil {
		if *chatInput != "" {
			conf.ChatInput = *chatInput
		}
		input, err = conf.Input()
	}
	if err != nil {
		fmt.Fprintf(stderr, "weave-agentd import: %v\n", err)
		return 1
	}
	privacy.OmitContent = privacy.OmitContent || *omit
	privacy.NoRedact = privacy.NoRedact || *noRedact
	cfg := backfill.Config{
		Paths:   fs.Args(),
		DryRun:  *dry,
		JSON:    *asJSON,
		Privacy: privacy,
		Input:   input,
		Target: export.Target{Endpoint: *endpoint, Project: *project, APIKey: os.Getenv("WANDB_API_KEY"),
			ServiceVersion: version},
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var exp backfill.Exporter
	if !*dry {
		e, err := export.NewClient(ctx, cfg.Target)
		if err != nil {
			fmt.Fprintf(stderr, "weave-agentd import: %v\n", err)
			return 1
		}
		defer e.Shutdown(context.Background())
		exp = e
	}
	rep, err := backfill.Run(ctx, cfg, exp, stdout, stderr)
	summary, _ := json.Marshal(rep)
	if !*asJSON {
		fmt.Fprintf(stderr, "weave-agentd import: %d sessions, %d turns (%d copied from a parent session, not re-sent), %d spans, %d exported, %d bad lines, %d files skipped\n",
			rep.Sessions, rep.Turns, rep.CopiedSkip, rep.Spans, rep.Exported, rep.Malformed, len(rep.Failed))
	} else {
		fmt.Fprintf(stderr, "%s\n", summary)
	}
	if err != nil {
		fmt.Fprintf(stderr, "weave-agentd import: %v\n", err)
		return 1
	}
	if rep.Files > 0 && rep.Sessions == 0 {
		fmt.Fprintf(stderr, "weave-agentd import: %v\n", backfill.ErrNothingImported)
		return 1
	}
	return 0
}

// userConfig is the user's config.json (and environment), as the daemon
// applies it.
func userConfig() (config.Config, error) {
	p, err := hookproto.PathsFromEnv()
	if err != nil {
		return config.Config{}, err
	}
	return config.Load(p.Config, os.Getenv)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
