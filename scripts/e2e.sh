#!/usr/bin/env bash
# make e2e: the end-to-end test with the real Claude Code CLI (issue: trace a
# real session into the local server). Installs the pinned CLI from npm into a
# cache dir (reused between runs), then runs e2e/ and prints its summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
CC_VERSION="${CC_VERSION:-2.1.197}"
CC_NPM_DIR="${CC_NPM_DIR:-$HOME/.cache/weave/cc-$CC_VERSION}"
HARNESS="$(pwd)/../shared/harness/claude-code"
CLAUDE_BIN="$CC_NPM_DIR/node_modules/@anthropic-ai/claude-code/bin/claude.exe"
if ! "$CLAUDE_BIN" --version >/dev/null 2>&1; then
  echo "== e2e: installing Claude Code $CC_VERSION into $CC_NPM_DIR"
  CC_VERSION="$CC_VERSION" CC_NPM_DIR="$CC_NPM_DIR" bash "$HARNESS/install.sh"
fi
command -v tmux >/dev/null || true
LOG="${E2E_LOG:-$(mktemp -t weave-e2e.XXXXXX.log)}"
echo "== e2e: Claude Code $("$CLAUDE_BIN" --version 2>/dev/null | head -1), log $LOG"
set +e
CLAUDE_BIN="$CLAUDE_BIN" go test -tags e2e -count=1 -v -timeout 30m ./e2e >"$LOG" 2>&1
rc=$?
set -e
grep -E '^(=== RUN|--- (PASS|FAIL)|\s+e2e_test.go|FAIL|ok )' "$LOG" | grep -v '^=== RUN' | head -200
grep -E '^e2e:' "$LOG" || true
if [ $rc -ne 0 ]; then
  echo "== e2e FAILED (full log: $LOG)"; tail -50 "$LOG"
fi
exit $rc
