#!/usr/bin/env bash
# run.sh <parallel|nested|background|apierror|subfail|bgfork|interrupt>: extra scenarios for the real Claude Code CLI,
# run with the harness's own helpers (../../../shared/harness/claude-code/lib)
# exactly as its run.sh runs its scenarios (no network namespace:
# CC_HARNESS_NO_NETNS semantics). Captures land in $CAPTURES_DIR/<scenario>.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
HARNESS_DIR="${HARNESS_DIR:-$HERE/../../../shared/harness/claude-code}"
export REAL_HOME="${HOME}"
source "$HARNESS_DIR/lib/common.sh"
scenario="${1:?usage: run.sh parallel|nested|background|apierror|subfail|bgfork|interrupt}"
setup "weave-$scenario"
SCEN="$scenario"
printf 'line one of notes\nline two of notes\n' > "$WORK/notes.txt"
start_mock "$(render "$HERE/$scenario.json")"
if [ -f "$HERE/$scenario.sh" ]; then  # several runs: the scenario's own script
  source "$HERE/$scenario.sh"
else
  prompt="$(node -e 'console.log(require(process.argv[1]).prompt || "Use subagents on notes.txt")' "$HERE/$scenario.json")"
  cc -p "$prompt" --output-format stream-json --verbose --permission-mode bypassPermissions
fi
collect
