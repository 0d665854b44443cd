#!/usr/bin/env bash
# Reproduce the capture: install pinned deps, start the local servers, run the drivers
# (each flushes once per case), then organize the bodies into corpus/.
#   ./run.sh                 -> every driver
#   ./run.sh LIB [LIB...]    -> only these drivers (gen/LIB.js); other corpus/ dirs are left alone
# captured/ is scratch and is wiped either way.
set -euo pipefail
cd "$(dirname "$0")"
ALL=(traceloop-anthropic traceloop-langchain vercel-ai-sdk-v5 openinference-vercel traceloop-sdk-openai openinference-openai-latest)
LIBS=("${@:-${ALL[@]}}")
for d in npm-anthropic npm-langchain npm-aisdk5 npm-oivercel npm-traceloop-sdk npm-oi-openai; do
  [ -d "$d/node_modules" ] || (cd "$d" && npm install --no-audit --no-fund)
done
rm -rf captured && mkdir -p captured
node servers.js > servers.log 2>&1 &
SERVERS_PID=$!
trap 'kill "$SERVERS_PID" 2>/dev/null || true' EXIT
sleep 1
for lib in "${LIBS[@]}"; do
  if [ "$lib" = traceloop-sdk-openai ]; then
    # Traceloop.initialize() is once per process and fixes the exporter URL: one process per case.
    for c in workflow_tool chat agent_chat_stream error error_handled; do node gen/traceloop-sdk-openai.js "$c"; done
  else
    node "gen/$lib.js"
  fi
done
if [ $# -gt 0 ]; then node organize.js "${LIBS[@]}" | tee organize-new.log; else node organize.js | tee organize.log; fi
