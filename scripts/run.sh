#!/usr/bin/env bash
# make run: start weave-server on the embedded store in the background and
# register weave-hook with Claude Code. Idempotent: a second run changes
# nothing that is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
BIN="$ROOT/bin"
WEAVE_HOME="${WEAVE_HOME:-$HOME/.weave}"
ADDR="${WEAVE_ADDR:-127.0.0.1:7433}"
URL="http://$ADDR"
PIDFILE="$WEAVE_HOME/server.pid"
LOG="$WEAVE_HOME/logs/server.log"
mkdir -p "$WEAVE_HOME/logs" "$WEAVE_HOME/server"
chmod 700 "$WEAVE_HOME"

healthy() { curl -fsS --max-time 1 "$URL/healthz" >/dev/null 2>&1; }

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && healthy; then
  echo "weave-server already running (pid $(cat "$PIDFILE")) at $URL"
else
  if healthy; then
    echo "something already answers at $URL but it was not started by make run; stop it or set WEAVE_ADDR" >&2
    exit 1
  fi
  # Detached: own session, no terminal, survives this shell.
  setsid nohup "$BIN/weave-server" serve --addr "$ADDR" --data-dir "$WEAVE_HOME/server" \
    >>"$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 100); do healthy && break; sleep 0.1; done
  if ! healthy; then
    echo "weave-server did not come up; last log lines:" >&2
    tail -n 20 "$LOG" >&2
    exit 1
  fi
  echo "weave-server started (pid $(cat "$PIDFILE")) at $URL, data in $WEAVE_HOME/server"
fi

# Register the hook (keeps your own hooks; backs settings.json up first).
# WEAVE_SERVICE=1 also installs the user service that keeps weave-agentd
# running (systemd --user / launchd), so spooled spans never wait for a hook.
if [ "${WEAVE_SERVICE:-0}" = 1 ]; then
  "$BIN/weave-hook" install --service
else
  "$BIN/weave-hook" install
fi

cat <<MSG

weave is running.
  Open:       $URL
  Use Claude Code as usual: every session is traced (weave-agentd starts with the first hook).
  Backfill:   $BIN/weave-agentd import            (imports ~/.claude/projects)
  Status:     $BIN/weave-agentd status
  Service:    WEAVE_SERVICE=1 make run   (keep weave-agentd running as a user service: spans
              spooled while the server was down go out when it is back, without a hook;
              remove it with $BIN/weave-agentd service uninstall)
  Stop:       make stop        (server and daemon; the hook stays registered and fails open)
  Uninstall:  make uninstall   (stop, and remove the hook from ~/.claude/settings.json)
MSG

# Claude Code without hooks (managed settings): its own telemetry, to paste
# into the environment (or settings.json "env") of the sessions to trace.
cat <<ENV

Claude Code's native telemetry (no hook needed; see README "Claude Code without hooks"):
  export CLAUDE_CODE_ENABLE_TELEMETRY=1 OTEL_LOGS_EXPORTER=otlp OTEL_METRICS_EXPORTER=otlp
  export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_EXPORTER_OTLP_ENDPOINT=$URL
  export OTEL_LOG_USER_PROMPTS=1 OTEL_LOG_TOOL_DETAILS=1
ENV
