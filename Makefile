# weave — build, test and run. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   ?= bin
PKGS  := ./...
# 2-core machines: keep test parallelism modest.
GOTESTFLAGS ?= -race -p 2 -timeout 20m

.PHONY: help build test fmt-check vet tidy-check funclen unit run stop uninstall clean test-ui test-clickhouse test-clickhouse-cluster e2e e2e-codex e2e-gemini fuzz bench-ingest bench-ingest-memory bench-ingest-sqlite bench-ingest-stores bench-clickhouse bench-owndata bench-api bench-store bench-server bench-agentd

# The first build compiles the pure-Go SQLite (modernc.org/sqlite), about two
# minutes on a cold build cache during which go prints nothing: say so when
# the cache does not hold it yet for these build flags ($(1)). Cheap (a
# `go list`, well under a second when the cache is warm).
cold_note = if [ "$$($(GO) list $(1) -f '{{.Stale}}' modernc.org/sqlite 2>/dev/null)" != false ]; then echo "$(2)"; fi

help: ## list targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## build the three binaries into ./bin
	@mkdir -p $(BIN)
	@$(call cold_note,-trimpath,building weave (first build takes ~2 min: it compiles the pure-Go SQLite)…)
	$(GO) build -trimpath -o $(BIN)/ ./cmd/weave-hook ./cmd/weave-agentd ./cmd/weave-server

fmt-check: ## fail if gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet: ## go vet
	$(GO) vet $(PKGS)

tidy-check: ## fail if go.mod/go.sum differ from what `go mod tidy` makes
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy (diff above): run go mod tidy"; exit 1; }

funclen: ## the ten longest and the ten most complex functions of the three binaries (limits: 100 lines, complexity 25, or a "// long:" line saying why; internal/codecheck)
	$(GO) test -count=1 -run '^TestFunctionLength$$' -v ./internal/codecheck -args -longest

unit: ## go test -race over every package
	@$(call cold_note,-race,compiling the tests with -race (the first run takes a few minutes more: the pure-Go SQLite again)…)
	$(GO) test $(GOTESTFLAGS) $(PKGS)

test: fmt-check vet tidy-check build unit ## the full test suite (what CI runs)

FUZZTIME ?= 30s
fuzz: ## run every fuzz target FUZZTIME each (default 30s, ~15 min in all): FUZZTIME=10s make fuzz, FUZZ=regexp to pick targets, FUZZPKGS=./daemon/... to narrow
	@GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

bench-ingest: ## normalize + OTLP handler throughput (spans/s) on the corpus and agent-shaped batches, and the whole path (OTLP/HTTP from concurrent clients into the embedded store, search indexed)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./server/normalize ./server/ingest

bench-ingest-memory: ## weave-server's peak RSS (VmHWM) while 4 clients each send 3 OTLP/protobuf requests of 32 MiB of realistic GenAI spans (503s retried; every span counted in the store); ARGS='-spans small' for 100k-span requests
	$(GO) run ./cmd/weave-server/internal/ingestmem $(ARGS)

bench-ingest-stores: ## the whole ingest path on both stores side by side (weave-server as a process; ClickHouse 26 node from tools/chlocal): 100k Claude Code-shaped spans over OTLP/HTTP protobuf from 4 clients in 512-span requests; spans/s, CPU µs/span per process, p50/p99, peak RSS, disk, lost spans, sampled traces complete. INGEST_FLAGS='-spans 30000 -profile /tmp/prof' for profiles
	$(GO) run ./tools/ingestbench $(INGEST_FLAGS)

bench-ingest-sqlite: ## weave-server as a process, embedded store, 100k Claude Code-shaped spans over OTLP/HTTP protobuf (4 workers, 512-span requests): spans/s, server CPU µs/span, p50/p99 latency, peak RSS, lost spans, read and search lag after the answer; ARGS='-spans 30000 -cpuprofile cpu.prof'
	$(GO) run ./server/ingest/internal/sqlitebench $(ARGS)

bench-store: ## embedded store: ingest spans/s and p50/p95 of agents, conversations page, one turn, search on WEAVE_BENCH_SPANS (default 1,000,000) realistic spans
	WEAVE_BENCH_SPANS=$${WEAVE_BENCH_SPANS:-1000000} $(GO) test -run '^TestBenchStore$$' -count=1 -v -timeout 0 ./server/store/sqlite

bench-server: ## issue 4's figures on WEAVE_BENCH_SPANS (default 1,000,000) realistic spans: ingest spans/s into the embedded store (search indexed), p50 of agents list, conversations page, one turn's chat view, search through the read API; then ingest of the real Claude Code sessions replayed (WEAVE_BENCH_CC_SPANS, default 100,000)
	WEAVE_BENCH_SPANS=$${WEAVE_BENCH_SPANS:-1000000} $(GO) test -run '^TestBenchServer$$' -count=1 -v -timeout 0 ./server/store/sqlite

bench-clickhouse: ## the ClickHouse store on WEAVE_BENCH_SPANS (default 1,000,000) realistic spans: ingest through WriteSpans (spans/s, CPU µs/span of weave and of ClickHouse), then p50/p95 of every read endpoint through the API handler against the issue's goals. Local node (or WEAVE_TEST_CLICKHOUSE_DSN); WEAVE_BENCH_DIR keeps its data, WEAVE_BENCH_REUSE=1 measures it again without filling
	WEAVE_TEST_CLICKHOUSE=$${WEAVE_TEST_CLICKHOUSE:-local} WEAVE_BENCH_SPANS=$${WEAVE_BENCH_SPANS:-1000000} $(GO) test -run '^TestBenchClickHouse$$' -count=1 -v -timeout 0 ./server/store/clickhouse

bench-owndata: ## issue 17's figures on both stores at WEAVE_BENCH_SPANS (default 1,000,000) realistic spans: export of the whole project as JSONL and OTLP/JSON, ATIF one conversation at a time, delete one conversation, delete 100 traces, prune the oldest tenth; each with wall, CPU (weave's and ClickHouse's) and the load average. It deletes what it measures: WEAVE_BENCH_DIR=<copy> WEAVE_BENCH_REUSE=1 measures a copy of a kept store (<dir>/bench.db, <dir>/ch); WEAVE_BENCH_OWNDATA=delete skips the exports
	WEAVE_BENCH_SPANS=$${WEAVE_BENCH_SPANS:-1000000} $(GO) test -run '^TestBenchOwnData$$' -count=1 -v -timeout 0 ./server/store/sqlite
	WEAVE_TEST_CLICKHOUSE=$${WEAVE_TEST_CLICKHOUSE:-local} WEAVE_BENCH_SPANS=$${WEAVE_BENCH_SPANS:-1000000} $(GO) test -run '^TestBenchOwnDataClickHouse$$' -count=1 -v -timeout 0 ./server/store/clickhouse

bench-agentd: ## weave-agentd: what one hook event costs the daemon late in a long session (300 turns, 2,400 spans)
	$(GO) test -run '^$$' -bench BenchmarkEventLongSession -benchtime 50x -benchmem ./daemon/session

bench-api: ## read API p50/p99 latency (agents, conversations page, turn and conversation chat views, search); WEAVE_BENCH_SPANS=1000000 for 1M spans
	$(GO) test -run '^$$' -bench BenchmarkAPI -benchtime 200x -timeout 60m ./server/api
	$(GO) test -run '^$$' -bench . -benchtime 2s ./server/chatview

test-ui: ## browser tests of the web UI in headless Chromium (apt-get install -y chromium); screenshots in server/ui/testdata/artifacts
	@if [ "$$WEAVE_SKIP_BROWSER" = 1 ]; then echo "WEAVE_SKIP_BROWSER=1: the browser tests of server/ui are SKIPPED"; fi
	$(GO) test -race -count=1 -timeout 15m ./server/ui/...

bench-hook: ## weave-hook wall time per event (p50/p90/p99): daemon up, daemon down, and a do-nothing Go binary (the floor)
	$(GO) run ./cmd/weave-hook/internal/hookbench

# The live ClickHouse tests: chlocal's own, the store's conformance suite on
# one node and on a 2-shard cluster, the sharding checks, SQL snapshots and
# writer tests, and weave-server end to end on ClickHouse.
CH_PKGS  := ./tools/chlocal/... ./server/store/clickhouse/... ./server/serve
CH_TESTS := 'TestConformance|TestCluster|TestNodes|TestStart|Snapshot|TestMigrate|TestWriter|TestClickHouseEndToEnd'

test-clickhouse: ## ClickHouse store against a real server: conformance suite on one node and on a 2-shard cluster, SQL snapshots, writer tests, weave-server end to end. Starts local ClickHouse nodes itself (tools/chlocal: ClickHouse 26 from npm, cached in ~/.cache/weave), or uses WEAVE_TEST_CLICKHOUSE_DSN=clickhouse://default:@127.0.0.1:9000 (optional WEAVE_TEST_CLICKHOUSE_CLUSTER=name, replicated)
	@if [ -z "$$WEAVE_TEST_CLICKHOUSE_DSN" ]; then export WEAVE_TEST_CLICKHOUSE=local; $(GO) run ./tools/chlocal install >/dev/null; fi; \
	$(GO) test -race -count=1 -p 1 -timeout 30m -v -run $(CH_TESTS) $(CH_PKGS)

test-clickhouse-cluster: ## only the 2-shard cluster tests on local ClickHouse nodes (conformance suite on Distributed tables, sharding checks)
	WEAVE_TEST_CLICKHOUSE=local $(GO) test -race -count=1 -p 1 -timeout 30m -v -run 'TestConformanceCluster|TestCluster' ./server/store/clickhouse

clean: ## remove build output
	rm -rf $(BIN)

run: build ## build, start weave-server (embedded store, background) and register weave-hook (WEAVE_SERVICE=1: also keep weave-agentd running as a user service)
	@scripts/run.sh

stop: ## stop weave-server and weave-agentd
	@scripts/stop.sh

e2e: ## end-to-end test with the real Claude Code CLI (installs it from npm, cached)
	@scripts/e2e.sh

uninstall: ## stop everything, remove weave-hook from Claude Code's settings and the weave-agentd user service (uses the binaries in ./bin; builds weave-hook only if it is missing); says how to delete ~/.weave
	@GO=$(GO) scripts/stop.sh --uninstall

e2e-codex: ## end-to-end test with the real Codex CLI (npm @openai/codex, pinned in e2e/codex; installed into ~/.cache/weave): every e2e/codex scenario through weave-hook → weave-agentd → weave-server, checked against the rollout files
	@LOG="$${E2E_LOG:-$$(mktemp -t weave-e2e-codex.XXXXXX.log)}"; echo "== e2e-codex: log $$LOG"; \
	$(GO) test -tags e2e -count=1 -v -timeout 20m ./e2e/codex >"$$LOG" 2>&1; rc=$$?; \
	grep -E '^(--- (PASS|FAIL)|\s+--- (PASS|FAIL)|\s+e2e_test.go|FAIL|ok |e2e-codex:)' "$$LOG" | head -100; \
	if [ $$rc -ne 0 ]; then echo "== e2e-codex FAILED (full log: $$LOG)"; tail -40 "$$LOG"; fi; exit $$rc

e2e-gemini: ## end-to-end test with the real Gemini CLI (npm @google/gemini-cli, pinned in e2e/gemini; needs node >= 20; installed into ~/.cache/weave): every e2e/gemini scenario through weave-hook → weave-agentd → weave-server, checked against the chat files
	@LOG="$${E2E_LOG:-$$(mktemp -t weave-e2e-gemini.XXXXXX.log)}"; echo "== e2e-gemini: log $$LOG"; \
	$(GO) test -tags e2e -count=1 -v -timeout 20m ./e2e/gemini >"$$LOG" 2>&1; rc=$$?; \
	grep -E '^(--- (PASS|FAIL)|\s+--- (PASS|FAIL)|\s+e2e_test.go|FAIL|ok |e2e-gemini:)' "$$LOG" | head -100; \
	if [ $$rc -ne 0 ]; then echo "== e2e-gemini FAILED (full log: $$LOG)"; tail -40 "$$LOG"; fi; exit $$rc
