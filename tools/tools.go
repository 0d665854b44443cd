//go:build tools

// Package tools pins module dependencies that packages under construction
// will import, so concurrent work does not race on go.mod.
package tools

import (
	_ "github.com/ClickHouse/clickhouse-go/v2"
	_ "github.com/chromedp/chromedp"
	_ "github.com/fsnotify/fsnotify"
	_ "go.opentelemetry.io/collector/pdata/plog/plogotlp"
	_ "go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	_ "go.uber.org/goleak"
	_ "golang.org/x/tools/txtar"
	_ "modernc.org/sqlite"
)
