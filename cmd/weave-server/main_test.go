package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		wantOut    string
		wantErrOut string
	}{
		{"version", []string{"version"}, 0, "weave-server " + version, ""},
		{"help", []string{"help"}, 0, "127.0.0.1:7433", ""},
		{"flag_help", []string{"--help"}, 0, "", "default 127.0.0.1:7433"},
		{"unknown_command", []string{"bogus"}, 2, "", `unknown command "bogus"`},
		{"unknown_flag", []string{"serve", "--nope"}, 2, "", "flag provided but not defined"},
		{"extra_argument", []string{"serve", "extra"}, 2, "", `unexpected argument "extra"`},
		{"open_non_loopback", []string{"--addr", "0.0.0.0:7433"}, 1, "", "refusing to serve"},
		{"bad_store", []string{"--store", "mysql"}, 1, "", "--store"},
		{"bad_max_body", []string{"serve", "--max-body", "12"}, 1, "", "--max-body"},
		{"clickhouse_without_dsn", []string{"--store", "clickhouse"}, 1, "", "--clickhouse-dsn"},
		{"clickhouse_bad_cluster", []string{"--store", "clickhouse", "--clickhouse-dsn", "clickhouse://127.0.0.1:9000", "--clickhouse-cluster", "a-b"}, 1, "", "cluster"},
		{"clickhouse_bad_cluster_mode", []string{"--store", "clickhouse", "--clickhouse-dsn", "clickhouse://127.0.0.1:9000", "--clickhouse-cluster", "c1", "--clickhouse-cluster-mode", "mesh"}, 1, "", `cluster mode "mesh"`},
		{"migrate_clickhouse_without_dsn", []string{"migrate", "--store", "clickhouse"}, 1, "", "--clickhouse-dsn"},
		{"migrate_extra_argument", []string{"migrate", "extra"}, 2, "", `unexpected argument "extra"`},
		{"cpuprofile_unwritable", []string{"serve", "--cpuprofile", "/nonexistent/dir/cpu.prof"}, 1, "", "--cpuprofile"},
		{"migrate_sqlite", []string{"migrate", "--data-dir", "DATADIR"}, 0, "", "schema is up to date"},
		{"migrate_sqlite_rebuild_counts", []string{"migrate", "--data-dir", "DATADIR", "--clickhouse-rebuild-counts"}, 2, "", "applies to the ClickHouse store"},
		{"migrate_sqlite_retention", []string{"migrate", "--data-dir", "DATADIR", "--clickhouse-retention-days", "30"}, 2, "", "serve --retention-days"},
		{"bad_retention", []string{"serve", "--retention-days", "-3"}, 1, "", "--retention-days"},
		{"bad_retention_project", []string{"serve", "--retention-project", "acme"}, 2, "", "PROJECT=DAYS"},
		{"export_no_project", []string{"export"}, 2, "", "--project is required"},
		{"export_bad_format", []string{"export", "--project", "p/x", "--format", "csv"}, 2, "", "want jsonl, otlp or atif"},
		{"export_both", []string{"export", "--project", "p/x", "--trace", "0123456789abcdef0123456789abcdef", "--conversation", "c"}, 2, "", "not both"},
		{"export_bad_trace", []string{"export", "--project", "p/x", "--trace", "xyz"}, 2, "", "32 hex digits"},
		{"export_atif_trace", []string{"export", "--project", "p/x", "--format", "atif", "--trace", "0123456789abcdef0123456789abcdef"}, 2, "", "exports conversations"},
		{"export_bad_time", []string{"export", "--project", "p/x", "--from", "yesterday"}, 2, "", "RFC 3339"},
		{"export_range", []string{"export", "--project", "p/x", "--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"}, 2, "", "before --to"},
		{"export_empty", []string{"export", "--data-dir", "DATADIR", "--project", "p/x"}, 0, "", "exported 0 lines"},
		{"bad_prices", []string{"serve", "--prices", "DATADIR/missing.json"}, 1, "", "--prices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WEAVE_API_KEYS", "")
			t.Setenv("WEAVE_CLICKHOUSE_DSN", "")
			args := append([]string(nil), tt.args...)
			for i, a := range args {
				if a == "DATADIR" {
					args[i] = t.TempDir()
				}
			}
			var out, errOut bytes.Buffer
			code := run(args, &out, &errOut)
			if code != tt.code || !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(errOut.String(), tt.wantErrOut) {
				t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d, stdout containing %q, stderr containing %q",
					tt.args, code, out.String(), errOut.String(), tt.code, tt.wantOut, tt.wantErrOut)
			}
		})
	}
}

func TestStartCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	stop, err := startCPUProfile(path)
	if err != nil {
		t.Fatalf("startCPUProfile: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A pprof profile is a gzipped protocol buffer.
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("profile: got %d bytes starting %x, want a gzip stream", len(b), b[:min(len(b), 2)])
	}
}
