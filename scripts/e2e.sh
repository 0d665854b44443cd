#!/usr/bin/env bash
# make e2e: the end-to-end test with the real Claude Code CLI. Installs the
# pinned CLI (CC_VERSION, default 2.1.197) and the Agent SDK that pairs
# with it from npm into ~/.cache/weave (reused between runs), then runs
# e2e/: weave's scenarios (e2e/scenarios) against its scripted mock of the
# Anthropic API, with the real weave-hook → weave-agentd → weave-server,
# in a private network namespace with only loopback when root. Needs go,
# node + npm, tmux. Prints the test's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
export CC_VERSION="${CC_VERSION:-2.1.197}"
LOG="${E2E_LOG:-$(mktemp -t weave-e2e.XXXXXX.log)}"
for tool in node npm tmux; do
  command -v "$tool" >/dev/null || { echo "e2e: $tool is missing (apt-get install nodejs npm tmux)" >&2; exit 1; }
done
echo "== e2e: Claude Code $CC_VERSION (installed into ${WEAVE_CACHE_DIR:-~/.cache/weave} if missing)"
eval "$(go run ./e2e/cmd/ccharness install -version "$CC_VERSION" -sdk)"
export CLAUDE_BIN WEAVE_AGENT_SDK
echo "== e2e: $CLAUDE_BIN, log $LOG"
set +e
go test -tags e2e -count=1 -v -timeout 30m ./e2e >"$LOG" 2>&1
rc=$?
set -e
grep -E '^(--- (PASS|FAIL)|\s+e2e_test.go|FAIL|ok )' "$LOG" | head -200
grep -E '^e2e:' "$LOG" || true
if [ $rc -ne 0 ]; then
  echo "== e2e FAILED (full log: $LOG)"; tail -50 "$LOG"
fi
exit $rc
