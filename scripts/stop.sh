#!/usr/bin/env bash
# make stop: stop weave-server (started by make run) and weave-agentd.
# With --uninstall also remove weave-hook from Claude Code's settings, and
# the weave-agentd user service if one was installed (WEAVE_SERVICE=1 make
# run). Without it, an installed service stays stopped until the next login.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="${WEAVE_BIN:-$(pwd)/bin}" # where make build puts the binaries
WEAVE_HOME="${WEAVE_HOME:-$HOME/.weave}"
PIDFILE="$WEAVE_HOME/server.pid"

if [ -x "$BIN/weave-agentd" ]; then
  "$BIN/weave-agentd" stop 2>&1 | sed 's/^/  /' || true
fi
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  pid="$(cat "$PIDFILE")"
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then echo "weave-server (pid $pid) did not stop within 10 s" >&2; exit 1; fi
  echo "weave-server stopped"
else
  echo "weave-server was not running"
fi
rm -f "$PIDFILE"
if [ "${1:-}" = "--uninstall" ]; then
  # Uninstalling needs no fresh build: the binaries make run built, else
  # weave-hook alone (stdlib only, seconds to build).
  if [ ! -x "$BIN/weave-hook" ]; then
    echo "building weave-hook (bin/weave-hook is missing)…"
    mkdir -p "$BIN"
    "${GO:-go}" build -trimpath -o "$BIN/" ./cmd/weave-hook || exit 1
  fi
  "$BIN/weave-hook" install --uninstall || exit 1
  cat <<MSG

weave-hook is no longer registered. Each settings file it changed keeps one
backup beside it, <file>.weave.bak: the file as it was before weave first
changed it (delete it once you no longer need it).
Your traces, the spool and the logs stay in $WEAVE_HOME. To delete them:
  rm -rf $(printf '%q' "$WEAVE_HOME")
MSG
fi
